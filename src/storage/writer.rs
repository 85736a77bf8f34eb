//! The single writer: one thread, one connection, group commit.
//!
//! Requests hand a closure to the writer and wait. The writer takes every closure that is
//! waiting at that moment, runs each in its own savepoint inside one transaction, commits once,
//! and only then answers each of them. So an answer always means "committed", a failing closure
//! rolls back alone, and a crash can lose only requests that were never answered.

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::mpsc;
use std::thread;

use rusqlite::Connection;
use tokio::sync::oneshot;

use super::StoreError;

/// The most closures committed in one transaction: enough to amortise the commit, few enough
/// that the first request of a batch does not wait long for the last.
const MAX_BATCH: usize = 256;

/// A closure waiting for the writer, with the channel its answer goes back on.
trait Job: Send {
    /// Runs the closure inside the open transaction; returns how to answer after the commit.
    fn run(self: Box<Self>, conn: &Connection) -> Box<dyn Answer>;
    /// Answers without running, when no transaction could be opened.
    fn abandon(self: Box<Self>, why: String);
}

trait Answer: Send {
    fn send(self: Box<Self>, commit: Result<(), String>);
}

struct Pending<T, F> {
    work: F,
    reply: oneshot::Sender<Result<T, StoreError>>,
}

struct Done<T> {
    result: Result<T, StoreError>,
    reply: oneshot::Sender<Result<T, StoreError>>,
}

impl<T, F> Job for Pending<T, F>
where
    F: FnOnce(&Connection) -> Result<T, StoreError> + Send + 'static,
    T: Send + 'static,
{
    fn run(self: Box<Self>, conn: &Connection) -> Box<dyn Answer> {
        let Pending { work, reply } = *self;
        let result = in_savepoint(conn, work);
        Box::new(Done { result, reply })
    }

    fn abandon(self: Box<Self>, why: String) {
        let _ = self.reply.send(Err(commit_error(why)));
    }
}

impl<T: Send> Answer for Done<T> {
    fn send(self: Box<Self>, commit: Result<(), String>) {
        let outcome = match commit {
            Ok(()) => self.result,
            Err(why) => Err(commit_error(why)),
        };
        // The requester may have gone away (client disconnected); the work is committed anyway.
        let _ = self.reply.send(outcome);
    }
}

fn commit_error(why: String) -> StoreError {
    StoreError::Other(format!("commit failed: {why}"))
}

/// Runs `work` in a savepoint so that its failure (or panic) undoes only its own changes.
fn in_savepoint<T>(
    conn: &Connection,
    work: impl FnOnce(&Connection) -> Result<T, StoreError>,
) -> Result<T, StoreError> {
    // Cached statements: parsing these three anew for every job cost as much as the insert.
    conn.prepare_cached("SAVEPOINT job")?.execute([])?;
    let result = match catch_unwind(AssertUnwindSafe(|| work(conn))) {
        Ok(result) => result,
        Err(_) => {
            log::error!("a write job panicked; its changes are rolled back");
            Err(StoreError::Blocking)
        }
    };
    if result.is_err() {
        conn.prepare_cached("ROLLBACK TO job")?.execute([])?;
    }
    conn.prepare_cached("RELEASE job")?.execute([])?;
    result
}

/// The handle requests use to reach the writer thread.
#[derive(Clone)]
pub struct Writer {
    jobs: mpsc::Sender<Box<dyn Job>>,
}

impl Writer {
    /// Starts the writer thread on `conn`, which it owns from now on.
    pub fn start(conn: Connection) -> Writer {
        let (jobs, queue) = mpsc::channel::<Box<dyn Job>>();
        thread::Builder::new()
            .name("fruxon-writer".to_string())
            .spawn(move || write_loop(conn, queue))
            .expect("the writer thread could not be started");
        Writer { jobs }
    }

    /// Queues `work` for the next transaction and waits until it is committed.
    pub async fn run<T, F>(&self, work: F) -> Result<T, StoreError>
    where
        F: FnOnce(&Connection) -> Result<T, StoreError> + Send + 'static,
        T: Send + 'static,
    {
        let (reply, answer) = oneshot::channel();
        self.jobs
            .send(Box::new(Pending { work, reply }))
            .map_err(|_| StoreError::WriterGone)?;
        answer.await.map_err(|_| StoreError::WriterGone)?
    }
}

fn write_loop(conn: Connection, queue: mpsc::Receiver<Box<dyn Job>>) {
    // The loop ends when every `Writer` handle is dropped, that is when the server stops.
    while let Ok(first) = queue.recv() {
        let mut batch = vec![first];
        while batch.len() < MAX_BATCH {
            match queue.try_recv() {
                Ok(job) => batch.push(job),
                Err(_) => break,
            }
        }

        if let Err(e) = conn.execute_batch("BEGIN IMMEDIATE") {
            log::error!("cannot open a write transaction: {e}");
            for job in batch {
                job.abandon(e.to_string());
            }
            continue;
        }

        let answers: Vec<Box<dyn Answer>> = batch.into_iter().map(|job| job.run(&conn)).collect();

        let commit = conn.execute_batch("COMMIT").map_err(|e| {
            log::error!("commit of {} writes failed: {e}", answers.len());
            let _ = conn.execute_batch("ROLLBACK");
            e.to_string()
        });
        for answer in answers {
            answer.send(commit.clone());
        }
    }
}
