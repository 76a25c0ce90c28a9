//! `appreg import` end to end (issue 13): the three example integrations registered by hand in
//! the sandbox, as their portal guides say, are imported into manifests, adopted by one apply,
//! and later rotated by policy once a sink is chosen, the old secret working throughout.

use crate::{adoption, registrations, tenant};

use std::path::Path;

use adoption::*;
use appreg::emulator::{Faults, RunningSandbox};
use registrations::*;
use serde_json::Value;
use tenant::*;

const SET: &str = "integrations";

/// Inserts `line` as a sibling of the `name:` line of `file` holding `anchor` (same indentation,
/// after it); a list item's `- ` counts as indentation.
fn insert_beside(file: &Path, anchor: &str, line: &str) {
    let text = std::fs::read_to_string(file).unwrap();
    let mut out = String::new();
    let mut found = false;
    for current in text.lines() {
        out.push_str(current);
        out.push('\n');
        if !found
            && current.contains(anchor)
            && current.contains("name:")
            && !current.trim_start().starts_with('#')
        {
            let indent = current.len() - current.trim_start().len()
                + if current.trim_start().starts_with("- ") {
                    2
                } else {
                    0
                };
            out.push_str(&format!("{}{line}\n", " ".repeat(indent)));
            found = true;
        }
    }
    assert!(
        found,
        "{} has no line with {anchor}:\n{text}",
        file.display()
    );
    std::fs::write(file, out).unwrap();
}

async fn plan_json(sb: &appreg::emulator::RunningSandbox, cwd: &Path, extra: &[&str]) -> Value {
    let mut args = extra.to_vec();
    args.extend(["plan", "--json", "manifests"]);
    let (code, stdout, stderr) = run_cli(sb, cwd, &args).await;
    assert_eq!(code, 0, "{args:?}: {stderr}");
    serde_json::from_str(&stdout).unwrap()
}

#[tokio::test]
async fn example_integrations_made_by_hand_are_imported_adopted_and_later_rotated_with_overlap() {
    let sb = start(Faults::default(), 13).await;
    let raw = Raw::new(&sb).await;
    let directory = Directory::load(&raw).await;
    let mut made = Vec::new();
    for registration in example_integrations() {
        made.push(register(&raw, &directory, &registration).await);
    }
    let [crm, erp, odoo] = &made[..] else {
        unreachable!()
    };
    let crm_secret = crm.secrets[0].clone();
    let odoo_secret = odoo.secrets[0].clone();
    for (app, secret) in [(crm, &crm_secret), (odoo, &odoo_secret)] {
        secret_signs_in(&sb, &app.app_id, &secret.text)
            .await
            .unwrap_or_else(|e| panic!("{} before the import: {e}", app.display_name));
    }

    // 1. Import the three by appId: one file per app, nothing written to the tenant.
    let work = tempfile::tempdir().unwrap();
    sb.clear_log();
    let (code, stdout, stderr) = run_cli(
        &sb,
        work.path(),
        &[
            "import",
            "--app",
            &crm.app_id,
            "--app",
            &erp.app_id,
            "--app",
            &odoo.app_id,
            "--set",
            SET,
            "--out",
            "manifests",
        ],
    )
    .await;
    assert_eq!(code, 0, "{stderr}");
    assert!(writes(&sb).is_empty(), "import wrote {:?}", writes(&sb));
    let manifests = work.path().join("manifests");
    let files = manifest_texts(&manifests);
    assert_eq!(files.len(), 3, "one file per app: {files:?}");
    for (path, text) in &files {
        assert!(
            text.starts_with("# yaml-language-server: $schema="),
            "{}: no schema modeline:\n{text}",
            path.display()
        );
        for secret in [&crm_secret, &odoo_secret] {
            assert!(
                !text.contains(&secret.text),
                "{} holds a secret",
                path.display()
            );
        }
    }
    for secret in [&crm_secret, &odoo_secret] {
        assert!(!stdout.contains(&secret.text) && !stderr.contains(&secret.text));
    }
    let text_of = |app: &Registered| -> String {
        let (path, _) = entry_adopting(&manifests, &app.app_id)
            .unwrap_or_else(|| panic!("no entry adopts {}", app.display_name));
        std::fs::read_to_string(path).unwrap()
    };
    // What a person would write: permissions by name, consent as a flag, people by name.
    let crm_text = text_of(crm);
    for expected in [
        "Microsoft Graph",
        "Calendars.ReadWrite",
        "adminConsent: true",
        "https://crm.example.com/modules/Office365Sync/authentication.php",
        "vendor-handoff",
        &crm_secret.key_id,
    ] {
        assert!(
            crm_text.contains(expected),
            "CRM: no {expected}:\n{crm_text}"
        );
    }
    let odoo_text = text_of(odoo);
    for expected in [
        "AzureADandPersonalMicrosoftAccount",
        "IMAP.AccessAsUser.All",
        "mail-sender@contoso.com",
        "Odoo mail senders",
        "odoo-fetchmail",
    ] {
        assert!(
            odoo_text.contains(expected),
            "Odoo: no {expected}:\n{odoo_text}"
        );
    }
    let erp_text = text_of(erp);
    for expected in [
        "nativeclient",
        "token.actions.githubusercontent.com",
        "Contacts.ReadWrite",
    ] {
        assert!(
            erp_text.contains(expected),
            "ERP: no {expected}:\n{erp_text}"
        );
    }
    assert!(
        !erp_text.contains("adminConsent: true"),
        "nobody consented for the ERP app:\n{erp_text}"
    );

    adopt_then_rotate(&sb, &raw, work.path(), &made).await;
    sb.shutdown().await;
}

/// From manifests in `work/manifests` that adopt the three hand-made integrations `made` (CRM,
/// ERP, Odoo): the plan is the adoption alone, apply converges, the secrets keep signing in; two
/// years on, with a sink chosen for the CRM's secret, it rotates with overlap and Odoo's (no sink)
/// does not.
async fn adopt_then_rotate(sb: &RunningSandbox, raw: &Raw, work: &Path, made: &[Registered]) {
    let [crm, erp, odoo] = made else {
        unreachable!()
    };
    let (crm_secret, odoo_secret) = (crm.secrets[0].clone(), odoo.secrets[0].clone());
    let manifests = work.join("manifests");
    // 2. The plan adopts the three and changes nothing else; apply; then nothing is left to do.
    let plan = plan_json(sb, work, &[]).await;
    let problems = beyond_adoption(&plan, SET, &[]);
    assert!(problems.is_empty(), "{problems:#?}");
    let adopted = adopted(&plan);
    for app in [crm, erp, odoo] {
        let (_, key) = entry_adopting(&manifests, &app.app_id).unwrap();
        assert!(
            adopted.contains(&format!("app.{key}")),
            "{key} not adopted: {adopted:?}"
        );
    }
    let (code, _, stderr) = run_cli(sb, work, &["apply", "--auto-approve", "manifests"]).await;
    assert_eq!(code, 0, "{stderr}");
    let again = plan_json(sb, work, &[]).await;
    assert!(
        pending_changes(&again).is_empty(),
        "{:#?}",
        pending_changes(&again)
    );
    for (app, secret) in [(crm, &crm_secret), (odoo, &odoo_secret)] {
        secret_signs_in(sb, &app.app_id, &secret.text)
            .await
            .unwrap_or_else(|e| panic!("{} after adoption: {e}", app.display_name));
    }

    // 3. A sink is chosen for the CRM's secret: the next apply issues a value and delivers it
    //    there; Odoo's secret has no sink and stays as it is. The credential the vendor holds
    //    is one of this secret's generations (claimed by keyId), so it stays for the overlap.
    //    Product gaps are collected, so the later rotation is still judged.
    let mut gaps: Vec<String> = Vec::new();
    let (crm_file, _) = entry_adopting(&manifests, &crm.app_id).unwrap();
    insert_beside(
        &crm_file,
        "vendor-handoff",
        "deliver: { file: secrets/crm-calendar-sync.json }",
    );
    let delivered_path = crm_file
        .parent()
        .unwrap()
        .join("secrets/crm-calendar-sync.json");
    let rotations = |plan: &Value| -> Vec<String> {
        pending_changes(plan)
            .into_iter()
            .filter(|c| c.contains("\"rotate\""))
            .collect()
    };
    let plan = plan_json(sb, work, &[]).await;
    let rotating = rotations(&plan);
    assert!(
        rotating.len() == 1 && rotating[0].contains("vendor-handoff"),
        "the CRM secret alone is issued for its new sink: {:#?}",
        pending_changes(&plan)
    );
    if removes(&plan).contains(&crm_secret.key_id) {
        gaps.push(format!(
            "regression: choosing a sink plans to remove the adopted credential the vendor uses \
             (keyIds claim it as a generation, keep defaults to 2): {}",
            rotating[0]
        ));
    }
    let (code, _, stderr) = run_cli(sb, work, &["apply", "--auto-approve", "manifests"]).await;
    assert_eq!(code, 0, "{stderr}");
    assert!(!stderr.contains(&crm_secret.text));
    let first = delivered(&delivered_path);
    assert_ne!(first.key_id, crm_secret.key_id);
    secret_signs_in(sb, &crm.app_id, &first.secret)
        .await
        .unwrap();
    if let Err(e) = secret_signs_in(sb, &crm.app_id, &crm_secret.text).await {
        gaps.push(format!(
            "regression: the vendor's adopted CRM secret stopped signing in once a sink was chosen ({e}): \
             no overlap for the credential import declared"
        ));
    }
    secret_signs_in(sb, &odoo.app_id, &odoo_secret.text)
        .await
        .unwrap();

    // 4. Later, by policy: ten days before the delivered value expires (`--as-of` moves the
    //    clock), it is rotated; the value in use keeps working until and after the new one is
    //    delivered, and both generations show.
    let later = (first.expiry - chrono::Duration::days(10)).to_string();
    let mut plan = plan_json(sb, work, &["--as-of", &later]).await;
    if rotations(&plan).is_empty() {
        gaps.push(format!(
            "regression: `--as-of {later}` (ten days before the delivered secret expires) does not \
             make its rotation due: the global --as-of moves retirement dates only, not the \
             rotation clock"
        ));
        // Make it due today instead, by policy: a rotation window wider than what is left.
        set_in_secret(&crm_file, "vendor-handoff", "lifetime", "365d");
        set_in_secret(&crm_file, "vendor-handoff", "rotateBefore", "250d");
        plan = plan_json(sb, work, &["--as-of", &later]).await;
    }
    let rotating = rotations(&plan);
    assert!(
        rotating.len() == 1 && rotating[0].contains("vendor-handoff"),
        "--as-of {later}: the CRM secret alone is due: {:#?}",
        pending_changes(&plan)
    );
    assert!(
        !removes(&plan).contains(&first.key_id),
        "the value in use is not removed by its own rotation: {}",
        rotating[0]
    );
    secret_signs_in(sb, &crm.app_id, &first.secret)
        .await
        .unwrap();
    let (code, _, stderr) = run_cli(
        sb,
        work,
        &["--as-of", &later, "apply", "--auto-approve", "manifests"],
    )
    .await;
    assert_eq!(code, 0, "{stderr}");
    assert!(!stderr.contains(&first.secret));
    let second = delivered(&delivered_path);
    assert_ne!(second.key_id, first.key_id);
    assert_ne!(second.secret, first.secret);
    secret_signs_in(sb, &crm.app_id, &second.secret)
        .await
        .unwrap();
    secret_signs_in(sb, &crm.app_id, &first.secret)
        .await
        .unwrap_or_else(|e| panic!("the previous CRM secret stopped at rotation, no overlap: {e}"));
    secret_signs_in(sb, &odoo.app_id, &odoo_secret.text)
        .await
        .unwrap();
    let live = raw.get(&format!("/applications/{}", crm.object_id)).await;
    let key_ids: Vec<&str> = live["passwordCredentials"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|c| c["keyId"].as_str())
        .collect();
    assert!(
        key_ids.contains(&first.key_id.as_str()) && key_ids.contains(&second.key_id.as_str()),
        "{key_ids:?}"
    );
    let (code, listing, stderr) = run_cli(
        sb,
        work,
        &["--as-of", &later, "credentials", "--json", "manifests"],
    )
    .await;
    assert_eq!(code, 0, "{stderr}");
    let listing: Value = serde_json::from_str(&listing).unwrap();
    let standing_of = |key_id: &str| -> String {
        listing["credentials"]
            .as_array()
            .unwrap()
            .iter()
            .find(|c| c["keyId"] == key_id)
            .map(|c| c["standing"].to_string())
            .unwrap_or_else(|| panic!("{key_id} not listed: {listing:#}"))
    };
    assert!(standing_of(&second.key_id).contains("current"));
    assert!(standing_of(&first.key_id).contains("previous"));
    assert!(!listing.to_string().contains(&second.secret));
    assert!(gaps.is_empty(), "{gaps:#?}");
}

/// Sets `key: value` in the secret entry named `name` of `file`: replaces the key's line in that
/// entry if there is one, else adds it beside the name.
fn set_in_secret(file: &Path, name: &str, key: &str, value: &str) {
    let text = std::fs::read_to_string(file).unwrap();
    let lines: Vec<&str> = text.lines().collect();
    let start = lines
        .iter()
        .position(|l| l.contains("name:") && l.contains(name))
        .unwrap_or_else(|| panic!("no secret {name} in {}", file.display()));
    let indent = lines[start].len() - lines[start].trim_start().len() + 2;
    let own = lines[start + 1..]
        .iter()
        .take_while(|l| l.trim().is_empty() || l.len() - l.trim_start().len() >= indent)
        .position(|l| l.trim_start().starts_with(&format!("{key}:")));
    let mut out: Vec<String> = lines.iter().map(|l| l.to_string()).collect();
    let line = format!("{}{key}: {value}", " ".repeat(indent));
    match own {
        Some(offset) => out[start + 1 + offset] = line,
        None => out.insert(start + 1, line),
    }
    std::fs::write(file, out.join("\n") + "\n").unwrap();
}

/// What the rotations of a JSON plan remove (their `removes` fields), as text.
fn removes(plan: &Value) -> String {
    plan["changes"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|c| c["action"] == "rotate")
        .flat_map(|c| c["fields"].as_array().cloned().unwrap_or_default())
        .filter(|f| f["field"] == "removes")
        .map(|f| f["before"].to_string())
        .collect()
}

/// A value a file sink holds.
struct Delivered {
    key_id: String,
    secret: String,
    expiry: chrono::NaiveDate,
}

/// Reads a file sink: mode 0600, the value, its keyId and expiry.
fn delivered(path: &Path) -> Delivered {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(path).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600, "{}", path.display());
    }
    let file: Value = serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    let expiry = file["expiry"].as_str().unwrap_or_default();
    Delivered {
        key_id: file["keyId"].as_str().unwrap().to_string(),
        secret: file["clientSecret"].as_str().unwrap().to_string(),
        expiry: chrono::DateTime::parse_from_rfc3339(expiry)
            .map(|t| t.date_naive())
            .or_else(|_| expiry.parse())
            .unwrap_or_else(|_| panic!("expiry {expiry:?}")),
    }
}

/// What `appreg import` must produce for the three hand-made integrations, written by hand from
/// the portal guides: the reference that the adoption, the convergence and the rotation hold for
/// a faithful manifest, whatever the generator does.
fn written_by_hand(made: &[Registered]) -> String {
    let [crm, erp, odoo] = made else {
        unreachable!()
    };
    format!(
        r#"# yaml-language-server: $schema=../schemas/appreg.schema.json
version: 1
name: {SET}
apps:
  crm-calendar-sync:
    adopt: {crm_app}
    displayName: CRM calendar sync
    signInAudience: AzureADMyOrg
    web:
      redirectUris: [https://crm.example.com/modules/Office365Sync/authentication.php]
    permissions:
      Microsoft Graph:
        delegated: [User.Read]
        application: [Calendars.ReadWrite]
    adminConsent: true
    owners: [{{user: adele.vance@contoso.com}}]
    secrets:
      - name: vendor-handoff
        keyIds: [{crm_key}]
  erp-contacts-sync:
    adopt: {erp_app}
    displayName: ERP contacts sync
    signInAudience: AzureADMyOrg
    publicClient:
      redirectUris: [https://login.microsoftonline.com/common/oauth2/nativeclient]
    permissions:
      Microsoft Graph:
        delegated: [User.Read, Contacts.ReadWrite, Calendars.ReadWrite, offline_access]
    owners: [{{user: adele.vance@contoso.com}}]
    federatedCredentials:
      - name: github-0
        issuer: https://token.actions.githubusercontent.com
        subject: repo:contoso/erp-contacts-sync:environment:env0
        audiences: [api://AzureADTokenExchange]
  odoo-outlook:
    adopt: {odoo_app}
    displayName: Odoo
    signInAudience: AzureADandPersonalMicrosoftAccount
    api:
      requestedAccessTokenVersion: 2
    web:
      redirectUris: [https://odoo.example.com/microsoft_outlook/confirm]
    permissions:
      Microsoft Graph:
        delegated: [User.Read, SMTP.Send, IMAP.AccessAsUser.All, offline_access]
    adminConsent: true
    owners: [{{user: adele.vance@contoso.com}}]
    servicePrincipal:
      assignmentRequired: true
      assignments:
        - user: mail-sender@contoso.com
        - group: Odoo mail senders
    secrets:
      - name: odoo-fetchmail
        keyIds: [{odoo_key}]
"#,
        crm_app = crm.app_id,
        erp_app = erp.app_id,
        odoo_app = odoo.app_id,
        crm_key = crm.secrets[0].key_id,
        odoo_key = odoo.secrets[0].key_id,
    )
}

#[tokio::test]
async fn example_integrations_made_by_hand_adopted_by_a_hand_written_manifest_keep_their_secrets() {
    let sb = start(Faults::default(), 13).await;
    let raw = Raw::new(&sb).await;
    let directory = Directory::load(&raw).await;
    let mut made = Vec::new();
    for registration in example_integrations() {
        made.push(register(&raw, &directory, &registration).await);
    }
    let work = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(work.path().join("manifests")).unwrap();
    std::fs::write(
        work.path().join("manifests/integrations.yaml"),
        written_by_hand(&made),
    )
    .unwrap();
    adopt_then_rotate(&sb, &raw, work.path(), &made).await;
    sb.shutdown().await;
}
