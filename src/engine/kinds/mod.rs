//! The resource kinds appreg reconciles, one module each. A kind says what instances the manifest
//! wants and what instances the tenant has, both as comparable fields under stable addresses; the
//! engine pairs them by address and decides what changed.

pub mod application;
pub mod assignments;
pub mod certificates;
pub mod federated_credentials;
pub mod grants;
pub mod owners;
pub mod permissions;
pub mod service_principal;

use serde_json::Value;

use super::apply::AppIds;
use super::fields::Fields;
use super::observed::{Observed, ObservedApp, str_of};
use super::plan::{Action, ResourceType};
use super::planner::Step;
use crate::engine::application::NamedResource;
use crate::graph::Request;
use crate::model::DesiredApp;

/// One kind of object appreg reconciles. The engine owns ordering, batching, retries and reporting;
/// a kind only says what is wanted, what is there, and the one Graph request that changes it.
///
/// Observation is done in bulk by `engine::observe` (it never writes); `live` reads that
/// observation. Each write method documents its idempotency rule on the implementation.
pub trait ResourceKind: Sync {
    fn resource(&self) -> ResourceType;
    /// Instances the manifest wants for this app.
    fn desired(&self, ctx: &AppContext) -> Vec<Instance>;
    /// Instances the tenant has for this app, from the observation.
    fn live(&self, ctx: &AppContext) -> Vec<Instance>;
    fn create(&self, ctx: &AppContext, write: &Write) -> Result<Request, String>;
    fn update(&self, ctx: &AppContext, write: &Write) -> Result<Request, String>;
    fn delete(&self, ctx: &AppContext, write: &Write) -> Result<Request, String>;
}

/// Every kind, in apply order. Client secrets are not among them: their action depends on the
/// clock and on what a sink holds, and their write is a sequence (add, deliver, then remove), so
/// `engine::secrets` plans and applies them.
pub static KINDS: [&dyn ResourceKind; 8] = [
    &application::Application,
    &service_principal::ServicePrincipal,
    &owners::Owners,
    &federated_credentials::FederatedCredentials,
    &certificates::Certificates,
    &grants::Grants,
    &permissions::ApplicationPermissions,
    &assignments::Assignments,
];

/// What one write needs besides the app: the planned step and the ids known so far.
pub struct Write<'a> {
    pub step: &'a Step,
    pub ids: &'a AppIds,
}

impl Write<'_> {
    pub fn live(&self) -> Option<&Value> {
        self.step.live.as_ref().and_then(|l| l.live.as_ref())
    }

    pub fn desired(&self) -> Result<&Instance, String> {
        self.step
            .desired
            .as_ref()
            .ok_or_else(|| "nothing desired".to_string())
    }

    pub fn live_id(&self) -> Result<String, String> {
        self.live()
            .and_then(|v| str_of(v, "id"))
            .map(str::to_string)
            .ok_or_else(|| "the live object has no id".to_string())
    }

    pub fn object_id(&self) -> Result<String, String> {
        self.ids
            .object_id
            .clone()
            .ok_or_else(|| "the application has no id yet".to_string())
    }

    pub fn sp_id(&self) -> Result<String, String> {
        self.ids
            .sp_id
            .clone()
            .ok_or_else(|| "the service principal has no id yet".to_string())
    }

    /// Marks a request that names an object created in this run, so replication lag is retried.
    pub fn fresh(&self, request: Request) -> Request {
        if self.ids.fresh {
            request.after_own_write()
        } else {
            request
        }
    }
}

/// The request that carries out `action` on an object of `resource`.
pub fn write(
    ctx: &AppContext,
    resource: ResourceType,
    action: Action,
    write: &Write,
) -> Result<Request, String> {
    let kind = KINDS
        .iter()
        .find(|k| k.resource() == resource)
        .ok_or_else(|| format!("{resource:?} is not reconciled yet"))?;
    match action {
        Action::Create => kind.create(ctx, write),
        Action::Update | Action::Replace | Action::Rotate => kind.update(ctx, write),
        Action::Delete => kind.delete(ctx, write),
        Action::NoOp => Err("nothing to do".into()),
    }
}

/// One object, desired or live, of one kind.
#[derive(Debug, Clone)]
pub struct Instance {
    pub address: String,
    pub resource: ResourceType,
    pub fields: Fields,
    /// The live Graph object (its ids are needed to update or delete it).
    pub live: Option<Value>,
}

impl Instance {
    pub fn new(address: String, resource: ResourceType, fields: Fields) -> Instance {
        Instance {
            address,
            resource,
            fields,
            live: None,
        }
    }

    pub fn observed(mut self, live: &Value) -> Instance {
        self.live = Some(live.clone());
        self
    }
}

/// What a kind needs to know about one app.
pub struct AppContext<'a> {
    pub set_name: &'a str,
    pub app: &'a DesiredApp,
    pub observed: &'a Observed,
    pub live: &'a ObservedApp,
    /// The app's permission resources, resolved in the tenant.
    pub resources: Vec<NamedResource<'a>>,
}

impl<'a> AppContext<'a> {
    /// The context of `app` in `observed`: its live objects (none when the tenant has none) and
    /// the permission resources the tenant resolved.
    pub fn new(set_name: &'a str, app: &'a DesiredApp, observed: &'a Observed) -> AppContext<'a> {
        static NOTHING: std::sync::LazyLock<ObservedApp> =
            std::sync::LazyLock::new(ObservedApp::default);
        let resources = app
            .permissions
            .keys()
            .filter_map(|w| {
                observed
                    .resources
                    .get_key_value(w)
                    .map(|(written, api)| NamedResource { written, api })
            })
            .collect();
        AppContext {
            set_name,
            app,
            observed,
            live: observed.apps.get(&app.key).unwrap_or(&NOTHING),
            resources,
        }
    }

    /// Whether `lifecycle.ignore` leaves this field to other tools.
    pub fn ignores(&self, field: crate::model::IgnoredField) -> bool {
        self.app.lifecycle.ignore.contains(&field)
    }

    pub fn address(&self, suffix: &str) -> String {
        if suffix.is_empty() {
            format!("app.{}", self.app.key)
        } else {
            format!("app.{}.{suffix}", self.app.key)
        }
    }

    /// The manifest's name for a resource service principal id, or the id itself.
    pub fn resource_label(&self, sp_id: &str) -> String {
        self.resources
            .iter()
            .find(|r| r.api.sp_id == sp_id)
            .map_or_else(|| sp_id.to_string(), |r| r.written.to_string())
    }
}

/// Desired and live instances of every kind for one app, in apply order.
pub fn instances(ctx: &AppContext) -> (Vec<Instance>, Vec<Instance>) {
    let desired = KINDS.iter().flat_map(|k| k.desired(ctx)).collect();
    let live = KINDS.iter().flat_map(|k| k.live(ctx)).collect();
    (desired, live)
}
