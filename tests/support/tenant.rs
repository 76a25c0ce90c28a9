//! The harness of the end-to-end tests: a sandbox per test on 127.0.0.1:0, a Graph client built
//! like the binary builds one, raw HTTP with the admin's token as the independent view of the
//! tenant, and the real binary run against the sandbox.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

use appreg::credentials::{KeyVaultClient, Sinks};
use appreg::emulator::{Faults, RunningSandbox, Sandbox, SandboxConfig};
use appreg::engine::{self, ApplyReport, PlanOptions, plan::Action};
use appreg::graph::{Backoff, Cloud, GraphClient, GraphConfig};
use appreg::model::DesiredState;

pub use crate::raw::Raw;

// ---------------------------------------------------------------------------------------------
// Harness
// ---------------------------------------------------------------------------------------------

/// A private copy of examples/, since applying them writes secret files beside the manifests.
/// It lives under cargo's scratch directory for integration tests, as `<random>/examples`.
pub fn examples() -> PathBuf {
    pub fn copy(from: &Path, to: &Path) {
        std::fs::create_dir_all(to).unwrap();
        for entry in std::fs::read_dir(from).unwrap() {
            let entry = entry.unwrap();
            let target = to.join(entry.file_name());
            if entry.file_type().unwrap().is_dir() {
                if entry.file_name() != "secrets" {
                    copy(&entry.path(), &target);
                }
            } else {
                std::fs::copy(entry.path(), target).unwrap();
            }
        }
    }
    let source = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("examples");
    let copy_dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR"))
        .join(format!("examples-{}", uuid::Uuid::new_v4().simple()))
        .join("examples");
    copy(&source, &copy_dir);
    copy_dir
}

/// Each example integration on its own (they share the set `integrations`), and all of them.
pub fn example_sets() -> Vec<(&'static str, PathBuf)> {
    let dir = examples();
    vec![
        ("crm-calendar-sync", dir.join("crm-calendar-sync.yaml")),
        ("erp-contacts-sync", dir.join("erp-contacts-sync.yaml")),
        ("odoo-outlook-mail", dir.join("odoo-outlook-mail.yaml")),
        ("examples", dir),
    ]
}

pub fn load(paths: &[PathBuf]) -> DesiredState {
    match appreg::manifest::load(paths, &|_: &str| None) {
        Ok(loaded) => loaded.state,
        Err(invalid) => panic!("{paths:?} does not load: {:#?}", invalid.diagnostics),
    }
}

pub async fn start(faults: Faults, seed: u64) -> RunningSandbox {
    Sandbox::start(SandboxConfig {
        faults,
        seed,
        ..SandboxConfig::default()
    })
    .await
    .expect("the sandbox starts")
}

/// A Graph client for the sandbox, built like `cli::target` builds one (admin app, secret), with
/// short backoffs so fault runs stay quick.
pub fn client(sb: &RunningSandbox) -> GraphClient {
    client_with(sb, |_| {})
}

/// [`client`], with its configuration adjusted by `configure` before the client is built.
pub fn client_with(sb: &RunningSandbox, configure: impl FnOnce(&mut GraphConfig)) -> GraphClient {
    let (client, _) = appreg::cli::sandbox_client(&sb.connection_info(), Cloud::Global, |config| {
        config.max_in_flight = 8;
        config.retry_budget = Duration::from_secs(30);
        config.max_attempts = 30;
        config.backoff = Backoff {
            initial: Duration::from_millis(20),
            max: Duration::from_millis(250),
        };
        configure(config);
    })
    .unwrap();
    client
}

/// Sinks as the binary builds them for the sandbox: Key Vault requests go to its Key Vault.
pub fn sinks(client: &GraphClient, sb: &RunningSandbox) -> Sinks {
    let redirect = url::Url::parse(sb.key_vault_url()).unwrap();
    let key_vault = KeyVaultClient::new(
        client.credential(),
        appreg::graph::cloud::Cloud::Global,
        Some(redirect),
    )
    .unwrap();
    Sinks::new(Some(key_vault), &|_| None)
}

pub async fn plan(
    client: &GraphClient,
    sb: &RunningSandbox,
    state: &DesiredState,
    prune: bool,
) -> (engine::observed::Observed, engine::Planned) {
    let options = PlanOptions {
        prune,
        caller: sb.admin_client_id().parse().ok(),
        ..Default::default()
    };
    engine::plan(client, &sinks(client, sb), state, sb.tenant_id(), options)
        .await
        .unwrap_or_else(|e| panic!("plan failed: {e}"))
}

/// Plans and applies; every change must succeed.
pub async fn apply(
    client: &GraphClient,
    sb: &RunningSandbox,
    state: &DesiredState,
    prune: bool,
) -> ApplyReport {
    let (observed, planned) = plan(client, sb, state, prune).await;
    let report = engine::apply::apply(client, &sinks(client, sb), state, &observed, &planned)
        .await
        .unwrap_or_else(|e| panic!("apply failed: {e}"));
    assert!(report.failed.is_empty(), "failed: {:#?}", report.failed);
    report
}

/// Changes of a plan that are not no-ops, as `address: action (reason) [fields]`.
pub fn pending(planned: &engine::Planned) -> Vec<String> {
    planned
        .plan
        .changes
        .iter()
        .filter(|c| c.action != Action::NoOp)
        .map(|c| {
            let fields: Vec<String> = c
                .fields
                .iter()
                .map(|f| format!("{}: {:?} -> {:?}", f.field, f.before, f.after))
                .collect();
            format!("{}: {:?} ({}) {fields:?}", c.address, c.action, c.reason)
        })
        .collect()
}

/// Graph writes (anything but GET, batch items included) in the request log since the last clear.
pub fn writes(sb: &RunningSandbox) -> Vec<String> {
    sb.request_log()
        .requests
        .iter()
        .filter(|e| e.is_write())
        .map(|e| format!("{} {} -> {}", e.method, e.path, e.status))
        .collect()
}

pub const GRAPH_APP_ID: &str = "00000003-0000-0000-c000-000000000000";

/// Id of a Microsoft Graph application permission, read from the tenant.
pub async fn graph_role_id(raw: &Raw, name: &str) -> String {
    let graph = raw.resource_sp(GRAPH_APP_ID).await;
    graph["appRoles"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["value"] == name)
        .and_then(|r| r["id"].as_str())
        .unwrap_or_else(|| panic!("Graph has no app role {name}"))
        .to_string()
}

/// The real binary set up as a CI job with the admin app's credentials would run it against
/// the sandbox (`--graph-url`, `--authority-url`, `--key-vault-url`, `--auth secret`, AZURE_*
/// env, nothing else from this process's environment).
pub fn cli_command(sb: &RunningSandbox, cwd: &Path, args: &[&str]) -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_appreg"));
    command
        .args([
            "--graph-url",
            sb.graph_url(),
            "--authority-url",
            sb.authority_url(),
            "--key-vault-url",
            sb.key_vault_url(),
            "--auth",
            "secret",
            "--color",
            "never",
        ])
        .args(args)
        .current_dir(cwd)
        .env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .env("NO_COLOR", "1")
        .env("AZURE_TENANT_ID", sb.tenant_id())
        .env("AZURE_CLIENT_ID", sb.admin_client_id())
        .env("AZURE_CLIENT_SECRET", sb.admin_client_secret())
        .stdin(Stdio::null());
    command
}

/// Runs the binary (see [`cli_command`]) with `env` added, on a blocking thread so the sandbox
/// on this runtime keeps serving. Returns exit code, stdout, stderr.
pub async fn run_cli_env(
    sb: &RunningSandbox,
    cwd: &Path,
    args: &[&str],
    env: &[(&str, &str)],
) -> (i32, String, String) {
    let mut command = cli_command(sb, cwd, args);
    for (k, v) in env {
        command.env(k, v);
    }
    let out = tokio::task::spawn_blocking(move || command.output().expect("the binary runs"))
        .await
        .unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

pub async fn run_cli(sb: &RunningSandbox, cwd: &Path, args: &[&str]) -> (i32, String, String) {
    run_cli_env(sb, cwd, args, &[]).await
}

pub fn path_str(path: &Path) -> &str {
    path.to_str().unwrap()
}
