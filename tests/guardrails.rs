//! Guardrails (issue 16): the `policy:` section enforced by `plan` and `apply` before anything
//! reaches the tenant, and `appreg audit` of a whole tenant, through the real binary against a
//! sandbox started by each test on 127.0.0.1:0.

#[path = "support/tenant.rs"]
mod tenant;

use std::path::Path;

use appreg::emulator::Faults;
use tenant::*;

/// A manifest whose policy requires owners and a `team` tag, with one app that has neither.
const UNOWNED: &str = "version: 1\nname: guarded\npolicy:\n  requireOwners: true\n  requiredTags: [team]\napps:\n  lonely:\n    displayName: Lonely\n";

fn write(dir: &Path, text: &str) {
    std::fs::write(dir.join("appreg.yaml"), text).unwrap();
}

#[tokio::test]
async fn policy_errors_stop_plan_and_apply_before_any_write() {
    let sb = start(Faults::default(), 16).await;
    let dir = tempfile::tempdir().unwrap();
    write(dir.path(), UNOWNED);
    for command in [&["plan"][..], &["apply", "--auto-approve"][..]] {
        sb.clear_log();
        let (code, _, stderr) = run_cli(&sb, dir.path(), command).await;
        assert_eq!(code, 1, "{command:?}: {stderr}");
        assert!(stderr.contains("error[no-owner]"), "{command:?}: {stderr}");
        assert!(
            stderr.contains("error[missing-tag]"),
            "{command:?}: {stderr}"
        );
        assert!(
            writes(&sb).is_empty(),
            "{command:?} wrote: {:?}",
            writes(&sb)
        );
    }
    // Once the app has an owner and the tag, the same policy lets apply through.
    write(
        dir.path(),
        &UNOWNED.replace(
            "displayName: Lonely\n",
            "displayName: Lonely\n    tags: [team=platform]\n    owners: [{user: adele.vance@contoso.com}]\n",
        ),
    );
    let (code, _, stderr) = run_cli(&sb, dir.path(), &["apply", "--auto-approve"]).await;
    assert_eq!(code, 0, "{stderr}");
    assert!(!writes(&sb).is_empty());
    sb.shutdown().await;
}
