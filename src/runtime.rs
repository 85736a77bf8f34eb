//! Agent runtimes: where an agent's work actually happens.
//!
//! `echo` is built in and deterministic, for demos and tests. `http` is the team's own agent,
//! reached with a real HTTP client and a timeout. Either way the caller gets a `RunOutcome`;
//! a failure is a value here, not an error, because a failed run is still recorded.

use std::time::Duration;

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::domain::money;
use crate::error::ApiError;

/// The default time an `http` agent has to answer.
pub const DEFAULT_TIMEOUT_MS: u64 = 30_000;
/// The longest time an `http` agent may be given.
pub const MAX_TIMEOUT_MS: u64 = 600_000;
/// The largest reply accepted from an `http` agent.
const MAX_REPLY_BYTES: usize = 10 << 20;

/// How a revision runs, exactly as clients send it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "lowercase", try_from = "RuntimeBody")]
pub enum Runtime {
    Echo {},
    Http {
        url: String,
        #[serde(rename = "timeoutMs")]
        timeout_ms: u64,
    },
}

/// The runtime object as a flat struct. Deserializing this rather than the tagged enum keeps
/// the path of a wrong-typed field (`runtime.timeoutMs`) in the error, which serde's buffering
/// of tagged enums would lose.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct RuntimeBody {
    kind: String,
    url: Option<String>,
    timeout_ms: Option<u64>,
}

impl TryFrom<RuntimeBody> for Runtime {
    type Error = String;

    fn try_from(body: RuntimeBody) -> Result<Self, String> {
        match (body.kind.as_str(), body.url) {
            ("echo", None) if body.timeout_ms.is_none() => Ok(Runtime::Echo {}),
            ("echo", _) => Err("the echo runtime takes no url or timeoutMs".to_string()),
            ("http", Some(url)) => Ok(Runtime::Http {
                url,
                timeout_ms: body.timeout_ms.unwrap_or(DEFAULT_TIMEOUT_MS),
            }),
            ("http", None) => Err("the http runtime needs a url".to_string()),
            (other, _) => Err(format!(
                "unknown runtime kind '{}'; use echo or http",
                crate::domain::slug::abbreviate(other)
            )),
        }
    }
}

impl Runtime {
    /// Checks what serde cannot: the URL's shape and the timeout's range.
    pub fn validate(&self) -> Result<(), ApiError> {
        let Runtime::Http { url, timeout_ms } = self else {
            return Ok(());
        };

        let parsed: Option<awc::http::Uri> = url.parse().ok();
        let plain_http = parsed
            .as_ref()
            .is_some_and(|u| u.scheme_str() == Some("http") && u.host().is_some());
        if !plain_http {
            return Err(ApiError::invalid_field(
                "runtime.url",
                format!(
                    "runtime.url '{}' must be an absolute http:// URL such as \
                     http://127.0.0.1:9000/run",
                    crate::domain::slug::abbreviate(url)
                ),
            ));
        }

        if !(1..=MAX_TIMEOUT_MS).contains(timeout_ms) {
            return Err(ApiError::invalid_field(
                "runtime.timeoutMs",
                format!(
                    "runtime.timeoutMs must be between 1 and {MAX_TIMEOUT_MS}, got {timeout_ms}"
                ),
            )
            .with("timeoutMs", *timeout_ms));
        }
        Ok(())
    }
}

/// What a runtime is asked to do.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct RunRequest {
    pub execution_id: String,
    pub agent: String,
    pub revision: i64,
    pub parameters: Map<String, Value>,
    pub session_id: Option<String>,
    pub environment_slug: Option<String>,
}

/// What a successful run produced. `cost_micros` is set only when the agent priced itself.
#[derive(Debug)]
pub struct RunOutput {
    pub output: Value,
    pub input_tokens: i64,
    pub output_tokens: i64,
    pub cost_micros: Option<i64>,
}

/// A run either produced output or failed with a reason worth recording.
pub type RunOutcome = Result<RunOutput, String>;

/// Runs the request on the runtime.
pub async fn run(runtime: &Runtime, request: &RunRequest) -> RunOutcome {
    match runtime {
        Runtime::Echo {} => Ok(echo(request)),
        Runtime::Http { url, timeout_ms } => call_http(url, *timeout_ms, request).await,
    }
}

/// Answers with the parameters; counts about one token per four bytes of JSON in and out.
fn echo(request: &RunRequest) -> RunOutput {
    let output = Value::Object(request.parameters.clone());
    let size = serde_json::to_vec(&output).map(|v| v.len()).unwrap_or(0) as i64;
    let tokens = (size + 3) / 4;
    RunOutput {
        output,
        input_tokens: tokens,
        output_tokens: tokens,
        cost_micros: None,
    }
}

/// What an `http` agent must answer with.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct AgentReply {
    /// `None` when the field is missing; `Some(Value::Null)` when the agent sent `null`.
    #[serde(default, deserialize_with = "present")]
    output: Option<Value>,
    usage: Option<AgentUsage>,
    cost_usd: Option<f64>,
}

/// Any value that is there, `null` included; serde's `default` covers the missing field.
fn present<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<Value>, D::Error> {
    Value::deserialize(d).map(Some)
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct AgentUsage {
    input_tokens: u32,
    output_tokens: u32,
}

thread_local! {
    // awc clients are tied to the worker thread's runtime; one per thread keeps connections
    // to the agents alive between runs.
    static CLIENT: awc::Client = awc::Client::builder()
        .disable_redirects()
        .timeout(Duration::from_millis(MAX_TIMEOUT_MS))
        .finish();
}

async fn call_http(url: &str, timeout_ms: u64, request: &RunRequest) -> RunOutcome {
    let timeout = Duration::from_millis(timeout_ms);
    let sent = CLIENT.with(|client| client.post(url).timeout(timeout).send_json(request));
    let response = sent.await.map_err(|e| match e {
        awc::error::SendRequestError::Timeout => {
            format!("the agent did not answer within {timeout_ms} ms")
        }
        awc::error::SendRequestError::Connect(e) => {
            format!("the agent at {url} is unreachable: {e}")
        }
        other => format!("the request to the agent failed: {other}"),
    })?;

    let status = response.status();
    let body = response
        .timeout(timeout)
        .body()
        .limit(MAX_REPLY_BYTES)
        .await
        .map_err(|e| format!("the agent's reply could not be read: {e}"))?;
    if !status.is_success() {
        let excerpt = String::from_utf8_lossy(&body[..body.len().min(200)]).into_owned();
        return Err(format!(
            "the agent answered HTTP {}: {excerpt}",
            status.as_u16()
        ));
    }

    let reply: AgentReply = serde_json::from_slice(&body)
        .map_err(|e| format!("the agent's reply is not the expected JSON: {e}"))?;
    let output = reply
        .output
        .ok_or("the agent's reply has no 'output' field")?;
    let (input_tokens, output_tokens) = reply
        .usage
        .map(|u| (u.input_tokens as i64, u.output_tokens as i64))
        .unwrap_or((0, 0));
    let cost_micros = reply
        .cost_usd
        .map(|usd| {
            money::usd_to_nearest_micros(usd).map_err(|why| format!("the agent's costUsd {why}"))
        })
        .transpose()?;

    Ok(RunOutput {
        output,
        input_tokens,
        output_tokens,
        cost_micros,
    })
}
