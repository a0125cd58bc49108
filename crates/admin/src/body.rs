//! The small JSON bodies of the token and partner-zone calls: one object, only the fields a
//! call knows, each error naming the field.

use axum::body::Bytes;
use axum::http::StatusCode;
use serde_json::{Map, Value};

use crate::v2::ApiError;

pub(crate) fn invalid(msg: impl Into<String>) -> ApiError {
    ApiError::new(
        StatusCode::BAD_REQUEST,
        "Invalid request",
        msg,
        "INVALID_RESOURCE",
    )
}

/// The body as a JSON object with only `allowed` fields (an empty body: no field).
pub(crate) fn object(body: &Bytes, allowed: &[&str]) -> Result<Map<String, Value>, ApiError> {
    if body.is_empty() {
        return Ok(Map::new());
    }
    let value: Value = serde_json::from_slice(body)
        .map_err(|e| invalid(format!("(document): not valid JSON: {e}")))?;
    let Value::Object(map) = value else {
        return Err(invalid("(document): expected a JSON object"));
    };
    if let Some(unknown) = map.keys().find(|k| !allowed.contains(&k.as_str())) {
        return Err(invalid(format!(
            "{unknown}: unknown field (expected {})",
            allowed.join(", ")
        )));
    }
    Ok(map)
}

pub(crate) fn string<'a>(
    map: &'a Map<String, Value>,
    field: &str,
) -> Result<Option<&'a str>, ApiError> {
    match map.get(field) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => Ok(Some(s)),
        Some(_) => Err(invalid(format!("{field}: expected a string"))),
    }
}

pub(crate) fn required<'a>(map: &'a Map<String, Value>, field: &str) -> Result<&'a str, ApiError> {
    string(map, field)?.ok_or_else(|| invalid(format!("{field}: required")))
}

/// `lifeTimeSeconds`, required: a token's lifetime within the bounds tokens may have.
pub(crate) fn lifetime_seconds(map: &Map<String, Value>) -> Result<u64, ApiError> {
    use crate::tokens::{MAX_LIFETIME_SECS, MIN_LIFETIME_SECS};
    match map.get("lifeTimeSeconds") {
        None | Some(Value::Null) => Err(invalid("lifeTimeSeconds: required")),
        Some(v) => v
            .as_u64()
            .filter(|s| (MIN_LIFETIME_SECS..=MAX_LIFETIME_SECS).contains(s))
            .ok_or_else(|| {
                invalid(format!(
                    "lifeTimeSeconds: must be a whole number of seconds from {MIN_LIFETIME_SECS} to {MAX_LIFETIME_SECS} (one year)"
                ))
            }),
    }
}
