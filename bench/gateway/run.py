#!/usr/bin/env python3
"""Gateway overhead benchmark: berth's gateway beside LiteLLM's proxy and beside calling
the upstream directly, all in front of the same stand-in upstream, driven at fixed
arrival rates by the open-loop generator (crates/berth-serve/examples/loadgen.rs).

Run through bench/gateway/run.sh, which builds the binaries and the LiteLLM venv.
Writes a JSON file of every measurement and prints a Markdown summary.
"""

import argparse
import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
RELEASE = os.path.join(os.environ.get("CARGO_TARGET_DIR", os.path.join(ROOT, "target")), "release")


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_http(url, limit=60.0, proc=None):
    deadline = time.monotonic() + limit
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            raise SystemExit(f"process for {url} exited with {proc.returncode}")
        try:
            with urllib.request.urlopen(url, timeout=1) as r:
                if r.status == 200:
                    return
        except OSError:
            pass
        time.sleep(0.1)  # bounded readiness poll
    raise SystemExit(f"{url} not ready within {limit} s")


def tree_pids(pid):
    """A process and all its descendants."""
    pids, frontier = {pid}, [pid]
    while frontier:
        p = frontier.pop()
        try:
            for t in os.listdir(f"/proc/{p}/task"):
                with open(f"/proc/{p}/task/{t}/children") as f:
                    for c in f.read().split():
                        if int(c) not in pids:
                            pids.add(int(c))
                            frontier.append(int(c))
        except OSError:
            pass
    return pids


def tree_rss_kib(pid):
    """Resident memory of a process and all its descendants, in KiB."""
    total = 0
    for p in tree_pids(pid):
        try:
            with open(f"/proc/{p}/status") as f:
                for line in f:
                    if line.startswith("VmRSS:"):
                        total += int(line.split()[1])
        except OSError:
            pass
    return total


def tree_cpu_seconds(pid):
    """User plus system CPU time of a process and its descendants so far, in seconds."""
    tick = os.sysconf("SC_CLK_TCK")
    total = 0
    for p in tree_pids(pid):
        try:
            with open(f"/proc/{p}/stat") as f:
                fields = f.read().rsplit(")", 1)[1].split()
                total += int(fields[11]) + int(fields[12])
        except OSError:
            pass
    return total / tick


class RssSampler(threading.Thread):
    def __init__(self, pid):
        super().__init__(daemon=True)
        self.pid, self.peak, self.stop = pid, 0, threading.Event()

    def run(self):
        while not self.stop.wait(0.1):
            self.peak = max(self.peak, tree_rss_kib(self.pid))


def loadgen(url, rate, seconds, stream, threads):
    cmd = [os.path.join(RELEASE, "examples", "loadgen"), "--url", url, "--rate", str(rate),
           "--seconds", str(seconds), "--warmup-seconds", "1", "--timeout-seconds", "10",
           "--threads", str(threads)]
    if stream:
        cmd.append("--stream")
    out = subprocess.run(cmd, capture_output=True, text=True, check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--seconds", type=float, default=5)
    ap.add_argument("--rates", default="10,20,50,100,200,500,1000,2000,3000")
    ap.add_argument("--latency-ms", type=int, default=10)
    ap.add_argument("--tokens", type=int, default=8)
    ap.add_argument("--chunk-interval-ms", type=int, default=2)
    ap.add_argument("--loadgen-threads", type=int, default=1)
    ap.add_argument("--litellm", default=os.path.join(ROOT, ".venv-litellm", "bin", "litellm"))
    ap.add_argument("--out", default=os.path.join(ROOT, "target", "bench-gateway.json"))
    args = ap.parse_args()
    rates = [int(r) for r in args.rates.split(",")]

    work = tempfile.mkdtemp(prefix="berth-gw-bench-")
    procs = []

    def start(cmd, **kw):
        p = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=open(os.path.join(work, f"{len(procs)}.log"), "w"),
                             start_new_session=True, **kw)
        procs.append(p)
        return p

    try:
        up_port, gw_port, ll_port = free_port(), free_port(), free_port()
        start([os.path.join(RELEASE, "examples", "standin"), "--port", str(up_port), "--latency-ms",
               str(args.latency_ms), "--tokens", str(args.tokens), "--chunk-interval-ms",
               str(args.chunk_interval_ms)])
        wait_http(f"http://127.0.0.1:{up_port}/v1/models")

        with open(os.path.join(work, "berth.yaml"), "w") as f:
            f.write("stack: bench\nmodels:\n  chat:\n    - provider: openai\n"
                    f"      base_url: http://127.0.0.1:{up_port}/v1\n      model: upstream-chat\n"
                    "      api_key: ${secret:BENCH_UPSTREAM_KEY}\n")
        gw = start([os.path.join(RELEASE, "berth"), "serve", "--port", str(gw_port)], cwd=work,
                   env={**os.environ, "BENCH_UPSTREAM_KEY": "sk-bench", "RUST_LOG": "warn"})
        wait_http(f"http://127.0.0.1:{gw_port}/readyz", proc=gw)

        with open(os.path.join(work, "litellm.yaml"), "w") as f:
            f.write("model_list:\n  - model_name: chat\n    litellm_params:\n      model: openai/upstream-chat\n"
                    f"      api_base: http://127.0.0.1:{up_port}/v1\n      api_key: sk-bench\n")
        ll_env = {**os.environ, "LITELLM_LOCAL_MODEL_COST_MAP": "True",
                  "LITELLM_DANGEROUSLY_PERMIT_WEAK_OR_UNSET_MASTER_KEY": "true", "LITELLM_LOG": "ERROR"}
        ll = start([args.litellm, "--config", os.path.join(work, "litellm.yaml"), "--port", str(ll_port)],
                   env=ll_env)
        wait_http(f"http://127.0.0.1:{ll_port}/health/liveliness", limit=120, proc=ll)

        targets = {
            "direct": (f"http://127.0.0.1:{up_port}/v1/chat/completions", None),
            "berth": (f"http://127.0.0.1:{gw_port}/v1/chat/completions", gw.pid),
            "litellm": (f"http://127.0.0.1:{ll_port}/v1/chat/completions", ll.pid),
        }
        # One request each first, so lazy initialisation is not measured.
        for name, (url, _) in targets.items():
            loadgen(url, 5, 1, False, 1)
        idle = {name: tree_rss_kib(pid) for name, (_, pid) in targets.items() if pid}
        results = []
        given_up = set()
        for stream in (False, True):
            for rate in rates:
                for name, (url, pid) in targets.items():
                    if name in given_up and name != "direct":
                        continue
                    sampler = RssSampler(pid) if pid else None
                    if sampler:
                        sampler.start()
                        cpu_before = tree_cpu_seconds(pid)
                    r = loadgen(url, rate, args.seconds, stream, args.loadgen_threads)
                    if sampler:
                        sampler.stop.set()
                        sampler.join()
                        r["peak_rss_kib"] = sampler.peak
                        sent = r["measured"] + rate  # the warm-up second's requests too
                        r["cpu_us_per_request"] = 1e6 * (tree_cpu_seconds(pid) - cpu_before) / sent
                    r["target"] = name
                    results.append(r)
                    lat = r["latency_ms"] or {}
                    print(f"{'stream' if stream else 'whole ':6} {rate:5}/s {name:8} ok {r['ok']:6} failed "
                          f"{r['failed']:5} p50 {lat.get('p50', float('nan')):8.2f} p99 "
                          f"{lat.get('p99', float('nan')):8.2f} ms", file=sys.stderr, flush=True)
                # A proxy that failed requests or queued past 1 s at this rate is not driven harder.
                for name in ("berth", "litellm"):
                    r = next((x for x in results[::-1] if x["target"] == name and x["stream"] == stream
                              and x["target_rps"] == rate), None)
                    if r and (r["failed"] > 0 or (r["latency_ms"] or {}).get("p99", 1e9) > 1000):
                        given_up.add(name)
            given_up.clear()
        summary = summarise(results, idle)
        with open(args.out, "w") as f:
            json.dump({"settings": vars(args), "idle_rss_kib": idle, "results": results, "summary": summary}, f,
                      indent=1)
        print(markdown(summary, idle, args))
    finally:
        for p in procs:
            try:
                os.killpg(p.pid, signal.SIGTERM)
            except OSError:
                pass
        for p in procs:
            try:
                p.wait(timeout=10)
            except subprocess.TimeoutExpired:
                os.killpg(p.pid, signal.SIGKILL)


def summarise(results, idle):
    rows = []
    for stream in (False, True):
        direct = {r["target_rps"]: r for r in results if r["target"] == "direct" and r["stream"] == stream}
        for name in ("berth", "litellm"):
            sustained, broke = None, False
            for r in sorted(results, key=lambda x: x["target_rps"]):
                if r["target"] != name or r["stream"] != stream:
                    continue
                d = direct[r["target_rps"]]
                ok = r["failed"] == 0 and r["latency_ms"] and d["latency_ms"]
                row = {"target": name, "stream": stream, "rate": r["target_rps"], "ok": r["ok"],
                       "failed": r["failed"], "peak_rss_mib": r.get("peak_rss_kib", 0) / 1024,
                       "cpu_us": r.get("cpu_us_per_request")}
                if ok:
                    for key, field in (("latency", "latency_ms"), ("ttft", "first_byte_ms")):
                        for q in ("p50", "p99"):
                            row[f"added_{key}_{q}"] = r[field][q] - d[field][q]
                # Sustained: every rate up to this one kept p99 added latency under 50 ms.
                if ok and row["added_latency_p99"] < 50 and d["failed"] == 0 and not broke:
                    sustained = r["target_rps"]
                else:
                    broke = True
                rows.append(row)
            rows.append({"target": name, "stream": stream, "sustained_rps": sustained})
    return rows


def markdown(summary, idle, args):
    out = [f"Upstream stand-in: {args.latency_ms} ms before headers, {args.tokens} tokens, "
           f"{args.chunk_interval_ms} ms between streamed chunks; {args.seconds} s per point after 1 s warm-up.",
           "", "| mode | rate/s | proxy | ok | failed | added p50 ms | added p99 ms | added TTFT p50 ms | "
           "added TTFT p99 ms | CPU µs/request | peak RSS MiB |", "|---|---|---|---|---|---|---|---|---|---|---|"]
    fmt = lambda v: "—" if v is None else f"{v:.2f}"
    for r in summary:
        if "rate" not in r:
            continue
        ttft = (lambda k: fmt(r.get(k))) if r["stream"] else (lambda k: "—")
        out.append(f"| {'stream' if r['stream'] else 'whole'} | {r['rate']:.0f} | {r['target']} | {r['ok']} | "
                   f"{r['failed']} | {fmt(r.get('added_latency_p50'))} | {fmt(r.get('added_latency_p99'))} | "
                   f"{ttft('added_ttft_p50')} | {ttft('added_ttft_p99')} | {fmt(r.get('cpu_us'))} | "
                   f"{r['peak_rss_mib']:.1f} |")
    out += ["", "| mode | proxy | highest rate sustained (it and every lower rate: p99 added < 50 ms, no failures) |", "|---|---|---|"]
    for r in summary:
        if "sustained_rps" in r:
            out.append(f"| {'stream' if r['stream'] else 'whole'} | {r['target']} | {r['sustained_rps'] or 'none'} |")
    out += ["", "Idle RSS: " + ", ".join(f"{k} {v / 1024:.1f} MiB" for k, v in idle.items())]
    return "\n".join(out)


if __name__ == "__main__":
    main()
