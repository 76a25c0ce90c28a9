//! Graph's error answers: status, code, message and the `{"error": {...}}` envelope.
//!
//! Every refusal the emulator makes goes through [`GraphError`], so the envelope shape (and the
//! `innerError` request ids clients log) is identical for every endpoint and for `$batch` items.

use axum::http::StatusCode;
use serde_json::{Value, json};

/// One error answer of the Graph surface, rendered into Graph's envelope by [`GraphError::body`].
#[derive(Debug, Clone, PartialEq)]
pub struct GraphError {
    pub status: StatusCode,
    pub code: String,
    pub message: String,
    /// `details` entries as `(code, message, target)`.
    pub details: Vec<(String, String, String)>,
    /// Extra response headers (Retry-After, throttle scope, ...).
    pub headers: Vec<(&'static str, String)>,
}

impl GraphError {
    pub fn new(status: StatusCode, code: &str, message: impl Into<String>) -> Self {
        GraphError {
            status,
            code: code.to_string(),
            message: message.into(),
            details: Vec::new(),
            headers: Vec::new(),
        }
    }

    pub fn with_detail(mut self, code: &str, message: impl Into<String>, target: &str) -> Self {
        self.details
            .push((code.to_string(), message.into(), target.to_string()));
        self
    }

    pub fn with_header(mut self, name: &'static str, value: impl Into<String>) -> Self {
        self.headers.push((name, value.into()));
        self
    }

    /// 404 Request_ResourceNotFound, worded as Graph words it for directory objects.
    pub fn not_found(id: &str) -> Self {
        Self::new(
            StatusCode::NOT_FOUND,
            "Request_ResourceNotFound",
            format!(
                "Resource '{id}' does not exist or one of its queried reference-property objects are not present."
            ),
        )
    }

    /// 400 Request_BadRequest, the directory's generic refusal.
    pub fn bad_request(message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, "Request_BadRequest", message)
    }

    /// 400 BadRequest, the code the Graph gateway (URL, OData and batch parsing) uses.
    pub fn gateway_bad_request(message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, "BadRequest", message)
    }

    /// 400 Request_UnsupportedQuery.
    pub fn unsupported_query(message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, "Request_UnsupportedQuery", message)
    }

    /// 400 for a property value the directory rejects, with the detail Graph attaches.
    pub fn invalid_value(property: &str, resource: &str) -> Self {
        Self::bad_request(format!(
            "Invalid value specified for property '{property}' of resource '{resource}'."
        ))
        .with_detail(
            "InvalidValue",
            format!("Invalid value specified for property '{property}' of resource '{resource}'."),
            property,
        )
    }

    /// 400 for an unparsable object id in the URL.
    pub fn invalid_id(id: &str) -> Self {
        Self::bad_request(format!("Invalid object identifier '{id}'."))
    }

    /// 401 InvalidAuthenticationToken.
    pub fn unauthenticated(message: &str) -> Self {
        Self::new(
            StatusCode::UNAUTHORIZED,
            "InvalidAuthenticationToken",
            message,
        )
    }

    /// 405 for a method the path does not serve.
    pub fn method_not_allowed() -> Self {
        Self::new(
            StatusCode::METHOD_NOT_ALLOWED,
            "Request_BadRequest",
            "Specified HTTP method is not allowed for the request uri.",
        )
    }

    /// 400 for a URL segment Graph does not know (the OData router's wording).
    pub fn unknown_segment(segment: &str) -> Self {
        Self::gateway_bad_request(format!("Resource not found for the segment '{segment}'."))
    }

    /// The JSON envelope, stamped with the request ids of the answer it travels in.
    pub fn body(&self, request_id: &str, client_request_id: &str) -> Value {
        let mut error = json!({
            "code": self.code,
            "message": self.message,
            "innerError": {
                "date": chrono::Utc::now().format("%Y-%m-%dT%H:%M:%S").to_string(),
                "request-id": request_id,
                "client-request-id": client_request_id,
            }
        });
        if !self.details.is_empty() {
            error["details"] = self
                .details
                .iter()
                .map(|(code, message, target)| {
                    json!({"code": code, "message": message, "target": target})
                })
                .collect();
        }
        json!({ "error": error })
    }
}

/// Result of a Graph operation.
pub type GraphResult<T> = Result<T, GraphError>;
