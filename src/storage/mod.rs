//! The storage layer: every SQL statement of fruxon lives under this module.
//!
//! Reads run on a pool of read-only connections, off the async executor. Writes go through
//! one writer thread that commits whatever is waiting in one transaction (group commit): SQLite
//! allows one writer at a time anyway, and one commit for many requests is what makes the
//! execute path fast. Rules that span rows, such as the environment cap, are checked inside
//! those write transactions and nowhere else.

pub mod agents;
pub mod alerts;
pub mod budgets;
mod checkpointer;
pub mod environments;
pub mod executions;
pub mod keys;
pub mod notifications;
pub mod schema;
pub mod sessions;
pub mod tenants;
pub mod usage;
mod writer;

use std::fmt;
use std::path::Path;
use std::sync::{Arc, Weak};
use std::time::Duration;

use r2d2_sqlite::SqliteConnectionManager;
use rusqlite::{Connection, OpenFlags};

use crate::error::ApiError;

pub use writer::Writer;

/// How long a connection waits for another process's write lock (the CLI, say) before failing.
const BUSY_TIMEOUT: Duration = Duration::from_secs(5);

/// A failure of the storage layer itself, never a refusal a client caused.
#[derive(Debug)]
pub enum StoreError {
    Sqlite(rusqlite::Error),
    Pool(r2d2::Error),
    /// The writer thread is gone; only possible while shutting down.
    WriterGone,
    /// The closure run on a blocking thread panicked or was cancelled.
    Blocking,
    /// A row with this key exists already (a primary-key or unique constraint).
    AlreadyExists,
    /// Anything else, described.
    Other(String),
}

impl fmt::Display for StoreError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            StoreError::Sqlite(e) => write!(f, "sqlite: {e}"),
            StoreError::Pool(e) => write!(f, "connection pool: {e}"),
            StoreError::WriterGone => f.write_str("the database writer has stopped"),
            StoreError::Blocking => f.write_str("a database task panicked"),
            StoreError::AlreadyExists => f.write_str("the row exists already"),
            StoreError::Other(why) => f.write_str(why),
        }
    }
}

impl std::error::Error for StoreError {}

impl From<rusqlite::Error> for StoreError {
    fn from(e: rusqlite::Error) -> Self {
        use rusqlite::ffi::ErrorCode;
        match e.sqlite_error_code() {
            Some(ErrorCode::ConstraintViolation)
                if e.to_string().contains("UNIQUE") || e.to_string().contains("PRIMARY KEY") =>
            {
                StoreError::AlreadyExists
            }
            _ => StoreError::Sqlite(e),
        }
    }
}

impl From<r2d2::Error> for StoreError {
    fn from(e: r2d2::Error) -> Self {
        StoreError::Pool(e)
    }
}

impl From<StoreError> for ApiError {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::Pool(_) => ApiError::unavailable(e),
            StoreError::Sqlite(ref inner)
                if matches!(
                    inner.sqlite_error_code(),
                    Some(rusqlite::ffi::ErrorCode::DatabaseBusy)
                        | Some(rusqlite::ffi::ErrorCode::DatabaseLocked)
                ) =>
            {
                ApiError::unavailable(e)
            }
            _ => ApiError::internal(e),
        }
    }
}

/// Opens one connection with fruxon's settings. Every connection, pooled or not, goes through
/// here so that foreign keys and the busy timeout can never be forgotten.
pub fn open_connection(path: &Path) -> Result<Connection, StoreError> {
    let conn = Connection::open(path)?;
    configure(&conn)?;
    Ok(conn)
}

fn configure(conn: &Connection) -> rusqlite::Result<()> {
    conn.busy_timeout(BUSY_TIMEOUT)?;
    // Small pages for a new file (an existing one keeps its own): each run updates rows at
    // random places in a few small tables (rollups, budget spend, indexes by environment), and
    // every page a commit touches is written whole to the WAL and again by the checkpoint.
    // 1 KiB pages cut that traffic about fourfold; bench/run.sh measured the difference.
    conn.pragma_update(None, "page_size", 1024)?;
    // WAL lets readers run beside the writer; NORMAL syncs at checkpoints rather than at every
    // commit, which survives a crash of fruxon (the case the crash test checks) and may lose
    // the last commits, never consistency, on a power cut.
    conn.pragma_update(None, "journal_mode", "WAL")?;
    conn.pragma_update(None, "synchronous", "NORMAL")?;
    conn.pragma_update(None, "foreign_keys", "ON")?;
    Ok(())
}

/// The database: a pool of read-only connections and the single writer.
#[derive(Clone)]
pub struct Store {
    readers: r2d2::Pool<SqliteConnectionManager>,
    writer: Writer,
    /// Dropped with the last clone of the store; the background threads watch it to stop.
    alive: Arc<()>,
}

impl Store {
    /// Opens (creating if needed) and migrates the database at `path`, then starts the writer.
    pub fn open(path: &Path, readers: u32) -> Result<Store, StoreError> {
        let mut conn = open_connection(path)?;
        schema::migrate(&mut conn)?;
        // The writer never checkpoints: copying the WAL back into the database (and syncing it)
        // takes milliseconds, and every request waiting on the writer would wait for it too.
        // A checkpointer thread of its own does that work beside the writer instead.
        conn.pragma_update(None, "wal_autocheckpoint", 0)?;
        let writer = Writer::start(conn);
        let alive = Arc::new(());
        checkpointer::start(open_connection(path)?, Arc::downgrade(&alive));

        let manager = SqliteConnectionManager::file(path)
            .with_flags(OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX)
            .with_init(|c| {
                c.busy_timeout(BUSY_TIMEOUT)?;
                c.pragma_update(None, "query_only", "ON")
            });
        let readers = r2d2::Pool::builder()
            .max_size(readers)
            .connection_timeout(Duration::from_secs(5))
            .build(manager)?;
        Ok(Store {
            readers,
            writer,
            alive,
        })
    }

    /// Runs `f` on a pooled read-only connection, off the async executor.
    pub async fn read<T, F>(&self, f: F) -> Result<T, StoreError>
    where
        F: FnOnce(&Connection) -> Result<T, StoreError> + Send + 'static,
        T: Send + 'static,
    {
        let pool = self.readers.clone();
        actix_web::web::block(move || {
            let conn = pool.get()?;
            f(&conn)
        })
        .await
        .map_err(|_| StoreError::Blocking)?
    }

    /// Runs `f` on a pooled read-only connection on the calling thread, without the hand-off
    /// to a blocking thread that `read` makes.
    ///
    /// Only for point reads by key on the hot path. They cannot wait on the writer (WAL readers
    /// never do) and take microseconds, less than the two thread switches of `read`, which the
    /// execute benchmark showed to be the largest single cost of a request.
    pub fn read_inline<T>(
        &self,
        f: impl FnOnce(&Connection) -> Result<T, StoreError>,
    ) -> Result<T, StoreError> {
        let conn = self.readers.get()?;
        f(&conn)
    }

    /// A token that lives as long as any clone of this store.
    pub fn alive(&self) -> Weak<()> {
        Arc::downgrade(&self.alive)
    }

    /// Runs `f` inside the writer's next transaction and answers once that transaction has
    /// committed. A failing `f` is rolled back alone; the others in the batch still commit.
    pub async fn write<T, F>(&self, f: F) -> Result<T, StoreError>
    where
        F: FnOnce(&Connection) -> Result<T, StoreError> + Send + 'static,
        T: Send + 'static,
    {
        self.writer.run(f).await
    }
}

/// Proves the database answers a query.
pub fn ping(conn: &Connection) -> Result<(), StoreError> {
    conn.prepare_cached("SELECT 1")?.query_row([], |_| Ok(()))?;
    Ok(())
}
