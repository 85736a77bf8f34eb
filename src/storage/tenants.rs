//! Tenants (organizations) and their admin e-mail addresses.

use rusqlite::{Connection, OptionalExtension, params};

use super::StoreError;

/// A tenant as stored.
#[derive(Debug, Clone)]
pub struct TenantRow {
    pub id: String,
    /// The tenant's own cap, or `None` for the server's default.
    pub environment_cap: Option<i64>,
    pub created_at: i64,
}

/// Creates a tenant with its admin e-mails; `AlreadyExists` when the id is taken.
pub fn create(
    conn: &Connection,
    id: &str,
    admin_emails: &[String],
    now: i64,
) -> Result<(), StoreError> {
    conn.execute(
        "INSERT INTO tenants (id, environment_cap, created_at) VALUES (?1, NULL, ?2)",
        params![id, now],
    )?;
    for email in admin_emails {
        conn.execute(
            "INSERT OR IGNORE INTO admin_emails (tenant_id, email) VALUES (?1, ?2)",
            params![id, email],
        )?;
    }
    Ok(())
}

pub fn get(conn: &Connection, id: &str) -> Result<Option<TenantRow>, StoreError> {
    let row = conn
        .prepare_cached("SELECT id, environment_cap, created_at FROM tenants WHERE id = ?1")?
        .query_row([id], |r| {
            Ok(TenantRow {
                id: r.get(0)?,
                environment_cap: r.get(1)?,
                created_at: r.get(2)?,
            })
        })
        .optional()?;
    Ok(row)
}

/// How many tenants exist; zero means a fresh database.
pub fn count(conn: &Connection) -> Result<i64, StoreError> {
    Ok(conn.query_row("SELECT count(*) FROM tenants", [], |r| r.get(0))?)
}

/// Sets a tenant's own cap; false when the tenant does not exist.
pub fn set_cap(conn: &Connection, id: &str, cap: i64) -> Result<bool, StoreError> {
    let changed = conn.execute(
        "UPDATE tenants SET environment_cap = ?2 WHERE id = ?1",
        params![id, cap],
    )?;
    Ok(changed == 1)
}

/// The cap in force for a tenant: its own, or `default_cap` when it has none.
pub fn effective_cap(conn: &Connection, id: &str, default_cap: i64) -> Result<i64, StoreError> {
    let own: Option<Option<i64>> = conn
        .prepare_cached("SELECT environment_cap FROM tenants WHERE id = ?1")?
        .query_row([id], |r| r.get(0))
        .optional()?;
    Ok(own.flatten().unwrap_or(default_cap))
}

pub fn admin_emails(conn: &Connection, id: &str) -> Result<Vec<String>, StoreError> {
    let mut stmt =
        conn.prepare_cached("SELECT email FROM admin_emails WHERE tenant_id = ?1 ORDER BY email")?;
    let emails = stmt
        .query_map([id], |r| r.get(0))?
        .collect::<Result<_, _>>()?;
    Ok(emails)
}

/// Replaces a tenant's admin e-mails.
pub fn set_admin_emails(conn: &Connection, id: &str, emails: &[String]) -> Result<(), StoreError> {
    conn.execute("DELETE FROM admin_emails WHERE tenant_id = ?1", [id])?;
    for email in emails {
        conn.execute(
            "INSERT OR IGNORE INTO admin_emails (tenant_id, email) VALUES (?1, ?2)",
            params![id, email],
        )?;
    }
    Ok(())
}

/// The settings budgets and alerts need, as stored.
#[derive(Debug, Clone, Default)]
pub struct AlertConfig {
    pub time_zone: String,
    /// The default budget as JSON, if any.
    pub default_budget: Option<String>,
    pub alert_webhook_url: Option<String>,
    pub webhook_secret: Option<String>,
}

pub fn alert_config(conn: &Connection, id: &str) -> Result<AlertConfig, StoreError> {
    let row = conn
        .prepare_cached(
            "SELECT time_zone, default_budget, alert_webhook_url, webhook_secret
             FROM tenants WHERE id = ?1",
        )?
        .query_row([id], |r| {
            Ok(AlertConfig {
                time_zone: r.get(0)?,
                default_budget: r.get(1)?,
                alert_webhook_url: r.get(2)?,
                webhook_secret: r.get(3)?,
            })
        })
        .optional()?;
    Ok(row.unwrap_or_default())
}

/// The tenant's time zone name (IANA), `UTC` unless set.
pub fn time_zone(conn: &Connection, id: &str) -> Result<String, StoreError> {
    let zone: Option<String> = conn
        .prepare_cached("SELECT time_zone FROM tenants WHERE id = ?1")?
        .query_row([id], |r| r.get(0))
        .optional()?;
    Ok(zone.unwrap_or_else(|| "UTC".to_string()))
}

pub fn set_time_zone(conn: &Connection, id: &str, zone: &str) -> Result<(), StoreError> {
    conn.execute(
        "UPDATE tenants SET time_zone = ?2 WHERE id = ?1",
        params![id, zone],
    )?;
    Ok(())
}

pub fn set_default_budget(
    conn: &Connection,
    id: &str,
    json: Option<&str>,
) -> Result<(), StoreError> {
    conn.execute(
        "UPDATE tenants SET default_budget = ?2 WHERE id = ?1",
        params![id, json],
    )?;
    Ok(())
}

pub fn set_alert_webhook_url(
    conn: &Connection,
    id: &str,
    url: Option<&str>,
) -> Result<(), StoreError> {
    conn.execute(
        "UPDATE tenants SET alert_webhook_url = ?2 WHERE id = ?1",
        params![id, url],
    )?;
    Ok(())
}

pub fn set_webhook_secret(conn: &Connection, id: &str, secret: &str) -> Result<(), StoreError> {
    conn.execute(
        "UPDATE tenants SET webhook_secret = ?2 WHERE id = ?1",
        params![id, secret],
    )?;
    Ok(())
}
