//! End to end: the engine and the real binary against the sandbox Graph emulator, one sandbox per
//! test on 127.0.0.1:0.
//!
//! What the tenant holds is always read back with raw HTTP and the sandbox admin's token, never with
//! appreg's own types, so a field-name mistake cannot hide on both sides. Writes are counted from
//! the emulator's request log (batch items included).

use crate::convergence;
use crate::tenant;

use std::path::PathBuf;
use std::time::Duration;

use appreg::emulator::{Faults, RunningSandbox};
use appreg::engine;
use appreg::model::DesiredState;
use convergence::assert_no_duplicates;
use serde_json::{Value, json};
use tenant::*;

// ---------------------------------------------------------------------------------------------
// The example integrations: apply from empty, outputs, no-op plan, zero-write second apply
// ---------------------------------------------------------------------------------------------

/// Applies `paths` to an empty tenant and checks everything that must hold afterwards; returns the
/// number of writes the first apply made.
///
/// `settle` is the sandbox's replication lag: what was written becomes visible to reads after it.
async fn converge_from_empty(
    sb: &RunningSandbox,
    paths: &[PathBuf],
    settle: Duration,
) -> (usize, appreg::emulator::Counters) {
    let client = client(sb);
    let raw = Raw::new(sb).await;
    let state = load(paths);
    sb.clear_log();
    let report = apply(&client, sb, &state, false).await;
    let first_writes = writes(sb).len();
    let first_counters = sb.request_log().counters;
    assert!(first_writes > 0);
    tokio::time::sleep(settle).await;
    assert_no_duplicates(&raw, &state).await;

    // Outputs name what the tenant holds.
    for app in state.apps.values() {
        let ids = report.ids.get(&app.key).expect("ids of every app");
        let live = raw.app(&app.unique_name).await;
        let sp = raw.sp(live["appId"].as_str().unwrap()).await;
        assert_eq!(ids.app_id.as_deref(), live["appId"].as_str(), "{}", app.key);
        assert_eq!(ids.object_id.as_deref(), live["id"].as_str(), "{}", app.key);
        assert_eq!(ids.sp_id.as_deref(), sp["id"].as_str(), "{}", app.key);
        let out = engine::apply::outputs(
            app,
            ids,
            sb.tenant_id(),
            sb.authority_url(),
            "https://graph.microsoft.com",
        )
        .expect("outputs");
        assert_eq!(out.app_id, live["appId"].as_str().unwrap());
        assert_eq!(out.object_id, live["id"].as_str().unwrap());
        assert_eq!(out.service_principal_id.as_deref(), sp["id"].as_str());
        assert_eq!(out.tenant_id, sb.tenant_id());
        assert!(
            out.admin_consent_url
                .as_ref()
                .unwrap()
                .contains(&out.app_id)
        );
        let tags: Vec<&str> = live["tags"]
            .as_array()
            .unwrap()
            .iter()
            .filter_map(Value::as_str)
            .collect();
        assert!(tags.contains(&"appreg:managed"), "{tags:?}");
        assert!(
            tags.contains(&format!("appreg:set={}", state.set_name).as_str()),
            "{tags:?}"
        );
    }

    // Planning again finds nothing to do, and applying again writes nothing.
    let (_, again) = plan(&client, sb, &state, false).await;
    assert_eq!(pending(&again), Vec::<String>::new());
    sb.clear_log();
    apply(&client, sb, &state, false).await;
    assert_eq!(writes(sb), Vec::<String>::new(), "second apply writes");
    (first_writes, first_counters)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_example_converges_from_empty_and_a_second_apply_writes_nothing() {
    for (name, path) in example_sets() {
        let sb = start(Faults::default(), 0x5eed).await;
        let (n, _) = converge_from_empty(&sb, std::slice::from_ref(&path), Duration::ZERO).await;
        eprintln!("{name}: first apply {n} writes, second apply 0");
        sb.shutdown().await;
    }
}

/// Apply sends each phase's writes in windows (`engine::apply`, 800 writes to a window): a run
/// larger than a window still carries out every change exactly once, learns every app's ids, and
/// leaves nothing to do. (Round trips at the envelope floor: benches/engine_scale.rs.)
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_apply_of_several_windows_carries_out_each_change_once() {
    let sb = start(Faults::default(), 0x5eed).await;
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR"))
        .join(format!("apply-windows-{}", uuid::Uuid::new_v4().simple()));
    std::fs::create_dir_all(&dir).unwrap();
    let (paths, _) = crate::manifest_gen::write_manifest(&dir, "windows", 450);
    let state = load(&paths);
    let client = client(&sb);
    let (observed, planned) = plan(&client, &sb, &state, false).await;
    // Changes a kind carries out, one write each (secrets are sequences of several).
    let writes: Vec<(String, engine::kinds::Phase)> = planned
        .steps
        .iter()
        .zip(&planned.plan.changes)
        .filter(|(_, c)| c.action.is_write())
        .filter_map(|(s, c)| {
            Some((
                c.address.to_string(),
                engine::kinds::kind(s.kind()?).phase(),
            ))
        })
        .collect();
    let sub_objects = writes
        .iter()
        .filter(|(_, phase)| *phase == engine::kinds::Phase::SubObject)
        .count();
    assert!(
        sub_objects > 800,
        "{sub_objects} sub-object writes fit one window"
    );
    let report = engine::apply::apply(&client, &sinks(&client, &sb), &state, &observed, &planned)
        .await
        .expect("apply");
    assert!(report.failed.is_empty(), "failed: {:#?}", report.failed);
    let mut done: std::collections::BTreeMap<String, usize> = Default::default();
    for (address, _) in &report.done {
        *done.entry(address.to_string()).or_default() += 1;
    }
    for (address, _) in &writes {
        assert_eq!(done.get(address), Some(&1), "{address}");
    }
    for app in state.apps.values() {
        let ids = &report.ids[&app.key];
        assert!(ids.object_id.is_some() && ids.app_id.is_some() && ids.sp_id.is_some());
    }
    let (_, again) = plan(&client, &sb, &state, false).await;
    assert_eq!(pending(&again), Vec::<String>::new());
    sb.shutdown().await;
}

// ---------------------------------------------------------------------------------------------
// Drift: changes made directly in the tenant are reported by `drift` (exit 2) and undone by apply
// ---------------------------------------------------------------------------------------------

/// Makes four changes behind appreg's back to every app of `state`: renames it, adds a redirect
/// URI, deletes its tenant-wide grant (or, without admin consent, adds one), and gives its service
/// principal an extra Microsoft Graph application permission. Returns the addresses drift must name.
async fn tamper(raw: &Raw, state: &DesiredState) -> Vec<String> {
    let user_read_all = graph_role_id(raw, "User.Read.All").await;
    let graph_sp = raw.resource_sp(GRAPH_APP_ID).await;
    let graph_sp_id = graph_sp["id"].as_str().unwrap().to_string();
    let mut addresses = Vec::new();
    for app in state.apps.values() {
        let live = raw.app(&app.unique_name).await;
        let id = live["id"].as_str().unwrap();
        let sp = raw.sp(live["appId"].as_str().unwrap()).await;
        let sp_id = sp["id"].as_str().unwrap();
        let mut patch = json!({"displayName": "renamed in the portal"});
        let platform = ["web", "publicClient", "spa"]
            .into_iter()
            .find(|p| {
                live[p]["redirectUris"]
                    .as_array()
                    .is_some_and(|u| !u.is_empty())
            })
            .unwrap_or("web");
        let mut uris = live[platform]["redirectUris"]
            .as_array()
            .cloned()
            .unwrap_or_default();
        uris.push(json!("https://added-in-the-portal.example.com/callback"));
        patch[platform] = json!({ "redirectUris": uris });
        raw.write(
            reqwest::Method::PATCH,
            &format!("/applications/{id}"),
            Some(patch),
        )
        .await;
        addresses.push(format!("app.{}", app.key));

        let grants = raw
            .list(&format!(
                "/oauth2PermissionGrants?$filter=clientId eq '{sp_id}'"
            ))
            .await;
        let all_principals = grants.iter().find(|g| g["consentType"] == "AllPrincipals");
        match all_principals {
            Some(grant) => {
                let grant_id = grant["id"].as_str().unwrap();
                raw.write(
                    reqwest::Method::DELETE,
                    &format!("/oauth2PermissionGrants/{grant_id}"),
                    None,
                )
                .await;
                // Any of the app's grants: the address prefix is enough.
                addresses.push(format!("app.{}.grant.", app.key));
            }
            None => {
                raw.write(
                    reqwest::Method::POST,
                    "/oauth2PermissionGrants",
                    Some(json!({
                        "clientId": sp_id,
                        "consentType": "AllPrincipals",
                        "principalId": null,
                        "resourceId": graph_sp_id,
                        "scope": "User.Read",
                    })),
                )
                .await;
                addresses.push(format!("app.{}.grant.Microsoft Graph", app.key));
            }
        }
        raw.write(
            reqwest::Method::POST,
            &format!("/servicePrincipals/{graph_sp_id}/appRoleAssignedTo"),
            Some(json!({"principalId": sp_id, "resourceId": graph_sp_id, "appRoleId": user_read_all})),
        )
        .await;
        addresses.push(format!(
            "app.{}.app_permission.Microsoft Graph.User.Read.All",
            app.key
        ));
    }
    addresses
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn drift_reports_changes_made_in_the_tenant_and_apply_undoes_them() {
    let work = tempfile::tempdir().unwrap();
    for (name, path) in example_sets() {
        let sb = start(Faults::default(), 0x5eed).await;
        let raw = Raw::new(&sb).await;
        let state = load(std::slice::from_ref(&path));
        let (code, _, err) = run_cli(
            &sb,
            work.path(),
            &["apply", "--auto-approve", path_str(&path)],
        )
        .await;
        assert_eq!(code, 0, "{name}: apply from empty: {err}");
        let (code, out, err) = run_cli(&sb, work.path(), &["drift", path_str(&path)]).await;
        assert_eq!(code, 0, "{name}: drift right after apply:\n{out}\n{err}");

        let addresses = tamper(&raw, &state).await;
        let (code, out, err) =
            run_cli(&sb, work.path(), &["drift", "--json", path_str(&path)]).await;
        assert_eq!(code, 2, "{name}: drift after tampering:\n{out}\n{err}");
        let drift: Value = serde_json::from_str(&out).unwrap();
        let changed: Vec<(String, String)> = drift["changes"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|c| c["action"] != "no_op")
            .map(|c| {
                (
                    c["address"].as_str().unwrap().to_string(),
                    c["action"].as_str().unwrap().to_string(),
                )
            })
            .collect();
        for address in &addresses {
            assert!(
                changed.iter().any(|(a, _)| a.starts_with(address.as_str())),
                "{name}: drift does not name {address}: {changed:#?}"
            );
        }
        let (code, out, _) = run_cli(&sb, work.path(), &["drift", path_str(&path)]).await;
        assert_eq!(code, 2);
        assert!(
            out.contains("renamed in the portal"),
            "{name}: human drift:\n{out}"
        );
        assert!(
            out.contains("added-in-the-portal"),
            "{name}: human drift:\n{out}"
        );

        let (code, _, err) = run_cli(
            &sb,
            work.path(),
            &["apply", "--auto-approve", path_str(&path)],
        )
        .await;
        assert_eq!(code, 0, "{name}: apply after tampering: {err}");
        let (code, out, err) = run_cli(&sb, work.path(), &["drift", path_str(&path)]).await;
        assert_eq!(code, 0, "{name}: drift after re-apply:\n{out}\n{err}");
        for app in state.apps.values() {
            let live = raw.app(&app.unique_name).await;
            assert_eq!(live["displayName"], app.display_name.as_str());
            assert!(!live.to_string().contains("added-in-the-portal"));
        }
        sb.clear_log();
        let (code, _, err) = run_cli(
            &sb,
            work.path(),
            &["apply", "--auto-approve", path_str(&path)],
        )
        .await;
        assert_eq!(code, 0, "{err}");
        assert_eq!(
            writes(&sb),
            Vec::<String>::new(),
            "{name}: apply after convergence"
        );
        eprintln!("{name}: drift found {} changes: {changed:?}", changed.len());
        sb.shutdown().await;
    }
}

// ---------------------------------------------------------------------------------------------
// Prune: deletes only apps of the set that left the manifest, never unmanaged apps
// ---------------------------------------------------------------------------------------------

fn two_app_manifest(with_second: bool) -> String {
    let mut yaml = String::from(
        "version: 1\nname: prune-test\napps:\n  keeper:\n    displayName: Keeper\n    web:\n      redirectUris: [https://keeper.example.com/cb]\n    permissions:\n      Microsoft Graph:\n        delegated: [User.Read]\n    adminConsent: true\n",
    );
    if with_second {
        yaml.push_str(
            "  dropped:\n    displayName: Dropped\n    permissions:\n      Microsoft Graph:\n        application: [Mail.Send]\n    adminConsent: true\n    federatedCredentials:\n      - name: deploy\n        issuer: https://token.actions.githubusercontent.com\n        subject: repo:contoso/x:ref:refs/heads/main\n",
        );
    }
    yaml
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn prune_deletes_only_the_dropped_app_and_never_unmanaged_ones() {
    let sb = start(Faults::default(), 0x5eed).await;
    let raw = Raw::new(&sb).await;
    let work = tempfile::tempdir().unwrap();
    let manifest = work.path().join("apps.yaml");

    // Apps appreg must never delete: no tags at all; the set tag without the managed marker; a
    // managed app of another set.
    let mut bystanders = Vec::new();
    for (unique, tags) in [
        ("hand-made", json!([])),
        ("set-tag-only", json!(["appreg:set=prune-test"])),
        ("other-set", json!(["appreg:managed", "appreg:set=other"])),
    ] {
        let app = raw
            .write(
                reqwest::Method::POST,
                "/applications",
                Some(json!({"displayName": unique, "uniqueName": unique, "tags": tags})),
            )
            .await;
        bystanders.push(app["id"].as_str().unwrap().to_string());
    }
    // An unmanaged app with the dropped app's display name, and one without a uniqueName.
    for name in ["Dropped", "Keeper"] {
        let app = raw
            .write(
                reqwest::Method::POST,
                "/applications",
                Some(json!({"displayName": name})),
            )
            .await;
        bystanders.push(app["id"].as_str().unwrap().to_string());
    }

    std::fs::write(&manifest, two_app_manifest(true)).unwrap();
    let (code, _, err) = run_cli(&sb, work.path(), &["apply", "--auto-approve", "apps.yaml"]).await;
    assert_eq!(code, 0, "{err}");
    let keeper = raw.app("keeper").await;
    let dropped = raw.app("dropped").await;
    let dropped_sp = raw.sp(dropped["appId"].as_str().unwrap()).await;

    std::fs::write(&manifest, two_app_manifest(false)).unwrap();
    // Without --prune the dropped app is left alone (and not even planned).
    let (code, out, err) = run_cli(
        &sb,
        work.path(),
        &["plan", "--detailed-exitcode", "apps.yaml"],
    )
    .await;
    assert_eq!(code, 0, "{out}\n{err}");
    sb.clear_log();
    let (code, _, err) = run_cli(&sb, work.path(), &["apply", "--auto-approve", "apps.yaml"]).await;
    assert_eq!(code, 0, "{err}");
    assert_eq!(writes(&sb), Vec::<String>::new());
    raw.app("dropped").await;

    // With --prune it is planned for deletion, and drift reports it.
    let (code, out, _) = run_cli(&sb, work.path(), &["plan", "--prune", "apps.yaml"]).await;
    assert_eq!(code, 0);
    assert!(out.contains("app.dropped"), "{out}");
    let (code, out, _) = run_cli(&sb, work.path(), &["drift", "apps.yaml"]).await;
    assert_eq!(code, 2, "{out}");
    sb.clear_log();
    let (code, _, err) = run_cli(
        &sb,
        work.path(),
        &["apply", "--auto-approve", "--prune", "apps.yaml"],
    )
    .await;
    assert_eq!(code, 0, "{err}");
    let deleted: Vec<String> = writes(&sb)
        .into_iter()
        .filter(|w| w.starts_with("DELETE"))
        .collect();
    assert_eq!(
        deleted,
        vec![format!(
            "DELETE /applications/{} -> 204",
            dropped["id"].as_str().unwrap()
        )],
        "prune deletes the dropped app and nothing else"
    );
    let (status, _) = raw
        .call(
            reqwest::Method::GET,
            "/applications(uniqueName='dropped')",
            None,
        )
        .await;
    assert_eq!(status, 404);
    let (status, _) = raw
        .call(
            reqwest::Method::GET,
            &format!("/servicePrincipals/{}", dropped_sp["id"].as_str().unwrap()),
            None,
        )
        .await;
    assert_eq!(status, 404, "its service principal goes with it");
    assert_eq!(raw.app("keeper").await["id"], keeper["id"]);
    for id in &bystanders {
        raw.get(&format!("/applications/{id}")).await;
    }
    // Converged: nothing more to prune, nothing to write.
    let (code, out, err) = run_cli(&sb, work.path(), &["drift", "apps.yaml"]).await;
    assert_eq!(code, 0, "{out}\n{err}");
    sb.shutdown().await;
}

/// `lifecycle.ignore: [tags]` leaves other tools' tags alone but still writes appreg's ownership
/// tags: without them the next plan would find an app that is not the set's own and refuse it.
/// Listing the identity appreg runs as among the owners converges (it is an owner already).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ignored_tags_keep_the_ownership_markers_and_the_caller_may_be_a_listed_owner() {
    let sb = start(Faults::default(), 0x5eed).await;
    let raw = Raw::new(&sb).await;
    let work = tempfile::tempdir().unwrap();
    let admin = sb.admin_client_id().to_string();
    std::fs::write(
        work.path().join("apps.yaml"),
        format!(
            "version: 1\nname: ignore-test\napps:\n  tagged-elsewhere:\n    displayName: Tagged elsewhere\n    owners:\n      - servicePrincipal: {admin}\n    lifecycle:\n      ignore: [tags]\n"
        ),
    )
    .unwrap();
    let (code, _, err) = run_cli(&sb, work.path(), &["apply", "--auto-approve", "apps.yaml"]).await;
    assert_eq!(code, 0, "{err}");
    let app = raw.app("tagged-elsewhere").await;
    let id = app["id"].as_str().unwrap().to_string();
    // Another tool adds its tag; appreg keeps it and its own.
    let mut tags = app["tags"].as_array().unwrap().clone();
    assert!(tags.contains(&json!("appreg:set=ignore-test")), "{tags:?}");
    tags.push(json!("cost-center:42"));
    raw.write(
        reqwest::Method::PATCH,
        &format!("/applications/{id}"),
        Some(json!({"tags": tags})),
    )
    .await;
    let (code, out, err) = run_cli(
        &sb,
        work.path(),
        &["plan", "--detailed-exitcode", "apps.yaml"],
    )
    .await;
    assert_eq!(code, 0, "{out}\n{err}");
    sb.shutdown().await;
}

/// The owners of an app's enterprise application as the tenant holds them: UPNs of users and the
/// appIds of service principals, sorted.
async fn sp_owners(raw: &Raw, unique_name: &str) -> Vec<String> {
    let app = raw.app(unique_name).await;
    let sp = raw.sp(app["appId"].as_str().unwrap()).await;
    let mut owners: Vec<String> = raw
        .list(&format!(
            "/servicePrincipals/{}/owners",
            sp["id"].as_str().unwrap()
        ))
        .await
        .iter()
        .map(|o| {
            o["userPrincipalName"]
                .as_str()
                .or_else(|| o["appId"].as_str())
                .unwrap_or_default()
                .to_string()
        })
        .collect();
    owners.sort();
    owners
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn service_principal_owners_are_added_replaced_and_drift_is_reported() {
    let sb = start(Faults::default(), 0x0e5).await;
    let raw = Raw::new(&sb).await;
    let work = tempfile::tempdir().unwrap();
    let admin = sb.admin_client_id().to_string();
    let manifest = |owners: &[&str]| {
        let mut text = String::from(
            "version: 1\nname: sp-owners\napps:\n  portal:\n    displayName: Portal\n    servicePrincipal:\n      owners:\n",
        );
        for upn in owners {
            text.push_str(&format!("        - user: {upn}\n"));
        }
        std::fs::write(work.path().join("apps.yaml"), text).unwrap();
    };
    manifest(&["adele.vance@contoso.com"]);
    let (code, _, err) = run_cli(&sb, work.path(), &["apply", "--auto-approve", "apps.yaml"]).await;
    assert_eq!(code, 0, "{err}");
    // The identity appreg runs as became an owner when it created the service principal; it stays.
    assert_eq!(
        sp_owners(&raw, "portal").await,
        vec![admin.clone(), "adele.vance@contoso.com".to_string()]
    );
    let (code, out, err) = run_cli(
        &sb,
        work.path(),
        &["plan", "--detailed-exitcode", "apps.yaml"],
    )
    .await;
    assert_eq!(code, 0, "a second plan has nothing to do:\n{out}\n{err}");

    // Another owner in the manifest: the old one goes, the new one comes, in one apply.
    manifest(&["megan.bowen@contoso.com"]);
    let (code, _, err) = run_cli(&sb, work.path(), &["apply", "--auto-approve", "apps.yaml"]).await;
    assert_eq!(code, 0, "{err}");
    assert_eq!(
        sp_owners(&raw, "portal").await,
        vec![admin.clone(), "megan.bowen@contoso.com".to_string()]
    );

    // An owner added by hand is drift: the plan names it for removal.
    let app = raw.app("portal").await;
    let sp = raw.sp(app["appId"].as_str().unwrap()).await;
    let conor = raw.user_id("conor.obrien@contoso.com").await;
    raw.write(
        reqwest::Method::POST,
        &format!("/servicePrincipals/{}/owners/$ref", sp["id"].as_str().unwrap()),
        Some(json!({"@odata.id": format!("https://graph.microsoft.com/v1.0/directoryObjects/{conor}")})),
    )
    .await;
    let (code, out, err) = run_cli(
        &sb,
        work.path(),
        &["plan", "--detailed-exitcode", "apps.yaml"],
    )
    .await;
    assert_eq!(code, 2, "{out}\n{err}");
    assert!(
        out.contains("app.portal.service_principal.owner.conor.obrien@contoso.com"),
        "{out}"
    );

    // An owner the tenant does not have stops the plan, written as the manifest writes it.
    manifest(&["nobody@contoso.com"]);
    let (code, out, err) = run_cli(&sb, work.path(), &["plan", "apps.yaml"]).await;
    assert_eq!(code, 1, "{out}\n{err}");
    assert!(
        err.contains("owner `user: nobody@contoso.com` does not exist in the tenant"),
        "{err}"
    );
    sb.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_apply_summary_counts_a_replaced_certificate_as_replaced() {
    let sb = start(Faults::default(), 0x7e9).await;
    let work = tempfile::tempdir().unwrap();
    let certs = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/certs");
    std::fs::copy(certs.join("first.pem"), work.path().join("signing.pem")).unwrap();
    std::fs::write(
        work.path().join("apps.yaml"),
        "version: 1\nname: replace\napps:\n  signer:\n    displayName: Signer\n    certificates:\n      - name: signing\n        file: signing.pem\n",
    )
    .unwrap();
    let (code, _, err) = run_cli(&sb, work.path(), &["apply", "--auto-approve", "apps.yaml"]).await;
    assert_eq!(code, 0, "{err}");
    // A renewed certificate file is a replacement; the summary says so rather than hiding it.
    std::fs::copy(certs.join("second.pem"), work.path().join("signing.pem")).unwrap();
    let (code, _, err) = run_cli(&sb, work.path(), &["apply", "--auto-approve", "apps.yaml"]).await;
    assert_eq!(code, 0, "{err}");
    assert!(
        err.contains("Apply complete: 0 created, 0 updated, 0 deleted, 1 replaced."),
        "{err}"
    );
    // The JSON report counts it the same way: a replacement, not an update.
    std::fs::copy(certs.join("first.pem"), work.path().join("signing.pem")).unwrap();
    let (code, out, err) = run_cli(
        &sb,
        work.path(),
        &["apply", "--auto-approve", "--json", "apps.yaml"],
    )
    .await;
    assert_eq!(code, 0, "{err}");
    let report: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(report["summary"]["replaced"], 1, "{out}");
    assert_eq!(report["summary"]["updated"], 0, "{out}");
    sb.shutdown().await;
}

// ---------------------------------------------------------------------------------------------
// The same under replication lag and throttling
// ---------------------------------------------------------------------------------------------

const LAG: Duration = Duration::from_millis(300);

fn flaky() -> Faults {
    Faults {
        replication_lag: LAG,
        throttle_probability: 0.1,
        retry_after: Duration::from_millis(50),
        ..Faults::default()
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_example_converges_under_replication_lag_and_throttling() {
    for seed in [1_u64, 2] {
        for (name, path) in example_sets() {
            let sb = start(flaky(), seed).await;
            let (n, first) = converge_from_empty(
                &sb,
                std::slice::from_ref(&path),
                LAG + Duration::from_millis(100),
            )
            .await;
            eprintln!(
                "faults seed {seed} {name}: first apply {n} write requests (retries included), {} Graph requests, {} throttled, by status {:?}; second apply 0 writes",
                first.graph_requests, first.throttled, first.by_status
            );
            sb.shutdown().await;
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Snapshots of the plans users read (human, JSON, Markdown) against an empty sandbox
// ---------------------------------------------------------------------------------------------

fn snapshot_filters() -> Vec<(&'static str, &'static str)> {
    vec![
        (
            r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}",
            "[uuid]",
        ),
        (r"\b[0-9a-f]{64}\b", "[digest]"),
        (
            r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?(Z|[+-]\d{2}:\d{2})",
            "[timestamp]",
        ),
        // A new secret expires `lifetime` after today: the date moves with the calendar.
        (r"\b\d{4}-\d{2}-\d{2}\b", "[date]"),
        (r"127\.0\.0\.1:\d+", "127.0.0.1:[port]"),
    ]
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn plans_of_the_examples_against_an_empty_tenant() {
    let sets = example_sets();
    let root = sets[3].1.parent().unwrap().to_path_buf();
    let sb = start(Faults::default(), 0x5eed).await;
    for (name, path) in sets {
        let relative = path
            .strip_prefix(&root)
            .unwrap()
            .to_str()
            .unwrap()
            .to_string();
        for (view, flag) in [
            ("human", None),
            ("json", Some("--json")),
            ("markdown", Some("--markdown")),
        ] {
            let mut args = vec!["plan"];
            args.extend(flag);
            args.push(&relative);
            let (code, out, err) = run_cli(&sb, &root, &args).await;
            assert_eq!(code, 0, "{err}");
            assert!(!out.contains(sb.admin_client_secret()));
            insta::with_settings!({ filters => snapshot_filters() }, {
                insta::assert_snapshot!(format!("plan_{view}__{name}"), out);
            });
        }
    }
    assert_eq!(writes(&sb), Vec::<String>::new(), "plan never writes");
    sb.shutdown().await;
}

// ---------------------------------------------------------------------------------------------
// The JSON plan contract: read back with independent types, validated against the schema
// ---------------------------------------------------------------------------------------------

/// The plan format as a consumer would write it from schemas/plan.schema.json, not from appreg's
/// types: an unknown or missing field fails the test.
mod contract {
    use serde::Deserialize;
    use serde_json::Value;

    #[derive(Debug, Deserialize)]
    #[serde(deny_unknown_fields, rename_all = "camelCase")]
    pub struct Plan {
        pub format_version: u32,
        pub set_name: String,
        pub tenant_id: String,
        pub manifest_digest: String,
        pub created_at: chrono::DateTime<chrono::Utc>,
        pub prune: bool,
        pub manifest_paths: Vec<String>,
        pub changes: Vec<Change>,
    }

    #[derive(Debug, Deserialize)]
    #[serde(deny_unknown_fields, rename_all = "camelCase")]
    pub struct Change {
        pub address: String,
        pub resource: Resource,
        pub action: Action,
        pub reason: String,
        #[serde(default)]
        pub fields: Vec<Field>,
        pub live_digest: Option<String>,
    }

    #[derive(Debug, Deserialize)]
    #[serde(deny_unknown_fields)]
    pub struct Field {
        pub field: String,
        pub before: Option<Value>,
        pub after: Option<Value>,
    }

    #[derive(Debug, Deserialize, PartialEq, Eq, Clone, Copy)]
    #[serde(rename_all = "snake_case")]
    pub enum Action {
        NoOp,
        Create,
        Update,
        Delete,
        Replace,
        Rotate,
    }

    #[derive(Debug, Deserialize, PartialEq, Eq, Clone, Copy)]
    #[serde(rename_all = "snake_case")]
    pub enum Resource {
        Application,
        ServicePrincipal,
        Owner,
        DelegatedGrant,
        ApplicationPermission,
        Assignment,
        FederatedCredential,
        Secret,
        Certificate,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn plan_json_reads_back_with_independent_types_and_matches_the_schema() {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    let schema: Value = serde_json::from_str(
        &std::fs::read_to_string(root.join("schemas/plan.schema.json")).unwrap(),
    )
    .unwrap();
    let validator = jsonschema::validator_for(&schema).unwrap();
    let sb = start(Faults::default(), 0x5eed).await;
    let examples = examples();
    let dir = path_str(&examples);
    // From empty (creates), then converged (no-ops), then drifted (updates, creates, deletes).
    let mut seen_actions = Vec::new();
    for stage in 0..3 {
        match stage {
            1 => {
                let (code, _, err) = run_cli(&sb, &root, &["apply", "--auto-approve", dir]).await;
                assert_eq!(code, 0, "{err}");
            }
            2 => {
                tamper(&Raw::new(&sb).await, &load(std::slice::from_ref(&examples))).await;
            }
            _ => {}
        }
        let (code, out, err) = run_cli(&sb, &root, &["plan", "--json", dir]).await;
        assert_eq!(code, 0, "{err}");
        let value: Value = serde_json::from_str(&out).unwrap();
        let problems: Vec<String> = validator
            .iter_errors(&value)
            .map(|e| format!("{} at {}", e, e.instance_path()))
            .collect();
        assert!(problems.is_empty(), "stage {stage}: {problems:#?}");
        let plan: contract::Plan = serde_json::from_str(&out)
            .unwrap_or_else(|e| panic!("stage {stage}: the plan does not read back: {e}\n{out}"));
        assert_eq!(plan.format_version, 2);
        assert_eq!(plan.set_name, "integrations");
        assert_eq!(plan.tenant_id, sb.tenant_id());
        assert_eq!(plan.manifest_digest.len(), 64);
        assert!(!plan.prune);
        assert_eq!(plan.manifest_paths, vec![dir.to_string()]);
        assert!(plan.created_at <= chrono::Utc::now());
        for change in &plan.changes {
            assert!(change.address.starts_with("app."), "{change:?}");
            assert!(!change.reason.is_empty());
            match change.action {
                contract::Action::NoOp | contract::Action::Delete => {
                    assert!(change.fields.is_empty(), "{change:?}")
                }
                contract::Action::Create => assert!(change.live_digest.is_none()),
                contract::Action::Update => {
                    assert!(change.live_digest.is_some());
                    assert!(!change.fields.is_empty());
                    for f in &change.fields {
                        assert!(!f.field.is_empty() && f.before != f.after, "{f:?}");
                    }
                }
                _ => {}
            }
            seen_actions.push((stage, change.action, change.resource));
        }
        assert!(!out.contains(sb.admin_client_secret()));
    }
    let stage_has = |stage, action| {
        seen_actions
            .iter()
            .any(|(s, a, _)| *s == stage && *a == action)
    };
    assert!(stage_has(0, contract::Action::Create));
    assert!(
        seen_actions
            .iter()
            .filter(|(s, _, _)| *s == 1)
            .all(|(_, a, _)| *a == contract::Action::NoOp)
    );
    assert!(stage_has(2, contract::Action::Update) && stage_has(2, contract::Action::Delete));
    sb.shutdown().await;
}

// ---------------------------------------------------------------------------------------------
// Saved plans: `plan --out FILE` then `apply FILE` applies exactly it, or refuses when stale
// ---------------------------------------------------------------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_saved_plan_applies_exactly_and_refuses_when_the_tenant_moved() {
    let sb = start(Faults::default(), 0x5eed).await;
    let raw = Raw::new(&sb).await;
    let work = tempfile::tempdir().unwrap();
    let examples = examples();
    let dir = path_str(&examples);

    // From empty: the saved plan is applied as it is, and nothing is left to do.
    let (code, _, err) = run_cli(&sb, work.path(), &["plan", "--out", "plan.json", dir]).await;
    assert_eq!(code, 0, "{err}");
    let saved: Value =
        serde_json::from_str(&std::fs::read_to_string(work.path().join("plan.json")).unwrap())
            .unwrap();
    let planned_writes = saved["changes"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|c| c["action"] != "no_op")
        .count();
    assert!(planned_writes > 0);
    sb.clear_log();
    let (code, _, err) = run_cli(&sb, work.path(), &["apply", "plan.json", "--auto-approve"]).await;
    assert_eq!(code, 0, "{err}");
    assert_eq!(
        writes(&sb).len(),
        planned_writes,
        "one write per planned change: {:#?}",
        writes(&sb)
    );
    assert!(
        err.contains(&format!("Apply complete: {planned_writes} created")),
        "{err}"
    );
    let (code, out, _) = run_cli(&sb, work.path(), &["drift", dir]).await;
    assert_eq!(code, 0, "{out}");

    // Drift, saved as a plan; then the tenant moves again on an object that plan touches.
    let live = raw.app("crm-calendar-sync").await;
    let id = live["id"].as_str().unwrap().to_string();
    raw.write(
        reqwest::Method::PATCH,
        &format!("/applications/{id}"),
        Some(json!({"displayName": "first edit"})),
    )
    .await;
    let (code, _, err) = run_cli(&sb, work.path(), &["plan", "--out", "fix.json", dir]).await;
    assert_eq!(code, 0, "{err}");
    raw.write(
        reqwest::Method::PATCH,
        &format!("/applications/{id}"),
        Some(json!({"notes": "second edit"})),
    )
    .await;
    sb.clear_log();
    let (code, _, err) = run_cli(&sb, work.path(), &["apply", "fix.json", "--auto-approve"]).await;
    assert_eq!(code, 1, "{err}");
    assert!(err.contains("plan is stale"), "{err}");
    assert!(err.contains("app.crm-calendar-sync"), "{err}");
    assert_eq!(
        writes(&sb),
        Vec::<String>::new(),
        "a stale plan writes nothing"
    );

    // A plan made from empty is stale once the object it would create exists.
    let sb2 = start(Faults::default(), 0x5eed).await;
    let raw2 = Raw::new(&sb2).await;
    let (code, _, err) = run_cli(&sb2, work.path(), &["plan", "--out", "empty.json", dir]).await;
    assert_eq!(code, 0, "{err}");
    raw2.write(
        reqwest::Method::POST,
        "/applications",
        Some(json!({"displayName": "made by hand", "uniqueName": "erp-contacts-sync", "tags": ["appreg:managed", "appreg:set=integrations"]})),
    )
    .await;
    sb2.clear_log();
    let (code, _, err) = run_cli(
        &sb2,
        work.path(),
        &["apply", "empty.json", "--auto-approve"],
    )
    .await;
    assert_eq!(code, 1, "{err}");
    assert!(err.contains("plan is stale"), "{err}");
    assert_eq!(writes(&sb2), Vec::<String>::new());

    // The manifest changing also makes a saved plan stale.
    let copy = work.path().join("copy");
    std::fs::create_dir(&copy).unwrap();
    for file in [
        "crm-calendar-sync.yaml",
        "erp-contacts-sync.yaml",
        "odoo-outlook-mail.yaml",
    ] {
        std::fs::copy(examples.join(file), copy.join(file)).unwrap();
    }
    let (code, _, err) = run_cli(&sb, work.path(), &["plan", "--out", "copy.json", "copy"]).await;
    assert_eq!(code, 0, "{err}");
    let text = std::fs::read_to_string(copy.join("erp-contacts-sync.yaml")).unwrap();
    std::fs::write(
        copy.join("erp-contacts-sync.yaml"),
        text.replace("ERP contacts sync", "ERP contacts"),
    )
    .unwrap();
    sb.clear_log();
    let (code, _, err) = run_cli(&sb, work.path(), &["apply", "copy.json", "--auto-approve"]).await;
    assert_eq!(code, 1, "{err}");
    assert!(
        err.contains("plan is stale") && err.contains("manifest changed"),
        "{err}"
    );
    assert_eq!(writes(&sb), Vec::<String>::new());
    sb.shutdown().await;
    sb2.shutdown().await;
}

// ---------------------------------------------------------------------------------------------
// Confirmation: without a terminal and without --auto-approve, apply refuses and writes nothing
// ---------------------------------------------------------------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn apply_without_a_terminal_or_auto_approve_refuses() {
    let sb = start(Faults::default(), 0x5eed).await;
    let work = tempfile::tempdir().unwrap();
    let examples = examples();
    sb.clear_log();
    let (code, out, err) = run_cli(&sb, work.path(), &["apply", path_str(&examples)]).await;
    assert_eq!(code, 1, "{out}\n{err}");
    assert!(err.contains("--auto-approve"), "{err}");
    assert_eq!(writes(&sb), Vec::<String>::new());
    assert!(
        Raw::new(&sb)
            .await
            .apps()
            .await
            .iter()
            .all(|a| a["uniqueName"] != "crm-calendar-sync")
    );
    sb.shutdown().await;
}

// ---------------------------------------------------------------------------------------------
// Property: for random manifests and random starting tenants, apply converges: the plan after it
// is all no-op and a second apply makes zero writes
// ---------------------------------------------------------------------------------------------

mod props {
    use std::collections::{BTreeMap, BTreeSet};

    use appreg::model::*;
    use proptest::collection::{btree_set, vec};
    use proptest::prelude::*;
    use proptest::sample::select;
    use serde_json::json;
    use uuid::Uuid;

    use super::*;

    pub const SET: &str = "props";

    /// What the tenant already holds for one app before the first apply.
    #[derive(Debug, Clone)]
    pub struct Preexisting {
        pub extra_redirect: bool,
        pub stale_enabled_role: bool,
        pub service_principal: bool,
        pub extra_grant: bool,
        pub extra_app_permission: bool,
        pub extra_user_assignment: bool,
    }

    fn preexisting() -> impl Strategy<Value = Preexisting> {
        any::<[bool; 6]>().prop_map(|b| Preexisting {
            extra_redirect: b[0],
            stale_enabled_role: b[1],
            service_principal: b[2],
            extra_grant: b[3],
            extra_app_permission: b[4],
            extra_user_assignment: b[5],
        })
    }

    fn permissions() -> impl Strategy<Value = BTreeMap<String, RequestedPermissions>> {
        let graph = (
            btree_set(
                select(vec![
                    "User.Read",
                    "Mail.Send",
                    "Calendars.ReadWrite",
                    "offline_access",
                ]),
                0..4,
            ),
            btree_set(select(vec!["User.Read.All", "Mail.Send"]), 0..3),
        );
        let exchange = (
            // Supported Exchange Online permissions only: EWS and the Outlook REST API are retiring
            // or retired, and validation refuses them once their dates pass.
            btree_set(select(vec!["IMAP.AccessAsUser.All", "SMTP.Send"]), 0..3),
            btree_set(select(vec!["IMAP.AccessAsApp", "SMTP.SendAsApp"]), 0..3),
        );
        (proptest::option::of(graph), proptest::option::of(exchange)).prop_map(|(g, x)| {
            let mut map = BTreeMap::new();
            let to = |(d, a): (BTreeSet<&str>, BTreeSet<&str>)| RequestedPermissions {
                delegated: d.into_iter().map(str::to_string).collect(),
                application: a.into_iter().map(str::to_string).collect(),
            };
            if let Some(g) = g {
                map.insert("Microsoft Graph".to_string(), to(g));
            }
            if let Some(x) = x {
                map.insert("Office 365 Exchange Online".to_string(), to(x));
            }
            map.retain(|_, p| !(p.delegated.is_empty() && p.application.is_empty()));
            map
        })
    }

    fn app(key: String) -> impl Strategy<Value = (DesiredApp, Option<Preexisting>)> {
        let principals = btree_set(
            prop_oneof![
                select(vec![
                    "adele.vance@contoso.com",
                    "alex.wilber@contoso.com",
                    "megan.bowen@contoso.com",
                    "mail-sender@contoso.com"
                ])
                .prop_map(|u| Principal::User(u.to_string())),
                select(vec!["Odoo mail senders", "All staff", "IT admins"])
                    .prop_map(|g| Principal::Group(g.to_string())),
            ],
            0..3,
        );
        (
            (
                select(vec![
                    SignInAudience::MyOrganization,
                    SignInAudience::MultipleOrganizations,
                    SignInAudience::OrganizationsAndPersonalAccounts,
                ]),
                "[A-Z][a-z]{2,10}( [a-z]{2,8})?",
                btree_set("[a-z][a-z0-9-]{0,8}", 0..3),
                btree_set("https://[a-z]{1,8}\\.example\\.com/[a-z]{0,6}", 0..3),
                proptest::option::of(Just(
                    "https://login.microsoftonline.com/common/oauth2/nativeclient".to_string(),
                )),
                btree_set(
                    select(vec!["adele.vance@contoso.com", "megan.bowen@contoso.com"]),
                    0..3,
                ),
            ),
            (
                permissions(),
                any::<bool>(),
                vec(
                    (
                        "[a-z][a-z0-9-]{0,8}",
                        "repo:[a-z]{1,6}/[a-z]{1,6}:ref:refs/heads/main",
                    ),
                    0..3,
                ),
                principals,
                (any::<bool>(), any::<bool>(), any::<bool>()),
                proptest::option::of(preexisting()),
            ),
        )
            .prop_map(move |(basics, extras)| {
                let (audience, display_name, tags, web_uris, native, owners) = basics;
                let (permissions, admin_consent, federated, principals, flags, pre) = extras;
                let personal = audience.allows_personal_accounts();
                let app_roles = if personal || !flags.0 {
                    Vec::new()
                } else {
                    vec![AppRole {
                        id: appreg::manifest::derived_id(&key, "role", "Reports.Read"),
                        value: "Reports.Read".into(),
                        display_name: "Report readers".into(),
                        description: "Can read reports".into(),
                        allowed_member_types: [AppRoleMemberType::User].into(),
                        enabled: true,
                    }]
                };
                let mut subjects = BTreeSet::new();
                let federated_credentials = federated
                    .into_iter()
                    .collect::<BTreeMap<_, _>>()
                    .into_iter()
                    .filter(|(_, subject)| subjects.insert(subject.clone()))
                    .map(|(name, subject)| FederatedCredentialSpec {
                        name,
                        issuer: "https://token.actions.githubusercontent.com".into(),
                        subject,
                        audiences: [DEFAULT_FEDERATED_AUDIENCE.to_string()].into(),
                        description: None,
                    })
                    .collect();
                let role = app_roles.first().map(|r: &AppRole| r.value.clone());
                let assignments = principals
                    .into_iter()
                    .enumerate()
                    .map(|(i, principal)| AssignmentSpec {
                        principal,
                        role: if i % 2 == 1 { role.clone() } else { None },
                    })
                    .collect();
                let app = DesiredApp {
                    key: key.clone(),
                    unique_name: key.clone(),
                    adopt: None,
                    display_name,
                    description: None,
                    notes: None,
                    sign_in_audience: audience,
                    tags,
                    owners: owners
                        .into_iter()
                        .map(|u| OwnerRef::User(u.to_string()))
                        .collect(),
                    identifier_uris: BTreeSet::new(),
                    web: WebPlatform {
                        redirect_uris: web_uris,
                        home_page_url: None,
                        logout_url: None,
                        issue_access_tokens: false,
                        issue_id_tokens: flags.1,
                    },
                    spa_redirect_uris: BTreeSet::new(),
                    public_client_redirect_uris: native.into_iter().collect(),
                    fallback_public_client: None,
                    api: ExposedApi {
                        requested_access_token_version: personal.then_some(2),
                        scopes: Vec::new(),
                        pre_authorized_applications: Vec::new(),
                    },
                    app_roles,
                    optional_claims: OptionalClaims::default(),
                    group_membership_claims: None,
                    info: InfoUrls::default(),
                    permissions,
                    admin_consent: admin_consent.into(),
                    service_principal: ServicePrincipalSettings {
                        managed: true,
                        account_enabled: true,
                        assignment_required: flags.2,
                        visible_to_users: true,
                        notification_emails: BTreeSet::new(),
                        assignments,
                        owners: BTreeSet::new(),
                    },
                    secrets: Vec::new(),
                    certificates: Vec::new(),
                    federated_credentials,
                    lifecycle: Lifecycle::default(),
                };
                (app, pre)
            })
    }

    pub fn case() -> impl Strategy<Value = (DesiredState, BTreeMap<String, Preexisting>)> {
        btree_set("[a-z][a-z0-9]{1,8}", 1..4).prop_flat_map(|keys| {
            let apps: Vec<_> = keys.into_iter().map(app).collect();
            apps.prop_map(|apps| {
                let mut pre = BTreeMap::new();
                let mut state = DesiredState {
                    set_name: SET.into(),
                    tenant: None,
                    prune: false,
                    apps: BTreeMap::new(),
                };
                for (app, p) in apps {
                    if let Some(p) = p {
                        pre.insert(app.key.clone(), p);
                    }
                    state.apps.insert(app.key.clone(), app);
                }
                (state, pre)
            })
        })
    }

    /// Creates what `pre` says for each app, by hand, differing from the manifest.
    pub async fn seed_tenant(raw: &Raw, state: &DesiredState, pre: &BTreeMap<String, Preexisting>) {
        let graph_sp = raw.resource_sp(GRAPH_APP_ID).await["id"]
            .as_str()
            .unwrap()
            .to_string();
        let group_read_all = graph_role_id(raw, "Group.Read.All").await;
        for (key, p) in pre {
            let desired = &state.apps[key];
            let mut body = json!({
                "displayName": "made by hand",
                "uniqueName": desired.unique_name,
                "tags": ["appreg:managed", format!("appreg:set={SET}"), "hand-made"],
            });
            if p.extra_redirect {
                body["web"] = json!({"redirectUris": ["https://extra.example.com/cb"]});
            }
            if p.stale_enabled_role && !desired.sign_in_audience.allows_personal_accounts() {
                body["appRoles"] = json!([{
                    "id": Uuid::new_v4(), "value": "Stale.Role", "displayName": "Stale",
                    "description": "Not in the manifest", "isEnabled": true, "allowedMemberTypes": ["User"],
                }]);
            }
            let app = raw
                .write(reqwest::Method::POST, "/applications", Some(body))
                .await;
            if !p.service_principal {
                continue;
            }
            let sp = raw
                .write(
                    reqwest::Method::POST,
                    "/servicePrincipals",
                    Some(json!({"appId": app["appId"]})),
                )
                .await;
            let sp_id = sp["id"].as_str().unwrap().to_string();
            if p.extra_grant {
                raw.write(
                    reqwest::Method::POST,
                    "/oauth2PermissionGrants",
                    Some(json!({"clientId": sp_id, "consentType": "AllPrincipals", "principalId": null,
                                "resourceId": graph_sp, "scope": "Mail.Read User.Read"})),
                )
                .await;
            }
            if p.extra_app_permission {
                raw.write(
                    reqwest::Method::POST,
                    &format!("/servicePrincipals/{graph_sp}/appRoleAssignedTo"),
                    Some(json!({"principalId": sp_id, "resourceId": graph_sp, "appRoleId": group_read_all})),
                )
                .await;
            }
            if p.extra_user_assignment {
                let megan = raw.user_id("megan.bowen@contoso.com").await;
                raw.write(
                    reqwest::Method::POST,
                    &format!("/servicePrincipals/{sp_id}/appRoleAssignedTo"),
                    Some(json!({"principalId": megan, "resourceId": sp_id,
                                "appRoleId": "00000000-0000-0000-0000-000000000000"})),
                )
                .await;
            }
        }
    }
}

proptest::proptest! {
    #![proptest_config(proptest::prelude::ProptestConfig {
        cases: 14,
        failure_persistence: None,
        ..proptest::prelude::ProptestConfig::default()
    })]

    #[test]
    fn random_manifests_on_random_tenants_converge_in_one_apply((state, pre) in props::case()) {
        let dir = tempfile::tempdir().unwrap();
        let yaml = serde_saphyr::to_string(&appreg::manifest::to_wire(&state)).unwrap();
        let path = dir.path().join("manifest.yaml");
        std::fs::write(&path, &yaml).unwrap();
        // Through the loader, so the manifest is one a user could write.
        let state = load(&[path]);
        let runtime = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
        runtime.block_on(async {
            let sb = start(Faults::default(), 0x5eed).await;
            let raw = Raw::new(&sb).await;
            props::seed_tenant(&raw, &state, &pre).await;
            let client = client(&sb);
            apply(&client, &sb, &state, false).await;
            let (_, after) = plan(&client, &sb, &state, false).await;
            assert_eq!(pending(&after), Vec::<String>::new(), "plan after apply\n{yaml}\n{pre:#?}");
            assert_no_duplicates(&raw, &state).await;
            sb.clear_log();
            apply(&client, &sb, &state, false).await;
            assert_eq!(writes(&sb), Vec::<String>::new(), "second apply\n{yaml}\n{pre:#?}");
            sb.shutdown().await;
        });
    }
}

/// A run that resumes after a crash inside the replication window: observation cannot see the app
/// the crashed run created, the upsert answers 204 without a body, and apply must learn the ids
/// by reading (retrying until the object is visible) instead of failing or duplicating the app.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ids_are_learnt_after_an_upsert_answers_204_for_an_app_still_invisible() {
    let sb = start(
        Faults {
            replication_lag: Duration::from_millis(400),
            ..Faults::default()
        },
        0x5eed,
    )
    .await;
    let raw = Raw::new(&sb).await;
    let path = examples().join("odoo-outlook-mail.yaml");
    let state = load(std::slice::from_ref(&path));
    raw.write(
        reqwest::Method::POST,
        "/applications",
        Some(json!({"displayName": "Odoo", "uniqueName": "odoo-outlook",
                    "tags": ["appreg:managed", "appreg:set=integrations"]})),
    )
    .await;
    let client = client(&sb);
    let report = apply(&client, &sb, &state, false).await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    let live = raw.app("odoo-outlook").await;
    assert_eq!(
        report.ids["odoo-outlook"].object_id.as_deref(),
        live["id"].as_str()
    );
    assert_no_duplicates(&raw, &state).await;
    let (_, after) = plan(&client, &sb, &state, false).await;
    assert_eq!(pending(&after), Vec::<String>::new());
    sb.shutdown().await;
}
