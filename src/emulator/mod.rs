//! The sandbox tenant: an emulator of the Microsoft Graph v1.0 endpoints appreg uses, with its own
//! token endpoint, served by axum on a loopback port.
//!
//! It has its own wire shapes and store and imports nothing of appreg's Graph client or engine,
//! so a field-name mistake cannot hide on both sides. Tests and the default sandbox run it
//! in-process through [`Sandbox::start`]; `appreg sandbox serve` runs the same server standalone.

mod auth;
mod batch;
mod cert;
mod error;
mod faults;
mod ids;
mod log;
mod odata;
mod persist;
mod routes;
mod seed;
mod server;
mod store;
mod wire;

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::atomic::AtomicBool;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use base64::Engine as _;
use serde::Serialize;
use tokio::net::TcpListener;
use tokio::sync::{Notify, oneshot};
use tokio::task::JoinHandle;

pub use faults::Faults;
pub use log::{Counters, EntryKind, LogEntry, RequestLog};

use faults::FaultState;
use server::{ConnectionHandle, ResettableListener, Shared, lock};

/// Default location of a saved sandbox, relative to the working directory.
pub const DEFAULT_STATE_FILE: &str = ".appreg/sandbox.json";

/// How to start a sandbox.
#[derive(Debug, Clone)]
pub struct SandboxConfig {
    /// Address to listen on; port 0 picks a free port.
    pub listen: SocketAddr,
    /// Where the tenant is loaded from and saved to; `None` keeps it in memory only.
    pub state_file: Option<PathBuf>,
    /// Seed of every id in a fresh tenant (and of the fault generator).
    pub seed: u64,
    /// Lifetime of the access tokens the sandbox issues.
    pub token_lifetime: Duration,
    pub faults: Faults,
}

impl Default for SandboxConfig {
    fn default() -> Self {
        SandboxConfig {
            listen: SocketAddr::from(([127, 0, 0, 1], 0)),
            state_file: None,
            seed: 0x5eed,
            token_lifetime: Duration::from_secs(3599),
            faults: Faults::default(),
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
}

/// What a client needs to reach a running sandbox: the line `appreg sandbox serve` prints.
#[derive(Clone, Serialize, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct ConnectionInfo {
    pub graph_url: String,
    pub authority_url: String,
    pub tenant_id: String,
    pub client_id: String,
    pub client_secret: String,
}

impl std::fmt::Debug for ConnectionInfo {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ConnectionInfo")
            .field("graph_url", &self.graph_url)
            .field("authority_url", &self.authority_url)
            .field("tenant_id", &self.tenant_id)
            .field("client_id", &self.client_id)
            .field("client_secret", &"<redacted>")
            .finish()
    }
}

/// Starts sandboxes.
pub struct Sandbox;

impl Sandbox {
    /// Binds, loads or seeds the tenant, and serves until [`RunningSandbox::shutdown`] (or drop).
    pub async fn start(config: SandboxConfig) -> Result<RunningSandbox, SandboxError> {
        let now = server::now_ms();
        let store = match &config.state_file {
            Some(path) => {
                let loaded = persist::load(path).map_err(|source| SandboxError::ReadState {
                    path: path.clone(),
                    source,
                })?;
                match loaded {
                    Some(store) => store,
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
        let listener =
            TcpListener::bind(config.listen)
                .await
                .map_err(|source| SandboxError::Listen {
                    addr: config.listen,
                    source,
                })?;
        let addr = listener
            .local_addr()
            .map_err(|source| SandboxError::Listen {
                addr: config.listen,
                source,
            })?;
        let authority_url = format!("http://{addr}");
        let info = ConnectionInfo {
            graph_url: format!("{authority_url}/v1.0"),
            authority_url: authority_url.clone(),
            tenant_id: store.tenant_id.to_string(),
            client_id: store.admin.app_id.to_string(),
            client_secret: store.admin.client_secret.clone(),
        };
        let token_key = base64::engine::general_purpose::STANDARD
            .decode(&store.token_key)
            .unwrap_or_default();
        let shared = Arc::new(Shared {
            faults: Mutex::new(FaultState::new(config.faults.clone(), config.seed)),
            log: Mutex::new(RequestLog::default()),
            graph_url: info.graph_url.clone(),
            authority_url,
            tenant_id: info.tenant_id.clone(),
            token_key,
            token_lifetime: config.token_lifetime,
            persister: config.state_file.clone().map(persist::Persister::new),
            store: Mutex::new(store),
            dirty: AtomicBool::new(false),
            saver: Notify::new(),
        });
        let saver = shared
            .persister
            .is_some()
            .then(|| tokio::spawn(server::saver(shared.clone())));
        let app = server::router(shared.clone())
            .into_make_service_with_connect_info::<ConnectionHandle>();
        let (stop, stopped) = oneshot::channel::<()>();
        let task = tokio::spawn(async move {
            let serve =
                axum::serve(ResettableListener(listener), app).with_graceful_shutdown(async {
                    let _ = stopped.await;
                });
            if let Err(error) = serve.await {
                tracing::error!(%error, "sandbox server stopped");
            }
        });
        tracing::info!(graph_url = %info.graph_url, tenant = %info.tenant_id, "sandbox listening");
        Ok(RunningSandbox {
            info,
            addr,
            shared,
            stop: Some(stop),
            task: Some(task),
            saver,
        })
    }
}

/// A sandbox serving on a loopback port.
pub struct RunningSandbox {
    info: ConnectionInfo,
    addr: SocketAddr,
    shared: Arc<Shared>,
    stop: Option<oneshot::Sender<()>>,
    task: Option<JoinHandle<()>>,
    saver: Option<JoinHandle<()>>,
}

impl RunningSandbox {
    /// Graph base URL, e.g. `http://127.0.0.1:PORT/v1.0`.
    pub fn graph_url(&self) -> &str {
        &self.info.graph_url
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

    /// Replaces the realism switches; takes effect for the next request.
    pub fn set_faults(&self, faults: Faults) {
        lock(&self.shared.faults).faults = faults;
    }

    pub fn faults(&self) -> Faults {
        lock(&self.shared.faults).faults.clone()
    }

    /// Writes the current tenant to `path` (atomically, mode 0600) and answers its size in bytes.
    pub fn save_state(&self, path: &Path) -> Result<u64, SandboxError> {
        let bytes = persist::serialize(&lock(&self.shared.store));
        persist::write_atomic(path, &bytes).map_err(|source| SandboxError::WriteState {
            path: path.to_path_buf(),
            source,
        })?;
        Ok(bytes.len() as u64)
    }

    /// Stops accepting connections, waits for the server task to end, and saves the tenant.
    pub async fn shutdown(mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(task) = self.task.take() {
            let _ = tokio::time::timeout(Duration::from_secs(5), task).await;
        }
        self.stop_saving();
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
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        self.stop_saving();
    }
}

/// Empties a saved sandbox: replaces it with a freshly seeded tenant (new admin secret).
pub fn reset_state(path: &Path, seed: u64) -> Result<(), SandboxError> {
    let store = seed::tenant(seed, server::now_ms());
    persist::write_atomic(path, &persist::serialize(&store)).map_err(|source| {
        SandboxError::WriteState {
            path: path.to_path_buf(),
            source,
        }
    })
}
