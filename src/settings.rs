//! Tenant settings: the environment cap (read-only here; the operator sets it with the CLI) and
//! the admin e-mail addresses that hear about the registry filling up.

use serde::Deserialize;
use serde_json::{Value, json};

use crate::domain::ids::TenantId;
use crate::error::{ApiError, ApiResult};
use crate::state::AppState;
use crate::storage::tenants;
use crate::tenants::parse_email;

/// The most admin addresses a tenant may list.
const MAX_ADMIN_EMAILS: usize = 20;

/// `PATCH .../settings`.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct PatchBody {
    admin_emails: Option<Vec<String>>,
    environment_cap: Option<Value>,
}

pub async fn get(state: &AppState, tenant: &TenantId) -> ApiResult<Value> {
    let t = tenant.as_str().to_string();
    let default_cap = state.settings.default_environment_cap;
    let (cap, emails) = state
        .store
        .read(move |c| {
            Ok((
                tenants::effective_cap(c, &t, default_cap)?,
                tenants::admin_emails(c, &t)?,
            ))
        })
        .await?;
    Ok(json!({"environmentCap": cap, "adminEmails": emails}))
}

pub async fn patch(state: &AppState, tenant: &TenantId, body: PatchBody) -> ApiResult<Value> {
    if body.environment_cap.is_some() {
        return Err(ApiError::invalid_field(
            "environmentCap",
            "environmentCap is set by the operator with 'fruxon tenant set-cap'; it cannot be \
             changed over HTTP",
        ));
    }
    let Some(raw) = body.admin_emails else {
        return get(state, tenant).await;
    };
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

    let t = tenant.as_str().to_string();
    state
        .store
        .write(move |c| tenants::set_admin_emails(c, &t, &emails))
        .await?;
    log::info!("admin e-mails of tenant {tenant} changed");
    get(state, tenant).await
}
