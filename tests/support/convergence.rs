//! What "converged" means, checked from the tenant's side with raw HTTP: no duplicate object of
//! any kind the manifest declares. Shared by the end-to-end tests and the fault and crash matrices.
#![allow(dead_code)]

use appreg::model::DesiredState;
use serde_json::Value;

use super::tenant::Raw;

/// Exactly one app per uniqueName of the manifest, one service principal per app, one tenant-wide
/// grant per client and resource, one assignment per principal and role.
pub async fn assert_no_duplicates(raw: &Raw, state: &DesiredState) {
    let apps = raw.apps().await;
    for app in state.apps.values() {
        let same: Vec<&Value> = apps
            .iter()
            .filter(|a| a["uniqueName"] == app.unique_name.as_str())
            .collect();
        assert_eq!(same.len(), 1, "apps named {}: {same:#?}", app.unique_name);
        let app_id = same[0]["appId"].as_str().unwrap();
        let sps = raw
            .list(&format!("/servicePrincipals?$filter=appId eq '{app_id}'"))
            .await;
        assert_eq!(sps.len(), 1, "service principals of {}", app.key);
        let sp_id = sps[0]["id"].as_str().unwrap();
        let grants = raw
            .list(&format!(
                "/oauth2PermissionGrants?$filter=clientId eq '{sp_id}'"
            ))
            .await;
        let mut keys: Vec<String> = grants
            .iter()
            .map(|g| format!("{} {}", g["consentType"], g["resourceId"]))
            .collect();
        let n = keys.len();
        keys.sort();
        keys.dedup();
        assert_eq!(keys.len(), n, "grants of {}: {grants:#?}", app.key);
        let wanted_grants = if app.admin_consent {
            app.permissions
                .values()
                .filter(|p| !p.delegated.is_empty())
                .count()
        } else {
            0
        };
        assert_eq!(n, wanted_grants, "grants of {}", app.key);
        let held = raw
            .list(&format!("/servicePrincipals/{sp_id}/appRoleAssignments"))
            .await;
        let wanted_roles: usize = if app.admin_consent {
            app.permissions.values().map(|p| p.application.len()).sum()
        } else {
            0
        };
        assert_eq!(
            held.len(),
            wanted_roles,
            "application permissions of {}: {held:#?}",
            app.key
        );
        let assigned = raw
            .list(&format!("/servicePrincipals/{sp_id}/appRoleAssignedTo"))
            .await;
        assert_eq!(
            assigned.len(),
            app.service_principal.assignments.len(),
            "assignments of {}: {assigned:#?}",
            app.key
        );
        let federated = raw
            .list(&format!(
                "/applications/{}/federatedIdentityCredentials",
                same[0]["id"].as_str().unwrap()
            ))
            .await;
        assert_eq!(
            federated.len(),
            app.federated_credentials.len(),
            "federated credentials of {}",
            app.key
        );
    }
}
