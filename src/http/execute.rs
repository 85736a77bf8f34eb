//! Handlers for `:execute` and `:stream`, latest or pinned revision.

use std::convert::Infallible;
use std::pin::Pin;
use std::task::{Context, Poll};

use actix_web::web::Bytes;
use actix_web::{HttpRequest, HttpResponse, web};
use serde_json::{Value, json};
use tokio::sync::mpsc;

use crate::auth::presented_key;
use crate::error::{ApiError, ApiResult};
use crate::execute::{self, Admission, ExecuteBody, Prepared};
use crate::executions::execution_json;
use crate::http::agents::agent_in_path;
use crate::http::auth::{key_header, path_tenant};
use crate::http::body::{self, RawBody};
use crate::http::log::tag;
use crate::state::AppState;

/// Everything both forms check before a run starts, in the contract's order: the key, the
/// body, the slug, the agent and revision, the environment.
async fn admit(state: &AppState, req: &HttpRequest, body: RawBody) -> ApiResult<Prepared> {
    let key_hash = presented_key(key_header(req))?;

    let body = body
        .0
        .and_then(|b| body::parse::<ExecuteBody>(&b))
        .and_then(ExecuteBody::validate);
    if let Ok(request) = &body {
        tag(req, |t| {
            t.environment = request.environment.as_ref().map(|s| s.to_string())
        });
    }
    let admission = Admission {
        key_hash,
        path_tenant: path_tenant(req),
        agent: agent_in_path(req),
        revision: req
            .match_info()
            .get("revision")
            .map(parse_revision)
            .transpose(),
        body,
    };
    execute::admit(state, admission).await
}

fn parse_revision(raw: &str) -> ApiResult<i64> {
    raw.parse::<i64>().ok().filter(|n| *n >= 1).ok_or_else(|| {
        ApiError::not_found(format!(
            "revision '{}' does not exist; revisions are numbered from 1",
            crate::domain::slug::abbreviate(raw)
        ))
        .with("revision", raw)
    })
}

pub async fn execute(
    state: web::Data<AppState>,
    req: HttpRequest,
    body: RawBody,
) -> ApiResult<HttpResponse> {
    let prepared = admit(&state, &req, body).await?;

    let finished = execute::run(&state, &prepared).await;
    let row = execute::record(&state, prepared, finished).await?;

    match execute::failure(&row) {
        Some(error) => Err(error),
        None => Ok(HttpResponse::Ok().json(execution_json(&row))),
    }
}

pub async fn stream(
    state: web::Data<AppState>,
    req: HttpRequest,
    body: RawBody,
) -> ApiResult<HttpResponse> {
    let prepared = admit(&state, &req, body).await?;

    // Everything that can be refused has been; from here on the answer is a 200 stream and a
    // failure is reported as its `error` event.
    let (events, receiver) = mpsc::channel::<Bytes>(4);
    let started = json!({
        "executionId": prepared.execution_id,
        "agent": prepared.target.agent.as_str(),
        "revision": prepared.revision.revision,
        "sessionId": prepared.request.session_id,
        "environmentSlug": prepared.request.environment.as_ref().map(|s| s.as_str()),
    });
    let _ = events.try_send(event("execution", &started));

    // The request's own log line went out with the headers; the stream's outcome gets one
    // of its own, so a failure inside it is not hidden behind that 200.
    let summary = format!(
        "stream {} tenant={} agent={} environment={}",
        prepared.execution_id,
        prepared.target.tenant,
        prepared.target.agent,
        prepared
            .request
            .environment
            .as_ref()
            .map_or("-", |s| s.as_str()),
    );
    let clock = std::time::Instant::now();
    let state = state.into_inner();
    actix_web::rt::spawn(async move {
        let finished = execute::run(&state, &prepared).await;
        if let Ok(out) = &finished.outcome {
            let _ = events
                .send(event("delta", &json!({"output": out.output})))
                .await;
        }
        // The record is written even if the client has gone; the sends below then go nowhere.
        let recorded = execute::record(&state, prepared, finished).await;
        let ms = clock.elapsed().as_millis();
        let last = match recorded.map(|row| (execute::failure(&row), row)) {
            Ok((None, row)) => {
                log::info!("{summary} succeeded {ms}ms");
                event("done", &execution_json(&row))
            }
            Ok((Some(error), _)) | Err(error) => {
                let (reason, message) = (error.reason(), error.message());
                log::warn!("{summary} failed {ms}ms reason={reason} message={message:?}");
                event("error", &error.body())
            }
        };
        let _ = events.send(last).await;
    });

    Ok(HttpResponse::Ok()
        .content_type("text/event-stream")
        .insert_header(("Cache-Control", "no-cache"))
        .streaming(EventStream(receiver)))
}

/// One server-sent event.
fn event(name: &str, data: &Value) -> Bytes {
    Bytes::from(format!("event: {name}\ndata: {data}\n\n"))
}

/// The events of one stream, as the body actix sends.
struct EventStream(mpsc::Receiver<Bytes>);

impl futures_core::Stream for EventStream {
    type Item = Result<Bytes, Infallible>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        self.0.poll_recv(cx).map(|next| next.map(Ok))
    }
}
