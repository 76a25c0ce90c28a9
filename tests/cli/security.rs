//! Security properties through the real binary:
//! - no token leaves over plain http except to loopback addresses (Graph, authority, Key Vault URLs
//!   from flags and environment); the unit tests in src/graph/cloud.rs and src/cli/settings.rs
//!   check the rule, these check that every way into the binary goes through it;
//! - names reach Graph queries only as escaped OData literals (read back from the sandbox's
//!   request log);
//! - secret files are written with mode 0600 and leave no temporary files behind;
//! - saved plans hold no secret fields. That no secret value or token appears in any output or
//!   file at all is `canary_no_secret_value_or_token_in_any_output` in tests/cli/credentials.rs;
//!   this file does not repeat it.

use crate::tenant;

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use appreg::emulator::Faults;
use tenant::*;

fn workdir(name: &str) -> PathBuf {
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR"))
        .join(format!("security-{name}-{}", uuid::Uuid::new_v4().simple()));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// The binary with a tenant and an app credential configured, nothing else from this process.
fn appreg(dir: &Path, args: &[&str], env: &[(&str, &str)]) -> (i32, String) {
    let mut command = Command::new(env!("CARGO_BIN_EXE_appreg"));
    command
        .args(args)
        .args(["--color", "never"])
        .current_dir(dir)
        .env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .env("AZURE_TENANT_ID", "98bfee78-6885-4175-9030-fea76352207b")
        .env("AZURE_CLIENT_ID", "2a1d6f59-5b2c-4e0e-9a59-8d1c4a0b7f11")
        .env("AZURE_CLIENT_SECRET", "not-a-real-secret")
        .stdin(Stdio::null());
    for (k, v) in env {
        command.env(k, v);
    }
    let out = command.output().expect("the binary runs");
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(!stderr.contains("panicked"), "{args:?}: {stderr}");
    (out.status.code().unwrap_or(-1), stderr)
}

#[test]
fn plain_http_is_refused_for_every_remote_endpoint() {
    let dir = workdir("http");
    std::fs::write(
        dir.join("app.yaml"),
        "version: 1\nname: sec\napps:\n  a:\n    displayName: A\n",
    )
    .unwrap();
    // Each case: flags, environment, what the refusal names, why the case exists.
    type Case<'a> = (&'a [&'a str], &'a [(&'a str, &'a str)], &'a str, &'a str);
    let cases: &[Case] = &[
        (
            &["--graph-url", "http://graph.example.com"],
            &[],
            "Graph URL",
            "a remote Graph host",
        ),
        (
            &["--graph-url", "http://10.0.0.5:8080"],
            &[],
            "Graph URL",
            "a private address is not loopback",
        ),
        (
            &["--graph-url", "http://127.0.0.1.nip.io"],
            &[],
            "Graph URL",
            "a domain that starts like loopback",
        ),
        (
            &["--graph-url", "http://localhost.example.com"],
            &[],
            "Graph URL",
            "a domain that starts like localhost",
        ),
        (
            &["--graph-url", "http://[::ffff:127.0.0.1]"],
            &[],
            "Graph URL",
            "IPv4-mapped IPv6 is not ::1",
        ),
        (
            &["--graph-url", "http://0.0.0.0"],
            &[],
            "Graph URL",
            "the unspecified address",
        ),
        (
            &["--graph-url", "ftp://graph.example.com"],
            &[],
            "Graph URL",
            "another scheme",
        ),
        (
            &["--graph-url", "https://user:pw@graph.example.com"],
            &[],
            "Graph URL",
            "credentials in the URL",
        ),
        (
            &["--authority-url", "http://login.example.com"],
            &[],
            "authority URL",
            "a remote authority",
        ),
        (
            &[],
            &[("AZURE_AUTHORITY_HOST", "http://login.example.com")],
            "authority URL",
            "the Azure SDK variable",
        ),
        (
            &["--key-vault-url", "http://vault.example.com"],
            &[],
            "Key Vault URL",
            "a remote Key Vault redirect",
        ),
        (
            &[],
            &[("APPREG_KEY_VAULT_URL", "http://vault.example.com")],
            "Key Vault URL",
            "the same from the environment",
        ),
    ];
    for (flags, env, what, why) in cases {
        for command in ["plan", "apply"] {
            let mut args = flags.to_vec();
            args.extend([command, "app.yaml", "--auto-approve"]);
            if command == "plan" {
                args.pop();
            }
            let (code, stderr) = appreg(&dir, &args, env);
            assert_eq!(code, 1, "{why} ({command}): {stderr}");
            assert!(
                stderr.contains(what) && stderr.contains("is refused"),
                "{why} ({command}): the refusal does not name the {what}:\n{stderr}"
            );
        }
    }
}

/// A loopback listener that answers every request at once with a token endpoint's refusal
/// (400 `invalid_client`, which is not retried), and counts the requests it answered. Binding
/// `addr` may fail (no IPv6 on the machine): then None.
fn refusing_listener(
    addr: &str,
) -> Option<(String, std::sync::Arc<std::sync::atomic::AtomicUsize>)> {
    use std::io::{Read, Write};
    use std::sync::atomic::Ordering;
    let listener = std::net::TcpListener::bind(addr).ok()?;
    let port = listener.local_addr().ok()?.port();
    let answered = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let count = answered.clone();
    std::thread::spawn(move || {
        for mut stream in listener.incoming().flatten() {
            // Read the request head (and whatever body came with it) before answering.
            let mut buf = [0u8; 8192];
            let _ = stream.set_read_timeout(Some(std::time::Duration::from_millis(200)));
            let _ = stream.read(&mut buf);
            let body = r#"{"error":"invalid_client","error_description":"AADSTS7000215: Invalid client secret provided."}"#;
            let _ = write!(
                stream,
                "HTTP/1.1 400 Bad Request\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                body.len()
            );
            count.fetch_add(1, Ordering::SeqCst);
        }
    });
    Some((port.to_string(), answered))
}

#[test]
fn loopback_http_is_accepted() {
    // Why: the refusal above must not be a refusal of everything. A listener of this test on
    // loopback refuses the credentials at once, so the run fails later, on the token request it
    // sent over plain http, not on the URL (and without waiting out retries of a dead port).
    let dir = workdir("loopback");
    std::fs::write(
        dir.join("app.yaml"),
        "version: 1\nname: sec\napps:\n  a:\n    displayName: A\n",
    )
    .unwrap();
    let v4 = refusing_listener("127.0.0.1:0").expect("loopback is available");
    let mut cases = vec![
        (format!("http://127.0.0.1:{}", v4.0), v4.1.clone()),
        (format!("http://localhost:{}", v4.0), v4.1.clone()),
    ];
    match refusing_listener("[::1]:0") {
        Some((port, answered)) => cases.push((format!("http://[::1]:{port}"), answered)),
        None => eprintln!("no IPv6 loopback on this machine: [::1] not tried"),
    }
    for (url, answered) in cases {
        let before = answered.load(std::sync::atomic::Ordering::SeqCst);
        let started = std::time::Instant::now();
        let (code, stderr) = appreg(
            &dir,
            &[
                "--graph-url",
                &url,
                "--authority-url",
                &url,
                "--auth",
                "secret",
                "plan",
                "app.yaml",
            ],
            &[],
        );
        assert_eq!(code, 1, "{url}: {stderr}");
        assert!(!stderr.contains("is refused"), "{url}: {stderr}");
        assert!(
            answered.load(std::sync::atomic::Ordering::SeqCst) > before,
            "{url}: the request went out over plain http: {stderr}"
        );
        assert!(
            started.elapsed() < std::time::Duration::from_secs(60),
            "{url}: a refusal is not retried"
        );
    }
}

/// Names with quotes, `&`, `%27` and `$top` reach Graph's `$filter` only as escaped literals: the
/// sandbox's request log shows each as `'...''...'`, decoded back to exactly the name.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn names_reach_filters_as_escaped_odata_literals() {
    let sb = start(Faults::default(), 11).await;
    let dir = workdir("odata");
    let hostile = [
        "O'Brien & Co",
        "x' or 1 eq 1 or displayName eq 'y",
        "%27) or (1 eq 1",
        "a&$top=1&$filter=id eq 'b",
    ];
    let mut text = String::from(
        "version: 1\nname: sec-odata\napps:\n  odata:\n    displayName: OData\n    permissions:\n",
    );
    for name in hostile {
        text.push_str(&format!(
            "      \"{}\":\n        delegated: [User.Read]\n",
            name.replace('"', "\\\"")
        ));
    }
    text.push_str("    servicePrincipal:\n      assignments:\n");
    for name in hostile {
        text.push_str(&format!("        - group: \"{name}\"\n"));
    }
    std::fs::write(dir.join("odata.yaml"), text).unwrap();

    sb.clear_log();
    let (code, _, stderr) = run_cli(&sb, &dir, &["plan", "odata.yaml"]).await;
    assert_eq!(code, 1, "no such resources or groups exist: {stderr}");
    assert!(!stderr.contains("panicked"), "{stderr}");
    assert!(
        stderr.contains("O'Brien & Co"),
        "the error names the missing resource or group as written:\n{stderr}"
    );
    let log = sb.request_log();
    assert!(writes(&sb).is_empty(), "plan wrote: {:?}", writes(&sb));
    let filters: Vec<String> = log
        .requests
        .iter()
        .filter_map(|e| {
            let query = e.path.split_once('?')?.1;
            form_urlencoded::parse(query.as_bytes())
                .find(|(k, _)| k == "$filter")
                .map(|(_, v)| v.into_owned())
        })
        .collect();
    for name in hostile {
        let literal = format!("'{}'", name.replace('\'', "''"));
        for field in ["servicePrincipals", "groups"] {
            let expected = format!("displayName eq {literal}");
            let found = log.requests.iter().any(|e| {
                e.path.contains(&format!("/{field}?"))
                    && e.path.split_once('?').is_some_and(|(_, q)| {
                        form_urlencoded::parse(q.as_bytes())
                            .any(|(k, v)| k == "$filter" && v == expected)
                    })
            });
            assert!(
                found,
                "no /{field} query with `$filter={expected}`; filters sent: {filters:#?}"
            );
        }
    }
    // Nothing but the literals: every filter, with its literals taken out, is one of the shapes
    // appreg builds, so no name added a clause or a query parameter.
    for filter in &filters {
        let mut shape = String::new();
        let mut in_literal = false;
        let mut chars = filter.chars().peekable();
        while let Some(c) = chars.next() {
            match (c, in_literal) {
                ('\'', true) if chars.peek() == Some(&'\'') => {
                    chars.next();
                }
                ('\'', _) => {
                    in_literal = !in_literal;
                    if in_literal {
                        shape.push_str("'…'");
                    }
                }
                (_, true) => {}
                (c, false) => shape.push(c),
            }
        }
        assert!(!in_literal, "an unterminated literal in `{filter}`");
        let known = [
            "displayName eq '…'",
            "tags/any(t:t eq '…')",
            "id eq '…'",
            "clientId eq '…'",
        ];
        // `in` lists (appIds of service principals, uniqueNames the set filter missed): only
        // literals between the parentheses.
        let literal_list = |shape: &str, field: &str| {
            shape
                .strip_prefix(field)
                .and_then(|rest| rest.strip_prefix(" in ("))
                .and_then(|rest| rest.strip_suffix(')'))
                .is_some_and(|list| list.split(',').all(|item| item.trim() == "'…'"))
        };
        assert!(
            known.contains(&shape.as_str())
                || literal_list(&shape, "appId")
                || literal_list(&shape, "uniqueName"),
            "unexpected filter shape `{shape}` from `{filter}`"
        );
    }
    sb.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn secret_files_are_private_and_plans_hold_no_secret_fields() {
    let sb = start(Faults::default(), 12).await;
    let dir = workdir("files");
    std::fs::write(
        dir.join("app.yaml"),
        "version: 1\nname: sec-files\napps:\n  filed:\n    displayName: Filed\n    secrets:\n      - name: handoff\n        lifetime: 30d\n        rotateBefore: 10d\n        deliver: { file: secrets/filed.json }\n",
    )
    .unwrap();
    let (code, _, stderr) = run_cli(&sb, &dir, &["apply", "app.yaml", "--auto-approve"]).await;
    assert_eq!(code, 0, "{stderr}");

    let secret = dir.join("secrets/filed.json");
    let mode = std::fs::metadata(&secret).unwrap().permissions().mode();
    assert_eq!(mode & 0o777, 0o600, "secret file mode {:o}", mode & 0o777);
    let leftovers: Vec<String> = std::fs::read_dir(dir.join("secrets"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n != "filed.json")
        .collect();
    assert!(leftovers.is_empty(), "temporary files left: {leftovers:?}");

    // A saved plan and the JSON view carry credentials by name, key id and expiry only.
    let (code, json, stderr) = run_cli(
        &sb,
        &dir,
        &["plan", "app.yaml", "--json", "--out", "plan.json"],
    )
    .await;
    assert_eq!(code, 0, "{stderr}");
    let saved = std::fs::read_to_string(dir.join("plan.json")).unwrap();
    let value: String =
        serde_json::from_str::<serde_json::Value>(&std::fs::read_to_string(&secret).unwrap())
            .unwrap()["clientSecret"]
            .as_str()
            .unwrap()
            .to_string();
    for (what, text) in [("plan.json", &saved), ("plan --json", &json)] {
        for field in [
            "clientSecret",
            "secretText",
            "client_secret",
            "access_token",
        ] {
            assert!(!text.contains(field), "{what} has a `{field}` field");
        }
        assert!(!text.contains(&value), "{what} holds the secret value");
    }
    let plan_mode = std::fs::metadata(dir.join("plan.json"))
        .unwrap()
        .permissions()
        .mode();
    assert_eq!(plan_mode & 0o002, 0, "the plan is world-writable");
    sb.shutdown().await;
}
