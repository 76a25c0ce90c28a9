//! The crash matrix (issue 7): `appreg apply` SIGKILLed at a seeded random request of applies that
//! create, update, rotate and prune, each followed by a clean `appreg apply`. After the clean run
//! the tenant has converged: every declared app exactly once, no duplicate sub-object, the next
//! plan is all no-op, pruned apps are gone and apps outside the set untouched. Secrets: every
//! declared secret ends with a working credential its sink holds, its credentials are exactly that
//! one plus earlier generations within `keep`, and a value a consumer can read from a sink works
//! at the crash point and after the clean run.
//!
//! CI mode (default) runs 8 seeded runs, two per scenario. Long mode:
//! `APPREG_LONG=1 cargo test --release --test engine crash_matrix -- --nocapture` runs 120 (or
//! `APPREG_CRASH_RUNS=N`) and prints the figures table of docs/crash-matrix.md.
//! `APPREG_CRASH_SEED=S` replays the one run of seed S (printed with every failure) and lists the
//! writes of its clean run; `APPREG_CRASH_TRACE=1` lists the requests of each scenario's apply.

use crate::convergence;
use crate::crash;
use crate::tenant;

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::time::Instant;

use appreg::emulator::{Faults, RunningSandbox};
use crash::*;
use futures_util::FutureExt;
use serde_json::{Value, json};
use tenant::*;

const VAULT_HOST: &str = "contoso-kv.vault.azure.net";
/// Seeds of run i derive from this and i; printed, so a table can be reproduced.
const BASE_SEED: u64 = 0x0a99_7e60_c4a5_0001;
const MANIFEST: &str = "matrix.yaml";

// ---------------------------------------------------------------------------------------------
// Scenarios
// ---------------------------------------------------------------------------------------------

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Scenario {
    Create,
    Update,
    Rotate,
    Prune,
}

const SCENARIOS: [Scenario; 4] = [
    Scenario::Create,
    Scenario::Update,
    Scenario::Rotate,
    Scenario::Prune,
];

impl Scenario {
    fn name(self) -> &'static str {
        match self {
            Scenario::Create => "create",
            Scenario::Update => "update",
            Scenario::Rotate => "rotate",
            Scenario::Prune => "prune",
        }
    }
}

#[derive(Debug, Clone)]
struct SecretDecl {
    name: &'static str,
    lifetime: &'static str,
    rotate_before: &'static str,
    keep: u32,
    sink: SecretSink,
    /// The apply under test adds a generation of it (new, or due for rotation).
    adds_generation: bool,
}

#[derive(Debug, Clone)]
struct AppDecl {
    key: &'static str,
    /// YAML of everything but secrets, indented for an app body (4 spaces).
    body: String,
    /// (name, fixture file) of its certificates.
    certificates: Vec<(&'static str, &'static str)>,
    secrets: Vec<SecretDecl>,
}

/// One scenario: manifests applied (by the library, unharmed) to get the tenant ready, then the
/// manifest whose apply is killed and run again.
struct Setup {
    stages: Vec<Vec<AppDecl>>,
    target: Vec<AppDecl>,
    prune: bool,
    /// Apps of the set that leave the manifest and must be gone after the clean run.
    pruned: Vec<&'static str>,
}

fn file(path: &str) -> SecretSink {
    SecretSink::File(path.to_string())
}

fn vault(secret: &str) -> SecretSink {
    SecretSink::Vault {
        host: VAULT_HOST.to_string(),
        secret: secret.to_string(),
    }
}

fn secret(
    name: &'static str,
    (lifetime, rotate_before): (&'static str, &'static str),
    keep: u32,
    sink: SecretSink,
    adds_generation: bool,
) -> SecretDecl {
    SecretDecl {
        name,
        lifetime,
        rotate_before,
        keep,
        sink,
        adds_generation,
    }
}

fn app(
    key: &'static str,
    body: &str,
    certificates: &[(&'static str, &'static str)],
    secrets: Vec<SecretDecl>,
) -> AppDecl {
    AppDecl {
        key,
        body: body.to_string(),
        certificates: certificates.to_vec(),
        secrets,
    }
}

fn manifest_text(apps: &[AppDecl]) -> String {
    let mut text = String::from("version: 1\nname: matrix\napps:\n");
    for app in apps {
        text.push_str(&format!("  {}:\n{}", app.key, app.body));
        if !app.certificates.is_empty() {
            text.push_str("    certificates:\n");
            for (name, file) in &app.certificates {
                text.push_str(&format!("      - name: {name}\n        file: {file}\n"));
            }
        }
        if !app.secrets.is_empty() {
            text.push_str("    secrets:\n");
            for s in &app.secrets {
                text.push_str(&format!(
                    "      - name: {}\n        lifetime: {}\n        rotateBefore: {}\n        keep: {}\n        deliver: {}\n",
                    s.name,
                    s.lifetime,
                    s.rotate_before,
                    s.keep,
                    s.sink.deliver_yaml()
                ));
            }
        }
    }
    text
}

const LONG: (&str, &str) = ("180d", "30d");

/// Empty set -> four apps: consented permissions, secrets to a file and to Key Vault, federated
/// credentials, a certificate, an assignment.
fn created_apps(adds_generation: bool) -> Vec<AppDecl> {
    vec![
        app(
            "mail-sync",
            "    displayName: Mail sync\n    web:\n      redirectUris: [https://mail.example.com/auth/callback, https://mail.example.com/auth/silent]\n    permissions:\n      Microsoft Graph:\n        delegated: [User.Read, Mail.Read]\n        application: [Mail.Send]\n    adminConsent: true\n",
            &[],
            vec![secret(
                "mail",
                LONG,
                2,
                file("secrets/mail-sync.json"),
                adds_generation,
            )],
        ),
        app(
            "vault-reader",
            "    displayName: Vault reader\n    permissions:\n      Microsoft Graph:\n        application: [User.Read.All]\n    adminConsent: true\n",
            &[],
            vec![secret(
                "api",
                ("90d", "14d"),
                2,
                vault("vault-reader-api"),
                adds_generation,
            )],
        ),
        app(
            "deploy",
            "    displayName: Deploy\n    federatedCredentials:\n      - name: prod\n        issuer: https://token.actions.githubusercontent.com\n        subject: repo:contoso/erp:environment:prod\n      - name: test\n        issuer: https://token.actions.githubusercontent.com\n        subject: repo:contoso/erp:environment:test\n",
            &[("signing", "first.pem")],
            vec![],
        ),
        app(
            "portal",
            "    displayName: Portal\n    spa:\n      redirectUris: [https://portal.example.com/]\n    servicePrincipal:\n      assignmentRequired: true\n      assignments:\n        - user: mail-sender@contoso.com\n",
            &[],
            vec![secret(
                "web",
                LONG,
                1,
                file("secrets/portal.json"),
                adds_generation,
            )],
        ),
    ]
}

/// The created apps, changed: display names, redirect URIs, permissions, a federated credential
/// changed, one removed and one added, the certificate replaced, an assignment and a secret added.
fn updated_apps() -> Vec<AppDecl> {
    vec![
        app(
            "mail-sync",
            "    displayName: Mail sync (v2)\n    web:\n      redirectUris: [https://mail.example.com/auth/callback, https://mail2.example.com/auth/callback]\n    permissions:\n      Microsoft Graph:\n        delegated: [User.Read, Calendars.Read]\n        application: [Mail.Send, Calendars.Read]\n    adminConsent: true\n",
            &[],
            vec![secret(
                "mail",
                LONG,
                2,
                file("secrets/mail-sync.json"),
                false,
            )],
        ),
        app(
            "vault-reader",
            "    displayName: Directory reader\n    permissions:\n      Microsoft Graph:\n        application: [User.Read.All, Group.Read.All]\n    adminConsent: true\n",
            &[],
            vec![
                secret("api", ("90d", "14d"), 2, vault("vault-reader-api"), false),
                secret(
                    "second",
                    ("60d", "10d"),
                    2,
                    file("secrets/vault-reader-second.json"),
                    true,
                ),
            ],
        ),
        app(
            "deploy",
            "    displayName: Deploy (prod)\n    federatedCredentials:\n      - name: prod\n        issuer: https://token.actions.githubusercontent.com\n        subject: repo:contoso/erp:environment:production\n      - name: staging\n        issuer: https://token.actions.githubusercontent.com\n        subject: repo:contoso/erp:environment:staging\n",
            &[("signing", "second.pem")],
            vec![],
        ),
        app(
            "portal",
            "    displayName: Portal\n    spa:\n      redirectUris: [https://portal.example.com/, https://portal.example.com/app]\n    servicePrincipal:\n      assignmentRequired: true\n      assignments:\n        - user: mail-sender@contoso.com\n        - group: Odoo mail senders\n",
            &[],
            vec![secret("web", LONG, 1, file("secrets/portal.json"), false)],
        ),
    ]
}

/// Secrets with keep 1, 2 and 3 whose newest generation is due (window widened past its expiry),
/// and one that is not.
fn rotating_apps(window: (&'static str, &'static str), adds_generation: bool) -> Vec<AppDecl> {
    vec![
        app(
            "file-app",
            "    displayName: File app\n",
            &[],
            vec![secret(
                "mail",
                window,
                2,
                file("secrets/file-app.json"),
                adds_generation,
            )],
        ),
        app(
            "vault-app",
            "    displayName: Vault app\n    permissions:\n      Microsoft Graph:\n        application: [Mail.Send]\n    adminConsent: true\n",
            &[],
            vec![secret(
                "mail",
                window,
                1,
                vault("vault-app-mail"),
                adds_generation,
            )],
        ),
        app(
            "keep3-app",
            "    displayName: Keep three\n",
            &[],
            vec![secret(
                "mail",
                window,
                3,
                file("secrets/keep3-app.json"),
                adds_generation,
            )],
        ),
        app(
            "steady-app",
            "    displayName: Steady app\n",
            &[],
            vec![secret(
                "mail",
                LONG,
                2,
                file("secrets/steady-app.json"),
                false,
            )],
        ),
    ]
}

fn prune_apps(with_dropped: bool) -> Vec<AppDecl> {
    let mut apps = vec![app(
        "keeper",
        if with_dropped {
            "    displayName: Keeper\n    web:\n      redirectUris: [https://keeper.example.com/cb]\n"
        } else {
            "    displayName: Keeper (kept)\n    web:\n      redirectUris: [https://keeper.example.com/cb]\n"
        },
        &[],
        vec![secret("mail", LONG, 2, file("secrets/keeper.json"), false)],
    )];
    if with_dropped {
        apps.push(app(
            "dropped",
            "    displayName: Dropped\n    permissions:\n      Microsoft Graph:\n        delegated: [User.Read]\n        application: [Mail.Send]\n    adminConsent: true\n    servicePrincipal:\n      assignments:\n        - user: mail-sender@contoso.com\n    federatedCredentials:\n      - name: deploy\n        issuer: https://token.actions.githubusercontent.com\n        subject: repo:contoso/x:ref:refs/heads/main\n",
            &[("signing", "first.pem")],
            vec![secret("mail", LONG, 2, file("secrets/dropped.json"), false)],
        ));
        apps.push(app(
            "dropped-vault",
            "    displayName: Dropped vault\n",
            &[],
            vec![secret("mail", LONG, 2, vault("dropped-vault-mail"), false)],
        ));
    }
    apps
}

fn setup(scenario: Scenario) -> Setup {
    match scenario {
        Scenario::Create => Setup {
            stages: vec![],
            target: created_apps(true),
            prune: false,
            pruned: vec![],
        },
        Scenario::Update => Setup {
            stages: vec![created_apps(true)],
            target: updated_apps(),
            prune: false,
            pruned: vec![],
        },
        // 20d/10d creates generation A, 25d/21d rotates to B (A is due), 30d/26d is the rotation
        // under test (B is due).
        Scenario::Rotate => Setup {
            stages: vec![
                rotating_apps(("20d", "10d"), true),
                rotating_apps(("25d", "21d"), true),
            ],
            target: rotating_apps(("30d", "26d"), true),
            prune: false,
            pruned: vec![],
        },
        Scenario::Prune => Setup {
            stages: vec![prune_apps(true)],
            target: prune_apps(false),
            prune: true,
            pruned: vec!["dropped", "dropped-vault"],
        },
    }
}

// ---------------------------------------------------------------------------------------------
// One run
// ---------------------------------------------------------------------------------------------

/// What can be wrong after a run; each is a column of the figures table.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Problem {
    /// The clean run did not exit 0 (or the unharmed measuring run did not).
    CleanRunFailed,
    /// A declared app is missing, or a declared sub-object.
    Missing,
    /// More than one of something that must exist once.
    Duplicate,
    /// A credential of a declared secret that no sink holds and is not a kept earlier generation.
    Orphan,
    /// The number of generations kept does not match keep.
    Generations,
    /// A sink is empty where it held a value, or holds a value the tenant refuses.
    SecretLost,
    /// The value a sink held before the apply (keep >= 2) stopped working: no overlap.
    OverlapBroken,
    /// The plan after the clean run is not all no-op.
    PlanNotNoOp,
    /// A pruned app or its service principal survived.
    PruneIncomplete,
    /// An app outside the set changed.
    BystanderChanged,
    /// Panics and timeouts of the harness itself.
    Other,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kill {
    /// The measuring run: no freeze.
    None,
    At(u64, KillTiming),
}

#[derive(Debug)]
struct RunRecord {
    seed: u64,
    scenario: Scenario,
    kill: Kill,
    /// Requests the apply under test made (measuring run) or `None`.
    length: Option<u64>,
    killed: bool,
    /// Graph writes of the clean run (of the apply itself for the measuring run): what the crash
    /// left undone or half done.
    repair_writes: Vec<String>,
    plan_no_op: bool,
    problems: Vec<(Problem, String)>,
}

impl RunRecord {
    /// A run before anything happened: no length, not killed, no problem yet.
    fn new(seed: u64, scenario: Scenario, kill: Kill) -> Self {
        RunRecord {
            seed,
            scenario,
            kill,
            length: None,
            killed: false,
            repair_writes: Vec::new(),
            plan_no_op: false,
            problems: Vec::new(),
        }
    }

    fn label(&self) -> String {
        match self.kill {
            Kill::None => format!(
                "{} seed={:#x} (measuring run)",
                self.scenario.name(),
                self.seed
            ),
            Kill::At(k, timing) => format!(
                "{} seed={:#x} k={k} kill {timing}",
                self.scenario.name(),
                self.seed
            ),
        }
    }
}

fn fixture(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/certs")
        .join(name)
}

fn write_manifest(dir: &Path, apps: &[AppDecl]) -> PathBuf {
    let path = dir.join(MANIFEST);
    std::fs::write(&path, manifest_text(apps)).unwrap();
    path
}

/// Apps outside the set: one without the ownership marker, one of another set.
async fn bystanders(raw: &Raw) -> Vec<(String, Value)> {
    let mut out = Vec::new();
    for body in [
        json!({"displayName": "Bystander", "tags": []}),
        json!({"displayName": "Other set", "tags": ["appreg:managed", "appreg:set=other"]}),
    ] {
        let created = raw
            .write(reqwest::Method::POST, "/applications", Some(body))
            .await;
        let id = created["id"].as_str().unwrap().to_string();
        let snapshot = raw.get(&format!("/applications/{id}")).await;
        out.push((id, snapshot));
    }
    out
}

async fn run_one(seed: u64, scenario: Scenario, kill: Kill) -> RunRecord {
    let sb = start(Faults::default(), seed).await;
    let mut record = RunRecord::new(seed, scenario, kill);
    exercise(&sb, &mut record).await;
    sb.shutdown().await;
    record
}

async fn exercise(sb: &RunningSandbox, record: &mut RunRecord) {
    let raw = Raw::new(sb).await;
    let client = client(sb);
    let dir = run_dir("crash-matrix");
    for cert in ["first.pem", "second.pem"] {
        std::fs::copy(fixture(cert), dir.join(cert)).unwrap();
    }
    let setup = setup(record.scenario);
    let outside = bystanders(&raw).await;
    for stage in &setup.stages {
        let path = write_manifest(&dir, stage);
        apply(&client, sb, &load(&[path]), false).await;
    }
    let pruned_app_ids: Vec<String> = {
        let mut ids = Vec::new();
        for key in &setup.pruned {
            ids.push(raw.app(key).await["appId"].as_str().unwrap().to_string());
        }
        ids
    };
    let target = write_manifest(&dir, &setup.target);
    let target_str = target.to_str().unwrap().to_string();
    let mut args = vec!["apply", target_str.as_str(), "--auto-approve"];
    if setup.prune {
        args.push("--prune");
    }

    // Before: each declared secret's credentials, and what its sink holds.
    let mut originals = BTreeMap::new();
    let mut before = BTreeMap::new();
    for app in &setup.target {
        for s in &app.secrets {
            originals.insert(
                (app.key, s.name),
                password_key_ids(&raw, app.key, s.name).await,
            );
            before.insert((app.key, s.name), held(sb, &dir, &s.sink));
        }
    }

    // The apply under test.
    match record.kill {
        Kill::None => {
            let base = sb.requests_seen();
            sb.clear_log();
            let (code, out, err) = run_cli(sb, &dir, &args).await;
            record.length = Some(sb.requests_seen() - base);
            if std::env::var_os("APPREG_CRASH_TRACE").is_some() {
                eprintln!(
                    "{}: the requests of the apply\n{}",
                    record.scenario.name(),
                    request_trace(sb).join("\n")
                );
            }
            record.repair_writes = writes_with_key_vault(sb);
            if code != 0 {
                record.problems.push((
                    Problem::CleanRunFailed,
                    format!("the unharmed apply exited {code}\n{out}\n{err}"),
                ));
                return;
            }
        }
        Kill::At(k, timing) => match run_killed_at(sb, &dir, &args, k, timing).await {
            Err(e) => {
                record.problems.push((Problem::Other, e));
                return;
            }
            Ok(KillOutcome::Killed) => {
                record.killed = true;
                // At the crash point a consumer reads a working value from every sink that
                // holds one, and every sink that held one still does.
                for app in &setup.target {
                    for s in &app.secrets {
                        let now = held(sb, &dir, &s.sink);
                        let old = &before[&(app.key, s.name)];
                        check_sink(
                            sb,
                            record,
                            "at the crash point",
                            app.key,
                            s,
                            old.is_some(),
                            now.as_ref(),
                        )
                        .await;
                        check_overlap(sb, record, "at the crash point", app.key, s, old).await;
                    }
                }
            }
            Ok(KillOutcome::Finished(code)) => {
                if code != Some(0) {
                    record.problems.push((
                        Problem::CleanRunFailed,
                        format!("the apply ended before its kill point with {code:?}"),
                    ));
                }
            }
        },
    }

    // The clean run.
    if record.kill != Kill::None {
        sb.clear_log();
        let (code, out, err) = run_cli(sb, &dir, &args).await;
        record.repair_writes = writes_with_key_vault(sb);
        if code != 0 {
            record.problems.push((
                Problem::CleanRunFailed,
                format!("the clean run exited {code}\n{out}\n{err}"),
            ));
            return;
        }
    }

    // Converged: apps, sub-objects, secrets, the next plan, prune, bystanders.
    let state = load(std::slice::from_ref(&target));
    let apps = raw.apps().await;
    for app in &setup.target {
        let n = apps.iter().filter(|a| a["uniqueName"] == app.key).count();
        if n != 1 {
            let problem = if n == 0 {
                Problem::Missing
            } else {
                Problem::Duplicate
            };
            record
                .problems
                .push((problem, format!("{} exists {n} times", app.key)));
            continue;
        }
        let live = raw.app(app.key).await;
        for (name, _) in &app.certificates {
            let n = live["keyCredentials"]
                .as_array()
                .into_iter()
                .flatten()
                .filter(|c| c["displayName"] == *name)
                .count();
            if n != 1 {
                let problem = if n == 0 {
                    Problem::Missing
                } else {
                    Problem::Duplicate
                };
                record.problems.push((
                    problem,
                    format!("{}: {n} certificates named {name}", app.key),
                ));
            }
        }
    }
    if let Err(panic) =
        std::panic::AssertUnwindSafe(convergence::assert_no_duplicates(&raw, &state))
            .catch_unwind()
            .await
    {
        record
            .problems
            .push((Problem::Duplicate, panic_message(panic.as_ref())));
    }
    for app in &setup.target {
        for s in &app.secrets {
            let key = (app.key, s.name);
            let now = held(sb, &dir, &s.sink);
            check_sink(
                sb,
                record,
                "after the clean run",
                app.key,
                s,
                true,
                now.as_ref(),
            )
            .await;
            let Some(now) = now else { continue };
            check_generations(&raw, record, app.key, s, &originals[&key], &now).await;
            check_overlap(sb, record, "after the clean run", app.key, s, &before[&key]).await;
        }
    }
    let (_, settled) = plan(&client, sb, &state, setup.prune).await;
    let left = pending(&settled);
    if left.is_empty() {
        record.plan_no_op = true;
    } else {
        record
            .problems
            .push((Problem::PlanNotNoOp, format!("{left:#?}")));
    }
    for (key, app_id) in setup.pruned.iter().zip(&pruned_app_ids) {
        let (status, _) = raw
            .call(
                reqwest::Method::GET,
                &format!("/applications(uniqueName='{key}')"),
                None,
            )
            .await;
        let sps = raw
            .list(&format!("/servicePrincipals?$filter=appId eq '{app_id}'"))
            .await;
        if status != 404 || !sps.is_empty() {
            record.problems.push((
                Problem::PruneIncomplete,
                format!(
                    "{key}: app answers {status}, {} service principals left",
                    sps.len()
                ),
            ));
        }
    }
    for (id, snapshot) in &outside {
        let now = raw.get(&format!("/applications/{id}")).await;
        if &now != snapshot {
            record.problems.push((
                Problem::BystanderChanged,
                format!("{snapshot:#}\nbecame\n{now:#}"),
            ));
        }
    }
}

/// A sink that held a value still holds one (when `must_hold`), and what it holds works.
async fn check_sink(
    sb: &RunningSandbox,
    record: &mut RunRecord,
    when: &str,
    app: &str,
    s: &SecretDecl,
    must_hold: bool,
    now: Option<&Held>,
) {
    if now.is_none() && must_hold {
        record.problems.push((
            Problem::SecretLost,
            format!("{when}: {app}.{}: the sink is empty", s.name),
        ));
    }
    if let Some(h) = now
        && !works(sb, &h.app_id, &h.value).await
    {
        record.problems.push((
            Problem::SecretLost,
            format!(
                "{when}: {app}.{}: the sink's value (keyId {}) is refused",
                s.name, h.key_id
            ),
        ));
    }
}

/// With keep >= 2 a consumer that read the sink before the apply still holds a working value.
async fn check_overlap(
    sb: &RunningSandbox,
    record: &mut RunRecord,
    when: &str,
    app: &str,
    s: &SecretDecl,
    before: &Option<Held>,
) {
    if s.keep >= 2
        && let Some(old) = before
        && !works(sb, &old.app_id, &old.value).await
    {
        record.problems.push((
            Problem::OverlapBroken,
            format!(
                "{when}: {app}.{}: the value its sink held before the apply (keyId {}) is refused (keep {})",
                s.name, old.key_id, s.keep
            ),
        ));
    }
}

/// The secret's credentials are the one its sink holds plus earlier generations: all of them up
/// to `keep` when the apply added one, unchanged otherwise.
async fn check_generations(
    raw: &Raw,
    record: &mut RunRecord,
    app: &str,
    s: &SecretDecl,
    originals: &[String],
    now: &Held,
) {
    let ids = password_key_ids(raw, app, s.name).await;
    let what = format!("{app}.{}", s.name);
    let orphans: Vec<&String> = ids
        .iter()
        .filter(|id| **id != now.key_id && !originals.contains(id))
        .collect();
    if !orphans.is_empty() {
        record.problems.push((
            Problem::Orphan,
            format!("{what}: credentials {orphans:?} are neither held ({}) nor earlier generations {originals:?}", now.key_id),
        ));
    }
    let distinct: BTreeSet<&String> = ids.iter().collect();
    if distinct.len() != ids.len() {
        record
            .problems
            .push((Problem::Duplicate, format!("{what}: key ids {ids:?}")));
    }
    if !ids.contains(&now.key_id) {
        record.problems.push((
            Problem::SecretLost,
            format!("{what}: the held keyId {} is not on the app", now.key_id),
        ));
    }
    if s.adds_generation {
        let expected = (s.keep as usize).min(1 + originals.len());
        if originals.contains(&now.key_id) || ids.len() != expected {
            record.problems.push((
                Problem::Generations,
                format!(
                    "{what}: after a new generation (keep {}) {ids:?}, held {}, before {originals:?}",
                    s.keep, now.key_id
                ),
            ));
        }
    } else if ids != originals {
        record.problems.push((
            Problem::Generations,
            format!("{what}: not due, yet {originals:?} became {ids:?}"),
        ));
    }
}

fn panic_message(panic: &(dyn std::any::Any + Send)) -> String {
    panic
        .downcast_ref::<String>()
        .cloned()
        .or_else(|| panic.downcast_ref::<&str>().map(|s| s.to_string()))
        .unwrap_or_else(|| "a panic".to_string())
}

// ---------------------------------------------------------------------------------------------
// The matrix
// ---------------------------------------------------------------------------------------------

/// Run i's seed: random bits with the scenario in the low two bits, so runs cycle through the
/// scenarios and a seed alone replays a run.
fn run_seed(i: u64) -> u64 {
    (SeededRng::new(BASE_SEED ^ i).next_u64() & !3) | (i % 4)
}

/// Scenario, kill point and kill timing of a seed, given the measured length of each scenario.
fn derive(seed: u64, lengths: &BTreeMap<Scenario, u64>) -> (Scenario, Kill) {
    let scenario = SCENARIOS[(seed % 4) as usize];
    let mut rng = SeededRng::new(seed);
    let k = rng.between(1, lengths[&scenario]);
    let timing = match rng.between(0, 2) {
        0 => KillTiming::OnArrival,
        1 => KillTiming::AtFreeze,
        _ => KillTiming::AfterFreeze(rng.between(1, 40)),
    };
    (scenario, Kill::At(k, timing))
}

/// Runs `run_one` so that a panic becomes a recorded problem of that run (its sandbox is dropped
/// on the way out, which stops it).
async fn guarded(seed: u64, scenario: Scenario, kill: Kill) -> RunRecord {
    match std::panic::AssertUnwindSafe(run_one(seed, scenario, kill))
        .catch_unwind()
        .await
    {
        Ok(record) => record,
        Err(panic) => {
            let mut record = RunRecord::new(seed, scenario, kill);
            record
                .problems
                .push((Problem::Other, panic_message(panic.as_ref())));
            record
        }
    }
}

fn env_u64(name: &str) -> Option<u64> {
    let text = std::env::var(name).ok()?;
    let text = text.trim();
    Some(match text.strip_prefix("0x") {
        Some(hex) => u64::from_str_radix(hex, 16).unwrap(),
        None => text.parse().unwrap(),
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn killed_at_seeded_points_of_create_update_rotate_prune_it_converges() {
    let started = Instant::now();
    let long = std::env::var_os("APPREG_LONG").is_some_and(|v| v != "0");
    let replay = env_u64("APPREG_CRASH_SEED");
    let runs = env_u64("APPREG_CRASH_RUNS").unwrap_or(if long { 120 } else { 8 });
    let seeds: Vec<u64> = match replay {
        Some(seed) => vec![seed],
        None => (0..runs).map(run_seed).collect(),
    };
    eprintln!(
        "crash matrix: {} runs, base seed {BASE_SEED:#x}{}",
        seeds.len(),
        if long { " (long mode)" } else { "" }
    );

    // Measure each scenario's apply once, unharmed: it must converge like any run.
    let mut records = Vec::new();
    let mut lengths = BTreeMap::new();
    let needed: BTreeSet<Scenario> = seeds.iter().map(|s| SCENARIOS[(s % 4) as usize]).collect();
    for (i, scenario) in needed.into_iter().enumerate() {
        let record = guarded(0x5eed_0000 + i as u64, scenario, Kill::None).await;
        let length = record.length.unwrap_or_else(|| {
            panic!(
                "{}: the measuring run failed: {:#?}",
                record.label(),
                record.problems
            )
        });
        eprintln!(
            "{}: the apply takes {length} requests, {} writes",
            scenario.name(),
            record.repair_writes.len()
        );
        lengths.insert(scenario, length);
        records.push(record);
    }
    for seed in seeds {
        let (scenario, kill) = derive(seed, &lengths);
        let record = guarded(seed, scenario, kill).await;
        if replay.is_some() {
            eprintln!("writes of the clean run: {:#?}", record.repair_writes);
        }
        eprintln!(
            "{}: {}, the clean run wrote {}{}",
            record.label(),
            if record.killed {
                "killed"
            } else {
                "finished before the kill"
            },
            record.repair_writes.len(),
            if record.problems.is_empty() {
                String::new()
            } else {
                format!(", {} problems", record.problems.len())
            }
        );
        records.push(record);
    }

    let table = figures(&records, &lengths);
    eprintln!(
        "\n{table}\nwall time: {:.1}s",
        started.elapsed().as_secs_f64()
    );
    let failures: Vec<String> = records
        .iter()
        .filter(|r| !r.problems.is_empty())
        .map(|r| {
            let problems: Vec<String> = r
                .problems
                .iter()
                .map(|(p, m)| format!("  {p:?}: {m}"))
                .collect();
            format!(
                "{} (replay: APPREG_CRASH_SEED={:#x})\n{}",
                r.label(),
                r.seed,
                problems.join("\n")
            )
        })
        .collect();
    assert!(failures.is_empty(), "{}", failures.join("\n\n"));
}

/// The figures table of docs/crash-matrix.md, one row per scenario and a total (the measuring
/// runs count in the problem columns only).
fn figures(records: &[RunRecord], lengths: &BTreeMap<Scenario, u64>) -> String {
    let mut out = String::from(
        "| scenario | apply length (requests) | runs | killed mid-apply | finished before the kill | distinct kill points | clean-run failures | missing | duplicates | orphans | wrong generations | secrets lost | overlap broken | next plan no-op | prune incomplete | bystanders changed | other | clean runs that wrote | removePassword in clean runs |\n|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|\n",
    );
    let count = |rs: &[&RunRecord], p: Problem| {
        rs.iter()
            .map(|r| r.problems.iter().filter(|(q, _)| *q == p).count())
            .sum::<usize>()
    };
    let mut rows: Vec<(String, Vec<&RunRecord>, String)> = lengths
        .iter()
        .map(|(s, len)| {
            (
                s.name().to_string(),
                records.iter().filter(|r| r.scenario == *s).collect(),
                len.to_string(),
            )
        })
        .collect();
    rows.push(("total".to_string(), records.iter().collect(), String::new()));
    for (name, rs, length) in rows {
        let seeded: Vec<&&RunRecord> = rs.iter().filter(|r| r.kill != Kill::None).collect();
        let killed = seeded.iter().filter(|r| r.killed).count();
        let points: BTreeSet<(Scenario, u64)> = seeded
            .iter()
            .filter(|r| r.killed)
            .filter_map(|r| match r.kill {
                Kill::At(k, _) => Some((r.scenario, k)),
                Kill::None => None,
            })
            .collect();
        let no_op = seeded.iter().filter(|r| r.plan_no_op).count();
        let repaired = seeded
            .iter()
            .filter(|r| !r.repair_writes.is_empty())
            .count();
        let removed: usize = seeded
            .iter()
            .map(|r| {
                r.repair_writes
                    .iter()
                    .filter(|w| w.contains("/removePassword"))
                    .count()
            })
            .sum();
        out.push_str(&format!(
            "| {name} | {length} | {} | {killed} | {} | {} | {} | {} | {} | {} | {} | {} | {} | {no_op}/{} | {} | {} | {} | {repaired} | {removed} |\n",
            seeded.len(),
            seeded.len() - killed,
            points.len(),
            count(&rs, Problem::CleanRunFailed),
            count(&rs, Problem::Missing),
            count(&rs, Problem::Duplicate),
            count(&rs, Problem::Orphan),
            count(&rs, Problem::Generations),
            count(&rs, Problem::SecretLost),
            count(&rs, Problem::OverlapBroken),
            seeded.len(),
            count(&rs, Problem::PruneIncomplete),
            count(&rs, Problem::BystanderChanged),
            count(&rs, Problem::Other),
        ));
    }
    out
}
