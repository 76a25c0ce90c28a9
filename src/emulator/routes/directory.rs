//! Users and groups (read-only seeds), `directory/deletedItems` (typed list, restore, purge),
//! `directoryObjects/{id}` and `organization`.

use axum::http::{Method, StatusCode};
use serde_json::{Map, Value, json};
use uuid::Uuid;

use super::{
    Call, Ctx, Listing, Reply, Seg, applications, assignments, directory_object_view, entity, page,
    project, require_method, select_suffix, service_principals,
};
use crate::emulator::error::{GraphError, GraphResult};
use crate::emulator::odata::{FilterSupport, Op};
use crate::emulator::store::Kind;
use crate::emulator::wire;

static USER_FILTERS: FilterSupport = FilterSupport {
    resource: "User",
    properties: &[
        ("id", &[Op::Eq, Op::In]),
        ("displayName", &[Op::Eq, Op::In, Op::StartsWith]),
        ("userPrincipalName", &[Op::Eq, Op::In, Op::StartsWith]),
        ("mail", &[Op::Eq, Op::In, Op::StartsWith]),
        ("givenName", &[Op::Eq, Op::In, Op::StartsWith]),
        ("surname", &[Op::Eq, Op::In, Op::StartsWith]),
        ("accountEnabled", &[Op::Eq]),
        ("userType", &[Op::Eq, Op::In]),
    ],
    collections: &["otherMails", "proxyAddresses"],
    plain_orderby: true,
};

static GROUP_FILTERS: FilterSupport = FilterSupport {
    resource: "Group",
    properties: &[
        ("id", &[Op::Eq, Op::In]),
        ("displayName", &[Op::Eq, Op::In, Op::StartsWith]),
        ("mailNickname", &[Op::Eq, Op::In, Op::StartsWith]),
        ("mail", &[Op::Eq, Op::In, Op::StartsWith]),
        ("securityEnabled", &[Op::Eq]),
        ("mailEnabled", &[Op::Eq]),
    ],
    collections: &["groupTypes", "proxyAddresses"],
    plain_orderby: true,
};

fn filters(kind: Kind) -> &'static FilterSupport {
    match kind {
        Kind::Application => &applications::FILTERS,
        Kind::ServicePrincipal => &service_principals::FILTERS,
        Kind::User => &USER_FILTERS,
        Kind::Group => &GROUP_FILTERS,
    }
}

/// `/users` and `/groups`.
pub fn route_principals(
    ctx: &mut Ctx,
    call: &Call,
    kind: Kind,
    rest: &[Seg],
) -> GraphResult<Reply> {
    match rest {
        [] => {
            require_method(call, &[Method::GET])?;
            let candidates = super::listed(ctx, kind, &call.query);
            let listing = Listing {
                support: filters(kind),
                kind: Some(kind),
                context: kind.set_name().to_string(),
                expand_owners: false,
                candidates,
            };
            page(ctx, call, listing)
        }
        [key] => {
            require_method(call, &[Method::GET])?;
            super::check_expand(call, false)?;
            let id = ctx.resolve(kind, key)?;
            let fragment = format!("{}{}/$entity", kind.set_name(), select_suffix(&call.query));
            super::entity_reply(ctx, call, kind, id, &fragment, StatusCode::OK)
        }
        [key, Seg::Name(nav), tail @ ..] if nav == "appRoleAssignments" => {
            let id = ctx.resolve(kind, key)?;
            assignments::of_principal(ctx, call, kind, id, tail)
        }
        [_, Seg::Name(other), ..] => Err(GraphError::unknown_segment(other)),
        _ => Err(GraphError::gateway_bad_request("Invalid request URL.")),
    }
}

/// `/directory/deletedItems/...`.
pub fn route_deleted(ctx: &mut Ctx, call: &Call, rest: &[Seg]) -> GraphResult<Reply> {
    match rest {
        [] => Err(GraphError::bad_request(
            "A type cast is required on directory/deletedItems, for example microsoft.graph.application.",
        )),
        [Seg::Name(segment)] if Uuid::parse_str(segment).is_err() => {
            require_method(call, &[Method::GET])?;
            let kind = Kind::from_type_name(segment)
                .ok_or_else(|| GraphError::unknown_segment(segment))?;
            let candidates = ctx
                .store
                .deleted
                .values()
                .filter(|r| r.kind == kind)
                .map(|r| (r.str("id").unwrap_or_default(), &r.body))
                .collect();
            let listing = Listing {
                support: filters(kind),
                kind: Some(kind),
                context: format!("directory/deletedItems/{}", kind.type_name()),
                expand_owners: false,
                candidates: super::Candidates::All(candidates),
            };
            page(ctx, call, listing)
        }
        [Seg::Name(id)] => {
            require_method(call, &[Method::GET, Method::DELETE])?;
            let key = Uuid::parse_str(id).map_err(|_| GraphError::invalid_id(id))?;
            let record = ctx
                .store
                .deleted
                .get(&key)
                .ok_or_else(|| GraphError::not_found(id))?;
            if call.method == Method::DELETE {
                ctx.store.deleted.remove(&key);
                return Ok(Reply::NoContent);
            }
            let mut object = Map::new();
            object.insert(
                "@odata.type".into(),
                Value::String(wire::odata_type(record.kind)),
            );
            object.extend(project(
                record.kind,
                record.body.clone(),
                call.query.select.as_deref(),
            )?);
            Ok(Reply::ok(entity(ctx, "directoryObjects/$entity", object)))
        }
        [Seg::Name(id), Seg::Name(action)] if action == "restore" => {
            require_method(call, &[Method::POST])?;
            restore(ctx, id)
        }
        [_, Seg::Name(other), ..] => Err(GraphError::unknown_segment(other)),
        _ => Err(GraphError::gateway_bad_request("Invalid request URL.")),
    }
}

fn restore(ctx: &mut Ctx, id: &str) -> GraphResult<Reply> {
    let key = Uuid::parse_str(id).map_err(|_| GraphError::invalid_id(id))?;
    let mut record = ctx
        .store
        .deleted
        .get(&key)
        .cloned()
        .ok_or_else(|| GraphError::not_found(id))?;
    record.body.insert("deletedDateTime".into(), Value::Null);
    match record.kind {
        Kind::Application => super::validate::application(ctx.store, key, None, &record.body)?,
        Kind::ServicePrincipal => {
            if record
                .str("appId")
                .is_some_and(|a| ctx.store.sp_by_app_id(a).is_some())
            {
                return Err(GraphError::bad_request(
                    "Another object with the same value for property servicePrincipalNames already exists.",
                )
                .with_detail("ObjectConflict", "Another object with the same value for property servicePrincipalNames already exists.", "servicePrincipalNames"));
            }
        }
        Kind::User | Kind::Group => {}
    }
    ctx.store.deleted.remove(&key);
    let app_id = record.str("appId").map(str::to_string);
    let mut object = Map::new();
    object.insert(
        "@odata.type".into(),
        Value::String(wire::odata_type(record.kind)),
    );
    object.extend(ctx.view(&record, true, &call_free_query()));
    ctx.store.insert(record);
    if let Some(app_id) = app_id {
        service_principals::sync_from_application(ctx.store, &app_id);
    }
    Ok(Reply::ok(entity(ctx, "directoryObjects/$entity", object)))
}

fn call_free_query() -> crate::emulator::odata::QueryOptions {
    crate::emulator::odata::QueryOptions::default()
}

/// `GET /directoryObjects/{id}`.
pub fn route_directory_objects(ctx: &mut Ctx, call: &Call, rest: &[Seg]) -> GraphResult<Reply> {
    match rest {
        [Seg::Name(id)] => {
            require_method(call, &[Method::GET])?;
            let record = ctx.directory_object(id)?;
            let object = directory_object_view(ctx, record);
            Ok(Reply::ok(entity(ctx, "directoryObjects/$entity", object)))
        }
        _ => Err(GraphError::gateway_bad_request("Invalid request URL.")),
    }
}

/// `GET /organization`: the sandbox tenant itself.
pub fn organization(ctx: &mut Ctx, call: &Call, rest: &[Seg]) -> GraphResult<Reply> {
    require_method(call, &[Method::GET])?;
    let org = json!({
        "id": ctx.store.tenant_id.to_string(),
        "deletedDateTime": null,
        "displayName": "appreg sandbox",
        "tenantType": "AAD",
        "verifiedDomains": ctx.store.verified_domains().iter().map(|name| json!({
            "capabilities": "Email, OfficeCommunicationsOnlineService",
            "isDefault": *name == ctx.store.domain,
            "isInitial": *name == ctx.store.domain,
            "name": name,
            "type": "Managed"
        })).collect::<Vec<_>>()
    });
    match rest {
        [] => Ok(Reply::ok(json!({
            "@odata.context": wire::context(ctx.graph_url, "organization"),
            "value": [org]
        }))),
        [Seg::Name(id)] if id.eq_ignore_ascii_case(&ctx.store.tenant_id.to_string()) => {
            Ok(Reply::ok(entity(
                ctx,
                "organization/$entity",
                org.as_object().cloned().unwrap_or_default(),
            )))
        }
        [Seg::Name(id), ..] => Err(GraphError::not_found(id)),
        _ => Err(GraphError::gateway_bad_request("Invalid request URL.")),
    }
}

/// A verified domain as `/domains` shows it.
fn domain(ctx: &Ctx, name: &str) -> Value {
    let initial = name.eq_ignore_ascii_case(&ctx.store.domain);
    json!({
        "authenticationType": "Managed",
        "availabilityStatus": null,
        "id": name,
        "isAdminManaged": true,
        "isDefault": initial,
        "isInitial": initial,
        "isRoot": true,
        "isVerified": true,
        "passwordNotificationWindowInDays": 14,
        "passwordValidityPeriodInDays": 2147483647,
        "supportedServices": ["Email", "OfficeCommunicationsOnlineService"],
        "state": null
    })
}

/// `GET /domains` and `/domains/{name}`: the tenant's verified domains (the initial
/// `*.onmicrosoft.com` one and those given by `--verified-domain`).
/// <https://learn.microsoft.com/en-us/graph/api/domain-list>
pub fn domains(ctx: &mut Ctx, call: &Call, rest: &[Seg]) -> GraphResult<Reply> {
    require_method(call, &[Method::GET])?;
    let names = ctx.store.verified_domains();
    match rest {
        [] => Ok(Reply::ok(json!({
            "@odata.context": wire::context(ctx.graph_url, "domains"),
            "value": names.iter().map(|n| domain(ctx, n)).collect::<Vec<_>>()
        }))),
        [Seg::Name(name)] | [Seg::Key { value: name, .. }] => {
            let found = names
                .iter()
                .find(|n| n.eq_ignore_ascii_case(name))
                .ok_or_else(|| GraphError::not_found(name))?;
            Ok(Reply::ok(entity(
                ctx,
                "domains/$entity",
                domain(ctx, found).as_object().cloned().unwrap_or_default(),
            )))
        }
        [_, Seg::Name(other), ..] => Err(GraphError::unknown_segment(other)),
        _ => Err(GraphError::gateway_bad_request("Invalid request URL.")),
    }
}
