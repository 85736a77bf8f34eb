//! Spawns fruxon on port 0 with a fresh SQLite file, and talks to it over real HTTP.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::atomic::{AtomicI64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use actix_web::{HttpResponse, HttpServer, web};
use awc::http::StatusCode;
use fruxon::config::Settings;
use fruxon::domain::time::{Clock, SystemClock};
use fruxon::startup::Application;
use serde_json::{Value, json};

/// A directory that is removed when the test ends.
pub struct TempDir(pub PathBuf);

impl TempDir {
    pub fn new() -> TempDir {
        let mut random = [0u8; 8];
        getrandom::fill(&mut random).unwrap();
        let name: String = random.iter().map(|b| format!("{b:02x}")).collect();
        let path = std::env::temp_dir().join(format!("fruxon-test-{name}"));
        std::fs::create_dir_all(&path).unwrap();
        TempDir(path)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// A running app, its database file and the demo tenant's admin key.
pub struct TestApp {
    pub address: String,
    pub db_path: PathBuf,
    pub admin_key: String,
    pub client: awc::Client,
    handle: actix_web::dev::ServerHandle,
    _dir: TempDir,
}

/// A reply: status and JSON body (Null when the body is not JSON).
#[derive(Debug)]
pub struct Reply {
    pub status: StatusCode,
    pub body: Value,
    pub text: String,
    /// The `Content-Type` header, empty when absent.
    pub content_type: String,
    /// Every response header.
    pub headers: awc::http::header::HeaderMap,
}

impl Reply {
    /// The `reason` of an AIP-193 error body.
    pub fn reason(&self) -> &str {
        self.body["error"]["details"][0]["reason"]
            .as_str()
            .unwrap_or("")
    }

    /// A response header as text, `None` when absent.
    #[allow(dead_code)]
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }

    pub fn metadata(&self) -> &Value {
        &self.body["error"]["details"][0]["metadata"]
    }

    pub fn message(&self) -> &str {
        self.body["error"]["message"].as_str().unwrap_or("")
    }

    /// The AIP-193 `status` word (`INVALID_ARGUMENT`, `FAILED_PRECONDITION`, ...).
    pub fn status_word(&self) -> &str {
        self.body["error"]["status"].as_str().unwrap_or("")
    }

    /// Asserts that this is the API's JSON error with `code` and `reason`, in the AIP-193 shape.
    #[track_caller]
    pub fn assert_error(&self, code: u16, reason: &str) {
        assert_eq!(
            self.status.as_u16(),
            code,
            "expected {code} {reason}, got {}",
            self.text
        );
        assert!(
            self.content_type.starts_with("application/json"),
            "an error must be JSON, got {:?}: {}",
            self.content_type,
            self.text
        );
        assert_eq!(self.body["error"]["code"], code, "{}", self.text);
        let detail = &self.body["error"]["details"][0];
        assert_eq!(
            detail["@type"], "type.googleapis.com/google.rpc.ErrorInfo",
            "{}",
            self.text
        );
        assert_eq!(detail["domain"], "fruxon", "{}", self.text);
        assert_eq!(self.reason(), reason, "{}", self.text);
        assert!(
            !self.message().is_empty(),
            "the error has no message: {}",
            self.text
        );
        assert!(
            !self.status_word().is_empty(),
            "the error has no status: {}",
            self.text
        );
        assert!(
            detail["metadata"].is_object(),
            "metadata must be an object: {}",
            self.text
        );
    }

    /// `assert_error`, saying `why` the request had to fail when the status or reason differ.
    #[track_caller]
    #[allow(dead_code)]
    pub fn assert_refused(&self, code: u16, reason: &str, why: &str) {
        assert_eq!(
            (self.status.as_u16(), self.reason()),
            (code, reason),
            "{why}: {}",
            self.text
        );
        self.assert_error(code, reason);
    }

    /// The execution id of a successful reply.
    #[track_caller]
    pub fn execution_id(&self) -> String {
        assert_eq!(self.status, 200, "{}", self.text);
        self.body["executionId"]
            .as_str()
            .expect("an executionId")
            .to_string()
    }
}

/// How many rows each table holds: compared before and after a refused request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Stored {
    pub tenants: i64,
    pub api_keys: i64,
    pub admin_emails: i64,
    pub agents: i64,
    pub agent_revisions: i64,
    pub environments: i64,
    pub executions: i64,
}

/// Starts the app on a fresh database with the default settings.
pub async fn spawn_app() -> TestApp {
    spawn_app_with(|_| {}).await
}

/// Starts the app after letting the test adjust the settings.
pub async fn spawn_app_with(adjust: impl FnOnce(&mut Settings)) -> TestApp {
    spawn_app_on(adjust, Arc::new(SystemClock)).await
}

/// Starts the app with the default settings on a clock the test moves by hand.
#[allow(dead_code)]
pub async fn spawn_app_with_clock(clock: &ManualClock) -> TestApp {
    spawn_app_on(|_| {}, Arc::new(clock.clone())).await
}

pub async fn spawn_app_on(adjust: impl FnOnce(&mut Settings), clock: Arc<dyn Clock>) -> TestApp {
    let dir = TempDir::new();
    let db_path = dir.0.join("fruxon.db");
    let mut settings = Settings::for_db(db_path.clone());
    settings.workers = 2;
    adjust(&mut settings);

    let app = Application::build(settings, clock).expect("the app builds");
    let address = format!("http://127.0.0.1:{}", app.port());
    let admin_key = app
        .demo_key
        .as_ref()
        .expect("a fresh database gets the demo")
        .text
        .clone();
    let handle = app.handle();
    actix_web::rt::spawn(app.run_until_stopped());

    TestApp {
        address,
        db_path,
        admin_key,
        client: client(),
        handle,
        _dir: dir,
    }
}

/// An HTTP client with a generous timeout, for slow CI machines.
pub fn client() -> awc::Client {
    awc::Client::builder()
        .timeout(Duration::from_secs(60))
        .finish()
}

/// Sends one request; the free form of `TestApp::send`, for spawned tasks.
pub async fn send_to(
    client: &awc::Client,
    url: &str,
    method: &str,
    key: Option<&str>,
    body: Option<&[u8]>,
) -> Result<Reply, String> {
    let method = awc::http::Method::from_bytes(method.as_bytes()).unwrap();
    let mut request = client.request(method, url);
    if let Some(key) = key {
        request = request.insert_header(("X-API-KEY", key));
    }
    request = request.insert_header(("Content-Type", "application/json"));
    let mut response = match body {
        Some(body) => request.send_body(body.to_vec()).await,
        None => request.send().await,
    }
    .map_err(|e| format!("the request failed: {e}"))?;
    let status = response.status();
    let content_type = response
        .headers()
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_string();
    let headers = response.headers().clone();
    let bytes = response
        .body()
        .limit(64 << 20)
        .await
        .map_err(|e| format!("the body did not arrive: {e}"))?;
    let text = String::from_utf8_lossy(&bytes).into_owned();
    let body = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
    Ok(Reply {
        status,
        body,
        text,
        content_type,
        headers,
    })
}

impl TestApp {
    /// Stops the server gracefully (for tests that restart on the same file).
    #[allow(dead_code)]
    pub async fn stop(&self) {
        self.handle.stop(true).await;
    }

    /// Sends a request with an optional key and a raw body.
    pub async fn send(
        &self,
        method: &str,
        path: &str,
        key: Option<&str>,
        body: Option<&[u8]>,
    ) -> Reply {
        let url = format!("{}{path}", self.address);
        send_to(&self.client, &url, method, key, body)
            .await
            .expect("the request is answered")
    }

    /// POSTs JSON with the given key (or none).
    pub async fn post_as(&self, key: Option<&str>, path: &str, body: &Value) -> Reply {
        self.send("POST", path, key, Some(body.to_string().as_bytes()))
            .await
    }

    /// Starts a POST of JSON on the current runtime, for requests that must overlap.
    pub fn spawn_post(
        &self,
        key: Option<&str>,
        path: &str,
        body: &Value,
    ) -> actix_web::rt::task::JoinHandle<Reply> {
        let (client, url) = (self.client.clone(), format!("{}{path}", self.address));
        let (key, body) = (key.map(str::to_string), body.to_string());
        actix_web::rt::spawn(async move {
            send_to(&client, &url, "POST", key.as_deref(), Some(body.as_bytes()))
                .await
                .expect("the request is answered")
        })
    }

    /// Row counts of every table, to prove a refused request stored nothing.
    pub fn stored(&self) -> Stored {
        let n = |table: &str| self.count(&format!("SELECT count(*) FROM {table}"));
        Stored {
            tenants: n("tenants"),
            api_keys: n("api_keys"),
            admin_emails: n("admin_emails"),
            agents: n("agents"),
            agent_revisions: n("agent_revisions"),
            environments: n("environments"),
            executions: n("executions"),
        }
    }

    /// Runs the CLI expecting success and returns the key it printed on its last line.
    pub fn cli_key(&self, args: &[&str]) -> String {
        last_line(&self.cli(args))
    }

    /// Mints a key for `tenant` with `role` through the CLI; returns (key id, key).
    pub fn create_key(&self, tenant: &str, role: &str) -> (String, String) {
        let output = self.cli(&["key", "create", tenant, "--role", role]);
        (key_id(&output), last_line(&output))
    }

    /// Runs the CLI and returns its output whatever the exit status.
    pub fn cli_output(&self, args: &[&str]) -> Output {
        cli_output(&self.db_path, args)
    }

    /// Creates an `http` agent of the demo tenant priced at $3/$15 per million tokens.
    pub async fn create_http_agent(&self, id: &str, url: &str, timeout_ms: u64) -> Reply {
        let reply = self
            .post(
                "/v1/tenants/demo/agents",
                &json!({
                    "id": id,
                    "runtime": {"kind": "http", "url": url, "timeoutMs": timeout_ms},
                    "pricing": {"inputPerMillionUsd": 3, "outputPerMillionUsd": 15}
                }),
            )
            .await;
        assert_eq!(reply.status, 201, "{}", reply.text);
        reply
    }

    /// POSTs JSON as the demo admin.
    pub async fn post(&self, path: &str, body: &Value) -> Reply {
        self.send(
            "POST",
            path,
            Some(&self.admin_key),
            Some(body.to_string().as_bytes()),
        )
        .await
    }

    /// GETs as the demo admin.
    pub async fn get(&self, path: &str) -> Reply {
        self.send("GET", path, Some(&self.admin_key), None).await
    }

    /// Executes the demo agent with the given body.
    pub async fn execute(&self, body: &Value) -> Reply {
        self.post("/v1/tenants/demo/agents/support-bot:execute", body)
            .await
    }

    /// Executes the demo agent tagged with `slug`.
    pub async fn execute_in(&self, slug: &str) -> Reply {
        self.execute(&json!({"parameters": {"q": "hi"}, "environmentSlug": slug}))
            .await
    }

    /// Runs the real `fruxon` binary against this app's database and returns its stdout.
    pub fn cli(&self, args: &[&str]) -> String {
        cli(&self.db_path, args)
    }

    /// A raw connection to the app's SQLite file, to check what is (or is not) stored.
    pub fn db(&self) -> rusqlite::Connection {
        rusqlite::Connection::open(&self.db_path).unwrap()
    }

    pub fn count(&self, sql: &str) -> i64 {
        self.db().query_row(sql, [], |r| r.get(0)).unwrap()
    }
}

/// Runs the `fruxon` binary with `--db path` and returns its output, whatever the exit status.
pub fn cli_output(db: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_fruxon"))
        .args(args)
        .arg("--db")
        .arg(db)
        .env_remove("FRUXON_ENVIRONMENT_CAP")
        .output()
        .expect("the fruxon binary runs")
}

/// Runs the `fruxon` binary with `--db path` and returns stdout; panics on a non-zero exit.
pub fn cli(db: &Path, args: &[&str]) -> String {
    let output = cli_output(db, args);
    assert!(
        output.status.success(),
        "fruxon {args:?} failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8(output.stdout).unwrap()
}

/// The key a key-printing command printed on its last line.
pub fn last_line(output: &str) -> String {
    output.trim_end().lines().last().unwrap().trim().to_string()
}

/// The key id a key-printing command names as `(id key_...)`.
pub fn key_id(output: &str) -> String {
    let rest = output
        .split_once("(id ")
        .expect("the output names the key id")
        .1;
    rest.split(')').next().unwrap().trim().to_string()
}

/// A stand-in for a team's own agent: an HTTP server that counts and records its calls.
///
/// `/ok` answers with output and usage, `/priced` also with `costUsd`, `/float-cost` with a
/// `null` output and a cost summed in floating point, `/fail` with HTTP 500, `/slow` only
/// after two seconds, `/garbage` with text that is not JSON and `/no-output` with `{}`. Any
/// other path is counted too and answers 404.
pub struct TestAgent {
    /// `http://127.0.0.1:PORT`, without a trailing slash.
    pub base: String,
    calls: Arc<AtomicUsize>,
    requests: Arc<Mutex<Vec<Value>>>,
}

#[derive(Clone, Default)]
struct Probe {
    calls: Arc<AtomicUsize>,
    requests: Arc<Mutex<Vec<Value>>>,
}

impl Probe {
    fn record(&self, body: &[u8]) {
        self.calls.fetch_add(1, Ordering::SeqCst);
        let value = serde_json::from_slice(body).unwrap_or(Value::Null);
        self.requests.lock().unwrap().push(value);
    }
}

/// How long `/slow` takes to answer.
pub const SLOW_AGENT: Duration = Duration::from_secs(2);

impl TestAgent {
    pub async fn start() -> TestAgent {
        let probe = Probe::default();
        let data = web::Data::new(probe.clone());
        let server = HttpServer::new(move || {
            actix_web::App::new()
                .app_data(data.clone())
                .app_data(web::PayloadConfig::new(16 << 20))
                .route("/ok", web::post().to(agent_ok))
                .route("/priced", web::post().to(agent_priced))
                .route("/float-cost", web::post().to(agent_float_cost))
                .route("/fail", web::post().to(agent_fail))
                .route("/slow", web::post().to(agent_slow))
                .route("/garbage", web::post().to(agent_garbage))
                .route("/no-output", web::post().to(agent_no_output))
                .default_service(web::to(agent_unknown_path))
        })
        .workers(1)
        .shutdown_timeout(0)
        .bind(("127.0.0.1", 0))
        .expect("the test agent binds");
        let port = server.addrs()[0].port();
        // The server lives as long as the test's runtime.
        actix_web::rt::spawn(server.run());
        TestAgent {
            base: format!("http://127.0.0.1:{port}"),
            calls: probe.calls,
            requests: probe.requests,
        }
    }

    /// The URL of one of the routes, such as `"/ok"`.
    pub fn url(&self, route: &str) -> String {
        format!("{}{route}", self.base)
    }

    /// How many requests reached the server, on any path.
    pub fn calls(&self) -> usize {
        self.calls.load(Ordering::SeqCst)
    }

    /// The JSON bodies received so far, in order (Null for a body that was not JSON).
    pub fn requests(&self) -> Vec<Value> {
        self.requests.lock().unwrap().clone()
    }
}

/// What `/ok` answers: 1000 tokens in, 2000 out, so $0.033 at $3/$15 per million.
pub fn ok_reply(parameters: &Value) -> Value {
    json!({
        "output": {"answer": "forty-two", "parameters": parameters},
        "usage": {"inputTokens": 1000, "outputTokens": 2000}
    })
}

async fn agent_ok(probe: web::Data<Probe>, body: web::Bytes) -> HttpResponse {
    probe.record(&body);
    let parameters =
        serde_json::from_slice::<Value>(&body).unwrap_or(Value::Null)["parameters"].clone();
    HttpResponse::Ok().json(ok_reply(&parameters))
}

async fn agent_priced(probe: web::Data<Probe>, body: web::Bytes) -> HttpResponse {
    probe.record(&body);
    HttpResponse::Ok().json(json!({
        "output": "priced by the agent",
        "usage": {"inputTokens": 1000, "outputTokens": 2000},
        "costUsd": 0.5
    }))
}

/// A reply as an agent written in any language would send it: a cost of 0.1 + 0.2 dollars
/// (0.30000000000000004 in a double) and nothing to say.
async fn agent_float_cost(probe: web::Data<Probe>, body: web::Bytes) -> HttpResponse {
    probe.record(&body);
    HttpResponse::Ok().json(json!({"output": null, "costUsd": 0.1_f64 + 0.2_f64}))
}

async fn agent_fail(probe: web::Data<Probe>, body: web::Bytes) -> HttpResponse {
    probe.record(&body);
    HttpResponse::InternalServerError().body("the model provider is down")
}

async fn agent_slow(probe: web::Data<Probe>, body: web::Bytes) -> HttpResponse {
    probe.record(&body);
    actix_web::rt::time::sleep(SLOW_AGENT).await;
    HttpResponse::Ok().json(ok_reply(&Value::Null))
}

async fn agent_garbage(probe: web::Data<Probe>, body: web::Bytes) -> HttpResponse {
    probe.record(&body);
    HttpResponse::Ok()
        .content_type("text/plain")
        .body("<html>this is not json</html>")
}

async fn agent_no_output(probe: web::Data<Probe>, body: web::Bytes) -> HttpResponse {
    probe.record(&body);
    HttpResponse::Ok().json(json!({}))
}

async fn agent_unknown_path(probe: web::Data<Probe>, body: web::Bytes) -> HttpResponse {
    probe.record(&body);
    HttpResponse::NotFound().finish()
}

/// A URL on which nothing listens: a port that was just bound and released.
pub fn closed_port_url() -> String {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    drop(listener);
    format!("http://127.0.0.1:{port}/run")
}

/// The events of a `text/event-stream` body, as (event name, JSON data).
pub fn sse_events(text: &str) -> Vec<(String, Value)> {
    text.split("\n\n")
        .filter(|block| !block.trim().is_empty())
        .map(|block| {
            let mut name = String::new();
            let mut data = String::new();
            for line in block.lines() {
                if let Some(v) = line.strip_prefix("event:") {
                    name = v.trim().to_string();
                } else if let Some(v) = line.strip_prefix("data:") {
                    data.push_str(v.trim_start());
                }
            }
            let data = serde_json::from_str(&data)
                .unwrap_or_else(|e| panic!("event {name} carries no JSON ({e}): {block:?}"));
            (name, data)
        })
        .collect()
}

/// A clock that stands still until the test moves it; clones share the same time.
#[derive(Clone)]
pub struct ManualClock(Arc<AtomicI64>);

#[allow(dead_code)]
impl ManualClock {
    /// A clock showing the RFC 3339 time `at`.
    pub fn at(at: &str) -> ManualClock {
        ManualClock(Arc::new(AtomicI64::new(ms(at))))
    }

    /// Moves the clock to the RFC 3339 time `at`.
    pub fn set(&self, at: &str) {
        self.0.store(ms(at), Ordering::SeqCst);
    }

    /// Moves the clock forward by `ms` milliseconds.
    pub fn advance(&self, ms: i64) {
        self.0.fetch_add(ms, Ordering::SeqCst);
    }
}

impl Clock for ManualClock {
    fn now_ms(&self) -> i64 {
        self.0.load(Ordering::SeqCst)
    }
}

/// Milliseconds since the epoch of an RFC 3339 time.
#[track_caller]
pub fn ms(rfc3339: &str) -> i64 {
    chrono::DateTime::parse_from_rfc3339(rfc3339)
        .unwrap_or_else(|e| panic!("{rfc3339:?} is not RFC 3339: {e}"))
        .timestamp_millis()
}

/// A dollar amount of a reply as integer micro-dollars, so sums compare exactly.
#[track_caller]
#[allow(dead_code)]
pub fn micros(usd: &Value) -> i64 {
    let usd = usd
        .as_f64()
        .unwrap_or_else(|| panic!("{usd} is not a number"));
    (usd * 1e6).round() as i64
}

/// A query string built from pairs, each value URL-encoded.
#[allow(dead_code)]
pub fn query(pairs: &[(&str, &str)]) -> String {
    serde_urlencoded::to_string(pairs).unwrap()
}

#[allow(dead_code)]
impl TestApp {
    /// PATCHes JSON as the demo admin.
    pub async fn patch(&self, path: &str, body: &Value) -> Reply {
        self.send(
            "PATCH",
            path,
            Some(&self.admin_key),
            Some(body.to_string().as_bytes()),
        )
        .await
    }

    /// DELETEs as the demo admin.
    pub async fn delete(&self, path: &str) -> Reply {
        self.send("DELETE", path, Some(&self.admin_key), None).await
    }
}
