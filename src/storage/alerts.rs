//! The state of each tenant's cap alerts: whether the 80% warning is armed, and the current cap
//! episode with the slugs it refused.

use rusqlite::{Connection, params};

use super::StoreError;

/// The most refused slugs remembered per episode: enough to show the pattern in an e-mail.
const REFUSED_KEPT: usize = 50;

#[derive(Debug, Clone)]
pub struct AlertState {
    pub warning_armed: bool,
    pub episode_open: bool,
    /// Whether the open episode has had its cap e-mail.
    pub episode_mailed: bool,
    pub last_cap_mail_at: Option<i64>,
    pub refused_slugs: Vec<String>,
}

/// The tenant's alert state, created armed and closed on first use.
pub fn get(conn: &Connection, tenant: &str) -> Result<AlertState, StoreError> {
    conn.prepare_cached("INSERT OR IGNORE INTO cap_alerts (tenant_id) VALUES (?1)")?
        .execute([tenant])?;
    let state = conn
        .prepare_cached(
            "SELECT warning_armed, episode_open, last_cap_mail_at, refused_slugs,
                 episode_mailed
             FROM cap_alerts WHERE tenant_id = ?1",
        )?
        .query_row([tenant], |r| {
            let refused: String = r.get(3)?;
            Ok(AlertState {
                warning_armed: r.get(0)?,
                episode_open: r.get(1)?,
                last_cap_mail_at: r.get(2)?,
                refused_slugs: serde_json::from_str(&refused).unwrap_or_default(),
                episode_mailed: r.get(4)?,
            })
        })?;
    Ok(state)
}

pub fn put(conn: &Connection, tenant: &str, state: &AlertState) -> Result<(), StoreError> {
    let mut refused = state.refused_slugs.clone();
    if refused.len() > REFUSED_KEPT {
        refused.drain(..refused.len() - REFUSED_KEPT);
    }
    conn.prepare_cached(
        "UPDATE cap_alerts SET warning_armed = ?2, episode_open = ?3, last_cap_mail_at = ?4,
             refused_slugs = ?5, episode_mailed = ?6
         WHERE tenant_id = ?1",
    )?
    .execute(params![
        tenant,
        state.warning_armed,
        state.episode_open,
        state.last_cap_mail_at,
        serde_json::to_string(&refused).unwrap_or_else(|_| "[]".to_string()),
        state.episode_mailed
    ])?;
    Ok(())
}
