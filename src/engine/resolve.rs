//! Permission resolution: manifest names -> the ids a resource API's service principal defines.
//!
//! The tenant is the authority. A resource is named by a well-known name, an appId, or the display
//! name of a service principal in the tenant; its names come from that service principal's appRoles
//! and oauth2PermissionScopes, read once per resource per run.

use serde_json::Value;
use uuid::Uuid;

use crate::catalogue::{self, PermissionKind};
use crate::manifest::diagnostic::closest;

/// How the manifest named a resource, and so how the tenant is searched for it.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub enum ResourceRef {
    AppId(Uuid),
    DisplayName(String),
}

impl ResourceRef {
    pub fn parse(written: &str) -> ResourceRef {
        if let Some(resource) = catalogue::resource(written) {
            return ResourceRef::AppId(resource.app_id);
        }
        match Uuid::parse_str(written) {
            Ok(id) => ResourceRef::AppId(id),
            Err(_) => ResourceRef::DisplayName(written.to_string()),
        }
    }
}

/// A resource API as its service principal in the tenant defines it.
#[derive(Debug, Clone)]
pub struct ResourceApi {
    pub app_id: Uuid,
    /// Object id of the resource's service principal: grants and assignments point at it.
    pub sp_id: String,
    pub display_name: String,
    permissions: Vec<(PermissionKind, String, Uuid)>,
}

impl ResourceApi {
    /// Reads a servicePrincipal object (with appRoles and oauth2PermissionScopes).
    pub fn from_service_principal(sp: &Value) -> Option<ResourceApi> {
        let app_id = Uuid::parse_str(sp.get("appId")?.as_str()?).ok()?;
        let mut permissions = Vec::new();
        for (field, kind) in [
            ("oauth2PermissionScopes", PermissionKind::Delegated),
            ("appRoles", PermissionKind::Application),
        ] {
            for item in sp
                .get(field)
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
            {
                let allowed = kind == PermissionKind::Delegated
                    || item
                        .get("allowedMemberTypes")
                        .and_then(Value::as_array)
                        .is_none_or(|t| t.iter().any(|m| m == "Application"));
                let (Some(value), Some(id)) = (
                    item.get("value").and_then(Value::as_str),
                    item.get("id").and_then(Value::as_str),
                ) else {
                    continue;
                };
                if let (true, Ok(id)) = (allowed, Uuid::parse_str(id)) {
                    permissions.push((kind, value.to_string(), id));
                }
            }
        }
        Some(ResourceApi {
            app_id,
            sp_id: sp.get("id")?.as_str()?.to_string(),
            display_name: sp
                .get("displayName")
                .and_then(Value::as_str)
                .unwrap_or_default()
                .to_string(),
            permissions,
        })
    }

    /// The id of a permission by name; a permission the resource does not name (imported as it
    /// was requested) may be written as its id.
    pub fn id_of(&self, kind: PermissionKind, name: &str) -> Option<Uuid> {
        self.permissions
            .iter()
            .find(|(k, n, _)| *k == kind && n == name)
            .map(|(_, _, id)| *id)
            .or_else(|| Uuid::parse_str(name).ok())
    }

    /// The name of an id, or the id itself when this resource does not define it.
    pub fn name_of(&self, kind: PermissionKind, id: &str) -> String {
        // Compared as ids, not text: formatting each of a large API's permissions for every
        // lookup was a third of the planner's time.
        // Only the hyphenated form names a permission (36 characters; `parse_str` takes others).
        let Some(wanted) = Some(id)
            .filter(|id| id.len() == 36)
            .and_then(|id| Uuid::parse_str(id).ok())
        else {
            return id.to_string();
        };
        self.permissions
            .iter()
            .find(|(k, _, i)| *k == kind && *i == wanted)
            .map_or_else(|| id.to_string(), |(_, n, _)| n.clone())
    }

    /// Resolves every name, or explains each one that does not exist with a suggestion.
    pub fn resolve(&self, kind: PermissionKind, names: &[&str]) -> Result<Vec<Uuid>, Vec<String>> {
        let mut ids = Vec::new();
        let mut problems = Vec::new();
        for name in names {
            match self.id_of(kind, name) {
                Some(id) => ids.push(id),
                None => {
                    let candidates = self
                        .permissions
                        .iter()
                        .filter(|(k, _, _)| *k == kind)
                        .map(|(_, n, _)| n.as_str());
                    let hint = closest(name, candidates)
                        .map(|s| format!("; did you mean `{s}`?"))
                        .unwrap_or_default();
                    problems.push(format!(
                        "{} ({}) defines no {kind} permission `{name}`{hint}",
                        self.display_name, self.app_id
                    ));
                }
            }
        }
        if problems.is_empty() {
            Ok(ids)
        } else {
            Err(problems)
        }
    }
}

/// A resource API as a tenant holds it, built from the offline catalogue (for tests).
#[cfg(test)]
impl ResourceApi {
    pub fn from_catalogue(name: &str, sp_id: &str) -> ResourceApi {
        let resource = catalogue::resource(name).unwrap();
        let (mut scopes, mut roles) = (Vec::new(), Vec::new());
        for p in resource.permissions() {
            match p.kind {
                PermissionKind::Delegated => {
                    scopes.push(serde_json::json!({"id": p.id, "value": p.name}))
                }
                PermissionKind::Application => roles.push(
                    serde_json::json!({"id": p.id, "value": p.name, "allowedMemberTypes": ["Application"]}),
                ),
            }
        }
        let sp = serde_json::json!({"id": sp_id, "appId": resource.app_id, "displayName": resource.name,
            "oauth2PermissionScopes": scopes, "appRoles": roles});
        ResourceApi::from_service_principal(&sp).unwrap()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn graph() -> ResourceApi {
        ResourceApi::from_service_principal(&json!({
            "id": "sp-1",
            "appId": "00000003-0000-0000-c000-000000000000",
            "displayName": "Microsoft Graph",
            "oauth2PermissionScopes": [{"id": "e1fe6dd8-ba31-4d61-89e7-88639da4683d", "value": "User.Read"}],
            "appRoles": [
                {"id": "df021288-bdef-4463-88db-98f22de89214", "value": "User.Read.All", "allowedMemberTypes": ["Application"]},
                {"id": "11111111-1111-1111-1111-111111111111", "value": "Users.Only", "allowedMemberTypes": ["User"]}
            ]
        }))
        .unwrap()
    }

    #[test]
    fn resource_names_resolve_by_catalogue_guid_or_display_name() {
        let graph_id = Uuid::parse_str("00000003-0000-0000-c000-000000000000").unwrap();
        assert_eq!(
            ResourceRef::parse("Microsoft Graph"),
            ResourceRef::AppId(graph_id)
        );
        assert_eq!(
            ResourceRef::parse("00000003-0000-0000-c000-000000000000"),
            ResourceRef::AppId(graph_id)
        );
        assert_eq!(
            ResourceRef::parse("Contoso API"),
            ResourceRef::DisplayName("Contoso API".into())
        );
    }

    #[test]
    fn names_resolve_per_kind_and_unknown_names_get_suggestions() {
        let api = graph();
        assert_eq!(
            api.resolve(PermissionKind::Delegated, &["User.Read"])
                .unwrap()
                .len(),
            1
        );
        // Roles only users can hold are not application permissions.
        assert!(
            api.resolve(PermissionKind::Application, &["Users.Only"])
                .is_err()
        );
        let problems = api
            .resolve(PermissionKind::Application, &["User.Raed.All"])
            .unwrap_err();
        assert!(
            problems[0].contains("did you mean `User.Read.All`"),
            "{problems:?}"
        );
    }

    #[test]
    fn ids_without_a_name_are_shown_raw() {
        assert_eq!(
            graph().name_of(
                PermissionKind::Delegated,
                "E1FE6DD8-BA31-4D61-89E7-88639DA4683D"
            ),
            "User.Read"
        );
        assert_eq!(graph().name_of(PermissionKind::Delegated, "abc"), "abc");
    }
}
