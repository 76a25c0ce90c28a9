//! The app registration itself. Idempotency: created and updated through the uniqueName upsert, so
//! repeating a create is an update; deleting an app that is gone succeeds.

use serde_json::Value;

use super::{AppContext, Instance};
use crate::engine::application::{desired_body, normalize};
use crate::engine::plan::ResourceType;

pub fn desired(ctx: &AppContext) -> Vec<Instance> {
    let body = Value::Object(desired_body(ctx.app, ctx.set_name, &ctx.resources));
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
