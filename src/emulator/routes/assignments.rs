//! appRoleAssignments: application permissions and user/group assignments, seen from the resource
//! (`appRoleAssignedTo`) and from the principal (`appRoleAssignments`). Ids are Graph-shaped.

use axum::http::Method;
use serde_json::{Map, Value, json};
use uuid::Uuid;

use super::{Call, Ctx, Listing, Reply, Seg, page, require_method};
use crate::emulator::error::{GraphError, GraphResult};
use crate::emulator::ids;
use crate::emulator::odata::{FilterSupport, Op};
use crate::emulator::store::{End, Kind, Link};
use crate::emulator::wire;

pub static FILTERS: FilterSupport = FilterSupport {
    resource: "AppRoleAssignment",
    properties: &[
        ("resourceId", &[Op::Eq]),
        ("principalId", &[Op::Eq]),
        ("appRoleId", &[Op::Eq]),
    ],
    collections: &[],
    plain_orderby: false,
};

/// `/servicePrincipals/{resource}/appRoleAssignedTo[/{id}]`.
pub fn assigned_to(ctx: &mut Ctx, call: &Call, resource: Uuid, rest: &[Seg]) -> GraphResult<Reply> {
    let context = format!("servicePrincipals('{resource}')/appRoleAssignedTo");
    collection(ctx, call, rest, End::Resource, resource, &context)
}

/// `/{servicePrincipals|users|groups}/{principal}/appRoleAssignments[/{id}]`.
pub fn of_principal(
    ctx: &mut Ctx,
    call: &Call,
    kind: Kind,
    principal: Uuid,
    rest: &[Seg],
) -> GraphResult<Reply> {
    let context = format!("{}('{principal}')/appRoleAssignments", kind.set_name());
    collection(ctx, call, rest, End::Holder, principal, &context)
}

fn collection(
    ctx: &mut Ctx,
    call: &Call,
    rest: &[Seg],
    end: End,
    owner: Uuid,
    context: &str,
) -> GraphResult<Reply> {
    let owner_text = owner.to_string();
    let side = match end {
        End::Holder => "principalId",
        End::Resource => "resourceId",
    };
    match rest {
        [] => {
            require_method(call, &[Method::GET, Method::POST])?;
            if call.method == Method::POST {
                let body = call.object()?;
                let named = body.get(side).and_then(Value::as_str).unwrap_or_default();
                if !named.eq_ignore_ascii_case(&owner_text) {
                    return Err(GraphError::invalid_value(side, "AppRoleAssignment"));
                }
                let link = create(ctx, &body)?;
                return Ok(Reply::created(with_context(
                    ctx,
                    &format!("{context}/$entity"),
                    &link,
                )));
            }
            let candidates = ctx
                .store
                .assignments_at(end, &owner_text)
                .into_iter()
                .filter(|(_, a)| ctx.visible(a.created_ms))
                .map(|(k, a)| (k, &a.body))
                .collect();
            let listing = Listing {
                support: &FILTERS,
                kind: None,
                context: context.to_string(),
                expand_owners: false,
                candidates: super::Candidates::All(candidates),
            };
            page(ctx, call, listing)
        }
        [Seg::Name(id)] => {
            require_method(call, &[Method::GET, Method::DELETE])?;
            let found = ctx
                .store
                .assignment(id)
                .filter(|a| a.str(side) == Some(owner_text.as_str()) && ctx.visible(a.created_ms))
                .ok_or_else(|| GraphError::not_found(id))?;
            if call.method == Method::GET {
                return Ok(Reply::ok(with_context(
                    ctx,
                    &format!("{context}/$entity"),
                    &found.body,
                )));
            }
            ctx.store.remove_assignment(id);
            Ok(Reply::NoContent)
        }
        _ => Err(GraphError::gateway_bad_request("Invalid request URL.")),
    }
}

fn with_context(ctx: &Ctx, fragment: &str, body: &Map<String, Value>) -> Value {
    let mut out = Map::new();
    out.insert(
        "@odata.context".into(),
        Value::String(wire::context(ctx.graph_url, fragment)),
    );
    out.extend(body.clone());
    Value::Object(out)
}

fn guid(body: &Map<String, Value>, property: &str) -> GraphResult<Uuid> {
    body.get(property)
        .and_then(Value::as_str)
        .and_then(|s| Uuid::parse_str(s).ok())
        .ok_or_else(|| GraphError::invalid_value(property, "AppRoleAssignment"))
}

fn create(ctx: &mut Ctx, body: &Map<String, Value>) -> GraphResult<Map<String, Value>> {
    let principal_id = guid(body, "principalId")?;
    let resource_id = guid(body, "resourceId")?;
    let app_role_id = guid(body, "appRoleId")?;
    let principal = ctx.directory_object(&principal_id.to_string())?;
    let principal_type = match principal.kind {
        Kind::User => "User",
        Kind::Group => "Group",
        Kind::ServicePrincipal => "ServicePrincipal",
        Kind::Application => {
            return Err(GraphError::invalid_value(
                "principalId",
                "AppRoleAssignment",
            ));
        }
    };
    let principal_name = principal
        .body
        .get("displayName")
        .cloned()
        .unwrap_or(Value::Null);
    let resource = ctx
        .store
        .get(Kind::ServicePrincipal, resource_id)
        .filter(|r| ctx.visible(r.created_ms))
        .ok_or_else(|| GraphError::not_found(&resource_id.to_string()))?;
    if !app_role_id.is_nil() {
        let member_type = if principal_type == "ServicePrincipal" {
            "Application"
        } else {
            "User"
        };
        let exists = resource
            .body
            .get("appRoles")
            .and_then(Value::as_array)
            .is_some_and(|roles| {
                roles.iter().any(|role| {
                    role.get("id")
                        .and_then(Value::as_str)
                        .is_some_and(|id| id.eq_ignore_ascii_case(&app_role_id.to_string()))
                        && role.get("isEnabled") != Some(&Value::Bool(false))
                        && role
                            .get("allowedMemberTypes")
                            .and_then(Value::as_array)
                            .is_some_and(|types| {
                                types.iter().any(|t| t.as_str() == Some(member_type))
                            })
                })
            });
        if !exists {
            // UNCONFIRMED wording.
            return Err(GraphError::bad_request(format!(
                "Permission being assigned was not found on application '{}'.",
                resource.str("appId").unwrap_or_default()
            )));
        }
    }
    let resource_name = resource
        .body
        .get("displayName")
        .cloned()
        .unwrap_or(Value::Null);
    let id = ids::assignment_id(principal_id, resource_id, app_role_id);
    if ctx.store.assignment(&id).is_some() {
        return Err(GraphError::bad_request(
            "Permission being assigned already exists on the object.",
        ));
    }
    let link = json!({
        "id": id,
        "deletedDateTime": null,
        "appRoleId": app_role_id.to_string(),
        "createdDateTime": wire::timestamp(ctx.now_ms),
        "principalDisplayName": principal_name,
        "principalId": principal_id.to_string(),
        "principalType": principal_type,
        "resourceDisplayName": resource_name,
        "resourceId": resource_id.to_string(),
    })
    .as_object()
    .cloned()
    .unwrap_or_default();
    ctx.store.insert_assignment(
        id,
        Link {
            body: link.clone(),
            created_ms: ctx.now_ms,
        },
    );
    Ok(link)
}
