//! JSON request bodies: size limit, strict fields with "did you mean" hints, and errors that
//! name the offending field.

use std::future::Future;
use std::pin::Pin;

use actix_web::dev::Payload;
use actix_web::web::Bytes;
use actix_web::{FromRequest, HttpRequest, web};
use serde::de::DeserializeOwned;

use crate::auth::Caller;
use crate::error::ApiError;
use crate::http::auth::Admin;

/// The largest request body accepted.
pub const MAX_BODY_BYTES: usize = 1 << 20;

/// A request body parsed into `T`, whose fields must all be known (`deny_unknown_fields`).
pub struct JsonBody<T>(pub T);

impl<T: DeserializeOwned + 'static> FromRequest for JsonBody<T> {
    type Error = ApiError;
    type Future = Pin<Box<dyn Future<Output = Result<Self, ApiError>>>>;

    fn from_request(req: &HttpRequest, payload: &mut Payload) -> Self::Future {
        let read = read_limited(req, payload);
        Box::pin(async move { parse(&read.await?).map(JsonBody) })
    }
}

/// An admin caller and a JSON body parsed into `T`, checked in that order.
///
/// Separate `Admin` and `JsonBody` arguments would race: actix polls a handler's extractors
/// together, so a malformed body could be answered before the key is found to be unknown,
/// telling a stranger about the endpoint. Here the body is not even read until the caller
/// has passed.
pub struct AdminJson<T>(pub Caller, pub T);

impl<T: DeserializeOwned + 'static> FromRequest for AdminJson<T> {
    type Error = ApiError;
    type Future = Pin<Box<dyn Future<Output = Result<Self, ApiError>>>>;

    fn from_request(req: &HttpRequest, payload: &mut Payload) -> Self::Future {
        let admin = Admin::from_request(req, payload);
        let read = read_limited(req, payload);
        Box::pin(async move {
            let Admin(caller) = admin.await?;

            let body = parse(&read.await?)?;
            Ok(AdminJson(caller, body))
        })
    }
}

/// The raw body, or why it could not be read. It never fails as an extractor, so a handler
/// can report an authentication failure before a body problem, as the contract orders.
pub struct RawBody(pub Result<Bytes, ApiError>);

impl FromRequest for RawBody {
    type Error = ApiError;
    type Future = Pin<Box<dyn Future<Output = Result<Self, ApiError>>>>;

    fn from_request(req: &HttpRequest, payload: &mut Payload) -> Self::Future {
        let read = read_limited(req, payload);
        Box::pin(async move { Ok(RawBody(read.await)) })
    }
}

/// Reads the body up to `MAX_BODY_BYTES`.
fn read_limited(
    req: &HttpRequest,
    payload: &mut Payload,
) -> impl Future<Output = Result<Bytes, ApiError>> + 'static {
    let declared = req
        .headers()
        .get(actix_web::http::header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    let payload = web::Payload::from_request(req, payload).into_inner();
    async move {
        // A declared length over the limit is refused before reading a byte of it.
        if declared.is_some_and(|n| n > MAX_BODY_BYTES as u64) {
            return Err(ApiError::payload_too_large(MAX_BODY_BYTES));
        }
        let payload = payload.map_err(ApiError::internal)?;
        match payload.to_bytes_limited(MAX_BODY_BYTES).await {
            Err(_) => Err(ApiError::payload_too_large(MAX_BODY_BYTES)),
            Ok(Err(e)) => Err(ApiError::invalid(
                "MALFORMED_JSON",
                format!("the request body could not be read: {e}"),
            )),
            Ok(Ok(bytes)) => Ok(bytes),
        }
    }
}

/// Parses a JSON body into `T`, turning serde's complaints into the API's errors.
pub fn parse<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, ApiError> {
    if bytes.iter().all(u8::is_ascii_whitespace) {
        return Err(ApiError::invalid(
            "MALFORMED_JSON",
            "the request body is empty; send a JSON object",
        ));
    }

    let mut de = serde_json::Deserializer::from_slice(bytes);
    let value: T = serde_path_to_error::deserialize(&mut de).map_err(|e| refusal(&e))?;
    de.end().map_err(|e| malformed(&e))?;
    Ok(value)
}

fn malformed(e: &serde_json::Error) -> ApiError {
    ApiError::invalid(
        "MALFORMED_JSON",
        format!(
            "the request body is not valid JSON: {} at line {}, column {}",
            strip_position(&e.to_string()),
            e.line(),
            e.column()
        ),
    )
    .with("line", e.line())
    .with("column", e.column())
}

/// serde_json appends " at line L column C" to its messages; ours say it in their own words.
fn strip_position(message: &str) -> &str {
    message.split(" at line ").next().unwrap_or(message)
}

fn refusal(e: &serde_path_to_error::Error<serde_json::Error>) -> ApiError {
    let inner = e.inner();
    if inner.is_syntax() || inner.is_eof() {
        return malformed(inner);
    }

    let path = e.path().to_string();
    let message = strip_position(&inner.to_string()).to_string();

    if let Some(unknown) = quoted(&message, "unknown field `") {
        return unknown_field(&path, &unknown, &expected_fields(&message));
    }

    if let Some(missing) = quoted(&message, "missing field `") {
        let field = join(&path, &missing);
        return ApiError::invalid_field(&field, format!("{field} is required"));
    }

    if let Some(twice) = quoted(&message, "duplicate field `") {
        let field = if path.ends_with(&twice) {
            path
        } else {
            join(&path, &twice)
        };
        return ApiError::invalid_field(&field, format!("{field} appears more than once"));
    }

    let field = if path == "." {
        "body".to_string()
    } else {
        path
    };
    ApiError::invalid_field(&field, format!("{field}: {}", readable(&message)))
}

/// The unknown field's full path, and the closest known name when one is close enough that a
/// typo is the likely story (`environment_slug` for `environmentSlug`).
fn unknown_field(path: &str, unknown: &str, expected: &[String]) -> ApiError {
    // The path usually ends with the unknown key already; inside an internally tagged enum
    // (`runtime`) serde buffers the object and the path stops at its parent.
    let field = if path.ends_with(unknown) {
        path.to_string()
    } else {
        join(path, unknown)
    };
    unknown_name(
        "field",
        &field,
        unknown,
        expected,
        "this object takes no fields",
    )
}

/// `UNKNOWN_FIELD` for a body field or a query parameter (`what`) called `shown`, with the
/// closest of the `expected` names to `unknown` when a typo is the likely story, else the
/// names it could have been (or `none_known` when there are none).
pub(super) fn unknown_name(
    what: &str,
    shown: &str,
    unknown: &str,
    expected: &[String],
    none_known: &str,
) -> ApiError {
    let suggestion = closest(unknown, expected);

    let mut message = format!("unknown {what} '{shown}'");
    match &suggestion {
        Some(s) => message.push_str(&format!("; did you mean {s}?")),
        None if expected.is_empty() => message.push_str(&format!("; {none_known}")),
        None => message.push_str(&format!("; known {what}s are {}", expected.join(", "))),
    }

    let mut error = ApiError::invalid("UNKNOWN_FIELD", message).with("field", shown);
    if let Some(s) = suggestion {
        error = error.with("suggestion", s);
    }
    error
}

fn join(path: &str, field: &str) -> String {
    if path == "." {
        field.to_string()
    } else {
        format!("{path}.{field}")
    }
}

/// The text between `prefix` and the next backtick in `message`.
fn quoted(message: &str, prefix: &str) -> Option<String> {
    let rest = message.split_once(prefix)?.1;
    Some(rest.split('`').next()?.to_string())
}

/// serde's "expected one of `a`, `b`" (or "expected `a`") as a list.
pub(super) fn expected_fields(message: &str) -> Vec<String> {
    let Some((_, rest)) = message.split_once("expected ") else {
        return Vec::new();
    };
    rest.split('`')
        .skip(1)
        .step_by(2)
        .map(str::to_string)
        .collect()
}

/// serde phrases types as Rust sees them; clients think in JSON.
fn readable(message: &str) -> String {
    message
        .replace("a map", "an object")
        .replace("map", "object")
        .replace("a sequence", "an array")
        .replace("i64", "an integer")
        .replace("u64", "a non-negative integer")
        .replace("u32", "a non-negative integer")
        .replace("f64", "a number")
}

/// The known field closest to `unknown`, ignoring case and `_`/`-`, within a small edit distance.
fn closest(unknown: &str, known: &[String]) -> Option<String> {
    let norm = |s: &str| -> String {
        s.chars()
            .filter(|c| *c != '_' && *c != '-')
            .flat_map(char::to_lowercase)
            .collect()
    };
    let target = norm(unknown);
    known
        .iter()
        .map(|k| (distance(&target, &norm(k)), k))
        .filter(|(d, k)| *d <= 2.max(k.len() / 4))
        .min_by_key(|(d, _)| *d)
        .map(|(_, k)| k.clone())
}

/// Levenshtein distance over characters.
fn distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut row: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut previous = row[0];
        row[0] = i + 1;
        for (j, cb) in b.iter().enumerate() {
            let substitution = previous + usize::from(ca != *cb);
            previous = row[j + 1];
            row[j + 1] = substitution.min(row[j] + 1).min(row[j + 1] + 1);
        }
    }
    row[b.len()]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn closest_field_ignores_case_and_separators() {
        let known = vec!["parameters".to_string(), "environmentSlug".to_string()];
        assert_eq!(
            closest("environment_slug", &known).as_deref(),
            Some("environmentSlug")
        );
        assert_eq!(closest("paramters", &known).as_deref(), Some("parameters"));
        assert_eq!(closest("colour", &known), None);
    }
}
