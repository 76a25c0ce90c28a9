//! Workload identity federation: instead of a secret, the app presents a token issued by another
//! identity provider that a federated identity credential on the app trusts.
//!
//! - Kubernetes workload identity: the token is a file (`AZURE_FEDERATED_TOKEN_FILE`) the kubelet
//!   rotates, so it is read again for every exchange.
//! - GitHub Actions OIDC: the token is requested from the runner (`ACTIONS_ID_TOKEN_REQUEST_URL`,
//!   authorized by `ACTIONS_ID_TOKEN_REQUEST_TOKEN`) for the audience `api://AzureADTokenExchange`,
//!   fresh for every exchange since it lives only minutes.

use std::path::PathBuf;

use serde::Deserialize;
use url::Url;

use super::oauth::{ClientAuth, TokenEndpoint, transport_reason};
use super::{AccessToken, AuthError, AuthMethod, BoxFuture, Scope, TokenSource};
use crate::graph::cloud::{Endpoints, require_secure_transport};
use crate::graph::secret::Secret;

/// The audience Entra requires of federated tokens.
pub const TOKEN_EXCHANGE_AUDIENCE: &str = "api://AzureADTokenExchange";

/// Kubernetes (or any) workload identity: a federated token read from a file.
pub struct WorkloadIdentityCredential {
    endpoint: TokenEndpoint,
    token_file: PathBuf,
}

impl WorkloadIdentityCredential {
    pub fn new(
        endpoints: &Endpoints,
        tenant: &str,
        client_id: &str,
        token_file: PathBuf,
        http: reqwest::Client,
    ) -> Result<Self, AuthError> {
        Ok(WorkloadIdentityCredential {
            endpoint: TokenEndpoint::new(
                AuthMethod::WorkloadIdentity,
                endpoints,
                tenant,
                client_id,
                http,
            )?,
            token_file,
        })
    }
}

impl TokenSource for WorkloadIdentityCredential {
    fn token<'a>(&'a self, scope: &'a Scope) -> BoxFuture<'a, Result<AccessToken, AuthError>> {
        Box::pin(async move {
            let text = tokio::fs::read_to_string(&self.token_file).await.map_err(|e| {
                AuthError::failed(
                    AuthMethod::WorkloadIdentity,
                    format!(
                        "cannot read the federated token file {} (AZURE_FEDERATED_TOKEN_FILE): {e}",
                        self.token_file.display()
                    ),
                )
            })?;
            let assertion = Secret::new(text.trim().to_string());
            if assertion.expose().is_empty() {
                return Err(AuthError::failed(
                    AuthMethod::WorkloadIdentity,
                    format!(
                        "the federated token file {} is empty",
                        self.token_file.display()
                    ),
                ));
            }
            self.endpoint
                .client_credentials(scope, ClientAuth::Assertion(&assertion))
                .await
        })
    }
}

/// GitHub Actions OIDC: a token from the runner, exchanged for an Entra token.
pub struct GitHubOidcCredential {
    endpoint: TokenEndpoint,
    request_url: Url,
    request_token: Secret,
}

#[derive(Deserialize)]
struct GitHubIdToken {
    value: Secret,
}

impl GitHubOidcCredential {
    /// `request_url` is `ACTIONS_ID_TOKEN_REQUEST_URL` (https, or http to loopback in tests);
    /// `request_token` is `ACTIONS_ID_TOKEN_REQUEST_TOKEN`.
    pub fn new(
        endpoints: &Endpoints,
        tenant: &str,
        client_id: &str,
        request_url: Url,
        request_token: Secret,
        http: reqwest::Client,
    ) -> Result<Self, AuthError> {
        let request_url = require_secure_transport(request_url, "ACTIONS_ID_TOKEN_REQUEST_URL")
            .map_err(|e| AuthError::failed(AuthMethod::GithubOidc, e.to_string()))?;
        Ok(GitHubOidcCredential {
            endpoint: TokenEndpoint::new(
                AuthMethod::GithubOidc,
                endpoints,
                tenant,
                client_id,
                http,
            )?,
            request_url,
            request_token,
        })
    }

    async fn github_token(&self) -> Result<Secret, AuthError> {
        let mut url = self.request_url.clone();
        url.query_pairs_mut()
            .append_pair("audience", TOKEN_EXCHANGE_AUDIENCE);
        let shown = self.request_url.origin().ascii_serialization();
        let response = self
            .endpoint
            .http
            .get(url)
            .bearer_auth(self.request_token.expose())
            .header(reqwest::header::ACCEPT, "application/json")
            .send()
            .await
            .map_err(|e| AuthError::Transport {
                method: AuthMethod::GithubOidc,
                endpoint: shown.clone(),
                reason: transport_reason(&e),
            })?;
        let status = response.status();
        if !status.is_success() {
            return Err(AuthError::Rejected {
                method: AuthMethod::GithubOidc,
                endpoint: shown,
                detail: format!(
                    "HTTP {status} from the runner's OIDC endpoint (does the job have `permissions: id-token: write`?)"
                ),
            });
        }
        let body = response.bytes().await.map_err(|e| AuthError::Transport {
            method: AuthMethod::GithubOidc,
            endpoint: shown.clone(),
            reason: transport_reason(&e),
        })?;
        let token: GitHubIdToken = serde_json::from_slice(&body).map_err(|_| {
            AuthError::failed(
                AuthMethod::GithubOidc,
                format!("{shown} answered without an id token (expected {{\"value\": ...}})"),
            )
        })?;
        Ok(token.value)
    }
}

impl TokenSource for GitHubOidcCredential {
    fn token<'a>(&'a self, scope: &'a Scope) -> BoxFuture<'a, Result<AccessToken, AuthError>> {
        Box::pin(async move {
            let assertion = self.github_token().await?;
            self.endpoint
                .client_credentials(scope, ClientAuth::Assertion(&assertion))
                .await
        })
    }
}
