//! `--target app.KEY` on plan, apply and drift, through the real binary against a sandbox each test
//! starts on 127.0.0.1:0: the run is limited to the named apps, never prunes, and a saved targeted
//! plan is applied to its targets only.

use crate::tenant;

use std::path::Path;

use appreg::emulator::Faults;
use serde_json::Value;
use tenant::*;

/// Three apps of one set that prunes.
const THREE: &str = "version: 1\nname: targeted\nprune: true\napps:\n  crm:\n    displayName: CRM\n  crm.sync:\n    displayName: CRM sync\n  erp:\n    displayName: ERP\n";

fn write(dir: &Path, text: &str) {
    std::fs::write(dir.join("appreg.yaml"), text).unwrap();
}

/// Addresses of the plan's changes that write, from `plan --json`.
fn written(json: &str) -> Vec<String> {
    let plan: Value = serde_json::from_str(json).unwrap();
    plan["changes"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|c| c["action"] != "no_op")
        .map(|c| c["address"].as_str().unwrap().to_string())
        .collect()
}

#[tokio::test]
async fn an_unknown_target_is_an_error_with_a_suggestion_and_writes_nothing() {
    let sb = start(Faults::default(), 0x7a1).await;
    let dir = tempfile::tempdir().unwrap();
    write(dir.path(), THREE);
    for command in [
        &["plan", "--out", "plan.json", "--target", "app.ERP2"][..],
        &["apply", "--auto-approve", "--target", "app.ERP2"][..],
        &["drift", "--target", "app.ERP2"][..],
    ] {
        sb.clear_log();
        let (code, out, err) = run_cli(&sb, dir.path(), command).await;
        assert_eq!(code, 1, "{command:?}: {err}");
        assert!(
            err.contains("`app.ERP2` names no app of the manifest"),
            "{err}"
        );
        assert!(err.contains("did you mean `app.erp`?"), "{err}");
        assert!(out.is_empty(), "{out}");
        assert!(
            writes(&sb).is_empty(),
            "{command:?} wrote {:?}",
            writes(&sb)
        );
    }
    assert!(
        !dir.path().join("plan.json").exists(),
        "no plan file is written"
    );
    // An object under an app is not a target: the app is suggested.
    let (code, _, err) = run_cli(
        &sb,
        dir.path(),
        &["plan", "--target", "app.crm.sync.service_principal"],
    )
    .await;
    assert_eq!(code, 1, "{err}");
    assert!(err.contains("did you mean `app.crm.sync`?"), "{err}");
    sb.shutdown().await;
}

#[tokio::test]
async fn a_targeted_apply_touches_only_its_apps_and_never_prunes() {
    let sb = start(Faults::default(), 0x7a2).await;
    let dir = tempfile::tempdir().unwrap();
    write(dir.path(), THREE);
    let (code, _, err) = run_cli(&sb, dir.path(), &["apply", "--auto-approve"]).await;
    assert_eq!(code, 0, "{err}");

    // erp leaves the manifest (the set prunes) and crm.sync changes; only crm.sync is targeted.
    write(
        dir.path(),
        &THREE
            .replace("CRM sync\n", "CRM sync v2\n")
            .replace("  erp:\n    displayName: ERP\n", ""),
    );
    let (code, out, err) = run_cli(
        &sb,
        dir.path(),
        &["plan", "--json", "--target", "app.crm.sync"],
    )
    .await;
    assert_eq!(code, 0, "{err}");
    assert_eq!(written(&out), ["app.crm.sync"], "{out}");
    let plan: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(plan["targets"], serde_json::json!(["app.crm.sync"]));
    assert_eq!(plan["prune"], false, "a targeted plan never prunes");
    let (code, out, _) = run_cli(&sb, dir.path(), &["plan", "--target", "app.crm.sync"]).await;
    assert_eq!(code, 0);
    assert!(
        out.starts_with("Targeted run (--target app.crm.sync)")
            && out.contains("nothing is pruned"),
        "{out}"
    );
    // The untargeted plan would delete erp; the targeted one leaves it.
    let (_, out, _) = run_cli(&sb, dir.path(), &["plan", "--json"]).await;
    assert!(written(&out).contains(&"app.erp".to_string()), "{out}");

    // Saved with its target, applied: only crm.sync is written.
    let (code, _, err) = run_cli(
        &sb,
        dir.path(),
        &["plan", "--out", "plan.json", "--target", "app.crm.sync"],
    )
    .await;
    assert_eq!(code, 0, "{err}");
    let (code, _, err) = run_cli(
        &sb,
        dir.path(),
        &[
            "apply",
            "plan.json",
            "--auto-approve",
            "--target",
            "app.crm",
        ],
    )
    .await;
    assert_eq!(code, 1, "a saved plan keeps its own targets: {err}");
    sb.clear_log();
    let (code, out, err) = run_cli(
        &sb,
        dir.path(),
        &["apply", "plan.json", "--auto-approve", "--json"],
    )
    .await;
    assert_eq!(code, 0, "{err}");
    let report: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(report["targets"], serde_json::json!(["app.crm.sync"]));
    let changed: Vec<&str> = report["changes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["address"].as_str().unwrap())
        .collect();
    assert_eq!(changed, ["app.crm.sync"], "{out}");
    assert!(
        writes(&sb).iter().all(|w| !w.starts_with("DELETE")),
        "nothing deleted: {:?}",
        writes(&sb)
    );

    // Drift under a target reports nothing of the apps out of view; without it, erp is gone.
    let (code, out, err) = run_cli(&sb, dir.path(), &["drift", "--target", "app.crm"]).await;
    assert_eq!(code, 0, "{out}{err}");
    assert!(!out.contains("app.erp"), "{out}");
    let (code, out, _) = run_cli(&sb, dir.path(), &["drift"]).await;
    assert_eq!(code, 2, "{out}");
    assert!(out.contains("app.erp"), "{out}");
    sb.shutdown().await;
}
