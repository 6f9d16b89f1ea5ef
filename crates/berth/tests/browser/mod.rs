//! A headless Chromium driven over the DevTools protocol on a pipe
//! (`--remote-debugging-pipe`: commands on fd 3, replies and events on fd 4, each message
//! JSON ended by a NUL byte). Waiting is on page state, never on a clock: a test asks the
//! page for a condition and Chromium answers when it holds.

#![allow(dead_code)] // each test binary uses part of it

use serde_json::{Value, json};
use std::io::{BufRead, BufReader, Write};
use std::path::Path;
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

/// One Chromium process, killed on drop.
pub struct Browser {
    child: Child,
    commands: ChildStdin,
    messages: mpsc::Receiver<Value>,
    events: Vec<Value>,
    next_id: u64,
    _profile: tempfile::TempDir,
}

/// One tab, attached with its own DevTools session.
pub struct Tab {
    session: String,
}

impl Drop for Browser {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Browser {
    /// Starts Chromium headless with a fresh profile and a window of `width`×`height`.
    pub fn launch(exe: &Path, width: u32, height: u32) -> Browser {
        let profile = tempfile::tempdir().unwrap();
        // The shell moves the pipes on stdin and stdout to the descriptors 3 and 4
        // Chromium expects, then becomes Chromium.
        let mut child = Command::new("sh")
            .arg("-c")
            .arg(r#"exec "$0" "$@" 3<&0 4>&1 0</dev/null 1>/dev/null"#)
            .arg(exe)
            .args([
                "--headless",
                "--no-sandbox",
                "--disable-gpu",
                "--disable-background-networking",
                "--no-first-run",
                "--remote-debugging-pipe",
            ])
            .arg(format!("--window-size={width},{height}"))
            .arg(format!("--user-data-dir={}", profile.path().display()))
            .arg("about:blank")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("chromium starts");
        let commands = child.stdin.take().unwrap();
        let replies = child.stdout.take().unwrap();
        let (tx, messages) = mpsc::channel();
        std::thread::spawn(move || {
            let mut reader = BufReader::new(replies);
            let mut buf = Vec::new();
            while reader.read_until(0, &mut buf).is_ok_and(|n| n > 0) {
                if buf.last() == Some(&0) {
                    buf.pop();
                }
                let Ok(message) = serde_json::from_slice::<Value>(&buf) else {
                    break;
                };
                if tx.send(message).is_err() {
                    break;
                }
                buf.clear();
            }
        });
        Browser {
            child,
            commands,
            messages,
            events: Vec::new(),
            next_id: 0,
            _profile: profile,
        }
    }

    fn next(&mut self, deadline: Instant, waiting_for: &str) -> Value {
        let left = deadline.saturating_duration_since(Instant::now());
        match self.messages.recv_timeout(left) {
            Ok(message) => message,
            Err(mpsc::RecvTimeoutError::Timeout) => panic!("chromium: no {waiting_for} in time"),
            Err(mpsc::RecvTimeoutError::Disconnected) => {
                panic!("chromium exited while waiting for {waiting_for}")
            }
        }
    }

    /// Sends one command and returns its result; events that arrive meanwhile are kept.
    pub fn call(&mut self, session: Option<&str>, method: &str, params: Value) -> Value {
        self.next_id += 1;
        let id = self.next_id;
        let mut message = json!({"id": id, "method": method, "params": params});
        if let Some(session) = session {
            message["sessionId"] = json!(session);
        }
        let mut bytes = serde_json::to_vec(&message).unwrap();
        bytes.push(0);
        self.commands
            .write_all(&bytes)
            .expect("chromium reads commands");
        let deadline = Instant::now() + Duration::from_secs(120);
        loop {
            let message = self.next(deadline, method);
            if message["id"] == json!(id) {
                if let Some(error) = message.get("error") {
                    panic!("chromium: {method} failed: {error}");
                }
                return message["result"].clone();
            }
            self.events.push(message);
        }
    }

    /// Waits for the event `method` in `tab`.
    pub fn wait_event(&mut self, tab: &Tab, method: &str, within: Duration) -> Value {
        let matches = |e: &Value| e["method"] == method && e["sessionId"] == tab.session.as_str();
        if let Some(at) = self.events.iter().position(matches) {
            return self.events.remove(at);
        }
        let deadline = Instant::now() + within;
        loop {
            let message = self.next(deadline, method);
            if matches(&message) {
                return message;
            }
            self.events.push(message);
        }
    }

    /// Opens a tab on `url` and waits for its load event.
    pub fn open(&mut self, url: &str) -> Tab {
        let target = self.call(None, "Target.createTarget", json!({"url": "about:blank"}));
        let attached = self.call(
            None,
            "Target.attachToTarget",
            json!({"targetId": target["targetId"], "flatten": true}),
        );
        let tab = Tab {
            session: attached["sessionId"].as_str().unwrap().to_owned(),
        };
        self.call(Some(&tab.session), "Page.enable", json!({}));
        self.call(Some(&tab.session), "Page.navigate", json!({"url": url}));
        self.wait_event(&tab, "Page.loadEventFired", Duration::from_secs(60));
        tab
    }

    /// Evaluates `expression` in `tab`, awaiting it when it is a promise; a thrown error
    /// or rejection fails the test with its message.
    pub fn eval(&mut self, tab: &Tab, expression: &str) -> Value {
        let result = self.call(
            Some(&tab.session),
            "Runtime.evaluate",
            json!({"expression": expression, "awaitPromise": true, "returnByValue": true}),
        );
        if let Some(exception) = result.get("exceptionDetails") {
            panic!("in the page: {exception}");
        }
        result["result"]["value"].clone()
    }

    /// Waits until `selector` matches an element of `tab`, at most `within`.
    pub fn wait_for(&mut self, tab: &Tab, selector: &str, within: Duration) {
        let selector = serde_json::to_string(selector).unwrap();
        let ms = within.as_millis();
        self.eval(
            tab,
            &format!(
                "new Promise((resolve, reject) => {{
                   const found = () => document.querySelector({selector});
                   if (found()) return resolve(true);
                   const seen = new MutationObserver(() => {{
                     if (found()) {{ seen.disconnect(); resolve(true); }}
                   }});
                   seen.observe(document.documentElement,
                                {{ subtree: true, childList: true, attributes: true }});
                   setTimeout(() => reject(new Error('nothing matched ' + {selector} + ' within {ms} ms')), {ms});
                 }})"
            ),
        );
    }

    /// The page's current DOM as HTML.
    pub fn html(&mut self, tab: &Tab) -> String {
        let html = self.eval(tab, "document.documentElement.outerHTML");
        html.as_str().unwrap_or_default().to_owned()
    }

    /// A PNG of the tab's viewport.
    pub fn screenshot(&mut self, tab: &Tab) -> Vec<u8> {
        use base64::Engine as _;
        let shot = self.call(
            Some(&tab.session),
            "Page.captureScreenshot",
            json!({"format": "png"}),
        );
        base64::engine::general_purpose::STANDARD
            .decode(shot["data"].as_str().unwrap())
            .expect("the screenshot is base64")
    }
}
