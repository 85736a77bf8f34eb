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
                let none = "this path takes no query parameters";
                body::unknown_name("query parameter", &name, &name, &known, none)
            }
            None => {
                ApiError::invalid_field("query", format!("the query string is invalid: {message}"))
            }
        }
    })
}
