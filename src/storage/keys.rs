//! API keys, stored only as SHA-256 hashes of the key text.

use rusqlite::{Connection, OptionalExtension, params};

use super::StoreError;

/// A key as stored: never the key itself.
#[derive(Debug, Clone)]
pub struct KeyRow {
    pub id: String,
    pub tenant_id: String,
    pub role: String,
    pub revoked: bool,
    /// The tenant's time zone, read along because the execute path needs it for budgets.
    pub tenant_time_zone: String,
}

pub fn insert(
    conn: &Connection,
    id: &str,
    tenant_id: &str,
    role: &str,
    hash: &[u8],
    now: i64,
) -> Result<(), StoreError> {
    conn.execute(
        "INSERT INTO api_keys (id, tenant_id, role, hash, created_at) VALUES (?1, ?2, ?3, ?4, ?5)",
        params![id, tenant_id, role, hash, now],
    )?;
    Ok(())
}

pub fn find_by_hash(conn: &Connection, hash: &[u8]) -> Result<Option<KeyRow>, StoreError> {
    let row = conn
        .prepare_cached(
            "SELECT k.id, k.tenant_id, k.role, k.revoked_at IS NOT NULL, t.time_zone
             FROM api_keys k JOIN tenants t ON t.id = k.tenant_id WHERE k.hash = ?1",
        )?
        .query_row([hash], |r| {
            Ok(KeyRow {
                id: r.get(0)?,
                tenant_id: r.get(1)?,
                role: r.get(2)?,
                revoked: r.get(3)?,
                tenant_time_zone: r.get(4)?,
            })
        })
        .optional()?;
    Ok(row)
}

/// Revokes a key by id; false when no active key has that id.
pub fn revoke(conn: &Connection, id: &str, now: i64) -> Result<bool, StoreError> {
    let changed = conn.execute(
        "UPDATE api_keys SET revoked_at = ?2 WHERE id = ?1 AND revoked_at IS NULL",
        params![id, now],
    )?;
    Ok(changed == 1)
}
