//! The app registration itself. Idempotency: created and updated through the uniqueName upsert, so
//! repeating a create is an update; deleting an app that is gone succeeds.

use serde_json::Value;

use super::{AppContext, Instance, Phase, Requires, ResourceKind, Write, WriteError};
use crate::engine::application::{desired_body, keep_ownership_tags, normalize, same_entitlement};
use crate::engine::observed::str_of;
use crate::engine::plan::ResourceType;
use crate::engine::step::AppIds;
use crate::graph::{Request, odata};
use crate::model::DesiredApp;
use serde_json::json;

pub fn desired(ctx: &AppContext) -> Vec<Instance> {
    let mut body = desired_body(ctx.app, ctx.set_name, &ctx.resources);
    keep_ownership_tags(
        &mut body,
        ctx.app,
        ctx.set_name,
        ctx.live.application.as_ref(),
    );
    let body = Value::Object(body);
    let fields = normalize(&body, &ctx.resources, &ctx.app.lifecycle.ignore);
    vec![Instance::new(
        ctx.address(""),
        ResourceType::Application,
        fields,
    )]
}

pub fn live(ctx: &AppContext) -> Vec<Instance> {
    ctx.live
        .application
        .iter()
        .map(|app| {
            let fields = normalize(app, &ctx.resources, &ctx.app.lifecycle.ignore);
            Instance::new(ctx.address(""), ResourceType::Application, fields).observed(app)
        })
        .collect()
}

/// The app registration. Create and update are the same idempotent upsert.
pub struct Application;

impl ResourceKind for Application {
    fn resource(&self) -> ResourceType {
        ResourceType::Application
    }

    fn phase(&self) -> Phase {
        Phase::Application
    }

    fn requires(&self) -> Requires {
        Requires::Nothing
    }

    fn desired(&self, ctx: &AppContext) -> Vec<Instance> {
        desired(ctx)
    }

    fn live(&self, ctx: &AppContext) -> Vec<Instance> {
        live(ctx)
    }

    /// `PATCH /applications(uniqueName='…')` with `Prefer: create-if-missing`: repeating it updates.
    /// Adopting an app without a uniqueName patches it by object id and sets the uniqueName once.
    fn create(&self, ctx: &AppContext, write: &Write) -> Result<Request, WriteError> {
        let app = ctx.app;
        let mut body = desired_body(app, ctx.set_name, &ctx.resources);
        let live = write.live();
        keep_ownership_tags(&mut body, app, ctx.set_name, live);
        Ok(
            match (
                app.adopt.as_ref(),
                live.and_then(|l| str_of(l, "uniqueName")),
            ) {
                (Some(_), None) if live.is_some() => {
                    body.insert("uniqueName".into(), json!(app.unique_name));
                    Request::patch(
                        format!("/applications/{}", write.live_id()?),
                        Value::Object(body),
                    )
                }
                _ => Request::patch(
                    format!("/applications(uniqueName={})", odata::key(&app.unique_name)),
                    Value::Object(body),
                )
                .header("Prefer", "create-if-missing"),
            },
        )
    }

    fn update(&self, ctx: &AppContext, write: &Write) -> Result<Request, WriteError> {
        self.create(ctx, write)
    }

    /// Deleting an app that is gone (404) counts as done.
    fn delete(&self, _: &AppContext, write: &Write) -> Result<Request, WriteError> {
        Ok(Request::delete(format!(
            "/applications/{}",
            write.live_id()?
        )))
    }

    fn before_update(&self, ctx: &AppContext, ids: &AppIds) -> Option<Request> {
        disable_before_change(ctx, ids)
    }

    fn learn(&self, ids: &mut AppIds, body: &Value, created: bool) {
        ids.object_id = str_of(body, "id")
            .map(str::to_string)
            .or(ids.object_id.take());
        ids.app_id = str_of(body, "appId")
            .map(str::to_string)
            .or(ids.app_id.take());
        ids.fresh |= created;
    }

    /// `GET /applications(uniqueName='…')` when the upsert answered 204 without a body.
    fn read_back(&self, app: &DesiredApp, ids: &AppIds) -> Option<Request> {
        ids.object_id.is_none().then(|| {
            Request::get(format!(
                "/applications(uniqueName={})",
                odata::key(&app.unique_name)
            ))
            .query("$select", "id,appId")
            .after_own_write()
        })
    }

    /// A stray app of this set is deleted by its object id; gone (404) counts as done.
    fn delete_unmanaged(&self, live: &Value) -> Option<Request> {
        str_of(live, "id").map(|id| Request::delete(format!("/applications/{id}")))
    }
}

/// Graph refuses to change or remove an enabled app role or scope (CannotDeleteOrUpdateEnabledEntitlement):
/// the live ones that change or go are disabled in one write first.
fn disable_before_change(ctx: &AppContext, ids: &AppIds) -> Option<Request> {
    let live = ctx.live.application.as_ref()?;
    let object_id = ids.object_id.as_ref()?;
    let desired = Value::Object(desired_body(ctx.app, ctx.set_name, &ctx.resources));
    let disable =
        |live_items: Option<&Value>, desired_items: Option<&Value>| -> Option<Vec<Value>> {
            let live_items = live_items?.as_array()?;
            let desired_items = desired_items
                .and_then(Value::as_array)
                .cloned()
                .unwrap_or_default();
            let mut changed = false;
            let items = live_items
                .iter()
                .map(|item| {
                    let same = desired_items.iter().find(|d| d.get("id") == item.get("id"));
                    let enabled = item
                        .get("isEnabled")
                        .and_then(Value::as_bool)
                        .unwrap_or(true);
                    let differs = same.is_none_or(|d| !same_entitlement(d, item));
                    let mut item = item.clone();
                    if enabled && differs {
                        item["isEnabled"] = json!(false);
                        changed = true;
                    }
                    item
                })
                .collect();
            changed.then_some(items)
        };
    let mut body = serde_json::Map::new();
    if let Some(roles) = disable(live.get("appRoles"), desired.get("appRoles")) {
        body.insert("appRoles".into(), Value::Array(roles));
    }
    if let Some(scopes) = disable(
        live.pointer("/api/oauth2PermissionScopes"),
        desired.pointer("/api/oauth2PermissionScopes"),
    ) {
        let mut api = live.get("api").cloned().unwrap_or_else(|| json!({}));
        api["oauth2PermissionScopes"] = Value::Array(scopes);
        body.insert("api".into(), api);
    }
    (!body.is_empty())
        .then(|| Request::patch(format!("/applications/{object_id}"), Value::Object(body)))
}
