//! One log line per request, with what an operator filters by: tenant, agent, environment.

use std::time::Instant;

use actix_web::HttpMessage;
use actix_web::HttpRequest;
use actix_web::body::MessageBody;
use actix_web::dev::{ServiceRequest, ServiceResponse};

use crate::error::ApiError;

/// What handlers learn about a request that the log line should carry.
#[derive(Debug, Default, Clone)]
pub struct RequestTags {
    pub tenant: Option<String>,
    pub agent: Option<String>,
    pub environment: Option<String>,
}

/// Records a tag for this request's log line.
pub fn tag(req: &HttpRequest, update: impl FnOnce(&mut RequestTags)) {
    if let Some(tags) = req.extensions_mut().get_mut::<RequestTags>() {
        update(tags);
    }
}

/// Called before the handler: starts the clock and the tags.
pub fn begin(req: &ServiceRequest) -> Instant {
    req.extensions_mut().insert(RequestTags::default());
    Instant::now()
}

/// Called with the response: writes the line. Successes are info, client mistakes warn (with
/// the reason and message), our own faults error.
pub fn finish<B: MessageBody>(res: &ServiceResponse<B>, started: Instant) {
    let status = res.status();
    let req = res.request();
    let tags = req
        .extensions()
        .get::<RequestTags>()
        .cloned()
        .unwrap_or_default();
    let micros = started.elapsed().as_micros();
    let from_path = |name: &str| req.match_info().get(name).map(str::to_string);
    let tenant = tags.tenant.or_else(|| from_path("tenant"));
    let agent = tags.agent.or_else(|| from_path("agent"));
    let line = format!(
        "{} {:?} {} tenant={} agent={} environment={} {}.{:03}ms",
        req.method(),
        req.path(),
        status.as_u16(),
        shown(tenant),
        shown(agent),
        shown(tags.environment),
        micros / 1000,
        micros % 1000,
    );

    let refusal = res
        .response()
        .error()
        .and_then(|e| e.as_error::<ApiError>());
    match refusal {
        Some(e) if status.is_server_error() => {
            log::error!("{line} reason={} message={:?}", e.reason(), e.message())
        }
        Some(e) => log::warn!("{line} reason={} message={:?}", e.reason(), e.message()),
        None if status.is_server_error() => log::error!("{line}"),
        None if status.is_client_error() => log::warn!("{line}"),
        None => log::info!("{line}"),
    }
}

/// A tag as the log line shows it: as is when it is plain (what every valid id is), else
/// quoted and escaped. Path segments arrive percent-decoded, so one could otherwise carry a
/// newline and forge a log line of its own.
fn shown(value: Option<String>) -> String {
    match value {
        None => "-".to_string(),
        Some(v) if !v.is_empty() && v.chars().all(|c| c.is_ascii_graphic() && c != '"') => v,
        Some(v) => format!("{v:?}"),
    }
}
