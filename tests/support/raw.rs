//! The one raw HTTP helper of the tests: requests and answers as `serde_json::Value`, sent with
//! reqwest and no appreg code in between, so a field name the emulator or the client gets wrong
//! fails a test instead of round-tripping silently. `Raw` is the independent view of a sandbox
//! tenant with its admin's token; `send` is what the conformance suite builds its own calls on.
#![allow(dead_code)]

use std::time::Duration;

use appreg::emulator::RunningSandbox;
use reqwest::header::HeaderMap;
use reqwest::{Method, StatusCode};
use serde_json::Value;

/// One HTTP answer: status, headers, the body as text and, when it parses, as JSON.
pub struct Answer {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub body: Value,
    pub text: String,
}

impl Answer {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }

    /// Asserts Graph's error envelope and returns `(code, message)`.
    pub fn error(&self) -> (String, String) {
        let error = &self.body["error"];
        assert!(
            error.is_object(),
            "expected an error envelope, got {}",
            self.text
        );
        let inner = &error["innerError"];
        assert!(
            inner["request-id"].is_string(),
            "innerError.request-id: {}",
            self.text
        );
        assert!(
            inner["client-request-id"].is_string(),
            "innerError.client-request-id: {}",
            self.text
        );
        assert!(inner["date"].is_string(), "innerError.date: {}", self.text);
        (
            error["code"].as_str().unwrap().to_string(),
            error["message"].as_str().unwrap().to_string(),
        )
    }
}

pub async fn into_answer(response: reqwest::Response) -> Answer {
    let status = response.status();
    let headers = response.headers().clone();
    let text = response.text().await.unwrap();
    let body = serde_json::from_str(&text).unwrap_or(Value::Null);
    Answer {
        status,
        headers,
        body,
        text,
    }
}

/// Sends one request: a bearer token if given, extra headers, a JSON body if given.
pub async fn send(
    http: &reqwest::Client,
    token: Option<&str>,
    method: Method,
    url: &str,
    body: Option<&Value>,
    headers: &[(&str, &str)],
) -> Answer {
    let mut request = http.request(method, url);
    if let Some(token) = token {
        request = request.bearer_auth(token);
    }
    for (name, value) in headers {
        request = request.header(*name, *value);
    }
    if let Some(body) = body {
        request = request.json(body);
    }
    into_answer(request.send().await.unwrap()).await
}

pub fn urlencode(text: &str) -> String {
    let mut out = String::new();
    for b in text.bytes() {
        match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                out.push(b as char)
            }
            _ => out.push_str(&format!("%{b:02X}")),
        }
    }
    out
}

/// Sets an `application/x-www-form-urlencoded` body.
pub fn form(request: reqwest::RequestBuilder, pairs: &[(&str, &str)]) -> reqwest::RequestBuilder {
    let mut body = form_urlencoded::Serializer::new(String::new());
    for (k, v) in pairs {
        body.append_pair(k, v);
    }
    request
        .header("content-type", "application/x-www-form-urlencoded")
        .body(body.finish())
}

/// A token for `client_id` by the client-credentials grant at the sandbox's token endpoint.
pub async fn client_credentials_token(
    http: &reqwest::Client,
    sb: &RunningSandbox,
    client_id: &str,
    secret: &str,
    scope: &str,
) -> Answer {
    let request = form(
        http.post(sb.token_url()),
        &[
            ("grant_type", "client_credentials"),
            ("client_id", client_id),
            ("client_secret", secret),
            ("scope", scope),
        ],
    );
    into_answer(request.send().await.unwrap()).await
}

/// Raw HTTP with the sandbox admin's token: the independent view of the tenant.
pub struct Raw {
    pub http: reqwest::Client,
    pub graph: String,
    pub token: String,
}

impl Raw {
    pub async fn new(sb: &RunningSandbox) -> Raw {
        let http = reqwest::Client::new();
        let answer = client_credentials_token(
            &http,
            sb,
            sb.admin_client_id(),
            sb.admin_client_secret(),
            "https://graph.microsoft.com/.default",
        )
        .await;
        Raw {
            http,
            graph: sb.graph_url().trim_end_matches('/').to_string(),
            token: answer.body["access_token"]
                .as_str()
                .expect("a token")
                .to_string(),
        }
    }

    /// One Graph request; throttled answers (fault runs) are retried after a short pause.
    pub async fn call(&self, method: Method, path: &str, body: Option<Value>) -> (u16, Value) {
        let url = format!("{}{path}", self.graph);
        loop {
            let answer = send(
                &self.http,
                Some(&self.token),
                method.clone(),
                &url,
                body.as_ref(),
                &[],
            )
            .await;
            let status = answer.status.as_u16();
            if status == 429 || status == 503 {
                tokio::time::sleep(Duration::from_millis(60)).await;
                continue;
            }
            return (status, answer.body);
        }
    }

    pub async fn get(&self, path: &str) -> Value {
        let (status, body) = self.call(Method::GET, path, None).await;
        assert_eq!(status, 200, "GET {path}: {body}");
        body
    }

    /// Every item of a collection, across pages.
    pub async fn list(&self, path: &str) -> Vec<Value> {
        let mut items = Vec::new();
        let mut body = self.get(path).await;
        loop {
            items.extend(body["value"].as_array().cloned().unwrap_or_default());
            match body["@odata.nextLink"].as_str() {
                Some(next) => {
                    let next = next.strip_prefix(&self.graph).unwrap_or(next).to_string();
                    body = self.get(&next).await;
                }
                None => return items,
            }
        }
    }

    pub async fn write(&self, method: Method, path: &str, body: Option<Value>) -> Value {
        let (status, answer) = self.call(method.clone(), path, body).await;
        assert!(
            (200..300).contains(&status),
            "{method} {path} -> {status}: {answer}"
        );
        answer
    }

    pub async fn app(&self, unique_name: &str) -> Value {
        self.get(&format!("/applications(uniqueName='{unique_name}')"))
            .await
    }

    pub async fn sp(&self, app_id: &str) -> Value {
        self.get(&format!("/servicePrincipals(appId='{app_id}')"))
            .await
    }

    pub async fn user_id(&self, upn: &str) -> String {
        self.get(&format!("/users/{upn}")).await["id"]
            .as_str()
            .unwrap()
            .to_string()
    }

    /// Object id of a first-party resource's service principal.
    pub async fn resource_sp(&self, app_id: &str) -> Value {
        self.sp(app_id).await
    }

    /// Every application in the tenant.
    pub async fn apps(&self) -> Vec<Value> {
        self.list("/applications?$top=999").await
    }
}
