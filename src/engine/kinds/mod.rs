//! The resource kinds appreg reconciles, one module each, and the contract they keep.
//!
//! A kind says what instances the manifest wants and what instances the tenant has, both as
//! comparable fields under stable addresses; the engine pairs them by address and decides what
//! changed. A kind also says where it sits in apply order ([`Phase`]), which ids it needs before it
//! can be written ([`Requires`]), and the one Graph request that changes it. The planner and apply
//! name no kind: adding a kind is a module here and one line in [`KINDS`].
//!
//! Client secrets are not a kind: their action depends on the clock and on what a sink holds, and
//! their write is a sequence with sink IO in the middle (add, deliver, then remove). They keep the
//! narrower [`CredentialSequence`] contract, implemented by `engine::secrets`.

pub mod application;
pub mod assignments;
pub mod certificates;
pub mod federated_credentials;
pub mod grants;
pub mod owners;
pub mod permissions;
pub mod service_principal;
pub mod service_principal_owners;

use chrono::{DateTime, Utc};
use futures_util::future::BoxFuture;
use serde_json::Value;

use super::observed::{Observed, ObservedApp, str_of};
use super::plan::{Action, Change, Notice, ResourceType};
use super::step::{AppIds, ApplyReport, KindId, Step};
use crate::credentials::Sinks;
use crate::engine::application::NamedResource;
use crate::graph::{GraphClient, Request};
use crate::model::{DesiredApp, DesiredState};

pub use super::address::Address;
pub use super::problem::{Cause, Problem};
pub use super::step::{Instance, WriteError};

/// Where a kind's writes go in apply order. Creates and updates run phase by phase in this order,
/// deletions in the reverse order (sub-objects go before the objects they hang off).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Phase {
    /// The app registration, the object everything else hangs off.
    Application,
    /// The app's enterprise application.
    ServicePrincipal,
    /// Objects that hang off the app or its service principal.
    SubObject,
    /// Credentials written as sequences (client secrets), after every sub-object.
    Credential,
}

impl Phase {
    pub const ALL: [Phase; 4] = [
        Phase::Application,
        Phase::ServicePrincipal,
        Phase::SubObject,
        Phase::Credential,
    ];
}

/// The ids a kind's create or update needs; a change whose ids are missing (the write of the
/// object it hangs off failed) is skipped and reported.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Requires {
    Nothing,
    /// The app's object id and appId.
    Application,
    /// The service principal's object id.
    ServicePrincipal,
}

impl Requires {
    /// Why a write cannot run with `ids`, or None when it can.
    pub fn unmet(self, ids: &AppIds) -> Option<&'static str> {
        match self {
            Requires::Nothing => None,
            Requires::Application if ids.object_id.is_none() || ids.app_id.is_none() => {
                Some("skipped: the application was not written")
            }
            Requires::ServicePrincipal if ids.sp_id.is_none() => {
                Some("skipped: the service principal was not written")
            }
            _ => None,
        }
    }
}

/// A directory object the manifest names by a name the tenant must resolve (observation looks
/// each one up once, whichever kind names it).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub enum DirectoryName {
    /// A user, by userPrincipalName.
    User(String),
    /// A group, by display name or id.
    Group(String),
    /// A service principal, by appId.
    ServicePrincipal(String),
}

/// One kind of object appreg reconciles. The engine owns ordering, batching, retries and reporting;
/// a kind only says what is wanted, what is there, and the one Graph request that changes it.
///
/// Observation is done in bulk by `engine::observe` (it never writes); `live` reads that
/// observation, and [`ResourceKind::reads`] asks for the collections only this kind needs.
///
/// Idempotency, which every implementation keeps and documents on its methods:
/// - `create` must tolerate "already exists": either it is an upsert keyed by the manifest
///   (uniqueName, appId), or it creates an object Graph keys so a second copy is refused and the
///   refusal counts as done. Creating an object whose id the server assigns is not naturally
///   idempotent and must be guarded.
/// - `update` may be sent twice with the same effect.
/// - `delete` succeeds when the object is gone (Graph's 404 counts as done).
/// - `desired`, `live` and `check` never write and do no IO.
pub trait ResourceKind: Sync {
    fn resource(&self) -> ResourceType;
    /// Where the kind's writes go in apply order.
    fn phase(&self) -> Phase;
    /// The ids a create or update needs.
    fn requires(&self) -> Requires;
    /// When a changed field means a new object in place of the old one, the reason the plan shows
    /// for that replacement; None when changes are updates in place.
    fn replaces(&self) -> Option<&'static str> {
        None
    }
    /// Instances the manifest wants for this app.
    fn desired(&self, ctx: &AppContext) -> Vec<Instance>;
    /// Instances the tenant has for this app, from the observation.
    fn live(&self, ctx: &AppContext) -> Vec<Instance>;
    /// Problems that stop the plan and notices worth reporting, found while planning this app.
    fn check(
        &self,
        _ctx: &AppContext,
        _now: DateTime<Utc>,
        _notices: &mut Vec<Notice>,
        _problems: &mut Vec<Problem>,
    ) {
    }
    /// Users, groups and service principals the manifest names for this kind.
    fn directory_names(&self, _app: &DesiredApp) -> Vec<DirectoryName> {
        Vec::new()
    }
    /// Collections (Graph paths, listed in full) this kind reads for an app of the manifest that
    /// exists; observation stores each under its path in [`ObservedApp::collections`].
    fn reads(&self, _app: &DesiredApp, _live: &ObservedApp) -> Vec<String> {
        Vec::new()
    }
    fn create(&self, ctx: &AppContext, write: &Write) -> Result<Request, WriteError>;
    fn update(&self, ctx: &AppContext, write: &Write) -> Result<Request, WriteError>;
    fn delete(&self, ctx: &AppContext, write: &Write) -> Result<Request, WriteError>;
    /// A write that must go before an update, in its own round trip (Graph refuses some changes
    /// to objects in one step).
    fn before_update(&self, _ctx: &AppContext, _ids: &AppIds) -> Option<Request> {
        None
    }
    /// Learns ids from the answer to this kind's write (`created`: the answer was 201).
    fn learn(&self, _ids: &mut AppIds, _body: &Value, _created: bool) {}
    /// A read of the ids an upsert answered without a body (204), when they are still unknown.
    fn read_back(&self, _app: &DesiredApp, _ids: &AppIds) -> Option<Request> {
        None
    }
    /// The delete of an object of this kind that no manifest entry names (a pruned stray).
    fn delete_unmanaged(&self, _live: &Value) -> Option<Request> {
        None
    }
    /// The inverse of `desired`: writes into `app` the manifest piece that makes this kind's
    /// desired instances equal the live ones of `from`, so that importing an app and planning it
    /// shows no change of this kind. What the manifest cannot say is named in `out.unrepresented`,
    /// never silently dropped. No IO: observation read everything before.
    fn inverse(&self, _from: &Adopted, _app: &mut DesiredApp, _out: &mut Inverse) {}
    /// Collections this kind's inverse needs besides what observation always reads (the
    /// `reads` it would ask for once the manifest names what the tenant has).
    fn import_reads(&self, _live: &ObservedApp) -> Vec<String> {
        Vec::new()
    }
}

/// What an inverse reads: one app as observed, and the names the tenant gives the ids in it.
pub struct Adopted<'a> {
    pub live: &'a ObservedApp,
    /// Resource APIs the app requests or was granted, by appId (lower-case), each with the name
    /// the manifest writes for it.
    pub resources: &'a std::collections::BTreeMap<String, (String, super::resolve::ResourceApi)>,
    /// userPrincipalName by user object id.
    pub users: &'a std::collections::BTreeMap<String, String>,
    /// Group display names by object id, with whether the name is the tenant's only group of
    /// that name (an ambiguous name is written as the id).
    pub groups: &'a std::collections::BTreeMap<String, (String, bool)>,
    /// appId of the identity appreg runs as: never listed as an owner (it stays one anyway).
    pub caller: Option<uuid::Uuid>,
    /// The manifest key the app gets: certificate files are named after it.
    pub key: &'a str,
}

impl Adopted<'_> {
    /// The manifest's name of the resource whose service principal has object id `sp_id`.
    pub fn resource_by_sp(&self, sp_id: &str) -> Option<&(String, super::resolve::ResourceApi)> {
        self.resources.values().find(|(_, api)| api.sp_id == sp_id)
    }
}

/// What inverses produce besides the manifest piece.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Inverse {
    /// What the manifest cannot reproduce exactly, each a sentence naming the object.
    pub unrepresented: Vec<String>,
    /// Public certificate files to write beside the manifest: path relative to it, PEM text.
    pub files: Vec<(String, String)>,
    /// Remarks the generated manifest carries as comments (a sink to choose, ...).
    pub remarks: Vec<String>,
}

/// The manifest entry that reproduces an observed app: every kind's inverse, in apply order,
/// into `app` (which holds the entry's identity: key, uniqueName, adoption).
pub fn inverse(from: &Adopted, app: &mut DesiredApp) -> Inverse {
    let mut out = Inverse::default();
    for kind in KINDS.iter() {
        kind.inverse(from, app, &mut out);
    }
    out
}

/// A credential whose write is a sequence with sink IO in the middle, planned per app like a kind.
/// Idempotency: a sequence looks for the credential a lost call may have added before adding
/// another, and takes back what it added when delivery fails.
pub trait CredentialSequence: Sync {
    fn resource(&self) -> ResourceType;
    fn phase(&self) -> Phase;
    /// The changes and steps this app needs, with notices and problems found on the way.
    fn plan(
        &self,
        ctx: &AppContext,
        now: DateTime<Utc>,
        notices: &mut Vec<Notice>,
        problems: &mut Vec<Problem>,
    ) -> Vec<(Change, Step)>;
    /// Carries out `work` (steps this sequence planned), recording outcomes in `report`.
    fn apply<'a>(
        &'a self,
        run: &'a SequenceRun<'a>,
        work: Vec<(&'a Change, &'a Step)>,
        report: &'a mut ApplyReport,
    ) -> BoxFuture<'a, ()>;
}

/// What a sequence's apply works with.
pub struct SequenceRun<'a> {
    pub client: &'a GraphClient,
    pub sinks: &'a Sinks,
    pub state: &'a DesiredState,
    pub tenant_id: &'a str,
}

/// Every kind, in apply order within a phase.
pub static KINDS: [&dyn ResourceKind; 9] = [
    &application::Application,
    &service_principal::ServicePrincipal,
    &owners::Owners,
    &federated_credentials::FederatedCredentials,
    &certificates::Certificates,
    &grants::Grants,
    &permissions::ApplicationPermissions,
    &assignments::Assignments,
    &service_principal_owners::ServicePrincipalOwners,
];

/// The kind registered under `id`.
pub fn kind(id: KindId) -> &'static dyn ResourceKind {
    KINDS[id.0]
}

/// The kind whose phase is [`Phase::Application`]: the object a manifest entry is.
pub fn root() -> (KindId, &'static dyn ResourceKind) {
    let at = KINDS
        .iter()
        .position(|k| k.phase() == Phase::Application)
        .expect("a kind is the application");
    (KindId(at), KINDS[at])
}

/// What one write needs besides the app: the planned step and the ids known so far.
pub struct Write<'a> {
    pub step: &'a Step,
    pub ids: &'a AppIds,
}

impl Write<'_> {
    pub fn live(&self) -> Option<&Value> {
        self.step.live.as_ref().and_then(|l| l.live.as_ref())
    }

    pub fn desired(&self) -> Result<&Instance, WriteError> {
        self.step.desired.as_deref().ok_or(WriteError::NoOp)
    }

    pub fn live_id(&self) -> Result<String, WriteError> {
        self.live()
            .and_then(|v| str_of(v, "id"))
            .map(str::to_string)
            .ok_or(WriteError::MissingId("live object"))
    }

    pub fn object_id(&self) -> Result<String, WriteError> {
        self.ids
            .object_id
            .clone()
            .ok_or(WriteError::MissingId("application"))
    }

    pub fn app_id(&self) -> Result<String, WriteError> {
        self.ids
            .app_id
            .clone()
            .ok_or(WriteError::MissingId("application"))
    }

    pub fn sp_id(&self) -> Result<String, WriteError> {
        self.ids
            .sp_id
            .clone()
            .ok_or(WriteError::MissingId("service principal"))
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

/// The request that carries out `action` with `kind`.
pub fn write(
    kind: &dyn ResourceKind,
    ctx: &AppContext,
    action: Action,
    write: &Write,
) -> Result<Request, WriteError> {
    match action {
        Action::Create => kind.create(ctx, write),
        Action::Update | Action::Replace | Action::Rotate => kind.update(ctx, write),
        Action::Delete => kind.delete(ctx, write),
        Action::NoOp => Err(WriteError::NoOp),
    }
}

/// What a kind needs to know about one app.
pub struct AppContext<'a> {
    pub set_name: &'a str,
    pub app: &'a DesiredApp,
    pub observed: &'a Observed,
    /// The app's live objects, opened from the observation (empty when the tenant has none).
    pub live: ObservedApp,
    /// The app's permission resources, resolved in the tenant.
    pub resources: Vec<NamedResource<'a>>,
}

impl<'a> AppContext<'a> {
    /// The context of `app` in `observed`: its live objects (none when the tenant has none) and
    /// the permission resources the tenant resolved.
    pub fn new(set_name: &'a str, app: &'a DesiredApp, observed: &'a Observed) -> AppContext<'a> {
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
            live: observed.apps.get(&app.key).unwrap_or_default(),
            resources,
        }
    }

    /// Whether `lifecycle.ignore` leaves this field to other tools.
    pub fn ignores(&self, field: crate::model::IgnoredField) -> bool {
        self.app.lifecycle.ignore.contains(&field)
    }

    /// The app's address (`suffix` empty) or that of an object under it.
    pub fn address(&self, suffix: &str) -> Address {
        Address::app(&self.app.key).child(suffix)
    }

    /// The manifest's name for a resource service principal id, or the id itself.
    pub fn resource_label(&self, sp_id: &str) -> String {
        self.resources
            .iter()
            .find(|r| r.api.sp_id == sp_id)
            .map_or_else(|| sp_id.to_string(), |r| r.written.to_string())
    }
}

/// Desired and live instances of every kind for one app, in apply order, each stamped with the
/// kind that writes it.
pub fn instances(ctx: &AppContext) -> (Vec<Instance>, Vec<Instance>) {
    let stamp = |at: usize, instances: Vec<Instance>| {
        instances.into_iter().map(move |mut i| {
            i.kind = Some(KindId(at));
            i
        })
    };
    // `servicePrincipal: false`: what lives on the enterprise application is neither planned
    // nor compared, so one made outside appreg is left alone.
    let applies = |k: &dyn ResourceKind| {
        ctx.app.service_principal.managed || !matches!(k.requires(), Requires::ServicePrincipal)
    };
    let desired = KINDS
        .iter()
        .enumerate()
        .filter(|(_, k)| applies(**k))
        .flat_map(|(at, k)| stamp(at, k.desired(ctx)))
        .collect();
    let live = KINDS
        .iter()
        .enumerate()
        .filter(|(_, k)| applies(**k))
        .flat_map(|(at, k)| stamp(at, k.live(ctx)))
        .collect();
    (desired, live)
}

/// Every directory name the manifest's kinds need resolved.
pub fn directory_names(state: &DesiredState) -> std::collections::BTreeSet<DirectoryName> {
    state
        .apps
        .values()
        .flat_map(|app| KINDS.iter().flat_map(|k| k.directory_names(app)))
        .collect()
}
