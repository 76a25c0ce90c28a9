//! Managed identity: tokens from the Azure platform for the compute appreg runs on.
//!
//! Two endpoints: the Instance Metadata Service (VMs, AKS, container instances; `http://169.254.169.254`,
//! overridable with `AZURE_POD_IDENTITY_AUTHORITY_HOST` as in the Azure SDKs) and the App Service /
//! Functions endpoint (`IDENTITY_ENDPOINT` with `IDENTITY_HEADER`). Azure Arc's challenge flow and
//! Service Fabric are not supported. These endpoints are plain http by platform design; only the
//! IMDS link-local address and loopback addresses are accepted over http.

use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use serde_json::Value;
use url::Url;

use super::oauth::transport_reason;
use super::{AccessToken, AuthError, AuthMethod, BoxFuture, Scope, TokenSource};
use crate::graph::cloud::{Endpoints, is_loopback};
use crate::graph::secret::Secret;

/// The Instance Metadata Service's fixed address.
pub const IMDS_ENDPOINT: &str = "http://169.254.169.254";

enum Target {
    Imds { base: Url },
    AppService { endpoint: Url, header: Secret },
}

/// A system- or user-assigned managed identity.
pub struct ManagedIdentityCredential {
    target: Target,
    client_id: Option<String>,
    endpoints: Endpoints,
    http: reqwest::Client,
    probe_timeout: Option<Duration>,
    answered: AtomicBool,
}

fn check_endpoint(url: Url, what: &str) -> Result<Url, AuthError> {
    let ok = match url.scheme() {
        "https" => true,
        "http" => is_loopback(&url) || url.host_str() == Some("169.254.169.254"),
        _ => false,
    };
    if ok && url.host_str().is_some() {
        Ok(url)
    } else {
        Err(AuthError::failed(
            AuthMethod::ManagedIdentity,
            format!("{what} {url} is refused: use https, the IMDS address or a loopback address"),
        ))
    }
}

impl ManagedIdentityCredential {
    /// The Instance Metadata Service at `base` (normally [`IMDS_ENDPOINT`]).
    pub fn imds(
        base: Url,
        client_id: Option<String>,
        endpoints: &Endpoints,
        http: reqwest::Client,
    ) -> Result<Self, AuthError> {
        Ok(Self::build(
            Target::Imds {
                base: check_endpoint(base, "IMDS endpoint")?,
            },
            client_id,
            endpoints,
            http,
        ))
    }

    /// The App Service / Functions endpoint (`IDENTITY_ENDPOINT`, `IDENTITY_HEADER`).
    pub fn app_service(
        endpoint: Url,
        header: Secret,
        client_id: Option<String>,
        endpoints: &Endpoints,
        http: reqwest::Client,
    ) -> Result<Self, AuthError> {
        Ok(Self::build(
            Target::AppService {
                endpoint: check_endpoint(endpoint, "IDENTITY_ENDPOINT")?,
                header,
            },
            client_id,
            endpoints,
            http,
        ))
    }

    fn build(
        target: Target,
        client_id: Option<String>,
        endpoints: &Endpoints,
        http: reqwest::Client,
    ) -> Self {
        ManagedIdentityCredential {
            target,
            client_id,
            endpoints: endpoints.clone(),
            http,
            probe_timeout: None,
            answered: AtomicBool::new(false),
        }
    }

    /// Until the endpoint has answered once, give up after `timeout` and report the method
    /// unavailable (auto mode must not hang on machines without IMDS).
    pub fn with_probe_timeout(mut self, timeout: Duration) -> Self {
        self.probe_timeout = Some(timeout);
        self
    }

    fn request(&self, scope: &Scope) -> (reqwest::RequestBuilder, String) {
        let resource = self.endpoints.resource(*scope);
        let (mut url, api_version, shown) = match &self.target {
            Target::Imds { base } => {
                let mut url = base.clone();
                url.set_path("/metadata/identity/oauth2/token");
                (url, "2018-02-01", base.origin().ascii_serialization())
            }
            Target::AppService { endpoint, .. } => (
                endpoint.clone(),
                "2019-08-01",
                endpoint.origin().ascii_serialization(),
            ),
        };
        {
            let mut q = url.query_pairs_mut();
            q.append_pair("api-version", api_version);
            q.append_pair("resource", resource);
            if let Some(id) = &self.client_id {
                q.append_pair("client_id", id);
            }
        }
        let mut request = self.http.get(url);
        request = match &self.target {
            Target::Imds { .. } => request.header("Metadata", "true"),
            Target::AppService { header, .. } => {
                request.header("X-IDENTITY-HEADER", header.expose())
            }
        };
        if let Some(timeout) = self
            .probe_timeout
            .filter(|_| !self.answered.load(Ordering::Relaxed))
        {
            request = request.timeout(timeout);
        }
        (request, shown)
    }
}

/// Managed identity endpoints send numbers as strings (`"expires_in": "3599"`) or as numbers.
fn number(v: &Value) -> Option<i64> {
    v.as_i64().or_else(|| v.as_str()?.trim().parse().ok())
}

impl TokenSource for ManagedIdentityCredential {
    fn token<'a>(&'a self, scope: &'a Scope) -> BoxFuture<'a, Result<AccessToken, AuthError>> {
        Box::pin(async move {
            let method = AuthMethod::ManagedIdentity;
            let (request, shown) = self.request(scope);
            let response = request.send().await.map_err(|e| {
                if e.is_connect() || e.is_timeout() {
                    AuthError::unavailable(
                        method,
                        format!(
                            "no managed identity endpoint answered at {shown} ({})",
                            transport_reason(&e)
                        ),
                    )
                } else {
                    AuthError::Transport {
                        method,
                        endpoint: shown.clone(),
                        reason: transport_reason(&e),
                    }
                }
            })?;
            self.answered.store(true, Ordering::Relaxed);
            let status = response.status();
            let body: Value = response
                .bytes()
                .await
                .ok()
                .and_then(|b| serde_json::from_slice(&b).ok())
                .unwrap_or(Value::Null);
            if !status.is_success() {
                // Only the OAuth error code is shown: these are token endpoint bodies.
                let code = body["error"].as_str().unwrap_or("no error code");
                let detail = format!("HTTP {} ({code})", status.as_u16());
                return Err(
                    if status.as_u16() == 400 && matches!(self.target, Target::Imds { .. }) {
                        AuthError::unavailable(
                            method,
                            format!("IMDS at {shown} has no identity for this request: {detail}"),
                        )
                    } else {
                        AuthError::Rejected {
                            method,
                            endpoint: shown,
                            detail,
                        }
                    },
                );
            }
            let token = body["access_token"]
                .as_str()
                .map(|t| Secret::new(t.to_string()))
                .ok_or_else(|| {
                    AuthError::failed(method, format!("{shown} answered without an access token"))
                })?;
            Ok(
                match (number(&body["expires_on"]), number(&body["expires_in"])) {
                    (_, Some(secs)) if secs >= 0 => {
                        AccessToken::new(token, Some(Duration::from_secs(secs.unsigned_abs())))
                    }
                    (Some(on), _) => AccessToken::expiring_at_unix(token, on),
                    _ => AccessToken::new(token, None),
                },
            )
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::graph::cloud::Cloud;

    #[test]
    fn only_safe_endpoints_are_accepted() {
        let e = Endpoints::for_cloud(Cloud::Global);
        let http = reqwest::Client::new();
        for ok in [
            IMDS_ENDPOINT,
            "http://127.0.0.1:4000",
            "https://mi.example.net",
        ] {
            assert!(
                ManagedIdentityCredential::imds(Url::parse(ok).unwrap(), None, &e, http.clone())
                    .is_ok(),
                "{ok}"
            );
        }
        for bad in ["http://10.1.2.3", "http://169.254.169.253"] {
            assert!(
                ManagedIdentityCredential::imds(Url::parse(bad).unwrap(), None, &e, http.clone())
                    .is_err(),
                "{bad}"
            );
        }
    }

    #[test]
    fn numbers_come_as_strings_or_numbers() {
        assert_eq!(number(&serde_json::json!("3599")), Some(3599));
        assert_eq!(number(&serde_json::json!(3599)), Some(3599));
        assert_eq!(number(&serde_json::json!(null)), None);
    }
}
