//! Just the Azure Key Vault secrets REST calls delivery needs: read the latest version's tags, and
//! set a new version. Tokens come from the run's credential chain with the Key Vault scope.
//!
//! The sandbox serves Key Vault on its own loopback address; a vault is then chosen by the `Host`
//! header, so requests keep the real path shape (`/secrets/{name}?api-version=...`).
//!
//! A vault URL comes from a manifest, which may be an attacker's: a token must never be requested
//! for, nor sent to, anything but a vault of the run's cloud ([`vault_url`]; validation runs the
//! same check offline). Only the operator's `--key-vault-url` reaches another (loopback) address.
//! Whatever a server answers is shown escaped ([`server_text`]).

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use serde_json::{Value, json};
use url::Url;

use super::server_text;
use crate::graph::auth::{Scope, TokenSource};
use crate::graph::cloud::Cloud;
use crate::graph::{Secret, parse_retry_after};

const API_VERSION: &str = "7.4";

/// The Key Vault DNS suffix of each cloud: a vault is `https://<name><suffix>`.
pub fn vault_suffix(cloud: Cloud) -> &'static str {
    match cloud {
        Cloud::Global => ".vault.azure.net",
        Cloud::UsGov | Cloud::UsGovDod => ".vault.usgovcloudapi.net",
        Cloud::China => ".vault.azure.cn",
    }
}

/// Every cloud, for checks made before the run's cloud is known (validation).
pub const ALL_CLOUDS: [Cloud; 3] = [Cloud::Global, Cloud::UsGov, Cloud::China];

/// Why a vault URL is refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum VaultUrlError {
    #[error("it is not a URL")]
    NotUrl,
    #[error("it is not https")]
    NotHttps,
    #[error("it carries a user name, password, port, path, query or fragment")]
    Extra,
    #[error("its host is not a Key Vault of {0} (https://<name>{1})")]
    NotVault(&'static str, &'static str),
}

/// The vault URL `vault` names, accepted only when it is a vault of one of `clouds`: https, host
/// one DNS label (a vault name: 3-24 letters, digits and dashes, starting with a letter) followed
/// by the cloud's Key Vault suffix, and nothing else (no port, user, path beyond `/`, query).
/// Pure: validation and the client both call it, the client last, before any token is asked for.
pub fn vault_url(vault: &str, clouds: &[Cloud]) -> Result<Url, VaultUrlError> {
    let url = Url::parse(vault).map_err(|_| VaultUrlError::NotUrl)?;
    if url.scheme() != "https" {
        return Err(VaultUrlError::NotHttps);
    }
    if !url.username().is_empty()
        || url.password().is_some()
        || url.port().is_some()
        || !matches!(url.path(), "" | "/")
        || url.query().is_some()
        || url.fragment().is_some()
    {
        return Err(VaultUrlError::Extra);
    }
    let host = match url.host() {
        Some(url::Host::Domain(host)) => host.to_ascii_lowercase(),
        _ => String::new(),
    };
    let is_vault = clouds.iter().any(|cloud| {
        host.strip_suffix(vault_suffix(*cloud)).is_some_and(|name| {
            (3..=24).contains(&name.len())
                && name.starts_with(|c: char| c.is_ascii_alphabetic())
                && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
        })
    });
    if !is_vault {
        let (what, suffix) = match clouds {
            [cloud] => (cloud_name(*cloud), vault_suffix(*cloud)),
            _ => ("a Microsoft cloud", vault_suffix(Cloud::Global)),
        };
        return Err(VaultUrlError::NotVault(what, suffix));
    }
    Ok(url)
}

fn cloud_name(cloud: Cloud) -> &'static str {
    match cloud {
        Cloud::Global => "the global cloud",
        Cloud::UsGov | Cloud::UsGovDod => "the US Government cloud",
        Cloud::China => "the China cloud",
    }
}

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
    /// The run's cloud: only its vaults receive a token.
    cloud: Cloud,
    /// Where requests really go (the sandbox's Key Vault), the vault named by `Host`.
    redirect: Option<Url>,
}

impl KeyVaultClient {
    pub fn new(
        tokens: Arc<dyn TokenSource>,
        cloud: Cloud,
        redirect: Option<Url>,
    ) -> Result<Self, String> {
        let http = reqwest::Client::builder()
            .timeout(Duration::from_secs(60))
            .redirect(reqwest::redirect::Policy::none())
            .user_agent(concat!("appreg/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| format!("HTTP client: {e}"))?;
        Ok(KeyVaultClient {
            http,
            tokens,
            cloud,
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
            vault: server_text(vault),
            secret: server_text(name),
            reason,
        };
        // The authoritative check: nothing is asked of the token source, and nothing is sent,
        // for a URL that is not a vault of this run's cloud.
        let vault_url = vault_url(vault, &[self.cloud]).map_err(|e| {
            fail(format!(
                "the vault URL is refused: {e}; no token is sent to it (help: name the vault as https://<name>{})",
                vault_suffix(self.cloud)
            ))
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
                        "{method} answered {status} {}: {}{hint}",
                        server_text(code),
                        server_text(message)
                    )));
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicUsize, Ordering};

    use super::*;
    use crate::graph::auth::{AccessToken, AuthError};

    #[test]
    fn only_vaults_of_the_cloud_are_vault_urls() {
        // Each case: URL, clouds, accepted?, why.
        let global = &[Cloud::Global][..];
        let cases = [
            (
                "https://contoso-kv.vault.azure.net",
                global,
                true,
                "a vault",
            ),
            (
                "https://Contoso-KV.vault.azure.net/",
                global,
                true,
                "case and a bare `/`",
            ),
            (
                "https://attacker.example.com",
                global,
                false,
                "any https host",
            ),
            (
                "https://a.b.vault.azure.net",
                global,
                false,
                "two labels before the suffix",
            ),
            ("https://vault.azure.net", global, false, "the suffix alone"),
            (
                "https://kv.vault.azure.net",
                global,
                false,
                "vault names have 3 characters or more",
            ),
            (
                "https://contoso-kv.vault.azure.net.example.com",
                global,
                false,
                "the suffix is not at the end",
            ),
            (
                "https://contoso-kvvault.azure.net",
                global,
                false,
                "no dot before the suffix",
            ),
            (
                "https://contoso-kv.vault.azure.net:8443",
                global,
                false,
                "a port",
            ),
            (
                "https://u:p@contoso-kv.vault.azure.net",
                global,
                false,
                "userinfo",
            ),
            (
                "https://contoso-kv.vault.azure.net/secrets",
                global,
                false,
                "a path",
            ),
            (
                "https://contoso-kv.vault.azure.net/?x=1",
                global,
                false,
                "a query",
            ),
            (
                "http://contoso-kv.vault.azure.net",
                global,
                false,
                "plain http",
            ),
            (
                "http://127.0.0.1:8200",
                global,
                false,
                "loopback only through --key-vault-url",
            ),
            ("https://127.0.0.1", global, false, "an address"),
            (
                "https://contoso-kv.vault.azure.cn",
                global,
                false,
                "another cloud's vault",
            ),
            (
                "https://contoso-kv.vault.azure.cn",
                &[Cloud::China][..],
                true,
                "the China cloud",
            ),
            (
                "https://contoso-kv.vault.usgovcloudapi.net",
                &[Cloud::UsGovDod][..],
                true,
                "US Gov DoD",
            ),
            (
                "https://contoso-kv.vault.usgovcloudapi.net",
                &ALL_CLOUDS[..],
                true,
                "any cloud offline",
            ),
        ];
        for (url, clouds, ok, why) in cases {
            assert_eq!(vault_url(url, clouds).is_ok(), ok, "{url}: {why}");
        }
    }

    /// A token source that counts how often it is asked.
    struct Counting(AtomicUsize);

    impl TokenSource for Counting {
        fn token<'a>(
            &'a self,
            _scope: &'a Scope,
        ) -> futures_util::future::BoxFuture<'a, Result<AccessToken, AuthError>> {
            self.0.fetch_add(1, Ordering::SeqCst);
            Box::pin(async {
                let now = std::time::Instant::now();
                Ok(AccessToken {
                    secret: Secret::new("token"),
                    expires_at: now + Duration::from_secs(3600),
                    refresh_at: now + Duration::from_secs(3000),
                })
            })
        }
    }

    #[tokio::test]
    async fn no_token_is_asked_for_or_sent_to_a_host_that_is_not_a_vault() {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let tokens = Arc::new(Counting(AtomicUsize::new(0)));
        let client = KeyVaultClient::new(tokens.clone(), Cloud::Global, None).unwrap();
        for vault in [
            format!("http://127.0.0.1:{port}"),
            format!("https://localhost:{port}"),
            "https://attacker.example.com".to_string(),
        ] {
            let error = client.latest(&vault, "s").await.unwrap_err();
            assert!(error.to_string().contains("no token is sent"), "{error}");
        }
        assert_eq!(tokens.0.load(Ordering::SeqCst), 0);
        let accepted = tokio::time::timeout(Duration::from_millis(200), listener.accept()).await;
        assert!(accepted.is_err(), "the listener was contacted");
    }
}
