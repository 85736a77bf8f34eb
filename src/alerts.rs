//! Warning admins before the environment cap bites, and telling them when it does.
//!
//! Both checks run inside the write transaction that registers (or refuses, or deletes) an
//! environment, and queue their e-mail in the outbox in that same transaction: concurrent
//! requests crossing a threshold are serialized by the writer, so exactly one of them sees the
//! crossing, and a crash can never lose the e-mail of an event that was committed.

use rusqlite::Connection;

use crate::domain::time::rfc3339;
use crate::environments::{Report, report};
use crate::storage::StoreError;
use crate::storage::alerts::{self, AlertState};
use crate::storage::environments::{self, Ensured};
use crate::storage::notifications::{self, NewNotification};
use crate::storage::tenants;

const DAY_MS: i64 = 86_400_000;

pub const KIND_WARNING: &str = "environment_cap_warning";
pub const KIND_CAP_REACHED: &str = "environment_cap_reached";

/// What the checks need from the settings.
#[derive(Debug, Clone)]
pub struct AlertSettings {
    pub default_cap: i64,
    /// Where the settings page is, for the links in e-mails.
    pub settings_url: String,
}

/// The count at which the warning fires: 80% of the cap, rounded up (800 of 1000, 8 of 10).
pub fn warning_threshold(cap: i64) -> i64 {
    (cap * 4 + 4) / 5
}

/// Runs after an attempt to register `slug`, in the same transaction.
pub fn after_register(
    conn: &Connection,
    cfg: &AlertSettings,
    tenant: &str,
    slug: &str,
    outcome: Ensured,
    now: i64,
) -> Result<(), StoreError> {
    match outcome {
        Ensured::Existing => Ok(()),
        Ensured::Created { count, cap } => check(conn, cfg, tenant, count, cap, now),
        Ensured::CapReached { .. } => {
            let mut state = alerts::get(conn, tenant)?;
            state.episode_open = true;
            if !state.refused_slugs.iter().any(|s| s == slug) {
                state.refused_slugs.push(slug.to_string());
            }
            // One e-mail per episode, and never two within a day: an episode that opens less
            // than a day after the last mail gets its own at its first refusal after that day.
            let day_passed = state.last_cap_mail_at.is_none_or(|at| now - at >= DAY_MS);
            if !state.episode_mailed && day_passed {
                state.episode_mailed = true;
                state.last_cap_mail_at = Some(now);
                let report = report(conn, tenant, cfg.default_cap, now)?;
                let mail = cap_mail(tenant, &report, &state.refused_slugs, cfg);
                enqueue(conn, tenant, KIND_CAP_REACHED, mail, now)?;
            }
            alerts::put(conn, tenant, &state)
        }
    }
}

/// Settles the alert state at `count` of `cap` and queues the 80% warning if it is armed and
/// the count has reached it.
fn check(
    conn: &Connection,
    cfg: &AlertSettings,
    tenant: &str,
    count: i64,
    cap: i64,
    now: i64,
) -> Result<(), StoreError> {
    let mut state = alerts::get(conn, tenant)?;
    settle(&mut state, count, cap);
    if state.warning_armed && cap > 0 && count >= warning_threshold(cap) {
        state.warning_armed = false;
        let report = report(conn, tenant, cfg.default_cap, now)?;
        let mail = warning_mail(tenant, &report, cfg);
        enqueue(conn, tenant, KIND_WARNING, mail, now)?;
    }
    alerts::put(conn, tenant, &state)
}

/// Runs after the operator changed a tenant's cap, in the same transaction: a lower cap can
/// put the count past 80% without a new environment, and a higher one can end a cap episode.
pub fn after_cap_change(
    conn: &Connection,
    cfg: &AlertSettings,
    tenant: &str,
    now: i64,
) -> Result<(), StoreError> {
    let count = environments::count(conn, tenant)?;
    let cap = tenants::effective_cap(conn, tenant, cfg.default_cap)?;
    check(conn, cfg, tenant, count, cap, now)
}

/// Runs after an environment is deleted, in the same transaction: the warning re-arms below
/// 80%, and the cap episode ends below the cap.
pub fn after_delete(
    conn: &Connection,
    cfg: &AlertSettings,
    tenant: &str,
) -> Result<(), StoreError> {
    let count = environments::count(conn, tenant)?;
    let cap = tenants::effective_cap(conn, tenant, cfg.default_cap)?;
    let mut state = alerts::get(conn, tenant)?;
    settle(&mut state, count, cap);
    alerts::put(conn, tenant, &state)
}

/// Re-arms the warning once the count is below 80%, and closes a cap episode once the count
/// is below the cap (which also forgets the slugs it refused).
fn settle(state: &mut AlertState, count: i64, cap: i64) {
    if count < warning_threshold(cap) {
        state.warning_armed = true;
    }
    if count < cap && state.episode_open {
        state.episode_open = false;
        state.episode_mailed = false;
        state.refused_slugs.clear();
    }
}

pub struct Mail {
    pub subject: String,
    pub body: String,
}

/// Queues an e-mail to the tenant's admins, in the caller's transaction.
pub fn enqueue(
    conn: &Connection,
    tenant: &str,
    kind: &str,
    mail: Mail,
    now: i64,
) -> Result<(), StoreError> {
    let recipients = tenants::admin_emails(conn, tenant)?;
    let id = notifications::enqueue(
        conn,
        &NewNotification {
            tenant_id: tenant.to_string(),
            kind: kind.to_string(),
            recipients,
            subject: mail.subject,
            body: mail.body,
            channel: "email".to_string(),
            target: None,
        },
        now,
    )?;
    log::info!("notification {id} ({kind}) queued for tenant {tenant}");
    Ok(())
}

fn warning_mail(tenant: &str, r: &Report, cfg: &AlertSettings) -> Mail {
    let subject = format!(
        "{tenant}: {} of {} environments used, {}% of the cap",
        r.count,
        r.cap,
        r.count * 100 / r.cap.max(1)
    );
    let mut body = format!(
        "The organization {tenant} now has {} environments; its cap is {}.\n\
         Once the cap is reached, executions that name a new environment are refused, while\n\
         existing environments keep working.\n\n",
        r.count, r.cap
    );
    body.push_str(&diagnosis_text(r));
    body.push_str(&advice(tenant, cfg));
    Mail { subject, body }
}

fn cap_mail(tenant: &str, r: &Report, refused: &[String], cfg: &AlertSettings) -> Mail {
    let subject = format!(
        "{tenant}: {} of {} environments used, new customers are being refused",
        r.count, r.cap
    );
    let mut body = format!(
        "The organization {tenant} has reached its cap of {} environments. Executions that\n\
         name a new environment are now refused with ENVIRONMENT_CAP_REACHED; existing\n\
         environments keep working.\n\nRefused so far in this episode:\n",
        r.cap
    );
    for slug in refused {
        body.push_str(&format!("  - {slug}\n"));
    }
    body.push('\n');
    body.push_str(&diagnosis_text(r));
    body.push_str(&advice(tenant, cfg));
    Mail { subject, body }
}

fn diagnosis_text(r: &Report) -> String {
    let mut text = format!(
        "Environments created in the last 24 hours: {}\n",
        r.created_last_24h
    );
    text.push_str("Most recently created:\n");
    for (slug, at) in &r.recent {
        text.push_str(&format!("  - {slug} ({})\n", rfc3339(*at)));
    }
    if !r.diagnosis.suspicious.is_empty() {
        text.push_str("Slugs that look like a leaking integration:\n");
        for s in r.diagnosis.suspicious.iter().take(20) {
            text.push_str(&format!("  - {}: {}\n", s.slug, s.why));
        }
        if r.diagnosis.suspicious.len() > 20 {
            text.push_str(&format!(
                "  ... and {} more\n",
                r.diagnosis.suspicious.len() - 20
            ));
        }
    }
    if let Some(cause) = &r.diagnosis.likely_cause {
        text.push_str(&format!("Likely cause: {cause}.\n"));
    }
    text.push('\n');
    text
}

fn advice(tenant: &str, cfg: &AlertSettings) -> String {
    format!(
        "What to do:\n\
         - Delete environments that are no longer used, on the settings page: {}\n\
         - If an integration sends request ids, timestamps or other per-request values as\n  \
           environmentSlug, change it to send a stable customer id.\n\
         - If you really serve that many customers, ask your fruxon operator to raise the cap\n  \
           (fruxon tenant set-cap {tenant} N).\n",
        cfg.settings_url
    )
}
