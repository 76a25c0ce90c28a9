//! The resource kinds appreg reconciles, one module each. A kind says what instances the manifest
//! wants and what instances the tenant has, both as comparable fields under stable addresses; the
//! engine pairs them by address and decides what changed.

pub mod application;
pub mod assignments;
pub mod federated_credentials;
pub mod grants;
pub mod owners;
pub mod permissions;
pub mod service_principal;

use serde_json::Value;

use super::fields::Fields;
use super::observed::{Observed, ObservedApp};
use super::plan::ResourceType;
use crate::engine::application::NamedResource;
use crate::model::DesiredApp;

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

impl AppContext<'_> {
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

/// Builds one kind's instances for an app.
type InstancesOf = fn(&AppContext) -> Vec<Instance>;

/// Desired and live instances of every kind for one app, in apply order.
pub fn instances(ctx: &AppContext) -> (Vec<Instance>, Vec<Instance>) {
    let mut desired = Vec::new();
    let mut live = Vec::new();
    let kinds: [(InstancesOf, InstancesOf); 7] = [
        (application::desired, application::live),
        (service_principal::desired, service_principal::live),
        (owners::desired, owners::live),
        (federated_credentials::desired, federated_credentials::live),
        (grants::desired, grants::live),
        (permissions::desired, permissions::live),
        (assignments::desired, assignments::live),
    ];
    for (wanted, found) in kinds {
        desired.extend(wanted(ctx));
        live.extend(found(ctx));
    }
    (desired, live)
}
