//! Graph requests and responses as plain values: building a request does no IO, so the engine can
//! construct, inspect and test requests without a server (kube-rs style). [`crate::graph::GraphClient`]
//! sends them.

use std::fmt;

use reqwest::header::HeaderMap;
use serde_json::Value;

/// HTTP methods appreg uses against Graph.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Method {
    Get,
    Post,
    Patch,
    Put,
    Delete,
}

impl Method {
    pub fn as_str(self) -> &'static str {
        match self {
            Method::Get => "GET",
            Method::Post => "POST",
            Method::Patch => "PATCH",
            Method::Put => "PUT",
            Method::Delete => "DELETE",
        }
    }

    /// Whether sending the request twice has the effect of sending it once. Graph's PATCH
    /// (including the `Prefer: create-if-missing` upsert) sets values, so it qualifies; POST
    /// creates or acts, so it does not.
    pub fn is_idempotent(self) -> bool {
        !matches!(self, Method::Post)
    }

    pub fn is_read(self) -> bool {
        matches!(self, Method::Get)
    }

    pub(crate) fn to_reqwest(self) -> reqwest::Method {
        match self {
            Method::Get => reqwest::Method::GET,
            Method::Post => reqwest::Method::POST,
            Method::Patch => reqwest::Method::PATCH,
            Method::Put => reqwest::Method::PUT,
            Method::Delete => reqwest::Method::DELETE,
        }
    }
}

impl fmt::Display for Method {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Actions whose request or response bodies carry credentials (`secretText`, proof-of-possession
/// JWTs). Their bodies are never logged and their error messages never quoted.
const SENSITIVE_ACTIONS: [&str; 3] = ["addPassword", "addKey", "removeKey"];

/// One Graph request.
///
/// - `path` is relative to `/v1.0` and already encoded: build names into it with
///   [`crate::graph::odata::key`] / [`crate::graph::odata::segment`]. It may not contain `?` or `#`;
///   query parameters go in `query` (encoded when sent). An absolute `@odata.nextLink` is also
///   accepted as the path (to continue paging a batch item's answer); it is sent to the client's
///   own Graph URL whatever host it names.
/// - `just_written`: the request touches an object this run just wrote, so Graph's
///   replication-lag answers (404 `Request_ResourceNotFound`, 400 `NoBackingApplicationObject`,
///   409 `Error_MsaAppDoesNotExist`) are retried instead of reported.
/// - `depends_on`: only for [`crate::graph::GraphClient::batch`]: indices of earlier requests in
///   the same call that must succeed first (Graph's `dependsOn`). Ignored by `send`.
/// - `sensitive`: the bodies carry credentials; set automatically for `addPassword`, `addKey` and
///   `removeKey`.
/// - `repeatable`: a POST whose second sending has the effect of the first (an action such as
///   `removePassword`), so a lost answer is retried like a PATCH's instead of ending in
///   `OutcomeUnknown`. Set with [`Request::repeatable`].
#[derive(Clone, PartialEq)]
pub struct Request {
    pub method: Method,
    pub path: String,
    pub query: Vec<(String, String)>,
    pub headers: Vec<(String, String)>,
    pub body: Option<Value>,
    pub just_written: bool,
    pub depends_on: Vec<usize>,
    pub sensitive: bool,
    pub repeatable: bool,
}

impl Request {
    pub fn new(method: Method, path: impl Into<String>, body: Option<Value>) -> Self {
        let path = path.into();
        let sensitive = path
            .rsplit('/')
            .next()
            .is_some_and(|last| SENSITIVE_ACTIONS.contains(&last));
        Request {
            method,
            path,
            query: Vec::new(),
            headers: Vec::new(),
            body,
            just_written: false,
            depends_on: Vec::new(),
            sensitive,
            repeatable: false,
        }
    }

    pub fn get(path: impl Into<String>) -> Self {
        Request::new(Method::Get, path, None)
    }

    pub fn post(path: impl Into<String>, body: Value) -> Self {
        Request::new(Method::Post, path, Some(body))
    }

    pub fn patch(path: impl Into<String>, body: Value) -> Self {
        Request::new(Method::Patch, path, Some(body))
    }

    pub fn delete(path: impl Into<String>) -> Self {
        Request::new(Method::Delete, path, None)
    }

    /// Add a query parameter (`$filter`, `$select`, `$top`, ...), encoded when sent.
    pub fn query(mut self, name: impl Into<String>, value: impl Into<String>) -> Self {
        self.query.push((name.into(), value.into()));
        self
    }

    /// Add a header (`Prefer`, `ConsistencyLevel`, ...). `Authorization` is the client's business.
    pub fn header(mut self, name: impl Into<String>, value: impl Into<String>) -> Self {
        self.headers.push((name.into(), value.into()));
        self
    }

    /// Mark the request as touching an object this run just wrote (see the type's docs).
    pub fn after_own_write(mut self) -> Self {
        self.just_written = true;
        self
    }

    /// Mark a POST as safe to send again after a lost answer (see the type's docs).
    pub fn repeatable(mut self) -> Self {
        self.repeatable = true;
        self
    }

    /// In a batch, run only after the request at `index` (of the same `batch` call) succeeded.
    pub fn depends_on(mut self, index: usize) -> Self {
        self.depends_on.push(index);
        self
    }

    /// Never log this request's bodies nor quote its error messages.
    pub fn sensitive(mut self) -> Self {
        self.sensitive = true;
        self
    }

    /// The upsert of GRAPH.md: `PATCH` with `Prefer: create-if-missing`, safe to repeat.
    pub fn upsert(path: impl Into<String>, body: Value) -> Self {
        Request::patch(path, body).header("Prefer", "create-if-missing")
    }
}

impl fmt::Debug for Request {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut d = f.debug_struct("Request");
        d.field("method", &self.method)
            .field("path", &self.path)
            .field("query", &self.query)
            .field("headers", &self.headers);
        if self.sensitive {
            d.field(
                "body",
                &self.body.as_ref().map(|_| crate::graph::secret::REDACTED),
            );
        } else {
            d.field("body", &self.body);
        }
        d.field("just_written", &self.just_written)
            .field("depends_on", &self.depends_on)
            .finish()
    }
}

/// A Graph answer: status, headers and the JSON body (absent for 204 and empty bodies).
#[derive(Clone)]
pub struct Response {
    pub status: u16,
    pub headers: HeaderMap,
    pub body: Option<Value>,
    pub(crate) sensitive: bool,
}

impl Response {
    /// A header's value, if present and text.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }

    /// Graph's `request-id`, which Microsoft support asks for.
    pub fn request_id(&self) -> Option<&str> {
        self.header("request-id")
    }
}

impl fmt::Debug for Response {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut d = f.debug_struct("Response");
        d.field("status", &self.status)
            .field("request_id", &self.request_id());
        if self.sensitive {
            d.field(
                "body",
                &self.body.as_ref().map(|_| crate::graph::secret::REDACTED),
            );
        } else {
            d.field("body", &self.body);
        }
        d.finish()
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn builders_make_plain_values() {
        let r = Request::get("/applications")
            .query("$filter", "appId eq 'x'")
            .header("ConsistencyLevel", "eventual")
            .after_own_write();
        assert_eq!(r.method, Method::Get);
        assert_eq!(
            r.query,
            vec![("$filter".to_string(), "appId eq 'x'".to_string())]
        );
        assert!(r.just_written);
        assert!(!r.sensitive);
        let up = Request::upsert("/applications(uniqueName='a')", json!({"displayName": "A"}));
        assert_eq!(up.method, Method::Patch);
        assert_eq!(
            up.headers,
            vec![("Prefer".to_string(), "create-if-missing".to_string())]
        );
    }

    #[test]
    fn credential_actions_are_sensitive_and_redacted_in_debug() {
        let r = Request::post(
            "/applications/1/addPassword",
            json!({"passwordCredential": {"displayName": "canary-name"}}),
        );
        assert!(r.sensitive);
        assert!(!format!("{r:?}").contains("canary-name"));
        assert!(Request::post("/applications/1/addKey", json!({})).sensitive);
        assert!(!Request::post("/applications/1/owners/$ref", json!({})).sensitive);
        let resp = Response {
            status: 200,
            headers: HeaderMap::new(),
            body: Some(json!({"secretText": "canary-secret"})),
            sensitive: true,
        };
        assert!(!format!("{resp:?}").contains("canary-secret"));
    }

    #[test]
    fn only_post_is_not_idempotent() {
        for (m, idempotent) in [
            (Method::Get, true),
            (Method::Patch, true),
            (Method::Put, true),
            (Method::Delete, true),
            (Method::Post, false),
        ] {
            assert_eq!(m.is_idempotent(), idempotent, "{m}");
        }
    }
}
