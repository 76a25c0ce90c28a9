//! Just the Azure Key Vault secrets REST calls delivery needs: read the latest version's tags, and
//! set a new version. Tokens come from the run's credential chain with the Key Vault scope.
//!
//! The sandbox serves Key Vault on its own loopback address; a vault is then chosen by the `Host`
//! header, so requests keep the real path shape (`/secrets/{name}?api-version=...`).

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use serde_json::{Value, json};
use url::Url;

use crate::graph::auth::{Scope, TokenSource};
use crate::graph::cloud::require_secure_transport;
use crate::graph::{Secret, parse_retry_after};

const API_VERSION: &str = "7.4";
/// Sends of one request before giving up on throttling or server errors.
const ATTEMPTS: u32 = 4;

#[derive(Debug, thiserror::Error)]
#[error("Key Vault {vault}, secret `{secret}`: {reason}")]
pub struct KeyVaultError {
    pub vault: String,
    pub secret: String,
    pub reason: String,
}

/// The latest version of a secret, without its value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SecretVersion {
    pub tags: BTreeMap<String, String>,
    /// `attributes.created`, seconds since the epoch.
    pub created: Option<i64>,
}

#[derive(Clone)]
pub struct KeyVaultClient {
    http: reqwest::Client,
    tokens: Arc<dyn TokenSource>,
    /// Where requests really go (the sandbox's Key Vault), the vault named by `Host`.
    redirect: Option<Url>,
}

impl KeyVaultClient {
    pub fn new(tokens: Arc<dyn TokenSource>, redirect: Option<Url>) -> Result<Self, String> {
        let http = reqwest::Client::builder()
            .timeout(Duration::from_secs(60))
            .redirect(reqwest::redirect::Policy::none())
            .user_agent(concat!("appreg/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| format!("HTTP client: {e}"))?;
        Ok(KeyVaultClient {
            http,
            tokens,
            redirect,
        })
    }

    /// Tags and creation time of the latest version; None when the vault has no such secret.
    pub async fn latest(
        &self,
        vault: &str,
        name: &str,
    ) -> Result<Option<SecretVersion>, KeyVaultError> {
        let answer = self.call(vault, name, reqwest::Method::GET, None).await?;
        let Some(body) = answer else { return Ok(None) };
        let tags = body
            .get("tags")
            .and_then(Value::as_object)
            .map(|t| {
                t.iter()
                    .filter_map(|(k, v)| Some((k.clone(), v.as_str()?.to_string())))
                    .collect()
            })
            .unwrap_or_default();
        let created = body.pointer("/attributes/created").and_then(Value::as_i64);
        Ok(Some(SecretVersion { tags, created }))
    }

    /// Sets a new version holding `value`. Repeating it is harmless (one more version, same value).
    pub async fn set(
        &self,
        vault: &str,
        name: &str,
        value: &Secret,
        content_type: &str,
        tags: &BTreeMap<String, String>,
    ) -> Result<(), KeyVaultError> {
        let body = json!({"value": value.expose(), "contentType": content_type, "tags": tags});
        self.call(vault, name, reqwest::Method::PUT, Some(body))
            .await
            .map(|_| ())
    }

    async fn call(
        &self,
        vault: &str,
        name: &str,
        method: reqwest::Method,
        body: Option<Value>,
    ) -> Result<Option<Value>, KeyVaultError> {
        let fail = |reason: String| KeyVaultError {
            vault: vault.to_string(),
            secret: name.to_string(),
            reason,
        };
        let vault_url = Url::parse(vault)
            .map_err(|e| fail(format!("not a URL: {e}")))
            .and_then(|u| {
                require_secure_transport(u, "Key Vault URL").map_err(|e| fail(e.to_string()))
            })?;
        let host = vault_url.host_str().unwrap_or_default().to_string();
        let base = self.redirect.as_ref().unwrap_or(&vault_url);
        let mut url = base.clone();
        url.path_segments_mut()
            .map_err(|_| fail("the vault URL cannot take a path".into()))?
            .pop_if_empty()
            .extend(["secrets", name]);
        url.query_pairs_mut()
            .append_pair("api-version", API_VERSION);

        let mut refreshed = false;
        let mut attempt = 0;
        loop {
            attempt += 1;
            let token = self
                .tokens
                .token(&Scope::KeyVault)
                .await
                .map_err(|e| fail(format!("no token for Key Vault: {e}")))?;
            let mut request = self
                .http
                .request(method.clone(), url.clone())
                .bearer_auth(token.secret.expose());
            if self.redirect.is_some() {
                request = request.header(reqwest::header::HOST, &host);
            }
            if let Some(body) = &body {
                request = request.json(body);
            }
            let response = match request.send().await {
                Ok(r) => r,
                Err(e) if attempt < ATTEMPTS => {
                    tracing::debug!(
                        "Key Vault {host}: {}; retrying",
                        crate::graph::auth::transport_reason(&e)
                    );
                    tokio::time::sleep(Duration::from_millis(200 * u64::from(attempt))).await;
                    continue;
                }
                Err(e) => return Err(fail(crate::graph::auth::transport_reason(&e))),
            };
            let status = response.status().as_u16();
            let retry_after = response
                .headers()
                .get(reqwest::header::RETRY_AFTER)
                .and_then(|v| v.to_str().ok())
                .and_then(|v| parse_retry_after(v, std::time::SystemTime::now()));
            let text = response.text().await.unwrap_or_default();
            let parsed: Option<Value> = serde_json::from_str(&text).ok();
            match status {
                200..=299 => return Ok(parsed),
                404 if method == reqwest::Method::GET => return Ok(None),
                401 if !refreshed => {
                    refreshed = true;
                    self.tokens.invalidate(&Scope::KeyVault, &token);
                    continue;
                }
                429 | 500..=599 if attempt < ATTEMPTS => {
                    let wait =
                        retry_after.unwrap_or(Duration::from_millis(500 * u64::from(attempt)));
                    tokio::time::sleep(wait.min(Duration::from_secs(30))).await;
                    continue;
                }
                _ => {
                    // The error envelope carries a code and a message; never the request body.
                    let code = parsed
                        .as_ref()
                        .and_then(|v| v.pointer("/error/code"))
                        .and_then(Value::as_str)
                        .unwrap_or("unknown");
                    let message = parsed
                        .as_ref()
                        .and_then(|v| v.pointer("/error/message"))
                        .and_then(Value::as_str)
                        .unwrap_or("");
                    let hint = match status {
                        401 | 403 => {
                            "; appreg's identity needs Get and Set on secrets (role Key Vault Secrets Officer)"
                        }
                        _ => "",
                    };
                    return Err(fail(format!(
                        "{method} answered {status} {code}: {message}{hint}"
                    )));
                }
            }
        }
    }
}
