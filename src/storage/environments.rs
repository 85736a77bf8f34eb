//! The environment registry: one row per (tenant, slug), under the tenant's cap.

use rusqlite::{Connection, OptionalExtension, params};

use super::{StoreError, tenants};

/// What resolving a slug for an execution found or did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ensured {
    /// The environment was registered already.
    Existing,
    /// It was new and is now registered; `count` includes it.
    Created { count: i64, cap: i64 },
    /// It was new and the tenant is at its cap: nothing was written.
    CapReached { count: i64, cap: i64 },
}

/// Whether the slug is registered for the tenant.
pub fn exists(conn: &Connection, tenant: &str, slug: &str) -> Result<bool, StoreError> {
    let found = conn
        .prepare_cached("SELECT 1 FROM environments WHERE tenant_id = ?1 AND slug = ?2")?
        .query_row(params![tenant, slug], |_| Ok(()))
        .optional()?;
    Ok(found.is_some())
}

/// How many environments the tenant has registered.
pub fn count(conn: &Connection, tenant: &str) -> Result<i64, StoreError> {
    let count = conn
        .prepare_cached("SELECT count(*) FROM environments WHERE tenant_id = ?1")?
        .query_row([tenant], |r| r.get(0))?;
    Ok(count)
}

/// Registers `slug` on its first sighting, unless the tenant is at its cap.
///
/// This must run inside a write transaction: the count, the comparison with the cap and the
/// insert are one atomic step there, which is what keeps concurrent first sightings from
/// pushing the count past the cap. It is the only place the cap is checked for auto-creation.
pub fn ensure(
    conn: &Connection,
    tenant: &str,
    slug: &str,
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
         VALUES (?1, ?2, NULL, 'auto', ?3)",
    )?
    .execute(params![tenant, slug, now])?;
    Ok(Ensured::Created {
        count: count + 1,
        cap,
    })
}
