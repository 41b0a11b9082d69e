//! Errors as the API server sends them: a `Status` object with the HTTP code,
//! a machine-readable reason and the message kubectl prints after
//! `Error from server (Reason):`.

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use guardian_kube_types::{BrokerError, ResourceKind};
use serde_json::{Map, Value, json};

/// A failed request, ready to become a `Status` response.
#[derive(Clone, Debug, PartialEq)]
pub struct ApiError {
    pub code: StatusCode,
    /// `NotFound`, `BadRequest`, `Invalid`, `Conflict`, `MethodNotAllowed`…
    pub reason: &'static str,
    pub message: String,
    /// `{"name": …, "group": …, "kind": <plural>}` when about one object.
    pub details: Map<String, Value>,
}

impl ApiError {
    pub fn new(code: StatusCode, reason: &'static str, message: impl Into<String>) -> Self {
        Self {
            code,
            reason,
            message: message.into(),
            details: Map::new(),
        }
    }

    /// Name the object (or the resource) concerned, as the API server does.
    pub fn about(mut self, kind: &ResourceKind, name: Option<&str>) -> Self {
        if let Some(name) = name {
            self.details.insert("name".into(), json!(name));
        }
        if !kind.group.is_empty() {
            self.details.insert("group".into(), json!(kind.group));
        }
        self.details.insert("kind".into(), json!(kind.plural));
        self
    }

    pub fn bad_request(message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, "BadRequest", message)
    }

    /// The API server's answer for a path it does not serve.
    pub fn no_such_path() -> Self {
        Self::new(
            StatusCode::NOT_FOUND,
            "NotFound",
            "the server could not find the requested resource",
        )
    }

    /// `pods "x" not found`, with the API server's exact wording.
    pub fn object_not_found(kind: &ResourceKind, name: &str) -> Self {
        Self::new(
            StatusCode::NOT_FOUND,
            "NotFound",
            format!("{} \"{name}\" not found", kind.grant_name()),
        )
        .about(kind, Some(name))
    }

    pub fn method_not_allowed(message: impl Into<String>) -> Self {
        Self::new(StatusCode::METHOD_NOT_ALLOWED, "MethodNotAllowed", message)
    }

    pub fn unsupported_media_type(message: impl Into<String>) -> Self {
        Self::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "UnsupportedMediaType",
            message,
        )
    }

    /// A broker error on a read: a request that cannot be answered is a 400
    /// (a selector that does not parse, a container that is not in the pod).
    pub fn from_read(error: BrokerError) -> Self {
        match error {
            BrokerError::Invalid(m) => Self::bad_request(m),
            other => Self::from_broker(other),
        }
    }

    /// A broker error on a write: a change that does not apply is a 422
    /// Invalid, as the API server answers a JSON Patch whose `test` fails.
    /// `field` names what was invalid (`patch`, the object): kubectl prints
    /// an Invalid Status that names an object only through its causes, so
    /// the message is carried as one.
    pub fn from_write(error: BrokerError, field: &str) -> Self {
        match error {
            BrokerError::Invalid(m) => {
                let mut invalid = Self::new(StatusCode::UNPROCESSABLE_ENTITY, "Invalid", m);
                invalid.details.insert(
                    "causes".into(),
                    json!([{"reason": "FieldValueInvalid", "message": invalid.message, "field": field}]),
                );
                invalid
            }
            other => Self::from_broker(other),
        }
    }

    fn from_broker(error: BrokerError) -> Self {
        let (code, reason) = match &error {
            BrokerError::NotFound(_) => (StatusCode::NOT_FOUND, "NotFound"),
            BrokerError::Invalid(_) => (StatusCode::BAD_REQUEST, "BadRequest"),
            BrokerError::Conflict(_) => (StatusCode::CONFLICT, "Conflict"),
            BrokerError::Unavailable(_) => (StatusCode::SERVICE_UNAVAILABLE, "ServiceUnavailable"),
            BrokerError::Denied(_) | BrokerError::OutOfScope(_) => {
                (StatusCode::FORBIDDEN, "Forbidden")
            }
            BrokerError::TooLarge(_) => (StatusCode::PAYLOAD_TOO_LARGE, "RequestEntityTooLarge"),
            BrokerError::Timeout(_) => (StatusCode::GATEWAY_TIMEOUT, "Timeout"),
            BrokerError::Internal(_) => (StatusCode::INTERNAL_SERVER_ERROR, "InternalError"),
        };
        Self::new(code, reason, error.message())
    }

    /// The `Status` object.
    pub fn to_status(&self) -> Value {
        json!({
            "kind": "Status",
            "apiVersion": "v1",
            "metadata": {},
            "status": "Failure",
            "message": self.message,
            "reason": self.reason,
            "details": self.details,
            "code": self.code.as_u16(),
        })
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        json_response(self.code, &self.to_status())
    }
}

/// A JSON body with `Content-Type: application/json`.
pub fn json_response(code: StatusCode, body: &Value) -> Response {
    json_bytes(code, serde_json::to_vec(body).unwrap_or_default())
}

/// Already-serialized JSON.
pub fn json_bytes(code: StatusCode, body: Vec<u8>) -> Response {
    let mut response = (code, body).into_response();
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    response
}
