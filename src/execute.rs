//! Executing an agent: the steps of the contract, in its order, and the execution record.
//!
//! The handler has already authenticated the caller. From there: parse and validate the body
//! (the slug first, before anything touches the database or the agent), find the agent and
//! revision, resolve the environment (auto-creating it under the cap in one write
//! transaction), run the agent, record the execution with its cost, answer.

use std::time::Instant;

use serde::Deserialize;
use serde_json::{Map, Value};

use chrono_tz::Tz;
use rusqlite::Connection;

use crate::agents::{agent_not_found, parse_stored_runtime};
use crate::auth::{self, Caller};
use crate::budgets;
use crate::domain::ids::{AgentId, TenantId, new_execution_id};
use crate::domain::money::price_tokens;
use crate::domain::period::parse_zone;
use crate::domain::slug::{EnvironmentSlug, json_kind};
use crate::error::{ApiError, ApiResult};
use crate::runtime::{self, RunOutcome, RunRequest, Runtime};
use crate::state::AppState;
use crate::storage::agents::RevisionRow;
use crate::storage::environments::{self, Ensured};
use crate::storage::executions::{self, ExecutionRow};
use crate::storage::keys::{self, KeyRow};
use crate::storage::{StoreError, agents};

/// The longest session id accepted, in characters.
pub const MAX_SESSION_ID: usize = 256;

/// The body of `:execute` and `:stream`, as sent.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ExecuteBody {
    parameters: Value,
    session_id: Option<Value>,
    environment_slug: Option<Value>,
}

/// A validated execute request.
#[derive(Debug)]
pub struct ExecuteRequest {
    pub parameters: Map<String, Value>,
    pub session_id: Option<String>,
    pub environment: Option<EnvironmentSlug>,
}

impl ExecuteBody {
    /// Validates the body; the slug is checked first, as the contract orders.
    pub fn validate(self) -> ApiResult<ExecuteRequest> {
        let environment = self
            .environment_slug
            .as_ref()
            .map(|v| EnvironmentSlug::parse_value("environmentSlug", v))
            .transpose()?;

        let Value::Object(parameters) = self.parameters else {
            return Err(ApiError::invalid_field(
                "parameters",
                format!(
                    "parameters must be a JSON object, not {}",
                    json_kind(&self.parameters)
                ),
            ));
        };

        let session_id = self.session_id.as_ref().map(parse_session_id).transpose()?;
        Ok(ExecuteRequest {
            parameters,
            session_id,
            environment,
        })
    }
}

fn parse_session_id(value: &Value) -> ApiResult<String> {
    let Value::String(raw) = value else {
        return Err(ApiError::invalid_field(
            "sessionId",
            format!("sessionId must be a string, not {}", json_kind(value)),
        ));
    };
    let length = raw.chars().count();
    if length == 0 || length > MAX_SESSION_ID {
        return Err(ApiError::invalid_field(
            "sessionId",
            format!("sessionId must be 1 to {MAX_SESSION_ID} characters, got {length}"),
        ));
    }
    if raw.chars().any(char::is_control) {
        return Err(ApiError::invalid_field(
            "sessionId",
            "sessionId may not contain control characters such as newlines",
        ));
    }
    Ok(raw.clone())
}

/// Which agent to run: the latest revision, or a pinned one.
#[derive(Debug, Clone)]
pub struct Target {
    pub tenant: TenantId,
    pub agent: AgentId,
    pub revision: Option<i64>,
}

/// An execution that passed every check and may now run.
pub struct Prepared {
    pub target: Target,
    pub revision: RevisionRow,
    pub runtime: Runtime,
    pub request: ExecuteRequest,
    pub execution_id: String,
    pub caller: Caller,
    /// The tenant's time zone, for the budget periods the record counts in.
    pub zone: Tz,
}

/// An execute request as it arrived, nothing yet checked but the presence of a key.
pub struct Admission {
    pub key_hash: Vec<u8>,
    pub path_tenant: String,
    pub agent: ApiResult<AgentId>,
    pub revision: ApiResult<Option<i64>>,
    pub body: ApiResult<ExecuteRequest>,
}

/// What one read finds for an admission: the key, the revision, whether the slug is known.
struct Found {
    key: Option<KeyRow>,
    revision: Option<RevisionRow>,
    environment_known: bool,
    /// An enforced budget of the environment that is used up.
    exhausted: Option<budgets::Exhausted>,
}

impl Found {
    /// The tenant's time zone, which budget periods follow.
    fn zone(&self) -> Tz {
        let name = self.key.as_ref().map(|k| k.tenant_time_zone.as_str());
        name.and_then(parse_zone).unwrap_or(Tz::UTC)
    }
}

/// Checks an execute request in the contract's order (the key, the body and its slug, the
/// agent and revision, the environment under the cap) and returns it ready to run.
///
/// Everything the checks need is read at once, by key: on the hot path a request then costs
/// these point reads and one group-committed write. A refusal leaves nothing written.
pub async fn admit(state: &AppState, admission: Admission) -> ApiResult<Prepared> {
    let Admission {
        key_hash,
        path_tenant,
        agent,
        revision,
        body,
    } = admission;
    let lookup = match (&agent, &revision, &body) {
        (Ok(agent), Ok(revision), Ok(request)) => Some((
            agent.as_str().to_string(),
            *revision,
            request.environment.as_ref().map(|s| s.as_str().to_string()),
        )),
        _ => None,
    };
    let tenant = path_tenant.clone();
    let now = state.now_ms();
    let found = state
        .store
        .read_inline(|c| find(c, &key_hash, &tenant, lookup, now))?;

    let zone = found.zone();
    let caller = auth::judge(found.key, &path_tenant)?;
    let request = body?;
    let target = Target {
        tenant: caller.tenant.clone(),
        agent: agent?,
        revision: revision?,
    };
    let Some(revision) = found.revision else {
        return Err(missing_revision(state, &target).await);
    };

    if let (Some(slug), Some(exhausted)) = (&request.environment, &found.exhausted) {
        return Err(budgets::refusal(
            target.tenant.as_str(),
            slug.as_str(),
            exhausted,
            now,
        ));
    }

    if let (Some(slug), false) = (&request.environment, found.environment_known) {
        auto_create(state, &target.tenant, slug).await?;
    }

    let runtime = parse_stored_runtime(&revision.runtime).map_err(ApiError::internal)?;
    Ok(Prepared {
        target,
        revision,
        runtime,
        request,
        execution_id: new_execution_id(state.now_ms()),
        caller,
        zone,
    })
}

fn find(
    c: &Connection,
    key_hash: &[u8],
    tenant: &str,
    lookup: Option<(String, Option<i64>, Option<String>)>,
    now: i64,
) -> Result<Found, StoreError> {
    let key = keys::find_by_hash(c, key_hash)?;
    let mut found = Found {
        key,
        revision: None,
        environment_known: true,
        exhausted: None,
    };
    // Nothing of the tenant is read for a key that may not see it.
    let allowed = found
        .key
        .as_ref()
        .is_some_and(|k| !k.revoked && k.tenant_id == tenant);
    if let (true, Some((agent, revision, slug))) = (allowed, lookup) {
        found.revision = agents::revision(c, tenant, &agent, revision)?;
        if let (Some(_), Some(slug)) = (&found.revision, slug) {
            found.environment_known = environments::exists(c, tenant, &slug)?;
            if found.environment_known {
                let zone = found.zone();
                found.exhausted = budgets::exhausted(c, tenant, &slug, &agent, zone, now)?;
            }
        }
    }
    Ok(found)
}

/// Explains a missing revision: the agent is unknown, or it lacks the pinned revision.
async fn missing_revision(state: &AppState, target: &Target) -> ApiError {
    let Some(number) = target.revision else {
        return agent_not_found(&target.agent);
    };
    let (tenant, agent) = (
        target.tenant.as_str().to_string(),
        target.agent.as_str().to_string(),
    );
    match state
        .store
        .read(move |c| agents::revision(c, &tenant, &agent, None))
        .await
    {
        Ok(Some(_)) => {
            ApiError::not_found(format!("agent '{}' has no revision {number}", target.agent))
                .with("agent", target.agent.as_str())
                .with("revision", number)
        }
        Ok(None) => agent_not_found(&target.agent),
        Err(e) => e.into(),
    }
}

/// Registers a slug seen for the first time, under the tenant's cap.
async fn auto_create(state: &AppState, tenant: &TenantId, slug: &EnvironmentSlug) -> ApiResult<()> {
    let (t, s) = (tenant.as_str().to_string(), slug.as_str().to_string());
    let (alerting, now) = (state.alert_settings(), state.now_ms());
    let ensured = state
        .store
        .write(move |c| {
            let outcome = environments::ensure(c, &t, &s, alerting.default_cap, now)?;
            crate::environments::after_register(c, &alerting, &t, &s, outcome, now)?;
            Ok(outcome)
        })
        .await?;
    match ensured {
        Ensured::Existing => Ok(()),
        Ensured::Created { count, cap } => {
            log::info!("environment {slug} auto-created for tenant {tenant} ({count} of {cap})");
            Ok(())
        }
        Ensured::CapReached { count, cap } => Err(cap_reached(tenant, slug, count, cap)),
    }
}

pub fn cap_reached(tenant: &TenantId, slug: &EnvironmentSlug, count: i64, cap: i64) -> ApiError {
    ApiError::failed_precondition(
        "ENVIRONMENT_CAP_REACHED",
        format!(
            "tenant '{tenant}' has {count} of {cap} environments, so the new environment \
             '{slug}' was refused; delete unused environments or ask the operator to raise the cap"
        ),
    )
    .with("tenant", tenant.as_str())
    .with("environmentSlug", slug.as_str())
    .with("count", count)
    .with("cap", cap)
}

/// A run that has ended, not yet recorded.
pub struct Finished {
    pub outcome: RunOutcome,
    pub started_at: i64,
    pub finished_at: i64,
    pub duration_ms: i64,
}

/// Runs the agent.
pub async fn run(state: &AppState, prepared: &Prepared) -> Finished {
    let request = RunRequest {
        execution_id: prepared.execution_id.clone(),
        agent: prepared.target.agent.as_str().to_string(),
        revision: prepared.revision.revision,
        parameters: prepared.request.parameters.clone(),
        session_id: prepared.request.session_id.clone(),
        environment_slug: prepared.request.environment.as_ref().map(|s| s.to_string()),
    };
    let started_at = state.now_ms();
    let clock = Instant::now();
    let outcome = runtime::run(&prepared.runtime, &request).await;
    Finished {
        outcome,
        started_at,
        finished_at: state.now_ms(),
        duration_ms: clock.elapsed().as_millis() as i64,
    }
}

/// Records the execution; answers only once it is committed.
pub async fn record(
    state: &AppState,
    prepared: Prepared,
    finished: Finished,
) -> ApiResult<ExecutionRow> {
    let rev = &prepared.revision;
    let (status, output, error, input_tokens, output_tokens, cost) = match finished.outcome {
        Ok(out) => {
            let cost = out.cost_micros.unwrap_or_else(|| {
                price_tokens(
                    out.input_tokens,
                    out.output_tokens,
                    rev.input_micros_per_million,
                    rev.output_micros_per_million,
                )
            });
            let output = serde_json::to_string(&out.output).map_err(ApiError::internal)?;
            (
                "succeeded",
                Some(output),
                None,
                out.input_tokens,
                out.output_tokens,
                cost,
            )
        }
        Err(why) => ("failed", None, Some(why), 0, 0, 0),
    };

    let row = ExecutionRow {
        id: prepared.execution_id,
        tenant_id: prepared.target.tenant.as_str().to_string(),
        agent_id: prepared.target.agent.as_str().to_string(),
        revision: rev.revision,
        environment_slug: prepared
            .request
            .environment
            .map(EnvironmentSlug::into_string),
        session_id: prepared.request.session_id,
        status: status.to_string(),
        output,
        error,
        input_tokens,
        output_tokens,
        cost_micros: cost,
        started_at: finished.started_at,
        finished_at: finished.finished_at,
        duration_ms: finished.duration_ms,
        source: "api".to_string(),
    };
    let (stored, settings_url, now) = (row.clone(), state.settings.settings_url(), state.now_ms());
    let zone = prepared.zone;
    state
        .store
        .write(move |c| {
            executions::record(c, &stored)?;
            budgets::on_recorded(c, &settings_url, &stored, zone, now)
        })
        .await?;
    Ok(row)
}

/// The error a failed run is answered with, or `None` for a successful one.
pub fn failure(row: &ExecutionRow) -> Option<ApiError> {
    let error = row.error.as_deref()?;
    Some(ApiError::agent_failed(&row.id, error))
}
