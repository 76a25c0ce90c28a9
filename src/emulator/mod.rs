//! The sandbox tenant: an emulator of the Microsoft Graph v1.0 endpoints appreg uses, with its own
//! token endpoint, served by axum on a loopback port, and of the Azure Key Vault secrets API on a
//! second loopback port (secret delivery sinks).
//!
//! It has its own wire shapes and store and imports nothing of appreg's Graph client or engine,
//! so a field-name mistake cannot hide on both sides. Tests and the default sandbox run it
//! in-process through [`Sandbox::start`]; `appreg sandbox serve` runs the same server standalone.

mod auth;
mod batch;
mod caller;
mod cert;
mod discovery;
mod error;
mod faults;
mod freeze;
mod ids;
mod key_vault;
mod keys;
mod log;
mod odata;
mod origin;
mod persist;
mod pipeline;
mod routes;
mod seed;
mod server;
mod store;
mod tls;
mod vault_listener;
mod wire;

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::atomic::AtomicBool;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use base64::Engine as _;
use serde::{Deserialize, Serialize};
use tokio::net::TcpListener;
use tokio::sync::{Notify, oneshot};
use tokio::task::JoinHandle;

pub use faults::{Faults, LoseAnswers};
pub use log::{Counters, EntryKind, LogEntry, RequestLog};

use faults::FaultState;
use freeze::Freeze;
use keys::Signer;
use pipeline::{Shared, lock};
use server::{ConnectionHandle, ResettableListener};

/// Default location of a saved sandbox, relative to the working directory.
pub const DEFAULT_STATE_FILE: &str = ".appreg/sandbox.json";

/// How to start a sandbox.
#[derive(Debug, Clone)]
pub struct SandboxConfig {
    /// Address of the Graph and token endpoints; port 0 picks a free port.
    pub listen: SocketAddr,
    /// Address of the Key Vault endpoint; port 0 picks a free port.
    pub key_vault_listen: SocketAddr,
    /// Where the tenant is loaded from and saved to; `None` keeps it in memory only.
    pub state_file: Option<PathBuf>,
    /// Whether changes are written back to `state_file` (`false`: it is only read, when it
    /// exists; benchmarks measure the directory, not the disk).
    pub persist: bool,
    /// Seed of every id in a fresh tenant (and of the fault generator).
    pub seed: u64,
    /// Lifetime of the access tokens the sandbox issues.
    pub token_lifetime: Duration,
    pub faults: Faults,
    /// Domains to verify in the tenant besides its initial one (kept in the state file).
    pub verified_domains: Vec<String>,
    /// Serve https with a certificate signed by the sandbox CA (written beside the state file, or
    /// kept in memory without one) instead of plain http.
    pub tls: bool,
}

impl Default for SandboxConfig {
    fn default() -> Self {
        SandboxConfig {
            listen: SocketAddr::from(([127, 0, 0, 1], 0)),
            key_vault_listen: SocketAddr::from(([127, 0, 0, 1], 0)),
            state_file: None,
            persist: true,
            seed: 0x5eed,
            token_lifetime: Duration::from_secs(3599),
            faults: Faults::default(),
            tls: false,
            verified_domains: Vec::new(),
        }
    }
}

/// Why a sandbox could not start or its state could not be handled.
#[derive(Debug, thiserror::Error)]
pub enum SandboxError {
    #[error("could not listen on {addr}: {source}")]
    Listen {
        addr: SocketAddr,
        source: std::io::Error,
    },
    #[error("could not read the sandbox state {}: {source}", path.display())]
    ReadState {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("could not write the sandbox state {}: {source}", path.display())]
    WriteState {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error(transparent)]
    Tls(#[from] tls::TlsError),
    #[error("could not make the sandbox's token-signing key")]
    SigningKey,
}

/// What a client needs to reach a running sandbox: the line `appreg sandbox serve` prints.
#[derive(Clone, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct ConnectionInfo {
    pub graph_url: String,
    pub authority_url: String,
    /// Where the sandbox's Key Vault listens (`http://127.0.0.1:PORT`); requests name the vault in
    /// their Host header. Empty in lines printed before the sandbox had Key Vault.
    #[serde(default)]
    pub key_vault_url: String,
    pub tenant_id: String,
    pub client_id: String,
    pub client_secret: String,
    /// The sandbox CA's certificate file when it serves https: the one file a client must trust
    /// (`REQUESTS_CA_BUNDLE`, `SSL_CERT_FILE`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ca_cert_path: Option<String>,
}

impl std::fmt::Debug for ConnectionInfo {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ConnectionInfo")
            .field("graph_url", &self.graph_url)
            .field("authority_url", &self.authority_url)
            .field("key_vault_url", &self.key_vault_url)
            .field("tenant_id", &self.tenant_id)
            .field("client_id", &self.client_id)
            .field("client_secret", &"<redacted>")
            .field("ca_cert_path", &self.ca_cert_path)
            .finish()
    }
}

/// Starts sandboxes.
pub struct Sandbox;

impl Sandbox {
    /// Binds, loads or seeds the tenant, and serves until [`RunningSandbox::shutdown`] (or drop).
    pub async fn start(config: SandboxConfig) -> Result<RunningSandbox, SandboxError> {
        let now = pipeline::now_ms();
        let store = match &config.state_file {
            Some(path) => {
                let loaded = persist::load(path).map_err(|source| SandboxError::ReadState {
                    path: path.clone(),
                    source,
                })?;
                match loaded {
                    Some(store) => store,
                    None if !config.persist => seed::tenant(config.seed, now),
                    None => {
                        let store = seed::tenant(config.seed, now);
                        persist::write_atomic(path, &persist::serialize(&store)).map_err(
                            |source| SandboxError::WriteState {
                                path: path.clone(),
                                source,
                            },
                        )?;
                        store
                    }
                }
            }
            None => seed::tenant(config.seed, now),
        };
        let mut store = store;
        let before = store.custom_domains.len();
        for domain in &config.verified_domains {
            store.verify_domain(domain);
        }
        let mut new_key = store.custom_domains.len() != before;
        let signer = match Signer::from_pkcs8(
            &base64::engine::general_purpose::STANDARD
                .decode(&store.token_key)
                .unwrap_or_default(),
        ) {
            Some(signer) => signer,
            // A fresh tenant, or one saved when tokens were HMAC-signed: a new key (tokens issued
            // before no longer verify, as after a key rollover).
            None => {
                let (signer, pkcs8) = Signer::generate().ok_or(SandboxError::SigningKey)?;
                store.token_key = base64::engine::general_purpose::STANDARD.encode(pkcs8);
                new_key = true;
                signer
            }
        };
        let authority = match (config.tls, &config.state_file) {
            (false, _) => None,
            (true, Some(path)) => Some(tls::Authority::beside(path)?),
            (true, None) => Some(tls::Authority::ephemeral()?),
        };
        let acceptor = authority
            .as_ref()
            .map(tls::Authority::acceptor)
            .transpose()?;
        let scheme = if authority.is_some() { "https" } else { "http" };
        let listener = bind(config.listen).await?;
        let key_vault_listener = bind(config.key_vault_listen).await?;
        let addr = local_addr(&listener, config.listen)?;
        let key_vault_addr = local_addr(&key_vault_listener, config.key_vault_listen)?;
        let authority_url = format!("{scheme}://{addr}");
        let info = ConnectionInfo {
            graph_url: format!("{authority_url}/v1.0"),
            authority_url: authority_url.clone(),
            key_vault_url: format!("{scheme}://{key_vault_addr}"),
            tenant_id: store.tenant_id.to_string(),
            client_id: store.admin.app_id.to_string(),
            client_secret: store.admin.client_secret.clone(),
            ca_cert_path: authority
                .as_ref()
                .and_then(|a| a.cert_path.as_ref())
                .map(|p| p.display().to_string()),
        };
        let ca_cert_pem = authority.map(|a| a.cert_pem);
        let shared = Arc::new(Shared {
            faults: Mutex::new(FaultState::new(config.faults.clone(), config.seed)),
            log: Mutex::new(RequestLog::default()),
            graph_url: info.graph_url.clone(),
            authority_url,
            key_vault_url: info.key_vault_url.clone(),
            tenant_id: info.tenant_id.clone(),
            signer,
            token_lifetime: config.token_lifetime,
            persister: config
                .state_file
                .clone()
                .filter(|_| config.persist)
                .map(persist::Persister::new),
            store: Mutex::new(store),
            // A key made just now must reach the state file even if nothing else is written.
            dirty: AtomicBool::new(new_key),
            saver: Notify::new(),
            freeze: Freeze::default(),
        });
        shared.freeze.rearm(config.faults.freeze_after);
        let saver = shared
            .persister
            .is_some()
            .then(|| tokio::spawn(pipeline::saver(shared.clone())));
        let servers = vec![
            serve(
                ResettableListener::new(listener, acceptor.clone()),
                server::router(shared.clone()),
                "graph",
            ),
            serve(
                ResettableListener::new(key_vault_listener, acceptor),
                vault_listener::router(shared.clone()),
                "key vault",
            ),
        ];
        tracing::info!(graph_url = %info.graph_url, key_vault_url = %info.key_vault_url, tenant = %info.tenant_id, "sandbox listening");
        Ok(RunningSandbox {
            info,
            ca_cert_pem,
            addr,
            shared,
            servers,
            saver,
        })
    }
}

async fn bind(addr: SocketAddr) -> Result<TcpListener, SandboxError> {
    TcpListener::bind(addr)
        .await
        .map_err(|source| SandboxError::Listen { addr, source })
}

fn local_addr(listener: &TcpListener, asked: SocketAddr) -> Result<SocketAddr, SandboxError> {
    listener
        .local_addr()
        .map_err(|source| SandboxError::Listen {
            addr: asked,
            source,
        })
}

/// One listener's server task and the switch that stops it.
struct Server {
    stop: Option<oneshot::Sender<()>>,
    task: Option<JoinHandle<()>>,
}

fn serve(listener: ResettableListener, router: axum::Router, name: &'static str) -> Server {
    let app = router.into_make_service_with_connect_info::<ConnectionHandle>();
    let (stop, stopped) = oneshot::channel::<()>();
    let task = tokio::spawn(async move {
        let serve = axum::serve(listener, app).with_graceful_shutdown(async {
            let _ = stopped.await;
        });
        if let Err(error) = serve.await {
            tracing::error!(%error, server = name, "sandbox server stopped");
        }
    });
    Server {
        stop: Some(stop),
        task: Some(task),
    }
}

/// A sandbox serving on a loopback port.
pub struct RunningSandbox {
    info: ConnectionInfo,
    ca_cert_pem: Option<String>,
    addr: SocketAddr,
    shared: Arc<Shared>,
    servers: Vec<Server>,
    saver: Option<JoinHandle<()>>,
}

impl RunningSandbox {
    /// Graph base URL, e.g. `http://127.0.0.1:PORT/v1.0`.
    pub fn graph_url(&self) -> &str {
        &self.info.graph_url
    }

    /// Base URL of the sandbox's Key Vault, e.g. `http://127.0.0.1:PORT`. Send Key Vault's own
    /// paths here with `Host: {vault}.vault.azure.net` naming the vault; separate hosts are
    /// separate vaults. Tokens for it need the scope `https://vault.azure.net/.default`.
    pub fn key_vault_url(&self) -> &str {
        &self.info.key_vault_url
    }

    /// The current version of a Key Vault secret as `GET /secrets/{name}` answers it (value
    /// included), read straight from the store; `None` when missing or deleted. `vault_host` is
    /// a host (`contoso-kv.vault.azure.net`) or a vault URL.
    pub fn key_vault_secret(&self, vault_host: &str, name: &str) -> Option<serde_json::Value> {
        let host = vault_listener::vault_host(vault_host)?;
        lock(&self.shared.store).key_vaults.current(&host, name)
    }

    /// Authority host; the token endpoint is `{authority_url}/{tenant_id}/oauth2/v2.0/token`.
    pub fn authority_url(&self) -> &str {
        &self.info.authority_url
    }

    pub fn tenant_id(&self) -> &str {
        &self.info.tenant_id
    }

    /// Client id of the sandbox's admin application.
    pub fn admin_client_id(&self) -> &str {
        &self.info.client_id
    }

    /// Client secret of the sandbox's admin application.
    pub fn admin_client_secret(&self) -> &str {
        &self.info.client_secret
    }

    /// Token endpoint URL of the sandbox tenant.
    pub fn token_url(&self) -> String {
        format!(
            "{}/{}/oauth2/v2.0/token",
            self.info.authority_url, self.info.tenant_id
        )
    }

    /// The sandbox CA certificate (PEM) when it serves https: what a client must trust.
    pub fn ca_cert_pem(&self) -> Option<&str> {
        self.ca_cert_pem.as_deref()
    }

    pub fn local_addr(&self) -> SocketAddr {
        self.addr
    }

    pub fn connection_info(&self) -> ConnectionInfo {
        self.info.clone()
    }

    /// Entries and counters since the last clear.
    pub fn request_log(&self) -> RequestLog {
        lock(&self.shared.log).clone()
    }

    pub fn clear_log(&self) {
        lock(&self.shared.log).clear();
    }

    /// Replaces the realism switches; takes effect for the next request. A changed freeze point
    /// is armed afresh (requests already held stay held; clearing it lets new requests through).
    pub fn set_faults(&self, faults: Faults) {
        let mut state = lock(&self.shared.faults);
        if state.faults.freeze_after != faults.freeze_after {
            self.shared.freeze.rearm(faults.freeze_after);
        }
        state.faults = faults;
    }

    /// HTTP requests received so far on both listeners (token requests included, the
    /// `/_sandbox` control endpoints excepted): the numbering `Faults::freeze_after` counts in.
    /// To freeze at the n-th request from now, set `freeze_after: Some(requests_seen() + n)`.
    pub fn requests_seen(&self) -> u64 {
        self.shared.freeze.seen()
    }

    /// Whether the freeze point has been reached: the request at it was processed (its answer
    /// withheld), or the sandbox had already received that many requests when it was set.
    pub fn is_frozen(&self) -> bool {
        self.shared.freeze.is_reached()
    }

    /// Waits until the freeze point is reached (never, without one); wrap it in a timeout.
    pub async fn frozen(&self) {
        self.shared.freeze.reached().await;
    }

    pub fn faults(&self) -> Faults {
        lock(&self.shared.faults).faults.clone()
    }

    /// Writes the current tenant to `path` (atomically, mode 0600) and answers its size in bytes.
    pub fn save_state(&self, path: &Path) -> Result<u64, SandboxError> {
        let snapshot = lock(&self.shared.store).snapshot();
        let bytes = persist::serialize(&snapshot);
        persist::write_atomic(path, &bytes).map_err(|source| SandboxError::WriteState {
            path: path.to_path_buf(),
            source,
        })?;
        Ok(bytes.len() as u64)
    }

    /// Stops accepting connections, waits for the server tasks to end, and saves the tenant.
    pub async fn shutdown(mut self) {
        self.stop_serving();
        for server in &mut self.servers {
            if let Some(task) = server.task.take() {
                let _ = tokio::time::timeout(Duration::from_secs(5), task).await;
            }
        }
        self.stop_saving();
    }

    /// Signals both servers to stop and lets held requests go (resetting their connections), so
    /// a graceful shutdown does not wait on them.
    fn stop_serving(&mut self) {
        self.shared.freeze.release();
        for server in &mut self.servers {
            if let Some(stop) = server.stop.take() {
                let _ = stop.send(());
            }
        }
    }

    fn stop_saving(&mut self) {
        if let Some(saver) = self.saver.take() {
            saver.abort();
        }
        self.shared.flush();
    }
}

impl Drop for RunningSandbox {
    /// A dropped sandbox stops serving and saves what it has not saved yet.
    fn drop(&mut self) {
        self.stop_serving();
        self.stop_saving();
    }
}

/// Empties a saved sandbox: replaces it with a freshly seeded tenant (new admin secret).
pub fn reset_state(path: &Path, seed: u64) -> Result<(), SandboxError> {
    let store = seed::tenant(seed, pipeline::now_ms());
    persist::write_atomic(path, &persist::serialize(&store)).map_err(|source| {
        SandboxError::WriteState {
            path: path.to_path_buf(),
            source,
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn connection_lines_printed_before_key_vault_still_parse() {
        let old = r#"{"graphUrl":"http://127.0.0.1:1/v1.0","authorityUrl":"http://127.0.0.1:1","tenantId":"t","clientId":"c","clientSecret":"s"}"#;
        let info: ConnectionInfo = serde_json::from_str(old).unwrap();
        assert_eq!(info.key_vault_url, "");
        assert_eq!(info.graph_url, "http://127.0.0.1:1/v1.0");
        assert!(
            !format!("{info:?}").contains("\"s\""),
            "the secret stays out of Debug"
        );
    }
}
