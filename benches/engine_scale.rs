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
//!   refresh their state, through the same `GraphClient` (so the same in-flight bound, 8),
//! - Microsoft's Python Graph SDK (msgraph-sdk) reading what the plan reads, the way code written
//!   against it does (benches/sdk_reader.py), when an interpreter with it is at hand (see
//!   `sdk_python`); skipped with the reason otherwise.
//!
//! The sandbox runs in a child process (this same binary, started with
//! `APPREG_BENCH_SANDBOX_CHILD=1`, in memory, nothing persisted), so the benchmark's own peak RSS is
//! appreg's side alone and the child's CPU time (utime + stime from `/proc`) is the sandbox's.
//! Peak RSS is the process high-water mark (`VmHWM`), reset before each operation through
//! `/proc/self/clear_refs`. The child reduces its request log to a summary before sending it, so the
//! benchmark holds no raw logs.
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
use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, ChildStdout, Command, Stdio};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use appreg::emulator::{ConnectionInfo, EntryKind, RequestLog, Sandbox, SandboxConfig};
use appreg::engine::observed::{Observed, str_of};
use appreg::engine::plan::{Action, ResourceType};
use appreg::engine::{self, PlanOptions};
use appreg::graph::{GraphClient, Request, RequestStats, odata};
use appreg::model::DesiredState;
use futures_util::future::join_all;
use regex::Regex;
use serde::{Deserialize, Serialize};

use common::{MAX_IN_FLIGHT, faults, latency, sizes, status_kb, write_manifest};

const SET_NAME: &str = "bench";

/// Targets of the issue (plan of 10,000 unchanged apps).
const TARGET_PLAN_RT: u64 = 2100;
const TARGET_PLAN_WALL: Duration = Duration::from_secs(30);
const TARGET_PLAN_N: usize = 10_000;
/// Peak RSS of appreg's side per app, at the largest size run.
const TARGET_RSS_PER_APP: f64 = 25.0 * 1024.0;
/// Sandbox CPU as a share of wall time.
const TARGET_SANDBOX_SHARE: f64 = 0.2;

/// What the sandbox's log said about one operation, reduced in the child process.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
struct Summary {
    http_requests: u64,
    graph_requests: u64,
    /// Graph writes, batch items counted one by one.
    writes: u64,
    /// The emulator's own write counter.
    counted_writes: u64,
    /// The first few writes, for an assertion message.
    first_writes: Vec<String>,
    /// Server-side processing of every round trip (a `$batch` envelope's time covers its items),
    /// injected latency excluded (it is added before the handler runs).
    server_ms: f64,
    server_max_ms: f64,
    /// Where the round trips went: (what, round trips, Graph requests).
    breakdown: Vec<(String, u64, u64)>,
    /// Server time by request kind: label -> (sum of µs, count).
    per_kind: BTreeMap<String, (f64, u64)>,
}

impl Summary {
    fn of(log: &RequestLog, re: &Labeler) -> Summary {
        let round_trip =
            |e: &&appreg::emulator::LogEntry| matches!(e.kind, EntryKind::Graph | EntryKind::Batch);
        let mut per_kind: BTreeMap<String, (f64, u64)> = BTreeMap::new();
        for e in &log.requests {
            if matches!(e.kind, EntryKind::Graph | EntryKind::BatchItem) {
                let slot = per_kind.entry(label(&e.method, &e.path, re)).or_default();
                slot.0 += e.latency_ms * 1000.0;
                slot.1 += 1;
            }
        }
        Summary {
            http_requests: log.counters.http_requests,
            graph_requests: log.counters.graph_requests,
            writes: log.requests.iter().filter(|e| e.is_write()).count() as u64,
            counted_writes: log.counters.writes,
            first_writes: log
                .requests
                .iter()
                .filter(|e| e.is_write())
                .take(10)
                .map(|e| format!("{} {}", e.method, e.path))
                .collect(),
            server_ms: log
                .requests
                .iter()
                .filter(round_trip)
                .map(|e| e.latency_ms)
                .sum(),
            server_max_ms: log
                .requests
                .iter()
                .filter(round_trip)
                .map(|e| e.latency_ms)
                .fold(0.0, f64::max),
            breakdown: breakdown(log, re),
            per_kind,
        }
    }
}

/// Resources one operation used, measured around it.
#[derive(Debug, Clone, Copy, Default)]
struct Usage {
    wall: Duration,
    /// CPU time of the benchmark process (appreg's client, engine and this harness).
    client_cpu: Duration,
    /// CPU time of the sandbox's process.
    sandbox_cpu: Duration,
    /// Resident set of this process before the operation and its peak during it (bytes).
    start_rss: u64,
    peak_rss: u64,
}

/// Starts measuring an operation: resets this process's RSS high-water mark.
struct Meter {
    started: Instant,
    client_cpu: Duration,
    sandbox_cpu: Duration,
    start_rss: u64,
}

impl Meter {
    fn start(sandbox: &SandboxProcess) -> Meter {
        // Heap freed by earlier operations goes back to the system first, so the peak is this
        // operation's, as in an `appreg plan` process of its own.
        // SAFETY: malloc_trim only releases free heap pages; it takes no pointers.
        unsafe {
            malloc_trim(0);
        }
        // "5" resets VmHWM to the current RSS (Linux); without it the peak is since start-up.
        let _ = std::fs::write("/proc/self/clear_refs", "5");
        Meter {
            started: Instant::now(),
            client_cpu: process_cpu("self"),
            sandbox_cpu: process_cpu(&sandbox.pid.to_string()),
            start_rss: status_kb("VmRSS") * 1024,
        }
    }

    fn stop(self, sandbox: &SandboxProcess) -> Usage {
        Usage {
            wall: self.started.elapsed(),
            client_cpu: process_cpu("self").saturating_sub(self.client_cpu),
            sandbox_cpu: process_cpu(&sandbox.pid.to_string()).saturating_sub(self.sandbox_cpu),
            start_rss: self.start_rss,
            peak_rss: status_kb("VmHWM") * 1024,
        }
    }
}

unsafe extern "C" {
    /// glibc: returns free heap memory to the system.
    fn malloc_trim(pad: usize) -> i32;
}

/// utime + stime of a process (all its threads), from `/proc/<pid>/stat`, in clock ticks of 10 ms.
fn process_cpu(pid: &str) -> Duration {
    let text = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    // Fields after the command name (which may hold spaces) start at field 3 (state).
    let fields: Vec<&str> = text
        .rsplit_once(')')
        .map(|(_, rest)| rest.split_whitespace().collect())
        .unwrap_or_default();
    let ticks = |i: usize| {
        fields
            .get(i)
            .and_then(|f| f.parse::<u64>().ok())
            .unwrap_or(0)
    };
    // utime and stime are fields 14 and 15: indexes 11 and 12 from field 3.
    Duration::from_millis((ticks(11) + ticks(12)) * 10)
}

/// The sandbox in a child process, driven by one-line commands on its stdin.
struct SandboxProcess {
    pid: u32,
    info: ConnectionInfo,
    pipes: Mutex<(Child, ChildStdin, BufReader<ChildStdout>)>,
}

impl SandboxProcess {
    fn start(latency: Duration) -> SandboxProcess {
        let exe = std::env::current_exe().expect("own executable");
        let mut child = Command::new(exe)
            .env("APPREG_BENCH_SANDBOX_CHILD", "1")
            .env("APPREG_BENCH_LATENCY_MS", latency.as_millis().to_string())
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("start the sandbox process");
        let stdin = child.stdin.take().expect("stdin");
        let mut stdout = BufReader::new(child.stdout.take().expect("stdout"));
        let mut line = String::new();
        stdout.read_line(&mut line).expect("connection line");
        let info: ConnectionInfo = serde_json::from_str(&line).expect("connection info");
        SandboxProcess {
            pid: child.id(),
            info,
            pipes: Mutex::new((child, stdin, stdout)),
        }
    }

    fn ask(&self, command: &str) -> String {
        let mut pipes = self.pipes.lock().expect("pipes");
        let (_, stdin, stdout) = &mut *pipes;
        writeln!(stdin, "{command}").expect("command to the sandbox");
        stdin.flush().expect("flush");
        let mut line = String::new();
        stdout.read_line(&mut line).expect("sandbox answer");
        line
    }

    fn clear_log(&self) {
        self.ask("clear");
    }

    fn summary(&self) -> Summary {
        serde_json::from_str(&self.ask("summary")).expect("summary")
    }

    fn set_latency(&self, latency: Duration) {
        self.ask(&format!("latency {}", latency.as_millis()));
    }

    fn shutdown(self) {
        let mut pipes = self.pipes.into_inner().expect("pipes");
        let _ = writeln!(pipes.1, "quit");
        let _ = pipes.1.flush();
        let _ = pipes.0.wait();
    }
}

/// The child side: serve a fresh in-memory sandbox and answer the parent's commands.
fn sandbox_child() {
    let latency = latency();
    let re = labeler();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let sandbox = runtime
        .block_on(Sandbox::start(SandboxConfig {
            faults: faults(latency),
            ..SandboxConfig::default()
        }))
        .expect("sandbox");
    let mut out = std::io::stdout().lock();
    writeln!(
        out,
        "{}",
        serde_json::to_string(&sandbox.connection_info()).expect("info")
    )
    .expect("stdout");
    out.flush().expect("flush");
    for line in std::io::stdin().lock().lines() {
        let line = line.unwrap_or_default();
        let answer = match line.split_whitespace().collect::<Vec<_>>().as_slice() {
            ["clear"] => {
                sandbox.clear_log();
                "ok".to_string()
            }
            ["summary"] => {
                serde_json::to_string(&Summary::of(&sandbox.request_log(), &re)).expect("summary")
            }
            ["latency", ms] => {
                sandbox.set_faults(faults(Duration::from_millis(ms.parse().unwrap_or(0))));
                "ok".to_string()
            }
            _ => break,
        };
        writeln!(out, "{answer}").expect("stdout");
        out.flush().expect("flush");
    }
    runtime.block_on(sandbox.shutdown());
}

/// One measured operation.
struct Row {
    n: usize,
    /// Apps the operation covered: N, or the per-object reader's sample.
    apps: usize,
    op: &'static str,
    stats: RequestStats,
    log: Summary,
    usage: Usage,
    wall: Duration,
    /// Time in the engine's own computation (diff/plan), where it can be separated.
    compute: Option<Duration>,
    note: String,
    /// An apply's reads before its first write, and its writes' floor once dependencies are
    /// respected (see `wave_floor`).
    observe_round_trips: Option<u64>,
    wave_floor: Option<u64>,
}

impl Row {
    fn new(
        n: usize,
        op: &'static str,
        stats: RequestStats,
        log: Summary,
        usage: Usage,
        compute: Option<Duration>,
        note: String,
    ) -> Row {
        Row {
            n,
            apps: n,
            op,
            stats,
            log,
            wall: usage.wall,
            usage,
            compute,
            note,
            observe_round_trips: None,
            wave_floor: None,
        }
    }
    fn log_round_trips(&self) -> u64 {
        self.log.http_requests
    }
    fn log_graph_requests(&self) -> u64 {
        self.log.graph_requests
    }
    fn log_writes(&self) -> u64 {
        self.log.writes
    }
    fn server_ms(&self) -> f64 {
        self.log.server_ms
    }
    fn server_max_ms(&self) -> f64 {
        self.log.server_max_ms
    }
    /// The sandbox's CPU as a share of the wall time.
    fn sandbox_share(&self) -> f64 {
        self.usage.sandbox_cpu.as_secs_f64() / self.wall.as_secs_f64().max(1e-9)
    }
    fn peak_per_app(&self) -> f64 {
        self.usage.peak_rss as f64 / self.n.max(1) as f64
    }
}

fn mib(bytes: u64) -> String {
    format!("{:.1}", bytes as f64 / (1024.0 * 1024.0))
}

/// The per-object reader reads at most this many apps (`APPREG_BENCH_READER_APPS`, default
/// 1,000): its cost per app is constant (9 GETs), and 10,000 apps would take ten minutes of latency.
fn reader_apps() -> usize {
    std::env::var("APPREG_BENCH_READER_APPS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(1000)
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
fn reset(sandbox: &SandboxProcess, client: &GraphClient) {
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
            ..Default::default()
        },
        chrono::Utc::now(),
    )
    .expect("plan");
    (observed, planned, started.elapsed())
}

/// The fewest write round trips an apply of `planned` can take: a service principal needs its
/// application's appId and everything else needs the service principal's id, which Graph assigns,
/// and a `$batch` cannot pass one item's answer to another, so the writes go in three waves of full
/// batches of 20.
fn wave_floor(planned: &engine::Planned) -> u64 {
    let mut waves = [0u64; 3];
    for c in planned
        .plan
        .changes
        .iter()
        .filter(|c| c.action != Action::NoOp)
    {
        let wave = match c.resource {
            ResourceType::Application => 0,
            ResourceType::ServicePrincipal => 1,
            _ => 2,
        };
        waves[wave] += 1;
    }
    waves.iter().map(|w| w.div_ceil(20)).sum()
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
fn reader_requests(observed: &Observed, apps: usize) -> (Vec<Request>, usize) {
    let mut requests = Vec::new();
    for (key, app) in observed.apps.iter().take(apps) {
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
    /// How many apps the per-object reader read (all, or a sample of a large N).
    reader_apps: usize,
}

/// The SDK reader reads the sub-collections of at most this many apps (`APPREG_BENCH_SDK_APPS`,
/// default 300; it lists all N): its cost per app is constant, and Python spends ~0.1 s of CPU on
/// each.
fn sdk_apps() -> usize {
    std::env::var("APPREG_BENCH_SDK_APPS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(300)
}

/// The Python msgraph-sdk reader (benches/sdk_reader.py), when an interpreter with msgraph-sdk is
/// at hand: `APPREG_BENCH_PYTHON`, else the venv `.ci/run` builds, else `python3`.
fn sdk_python() -> Result<PathBuf, String> {
    let venv = std::env::temp_dir().join("appreg-ci-venv/bin/python");
    let python = match std::env::var_os("APPREG_BENCH_PYTHON") {
        Some(p) => PathBuf::from(p),
        None if venv.exists() => venv.clone(),
        None => PathBuf::from("python3"),
    };
    let works = Command::new(&python)
        .args(["-c", "import msgraph, kiota_abstractions"])
        .output()
        .map(|o| o.status.success())
        .unwrap_or(false);
    if works {
        Ok(python)
    } else {
        Err(format!(
            "`{} -c 'import msgraph'` fails: install it with `python3 -m venv {} && {} -m pip install msgraph-sdk` (what `.ci/run` does) or name one with APPREG_BENCH_PYTHON",
            python.display(),
            std::env::temp_dir().join("appreg-ci-venv").display(),
            venv.display()
        ))
    }
}

/// What benches/sdk_reader.py printed.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct SdkReading {
    apps_listed: usize,
    service_principals_listed: usize,
    apps_read: usize,
    federated_credentials: usize,
    app_role_assignments: usize,
    assigned_to: usize,
    grants: usize,
    requests: u64,
    cpu_seconds: f64,
    peak_rss_ki_b: u64,
    rss_after_imports_ki_b: u64,
}

/// Runs the SDK reader against the sandbox and measures it as a row of its own: the Python
/// process's CPU and peak RSS stand where appreg's are in the other rows.
async fn sdk_row(sandbox: &SandboxProcess, python: &Path, n: usize, apps: usize) -> Row {
    let token = common::admin_token(&reqwest::Client::new(), &sandbox.info).await;
    sandbox.clear_log();
    let meter = Meter::start(sandbox);
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("benches/sdk_reader.py");
    let output = Command::new(python)
        .arg(script)
        .env("SDK_READER_GRAPH_URL", &sandbox.info.graph_url)
        .env("SDK_READER_TOKEN", token)
        .env("SDK_READER_SET_TAG", appreg::model::set_tag(SET_NAME))
        .env("SDK_READER_APPS", apps.to_string())
        .env("SDK_READER_IN_FLIGHT", MAX_IN_FLIGHT.to_string())
        .output()
        .expect("start the SDK reader");
    let mut usage = meter.stop(sandbox);
    assert!(
        output.status.success(),
        "the SDK reader failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    let read: SdkReading = serde_json::from_slice(&output.stdout).expect("the SDK reader's line");
    // The same data appreg's plan reads: every app and service principal of the set, and each
    // sampled app's sub-collections in the benchmark's shape.
    assert_eq!((read.apps_listed, read.service_principals_listed), (n, n));
    assert_eq!(read.apps_read, apps);
    assert_eq!(
        (
            read.federated_credentials,
            read.app_role_assignments,
            read.assigned_to,
            read.grants
        ),
        (apps, 2 * apps, 2 * apps, apps),
        "the SDK read something other than the benchmark's shape"
    );
    let log = sandbox.summary();
    assert_eq!(
        log.graph_requests, read.requests,
        "SDK requests vs the sandbox's log"
    );
    usage.client_cpu = Duration::from_secs_f64(read.cpu_seconds);
    usage.start_rss = read.rss_after_imports_ki_b * 1024;
    usage.peak_rss = read.peak_rss_ki_b * 1024;
    let stats = RequestStats {
        round_trips: log.http_requests,
        graph_requests: log.graph_requests,
        reads: log.graph_requests,
        ..RequestStats::default()
    };
    let mut row = Row::new(
        n,
        "Python msgraph-sdk reader",
        stats,
        log,
        usage,
        None,
        format!(
            "{}both lists whole, then 4 sub-collection GETs per app, {MAX_IN_FLIGHT} in flight, no $batch; CPU and peak RSS are the Python process's ({} MiB after its imports)",
            if apps < n {
                format!("{apps} of the {n} apps read in full; ")
            } else {
                String::new()
            },
            mib(usage.start_rss)
        ),
    );
    row.apps = apps;
    row
}

async fn run_size(n: usize, latency: Duration) -> SizeResult {
    let progress = |what: &str| eprintln!("[engine_scale] N={n}: {what}");
    let dir = tempfile::tempdir().expect("temp dir");
    let (paths, _) = write_manifest(dir.path(), SET_NAME, n);
    let started = Instant::now();
    let state = load(&paths);
    let load_time = started.elapsed();
    assert_eq!(state.apps.len(), n);

    let sandbox = SandboxProcess::start(latency);
    let client = common::client_from_info(&sandbox.info, MAX_IN_FLIGHT);
    let tenant_id = sandbox.info.tenant_id.clone();
    // Fetch the token outside the measurements (one token request per run, not a Graph request).
    client
        .send(Request::get("/organization"))
        .await
        .expect("warm-up request");
    let mut rows = Vec::new();

    // 1. Apply from empty: observe, plan, apply.
    progress("apply from empty");
    reset(&sandbox, &client);
    let meter = Meter::start(&sandbox);
    let (observed, planned, compute) = plan(&client, &state, &tenant_id).await;
    let observe_stats = delta_stats(&client);
    let changes = summarize_changes(&planned);
    let floor = wave_floor(&planned);
    let report = engine::apply::apply(
        &client,
        &appreg::credentials::Sinks::new(None, &|_| None),
        &state,
        &observed,
        &planned,
    )
    .await
    .expect("apply");
    drop((observed, planned));
    let usage = meter.stop(&sandbox);
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
    drop(report);
    rows.push(Row::new(
        n,
        "apply from empty",
        delta_stats(&client),
        sandbox.summary(),
        usage,
        Some(compute),
        format!(
            "{creates} creates ({changes}); observe part: {} round trips, {} Graph requests",
            observe_stats.round_trips, observe_stats.graph_requests
        ),
    ));
    if let Some(row) = rows.last_mut() {
        row.observe_round_trips = Some(observe_stats.round_trips);
        row.wave_floor = Some(floor);
    }

    // 2. Plan with no changes.
    progress("plan with no changes");
    reset(&sandbox, &client);
    let meter = Meter::start(&sandbox);
    let (observed, planned, compute) = plan(&client, &state, &tenant_id).await;
    let usage = meter.stop(&sandbox);
    let leftover = summarize_changes(&planned);
    assert!(
        !planned.plan.has_changes(),
        "plan after apply is not empty: {leftover}"
    );
    let no_ops = planned.plan.changes.len();
    drop(planned);
    rows.push(Row::new(
        n,
        "plan, no changes",
        delta_stats(&client),
        sandbox.summary(),
        usage,
        Some(compute),
        format!("{no_ops} no-op changes"),
    ));
    // The per-object reader needs the ids: keep only them.
    let read_apps = n.min(reader_apps());
    let (reader, per_app) = reader_requests(&observed, read_apps);
    drop(observed);

    // 3. Re-apply: plan, then apply whatever it says (nothing), and prove nothing was written.
    progress("re-apply");
    reset(&sandbox, &client);
    let meter = Meter::start(&sandbox);
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
    drop((observed2, planned2));
    let usage = meter.stop(&sandbox);
    let log = sandbox.summary();
    assert!(
        log.writes == 0 && report.done.is_empty() && report.failed.is_empty(),
        "re-apply wrote {} requests: {:?}",
        log.writes,
        log.first_writes
    );
    assert_eq!(log.counted_writes, 0, "the emulator counted writes");
    rows.push(Row::new(
        n,
        "re-apply",
        delta_stats(&client),
        log,
        usage,
        Some(compute),
        "0 writes (emulator log, batch items counted)".into(),
    ));

    // 4. Per-object reader, same client (8 in flight), every GET on its own round trip.
    progress("per-object reader");
    reset(&sandbox, &client);
    let meter = Meter::start(&sandbox);
    let total = reader.len();
    let answers = join_all(reader.into_iter().map(|r| client.send(r))).await;
    let usage = meter.stop(&sandbox);
    let failed: Vec<String> = answers
        .iter()
        .filter_map(|a| a.as_ref().err().map(|e| e.to_string()))
        .collect();
    assert!(
        failed.is_empty(),
        "per-object reads failed: {:?}",
        &failed[..failed.len().min(5)]
    );
    drop(answers);
    rows.push(Row::new(
        n,
        "per-object reader",
        delta_stats(&client),
        sandbox.summary(),
        usage,
        None,
        format!(
            "{}{} GETs per app + {} data-source GETs; {MAX_IN_FLIGHT} in flight; sequential would be ≥ {} s of latency alone",
            if read_apps < n {
                format!("{read_apps} of the {n} apps read (cost per app is constant); ")
            } else {
                String::new()
            },
            per_app / read_apps.max(1),
            total - per_app,
            total as u64 * latency.as_millis() as u64 / 1000
        ),
    ));
    if let Some(row) = rows.last_mut() {
        row.apps = read_apps;
    }

    // 4b. Microsoft's Python SDK reading the same data, when it is installed.
    if let Ok(python) = sdk_python() {
        progress("Python msgraph-sdk reader");
        rows.push(sdk_row(&sandbox, &python, n, n.min(sdk_apps())).await);
    }

    // 5. The floor: the same unchanged plan with no injected latency (client, engine and emulator
    //    work only), to see whether the emulator's own throughput matters.
    progress("plan with no latency (floor)");
    sandbox.set_latency(Duration::ZERO);
    reset(&sandbox, &client);
    let meter = Meter::start(&sandbox);
    let (_, planned, compute) = plan(&client, &state, &tenant_id).await;
    let usage = meter.stop(&sandbox);
    assert!(!planned.plan.has_changes());
    drop(planned);
    let floor_plan = Row::new(
        n,
        "plan, no changes, 0 ms latency",
        delta_stats(&client),
        sandbox.summary(),
        usage,
        Some(compute),
        String::new(),
    );
    progress("plan with no latency, 1 in flight (uncontended emulator)");
    let sequential = common::client_from_info(&sandbox.info, 1);
    sequential
        .send(Request::get("/organization"))
        .await
        .expect("warm-up request");
    reset(&sandbox, &sequential);
    let meter = Meter::start(&sandbox);
    let (_, planned, compute) = plan(&sequential, &state, &tenant_id).await;
    let usage = meter.stop(&sandbox);
    assert!(!planned.plan.has_changes());
    let floor_sequential = Row::new(
        n,
        "plan, no changes, 0 ms latency, 1 in flight",
        delta_stats(&sequential),
        sandbox.summary(),
        usage,
        Some(compute),
        String::new(),
    );
    sandbox.shutdown();
    SizeResult {
        floor_sequential,
        rows,
        load: load_time,
        floor_plan,
        reader_per_app: per_app / read_apps.max(1),
        reader_apps: read_apps,
    }
}

fn labeler() -> Labeler {
    Labeler {
        uuid: Regex::new(
            r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}",
        )
        .expect("regex"),
        quoted: Regex::new(r"'(?:[^']|'')*'").expect("regex"),
        upn: Regex::new(r"/[^/?]*(?:%40|@)[^/?]*").expect("regex"),
        opaque: Regex::new(r"/[A-Za-z0-9_-]{32,}").expect("regex"),
    }
}

fn main() {
    if std::env::var_os("APPREG_BENCH_SANDBOX_CHILD").is_some() {
        sandbox_child();
        return;
    }
    let sizes = sizes();
    let latency = latency();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("runtime");
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
        "| N | operation | round trips | Graph requests | writes | wall (s) | round trips / app | appreg CPU (s) | sandbox CPU (s) | sandbox CPU / wall | appreg peak RSS (MiB) | peak RSS / app (KiB) | RSS growth during it (MiB) |"
    );
    println!("|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|");
    for r in results.iter().flat_map(|s| &s.rows) {
        println!(
            "| {} | {} | {} | {} | {} | {} | {:.3} | {} | {} | {:.0}% | {} | {:.1} | {} |",
            r.n,
            r.op,
            r.stats.round_trips,
            r.stats.graph_requests,
            r.log_writes(),
            secs(r.wall),
            r.stats.round_trips as f64 / r.apps as f64,
            secs(r.usage.client_cpu),
            secs(r.usage.sandbox_cpu),
            100.0 * r.sandbox_share(),
            mib(r.usage.peak_rss),
            r.peak_per_app() / 1024.0,
            mib(r.usage.peak_rss.saturating_sub(r.usage.start_rss)),
        );
    }
    println!(
        "\nappreg CPU and peak RSS are the benchmark process's (client, engine, manifest, this harness); the sandbox runs in its own process. Peak RSS / app divides the whole peak by N.\n"
    );

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
            "\nN={}: manifest generated and loaded in {} ms; per-object reader: {} GETs per app, {} apps read.",
            s.rows[0].n,
            ms(s.load),
            s.reader_per_app,
            s.reader_apps
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
        "Python msgraph-sdk reader",
    ] {
        let points: Vec<(usize, u64)> = sizes
            .iter()
            .filter_map(|&n| find(n, op).map(|r| (r.apps, r.stats.round_trips)))
            .collect();
        let per_app: Vec<String> = points
            .iter()
            .map(|(n, rt)| format!("{:.3} @{n}", *rt as f64 / *n as f64))
            .collect();
        let marginal: Vec<f64> = points
            .windows(2)
            .filter(|w| w[1].0 != w[0].0)
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
        let informational = if op.contains("reader") {
            " (reference, not a target)"
        } else {
            ""
        };
        println!(
            "| {op}: round trips per app do not grow with N{informational} | {measured} | {met} |"
        );
    }
    if let Some(&largest) = sizes.iter().max() {
        for op in ["plan, no changes", "apply from empty", "re-apply"] {
            if let Some(r) = find(largest, op) {
                println!(
                    "| {op} of {largest} apps: appreg peak RSS ≤ {:.0} KiB per app | {:.1} KiB per app ({} MiB) | {} |",
                    TARGET_RSS_PER_APP / 1024.0,
                    r.peak_per_app() / 1024.0,
                    mib(r.usage.peak_rss),
                    yes(r.peak_per_app() <= TARGET_RSS_PER_APP)
                );
                println!(
                    "| {op} of {largest} apps: sandbox CPU < {:.0}% of wall | {:.0}% ({} s of {} s) | {} |",
                    TARGET_SANDBOX_SHARE * 100.0,
                    100.0 * r.sandbox_share(),
                    secs(r.usage.sandbox_cpu),
                    secs(r.wall),
                    yes(r.sandbox_share() < TARGET_SANDBOX_SHARE)
                );
            }
        }
    }
    for &n in &sizes {
        if let Some(r) = find(n, "apply from empty") {
            // The write floor: every write in a full $batch of 20, nothing else.
            let floor = r.log_writes().div_ceil(20);
            println!(
                "| apply from empty, N={n}: round trips within 10% of the write floor ({floor} = {} writes / 20) | {} round trips ({:+.1}%) | {} |",
                r.log_writes(),
                r.stats.round_trips,
                100.0 * (r.stats.round_trips as f64 / floor.max(1) as f64 - 1.0),
                yes(r.stats.round_trips as f64 <= floor as f64 * 1.1)
            );
            if let (Some(observe), Some(waves)) = (r.observe_round_trips, r.wave_floor) {
                let writing = r.stats.round_trips - observe;
                println!(
                    "| apply from empty, N={n}: write round trips within 10% of the floor in dependency waves ({waves}: applications, then service principals, then the rest, each in full batches of 20), besides {observe} round trips of reads | {writing} write round trips ({:+.1}%) | {} |",
                    100.0 * (writing as f64 / waves.max(1) as f64 - 1.0),
                    yes(writing as f64 <= waves as f64 * 1.1)
                );
            }
        }
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

    // Baselines: what a per-object reader and Microsoft's SDK spend on the same data.
    println!("\n## Baselines\n");
    println!(
        "| N | reader | apps read | round trips / app | ratio to appreg | wall ms / app | ratio to appreg | reader CPU ms / app | reader peak RSS (MiB) |"
    );
    println!("|---:|---|---:|---:|---:|---:|---:|---:|---:|");
    let per = |r: &Row| r.stats.round_trips as f64 / r.apps.max(1) as f64;
    let wall = |r: &Row| r.wall.as_secs_f64() * 1000.0 / r.apps.max(1) as f64;
    let cpu = |r: &Row| r.usage.client_cpu.as_secs_f64() * 1000.0 / r.apps.max(1) as f64;
    for &n in &sizes {
        let Some(plan) = find(n, "plan, no changes") else {
            continue;
        };
        for (name, row) in [
            ("appreg plan", Some(plan)),
            ("per-object reader", find(n, "per-object reader")),
            ("Python msgraph-sdk", find(n, "Python msgraph-sdk reader")),
        ] {
            let Some(r) = row else { continue };
            println!(
                "| {n} | {name} | {} | {:.3} | {:.1}× | {:.2} | {:.1}× | {:.2} | {} |",
                r.apps,
                per(r),
                per(r) / per(plan).max(1e-9),
                wall(r),
                wall(r) / wall(plan).max(1e-9),
                cpu(r),
                mib(r.usage.peak_rss)
            );
        }
    }
    match sdk_python() {
        Ok(python) => println!(
            "\nThe SDK reader is benches/sdk_reader.py, run by `{}`: msgraph-sdk's request builders, one request per collection page or sub-collection, {MAX_IN_FLIGHT} in flight, as SDK code reads; its token comes from a static provider (azure-identity sends tokens over https only, and this sandbox speaks http on loopback). Per-app figures divide by the apps read in full.",
            python.display()
        ),
        Err(why) => println!("\nPython msgraph-sdk baseline skipped: {why}."),
    }

    // Where the round trips go.
    println!("\n## Where the round trips go\n");
    for r in results.iter().flat_map(|s| &s.rows) {
        if (r.op == "per-object reader" || r.op == "Python msgraph-sdk reader") && r.n > 10 {
            continue;
        }
        println!("\n### N={} {}\n", r.n, r.op);
        println!("| round trips | Graph requests | what |");
        println!("|---:|---:|---|");
        for (what, rt, gr) in &r.log.breakdown {
            println!("| {rt} | {gr} | {what} |");
        }
    }

    // Emulator check.
    println!("\n## Is the emulator the bottleneck?\n");
    println!(
        "Server time is measured by the emulator per round trip, from the handler's start (after the injected latency) to its answer; one lock serializes the store, and a handler's time includes waiting for it, so with requests in flight concurrently the sum over-counts (busy / wall above 100% is contention). The \"1 in flight\" run has no contention: its times are the emulator's own cost.\n"
    );
    println!(
        "| N | operation | wall (ms) | sandbox CPU (ms) | sandbox CPU / wall | emulator busy (ms) | busy / wall | slowest round trip server-side (ms) | server ms per Graph request |"
    );
    println!("|---:|---|---:|---:|---:|---:|---:|---:|---:|");
    for r in results
        .iter()
        .flat_map(|s| s.rows.iter().chain([&s.floor_plan, &s.floor_sequential]))
    {
        println!(
            "| {} | {} | {} | {} | {:.0}% | {:.0} | {:.0}% | {:.1} | {:.3} |",
            r.n,
            r.op,
            ms(r.wall),
            ms(r.usage.sandbox_cpu),
            100.0 * r.sandbox_share(),
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
        if r.op == "per-object reader" || r.op == "Python msgraph-sdk reader" {
            continue;
        }
        for (what, (sum, count)) in &r.log.per_kind {
            let slot = per_kind
                .entry((r.op.to_string(), what.clone()))
                .or_default()
                .entry(r.n)
                .or_default();
            slot.0 += sum;
            slot.1 += count;
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
