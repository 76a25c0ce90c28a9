//! Trust tests whose defence lives in src/credentials/ (see SECURITY.md).
//!
//! Where a test needs a host that must never be reached, or a Key Vault that answers with hostile
//! text, it runs its own loopback listener (a [`FakeHost`]) and counts what reached it.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use appreg::emulator::{Faults, RunningSandbox};
use serde_json::{Value, json};

use super::tenant::*;

fn workdir(what: &str) -> PathBuf {
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join(format!(
        "trust-credentials-{what}-{}",
        uuid::Uuid::new_v4().simple()
    ));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// The binary as CI would run it against the sandbox, with the Key Vault redirect chosen by the
/// test: `None` runs without `--key-vault-url`, as a real tenant's run does.
fn command(sb: &RunningSandbox, cwd: &Path, key_vault: Option<&str>, args: &[&str]) -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_appreg"));
    command.args([
        "--graph-url",
        sb.graph_url(),
        "--authority-url",
        sb.authority_url(),
        "--auth",
        "secret",
        "--color",
        "never",
    ]);
    if let Some(url) = key_vault {
        command.args(["--key-vault-url", url]);
    }
    command
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

/// `inner` under a 2 GiB address-space limit when `prlimit` is there: without the defence a read
/// of `/dev/zero` grows without bound.
fn memory_limited(inner: &Command) -> Command {
    let available = Command::new("prlimit")
        .arg("--version")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    let mut command = if available {
        let mut c = Command::new("prlimit");
        c.arg("--as=2147483648").arg("--").arg(inner.get_program());
        c
    } else {
        Command::new(inner.get_program())
    };
    command
        .args(inner.get_args())
        .env_clear()
        .stdin(Stdio::null());
    if let Some(dir) = inner.get_current_dir() {
        command.current_dir(dir);
    }
    for (k, v) in inner.get_envs() {
        if let Some(v) = v {
            command.env(k, v);
        }
    }
    command
}

/// Runs `command` for at most `limit` (and 2 GiB), killing it after: a read of `/dev/zero` or a
/// FIFO must not hang the test suite when the defence is missing. None when it had to be killed.
async fn run_bounded(command: Command, limit: Duration) -> Option<(i32, String, String)> {
    let mut command = memory_limited(&command);
    let out = tempfile::tempdir().unwrap();
    let (stdout, stderr) = (out.path().join("out"), out.path().join("err"));
    command
        .stdout(std::fs::File::create(&stdout).unwrap())
        .stderr(std::fs::File::create(&stderr).unwrap());
    let mut child = command.spawn().expect("the binary runs");
    let deadline = Instant::now() + limit;
    let code = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break Some(status.code().unwrap_or(-1));
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            break None;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    let read = |p: &Path| String::from_utf8_lossy(&std::fs::read(p).unwrap()).into_owned();
    code.map(|code| (code, read(&stdout), read(&stderr)))
}

async fn run(command: Command) -> (i32, String, String) {
    run_bounded(command, Duration::from_secs(120))
        .await
        .expect("the binary finishes within two minutes")
}

/// One request a [`FakeHost`] received.
#[derive(Debug, Clone)]
struct Seen {
    method: String,
    bearer: bool,
}

/// A loopback HTTP server answering every request with `answer(n, method)` (n counts from 1),
/// recording what it received.
struct FakeHost {
    url: String,
    port: u16,
    seen: Arc<Mutex<Vec<Seen>>>,
}

type Answer = Arc<dyn Fn(usize, &str) -> (u16, Value) + Send + Sync>;

impl FakeHost {
    async fn start(answer: Answer) -> FakeHost {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let seen = Arc::new(Mutex::new(Vec::new()));
        let recorded = seen.clone();
        let handler = move |request: axum::extract::Request| {
            let (recorded, answer) = (recorded.clone(), answer.clone());
            async move {
                let method = request.method().to_string();
                let n = {
                    let mut seen = recorded.lock().unwrap();
                    seen.push(Seen {
                        method: method.clone(),
                        bearer: request.headers().contains_key("authorization"),
                    });
                    seen.len()
                };
                let (status, body) = answer(n, &method);
                (
                    axum::http::StatusCode::from_u16(status).unwrap(),
                    [("content-type", "application/json")],
                    body.to_string(),
                )
            }
        };
        let app = axum::Router::new().fallback(handler);
        tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        FakeHost {
            url: format!("http://127.0.0.1:{port}"),
            port,
            seen,
        }
    }

    fn seen(&self) -> Vec<Seen> {
        self.seen.lock().unwrap().clone()
    }
}

/// A manifest of one app with one secret delivered by `deliver` (YAML flow mapping).
fn one_secret(app: &str, deliver: &str, lifetime: &str, rotate_before: &str) -> String {
    format!(
        "version: 1\nname: trust\napps:\n  {app}:\n    displayName: Trust app\n    secrets:\n      - name: mail\n        lifetime: {lifetime}\n        rotateBefore: {rotate_before}\n        deliver: {deliver}\n"
    )
}

/// keyIds of the app's password credentials of the name `mail`.
async fn mail_key_ids(raw: &Raw, app: &str) -> Vec<String> {
    let mut ids: Vec<String> = raw.app(app).await["passwordCredentials"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|c| c["displayName"] == "mail")
        .map(|c| c["keyId"].as_str().unwrap().to_lowercase())
        .collect();
    ids.sort();
    ids
}

fn app_id(app: &Value) -> String {
    app["appId"].as_str().unwrap().to_string()
}

/// What a secret file names: its keyId.
fn file_key_id(path: &Path) -> String {
    let held: Value = serde_json::from_slice(&std::fs::read(path).unwrap()).unwrap();
    held["keyId"].as_str().unwrap().to_lowercase()
}

/// Text that a terminal would obey or a GitHub runner would read as a workflow command.
fn assert_printable(what: &str, text: &str) {
    assert!(
        !text
            .chars()
            .any(|c| c.is_control() && c != '\n' && c != '\t'
                || ('\u{202a}'..='\u{202e}').contains(&c)),
        "{what} printed a raw control or bidirectional character:\n{text:?}"
    );
    assert!(
        !text.lines().any(|l| l.trim_start().starts_with("::")),
        "{what} printed a line a runner reads as a workflow command:\n{text}"
    );
}

/// Finding 2: a manifest's vault URL may name any host; the Key Vault token goes only to vaults
/// of the run's cloud. Validation refuses another host with file:line:column, and a run without
/// `--key-vault-url` never connects to a loopback "vault" the manifest names.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn key_vault_token_goes_only_to_the_clouds_vault_hosts() {
    let sb = start(Faults::default(), 201).await;
    let dir = workdir("vault-host");
    let attacker = FakeHost::start(Arc::new(|_, _| (404, json!({})))).await;

    std::fs::write(
        dir.join("remote.yaml"),
        one_secret(
            "kv-app",
            "{ keyVault: { vault: \"https://attacker.example.com\", secret: mail } }",
            "90d",
            "30d",
        ),
    )
    .unwrap();
    let (code, out, err) = run(command(
        &sb,
        &dir,
        None,
        &["validate", "--strict", "remote.yaml"],
    ))
    .await;
    assert_eq!(code, 1, "{out}\n{err}");
    assert!(
        err.contains("bad-url") && err.contains("remote.yaml:10:"),
        "{err}"
    );
    assert!(
        err.contains("vault.azure.net"),
        "the help names the real suffix: {err}"
    );

    // The app exists with a delivered secret, so a plan reads its sink.
    std::fs::write(
        dir.join("trust.yaml"),
        one_secret("kv-app", "{ file: secrets/kv-app.json }", "90d", "30d"),
    )
    .unwrap();
    let (code, out, err) = run(command(
        &sb,
        &dir,
        None,
        &["apply", "trust.yaml", "--auto-approve"],
    ))
    .await;
    assert_eq!(code, 0, "{out}\n{err}");
    std::fs::write(
        dir.join("trust.yaml"),
        one_secret(
            "kv-app",
            &format!(
                "{{ keyVault: {{ vault: \"http://127.0.0.1:{}\", secret: mail }} }}",
                attacker.port
            ),
            "90d",
            "30d",
        ),
    )
    .unwrap();
    for args in [
        &["validate", "--strict", "trust.yaml"][..],
        &["plan", "trust.yaml"][..],
    ] {
        let (code, out, err) = run(command(&sb, &dir, None, args)).await;
        assert_eq!(code, 1, "{args:?}: {out}\n{err}");
        assert!(err.contains("bad-url"), "{args:?}: {err}");
    }
    assert!(
        attacker.seen().is_empty(),
        "the manifest's host was contacted: {:?}",
        attacker.seen()
    );
    sb.shutdown().await;
}

/// Finding 2: what a Key Vault answers (its error message) reaches the terminal escaped: no
/// escape sequence, no line a GitHub runner would obey.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn key_vault_error_text_reaches_the_terminal_escaped() {
    let sb = start(Faults::default(), 202).await;
    let dir = workdir("vault-text");
    let vault = FakeHost::start(Arc::new(|_, _| {
        (
            403,
            json!({"error": {
                "code": "Forbidden\u{1b}[31m",
                "message": "denied\u{1b}]0;pwned\u{7}\n::add-mask::nothing\n::error::fake failure\r\u{202e}txt",
            }}),
        )
    }))
    .await;
    std::fs::write(
        dir.join("trust.yaml"),
        one_secret(
            "kv-app",
            "{ keyVault: { vault: \"https://contoso-kv.vault.azure.net\", secret: mail } }",
            "90d",
            "30d",
        ),
    )
    .unwrap();
    let (code, out, err) = run(command(
        &sb,
        &dir,
        Some(&vault.url),
        &["apply", "trust.yaml", "--auto-approve"],
    ))
    .await;
    assert_eq!(code, 1, "{out}\n{err}");
    assert!(
        vault.seen().iter().any(|s| s.bearer),
        "the vault was asked: {:?}",
        vault.seen()
    );
    assert!(err.contains("denied"), "the message is shown: {err}");
    assert!(err.contains("\\u{1b}"), "escaped, not dropped: {err}");
    assert_printable("apply", &out);
    assert_printable("apply", &err);
    // Nothing delivered: the new credential was taken back.
    let raw = Raw::new(&sb).await;
    assert!(mail_key_ids(&raw, "kv-app").await.is_empty());
    sb.shutdown().await;
}

/// Finding 6: a symlinked directory inside a secret file path cannot carry the write outside the
/// manifest's directory; nothing is created in the tenant for a sink that cannot take the value.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_symlinked_sink_directory_cannot_write_outside_the_manifest_directory() {
    let sb = start(Faults::default(), 203).await;
    let root = workdir("symlink-dir");
    let (dir, elsewhere) = (root.join("repo"), root.join("elsewhere"));
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::create_dir_all(&elsewhere).unwrap();
    std::os::unix::fs::symlink(&elsewhere, dir.join("secrets")).unwrap();
    std::fs::write(elsewhere.join("other.json"), "precious").unwrap();
    std::fs::write(
        dir.join("trust.yaml"),
        one_secret("link-app", "{ file: secrets/other.json }", "90d", "30d"),
    )
    .unwrap();
    let (code, out, err) = run(command(
        &sb,
        &dir,
        None,
        &["apply", "trust.yaml", "--auto-approve"],
    ))
    .await;
    assert_eq!(code, 1, "{out}\n{err}");
    assert!(err.contains("symbolic link"), "{err}");
    assert_eq!(
        std::fs::read_to_string(elsewhere.join("other.json")).unwrap(),
        "precious"
    );
    let names: Vec<_> = std::fs::read_dir(&elsewhere)
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert_eq!(names.len(), 1, "nothing new outside: {names:?}");
    let raw = Raw::new(&sb).await;
    assert!(mail_key_ids(&raw, "link-app").await.is_empty());
    sb.shutdown().await;
}

/// Finding 7: files a manifest names are read bounded, only when regular, never through a link:
/// `/dev/zero` as a certificate (absolute paths are refused), a link to it inside the directory,
/// a FIFO, and a secret file replaced by a link to `/dev/zero` all fail at once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn manifest_files_are_read_bounded_and_never_from_devices_or_fifos() {
    let sb = start(Faults::default(), 204).await;
    let dir = workdir("devices");
    std::fs::create_dir_all(dir.join("certs")).unwrap();
    std::os::unix::fs::symlink("/dev/zero", dir.join("certs/zero.pem")).unwrap();
    rustix::fs::mkfifoat(
        rustix::fs::CWD,
        dir.join("certs/fifo.pem"),
        rustix::fs::Mode::from_raw_mode(0o600),
    )
    .unwrap();
    let certificate = |file: &str| {
        format!(
            "version: 1\nname: trust\napps:\n  cert-app:\n    displayName: Cert app\n    certificates:\n      - name: c\n        file: {file}\n"
        )
    };
    // Each case: certificate path, rule, why.
    let cases = [
        (
            "/dev/zero",
            "bad-certificate-path",
            "an absolute path outside the directory",
        ),
        ("certs/zero.pem", "bad-certificate", "a link to a device"),
        (
            "certs/fifo.pem",
            "bad-certificate",
            "a FIFO would block the read",
        ),
    ];
    for (file, rule, why) in cases {
        std::fs::write(dir.join("cert.yaml"), certificate(file)).unwrap();
        for verb in ["validate", "plan"] {
            let outcome = run_bounded(
                command(&sb, &dir, None, &[verb, "cert.yaml"]),
                Duration::from_secs(20),
            )
            .await;
            let (code, out, err) =
                outcome.unwrap_or_else(|| panic!("{verb} {file} ({why}) did not finish"));
            assert_eq!(code, 1, "{verb} {file} ({why}): {out}\n{err}");
            assert!(
                err.contains(rule) && err.contains("cert.yaml:8:15"),
                "{verb} {file} ({why}): {err}"
            );
        }
    }

    // A delivered secret file swapped for a link to /dev/zero.
    std::fs::write(
        dir.join("trust.yaml"),
        one_secret("zero-app", "{ file: secrets/zero-app.json }", "90d", "30d"),
    )
    .unwrap();
    let (code, out, err) = run(command(
        &sb,
        &dir,
        None,
        &["apply", "trust.yaml", "--auto-approve"],
    ))
    .await;
    assert_eq!(code, 0, "{out}\n{err}");
    std::fs::remove_file(dir.join("secrets/zero-app.json")).unwrap();
    std::os::unix::fs::symlink("/dev/zero", dir.join("secrets/zero-app.json")).unwrap();
    let outcome = run_bounded(
        command(&sb, &dir, None, &["plan", "trust.yaml"]),
        Duration::from_secs(20),
    )
    .await;
    let (code, out, err) =
        outcome.expect("plan with a secret file linked to /dev/zero did not finish");
    assert_eq!(code, 1, "{out}\n{err}");
    assert!(err.contains("symbolic link"), "{err}");
    sb.shutdown().await;
}

/// Finding 9: a credential's displayName is chosen by whoever may add one in the tenant;
/// `appreg credentials` prints it escaped in the table and in JSON.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn credentials_command_escapes_names_chosen_in_the_tenant() {
    let sb = start(Faults::default(), 205).await;
    let dir = workdir("names");
    std::fs::write(
        dir.join("trust.yaml"),
        one_secret(
            "named-app",
            "{ file: secrets/named-app.json }",
            "90d",
            "30d",
        ),
    )
    .unwrap();
    let (code, out, err) = run(command(
        &sb,
        &dir,
        None,
        &["apply", "trust.yaml", "--auto-approve"],
    ))
    .await;
    assert_eq!(code, 0, "{out}\n{err}");
    let raw = Raw::new(&sb).await;
    let object_id = raw.app("named-app").await["id"]
        .as_str()
        .unwrap()
        .to_string();
    raw.write(
        reqwest::Method::POST,
        &format!("/applications/{object_id}/addPassword"),
        Some(json!({"passwordCredential": {
            "displayName": "evil\u{1b}]0;pwned\u{7}\u{1b}[2J\u{202e}gnp.exe\n::add-mask::x",
        }})),
    )
    .await;
    for args in [
        &["credentials", "trust.yaml"][..],
        &["credentials", "trust.yaml", "--json"][..],
    ] {
        let (code, out, err) = run(command(&sb, &dir, None, args)).await;
        assert_eq!(code, 0, "{args:?}: {out}\n{err}");
        assert!(out.contains("evil"), "{args:?}: the row is shown: {out}");
        assert_printable("appreg credentials", &out);
        assert!(!out.contains('\u{202e}'), "{args:?}: {out}");
    }
    sb.shutdown().await;
}

/// Finding 10c: in CI a `stdout` sink would print the client secret into the job log. It is
/// refused before any credential exists unless the operator passes `--allow-stdout-secrets`;
/// under GitHub Actions the value is then masked before it is printed.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stdout_sink_is_refused_in_ci_and_masked_under_github_actions() {
    let sb = start(Faults::default(), 206).await;
    let dir = workdir("stdout");
    std::fs::write(
        dir.join("trust.yaml"),
        one_secret("out-app", "{ stdout: true }", "90d", "30d"),
    )
    .unwrap();
    for ci in [("CI", "true"), ("GITHUB_ACTIONS", "true")] {
        let mut refused = command(&sb, &dir, None, &["apply", "trust.yaml", "--auto-approve"]);
        refused.env(ci.0, ci.1);
        let (code, out, err) = run(refused).await;
        assert_eq!(code, 1, "{ci:?}: {out}\n{err}");
        assert!(err.contains("--allow-stdout-secrets"), "{ci:?}: {err}");
        assert!(!out.contains("clientSecret"), "{ci:?}: {out}");
        let raw = Raw::new(&sb).await;
        assert!(
            mail_key_ids(&raw, "out-app").await.is_empty(),
            "{ci:?}: no credential was made"
        );
    }
    let mut allowed = command(
        &sb,
        &dir,
        None,
        &[
            "apply",
            "trust.yaml",
            "--auto-approve",
            "--allow-stdout-secrets",
        ],
    );
    allowed.env("GITHUB_ACTIONS", "true");
    let (code, out, err) = run(allowed).await;
    assert_eq!(code, 0, "{out}\n{err}");
    let line = out
        .lines()
        .find(|l| l.contains("clientSecret"))
        .expect("the value line");
    let value: Value = serde_json::from_str(line).unwrap();
    let value = value["clientSecret"].as_str().unwrap();
    let mask = out.find(&format!("::add-mask::{value}")).expect("masked");
    assert!(
        mask < out.find(line).unwrap(),
        "the mask comes first:\n{out}"
    );
    sb.shutdown().await;
}

/// Finding 12: on an app allowing personal accounts (two secrets at most), a hand-added secret
/// taking the other slot no longer makes rotation remove the delivered secret before its
/// replacement exists: the plan refuses, naming the credential and what to do; with `--prune`
/// the undeclared one makes room and the consumer keeps a working secret throughout.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rotation_never_removes_the_delivered_secret_to_make_room() {
    let sb = start(Faults::default(), 207).await;
    let dir = workdir("cap");
    let manifest = |lifetime: &str, rotate_before: &str| {
        format!(
            "version: 1\nname: trust\napps:\n  personal-app:\n    displayName: Personal app\n    signInAudience: AzureADandPersonalMicrosoftAccount\n    api: {{ requestedAccessTokenVersion: 2 }}\n    secrets:\n      - name: mail\n        lifetime: {lifetime}\n        rotateBefore: {rotate_before}\n        deliver: {{ file: secrets/personal.json }}\n"
        )
    };
    std::fs::write(dir.join("trust.yaml"), manifest("20d", "10d")).unwrap();
    let (code, out, err) = run(command(
        &sb,
        &dir,
        None,
        &["apply", "trust.yaml", "--auto-approve"],
    ))
    .await;
    assert_eq!(code, 0, "{out}\n{err}");
    let sink = dir.join("secrets/personal.json");
    let delivered = file_key_id(&sink);
    let raw = Raw::new(&sb).await;
    let object_id = raw.app("personal-app").await["id"]
        .as_str()
        .unwrap()
        .to_string();
    raw.write(
        reqwest::Method::POST,
        &format!("/applications/{object_id}/addPassword"),
        Some(json!({"passwordCredential": {"displayName": "hand-added"}})),
    )
    .await;

    // Rotation is due now (20 days left, a 21-day window).
    std::fs::write(dir.join("trust.yaml"), manifest("25d", "21d")).unwrap();
    let (code, out, err) = run(command(
        &sb,
        &dir,
        None,
        &["apply", "trust.yaml", "--auto-approve"],
    ))
    .await;
    assert_eq!(code, 1, "{out}\n{err}");
    assert!(
        err.contains("hand-added") && err.contains("--prune"),
        "{err}"
    );
    assert_eq!(
        mail_key_ids(&raw, "personal-app").await,
        vec![delivered.clone()]
    );
    assert_eq!(file_key_id(&sink), delivered);

    let (code, out, err) = run(command(
        &sb,
        &dir,
        None,
        &["apply", "trust.yaml", "--auto-approve", "--prune"],
    ))
    .await;
    assert_eq!(code, 0, "{out}\n{err}");
    let now_held = file_key_id(&sink);
    assert_ne!(now_held, delivered, "rotated");
    let ids = mail_key_ids(&raw, "personal-app").await;
    assert!(
        ids.contains(&now_held) && ids.contains(&delivered),
        "{ids:?}"
    );
    let all = raw.app("personal-app").await["passwordCredentials"]
        .as_array()
        .unwrap()
        .len();
    assert_eq!(all, 2, "the hand-added credential made room");
    sb.shutdown().await;
}

/// Finding 16 (a): two applies of one manifest at once are serialized by a lock on its
/// directory: five `keep: 1` secrets end as five credentials, each the one its file holds.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_applies_of_one_manifest_are_serialized() {
    let sb = start(
        Faults {
            latency: Duration::from_millis(20),
            ..Faults::default()
        },
        208,
    )
    .await;
    let dir = workdir("concurrent");
    let mut text = String::from("version: 1\nname: trust\napps:\n");
    for i in 0..5 {
        text.push_str(&format!(
            "  race-{i}:\n    displayName: Race {i}\n    secrets:\n      - name: mail\n        keep: 1\n        deliver: {{ file: secrets/race-{i}.json }}\n"
        ));
    }
    std::fs::write(dir.join("trust.yaml"), text).unwrap();
    let both = [0, 1].map(|_| {
        run(command(
            &sb,
            &dir,
            None,
            &["apply", "trust.yaml", "--auto-approve"],
        ))
    });
    let [first, second] = both;
    let (first, second) = tokio::join!(first, second);
    for (code, out, err) in [&first, &second] {
        assert_eq!(*code, 0, "{out}\n{err}");
    }
    let raw = Raw::new(&sb).await;
    for i in 0..5 {
        let app = format!("race-{i}");
        let held = file_key_id(&dir.join(format!("secrets/{app}.json")));
        assert_eq!(mail_key_ids(&raw, &app).await, vec![held], "{app}");
    }
    sb.shutdown().await;
}

/// Finding 16 (b): two CI runners share no disk, so no lock covers them. Just before delivering,
/// the sink is read again; when another run delivered meanwhile (simulated by a Key Vault whose
/// second read names another keyId), the value is not overwritten and the new credential is
/// taken back.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_delivery_by_another_run_between_plan_and_deliver_is_not_overwritten() {
    let sb = start(Faults::default(), 209).await;
    let dir = workdir("foreign-delivery");
    std::fs::write(
        dir.join("trust.yaml"),
        one_secret("shared-app", "{ file: secrets/shared.json }", "90d", "30d"),
    )
    .unwrap();
    let (code, out, err) = run(command(
        &sb,
        &dir,
        None,
        &["apply", "trust.yaml", "--auto-approve"],
    ))
    .await;
    assert_eq!(code, 0, "{out}\n{err}");
    let raw = Raw::new(&sb).await;
    let before = mail_key_ids(&raw, "shared-app").await;
    let app = app_id(&raw.app("shared-app").await);
    // The plan's read finds the vault empty; the read just before delivery finds another run's.
    let vault = FakeHost::start(Arc::new(move |n, method| match (n, method) {
        (1, "GET") => (404, json!({"error": {"code": "SecretNotFound", "message": "none"}})),
        (_, "GET") => (
            200,
            json!({"id": "https://contoso-kv.vault.azure.net/secrets/mail/v2", "attributes": {"created": 1},
                   "tags": {"keyId": "11111111-2222-3333-4444-555555555555", "appId": app.clone()}}),
        ),
        _ => (200, json!({})),
    }))
    .await;
    std::fs::write(
        dir.join("trust.yaml"),
        one_secret(
            "shared-app",
            "{ keyVault: { vault: \"https://contoso-kv.vault.azure.net\", secret: mail } }",
            "90d",
            "30d",
        ),
    )
    .unwrap();
    let (code, out, err) = run(command(
        &sb,
        &dir,
        Some(&vault.url),
        &["apply", "trust.yaml", "--auto-approve"],
    ))
    .await;
    assert_eq!(code, 1, "{out}\n{err}");
    assert!(err.contains("changed since the plan"), "{err}");
    let methods: Vec<String> = vault.seen().iter().map(|s| s.method.clone()).collect();
    assert_eq!(
        methods,
        vec!["GET", "GET"],
        "nothing was written: {:?}",
        vault.seen()
    );
    assert_eq!(
        mail_key_ids(&raw, "shared-app").await,
        before,
        "the new credential was taken back"
    );
    sb.shutdown().await;
}

/// Finding 17: a kill between a secret file's temporary write and its rename leaves a temporary
/// holding a client secret; the next apply removes it (and the older `.tmp` naming too).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_temporary_secret_file_left_by_a_crash_is_removed_by_the_next_apply() {
    let sb = start(Faults::default(), 210).await;
    let dir = workdir("temporaries");
    std::fs::write(
        dir.join("trust.yaml"),
        one_secret("tmp-app", "{ file: secrets/tmp-app.json }", "90d", "30d"),
    )
    .unwrap();
    let (code, out, err) = run(command(
        &sb,
        &dir,
        None,
        &["apply", "trust.yaml", "--auto-approve"],
    ))
    .await;
    assert_eq!(code, 0, "{out}\n{err}");
    let secrets = dir.join("secrets");
    let hex = uuid::Uuid::new_v4().simple().to_string();
    let stale = [
        format!(".tmp-app.json.appreg-tmp-{hex}"),
        format!(".tmp-app.json.{hex}.tmp"),
    ];
    for name in &stale {
        std::fs::write(secrets.join(name), "{\"clientSecret\": \"left behind\"}").unwrap();
    }
    let (code, out, err) = run(command(
        &sb,
        &dir,
        None,
        &["apply", "trust.yaml", "--auto-approve"],
    ))
    .await;
    assert_eq!(code, 0, "{out}\n{err}");
    let names: Vec<String> = std::fs::read_dir(&secrets)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert_eq!(
        names,
        vec!["tmp-app.json".to_string()],
        "stale temporaries remain"
    );
    sb.shutdown().await;
}
