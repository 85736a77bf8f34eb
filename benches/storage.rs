//! The raw SQLite cost of the execute path's writes, without HTTP: the same execution rows,
//! committed by the same group-commit writer from 32 concurrent tasks, and for comparison one
//! transaction per row. Run it alone with `cargo bench --bench storage`; `bench/run.sh` runs it
//! beside the HTTP figures.

use std::path::{Path, PathBuf};
use std::time::Instant;

use fruxon::storage::executions::{self, ExecutionRow};
use fruxon::storage::{Store, environments, open_connection, schema, tenants};

const ROWS: usize = 50_000;
const TASKS: usize = 32;
const SLUGS: usize = 1000;

fn row(i: usize) -> ExecutionRow {
    ExecutionRow {
        id: fruxon::domain::ids::new_execution_id(1_700_000_000_000 + i as i64),
        tenant_id: "bench".to_string(),
        agent_id: "support-bot".to_string(),
        revision: 1,
        environment_slug: Some(format!("customer_{}", i % SLUGS)),
        session_id: Some(format!("conv-{i}")),
        status: "succeeded".to_string(),
        output: Some(r#"{"question":"where is my order?"}"#.to_string()),
        error: None,
        input_tokens: 9,
        output_tokens: 9,
        cost_micros: 162,
        started_at: 1_700_000_000_000,
        finished_at: 1_700_000_000_001,
        duration_ms: 1,
        source: "api".to_string(),
    }
}

fn fresh_db(dir: &Path, name: &str) -> PathBuf {
    let path = dir.join(name);
    let mut conn = open_connection(&path).unwrap();
    schema::migrate(&mut conn).unwrap();
    tenants::create(&conn, "bench", &[], 0).unwrap();
    for i in 0..SLUGS {
        environments::ensure(&conn, "bench", &format!("customer_{i}"), 1000, 0).unwrap();
    }
    path
}

/// The service's way: concurrent tasks hand rows to the single writer, which commits them in
/// groups.
fn group_commit(path: &Path) -> f64 {
    actix_web::rt::System::new().block_on(async {
        let store = Store::open(path, 4).unwrap();
        let started = Instant::now();
        let mut tasks = Vec::new();
        for t in 0..TASKS {
            let store = store.clone();
            tasks.push(actix_web::rt::spawn(async move {
                for i in (t..ROWS).step_by(TASKS) {
                    let r = row(i);
                    store
                        .write(move |c| executions::record(c, &r))
                        .await
                        .unwrap();
                }
            }));
        }
        for task in tasks {
            task.await.unwrap();
        }
        ROWS as f64 / started.elapsed().as_secs_f64()
    })
}

/// The obvious way: one transaction per row, from one thread (so without lock contention).
fn one_per_transaction(path: &Path) -> f64 {
    let mut conn = open_connection(path).unwrap();
    let started = Instant::now();
    for i in 0..ROWS / 5 {
        let tx = conn.transaction().unwrap();
        executions::record(&tx, &row(i)).unwrap();
        tx.commit().unwrap();
    }
    (ROWS / 5) as f64 / started.elapsed().as_secs_f64()
}

fn main() {
    let dir = std::env::temp_dir().join(format!("fruxon-bench-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();

    let grouped = group_commit(&fresh_db(&dir, "grouped.db"));
    let single = one_per_transaction(&fresh_db(&dir, "single.db"));
    std::fs::remove_dir_all(&dir).unwrap();

    println!(
        "{:<34} {:>12.0}   (same rows, same writer, {TASKS} tasks, no HTTP)",
        "raw SQLite, group commit", grouped
    );
    println!(
        "{:<34} {:>12.0}   (one transaction per row, one thread)",
        "raw SQLite, 1 row per transaction", single
    );
}
