//! The environment registry as clients manage it: list, get, create, rename, delete, and the
//! diagnostics that explain a registry filling up.

use serde::Deserialize;
use serde_json::{Value, json};

use crate::agents::parse_display_name;
use crate::alerts;
use crate::diagnostics::{self, SlugStat};
use crate::domain::ids::TenantId;
use crate::domain::slug::EnvironmentSlug;
use crate::domain::time::rfc3339;
use crate::error::{ApiError, ApiResult};
use crate::execute::cap_reached;
use crate::paging::PageRequest;
use crate::state::AppState;
use crate::storage::environments::{self, Ensured, EnvironmentRow};
use crate::storage::usage::{self, Usage};
use crate::storage::{StoreError, budgets, tenants};

/// How many of the newest slugs diagnostics lists.
const RECENT: i64 = 20;
const DAY_MS: i64 = 86_400_000;

/// The query of `GET .../environments`.
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ListQuery {
    /// Only slugs starting with this.
    prefix: Option<String>,
    /// Only environments whose slug or display name contains this text.
    q: Option<String>,
    page_size: Option<String>,
    page_token: Option<String>,
}

/// `POST .../environments`.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct CreateBody {
    slug: Value,
    display_name: Option<String>,
}

/// `PATCH .../environments/{slug}`: only the display name may change. `slug` is accepted so
/// that a client sending the whole object back is not refused, as long as it is unchanged.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct PatchBody {
    slug: Option<Value>,
    #[serde(default, deserialize_with = "present")]
    display_name: Option<Option<String>>,
}

/// Tells any field sent (even as `null`) from an absent one.
pub fn present_value<'de, D: serde::Deserializer<'de>>(
    d: D,
) -> Result<Option<Option<Value>>, D::Error> {
    Option::<Value>::deserialize(d).map(Some)
}

/// Tells `"displayName": null` (clear it) from an absent field (leave it).
pub fn present<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<Option<String>>, D::Error> {
    Option::<String>::deserialize(d).map(Some)
}

fn environment_json(row: &EnvironmentRow, usage: &Usage) -> Value {
    json!({
        "slug": row.slug,
        "displayName": row.display_name,
        "origin": row.origin,
        "createdAt": rfc3339(row.created_at),
        "executionCount": usage.executions,
        "lastUsedAt": usage.last_at.map(rfc3339),
    })
}

fn not_found(slug: &str) -> ApiError {
    ApiError::not_found(format!(
        "environment '{slug}' does not exist in this tenant"
    ))
    .with("environmentSlug", slug)
}

/// Everything that follows an attempt to register a slug, in its transaction: the cap alerts,
/// and the default budget for a new environment. Both ways of registering call this.
pub fn after_register(
    conn: &rusqlite::Connection,
    alerting: &alerts::AlertSettings,
    tenant: &str,
    slug: &str,
    outcome: Ensured,
    now: i64,
) -> Result<(), StoreError> {
    alerts::after_register(conn, alerting, tenant, slug, outcome, now)?;
    if let Ensured::Created { .. } = outcome {
        crate::budgets::apply_default(conn, tenant, slug, now)?;
    }
    Ok(())
}

/// Parses the slug of a path: one that could never be valid simply does not exist.
pub fn slug_in_path(raw: &str) -> ApiResult<EnvironmentSlug> {
    EnvironmentSlug::parse("slug", raw)
        .map_err(|_| not_found(&crate::domain::slug::abbreviate(raw)))
}

/// One page of the registry, with the tenant's count and cap.
pub async fn list(state: &AppState, tenant: &TenantId, query: ListQuery) -> ApiResult<Value> {
    let page = PageRequest::parse(query.page_size.as_deref(), query.page_token.as_deref())?;
    let t = tenant.as_str().to_string();
    let default_cap = state.settings.default_environment_cap;
    let limit = page.size as i64 + 1;
    let after = page.after.clone();

    let (mut rows, count, cap) = state
        .store
        .read(move |c| {
            let rows = environments::list(
                c,
                &t,
                query.prefix.as_deref().filter(|p| !p.is_empty()),
                query.q.as_deref().filter(|q| !q.is_empty()),
                after.as_deref(),
                limit,
            )?;
            let count = environments::count(c, &t)?;
            let cap = tenants::effective_cap(c, &t, default_cap)?;
            Ok((rows, count, cap))
        })
        .await?;
    let next = page.next_token(&mut rows, |r| r.slug.clone());

    let t = tenant.as_str().to_string();
    let slugs: Vec<String> = rows.iter().map(|r| r.slug.clone()).collect();
    let usages = state
        .store
        .read(move |c| usage::for_environments(c, &t, &slugs))
        .await?;
    let items: Vec<Value> = rows
        .iter()
        .zip(&usages)
        .map(|(row, usage)| environment_json(row, usage))
        .collect();

    let mut body = json!({"environments": items, "count": count, "cap": cap});
    if let Some(token) = next {
        body["nextPageToken"] = Value::String(token);
    }
    Ok(body)
}

/// One environment with its all-time usage.
pub async fn get(state: &AppState, tenant: &TenantId, slug: &EnvironmentSlug) -> ApiResult<Value> {
    let (t, s) = (tenant.as_str().to_string(), slug.as_str().to_string());
    let found = state
        .store
        .read(move |c| {
            let Some(row) = environments::get(c, &t, &s)? else {
                return Ok(None);
            };
            let usage = usage::for_environments(c, &t, std::slice::from_ref(&s))?;
            Ok(Some((row, usage.into_iter().next().unwrap_or_default())))
        })
        .await?;
    let (row, usage) = found.ok_or_else(|| not_found(slug.as_str()))?;
    Ok(environment_json(&row, &usage))
}

/// Creates an environment explicitly, under the same cap and in the same kind of transaction
/// as an execution's first sighting.
pub async fn create(state: &AppState, tenant: &TenantId, body: CreateBody) -> ApiResult<Value> {
    let slug = EnvironmentSlug::parse_value("slug", &body.slug)?;
    let display_name = body
        .display_name
        .as_deref()
        .map(|n| parse_display_name("displayName", n))
        .transpose()?;

    let (t, s) = (tenant.as_str().to_string(), slug.as_str().to_string());
    let (alerting, now) = (state.alert_settings(), state.now_ms());
    let outcome = state
        .store
        .write(move |c| {
            let name = display_name.as_deref();
            let outcome =
                environments::register(c, &t, &s, "explicit", name, alerting.default_cap, now)?;
            after_register(c, &alerting, &t, &s, outcome, now)?;
            Ok((outcome, environments::get(c, &t, &s)?))
        })
        .await?;

    match outcome {
        (Ensured::Existing, _) => Err(ApiError::already_exists(format!(
            "environment '{slug}' exists already; rename it with PATCH"
        ))
        .with("environmentSlug", slug.as_str())),
        (Ensured::CapReached { count, cap }, _) => Err(cap_reached(tenant, &slug, count, cap)),
        (Ensured::Created { count, cap }, Some(row)) => {
            log::info!("environment {slug} created for tenant {tenant} ({count} of {cap})");
            get_usage_and_render(state, tenant, row).await
        }
        (Ensured::Created { .. }, None) => {
            Err(ApiError::internal("a created environment vanished"))
        }
    }
}

async fn get_usage_and_render(
    state: &AppState,
    tenant: &TenantId,
    row: EnvironmentRow,
) -> ApiResult<Value> {
    let (t, s) = (tenant.as_str().to_string(), vec![row.slug.clone()]);
    let usage = state
        .store
        .read(move |c| usage::for_environments(c, &t, &s))
        .await?;
    Ok(environment_json(
        &row,
        &usage.into_iter().next().unwrap_or_default(),
    ))
}

/// Renames an environment; its slug never changes.
pub async fn patch(
    state: &AppState,
    tenant: &TenantId,
    slug: &EnvironmentSlug,
    body: PatchBody,
) -> ApiResult<Value> {
    if let Some(sent) = &body.slug
        && sent.as_str() != Some(slug.as_str())
    {
        return Err(ApiError::invalid(
            "SLUG_IMMUTABLE",
            format!(
                "the slug of environment '{slug}' cannot change; create a new environment \
                     instead, or change only displayName"
            ),
        )
        .with("field", "slug")
        .with("environmentSlug", slug.as_str()));
    }
    let display_name = match &body.display_name {
        None => return get(state, tenant, slug).await,
        Some(None) => None,
        Some(Some(name)) => Some(parse_display_name("displayName", name)?),
    };

    let (t, s) = (tenant.as_str().to_string(), slug.as_str().to_string());
    let renamed = state
        .store
        .write(move |c| environments::rename(c, &t, &s, display_name.as_deref()))
        .await?;
    if !renamed {
        return Err(not_found(slug.as_str()));
    }
    log::info!("environment {slug} of tenant {tenant} renamed");
    get(state, tenant, slug).await
}

/// Deletes the registry row only; executions keep their slug and their history.
pub async fn delete(state: &AppState, tenant: &TenantId, slug: &EnvironmentSlug) -> ApiResult<()> {
    let (t, s) = (tenant.as_str().to_string(), slug.as_str().to_string());
    let alerting = state.alert_settings();
    let deleted = state
        .store
        .write(move |c| {
            let deleted = environments::delete(c, &t, &s)?;
            if deleted {
                budgets::delete_for_environment(c, &t, &s)?;
                alerts::after_delete(c, &alerting, &t)?;
            }
            Ok(deleted)
        })
        .await?;
    if !deleted {
        return Err(not_found(slug.as_str()));
    }
    log::info!("environment {slug} of tenant {tenant} deleted (its executions are kept)");
    Ok(())
}

/// Everything the diagnostics view and the cap e-mail say about a tenant's registry.
#[derive(Debug, Clone)]
pub struct Report {
    pub count: i64,
    pub cap: i64,
    pub created_last_24h: i64,
    /// Newest first: (slug, created at).
    pub recent: Vec<(String, i64)>,
    pub diagnosis: diagnostics::Diagnosis,
}

/// Builds the report on a connection; usable inside a write transaction too.
pub fn report(
    conn: &rusqlite::Connection,
    tenant: &str,
    default_cap: i64,
    now: i64,
) -> Result<Report, StoreError> {
    let all = environments::all(conn, tenant)?;
    let used = usage::executions_by_environment(conn, tenant)?;
    let stats: Vec<SlugStat> = all
        .iter()
        .map(|r| SlugStat {
            slug: r.slug.clone(),
            executions: used.get(&r.slug).copied().unwrap_or(0),
        })
        .collect();
    Ok(Report {
        count: all.len() as i64,
        cap: tenants::effective_cap(conn, tenant, default_cap)?,
        created_last_24h: environments::created_since(conn, tenant, now - DAY_MS)?,
        recent: environments::recent(conn, tenant, RECENT)?
            .into_iter()
            .map(|r| (r.slug, r.created_at))
            .collect(),
        diagnosis: diagnostics::diagnose(&stats),
    })
}

/// `GET .../environments:diagnostics`.
pub async fn diagnostics(state: &AppState, tenant: &TenantId) -> ApiResult<Value> {
    let t = tenant.as_str().to_string();
    let (cap, now) = (state.settings.default_environment_cap, state.now_ms());
    let report = state.store.read(move |c| report(c, &t, cap, now)).await?;
    Ok(report_json(&report))
}

pub fn report_json(report: &Report) -> Value {
    json!({
        "count": report.count,
        "cap": report.cap,
        "createdLast24h": report.created_last_24h,
        "recentSlugs": report.recent.iter()
            .map(|(slug, at)| json!({"slug": slug, "createdAt": rfc3339(*at)}))
            .collect::<Vec<_>>(),
        "suspiciousSlugs": report.diagnosis.suspicious.iter()
            .map(|s| json!({"slug": s.slug, "why": s.why}))
            .collect::<Vec<_>>(),
        "likelyCause": report.diagnosis.likely_cause,
    })
}
