//! Access tokens for Microsoft Graph and Azure Key Vault.
//!
//! Why it exists: appreg runs on laptops, in CI and on Azure compute, and must find its identity the
//! way the Azure SDKs do, from the same environment variables. [`CredentialChain::from_env`] builds
//! the chain (or the one method `--auth` picks) from an injectable [`Env`]; every credential kind is
//! also a public struct implementing [`TokenSource`]; [`TokenCache`] keeps one token per [`Scope`]
//! and refreshes it before it expires.
//!
//! Order in auto mode: client secret, certificate, workload identity federation, GitHub Actions
//! OIDC, managed identity, Azure CLI, device code (only when a person is at a terminal). A method
//! whose variables are absent is skipped; one that is configured but unusable right now (no IMDS
//! answering, `az` not installed or not logged in) reports itself unavailable and the chain moves
//! on; any other failure (a wrong secret) stops the chain, since falling through would hide it.
//!
//! What it must never do: put a token, secret, assertion or token-endpoint body into a log line, an
//! error or a panic message. Values live in [`Secret`]; token endpoint errors carry only the OAuth
//! error code and the `AADSTS` number, never the response body. It never reads the process
//! environment directly ([`Env::process`] is chosen by the caller) and knows nothing of manifests.

mod azure_cli;
mod cache;
mod certificate;
mod chain;
mod claims;
mod client_secret;
mod device_code;
mod env;
mod federated;
mod managed;
mod oauth;

pub(crate) use oauth::transport_reason;

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::time::{Duration, Instant};

pub use azure_cli::AzureCliCredential;
pub use cache::TokenCache;
pub use certificate::{ClientCertificateCredential, SigningCertificate};
pub use chain::{ChainOptions, CredentialChain};
pub use claims::token_app_id;
pub use client_secret::ClientSecretCredential;
pub use device_code::{AZURE_CLI_CLIENT_ID, DeviceCodeCredential, DevicePrompt};
pub use env::Env;
pub use federated::{GitHubOidcCredential, TOKEN_EXCHANGE_AUDIENCE, WorkloadIdentityCredential};
pub use managed::{IMDS_ENDPOINT, ManagedIdentityCredential};

pub use crate::graph::cloud::Scope;
use crate::graph::secret::Secret;

/// A boxed future, so that [`TokenSource`] can be used as `Arc<dyn TokenSource>`.
pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// Something that hands out access tokens.
///
/// Implementations write `Box::pin(async move { ... })`. Raw credentials fetch a new token on
/// every call; wrap them in [`TokenCache`] (as [`CredentialChain`] does) to reuse tokens.
pub trait TokenSource: Send + Sync {
    /// A token for `scope`, valid for a while yet.
    fn token<'a>(&'a self, scope: &'a Scope) -> BoxFuture<'a, Result<AccessToken, AuthError>>;

    /// The resource server rejected `rejected` (a 401): forget it so the next call fetches a new
    /// one. Sources without a cache ignore this.
    fn invalidate(&self, _scope: &Scope, _rejected: &AccessToken) {}
}

impl<T: TokenSource + ?Sized> TokenSource for Box<T> {
    fn token<'a>(&'a self, scope: &'a Scope) -> BoxFuture<'a, Result<AccessToken, AuthError>> {
        (**self).token(scope)
    }

    fn invalidate(&self, scope: &Scope, rejected: &AccessToken) {
        (**self).invalidate(scope, rejected)
    }
}

impl<T: TokenSource + ?Sized> TokenSource for std::sync::Arc<T> {
    fn token<'a>(&'a self, scope: &'a Scope) -> BoxFuture<'a, Result<AccessToken, AuthError>> {
        (**self).token(scope)
    }

    fn invalidate(&self, scope: &Scope, rejected: &AccessToken) {
        (**self).invalidate(scope, rejected)
    }
}

/// A bearer token and when to replace it.
#[derive(Debug, Clone)]
pub struct AccessToken {
    pub secret: Secret,
    /// When the issuer says the token stops working.
    pub expires_at: Instant,
    /// When a cache should fetch a new one: five minutes before expiry, or halfway through the
    /// lifetime for tokens that live less than ten minutes.
    pub refresh_at: Instant,
}

/// Lifetime assumed when a token response omits it (GRAPH.md is silent; Entra always sends
/// `expires_in`, so this only guards odd endpoints and keeps refreshes frequent).
const DEFAULT_LIFETIME: Duration = Duration::from_secs(600);
const REFRESH_MARGIN: Duration = Duration::from_secs(300);

impl AccessToken {
    /// A token issued now that the issuer says lives for `lifetime`.
    pub fn new(secret: Secret, lifetime: Option<Duration>) -> Self {
        let lifetime = lifetime.unwrap_or(DEFAULT_LIFETIME);
        let now = Instant::now();
        let margin = REFRESH_MARGIN.min(lifetime / 2);
        AccessToken {
            secret,
            expires_at: now + lifetime,
            refresh_at: now + (lifetime - margin),
        }
    }

    /// A token whose expiry is given as seconds since the Unix epoch (managed identity, Azure CLI).
    pub fn expiring_at_unix(secret: Secret, expires_on: i64) -> Self {
        let now = chrono::Utc::now().timestamp();
        let lifetime = u64::try_from(expires_on.saturating_sub(now)).unwrap_or(0);
        AccessToken::new(secret, Some(Duration::from_secs(lifetime)))
    }

    pub fn needs_refresh(&self) -> bool {
        Instant::now() >= self.refresh_at
    }
}

/// The ways appreg can authenticate; the names are those `--auth` accepts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum AuthMethod {
    Secret,
    Certificate,
    WorkloadIdentity,
    GithubOidc,
    ManagedIdentity,
    AzureCli,
    DeviceCode,
}

impl AuthMethod {
    /// Every method, in the order auto mode tries them.
    pub const ALL: [AuthMethod; 7] = [
        AuthMethod::Secret,
        AuthMethod::Certificate,
        AuthMethod::WorkloadIdentity,
        AuthMethod::GithubOidc,
        AuthMethod::ManagedIdentity,
        AuthMethod::AzureCli,
        AuthMethod::DeviceCode,
    ];

    pub fn name(self) -> &'static str {
        match self {
            AuthMethod::Secret => "secret",
            AuthMethod::Certificate => "certificate",
            AuthMethod::WorkloadIdentity => "workload-identity",
            AuthMethod::GithubOidc => "github-oidc",
            AuthMethod::ManagedIdentity => "managed-identity",
            AuthMethod::AzureCli => "azure-cli",
            AuthMethod::DeviceCode => "device-code",
        }
    }

    /// One line telling a user how to make this method work.
    pub fn how_to_configure(self) -> &'static str {
        match self {
            AuthMethod::Secret => "set AZURE_TENANT_ID, AZURE_CLIENT_ID and AZURE_CLIENT_SECRET",
            AuthMethod::Certificate => {
                "set AZURE_TENANT_ID, AZURE_CLIENT_ID and AZURE_CLIENT_CERTIFICATE_PATH (a PEM file \
                 holding the certificate and its unencrypted RSA private key)"
            }
            AuthMethod::WorkloadIdentity => {
                "set AZURE_TENANT_ID, AZURE_CLIENT_ID and AZURE_FEDERATED_TOKEN_FILE (Kubernetes \
                 workload identity sets them), with a federated credential on the app trusting the \
                 token's issuer and subject"
            }
            AuthMethod::GithubOidc => {
                "in GitHub Actions, give the job `permissions: id-token: write` (which sets \
                 ACTIONS_ID_TOKEN_REQUEST_URL and ACTIONS_ID_TOKEN_REQUEST_TOKEN) and set \
                 AZURE_TENANT_ID and AZURE_CLIENT_ID, with a federated credential on the app for the \
                 workflow's subject"
            }
            AuthMethod::ManagedIdentity => {
                "run on Azure compute with a managed identity (IMDS, or IDENTITY_ENDPOINT and \
                 IDENTITY_HEADER on App Service); AZURE_CLIENT_ID selects a user-assigned identity"
            }
            AuthMethod::AzureCli => "install the Azure CLI and run `az login`",
            AuthMethod::DeviceCode => {
                "run appreg in an interactive terminal, or pass `--auth device-code`, and sign in \
                 in a browser with the code shown"
            }
        }
    }
}

impl fmt::Display for AuthMethod {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// Why no token could be had. Messages never contain secrets or token-endpoint bodies.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AuthError {
    /// The method cannot be used here; in auto mode the chain moves on to the next one.
    #[error("{method}: {reason}")]
    Unavailable { method: AuthMethod, reason: String },
    /// `--auth` picked a method whose settings are missing.
    #[error("--auth {method} is selected but not configured: {reason}; to use it, {}", method.how_to_configure())]
    NotConfigured { method: AuthMethod, reason: String },
    /// Auto mode found nothing usable.
    #[error("{}", no_credential_message(tried))]
    NoCredential { tried: Vec<(AuthMethod, String)> },
    /// The token endpoint answered with an OAuth error.
    #[error("{method}: the token request to {endpoint} was refused: {detail}")]
    Rejected {
        method: AuthMethod,
        endpoint: String,
        detail: String,
    },
    /// The token endpoint could not be reached or did not answer.
    #[error("{method}: could not reach {endpoint}: {reason}")]
    Transport {
        method: AuthMethod,
        endpoint: String,
        reason: String,
    },
    /// A local failure: an unreadable certificate, an unexpected answer, a failing `az`.
    #[error("{method}: {reason}")]
    Failed { method: AuthMethod, reason: String },
}

impl AuthError {
    pub(crate) fn failed(method: AuthMethod, reason: impl Into<String>) -> Self {
        AuthError::Failed {
            method,
            reason: reason.into(),
        }
    }

    pub(crate) fn unavailable(method: AuthMethod, reason: impl Into<String>) -> Self {
        AuthError::Unavailable {
            method,
            reason: reason.into(),
        }
    }
}

fn no_credential_message(tried: &[(AuthMethod, String)]) -> String {
    let mut out = String::from("no credential for Microsoft Graph is available; tried, in order:");
    for (method, reason) in tried {
        out.push_str(&format!(
            "\n  - {method}: {reason}\n      to use it: {}",
            method.how_to_configure()
        ));
    }
    out.push_str("\nOr pick one explicitly with --auth <method>.");
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refresh_happens_before_expiry() {
        let long = AccessToken::new(Secret::new("t"), Some(Duration::from_secs(3600)));
        assert_eq!(long.expires_at - long.refresh_at, REFRESH_MARGIN);
        assert!(!long.needs_refresh());
        let short = AccessToken::new(Secret::new("t"), Some(Duration::from_secs(60)));
        assert_eq!(short.expires_at - short.refresh_at, Duration::from_secs(30));
        let expired = AccessToken::new(Secret::new("t"), Some(Duration::ZERO));
        assert!(expired.needs_refresh());
    }

    #[test]
    fn no_credential_message_lists_every_attempt_with_a_fix() {
        let err = AuthError::NoCredential {
            tried: vec![
                (AuthMethod::Secret, "AZURE_CLIENT_SECRET is not set".into()),
                (AuthMethod::AzureCli, "`az` was not found".into()),
            ],
        };
        let text = err.to_string();
        assert!(
            text.contains("secret: AZURE_CLIENT_SECRET is not set"),
            "{text}"
        );
        assert!(text.contains("run `az login`"), "{text}");
        assert!(text.contains("--auth <method>"), "{text}");
    }
}
