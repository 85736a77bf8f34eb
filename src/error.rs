//! The one error type the API answers with, and its AIP-193 JSON shape.
//!
//! Every refusal in fruxon is an `ApiError`: a status, a stable machine-readable `reason`, a
//! sentence a person can act on, and metadata naming every value the sentence mentions. It is
//! turned into HTTP in exactly one place, `ResponseError::error_response` below.

use std::fmt;

use actix_web::http::StatusCode;
use actix_web::http::header::{HeaderName, HeaderValue};
use actix_web::{HttpResponse, ResponseError};
use serde_json::{Map, Value, json};

/// An error as the client sees it.
#[derive(Debug, Clone)]
pub struct ApiError {
    status: StatusCode,
    /// The gRPC-style status word of AIP-193 (`INVALID_ARGUMENT`, `NOT_FOUND`, ...).
    status_word: &'static str,
    reason: &'static str,
    message: String,
    metadata: Map<String, Value>,
    headers: Vec<(HeaderName, String)>,
}

impl ApiError {
    fn new(status: StatusCode, word: &'static str, reason: &'static str, msg: String) -> Self {
        ApiError {
            status,
            status_word: word,
            reason,
            message: msg,
            metadata: Map::new(),
            headers: Vec::new(),
        }
    }

    /// A 400 with `INVALID_ARGUMENT` and the given reason.
    pub fn invalid(reason: &'static str, message: impl Into<String>) -> Self {
        Self::new(
            StatusCode::BAD_REQUEST,
            "INVALID_ARGUMENT",
            reason,
            message.into(),
        )
    }

    /// A 400 `INVALID_ARGUMENT` about one field of the request.
    pub fn invalid_field(field: &str, message: impl Into<String>) -> Self {
        Self::invalid("INVALID_ARGUMENT", message).with("field", field)
    }

    /// A 400 with `FAILED_PRECONDITION`: the request is fine, the state refuses it.
    pub fn failed_precondition(reason: &'static str, message: impl Into<String>) -> Self {
        Self::new(
            StatusCode::BAD_REQUEST,
            "FAILED_PRECONDITION",
            reason,
            message.into(),
        )
    }

    /// A 429: a quota is used up for now.
    pub fn resource_exhausted(reason: &'static str, message: impl Into<String>) -> Self {
        Self::new(
            StatusCode::TOO_MANY_REQUESTS,
            "RESOURCE_EXHAUSTED",
            reason,
            message.into(),
        )
    }

    pub fn unauthenticated(message: impl Into<String>) -> Self {
        Self::new(
            StatusCode::UNAUTHORIZED,
            "UNAUTHENTICATED",
            "UNAUTHENTICATED",
            message.into(),
        )
    }

    pub fn permission_denied(message: impl Into<String>) -> Self {
        Self::new(
            StatusCode::FORBIDDEN,
            "PERMISSION_DENIED",
            "PERMISSION_DENIED",
            message.into(),
        )
    }

    pub fn not_found(message: impl Into<String>) -> Self {
        Self::new(
            StatusCode::NOT_FOUND,
            "NOT_FOUND",
            "NOT_FOUND",
            message.into(),
        )
    }

    pub fn already_exists(message: impl Into<String>) -> Self {
        Self::new(
            StatusCode::CONFLICT,
            "ALREADY_EXISTS",
            "ALREADY_EXISTS",
            message.into(),
        )
    }

    pub fn payload_too_large(limit: usize) -> Self {
        let message = format!("the request body is larger than the limit of {limit} bytes");
        Self::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            "INVALID_ARGUMENT",
            "PAYLOAD_TOO_LARGE",
            message,
        )
        .with("limitBytes", limit)
    }

    pub fn method_not_allowed() -> Self {
        Self::new(
            StatusCode::METHOD_NOT_ALLOWED,
            "UNIMPLEMENTED",
            "METHOD_NOT_ALLOWED",
            "this path does not accept that HTTP method".to_string(),
        )
    }

    /// The agent's runtime failed; the execution was recorded and is named in the metadata.
    pub fn agent_failed(execution_id: &str, cause: &str) -> Self {
        let message = format!("the agent failed: {cause} (execution {execution_id})");
        Self::new(
            StatusCode::BAD_GATEWAY,
            "UNAVAILABLE",
            "AGENT_FAILED",
            message,
        )
        .with("executionId", execution_id)
        .with("error", cause)
    }

    /// A fault of ours. The client gets an opaque 500; the cause goes to the log, once, here.
    pub fn internal(cause: impl fmt::Display) -> Self {
        log::error!("internal error: {cause}");
        Self::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "INTERNAL",
            "INTERNAL",
            "fruxon hit an internal error; the operator's log has the cause".to_string(),
        )
    }

    /// The database or another dependency of ours is not answering.
    pub fn unavailable(cause: impl fmt::Display) -> Self {
        log::error!("service unavailable: {cause}");
        Self::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "UNAVAILABLE",
            "UNAVAILABLE",
            "fruxon cannot reach its database right now; retry shortly".to_string(),
        )
    }

    /// Adds one metadata entry. Numbers stay JSON numbers so that clients can compare them
    /// (`cap`, `count`) without parsing strings.
    pub fn with(mut self, key: &str, value: impl Into<Value>) -> Self {
        self.metadata.insert(key.to_string(), value.into());
        self
    }

    /// Adds a response header, for example `Retry-After`.
    pub fn with_header(mut self, name: HeaderName, value: String) -> Self {
        self.headers.push((name, value));
        self
    }

    pub fn reason(&self) -> &'static str {
        self.reason
    }

    pub fn message(&self) -> &str {
        &self.message
    }

    pub fn status(&self) -> StatusCode {
        self.status
    }

    /// The JSON body, also used as the `error` event of a stream.
    pub fn body(&self) -> Value {
        json!({
            "error": {
                "code": self.status.as_u16(),
                "status": self.status_word,
                "message": self.message,
                "details": [{
                    "@type": "type.googleapis.com/google.rpc.ErrorInfo",
                    "reason": self.reason,
                    "domain": "fruxon",
                    "metadata": self.metadata,
                }],
            }
        })
    }
}

impl fmt::Display for ApiError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} {}: {}",
            self.status.as_u16(),
            self.reason,
            self.message
        )
    }
}

impl ResponseError for ApiError {
    fn status_code(&self) -> StatusCode {
        self.status
    }

    fn error_response(&self) -> HttpResponse {
        let mut response = HttpResponse::build(self.status);
        for (name, value) in &self.headers {
            if let Ok(value) = HeaderValue::from_str(value) {
                response.insert_header((name.clone(), value));
            }
        }
        response.json(self.body())
    }
}

/// The result type of everything that answers a client.
pub type ApiResult<T> = Result<T, ApiError>;
