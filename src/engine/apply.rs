//! Apply: carry out a plan's changes in dependency order, in phases that each go out as `$batch`es.
//!
//! The order comes from the kinds, never from here: creates and updates run phase by phase
//! ([`kinds::Phase`]: the application, its service principal, sub-objects, credential sequences),
//! deletions in the reverse order, sub-objects before the objects they hang off. A change whose
//! required ids are missing (the write it depends on failed) is skipped and reported.
//! Writes that name an object created moments ago are marked so the client retries Graph's
//! replication-lag answers. A POST whose answer was lost is sent again only when Graph keys what it
//! creates (a second copy is refused as "already exists"), which every create here is; a lost
//! `addPassword` is first looked for and taken back (see `secrets`).

use super::EngineError;
use super::kinds::{self, AppContext, Phase, ResourceKind, SequenceRun};
use super::observed::{Observed, ObservedApp};
use super::plan::{Action, Change};
use super::planner::Planned;
use super::registry::SEQUENCES;
use super::step::{AppIds, ApplyReport, Failure, FailureReason, Step};
use crate::credentials::Sinks;
use crate::graph::{GraphClient, GraphError, Request, Response};
use crate::model::{DesiredApp, DesiredState};
use serde_json::Value;
use std::collections::{BTreeMap, HashMap};

pub async fn apply(
    client: &GraphClient,
    sinks: &Sinks,
    state: &DesiredState,
    observed: &Observed,
    planned: &Planned,
) -> Result<ApplyReport, EngineError> {
    let mut report = ApplyReport {
        ids: observed.apps.ids(),
        ..Default::default()
    };
    let run = SequenceRun {
        client,
        sinks,
        state,
        tenant_id: observed.tenant_id.as_str(),
    };
    let work: Vec<(usize, &Step)> = planned
        .steps
        .iter()
        .enumerate()
        .filter(|(i, _)| planned.plan.changes[*i].action.is_write())
        .collect();
    // The steps of `phase` that a kind carries out, creating and updating or deleting.
    let of_kinds = |phase: Phase, deleting: bool| -> Vec<(usize, &Step)> {
        work.iter()
            .filter(|(i, step)| {
                step.kind().is_some_and(|k| kinds::kind(k).phase() == phase)
                    && (planned.plan.changes[*i].action == Action::Delete) == deleting
            })
            .copied()
            .collect()
    };
    // The steps a credential sequence carries out.
    let of_sequence =
        |sequence: &dyn kinds::CredentialSequence, deleting: bool| -> Vec<(&Change, &Step)> {
            work.iter()
                .filter(|(i, step)| {
                    let change = &planned.plan.changes[*i];
                    step.kind().is_none()
                        && change.resource == sequence.resource()
                        && (change.action == Action::Delete) == deleting
                })
                .map(|(i, step)| (&planned.plan.changes[*i], *step))
                .collect()
        };
    for phase in Phase::ALL {
        run_phase(
            client,
            state,
            observed,
            planned,
            &of_kinds(phase, false),
            &mut report,
        )
        .await?;
        for sequence in SEQUENCES.iter().filter(|s| s.phase() == phase) {
            sequence
                .apply(&run, of_sequence(*sequence, false), &mut report)
                .await;
        }
    }
    for phase in Phase::ALL.into_iter().rev() {
        for sequence in SEQUENCES.iter().filter(|s| s.phase() == phase) {
            sequence
                .apply(&run, of_sequence(*sequence, true), &mut report)
                .await;
        }
        run_phase(
            client,
            state,
            observed,
            planned,
            &of_kinds(phase, true),
            &mut report,
        )
        .await?;
    }
    Ok(report)
}

/// One write and how to read its answer.
struct Write {
    index: usize,
    request: Request,
    /// A create of an object Graph keys (owner reference, grant, app role assignment, federated
    /// credential by name): "already exists" means done, and a lost answer may be sent again.
    tolerate_exists: bool,
}

/// How many times a keyed create whose answer was lost is sent again within one apply.
const LOST_ANSWER_RESENDS: usize = 3;

async fn run_phase(
    client: &GraphClient,
    state: &DesiredState,
    observed: &Observed,
    planned: &Planned,
    steps: &[(usize, &Step)],
    report: &mut ApplyReport,
) -> Result<(), EngineError> {
    // Writes are built, sent and read a window at a time: the request bodies (a whole app
    // registration each), their prepared copies and the answers (a created app comes back whole)
    // of one window are held at once, not a phase's.
    let mut pre_writes = Outbox::new(client, planned, |_, _, _| {});
    let mut writes = Outbox::new(client, planned, learn_ids);
    // An app's steps are next to each other: its observation is opened once for all of them.
    let mut ctx: Option<AppContext> = None;
    for (index, step) in steps {
        let change = &planned.plan.changes[*index];
        let Some(kind) = step.kind().map(kinds::kind) else {
            continue;
        };
        let app = step.app_key.as_ref().and_then(|k| state.apps.get(k));
        let ids = step
            .app_key
            .as_ref()
            .and_then(|k| report.ids.get(k))
            .cloned()
            .unwrap_or_default();
        if change.action != Action::Delete
            && let Some(reason) = kind.requires().unmet(&ids)
        {
            report.failed.push(Failure::new(
                &change.address,
                FailureReason::Skipped(reason),
            ));
            continue;
        }
        let built = match app {
            Some(app) => {
                if ctx.as_ref().is_some_and(|c| c.app.key != app.key) {
                    ctx = None;
                }
                let ctx: &AppContext =
                    ctx.get_or_insert_with(|| AppContext::new(&state.set_name, app, observed));
                if change.action == Action::Update
                    && let Some(pre) = kind.before_update(ctx, &ids)
                {
                    pre_writes.push(
                        Write {
                            index: *index,
                            request: pre,
                            tolerate_exists: false,
                        },
                        step.app_key.as_deref(),
                        report,
                    );
                }
                kinds::write(kind, ctx, change.action, &kinds::Write { step, ids: &ids })
            }
            None => unmanaged_delete(kind, step),
        };
        match built {
            Ok(request) => writes.push(
                Write {
                    index: *index,
                    request,
                    tolerate_exists: change.action == Action::Create,
                },
                step.app_key.as_deref(),
                report,
            ),
            Err(reason) => report.failed.push(Failure::new(&change.address, reason)),
        }
        if writes.is_full() {
            // An app's writes that must go first (`before_update`) never go after its update.
            pre_writes.flush(report).await;
            writes.flush(report).await;
        }
    }
    pre_writes.flush(report).await;
    writes.flush(report).await;
    // 204 answers to upserts carry no body: read the ids of objects created through them (rare:
    // only when observation missed an object that existed).
    let unknown: Vec<(String, &dyn ResourceKind, Request)> = steps
        .iter()
        .filter_map(|(i, step)| {
            let key = step.app_key.as_ref()?;
            let ids = report.ids.get(key)?;
            let app = state.apps.get(key)?;
            let kind = kinds::kind(step.kind()?);
            if planned.plan.changes[*i].action == Action::Delete {
                return None;
            }
            Some((key.clone(), kind, kind.read_back(app, ids)?))
        })
        .collect();
    let answers = client
        .batch(unknown.iter().map(|(_, _, r)| r.clone()).collect())
        .await;
    for ((key, kind, _), answer) in unknown.iter().zip(answers) {
        let body = answer?.body.unwrap_or_default();
        kind.learn(report.ids.entry(key.clone()).or_default(), &body, false);
    }
    Ok(())
}

/// Unique writes sent and read as one window: 40 envelopes, five waves of eight. A window is a
/// whole number of envelopes, so windows add no round trip.
const APPLY_WINDOW: usize = 40 * crate::graph::MAX_BATCH;

type Answer = (Result<Response, GraphError>, bool);

/// Writes of one phase on their way out, deduplicated and sent a window at a time.
///
/// Identical writes (an app's certificate changes all send the same collection) go once and
/// share the answer. Candidates are found by a hash of the whole request: writes that share a
/// path (every grant, every assignment of one resource's roles) are tens of thousands at scale,
/// and comparing them with each other made apply's CPU grow with the square of the apps.
/// Identical writes are one app's, so the answers of the app being built when a window goes out
/// are kept for its writes in the next window.
struct Outbox<'a, F> {
    client: &'a GraphClient,
    planned: &'a Planned,
    on_success: F,
    /// Unique requests of this window, each with whether a keyed create is among its writes.
    unique: Vec<(Request, bool)>,
    by_hash: HashMap<u64, Vec<usize>>,
    /// Writes of this window: the change's index, `tolerate_exists`, and its unique request.
    writes: Vec<(usize, bool, usize)>,
    /// The app whose writes were pushed last, and where its unique requests begin in `unique`.
    open_app: Option<String>,
    open_from: usize,
    /// The open app's requests sent in earlier windows, with their answers.
    carried: Vec<(Request, Answer)>,
}

impl<'a, F: Fn(&mut ApplyReport, &Step, &Response)> Outbox<'a, F> {
    fn new(client: &'a GraphClient, planned: &'a Planned, on_success: F) -> Self {
        Outbox {
            client,
            planned,
            on_success,
            unique: Vec::new(),
            by_hash: HashMap::new(),
            writes: Vec::new(),
            open_app: None,
            open_from: 0,
            carried: Vec::new(),
        }
    }

    fn is_full(&self) -> bool {
        self.unique.len() >= APPLY_WINDOW
    }

    fn push(&mut self, write: Write, app: Option<&str>, report: &mut ApplyReport) {
        if self.open_app.as_deref() != app {
            self.open_app = app.map(str::to_string);
            self.open_from = self.unique.len();
            self.carried.clear();
        }
        if let Some((_, answer)) = self.carried.iter().find(|(r, _)| *r == write.request) {
            settle(
                self.planned,
                report,
                &self.on_success,
                (write.index, write.tolerate_exists),
                answer,
            );
            return;
        }
        let same = self
            .by_hash
            .entry(request_hash(&write.request))
            .or_default();
        let i = match same
            .iter()
            .copied()
            .find(|i| self.unique[*i].0 == write.request)
        {
            Some(i) => i,
            None => {
                self.unique.push((write.request, false));
                same.push(self.unique.len() - 1);
                self.unique.len() - 1
            }
        };
        self.unique[i].1 |= write.tolerate_exists;
        self.writes.push((write.index, write.tolerate_exists, i));
    }

    /// Sends this window's unique writes and settles every write of it.
    async fn flush(&mut self, report: &mut ApplyReport) {
        if self.unique.is_empty() {
            return;
        }
        self.by_hash.clear();
        let unique = std::mem::take(&mut self.unique);
        let answers = send_window(self.client, &unique).await;
        for (index, tolerate_exists, i) in std::mem::take(&mut self.writes) {
            settle(
                self.planned,
                report,
                &self.on_success,
                (index, tolerate_exists),
                &answers[i],
            );
        }
        let open_from = std::mem::take(&mut self.open_from);
        self.carried.extend(
            unique
                .into_iter()
                .zip(answers)
                .skip(open_from)
                .map(|((request, _), answer)| (request, answer)),
        );
    }
}

/// Records the outcome of one write (`index` of its change, and `tolerate_exists`).
fn settle(
    planned: &Planned,
    report: &mut ApplyReport,
    on_success: &impl Fn(&mut ApplyReport, &Step, &Response),
    (index, tolerate_exists): (usize, bool),
    (answer, resent): &Answer,
) {
    let change = &planned.plan.changes[index];
    let step = &planned.steps[index];
    match answer {
        Ok(response) => {
            on_success(report, step, response);
            report.done.push((change.address.clone(), change.action));
        }
        Err(e) if tolerate_exists && (already_exists(e) || (*resent && resent_copy_refused(e))) => {
            report.done.push((change.address.clone(), change.action))
        }
        Err(e) if change.action == Action::Delete && e.status() == Some(404) => {
            report.done.push((change.address.clone(), change.action))
        }
        Err(e) => report.failed.push(Failure::new(&change.address, e.clone())),
    }
}

/// One window's answers, each with whether its write was sent again after a lost answer.
async fn send_window(client: &GraphClient, unique: &[(Request, bool)]) -> Vec<Answer> {
    let requests: Vec<&Request> = unique.iter().map(|(r, _)| r).collect();
    let mut answers = client.batch_of(&requests).await;
    // A lost answer leaves the create done or not; sending it again settles which, since a copy of
    // a keyed object is refused. Such a refusal (409 as well as 400 here: the first copy was ours)
    // counts as done.
    let mut resent = vec![false; unique.len()];
    for _ in 0..LOST_ANSWER_RESENDS {
        let lost: Vec<usize> = (0..unique.len())
            .filter(|i| {
                unique[*i].1 && matches!(answers[*i], Err(GraphError::OutcomeUnknown { .. }))
            })
            .collect();
        if lost.is_empty() {
            break;
        }
        tracing::info!(
            writes = lost.len(),
            "sending creates whose answer was lost again"
        );
        let again = client
            .batch_of(&lost.iter().map(|i| requests[*i]).collect::<Vec<_>>())
            .await;
        for (i, answer) in lost.into_iter().zip(again) {
            resent[i] = true;
            answers[i] = answer;
        }
    }
    answers.into_iter().zip(resent).collect()
}

/// A hash of everything that makes two requests equal (`Request`'s `==`), so equal requests
/// always share it. Objects are hashed without regard to key order, as they compare.
fn request_hash(request: &Request) -> u64 {
    use std::hash::{Hash, Hasher};
    fn value(v: &Value, h: &mut impl Hasher) {
        match v {
            Value::Null => 0u8.hash(h),
            Value::Bool(b) => (1u8, b).hash(h),
            // -0.0 equals 0.0, so both hash as 0.0.
            Value::Number(n) => {
                let float = n.as_f64().map(|f| if f == 0.0 { 0 } else { f.to_bits() });
                (2u8, n.as_u64(), n.as_i64(), float).hash(h)
            }
            Value::String(s) => (3u8, s).hash(h),
            Value::Array(items) => {
                (4u8, items.len()).hash(h);
                items.iter().for_each(|item| value(item, h));
            }
            Value::Object(map) => {
                let entries = map.iter().fold(0u64, |sum, (k, v)| {
                    let mut entry = std::collections::hash_map::DefaultHasher::new();
                    k.hash(&mut entry);
                    value(v, &mut entry);
                    sum.wrapping_add(entry.finish())
                });
                (5u8, map.len(), entries).hash(h);
            }
        }
    }
    let mut h = std::collections::hash_map::DefaultHasher::new();
    (
        request.method,
        &request.path,
        &request.query,
        &request.headers,
    )
        .hash(&mut h);
    (
        request.just_written,
        &request.depends_on,
        request.sensitive,
        request.repeatable,
    )
        .hash(&mut h);
    match &request.body {
        Some(body) => value(body, &mut h),
        None => 9u8.hash(&mut h),
    }
    h.finish()
}

/// Graph's code for a second object with the same key (grants, federated credentials by name).
const SAME_KEY: &str = "Request_MultipleObjectsWithSameKeyValue";

/// Graph's answers to adding what is already there: the keyed-object code, or, for references
/// and app role assignments, the generic `Request_BadRequest` whose message is the only thing
/// that tells a duplicate from other bad requests (Graph has no code of its own for them).
fn already_exists(error: &GraphError) -> bool {
    match (error.status(), error.code()) {
        (Some(400), Some("Request_BadRequest")) => {
            let message = error.message().to_lowercase();
            message.contains("already exist")
        }
        _ => false,
    }
}

/// Graph's 409 to a second copy of a keyed object, read by its code. Only read so after a
/// resend: on a first send it may mean someone else's object with other content.
fn resent_copy_refused(error: &GraphError) -> bool {
    error.status() == Some(409) && error.code() == Some(SAME_KEY)
}

fn learn_ids(report: &mut ApplyReport, step: &Step, response: &Response) {
    let (Some(key), Some(body), Some(kind)) = (&step.app_key, &response.body, step.kind()) else {
        return;
    };
    let ids = report.ids.entry(key.clone()).or_default();
    kinds::kind(kind).learn(ids, body, response.status == 201);
}

/// The delete of a stray (an object no manifest entry names), by the kind that keys it.
fn unmanaged_delete(kind: &dyn ResourceKind, step: &Step) -> Result<Request, kinds::WriteError> {
    step.live
        .as_ref()
        .and_then(|l| l.live.as_ref())
        .and_then(|live| kind.delete_unmanaged(live))
        .ok_or(kinds::WriteError::MissingId("stray object"))
}

/// Per-app outputs after apply: what an integration's operator copies to the vendor.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize, PartialEq, schemars::JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct AppOutputs {
    pub app_id: String,
    pub object_id: String,
    pub tenant_id: String,
    pub service_principal_id: Option<String>,
    /// Where an administrator grants tenant-wide consent: the app's own tenant for a single-tenant
    /// app, `/organizations` for one any organization may use; none for personal accounts only.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub admin_consent_url: Option<String>,
    /// Where a user consents for themselves: on the authority the audience signs in through
    /// (tenant, `/organizations`, `/common`, `/consumers`).
    pub user_consent_url: Option<String>,
    /// The consent URLs point at the sandbox run inside this command, which stops answering
    /// when the command ends.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub sandbox_only: bool,
    /// The current secret of each name and each certificate, with expiry (never a value).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub credentials: Vec<CredentialExpiry>,
    /// Users and groups assigned to the app, as the tenant holds them (`appreg output`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub assignments: Vec<AssignmentOutput>,
}

/// A user or group assigned to an app, with the role's value (none: default access).
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize, PartialEq, schemars::JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct AssignmentOutput {
    /// `User`, `Group` or `ServicePrincipal`, as Graph names it.
    pub principal_type: String,
    pub principal_display_name: String,
    pub principal_id: String,
    pub role: Option<String>,
}

impl AssignmentOutput {
    /// The assignments granted on an app's service principal (`appRoleAssignedTo`), roles
    /// named by the application's `appRoles`.
    pub fn from_tenant(app: &ObservedApp) -> Vec<AssignmentOutput> {
        let roles: BTreeMap<&str, &str> = app
            .application
            .as_ref()
            .and_then(|a| a["appRoles"].as_array())
            .into_iter()
            .flatten()
            .filter_map(|r| Some((r["id"].as_str()?, r["value"].as_str()?)))
            .collect();
        let text = |v: &Value| v.as_str().unwrap_or_default().to_string();
        let mut out: Vec<AssignmentOutput> = app
            .assigned_to
            .iter()
            .map(|a| AssignmentOutput {
                principal_type: text(&a["principalType"]),
                principal_display_name: text(&a["principalDisplayName"]),
                principal_id: text(&a["principalId"]),
                role: a["appRoleId"]
                    .as_str()
                    .and_then(|id| roles.get(id))
                    .map(|v| v.to_string()),
            })
            .collect();
        out.sort_by(|a, b| {
            (&a.principal_display_name, &a.role).cmp(&(&b.principal_display_name, &b.role))
        });
        out
    }
}

/// A credential's expiry, as outputs report it.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize, PartialEq, schemars::JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct CredentialExpiry {
    pub kind: String,
    pub name: String,
    pub key_id: Option<String>,
    pub expires: Option<chrono::DateTime<chrono::Utc>>,
}

impl CredentialExpiry {
    /// Current credentials of `app` from an inventory taken before apply, with what apply
    /// delivered in place of what it rotated.
    pub fn current(
        app: &str,
        rows: &[super::inventory::CredentialRow],
        delivered: &[super::step::Delivered],
    ) -> Vec<CredentialExpiry> {
        use super::inventory::{CredentialKind, Standing};
        let mut out: Vec<CredentialExpiry> = delivered
            .iter()
            .filter(|d| d.app_key == app)
            .map(|d| CredentialExpiry {
                kind: "secret".into(),
                name: d.name.clone(),
                key_id: Some(d.key_id.clone()),
                expires: Some(d.expiry),
            })
            .collect();
        for row in rows
            .iter()
            .filter(|r| r.app == app && r.standing == Standing::Current)
        {
            let kind = match row.kind {
                CredentialKind::Secret => "secret",
                CredentialKind::Certificate => "certificate",
                CredentialKind::FederatedCredential => continue,
            };
            if !out.iter().any(|o| o.kind == kind && o.name == row.name) {
                out.push(CredentialExpiry {
                    kind: kind.into(),
                    name: row.name.clone(),
                    key_id: row.key_id.clone(),
                    expires: row.expires,
                });
            }
        }
        out.sort_by(|a, b| (&a.kind, &a.name).cmp(&(&b.kind, &b.name)));
        out
    }
}

/// Outputs for an app: consent URLs are built on `authority` (the login host) and name Microsoft
/// Graph by `graph_resource`, the cloud's Graph identifier (`https://graph.microsoft.com`).
pub fn outputs(
    app: &DesiredApp,
    ids: &AppIds,
    tenant_id: &str,
    authority: &str,
    graph_resource: &str,
) -> Option<AppOutputs> {
    let app_id = ids.app_id.clone()?;
    let authority = authority.trim_end_matches('/');
    // The authority path segment follows who may sign in: a tenant-specific URL would turn away
    // every user of another organization (multitenant) or with a personal account.
    use crate::model::SignInAudience as Audience;
    let (admin_tenant, user_tenant) = match app.sign_in_audience {
        Audience::MyOrganization => (Some(tenant_id), tenant_id),
        Audience::MultipleOrganizations => (Some("organizations"), "organizations"),
        Audience::OrganizationsAndPersonalAccounts => (Some("organizations"), "common"),
        Audience::PersonalAccounts => (None, "consumers"),
    };
    let admin_consent_url =
        admin_tenant.map(|t| format!("{authority}/{t}/adminconsent?client_id={app_id}"));
    let redirect = app
        .web
        .redirect_uris
        .iter()
        .chain(&app.public_client_redirect_uris)
        .chain(&app.spa_redirect_uris)
        .next();
    // One `.default` scope asks for every delegated permission configured on one resource; the
    // v2 endpoint takes one resource per request, so Microsoft Graph's when the app has any.
    let graph_id = crate::catalogue::MICROSOFT_GRAPH_APP_ID;
    let resources: Vec<uuid::Uuid> = app
        .permissions
        .iter()
        .filter(|(_, p)| !p.delegated.is_empty())
        .filter_map(
            |(written, _)| match super::resolve::ResourceRef::parse(written) {
                super::resolve::ResourceRef::AppId(id) => Some(id),
                super::resolve::ResourceRef::DisplayName(_) => None,
            },
        )
        .collect();
    let scope = if resources.contains(&graph_id) {
        Some(format!("{}/.default", graph_resource.trim_end_matches('/')))
    } else {
        resources.first().map(|id| format!("{id}/.default"))
    };
    let user_consent_url = redirect.zip(scope).map(|(redirect, scope)| {
        let mut url = url::Url::parse(&format!("{authority}/{user_tenant}/oauth2/v2.0/authorize"))
            .expect("authority is a URL");
        url.query_pairs_mut()
            .append_pair("client_id", &app_id)
            .append_pair("response_type", "code")
            .append_pair("redirect_uri", redirect)
            .append_pair("response_mode", "query")
            .append_pair("scope", &scope)
            .append_pair("prompt", "consent");
        url.to_string()
    });
    Some(AppOutputs {
        app_id,
        object_id: ids.object_id.clone()?,
        tenant_id: tenant_id.to_string(),
        service_principal_id: ids.sp_id.clone(),
        admin_consent_url,
        user_consent_url,
        sandbox_only: false,
        credentials: Vec::new(),
        assignments: Vec::new(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn equal_requests_share_a_hash_and_different_ones_do_not() {
        let grant = |client: &str, scope: &str| {
            Request::post(
                "/oauth2PermissionGrants",
                json!({"clientId": client, "consentType": "AllPrincipals", "scope": scope, "n": 0.0}),
            )
        };
        // Built apart, keys in another order, -0.0 for 0.0: still equal, so still one hash.
        let mut other_order = serde_json::Map::new();
        for (k, v) in [
            ("n", json!(-0.0)),
            ("scope", json!("User.Read")),
            ("consentType", json!("AllPrincipals")),
            ("clientId", json!("a")),
        ] {
            other_order.insert(k.into(), v);
        }
        let same = Request::post("/oauth2PermissionGrants", Value::Object(other_order));
        assert!(same == grant("a", "User.Read"));
        assert_eq!(request_hash(&same), request_hash(&grant("a", "User.Read")));
        // Writes to one path told apart by their bodies, headers or method.
        let hashes: std::collections::HashSet<u64> = [
            grant("a", "User.Read"),
            grant("b", "User.Read"),
            grant("a", "User.Read Mail.Send"),
            grant("a", "User.Read").header("Prefer", "create-if-missing"),
            Request::patch("/oauth2PermissionGrants", json!({"clientId": "a"})),
            Request::delete("/oauth2PermissionGrants"),
        ]
        .iter()
        .map(request_hash)
        .collect();
        assert_eq!(hashes.len(), 6);
    }
}
