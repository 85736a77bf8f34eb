//! Tenant settings: the environment cap (read-only here; the operator sets it with the CLI),
//! the admin e-mail addresses, the time zone budget periods follow, the default budget of new
//! environments, and the alert webhook with its signing secret.

use chrono_tz::Tz;
use serde::Deserialize;
use serde_json::{Value, json};

use crate::budgets::BudgetBody;
use crate::domain::ids::{TenantId, fill_random, hex};
use crate::domain::period::parse_zone;
use crate::environments::present;
use crate::error::{ApiError, ApiResult};
use crate::state::AppState;
use crate::storage::tenants;
use crate::tenants::parse_email;

/// The most admin addresses a tenant may list.
const MAX_ADMIN_EMAILS: usize = 20;

/// `PUT` or `PATCH .../settings`: fields sent are changed, fields left out are kept, and `null`
/// clears the optional ones.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct PatchBody {
    admin_emails: Option<Vec<String>>,
    /// Present at all (even `null`) means the client tried to set it.
    #[serde(default, deserialize_with = "crate::environments::present_value")]
    environment_cap: Option<Option<Value>>,
    time_zone: Option<String>,
    #[serde(default, deserialize_with = "present_budget")]
    default_budget: Option<Option<BudgetBody>>,
    #[serde(default, deserialize_with = "present")]
    alert_webhook_url: Option<Option<String>>,
}

fn present_budget<'de, D: serde::Deserializer<'de>>(
    d: D,
) -> Result<Option<Option<BudgetBody>>, D::Error> {
    Option::<BudgetBody>::deserialize(d).map(Some)
}

pub async fn get(state: &AppState, tenant: &TenantId) -> ApiResult<Value> {
    let t = tenant.as_str().to_string();
    let default_cap = state.settings.default_environment_cap;
    let (cap, emails, config) = state
        .store
        .read(move |c| {
            Ok((
                tenants::effective_cap(c, &t, default_cap)?,
                tenants::admin_emails(c, &t)?,
                tenants::alert_config(c, &t)?,
            ))
        })
        .await?;
    let default_budget = config
        .default_budget
        .as_deref()
        .and_then(|j| serde_json::from_str::<Value>(j).ok());
    Ok(json!({
        "environmentCap": cap,
        "adminEmails": emails,
        "timeZone": config.time_zone,
        "defaultBudget": default_budget,
        "alertWebhookUrl": config.alert_webhook_url,
        "webhookSecretSet": config.webhook_secret.is_some(),
    }))
}

/// What a valid patch changes.
struct Changes {
    emails: Option<Vec<String>>,
    time_zone: Option<String>,
    default_budget: Option<Option<String>>,
    webhook: Option<Option<String>>,
}

fn validate(body: PatchBody) -> ApiResult<Changes> {
    if body.environment_cap.is_some() {
        return Err(ApiError::invalid_field(
            "environmentCap",
            "environmentCap is set by the operator with 'fruxon tenant set-cap'; it cannot be \
             changed over HTTP",
        ));
    }
    let emails = body
        .admin_emails
        .map(|raw| parse_emails(&raw))
        .transpose()?;
    let time_zone = match body.time_zone {
        Some(zone) if parse_zone(&zone).is_none() => {
            return Err(ApiError::invalid_field(
                "timeZone",
                format!(
                    "timeZone '{}' is not an IANA time zone such as UTC or Europe/Berlin",
                    crate::domain::slug::abbreviate(&zone)
                ),
            ));
        }
        other => other,
    };
    let default_budget = match body.default_budget {
        None => None,
        Some(None) => Some(None),
        Some(Some(budget)) => {
            budget.validate("defaultBudget.", "", "")?;
            Some(Some(
                serde_json::to_string(&budget).map_err(ApiError::internal)?,
            ))
        }
    };
    let webhook = match body.alert_webhook_url {
        Some(Some(url)) => Some(Some(parse_webhook_url(&url)?)),
        other => other,
    };
    Ok(Changes {
        emails,
        time_zone,
        default_budget,
        webhook,
    })
}

fn parse_emails(raw: &[String]) -> ApiResult<Vec<String>> {
    if raw.len() > MAX_ADMIN_EMAILS {
        return Err(ApiError::invalid_field(
            "adminEmails",
            format!("adminEmails may list at most {MAX_ADMIN_EMAILS} addresses"),
        ));
    }
    let mut emails = Vec::with_capacity(raw.len());
    for (i, email) in raw.iter().enumerate() {
        let field = format!("adminEmails[{i}]");
        let email = parse_email(email)
            .map_err(|why| ApiError::invalid_field(&field, format!("{field}: {why}")))?;
        if !emails.contains(&email) {
            emails.push(email);
        }
    }
    Ok(emails)
}

fn parse_webhook_url(raw: &str) -> ApiResult<String> {
    let uri: Option<awc::http::Uri> = raw.trim().parse().ok();
    let ok = uri.as_ref().is_some_and(|u| {
        matches!(u.scheme_str(), Some("http") | Some("https")) && u.host().is_some()
    });
    if !ok || raw.len() > 2000 {
        return Err(ApiError::invalid_field(
            "alertWebhookUrl",
            format!(
                "alertWebhookUrl '{}' must be an absolute http:// or https:// URL",
                crate::domain::slug::abbreviate(raw)
            ),
        ));
    }
    Ok(raw.trim().to_string())
}

pub async fn patch(state: &AppState, tenant: &TenantId, body: PatchBody) -> ApiResult<Value> {
    let changes = validate(body)?;

    let (t, now) = (tenant.as_str().to_string(), state.now_ms());
    state
        .store
        .write(move |c| {
            if let Some(emails) = &changes.emails {
                tenants::set_admin_emails(c, &t, emails)?;
            }
            let old_zone = tenants::time_zone(c, &t)?;
            if let Some(zone) = changes.time_zone.as_ref().filter(|z| **z != old_zone) {
                tenants::set_time_zone(c, &t, zone)?;
                let old_zone = parse_zone(&old_zone).unwrap_or(Tz::UTC);
                crate::budgets::recount_all(c, &t, old_zone, now)?;
            }
            if let Some(budget) = &changes.default_budget {
                tenants::set_default_budget(c, &t, budget.as_deref())?;
            }
            if let Some(url) = &changes.webhook {
                tenants::set_alert_webhook_url(c, &t, url.as_deref())?;
            }
            Ok(())
        })
        .await?;
    log::info!("settings of tenant {tenant} changed");
    get(state, tenant).await
}

/// Creates a new webhook signing secret and shows it, this once.
pub async fn rotate_webhook_secret(state: &AppState, tenant: &TenantId) -> ApiResult<Value> {
    let mut bytes = [0u8; 32];
    fill_random(&mut bytes);
    let secret = format!("whsec_{}", hex(&bytes));

    let (t, stored) = (tenant.as_str().to_string(), secret.clone());
    state
        .store
        .write(move |c| tenants::set_webhook_secret(c, &t, &stored))
        .await?;
    log::info!("webhook secret of tenant {tenant} rotated");
    Ok(json!({"secret": secret}))
}
