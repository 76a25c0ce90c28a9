//! Users and groups assigned to the enterprise application, optionally to one of its app roles.
//! Assignments of other service principals (applications granted roles on this app's API) are not
//! the manifest's to manage and are left alone. Idempotency: as for application permissions.

use super::{AppContext, Instance};
use crate::engine::fields::Fields;
use crate::engine::observed::str_of;
use crate::engine::plan::ResourceType;
use crate::model::{AssignmentSpec, Principal};

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
    if ctx
        .app
        .lifecycle
        .ignore
        .contains(&crate::model::IgnoredField::Assignments)
    {
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
    if ctx
        .app
        .lifecycle
        .ignore
        .contains(&crate::model::IgnoredField::Assignments)
    {
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
