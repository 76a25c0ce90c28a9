//! Which Microsoft Graph application permissions (the token's `roles`) each request needs, so
//! least-privilege setups behave as in a tenant: 403 Authorization_RequestDenied otherwise.
//!
//! Application.ReadWrite.OwnedBy may create applications and principals and manage the ones its
//! principal owns, but grants nothing on consent or assignments (GRAPH.md, DESIGN.md section 6).

use axum::http::{Method, StatusCode};
use uuid::Uuid;

use super::{Call, Ctx, Seg};
use crate::emulator::error::{GraphError, GraphResult};
use crate::emulator::store::Kind;

const OWNED_BY: &str = "Application.ReadWrite.OwnedBy";
const READ_APPS: &[&str] = &[
    "Application.Read.All",
    "Application.ReadWrite.All",
    OWNED_BY,
    "Directory.Read.All",
    "Directory.ReadWrite.All",
];
const WRITE_APPS: &[&str] = &["Application.ReadWrite.All", "Directory.ReadWrite.All"];
const WRITE_ASSIGNMENTS: &[&str] = &["AppRoleAssignment.ReadWrite.All"];
const READ_GRANTS: &[&str] = &[
    "DelegatedPermissionGrant.Read.All",
    "DelegatedPermissionGrant.ReadWrite.All",
    "Directory.Read.All",
    "Directory.ReadWrite.All",
];
const WRITE_GRANTS: &[&str] = &[
    "DelegatedPermissionGrant.ReadWrite.All",
    "Directory.ReadWrite.All",
];
const READ_USERS: &[&str] = &[
    "User.Read.All",
    "User.ReadWrite.All",
    "User.ReadBasic.All",
    "Directory.Read.All",
    "Directory.ReadWrite.All",
];
/// Policy.Read.All is the least privileged application permission for the app-management policy.
const READ_POLICIES: &[&str] = &[
    "Policy.Read.All",
    "Policy.Read.ApplicationConfiguration",
    "Policy.ReadWrite.ApplicationConfiguration",
];
const READ_GROUPS: &[&str] = &[
    "Group.Read.All",
    "Group.ReadWrite.All",
    "GroupMember.Read.All",
    "Directory.Read.All",
    "Directory.ReadWrite.All",
];

/// <https://learn.microsoft.com/en-us/graph/api/domain-list#permissions>
const READ_DOMAINS: &[&str] = &[
    "Domain.Read.All",
    "Domain.ReadWrite.All",
    "Directory.Read.All",
    "Directory.ReadWrite.All",
];

/// What a request needs.
enum Need {
    Nothing,
    AnyOf(&'static [&'static str]),
    /// `WRITE_APPS`, or OwnedBy when the caller owns the object (or creates a new one).
    Manage(Kind, Option<Seg>),
}

fn denied() -> GraphError {
    GraphError::new(
        StatusCode::FORBIDDEN,
        "Authorization_RequestDenied",
        "Insufficient privileges to complete the operation.",
    )
}

fn need(call: &Call, segments: &[Seg]) -> Need {
    let read = *call.method == Method::GET;
    let name = |i: usize| match segments.get(i) {
        Some(Seg::Name(n)) => Some(n.as_str()),
        _ => None,
    };
    match (name(0), segments.len()) {
        (Some("applications"), _) if read => Need::AnyOf(READ_APPS),
        (Some("applications"), 1) => Need::Manage(Kind::Application, None),
        (Some("applications"), _) => Need::Manage(Kind::Application, segments.get(1).cloned()),
        (Some("servicePrincipals"), n)
            if n > 2 && matches!(name(2), Some("appRoleAssignedTo" | "appRoleAssignments")) =>
        {
            if read {
                Need::AnyOf(READ_APPS)
            } else {
                Need::AnyOf(WRITE_ASSIGNMENTS)
            }
        }
        (Some("servicePrincipals"), n) if n > 2 && name(2) == Some("oauth2PermissionGrants") => {
            Need::AnyOf(READ_GRANTS)
        }
        (Some("servicePrincipals"), _) if read => Need::AnyOf(READ_APPS),
        (Some("servicePrincipals"), 1) => Need::Manage(Kind::ServicePrincipal, None),
        (Some("servicePrincipals"), _) => {
            Need::Manage(Kind::ServicePrincipal, segments.get(1).cloned())
        }
        (Some("oauth2PermissionGrants"), _) => {
            Need::AnyOf(if read { READ_GRANTS } else { WRITE_GRANTS })
        }
        (Some("users"), _) => Need::AnyOf(READ_USERS),
        (Some("policies"), _) => Need::AnyOf(READ_POLICIES),
        (Some("groups"), _) => Need::AnyOf(READ_GROUPS),
        (Some("domains"), _) => Need::AnyOf(READ_DOMAINS),
        (Some("directory"), _) if read => Need::AnyOf(READ_APPS),
        (Some("directory"), _) => Need::AnyOf(WRITE_APPS),
        (Some("directoryObjects"), _) => Need::AnyOf(&[
            "Directory.Read.All",
            "Directory.ReadWrite.All",
            "Application.Read.All",
            "Application.ReadWrite.All",
            OWNED_BY,
            "User.Read.All",
        ]),
        _ => Need::Nothing,
    }
}

/// Refuses the request unless the caller's roles allow it.
pub fn authorize(ctx: &Ctx, call: &Call, segments: &[Seg]) -> GraphResult<()> {
    let has = |names: &[&str]| {
        call.caller
            .roles
            .iter()
            .any(|r| names.contains(&r.as_str()))
    };
    match need(call, segments) {
        Need::Nothing => Ok(()),
        Need::AnyOf(names) => {
            if has(names) {
                Ok(())
            } else {
                Err(denied())
            }
        }
        Need::Manage(_, _) if has(WRITE_APPS) => Ok(()),
        Need::Manage(kind, key) if has(&[OWNED_BY]) => {
            let target = match &key {
                None => return Ok(()),
                Some(key) => ctx.lookup(kind, key).ok().flatten(),
            };
            let caller = Uuid::parse_str(&call.caller.service_principal_id).unwrap_or_default();
            match target {
                // Creating through an upsert is creating; a missing object answers its own 404.
                None => Ok(()),
                Some(id)
                    if ctx
                        .store
                        .object(&id)
                        .is_some_and(|r| r.owners.contains(&caller)) =>
                {
                    Ok(())
                }
                Some(_) => Err(denied()),
            }
        }
        Need::Manage(_, _) => Err(denied()),
    }
}
