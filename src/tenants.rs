//! Tenants and their keys, as the operator manages them from the command line, and the demo
//! tenant a fresh database starts with.

use rusqlite::{Connection, TransactionBehavior};

use crate::alerts::AlertSettings;
use crate::auth::{NewKey, Role, mint_key};
use crate::domain::ids::TenantId;
use crate::storage::agents::NewRevision;
use crate::storage::{StoreError, agents, keys, tenants};

/// The demo tenant, agent and prices a fresh database gets.
pub const DEMO_TENANT: &str = "demo";
pub const DEMO_AGENT: &str = "support-bot";

/// Checks an admin e-mail address: a plausible `local@domain.tld`, no spaces or controls.
pub fn parse_email(raw: &str) -> Result<String, String> {
    let email = raw.trim();
    let plausible = email.len() <= 254
        && !email
            .chars()
            .any(|c| c.is_whitespace() || c.is_control() || c == ',')
        && matches!(email.split_once('@'), Some((local, domain))
            if !local.is_empty() && !domain.contains('@') && domain.contains('.')
                && !domain.starts_with('.') && !domain.ends_with('.'))
        // The mailer's own parser has the last word: an address it would refuse at send time
        // is refused here, where the person typing it can still fix it.
        && email.parse::<lettre::Address>().is_ok();
    if plausible {
        Ok(email.to_string())
    } else {
        Err(format!(
            "'{}' is not an e-mail address",
            email.escape_debug()
        ))
    }
}

fn store_error(e: StoreError) -> String {
    e.to_string()
}

/// Creates a tenant and its first admin key in one transaction.
pub fn create(
    conn: &mut Connection,
    tenant: &TenantId,
    admin_emails: &[String],
    now: i64,
) -> Result<NewKey, String> {
    let tx = conn
        .transaction_with_behavior(TransactionBehavior::Immediate)
        .map_err(|e| e.to_string())?;
    let key = create_in(&tx, tenant, admin_emails, now)?;
    tx.commit().map_err(|e| e.to_string())?;
    Ok(key)
}

fn create_in(
    conn: &Connection,
    tenant: &TenantId,
    admin_emails: &[String],
    now: i64,
) -> Result<NewKey, String> {
    match tenants::create(conn, tenant.as_str(), admin_emails, now) {
        Err(StoreError::AlreadyExists) => Err(format!("tenant '{tenant}' exists already")),
        other => other.map_err(store_error),
    }?;
    insert_key(conn, tenant, Role::Admin, now)
}

/// Mints a key for an existing tenant.
pub fn create_key(
    conn: &mut Connection,
    tenant: &TenantId,
    role: Role,
    now: i64,
) -> Result<NewKey, String> {
    let tx = conn
        .transaction_with_behavior(TransactionBehavior::Immediate)
        .map_err(|e| e.to_string())?;
    if tenants::get(&tx, tenant.as_str())
        .map_err(store_error)?
        .is_none()
    {
        return Err(format!("tenant '{tenant}' does not exist"));
    }
    let key = insert_key(&tx, tenant, role, now)?;
    tx.commit().map_err(|e| e.to_string())?;
    Ok(key)
}

fn insert_key(
    conn: &Connection,
    tenant: &TenantId,
    role: Role,
    now: i64,
) -> Result<NewKey, String> {
    let key = mint_key();
    keys::insert(
        conn,
        &key.id,
        tenant.as_str(),
        role.as_str(),
        &key.hash,
        now,
    )
    .map_err(store_error)?;
    Ok(key)
}

/// Revokes a key by its public id.
pub fn revoke_key(conn: &Connection, key_id: &str, now: i64) -> Result<(), String> {
    match keys::revoke(conn, key_id, now).map_err(store_error)? {
        true => Ok(()),
        false => Err(format!(
            "no active key has the id '{}'",
            key_id.escape_debug()
        )),
    }
}

/// Sets a tenant's own environment cap.
/// Sets a tenant's cap and, in the same transaction, raises the 80% warning the new cap may
/// call for (or ends a cap episode it lifts).
pub fn set_cap(
    conn: &mut Connection,
    tenant: &TenantId,
    cap: i64,
    alerting: &AlertSettings,
    now: i64,
) -> Result<(), String> {
    let tx = conn
        .transaction_with_behavior(TransactionBehavior::Immediate)
        .map_err(|e| e.to_string())?;
    if !tenants::set_cap(&tx, tenant.as_str(), cap).map_err(store_error)? {
        return Err(format!("tenant '{tenant}' does not exist"));
    }
    crate::alerts::after_cap_change(&tx, alerting, tenant.as_str(), now).map_err(store_error)?;
    tx.commit().map_err(|e| e.to_string())
}

/// On a database without tenants, creates the demo tenant with the echo agent and returns its
/// admin key; on any other database does nothing.
pub fn bootstrap_demo(conn: &mut Connection, now: i64) -> Result<Option<NewKey>, String> {
    if tenants::count(conn).map_err(store_error)? > 0 {
        return Ok(None);
    }

    // One transaction, so that a crash cannot leave a demo tenant without its agent.
    let tx = conn
        .transaction_with_behavior(TransactionBehavior::Immediate)
        .map_err(|e| e.to_string())?;
    let tenant = TenantId::from_trusted(DEMO_TENANT.to_string());
    let key = create_in(&tx, &tenant, &[], now)?;
    let echo = NewRevision {
        runtime: r#"{"kind":"echo"}"#.to_string(),
        input_micros_per_million: 3_000_000,
        output_micros_per_million: 15_000_000,
    };
    agents::create(
        &tx,
        DEMO_TENANT,
        DEMO_AGENT,
        "Support bot (echo demo)",
        &echo,
        now,
    )
    .map_err(store_error)?;
    tx.commit().map_err(|e| e.to_string())?;
    Ok(Some(key))
}
