//! Moves committed pages from the WAL into the database file, off the writer's path.

use std::sync::Weak;
use std::thread;
use std::time::Duration;

use rusqlite::Connection;

/// How often the WAL is checkpointed: often enough that it stays a few megabytes under load.
const INTERVAL: Duration = Duration::from_millis(250);

/// Starts the checkpointer thread on its own connection; it stops once `alive` is gone.
pub fn start(conn: Connection, alive: Weak<()>) {
    let spawned = thread::Builder::new()
        .name("fruxon-checkpoint".to_string())
        .spawn(move || {
            loop {
                thread::sleep(INTERVAL);
                if alive.upgrade().is_none() {
                    return;
                }
                // PASSIVE never waits for readers or the writer; what it cannot copy now it
                // copies next time.
                if let Err(e) = conn.query_row("PRAGMA wal_checkpoint(PASSIVE)", [], |_| Ok(())) {
                    log::warn!("WAL checkpoint failed, will retry: {e}");
                }
            }
        });
    if let Err(e) = spawned {
        log::error!("the checkpointer thread could not start ({e}); the WAL will keep growing");
    }
}
