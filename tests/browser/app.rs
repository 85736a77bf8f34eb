//! fruxon started in-process on port 0 with a fresh SQLite file, and the API calls the tests
//! use to seed data and to check what the page did.

use std::path::PathBuf;
use std::process::Command;
use std::sync::Arc;
use std::time::Duration;

use fruxon::config::Settings;
use fruxon::domain::time::SystemClock;
use fruxon::startup::Application;
use serde_json::{Value, json};

use crate::webdriver::Browser;

/// A directory removed when the test ends.
pub struct TempDir(pub PathBuf);

impl TempDir {
    pub fn new(prefix: &str) -> TempDir {
        let mut random = [0u8; 8];
        getrandom::fill(&mut random).expect("random bytes");
        let name: String = random.iter().map(|b| format!("{b:02x}")).collect();
        let path = std::env::temp_dir().join(format!("fruxon-browser-{prefix}-{name}"));
        std::fs::create_dir_all(&path).expect("a temporary directory");
        TempDir(path)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// A reply from the API: status and JSON body.
#[derive(Debug)]
pub struct Reply {
    pub status: u16,
    pub body: Value,
}

impl Reply {
    pub fn message(&self) -> &str {
        self.body["error"]["message"].as_str().unwrap_or("")
    }
}

/// A running fruxon with the demo tenant and its admin key.
pub struct TestApp {
    pub address: String,
    pub db_path: PathBuf,
    pub admin_key: String,
    client: awc::Client,
    handle: actix_web::dev::ServerHandle,
    _dir: TempDir,
}

impl TestApp {
    pub async fn spawn() -> TestApp {
        let dir = TempDir::new("db");
        let db_path = dir.0.join("fruxon.db");
        let mut settings = Settings::for_db(db_path.clone());
        settings.workers = 2;
        let app = Application::build(settings, Arc::new(SystemClock)).expect("the app builds");
        let address = format!("http://127.0.0.1:{}", app.port());
        let admin_key = app
            .demo_key
            .as_ref()
            .expect("a fresh database gets the demo tenant")
            .text
            .clone();
        let handle = app.handle();
        actix_web::rt::spawn(app.run_until_stopped());
        TestApp {
            address,
            db_path,
            admin_key,
            client: awc::Client::builder()
                .timeout(Duration::from_secs(60))
                .finish(),
            handle,
            _dir: dir,
        }
    }

    /// A request with optional key and extra headers.
    pub async fn request(
        &self,
        method: &str,
        path: &str,
        key: Option<&str>,
        headers: &[(&str, &str)],
        body: Option<&Value>,
    ) -> Reply {
        let method = awc::http::Method::from_bytes(method.as_bytes()).expect("a method");
        let mut request = self
            .client
            .request(method, format!("{}{path}", self.address));
        if let Some(key) = key {
            request = request.insert_header(("X-API-KEY", key));
        }
        for header in headers {
            request = request.insert_header(*header);
        }
        let sent = match body {
            Some(body) => request.send_json(body).await,
            None => request.send().await,
        };
        let mut response = sent.expect("fruxon answers");
        let bytes = response.body().await.expect("the body arrives");
        Reply {
            status: response.status().as_u16(),
            body: serde_json::from_slice(&bytes).unwrap_or(Value::Null),
        }
    }

    /// GET as the demo admin, expecting 200.
    pub async fn get(&self, path: &str) -> Value {
        let reply = self
            .request("GET", path, Some(&self.admin_key), &[], None)
            .await;
        assert_eq!(reply.status, 200, "GET {path}: {}", reply.body);
        reply.body
    }

    /// POST as the demo admin.
    pub async fn post(&self, path: &str, body: &Value) -> Reply {
        self.request("POST", path, Some(&self.admin_key), &[], Some(body))
            .await
    }

    /// PUT as the demo admin.
    pub async fn put(&self, path: &str, body: &Value) -> Reply {
        self.request("PUT", path, Some(&self.admin_key), &[], Some(body))
            .await
    }

    /// GET as the demo admin, whatever the status.
    pub async fn try_get(&self, path: &str) -> Reply {
        self.request("GET", path, Some(&self.admin_key), &[], None)
            .await
    }

    /// Runs the demo echo agent with an optional environment and session.
    pub async fn execute(&self, environment: Option<&str>, session: Option<&str>) -> Value {
        let mut body = json!({"parameters": {"question": "Where is my order?"}});
        if let Some(slug) = environment {
            body["environmentSlug"] = json!(slug);
        }
        if let Some(session) = session {
            body["sessionId"] = json!(session);
        }
        self.execute_body(&body).await
    }

    pub async fn execute_body(&self, body: &Value) -> Value {
        let reply = self
            .post("/v1/tenants/demo/agents/support-bot:execute", body)
            .await;
        assert_eq!(reply.status, 200, "execute: {}", reply.body);
        reply.body
    }

    /// Runs the agent `times` times for `environment`.
    pub async fn execute_many(&self, environment: Option<&str>, times: usize) {
        for _ in 0..times {
            self.execute(environment, None).await;
        }
    }

    /// Every environment slug the registry holds.
    pub async fn environment_slugs(&self) -> Vec<String> {
        let body = self
            .get("/v1/tenants/demo/environments?pageSize=1000")
            .await;
        body["environments"]
            .as_array()
            .expect("a list")
            .iter()
            .map(|e| e["slug"].as_str().unwrap_or_default().to_string())
            .collect()
    }

    /// Runs the fruxon CLI on this app's database; returns its stdout.
    pub fn cli(&self, args: &[&str]) -> String {
        let output = Command::new(env!("CARGO_BIN_EXE_fruxon"))
            .args(args)
            .arg("--db")
            .arg(&self.db_path)
            .output()
            .expect("the fruxon binary runs");
        assert!(
            output.status.success(),
            "fruxon {args:?} failed: {}",
            String::from_utf8_lossy(&output.stderr)
        );
        String::from_utf8_lossy(&output.stdout).into_owned()
    }

    /// A new key of the demo tenant with `role`, minted by the CLI.
    pub fn create_key(&self, role: &str) -> String {
        let stdout = self.cli(&["key", "create", "demo", "--role", role]);
        stdout
            .lines()
            .rev()
            .find(|l| !l.trim().is_empty())
            .expect("the key on the last line")
            .trim()
            .to_string()
    }

    /// Opens the page and signs in with the demo admin key, waiting for the environments view.
    pub async fn sign_in(&self, browser: &Browser) {
        browser.goto(&format!("{}/", self.address)).await;
        browser.fill("#api-key", &self.admin_key).await;
        browser.click_on("#signin-form button[type=submit]").await;
        browser.wait_for("#environments-view").await;
        browser
            .wait_until(
                "the environments to load",
                "document.querySelector('#cap-text').textContent.includes('environments used')",
            )
            .await;
    }

    pub async fn stop(&self) {
        self.handle.stop(true).await;
    }
}
