//! `appreg import` through the real binary: apps registered by hand with raw Graph requests (as
//! the portal makes them: unnamed secrets, partial consent, owners, assignments, a federated
//! credential, hostile display names) are imported, the first plan shows only the adoption,
//! apply adopts, the next plan has no changes, and every secret that worked still works.

use crate::crash::works;
use crate::raw::Raw;
use crate::tenant::*;

use std::path::Path;

use appreg::emulator::{Faults, RunningSandbox};
use reqwest::Method;
use serde_json::{Value, json};

/// Text a tenant may hold that must come back as the same literal data: quotes, a line break
/// into a runner command, YAML markers, a `${var:...}` that must not be interpolated, a key
/// that would be smuggled in as a sibling if written unquoted.
/// (Display names hold no line breaks: Graph refuses control characters there; prose may.)
const HOSTILE_NAME: &str = "CRM \"sync\" ${var:SECRET} # not a comment ::set-output name=x::y";
const HOSTILE_NOTES: &str = "key: value\nadopt: 00000000-0000-0000-0000-000000000000\n::set-output name=x::y\n- item\n--- \n$${var:X} '";
const SMUGGLER: &str = "ERP: contacts & {sync} [1]";
const SMUGGLED_NOTES: &str = "a\nprune: true\napps:\n  evil: {}";

async fn post(raw: &Raw, path: &str, body: Value) -> Value {
    let (status, answer) = raw.call(Method::POST, path, Some(body)).await;
    assert!(
        (200..300).contains(&status),
        "POST {path}: {status} {answer}"
    );
    answer
}

fn id_of(items: &Value, value: &str) -> String {
    items
        .as_array()
        .unwrap()
        .iter()
        .find(|i| i["value"] == value)
        .and_then(|i| i["id"].as_str())
        .unwrap_or_else(|| panic!("no {value}"))
        .to_string()
}

/// Registers the hostile app as the portal would; returns its appId and the two secret values.
async fn register_by_hand(raw: &Raw) -> (String, String, String) {
    let graph = raw.resource_sp(GRAPH_APP_ID).await;
    let graph_sp = graph["id"].as_str().unwrap().to_string();
    let scopes = &graph["oauth2PermissionScopes"];
    let role = uuid::Uuid::new_v4().to_string();
    let app = post(
        raw,
        "/applications",
        json!({
            "displayName": HOSTILE_NAME,
            "notes": HOSTILE_NOTES,
            "tags": ["crm", "${var:TAG}"],
            "web": { "redirectUris": ["https://crm.example.com/auth/callback"] },
            "appRoles": [{
                "id": role, "value": "Calendar.Admin", "displayName": "Calendar ${admins}",
                "description": "Manages: calendars", "allowedMemberTypes": ["User"], "isEnabled": true
            }],
            "requiredResourceAccess": [{
                "resourceAppId": GRAPH_APP_ID,
                "resourceAccess": [
                    { "id": id_of(scopes, "User.Read"), "type": "Scope" },
                    { "id": id_of(scopes, "Calendars.Read"), "type": "Scope" },
                    { "id": graph_role_id(raw, "Mail.Send").await, "type": "Role" },
                    { "id": graph_role_id(raw, "Calendars.Read").await, "type": "Role" },
                ]
            }],
        }),
    )
    .await;
    let (object_id, app_id) = (
        app["id"].as_str().unwrap().to_string(),
        app["appId"].as_str().unwrap().to_string(),
    );
    let sp = post(raw, "/servicePrincipals", json!({ "appId": app_id })).await;
    let sp_id = sp["id"].as_str().unwrap().to_string();
    // Consent to part of what is requested: one scope, one application permission.
    post(
        raw,
        "/oauth2PermissionGrants",
        json!({ "clientId": sp_id, "consentType": "AllPrincipals", "principalId": null,
                "resourceId": graph_sp, "scope": "User.Read" }),
    )
    .await;
    post(
        raw,
        &format!("/servicePrincipals/{graph_sp}/appRoleAssignedTo"),
        json!({ "principalId": sp_id, "resourceId": graph_sp,
                "appRoleId": graph_role_id(raw, "Mail.Send").await }),
    )
    .await;
    let users = raw.list("/users").await;
    let adele = users
        .iter()
        .find(|u| u["userPrincipalName"] == "adele.vance@contoso.com")
        .unwrap();
    let adele_id = adele["id"].as_str().unwrap();
    post(
        raw,
        &format!("/applications/{object_id}/owners/$ref"),
        json!({ "@odata.id": format!("https://graph.microsoft.com/v1.0/directoryObjects/{adele_id}") }),
    )
    .await;
    post(
        raw,
        &format!("/servicePrincipals/{sp_id}/appRoleAssignedTo"),
        json!({ "principalId": adele_id, "resourceId": sp_id, "appRoleId": role }),
    )
    .await;
    let groups = raw.list("/groups").await;
    let staff = groups
        .iter()
        .find(|g| g["displayName"] == "All staff")
        .unwrap();
    post(
        raw,
        &format!("/servicePrincipals/{sp_id}/appRoleAssignedTo"),
        json!({ "principalId": staff["id"], "resourceId": sp_id,
                "appRoleId": "00000000-0000-0000-0000-000000000000" }),
    )
    .await;
    post(
        raw,
        &format!("/applications/{object_id}/federatedIdentityCredentials"),
        json!({ "name": "github-main", "issuer": "https://token.actions.githubusercontent.com",
                "subject": "repo:contoso/crm:ref:refs/heads/main",
                "audiences": ["api://AzureADTokenExchange"] }),
    )
    .await;
    // The portal's secret has no name; the Azure CLI's has one.
    let unnamed = post(
        raw,
        &format!("/applications/{object_id}/addPassword"),
        json!({ "passwordCredential": {} }),
    )
    .await;
    let named = post(
        raw,
        &format!("/applications/{object_id}/addPassword"),
        json!({ "passwordCredential": { "displayName": "vendor handoff" } }),
    )
    .await;
    (
        app_id,
        unnamed["secretText"].as_str().unwrap().to_string(),
        named["secretText"].as_str().unwrap().to_string(),
    )
}

/// Addresses of the plan's changes other than no-ops, with the fields each changes.
fn changes(plan_json: &str) -> Vec<(String, Vec<String>)> {
    let plan: Value = serde_json::from_str(plan_json).expect("plan JSON");
    plan["changes"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|c| c["action"] != "no_op")
        .map(|c| {
            let fields = c["fields"]
                .as_array()
                .into_iter()
                .flatten()
                .map(|f| f["field"].as_str().unwrap_or_default().to_string())
                .collect();
            (c["address"].as_str().unwrap().to_string(), fields)
        })
        .collect()
}

async fn cli(sb: &RunningSandbox, dir: &Path, args: &[&str]) -> (i32, String, String) {
    run_cli(sb, dir, args).await
}

#[tokio::test(flavor = "multi_thread")]
async fn an_app_made_by_hand_imports_plans_only_the_adoption_and_keeps_its_secrets() {
    let sb = start(Faults::default(), 61).await;
    let raw = Raw::new(&sb).await;
    let (app_id, unnamed, named) = register_by_hand(&raw).await;
    let smuggler = post(
        &raw,
        "/applications",
        json!({ "displayName": SMUGGLER, "notes": SMUGGLED_NOTES }),
    )
    .await;
    post(
        &raw,
        "/servicePrincipals",
        json!({ "appId": smuggler["appId"] }),
    )
    .await;
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("imported");

    let (code, stdout, stderr) = cli(
        &sb,
        dir.path(),
        &[
            "import",
            "--all",
            "--set",
            "brownfield",
            "--out",
            path_str(&out),
            "--json",
        ],
    )
    .await;
    assert_eq!(code, 0, "{stderr}{stdout}");
    let summary: Value = serde_json::from_str(&stdout).expect("JSON summary");
    let apps = summary["apps"].as_array().unwrap();
    assert_eq!(
        apps.len(),
        2,
        "the admin identity is not imported: {summary}"
    );
    assert!(
        summary["skipped"].to_string().contains("never imported"),
        "{summary}"
    );
    // Nothing secret in the summary or the files.
    let mut written = stdout.clone();
    for entry in std::fs::read_dir(&out).unwrap() {
        let path = entry.unwrap().path();
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(&path).unwrap().permissions().mode() & 0o777;
            assert_eq!(mode, 0o644, "{}", path.display());
        }
        written.push_str(&std::fs::read_to_string(&path).unwrap());
    }
    for secret in [&unnamed, &named] {
        assert!(
            !written.contains(secret.as_str()),
            "a secret value was written"
        );
        assert!(!stderr.contains(secret.as_str()));
    }

    // The files load back to the tenant's text, literally: no interpolation, no smuggled keys.
    let loaded = appreg::manifest::load(std::slice::from_ref(&out), &|_: &str| {
        Some("INJECTED".into())
    })
    .expect("the imported manifests validate");
    let hostile = loaded
        .state
        .apps
        .values()
        .find(|a| {
            a.adopt
                .as_ref()
                .is_some_and(|a| a.app_id.to_string() == app_id)
        })
        .expect("the hand-made app");
    assert_eq!(hostile.display_name, HOSTILE_NAME);
    assert_eq!(hostile.notes.as_deref(), Some(HOSTILE_NOTES));
    assert!(hostile.tags.contains("${var:TAG}"), "{:?}", hostile.tags);
    assert!(!loaded.state.prune, "a smuggled `prune: true` took effect");
    let smuggled = loaded
        .state
        .apps
        .values()
        .find(|a| a.display_name == SMUGGLER)
        .expect("the second app, its name intact");
    assert_eq!(smuggled.notes.as_deref(), Some(SMUGGLED_NOTES));
    assert_eq!(
        smuggled.adopt.as_ref().unwrap().app_id.to_string(),
        smuggler["appId"].as_str().unwrap()
    );
    // Partial consent and both secrets, kept by keyId without a sink.
    assert!(
        matches!(&hostile.admin_consent, appreg::model::AdminConsent::Granted(g)
            if g["Microsoft Graph"].delegated.iter().eq(["User.Read"])
            && g["Microsoft Graph"].application.iter().eq(["Mail.Send"])),
        "{:?}",
        hostile.admin_consent
    );
    assert_eq!(hostile.secrets.len(), 2, "{:?}", hostile.secrets);
    assert!(
        hostile
            .secrets
            .iter()
            .all(|s| s.sink.is_none() && s.key_ids.len() == 1)
    );
    assert_eq!(hostile.service_principal.assignments.len(), 2);
    assert_eq!(hostile.owners.len(), 1);
    assert_eq!(hostile.federated_credentials.len(), 1);

    // The first plan is the adoption only: uniqueName and the ownership tags.
    let (code, plan, stderr) = cli(&sb, dir.path(), &["plan", path_str(&out), "--json"]).await;
    assert_eq!(code, 0, "{stderr}");
    let pending = changes(&plan);
    assert_eq!(pending.len(), 2, "{pending:?}");
    for (address, fields) in &pending {
        assert!(
            fields.iter().all(|f| f == "tags" || f == "uniqueName"),
            "{address} changes more than the adoption: {fields:?}"
        );
    }

    let (code, _, stderr) = cli(
        &sb,
        dir.path(),
        &["apply", path_str(&out), "--auto-approve"],
    )
    .await;
    assert_eq!(code, 0, "{stderr}");
    let (code, _, stderr) = cli(
        &sb,
        dir.path(),
        &["plan", path_str(&out), "--detailed-exitcode"],
    )
    .await;
    assert_eq!(code, 0, "the plan after the adoption has changes: {stderr}");
    assert!(
        works(&sb, &app_id, &unnamed).await,
        "the portal's secret stopped working"
    );
    assert!(
        works(&sb, &app_id, &named).await,
        "the CLI's secret stopped working"
    );

    // Files are not overwritten without --force; nothing is written then.
    let (code, _, stderr) = cli(
        &sb,
        dir.path(),
        &[
            "import",
            "--app",
            &app_id,
            "--set",
            "brownfield",
            "--out",
            path_str(&out),
        ],
    )
    .await;
    assert_eq!(code, 1, "{stderr}");
    assert!(stderr.contains("--force"), "{stderr}");

    // A link planted where a manifest goes, dangling or not, never redirects the write: without
    // --force it counts as an existing file, with --force the write fails and the target of the
    // link is never created.
    let manifest = std::fs::read_dir(&out)
        .unwrap()
        .map(|e| e.unwrap().path())
        .find(|p| p.extension().is_some_and(|x| x == "yaml"))
        .expect("an imported manifest");
    let victim = dir.path().join("victim.txt");
    std::fs::remove_file(&manifest).unwrap();
    std::os::unix::fs::symlink(&victim, &manifest).unwrap();
    let import = [
        "import",
        "--app",
        &app_id,
        "--set",
        "brownfield",
        "--out",
        path_str(&out),
    ];
    let (code, _, stderr) = cli(&sb, dir.path(), &import).await;
    assert_eq!(code, 1, "{stderr}");
    assert!(stderr.contains("--force"), "{stderr}");
    let forced: Vec<&str> = import.iter().copied().chain(["--force"]).collect();
    let (code, _, stderr) = cli(&sb, dir.path(), &forced).await;
    assert_ne!(code, 0, "a write through a link: {stderr}");
    assert!(!victim.exists(), "the link's target was written");
    std::fs::remove_file(&manifest).unwrap();

    // One app by appId, to stdout; a line break cannot start a runner command there.
    let (code, stdout, stderr) = cli(
        &sb,
        dir.path(),
        &["import", "--app", &app_id, "--set", "brownfield"],
    )
    .await;
    assert_eq!(code, 0, "{stderr}");
    assert!(
        stdout.starts_with("# yaml-language-server: $schema="),
        "{stdout}"
    );
    assert_eq!(stdout.matches("\n    adopt:").count(), 1, "{stdout}");
    assert!(
        stdout.lines().all(|l| !l.trim_start().starts_with("::")),
        "{stdout}"
    );

    // By owner and by filter: each names exactly its app.
    for (selection, value, wanted) in [
        ("--owned-by", "ADELE.VANCE@contoso.com", app_id.as_str()),
        (
            "--filter",
            "startswith(displayName,'ERP')",
            smuggler["appId"].as_str().unwrap(),
        ),
    ] {
        let (code, stdout, stderr) = cli(&sb, dir.path(), &["import", selection, value]).await;
        assert_eq!(code, 0, "{selection}: {stderr}");
        assert_eq!(
            stdout.matches("\n    adopt:").count(),
            1,
            "{selection}: {stdout}"
        );
        assert!(stdout.contains(wanted), "{selection}: {stdout}");
    }
}

/// Many apps: the reads are batched as plan's are, the grants listed once for the tenant
/// instead of once per app, and a grant still becomes the app's consent. Prints the figure.
#[tokio::test(flavor = "multi_thread")]
async fn importing_many_apps_takes_few_round_trips() {
    use appreg::emulator::EntryKind;
    const APPS: usize = 60;
    let sb = start(Faults::default(), 62).await;
    let raw = Raw::new(&sb).await;
    let graph = raw.resource_sp(GRAPH_APP_ID).await;
    let graph_sp = graph["id"].as_str().unwrap().to_string();
    let user_read = id_of(&graph["oauth2PermissionScopes"], "User.Read");
    let mut consented = Vec::new();
    for i in 0..APPS {
        let app = post(
            &raw,
            "/applications",
            json!({ "displayName": format!("Bulk app {i:02}"),
                "requiredResourceAccess": [{ "resourceAppId": GRAPH_APP_ID,
                    "resourceAccess": [{ "id": user_read, "type": "Scope" }] }] }),
        )
        .await;
        let sp = post(&raw, "/servicePrincipals", json!({ "appId": app["appId"] })).await;
        if i % 3 == 0 {
            post(
                &raw,
                "/oauth2PermissionGrants",
                json!({ "clientId": sp["id"], "consentType": "AllPrincipals", "principalId": null,
                        "resourceId": graph_sp, "scope": "User.Read" }),
            )
            .await;
            consented.push(format!("bulk-app-{i:02}"));
        }
    }
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("bulk");
    sb.clear_log();
    let (code, _, stderr) = cli(
        &sb,
        dir.path(),
        &["import", "--all", "--out", path_str(&out)],
    )
    .await;
    assert_eq!(code, 0, "{stderr}");
    let round_trips = sb
        .request_log()
        .requests
        .iter()
        .filter(|e| matches!(e.kind, EntryKind::Graph | EntryKind::Batch))
        .count();
    eprintln!("import of {APPS} apps: {round_trips} Graph round trips");
    // Past 40 apps the tenant's grants are one listing, not a query per app.
    let grant_reads: Vec<String> = sb
        .request_log()
        .requests
        .iter()
        .filter(|e| matches!(e.kind, EntryKind::Graph | EntryKind::BatchItem))
        .filter(|e| e.path.contains("oauth2PermissionGrants"))
        .map(|e| e.path.clone())
        .collect();
    assert_eq!(grant_reads.len(), 1, "{grant_reads:?}");
    assert!(!grant_reads[0].contains("clientId"), "{grant_reads:?}");
    // Per app: federated credentials, service principal owners, application permissions held
    // and assignments granted, twenty to a `$batch`; the rest is a handful of listings.
    assert!(
        round_trips <= APPS * 4 / 20 + 10,
        "{round_trips} round trips"
    );
    for i in 0..APPS {
        let key = format!("bulk-app-{i:02}");
        let text = std::fs::read_to_string(out.join(format!("{key}.yaml"))).unwrap();
        assert_eq!(
            text.contains("adminConsent: true"),
            consented.contains(&key),
            "{key}:\n{text}"
        );
    }
}
