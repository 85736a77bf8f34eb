//! The real binary: killed with SIGKILL in the middle of a stream of executions, it restarts on
//! the same file with every execution answered 200 there and the database intact; and what it
//! logs.

use std::io::{BufRead, BufReader, Read};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::Duration;

use regex::Regex;
use serde_json::json;

use crate::helpers::{TempDir, send_to};

/// A `fruxon serve` process; killed (SIGKILL) when dropped, so a failing test leaves none.
struct Server {
    child: Child,
    address: String,
    /// The demo key, when this start printed one.
    demo_key: Option<String>,
    stdout: Option<JoinHandle<String>>,
    stderr: Option<JoinHandle<String>>,
}

impl Server {
    /// Starts the binary on `db` and waits until it listens.
    fn start(db: &Path) -> Server {
        Server::start_with(db, &[])
    }

    /// Starts the binary with extra environment variables.
    fn start_with(db: &Path, env: &[(&str, &str)]) -> Server {
        let mut child = Command::new(env!("CARGO_BIN_EXE_fruxon"))
            .args(["serve", "--bind", "127.0.0.1:0", "--db"])
            .arg(db)
            .env("RUST_LOG", "info")
            .env_remove("FRUXON_ENVIRONMENT_CAP")
            .envs(env.iter().copied())
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("the fruxon binary starts");

        // stderr carries a log line per request: it is drained for as long as the process
        // lives, or the process would block on a full pipe.
        let (port_tx, port_rx) = mpsc::channel();
        let stderr = child.stderr.take().unwrap();
        let stderr = std::thread::spawn(move || {
            let listening = Regex::new(r"listening on 127\.0\.0\.1:([0-9]+)").unwrap();
            let mut log = String::new();
            for line in BufReader::new(stderr).lines() {
                let Ok(line) = line else { break };
                if let Some(port) = listening.captures(&line) {
                    let _ = port_tx.send(port[1].parse::<u16>().unwrap());
                }
                log.push_str(&line);
                log.push('\n');
            }
            log
        });

        // stdout: the demo key on a first start, then nothing; kept whole for inspection.
        let (key_tx, key_rx) = mpsc::channel();
        let mut stdout = child.stdout.take().unwrap();
        let stdout = std::thread::spawn(move || {
            let key = Regex::new(r"fx_[0-9a-f]{64}").unwrap();
            let mut seen = String::new();
            let mut buf = [0u8; 4096];
            let mut sent = false;
            while let Ok(n) = stdout.read(&mut buf) {
                if n == 0 {
                    break;
                }
                seen.push_str(&String::from_utf8_lossy(&buf[..n]));
                if let (false, Some(found)) = (sent, key.find(&seen)) {
                    let _ = key_tx.send(found.as_str().to_string());
                    sent = true;
                }
            }
            seen
        });

        let port = port_rx
            .recv_timeout(Duration::from_secs(20))
            .expect("the server logs the port it listens on");
        // The welcome is printed right after the port is logged, on a fresh database only.
        let demo_key = key_rx.recv_timeout(Duration::from_millis(500)).ok();
        Server {
            child,
            address: format!("http://127.0.0.1:{port}"),
            demo_key,
            stdout: Some(stdout),
            stderr: Some(stderr),
        }
    }

    /// SIGKILLs the process and returns everything it printed on stdout.
    fn kill(&mut self) -> String {
        self.child.kill().expect("the server is killed");
        self.child.wait().unwrap();
        self.stdout
            .take()
            .map(|t| t.join().unwrap())
            .unwrap_or_default()
    }

    /// The log (stderr) up to the end; call after `kill`.
    fn log(&mut self) -> String {
        self.stderr
            .take()
            .map(|t| t.join().unwrap())
            .unwrap_or_default()
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[actix_web::test]
async fn every_execution_answered_200_survives_a_sigkill() {
    let dir = TempDir::new();
    let db = dir.0.join("fruxon.db");
    let mut server = Server::start(&db);
    let key = server
        .demo_key
        .clone()
        .expect("a fresh database prints the demo key");
    let answered = Arc::new(Mutex::new(Vec::<String>::new()));

    let client = awc::Client::builder()
        .timeout(Duration::from_secs(10))
        .finish();
    let url = format!(
        "{}/v1/tenants/demo/agents/support-bot:execute",
        server.address
    );
    let workers: Vec<_> = (0..8)
        .map(|task| {
            let (client, url, key, answered) =
                (client.clone(), url.clone(), key.clone(), answered.clone());
            actix_web::rt::spawn(async move {
                for i in 0.. {
                    let body = json!({
                        "parameters": {"task": task, "i": i},
                        "sessionId": format!("crash-{task}-{i}"),
                        "environmentSlug": format!("crash_{task}_{}", i % 40)
                    });
                    let body = body.to_string();
                    match send_to(&client, &url, "POST", Some(&key), Some(body.as_bytes())).await {
                        Ok(reply) if reply.status == 200 => {
                            answered.lock().unwrap().push(reply.execution_id());
                        }
                        Ok(reply) => panic!("a live server refused a run: {}", reply.text),
                        // The server is gone.
                        Err(_) => break,
                    }
                }
            })
        })
        .collect();

    actix_web::rt::time::sleep(Duration::from_millis(1000)).await;
    let first_stdout = server.kill();
    for worker in workers {
        worker.await.expect("a load task panicked");
    }
    let answered = answered.lock().unwrap().clone();
    eprintln!("{} runs were answered 200 before the kill", answered.len());
    assert!(
        answered.len() >= 20,
        "the load reached the server: {} runs",
        answered.len()
    );
    assert!(first_stdout.contains(&key));

    let mut restarted = Server::start(&db);
    assert_eq!(
        restarted.demo_key, None,
        "the demo tenant is not created a second time"
    );

    let conn = rusqlite::Connection::open(&db).unwrap();
    let integrity: String = conn
        .query_row("PRAGMA integrity_check", [], |r| r.get(0))
        .unwrap();
    assert_eq!(integrity, "ok");
    let mut stmt = conn
        .prepare("SELECT 1 FROM executions WHERE id = ?1")
        .unwrap();
    let lost: Vec<&String> = answered
        .iter()
        .filter(|id| !stmt.exists([id]).unwrap())
        .collect();
    assert!(
        lost.is_empty(),
        "{} of {} answered runs were lost: {lost:?}",
        lost.len(),
        answered.len()
    );
    let count = |sql: &str| -> i64 { conn.query_row(sql, [], |r| r.get(0)).unwrap() };
    assert!(count("SELECT count(*) FROM executions") >= answered.len() as i64);
    assert_eq!(count("SELECT count(*) FROM tenants"), 1);
    assert_eq!(count("SELECT count(*) FROM api_keys"), 1);
    assert_eq!(count("SELECT count(*) FROM agents"), 1);
    assert_eq!(
        count(
            "SELECT count(*) FROM executions e WHERE NOT EXISTS (SELECT 1 FROM environments v
             WHERE v.tenant_id = e.tenant_id AND v.slug = e.environment_slug)"
        ),
        0,
        "every recorded run's environment was committed before it"
    );
    assert_eq!(
        count("SELECT count(*) FROM executions WHERE status <> 'succeeded'"),
        0
    );

    let health = send_to(
        &client,
        &format!("{}/healthz", restarted.address),
        "GET",
        None,
        None,
    )
    .await
    .expect("the restarted server answers");
    assert_eq!(health.status, 200, "{}", health.text);
    let url = format!(
        "{}/v1/tenants/demo/agents/support-bot:execute",
        restarted.address
    );
    let body = json!({"parameters": {}, "environmentSlug": "after_crash"}).to_string();
    let after = send_to(&client, &url, "POST", Some(&key), Some(body.as_bytes()))
        .await
        .unwrap();
    let id = after.execution_id();
    assert!(
        conn.prepare("SELECT 1 FROM executions WHERE id = ?1")
            .unwrap()
            .exists([&id])
            .unwrap()
    );

    let second_stdout = restarted.kill();
    assert!(
        !Regex::new(r"fx_[0-9a-f]{64}")
            .unwrap()
            .is_match(&second_stdout),
        "no new key was printed: {second_stdout}"
    );
    assert_eq!(count("SELECT count(*) FROM tenants"), 1);
}

#[actix_web::test]
async fn the_log_has_a_line_per_request_with_its_tags_and_never_a_key() {
    let dir = TempDir::new();
    let mut server = Server::start(&dir.0.join("fruxon.db"));
    let key = server
        .demo_key
        .clone()
        .expect("a fresh database prints the demo key");
    let client = awc::Client::builder()
        .timeout(Duration::from_secs(10))
        .finish();
    let url = format!(
        "{}/v1/tenants/demo/agents/support-bot:execute",
        server.address
    );
    let unknown_key = format!("fx_{}", "ab".repeat(32));
    let run = |key: String, slug: &str| {
        let body = json!({"parameters": {}, "environmentSlug": slug}).to_string();
        let (client, url) = (client.clone(), url.clone());
        async move { send_to(&client, &url, "POST", Some(&key), Some(body.as_bytes())).await }
    };

    run(key.clone(), "acme_corp").await.unwrap().execution_id();
    run(key.clone(), "Acme-Corp")
        .await
        .unwrap()
        .assert_error(400, "INVALID_ENVIRONMENT_SLUG");
    run(unknown_key.clone(), "acme_corp")
        .await
        .unwrap()
        .assert_error(401, "UNAUTHENTICATED");
    // A path segment that decodes to a newline and a line of its own.
    let forged = format!(
        "{}/v1/tenants/demo%0AINFO%20forged%20line/agents/support-bot:execute",
        server.address
    );
    let body = json!({"parameters": {}}).to_string();
    let reply = send_to(&client, &forged, "POST", Some(&key), Some(body.as_bytes())).await;
    assert_eq!(reply.unwrap().status, 403);
    // A stream's outcome comes after its 200 and has a line of its own.
    let stream = url.replace(":execute", ":stream");
    let body = json!({"parameters": {}, "environmentSlug": "globex"}).to_string();
    let reply = send_to(&client, &stream, "POST", Some(&key), Some(body.as_bytes())).await;
    assert!(reply.unwrap().text.contains("event: done"));
    server.kill();
    let log = server.log();

    assert_eq!(
        log.matches("fruxon starting").count(),
        1,
        "the configuration once: {log}"
    );
    assert!(!log.contains(&key), "the demo key is never logged: {log}");
    assert!(
        !log.contains(&unknown_key),
        "a presented key is never logged: {log}"
    );
    let line = |needles: &[&str]| log.lines().any(|l| needles.iter().all(|n| l.contains(n)));
    assert!(
        line(&[
            " 200 ",
            "tenant=demo",
            "agent=support-bot",
            "environment=acme_corp",
            "ms"
        ]),
        "a line with tenant, agent, environment, status and duration: {log}"
    );
    assert!(
        line(&[
            "stream ",
            "tenant=demo",
            "environment=globex",
            "succeeded",
            "ms"
        ]),
        "the stream's outcome: {log}"
    );
    assert!(
        line(&[" 400 ", "reason=INVALID_ENVIRONMENT_SLUG"]),
        "refusals log their reason: {log}"
    );
    assert!(line(&[" 401 ", "reason=UNAUTHENTICATED"]), "{log}");
    assert!(
        !log.lines().any(|l| l.starts_with("INFO forged")),
        "a decoded newline in the path cannot start a log line: {log}"
    );
    assert!(
        line(&[" 403 ", r#"tenant="demo\nINFO forged line""#]),
        "{log}"
    );
}

#[actix_web::test]
async fn the_binary_takes_the_default_cap_from_fruxon_environment_cap() {
    let dir = TempDir::new();
    let mut server =
        Server::start_with(&dir.0.join("fruxon.db"), &[("FRUXON_ENVIRONMENT_CAP", "1")]);
    let key = server
        .demo_key
        .clone()
        .expect("a fresh database prints the demo key");
    let client = awc::Client::builder()
        .timeout(Duration::from_secs(10))
        .finish();
    let url = format!(
        "{}/v1/tenants/demo/agents/support-bot:execute",
        server.address
    );
    let run = |slug: &str| {
        let body = json!({"parameters": {}, "environmentSlug": slug}).to_string();
        let (client, url, key) = (client.clone(), url.clone(), key.clone());
        async move { send_to(&client, &url, "POST", Some(&key), Some(body.as_bytes())).await }
    };

    run("first").await.unwrap().execution_id();
    let refused = run("second").await.unwrap();

    refused.assert_error(400, "ENVIRONMENT_CAP_REACHED");
    assert_eq!(refused.metadata()["cap"], 1);
    server.kill();
    assert!(
        server.log().contains("default environment cap 1"),
        "the start-up line says so"
    );
}

#[actix_web::test]
async fn the_binary_refuses_to_start_with_an_invalid_cap() {
    let dir = TempDir::new();
    let db = dir.0.join("fruxon.db");

    let output = Command::new(env!("CARGO_BIN_EXE_fruxon"))
        .args(["serve", "--bind", "127.0.0.1:0", "--db"])
        .arg(&db)
        .env("FRUXON_ENVIRONMENT_CAP", "lots")
        .output()
        .expect("the binary runs");

    assert!(!output.status.success());
    assert!(String::from_utf8_lossy(&output.stderr).contains("FRUXON_ENVIRONMENT_CAP"));
}
