//! The credential chain: which credential kinds the environment configures, in the Azure SDKs'
//! order, or the single one `--auth` names; the first that yields a token is used for the run.
//! A credential the environment configures on purpose (a secret, a certificate, a federated token)
//! that fails for a reason other than "unavailable here" stops the chain: falling through to
//! another identity would hide a wrong secret behind a confusing success. Methods nobody
//! configured (the VM's metadata endpoint, the Azure CLI) are only probes: whatever stops them is
//! recorded and the chain moves on, so the final error lists every method and why it did not
//! apply, naming the missing variables, rather than the last probe's refusal.

use std::fmt;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use url::Url;

use super::device_code::AZURE_CLI_CLIENT_ID;
use super::managed::IMDS_ENDPOINT;
use super::{
    AccessToken, AuthError, AuthMethod, AzureCliCredential, BoxFuture, ClientCertificateCredential,
    ClientSecretCredential, DeviceCodeCredential, DevicePrompt, Env, GitHubOidcCredential,
    ManagedIdentityCredential, Scope, TokenCache, TokenSource, WorkloadIdentityCredential, oauth,
};
use crate::graph::cloud::Endpoints;
use crate::graph::secret::Secret;

/// Settings of the chain that do not come from the environment.
#[derive(Clone)]
pub struct ChainOptions {
    /// `None`: auto mode. `Some(m)`: only `m`, and an error if it is not configured.
    pub method: Option<AuthMethod>,
    /// `--tenant`, which wins over `AZURE_TENANT_ID`.
    pub tenant: Option<String>,
    /// A person is at a terminal: auto mode may end with a device code sign-in.
    pub interactive: bool,
    /// The Azure CLI program (`az`).
    pub azure_cli: PathBuf,
    /// Where device code instructions go.
    pub prompt: DevicePrompt,
    /// Bound on each token request.
    pub timeout: Duration,
    /// In auto mode, how long to wait for a managed identity endpoint that may not exist.
    pub probe_timeout: Duration,
}

impl Default for ChainOptions {
    fn default() -> Self {
        ChainOptions {
            method: None,
            tenant: None,
            interactive: false,
            azure_cli: PathBuf::from("az"),
            prompt: Arc::new(|message| eprintln!("{message}")),
            timeout: Duration::from_secs(30),
            probe_timeout: Duration::from_secs(2),
        }
    }
}

impl fmt::Debug for ChainOptions {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ChainOptions")
            .field("method", &self.method)
            .field("tenant", &self.tenant)
            .field("interactive", &self.interactive)
            .field("azure_cli", &self.azure_cli)
            .field("timeout", &self.timeout)
            .field("probe_timeout", &self.probe_timeout)
            .finish_non_exhaustive()
    }
}

/// A method, its token cache, and whether it is only a probe (nothing in the environment named it).
type Candidate = (AuthMethod, TokenCache<Box<dyn TokenSource>>, bool);

/// Credentials in order; the first to produce a token is kept for the rest of the run.
/// Tokens are cached per scope.
pub struct CredentialChain {
    candidates: Vec<Candidate>,
    /// Methods that were not configured, with why (for the "nothing available" error).
    skipped: Vec<(AuthMethod, String)>,
    explicit: bool,
    selected: tokio::sync::Mutex<Option<usize>>,
}

/// What the environment says about one method.
enum Configured {
    Yes(Box<dyn TokenSource>),
    No(String),
}

struct Context<'a> {
    env: &'a Env,
    endpoints: &'a Endpoints,
    options: &'a ChainOptions,
    tenant: Option<String>,
    client_id: Option<String>,
    http: reqwest::Client,
}

impl Context<'_> {
    /// Tenant and client id, which the confidential-client methods all need.
    fn app(&self, trigger: &str) -> Result<(String, String), String> {
        match (&self.tenant, &self.client_id) {
            (Some(t), Some(c)) => Ok((t.clone(), c.clone())),
            (None, _) => Err(format!(
                "{trigger} is set but AZURE_TENANT_ID (or --tenant) is missing"
            )),
            (_, None) => Err(format!("{trigger} is set but AZURE_CLIENT_ID is missing")),
        }
    }

    fn configure(&self, method: AuthMethod) -> Result<Configured, AuthError> {
        let env = self.env;
        let http = self.http.clone();
        let endpoints = self.endpoints;
        macro_rules! app_or_skip {
            ($trigger:expr) => {
                match self.app($trigger) {
                    Ok(app) => app,
                    Err(reason) => return Ok(Configured::No(reason)),
                }
            };
        }
        Ok(Configured::Yes(match method {
            AuthMethod::Secret => {
                let Some(secret) = env.get("AZURE_CLIENT_SECRET") else {
                    return Ok(Configured::No("AZURE_CLIENT_SECRET is not set".into()));
                };
                let (tenant, client) = app_or_skip!("AZURE_CLIENT_SECRET");
                Box::new(ClientSecretCredential::new(
                    endpoints,
                    &tenant,
                    &client,
                    Secret::new(secret),
                    http,
                )?)
            }
            AuthMethod::Certificate => {
                let Some(path) = env.get("AZURE_CLIENT_CERTIFICATE_PATH") else {
                    return Ok(Configured::No(
                        "AZURE_CLIENT_CERTIFICATE_PATH is not set".into(),
                    ));
                };
                let (tenant, client) = app_or_skip!("AZURE_CLIENT_CERTIFICATE_PATH");
                if env.is_set("AZURE_CLIENT_CERTIFICATE_PASSWORD") {
                    return Err(AuthError::failed(
                        method,
                        "AZURE_CLIENT_CERTIFICATE_PASSWORD is set, but only unencrypted PEM files are \
                         supported; convert the certificate (for example with `openssl pkcs12 -nodes`)",
                    ));
                }
                let certificate = ClientCertificateCredential::load(&PathBuf::from(path))?;
                let send_chain = env
                    .get("AZURE_CLIENT_SEND_CERTIFICATE_CHAIN")
                    .is_some_and(|v| v == "1" || v.eq_ignore_ascii_case("true"));
                Box::new(ClientCertificateCredential::new(
                    endpoints,
                    &tenant,
                    &client,
                    certificate,
                    send_chain,
                    http,
                )?)
            }
            AuthMethod::WorkloadIdentity => {
                let Some(file) = env.get("AZURE_FEDERATED_TOKEN_FILE") else {
                    return Ok(Configured::No(
                        "AZURE_FEDERATED_TOKEN_FILE is not set".into(),
                    ));
                };
                let (tenant, client) = app_or_skip!("AZURE_FEDERATED_TOKEN_FILE");
                Box::new(WorkloadIdentityCredential::new(
                    endpoints,
                    &tenant,
                    &client,
                    PathBuf::from(file),
                    http,
                )?)
            }
            AuthMethod::GithubOidc => {
                let (Some(url), Some(token)) = (
                    env.get("ACTIONS_ID_TOKEN_REQUEST_URL"),
                    env.get("ACTIONS_ID_TOKEN_REQUEST_TOKEN"),
                ) else {
                    return Ok(Configured::No(
                        "ACTIONS_ID_TOKEN_REQUEST_URL / ACTIONS_ID_TOKEN_REQUEST_TOKEN are not set (not in \
                         GitHub Actions, or the job lacks `id-token: write`)"
                            .into(),
                    ));
                };
                let (tenant, client) = app_or_skip!("ACTIONS_ID_TOKEN_REQUEST_URL");
                let url = Url::parse(&url).map_err(|e| {
                    AuthError::failed(
                        method,
                        format!("ACTIONS_ID_TOKEN_REQUEST_URL is not a URL: {e}"),
                    )
                })?;
                Box::new(GitHubOidcCredential::new(
                    endpoints,
                    &tenant,
                    &client,
                    url,
                    Secret::new(token),
                    http,
                )?)
            }
            AuthMethod::ManagedIdentity => {
                let client = self.client_id.clone();
                let credential = match (env.get("IDENTITY_ENDPOINT"), env.get("IDENTITY_HEADER")) {
                    (Some(endpoint), Some(header)) => {
                        let url = Url::parse(&endpoint).map_err(|e| {
                            AuthError::failed(
                                method,
                                format!("IDENTITY_ENDPOINT is not a URL: {e}"),
                            )
                        })?;
                        ManagedIdentityCredential::app_service(
                            url,
                            Secret::new(header),
                            client,
                            endpoints,
                            http,
                        )?
                    }
                    (Some(_), None) => {
                        return Ok(Configured::No(
                            "IDENTITY_ENDPOINT is set without IDENTITY_HEADER (Azure Arc and Service \
                             Fabric identities are not supported)"
                                .into(),
                        ));
                    }
                    (None, _) => {
                        let base = env
                            .get("AZURE_POD_IDENTITY_AUTHORITY_HOST")
                            .unwrap_or_else(|| IMDS_ENDPOINT.to_string());
                        let url = Url::parse(&base).map_err(|e| {
                            AuthError::failed(
                                method,
                                format!("AZURE_POD_IDENTITY_AUTHORITY_HOST is not a URL: {e}"),
                            )
                        })?;
                        ManagedIdentityCredential::imds(url, client, endpoints, http)?
                    }
                };
                if self.options.method.is_none() {
                    Box::new(credential.with_probe_timeout(self.options.probe_timeout))
                } else {
                    Box::new(credential)
                }
            }
            AuthMethod::AzureCli => Box::new(AzureCliCredential::new(
                self.options.azure_cli.clone(),
                self.tenant.clone(),
                endpoints,
                self.options.timeout,
            )),
            AuthMethod::DeviceCode => {
                if self.options.method.is_none() && !self.options.interactive {
                    return Ok(Configured::No("no interactive terminal".into()));
                }
                let tenant = self
                    .tenant
                    .clone()
                    .unwrap_or_else(|| "organizations".into());
                Box::new(DeviceCodeCredential::new(
                    endpoints,
                    &tenant,
                    AZURE_CLI_CLIENT_ID,
                    self.options.prompt.clone(),
                    // Polling waits on the person, so the device flow gets no overall timeout here;
                    // the device code's own expiry bounds it.
                    http,
                )?)
            }
        }))
    }
}

impl CredentialChain {
    /// Build the chain from environment variables (Azure SDK names) and options.
    ///
    /// Fails when `options.method` names a method the environment does not configure, or when a
    /// configured method is broken before any request (an unreadable certificate, a malformed URL).
    pub fn from_env(
        env: &Env,
        endpoints: &Endpoints,
        options: ChainOptions,
    ) -> Result<Self, AuthError> {
        let context = Context {
            env,
            endpoints,
            options: &options,
            tenant: options
                .tenant
                .clone()
                .or_else(|| env.get("AZURE_TENANT_ID")),
            client_id: env.get("AZURE_CLIENT_ID"),
            http: oauth::http_client(options.timeout),
        };
        let methods: Vec<AuthMethod> = match options.method {
            Some(m) => vec![m],
            None => AuthMethod::ALL.to_vec(),
        };
        let mut candidates = Vec::new();
        let mut skipped = Vec::new();
        for method in methods {
            match context.configure(method)? {
                Configured::Yes(source) => {
                    let probe = match method {
                        AuthMethod::ManagedIdentity => !env.is_set("IDENTITY_ENDPOINT"),
                        AuthMethod::AzureCli => true,
                        _ => false,
                    };
                    candidates.push((method, TokenCache::new(source), probe));
                }
                Configured::No(reason) if options.method.is_some() => {
                    return Err(AuthError::NotConfigured { method, reason });
                }
                Configured::No(reason) => {
                    tracing::info!(method = %method, %reason, "credential not configured");
                    skipped.push((method, reason));
                }
            }
        }
        Ok(CredentialChain {
            candidates,
            skipped,
            explicit: options.method.is_some(),
            selected: tokio::sync::Mutex::new(None),
        })
    }

    /// The methods that will be tried, in order.
    pub fn methods(&self) -> Vec<AuthMethod> {
        self.candidates.iter().map(|(m, _, _)| *m).collect()
    }

    /// The method that produced a token, once one has.
    pub fn selected(&self) -> Option<AuthMethod> {
        let guard = self.selected.try_lock().ok()?;
        guard.map(|i| self.candidates[i].0)
    }

    async fn select(&self, scope: &Scope) -> Result<AccessToken, AuthError> {
        let mut selected = self.selected.lock().await;
        if let Some(i) = *selected {
            return self.candidates[i].1.token(scope).await;
        }
        let mut tried = self.skipped.clone();
        for (i, (method, source, probe)) in self.candidates.iter().enumerate() {
            match source.token(scope).await {
                Ok(token) => {
                    tracing::info!(method = %method, "authenticated");
                    *selected = Some(i);
                    return Ok(token);
                }
                Err(AuthError::Unavailable { reason, .. }) if !self.explicit => {
                    tracing::info!(method = %method, %reason, "credential unavailable");
                    tried.push((*method, reason));
                }
                Err(e) if *probe && !self.explicit => {
                    // The message names the method first; the list names it already.
                    let text = e.to_string();
                    let prefix = format!("{method}: ");
                    let reason = text.strip_prefix(&prefix).unwrap_or(&text).to_string();
                    tracing::info!(method = %method, %reason, "credential probe failed");
                    tried.push((*method, reason));
                }
                Err(e) => return Err(e),
            }
        }
        tried.sort_by_key(|(m, _)| AuthMethod::ALL.iter().position(|x| x == m));
        Err(AuthError::NoCredential { tried })
    }
}

impl TokenSource for CredentialChain {
    fn token<'a>(&'a self, scope: &'a Scope) -> BoxFuture<'a, Result<AccessToken, AuthError>> {
        Box::pin(async move {
            let chosen = *self.selected.lock().await;
            match chosen {
                Some(i) => self.candidates[i].1.token(scope).await,
                None => self.select(scope).await,
            }
        })
    }

    fn invalidate(&self, scope: &Scope, rejected: &AccessToken) {
        if let Some(i) = self.selected.try_lock().ok().and_then(|g| *g) {
            self.candidates[i].1.invalidate(scope, rejected);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::graph::cloud::Cloud;

    fn chain(pairs: &[(&str, &str)], options: ChainOptions) -> Result<CredentialChain, AuthError> {
        let env = Env::from_pairs(pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())));
        CredentialChain::from_env(&env, &Endpoints::for_cloud(Cloud::Global), options)
    }

    const APP: [(&str, &str); 2] = [("AZURE_TENANT_ID", "t1"), ("AZURE_CLIENT_ID", "c1")];

    #[test]
    fn auto_mode_keeps_the_sdk_order_and_skips_what_is_not_configured() {
        // Each case: extra environment, interactive, expected methods, why.
        type Case<'a> = (Vec<(&'a str, &'a str)>, bool, Vec<AuthMethod>, &'a str);
        let cases: Vec<Case> = vec![
            (
                vec![],
                false,
                vec![AuthMethod::ManagedIdentity, AuthMethod::AzureCli],
                "nothing configured",
            ),
            (
                vec![("AZURE_CLIENT_SECRET", "s")],
                false,
                vec![
                    AuthMethod::Secret,
                    AuthMethod::ManagedIdentity,
                    AuthMethod::AzureCli,
                ],
                "a secret comes first",
            ),
            (
                vec![
                    ("AZURE_FEDERATED_TOKEN_FILE", "/x"),
                    ("ACTIONS_ID_TOKEN_REQUEST_URL", "https://gh.example/t"),
                    ("ACTIONS_ID_TOKEN_REQUEST_TOKEN", "r"),
                ],
                true,
                vec![
                    AuthMethod::WorkloadIdentity,
                    AuthMethod::GithubOidc,
                    AuthMethod::ManagedIdentity,
                    AuthMethod::AzureCli,
                    AuthMethod::DeviceCode,
                ],
                "federation before platform identities; device code last and only at a terminal",
            ),
        ];
        for (extra, interactive, expected, why) in cases {
            let mut env: Vec<(&str, &str)> = APP.to_vec();
            env.extend(extra);
            let options = ChainOptions {
                interactive,
                ..ChainOptions::default()
            };
            assert_eq!(chain(&env, options).unwrap().methods(), expected, "{why}");
        }
    }

    #[test]
    fn partial_configuration_is_reported_not_used() {
        let c = chain(&[("AZURE_CLIENT_SECRET", "s")], ChainOptions::default()).unwrap();
        assert!(!c.methods().contains(&AuthMethod::Secret));
        assert!(
            c.skipped
                .iter()
                .any(|(m, r)| *m == AuthMethod::Secret && r.contains("AZURE_TENANT_ID"))
        );
    }

    #[test]
    fn an_explicit_method_must_be_configured() {
        let options = ChainOptions {
            method: Some(AuthMethod::Certificate),
            ..ChainOptions::default()
        };
        let err = chain(&APP, options).err().unwrap();
        let text = err.to_string();
        assert!(
            text.contains("--auth certificate is selected but not configured"),
            "{text}"
        );
        assert!(text.contains("AZURE_CLIENT_CERTIFICATE_PATH"), "{text}");
    }

    #[test]
    fn tenant_flag_wins_over_the_environment() {
        let options = ChainOptions {
            tenant: Some("flag-tenant".into()),
            ..ChainOptions::default()
        };
        let c = chain(
            &[("AZURE_CLIENT_ID", "c"), ("AZURE_CLIENT_SECRET", "s")],
            options,
        )
        .unwrap();
        assert_eq!(c.methods()[0], AuthMethod::Secret);
    }

    #[test]
    fn encrypted_certificates_are_refused_clearly() {
        let mut env = APP.to_vec();
        env.extend([
            ("AZURE_CLIENT_CERTIFICATE_PATH", "/c.pem"),
            ("AZURE_CLIENT_CERTIFICATE_PASSWORD", "pw"),
        ]);
        let err = chain(&env, ChainOptions::default()).err().unwrap();
        assert!(err.to_string().contains("only unencrypted PEM"), "{err}");
        assert!(!err.to_string().contains("pw\""), "{err}");
    }
}
