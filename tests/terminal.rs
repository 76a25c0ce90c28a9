//! appreg at the terminal and in CI: what a person or a pipeline reads when something is missing,
//! the help, completions and manual pages, and progress on a terminal only.
//!
//! Everything here talks to loopback only: the one "network" these tests offer is a listener on
//! 127.0.0.1 that refuses every request, standing in for a metadata endpoint that answers 403.

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
