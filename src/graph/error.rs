//! Typed Graph errors. Each names the method and path, and for Graph's own answers the status,
//! Graph error code, message and request-id; a 403 also says which Graph permission the operation
//! needs. Messages from bodies of credential endpoints (token endpoints, `addPassword`) are never
//! included.

use std::fmt;
use std::time::Duration;

use reqwest::header::HeaderMap;
use serde_json::Value;

use super::auth::AuthError;
use super::request::Method;

/// An error answer from Graph.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiError {
    pub method: Method,
    pub path: String,
    pub status: u16,
    /// Graph's error code (`Request_ResourceNotFound`, `Authorization_RequestDenied`, ...), or
    /// `HTTP <status>` when the body had none.
    pub code: String,
    pub message: String,
    pub request_id: Option<String>,
    /// Codes from `error.details` (`ObjectConflict`, `NoBackingApplicationObject`, ...).
    pub detail_codes: Vec<String>,
    /// For 403: the permission(s) the operation needs.
    pub required_permission: Option<&'static str>,
}

impl ApiError {
    /// Read Graph's error envelope. With `sensitive`, the message is withheld.
    pub(crate) fn from_parts(
        method: Method,
        path: &str,
        status: u16,
        headers: &HeaderMap,
        body: Option<&Value>,
        sensitive: bool,
    ) -> Self {
        let error = body.map(|b| &b["error"]).unwrap_or(&Value::Null);
        let code = error["code"]
            .as_str()
            .map(str::to_string)
            .unwrap_or_else(|| format!("HTTP {status}"));
        let message = if sensitive {
            "(message withheld: this endpoint's bodies can carry credentials)".to_string()
        } else {
            error["message"].as_str().unwrap_or("").to_string()
        };
        let request_id = error["innerError"]["request-id"]
            .as_str()
            .map(str::to_string)
            .or_else(|| {
                headers
                    .get("request-id")
                    .and_then(|v| v.to_str().ok())
                    .map(str::to_string)
            });
        let detail_codes = error["details"]
            .as_array()
            .map(|d| {
                d.iter()
                    .filter_map(|x| x["code"].as_str().map(str::to_string))
                    .collect()
            })
            .unwrap_or_default();
        ApiError {
            method,
            path: path.to_string(),
            status,
            code,
            message,
            request_id,
            detail_codes,
            required_permission: (status == 403)
                .then(|| required_permission(method, path))
                .flatten(),
        }
    }

    /// The answers GRAPH.md lists as replication lag after one's own write.
    pub fn is_replication_lag(&self) -> bool {
        match self.status {
            404 => self.code == "Request_ResourceNotFound",
            400 => {
                self.detail_codes
                    .iter()
                    .any(|c| c == "NoBackingApplicationObject")
                    || self
                        .message
                        .contains("does not reference a valid application object")
            }
            409 => self.code == "Error_MsaAppDoesNotExist",
            _ => false,
        }
    }
}

impl fmt::Display for ApiError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} {}: HTTP {} {}",
            self.method, self.path, self.status, self.code
        )?;
        if !self.message.is_empty() {
            write!(f, ": {}", self.message)?;
        }
        if let Some(id) = &self.request_id {
            write!(f, " (request-id {id})")?;
        }
        if let Some(permission) = self.required_permission {
            write!(
                f,
                "\n  this operation needs the Microsoft Graph permission {permission}, granted to the identity appreg runs as"
            )?;
        }
        Ok(())
    }
}

/// Anything that can go wrong talking to Graph.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum GraphError {
    /// Graph answered with an error status.
    #[error("{0}")]
    Api(Box<ApiError>),
    /// A non-idempotent request (POST) was sent but no answer came back: it may or may not have
    /// taken effect, so it is not repeated. Re-read the object to find out.
    #[error(
        "{method} {path}: sent, but no answer came back ({reason}); it may or may not have taken effect, \
         so it was not repeated: re-read the object before trying again"
    )]
    OutcomeUnknown {
        method: Method,
        path: String,
        reason: String,
    },
    /// Graph could not be reached.
    #[error("{method} {path}: could not reach Microsoft Graph: {reason}")]
    Transport {
        method: Method,
        path: String,
        reason: String,
    },
    /// Retrying stopped (budget spent or too many attempts); `last` is the final failure.
    #[error("{last}\n  gave up retrying: {reason}")]
    GaveUp {
        reason: String,
        last: Box<GraphError>,
    },
    #[error(transparent)]
    Auth(#[from] AuthError),
    /// The answer was not the JSON expected.
    #[error("{method} {path}: unexpected response: {reason}")]
    Decode {
        method: Method,
        path: String,
        reason: String,
    },
    /// The request itself is malformed (caught before sending).
    #[error("invalid request {path}: {reason}")]
    InvalidRequest { path: String, reason: String },
    /// In a batch, a request this one depends on failed, so this one was not run.
    #[error("{method} {path}: not run because the request it depends on failed")]
    FailedDependency { method: Method, path: String },
    /// The client's configuration is unusable (a URL that may not carry tokens, ...).
    #[error("invalid Graph client configuration: {0}")]
    Config(String),
}

impl GraphError {
    /// Graph's answer behind this error, looking through retries.
    pub fn api(&self) -> Option<&ApiError> {
        match self {
            GraphError::Api(e) => Some(e),
            GraphError::GaveUp { last, .. } => last.api(),
            _ => None,
        }
    }

    pub fn status(&self) -> Option<u16> {
        self.api().map(|e| e.status)
    }

    pub fn code(&self) -> Option<&str> {
        self.api().map(|e| e.code.as_str())
    }

    /// Graph's error message (empty when the error is not an answer from Graph, or when the
    /// endpoint's messages are withheld).
    pub fn message(&self) -> &str {
        self.api().map_or("", |e| e.message.as_str())
    }

    pub fn is_not_found(&self) -> bool {
        self.status() == Some(404)
    }

    /// Whether the engine should re-observe instead of trusting that the write did or did not
    /// happen.
    pub fn is_outcome_unknown(&self) -> bool {
        matches!(self, GraphError::OutcomeUnknown { .. })
    }

    pub(crate) fn gave_up(reason: impl Into<String>, last: GraphError) -> Self {
        GraphError::GaveUp {
            reason: reason.into(),
            last: Box::new(last),
        }
    }
}

pub(crate) fn budget_reason(budget: Duration, wanted: Duration) -> String {
    format!(
        "the run's retry budget of {:.1}s is spent (the next wait would be {:.1}s); raise it or retry later",
        budget.as_secs_f64(),
        wanted.as_secs_f64()
    )
}

/// The Microsoft Graph application permission an operation needs, from its method and path.
pub fn required_permission(method: Method, path: &str) -> Option<&'static str> {
    let path = path.split('?').next().unwrap_or(path);
    let write = !method.is_read();
    let under = |prefix: &str| {
        path == prefix
            || path.starts_with(&format!("{prefix}/"))
            || path.starts_with(&format!("{prefix}("))
    };
    let has = |segment: &str| path.split('/').any(|s| s == segment);
    Some(if has("appRoleAssignedTo") || has("appRoleAssignments") {
        if write {
            "AppRoleAssignment.ReadWrite.All"
        } else {
            "Application.Read.All"
        }
    } else if under("/oauth2PermissionGrants") || has("oauth2PermissionGrants") {
        if write {
            "DelegatedPermissionGrant.ReadWrite.All"
        } else {
            "DelegatedPermissionGrant.Read.All"
        }
    } else if under("/applications")
        || under("/servicePrincipals")
        || under("/directory/deletedItems")
    {
        if write {
            "Application.ReadWrite.OwnedBy (for apps this identity owns) or Application.ReadWrite.All"
        } else {
            "Application.Read.All (or Application.ReadWrite.OwnedBy for apps this identity owns)"
        }
    } else if under("/users") {
        "User.Read.All"
    } else if under("/groups") {
        "GroupMember.Read.All"
    } else if under("/directoryObjects") {
        "Directory.Read.All"
    } else {
        return None;
    })
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn permission_hints() {
        // Each case: method, path, permission, why.
        let cases = [
            (
                Method::Patch,
                "/applications(uniqueName='a')",
                Some(
                    "Application.ReadWrite.OwnedBy (for apps this identity owns) or Application.ReadWrite.All",
                ),
                "upserting an app",
            ),
            (
                Method::Post,
                "/applications/1/addPassword",
                Some(
                    "Application.ReadWrite.OwnedBy (for apps this identity owns) or Application.ReadWrite.All",
                ),
                "credentials are part of the app",
            ),
            (
                Method::Get,
                "/applications",
                Some(
                    "Application.Read.All (or Application.ReadWrite.OwnedBy for apps this identity owns)",
                ),
                "listing apps",
            ),
            (
                Method::Post,
                "/servicePrincipals/1/appRoleAssignedTo",
                Some("AppRoleAssignment.ReadWrite.All"),
                "application permissions and user assignment",
            ),
            (
                Method::Delete,
                "/servicePrincipals/1/appRoleAssignedTo/x",
                Some("AppRoleAssignment.ReadWrite.All"),
                "removing an assignment",
            ),
            (
                Method::Post,
                "/oauth2PermissionGrants",
                Some("DelegatedPermissionGrant.ReadWrite.All"),
                "admin consent",
            ),
            (
                Method::Get,
                "/servicePrincipals/1/oauth2PermissionGrants",
                Some("DelegatedPermissionGrant.Read.All"),
                "reading grants",
            ),
            (
                Method::Get,
                "/users/a@b.c",
                Some("User.Read.All"),
                "resolving a user",
            ),
            (
                Method::Get,
                "/groups?$filter=x",
                Some("GroupMember.Read.All"),
                "resolving a group",
            ),
            (Method::Get, "/me", None, "unknown paths get no guess"),
        ];
        for (method, path, expected, why) in cases {
            assert_eq!(required_permission(method, path), expected, "{why}");
        }
    }

    #[test]
    fn api_error_reads_the_envelope() {
        let body = json!({"error": {"code": "Authorization_RequestDenied", "message": "Insufficient privileges to complete the operation.",
            "innerError": {"request-id": "rid-1", "date": "2024-01-01T00:00:00"}}});
        let e = ApiError::from_parts(
            Method::Post,
            "/oauth2PermissionGrants",
            403,
            &HeaderMap::new(),
            Some(&body),
            false,
        );
        let text = e.to_string();
        assert!(text.starts_with("POST /oauth2PermissionGrants: HTTP 403 Authorization_RequestDenied: Insufficient privileges"), "{text}");
        assert!(text.contains("(request-id rid-1)"), "{text}");
        assert!(
            text.contains("DelegatedPermissionGrant.ReadWrite.All"),
            "{text}"
        );
    }

    #[test]
    fn sensitive_messages_are_withheld() {
        let body =
            json!({"error": {"code": "Request_BadRequest", "message": "echo canary-secret"}});
        let e = ApiError::from_parts(
            Method::Post,
            "/applications/1/addPassword",
            400,
            &HeaderMap::new(),
            Some(&body),
            true,
        );
        assert!(!e.to_string().contains("canary"));
        assert_eq!(e.code, "Request_BadRequest");
    }

    #[test]
    fn replication_lag_answers() {
        let make = |status, body: Value| {
            ApiError::from_parts(
                Method::Get,
                "/x",
                status,
                &HeaderMap::new(),
                Some(&body),
                false,
            )
        };
        let cases = [
            (
                make(404, json!({"error": {"code": "Request_ResourceNotFound"}})),
                true,
                "new object not yet visible",
            ),
            (
                make(
                    400,
                    json!({"error": {"code": "Request_BadRequest", "message": "The appId 'x' of the service principal does not reference a valid application object.", "details": [{"code": "NoBackingApplicationObject"}]}}),
                ),
                true,
                "service principal before its app replicated",
            ),
            (
                make(409, json!({"error": {"code": "Error_MsaAppDoesNotExist"}})),
                true,
                "personal-account apps",
            ),
            (
                make(404, json!({"error": {"code": "Request_UnsupportedQuery"}})),
                false,
                "other 404s are real",
            ),
            (
                make(400, json!({"error": {"code": "Request_BadRequest"}})),
                false,
                "other 400s are real",
            ),
            (
                make(
                    409,
                    json!({"error": {"code": "Directory_ConcurrencyViolation"}}),
                ),
                false,
                "concurrency conflicts are not lag",
            ),
        ];
        for (e, lag, why) in cases {
            assert_eq!(e.is_replication_lag(), lag, "{why}");
        }
    }
}
