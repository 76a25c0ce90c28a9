//! Guardrails (issue 16): the `policy:` section enforced by `plan` and `apply` before anything
//! reaches the tenant, and `appreg audit` of a whole tenant, through the real binary against a
//! sandbox started by each test on 127.0.0.1:0.

use crate::tenant;

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

const EXCHANGE_APP_ID: &str = "00000002-0000-0ff1-ce00-000000000000";

/// Id of a permission a resource publishes (`appRoles` for application, else scopes).
fn permission_id(resource: &serde_json::Value, name: &str, application: bool) -> String {
    let list = if application {
        "appRoles"
    } else {
        "oauth2PermissionScopes"
    };
    resource[list]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["value"] == name)
        .unwrap_or_else(|| panic!("{name} is published"))["id"]
        .as_str()
        .unwrap()
        .to_string()
}

/// The three seed integrations registered the way their setup guides do it by hand in the portal:
/// an app, a client secret valid for 24 months, admin consent; the owner (whoever clicked) gone.
/// Returns the appIds (CRM calendar sync over EWS, Odoo, ERP contacts sync).
async fn register_by_hand(raw: &Raw) -> [String; 3] {
    use serde_json::json;
    let graph = raw.resource_sp(GRAPH_APP_ID).await;
    let exchange = raw.resource_sp(EXCHANGE_APP_ID).await;
    let scope = |names: &[&str]| -> serde_json::Value {
        names
            .iter()
            .map(|n| json!({"id": permission_id(&graph, n, false), "type": "Scope"}))
            .collect()
    };
    let integrations = [
        (
            "CRM calendar sync (EWS)",
            "AzureADMyOrg",
            json!({"web": {"redirectUris": ["https://crm.example.com/modules/Office365Sync/authentication.php"]}}),
            vec![
                json!({"resourceAppId": GRAPH_APP_ID, "resourceAccess": scope(&["User.Read"])}),
                json!({"resourceAppId": EXCHANGE_APP_ID, "resourceAccess": [
                    {"id": permission_id(&exchange, "full_access_as_app", true), "type": "Role"}
                ]}),
            ],
            vec!["User.Read"],
        ),
        (
            "Odoo",
            "AzureADandPersonalMicrosoftAccount",
            json!({"web": {"redirectUris": ["https://odoo.example.com/microsoft_outlook/confirm"]}, "api": {"requestedAccessTokenVersion": 2}}),
            vec![
                json!({"resourceAppId": GRAPH_APP_ID, "resourceAccess": scope(&["User.Read", "SMTP.Send", "IMAP.AccessAsUser.All", "offline_access"])}),
            ],
            vec![
                "User.Read",
                "SMTP.Send",
                "IMAP.AccessAsUser.All",
                "offline_access",
            ],
        ),
        (
            "ERP contacts sync",
            "AzureADMyOrg",
            json!({"publicClient": {"redirectUris": ["https://login.microsoftonline.com/common/oauth2/nativeclient"]}}),
            vec![
                json!({"resourceAppId": GRAPH_APP_ID, "resourceAccess": scope(&["User.Read", "Contacts.ReadWrite", "Calendars.ReadWrite", "offline_access"])}),
            ],
            vec![
                "User.Read",
                "Contacts.ReadWrite",
                "Calendars.ReadWrite",
                "offline_access",
            ],
        ),
    ];
    let two_years = (chrono::Utc::now() + chrono::Duration::days(730)).to_rfc3339();
    let mut app_ids = Vec::new();
    for (name, audience, platform, required, delegated) in integrations {
        let mut body = json!({
            "displayName": name,
            "signInAudience": audience,
            "requiredResourceAccess": required,
        });
        body.as_object_mut()
            .unwrap()
            .extend(platform.as_object().unwrap().clone());
        let app = raw
            .write(reqwest::Method::POST, "/applications", Some(body))
            .await;
        let (id, app_id) = (app["id"].as_str().unwrap(), app["appId"].as_str().unwrap());
        // The person who registered it becomes its owner and later leaves: nobody owns it.
        for owner in raw.list(&format!("/applications/{id}/owners")).await {
            let owner = owner["id"].as_str().unwrap();
            raw.write(
                reqwest::Method::DELETE,
                &format!("/applications/{id}/owners/{owner}/$ref"),
                None,
            )
            .await;
        }
        raw.write(
            reqwest::Method::POST,
            &format!("/applications/{id}/addPassword"),
            Some(
                json!({"passwordCredential": {"displayName": "vendor", "endDateTime": two_years}}),
            ),
        )
        .await;
        let sp = raw
            .write(
                reqwest::Method::POST,
                "/servicePrincipals",
                Some(json!({"appId": app_id})),
            )
            .await;
        let sp_id = sp["id"].as_str().unwrap();
        raw.write(
            reqwest::Method::POST,
            "/oauth2PermissionGrants",
            Some(json!({"clientId": sp_id, "consentType": "AllPrincipals", "resourceId": graph["id"], "scope": delegated.join(" ")})),
        )
        .await;
        if name.starts_with("CRM") {
            raw.write(
                reqwest::Method::POST,
                &format!("/servicePrincipals/{}/appRoleAssignedTo", exchange["id"].as_str().unwrap()),
                Some(json!({"principalId": sp_id, "resourceId": exchange["id"], "appRoleId": permission_id(&exchange, "full_access_as_app", true)})),
            )
            .await;
        }
        app_ids.push(app_id.to_string());
    }
    app_ids.try_into().unwrap()
}

/// The day 200 days from now: the secrets made today are then older than the default 180 days
/// without rotation.
fn later() -> String {
    (chrono::Utc::now() + chrono::Duration::days(200))
        .date_naive()
        .to_string()
}

/// (rule, appId, subject) of every finding of a JSON audit report.
fn findings(report: &serde_json::Value) -> Vec<(String, String, String)> {
    report["findings"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| {
            (
                f["rule"].as_str().unwrap().to_string(),
                f["object"]["appId"].as_str().unwrap().to_string(),
                f["subject"].as_str().unwrap_or_default().to_string(),
            )
        })
        .collect()
}

#[tokio::test]
async fn audit_of_hand_registered_integrations_reports_full_access_unrotated_secrets_and_no_owners()
{
    let sb = start(Faults::default(), 16).await;
    let raw = Raw::new(&sb).await;
    let [crm, odoo, erp] = register_by_hand(&raw).await;
    let dir = tempfile::tempdir().unwrap();
    sb.clear_log();
    let as_of = later();
    let (code, stdout, stderr) = run_cli(
        &sb,
        dir.path(),
        &["--as-of", &as_of, "audit", "--format", "json"],
    )
    .await;
    assert_eq!(
        code, 0,
        "only warnings, and --fail-on defaults to error: {stderr}"
    );
    assert!(writes(&sb).is_empty(), "the audit wrote: {:?}", writes(&sb));
    let report: serde_json::Value = serde_json::from_str(&stdout).unwrap();
    assert_eq!(
        report["formatVersion"],
        appreg::output::machine::FORMAT_VERSION
    );
    let found = findings(&report);
    let has = |rule: &str, app: &str, subject: &str| {
        found
            .iter()
            .any(|(r, a, s)| r == rule && a == app && (subject.is_empty() || s == subject))
    };
    assert!(
        has("high-privilege-permission", &crm, "full_access_as_app"),
        "{found:#?}"
    );
    for app in [&crm, &odoo, &erp] {
        assert!(
            has("secret-not-rotated", app, "vendor"),
            "{app}: {found:#?}"
        );
        assert!(has("secret-lifetime", app, "vendor"), "{app}: {found:#?}");
        assert!(has("no-owner", app, ""), "{app}: {found:#?}");
    }
    assert!(has("multitenant-secret", &odoo, ""), "{found:#?}");
    assert!(!has("multitenant-secret", &crm, ""), "single-tenant");
    assert!(
        has("redirect-unverified-host", &crm, "crm.example.com"),
        "{found:#?}"
    );
    assert!(
        !has("redirect-unverified-host", &erp, ""),
        "Microsoft's native-client redirect"
    );
    assert!(
        !has("unconsented-permission", &crm, ""),
        "consented by hand: {found:#?}"
    );
    assert!(
        !has("high-privilege-permission", &odoo, ""),
        "delegated only"
    );

    // Round trips: whole collections, never one request per app.
    let gets = sb.request_log().requests.len();
    assert!(gets <= 15, "{gets} requests for an audit of a small tenant");

    // The threshold decides the exit code; the human and Markdown views carry the same findings.
    let (code, human, _) = run_cli(
        &sb,
        dir.path(),
        &["--as-of", &as_of, "audit", "--fail-on", "warning"],
    )
    .await;
    assert_eq!(code, 3);
    assert!(
        human.contains("warning[high-privilege-permission]"),
        "{human}"
    );
    assert!(human.contains("full_access_as_app"), "{human}");
    let (code, markdown, _) = run_cli(
        &sb,
        dir.path(),
        &[
            "--as-of",
            &as_of,
            "audit",
            "--format",
            "markdown",
            "--fail-on",
            "never",
        ],
    )
    .await;
    assert_eq!(code, 0);
    assert!(markdown.contains("### warning `no-owner` ("), "{markdown}");

    // A policy can raise a level and allow a finding with a justification.
    std::fs::write(
        dir.path().join("policy.yaml"),
        format!(
            "version: 1\nname: audit\npolicy:\n  rules: {{high-privilege-permission: error}}\n  allow:\n    - rule: redirect-unverified-host\n      app: {crm}\n      subject: crm.example.com\n      justification: the CRM vendor's hosted instance\n"
        ),
    )
    .unwrap();
    let (code, stdout, stderr) = run_cli(
        &sb,
        dir.path(),
        &[
            "--as-of",
            &as_of,
            "audit",
            "--format",
            "json",
            "--policy",
            "policy.yaml",
        ],
    )
    .await;
    assert_eq!(code, 3, "an error-level finding fails the audit: {stderr}");
    let report: serde_json::Value = serde_json::from_str(&stdout).unwrap();
    let found = findings(&report);
    assert!(
        !found
            .iter()
            .any(|f| f.0 == "redirect-unverified-host" && f.1 == crm),
        "{found:#?}"
    );
    assert!(report["allowed"].as_u64().unwrap() >= 1);
    assert!(
        report["findings"]
            .as_array()
            .unwrap()
            .iter()
            .any(|f| f["rule"] == "high-privilege-permission" && f["level"] == "error")
    );
    sb.shutdown().await;
}

#[tokio::test]
async fn audit_sarif_is_valid_sarif_2_1_0_per_an_independent_validator() {
    let schema: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(
            Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/schema/sarif-schema-2.1.0.json"),
        )
        .unwrap(),
    )
    .unwrap();
    let validator = jsonschema::validator_for(&schema).expect("the SARIF schema compiles");
    let sb = start(Faults::default(), 16).await;
    let raw = Raw::new(&sb).await;
    let [crm, ..] = register_by_hand(&raw).await;
    let dir = tempfile::tempdir().unwrap();
    let (code, stdout, stderr) = run_cli(
        &sb,
        dir.path(),
        &["--as-of", &later(), "audit", "--format", "sarif"],
    )
    .await;
    assert_eq!(code, 0, "{stderr}");
    let sarif: serde_json::Value = serde_json::from_str(&stdout).unwrap();
    let errors: Vec<String> = validator
        .iter_errors(&sarif)
        .map(|e| format!("{e} at {}", e.instance_path()))
        .collect();
    assert!(errors.is_empty(), "{errors:#?}");
    let results = sarif["runs"][0]["results"].as_array().unwrap();
    assert!(
        results
            .iter()
            .any(|r| r["ruleId"] == "high-privilege-permission"
                && r["locations"][0]["logicalLocations"][0]["fullyQualifiedName"]
                    == format!("applications/{crm}"))
    );
    // The validator is not a rubber stamp: a result without a message is refused.
    let mut broken = sarif.clone();
    broken["runs"][0]["results"][0]
        .as_object_mut()
        .unwrap()
        .remove("message");
    assert!(!validator.is_valid(&broken));
    sb.shutdown().await;
}

#[tokio::test]
async fn plan_and_apply_refuse_when_managed_apps_break_the_policy_in_the_tenant() {
    let sb = start(Faults::default(), 16).await;
    let dir = tempfile::tempdir().unwrap();
    let manifest = "version: 1\nname: guarded\npolicy:\n  rules: {service-principal-credential: error}\napps:\n  svc:\n    displayName: Service\n    owners: [{user: adele.vance@contoso.com}]\n";
    write(dir.path(), manifest);
    let (code, _, stderr) = run_cli(&sb, dir.path(), &["apply", "--auto-approve"]).await;
    assert_eq!(code, 0, "a clean tenant passes: {stderr}");
    // Someone adds a secret to the app's service principal, where the portal's app page does
    // not show it.
    let raw = Raw::new(&sb).await;
    let app_id = raw.app("svc").await["appId"].as_str().unwrap().to_string();
    let sp = raw.sp(&app_id).await;
    raw.write(
        reqwest::Method::POST,
        &format!(
            "/servicePrincipals/{}/addPassword",
            sp["id"].as_str().unwrap()
        ),
        Some(serde_json::json!({"passwordCredential": {"displayName": "backdoor"}})),
    )
    .await;
    // A manifest change is pending, and the policy stops plan and apply before it is written.
    write(dir.path(), &manifest.replace("Service\n", "Service v2\n"));
    for command in [&["plan"][..], &["apply", "--auto-approve"][..]] {
        sb.clear_log();
        let (code, _, stderr) = run_cli(&sb, dir.path(), command).await;
        assert_eq!(code, 1, "{command:?}: {stderr}");
        assert!(
            stderr.contains("error[service-principal-credential]"),
            "{stderr}"
        );
        assert!(stderr.contains("backdoor"), "{stderr}");
        assert!(
            writes(&sb).is_empty(),
            "{command:?} wrote {:?}",
            writes(&sb)
        );
    }
    // Without the policy's error level the finding is a warning and apply goes through.
    write(
        dir.path(),
        &manifest
            .replace("error}", "warning}")
            .replace("Service\n", "Service v2\n"),
    );
    let (code, _, stderr) = run_cli(&sb, dir.path(), &["apply", "--auto-approve"]).await;
    assert_eq!(code, 0, "{stderr}");
    assert!(
        stderr.contains("warning[service-principal-credential]"),
        "{stderr}"
    );
    sb.shutdown().await;
}

#[tokio::test]
async fn plan_refuses_a_redirect_outside_the_verified_domains_unless_allowed_with_a_reason() {
    let sb = start(Faults::default(), 16).await;
    let dir = tempfile::tempdir().unwrap();
    let manifest = "version: 1\nname: guarded\npolicy:\n  rules: {redirect-unverified-host: error}\napps:\n  crm:\n    displayName: CRM\n    owners: [{user: adele.vance@contoso.com}]\n    web:\n      redirectUris: [https://crm.vendor.example.net/callback, https://crm.contoso.com/callback]\n";
    write(dir.path(), manifest);
    sb.clear_log();
    let (code, _, stderr) = run_cli(&sb, dir.path(), &["plan"]).await;
    assert_eq!(code, 1, "{stderr}");
    assert!(
        stderr.contains("error[redirect-unverified-host] app `crm`"),
        "{stderr}"
    );
    assert!(stderr.contains("crm.vendor.example.net"), "{stderr}");
    assert!(
        !stderr.contains("crm.contoso.com`, outside"),
        "contoso.com is verified: {stderr}"
    );
    assert!(writes(&sb).is_empty());
    let allowed = manifest.replace(
        "apps:",
        "  allow:\n    - {rule: redirect-unverified-host, app: crm, subject: crm.vendor.example.net, justification: the vendor hosts our CRM}\napps:",
    );
    write(dir.path(), &allowed);
    let (code, _, stderr) = run_cli(&sb, dir.path(), &["plan"]).await;
    assert_eq!(code, 0, "{stderr}");
    sb.shutdown().await;
}
