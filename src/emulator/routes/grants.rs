//! `/oauth2PermissionGrants`: delegated consent (tenant-wide or per user) between two service
//! principals, with Graph-shaped ids; also `/servicePrincipals/{id}/oauth2PermissionGrants`.

use axum::http::Method;
use serde_json::{Map, Value, json};
use uuid::Uuid;

use super::{Call, Ctx, Listing, Reply, Seg, page, require_method};
use crate::emulator::error::{GraphError, GraphResult};
use crate::emulator::ids;
use crate::emulator::odata::{self, FilterSupport, Op};
use crate::emulator::store::{End, Kind, Link, Pin};
use crate::emulator::wire;

/// Longest `scope` string Graph stores.
const MAX_SCOPE_LENGTH: usize = 3850;

pub static FILTERS: FilterSupport = FilterSupport {
    resource: "OAuth2PermissionGrant",
    properties: &[
        ("clientId", &[Op::Eq]),
        ("resourceId", &[Op::Eq]),
        ("principalId", &[Op::Eq]),
        ("consentType", &[Op::Eq]),
    ],
    collections: &[],
    plain_orderby: false,
};

fn entity(ctx: &Ctx, body: &Map<String, Value>) -> Value {
    let mut out = Map::new();
    out.insert(
        "@odata.context".into(),
        Value::String(wire::context(
            ctx.graph_url,
            "oauth2PermissionGrants/$entity",
        )),
    );
    out.extend(body.clone());
    Value::Object(out)
}

pub fn route(ctx: &mut Ctx, call: &Call, rest: &[Seg]) -> GraphResult<Reply> {
    match rest {
        [] => {
            require_method(call, &[Method::GET, Method::POST])?;
            if call.method == Method::POST {
                let link = create(ctx, &call.object()?)?;
                return Ok(Reply::created(entity(ctx, &link)));
            }
            list(ctx, call, None, "oauth2PermissionGrants".into())
        }
        [Seg::Name(id)] => {
            require_method(call, &[Method::GET, Method::PATCH, Method::DELETE])?;
            let visible = ctx
                .store
                .grant(id)
                .is_some_and(|g| ctx.visible(g.created_ms));
            if !visible {
                return Err(GraphError::not_found(id));
            }
            match call.method.clone() {
                Method::GET => Ok(Reply::ok(entity(ctx, &ctx.store.grants()[id].body))),
                Method::DELETE => {
                    ctx.store.remove_grant(id);
                    Ok(Reply::NoContent)
                }
                _ => {
                    let body = call.object()?;
                    for key in body.keys().filter(|k| !k.contains('@')) {
                        if key != "scope" {
                            return Err(GraphError::bad_request(format!(
                                "Property '{key}' is read-only and cannot be set."
                            )));
                        }
                    }
                    let scope = scope(&body)?;
                    if let Some(grant) = ctx.store.grant_scope_mut(id) {
                        grant.insert("scope".into(), Value::String(scope));
                    }
                    Ok(Reply::NoContent)
                }
            }
        }
        _ => Err(GraphError::gateway_bad_request("Invalid request URL.")),
    }
}

/// Grants whose client is the given service principal.
pub fn of_client(ctx: &mut Ctx, call: &Call, client: Uuid) -> GraphResult<Reply> {
    require_method(call, &[Method::GET])?;
    list(
        ctx,
        call,
        Some(client.to_string()),
        "oauth2PermissionGrants".into(),
    )
}

fn list(ctx: &Ctx, call: &Call, client: Option<String>, context: String) -> GraphResult<Reply> {
    // The client's grants through the index: from the path, or from a filter that pins it.
    let pinned = client.or_else(|| {
        let pins = call.query.filter.as_ref().and_then(odata::pins)?;
        match pins.as_slice() {
            [Pin::Equals(property, value)] if property == "clientId" => Some(value.clone()),
            _ => None,
        }
    });
    let links: Vec<(&str, &Link)> = match &pinned {
        Some(client) => ctx.store.grants_at(End::Holder, client),
        None => ctx
            .store
            .grants()
            .iter()
            .map(|(k, g)| (k.as_str(), g.as_ref()))
            .collect(),
    };
    let candidates = links
        .into_iter()
        .filter(|(_, g)| ctx.visible(g.created_ms))
        .map(|(k, g)| (k, &g.body))
        .collect();
    let listing = Listing {
        support: &FILTERS,
        kind: None,
        context,
        expand_owners: false,
        candidates: super::Candidates::All(candidates),
    };
    page(ctx, call, listing)
}

fn scope(body: &Map<String, Value>) -> GraphResult<String> {
    let scope = body
        .get("scope")
        .and_then(Value::as_str)
        .unwrap_or_default();
    if scope.len() > MAX_SCOPE_LENGTH {
        return Err(GraphError::invalid_value("scope", "OAuth2PermissionGrant"));
    }
    Ok(scope.to_string())
}

fn service_principal(ctx: &Ctx, body: &Map<String, Value>, property: &str) -> GraphResult<Uuid> {
    let text = body
        .get(property)
        .and_then(Value::as_str)
        .unwrap_or_default();
    let id = Uuid::parse_str(text)
        .map_err(|_| GraphError::invalid_value(property, "OAuth2PermissionGrant"))?;
    ctx.store
        .get(Kind::ServicePrincipal, id)
        .filter(|r| ctx.visible(r.created_ms))
        .map(|_| id)
        .ok_or_else(|| GraphError::not_found(text))
}

fn create(ctx: &mut Ctx, body: &Map<String, Value>) -> GraphResult<Map<String, Value>> {
    let client = service_principal(ctx, body, "clientId")?;
    let resource = service_principal(ctx, body, "resourceId")?;
    let consent = body
        .get("consentType")
        .and_then(Value::as_str)
        .unwrap_or_default();
    let principal = match (consent, body.get("principalId").and_then(Value::as_str)) {
        ("AllPrincipals", None) => None,
        ("Principal", Some(text)) => {
            let user = ctx.directory_object(text)?;
            if user.kind != Kind::User {
                return Err(GraphError::invalid_value(
                    "principalId",
                    "OAuth2PermissionGrant",
                ));
            }
            Some(user.id())
        }
        ("AllPrincipals", Some(_)) | ("Principal", None) => {
            return Err(GraphError::invalid_value(
                "principalId",
                "OAuth2PermissionGrant",
            ));
        }
        _ => {
            return Err(GraphError::invalid_value(
                "consentType",
                "OAuth2PermissionGrant",
            ));
        }
    };
    let scope = scope(body)?;
    let id = ids::grant_id(client, resource, principal);
    if ctx.store.grant(&id).is_some() {
        return Err(GraphError::new(
            axum::http::StatusCode::CONFLICT,
            "Request_MultipleObjectsWithSameKeyValue",
            "Permission entry already exists.",
        ));
    }
    let link = json!({
        "clientId": client.to_string(),
        "consentType": consent,
        "id": id,
        "principalId": principal.map(|p| p.to_string()),
        "resourceId": resource.to_string(),
        "scope": scope,
    })
    .as_object()
    .cloned()
    .unwrap_or_default();
    ctx.store.insert_grant(
        id,
        Link {
            body: link.clone(),
            created_ms: ctx.now_ms,
        },
    );
    Ok(link)
}
