//! Settings of a run that reaches a tenant: global flags and the environment resolved into the
//! Graph client's configuration and the credential choice.
//!
//! Precedence: flags, then environment (`AZURE_TENANT_ID`, `AZURE_AUTHORITY_HOST`), then the
//! manifest's `tenant`, then the cloud's defaults. This module builds values only; it sends
//! nothing and never reads secrets itself (the credential chain does, through [`Env`]).

use std::io::IsTerminal;

use url::Url;

use super::{Cloud, GlobalArgs};
use crate::graph::auth::{AuthError, AuthMethod, ChainOptions, CredentialChain, Env};
use crate::graph::cloud::EndpointError;
use crate::graph::{self, Endpoints, GraphConfig};

/// `--auth` values.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, clap::ValueEnum)]
pub enum AuthArg {
    /// The first configured method, in the Azure SDK order.
    #[default]
    Auto,
    Secret,
    Certificate,
    WorkloadIdentity,
    GithubOidc,
    ManagedIdentity,
    AzureCli,
    DeviceCode,
}

impl AuthArg {
    /// `None` for auto.
    pub fn method(self) -> Option<AuthMethod> {
        Some(match self {
            AuthArg::Auto => return None,
            AuthArg::Secret => AuthMethod::Secret,
            AuthArg::Certificate => AuthMethod::Certificate,
            AuthArg::WorkloadIdentity => AuthMethod::WorkloadIdentity,
            AuthArg::GithubOidc => AuthMethod::GithubOidc,
            AuthArg::ManagedIdentity => AuthMethod::ManagedIdentity,
            AuthArg::AzureCli => AuthMethod::AzureCli,
            AuthArg::DeviceCode => AuthMethod::DeviceCode,
        })
    }
}

impl From<Cloud> for graph::Cloud {
    fn from(cloud: Cloud) -> Self {
        match cloud {
            Cloud::Global => graph::Cloud::Global,
            Cloud::Usgov => graph::Cloud::UsGov,
            Cloud::UsgovDod => graph::Cloud::UsGovDod,
            Cloud::China => graph::Cloud::China,
        }
    }
}

/// A setting that cannot be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SettingsError {
    #[error(transparent)]
    Endpoint(#[from] EndpointError),
    #[error("{name} is not a URL: {reason}")]
    InvalidUrl { name: &'static str, reason: String },
}

/// Everything needed to build a Graph client for one run.
#[derive(Debug, Clone)]
pub struct GraphSettings {
    pub endpoints: Endpoints,
    pub config: GraphConfig,
    pub credentials: ChainOptions,
}

impl GraphSettings {
    /// Resolve flags, environment and the manifest's tenant.
    pub fn resolve(
        global: &GlobalArgs,
        env: &Env,
        manifest_tenant: Option<&str>,
    ) -> Result<Self, SettingsError> {
        let mut endpoints = Endpoints::for_cloud(global.cloud.into());
        let authority = match (&global.authority_url, env.get("AZURE_AUTHORITY_HOST")) {
            (Some(url), _) => Some(url.clone()),
            (None, Some(host)) => {
                Some(Url::parse(&host).map_err(|e| SettingsError::InvalidUrl {
                    name: "AZURE_AUTHORITY_HOST",
                    reason: e.to_string(),
                })?)
            }
            (None, None) => None,
        };
        if let Some(url) = authority {
            endpoints = endpoints.with_authority(url)?;
        }
        if let Some(url) = &global.graph_url {
            endpoints = endpoints.with_graph(url.clone())?;
        }
        let tenant = global
            .tenant
            .clone()
            .or_else(|| env.get("AZURE_TENANT_ID"))
            .or_else(|| manifest_tenant.map(str::to_string));
        let credentials = ChainOptions {
            method: global.auth.method(),
            tenant,
            interactive: std::io::stdin().is_terminal() && std::io::stderr().is_terminal(),
            ..ChainOptions::default()
        };
        Ok(GraphSettings {
            config: GraphConfig::new(endpoints.graph.clone()),
            endpoints,
            credentials,
        })
    }

    /// The tenant the run targets, if any is configured.
    pub fn tenant(&self) -> Option<&str> {
        self.credentials.tenant.as_deref()
    }

    /// The credential chain for these settings.
    pub fn credential(&self, env: &Env) -> Result<CredentialChain, AuthError> {
        CredentialChain::from_env(env, &self.endpoints, self.credentials.clone())
    }
}

#[cfg(test)]
mod tests {
    use clap::Parser;

    use super::*;
    use crate::cli::Cli;

    fn resolve(
        args: &[&str],
        env: &[(&str, &str)],
        manifest: Option<&str>,
    ) -> Result<GraphSettings, SettingsError> {
        let mut argv = vec!["appreg"];
        argv.extend_from_slice(args);
        argv.extend_from_slice(&["schema"]);
        let cli = Cli::try_parse_from(argv).unwrap();
        let env = Env::from_pairs(env.iter().map(|(k, v)| (k.to_string(), v.to_string())));
        GraphSettings::resolve(&cli.global, &env, manifest)
    }

    #[test]
    fn clouds_and_overrides() {
        // Each case: flags, environment, authority, Graph URL, why.
        type Case<'a> = (
            &'a [&'a str],
            &'a [(&'a str, &'a str)],
            &'a str,
            &'a str,
            &'a str,
        );
        let cases: [Case; 5] = [
            (
                &[],
                &[],
                "https://login.microsoftonline.com/",
                "https://graph.microsoft.com/",
                "global by default",
            ),
            (
                &["--cloud", "usgov-dod"],
                &[],
                "https://login.microsoftonline.us/",
                "https://dod-graph.microsoft.us/",
                "DoD Graph host",
            ),
            (
                &["--cloud", "china"],
                &[],
                "https://login.chinacloudapi.cn/",
                "https://microsoftgraph.chinacloudapi.cn/",
                "China",
            ),
            (
                &[
                    "--graph-url",
                    "http://127.0.0.1:7000",
                    "--authority-url",
                    "http://127.0.0.1:7000",
                ],
                &[],
                "http://127.0.0.1:7000/",
                "http://127.0.0.1:7000/",
                "the sandbox on loopback",
            ),
            (
                &[],
                &[("AZURE_AUTHORITY_HOST", "https://login.example.net")],
                "https://login.example.net/",
                "https://graph.microsoft.com/",
                "the Azure SDK variable",
            ),
        ];
        for (args, env, authority, graph, why) in cases {
            let s = resolve(args, env, None).unwrap();
            assert_eq!(s.endpoints.authority.as_str(), authority, "{why}");
            assert_eq!(s.config.graph_url.as_str(), graph, "{why}");
        }
    }

    #[test]
    fn plain_http_elsewhere_is_refused() {
        let err = resolve(&["--graph-url", "http://graph.example.com"], &[], None).unwrap_err();
        assert!(err.to_string().contains("only for loopback"), "{err}");
        let err = resolve(&[], &[("AZURE_AUTHORITY_HOST", "http://10.0.0.1")], None).unwrap_err();
        assert!(err.to_string().contains("only for loopback"), "{err}");
    }

    #[test]
    fn tenant_precedence() {
        let env = [("AZURE_TENANT_ID", "from-env")];
        assert_eq!(
            resolve(&["--tenant", "from-flag"], &env, Some("m"))
                .unwrap()
                .tenant(),
            Some("from-flag")
        );
        assert_eq!(
            resolve(&[], &env, Some("m")).unwrap().tenant(),
            Some("from-env")
        );
        assert_eq!(resolve(&[], &[], Some("m")).unwrap().tenant(), Some("m"));
        assert_eq!(resolve(&[], &[], None).unwrap().tenant(), None);
    }

    #[test]
    fn auth_flag_picks_one_method() {
        assert_eq!(resolve(&[], &[], None).unwrap().credentials.method, None);
        let s = resolve(&["--auth", "workload-identity"], &[], None).unwrap();
        assert_eq!(s.credentials.method, Some(AuthMethod::WorkloadIdentity));
        let err = s
            .credential(&Env::from_pairs([("AZURE_CLIENT_ID", "c")]))
            .err()
            .unwrap();
        assert!(
            err.to_string()
                .contains("--auth workload-identity is selected but not configured"),
            "{err}"
        );
        for (value, method) in [
            ("github-oidc", AuthMethod::GithubOidc),
            ("azure-cli", AuthMethod::AzureCli),
            ("device-code", AuthMethod::DeviceCode),
        ] {
            assert_eq!(
                resolve(&["--auth", value], &[], None)
                    .unwrap()
                    .credentials
                    .method,
                Some(method)
            );
        }
    }
}
