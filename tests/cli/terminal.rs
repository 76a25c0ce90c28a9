//! appreg at the terminal and in CI: what a person or a pipeline reads when something is missing,
//! the help, completions and manual pages, and progress on a terminal only.
//!
//! Everything here talks to loopback only: the one "network" these tests offer is a listener on
//! 127.0.0.1 that refuses every request, standing in for a metadata endpoint that answers 403.

use crate::tenant;

use std::io::{Read, Write};
use std::net::TcpListener;
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

/// A loopback HTTP server answering every request with 403; counts the requests.
struct Refuser {
    url: String,
    hits: Arc<AtomicUsize>,
}

fn refuser() -> Refuser {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let hits = Arc::new(AtomicUsize::new(0));
    let counted = hits.clone();
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut stream) = stream else { continue };
            counted.fetch_add(1, Ordering::SeqCst);
            let mut request = Vec::new();
            let mut buf = [0u8; 1024];
            while !request.windows(4).any(|w| w == b"\r\n\r\n") {
                match stream.read(&mut buf) {
                    Ok(0) | Err(_) => break,
                    Ok(n) => request.extend_from_slice(&buf[..n]),
                }
            }
            let body = "{}";
            let _ = write!(
                stream,
                "HTTP/1.1 403 Forbidden\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
                body.len()
            );
        }
    });
    Refuser { url, hits }
}

/// The binary in auto authentication mode, with nothing of this process's environment: every
/// host it could reach is the refuser on loopback, and `az` is not on PATH.
fn auto_auth(dir: &Path, refuser: &Refuser, env: &[(&str, &str)], args: &[&str]) -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_appreg"));
    command
        .args([
            "--graph-url",
            &refuser.url,
            "--authority-url",
            &refuser.url,
            "--key-vault-url",
            &refuser.url,
            "--color",
            "never",
        ])
        .args(args)
        .current_dir(dir)
        .env_clear()
        .env("PATH", dir.join("no-programs-here"))
        .env("NO_COLOR", "1")
        // The managed identity probe goes to the refuser, never to 169.254.169.254.
        .env("AZURE_POD_IDENTITY_AUTHORITY_HOST", &refuser.url)
        .stdin(Stdio::null());
    for (k, v) in env {
        command.env(k, v);
    }
    command
}

fn output(mut command: Command) -> (i32, String, String) {
    let out = command.output().expect("the binary runs");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

const MANIFEST: &str = "version: 1\nname: auth\napps:\n  a:\n    displayName: A\n";
const TENANT: &str = "11111111-1111-1111-1111-111111111111";
const CLIENT: &str = "22222222-2222-2222-2222-222222222222";

/// Issue 14: when authentication fails, the error lists each method tried and why it did not
/// apply, naming the variable that is missing, instead of the last probe's refusal (a metadata
/// endpoint answering 403).
#[test]
fn auth_errors_name_what_is_missing_for_each_method() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("m.yaml"), MANIFEST).unwrap();
    let refuser = refuser();
    // Each case: snapshot name, environment, what the message must name.
    type Case<'a> = (&'a str, Vec<(&'a str, &'a str)>, &'a [&'a str]);
    let cases: Vec<Case> = vec![
        (
            "missing_client_secret",
            vec![("AZURE_TENANT_ID", TENANT), ("AZURE_CLIENT_ID", CLIENT)],
            &[
                "secret: AZURE_CLIENT_SECRET is not set",
                "certificate: AZURE_CLIENT_CERTIFICATE_PATH is not set",
                "workload-identity: AZURE_FEDERATED_TOKEN_FILE is not set",
                "github-oidc: ACTIONS_ID_TOKEN_REQUEST_URL",
                "managed-identity:",
                "HTTP 403",
                "azure-cli:",
            ],
        ),
        (
            "missing_client_id",
            vec![
                ("AZURE_TENANT_ID", TENANT),
                ("AZURE_CLIENT_SECRET", "not-a-real-secret"),
            ],
            &["AZURE_CLIENT_SECRET is set but AZURE_CLIENT_ID is missing"],
        ),
        (
            "missing_federated_client_id",
            vec![
                ("AZURE_TENANT_ID", TENANT),
                ("AZURE_FEDERATED_TOKEN_FILE", "/nonexistent/token"),
            ],
            &["AZURE_FEDERATED_TOKEN_FILE is set but AZURE_CLIENT_ID is missing"],
        ),
        (
            "missing_tenant_id",
            vec![
                ("AZURE_CLIENT_ID", CLIENT),
                ("AZURE_CLIENT_SECRET", "not-a-real-secret"),
            ],
            &["AZURE_TENANT_ID is not set"],
        ),
    ];
    for (name, env, names) in cases {
        let (code, out, err) = output(auto_auth(dir.path(), &refuser, &env, &["plan", "m.yaml"]));
        assert_eq!(code, 1, "{name}: {out}\n{err}");
        for expected in names {
            assert!(err.contains(expected), "{name}: lacks {expected:?}:\n{err}");
        }
        assert!(!err.contains("not-a-real-secret"), "{name}: {err}");
        insta::with_settings!({ filters => vec![(r"127\.0\.0\.1:\d+", "127.0.0.1:[port]")] }, {
            insta::assert_snapshot!(format!("auth_error__{name}"), err);
        });
    }
    // With no secret configured, the metadata probe was made (to loopback) and did not end the
    // chain: the error is the list, not the probe's refusal alone.
    assert!(refuser.hits.load(Ordering::SeqCst) > 0);

    // -v shows each method's fate as it happens.
    let env = [("AZURE_TENANT_ID", TENANT), ("AZURE_CLIENT_ID", CLIENT)];
    let (_, _, err) = output(auto_auth(
        dir.path(),
        &refuser,
        &env,
        &["-v", "plan", "m.yaml"],
    ));
    assert!(
        err.contains("credential not configured") && err.contains("AZURE_CLIENT_SECRET is not set"),
        "{err}"
    );
    assert!(err.contains("credential probe failed"), "{err}");
}

// ---------------------------------------------------------------------------------------------
// Help, drift, consent URLs, assignments
// ---------------------------------------------------------------------------------------------

fn appreg(args: &[&str]) -> (i32, String, String) {
    let mut command = Command::new(env!("CARGO_BIN_EXE_appreg"));
    command
        .args(args)
        .env_clear()
        .env("NO_COLOR", "1")
        .stdin(Stdio::null());
    output(command)
}

/// Issue 14: tenant options appear, under their own heading, only in the help of commands that
/// reach a tenant; they stay accepted everywhere (a pipeline passes one set of flags).
#[test]
fn tenant_options_are_shown_only_where_a_tenant_is_reached() {
    for command in ["plan", "apply", "drift", "output", "credentials", "audit"] {
        let (code, help, _) = appreg(&[command, "--help"]);
        assert_eq!(code, 0);
        let heading = help
            .find("Tenant options:")
            .unwrap_or_else(|| panic!("{command}: {help}"));
        for flag in ["--tenant", "--auth", "--graph-url", "--cloud", "--parallel"] {
            let at = help
                .find(flag)
                .unwrap_or_else(|| panic!("{command} lacks {flag}"));
            assert!(at > heading, "{command}: {flag} is not under the heading");
        }
    }
    for command in ["validate", "schema", "sandbox"] {
        let (code, help, _) = appreg(&[command, "--help"]);
        assert_eq!(code, 0);
        for hidden in [
            "Tenant options",
            "--tenant",
            "--auth",
            "--graph-url",
            "--parallel",
        ] {
            assert!(!help.contains(hidden), "{command} shows {hidden}:\n{help}");
        }
        assert!(help.contains("--verbose"), "{command}: {help}");
    }
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("m.yaml"), MANIFEST).unwrap();
    let path = dir.path().join("m.yaml");
    let (code, _, err) = appreg(&["--tenant", TENANT, "validate", path.to_str().unwrap()]);
    assert_eq!(code, 0, "{err}");
    let (code, _, err) = appreg(&["validate", "--cloud", "china", path.to_str().unwrap()]);
    assert_eq!(code, 0, "{err}");
}

/// Issue 14: a space-separated permission string gets a list of separate items as its fix, not
/// `[A B]` (one item holding a space, refused in turn).
#[test]
fn the_list_help_for_a_permission_string_splits_it() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("p.yaml");
    std::fs::write(
        &path,
        "version: 1\nname: s\napps:\n  a:\n    displayName: A\n    permissions:\n      Microsoft Graph:\n        delegated: User.Read Mail.Send\n",
    )
    .unwrap();
    let (code, _, err) = appreg(&["validate", path.to_str().unwrap()]);
    assert_eq!(code, 1);
    assert!(err.contains("[User.Read, Mail.Send]"), "{err}");
    // The fix it suggests is valid.
    std::fs::write(
        &path,
        "version: 1\nname: s\napps:\n  a:\n    displayName: A\n    permissions:\n      Microsoft Graph:\n        delegated: [User.Read, Mail.Send]\n",
    )
    .unwrap();
    let (code, _, err) = appreg(&["validate", path.to_str().unwrap()]);
    assert_eq!(code, 0, "{err}");
}

/// Issue 14: drift reads as a report, not as apply's actions, and a credential apply keeps
/// without `--prune` is not counted "to delete"; an app that left the manifest is a difference.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn drift_has_its_own_words_and_counts_only_what_apply_does() {
    use tenant::*;
    let sb = start(appreg::emulator::Faults::default(), 0x14).await;
    let examples = examples();
    let work = examples.parent().unwrap().to_path_buf();
    let (code, _, err) = run_cli(&sb, &work, &["apply", "--auto-approve", "examples"]).await;
    assert_eq!(code, 0, "{err}");
    let raw = Raw::new(&sb).await;
    let id = raw.app("crm-calendar-sync").await["id"]
        .as_str()
        .unwrap()
        .to_string();
    raw.write(
        reqwest::Method::POST,
        &format!("/applications/{id}/addPassword"),
        Some(serde_json::json!({"passwordCredential": {"displayName": "added-by-hand"}})),
    )
    .await;
    let (code, out, err) = run_cli(&sb, &work, &["drift", "examples"]).await;
    assert_eq!(code, 2, "{out}\n{err}");
    assert!(!out.contains("will perform"), "{out}");
    assert!(
        out.contains("Drift: 0 to create, 0 to update, 0 to delete"),
        "{out}"
    );
    assert!(
        out.contains("added-by-hand") || out.contains("not in the manifest"),
        "{out}"
    );
    let (_, markdown, _) = run_cli(&sb, &work, &["drift", "--markdown", "examples"]).await;
    assert!(
        markdown.starts_with("### appreg drift: `integrations`"),
        "{markdown}"
    );
    let (_, plan, _) = run_cli(&sb, &work, &["plan", "examples"]).await;
    assert!(
        plan.contains("No changes"),
        "apply keeps the secret: {plan}"
    );

    // An app that left the manifest: a difference drift names, which apply keeps.
    std::fs::remove_file(examples.join("erp-contacts-sync.yaml")).unwrap();
    let (code, out, err) = run_cli(&sb, &work, &["drift", "examples"]).await;
    assert_eq!(code, 2, "{out}\n{err}");
    assert!(
        out.contains("app.erp-contacts-sync: left the manifest"),
        "{out}"
    );
    assert!(out.contains("0 to delete"), "{out}");
    sb.shutdown().await;
}

/// Issue 14: consent URLs use the authority the app's audience signs in through; `output` lists
/// the users and groups assigned to the app.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn consent_urls_follow_the_audience_and_output_lists_assignments() {
    use tenant::*;
    let sb = start(appreg::emulator::Faults::default(), 0x15).await;
    let examples = examples();
    let work = examples.parent().unwrap().to_path_buf();
    let (code, _, err) = run_cli(&sb, &work, &["apply", "--auto-approve", "examples"]).await;
    assert_eq!(code, 0, "{err}");
    let (code, out, err) = run_cli(&sb, &work, &["output", "--json", "examples"]).await;
    assert_eq!(code, 0, "{err}");
    let apps: serde_json::Value = serde_json::from_str(&out).unwrap();
    let apps = &apps["apps"];
    let tenant = sb.tenant_id();
    // Single tenant: the tenant's own authority.
    let crm = &apps["crm-calendar-sync"];
    assert!(
        crm["adminConsentUrl"]
            .as_str()
            .unwrap()
            .contains(&format!("/{tenant}/adminconsent"))
    );
    // Organizations and personal accounts: /organizations for admins, /common for users.
    let odoo = &apps["odoo-outlook"];
    assert!(
        odoo["adminConsentUrl"]
            .as_str()
            .unwrap()
            .contains("/organizations/adminconsent"),
        "{odoo:#}"
    );
    assert!(
        odoo["userConsentUrl"]
            .as_str()
            .unwrap()
            .contains("/common/oauth2/v2.0/authorize"),
        "{odoo:#}"
    );
    assert!(
        odoo.get("sandboxOnly").is_none(),
        "a sandbox that stays up: {odoo:#}"
    );
    let assigned: Vec<&str> = odoo["assignments"]
        .as_array()
        .unwrap_or_else(|| panic!("no assignments: {odoo:#}"))
        .iter()
        .map(|a| a["principalType"].as_str().unwrap())
        .collect();
    assert_eq!(assigned.len(), 2, "{odoo:#}");
    assert!(
        assigned.contains(&"User") && assigned.contains(&"Group"),
        "{odoo:#}"
    );
    let (_, human, _) = run_cli(&sb, &work, &["output", "examples"]).await;
    assert!(human.contains("assigned: User"), "{human}");
    sb.shutdown().await;
}

/// Issue 14: on the sandbox a command starts for itself, consent URLs point at a port that is
/// gone once the command ends: they are marked sandbox-only.
#[test]
fn consent_urls_of_the_embedded_sandbox_are_marked() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("m.yaml"), MANIFEST).unwrap();
    let run = |args: &[&str]| {
        let mut command = Command::new(env!("CARGO_BIN_EXE_appreg"));
        command
            .args(args)
            .current_dir(dir.path())
            .env_clear()
            .env("NO_COLOR", "1")
            .stdin(Stdio::null());
        output(command)
    };
    let (code, _, err) = run(&["--sandbox", "apply", "--auto-approve", "m.yaml"]);
    assert_eq!(code, 0, "{err}");
    let (code, out, err) = run(&["--sandbox", "output", "--json", "m.yaml"]);
    assert_eq!(code, 0, "{err}");
    let doc: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(doc["apps"]["a"]["sandboxOnly"], true, "{out}");
    let (_, human, _) = run(&["--sandbox", "output", "m.yaml"]);
    assert!(human.contains("sandbox only"), "{human}");
}

// ---------------------------------------------------------------------------------------------
// Completions and manual pages
// ---------------------------------------------------------------------------------------------

/// Issue 14: completions for each shell, generated from the command line the binary parses.
#[test]
fn completions_cover_every_command_for_each_shell() {
    for shell in ["bash", "zsh", "fish", "powershell"] {
        let (code, script, err) = appreg(&["completions", shell]);
        assert_eq!(code, 0, "{shell}: {err}");
        for word in [
            "plan",
            "apply",
            "drift",
            "credentials",
            "auto-approve",
            "markdown",
        ] {
            assert!(script.contains(word), "{shell}: lacks {word}");
        }
    }
    // The bash script is valid bash.
    let (_, script, _) = appreg(&["completions", "bash"]);
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("appreg.bash");
    std::fs::write(&path, &script).unwrap();
    let status = Command::new("bash").arg("-n").arg(&path).status().unwrap();
    assert!(status.success(), "bash -n rejects the completions");
    let (code, _, err) = appreg(&["completions", "tcsh"]);
    assert_eq!(code, 1, "an unknown shell is a usage error: {err}");
}

/// Issue 14: manual pages, one per command, from the same definition.
#[test]
fn manual_pages_are_generated_for_every_command() {
    let (code, page, err) = appreg(&["man"]);
    assert_eq!(code, 0, "{err}");
    assert!(page.contains(".TH appreg 1"), "{page}");
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("man");
    let (code, _, err) = appreg(&["man", "--dir", out.to_str().unwrap()]);
    assert_eq!(code, 0, "{err}");
    for name in [
        "appreg",
        "appreg-validate",
        "appreg-plan",
        "appreg-apply",
        "appreg-drift",
        "appreg-output",
        "appreg-credentials",
        "appreg-completions",
        "appreg-sandbox-serve",
    ] {
        let text = std::fs::read_to_string(out.join(format!("{name}.1")))
            .unwrap_or_else(|e| panic!("{name}.1: {e}"));
        assert!(text.contains(&format!(".TH {name} 1")), "{name}: {text}");
    }
    let plan = std::fs::read_to_string(out.join("appreg-plan.1")).unwrap();
    assert!(
        plan.contains("tenant"),
        "plan's page lists the tenant options"
    );
    let validate = std::fs::read_to_string(out.join("appreg-validate.1")).unwrap();
    assert!(
        !validate.contains("graph\\-url"),
        "validate's page hides them: {validate}"
    );
}

// ---------------------------------------------------------------------------------------------
// Progress
// ---------------------------------------------------------------------------------------------

/// Runs the binary as [`tenant::cli_command`] sets it up, but inside a pseudo-terminal
/// (util-linux `script`), so stdin, stdout and stderr are a terminal. Returns what the terminal
/// received.
fn in_terminal(command: &Command) -> String {
    let quote = |s: &std::ffi::OsStr| format!("'{}'", s.to_str().unwrap().replace('\'', "'\\''"));
    let mut line = quote(command.get_program());
    for arg in command.get_args() {
        line.push(' ');
        line.push_str(&quote(arg));
    }
    let mut script = Command::new("script");
    script
        .args(["-q", "-e", "-c", &line, "/dev/null"])
        .current_dir(command.get_current_dir().unwrap())
        .env_clear()
        .env("TERM", "xterm")
        .stdin(Stdio::null());
    for (k, v) in command.get_envs() {
        if let Some(v) = v {
            script.env(k, v);
        }
    }
    let out = script.output().expect("util-linux `script` runs");
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// Issue 14: with a slow tenant (40 ms a request), a terminal shows the phase and live counts on
/// stderr; piped, or with `--progress never`, nothing is drawn.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn progress_is_drawn_on_a_terminal_and_never_when_piped() {
    use tenant::*;
    let faults = appreg::emulator::Faults {
        latency: std::time::Duration::from_millis(40),
        ..Default::default()
    };
    let sb = start(faults, 0x16).await;
    let examples = examples();
    let work = examples.parent().unwrap().to_path_buf();
    let terminal = {
        let command = cli_command(&sb, &work, &["plan", "examples"]);
        tokio::task::spawn_blocking(move || in_terminal(&command))
            .await
            .unwrap()
    };
    assert!(
        terminal.contains("Reading 3 apps from the tenant"),
        "{terminal}"
    );
    assert!(terminal.contains(" reads, "), "{terminal}");
    assert!(terminal.contains("Plan: "), "the plan follows: {terminal}");

    let quiet = {
        let command = cli_command(&sb, &work, &["--progress", "never", "plan", "examples"]);
        tokio::task::spawn_blocking(move || in_terminal(&command))
            .await
            .unwrap()
    };
    assert!(!quiet.contains("Reading 3 apps"), "{quiet}");
    assert!(quiet.contains("Plan: "), "{quiet}");

    let (code, out, err) = run_cli(&sb, &work, &["plan", "examples"]).await;
    assert_eq!(code, 0, "{err}");
    assert!(
        !err.contains("Reading") && !out.contains("Reading"),
        "piped: {err}"
    );
    sb.shutdown().await;
}
