//! The environment registry: one row per (tenant, slug), under the tenant's cap.

use rusqlite::{Connection, OptionalExtension, Row, params};

use super::{StoreError, tenants};

/// A registered environment.
#[derive(Debug, Clone)]
pub struct EnvironmentRow {
    pub slug: String,
    pub display_name: Option<String>,
    /// `auto` (first seen in an execution) or `explicit` (created through the API).
    pub origin: String,
    pub created_at: i64,
}

/// What registering a slug found or did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ensured {
    /// The environment was registered already; nothing was written.
    Existing,
    /// It was new and is now registered; `count` includes it.
    Created { count: i64, cap: i64 },
    /// It was new and the tenant is at its cap: nothing was written.
    CapReached { count: i64, cap: i64 },
}

const COLUMNS: &str = "slug, display_name, origin, created_at";

fn from_row(r: &Row<'_>) -> rusqlite::Result<EnvironmentRow> {
    Ok(EnvironmentRow {
        slug: r.get(0)?,
        display_name: r.get(1)?,
        origin: r.get(2)?,
        created_at: r.get(3)?,
    })
}

/// Whether the slug is registered for the tenant.
pub fn exists(conn: &Connection, tenant: &str, slug: &str) -> Result<bool, StoreError> {
    let found = conn
        .prepare_cached("SELECT 1 FROM environments WHERE tenant_id = ?1 AND slug = ?2")?
        .query_row(params![tenant, slug], |_| Ok(()))
        .optional()?;
    Ok(found.is_some())
}

pub fn get(
    conn: &Connection,
    tenant: &str,
    slug: &str,
) -> Result<Option<EnvironmentRow>, StoreError> {
    let sql = format!("SELECT {COLUMNS} FROM environments WHERE tenant_id = ?1 AND slug = ?2");
    Ok(conn
        .prepare_cached(&sql)?
        .query_row(params![tenant, slug], from_row)
        .optional()?)
}

/// How many environments the tenant has registered.
pub fn count(conn: &Connection, tenant: &str) -> Result<i64, StoreError> {
    let count = conn
        .prepare_cached("SELECT count(*) FROM environments WHERE tenant_id = ?1")?
        .query_row([tenant], |r| r.get(0))?;
    Ok(count)
}

/// Registers `slug` unless it exists or the tenant is at its cap.
///
/// This must run inside a write transaction: the count, the comparison with the cap and the
/// insert are one atomic step there, which is what keeps concurrent first sightings from
/// pushing the count past the cap. Every insert into the registry goes through here.
pub fn register(
    conn: &Connection,
    tenant: &str,
    slug: &str,
    origin: &str,
    display_name: Option<&str>,
    default_cap: i64,
    now: i64,
) -> Result<Ensured, StoreError> {
    if exists(conn, tenant, slug)? {
        return Ok(Ensured::Existing);
    }

    let cap = tenants::effective_cap(conn, tenant, default_cap)?;
    let count = count(conn, tenant)?;
    if count >= cap {
        return Ok(Ensured::CapReached { count, cap });
    }

    conn.prepare_cached(
        "INSERT INTO environments (tenant_id, slug, display_name, origin, created_at)
         VALUES (?1, ?2, ?3, ?4, ?5)",
    )?
    .execute(params![tenant, slug, display_name, origin, now])?;
    Ok(Ensured::Created {
        count: count + 1,
        cap,
    })
}

/// Registers a slug on its first sighting in an execution.
pub fn ensure(
    conn: &Connection,
    tenant: &str,
    slug: &str,
    default_cap: i64,
    now: i64,
) -> Result<Ensured, StoreError> {
    register(conn, tenant, slug, "auto", None, default_cap, now)
}

/// A page of environments by slug, optionally those whose slug starts with `prefix` and whose
/// slug or display name contains `text` (ASCII case-insensitively).
pub fn list(
    conn: &Connection,
    tenant: &str,
    prefix: Option<&str>,
    text: Option<&str>,
    after: Option<&str>,
    limit: i64,
) -> Result<Vec<EnvironmentRow>, StoreError> {
    // Plain string functions rather than LIKE: '_' is a LIKE wildcard and common in slugs.
    let sql = format!(
        "SELECT {COLUMNS} FROM environments
         WHERE tenant_id = ?1 AND slug > ?2
           AND (?3 IS NULL OR substr(slug, 1, length(?3)) = ?3)
           AND (?4 IS NULL OR instr(lower(slug), lower(?4)) > 0
                OR instr(lower(coalesce(display_name, '')), lower(?4)) > 0)
         ORDER BY slug LIMIT ?5"
    );
    let mut stmt = conn.prepare_cached(&sql)?;
    let rows = stmt
        .query_map(
            params![tenant, after.unwrap_or(""), prefix, text, limit],
            from_row,
        )?
        .collect::<Result<_, _>>()?;
    Ok(rows)
}

/// Sets or clears the display name; false when the environment does not exist.
pub fn rename(
    conn: &Connection,
    tenant: &str,
    slug: &str,
    display_name: Option<&str>,
) -> Result<bool, StoreError> {
    let changed = conn.execute(
        "UPDATE environments SET display_name = ?3 WHERE tenant_id = ?1 AND slug = ?2",
        params![tenant, slug, display_name],
    )?;
    Ok(changed == 1)
}

/// Removes the registry row only; executions keep their slug. False when it did not exist.
pub fn delete(conn: &Connection, tenant: &str, slug: &str) -> Result<bool, StoreError> {
    let changed = conn.execute(
        "DELETE FROM environments WHERE tenant_id = ?1 AND slug = ?2",
        params![tenant, slug],
    )?;
    Ok(changed == 1)
}

/// How many of the tenant's environments were created at or after `since`.
pub fn created_since(conn: &Connection, tenant: &str, since: i64) -> Result<i64, StoreError> {
    let n = conn
        .prepare_cached(
            "SELECT count(*) FROM environments WHERE tenant_id = ?1 AND created_at >= ?2",
        )?
        .query_row(params![tenant, since], |r| r.get(0))?;
    Ok(n)
}

/// The most recently created environments, newest first.
pub fn recent(
    conn: &Connection,
    tenant: &str,
    limit: i64,
) -> Result<Vec<EnvironmentRow>, StoreError> {
    let sql = format!(
        "SELECT {COLUMNS} FROM environments WHERE tenant_id = ?1
         ORDER BY created_at DESC, slug LIMIT ?2"
    );
    let mut stmt = conn.prepare_cached(&sql)?;
    let rows = stmt
        .query_map(params![tenant, limit], from_row)?
        .collect::<Result<_, _>>()?;
    Ok(rows)
}

/// Every registered slug of a tenant (at most its cap), for diagnostics.
pub fn all(conn: &Connection, tenant: &str) -> Result<Vec<EnvironmentRow>, StoreError> {
    let sql = format!("SELECT {COLUMNS} FROM environments WHERE tenant_id = ?1 ORDER BY slug");
    let mut stmt = conn.prepare_cached(&sql)?;
    let rows = stmt
        .query_map([tenant], from_row)?
        .collect::<Result<_, _>>()?;
    Ok(rows)
}
