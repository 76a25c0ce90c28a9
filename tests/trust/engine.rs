//! Trust tests whose defence lives in src/engine/ (see SECURITY.md).
//!
//! Ownership (src/engine/ownership.rs): an app changes hands only through an `adopt:` naming it
//! (and the set it comes from), prune candidates carry the exact set tag, and the identity appreg
//! runs as is never managed or pruned. Each test runs the real binary as a CI job would, against
//! a sandbox whose admin app is the caller.

use std::path::Path;

use appreg::emulator::{Faults, RunningSandbox};
use reqwest::Method;
use serde_json::{Value, json};

use super::tenant::*;

/// An app made by raw Graph (not by appreg) with these tags; returns it as Graph answered.
async fn seed_app(raw: &Raw, unique_name: Option<&str>, display: &str, tags: Value) -> Value {
    let mut body = json!({"displayName": display, "tags": tags});
    if let Some(unique_name) = unique_name {
        body["uniqueName"] = json!(unique_name);
    }
    raw.write(Method::POST, "/applications", Some(body)).await
}

fn manifest(dir: &Path, name: &str, text: &str) -> String {
    std::fs::write(dir.join(name), text).unwrap();
    name.to_string()
}

/// An entry that, once managed, mints a secret and prints it: what a takeover is for.
const GRAB_SECRET: &str = "    secrets:\n      - name: grab\n        lifetime: 30d\n        rotateBefore: 7d\n        deliver: {stdout: true}\n";

/// `plan` and `apply --auto-approve` of `file` both fail, and apply writes nothing to Graph.
async fn refused_without_writes(sb: &RunningSandbox, dir: &Path, file: &str) -> String {
    let (code, out, err) = run_cli(sb, dir, &["plan", file]).await;
    assert_eq!(code, 1, "plan must fail\n{out}\n{err}");
    sb.clear_log();
    let (code, out, apply_err) = run_cli(sb, dir, &["apply", "--auto-approve", file]).await;
    assert_eq!(code, 1, "apply must fail\n{out}\n{apply_err}");
    assert_eq!(writes(sb), Vec::<String>::new(), "nothing is written");
    assert!(!out.contains("clientSecret"), "no secret printed: {out}");
    err
}

fn app_ids(app: &Value) -> (String, String) {
    (
        app["id"].as_str().unwrap().to_string(),
        app["appId"].as_str().unwrap().to_string(),
    )
}

/// Finding 3: a manifest of set `c` that names set `payments`' app by uniqueName does not take
/// it over (no retag, no secret); it must write `adopt: {appId, fromSet: payments}`, and then the
/// plan says "adopt from set".
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn another_sets_app_is_not_taken_over_by_unique_name() {
    let sb = start(Faults::default(), 0x5eed).await;
    let raw = Raw::new(&sb).await;
    let work = tempfile::tempdir().unwrap();
    let dir = work.path();
    let owner = manifest(
        dir,
        "payments.yaml",
        "version: 1\nname: payments\napps:\n  payments-api:\n    displayName: Payments API\n    permissions:\n      Microsoft Graph:\n        application: [Mail.Send]\n",
    );
    let (code, _, err) = run_cli(&sb, dir, &["apply", "--auto-approve", &owner]).await;
    assert_eq!(code, 0, "{err}");
    let before = raw.app("payments-api").await;
    let (_, app_id) = app_ids(&before);

    let attack = manifest(
        dir,
        "c.yaml",
        &format!(
            "version: 1\nname: c\napps:\n  mine:\n    uniqueName: payments-api\n    displayName: Payments API\n    permissions:\n      Microsoft Graph:\n        application: [Mail.Send]\n{GRAB_SECRET}"
        ),
    );
    let err = refused_without_writes(&sb, dir, &attack).await;
    for needle in [
        "app.mine",
        "`Payments API`",
        app_id.as_str(),
        "managed by set `payments`",
        &format!("adopt: {{appId: {app_id}, fromSet: payments}}"),
    ] {
        assert!(err.contains(needle), "`{needle}` missing from:\n{err}");
    }
    let after = raw.app("payments-api").await;
    assert_eq!(after["tags"], before["tags"]);
    assert_eq!(after["passwordCredentials"], json!([]));

    // Naming the wrong set is refused too: the set tag is compared exactly.
    let wrong_set = manifest(
        dir,
        "c-wrong.yaml",
        &format!(
            "version: 1\nname: c\napps:\n  mine:\n    uniqueName: payments-api\n    adopt: {{appId: {app_id}, fromSet: Payments}}\n    displayName: Payments API\n"
        ),
    );
    refused_without_writes(&sb, dir, &wrong_set).await;

    // With the explicit adopt the plan says what happens.
    let adopt = manifest(
        dir,
        "c-adopt.yaml",
        &format!(
            "version: 1\nname: c\napps:\n  mine:\n    uniqueName: payments-api\n    adopt: {{appId: {app_id}, fromSet: payments}}\n    displayName: Payments API\n    permissions:\n      Microsoft Graph:\n        application: [Mail.Send]\n"
        ),
    );
    let (code, out, err) = run_cli(&sb, dir, &["plan", "--json", &adopt]).await;
    assert_eq!(code, 0, "{err}");
    let plan: Value = serde_json::from_str(&out).unwrap();
    let app_change = plan["changes"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["address"] == "app.mine")
        .unwrap();
    assert_eq!(app_change["action"], "update");
    assert!(
        app_change["reason"]
            .as_str()
            .unwrap()
            .starts_with("adopt from set `payments`"),
        "{app_change}"
    );
    sb.shutdown().await;
}

/// Finding 3: an app made by hand (no appreg tags) is not taken over by naming its uniqueName;
/// `adopt: <appId>` is required, and the plan then says "adopt unmanaged app".
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hand_made_app_is_not_taken_over_without_adopt() {
    let sb = start(Faults::default(), 0x5eed).await;
    let raw = Raw::new(&sb).await;
    let work = tempfile::tempdir().unwrap();
    let dir = work.path();
    let hand_made = seed_app(
        &raw,
        Some("legacy-crm"),
        "Legacy \u{1b}[31mCRM",
        json!(["owner:finance"]),
    )
    .await;
    let (_, app_id) = app_ids(&hand_made);

    let attack = manifest(
        dir,
        "c.yaml",
        &format!(
            "version: 1\nname: c\napps:\n  legacy-crm:\n    displayName: Legacy CRM\n{GRAB_SECRET}"
        ),
    );
    let err = refused_without_writes(&sb, dir, &attack).await;
    assert!(err.contains(&format!("adopt: {app_id}")), "{err}");
    assert!(err.contains("not managed by appreg"), "{err}");
    assert!(
        !err.contains('\u{1b}'),
        "the tenant's display name is escaped: {err:?}"
    );
    assert_eq!(
        raw.app("legacy-crm").await["tags"],
        json!(["owner:finance"])
    );

    let adopt = manifest(
        dir,
        "c-adopt.yaml",
        &format!(
            "version: 1\nname: c\napps:\n  legacy-crm:\n    adopt: {app_id}\n    displayName: Legacy CRM\n"
        ),
    );
    let (code, out, err) = run_cli(&sb, dir, &["plan", &adopt]).await;
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("adopt unmanaged app"), "{out}");
    let (code, _, err) = run_cli(&sb, dir, &["apply", "--auto-approve", &adopt]).await;
    assert_eq!(code, 0, "{err}");
    let tags = raw.app("legacy-crm").await["tags"].clone();
    assert!(
        tags.as_array().unwrap().contains(&json!("appreg:set=c")),
        "{tags}"
    );
    sb.shutdown().await;
}

/// Finding 4: `name: finance` with prune neither deletes nor adopts apps tagged
/// `appreg:set=Finance`, although Graph's tag filter returns them (it folds case).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn prune_compares_the_set_tag_exactly() {
    let sb = start(Faults::default(), 0x5eed).await;
    let raw = Raw::new(&sb).await;
    let work = tempfile::tempdir().unwrap();
    let dir = work.path();
    let mut theirs = Vec::new();
    for name in ["ledger", "payroll"] {
        let app = seed_app(
            &raw,
            Some(name),
            name,
            json!(["appreg:managed", "appreg:set=Finance"]),
        )
        .await;
        theirs.push(app);
    }
    let prune = manifest(
        dir,
        "finance.yaml",
        "version: 1\nname: finance\nprune: true\napps:\n  budget:\n    displayName: Budget\n",
    );
    let (code, out, err) = run_cli(&sb, dir, &["plan", &prune]).await;
    assert_eq!(code, 0, "{err}");
    assert!(
        !out.contains("app.ledger") && !out.contains("app.payroll"),
        "{out}"
    );
    let (code, _, err) = run_cli(&sb, dir, &["apply", "--auto-approve", &prune]).await;
    assert_eq!(code, 0, "{err}");
    for app in &theirs {
        let (id, _) = app_ids(app);
        let now = raw.get(&format!("/applications/{id}")).await;
        assert_eq!(now["tags"], app["tags"], "untouched");
    }

    // Naming one of them is no adoption either.
    let claim = manifest(
        dir,
        "finance-claim.yaml",
        "version: 1\nname: finance\napps:\n  budget:\n    displayName: Budget\n  ledger:\n    displayName: ledger\n",
    );
    let err = refused_without_writes(&sb, dir, &claim).await;
    assert!(err.contains("managed by set `Finance`"), "{err}");
    sb.shutdown().await;
}

/// Finding 10b: a manifest cannot adopt the identity appreg runs as (which would strip its roles
/// and print a new secret for it), by appId or by its uniqueName.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn appreg_never_manages_its_own_identity() {
    let sb = start(Faults::default(), 0x5eed).await;
    let raw = Raw::new(&sb).await;
    let work = tempfile::tempdir().unwrap();
    let dir = work.path();
    let admin = sb.admin_client_id().to_string();
    let sp = raw.sp(&admin).await;
    let roles_path = format!(
        "/servicePrincipals/{}/appRoleAssignments",
        sp["id"].as_str().unwrap()
    );
    let roles_before = raw.list(&roles_path).await.len();
    assert!(roles_before > 0);

    for (name, entry) in [
        ("by-adopt.yaml", format!("  ci:\n    adopt: {admin}\n")),
        (
            "by-unique-name.yaml",
            "  appreg-sandbox-admin:\n".to_string(),
        ),
    ] {
        let file = manifest(
            dir,
            name,
            &format!(
                "version: 1\nname: c\napps:\n{entry}    displayName: ci\n    permissions:\n      Microsoft Graph:\n        delegated: [User.Read]\n{GRAB_SECRET}"
            ),
        );
        let err = refused_without_writes(&sb, dir, &file).await;
        assert!(err.contains("identity appreg runs as"), "{name}: {err}");
        assert!(err.contains(&admin), "{name}: {err}");
    }
    assert_eq!(raw.list(&roles_path).await.len(), roles_before);
    sb.shutdown().await;
}

/// Finding 10b (prune): appreg's own app, tagged with a set's markers in the tenant, is never
/// pruned by that set.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn prune_never_deletes_appregs_own_app() {
    let sb = start(Faults::default(), 0x5eed).await;
    let raw = Raw::new(&sb).await;
    let work = tempfile::tempdir().unwrap();
    let dir = work.path();
    let admin = raw.app("appreg-sandbox-admin").await;
    let (id, _) = app_ids(&admin);
    raw.write(
        Method::PATCH,
        &format!("/applications/{id}"),
        Some(json!({"tags": ["appreg:managed", "appreg:set=ops"]})),
    )
    .await;
    let prune = manifest(
        dir,
        "ops.yaml",
        "version: 1\nname: ops\nprune: true\napps:\n  tool:\n    displayName: Tool\n",
    );
    let (code, out, err) = run_cli(&sb, dir, &["plan", &prune]).await;
    assert_eq!(code, 0, "{err}");
    assert!(!out.contains("app.appreg-sandbox-admin: delete"), "{out}");
    sb.clear_log();
    let (code, _, err) = run_cli(&sb, dir, &["apply", "--auto-approve", &prune]).await;
    assert_eq!(code, 0, "{err}");
    assert!(
        !writes(&sb).iter().any(|w| w.contains(&id)),
        "{:?}",
        writes(&sb)
    );
    raw.get(&format!("/applications/{id}")).await;
    sb.shutdown().await;
}

/// Ownership hole: `adopt:` names one app while another (made by hand) holds the entry's
/// uniqueName. The plan showed the adopted app, but apply's uniqueName upsert rewrote the other.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn adopt_cannot_redirect_a_write_to_the_app_holding_the_unique_name() {
    let sb = start(Faults::default(), 0x5eed).await;
    let raw = Raw::new(&sb).await;
    let work = tempfile::tempdir().unwrap();
    let dir = work.path();
    let victim = seed_app(&raw, Some("target"), "Target", json!([])).await;
    let decoy = seed_app(&raw, Some("decoy"), "Decoy", json!([])).await;
    let (_, decoy_id) = app_ids(&decoy);
    let file = manifest(
        dir,
        "c.yaml",
        &format!(
            "version: 1\nname: c\napps:\n  target:\n    adopt: {decoy_id}\n    displayName: Decoy\n{GRAB_SECRET}"
        ),
    );
    let err = refused_without_writes(&sb, dir, &file).await;
    assert!(err.contains("uniqueName `target`"), "{err}");
    assert_eq!(raw.app("target").await["tags"], victim["tags"]);
    sb.shutdown().await;
}

/// Ownership hole: `adopt: <appId>` (the form for apps without appreg's tags) naming another
/// set's app does not take it over; the set must be named.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn adopt_by_app_id_alone_cannot_take_another_sets_app() {
    let sb = start(Faults::default(), 0x5eed).await;
    let raw = Raw::new(&sb).await;
    let work = tempfile::tempdir().unwrap();
    let dir = work.path();
    // Another set's app without a uniqueName (made before uniqueNames, say).
    let theirs = seed_app(
        &raw,
        None,
        "Old payments",
        json!(["appreg:managed", "appreg:set=payments"]),
    )
    .await;
    let (id, app_id) = app_ids(&theirs);
    let file = manifest(
        dir,
        "c.yaml",
        &format!(
            "version: 1\nname: c\napps:\n  old-payments:\n    adopt: {app_id}\n    displayName: Old payments\n{GRAB_SECRET}"
        ),
    );
    let err = refused_without_writes(&sb, dir, &file).await;
    assert!(err.contains("fromSet: payments"), "{err}");
    let now = raw.get(&format!("/applications/{id}")).await;
    assert_eq!(now["tags"], theirs["tags"]);
    sb.shutdown().await;
}

/// Ownership hole: `adopt:` naming an appId that does not exist silently created a new app, or,
/// through the uniqueName upsert, rewrote an unmanaged app holding the entry's uniqueName that
/// observation never looked at.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn adopt_of_a_missing_app_does_not_fall_back_to_the_unique_name() {
    let sb = start(Faults::default(), 0x5eed).await;
    let raw = Raw::new(&sb).await;
    let work = tempfile::tempdir().unwrap();
    let dir = work.path();
    let victim = seed_app(&raw, Some("target"), "Target", json!([])).await;
    let missing = uuid::Uuid::new_v4();
    let file = manifest(
        dir,
        "c.yaml",
        &format!(
            "version: 1\nname: c\napps:\n  target:\n    adopt: {missing}\n    displayName: Target\n{GRAB_SECRET}"
        ),
    );
    refused_without_writes(&sb, dir, &file).await;
    assert_eq!(raw.app("target").await["tags"], victim["tags"]);
    sb.shutdown().await;
}

/// Finding 10b, without a configured client id (managed identity, Azure CLI): the engine reads
/// the caller's appId from its own token (`appid`/`azp`) and still refuses to manage that app.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn own_identity_is_read_from_the_token_when_no_client_id_is_configured() {
    let sb = start(Faults::default(), 0x5eed).await;
    let work = tempfile::tempdir().unwrap();
    let admin = sb.admin_client_id().to_string();
    let file = work.path().join("c.yaml");
    std::fs::write(
        &file,
        format!("version: 1\nname: c\napps:\n  ci:\n    adopt: {admin}\n    displayName: ci\n"),
    )
    .unwrap();
    let state = load(&[file]);
    let client = client(&sb);
    let options = appreg::engine::PlanOptions {
        prune: false,
        caller: None,
        ..Default::default()
    };
    let outcome = appreg::engine::plan(
        &client,
        &sinks(&client, &sb),
        &state,
        sb.tenant_id(),
        options,
    )
    .await;
    let error = outcome.expect_err("the plan is refused").to_string();
    assert!(error.contains("identity appreg runs as"), "{error}");
    assert!(error.contains(&admin), "{error}");
    sb.shutdown().await;
}

/// Ownership hole (tags edited in the tenant): an app carrying two sets' tags is neither set's
/// alone, so neither prunes it; its owners must sort it out with `adopt:`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn prune_skips_an_app_claimed_by_two_sets() {
    let sb = start(Faults::default(), 0x5eed).await;
    let raw = Raw::new(&sb).await;
    let work = tempfile::tempdir().unwrap();
    let dir = work.path();
    let shared = seed_app(
        &raw,
        Some("shared"),
        "Shared",
        json!([
            "appreg:managed",
            "appreg:set=finance",
            "appreg:set=payments"
        ]),
    )
    .await;
    let (id, _) = app_ids(&shared);
    for set in ["finance", "payments"] {
        let file = manifest(
            dir,
            &format!("{set}.yaml"),
            &format!(
                "version: 1\nname: {set}\nprune: true\napps:\n  {set}-tool:\n    displayName: Tool\n"
            ),
        );
        let (code, _, err) = run_cli(&sb, dir, &["apply", "--auto-approve", &file]).await;
        assert_eq!(code, 0, "{set}: {err}");
        let now = raw.get(&format!("/applications/{id}")).await;
        assert_eq!(now["tags"], shared["tags"], "{set} left it alone");
    }
    sb.shutdown().await;
}
