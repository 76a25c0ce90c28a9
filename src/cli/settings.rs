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

/// Variables whose presence says a run meant to reach a real tenant. Set but empty is how a CI
/// secret that does not exist in the repository (a fork, a renamed secret) reaches the process.
const TENANT_VARIABLES: [&str; 5] = [
    "AZURE_TENANT_ID",
    "AZURE_CLIENT_ID",
    "AZURE_CLIENT_SECRET",
    "AZURE_CLIENT_CERTIFICATE_PATH",
    "AZURE_FEDERATED_TOKEN_FILE",
];

/// Variables CI services set in every job: `CI` (GitHub Actions, GitLab, CircleCI, Buildkite,
/// Travis and most others), and the services' own markers for those that do not set `CI`
/// (`TF_BUILD` is Azure Pipelines, `JENKINS_URL` Jenkins, `TEAMCITY_VERSION` TeamCity).
const CI_MARKERS: [&str; 7] = [
    "CI",
    "GITHUB_ACTIONS",
    "TF_BUILD",
    "GITLAB_CI",
    "BUILDKITE",
    "JENKINS_URL",
    "TEAMCITY_VERSION",
];

/// Why a run with no tenant configured must not fall back to the sandbox tenant on its own.
///
/// The fallback is for a developer trying appreg out. In CI, or with Azure variables present but
/// empty, it would hide a missing secret: apply "succeeds" against a throwaway tenant and the
/// file sinks receive dead credentials. Only variable names are ever shown, never values.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{}", self.message())]
pub struct SandboxRefusal {
    /// Azure variables that are set but empty.
    pub empty: Vec<&'static str>,
    /// Azure credential variables that are set while no tenant is.
    pub without_tenant: Vec<&'static str>,
    /// CI markers found.
    pub ci: Vec<&'static str>,
}

impl SandboxRefusal {
    /// The refusal for this environment (`lookup` reads a variable as it is, empty included), or
    /// None when falling back to the sandbox is what the user expects.
    pub fn check(lookup: &dyn Fn(&str) -> Option<String>) -> Option<SandboxRefusal> {
        let present = |name: &&str| lookup(name).is_some();
        let filled = |name: &&str| lookup(name).is_some_and(|v| !v.trim().is_empty());
        let empty: Vec<&'static str> = TENANT_VARIABLES
            .into_iter()
            .filter(|n| present(n) && !filled(n))
            .collect();
        let without_tenant: Vec<&'static str> = TENANT_VARIABLES[1..]
            .iter()
            .copied()
            .filter(|n| filled(n))
            .collect();
        let ci: Vec<&'static str> = CI_MARKERS
            .into_iter()
            .filter(|n| {
                lookup(n).is_some_and(|v| {
                    let v = v.trim().to_ascii_lowercase();
                    !v.is_empty() && v != "false" && v != "0"
                })
            })
            .collect();
        (!empty.is_empty() || !without_tenant.is_empty() || !ci.is_empty()).then_some(
            SandboxRefusal {
                empty,
                without_tenant,
                ci,
            },
        )
    }

    fn message(&self) -> String {
        let mut why = Vec::new();
        if !self.empty.is_empty() {
            why.push(format!(
                "{} {} set but empty (how a CI secret that does not exist arrives)",
                self.empty.join(", "),
                if self.empty.len() == 1 { "is" } else { "are" }
            ));
        }
        if !self.without_tenant.is_empty() {
            why.push(format!(
                "{} {} set but no tenant is",
                self.without_tenant.join(", "),
                if self.without_tenant.len() == 1 {
                    "is"
                } else {
                    "are"
                }
            ));
        }
        if !self.ci.is_empty() {
            why.push(format!("this is a CI job ({} set)", self.ci.join(", ")));
        }
        if !self.empty.contains(&"AZURE_TENANT_ID") {
            why.push(
                "AZURE_TENANT_ID is not set (nor --tenant, nor `tenant:` in the manifest)".into(),
            );
        }
        format!(
            "no tenant is configured, and appreg will not fall back to the local sandbox tenant on its own here: {}\n\
             help: to reach your tenant, set AZURE_TENANT_ID (or --tenant, or `tenant:` in the manifest) and the \
             identity's credentials (see Authentication in the README); to use the sandbox tenant on purpose, pass --sandbox",
            why.join("; ")
        )
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

    #[test]
    fn sandbox_fallback_only_where_nothing_says_a_tenant_was_meant() {
        // Each case: environment, refused, names the message must contain, why.
        type Case<'a> = (&'a [(&'a str, &'a str)], bool, &'a [&'a str], &'a str);
        let cases: &[Case] = &[
            (
                &[],
                false,
                &[],
                "a developer machine: the README's first command",
            ),
            (
                &[("CI", "false"), ("GITHUB_ACTIONS", "0")],
                false,
                &[],
                "markers switched off",
            ),
            (
                &[
                    ("AZURE_TENANT_ID", ""),
                    ("AZURE_CLIENT_ID", ""),
                    ("AZURE_CLIENT_SECRET", " "),
                ],
                true,
                &["AZURE_TENANT_ID, AZURE_CLIENT_ID, AZURE_CLIENT_SECRET are set but empty"],
                "missing CI secrets arrive as empty variables",
            ),
            (
                &[("AZURE_CLIENT_ID", "c"), ("AZURE_CLIENT_SECRET", "s")],
                true,
                &["AZURE_CLIENT_ID, AZURE_CLIENT_SECRET are set but no tenant is"],
                "credentials without a tenant",
            ),
            (
                &[("CI", "true")],
                true,
                &["CI set", "AZURE_TENANT_ID is not set"],
                "what .ci/run and most services set",
            ),
            (
                &[("GITHUB_ACTIONS", "true")],
                true,
                &["GITHUB_ACTIONS"],
                "GitHub Actions",
            ),
            (
                &[("TF_BUILD", "True")],
                true,
                &["TF_BUILD"],
                "Azure Pipelines",
            ),
            (
                &[("JENKINS_URL", "https://ci")],
                true,
                &["JENKINS_URL"],
                "Jenkins sets no CI",
            ),
        ];
        for (env, refused, names, why) in cases {
            let map: std::collections::HashMap<String, String> = env
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect();
            let refusal = SandboxRefusal::check(&|name| map.get(name).cloned());
            assert_eq!(refusal.is_some(), *refused, "{why}");
            if let Some(refusal) = refusal {
                let text = refusal.to_string();
                assert!(text.contains("--sandbox"), "{why}: {text}");
                for name in *names {
                    assert!(text.contains(name), "{why}: {text}");
                }
            }
        }
    }
}
