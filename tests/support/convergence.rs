//! What "converged" means, checked from the tenant's side with raw HTTP: no duplicate object of
//! any kind the manifest declares. Shared by the end-to-end tests and the fault and crash matrices.
#![allow(dead_code)]

use appreg::model::DesiredState;
use serde_json::Value;

use super::tenant::Raw;

/// Exactly one app per uniqueName of the manifest and everything it declares exactly once (see
/// [`census`]): nothing duplicated, nothing missing.
pub async fn assert_no_duplicates(raw: &Raw, state: &DesiredState) {
    let found = census(raw, state).await;
    assert!(
        found.duplicates.is_empty() && found.missing.is_empty(),
        "not converged: {found:#?}"
    );
}

/// What the tenant holds against what a manifest declares, counted rather than asserted so a
/// matrix can report it: surplus objects (duplicates) and declared objects that are absent.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Census {
    /// One line per surplus: a second app of a uniqueName, a second service principal, more
    /// grants, role assignments or federated credentials than declared, more password credentials
    /// of a name than its `keep`.
    pub duplicates: Vec<String>,
    /// One line per absence: an app, its service principal, a grant, a role assignment, a
    /// federated credential, a secret with no credential or whose file sink holds none of them.
    pub missing: Vec<String>,
}

/// Counts duplicates and absences of everything `state` declares, read with raw HTTP. Secrets
/// delivered to file sinks are checked against the file: it must name one of the live
/// credentials of its name (other sinks are not read).
pub async fn census(raw: &Raw, state: &DesiredState) -> Census {
    use appreg::model::SecretSink;

    let mut census = Census::default();
    let apps = raw.apps().await;
    let compare = |census: &mut Census, what: String, have: usize, want: usize| {
        if have > want {
            census
                .duplicates
                .push(format!("{what}: {have} (declared {want})"));
        } else if have < want {
            census
                .missing
                .push(format!("{what}: {have} (declared {want})"));
        }
    };
    for app in state.apps.values() {
        let same: Vec<&Value> = apps
            .iter()
            .filter(|a| a["uniqueName"] == app.unique_name.as_str())
            .collect();
        compare(
            &mut census,
            format!("apps named {}", app.unique_name),
            same.len(),
            1,
        );
        let Some(live) = same.first() else {
            continue;
        };
        let app_id = live["appId"].as_str().unwrap_or_default();
        let object_id = live["id"].as_str().unwrap_or_default();

        let federated = raw
            .list(&format!(
                "/applications/{object_id}/federatedIdentityCredentials"
            ))
            .await;
        for spec in &app.federated_credentials {
            let n = federated
                .iter()
                .filter(|f| f["name"] == spec.name.as_str())
                .count();
            compare(
                &mut census,
                format!("{}: federated credential {}", app.key, spec.name),
                n,
                1,
            );
        }
        let undeclared = federated
            .iter()
            .filter(|f| {
                !app.federated_credentials
                    .iter()
                    .any(|s| f["name"] == s.name.as_str())
            })
            .count();
        compare(
            &mut census,
            format!("{}: undeclared federated credentials", app.key),
            undeclared,
            0,
        );

        let passwords: Vec<Value> = live["passwordCredentials"]
            .as_array()
            .cloned()
            .unwrap_or_default();
        for spec in &app.secrets {
            let mine: Vec<&str> = passwords
                .iter()
                .filter(|p| p["displayName"] == spec.name.as_str())
                .filter_map(|p| p["keyId"].as_str())
                .collect();
            let what = format!("{}: password credentials {}", app.key, spec.name);
            if mine.is_empty() {
                census.missing.push(format!("{what}: none"));
            } else if mine.len() > spec.keep.max(1) as usize {
                census
                    .duplicates
                    .push(format!("{what}: {} (keep {})", mine.len(), spec.keep));
            }
            if let Some(SecretSink::File(path)) = &spec.sink {
                let held = std::fs::read_to_string(path.resolved())
                    .ok()
                    .and_then(|text| serde_json::from_str::<Value>(&text).ok())
                    .and_then(|doc| doc["keyId"].as_str().map(str::to_lowercase));
                let delivered = held
                    .as_deref()
                    .is_some_and(|k| mine.iter().any(|m| m.eq_ignore_ascii_case(k)));
                if !delivered {
                    census.missing.push(format!(
                        "{what}: the sink {} holds {held:?}, not one of {mine:?}",
                        path.resolved().display()
                    ));
                }
            }
        }

        let sps = raw
            .list(&format!("/servicePrincipals?$filter=appId eq '{app_id}'"))
            .await;
        compare(
            &mut census,
            format!("{}: service principals", app.key),
            sps.len(),
            1,
        );
        let Some(sp) = sps.first() else {
            continue;
        };
        let sp_id = sp["id"].as_str().unwrap_or_default();
        let grants = raw
            .list(&format!(
                "/oauth2PermissionGrants?$filter=clientId eq '{sp_id}'"
            ))
            .await;
        let granted = app.admin_consent.granted(&app.permissions);
        let wanted_grants = granted.values().filter(|p| !p.delegated.is_empty()).count();
        compare(
            &mut census,
            format!("{}: delegated grants", app.key),
            grants.len(),
            wanted_grants,
        );
        let held = raw
            .list(&format!("/servicePrincipals/{sp_id}/appRoleAssignments"))
            .await;
        let wanted_roles: usize = granted.values().map(|p| p.application.len()).sum();
        compare(
            &mut census,
            format!("{}: application permissions", app.key),
            held.len(),
            wanted_roles,
        );
        let assigned = raw
            .list(&format!("/servicePrincipals/{sp_id}/appRoleAssignedTo"))
            .await;
        compare(
            &mut census,
            format!("{}: assignments", app.key),
            assigned.len(),
            app.service_principal.assignments.len(),
        );
    }
    census
}
