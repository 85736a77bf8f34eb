//! Reading history at scale: the per-environment summary and the first page of filtered
//! executions lists, through the real HTTP stack, at 100,000 and 1,000,000 executions spread
//! over 1,000 environments and 5 agents (30 days of traffic). Run with
//! `cargo bench --bench history`; `SIZES=100000` limits it to one size.

use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use fruxon::config::Settings;
use fruxon::domain::time::SystemClock;
use fruxon::startup::Application;
use fruxon::storage::agents::{self, NewRevision};
use fruxon::storage::executions::{self, ExecutionRow};
use fruxon::storage::{environments, open_connection, schema};

const ENVIRONMENTS: usize = 1000;
const AGENTS: usize = 5;
const DAYS: i64 = 30;
const DAY_MS: i64 = 86_400_000;
const SAMPLES: usize = 200;

/// Fills a fresh database with `n` executions, through the same function the service records
/// with, so the rollups are exactly what production would have.
fn fill(path: &Path, n: usize, now: i64) {
    let mut conn = open_connection(path).unwrap();
    schema::migrate(&mut conn).unwrap();
    let key = fruxon::tenants::bootstrap_demo(&mut conn, now).unwrap();
    assert!(key.is_some());
    let echo = NewRevision {
        runtime: r#"{"kind":"echo"}"#.to_string(),
        input_micros_per_million: 3_000_000,
        output_micros_per_million: 15_000_000,
    };
    for a in 0..AGENTS {
        agents::create(&conn, "demo", &format!("agent_{a}"), "bench", &echo, now).unwrap();
    }
    for e in 0..ENVIRONMENTS {
        environments::ensure(&conn, "demo", &format!("customer_{e}"), 1000, now).unwrap();
    }

    let start = now - DAYS * DAY_MS;
    let step = (DAYS * DAY_MS) / n as i64;
    for chunk in (0..n).collect::<Vec<_>>().chunks(10_000) {
        let tx = conn.transaction().unwrap();
        for &i in chunk {
            let at = start + i as i64 * step;
            let row = ExecutionRow {
                id: fruxon::domain::ids::new_execution_id(at),
                tenant_id: "demo".to_string(),
                agent_id: format!("agent_{}", i % AGENTS),
                revision: 1,
                environment_slug: (i % 50 != 0).then(|| format!("customer_{}", i % ENVIRONMENTS)),
                session_id: Some(format!("conv-{}", i / 4)),
                status: if i % 97 == 0 { "failed" } else { "succeeded" }.to_string(),
                output: Some(r#"{"answer":"your order ships tomorrow"}"#.to_string()),
                error: None,
                input_tokens: 120,
                output_tokens: 80,
                cost_micros: 1_560,
                started_at: at,
                finished_at: at + 900,
                duration_ms: 900,
                source: "api".to_string(),
            };
            executions::record(&tx, &row).unwrap();
        }
        tx.commit().unwrap();
    }
}

/// p50 and p99 of `SAMPLES` sequential GETs, after a warm-up.
async fn measure(client: &awc::Client, url: &str, key: &str) -> (Duration, Duration) {
    let mut times = Vec::with_capacity(SAMPLES);
    for i in 0..SAMPLES + 20 {
        let started = Instant::now();
        let mut response = client
            .get(url)
            .insert_header(("X-API-KEY", key))
            .send()
            .await
            .unwrap();
        let body = response.body().limit(16 << 20).await.unwrap();
        assert!(
            response.status().is_success(),
            "{url}: {}",
            String::from_utf8_lossy(&body)
        );
        if i >= 20 {
            times.push(started.elapsed());
        }
    }
    times.sort();
    (times[SAMPLES / 2], times[SAMPLES * 99 / 100])
}

/// Per case: its name, p50 and p99.
type Timings = Vec<(String, Duration, Duration)>;

fn run(n: usize) -> Timings {
    let dir = std::env::temp_dir().join(format!("fruxon-history-{}-{n}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let db = dir.join("history.db");
    let now = chrono::Utc::now().timestamp_millis();
    let filled = Instant::now();
    fill(&db, n, now);
    eprintln!(
        "{n} executions written in {:.1} s",
        filled.elapsed().as_secs_f64()
    );

    let mut conn = open_connection(&db).unwrap();
    let key = fruxon::tenants::create_key(
        &mut conn,
        &fruxon::domain::ids::TenantId::parse("demo").unwrap(),
        fruxon::auth::Role::Admin,
        now,
    )
    .unwrap()
    .text;
    drop(conn);

    let results = actix_web::rt::System::new().block_on(async move {
        let mut settings = Settings::for_db(db.clone());
        settings.workers = 2;
        let app = Application::build(settings, Arc::new(SystemClock)).unwrap();
        let base = format!("http://127.0.0.1:{}/v1/tenants/demo", app.port());
        let handle = app.handle();
        actix_web::rt::spawn(app.run_until_stopped());
        let client = awc::Client::builder()
            .timeout(Duration::from_secs(60))
            .finish();

        let week_ago = chrono::DateTime::from_timestamp_millis(now - 7 * DAY_MS - 3_600_000)
            .unwrap()
            .to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
        let day_at = |ago: i64| {
            chrono::DateTime::from_timestamp_millis(now - ago * DAY_MS)
                .unwrap()
                .to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
        };
        let (twenty_days_ago, nineteen_days_ago) = (day_at(20), day_at(19));
        let cases = [
            (
                "summary, one agent, all time",
                "/agents/agent_1/environments:summary".to_string(),
            ),
            (
                "summary, one agent, last 7 days",
                format!("/agents/agent_1/environments:summary?from={week_ago}"),
            ),
            (
                "executions, environment filter",
                "/executions?environment=customer_42".to_string(),
            ),
            (
                "executions, agent filter",
                "/executions?agent=agent_3".to_string(),
            ),
            ("executions, no filter", "/executions".to_string()),
            (
                "executions, untagged",
                "/executions?environment=none".to_string(),
            ),
            (
                "executions, session filter",
                format!("/executions?sessionId=conv-{}", n / 8),
            ),
            (
                "executions, failed runs",
                "/executions?status=failed".to_string(),
            ),
            (
                "executions, a day 20 days ago",
                format!("/executions?from={twenty_days_ago}&to={nineteen_days_ago}"),
            ),
            ("environments, first page", "/environments".to_string()),
        ];
        let mut results = Vec::new();
        for (name, path) in cases {
            let (p50, p99) = measure(&client, &format!("{base}{path}"), &key).await;
            results.push((name.to_string(), p50, p99));
        }
        handle.stop(true).await;
        results
    });
    std::fs::remove_dir_all(&dir).unwrap();
    results
}

fn main() {
    let sizes: Vec<usize> = std::env::var("SIZES")
        .unwrap_or_else(|_| "100000,1000000".to_string())
        .split(',')
        .map(|s| {
            s.trim()
                .parse()
                .expect("SIZES is a comma-separated list of counts")
        })
        .collect();
    let runs: Vec<(usize, Timings)> = sizes.iter().map(|&n| (n, run(n))).collect();

    print!("{:<34}", "GET (sequential, ms)");
    for (n, _) in &runs {
        print!(" {:>20}", format!("{n} p50 / p99"));
    }
    println!();
    for (i, (name, _, _)) in runs[0].1.iter().enumerate() {
        print!("{name:<34}");
        for (_, results) in &runs {
            let (_, p50, p99) = &results[i];
            let cell = format!("{:.2} / {:.2}", ms(*p50), ms(*p99));
            print!(" {cell:>20}");
        }
        println!();
    }
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}
