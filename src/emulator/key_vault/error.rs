//! Key Vault's error answers: `{"error": {"code", "message", "innererror"?: {"code"}}}`, a
//! different envelope from Graph's (no request ids inside, a nested code instead of details).

use axum::http::StatusCode;
use serde_json::{Value, json};

#[derive(Debug, Clone, PartialEq)]
pub struct VaultError {
    pub status: StatusCode,
    pub code: String,
    pub message: String,
    /// `innererror.code`, the finer reason some refusals carry.
    pub inner: Option<String>,
    pub headers: Vec<(&'static str, String)>,
}

impl VaultError {
    pub fn new(status: StatusCode, code: &str, message: impl Into<String>) -> Self {
        VaultError {
            status,
            code: code.to_string(),
            message: message.into(),
            inner: None,
            headers: Vec::new(),
        }
    }

    pub fn with_inner(mut self, code: &str) -> Self {
        self.inner = Some(code.to_string());
        self
    }

    pub fn with_header(mut self, name: &'static str, value: impl Into<String>) -> Self {
        self.headers.push((name, value.into()));
        self
    }

    /// 400 BadParameter, Key Vault's refusal of a malformed request.
    pub fn bad_parameter(message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, "BadParameter", message)
    }

    /// 404 SecretNotFound for a name, or `name/version`.
    pub fn secret_not_found(id: &str) -> Self {
        Self::new(
            StatusCode::NOT_FOUND,
            "SecretNotFound",
            format!(
                "A secret with (name/id) {id} was not found in this key vault. If you recently deleted this secret you may be able to recover it using the correct recovery command. For help resolving this issue, please see https://go.microsoft.com/fwlink/?linkid=2125182"
            ),
        )
    }

    /// 404 for a name that is not among the deleted secrets.
    pub fn deleted_not_found(name: &str) -> Self {
        Self::new(
            StatusCode::NOT_FOUND,
            "SecretNotFound",
            format!("Deleted Secret not found: {name}"),
        )
    }

    pub fn body(&self) -> Value {
        let mut error = json!({"code": self.code, "message": self.message});
        if let Some(inner) = &self.inner {
            error["innererror"] = json!({"code": inner});
        }
        json!({ "error": error })
    }
}
