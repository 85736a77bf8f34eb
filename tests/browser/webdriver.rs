//! A small W3C WebDriver client over awc, and the chromedriver process it talks to.
//!
//! One chromedriver serves every test of this binary that runs at the same time: each test
//! holds an `Arc` to it, and the last one to finish stops it. Each test gets its own Chromium
//! session with a fresh profile, so cookies never leak from one test to another.

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex, Weak};
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use crate::app::TempDir;

/// The key WebDriver uses to mark an element reference in JSON.
const ELEMENT: &str = "element-6066-11e4-a52e-4f735466cecf";
/// How long `wait_*` helpers poll before failing the test.
const WAIT: Duration = Duration::from_secs(10);
const INSTALL: &str = "apt-get install chromium chromium-driver";

/// WebDriver's key codes for the keys the tests press.
pub const ENTER: &str = "\u{E007}";
pub const ESCAPE: &str = "\u{E00C}";

static DRIVER: Mutex<Weak<Driver>> = Mutex::new(Weak::new());

/// A running chromedriver.
pub struct Driver {
    child: Child,
    port: u16,
    chromium: PathBuf,
}

impl Drop for Driver {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The first of `names` found on `PATH` (or as an absolute path).
fn find_program(names: &[&str]) -> Option<PathBuf> {
    let path = std::env::var_os("PATH").unwrap_or_default();
    names.iter().find_map(|name| {
        let direct = Path::new(name);
        if direct.is_absolute() {
            return direct.is_file().then(|| direct.to_path_buf());
        }
        std::env::split_paths(&path)
            .map(|dir| dir.join(name))
            .find(|candidate| candidate.is_file())
    })
}

/// The shared chromedriver, started when no test holds one.
pub fn driver() -> Arc<Driver> {
    let mut shared = DRIVER.lock().unwrap_or_else(|e| e.into_inner());
    if let Some(driver) = shared.upgrade() {
        return driver;
    }

    // A missing browser is a failure that says what to install, never a silent skip.
    let chromedriver = find_program(&["chromedriver"]).unwrap_or_else(|| {
        panic!("the browser tests need chromedriver, which is not on PATH; install it: {INSTALL}")
    });
    let chromium =
        find_program(&["chromium", "chromium-browser", "google-chrome"]).unwrap_or_else(|| {
            panic!("the browser tests need Chromium, which is not on PATH; install it: {INSTALL}")
        });

    let port = free_port();
    let child = Command::new(&chromedriver)
        .arg(format!("--port={port}"))
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap_or_else(|e| panic!("{} could not start: {e}", chromedriver.display()));
    let driver = Arc::new(Driver {
        child,
        port,
        chromium,
    });
    let started = Instant::now();
    while TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(
            started.elapsed() < Duration::from_secs(20),
            "chromedriver did not listen on port {port} within 20 s"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    *shared = Arc::downgrade(&driver);
    driver
}

/// A port that was free a moment ago.
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a free port")
        .port()
}

/// Where screenshots go: `target/ui-screenshots/` (or under `CARGO_TARGET_DIR`).
pub fn screenshot_dir() -> PathBuf {
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("target"));
    let dir = target.join("ui-screenshots");
    std::fs::create_dir_all(&dir).expect("the screenshot directory can be created");
    dir
}

/// Removes a test's screenshots of an earlier run, so none of them can be mistaken for new.
/// Labels start with a digit (or are `FAILED`), so the test `phone` does not remove those of
/// `phone-budgets`.
fn remove_old_screenshots(name: &str) {
    let prefix = format!("{name}-");
    let Ok(entries) = std::fs::read_dir(screenshot_dir()) else {
        return;
    };
    for entry in entries.flatten() {
        let file = entry.file_name().to_string_lossy().into_owned();
        let Some(label) = file.strip_prefix(&prefix) else {
            continue;
        };
        if label.starts_with(|c: char| c.is_ascii_digit()) || label == "FAILED.png" {
            let _ = std::fs::remove_file(entry.path());
        }
    }
}

/// An element found on the page.
#[derive(Debug, Clone)]
pub struct Element(String);

/// One Chromium session.
pub struct Browser {
    driver: Arc<Driver>,
    client: awc::Client,
    session: String,
    /// The test's name, prefixed to its screenshots.
    name: String,
    closed: bool,
    _profile: TempDir,
}

impl Browser {
    /// Opens a headless Chromium at 1280×900 with a fresh profile.
    pub async fn open(name: &str) -> Browser {
        remove_old_screenshots(name);
        let driver = driver();
        let profile = TempDir::new("chromium");
        let client = awc::Client::builder()
            .timeout(Duration::from_secs(60))
            .finish();
        let args = [
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-dev-shm-usage",
            "--disable-quic",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--window-size=1280,900",
        ]
        .iter()
        .map(|a| a.to_string())
        .chain([format!("--user-data-dir={}", profile.0.display())])
        .collect::<Vec<_>>();
        let capabilities = json!({"capabilities": {"alwaysMatch": {
            "browserName": "chrome",
            "goog:chromeOptions": {"binary": driver.chromium, "args": args},
        }}});
        let url = format!("http://127.0.0.1:{}/session", driver.port);
        let reply = send(&client, "POST", &url, Some(&capabilities)).await;
        let session = match &reply {
            Ok(v) => v["sessionId"].as_str().map(str::to_string),
            Err(_) => None,
        };
        let session = session.unwrap_or_else(|| {
            panic!("Chromium did not start a session ({reply:?}); is it installed? {INSTALL}")
        });
        Browser {
            driver,
            client,
            session,
            name: name.to_string(),
            closed: false,
            _profile: profile,
        }
    }

    fn url(&self, rest: &str) -> String {
        format!(
            "http://127.0.0.1:{}/session/{}{rest}",
            self.driver.port, self.session
        )
    }

    /// A WebDriver command; `Err` carries WebDriver's error message.
    async fn command(
        &self,
        method: &str,
        rest: &str,
        body: Option<Value>,
    ) -> Result<Value, String> {
        send(&self.client, method, &self.url(rest), body.as_ref()).await
    }

    /// A command that must succeed.
    async fn must(&self, method: &str, rest: &str, body: Option<Value>) -> Value {
        match self.command(method, rest, body).await {
            Ok(value) => value,
            Err(e) => panic!(
                "{}",
                self.failure(&format!("WebDriver {method} {rest} failed: {e}"))
                    .await
            ),
        }
    }

    /// Saves a screenshot and returns `message` pointing at it, for the test's panic.
    pub async fn failure(&self, message: &str) -> String {
        let path = self.screenshot("FAILED").await;
        format!("{message} (screenshot: {})", path.display())
    }

    pub async fn goto(&self, url: &str) {
        self.must("POST", "/url", Some(json!({ "url": url }))).await;
    }

    pub async fn current_url(&self) -> String {
        let value = self.must("GET", "/url", None).await;
        value.as_str().unwrap_or_default().to_string()
    }

    pub async fn refresh(&self) {
        self.must("POST", "/refresh", Some(json!({}))).await;
    }

    /// The first element matching a CSS selector, if any.
    pub async fn try_find(&self, css: &str) -> Option<Element> {
        let body = json!({"using": "css selector", "value": css});
        let value = self.command("POST", "/element", Some(body)).await.ok()?;
        value[ELEMENT].as_str().map(|id| Element(id.to_string()))
    }

    /// Every element matching a CSS selector.
    pub async fn find_all(&self, css: &str) -> Vec<Element> {
        let body = json!({"using": "css selector", "value": css});
        let value = self.must("POST", "/elements", Some(body)).await;
        value
            .as_array()
            .map(|items| {
                items
                    .iter()
                    .filter_map(|v| v[ELEMENT].as_str().map(|id| Element(id.to_string())))
                    .collect()
            })
            .unwrap_or_default()
    }

    /// Waits until an element matching `css` exists and is displayed.
    pub async fn wait_for(&self, css: &str) -> Element {
        let started = Instant::now();
        loop {
            if let Some(element) = self.try_find(css).await
                && self.displayed(&element).await
            {
                return element;
            }
            if started.elapsed() > WAIT {
                let message = format!("no visible element matched {css} within {WAIT:?}");
                panic!("{}", self.failure(&message).await);
            }
            actix_web::rt::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// Waits until a JavaScript expression is truthy; returns its value.
    pub async fn wait_until(&self, what: &str, expression: &str) -> Value {
        let script = format!("return ({expression});");
        let started = Instant::now();
        loop {
            let value = self.js(&script, vec![]).await;
            if !matches!(value, Value::Null | Value::Bool(false))
                && value != json!(0)
                && value != json!("")
            {
                return value;
            }
            if started.elapsed() > WAIT {
                let message = format!("waited {WAIT:?} for {what}: `{expression}` gave {value}");
                panic!("{}", self.failure(&message).await);
            }
            actix_web::rt::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// Waits until the element matching `css` shows exactly `text`.
    pub async fn wait_text(&self, css: &str, text: &str) {
        let expression = format!(
            "(document.querySelector({css}) || {{}}).textContent === {text}",
            css = json!(css),
            text = json!(text)
        );
        self.wait_until(&format!("{css} to read {text:?}"), &expression)
            .await;
    }

    pub async fn displayed(&self, element: &Element) -> bool {
        let rest = format!("/element/{}/displayed", element.0);
        self.command("GET", &rest, None).await.ok() == Some(Value::Bool(true))
    }

    pub async fn click(&self, element: &Element) {
        let rest = format!("/element/{}/click", element.0);
        self.must("POST", &rest, Some(json!({}))).await;
    }

    /// Clicks the visible element matching `css`, waiting for it first.
    pub async fn click_on(&self, css: &str) {
        let element = self.wait_for(css).await;
        self.click(&element).await;
    }

    /// Types into an element, as a user would (keys such as `ENTER` included).
    pub async fn send_keys(&self, element: &Element, text: &str) {
        let rest = format!("/element/{}/value", element.0);
        self.must("POST", &rest, Some(json!({ "text": text })))
            .await;
    }

    /// Clears the visible input matching `css` and types `text` into it.
    pub async fn fill(&self, css: &str, text: &str) {
        let element = self.wait_for(css).await;
        let rest = format!("/element/{}/clear", element.0);
        self.must("POST", &rest, Some(json!({}))).await;
        self.send_keys(&element, text).await;
    }

    /// Focuses the element matching `css`, as tabbing to it would.
    pub async fn focus(&self, css: &str) {
        self.wait_for(css).await;
        let script = format!("document.querySelector({}).focus();", json!(css));
        self.js(&script, vec![]).await;
    }

    /// Presses and releases one key on whatever has the focus.
    pub async fn press(&self, key: &str) {
        let actions = json!({"actions": [{"type": "key", "id": "keyboard", "actions": [
            {"type": "keyDown", "value": key}, {"type": "keyUp", "value": key},
        ]}]});
        self.must("POST", "/actions", Some(actions)).await;
    }

    /// The rendered text of an element.
    pub async fn text(&self, element: &Element) -> String {
        let rest = format!("/element/{}/text", element.0);
        let value = self.must("GET", &rest, None).await;
        value.as_str().unwrap_or_default().to_string()
    }

    /// The text of the visible element matching `css`.
    pub async fn text_of(&self, css: &str) -> String {
        let element = self.wait_for(css).await;
        self.text(&element).await
    }

    pub async fn attribute(&self, element: &Element, name: &str) -> Option<String> {
        let rest = format!("/element/{}/attribute/{name}", element.0);
        let value = self.must("GET", &rest, None).await;
        value.as_str().map(str::to_string)
    }

    /// Runs a script in the page (`return ...;` gives its value). Elements may be passed in.
    pub async fn js(&self, script: &str, args: Vec<Value>) -> Value {
        let body = json!({ "script": script, "args": args });
        self.must("POST", "/execute/sync", Some(body)).await
    }

    /// Runs a script that calls `arguments[arguments.length - 1]` with its result.
    pub async fn js_async(&self, script: &str) -> Value {
        let body = json!({ "script": script, "args": [] });
        self.must("POST", "/execute/async", Some(body)).await
    }

    /// The text of an open `alert()`, if one is open.
    pub async fn alert_text(&self) -> Option<String> {
        let value = self.command("GET", "/alert/text", None).await.ok()?;
        value.as_str().map(str::to_string)
    }

    pub async fn set_window_size(&self, width: u32, height: u32) {
        let body = json!({ "width": width, "height": height });
        self.must("POST", "/window/rect", Some(body)).await;
    }

    /// Every cookie of the current page, HttpOnly ones included.
    pub async fn cookies(&self) -> Vec<Value> {
        let value = self.must("GET", "/cookie", None).await;
        value.as_array().cloned().unwrap_or_default()
    }

    /// Saves a PNG of the viewport as `<test>-<label>.png` and returns its path.
    pub async fn screenshot(&self, label: &str) -> PathBuf {
        let path = screenshot_dir().join(format!("{}-{label}.png", self.name));
        match self.command("GET", "/screenshot", None).await {
            Ok(Value::String(encoded)) => {
                let png = base64_decode(&encoded).expect("WebDriver sends valid base64");
                std::fs::write(&path, png).expect("the screenshot can be written");
            }
            // While reporting a failure, the failure is the news; otherwise a missing
            // artifact fails the test.
            other if label == "FAILED" => eprintln!("no screenshot {}: {other:?}", path.display()),
            other => panic!("no screenshot {}: {other:?}", path.display()),
        }
        path
    }

    /// Ends the session, which closes Chromium.
    pub async fn close(mut self) {
        self.closed = true;
        let _ = self.command("DELETE", "", None).await;
    }
}

impl Drop for Browser {
    /// A test that panicked still closes its Chromium: with a plain blocking request, since
    /// nothing async can run here.
    fn drop(&mut self) {
        if self.closed {
            return;
        }
        let request = format!(
            "DELETE /session/{} HTTP/1.1\r\nHost: 127.0.0.1:{}\r\nConnection: close\r\n\
             Content-Length: 0\r\n\r\n",
            self.session, self.driver.port
        );
        if let Ok(mut stream) = TcpStream::connect(("127.0.0.1", self.driver.port)) {
            let _ = stream.set_read_timeout(Some(Duration::from_secs(10)));
            let _ = stream.write_all(request.as_bytes());
            let _ = stream.read_to_end(&mut Vec::new());
        }
    }
}

/// Sends a WebDriver request and unwraps `value`; errors become their message.
async fn send(
    client: &awc::Client,
    method: &str,
    url: &str,
    body: Option<&Value>,
) -> Result<Value, String> {
    let method = awc::http::Method::from_bytes(method.as_bytes()).expect("a method");
    let request = client
        .request(method, url)
        .insert_header(("Content-Type", "application/json; charset=utf-8"));
    let sent = match body {
        Some(body) => request.send_body(body.to_string()).await,
        None => request.send().await,
    };
    let mut response = sent.map_err(|e| format!("chromedriver did not answer: {e}"))?;
    let bytes = response
        .body()
        .limit(64 << 20)
        .await
        .map_err(|e| format!("chromedriver's reply did not arrive: {e}"))?;
    let reply: Value = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
    let value = reply["value"].clone();
    if response.status().is_success() {
        Ok(value)
    } else {
        Err(format!(
            "{} {}: {}",
            response.status(),
            value["error"].as_str().unwrap_or(""),
            value["message"]
                .as_str()
                .unwrap_or(&String::from_utf8_lossy(&bytes))
        ))
    }
}

/// Standard base64 (the alphabet WebDriver's screenshots use), padding optional.
fn base64_decode(text: &str) -> Option<Vec<u8>> {
    let value = |c: u8| -> Option<u32> {
        Some(match c {
            b'A'..=b'Z' => c - b'A',
            b'a'..=b'z' => c - b'a' + 26,
            b'0'..=b'9' => c - b'0' + 52,
            b'+' => 62,
            b'/' => 63,
            _ => return None,
        } as u32)
    };
    let clean: Vec<u8> = text
        .bytes()
        .filter(|c| !c.is_ascii_whitespace() && *c != b'=')
        .collect();
    let mut out = Vec::with_capacity(clean.len() * 3 / 4);
    for chunk in clean.chunks(4) {
        let mut acc = 0u32;
        for (i, c) in chunk.iter().enumerate() {
            acc |= value(*c)? << (18 - 6 * i);
        }
        let bytes = acc.to_be_bytes();
        out.extend_from_slice(&bytes[1..chunk.len()]);
    }
    Some(out)
}

#[test]
fn base64_decodes_what_it_should() {
    assert_eq!(base64_decode("aGVsbG8=").unwrap(), b"hello");
    assert_eq!(base64_decode("aGVsbG8h").unwrap(), b"hello!");
    assert_eq!(base64_decode("aGk").unwrap(), b"hi");
}
