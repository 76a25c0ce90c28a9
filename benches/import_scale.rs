//! How `appreg import` scales with the number of apps in a tenant: a brownfield tenant of N
//! registrations made by hand (raw Graph requests, no appreg code), imported with
//! `appreg import --all --out DIR` by the real binary against the sandbox with a fixed 50 ms of
//! injected latency per round trip (no jitter), then planned once.
//!
//! Each app, as a portal guide leaves it: a web redirect URI; Microsoft Graph delegated
//! `User.Read` and application `User.Read.All`, Office 365 Exchange Online application
//! `SMTP.SendAsApp`, all consented for the tenant; a service principal with one user assignment;
//! a user as owner; one GitHub federated credential; one client secret with a description.
//! The tenant is seeded with no latency, then the latency is switched on for the measurements.
//!
//! Counts come from the emulator's request log (round trips: HTTP requests to Graph, a `$batch`
//! once; Graph requests: a `$batch` as its items). It asserts correctness (one adopting entry
//! per app, nothing written by import, a first plan that is only the adoption), never timing:
//! the target (1,000 apps in at most 300 round trips) is reported as met or not.
//!
//! Run: `cargo bench --bench import_scale` (10, 100, 1,000 apps), or a subset:
//! `APPREG_BENCH_SIZES=10,100 cargo bench --bench import_scale` (or `-- 10 100`).
//! `APPREG_BENCH_LATENCY_MS` overrides the 50 ms.

mod common;

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use appreg::emulator::{Counters, RunningSandbox};
use futures_util::future::join_all;
use serde_json::{Value, json};

const GRAPH_APP_ID: &str = "00000003-0000-0000-c000-000000000000";
const EXCHANGE_APP_ID: &str = "00000002-0000-0ff1-ce00-000000000000";
const SET_NAME: &str = "imported";
/// Apps registered at once while seeding.
const SEED_CONCURRENCY: usize = 16;

const TARGET_IMPORT_RT: u64 = 300;
const TARGET_IMPORT_N: usize = 1000;

/// Raw Graph with the sandbox admin's token, for seeding.
struct Raw {
    http: reqwest::Client,
    graph: String,
    token: String,
}

impl Raw {
    async fn new(sandbox: &RunningSandbox) -> Raw {
        let http = reqwest::Client::new();
        let token = common::admin_token(&http, &sandbox.connection_info()).await;
        Raw {
            http,
            graph: sandbox.graph_url().trim_end_matches('/').to_string(),
            token,
        }
    }

    async fn call(&self, method: reqwest::Method, path: &str, body: Option<Value>) -> Value {
        let mut request = self
            .http
            .request(method.clone(), format!("{}{path}", self.graph))
            .bearer_auth(&self.token);
        if let Some(body) = body {
            request = request.json(&body);
        }
        let response = request.send().await.expect("graph request");
        let status = response.status();
        let text = response.text().await.unwrap_or_default();
        assert!(status.is_success(), "{method} {path} -> {status}: {text}");
        serde_json::from_str(&text).unwrap_or(Value::Null)
    }

    async fn post(&self, path: &str, body: Value) -> Value {
        self.call(reqwest::Method::POST, path, Some(body)).await
    }
}

/// Ids the seeding needs, read once.
struct Directory {
    graph: Value,
    exchange: Value,
    users: Vec<String>,
}

fn permission(resource: &Value, list: &str, name: &str) -> String {
    resource[list]
        .as_array()
        .expect("permissions")
        .iter()
        .find(|p| p["value"] == name)
        .and_then(|p| p["id"].as_str())
        .unwrap_or_else(|| panic!("{name} is published"))
        .to_string()
}

/// Registers app `i` as a portal guide has a person do it.
async fn register(raw: &Raw, dir: &Directory, i: usize) {
    let graph = &dir.graph;
    let exchange = &dir.exchange;
    let user_read_all = permission(graph, "appRoles", "User.Read.All");
    let smtp = permission(exchange, "appRoles", "SMTP.SendAsApp");
    let app = raw
        .post(
            "/applications",
            json!({
                "displayName": format!("Hand app {i:04}"),
                "signInAudience": "AzureADMyOrg",
                "web": {"redirectUris": [format!("https://app{i:04}.example.com/signin-oidc")]},
                "requiredResourceAccess": [
                    {"resourceAppId": GRAPH_APP_ID, "resourceAccess": [
                        {"id": permission(graph, "oauth2PermissionScopes", "User.Read"), "type": "Scope"},
                        {"id": user_read_all, "type": "Role"},
                    ]},
                    {"resourceAppId": EXCHANGE_APP_ID, "resourceAccess": [{"id": smtp, "type": "Role"}]},
                ],
            }),
        )
        .await;
    let id = app["id"].as_str().expect("id").to_string();
    let app_id = app["appId"].as_str().expect("appId").to_string();
    let user = &dir.users[i % dir.users.len()];
    // The clicking user owns it; the sandbox made the admin app (the caller) owner too.
    raw.post(
        &format!("/applications/{id}/owners/$ref"),
        json!({"@odata.id": format!("{}/directoryObjects/{user}", raw.graph)}),
    )
    .await;
    for owner in raw
        .call(
            reqwest::Method::GET,
            &format!("/applications/{id}/owners"),
            None,
        )
        .await["value"]
        .as_array()
        .cloned()
        .unwrap_or_default()
    {
        let owner = owner["id"].as_str().unwrap_or_default();
        if owner != user {
            raw.call(
                reqwest::Method::DELETE,
                &format!("/applications/{id}/owners/{owner}/$ref"),
                None,
            )
            .await;
        }
    }
    raw.post(
        &format!("/applications/{id}/federatedIdentityCredentials"),
        json!({
            "name": "github-deploy",
            "issuer": "https://token.actions.githubusercontent.com",
            "subject": format!("repo:contoso/app{i:04}:environment:prod"),
            "audiences": ["api://AzureADTokenExchange"],
        }),
    )
    .await;
    let two_years = (chrono::Utc::now() + chrono::Duration::days(730)).to_rfc3339();
    raw.post(
        &format!("/applications/{id}/addPassword"),
        json!({"passwordCredential": {"displayName": "vendor", "endDateTime": two_years}}),
    )
    .await;
    let sp = raw
        .post(
            "/servicePrincipals",
            json!({"appId": app_id, "tags": ["WindowsAzureActiveDirectoryIntegratedApp"]}),
        )
        .await;
    let sp_id = sp["id"].as_str().expect("sp id").to_string();
    let graph_id = graph["id"].as_str().expect("graph sp id");
    let exchange_id = exchange["id"].as_str().expect("exchange sp id");
    raw.post(
        "/oauth2PermissionGrants",
        json!({"clientId": sp_id, "consentType": "AllPrincipals", "resourceId": graph_id, "scope": "User.Read"}),
    )
    .await;
    for (resource, role) in [(graph_id, &user_read_all), (exchange_id, &smtp)] {
        raw.post(
            &format!("/servicePrincipals/{resource}/appRoleAssignedTo"),
            json!({"principalId": sp_id, "resourceId": resource, "appRoleId": role}),
        )
        .await;
    }
    raw.post(
        &format!("/servicePrincipals/{sp_id}/appRoleAssignedTo"),
        json!({"principalId": user, "resourceId": sp_id, "appRoleId": "00000000-0000-0000-0000-000000000000"}),
    )
    .await;
}

async fn seed(sandbox: &RunningSandbox, n: usize) {
    let raw = Raw::new(sandbox).await;
    let get = async |path: String| raw.call(reqwest::Method::GET, &path, None).await;
    let graph = get(format!("/servicePrincipals(appId='{GRAPH_APP_ID}')")).await;
    let exchange = get(format!("/servicePrincipals(appId='{EXCHANGE_APP_ID}')")).await;
    let mut users = Vec::new();
    for upn in common::USERS {
        users.push(
            get(format!("/users/{upn}")).await["id"]
                .as_str()
                .expect("user id")
                .to_string(),
        );
    }
    let dir = Directory {
        graph,
        exchange,
        users,
    };
    let indices: Vec<usize> = (0..n).collect();
    for chunk in indices.chunks(SEED_CONCURRENCY) {
        join_all(chunk.iter().map(|&i| register(&raw, &dir, i))).await;
    }
}

/// Runs the binary as a pipeline would against the sandbox; (exit code, stdout, stderr, wall).
async fn appreg(
    sandbox: &RunningSandbox,
    cwd: &Path,
    args: &[&str],
) -> (i32, String, String, Duration) {
    let mut command = Command::new(env!("CARGO_BIN_EXE_appreg"));
    command
        .args([
            "--graph-url",
            sandbox.graph_url(),
            "--authority-url",
            sandbox.authority_url(),
            "--key-vault-url",
            sandbox.key_vault_url(),
            "--auth",
            "secret",
            "--color",
            "never",
            "--progress",
            "never",
        ])
        .args(args)
        .current_dir(cwd)
        .env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .env("NO_COLOR", "1")
        .env("AZURE_TENANT_ID", sandbox.tenant_id())
        .env("AZURE_CLIENT_ID", sandbox.admin_client_id())
        .env("AZURE_CLIENT_SECRET", sandbox.admin_client_secret())
        .stdin(Stdio::null());
    let started = Instant::now();
    let out = tokio::task::spawn_blocking(move || command.output().expect("the binary runs"))
        .await
        .expect("join");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
        started.elapsed(),
    )
}

struct Row {
    n: usize,
    op: &'static str,
    counters: Counters,
    wall: Duration,
    note: String,
}

/// Entries adopting an app in the generated manifests of `dir`.
fn adopting_entries(dir: &Path) -> (usize, usize) {
    let mut files = 0;
    let mut adopting = 0;
    for entry in std::fs::read_dir(dir).expect("the import's output directory") {
        let path = entry.expect("entry").path();
        if path.extension().is_some_and(|e| e == "yaml") {
            files += 1;
            let text = std::fs::read_to_string(&path).expect("a manifest");
            adopting += text
                .lines()
                .filter(|l| l.trim_start().starts_with("adopt:"))
                .count();
        }
    }
    (files, adopting)
}

async fn run_size(n: usize, latency: Duration) -> Vec<Row> {
    let progress = |what: &str| eprintln!("[import_scale] N={n}: {what}");
    let sandbox = common::sandbox(Duration::ZERO).await;
    progress("seeding the tenant by raw Graph (no latency)");
    let started = Instant::now();
    seed(&sandbox, n).await;
    progress(&format!(
        "seeded in {:.1} s",
        started.elapsed().as_secs_f64()
    ));
    sandbox.set_faults(common::faults(latency));
    let work = tempfile::tempdir().expect("temp dir");
    let mut rows = Vec::new();

    progress("import --all");
    sandbox.clear_log();
    let (code, _, stderr, wall) = appreg(
        &sandbox,
        work.path(),
        &["import", "--all", "--set", SET_NAME, "--out", "manifests"],
    )
    .await;
    assert_eq!(code, 0, "import failed: {stderr}");
    let log = sandbox.request_log();
    assert_eq!(log.counters.writes, 0, "import wrote to the tenant");
    let (files, adopting) = adopting_entries(&work.path().join("manifests"));
    assert_eq!(adopting, n, "one adopting entry per app ({files} files)");
    rows.push(Row {
        n,
        op: "import --all",
        counters: log.counters,
        wall,
        note: format!("{files} files, {adopting} apps adopted"),
    });

    progress("plan of the imported manifests");
    sandbox.clear_log();
    let (code, stdout, stderr, wall) =
        appreg(&sandbox, work.path(), &["plan", "--json", "manifests"]).await;
    assert_eq!(code, 0, "plan failed: {stderr}");
    let plan: Value = serde_json::from_str(&stdout).expect("a JSON plan");
    let pending: Vec<&Value> = plan["changes"]
        .as_array()
        .expect("changes")
        .iter()
        .filter(|c| c["action"] != "no_op")
        .collect();
    for change in &pending {
        let only_adoption = change["action"] == "update"
            && change["fields"].as_array().is_some_and(|f| {
                f.iter()
                    .all(|f| f["field"] == "tags" || f["field"] == "uniqueName")
            });
        assert!(only_adoption, "more than the adoption: {change}");
    }
    rows.push(Row {
        n,
        op: "plan after import",
        counters: sandbox.request_log().counters,
        wall,
        note: format!(
            "{} pending changes, all adoption (uniqueName, tags)",
            pending.len()
        ),
    });
    sandbox.shutdown().await;
    rows
}

fn main() {
    let sizes = common::sizes();
    let latency = common::latency();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let mut rows = Vec::new();
    for &n in &sizes {
        let started = Instant::now();
        rows.extend(runtime.block_on(run_size(n, latency)));
        eprintln!(
            "[import_scale] N={n}: done in {:.1} s",
            started.elapsed().as_secs_f64()
        );
    }
    println!(
        "# import_scale: {} ms fixed latency per round trip, no jitter, the binary's default {} in flight\n",
        latency.as_millis(),
        common::MAX_IN_FLIGHT
    );
    println!(
        "| N | operation | round trips | Graph requests | token requests | wall (s) | round trips / app | note |"
    );
    println!("|---:|---|---:|---:|---:|---:|---:|---|");
    for row in &rows {
        println!(
            "| {} | {} | {} | {} | {} | {:.2} | {:.3} | {} |",
            row.n,
            row.op,
            row.counters.http_requests,
            row.counters.graph_requests,
            row.counters.token_requests,
            row.wall.as_secs_f64(),
            row.counters.http_requests as f64 / row.n.max(1) as f64,
            row.note
        );
    }
    println!();
    match rows
        .iter()
        .find(|r| r.n == TARGET_IMPORT_N && r.op == "import --all")
    {
        Some(row) => println!(
            "Target: import of {TARGET_IMPORT_N} apps in at most {TARGET_IMPORT_RT} round trips: {} ({} round trips, {:.2} s).",
            if row.counters.http_requests <= TARGET_IMPORT_RT {
                "met"
            } else {
                "NOT met"
            },
            row.counters.http_requests,
            row.wall.as_secs_f64()
        ),
        None => println!("Target: not measured (N={TARGET_IMPORT_N} not run)."),
    }
}
