//! `/servicePrincipals`: create (needs a replicated backing application), read by id or appId,
//! list, update, upsert by appId, delete; plus the nested assignment and grant collections.

use std::collections::BTreeSet;

use axum::http::{Method, StatusCode};
use serde_json::{Map, Value};
use uuid::Uuid;

use super::{
    Call, Ctx, Listing, Reply, Seg, applications, assignments, credentials, grants, require_method,
    select_suffix, validate,
};
use crate::emulator::error::{GraphError, GraphResult};
use crate::emulator::odata::{FilterSupport, Op};
use crate::emulator::store::{Kind, Record, Store};
use crate::emulator::wire;

pub static FILTERS: FilterSupport = FilterSupport {
    resource: "ServicePrincipal",
    properties: &[
        ("id", &[Op::Eq, Op::In]),
        ("appId", &[Op::Eq, Op::In, Op::StartsWith]),
        ("displayName", &[Op::Eq, Op::In, Op::StartsWith]),
        ("servicePrincipalType", &[Op::Eq]),
        ("accountEnabled", &[Op::Eq]),
        ("appOwnerOrganizationId", &[Op::Eq]),
    ],
    collections: &["tags", "servicePrincipalNames"],
    plain_orderby: false,
};

pub fn route(ctx: &mut Ctx, call: &Call, rest: &[Seg]) -> GraphResult<Reply> {
    let name = |i: usize| match rest.get(i) {
        Some(Seg::Name(n)) => Some(n.as_str()),
        _ => None,
    };
    match rest.len() {
        0 => {
            require_method(call, &[Method::GET, Method::POST])?;
            if call.method == Method::POST {
                let body = call.object()?;
                let app_id = body
                    .get("appId")
                    .and_then(Value::as_str)
                    .unwrap_or_default()
                    .to_string();
                let id = create(ctx, call, &app_id, &body)?;
                created(ctx, call, id)
            } else {
                list(ctx, call)
            }
        }
        1 if rest[0] == Seg::Name("$count".into()) => {
            super::count(ctx, call, Kind::ServicePrincipal)
        }
        1 => item(ctx, call, &rest[0]),
        _ => {
            let id = ctx.resolve(Kind::ServicePrincipal, &rest[0])?;
            match name(1) {
                Some("owners") => {
                    applications::owners(ctx, call, Kind::ServicePrincipal, id, &rest[2..])
                }
                Some("appRoleAssignedTo") => assignments::assigned_to(ctx, call, id, &rest[2..]),
                Some("appRoleAssignments") => {
                    assignments::of_principal(ctx, call, Kind::ServicePrincipal, id, &rest[2..])
                }
                Some("addPassword") if rest.len() == 2 => {
                    credentials::add_password(ctx, call, Kind::ServicePrincipal, id)
                }
                Some("removePassword") if rest.len() == 2 => {
                    credentials::remove_password(ctx, call, Kind::ServicePrincipal, id)
                }
                Some("addKey") if rest.len() == 2 => {
                    credentials::add_key(ctx, call, Kind::ServicePrincipal, id)
                }
                Some("removeKey") if rest.len() == 2 => {
                    credentials::remove_key(ctx, call, Kind::ServicePrincipal, id)
                }
                Some("oauth2PermissionGrants") if rest.len() == 2 => {
                    grants::of_client(ctx, call, id)
                }
                Some(other) => Err(GraphError::unknown_segment(other)),
                None => Err(GraphError::gateway_bad_request("Invalid request URL.")),
            }
        }
    }
}

fn list(ctx: &Ctx, call: &Call) -> GraphResult<Reply> {
    let candidates = super::listed(ctx, Kind::ServicePrincipal, &call.query);
    let listing = Listing {
        support: &FILTERS,
        kind: Some(Kind::ServicePrincipal),
        context: "servicePrincipals".into(),
        expand_owners: true,
        candidates,
    };
    super::page_listed(ctx, call, Kind::ServicePrincipal, listing)
}

/// The answer to a create: the new service principal, as a read shows it.
fn created(ctx: &Ctx, call: &Call, id: Uuid) -> GraphResult<Reply> {
    super::entity_reply(
        ctx,
        call,
        Kind::ServicePrincipal,
        id,
        "servicePrincipals/$entity",
        StatusCode::CREATED,
    )
}

fn item(ctx: &mut Ctx, call: &Call, key: &Seg) -> GraphResult<Reply> {
    require_method(call, &[Method::GET, Method::PATCH, Method::DELETE])?;
    match call.method.clone() {
        Method::GET => {
            super::check_expand(call, true)?;
            let id = ctx.resolve(Kind::ServicePrincipal, key)?;
            super::entity_reply(
                ctx,
                call,
                Kind::ServicePrincipal,
                id,
                &format!("servicePrincipals{}/$entity", select_suffix(&call.query)),
                StatusCode::OK,
            )
        }
        Method::DELETE => {
            let id = ctx.resolve(Kind::ServicePrincipal, key)?;
            delete(ctx, id);
            Ok(Reply::NoContent)
        }
        _ => {
            let body = call.object()?;
            let upsert_app_id = match key {
                Seg::Key { property, value }
                    if property == "appId" && call.prefer_create_if_missing =>
                {
                    Some(value.clone())
                }
                _ => None,
            };
            let id = match &upsert_app_id {
                Some(_) => ctx.lookup(Kind::ServicePrincipal, key)?,
                None => Some(ctx.resolve(Kind::ServicePrincipal, key)?),
            };
            match (id, upsert_app_id) {
                (Some(id), _) => {
                    update(ctx, id, &body)?;
                    Ok(Reply::NoContent)
                }
                (None, Some(app_id)) => {
                    let id = create(ctx, call, &app_id, &body)?;
                    created(ctx, call, id)
                }
                (None, None) => Err(GraphError::not_found(&super::key_text(key))),
            }
        }
    }
}

fn update(ctx: &mut Ctx, id: Uuid, body: &Map<String, Value>) -> GraphResult<()> {
    let record = ctx
        .store
        .get_mut(Kind::ServicePrincipal, id)
        .expect("resolved above");
    let mut new = record.body.clone();
    validate::apply(Kind::ServicePrincipal, &mut new, body)?;
    if let Some(tags) = body.get("tags").and_then(Value::as_array) {
        record.own_tags = tags
            .iter()
            .filter_map(Value::as_str)
            .map(str::to_string)
            .collect();
    }
    record.body = new;
    let app_id = record.str("appId").unwrap_or_default().to_string();
    sync_from_application(ctx.store, &app_id);
    Ok(())
}

fn create(
    ctx: &mut Ctx,
    call: &Call,
    app_id: &str,
    body: &Map<String, Value>,
) -> GraphResult<Uuid> {
    if app_id.is_empty() {
        return Err(GraphError::invalid_value("appId", "ServicePrincipal"));
    }
    if ctx.store.sp_by_app_id(app_id).is_some() {
        return Err(GraphError::new(
            StatusCode::CONFLICT,
            "Request_MultipleObjectsWithSameKeyValue",
            format!(
                "The service principal cannot be created, updated, or restored because the service principal name {app_id} is already in use."
            ),
        ));
    }
    let backing = ctx.store.app_by_app_id(app_id).filter(|id| {
        ctx.store
            .get(Kind::Application, *id)
            .is_some_and(|r| ctx.visible(r.created_ms))
    });
    let Some(app) = backing else {
        let message = format!(
            "The appId '{app_id}' of the service principal does not reference a valid application object."
        );
        return Err(GraphError::bad_request(message.clone()).with_detail(
            "NoBackingApplicationObject",
            message,
            "appId",
        ));
    };
    let app_id = ctx.store.objects()[&app]
        .str("appId")
        .unwrap_or(app_id)
        .to_string();
    let id = ctx.store.new_id();
    let tenant = ctx.store.tenant_id;
    let mut sp = wire::service_principal(id, &app_id, tenant, Some(&call.caller.app_id));
    let mut rest = body.clone();
    rest.remove("appId");
    validate::apply(Kind::ServicePrincipal, &mut sp, &rest)?;
    let mut record = Record::new(Kind::ServicePrincipal, sp, ctx.now_ms);
    record.own_tags = rest
        .get("tags")
        .and_then(Value::as_array)
        .map(|t| {
            t.iter()
                .filter_map(Value::as_str)
                .map(str::to_string)
                .collect()
        })
        .unwrap_or_default();
    // UNCONFIRMED, as for applications: the app-only creator becomes an owner.
    if let Ok(caller) = Uuid::parse_str(&call.caller.service_principal_id) {
        record.owners.push(caller);
    }
    ctx.store.insert(record);
    sync_from_application(ctx.store, &app_id);
    Ok(id)
}

/// Copies what a service principal mirrors from its application (names, roles, scopes, reply
/// URLs, audience) and sets its tags to its own plus the application's.
pub fn sync_from_application(store: &mut Store, app_id: &str) {
    let (Some(app), Some(sp)) = (store.app_by_app_id(app_id), store.sp_by_app_id(app_id)) else {
        return;
    };
    let app = store.objects()[&app].body.clone();
    let Some(record) = store.get_mut(Kind::ServicePrincipal, sp) else {
        return;
    };
    let get = |pointer: &str| wire::pointer(&app, pointer).cloned().unwrap_or(Value::Null);
    let body = &mut record.body;
    for (target, source) in [
        ("appDisplayName", "/displayName"),
        ("displayName", "/displayName"),
        ("appDescription", "/description"),
        ("appRoles", "/appRoles"),
        ("oauth2PermissionScopes", "/api/oauth2PermissionScopes"),
        ("signInAudience", "/signInAudience"),
        ("info", "/info"),
        ("verifiedPublisher", "/verifiedPublisher"),
    ] {
        body.insert(target.into(), get(source));
    }
    let mut reply_urls = Vec::new();
    for pointer in [
        "/web/redirectUris",
        "/spa/redirectUris",
        "/publicClient/redirectUris",
    ] {
        reply_urls.extend(
            wire::pointer(&app, pointer)
                .and_then(Value::as_array)
                .cloned()
                .unwrap_or_default(),
        );
    }
    body.insert("replyUrls".into(), Value::Array(reply_urls));
    let mut names = vec![Value::String(app_id.to_string())];
    names.extend(
        app.get("identifierUris")
            .and_then(Value::as_array)
            .cloned()
            .unwrap_or_default(),
    );
    body.insert("servicePrincipalNames".into(), Value::Array(names));
    let mut tags: BTreeSet<String> = record.own_tags.iter().cloned().collect();
    tags.extend(
        app.get("tags")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .filter_map(Value::as_str)
            .map(str::to_string),
    );
    record
        .body
        .insert("tags".into(), tags.into_iter().map(Value::String).collect());
}

/// Soft-deletes a service principal; its role assignments and grants go with it.
pub fn delete(ctx: &mut Ctx, id: Uuid) {
    let Some(mut record) = ctx.store.remove(id) else {
        return;
    };
    record.body.insert(
        "deletedDateTime".into(),
        Value::String(wire::timestamp(ctx.now_ms)),
    );
    ctx.store.remove_links_of(&id.to_string());
    ctx.store.deleted.insert(id, record);
}
