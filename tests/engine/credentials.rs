//! Credential lifecycle end to end on the sandbox: secrets created, delivered to every sink,
//! rotated with overlap, retired beyond `keep`; delivery failures leave no credential behind;
//! policy refusals happen at plan time; certificates are added and replaced; federated
//! credentials follow the manifest; orphans of interrupted runs are removed.
//!
//! A value "works" when the sandbox's token endpoint accepts it for the app (client
//! credentials): that is what a consumer does with it.

use crate::tenant;

use std::path::{Path, PathBuf};
use std::time::Duration;

use appreg::emulator::{Faults, LoseAnswers, RunningSandbox};
use appreg::engine::plan::{Action, ResourceType};
use serde_json::{Value, json};
use tenant::*;

const VAULT_HOST: &str = "contoso-kv.vault.azure.net";

/// A manifest directory of its own, under cargo's scratch directory.
fn workdir() -> PathBuf {
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR"))
        .join(format!("creds-{}", uuid::Uuid::new_v4().simple()));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// Two apps with one secret each, one to a file and one to Key Vault.
fn secrets_manifest(dir: &Path, lifetime: &str, rotate_before: &str, keep: u32) -> PathBuf {
    let text = format!(
        r#"version: 1
name: creds
apps:
  file-app:
    displayName: File app
    secrets:
      - name: mail
        lifetime: {lifetime}
        rotateBefore: {rotate_before}
        keep: {keep}
        deliver: {{ file: secrets/file-app.json }}
  vault-app:
    displayName: Vault app
    secrets:
      - name: mail
        lifetime: {lifetime}
        rotateBefore: {rotate_before}
        keep: {keep}
        deliver: {{ keyVault: {{ vault: "https://{VAULT_HOST}", secret: vault-app-mail }} }}
"#
    );
    let path = dir.join("creds.yaml");
    std::fs::write(&path, text).unwrap();
    path
}

/// Password credentials named `name` of the app `unique_name`, as the tenant shows them.
async fn credentials(raw: &Raw, unique_name: &str, name: &str) -> Vec<Value> {
    let app = raw.app(unique_name).await;
    app["passwordCredentials"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|c| c["displayName"] == name)
        .cloned()
        .collect()
}

/// Whether the sandbox issues a token to `app_id` for `secret`.
async fn works(sb: &RunningSandbox, app_id: &str, secret: &str) -> bool {
    let answer = reqwest::Client::new()
        .post(sb.token_url())
        .header("content-type", "application/x-www-form-urlencoded")
        .body(
            form_urlencoded::Serializer::new(String::new())
                .append_pair("grant_type", "client_credentials")
                .append_pair("client_id", app_id)
                .append_pair("client_secret", secret)
                .append_pair("scope", "https://graph.microsoft.com/.default")
                .finish(),
        )
        .send()
        .await
        .unwrap();
    answer.status().is_success()
}

/// What a file sink holds: (appId, keyId, value).
fn file_sink(dir: &Path) -> Option<(String, String, String)> {
    let text = std::fs::read_to_string(dir.join("secrets/file-app.json")).ok()?;
    let v: Value = serde_json::from_str(&text).unwrap();
    Some((
        v["appId"].as_str()?.to_string(),
        v["keyId"].as_str()?.to_string(),
        v["clientSecret"].as_str()?.to_string(),
    ))
}

/// What the Key Vault sink holds: (appId, keyId, value).
fn vault_sink(sb: &RunningSandbox) -> Option<(String, String, String)> {
    let bundle = sb.key_vault_secret(VAULT_HOST, "vault-app-mail")?;
    Some((
        bundle["tags"]["appId"].as_str()?.to_string(),
        bundle["tags"]["keyId"].as_str()?.to_string(),
        bundle["value"].as_str()?.to_string(),
    ))
}

fn key_ids(credentials: &[Value]) -> Vec<String> {
    let mut ids: Vec<String> = credentials
        .iter()
        .map(|c| c["keyId"].as_str().unwrap().to_string())
        .collect();
    ids.sort();
    ids
}

/// The value each sink holds works, and names a credential of the tenant.
async fn assert_sinks_hold_working_credentials(sb: &RunningSandbox, raw: &Raw, dir: &Path) {
    for (app, held) in [("file-app", file_sink(dir)), ("vault-app", vault_sink(sb))] {
        let (app_id, key_id, value) = held.unwrap_or_else(|| panic!("{app}: the sink is empty"));
        let ids = key_ids(&credentials(raw, app, "mail").await);
        assert!(
            ids.contains(&key_id),
            "{app}: the sink's keyId {key_id} is not in {ids:?}"
        );
        assert!(
            works(sb, &app_id, &value).await,
            "{app}: the delivered value is refused"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn secrets_are_created_delivered_once_and_left_alone_when_fresh() {
    let sb = start(Faults::default(), 7).await;
    let raw = Raw::new(&sb).await;
    let client = client(&sb);
    let dir = workdir();
    let state = load(&[secrets_manifest(&dir, "180d", "30d", 2)]);

    let (_, planned) = plan(&client, &sb, &state, false).await;
    let secrets: Vec<_> = planned
        .plan
        .changes
        .iter()
        .filter(|c| c.resource == ResourceType::Secret)
        .map(|c| (c.address.as_str(), c.action))
        .collect();
    assert_eq!(
        secrets,
        vec![
            ("app.file-app.secret.mail", Action::Create),
            ("app.vault-app.secret.mail", Action::Create)
        ]
    );
    let report = apply(&client, &sb, &state, false).await;
    assert_eq!(report.delivered.len(), 2, "{report:?}");
    assert_sinks_hold_working_credentials(&sb, &raw, &dir).await;

    // The file is private and carries what a consumer needs.
    let file = dir.join("secrets/file-app.json");
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&file).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
    }
    let document: Value = serde_json::from_str(&std::fs::read_to_string(&file).unwrap()).unwrap();
    for field in ["tenantId", "appId", "clientSecret", "keyId", "expiry"] {
        assert!(
            document.get(field).is_some(),
            "{field} missing from {file:?}"
        );
    }
    assert_eq!(document["tenantId"], sb.tenant_id());
    let bundle = sb.key_vault_secret(VAULT_HOST, "vault-app-mail").unwrap();
    assert!(bundle["tags"]["expiry"].as_str().is_some(), "{bundle}");

    // Fresh secrets: nothing to do, and a second apply writes nothing anywhere.
    let (_, again) = plan(&client, &sb, &state, false).await;
    assert_eq!(pending(&again), Vec::<String>::new());
    sb.clear_log();
    apply(&client, &sb, &state, false).await;
    assert_eq!(writes(&sb), Vec::<String>::new());
    assert_eq!(credentials(&raw, "file-app", "mail").await.len(), 1);
    sb.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rotation_overlaps_and_retires_generations_beyond_keep() {
    let sb = start(Faults::default(), 8).await;
    let raw = Raw::new(&sb).await;
    let client = client(&sb);
    let dir = workdir();

    // Generation 1 expires in 20 days.
    apply(
        &client,
        &sb,
        &load(&[secrets_manifest(&dir, "20d", "10d", 2)]),
        false,
    )
    .await;
    let first = file_sink(&dir).unwrap();
    let first_vault = vault_sink(&sb).unwrap();

    // A 21-day window makes it due: rotate, and say when it expires and how long is left.
    let state = load(&[secrets_manifest(&dir, "25d", "21d", 2)]);
    let (_, planned) = plan(&client, &sb, &state, false).await;
    let rotate = planned
        .plan
        .changes
        .iter()
        .find(|c| c.address == "app.file-app.secret.mail")
        .unwrap();
    assert_eq!(rotate.action, Action::Rotate, "{rotate:?}");
    assert!(
        rotate.reason.contains("days left") && rotate.reason.contains("expires 20"),
        "{}",
        rotate.reason
    );
    apply(&client, &sb, &state, false).await;
    let second = file_sink(&dir).unwrap();
    assert_ne!(first.1, second.1, "a new credential was delivered");
    assert_sinks_hold_working_credentials(&sb, &raw, &dir).await;
    // Overlap: the previous generation still works for consumers that have not reloaded.
    assert!(
        works(&sb, &first.0, &first.2).await,
        "generation 1 must still work"
    );
    assert!(works(&sb, &first_vault.0, &first_vault.2).await);
    assert_eq!(credentials(&raw, "file-app", "mail").await.len(), 2);

    // Rotating again with keep 2 retires generation 1, after generation 3 is delivered.
    let state = load(&[secrets_manifest(&dir, "30d", "26d", 2)]);
    apply(&client, &sb, &state, false).await;
    let third = file_sink(&dir).unwrap();
    let ids = key_ids(&credentials(&raw, "file-app", "mail").await);
    assert_eq!(ids.len(), 2, "{ids:?}");
    assert!(ids.contains(&second.1) && ids.contains(&third.1) && !ids.contains(&first.1));
    assert!(
        !works(&sb, &first.0, &first.2).await,
        "generation 1 is gone"
    );
    assert!(
        works(&sb, &second.0, &second.2).await,
        "generation 2 overlaps"
    );
    assert_sinks_hold_working_credentials(&sb, &raw, &dir).await;
    let (_, settled) = plan(&client, &sb, &state, false).await;
    assert_eq!(pending(&settled), Vec::<String>::new());
    sb.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failed_delivery_leaves_no_new_credential_behind() {
    let sb = start(Faults::default(), 9).await;
    let raw = Raw::new(&sb).await;
    let client = client(&sb);
    let dir = workdir();
    apply(
        &client,
        &sb,
        &load(&[secrets_manifest(&dir, "20d", "10d", 2)]),
        false,
    )
    .await;
    let before = key_ids(&credentials(&raw, "vault-app", "mail").await);
    let held = vault_sink(&sb).unwrap();

    // Key Vault refuses every write: the rotation's new credential is taken back.
    sb.set_faults(Faults {
        key_vault_failure_probability: 1.0,
        ..Faults::default()
    });
    let state = load(&[secrets_manifest(&dir, "25d", "21d", 2)]);
    let (observed, planned) = plan(&client, &sb, &state, false).await;
    let report =
        appreg::engine::apply::apply(&client, &sinks(&client, &sb), &state, &observed, &planned)
            .await
            .unwrap();
    let failure = report
        .failed
        .iter()
        .find(|f| f.address == "app.vault-app.secret.mail")
        .unwrap_or_else(|| panic!("{:?}", report.failed));
    assert!(
        failure
            .reason
            .to_string()
            .contains("the new credential was removed"),
        "{}",
        failure.reason
    );
    assert_eq!(
        key_ids(&credentials(&raw, "vault-app", "mail").await),
        before
    );
    assert_eq!(
        vault_sink(&sb),
        Some(held.clone()),
        "the sink keeps the old value"
    );
    assert!(works(&sb, &held.0, &held.2).await);

    // A file sink that cannot be used is found at plan time, before any credential is made.
    sb.set_faults(Faults::default());
    std::fs::remove_file(dir.join("secrets/file-app.json")).unwrap();
    std::fs::create_dir_all(dir.join("secrets/file-app.json")).unwrap();
    sb.clear_log();
    let options = appreg::engine::PlanOptions {
        prune: false,
        caller: sb.admin_client_id().parse().ok(),
        ..Default::default()
    };
    let error = appreg::engine::plan(
        &client,
        &sinks(&client, &sb),
        &state,
        sb.tenant_id(),
        options,
    )
    .await
    .unwrap_err()
    .to_string();
    assert!(
        error.contains("app.file-app.secret.mail") && error.contains("file-app.json"),
        "{error}"
    );
    assert_eq!(writes(&sb), Vec::<String>::new());
    sb.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_lifetime_beyond_the_tenant_policy_fails_at_plan_time() {
    let sb = start(
        Faults {
            max_secret_lifetime: Some(Duration::from_secs(90 * 86_400)),
            ..Faults::default()
        },
        10,
    )
    .await;
    let client = client(&sb);
    let dir = workdir();
    let state = load(&[secrets_manifest(&dir, "180d", "30d", 2)]);
    sb.clear_log();
    let options = appreg::engine::PlanOptions {
        prune: false,
        caller: sb.admin_client_id().parse().ok(),
        ..Default::default()
    };
    let error = appreg::engine::plan(
        &client,
        &sinks(&client, &sb),
        &state,
        sb.tenant_id(),
        options,
    )
    .await
    .unwrap_err()
    .to_string();
    assert!(
        error.contains("app.file-app.secret.mail")
            && error.contains("P90D")
            && error.contains("90 days"),
        "{error}"
    );
    assert_eq!(writes(&sb), Vec::<String>::new());
    // Within the policy it plans.
    let state = load(&[secrets_manifest(&dir, "60d", "30d", 2)]);
    plan(&client, &sb, &state, false).await;
    sb.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn orphans_of_an_interrupted_run_are_removed_and_undeclared_ones_reported() {
    let sb = start(Faults::default(), 11).await;
    let raw = Raw::new(&sb).await;
    let client = client(&sb);
    let dir = workdir();
    let state = load(&[secrets_manifest(&dir, "180d", "30d", 2)]);
    apply(&client, &sb, &state, false).await;
    let held = file_sink(&dir).unwrap();
    let app = raw.app("file-app").await;
    let object_id = app["id"].as_str().unwrap();
    // As if a run died between addPassword and delivery: a credential no sink holds.
    let orphan = raw
        .write(
            reqwest::Method::POST,
            &format!("/applications/{object_id}/addPassword"),
            Some(json!({"passwordCredential": {"displayName": "mail"}})),
        )
        .await;
    // And one made by hand under another name.
    raw.write(
        reqwest::Method::POST,
        &format!("/applications/{object_id}/addPassword"),
        Some(json!({"passwordCredential": {"displayName": "by-hand"}})),
    )
    .await;

    let (_, planned) = plan(&client, &sb, &state, false).await;
    let cleanup = planned
        .plan
        .changes
        .iter()
        .find(|c| c.address == "app.file-app.secret.mail")
        .unwrap();
    assert_eq!(cleanup.action, Action::Update, "{cleanup:?}");
    assert!(cleanup.reason.contains("orphan"), "{}", cleanup.reason);
    assert!(
        planned
            .plan
            .notices
            .iter()
            .any(|n| n.address == "app.file-app.secret.by-hand"),
        "{:?}",
        planned.plan.notices
    );
    apply(&client, &sb, &state, false).await;
    let ids = key_ids(&credentials(&raw, "file-app", "mail").await);
    assert_eq!(ids, vec![held.1.clone()]);
    assert!(!works(&sb, &held.0, orphan["secretText"].as_str().unwrap()).await);
    assert_eq!(
        credentials(&raw, "file-app", "by-hand").await.len(),
        1,
        "kept without --prune"
    );

    // Pruning removes what the manifest does not declare.
    apply(&client, &sb, &state, true).await;
    assert_eq!(credentials(&raw, "file-app", "by-hand").await.len(), 0);
    assert_eq!(
        key_ids(&credentials(&raw, "file-app", "mail").await),
        vec![held.1]
    );
    sb.shutdown().await;
}

/// (name, subject) of each federated credential of the app `deploy`, sorted.
async fn federated(raw: &Raw) -> Vec<(String, String)> {
    let app = raw.app("deploy").await;
    let id = app["id"].as_str().unwrap().to_string();
    let mut items: Vec<(String, String)> = raw
        .list(&format!("/applications/{id}/federatedIdentityCredentials"))
        .await
        .iter()
        .map(|f| {
            (
                f["name"].as_str().unwrap().to_string(),
                f["subject"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    items.sort();
    items
}

fn fixture(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/certs")
        .join(name)
}

fn certificate_manifest(dir: &Path, cert: &str) -> PathBuf {
    std::fs::copy(fixture(cert), dir.join(cert)).unwrap();
    let text = format!(
        "version: 1\nname: certs\napps:\n  cert-app:\n    displayName: Cert app\n    certificates:\n      - name: signing\n        file: {cert}\n"
    );
    let path = dir.join("certs.yaml");
    std::fs::write(&path, text).unwrap();
    path
}

fn thumbprint(pem_or_der: &Path) -> String {
    appreg::credentials::CertificateFile::parse(&std::fs::read(pem_or_der).unwrap())
        .unwrap()
        .thumbprint
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn certificates_are_added_replaced_and_undeclared_ones_kept() {
    use base64::Engine;
    let sb = start(Faults::default(), 12).await;
    let raw = Raw::new(&sb).await;
    let client = client(&sb);
    let dir = workdir();
    let live_thumbprints = |app: Value| -> Vec<(String, String)> {
        app["keyCredentials"]
            .as_array()
            .unwrap()
            .iter()
            .map(|k| {
                let bytes = base64::engine::general_purpose::STANDARD
                    .decode(k["customKeyIdentifier"].as_str().unwrap())
                    .unwrap();
                let hex: String = bytes.iter().map(|b| format!("{b:02X}")).collect();
                (k["displayName"].as_str().unwrap_or("").to_string(), hex)
            })
            .collect()
    };

    let state = load(&[certificate_manifest(&dir, "first.pem")]);
    apply(&client, &sb, &state, false).await;
    let app = raw.app("cert-app").await;
    assert_eq!(
        live_thumbprints(app.clone()),
        vec![("signing".to_string(), thumbprint(&fixture("first.pem")))]
    );
    // Validity comes from the certificate.
    let not_after =
        appreg::credentials::CertificateFile::parse(&std::fs::read(fixture("first.pem")).unwrap())
            .unwrap()
            .not_after;
    let live_end: chrono::DateTime<chrono::Utc> = app["keyCredentials"][0]["endDateTime"]
        .as_str()
        .unwrap()
        .parse()
        .unwrap();
    assert_eq!(live_end, not_after);
    let (_, again) = plan(&client, &sb, &state, false).await;
    assert_eq!(pending(&again), Vec::<String>::new());

    // Someone uploads another certificate by hand: it stays, and the plan mentions it.
    let object_id = app["id"].as_str().unwrap().to_string();
    let mut keys = raw
        .get(&format!("/applications/{object_id}?$select=keyCredentials"))
        .await["keyCredentials"]
        .as_array()
        .unwrap()
        .clone();
    let other = std::fs::read(fixture("expiring-soon.pem")).unwrap();
    let der = appreg::credentials::CertificateFile::parse(&other)
        .unwrap()
        .der;
    keys.push(json!({
        "type": "AsymmetricX509Cert", "usage": "Verify", "displayName": "by-hand",
        "key": base64::engine::general_purpose::STANDARD.encode(der),
    }));
    raw.write(
        reqwest::Method::PATCH,
        &format!("/applications/{object_id}"),
        Some(json!({"keyCredentials": keys})),
    )
    .await;

    // A new certificate file replaces the keyCredential.
    let state = load(&[certificate_manifest(&dir, "second.der")]);
    let (_, planned) = plan(&client, &sb, &state, false).await;
    let replace = planned
        .plan
        .changes
        .iter()
        .find(|c| c.address == "app.cert-app.certificate.signing")
        .unwrap();
    assert_eq!(replace.action, Action::Replace, "{replace:?}");
    assert!(
        planned
            .plan
            .notices
            .iter()
            .any(|n| n.address == "app.cert-app.certificate.by-hand")
    );
    apply(&client, &sb, &state, false).await;
    let mut now = live_thumbprints(raw.app("cert-app").await);
    now.sort();
    assert_eq!(
        now,
        vec![
            (
                "by-hand".to_string(),
                thumbprint(&fixture("expiring-soon.pem"))
            ),
            ("signing".to_string(), thumbprint(&fixture("second.der"))),
        ]
    );
    let (_, settled) = plan(&client, &sb, &state, false).await;
    assert_eq!(pending(&settled), Vec::<String>::new());
    sb.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn federated_credentials_are_added_changed_and_removed_by_name() {
    let sb = start(Faults::default(), 13).await;
    let raw = Raw::new(&sb).await;
    let client = client(&sb);
    let dir = workdir();
    let manifest = |subjects: &[(&str, &str)]| {
        let mut text = String::from(
            "version: 1\nname: fic\napps:\n  deploy:\n    displayName: Deploy\n    federatedCredentials:\n",
        );
        for (name, subject) in subjects {
            text.push_str(&format!(
                "      - name: {name}\n        issuer: https://token.actions.githubusercontent.com\n        subject: {subject}\n"
            ));
        }
        let path = dir.join("fic.yaml");
        std::fs::write(&path, text).unwrap();
        load(&[path])
    };
    let prod = ("prod", "repo:contoso/erp:environment:prod");
    let test = ("test", "repo:contoso/erp:environment:test");
    apply(&client, &sb, &manifest(&[prod, test]), false).await;
    assert_eq!(
        federated(&raw).await,
        vec![
            ("prod".into(), prod.1.into()),
            ("test".into(), test.1.into())
        ]
    );
    let changed = ("test", "repo:contoso/erp:ref:refs/heads/main");
    let state = manifest(&[prod, changed]);
    let (_, planned) = plan(&client, &sb, &state, false).await;
    assert_eq!(
        pending(&planned).len(),
        1,
        "only the changed subject: {:?}",
        pending(&planned)
    );
    apply(&client, &sb, &state, false).await;
    assert_eq!(
        federated(&raw).await,
        vec![
            ("prod".into(), prod.1.into()),
            ("test".into(), changed.1.into())
        ]
    );
    apply(&client, &sb, &manifest(&[prod]), false).await;
    assert_eq!(federated(&raw).await, vec![("prod".into(), prod.1.into())]);
    sb.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn keyed_creates_whose_answers_were_lost_are_sent_again_within_the_apply() {
    let sb = start(Faults::default(), 14).await;
    let raw = Raw::new(&sb).await;
    let client = client(&sb);
    let dir = workdir();
    let manifest = |names: &[&str]| {
        let mut text = String::from(
            "version: 1\nname: fic\napps:\n  deploy:\n    displayName: Deploy\n    federatedCredentials:\n",
        );
        for name in names {
            text.push_str(&format!(
                "      - name: {name}\n        issuer: https://token.actions.githubusercontent.com\n        subject: repo:contoso/erp:environment:{name}\n"
            ));
        }
        let path = dir.join("fic.yaml");
        std::fs::write(&path, text).unwrap();
        load(&[path])
    };
    apply(&client, &sb, &manifest(&["prod"]), false).await;
    let state = manifest(&["prod", "test", "staging"]);
    let (observed, planned) = plan(&client, &sb, &state, false).await;
    // The batch carrying both creates is carried out and its answer lost.
    sb.set_faults(Faults {
        lose_answers: Some(LoseAnswers {
            path_suffix: "/$batch".into(),
            count: 1,
        }),
        ..Faults::default()
    });
    sb.clear_log();
    let report =
        appreg::engine::apply::apply(&client, &sinks(&client, &sb), &state, &observed, &planned)
            .await
            .unwrap();
    assert!(report.failed.is_empty(), "{report:?}");
    let posts = sb
        .request_log()
        .requests
        .iter()
        .filter(|e| e.method == "POST" && e.path.ends_with("/federatedIdentityCredentials"))
        .count();
    assert_eq!(
        posts, 4,
        "each create sent twice, the copy refused as existing"
    );
    let names: Vec<String> = federated(&raw).await.into_iter().map(|(n, _)| n).collect();
    assert_eq!(names, vec!["prod", "staging", "test"]);
    let (_, settled) = plan(&client, &sb, &state, false).await;
    assert_eq!(pending(&settled), Vec::<String>::new());
    sb.shutdown().await;
}

/// `addPassword` requests and `removePassword` requests in the sandbox's log since the last clear.
fn password_calls(sb: &RunningSandbox) -> (usize, usize) {
    let log = sb.request_log();
    let count = |suffix: &str| {
        log.requests
            .iter()
            .filter(|e| e.method == "POST" && e.path.ends_with(suffix))
            .count()
    };
    (count("/addPassword"), count("/removePassword"))
}

fn lose_add_password_answers(count: u32) -> Faults {
    Faults {
        lose_answers: Some(LoseAnswers {
            path_suffix: "/addPassword".into(),
            count,
        }),
        ..Faults::default()
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_lost_add_password_answer_is_settled_within_the_apply() {
    let sb = start(Faults::default(), 61).await;
    let raw = Raw::new(&sb).await;
    let client = client(&sb);
    let dir = workdir();
    let state = load(&[secrets_manifest(&dir, "180d", "30d", 2)]);
    // The first addPassword of each app is carried out and its answer lost.
    sb.set_faults(lose_add_password_answers(2));
    sb.clear_log();
    let report = apply(&client, &sb, &state, false).await;
    assert_eq!(report.delivered.len(), 2, "{report:?}");
    // Each lost call's credential was found, taken back, and the add repeated.
    assert_eq!(password_calls(&sb), (4, 2));
    for app in ["file-app", "vault-app"] {
        assert_eq!(credentials(&raw, app, "mail").await.len(), 1, "{app}");
    }
    assert_sinks_hold_working_credentials(&sb, &raw, &dir).await;
    let (_, again) = plan(&client, &sb, &state, false).await;
    assert_eq!(pending(&again), Vec::<String>::new());
    sb.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn answers_lost_on_every_send_fail_the_secret_and_the_next_run_removes_the_orphan() {
    let sb = start(Faults::default(), 62).await;
    let raw = Raw::new(&sb).await;
    let client = client(&sb);
    let dir = workdir();
    let state = load(&[secrets_manifest(&dir, "180d", "30d", 2)]);
    // The apps first, without secrets; then every addPassword of file-app loses its answer.
    let mut bare = state.clone();
    for app in bare.apps.values_mut() {
        app.secrets.clear();
    }
    apply(&client, &sb, &bare, false).await;
    let object_id = raw.app("file-app").await["id"]
        .as_str()
        .unwrap()
        .to_string();
    sb.set_faults(Faults {
        lose_answers: Some(LoseAnswers {
            path_suffix: format!("{object_id}/addPassword"),
            count: 3,
        }),
        ..Faults::default()
    });
    let sinks = sinks(&client, &sb);
    let (observed, planned) = plan(&client, &sb, &state, false).await;
    let report = appreg::engine::apply::apply(&client, &sinks, &state, &observed, &planned)
        .await
        .unwrap();
    assert_eq!(report.failed.len(), 1, "{report:?}");
    let (address, why) = (
        &report.failed[0].address,
        report.failed[0].reason.to_string(),
    );
    assert_eq!(address, "app.file-app.secret.mail");
    assert!(why.contains("no answer came back"), "{why}");
    assert!(file_sink(&dir).is_none(), "nothing was delivered");
    // The first two lost credentials were taken back; the third is an orphan nobody holds.
    assert_eq!(credentials(&raw, "file-app", "mail").await.len(), 1);

    sb.set_faults(Faults::default());
    apply(&client, &sb, &state, false).await;
    for app in ["file-app", "vault-app"] {
        assert_eq!(
            credentials(&raw, app, "mail").await.len(),
            1,
            "{app}: no orphan"
        );
    }
    assert_sinks_hold_working_credentials(&sb, &raw, &dir).await;
    let (_, again) = plan(&client, &sb, &state, false).await;
    assert_eq!(pending(&again), Vec::<String>::new());
    sb.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_lost_remove_password_answer_is_retried_by_the_client() {
    let sb = start(Faults::default(), 63).await;
    let raw = Raw::new(&sb).await;
    let client = client(&sb);
    let dir = workdir();
    apply(
        &client,
        &sb,
        &load(&[secrets_manifest(&dir, "20d", "10d", 1)]),
        false,
    )
    .await;
    // Due for rotation with keep 1: the old credential goes once the new one is delivered.
    let state = load(&[secrets_manifest(&dir, "25d", "21d", 1)]);
    sb.set_faults(Faults {
        lose_answers: Some(LoseAnswers {
            path_suffix: "/removePassword".into(),
            count: 1,
        }),
        ..Faults::default()
    });
    sb.clear_log();
    apply(&client, &sb, &state, false).await;
    assert_eq!(password_calls(&sb), (2, 3), "one removal sent twice");
    for app in ["file-app", "vault-app"] {
        assert_eq!(credentials(&raw, app, "mail").await.len(), 1, "{app}");
    }
    assert_sinks_hold_working_credentials(&sb, &raw, &dir).await;
    sb.shutdown().await;
}
