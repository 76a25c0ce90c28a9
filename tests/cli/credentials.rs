//! Credentials through the real binary: the GitHub and stdout sinks, `appreg credentials`, drift
//! on expiring secrets, a crash at every request of an apply with secrets, and a canary: no
//! secret value or token in anything appreg prints or writes except the declared sinks.

use crate::crash;
use crate::tenant;

use std::path::{Path, PathBuf};

use appreg::emulator::{Faults, RunningSandbox};
use crash::{KillOutcome, KillTiming, SecretSink, password_key_ids, run_killed_at, works};
use serde_json::Value;
use tenant::*;

const VAULT_HOST: &str = "contoso-kv.vault.azure.net";

fn workdir() -> PathBuf {
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR"))
        .join(format!("creds-cli-{}", uuid::Uuid::new_v4().simple()));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// `file-app` (file sink) and `vault-app` (Key Vault sink), and with `fresh`, `fresh-app`, whose
/// secret is created rather than rotated.
fn manifest(dir: &Path, lifetime: &str, rotate_before: &str, fresh: bool) -> PathBuf {
    let mut text = format!(
        r#"version: 1
name: crash
apps:
  file-app:
    displayName: File app
    secrets:
      - name: mail
        lifetime: {lifetime}
        rotateBefore: {rotate_before}
        deliver: {{ file: secrets/file-app.json }}
  vault-app:
    displayName: Vault app
    secrets:
      - name: mail
        lifetime: {lifetime}
        rotateBefore: {rotate_before}
        deliver: {{ keyVault: {{ vault: "https://{VAULT_HOST}", secret: vault-app-mail }} }}
"#
    );
    if fresh {
        text.push_str(&format!(
            "  fresh-app:\n    displayName: Fresh app\n    secrets:\n      - name: mail\n        lifetime: {lifetime}\n        rotateBefore: {rotate_before}\n        deliver: {{ file: secrets/fresh-app.json }}\n"
        ));
    }
    let path = dir.join("crash.yaml");
    std::fs::write(&path, text).unwrap();
    path
}

/// Where the sink of `app` is.
fn sink(app: &str) -> SecretSink {
    if app == "vault-app" {
        SecretSink::Vault {
            host: VAULT_HOST.to_string(),
            secret: "vault-app-mail".to_string(),
        }
    } else {
        SecretSink::File(format!("secrets/{app}.json"))
    }
}

/// What the sink of `app` holds: (appId, keyId, value).
fn held(sb: &RunningSandbox, dir: &Path, app: &str) -> Option<(String, String, String)> {
    crash::held(sb, dir, &sink(app)).map(|h| (h.app_id, h.key_id, h.value))
}

async fn key_ids(raw: &Raw, app: &str) -> Vec<String> {
    password_key_ids(raw, app, "mail").await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn github_and_stdout_sinks_deliver_only_where_declared() {
    let sb = start(Faults::default(), 21).await;
    let dir = workdir();
    std::fs::write(
        dir.join("ci.yaml"),
        "version: 1\nname: ci\napps:\n  gh-app:\n    displayName: GH app\n    secrets:\n      - name: deploy\n        deliver: { github: { output: client_secret } }\n  out-app:\n    displayName: Out app\n    secrets:\n      - name: vendor\n        deliver: { stdout: true }\n",
    )
    .unwrap();
    let (output, summary) = (dir.join("gh-output"), dir.join("gh-summary"));
    let (code, stdout, stderr) = run_cli_env(
        &sb,
        &dir,
        &["apply", "ci.yaml", "--auto-approve"],
        &[
            ("GITHUB_OUTPUT", output.to_str().unwrap()),
            ("GITHUB_STEP_SUMMARY", summary.to_str().unwrap()),
        ],
    )
    .await;
    assert_eq!(code, 0, "{stdout}\n{stderr}");
    let raw = Raw::new(&sb).await;
    let gh_app_id = raw.app("gh-app").await["appId"]
        .as_str()
        .unwrap()
        .to_string();

    // GitHub: the mask comes before any other trace of the value; the output file holds it.
    let written = std::fs::read_to_string(&output).unwrap();
    let value = written.lines().nth(1).unwrap().to_string();
    assert!(works(&sb, &gh_app_id, &value).await);
    let mask = format!("::add-mask::{value}");
    let first_seen = stdout.find(&value).unwrap();
    assert_eq!(
        stdout.find(&mask).map(|at| at + "::add-mask::".len()),
        Some(first_seen)
    );
    assert_eq!(stdout.matches(&value).count(), 1, "only in the mask line");
    let summary = std::fs::read_to_string(&summary).unwrap();
    assert!(summary.contains("app.gh-app.secret.deploy") && !summary.contains(&value));

    // stdout: one JSON line carrying the value, because the manifest asked for it.
    let line: Value = stdout
        .lines()
        .find(|l| l.contains("\"clientSecret\""))
        .map(|l| serde_json::from_str(l).unwrap())
        .unwrap();
    assert_eq!(line["address"], "app.out-app.secret.vendor");
    assert!(
        works(
            &sb,
            line["appId"].as_str().unwrap(),
            line["clientSecret"].as_str().unwrap()
        )
        .await
    );
    assert!(!stderr.contains(&value) && !stderr.contains(line["clientSecret"].as_str().unwrap()));

    // Outside GitHub Actions the github sink cannot deliver: nothing is created for it.
    let fresh = start(Faults::default(), 22).await;
    let (code, _, stderr) = run_cli(&fresh, &dir, &["apply", "ci.yaml", "--auto-approve"]).await;
    assert_eq!(code, 1, "{stderr}");
    assert!(stderr.contains("GITHUB_OUTPUT"), "{stderr}");
    let raw = Raw::new(&fresh).await;
    let gh = raw.app("gh-app").await;
    assert_eq!(gh["passwordCredentials"].as_array().unwrap().len(), 0);
    fresh.shutdown().await;
    sb.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn credentials_lists_expiry_and_drift_reports_secrets_due_for_rotation() {
    let sb = start(Faults::default(), 23).await;
    let dir = workdir();
    let path = manifest(&dir, "20d", "10d", false);
    let path = path.to_str().unwrap();
    let (code, out, err) = run_cli(&sb, &dir, &["apply", path, "--auto-approve"]).await;
    assert_eq!(code, 0, "{out}\n{err}");
    assert!(
        out.contains("secret mail: expires"),
        "outputs carry expiry: {out}"
    );

    let (code, table, err) = run_cli(&sb, &dir, &["credentials", path]).await;
    assert_eq!(code, 0, "{err}");
    let header = table.lines().next().unwrap();
    assert!(
        header.starts_with("APP") && header.contains("DAYS LEFT"),
        "{table}"
    );
    let file_row = table.lines().find(|l| l.starts_with("file-app")).unwrap();
    assert!(
        file_row.contains("current") && file_row.contains(" 19 ") || file_row.contains(" 20 "),
        "{file_row}"
    );

    let (code, json, _) = run_cli(&sb, &dir, &["credentials", path, "--json"]).await;
    assert_eq!(code, 0);
    let report: Value = serde_json::from_str(&json).unwrap();
    let rows = report["credentials"].as_array().unwrap();
    assert_eq!(rows.len(), 2, "{json}");
    assert!(
        rows.iter()
            .all(|r| r["standing"] == "current" && r["due"] == false)
    );

    // Not due within 10 days: no drift. A 25-day window makes both due: drift exits 2.
    let (code, _, _) = run_cli(&sb, &dir, &["drift", path]).await;
    assert_eq!(code, 0);
    let due = manifest(&dir, "60d", "25d", false);
    let (code, out, _) = run_cli(&sb, &dir, &["drift", due.to_str().unwrap()]).await;
    assert_eq!(code, 2, "{out}");
    assert!(
        out.contains("app.file-app.secret.mail") && out.contains("days left"),
        "{out}"
    );
    sb.shutdown().await;
}

/// `--as-of` moves the clock rotation is judged by, as well as retirement dates: a schedule can
/// ask what will be due by a coming day, and says on stderr that it was asked.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn as_of_a_coming_day_shows_the_rotation_due_by_then() {
    let sb = start(Faults::default(), 29).await;
    let dir = workdir();
    let path = manifest(&dir, "20d", "10d", false);
    let path = path.to_str().unwrap();
    let (code, out, err) = run_cli(&sb, &dir, &["apply", path, "--auto-approve"]).await;
    assert_eq!(code, 0, "{out}\n{err}");
    let day = |days: i64| {
        (chrono::Utc::now() + chrono::Duration::days(days))
            .date_naive()
            .to_string()
    };

    // Nine days on, ten are still left before the window opens: nothing due.
    let (code, out, err) = run_cli(&sb, &dir, &["drift", path, "--as-of", &day(5)]).await;
    assert_eq!(code, 0, "{out}\n{err}");
    assert!(err.contains("rotation as of"), "{err}");
    // Fifteen days on, both secrets are inside their 10-day window.
    let (code, out, _) = run_cli(&sb, &dir, &["drift", path, "--as-of", &day(15)]).await;
    assert_eq!(code, 2, "{out}");
    assert!(
        out.contains("app.file-app.secret.mail") && out.contains("app.vault-app.secret.mail"),
        "{out}"
    );
    let (code, json, _) = run_cli(
        &sb,
        &dir,
        &["credentials", path, "--json", "--as-of", &day(15)],
    )
    .await;
    assert_eq!(code, 0);
    let report: Value = serde_json::from_str(&json).unwrap();
    let rows = report["credentials"].as_array().unwrap();
    assert!(rows.iter().all(|r| r["due"] == true), "{json}");
    // The present is untouched: a plain drift still finds nothing due.
    let (code, _, _) = run_cli(&sb, &dir, &["drift", path]).await;
    assert_eq!(code, 0);
    sb.shutdown().await;
}

/// Kills `appreg apply` right after the sandbox has taken its k-th request (the k-th answer never
/// arrives), for every k up to the apply's length, then runs apply again. Every declared secret
/// must end with a working credential its sink holds, with no orphan and no duplicate, and
/// the value a consumer reads from a sink must work at every crash point.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn killed_at_every_request_of_an_apply_with_secrets_it_converges() {
    let mut crashes = 0;
    let mut k = 1_u64;
    loop {
        let sb = start(Faults::default(), 100 + k).await;
        let raw = Raw::new(&sb).await;
        let dir = workdir();
        // Before: two apps whose secrets expire within the next window.
        let client = client(&sb);
        apply(
            &client,
            &sb,
            &load(&[manifest(&dir, "20d", "10d", false)]),
            false,
        )
        .await;
        let originals = [
            ("file-app", key_ids(&raw, "file-app").await),
            ("vault-app", key_ids(&raw, "vault-app").await),
        ];
        let target = manifest(&dir, "25d", "21d", true);
        // Killed once the client reached its wait for the withheld k-th answer.
        let finished = match run_killed_at(
            &sb,
            &dir,
            &["apply", target.to_str().unwrap(), "--auto-approve"],
            k,
            KillTiming::AfterFreeze(30),
        )
        .await
        {
            Ok(KillOutcome::Killed) => false,
            Ok(KillOutcome::Finished(_)) => true,
            Err(e) => panic!("{e}"),
        };
        if !finished {
            crashes += 1;
            // At the crash point a consumer still reads a working value from each old sink.
            for app in ["file-app", "vault-app"] {
                let (app_id, _, value) = held(&sb, &dir, app).expect("the sink holds a value");
                assert!(
                    works(&sb, &app_id, &value).await,
                    "k={k}: {app}'s sink value is refused"
                );
            }
        }
        let (code, out, err) = run_cli(
            &sb,
            &dir,
            &["apply", target.to_str().unwrap(), "--auto-approve"],
        )
        .await;
        assert_eq!(code, 0, "k={k}: the clean run failed\n{out}\n{err}");
        for app in ["file-app", "vault-app", "fresh-app"] {
            let (app_id, key_id, value) =
                held(&sb, &dir, app).unwrap_or_else(|| panic!("k={k}: {app}'s sink is empty"));
            assert!(works(&sb, &app_id, &value).await, "k={k}: {app}");
            let ids = key_ids(&raw, app).await;
            // Exactly the credential the sink holds, plus the original generation for rotated
            // apps: anything else is an orphan or a duplicate.
            let mut expected = vec![key_id.clone()];
            if let Some((_, original)) = originals.iter().find(|(a, _)| *a == app) {
                expected.extend(original.iter().filter(|o| **o != key_id).cloned());
            }
            expected.sort();
            assert_eq!(ids, expected, "k={k}: {app}");
        }
        let apps = raw.apps().await;
        for unique in ["file-app", "vault-app", "fresh-app"] {
            let n = apps.iter().filter(|a| a["uniqueName"] == unique).count();
            assert_eq!(n, 1, "k={k}: {unique} exists {n} times");
        }
        let (_, settled) = plan(&client, &sb, &load(std::slice::from_ref(&target)), false).await;
        assert_eq!(pending(&settled), Vec::<String>::new(), "k={k}");
        sb.shutdown().await;
        if finished {
            break;
        }
        k += 1;
    }
    eprintln!("crash test: {crashes} crash points, the apply takes {k} requests");
    assert!(
        crashes >= 10,
        "an apply with three secrets takes more than 10 requests"
    );
}

/// Every command, at the most verbose log level and in every output format, with the values the
/// sinks received known: none of them, no token and no admin secret appear anywhere but the
/// sinks.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn canary_no_secret_value_or_token_in_any_output() {
    let sb = start(Faults::default(), 31).await;
    let dir = workdir();
    // Two rounds: creates from 20-day secrets, then rotations with a 21-day window.
    let first = dir.join("first.yaml");
    std::fs::rename(manifest(&dir, "20d", "10d", true), &first).unwrap();
    let second = manifest(&dir, "25d", "21d", true);
    let mut captured = Vec::new();
    let mut values = Vec::new();
    let run = |args: Vec<String>| {
        let sb = &sb;
        let dir = dir.clone();
        async move {
            let args: Vec<&str> = args.iter().map(String::as_str).collect();
            let (_, out, err) = run_cli(sb, &dir, &args).await;
            format!("{out}\n{err}")
        }
    };
    for round in [path_str(&first).to_string(), path_str(&second).to_string()] {
        for args in [
            vec!["-vvv", "validate", &round],
            vec!["-vvv", "plan", &round, "--json"],
            vec!["-vvv", "plan", &round, "--markdown"],
            vec!["-vvv", "plan", &round, "--out", "plan.json"],
            vec![
                "-vvv",
                "apply",
                &round,
                "--auto-approve",
                "--outputs",
                "outputs.json",
            ],
            vec!["-vvv", "drift", &round, "--json"],
            vec!["-vvv", "credentials", &round, "--json"],
            vec!["-vvv", "output", &round, "--json"],
        ] {
            captured.push(run(args.iter().map(|s| s.to_string()).collect()).await);
        }
        for file in ["plan.json", "outputs.json"] {
            captured.push(std::fs::read_to_string(dir.join(file)).unwrap_or_default());
        }
        for app in ["file-app", "vault-app", "fresh-app"] {
            values.push(held(&sb, &dir, app).unwrap().2);
        }
    }
    // The messages of the trust defences (SECURITY.md, credentials): a stdout sink refused in CI,
    // a vault URL on another host, stale temporaries removed beside a secret file.
    std::fs::write(
        dir.join("ci.yaml"),
        "version: 1\nname: canary-ci\napps:\n  ci-out:\n    displayName: CI out\n    secrets:\n      - name: s\n        deliver: { stdout: true }\n",
    )
    .unwrap();
    let (_, out, err) = run_cli_env(
        &sb,
        &dir,
        &["-vvv", "apply", "ci.yaml", "--auto-approve"],
        &[("CI", "true")],
    )
    .await;
    assert!(err.contains("--allow-stdout-secrets"), "{err}");
    captured.push(format!("{out}\n{err}"));
    std::fs::write(
        dir.join("attacker.yaml"),
        "version: 1\nname: canary-kv\napps:\n  kv:\n    displayName: KV\n    secrets:\n      - name: s\n        deliver: { keyVault: { vault: \"https://attacker.example.com\", secret: s } }\n",
    )
    .unwrap();
    for verb in ["validate", "plan"] {
        let (_, out, err) = run_cli(&sb, &dir, &["-vvv", verb, "attacker.yaml"]).await;
        assert!(err.contains("not a Key Vault URL"), "{err}");
        captured.push(format!("{out}\n{err}"));
    }
    let stale = dir.join(format!(
        "secrets/.file-app.json.appreg-tmp-{}",
        uuid::Uuid::new_v4().simple()
    ));
    std::fs::write(&stale, "left by a crash").unwrap();
    captured.push(
        run(vec![
            "-vvv".into(),
            "apply".into(),
            path_str(&second).into(),
            "--auto-approve".into(),
        ])
        .await,
    );
    assert!(!stale.exists(), "the stale temporary was removed");
    values.push(sb.admin_client_secret().to_string());
    let everything = captured.join("\n");
    assert!(
        everything.contains("DEBUG") || everything.contains("TRACE"),
        "logs were captured"
    );
    for value in &values {
        assert!(
            !everything.contains(value.as_str()),
            "a secret value leaked into the output"
        );
    }
    // Access tokens are JWTs: base64url of '{"' starts with eyJ.
    assert!(
        !everything.contains("eyJ"),
        "a token leaked into the output"
    );
    sb.shutdown().await;
}
