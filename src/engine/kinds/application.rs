//! The app registration itself. Idempotency: created and updated through the uniqueName upsert, so
//! repeating a create is an update; deleting an app that is gone succeeds.

use serde_json::Value;

use super::{AppContext, Instance};
use crate::engine::application::{desired_body, keep_ownership_tags, normalize};
use crate::engine::plan::ResourceType;

use super::{ResourceKind, Write};
use crate::engine::observed::str_of;
use crate::graph::{Request, odata};
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

    fn desired(&self, ctx: &AppContext) -> Vec<Instance> {
        desired(ctx)
    }

    fn live(&self, ctx: &AppContext) -> Vec<Instance> {
        live(ctx)
    }

    /// `PATCH /applications(uniqueName='…')` with `Prefer: create-if-missing`: repeating it updates.
    /// Adopting an app without a uniqueName patches it by object id and sets the uniqueName once.
    fn create(&self, ctx: &AppContext, write: &Write) -> Result<Request, String> {
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

    fn update(&self, ctx: &AppContext, write: &Write) -> Result<Request, String> {
        self.create(ctx, write)
    }

    /// Deleting an app that is gone (404) counts as done.
    fn delete(&self, _: &AppContext, write: &Write) -> Result<Request, String> {
        Ok(Request::delete(format!(
            "/applications/{}",
            write.live_id()?
        )))
    }
}
