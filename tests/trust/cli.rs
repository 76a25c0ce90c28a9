//! Trust tests whose defence lives in src/cli/ (see SECURITY.md): which tenant a run reaches
//! (finding 11), the standalone sandbox's exposure (14), saved plans (15), and what appreg prints
//! of text from outside (8), plus a table-driven canary over every refusal and error path.

use std::io::{BufRead, BufReader, Read};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use appreg::emulator::{Faults, RunningSandbox};
use serde_json::{Value, json};

use super::tenant::*;

#[path = "../support/fake.rs"]
mod fake;

fn workdir(name: &str) -> PathBuf {
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join(format!(
        "trust-cli-{name}-{}",
        uuid::Uuid::new_v4().simple()
    ));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// How long one run may take; a run that serves or waits past it (what a refusal that does not
/// happen looks like, e.g. `sandbox serve` accepting 0.0.0.0) is killed and reported as exit -1.
const DEADLINE: Duration = Duration::from_secs(60);

/// The binary with nothing from this process's environment but PATH, and `env`: no tenant
/// flags, so what it targets is its own choice.
fn bare(dir: &Path, args: &[&str], env: &[(&str, &str)]) -> (i32, String, String) {
    let mut command = Command::new(env!("CARGO_BIN_EXE_appreg"));
    command
        .args(["--color", "never"])
        .args(args)
        .current_dir(dir)
        .env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    for (k, v) in env {
        command.env(k, v);
    }
    let mut child = command.spawn().expect("the binary runs");
    let drain = |mut from: Box<dyn Read + Send>| {
        std::thread::spawn(move || {
            let mut text = Vec::new();
            let _ = from.read_to_end(&mut text);
            String::from_utf8_lossy(&text).into_owned()
        })
    };
    let out = drain(Box::new(child.stdout.take().unwrap()));
    let err = drain(Box::new(child.stderr.take().unwrap()));
    let started = Instant::now();
    let code = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status.code().unwrap_or(-1);
        }
        if started.elapsed() > DEADLINE {
            let _ = child.kill();
            let _ = child.wait();
            break -1;
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    (code, out.join().unwrap(), err.join().unwrap())
}

/// One app whose secret goes to a file sink, and that file already holding the real secret of
/// the real tenant, as it does on a CI runner's cache or a deploy host.
fn app_with_real_secret(dir: &Path) -> (PathBuf, String) {
    std::fs::write(
        dir.join("app.yaml"),
        "version: 1\nname: trust-cli\napps:\n  ci-app:\n    displayName: CI app\n    secrets:\n      \
         - name: handoff\n        lifetime: 30d\n        rotateBefore: 10d\n        \
         deliver: { file: secrets/ci-app.json }\n",
    )
    .unwrap();
    std::fs::create_dir_all(dir.join("secrets")).unwrap();
    let real = json!({
        "tenantId": "98bfee78-6885-4175-9030-fea76352207b",
        "appId": "2a1d6f59-5b2c-4e0e-9a59-8d1c4a0b7f11",
        "clientSecret": "the-real-secret-in-use",
        "keyId": "5f0c7a4e-1b7e-4d55-9b1e-1f4f3c2a9d10",
        "expiry": "2027-06-01T00:00:00Z"
    })
    .to_string();
    let path = dir.join("secrets/ci-app.json");
    std::fs::write(&path, &real).unwrap();
    (path, real)
}

/// Finding 11: a CI job whose Azure secrets are missing (they arrive as empty variables), or any
/// CI job with no tenant, never falls back to the local sandbox: every command that reaches a
/// tenant exits 1 naming what is missing and how to choose, and the real secret file is untouched.
#[test]
fn missing_ci_secrets_never_fall_back_to_the_sandbox() {
    // Each case: environment, names the refusal must give, why.
    type Case<'a> = (&'a [(&'a str, &'a str)], &'a [&'a str], &'a str);
    let cases: &[Case] = &[
        (
            &[
                ("AZURE_TENANT_ID", ""),
                ("AZURE_CLIENT_ID", ""),
                ("AZURE_CLIENT_SECRET", ""),
            ],
            &["AZURE_TENANT_ID", "AZURE_CLIENT_ID", "AZURE_CLIENT_SECRET"],
            "the red team's command: secrets that do not exist in a fork",
        ),
        (&[("CI", "true")], &["CI"], "what most CI services set"),
        (
            &[("GITHUB_ACTIONS", "true")],
            &["GITHUB_ACTIONS"],
            "GitHub Actions",
        ),
        (&[("TF_BUILD", "True")], &["TF_BUILD"], "Azure Pipelines"),
        (
            &[("AZURE_CLIENT_ID", "c"), ("AZURE_CLIENT_SECRET", "s")],
            &["AZURE_CLIENT_ID", "AZURE_CLIENT_SECRET"],
            "credentials without their tenant",
        ),
    ];
    for (env, names, why) in cases {
        let dir = workdir("no-fallback");
        let (secret_file, real) = app_with_real_secret(&dir);
        for args in [
            &["apply", "app.yaml", "--auto-approve"][..],
            &["plan", "app.yaml"],
            &["drift", "app.yaml"],
            &["output", "app.yaml"],
            &["credentials", "app.yaml"],
        ] {
            let (code, out, err) = bare(&dir, args, env);
            let context = format!("{why}: {args:?}\n{out}\n{err}");
            assert_eq!(code, 1, "{context}");
            for name in *names {
                assert!(err.contains(name), "names {name}: {context}");
            }
            assert!(err.contains("--sandbox"), "says how to choose: {context}");
            assert!(!err.contains("using the sandbox tenant"), "{context}");
            assert_eq!(
                std::fs::read_to_string(&secret_file).unwrap(),
                real,
                "{context}"
            );
            assert!(
                !dir.join(".appreg").exists(),
                "no sandbox started: {context}"
            );
        }
    }
}

/// Finding 11, the other side: the sandbox stays one flag away in CI (`--sandbox`), and the
/// README's first command on a developer machine (no CI variables) still applies to it.
#[test]
fn the_sandbox_is_an_explicit_choice_in_ci_and_the_default_elsewhere() {
    for (env, extra, why) in [
        (
            &[("CI", "true"), ("GITHUB_ACTIONS", "true")][..],
            &["--sandbox"][..],
            "CI with --sandbox",
        ),
        (
            &[][..],
            &[][..],
            "a developer machine, the README's command",
        ),
    ] {
        let dir = workdir("explicit");
        std::fs::write(
            dir.join("app.yaml"),
            "version: 1\nname: trust-cli\napps:\n  dev-app:\n    displayName: Dev app\n",
        )
        .unwrap();
        let args = [&["apply", "app.yaml", "--auto-approve"][..], extra].concat();
        let (code, out, err) = bare(&dir, &args, env);
        assert_eq!(code, 0, "{why}\n{out}\n{err}");
        assert!(err.contains("using the sandbox tenant"), "{why}: {err}");
        assert!(dir.join(".appreg/sandbox.json").exists(), "{why}");
    }
}

/// Starts `appreg sandbox serve` with `listen`; returns the child and its first stdout line, or,
/// when it exited without printing one, its exit code, (empty) stdout and stderr.
fn serve(dir: &Path, listen: &str) -> Result<(std::process::Child, String), (i32, String, String)> {
    let mut child = Command::new(env!("CARGO_BIN_EXE_appreg"))
        .args(["sandbox", "serve", "--listen", listen, "--state"])
        .arg(dir.join("sandbox.json"))
        .env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let stdout = child.stdout.take().unwrap();
    let (send, receive) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let mut line = String::new();
        let _ = BufReader::new(stdout).read_line(&mut line);
        let _ = send.send(line);
    });
    let line = receive
        .recv_timeout(Duration::from_secs(30))
        .unwrap_or_default();
    if !line.is_empty() {
        return Ok((child, line));
    }
    let started = Instant::now();
    while started.elapsed() < Duration::from_secs(30) {
        if let Some(status) = child.try_wait().unwrap() {
            let mut err = String::new();
            let _ = child.stderr.take().unwrap().read_to_string(&mut err);
            return Err((status.code().unwrap_or(-1), String::new(), err));
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    let _ = child.kill();
    let _ = child.wait();
    panic!("sandbox serve --listen {listen} neither served nor exited");
}

/// Finding 14: `sandbox serve` holds an admin secret and issues tokens; it serves this machine
/// only, and its control endpoints (the request log: read and clear) answer only its admin app.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_standalone_sandbox_is_loopback_only_and_its_log_needs_the_admin_token() {
    let dir = workdir("serve");
    for listen in ["0.0.0.0:0", "[::]:0"] {
        let d = dir.clone();
        let refused = tokio::task::spawn_blocking(move || serve(&d, listen))
            .await
            .unwrap();
        match refused {
            Ok((mut child, line)) => {
                let _ = child.kill();
                let _ = child.wait();
                panic!("{listen} was served: {}", line.len());
            }
            Err((code, out, err)) => {
                assert_eq!(code, 1, "{listen}: {err}");
                assert!(out.is_empty(), "no admin secret printed");
                assert!(err.contains("loopback"), "{listen}: {err}");
                assert!(err.contains("help: use --listen 127.0.0.1:"), "{err}");
            }
        }
    }

    let d = dir.clone();
    let (mut child, line) = tokio::task::spawn_blocking(move || serve(&d, "127.0.0.1:0"))
        .await
        .unwrap()
        .unwrap_or_else(|(code, _, err)| panic!("loopback is served: {code} {err}"));
    let info: Value = serde_json::from_str(&line).unwrap();
    let authority = info["authorityUrl"].as_str().unwrap();
    let http = reqwest::Client::new();
    let log = format!("{authority}/_sandbox/requests");
    let token: Value = http
        .post(format!(
            "{authority}/{}/oauth2/v2.0/token",
            info["tenantId"].as_str().unwrap()
        ))
        .header("content-type", "application/x-www-form-urlencoded")
        .body(
            form_urlencoded::Serializer::new(String::new())
                .append_pair("grant_type", "client_credentials")
                .append_pair("client_id", info["clientId"].as_str().unwrap())
                .append_pair("client_secret", info["clientSecret"].as_str().unwrap())
                .append_pair("scope", "https://graph.microsoft.com/.default")
                .finish(),
        )
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let token = token["access_token"].as_str().unwrap();
    for method in [reqwest::Method::GET, reqwest::Method::DELETE] {
        let answer = http.request(method.clone(), &log).send().await.unwrap();
        assert_eq!(answer.status(), 401, "{method} without a token");
        let answer = http
            .request(method.clone(), &log)
            .bearer_auth("made-up")
            .send()
            .await
            .unwrap();
        assert_eq!(answer.status(), 401, "{method} with a made-up token");
    }
    let answer: Value = http
        .get(&log)
        .bearer_auth(token)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(
        answer["counters"]["tokenRequests"], 1,
        "the admin reads the log, which the refused DELETEs did not clear: {answer}"
    );
    let cleared = http.delete(&log).bearer_auth(token).send().await.unwrap();
    assert_eq!(cleared.status(), 204);
    child.kill().unwrap();
    child.wait().unwrap();
}

fn two_apps(dir: &Path, keep_second: bool) {
    let mut text =
        String::from("version: 1\nname: trust-plans\napps:\n  plan-keep:\n    displayName: Keep\n");
    if keep_second {
        text.push_str("  plan-gone:\n    displayName: Gone\n");
    }
    std::fs::write(dir.join("app.yaml"), text).unwrap();
}

/// Finding 15: a saved plan is a file anyone with access to the workspace can edit, and a
/// read-only `plan --prune --out` lists deletions nobody decided to apply. `apply PLANFILE`
/// deletes only when `--prune` is restated on its own command line, naming what would go, and
/// nothing is written before it is.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_saved_plan_deletes_only_with_prune_restated() {
    let sb = start(Faults::default(), 0x7157).await;
    let raw = Raw::new(&sb).await;
    let dir = workdir("saved-prune");
    two_apps(&dir, true);
    let (code, _, err) = run_cli(&sb, &dir, &["apply", "app.yaml", "--auto-approve"]).await;
    assert_eq!(code, 0, "{err}");
    two_apps(&dir, false);

    // A read-only `plan --prune --out`, applied as it is.
    let (code, _, err) = run_cli(
        &sb,
        &dir,
        &["plan", "app.yaml", "--prune", "--out", "prune.json"],
    )
    .await;
    assert_eq!(code, 0, "{err}");
    // A plan made without --prune, edited to prune.
    let (code, _, err) = run_cli(&sb, &dir, &["plan", "app.yaml", "--out", "plain.json"]).await;
    assert_eq!(code, 0, "{err}");
    let mut edited: Value =
        serde_json::from_str(&std::fs::read_to_string(dir.join("plain.json")).unwrap()).unwrap();
    edited["prune"] = true.into();
    std::fs::write(dir.join("edited.json"), edited.to_string()).unwrap();

    for (file, names) in [
        ("prune.json", "app.plan-gone"),
        ("edited.json", "was made with --prune"),
    ] {
        sb.clear_log();
        let (code, out, err) = run_cli(&sb, &dir, &["apply", file, "--auto-approve"]).await;
        assert_eq!(code, 1, "{file}: {out}\n{err}");
        assert!(err.contains(names), "{file}: {err}");
        assert!(err.contains("--prune"), "{file}: {err}");
        assert_eq!(writes(&sb), Vec::<String>::new(), "{file}: nothing written");
        assert_eq!(
            sb.request_log().requests.len(),
            0,
            "{file}: refused before any request"
        );
    }
    assert_eq!(raw.app("plan-gone").await["displayName"], "Gone");

    let (code, _, err) = run_cli(
        &sb,
        &dir,
        &["apply", "prune.json", "--auto-approve", "--prune"],
    )
    .await;
    assert_eq!(code, 0, "restated, the plan applies: {err}");
    let (status, _) = raw
        .call(
            reqwest::Method::GET,
            "/applications(uniqueName='plan-gone')",
            None,
        )
        .await;
    assert_eq!(status, 404);
    sb.shutdown().await;
}

/// Finding 15: the docs say `apply PLANFILE` without a terminal needs `--auto-approve`, as every
/// apply does; without it nothing is sent.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_saved_plan_without_a_terminal_needs_auto_approve() {
    let sb = start(Faults::default(), 0x7158).await;
    let dir = workdir("saved-approve");
    two_apps(&dir, true);
    let (code, _, err) = run_cli(&sb, &dir, &["plan", "app.yaml", "--out", "plan.json"]).await;
    assert_eq!(code, 0, "{err}");
    sb.clear_log();
    let (code, out, err) = run_cli(&sb, &dir, &["apply", "plan.json"]).await;
    assert_eq!(code, 1, "{out}\n{err}");
    assert!(err.contains("--auto-approve"), "{err}");
    assert_eq!(sb.request_log().requests.len(), 0, "nothing sent");
    let (code, _, err) = run_cli(&sb, &dir, &["apply", "plan.json", "--auto-approve"]).await;
    assert_eq!(code, 0, "{err}");
    sb.shutdown().await;
}

// ---------------------------------------------------------------------------------------------
// Finding 8: text from outside never prints as a runner command or a terminal escape
// ---------------------------------------------------------------------------------------------

/// What a hostile tenant, server or manifest puts in every string it controls.
const HOSTILE: &str =
    "x\n::warning::pwned\n  ::error::pwned \x1b[31mred\x1b]0;title\x07 ##vso[task.complete]";

/// Lines of `text` a CI runner would obey (after trimming leading spaces, as GitHub's does), or
/// that carry a raw escape or control character. appreg's own `::add-mask::` lines pass.
fn runner_commands(text: &str) -> Vec<String> {
    text.lines()
        .filter(|line| {
            let body = line.trim_start();
            (body.starts_with("::") && !line.starts_with("::add-mask::"))
                || line.contains("##vso[")
                || line.contains("##[")
                || line.chars().any(|c| c.is_control() && c != '\t')
        })
        .map(|line| format!("{line:?}"))
        .collect()
}

/// Every command and format the tenant's strings can reach, over `file`.
fn every_command(file: &str) -> Vec<Vec<String>> {
    let commands: [&[&str]; 15] = [
        &["validate", file],
        &["validate", file, "--format", "json"],
        &["plan", file],
        &["plan", file, "--json"],
        &["plan", file, "--markdown"],
        &["plan", file, "--prune", "--out", "plan.json"],
        &["drift", file],
        &["drift", file, "--json"],
        &["drift", file, "--markdown"],
        &["credentials", file],
        &["credentials", file, "--json"],
        &["output", file],
        &["output", file, "--json"],
        &["apply", file, "--auto-approve", "--prune"],
        &["output", file],
    ];
    commands
        .iter()
        .map(|c| {
            std::iter::once("-vvv")
                .chain(c.iter().copied())
                .map(str::to_string)
                .collect()
        })
        .collect()
}

/// Finding 8: display names, notes, credential names and stray apps in the tenant carrying line
/// breaks, `::warning::`/`::error::` lines, `##vso[` and ANSI/OSC escapes reach every command in
/// every format (logs at -vvv included), and no line printed starts a runner command or carries
/// a raw control character.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tenant_strings_never_print_as_runner_commands_or_escapes() {
    let sb = start(Faults::default(), 0x7159).await;
    let raw = Raw::new(&sb).await;
    let dir = workdir("hostile-out");
    std::fs::write(
        dir.join("app.yaml"),
        "version: 1\nname: trust-out\napps:\n  hostile-out:\n    displayName: Plain\n    \
         notes: \"line one\\nline two\"\n",
    )
    .unwrap();
    let tags = json!(["appreg:managed", "appreg:set=trust-out"]);
    let app = raw
        .write(
            reqwest::Method::POST,
            "/applications",
            Some(json!({"uniqueName": "hostile-out", "displayName": HOSTILE,
                        "notes": format!("line one\n{HOSTILE}\nline two"), "tags": tags})),
        )
        .await;
    raw.write(
        reqwest::Method::POST,
        &format!("/applications/{}/addPassword", app["id"].as_str().unwrap()),
        Some(json!({"passwordCredential": {"displayName": HOSTILE}})),
    )
    .await;
    raw.write(
        reqwest::Method::POST,
        "/applications",
        Some(json!({"displayName": HOSTILE, "tags": tags})),
    )
    .await;

    let mut found = Vec::new();
    for args in every_command("app.yaml") {
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        let (code, out, err) = run_cli(&sb, &dir, &args).await;
        assert!(code == 0 || code == 2, "{args:?}: {code}\n{out}\n{err}");
        // Before apply, the views of the tenant show its strings, escaped: the test saw what it
        // meant to.
        if ["plan", "drift", "credentials"].contains(&args[1]) && !args.contains(&"--json") {
            assert!(out.contains("pwned"), "{args:?}: {out}");
        }
        for (stream, text) in [("stdout", &out), ("stderr", &err)] {
            for line in runner_commands(text) {
                found.push(format!("{args:?} {stream}: {line}"));
            }
        }
    }
    assert!(found.is_empty(), "{:#?}", found);
    sb.shutdown().await;
}

/// A Graph (and token endpoint) on loopback whose every Graph answer is an error carrying
/// [`HOSTILE`] in its message and request id: 403 on reads (so the permission hint, appreg's own
/// second line, is added), and the token it issues is [`CANARY_TOKEN`].
async fn hostile_graph() -> fake::Fake {
    fake::Fake::start(|seen, _| {
        if seen.path.ends_with("/oauth2/v2.0/token") {
            return fake::token_reply(CANARY_TOKEN, 3600);
        }
        fake::Reply::Json(
            403,
            json!({"error": {"code": HOSTILE, "message": HOSTILE,
                   "innerError": {"request-id": HOSTILE}}}),
        )
    })
    .await
}

/// A token shaped like a JWT, so that the canary's `eyJ` check covers it.
const CANARY_TOKEN: &str = "eyJhbGciOiJub25lIn0.eyJjYW5hcnkiOnRydWV9.c2ln";
/// The client secret every run of the canary holds.
const CANARY_SECRET: &str = "canary-client-secret-0c7f3a";

/// Finding 8, error side: Graph's error messages, codes and request ids are outside text too;
/// every command that reaches Graph prints them escaped, keeping appreg's own hint line.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn graph_errors_never_print_as_runner_commands_or_escapes() {
    let graph = hostile_graph().await;
    let dir = workdir("hostile-errors");
    std::fs::write(
        dir.join("app.yaml"),
        "version: 1\nname: trust-errors\napps:\n  err-app:\n    displayName: Err\n",
    )
    .unwrap();
    let url = graph.url.clone();
    for args in every_command("app.yaml") {
        let reaches_graph = args[1] != "validate";
        let url = url.clone();
        let d = dir.clone();
        let (code, out, err) = tokio::task::spawn_blocking(move || {
            let args: Vec<&str> = args.iter().map(String::as_str).collect();
            let full = [
                &[
                    "--graph-url",
                    url.as_str(),
                    "--authority-url",
                    url.as_str(),
                    "--auth",
                    "secret",
                ][..],
                &args,
            ]
            .concat();
            bare(&d, &full, &graph_env())
        })
        .await
        .unwrap();
        let found: Vec<String> = runner_commands(&out)
            .into_iter()
            .chain(runner_commands(&err))
            .collect();
        assert!(found.is_empty(), "{found:#?}\n{err}");
        if reaches_graph {
            assert_eq!(code, 1, "{out}\n{err}");
            assert!(err.contains("pwned"), "the error is shown, escaped: {err}");
        }
    }
    assert!(!graph.log().is_empty(), "Graph was reached");
}

fn graph_env() -> Vec<(&'static str, &'static str)> {
    vec![
        ("AZURE_TENANT_ID", "98bfee78-6885-4175-9030-fea76352207b"),
        ("AZURE_CLIENT_ID", "2a1d6f59-5b2c-4e0e-9a59-8d1c4a0b7f11"),
        ("AZURE_CLIENT_SECRET", CANARY_SECRET),
    ]
}

// ---------------------------------------------------------------------------------------------
// Canary: no secret, token or runner command in any refusal or error path
// ---------------------------------------------------------------------------------------------

/// Where a canary row's run is pointed.
enum Target {
    /// No tenant flags: the binary chooses (finding 11's refusals).
    Bare,
    /// The sandbox the test started, as a CI job with its admin credentials reaches it.
    Sandbox,
    /// [`hostile_graph`]: Graph errors at the edge.
    HostileGraph,
}

/// One refusal or error path: a name, where it runs, its arguments and extra environment, a
/// step that prepares the working directory, and the exit code it must end with.
struct Row {
    name: &'static str,
    target: Target,
    args: &'static [&'static str],
    env: &'static [(&'static str, &'static str)],
    prepare: fn(&Path),
    code: i32,
}

fn nothing(_: &Path) {}

fn one_app(dir: &Path) {
    std::fs::write(
        dir.join("app.yaml"),
        "version: 1\nname: trust-canary\napps:\n  canary-app:\n    displayName: Canary\n    \
         secrets:\n      - name: s\n        lifetime: 30d\n        rotateBefore: 10d\n        \
         deliver: { file: secrets/canary.json }\n",
    )
    .unwrap();
}

/// A saved plan that deletes a stray app of the set (made by `prepare_stray` below).
fn plan_with_deletion(dir: &Path) {
    one_app(dir);
    let plan = json!({
        "formatVersion": 2, "setName": "trust-canary", "tenantId": "t",
        "manifestDigest": "0", "createdAt": "2026-01-01T00:00:00Z", "prune": false,
        "manifestPaths": ["app.yaml"],
        "changes": [{"address": format!("app.{HOSTILE}"), "resource": "application",
                     "action": "delete", "reason": HOSTILE, "fields": []}]
    });
    std::fs::write(dir.join("plan.json"), plan.to_string()).unwrap();
}

/// The rows: every refusal and error path this room added. Other rooms' refusals are rows too.
fn canary_rows() -> Vec<Row> {
    const EMPTY_SECRETS: &[(&str, &str)] = &[
        ("AZURE_TENANT_ID", ""),
        ("AZURE_CLIENT_ID", ""),
        ("AZURE_CLIENT_SECRET", CANARY_SECRET),
    ];
    vec![
        Row {
            name: "finding 11: empty tenant variables, a secret present",
            target: Target::Bare,
            args: &["-vvv", "apply", "app.yaml", "--auto-approve"],
            env: EMPTY_SECRETS,
            prepare: one_app,
            code: 1,
        },
        Row {
            name: "finding 11: CI marker, plan --json",
            target: Target::Bare,
            args: &["-vvv", "plan", "app.yaml", "--json"],
            env: &[("CI", "true"), ("AZURE_CLIENT_SECRET", CANARY_SECRET)],
            prepare: one_app,
            code: 1,
        },
        Row {
            name: "finding 14: sandbox serve on every interface",
            target: Target::Bare,
            args: &["-vvv", "sandbox", "serve", "--listen", "0.0.0.0:0"],
            env: &[],
            prepare: nothing,
            code: 1,
        },
        Row {
            name: "finding 15: a saved plan that deletes, --prune not restated",
            target: Target::Sandbox,
            args: &["-vvv", "apply", "plan.json", "--auto-approve"],
            env: &[],
            prepare: plan_with_deletion,
            code: 1,
        },
        Row {
            name: "finding 15: a saved plan without a terminal or --auto-approve",
            target: Target::Sandbox,
            args: &["-vvv", "apply", "plan.json", "--prune"],
            env: &[],
            prepare: plan_with_deletion,
            code: 1,
        },
        Row {
            name: "Graph errors: plan --markdown",
            target: Target::HostileGraph,
            args: &["-vvv", "plan", "app.yaml", "--markdown"],
            env: &[],
            prepare: one_app,
            code: 1,
        },
        Row {
            name: "Graph errors: apply",
            target: Target::HostileGraph,
            args: &["-vvv", "apply", "app.yaml", "--auto-approve"],
            env: &[],
            prepare: one_app,
            code: 1,
        },
        Row {
            name: "Graph errors: output --json",
            target: Target::HostileGraph,
            args: &["-vvv", "output", "app.yaml", "--json"],
            env: &[],
            prepare: one_app,
            code: 1,
        },
        Row {
            name: "finding 1: ${env:} naming appreg's secret, validate",
            target: Target::Sandbox,
            args: &["-vvv", "validate", "env.yaml"],
            env: &[],
            prepare: env_reference,
            code: 1,
        },
        Row {
            name: "finding 1: a ${var:} value in a refused field, plan --json",
            target: Target::Sandbox,
            args: &["-vvv", "plan", "var.yaml", "--json"],
            env: &[("APPREG_VAR_HOST", CANARY_SECRET)],
            prepare: var_in_refused_field,
            code: 1,
        },
        Row {
            name: "finding 2: a vault on another host, plan",
            target: Target::Sandbox,
            args: &["-vvv", "plan", "vault.yaml"],
            env: &[],
            prepare: vault_elsewhere,
            code: 1,
        },
        Row {
            name: "finding 5: two apps on one sink, validate --strict",
            target: Target::Sandbox,
            args: &["-vvv", "validate", "--strict", "sinks.yaml"],
            env: &[],
            prepare: shared_sink,
            code: 1,
        },
        Row {
            name: "finding 10a: a path to Global Administrator, plan --strict",
            target: Target::Sandbox,
            args: &["-vvv", "plan", "--strict", "role.yaml"],
            env: &[],
            prepare: high_privilege,
            code: 1,
        },
        Row {
            name: "finding 10c: a stdout sink in CI, apply",
            target: Target::Sandbox,
            args: &["-vvv", "apply", "stdout.yaml", "--auto-approve"],
            env: &[("CI", "true")],
            prepare: stdout_sink,
            code: 1,
        },
        Row {
            name: "finding 13: prune with a sibling of the set out of view",
            target: Target::Sandbox,
            args: &["-vvv", "apply", "app.yaml", "--prune", "--auto-approve"],
            env: &[],
            prepare: sibling_of_the_set,
            code: 1,
        },
    ]
}

/// One app manifest of the canary's set with `body` under the app (indented four spaces).
fn canary_manifest(dir: &Path, file: &str, body: &str) {
    let text = format!("version: 1\nname: trust-canary\napps:\n  canary-app:\n{body}");
    std::fs::write(dir.join(file), text).unwrap();
}

fn env_reference(dir: &Path) {
    canary_manifest(
        dir,
        "env.yaml",
        "    displayName: \"x ${env:AZURE_CLIENT_SECRET}\"\n",
    );
}

fn var_in_refused_field(dir: &Path) {
    canary_manifest(
        dir,
        "var.yaml",
        "    displayName: Canary\n    web:\n      redirectUris: [\"http://${var:HOST}.example.com/cb\"]\n",
    );
}

fn vault_elsewhere(dir: &Path) {
    canary_manifest(
        dir,
        "vault.yaml",
        "    displayName: Canary\n    secrets:\n      - name: s\n        lifetime: 30d\n        \
         rotateBefore: 10d\n        deliver: { keyVault: { vault: https://collector.example.com, secret: s } }\n",
    );
}

fn shared_sink(dir: &Path) {
    let app = |key: &str| {
        format!(
            "  {key}:\n    displayName: {key}\n    secrets:\n      - name: s\n        lifetime: 30d\n        \
             rotateBefore: 10d\n        deliver: {{ file: secrets/shared.json }}\n"
        )
    };
    let text = format!(
        "version: 1\nname: trust-canary\napps:\n{}{}",
        app("one"),
        app("two")
    );
    std::fs::write(dir.join("sinks.yaml"), text).unwrap();
}

fn high_privilege(dir: &Path) {
    canary_manifest(
        dir,
        "role.yaml",
        "    displayName: Canary\n    permissions:\n      Microsoft Graph:\n        \
         application: [RoleManagement.ReadWrite.Directory]\n    adminConsent: true\n",
    );
}

fn stdout_sink(dir: &Path) {
    canary_manifest(
        dir,
        "stdout.yaml",
        "    displayName: Canary\n    secrets:\n      - name: s\n        lifetime: 30d\n        \
         rotateBefore: 10d\n        deliver: { stdout: true }\n",
    );
}

fn sibling_of_the_set(dir: &Path) {
    one_app(dir);
    canary_manifest(dir, "other.yaml", "    displayName: Sibling\n");
}

async fn run_row(row: &Row, sb: &RunningSandbox, graph: &str) -> (i32, String, String) {
    let dir = workdir("canary");
    (row.prepare)(&dir);
    match row.target {
        Target::Sandbox => {
            let env: Vec<(&str, &str)> = row.env.to_vec();
            run_cli_env(sb, &dir, row.args, &env).await
        }
        Target::Bare | Target::HostileGraph => {
            let mut args: Vec<String> = Vec::new();
            let mut env: Vec<(&str, &str)> = row.env.to_vec();
            if matches!(row.target, Target::HostileGraph) {
                for a in [
                    "--graph-url",
                    graph,
                    "--authority-url",
                    graph,
                    "--auth",
                    "secret",
                ] {
                    args.push(a.to_string());
                }
                env.extend(graph_env());
            }
            args.extend(row.args.iter().map(|s| s.to_string()));
            tokio::task::spawn_blocking(move || {
                let args: Vec<&str> = args.iter().map(String::as_str).collect();
                bare(&dir, &args, &env)
            })
            .await
            .unwrap()
        }
    }
}

/// The canary over the refusal and error paths of findings 1, 2, 5, 8, 10, 11, 13, 14 and 15: at -vvv, no row's
/// output holds the client secret it was given, the sandbox's admin secret, a token (JWTs start
/// `eyJ`), or a line a CI runner would obey; each ends with its exit code. Sibling of
/// `canary_no_secret_value_or_token_in_any_output` (tests/cli/credentials.rs), which covers the
/// successful paths; to cover a new refusal, add a [`Row`] to [`canary_rows`].
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn canary_no_secret_token_or_runner_command_in_any_refusal() {
    let sb = start(Faults::default(), 0x715a).await;
    let graph = hostile_graph().await;
    let mut problems = Vec::new();
    for row in canary_rows() {
        let (code, out, err) = run_row(&row, &sb, &graph.url).await;
        let everything = format!("{out}\n{err}");
        if code != row.code {
            problems.push(format!(
                "{}: exit {code}, not {}\n{err}",
                row.name, row.code
            ));
        }
        for (what, secret) in [
            ("the client secret", CANARY_SECRET),
            ("the sandbox admin secret", sb.admin_client_secret()),
            ("a token", "eyJ"),
        ] {
            if everything.contains(secret) {
                problems.push(format!("{}: {what} leaked", row.name));
            }
        }
        for line in runner_commands(&everything) {
            problems.push(format!("{}: {line}", row.name));
        }
    }
    assert!(problems.is_empty(), "{problems:#?}");
    sb.shutdown().await;
}
