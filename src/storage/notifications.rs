//! The notification outbox: rows written with the events that cause them, delivered later.

use rusqlite::{Connection, Row, params};

use super::StoreError;

/// A notification as stored.
#[derive(Debug, Clone)]
pub struct NotificationRow {
    pub id: i64,
    pub tenant_id: String,
    pub kind: String,
    pub created_at: i64,
    pub recipients: Vec<String>,
    pub subject: String,
    pub body: String,
    /// `pending`, `sent`, `failed` or `unconfigured`.
    pub status: String,
    pub attempts: i64,
    pub last_error: Option<String>,
    pub next_attempt_at: i64,
    /// `email` or `webhook`.
    pub channel: String,
    /// The webhook's URL, for the webhook channel.
    pub target: Option<String>,
}

/// What a new notification says and to whom.
#[derive(Debug, Clone)]
pub struct NewNotification {
    pub tenant_id: String,
    pub kind: String,
    pub recipients: Vec<String>,
    pub subject: String,
    pub body: String,
    pub channel: String,
    pub target: Option<String>,
}

const COLUMNS: &str = "id, tenant_id, kind, created_at, recipients, subject, body, status, \
                       attempts, last_error, next_attempt_at, channel, target";

fn from_row(r: &Row<'_>) -> rusqlite::Result<NotificationRow> {
    let recipients: String = r.get(4)?;
    Ok(NotificationRow {
        id: r.get(0)?,
        tenant_id: r.get(1)?,
        kind: r.get(2)?,
        created_at: r.get(3)?,
        recipients: serde_json::from_str(&recipients).unwrap_or_default(),
        subject: r.get(5)?,
        body: r.get(6)?,
        status: r.get(7)?,
        attempts: r.get(8)?,
        last_error: r.get(9)?,
        next_attempt_at: r.get(10)?,
        channel: r.get(11)?,
        target: r.get(12)?,
    })
}

/// Queues a notification for delivery now. Call it in the event's own transaction.
pub fn enqueue(conn: &Connection, n: &NewNotification, now: i64) -> Result<i64, StoreError> {
    let recipients = serde_json::to_string(&n.recipients).unwrap_or_else(|_| "[]".to_string());
    conn.execute(
        "INSERT INTO notifications (tenant_id, kind, created_at, recipients, subject, body,
             status, next_attempt_at, channel, target)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, 'pending', ?3, ?7, ?8)",
        params![
            n.tenant_id,
            n.kind,
            now,
            recipients,
            n.subject,
            n.body,
            n.channel,
            n.target
        ],
    )?;
    Ok(conn.last_insert_rowid())
}

/// Pending notifications whose next attempt is due, oldest first.
pub fn due(conn: &Connection, now: i64, limit: i64) -> Result<Vec<NotificationRow>, StoreError> {
    let sql = format!(
        "SELECT {COLUMNS} FROM notifications
         WHERE status = 'pending' AND next_attempt_at <= ?1 ORDER BY next_attempt_at, id LIMIT ?2"
    );
    let mut stmt = conn.prepare_cached(&sql)?;
    let rows = stmt
        .query_map(params![now, limit], from_row)?
        .collect::<Result<_, _>>()?;
    Ok(rows)
}

/// Records the outcome of one delivery attempt.
pub fn record_attempt(
    conn: &Connection,
    id: i64,
    status: &str,
    error: Option<&str>,
    next_attempt_at: i64,
    now: i64,
) -> Result<(), StoreError> {
    conn.execute(
        "UPDATE notifications SET status = ?2, attempts = attempts + 1, last_error = ?3,
             next_attempt_at = ?4, sent_at = CASE WHEN ?2 = 'sent' THEN ?5 ELSE sent_at END
         WHERE id = ?1 AND status = 'pending'",
        params![id, status, error, next_attempt_at, now],
    )?;
    Ok(())
}

/// Marks a notification as undeliverable without an attempt (no SMTP server, no recipient).
pub fn mark_unconfigured(conn: &Connection, id: i64, why: &str) -> Result<(), StoreError> {
    conn.execute(
        "UPDATE notifications SET status = 'unconfigured', last_error = ?2
         WHERE id = ?1 AND status = 'pending'",
        params![id, why],
    )?;
    Ok(())
}

/// A tenant's notifications, newest first, before the id `before`.
pub fn list(
    conn: &Connection,
    tenant: &str,
    before: Option<i64>,
    limit: i64,
) -> Result<Vec<NotificationRow>, StoreError> {
    let sql = format!(
        "SELECT {COLUMNS} FROM notifications WHERE tenant_id = ?1 AND id < ?2
         ORDER BY id DESC LIMIT ?3"
    );
    let mut stmt = conn.prepare_cached(&sql)?;
    let rows = stmt
        .query_map(params![tenant, before.unwrap_or(i64::MAX), limit], from_row)?
        .collect::<Result<_, _>>()?;
    Ok(rows)
}
