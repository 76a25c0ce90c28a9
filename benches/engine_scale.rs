//! How appreg's engine scales with the number of managed apps, against the sandbox tenant with a
//! fixed 50 ms of injected latency per HTTP round trip (no jitter).
//!
//! For each N (10, 100, 1,000 by default) a fresh sandbox gets N generated apps, each with a
//! service principal, delegated `User.Read` + application `User.Read.All` on Microsoft Graph,
//! application `SMTP.SendAsApp` on Office 365 Exchange Online, admin consent, two assignments
//! (a seeded user and a seeded group) and one GitHub federated credential. Measured, each from the
//! client's `RequestStats` and cross-checked with the emulator's request log:
//!
//! - apply from empty (observe + plan + apply, what `appreg apply --auto-approve` does),
//! - plan with no changes (observe + plan),
//! - re-apply (observe + plan + `engine::apply::apply` on the resulting plan), which must write
//!   nothing: asserted from the emulator's log, batch items counted one by one,
//! - a per-object reader: one GET per object and sub-object, the way resource-per-object IaC tools
//!   refresh their state, through the same `GraphClient` (so the same in-flight bound, 8).
//!
//! It prints Markdown tables (results, targets, where round trips go, an emulator check) to stdout
//! and a progress line per step to stderr. It asserts correctness (no failed changes, an unchanged
//! plan, a zero-write re-apply), never timing: targets are reported as met or not.
//!
//! Run: `cargo bench --bench engine_scale` (all sizes), or a subset:
//! `APPREG_BENCH_SIZES=10,100 cargo bench --bench engine_scale` (or `-- 10 100`).
//! `APPREG_BENCH_LATENCY_MS` overrides the 50 ms for experiments.

mod common;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use appreg::emulator::{EntryKind, RequestLog, RunningSandbox};
use appreg::engine::observed::{Observed, str_of};
use appreg::engine::plan::Action;
use appreg::engine::{self, PlanOptions};
use appreg::graph::{GraphClient, Request, RequestStats, odata};
use appreg::model::DesiredState;
use common::{GROUPS, MAX_IN_FLIGHT, USERS, client_for, faults, latency, sizes};
use futures_util::future::join_all;
use regex::Regex;

const SET_NAME: &str = "bench";

/// Targets of the issue.
const TARGET_PLAN_RT: u64 = 250;
const TARGET_PLAN_WALL: Duration = Duration::from_secs(10);
const TARGET_PLAN_N: usize = 1000;

/// One measured operation.
struct Row {
    n: usize,
    op: &'static str,
    stats: RequestStats,
    log: RequestLog,
    wall: Duration,
    /// Time in the engine's own computation (diff/plan), where it can be separated.
    compute: Option<Duration>,
    note: String,
}

impl Row {
    fn log_round_trips(&self) -> u64 {
        self.log.counters.http_requests
    }
    fn log_graph_requests(&self) -> u64 {
        self.log.counters.graph_requests
    }
    fn log_writes(&self) -> u64 {
        self.log.requests.iter().filter(|e| e.is_write()).count() as u64
    }
    /// Server-side processing of every round trip (a `$batch` envelope's time covers its items),
    /// injected latency excluded (it is added before the handler runs).
    fn server_ms(&self) -> f64 {
        self.log
            .requests
            .iter()
            .filter(|e| matches!(e.kind, EntryKind::Graph | EntryKind::Batch))
            .map(|e| e.latency_ms)
            .sum()
    }
    fn server_max_ms(&self) -> f64 {
        self.log
            .requests
            .iter()
            .filter(|e| matches!(e.kind, EntryKind::Graph | EntryKind::Batch))
            .map(|e| e.latency_ms)
            .fold(0.0, f64::max)
    }
}

fn app_key(i: usize) -> String {
    format!("bench-app-{i:04}")
}

/// The manifest of N apps, as YAML files of at most 100 apps each (a file is capped at 1 MiB).
fn write_manifest(dir: &Path, n: usize) -> Vec<PathBuf> {
    let mut paths = Vec::new();
    for (file, chunk) in (0..n).collect::<Vec<_>>().chunks(100).enumerate() {
        let mut text = format!("version: 1\nname: {SET_NAME}\napps:\n");
        for &i in chunk {
            let key = app_key(i);
            let user = USERS[i % USERS.len()];
            let group = GROUPS[i % GROUPS.len()];
            text.push_str(&format!(
                "  {key}:
    displayName: Bench app {i:04}
    web:
      redirectUris: [https://app{i:04}.example.com/auth/callback]
    permissions:
      Microsoft Graph:
        delegated: [User.Read]
        application: [User.Read.All]
      Office 365 Exchange Online:
        application: [SMTP.SendAsApp]
    adminConsent: true
    servicePrincipal:
      assignments:
        - user: {user}
        - group: {group}
    federatedCredentials:
      - name: github-deploy
        issuer: https://token.actions.githubusercontent.com
        subject: repo:contoso/{key}:environment:prod
"
            ));
        }
        let path = dir.join(format!("apps-{file:03}.yaml"));
        std::fs::write(&path, text).expect("write the manifest");
        paths.push(path);
    }
    paths
}

fn load(paths: &[PathBuf]) -> DesiredState {
    let env = |_: &str| None;
    match appreg::manifest::load(paths, &env) {
        Ok(loaded) => loaded.state,
        Err(invalid) => {
            for d in &invalid.diagnostics {
                eprintln!("{d:?}");
            }
            panic!("the generated manifest is invalid");
        }
    }
}

/// Zero the client's counters and the emulator's log before an operation.
fn reset(sandbox: &RunningSandbox, client: &GraphClient) {
    client.reset_stats();
    sandbox.clear_log();
}

fn delta_stats(client: &GraphClient) -> RequestStats {
    client.stats()
}

/// Observe + plan, timed apart. Returns the observation, the plan, and the planner's CPU time.
async fn plan(
    client: &GraphClient,
    state: &DesiredState,
    tenant_id: &str,
) -> (Observed, engine::Planned, Duration) {
    // The same two steps as `engine::plan`, so observation and diff can be timed separately.
    let observed = engine::observe::observe(client, state, tenant_id)
        .await
        .expect("observe");
    let started = Instant::now();
    let planned = engine::planner::plan(
        state,
        &observed,
        PlanOptions {
            prune: false,
            caller: None,
        },
        chrono::Utc::now(),
    )
    .expect("plan");
    (observed, planned, started.elapsed())
}

fn summarize_changes(planned: &engine::Planned) -> String {
    let mut by_action: BTreeMap<String, usize> = BTreeMap::new();
    for c in &planned.plan.changes {
        *by_action
            .entry(format!("{:?} {:?}", c.action, c.resource))
            .or_default() += 1;
    }
    by_action
        .iter()
        .filter(|(k, _)| !k.starts_with("NoOp"))
        .map(|(k, v)| format!("{v} {k}"))
        .collect::<Vec<_>>()
        .join(", ")
}

/// The per-object reader's GETs: what a resource-per-object tool refreshes, knowing every id from
/// its state. Per app: the application, its service principal, each delegated grant, each
/// application-permission assignment, each user/group assignment, each federated credential, and
/// the application's owners (one collection read, as azuread's application resource reads them).
/// Per configuration: the data sources (resource service principals, users, groups), once each.
fn reader_requests(observed: &Observed) -> (Vec<Request>, usize) {
    let mut requests = Vec::new();
    for (key, app) in &observed.apps {
        let app_id = app
            .application
            .as_ref()
            .and_then(|a| str_of(a, "id"))
            .unwrap_or_else(|| panic!("{key}: no application"))
            .to_string();
        let sp_id = app
            .service_principal
            .as_ref()
            .and_then(|s| str_of(s, "id"))
            .unwrap_or_else(|| panic!("{key}: no service principal"))
            .to_string();
        requests.push(Request::get(format!("/applications/{app_id}")));
        requests.push(Request::get(format!("/servicePrincipals/{sp_id}")));
        for grant in &app.grants {
            let id = str_of(grant, "id").expect("grant id");
            requests.push(Request::get(format!("/oauth2PermissionGrants/{id}")));
        }
        for held in &app.app_role_assignments {
            let id = str_of(held, "id").expect("assignment id");
            requests.push(Request::get(format!(
                "/servicePrincipals/{sp_id}/appRoleAssignments/{id}"
            )));
        }
        for assigned in &app.assigned_to {
            let id = str_of(assigned, "id").expect("assignment id");
            requests.push(Request::get(format!(
                "/servicePrincipals/{sp_id}/appRoleAssignedTo/{id}"
            )));
        }
        for fic in &app.federated_credentials {
            let id = str_of(fic, "id").expect("federated credential id");
            requests.push(Request::get(format!(
                "/applications/{app_id}/federatedIdentityCredentials/{id}"
            )));
        }
        requests.push(Request::get(format!("/applications/{app_id}/owners")));
    }
    let per_app = requests.len();
    for api in observed.resources.values() {
        requests.push(Request::get(format!(
            "/servicePrincipals(appId={})",
            odata::key(&api.app_id.to_string())
        )));
    }
    for upn in observed.users.keys() {
        requests.push(Request::get(format!(
            "/users/{}",
            appreg::graph::path_segment(upn)
        )));
    }
    for name in observed.groups.keys() {
        requests.push(
            Request::get("/groups")
                .query("$filter", format!("displayName eq {}", odata::quote(name))),
        );
    }
    (requests, per_app)
}

/// Normalized label of a logged request: ids and quoted values elided, query reduced to its names.
fn label(method: &str, path: &str, re: &Labeler) -> String {
    let path = path.strip_prefix("/v1.0").unwrap_or(path);
    let (path, query) = path.split_once('?').unwrap_or((path, ""));
    let path = re.uuid.replace_all(path, "{id}");
    let path = re.quoted.replace_all(&path, "'…'");
    let path = re.upn.replace_all(&path, "/{upn}");
    let path = re.opaque.replace_all(&path, "/{id}");
    let names: Vec<String> = query
        .split('&')
        .filter(|p| !p.is_empty())
        .map(|p| {
            let name = p.split('=').next().unwrap_or_default();
            percent_encoding::percent_decode_str(name)
                .decode_utf8_lossy()
                .to_string()
        })
        .collect();
    let filter_on = query
        .split('&')
        .find(|p| p.starts_with("$filter=") || p.starts_with("%24filter="))
        .map(|p| {
            let value = p.split_once('=').map(|x| x.1).unwrap_or_default();
            let value = percent_encoding::percent_decode_str(&value.replace('+', " "))
                .decode_utf8_lossy()
                .to_string();
            value
                .split([' ', '('])
                .next()
                .unwrap_or_default()
                .to_string()
        });
    let mut text = format!("{method} {path}");
    if !names.is_empty() {
        text.push('?');
        text.push_str(&names.join("&"));
    }
    if let Some(on) = filter_on {
        text.push_str(&format!(" [filter on {on}]"));
    }
    text
}

struct Labeler {
    uuid: Regex,
    quoted: Regex,
    /// A user principal name in a path segment.
    upn: Regex,
    /// Opaque ids of grants and app role assignments (base64url, 43 characters).
    opaque: Regex,
}

/// Where the round trips of an operation went: per kind of envelope (the set of item labels it
/// carried) or single request, the round trips and Graph requests.
fn breakdown(log: &RequestLog, re: &Labeler) -> Vec<(String, u64, u64)> {
    let mut items_of: BTreeMap<u64, Vec<String>> = BTreeMap::new();
    for e in &log.requests {
        if e.kind == EntryKind::BatchItem
            && let Some(seq) = e.batch_seq
        {
            items_of
                .entry(seq)
                .or_default()
                .push(label(&e.method, &e.path, re));
        }
    }
    let mut out: BTreeMap<String, (u64, u64)> = BTreeMap::new();
    for e in &log.requests {
        match e.kind {
            EntryKind::Graph => {
                let slot = out
                    .entry(format!("single: {}", label(&e.method, &e.path, re)))
                    .or_default();
                slot.0 += 1;
                slot.1 += 1;
            }
            EntryKind::Batch => {
                let items = items_of.get(&e.seq).cloned().unwrap_or_default();
                let mut kinds: Vec<String> = items.clone();
                kinds.sort();
                kinds.dedup();
                let slot = out
                    .entry(format!("$batch of {}", kinds.join(" + ")))
                    .or_default();
                slot.0 += 1;
                slot.1 += items.len() as u64;
            }
            EntryKind::BatchItem | EntryKind::Token | EntryKind::KeyVault => {}
        }
    }
    let mut rows: Vec<(String, u64, u64)> = out.into_iter().map(|(k, (a, b))| (k, a, b)).collect();
    rows.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(&b.0)));
    rows
}

fn ms(d: Duration) -> String {
    format!("{:.0}", d.as_secs_f64() * 1000.0)
}

fn secs(d: Duration) -> String {
    format!("{:.2}", d.as_secs_f64())
}

struct SizeResult {
    rows: Vec<Row>,
    load: Duration,
    floor_plan: Row,
    /// The same with one request in flight: per-request emulator time without lock contention.
    floor_sequential: Row,
    reader_per_app: usize,
}

async fn run_size(n: usize, latency: Duration) -> SizeResult {
    let progress = |what: &str| eprintln!("[engine_scale] N={n}: {what}");
    let dir = tempfile::tempdir().expect("temp dir");
    let paths = write_manifest(dir.path(), n);
    let started = Instant::now();
    let state = load(&paths);
    let load_time = started.elapsed();
    assert_eq!(state.apps.len(), n);

    let sandbox = common::sandbox(latency).await;
    let client = client_for(&sandbox, MAX_IN_FLIGHT);
    let tenant_id = sandbox.tenant_id().to_string();
    // Fetch the token outside the measurements (one token request per run, not a Graph request).
    client
        .send(Request::get("/organization"))
        .await
        .expect("warm-up request");
    let mut rows = Vec::new();

    // 1. Apply from empty: observe, plan, apply.
    progress("apply from empty");
    reset(&sandbox, &client);
    let started = Instant::now();
    let (observed, planned, compute) = plan(&client, &state, &tenant_id).await;
    let observe_stats = delta_stats(&client);
    let changes = summarize_changes(&planned);
    let report = engine::apply::apply(
        &client,
        &appreg::credentials::Sinks::new(None, &|_| None),
        &state,
        &observed,
        &planned,
    )
    .await
    .expect("apply");
    let wall = started.elapsed();
    assert!(
        report.failed.is_empty(),
        "apply from empty failed: {:?}",
        &report.failed[..report.failed.len().min(10)]
    );
    let creates = report
        .done
        .iter()
        .filter(|(_, a)| *a == Action::Create)
        .count();
    rows.push(Row {
        n,
        op: "apply from empty",
        stats: delta_stats(&client),
        log: sandbox.request_log(),
        wall,
        compute: Some(compute),
        note: format!(
            "{creates} creates ({changes}); observe part: {} round trips, {} Graph requests",
            observe_stats.round_trips, observe_stats.graph_requests
        ),
    });

    // 2. Plan with no changes.
    progress("plan with no changes");
    reset(&sandbox, &client);
    let started = Instant::now();
    let (observed, planned, compute) = plan(&client, &state, &tenant_id).await;
    let wall = started.elapsed();
    let leftover = summarize_changes(&planned);
    assert!(
        !planned.plan.has_changes(),
        "plan after apply is not empty: {leftover}"
    );
    rows.push(Row {
        n,
        op: "plan, no changes",
        stats: delta_stats(&client),
        log: sandbox.request_log(),
        wall,
        compute: Some(compute),
        note: format!("{} no-op changes", planned.plan.changes.len()),
    });

    // 3. Re-apply: plan, then apply whatever it says (nothing), and prove nothing was written.
    progress("re-apply");
    reset(&sandbox, &client);
    let started = Instant::now();
    let (observed2, planned2, compute) = plan(&client, &state, &tenant_id).await;
    let report = engine::apply::apply(
        &client,
        &appreg::credentials::Sinks::new(None, &|_| None),
        &state,
        &observed2,
        &planned2,
    )
    .await
    .expect("re-apply");
    let wall = started.elapsed();
    let log = sandbox.request_log();
    let writes: Vec<String> = log
        .requests
        .iter()
        .filter(|e| e.is_write())
        .map(|e| format!("{} {}", e.method, e.path))
        .collect();
    assert!(
        writes.is_empty() && report.done.is_empty() && report.failed.is_empty(),
        "re-apply wrote {} requests: {:?}",
        writes.len(),
        &writes[..writes.len().min(10)]
    );
    assert_eq!(log.counters.writes, 0, "the emulator counted writes");
    rows.push(Row {
        n,
        op: "re-apply",
        stats: delta_stats(&client),
        log,
        wall,
        compute: Some(compute),
        note: "0 writes (emulator log, batch items counted)".into(),
    });

    // 4. Per-object reader, same client (8 in flight), every GET on its own round trip.
    progress("per-object reader");
    let (requests, per_app) = reader_requests(&observed);
    reset(&sandbox, &client);
    let started = Instant::now();
    let answers = join_all(requests.into_iter().map(|r| client.send(r))).await;
    let wall = started.elapsed();
    let failed: Vec<String> = answers
        .iter()
        .filter_map(|a| a.as_ref().err().map(|e| e.to_string()))
        .collect();
    assert!(
        failed.is_empty(),
        "per-object reads failed: {:?}",
        &failed[..failed.len().min(5)]
    );
    rows.push(Row {
        n,
        op: "per-object reader",
        stats: delta_stats(&client),
        log: sandbox.request_log(),
        wall,
        compute: None,
        note: format!(
            "{} GETs per app + {} data-source GETs; {MAX_IN_FLIGHT} in flight; sequential would be ≥ {} s of latency alone",
            per_app / n.max(1),
            answers.len() - per_app,
            answers.len() as u64 * latency.as_millis() as u64 / 1000
        ),
    });

    // 5. The floor: the same unchanged plan with no injected latency (client, engine and emulator
    //    work only), to see whether the emulator's own throughput matters.
    progress("plan with no latency (floor)");
    sandbox.set_faults(faults(Duration::ZERO));
    reset(&sandbox, &client);
    let started = Instant::now();
    let (_, planned, compute) = plan(&client, &state, &tenant_id).await;
    let wall = started.elapsed();
    assert!(!planned.plan.has_changes());
    let floor_plan = Row {
        n,
        op: "plan, no changes, 0 ms latency",
        stats: delta_stats(&client),
        log: sandbox.request_log(),
        wall,
        compute: Some(compute),
        note: String::new(),
    };
    progress("plan with no latency, 1 in flight (uncontended emulator)");
    let sequential = client_for(&sandbox, 1);
    sequential
        .send(Request::get("/organization"))
        .await
        .expect("warm-up request");
    reset(&sandbox, &sequential);
    let started = Instant::now();
    let (_, planned, compute) = plan(&sequential, &state, &tenant_id).await;
    let wall = started.elapsed();
    assert!(!planned.plan.has_changes());
    let floor_sequential = Row {
        n,
        op: "plan, no changes, 0 ms latency, 1 in flight",
        stats: delta_stats(&sequential),
        log: sandbox.request_log(),
        wall,
        compute: Some(compute),
        note: String::new(),
    };
    sandbox.shutdown().await;
    SizeResult {
        floor_sequential,
        rows,
        load: load_time,
        floor_plan,
        reader_per_app: per_app / n.max(1),
    }
}

fn main() {
    let sizes = sizes();
    let latency = latency();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let re = Labeler {
        uuid: Regex::new(
            r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}",
        )
        .expect("regex"),
        quoted: Regex::new(r"'(?:[^']|'')*'").expect("regex"),
        upn: Regex::new(r"/[^/?]*(?:%40|@)[^/?]*").expect("regex"),
        opaque: Regex::new(r"/[A-Za-z0-9_-]{32,}").expect("regex"),
    };
    let bench_started = Instant::now();
    let mut results = Vec::new();
    for &n in &sizes {
        let started = Instant::now();
        let result = runtime.block_on(run_size(n, latency));
        eprintln!(
            "[engine_scale] N={n}: done in {:.1} s",
            started.elapsed().as_secs_f64()
        );
        results.push(result);
    }

    let lat = latency.as_millis();
    println!(
        "# engine_scale: {} ms fixed latency per round trip, no jitter, {MAX_IN_FLIGHT} in flight\n",
        lat
    );
    println!(
        "Each app: service principal, Microsoft Graph delegated User.Read + application User.Read.All, \
         Office 365 Exchange Online application SMTP.SendAsApp, admin consent, two assignments \
         (a seeded user and a seeded group), one GitHub federated credential.\n"
    );
    println!(
        "| N | operation | round trips | Graph requests | writes | wall (s) | round trips / app | server time (ms) |"
    );
    println!("|---:|---|---:|---:|---:|---:|---:|---:|");
    for r in results.iter().flat_map(|s| &s.rows) {
        println!(
            "| {} | {} | {} | {} | {} | {} | {:.3} | {:.0} |",
            r.n,
            r.op,
            r.stats.round_trips,
            r.stats.graph_requests,
            r.log_writes(),
            secs(r.wall),
            r.stats.round_trips as f64 / r.n as f64,
            r.server_ms(),
        );
    }

    println!("\n## Raw numbers\n");
    println!(
        "client = `GraphClient::stats()`; emulator = request log counters (`httpRequests` excludes token requests).\n"
    );
    println!(
        "| N | operation | client round trips | emulator round trips | client Graph requests | emulator Graph requests | client reads / writes | emulator writes | retries | resource units | wall (ms) | planner CPU (ms) | emulator busy, sum (ms) | slowest round trip server-side (ms) | notes |"
    );
    println!("|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|");
    for r in results
        .iter()
        .flat_map(|s| s.rows.iter().chain([&s.floor_plan, &s.floor_sequential]))
    {
        println!(
            "| {} | {} | {} | {} | {} | {} | {} / {} | {} | {} | {} | {} | {} | {:.0} | {:.1} | {} |",
            r.n,
            r.op,
            r.stats.round_trips,
            r.log_round_trips(),
            r.stats.graph_requests,
            r.log_graph_requests(),
            r.stats.reads,
            r.stats.writes,
            r.log_writes(),
            r.stats.retries,
            r.stats.resource_units,
            ms(r.wall),
            r.compute.map(ms).unwrap_or_else(|| "-".into()),
            r.server_ms(),
            r.server_max_ms(),
            r.note
        );
        assert_eq!(
            r.stats.round_trips,
            r.log_round_trips(),
            "client and emulator disagree on round trips ({} N={})",
            r.op,
            r.n
        );
        assert_eq!(
            r.stats.graph_requests,
            r.log_graph_requests(),
            "client and emulator disagree on Graph requests ({} N={})",
            r.op,
            r.n
        );
    }
    for s in &results {
        println!(
            "\nN={}: manifest generated and loaded in {} ms; per-object reader: {} GETs per app.",
            s.rows[0].n,
            ms(s.load),
            s.reader_per_app
        );
    }

    // Targets.
    println!("\n## Targets\n");
    println!("| target | measured | met |");
    println!("|---|---|---|");
    let find = |n: usize, op: &str| {
        results
            .iter()
            .flat_map(|s| &s.rows)
            .find(|r| r.n == n && r.op == op)
    };
    match find(TARGET_PLAN_N, "plan, no changes") {
        Some(r) => {
            println!(
                "| plan of {TARGET_PLAN_N} unchanged apps ≤ {TARGET_PLAN_RT} round trips | {} round trips | {} |",
                r.stats.round_trips,
                yes(r.stats.round_trips <= TARGET_PLAN_RT)
            );
            println!(
                "| plan of {TARGET_PLAN_N} unchanged apps ≤ {} s | {} s | {} |",
                TARGET_PLAN_WALL.as_secs(),
                secs(r.wall),
                yes(r.wall <= TARGET_PLAN_WALL)
            );
        }
        None => println!(
            "| plan of {TARGET_PLAN_N} unchanged apps | not run (N={TARGET_PLAN_N} not in the sizes) | - |"
        ),
    }
    for op in [
        "apply from empty",
        "plan, no changes",
        "re-apply",
        "per-object reader",
    ] {
        let points: Vec<(usize, u64)> = sizes
            .iter()
            .filter_map(|&n| find(n, op).map(|r| (n, r.stats.round_trips)))
            .collect();
        let per_app: Vec<String> = points
            .iter()
            .map(|(n, rt)| format!("{:.3} @{n}", *rt as f64 / *n as f64))
            .collect();
        let marginal: Vec<f64> = points
            .windows(2)
            .map(|w| (w[1].1 as f64 - w[0].1 as f64) / (w[1].0 as f64 - w[0].0 as f64))
            .collect();
        // Round trips per app do not grow: neither the average nor the marginal cost per added
        // app rises with N (10% and 0.01 of slack for batch rounding).
        let avg_ok = points
            .windows(2)
            .all(|w| w[1].1 as f64 / w[1].0 as f64 <= (w[0].1 as f64 / w[0].0 as f64) * 1.1 + 0.01);
        let marg_ok = marginal.windows(2).all(|m| m[1] <= m[0] * 1.1 + 0.01);
        let measured = format!(
            "per app {}; marginal per added app {}",
            per_app.join(", "),
            marginal
                .iter()
                .map(|m| format!("{m:.3}"))
                .collect::<Vec<_>>()
                .join(" → ")
        );
        let met = if points.len() < 2 {
            "n/a (one size)".to_string()
        } else {
            yes(avg_ok && marg_ok).to_string()
        };
        let informational = if op == "per-object reader" {
            " (reference, not a target)"
        } else {
            ""
        };
        println!(
            "| {op}: round trips per app do not grow with N{informational} | {measured} | {met} |"
        );
    }
    let reapply: Vec<String> = sizes
        .iter()
        .filter_map(|&n| find(n, "re-apply").map(|r| format!("{} @{n}", r.log_writes())))
        .collect();
    let reapply_ok = sizes
        .iter()
        .filter_map(|&n| find(n, "re-apply"))
        .all(|r| r.log_writes() == 0 && r.stats.writes == 0);
    println!(
        "| re-apply performs zero writes (emulator log, batch items counted) | {} | {} |",
        reapply.join(", "),
        yes(reapply_ok)
    );

    // Where the round trips go.
    println!("\n## Where the round trips go\n");
    for r in results.iter().flat_map(|s| &s.rows) {
        if r.op == "per-object reader" && r.n > 10 {
            continue;
        }
        println!("\n### N={} {}\n", r.n, r.op);
        println!("| round trips | Graph requests | what |");
        println!("|---:|---:|---|");
        for (what, rt, gr) in breakdown(&r.log, &re) {
            println!("| {rt} | {gr} | {what} |");
        }
    }

    // Emulator check.
    println!("\n## Is the emulator the bottleneck?\n");
    println!(
        "Server time is measured by the emulator per round trip, from the handler's start (after the injected latency) to its answer; one lock serializes the store, and a handler's time includes waiting for it, so with requests in flight concurrently the sum over-counts (busy / wall above 100% is contention). The \"1 in flight\" run has no contention: its times are the emulator's own cost.\n"
    );
    println!(
        "| N | operation | wall (ms) | emulator busy (ms) | busy / wall | slowest round trip server-side (ms) | server ms per Graph request |"
    );
    println!("|---:|---|---:|---:|---:|---:|---:|");
    for r in results
        .iter()
        .flat_map(|s| s.rows.iter().chain([&s.floor_plan, &s.floor_sequential]))
    {
        println!(
            "| {} | {} | {} | {:.0} | {:.0}% | {:.1} | {:.3} |",
            r.n,
            r.op,
            ms(r.wall),
            r.server_ms(),
            100.0 * r.server_ms() / (r.wall.as_secs_f64() * 1000.0),
            r.server_max_ms(),
            r.server_ms() / r.stats.graph_requests.max(1) as f64
        );
    }
    println!(
        "\nServer time per Graph request kind (mean µs per request, batch items timed one by one), by N: a value that grows with N is a scan in the emulator.\n"
    );
    let mut per_kind: BTreeMap<(String, String), BTreeMap<usize, (f64, u64)>> = BTreeMap::new();
    for r in results
        .iter()
        .flat_map(|s| s.rows.iter().chain([&s.floor_plan, &s.floor_sequential]))
    {
        if r.op == "per-object reader" {
            continue;
        }
        for e in &r.log.requests {
            if matches!(e.kind, EntryKind::Graph | EntryKind::BatchItem) {
                let slot = per_kind
                    .entry((r.op.to_string(), label(&e.method, &e.path, &re)))
                    .or_default()
                    .entry(r.n)
                    .or_default();
                slot.0 += e.latency_ms * 1000.0;
                slot.1 += 1;
            }
        }
    }
    print!("| operation | request |");
    for n in &sizes {
        print!(" N={n} |");
    }
    println!();
    print!("|---|---|");
    for _ in &sizes {
        print!("---:|");
    }
    println!();
    for ((op, what), by_n) in &per_kind {
        print!("| {op} | {what} |");
        for n in &sizes {
            match by_n.get(n) {
                Some((sum, count)) => print!(" {:.0} ({count}) |", sum / *count as f64),
                None => print!(" - |"),
            }
        }
        println!();
    }
    println!(
        "\nTotal bench time: {:.1} s.",
        bench_started.elapsed().as_secs_f64()
    );
}

fn yes(ok: bool) -> &'static str {
    if ok { "yes" } else { "**no**" }
}
