'use strict';
// berth web UI: chat with apps, stack overview, ingestion status. No dependencies.
(() => {
  const $ = (id) => document.getElementById(id);
  const KEY = 'berth.key', SESSION = 'berth.session', APP = 'berth.app';

  // Build DOM nodes; strings always become text nodes (never parsed as HTML).
  function h(tag, attrs, ...kids) {
    const el = document.createElement(tag);
    for (const [k, v] of Object.entries(attrs || {})) {
      if (v == null || v === false) continue;
      if (k.startsWith('on')) el.addEventListener(k.slice(2), v);
      else if (k === 'class') el.className = v;
      else el.setAttribute(k, v === true ? '' : String(v));
    }
    el.append(...kids.flat(Infinity).filter((k) => k != null && k !== false)
      .map((k) => (k instanceof Node ? k : String(k))));
    return el;
  }

  // ---- errors -------------------------------------------------------------
  let errorSource = null;
  function showError(msg, source) {
    errorSource = source || null;
    $('error-text').textContent = msg;
    $('error').hidden = false;
  }
  function clearError(source) {
    if (source && source !== errorSource) return;
    $('error').hidden = true;
    $('error-text').textContent = '';
  }

  // ---- API access with bearer key ----------------------------------------
  let keyPrompt = null, keyWaiter = null;
  function askKey(rejected) {
    if (!keyPrompt) {
      keyPrompt = new Promise((resolve, reject) => { keyWaiter = { resolve, reject }; });
      $('auth-msg').textContent = rejected
        ? 'That key was not accepted. Enter a valid API key.'
        : 'This gateway needs an API key. It is stored in this browser only.';
      $('key').value = '';
      $('auth').showModal();
    }
    return keyPrompt;
  }
  function settleKey(ok) {
    const w = keyWaiter;
    keyWaiter = keyPrompt = null;
    if (!w) return;
    if (ok) w.resolve();
    else w.reject(Object.assign(new Error('An API key is required.'), { auth: true }));
  }

  async function request(path, opts = {}) {
    for (let attempt = 0; ; attempt++) {
      const headers = new Headers(opts.headers || {});
      const key = localStorage.getItem(KEY);
      if (key) headers.set('Authorization', 'Bearer ' + key);
      const res = await fetch(path, { ...opts, headers });
      if (res.status !== 401 || attempt >= 3) return res;
      if (key && localStorage.getItem(KEY) === key) localStorage.removeItem(KEY);
      await askKey(Boolean(key));
    }
  }
  async function failure(res) {
    let msg = `${res.status} ${res.statusText}`.trim();
    try {
      const j = await res.json();
      if (j && j.error && j.error.message) msg = j.error.message;
    } catch (_) { /* not JSON */ }
    return new Error(msg);
  }
  async function getJSON(path) {
    const res = await request(path, { headers: { Accept: 'application/json' } });
    if (!res.ok) throw await failure(res);
    return res.json();
  }

  // ---- formatting helpers --------------------------------------------------
  const dash = (v) => (v == null || v === '' ? '—' : v);
  const pagesLabel = (p) => (Array.isArray(p) && p.length
    ? ' · p. ' + (p[0] === p[p.length - 1] ? p[0] : `${p[0]}–${p[p.length - 1]}`) : '');
  const headingLabel = (hd) => (Array.isArray(hd) && hd.length ? ' › ' + hd.join(' › ') : '');
  const citeLabel = (c) => `[${c.n}] ${c.document}${headingLabel(c.heading)}${pagesLabel(c.pages)}`;
  function time(v) {
    if (typeof v === 'number') return v < 1e12 ? v * 1000 : v;
    const t = Date.parse(v);
    return Number.isNaN(t) ? 0 : t;
  }
  const fmtTime = (v) => (time(v) ? new Date(time(v)).toLocaleString() : dash(v));
  function fmtDuration(ms) {
    if (ms == null) return '—';
    if (ms < 1000) return `${ms} ms`;
    const s = ms / 1000;
    return s < 60 ? `${s.toFixed(1)} s` : `${Math.floor(s / 60)} min ${Math.round(s % 60)} s`;
  }
  const TONE = {
    up: 'ok', closed: 'ok', ok: 'ok', done: 'ok', succeeded: 'ok', success: 'ok', completed: 'ok', finished: 'ok',
    down: 'bad', open: 'bad', failed: 'bad', error: 'bad', 'half-open': 'warn', partial: 'warn', failures: 'warn',
    running: 'info',
  };
  const badge = (v) => h('span', { class: 'badge ' + (TONE[v] || 'muted') }, dash(v) === '—' ? 'unknown' : v);

  function table(headers, rows, label) {
    if (!rows.length) return h('p', { class: 'muted' }, 'None.');
    return h('div', { class: 'table-wrap', tabindex: 0, role: 'region', 'aria-label': label || 'Table' },
      h('table', {},
        h('thead', {}, h('tr', {}, headers.map((t, i) =>
          h('th', { scope: 'col', class: typeof rows[0][i] === 'number' ? 'num' : null }, t)))),
        h('tbody', {}, rows.map((r) => h('tr', {}, r.map((c) =>
          h('td', { class: typeof c === 'number' ? 'num' : null }, c)))))));
  }
  const section = (title, ...body) => h('section', { class: 'block' }, h('h2', {}, title), body);

  // ---- routing and polling -------------------------------------------------
  const PAGES = { chat: 'Chat', stack: 'Stack', ingest: 'Ingestion' };
  let page = 'chat', pollTimer = 0, pollGen = 0;

  function route() {
    const m = /^#\/(\w+)/.exec(location.hash), next = m && PAGES[m[1]] ? m[1] : 'chat';
    if (next !== page) clearError();
    page = next;
    for (const p of Object.keys(PAGES)) {
      $('page-' + p).hidden = p !== page;
      if (p === page) $('nav-' + p).setAttribute('aria-current', 'page');
      else $('nav-' + p).removeAttribute('aria-current');
    }
    document.title = `${PAGES[page]} · berth`;
    poll();
  }

  // Refresh the visible status page; stack every 5 s, ingest 2 s while running else 10 s.
  function poll() {
    clearTimeout(pollTimer);
    const gen = ++pollGen;
    if (document.hidden || page === 'chat') return;
    const current = page;
    (current === 'stack' ? loadStack() : loadIngest()).then(
      (fast) => { clearError('poll'); return fast ? 2000 : current === 'stack' ? 5000 : 10000; },
      (e) => { showError(e.message, 'poll'); return e.auth ? 0 : 10000; },
    ).then((delay) => {
      if (delay && gen === pollGen) pollTimer = setTimeout(poll, delay);
    });
  }

  // ---- chat ---------------------------------------------------------------
  let history = [], controller = null, appsReady = null;
  const appModes = new Map();

  async function loadApps() {
    try {
      const { data = [] } = await getJSON('/v1/apps');
      const sel = $('app'), saved = localStorage.getItem(APP);
      for (const a of data) appModes.set(a.name, a.mode);
      sel.replaceChildren(...data.map((a) => h('option', { value: a.name }, `${a.name} (${a.kind})`)));
      if (!data.length) sel.append(h('option', { value: '' }, 'No apps configured'));
      else if (data.some((a) => a.name === saved)) sel.value = saved;
    } catch (e) {
      showError('Could not load apps: ' + e.message, 'apps');
    }
  }

  function sessionId() {
    let s = sessionStorage.getItem(SESSION);
    if (!s) {
      s = Array.from(crypto.getRandomValues(new Uint8Array(16)), (b) => b.toString(16).padStart(2, '0')).join('');
      sessionStorage.setItem(SESSION, s);
    }
    return s;
  }

  function newConversation() {
    if (controller) controller.abort();
    history = [];
    sessionStorage.removeItem(SESSION);
    $('log').replaceChildren(h('p', { id: 'log-empty', class: 'empty' }, 'New conversation. Ask a question.'));
    clearError('chat');
    $('question').focus();
  }

  // Only the log scrolls. Follow new content, but never push `anchor` (the question being
  // answered) above the top of the log: a long answer is then read from its start.
  const nearBottom = () => { const l = $('log'); return l.scrollHeight - l.scrollTop - l.clientHeight < 120; };
  function scrollDown(anchor) {
    const l = $('log');
    let y = l.scrollHeight - l.clientHeight;
    if (anchor) y = Math.min(y, anchor.getBoundingClientRect().top - l.getBoundingClientRect().top + l.scrollTop - 8);
    l.scrollTop = y;
  }

  function autosize() {
    const q = $('question');
    q.style.height = 'auto';
    q.style.height = Math.min(q.scrollHeight + 2, 200) + 'px';
  }

  function setBusy(busy) {
    $('send').disabled = busy;
    $('stop').hidden = !busy;
  }

  function addMessage(role, who, ...body) {
    const el = h('article', { class: `message ${role}` }, h('p', { class: 'who' }, who), body);
    $('log-empty')?.remove();
    $('log').append(el);
    scrollDown();
    return el;
  }

  function citeLink(c, label) {
    return h('a', {
      class: 'citation', href: '/v1/chunks/' + encodeURIComponent(c.chunk_id), 'data-n': c.n,
      title: citeLabel(c), onclick: (e) => { e.preventDefault(); openPassage(c); },
    }, label);
  }

  // Plain text with [n] / [n, m] markers turned into citation links when they match.
  function linkify(text, cites) {
    const out = [];
    let last = 0;
    for (const m of text.matchAll(/\[(\d+(?:\s*,\s*\d+)*)\]/g)) {
      const ns = m[1].split(/\s*,\s*/);
      if (!ns.every((n) => cites.has(n))) continue;
      out.push(text.slice(last, m.index));
      if (ns.length === 1) out.push(citeLink(cites.get(ns[0]), m[0]));
      else out.push('[', ns.map((n, i) => [i ? ', ' : '', citeLink(cites.get(n), n)]), ']');
      last = m.index + m[0].length;
    }
    out.push(text.slice(last));
    return out.flat(Infinity).filter(Boolean);
  }

  // Extractive answers read "label\n\n[1] passage…\n— document › heading\n\n[2] …".
  // Each passage becomes a block with its source line set apart; long ones are folded.
  function extracts(text, cites) {
    return text.split(/\n{2,}(?=\[\d+\] )/).map((part, i) => {
      if (!/^\[\d+\] /.test(part)) return h('p', { class: i ? 'para' : 'intro' }, linkify(part, cites));
      const lines = part.split('\n'), src = lines.length > 1 && lines[lines.length - 1].startsWith('— ') ? lines.pop() : null;
      return h('div', { class: 'extract' },
        // Aligned columns (code, commands, tables) read better in a monospace font.
        h('div', { class: /\S {3,}\S|^ {2,}\S/m.test(part) ? 'extract-text code' : 'extract-text' }, linkify(lines.join('\n'), cites)),
        src && h('p', { class: 'source' }, src.slice(2)));
    });
  }
  function fold(answer) {
    for (const t of answer.querySelectorAll('.extract-text')) {
      t.classList.add('folded');
      const over = t.offsetParent ? t.scrollHeight > t.clientHeight + 8 : t.textContent.length > 600;
      if (!over) { t.classList.remove('folded'); continue; }
      const more = h('button', { type: 'button', class: 'link more', 'aria-expanded': 'false' }, 'Show more');
      more.addEventListener('click', () => {
        const open = t.classList.toggle('folded');
        more.setAttribute('aria-expanded', String(!open));
        more.textContent = open ? 'Show more' : 'Show less';
      });
      t.after(more);
    }
  }

  function extras(meta) {
    const out = [];
    if (meta.sql) out.push(h('details', { class: 'sql', open: true }, h('summary', {}, 'SQL'), h('pre', {}, h('code', {}, meta.sql))));
    if (Array.isArray(meta.columns) && Array.isArray(meta.rows)) {
      const cell = (v) => (v == null ? h('span', { class: 'muted' }, 'NULL')
        : typeof v === 'object' ? JSON.stringify(v) : typeof v === 'boolean' ? String(v) : v);
      out.push(h('p', { class: 'muted small' }, `${meta.rows.length} row${meta.rows.length === 1 ? '' : 's'}`),
        table(meta.columns.map(String), meta.rows.map((r) => r.map(cell)), 'Query result'));
    }
    const cites = meta.citations || [];
    if (cites.length) {
      out.push(h('div', { class: 'citations' }, h('p', { class: 'label' }, 'Sources'),
        h('ol', {}, cites.map((c) => h('li', {}, citeLink(c, citeLabel(c)))))));
    }
    return out;
  }

  function render(msg, text, meta, metaChanged) {
    const stick = nearBottom();
    if (text) msg.thinking.hidden = true;
    const cites = new Map((meta.citations || []).map((c) => [String(c.n), c]));
    const extractive = (meta.mode || appModes.get(msg.app)) === 'extractive';
    if (extractive) {
      msg.answer.replaceChildren(...extracts(text, cites));
      fold(msg.answer);
    } else {
      msg.answer.replaceChildren(...linkify(text, cites));
    }
    // The server's own label line says the answer is extracts; the badge is for when it does not.
    msg.mode.hidden = !extractive || Boolean(msg.answer.querySelector('.intro'));
    if (metaChanged) msg.extra.replaceChildren(...extras(meta));
    if (stick) scrollDown(msg.anchor);
  }

  // Parse a Server-Sent Events body; calls onData(json) per event, stops at [DONE].
  async function readSSE(res, onData) {
    const reader = res.body.getReader(), dec = new TextDecoder();
    let buf = '', data = [];
    const dispatch = () => {
      const payload = data.join('\n');
      data = [];
      if (payload === '[DONE]') return true;
      let obj;
      try { obj = JSON.parse(payload); } catch (_) { return false; }
      onData(obj);
      return false;
    };
    try {
      for (;;) {
        const { value, done } = await reader.read();
        buf += done ? dec.decode() + '\n' : dec.decode(value, { stream: true });
        // A trailing lone \r may be the first half of \r\n: wait for more input.
        for (let i; (i = buf.search(/\r\n|\n|\r(?!$)/)) >= 0;) {
          const line = buf.slice(0, i);
          buf = buf.slice(i + (buf.startsWith('\r\n', i) ? 2 : 1));
          if (line === '') {
            if (data.length && dispatch()) return;
          } else if (line.startsWith('data:')) {
            data.push(line.slice(line[5] === ' ' ? 6 : 5));
          }
        }
        if (done) { if (data.length) dispatch(); return; }
      }
    } finally {
      reader.cancel().catch(() => {});
    }
  }

  async function send() {
    const q = $('question').value.trim();
    if (!q || controller) return;
    controller = new AbortController();
    setBusy(true);
    if (!$('app').value) await appsReady;
    const app = $('app').value;
    if (!app) {
      controller = null;
      setBusy(false);
      showError('No app is available to chat with.', 'chat');
      return;
    }
    clearError('chat');
    $('question').value = '';
    autosize();

    const conv = history;
    const messages = [...conv, { role: 'user', content: q }];
    const msg = {
      app, anchor: addMessage('user', 'You', h('div', { class: 'text' }, q)),
      thinking: h('p', { class: 'thinking' }, 'thinking…'),
      mode: h('p', { class: 'badge warn mode', hidden: true }, 'Extracts — no chat model is configured'),
      answer: h('div', { class: 'answer' }),
      extra: h('div', { class: 'extra' }),
    };
    msg.el = addMessage('assistant', app, msg.mode, msg.thinking, msg.answer, msg.extra);
    scrollDown(msg.anchor);
    msg.el.setAttribute('aria-busy', 'true');

    let text = '', failed = false, stopped = false;
    const meta = {};
    const onData = (d) => {
      if (d.error) throw new Error(d.error.message || 'The answer failed.');
      const c = d.choices && d.choices[0];
      const piece = c && ((c.delta && c.delta.content) || (c.message && c.message.content));
      if (piece) text += piece;
      if (d.berth) Object.assign(meta, d.berth);
      render(msg, text, meta, Boolean(d.berth));
    };
    try {
      const res = await request('/v1/chat/completions', {
        method: 'POST',
        signal: controller.signal,
        headers: { 'Content-Type': 'application/json', Accept: 'text/event-stream', 'X-Berth-Session': sessionId() },
        body: JSON.stringify({ model: 'app/' + app, stream: true, messages }),
      });
      if (!res.ok) throw await failure(res);
      if ((res.headers.get('content-type') || '').includes('application/json')) onData(await res.json());
      else await readSSE(res, onData);
    } catch (e) {
      if (e.name === 'AbortError') {
        stopped = true;
        msg.extra.append(h('p', { class: 'muted small' }, 'Stopped.'));
      } else {
        failed = true;
        msg.extra.append(h('p', { class: 'msg-error' }, e.message));
        showError(e.message, 'chat');
      }
    } finally {
      msg.thinking.remove();
      if (!text && !failed && !stopped && !msg.extra.childNodes.length) {
        msg.answer.append(h('span', { class: 'muted' }, 'No answer.'));
      }
      if (text && !failed) conv.push({ role: 'user', content: q }, { role: 'assistant', content: text });
      msg.el.setAttribute('aria-busy', 'false');
      msg.el.dataset.done = 'true';
      controller = null;
      setBusy(false);
    }
  }

  // ---- passage viewer ---------------------------------------------------------
  let passageSeq = 0;
  function fillPassage(n, p, text) {
    $('passage-title').textContent = `[${n}] ${p.title || p.document}`;
    const meta = [p.title && p.title !== p.document ? p.document : null,
      Array.isArray(p.heading) && p.heading.length ? p.heading.join(' › ') : null,
      pagesLabel(p.pages).slice(3) || null].filter(Boolean);
    $('passage-meta').textContent = meta.join(' · ');
    $('passage-text').textContent = text || '';
  }
  async function openPassage(c) {
    const seq = ++passageSeq, dlg = $('passage');
    fillPassage(c.n, c, c.snippet);
    $('passage-status').textContent = 'Loading the full passage…';
    if (!dlg.open) dlg.showModal();
    try {
      const p = await getJSON('/v1/chunks/' + encodeURIComponent(c.chunk_id));
      if (seq !== passageSeq) return;
      fillPassage(c.n, { ...c, ...p }, p.text);
      $('passage-status').textContent = '';
    } catch (e) {
      if (seq === passageSeq) $('passage-status').textContent = `Showing the excerpt; the full passage could not be loaded (${e.message}).`;
    }
  }

  // ---- stack page ---------------------------------------------------------------
  let stackKey = '';
  function chatWith(name) {
    if ([...$('app').options].some((o) => o.value === name)) {
      $('app').value = name;
      localStorage.setItem(APP, name);
    }
    location.hash = '#/chat';
  }
  async function loadStack() {
    const s = await getJSON('/api/stack');
    $('stack-updated').textContent = 'Updated ' + new Date().toLocaleTimeString();
    const key = JSON.stringify(s);
    if (key === stackKey) return false;
    stackKey = key;
    const models = s.models || [], comps = s.components || [], apps = s.apps || [], pipes = s.pipelines || [];
    const none = (text) => h('p', { class: 'muted' }, text);
    const bindings = (c) => (Array.isArray(c.bindings) && c.bindings.length
      ? c.bindings.map((b, i) => [i ? h('br') : null, `${dash(b.contract)} → ${dash(b.provider)}`]) : '—');
    const hasBindings = comps.some((c) => Array.isArray(c.bindings) && c.bindings.length);
    $('stack-body').replaceChildren(
      h('p', { class: 'summary' }, 'Stack ', h('strong', {}, dash(s.stack)), ' on target ', h('strong', {}, dash(s.target))),
      section('Components', comps.length
        ? table(['Name', 'Uses', 'Health', hasBindings && 'Bindings', 'Detail'].filter(Boolean), comps.map((c) =>
          [c.name, h('code', {}, dash(c.uses)), badge(c.health), hasBindings && bindings(c), h('span', { class: 'detail' }, dash(c.detail))]
            .filter((v) => v !== false)), 'Components')
        : none('No components: everything runs embedded in this process.')),
      section('Models', models.length ? models.map((m) => h('div', { class: 'card' }, h('h3', {}, m.name),
        table(['Route', 'Target', 'Upstream model', 'Weight', 'Breaker'], (m.routes || []).map((r) =>
          [r.name, h('code', {}, dash(r.target)), dash(r.upstream_model), r.weight ?? '—', badge(r.breaker)]), `Routes of ${m.name}`)))
        : none('No models are configured: apps without a chat model answer with extracts from their documents.')),
      section('Apps', apps.length
        ? table(['Name', 'Kind', 'Model', 'Pipeline', ''], apps.map((a) =>
          [a.name, a.kind, a.model == null ? h('span', { class: 'muted' }, 'none (extracts)') : a.model, dash(a.pipeline),
            h('button', { type: 'button', class: 'link', 'aria-label': `Chat with ${a.name}`, onclick: () => chatWith(a.name) }, 'Chat')]), 'Apps')
        : none('No apps are configured.')),
      section('Pipelines', pipes.length
        ? table(['Name', 'Source', 'Embedding', 'Done', 'Failed', 'Pending'], pipes.map((p) => {
          const d = p.documents || {};
          return [p.name, h('code', {}, dash(p.source)), p.embed == null ? h('span', { class: 'muted' }, 'none (BM25 only)') : p.embed,
            d.done ?? 0, d.failed ? h('a', { href: '#/ingest', class: 'bad-text' }, String(d.failed)) : 0, d.pending ?? 0];
        }), 'Pipelines')
        : none('No pipelines are configured.')),
    );
    return false;
  }

  // ---- ingestion page -------------------------------------------------------------
  let ingestKey = '';
  const openFailures = new Set();

  function progressCard(r) {
    const processed = (r.done || 0) + (r.failed || 0);
    const known = r.total != null;
    return h('div', { class: 'card' },
      h('div', { class: 'card-head' }, h('strong', {}, r.pipeline), badge('running'),
        h('span', { class: 'muted small' }, `run ${r.run_id} · started ${fmtTime(r.started_at)}`)),
      h('progress', known ? { max: Math.max(r.total, 1), value: Math.min(processed, r.total), 'aria-label': `${r.pipeline} progress` }
        : { 'aria-label': `${r.pipeline} progress (total unknown)` }),
      h('p', { class: 'small' }, `${processed}${known ? ` of ${r.total}` : ''} processed · ${r.seen || 0} seen · ${r.done || 0} done · `,
        h('span', { class: r.failed ? 'bad-text' : null }, `${r.failed || 0} failed`)));
  }

  function failureItem(f) {
    const id = `${f.pipeline}\u0000${f.document}`;
    const d = h('details', { class: 'failure', open: openFailures.has(id) },
      h('summary', {}, h('span', { class: 'doc' }, f.document),
        h('span', { class: 'muted small' }, ' ' + [f.pipeline, f.kind, f.attempts != null ? `${f.attempts} attempt${f.attempts === 1 ? '' : 's'}` : null,
          fmtTime(f.updated_at)].filter(Boolean).join(' · '))),
      h('pre', { class: 'error-text' }, dash(f.error)));
    d.addEventListener('toggle', () => (d.open ? openFailures.add(id) : openFailures.delete(id)));
    return d;
  }

  async function loadIngest() {
    const d = await getJSON('/api/ingest');
    const running = d.running || [], failed = d.failed || [];
    $('ingest-updated').textContent = 'Updated ' + new Date().toLocaleTimeString();
    const key = JSON.stringify(d);
    if (key === ingestKey) return running.length > 0;
    ingestKey = key;
    const runs = [...(d.runs || [])].sort((a, b) => time(b.started_at) - time(a.started_at) || String(b.id).localeCompare(String(a.id), undefined, { numeric: true }));
    $('ingest-body').replaceChildren(
      section('Running', running.length ? running.map(progressCard) : h('p', { class: 'muted' }, 'No ingest is running.')),
      section('Runs', table(['Started', 'Pipeline', 'Status', 'Duration', 'Seen', 'Added', 'Changed', 'Deleted', 'Failed', 'Chunks', 'Run'],
        runs.map((r) => [fmtTime(r.started_at), r.pipeline,
          [badge(r.status || (r.finished_at == null ? 'running' : null)), r.error ? h('div', { class: 'run-error small' }, r.error) : null],
          r.finished_at == null ? h('span', { class: 'muted' }, 'running') : fmtDuration(r.duration_ms), r.seen ?? 0, r.added ?? 0, r.changed ?? 0, r.deleted ?? 0,
          r.failed ? h('span', { class: 'bad-text' }, String(r.failed)) : 0, r.chunks ?? 0, h('code', {}, r.id)]), 'Runs')),
      section(`Failed documents (${failed.length})`,
        failed.length ? failed.map(failureItem) : h('p', { class: 'muted' }, 'No failed documents.')),
    );
    return running.length > 0;
  }

  // ---- wiring -------------------------------------------------------------------
  $('auth-form').addEventListener('submit', (e) => {
    e.preventDefault();
    const k = $('key').value.trim();
    if (!k) return;
    localStorage.setItem(KEY, k);
    settleKey(true);
    $('auth').close();
  });
  $('auth-cancel').addEventListener('click', () => $('auth').close());
  $('auth').addEventListener('close', () => settleKey(false));
  $('passage').addEventListener('click', (e) => { if (e.target === e.currentTarget) e.currentTarget.close(); });
  $('error').querySelector('.close').addEventListener('click', () => clearError());

  $('composer').addEventListener('submit', (e) => { e.preventDefault(); send(); });
  $('question').addEventListener('keydown', (e) => {
    if (e.key === 'Enter' && !e.shiftKey && !e.isComposing) { e.preventDefault(); send(); }
  });
  $('question').addEventListener('input', autosize);
  $('stop').addEventListener('click', () => controller && controller.abort());
  $('new').addEventListener('click', newConversation);
  $('app').addEventListener('change', () => localStorage.setItem(APP, $('app').value));

  addEventListener('hashchange', route);
  document.addEventListener('visibilitychange', poll);
  appsReady = loadApps();
  route();

  // A link may carry a question to ask at once: /ui/?app=ask&q=How+are+ports+chosen
  const params = new URLSearchParams(location.search);
  if (params.get('q')) {
    appsReady.then(() => {
      const app = params.get('app');
      if (app && [...$('app').options].some((o) => o.value === app)) $('app').value = app;
      $('question').value = params.get('q');
      send();
    });
  }
})();
