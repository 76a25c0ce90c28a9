//! The enterprise application (service principal) of an app. Idempotency: upserted by appId
//! (`PATCH /servicePrincipals(appId='…')` with `Prefer: create-if-missing`).

use serde_json::{Map, Value, json};

use super::{AppContext, Instance};
use crate::engine::fields::{self, Fields};
use crate::engine::plan::ResourceType;
use crate::model;

use super::{Phase, Requires, ResourceKind, Write, WriteError};
use crate::engine::observed::str_of;
use crate::engine::step::AppIds;
use crate::graph::{Request, odata};

/// Tag that hides an enterprise application from users' My Apps portal.
pub const HIDE_APP_TAG: &str = "HideApp";

/// The Graph body for the service principal: the app's settings plus appreg's ownership tags, so
/// that a set's service principals can be listed with one filtered query.
pub fn body(ctx: &AppContext) -> Map<String, Value> {
    let sp = &ctx.app.service_principal;
    let mut tags = vec![model::MANAGED_TAG.to_string(), model::set_tag(ctx.set_name)];
    if !sp.visible_to_users {
        tags.push(HIDE_APP_TAG.to_string());
    }
    let mut body = Map::new();
    body.insert("accountEnabled".into(), json!(sp.account_enabled));
    body.insert(
        "appRoleAssignmentRequired".into(),
        json!(sp.assignment_required),
    );
    body.insert(
        "notificationEmailAddresses".into(),
        json!(sp.notification_emails),
    );
    body.insert("tags".into(), json!(tags));
    body
}

fn normalize(sp: &Value) -> Fields {
    let tags = fields::strings(sp.get("tags"));
    let mut f = Fields::new();
    f.insert(
        "accountEnabled".into(),
        json!(
            sp.get("accountEnabled")
                .and_then(Value::as_bool)
                .unwrap_or(true)
        ),
    );
    f.insert(
        "assignmentRequired".into(),
        fields::flag(sp.get("appRoleAssignmentRequired")),
    );
    f.insert(
        "visibleToUsers".into(),
        json!(!tags.contains(&HIDE_APP_TAG)),
    );
    f.insert(
        "notificationEmails".into(),
        fields::string_set(fields::strings(sp.get("notificationEmailAddresses"))),
    );
    f
}

pub fn desired(ctx: &AppContext) -> Vec<Instance> {
    if !ctx.app.service_principal.managed {
        return Vec::new();
    }
    let fields = normalize(&Value::Object(body(ctx)));
    vec![Instance::new(
        ctx.address("service_principal"),
        ResourceType::ServicePrincipal,
        fields,
    )]
}

pub fn live(ctx: &AppContext) -> Vec<Instance> {
    // Unmanaged: one made outside appreg is left alone, never planned away.
    if !ctx.app.service_principal.managed {
        return Vec::new();
    }
    ctx.live
        .service_principal
        .iter()
        .map(|sp| {
            Instance::new(
                ctx.address("service_principal"),
                ResourceType::ServicePrincipal,
                normalize(sp),
            )
            .observed(sp)
        })
        .collect()
}

pub struct ServicePrincipal;

impl ResourceKind for ServicePrincipal {
    fn resource(&self) -> ResourceType {
        ResourceType::ServicePrincipal
    }

    fn phase(&self) -> Phase {
        Phase::ServicePrincipal
    }

    fn requires(&self) -> Requires {
        Requires::Application
    }

    fn desired(&self, ctx: &AppContext) -> Vec<Instance> {
        desired(ctx)
    }

    fn live(&self, ctx: &AppContext) -> Vec<Instance> {
        live(ctx)
    }

    /// `PATCH /servicePrincipals(appId='…')` with `Prefer: create-if-missing`: repeating it updates.
    fn create(&self, ctx: &AppContext, write: &Write) -> Result<Request, WriteError> {
        let app_id = write.app_id()?;
        let request = Request::patch(
            format!("/servicePrincipals(appId={})", odata::key(&app_id)),
            Value::Object(body(ctx)),
        )
        .header("Prefer", "create-if-missing");
        Ok(write.fresh(request))
    }

    fn update(&self, ctx: &AppContext, write: &Write) -> Result<Request, WriteError> {
        self.create(ctx, write)
    }

    /// Deleting one that is gone (404) counts as done.
    fn delete(&self, _: &AppContext, write: &Write) -> Result<Request, WriteError> {
        Ok(Request::delete(format!(
            "/servicePrincipals/{}",
            write.live_id()?
        )))
    }

    fn learn(&self, ids: &mut AppIds, body: &Value, created: bool) {
        ids.sp_id = str_of(body, "id").map(str::to_string).or(ids.sp_id.take());
        ids.fresh |= created;
    }

    /// `GET /servicePrincipals(appId='…')` when the upsert answered 204 without a body.
    fn read_back(&self, _: &model::DesiredApp, ids: &AppIds) -> Option<Request> {
        if ids.sp_id.is_some() {
            return None;
        }
        let app_id = ids.app_id.as_ref()?;
        Some(
            Request::get(format!("/servicePrincipals(appId={})", odata::key(app_id)))
                .query("$select", "id,appId")
                .after_own_write(),
        )
    }

    /// The enterprise application's sign-in settings and notification addresses.
    fn inverse(&self, from: &super::Adopted, app: &mut model::DesiredApp, _: &mut super::Inverse) {
        let Some(sp) = from.live.service_principal.as_ref() else {
            // Adoption only: an app made without one (`az ad app create`) stays without one.
            app.service_principal.managed = false;
            return;
        };
        let tags = fields::strings(sp.get("tags"));
        let settings = &mut app.service_principal;
        settings.account_enabled = sp
            .get("accountEnabled")
            .and_then(Value::as_bool)
            .unwrap_or(true);
        settings.assignment_required = sp
            .get("appRoleAssignmentRequired")
            .and_then(Value::as_bool)
            .unwrap_or(false);
        settings.visible_to_users = !tags.contains(&HIDE_APP_TAG);
        settings.notification_emails = fields::strings(sp.get("notificationEmailAddresses"))
            .into_iter()
            .map(str::to_string)
            .collect();
    }
}
