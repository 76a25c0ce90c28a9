//! Which tenant a run talks to, and the Graph client for it.
//!
//! With a tenant from `--tenant`, `AZURE_TENANT_ID` or the manifest, appreg uses the credential
//! chain against that tenant's cloud. With `--sandbox` it starts the sandbox tenant in-process on
//! a loopback port, its state in .appreg/sandbox.json, and says so in one line on stderr. With no
//! tenant at all it does the same, unless the environment says a real tenant was meant (a CI job,
//! Azure variables set but empty: [`SandboxRefusal`]); then it refuses, so that a missing secret
//! never turns into a successful run against a throwaway tenant.

use std::sync::Arc;

use super::GlobalArgs;
use super::settings::{GraphSettings, SandboxRefusal};
use crate::credentials::{KeyVaultClient, Sinks};
use crate::emulator::{ConnectionInfo, DEFAULT_STATE_FILE, RunningSandbox, Sandbox, SandboxConfig};
use crate::graph::auth::{AuthMethod, ChainOptions, CredentialChain, Env, TokenSource};
use crate::graph::cloud::require_secure_transport;
use crate::graph::{Cloud, Endpoints, GraphClient, GraphConfig};

/// A connected run: the client, the tenant, the hosts consent URLs are built on, and the sandbox
/// kept alive for as long as the run needs it.
pub struct Connection {
    pub client: GraphClient,
    pub tenant_id: String,
    pub endpoints: Endpoints,
    /// appId of the identity the run authenticates as, when the settings name it (client id of
    /// an app credential, the sandbox admin); None for Azure CLI and device code sign-ins.
    pub caller: Option<uuid::Uuid>,
    /// Where secret values go, with a Key Vault client on the run's credential chain.
    pub sinks: Sinks,
    sandbox: Option<RunningSandbox>,
}

impl Connection {
    /// Microsoft Graph's resource identifier in this cloud, as consent scopes name it (the
    /// sandbox stands in for the global cloud).
    pub fn graph_resource(&self) -> String {
        Endpoints::for_cloud(self.endpoints.cloud)
            .graph
            .as_str()
            .trim_end_matches('/')
            .to_string()
    }

    /// Whether the run talks to a sandbox it started itself, whose address is gone when the
    /// command ends (so are URLs built on it).
    pub fn is_embedded_sandbox(&self) -> bool {
        self.sandbox.is_some()
    }

    /// Stops the sandbox (saving its state) if the run started one.
    pub async fn close(self) {
        if let Some(sandbox) = self.sandbox {
            sandbox.shutdown().await;
        }
    }
}

pub async fn connect(
    global: &GlobalArgs,
    manifest_tenant: Option<&str>,
) -> Result<Connection, String> {
    let env = Env::process();
    let settings =
        GraphSettings::resolve(global, &env, manifest_tenant).map_err(|e| e.to_string())?;
    match settings.tenant() {
        Some(tenant) if !global.sandbox => {
            let chain = settings.credential(&env).map_err(|e| e.to_string())?;
            let mut config = settings.config.clone();
            config.max_in_flight = usize::from(global.parallel);
            let client = GraphClient::new(config, Arc::new(chain) as Arc<dyn TokenSource>)
                .map_err(|e| e.to_string())?;
            let sinks = sinks(
                &client,
                global,
                settings.endpoints.cloud,
                global.key_vault_url.clone(),
            )?;
            Ok(Connection {
                sinks,
                client,
                tenant_id: tenant.to_string(),
                endpoints: settings.endpoints,
                caller: env
                    .get("AZURE_CLIENT_ID")
                    .and_then(|id| uuid::Uuid::parse_str(&id).ok()),
                sandbox: None,
            })
        }
        _ if global.sandbox => sandbox(global).await,
        _ => match SandboxRefusal::check(&|name| {
            std::env::var_os(name).map(|v| v.to_string_lossy().into_owned())
        }) {
            Some(refusal) => Err(refusal.to_string()),
            None => sandbox(global).await,
        },
    }
}

async fn sandbox(global: &GlobalArgs) -> Result<Connection, String> {
    let why = if global.sandbox {
        "--sandbox given"
    } else {
        "no tenant configured"
    };
    eprintln!(
        "appreg: {why}; using the sandbox tenant in .appreg/ (a local Microsoft Graph emulator)"
    );
    let config = SandboxConfig {
        state_file: Some(DEFAULT_STATE_FILE.into()),
        ..SandboxConfig::default()
    };
    let running = Sandbox::start(config)
        .await
        .map_err(|e| format!("the sandbox tenant did not start: {e}"))?;
    let info = running.connection_info();
    let (client, endpoints) = sandbox_client(&info, global.cloud.into(), |config| {
        config.max_in_flight = usize::from(global.parallel);
    })?;
    let key_vault = match &global.key_vault_url {
        Some(url) => Some(url.clone()),
        None => Some(url::Url::parse(&info.key_vault_url).map_err(|e| e.to_string())?),
    };
    let sinks = sinks(&client, global, endpoints.cloud, key_vault)?;
    Ok(Connection {
        sinks,
        client,
        tenant_id: info.tenant_id.clone(),
        endpoints,
        caller: uuid::Uuid::parse_str(&info.client_id).ok(),
        sandbox: Some(running),
    })
}

/// A Graph client for a sandbox, signed in as its admin application with the client secret the
/// sandbox printed, and the endpoints it talks to. `configure` adjusts the client's settings
/// (in-flight bound, backoff) before it is built. Benchmarks and tests build theirs here too, so
/// what they measure is the client a run gets.
pub fn sandbox_client(
    info: &ConnectionInfo,
    cloud: Cloud,
    configure: impl FnOnce(&mut GraphConfig),
) -> Result<(GraphClient, Endpoints), String> {
    let graph = url::Url::parse(&info.graph_url).map_err(|e| e.to_string())?;
    let authority = url::Url::parse(&info.authority_url).map_err(|e| e.to_string())?;
    let endpoints = Endpoints::for_cloud(cloud)
        .with_authority(authority)
        .and_then(|e| e.with_graph(graph.clone()))
        .map_err(|e| e.to_string())?;
    let env = Env::from_pairs([
        ("AZURE_TENANT_ID".to_string(), info.tenant_id.clone()),
        ("AZURE_CLIENT_ID".to_string(), info.client_id.clone()),
        (
            "AZURE_CLIENT_SECRET".to_string(),
            info.client_secret.clone(),
        ),
    ]);
    let options = ChainOptions {
        method: Some(AuthMethod::Secret),
        tenant: Some(info.tenant_id.clone()),
        ..ChainOptions::default()
    };
    let chain = CredentialChain::from_env(&env, &endpoints, options).map_err(|e| e.to_string())?;
    let mut config = GraphConfig::new(graph);
    configure(&mut config);
    let client = GraphClient::new(config, Arc::new(chain) as Arc<dyn TokenSource>)
        .map_err(|e| e.to_string())?;
    Ok((client, endpoints))
}

/// Sinks for a run: Key Vault on the run's credential chain, for the cloud's vaults only (sent to
/// `key_vault_redirect` when set), GitHub Actions files and CI from the process environment.
fn sinks(
    client: &GraphClient,
    global: &GlobalArgs,
    cloud: crate::graph::cloud::Cloud,
    key_vault_redirect: Option<url::Url>,
) -> Result<Sinks, String> {
    if let Some(url) = &key_vault_redirect {
        require_secure_transport(url.clone(), "Key Vault URL").map_err(|e| e.to_string())?;
    }
    let key_vault = KeyVaultClient::new(client.credential(), cloud, key_vault_redirect)?;
    let env = |name: &str| std::env::var(name).ok();
    let sinks = Sinks::new(Some(key_vault), &env);
    Ok(if global.allow_stdout_secrets {
        sinks.allow_stdout_secrets(&env)
    } else {
        sinks
    })
}
