//! Users and groups assigned to the enterprise application, optionally to one of its app roles.
//! Assignments of other service principals (applications granted roles on this app's API) are not
//! the manifest's to manage and are left alone. Idempotency: as for application permissions.

use super::{AppContext, Instance};
use crate::engine::fields::Fields;
use crate::engine::observed::str_of;
use crate::engine::plan::ResourceType;
use crate::model::{AssignmentSpec, Principal};

use super::{DirectoryName, Phase, Requires, ResourceKind, Write, WriteError};
use crate::graph::Request;
use serde_json::json;

/// App role id that means "default access" (no particular role).
pub const DEFAULT_ACCESS: &str = "00000000-0000-0000-0000-000000000000";

pub fn suffix(spec: &AssignmentSpec) -> String {
    let principal = match &spec.principal {
        Principal::User(upn) => format!("user.{}", upn.to_lowercase()),
        Principal::Group(name) => format!("group.{name}"),
    };
    match &spec.role {
        Some(role) => format!("assignment.{principal}.{role}"),
        None => format!("assignment.{principal}"),
    }
}

pub fn desired(ctx: &AppContext) -> Vec<Instance> {
    if ctx.ignores(crate::model::IgnoredField::Assignments) {
        return Vec::new();
    }
    ctx.app
        .service_principal
        .assignments
        .iter()
        .map(|a| {
            Instance::new(
                ctx.address(&suffix(a)),
                ResourceType::Assignment,
                Fields::new(),
            )
        })
        .collect()
}

pub fn live(ctx: &AppContext) -> Vec<Instance> {
    if ctx.ignores(crate::model::IgnoredField::Assignments) {
        return Vec::new();
    }
    ctx.live
        .assigned_to
        .iter()
        .filter_map(|a| {
            let spec = assignment_spec(ctx, a)?;
            Some(
                Instance::new(
                    ctx.address(&suffix(&spec)),
                    ResourceType::Assignment,
                    Fields::new(),
                )
                .observed(a),
            )
        })
        .collect()
}

/// How the manifest would write a live assignment: the user by UPN, the group by the name the
/// manifest uses for it (display name or id), the role by value.
fn assignment_spec(ctx: &AppContext, assignment: &serde_json::Value) -> Option<AssignmentSpec> {
    let principal_id = str_of(assignment, "principalId")?;
    let principal = match str_of(assignment, "principalType")? {
        "User" => {
            let upn = ctx
                .observed
                .users
                .iter()
                .find(|(_, u)| u.as_ref().and_then(|u| str_of(u, "id")) == Some(principal_id))
                .map(|(upn, _)| upn.clone());
            Principal::User(upn.unwrap_or_else(|| principal_id.to_string()))
        }
        "Group" => {
            let name = ctx
                .observed
                .groups
                .iter()
                .find(|(_, found)| found.iter().any(|g| str_of(g, "id") == Some(principal_id)))
                .map(|(name, _)| name.clone());
            Principal::Group(name.unwrap_or_else(|| principal_id.to_string()))
        }
        _ => return None,
    };
    let role_id = str_of(assignment, "appRoleId").unwrap_or(DEFAULT_ACCESS);
    let role = (role_id != DEFAULT_ACCESS).then(|| {
        ctx.app
            .app_roles
            .iter()
            .find(|r| r.id.to_string().eq_ignore_ascii_case(role_id))
            .map_or_else(|| role_id.to_string(), |r| r.value.clone())
    });
    Some(AssignmentSpec { principal, role })
}

pub struct Assignments;

impl ResourceKind for Assignments {
    fn resource(&self) -> ResourceType {
        ResourceType::Assignment
    }

    fn phase(&self) -> Phase {
        Phase::SubObject
    }

    fn requires(&self) -> Requires {
        Requires::ServicePrincipal
    }

    fn desired(&self, ctx: &AppContext) -> Vec<Instance> {
        desired(ctx)
    }

    fn live(&self, ctx: &AppContext) -> Vec<Instance> {
        live(ctx)
    }

    /// Every user and group an assignment names must exist, and a group name must name one group.
    fn check(
        &self,
        ctx: &AppContext,
        _: chrono::DateTime<chrono::Utc>,
        _: &mut Vec<crate::engine::plan::Notice>,
        problems: &mut Vec<super::Problem>,
    ) {
        let (observed, app) = (ctx.observed, ctx.app);
        for assignment in &app.service_principal.assignments {
            match &assignment.principal {
                Principal::User(upn) => {
                    if observed
                        .users
                        .get(&upn.to_lowercase())
                        .is_none_or(Option::is_none)
                    {
                        problems.push(super::Problem::new(
                            ctx.address(""),
                            super::Cause::UnknownPrincipal,
                            format!("user `{upn}` does not exist in the tenant"),
                        ));
                    }
                }
                Principal::Group(name) => {
                    match observed
                        .groups
                        .get(name)
                        .map(Vec::as_slice)
                        .unwrap_or_default()
                    {
                        [_] => {}
                        [] => problems.push(super::Problem::new(
                            ctx.address(""),
                            super::Cause::UnknownPrincipal,
                            format!("group `{name}` does not exist in the tenant"),
                        )),
                        several => {
                            let ids: Vec<&str> =
                                several.iter().filter_map(|g| str_of(g, "id")).collect();
                            problems.push(super::Problem::new(
                                ctx.address(""),
                                super::Cause::UnknownPrincipal,
                                format!(
                                    "several groups are named `{name}` ({}); name the group by its id",
                                    ids.join(", ")
                                ),
                            ));
                        }
                    }
                }
            }
        }
    }

    fn directory_names(&self, app: &crate::model::DesiredApp) -> Vec<DirectoryName> {
        app.service_principal
            .assignments
            .iter()
            .map(|a| match &a.principal {
                Principal::User(upn) => DirectoryName::User(upn.to_lowercase()),
                Principal::Group(name) => DirectoryName::Group(name.clone()),
            })
            .collect()
    }

    fn create(&self, ctx: &AppContext, write: &Write) -> Result<Request, WriteError> {
        let desired = write.desired()?;
        let app = ctx.app;
        let spec = app
            .service_principal
            .assignments
            .iter()
            .find(|a| desired.address == ctx.address(&suffix(a)))
            .ok_or(WriteError::NotDeclared("assignment"))?;
        let principal = match &spec.principal {
            Principal::User(upn) => ctx
                .observed
                .users
                .get(&upn.to_lowercase())
                .cloned()
                .flatten(),
            Principal::Group(name) => ctx
                .observed
                .groups
                .get(name)
                .and_then(|g| g.first())
                .cloned(),
        };
        let principal_id = principal
            .and_then(|p| str_of(&p, "id").map(str::to_string))
            .ok_or(WriteError::NotInTenant("principal"))?;
        let role_id = match &spec.role {
            Some(value) => app
                .app_roles
                .iter()
                .find(|r| &r.value == value)
                .map(|r| r.id.to_string())
                .ok_or(WriteError::NotDeclared("app role"))?,
            None => DEFAULT_ACCESS.to_string(),
        };
        let sp_id = write.sp_id()?;
        let body =
            json!({ "principalId": principal_id, "resourceId": sp_id, "appRoleId": role_id });
        Ok(write.fresh(Request::post(
            format!("/servicePrincipals/{sp_id}/appRoleAssignedTo"),
            body,
        )))
    }

    /// An assignment has nothing to update: it is there or not.
    fn update(&self, _: &AppContext, _: &Write) -> Result<Request, WriteError> {
        Err(WriteError::NothingToUpdate("an assignment"))
    }

    fn delete(&self, _: &AppContext, write: &Write) -> Result<Request, WriteError> {
        Ok(Request::delete(format!(
            "/servicePrincipals/{}/appRoleAssignedTo/{}",
            write.sp_id()?,
            write.live_id()?
        )))
    }

    /// Users by userPrincipalName and groups by display name (by id when the name is not the
    /// tenant's only group of that name), each with the role's value. Service principals
    /// assigned to the app's roles are not the manifest's to declare and stay as they are.
    fn inverse(
        &self,
        from: &super::Adopted,
        app: &mut crate::model::DesiredApp,
        out: &mut super::Inverse,
    ) {
        let mut assignments = std::collections::BTreeSet::new();
        for assignment in &from.live.assigned_to {
            let principal_id = str_of(assignment, "principalId").unwrap_or_default();
            let principal = match str_of(assignment, "principalType") {
                Some("User") => match from.users.get(principal_id) {
                    Some(upn) => Principal::User(upn.clone()),
                    None => {
                        out.unrepresented.push(format!(
                            "the assignment of user {principal_id}: no userPrincipalName could be read; the first apply removes it"
                        ));
                        continue;
                    }
                },
                Some("Group") => match from.groups.get(principal_id) {
                    Some((name, true)) => Principal::Group(name.clone()),
                    _ => Principal::Group(principal_id.to_string()),
                },
                // Applications granted the app's roles: left alone by plan and apply alike.
                _ => continue,
            };
            let role_id = str_of(assignment, "appRoleId").unwrap_or(DEFAULT_ACCESS);
            let role = if role_id == DEFAULT_ACCESS {
                None
            } else {
                match app
                    .app_roles
                    .iter()
                    .find(|r| r.id.to_string().eq_ignore_ascii_case(role_id))
                {
                    Some(r) => Some(r.value.clone()),
                    None => {
                        out.unrepresented.push(format!(
                            "an assignment to role {role_id}, which the app does not define; the first apply removes it"
                        ));
                        continue;
                    }
                }
            };
            assignments.insert(AssignmentSpec { principal, role });
        }
        app.service_principal.assignments = assignments;
    }
}
