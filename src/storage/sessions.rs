//! Browser sessions: the hash of the cookie token, its tenant and key, and its CSRF token.

use rusqlite::{Connection, OptionalExtension, params};

use super::StoreError;

/// A live session, found by its token's hash.
#[derive(Debug, Clone)]
pub struct SessionRow {
    pub tenant_id: String,
    pub key_id: String,
    pub csrf_token: String,
    pub expires_at: i64,
}

pub fn insert(
    conn: &Connection,
    token_hash: &[u8],
    session: &SessionRow,
    now: i64,
) -> Result<(), StoreError> {
    conn.execute(
        "INSERT INTO sessions (token_hash, tenant_id, key_id, csrf_token, created_at, expires_at)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
        params![
            token_hash,
            session.tenant_id,
            session.key_id,
            session.csrf_token,
            now,
            session.expires_at
        ],
    )?;
    // Expired sessions are swept here, on sign-in, rather than by a timer.
    conn.execute("DELETE FROM sessions WHERE expires_at <= ?1", [now])?;
    Ok(())
}

/// The session for a token hash, if it has not expired and its key is still an active admin.
pub fn find(
    conn: &Connection,
    token_hash: &[u8],
    now: i64,
) -> Result<Option<SessionRow>, StoreError> {
    let row = conn
        .prepare_cached(
            "SELECT s.tenant_id, s.key_id, s.csrf_token, s.expires_at
             FROM sessions s JOIN api_keys k ON k.id = s.key_id
             WHERE s.token_hash = ?1 AND s.expires_at > ?2
               AND k.revoked_at IS NULL AND k.role = 'admin'",
        )?
        .query_row(params![token_hash, now], |r| {
            Ok(SessionRow {
                tenant_id: r.get(0)?,
                key_id: r.get(1)?,
                csrf_token: r.get(2)?,
                expires_at: r.get(3)?,
            })
        })
        .optional()?;
    Ok(row)
}

/// Ends a session; false when there was none.
pub fn delete(conn: &Connection, token_hash: &[u8]) -> Result<bool, StoreError> {
    Ok(conn.execute("DELETE FROM sessions WHERE token_hash = ?1", [token_hash])? == 1)
}
