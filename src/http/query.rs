//! Query strings, parsed as strictly as bodies.

use actix_web::HttpRequest;
use serde::de::DeserializeOwned;

use crate::error::{ApiError, ApiResult};
use crate::http::body;

/// Parses the query string into `T` (which should deny unknown fields).
pub fn parse<T: DeserializeOwned>(req: &HttpRequest) -> ApiResult<T> {
    serde_urlencoded::from_str(req.query_string()).map_err(|e| {
        let message = e.to_string();
        match message.split_once("unknown field `") {
            Some((_, rest)) => {
                let name = rest.split('`').next().unwrap_or_default().to_string();
                let known = body::expected_fields(rest);
                let suggestion = body::closest(&name, &known);
                let mut message = format!("unknown query parameter '{name}'");
                match &suggestion {
                    Some(s) => message.push_str(&format!("; did you mean {s}?")),
                    None if known.is_empty() => message.push_str("; this path takes none"),
                    None => message.push_str(&format!("; known ones are {}", known.join(", "))),
                }
                let error = ApiError::invalid("UNKNOWN_FIELD", message).with("field", name);
                match suggestion {
                    Some(s) => error.with("suggestion", s),
                    None => error,
                }
            }
            None => {
                ApiError::invalid_field("query", format!("the query string is invalid: {message}"))
            }
        }
    })
}
