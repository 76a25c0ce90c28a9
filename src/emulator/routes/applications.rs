//! `/applications`: create, read (by id, appId, uniqueName), list, update with collection
//! replacement, upsert by uniqueName, delete into deleted items; owners of apps and principals.

use axum::http::{Method, StatusCode};
use serde_json::{Map, Value};
use uuid::Uuid;

use super::{
    Call, Ctx, Listing, Reply, Seg, credentials, reference_id, require_method, select_suffix,
    service_principals, validate,
};
use crate::emulator::error::{GraphError, GraphResult};
use crate::emulator::odata::{FilterSupport, Op};
use crate::emulator::store::{Kind, Record};
use crate::emulator::wire;

/// Most owners an application may be created with through `owners@odata.bind`.
const MAX_OWNER_BINDS: usize = 20;

pub static FILTERS: FilterSupport = FilterSupport {
    resource: "Application",
    properties: &[
        ("id", &[Op::Eq, Op::In]),
        ("appId", &[Op::Eq, Op::In, Op::StartsWith]),
        ("displayName", &[Op::Eq, Op::In, Op::StartsWith]),
        ("uniqueName", &[Op::Eq, Op::In, Op::StartsWith]),
        ("signInAudience", &[Op::Eq, Op::In]),
        ("publisherDomain", &[Op::Eq, Op::In, Op::StartsWith]),
        ("createdDateTime", &[Op::Ge, Op::Le, Op::Eq]),
    ],
    collections: &["tags", "identifierUris"],
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
                create_reply(ctx, call, None)
            } else {
                list(ctx, call)
            }
        }
        1 if rest[0] == Seg::Name("$count".into()) => super::count(ctx, call, Kind::Application),
        1 => item(ctx, call, &rest[0]),
        _ => {
            let id = ctx.resolve(Kind::Application, &rest[0])?;
            match name(1) {
                Some("addPassword") => credentials::add_password(ctx, call, Kind::Application, id),
                Some("removePassword") => {
                    credentials::remove_password(ctx, call, Kind::Application, id)
                }
                Some("addKey") => credentials::add_key(ctx, call, Kind::Application, id),
                Some("removeKey") => credentials::remove_key(ctx, call, Kind::Application, id),
                Some("federatedIdentityCredentials") => {
                    credentials::federated(ctx, call, id, &rest[2..])
                }
                Some("owners") => owners(ctx, call, Kind::Application, id, &rest[2..]),
                Some(other) => Err(GraphError::unknown_segment(other)),
                None => Err(GraphError::gateway_bad_request("Invalid request URL.")),
            }
        }
    }
}

fn list(ctx: &Ctx, call: &Call) -> GraphResult<Reply> {
    let candidates = super::listed(ctx, Kind::Application, &call.query);
    let listing = Listing {
        support: &FILTERS,
        kind: Some(Kind::Application),
        context: "applications".into(),
        expand_owners: true,
        candidates,
    };
    super::page_listed(ctx, call, Kind::Application, listing)
}

fn item(ctx: &mut Ctx, call: &Call, key: &Seg) -> GraphResult<Reply> {
    require_method(call, &[Method::GET, Method::PATCH, Method::DELETE])?;
    if call.method == Method::PATCH {
        return patch(ctx, call, key);
    }
    let id = ctx.resolve(Kind::Application, key)?;
    if call.method == Method::DELETE {
        delete(ctx, id);
        return Ok(Reply::NoContent);
    }
    super::check_expand(call, true)?;
    super::entity_reply(
        ctx,
        call,
        Kind::Application,
        id,
        &format!("applications{}/$entity", select_suffix(&call.query)),
        StatusCode::OK,
    )
}

fn patch(ctx: &mut Ctx, call: &Call, key: &Seg) -> GraphResult<Reply> {
    let body = call.object()?;
    let upsert_name = match key {
        Seg::Key { property, value }
            if property == "uniqueName" && call.prefer_create_if_missing =>
        {
            Some(value.clone())
        }
        _ => None,
    };
    let id = match &upsert_name {
        // The uniqueness constraint is checked where the write lands, so an upsert sees objects
        // that reads cannot see yet; this is what makes it safe to repeat.
        Some(_) => ctx.lookup(Kind::Application, key)?,
        None => Some(ctx.resolve(Kind::Application, key)?),
    };
    match (id, upsert_name) {
        (Some(id), _) => {
            update(ctx, id, &body)?;
            Ok(Reply::NoContent)
        }
        (None, Some(unique_name)) => create_reply(ctx, call, Some(unique_name)),
        (None, None) => Err(GraphError::not_found(&super::key_text(key))),
    }
}

fn update(ctx: &mut Ctx, id: Uuid, body: &Map<String, Value>) -> GraphResult<()> {
    let old = ctx.store.objects()[&id].body.clone();
    let mut new = old.clone();
    validate::apply(Kind::Application, &mut new, body)?;
    if let Some(Value::Array(keys)) = body.get("keyCredentials") {
        let added = credentials::key_credentials(ctx, &old, keys)?;
        new.insert("keyCredentials".into(), Value::Array(added.0));
        let record = ctx
            .store
            .get_mut(Kind::Application, id)
            .expect("resolved above");
        for key_id in added.1 {
            record.credential_added_ms.insert(key_id, ctx.now_ms);
        }
    }
    validate::application(ctx.store, id, Some(&old), &new)?;
    let app_id = new
        .get("appId")
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_string();
    ctx.store
        .get_mut(Kind::Application, id)
        .expect("resolved above")
        .body = new;
    service_principals::sync_from_application(ctx.store, &app_id);
    Ok(())
}

fn create_reply(ctx: &mut Ctx, call: &Call, unique_name: Option<String>) -> GraphResult<Reply> {
    let id = create(ctx, call, unique_name)?;
    super::entity_reply(
        ctx,
        call,
        Kind::Application,
        id,
        "applications/$entity",
        StatusCode::CREATED,
    )
}

fn create(ctx: &mut Ctx, call: &Call, unique_name: Option<String>) -> GraphResult<Uuid> {
    let body = call.object()?;
    if body.get("displayName").and_then(Value::as_str).is_none() {
        return Err(
            GraphError::bad_request("Property 'displayName' is required.").with_detail(
                "MissingRequiredProperty",
                "Property 'displayName' is required.",
                "displayName",
            ),
        );
    }
    let binds = owner_binds(ctx, &body)?;
    let id = ctx.store.new_id();
    let app_id = ctx.store.new_id();
    let domain = ctx.store.domain.clone();
    let mut app = wire::application(id, app_id, &domain, Some(&call.caller.app_id), ctx.now_ms);
    if let Some(name) = &unique_name {
        if body
            .get("uniqueName")
            .and_then(Value::as_str)
            .is_some_and(|n| n != name)
        {
            return Err(GraphError::bad_request(
                "Property 'uniqueName' is read-only and cannot be set.",
            ));
        }
        app.insert("uniqueName".into(), Value::String(name.clone()));
    }
    validate::apply(Kind::Application, &mut app, &body)?;
    let mut added = Vec::new();
    if let Some(Value::Array(keys)) = body.get("keyCredentials") {
        let (keys, new_ids) = credentials::key_credentials(ctx, &Map::new(), keys)?;
        app.insert("keyCredentials".into(), Value::Array(keys));
        added = new_ids;
    }
    validate::application(ctx.store, id, None, &app)?;
    let mut record = Record::new(Kind::Application, app, ctx.now_ms);
    for key_id in added {
        record.credential_added_ms.insert(key_id, ctx.now_ms);
    }
    // UNCONFIRMED: an app created with an app-only token gets the calling principal as owner, as
    // Graph documents for Application.ReadWrite.OwnedBy; the sandbox does so for every app-only caller.
    if let Ok(caller) = Uuid::parse_str(&call.caller.service_principal_id) {
        record.owners.push(caller);
    }
    for owner in binds {
        if !record.owners.contains(&owner) {
            record.owners.push(owner);
        }
    }
    ctx.store.insert(record);
    Ok(id)
}

fn owner_binds(ctx: &Ctx, body: &Map<String, Value>) -> GraphResult<Vec<Uuid>> {
    let Some(binds) = body.get("owners@odata.bind") else {
        return Ok(Vec::new());
    };
    let urls = binds
        .as_array()
        .ok_or_else(|| GraphError::invalid_value("owners", "Application"))?;
    if urls.len() > MAX_OWNER_BINDS {
        return Err(GraphError::bad_request(format!(
            "The number of owners specified exceeds the maximum of {MAX_OWNER_BINDS}."
        )));
    }
    urls.iter()
        .map(|url| {
            let mut reference = Map::new();
            reference.insert("@odata.id".into(), url.clone());
            let id = reference_id(&reference)?;
            let owner = ctx.directory_object(&id)?;
            Ok(owner.id())
        })
        .collect()
}

/// Soft-deletes an application together with its service principal (as deleting an app
/// registration removes its enterprise application in the home tenant).
fn delete(ctx: &mut Ctx, id: Uuid) {
    let Some(mut record) = ctx.store.remove(id) else {
        return;
    };
    record.body.insert(
        "deletedDateTime".into(),
        Value::String(wire::timestamp(ctx.now_ms)),
    );
    if let Some(sp) = record.str("appId").and_then(|a| ctx.store.sp_by_app_id(a)) {
        service_principals::delete(ctx, sp);
    }
    ctx.store.deleted.insert(id, record);
}

/// `owners`, `owners/$ref`, `owners/{id}/$ref` of an application or service principal.
pub fn owners(
    ctx: &mut Ctx,
    call: &Call,
    kind: Kind,
    id: Uuid,
    rest: &[Seg],
) -> GraphResult<Reply> {
    let set = kind.set_name();
    match rest {
        [] => {
            require_method(call, &[Method::GET])?;
            let record = &ctx.store.objects()[&id];
            let value: Vec<Value> = record
                .owners
                .iter()
                .filter_map(|o| ctx.store.object(o))
                .map(|o| Value::Object(super::directory_object_view(ctx, o)))
                .collect();
            let mut body = Map::new();
            body.insert(
                "@odata.context".into(),
                Value::String(wire::context(ctx.graph_url, "directoryObjects")),
            );
            body.insert("value".into(), Value::Array(value));
            Ok(Reply::ok(Value::Object(body)))
        }
        [Seg::Name(r)] if r == "$ref" => {
            require_method(call, &[Method::POST, Method::GET])?;
            if call.method == Method::GET {
                let refs: Vec<Value> = ctx.store.objects()[&id]
                    .owners
                    .iter()
                    .map(|o| serde_json::json!({"@odata.id": format!("{}/directoryObjects/{o}", ctx.graph_url)}))
                    .collect();
                return Ok(Reply::ok(serde_json::json!({
                    "@odata.context": wire::context(ctx.graph_url, "Collection($ref)"),
                    "value": refs
                })));
            }
            let owner_id = reference_id(&call.object()?)?;
            let owner = ctx.directory_object(&owner_id)?;
            if !matches!(owner.kind, Kind::User | Kind::ServicePrincipal) {
                return Err(GraphError::bad_request(format!(
                    "Invalid object identifier '{owner_id}'."
                )));
            }
            let owner = owner.id();
            let record = ctx.store.get_mut(kind, id).expect("resolved above");
            if record.owners.contains(&owner) {
                return Err(GraphError::bad_request(
                    "One or more added object references already exist for the following modified properties: 'owners'.",
                ));
            }
            record.owners.push(owner);
            Ok(Reply::NoContent)
        }
        [Seg::Name(owner), Seg::Name(r)] if r == "$ref" => {
            require_method(call, &[Method::DELETE])?;
            let record = ctx.store.get_mut(kind, id).expect("resolved above");
            let before = record.owners.len();
            record
                .owners
                .retain(|o| !o.to_string().eq_ignore_ascii_case(owner));
            if record.owners.len() == before {
                return Err(GraphError::not_found(owner));
            }
            Ok(Reply::NoContent)
        }
        _ => Err(GraphError::unknown_segment(&format!("{set} owners"))),
    }
}
