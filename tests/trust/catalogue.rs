//! Trust tests whose defence lives in src/catalogue/ and manifest validation of permissions (see SECURITY.md).

use std::path::Path;

use super::tenant::*;
use appreg::emulator::{Faults, RunningSandbox};

/// An app asking Microsoft Graph's `RoleManagement.ReadWrite.Directory` (assign any directory role,
/// Global Administrator included) with admin consent; `extra` is appended to the app.
fn role_admin(extra: &str) -> String {
    format!(
        "version: 1\nname: trust-catalogue\napps:\n  role-admin:\n    displayName: Role admin\n    permissions:\n      Microsoft Graph:\n        application: [RoleManagement.ReadWrite.Directory]\n    adminConsent: true\n{extra}"
    )
}

/// `line:column` (1-based) of the first occurrence of `needle` in `text`.
fn position(text: &str, needle: &str) -> String {
    let at = text.find(needle).expect("the needle is in the text");
    let line = text[..at].matches('\n').count() + 1;
    let column = at - text[..at].rfind('\n').map_or(0, |n| n + 1) + 1;
    format!("{line}:{column}")
}

/// Runs the binary in `dir` against the sandbox and returns (exit code, stderr), with the Graph
/// writes it made.
async fn run(sb: &RunningSandbox, dir: &Path, args: &[&str]) -> (i32, String, Vec<String>) {
    sb.clear_log();
    let (code, _, stderr) = run_cli(sb, dir, args).await;
    (code, stderr, writes(sb))
}

/// `appreg ARGS` in `dir` with its JSON report (stdout) parsed.
async fn json(sb: &RunningSandbox, dir: &Path, args: &[&str]) -> serde_json::Value {
    let (_, stdout, stderr) = run_cli(sb, dir, args).await;
    serde_json::from_str(&stdout).unwrap_or_else(|e| panic!("{args:?}: {e}:\n{stdout}\n{stderr}"))
}

/// Finding 10a: a manifest asking a tier-0 application permission (a direct path to Global
/// Administrator) with admin consent passed `validate --strict` and `plan` without a word. It is
/// now flagged by rule id at its position (a warning, exit 0), `--strict` refuses it before
/// anything reaches the tenant, and only an acknowledgement naming the permission, with a reason,
/// makes it clean; an acknowledgement that names nothing requested is itself reported.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn high_privilege_permission_needs_an_acknowledgement() {
    let sb = start(Faults::default(), 0x10a).await;
    let dir = tempfile::tempdir().unwrap();
    let manifest = role_admin("");
    std::fs::write(dir.path().join("m.yaml"), &manifest).unwrap();
    let at = format!(
        "m.yaml:{}",
        position(&manifest, "RoleManagement.ReadWrite.Directory")
    );

    let (code, stderr, _) = run(&sb, dir.path(), &["validate", "m.yaml"]).await;
    assert_eq!(code, 0, "a warning by default:\n{stderr}");
    assert!(
        stderr.contains("warning[high-privilege-permission]") && stderr.contains(&at),
        "flagged by rule id at {at}:\n{stderr}"
    );
    let report = json(&sb, dir.path(), &["validate", "--format", "json", "m.yaml"]).await;
    let found = &report["diagnostics"][0];
    assert_eq!(found["code"], "high-privilege-permission", "{report:#}");
    assert!(
        found["message"]
            .as_str()
            .unwrap()
            .contains("Global Administrator"),
        "says why: {report:#}"
    );

    for args in [
        &["validate", "--strict", "m.yaml"][..],
        &["plan", "--strict", "m.yaml"],
        &["apply", "--strict", "--auto-approve", "m.yaml"],
    ] {
        let (code, stderr, written) = run(&sb, dir.path(), args).await;
        assert_eq!(code, 1, "{args:?} refuses under --strict:\n{stderr}");
        assert!(
            stderr.contains("high-privilege-permission"),
            "{args:?}:\n{stderr}"
        );
        assert!(
            written.is_empty(),
            "{args:?} wrote to the tenant: {written:?}"
        );
    }
    assert!(
        Raw::new(&sb)
            .await
            .apps()
            .await
            .iter()
            .all(|a| a["uniqueName"] != "role-admin"),
        "no app was registered"
    );

    let acknowledged = role_admin(
        "    acknowledge:\n      - rule: high-privilege-permission\n        permission: Microsoft Graph/RoleManagement.ReadWrite.Directory\n        reason: Provisions the helpdesk's role assignments; reviewed by the identity team.\n",
    );
    std::fs::write(dir.path().join("m.yaml"), &acknowledged).unwrap();
    for args in [
        &["validate", "--strict", "m.yaml"][..],
        &["plan", "--strict", "m.yaml"],
    ] {
        let (code, stderr, written) = run(&sb, dir.path(), args).await;
        assert_eq!(code, 0, "{args:?} is clean once acknowledged:\n{stderr}");
        assert!(!stderr.contains("warning["), "{args:?}:\n{stderr}");
        assert!(written.is_empty(), "{args:?}: {written:?}");
    }

    // An acknowledgement for a permission the app does not request would silently cover it if it
    // were added later: it is reported where it is written.
    let stale = role_admin(
        "    acknowledge:\n      - rule: high-privilege-permission\n        permission: Microsoft Graph/RoleManagement.ReadWrite.Directory\n        reason: Provisions role assignments.\n      - rule: high-privilege-permission\n        permission: Microsoft Graph/Application.ReadWrite.All\n        reason: Left over from an earlier version.\n",
    );
    std::fs::write(dir.path().join("m.yaml"), &stale).unwrap();
    let (code, stderr, _) = run(&sb, dir.path(), &["validate", "--strict", "m.yaml"]).await;
    assert_eq!(code, 1, "{stderr}");
    let at = format!(
        "m.yaml:{}",
        position(&stale, "Microsoft Graph/Application.ReadWrite.All")
    );
    assert!(
        stderr.contains("warning[stale-acknowledgement]") && stderr.contains(&at),
        "stale acknowledgement at {at}:\n{stderr}"
    );
    assert!(
        !stderr.contains("warning[high-privilege-permission]"),
        "the real acknowledgement still covers its permission:\n{stderr}"
    );
}

/// Issue 18: an app declared from the EWS-based vendor guide (`full_access_as_app`,
/// `EWS.AccessAsUser.All` on Exchange Online) was registered cleanly and then failed at the
/// integration's first call. It is now reported at each permission with the dates, what happens
/// then, and the Microsoft Graph replacement: a warning before 2027-04-01 (its wording changing at
/// 2026-10-01, when EWS is blocked by default), an error from then on. The day comes from
/// `--as-of`, never the machine's clock.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ews_permissions_warn_before_and_fail_after_retirement() {
    let sb = start(Faults::default(), 0x18).await;
    let dir = tempfile::tempdir().unwrap();
    let source =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("docs/examples/crm-calendar-sync-ews.yaml");
    let manifest = std::fs::read_to_string(&source).unwrap();
    std::fs::write(dir.path().join("ews.yaml"), &manifest).unwrap();
    let app_only = format!("ews.yaml:{}", position(&manifest, "full_access_as_app]"));
    let delegated = format!("ews.yaml:{}", position(&manifest, "EWS.AccessAsUser.All]"));

    // (day, exit code, level, words, why)
    let cases = [
        (
            "2026-09-30",
            0,
            "warning[retiring-api]",
            "from 2026-10-01",
            "announced, still working",
        ),
        (
            "2026-10-01",
            0,
            "warning[retiring-api]",
            "since 2026-10-01",
            "blocked by default unless allow-listed",
        ),
        (
            "2027-03-31",
            0,
            "warning[retiring-api]",
            "switched off for good on 2027-04-01",
            "the last day",
        ),
        (
            "2027-04-01",
            1,
            "error[retired-api]",
            "retired on 2027-04-01",
            "switched off: an error",
        ),
    ];
    for (day, expected, level, words, why) in cases {
        let (code, stderr, _) =
            run(&sb, dir.path(), &["validate", "--as-of", day, "ews.yaml"]).await;
        assert_eq!(code, expected, "{day}: {why}:\n{stderr}");
        assert_eq!(
            stderr.matches(level).count(),
            2,
            "{day}: both EWS permissions:\n{stderr}"
        );
        for at in [&app_only, &delegated] {
            assert!(
                stderr.contains(at.as_str()),
                "{day}: reported at {at}:\n{stderr}"
            );
        }
        // The words, from the JSON report (the human one wraps long lines).
        let report = json(
            &sb,
            dir.path(),
            &["validate", "--format", "json", "--as-of", day, "ews.yaml"],
        )
        .await;
        let code = level.split(['[', ']']).nth(1).unwrap();
        let found: Vec<&serde_json::Value> = report["diagnostics"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|d| d["code"] == code)
            .collect();
        assert_eq!(found.len(), 2, "{day}: {report:#}");
        for d in found {
            let (message, help) = (d["message"].as_str().unwrap(), d["help"].as_str().unwrap());
            assert!(message.contains(words), "{day}: {why}: {message}");
            assert!(
                help.starts_with("request Microsoft Graph") && help.contains("Calendars.ReadWrite"),
                "{day}: names the replacement: {help}"
            );
        }
    }

    // Before the final date, --strict refuses it; after it, plan refuses it anyway. Neither
    // reaches the tenant.
    for args in [
        &["plan", "--strict", "--as-of", "2026-12-07", "ews.yaml"][..],
        &["plan", "--as-of", "2027-04-01", "ews.yaml"],
        &[
            "apply",
            "--auto-approve",
            "--as-of",
            "2027-04-01",
            "ews.yaml",
        ],
    ] {
        let (code, stderr, written) = run(&sb, dir.path(), args).await;
        assert_eq!(code, 1, "{args:?}:\n{stderr}");
        assert!(written.is_empty(), "{args:?} wrote: {written:?}");
    }
}

/// Issue 18: `drift` runs on a schedule, so it must say when an app in the tenant still holds a
/// permission on a retiring API, even when the tenant matches the manifest: the report names the
/// app, the permission, the dates and the replacement, and drift exits 2.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn drift_reports_apps_that_still_hold_ews() {
    let sb = start(Faults::default(), 0x18d).await;
    let dir = tempfile::tempdir().unwrap();
    let source =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("docs/examples/crm-calendar-sync-ews.yaml");
    std::fs::copy(&source, dir.path().join("ews.yaml")).unwrap();
    let day = ["--as-of", "2026-12-07"];

    let (code, _, stderr) = run_cli(
        &sb,
        dir.path(),
        &[&["apply", "--auto-approve"][..], &day, &["ews.yaml"]].concat(),
    )
    .await;
    assert_eq!(code, 0, "registered despite the warnings:\n{stderr}");
    let (code, _, stderr) = run_cli(
        &sb,
        dir.path(),
        &[&["plan", "--detailed-exitcode"][..], &day, &["ews.yaml"]].concat(),
    )
    .await;
    assert_eq!(code, 0, "the tenant matches the manifest:\n{stderr}");

    let (code, stdout, stderr) = run_cli(
        &sb,
        dir.path(),
        &[&["drift"][..], &day, &["ews.yaml"]].concat(),
    )
    .await;
    assert_eq!(
        code, 2,
        "a held retiring permission is drift:\n{stdout}\n{stderr}"
    );
    for words in [
        "app.crm-calendar-sync-ews",
        "full_access_as_app",
        "EWS.AccessAsUser.All",
        "since 2026-10-01",
        "Calendars.ReadWrite",
    ] {
        assert!(stdout.contains(words), "drift names {words}:\n{stdout}");
    }
}
