//! Test harness: an in-process sandbox on 127.0.0.1:0 and a raw-JSON HTTP client.
//!
//! Deliberately no shared wire types: requests and answers are `serde_json::Value`, so a field
//! name the emulator gets wrong fails here instead of round-tripping silently.

use std::time::Duration;

use appreg::emulator::{Faults, RunningSandbox, Sandbox, SandboxConfig};
use reqwest::Method;
use serde_json::{Value, json};

pub use crate::raw::{Answer, form, into_answer, send, urlencode};

pub const GRAPH_APP_ID: &str = "00000003-0000-0000-c000-000000000000";

pub struct Env {
    pub sandbox: RunningSandbox,
    pub http: reqwest::Client,
    pub token: String,
}

impl Env {
    pub async fn start() -> Env {
        Self::with(SandboxConfig::default()).await
    }

    pub async fn with_faults(faults: Faults) -> Env {
        Self::with(SandboxConfig {
            faults,
            ..SandboxConfig::default()
        })
        .await
    }

    pub async fn with(config: SandboxConfig) -> Env {
        let sandbox = Sandbox::start(config).await.expect("sandbox starts");
        let mut http = reqwest::Client::builder().timeout(Duration::from_secs(20));
        // A sandbox serving https: trust its CA and nothing else.
        if let Some(ca) = sandbox.ca_cert_pem() {
            http = http.tls_certs_only([reqwest::Certificate::from_pem(ca.as_bytes()).unwrap()]);
        }
        let http = http.build().unwrap();
        let mut env = Env {
            sandbox,
            http,
            token: String::new(),
        };
        let (id, secret) = (
            env.sandbox.admin_client_id().to_string(),
            env.sandbox.admin_client_secret().to_string(),
        );
        env.token = env.token_for(&id, &secret).await;
        env.sandbox.clear_log();
        env
    }

    pub async fn token_request(&self, pairs: &[(&str, &str)]) -> Answer {
        let response = form(self.http.post(self.sandbox.token_url()), pairs)
            .send()
            .await
            .unwrap();
        into_answer(response).await
    }

    pub async fn token_for(&self, client_id: &str, secret: &str) -> String {
        let answer = self
            .token_request(&[
                ("grant_type", "client_credentials"),
                ("client_id", client_id),
                ("client_secret", secret),
                ("scope", "https://graph.microsoft.com/.default"),
            ])
            .await;
        assert_eq!(answer.status, 200, "{}", answer.text);
        answer.body["access_token"].as_str().unwrap().to_string()
    }

    /// A Key Vault token for the admin application.
    pub async fn key_vault_token(&self) -> String {
        let answer = self
            .token_request(&[
                ("grant_type", "client_credentials"),
                ("client_id", self.sandbox.admin_client_id()),
                ("client_secret", self.sandbox.admin_client_secret()),
                ("scope", "https://vault.azure.net/.default"),
            ])
            .await;
        assert_eq!(answer.status, 200, "{}", answer.text);
        answer.body["access_token"].as_str().unwrap().to_string()
    }

    /// A Key Vault request sent to the sandbox's Key Vault address with `Host: {vault}`, the way
    /// a client keeps Key Vault's URL shape; `path` includes the query.
    pub async fn vault(
        &self,
        token: Option<&str>,
        method: Method,
        vault: &str,
        path: &str,
        body: Option<Value>,
    ) -> Answer {
        let url = format!("{}{path}", self.sandbox.key_vault_url());
        send(
            &self.http,
            token,
            method,
            &url,
            body.as_ref(),
            &[("host", vault)],
        )
        .await
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.sandbox.graph_url())
    }

    pub async fn call(
        &self,
        method: Method,
        path: &str,
        body: Option<Value>,
        headers: &[(&str, &str)],
    ) -> Answer {
        self.call_as(&self.token, method, path, body, headers).await
    }

    pub async fn call_as(
        &self,
        token: &str,
        method: Method,
        path: &str,
        body: Option<Value>,
        headers: &[(&str, &str)],
    ) -> Answer {
        let url = if path.starts_with("http") {
            path.to_string()
        } else {
            self.url(path)
        };
        send(
            &self.http,
            Some(token),
            method,
            &url,
            body.as_ref(),
            headers,
        )
        .await
    }

    pub async fn get(&self, path: &str) -> Answer {
        self.call(Method::GET, path, None, &[]).await
    }

    pub async fn post(&self, path: &str, body: Value) -> Answer {
        self.call(Method::POST, path, Some(body), &[]).await
    }

    pub async fn patch(&self, path: &str, body: Value) -> Answer {
        self.call(Method::PATCH, path, Some(body), &[]).await
    }

    pub async fn delete(&self, path: &str) -> Answer {
        self.call(Method::DELETE, path, None, &[]).await
    }

    /// Creates an application and returns its JSON.
    pub async fn app(&self, name: &str) -> Value {
        let answer = self
            .post("/applications", json!({"displayName": name}))
            .await;
        assert_eq!(answer.status, 201, "{}", answer.text);
        answer.body
    }

    /// Creates an application with its service principal; returns (app, sp).
    pub async fn app_with_sp(&self, name: &str) -> (Value, Value) {
        let app = self.app(name).await;
        let sp = self
            .post("/servicePrincipals", json!({"appId": app["appId"]}))
            .await;
        assert_eq!(sp.status, 201, "{}", sp.text);
        (app, sp.body)
    }

    /// Adds a password and returns the addPassword answer.
    pub async fn add_password(&self, app_id: &str) -> Value {
        let answer = self
            .post(
                &format!("/applications/{app_id}/addPassword"),
                json!({"passwordCredential": {"displayName": "t"}}),
            )
            .await;
        assert_eq!(answer.status, 200, "{}", answer.text);
        answer.body
    }

    /// The id of the Microsoft Graph service principal.
    pub async fn graph_sp(&self) -> Value {
        let answer = self
            .get(&format!("/servicePrincipals(appId='{GRAPH_APP_ID}')"))
            .await;
        assert_eq!(answer.status, 200, "{}", answer.text);
        answer.body
    }

    /// A seeded user by display name.
    pub async fn user(&self, display_name: &str) -> Value {
        let filter = format!("displayName eq '{}'", display_name.replace('\'', "''"));
        let answer = self
            .get(&format!("/users?$filter={}", urlencode(&filter)))
            .await;
        answer.body["value"][0].clone()
    }
}
