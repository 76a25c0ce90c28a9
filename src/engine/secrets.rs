//! Client secrets in plans and applies.
//!
//! Planning asks `credentials::plan_secret` what each declared secret needs, checks lifetimes
//! against the tenant's policy, and turns undeclared credential names into deletions (when
//! pruning) or notices. Applying carries out each secret's sequence: remove what must make room,
//! add a credential, deliver its value, and only then remove what rotation retires. If delivery
//! fails the new credential is removed before the error is reported, so no value is lost in a
//! credential nobody holds. Secrets of one app go one after another (Graph refuses concurrent
//! credential writes on an object); apps go concurrently.
//!
//! Just before a value is delivered to a readable sink, the sink is read again: when it no longer
//! holds what the plan saw, another run (a CI runner without this machine's apply lock) delivered
//! meanwhile, and this run takes its new credential back rather than overwrite that value; the
//! next run converges. Text from Graph or a sink's server reaches messages escaped.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use serde_json::{Value, json};

use super::kinds::{AppContext, CredentialSequence, Phase, SequenceRun};
use super::observed::str_of;
use super::plan::{Action, Change, FieldChange, Notice, ResourceType};
use super::problem::{Cause, Problem};
use super::step::{AppIds, ApplyReport, Failure, FailureReason, Step, digest};
pub use super::step::{Delivered, SecretStep};
use crate::credentials::{
    Cap, Delivery, Holding, LiveSecret, SecretAction, SecretPlan, Sinks, plan_secret, server_text,
};
use crate::graph::{GraphClient, GraphError, Request, Secret};
use crate::manifest::diagnostic::escape_hidden;
use crate::model::{DesiredApp, SecretSink};

/// Client secrets, behind the sequence contract the planner and apply know them by.
pub struct ClientSecrets;

impl CredentialSequence for ClientSecrets {
    fn resource(&self) -> ResourceType {
        ResourceType::Secret
    }

    fn phase(&self) -> Phase {
        Phase::Credential
    }

    fn plan(
        &self,
        ctx: &AppContext,
        now: DateTime<Utc>,
        notices: &mut Vec<Notice>,
        problems: &mut Vec<Problem>,
    ) -> Vec<(Change, Step)> {
        plan_app(ctx, now, notices, problems)
    }

    fn apply<'a>(
        &'a self,
        run: &'a SequenceRun<'a>,
        work: Vec<(&'a Change, &'a Step)>,
        report: &'a mut ApplyReport,
    ) -> futures_util::future::BoxFuture<'a, ()> {
        Box::pin(apply(
            run.client,
            run.sinks,
            run.state,
            run.tenant_id,
            work,
            report,
        ))
    }
}

/// The keyId a readable sink holds, if any.
fn held_key(holding: &Holding) -> Option<&str> {
    match holding {
        Holding::Holds { key_id, .. } => Some(key_id),
        Holding::Empty | Holding::WriteOnly => None,
    }
}

/// How many times an `addPassword` is sent when answers are lost (each lost one is looked for and
/// taken back first, so a resend cannot leave two credentials).
const ADD_PASSWORD_SENDS: usize = 3;

/// How long reads are repeated to find the credential of an `addPassword` whose answer was lost.
const LOST_ADD_READ_BACK: std::time::Duration = std::time::Duration::from_secs(30);

/// Most password credentials an app allowing personal accounts may hold (GRAPH.md).
const PERSONAL_ACCOUNT_CAP: usize = 2;

fn address(ctx: &AppContext, name: &str) -> super::address::Address {
    ctx.address(&format!("secret.{name}"))
}

/// The app's live password credentials.
pub fn live_secrets(ctx: &AppContext) -> Vec<LiveSecret> {
    ctx.live
        .application
        .as_ref()
        .map(password_credentials)
        .unwrap_or_default()
}

/// The password credentials of an application object as Graph returns it.
fn password_credentials(application: &Value) -> Vec<LiveSecret> {
    application
        .get("passwordCredentials")
        .and_then(Value::as_array)
        .map(|items| items.iter().filter_map(LiveSecret::from_graph).collect())
        .unwrap_or_default()
}

/// What the sink of `sink` holds for this app (nothing read yet for an app that does not exist).
fn holding(ctx: &AppContext, name: &str, sink: &SecretSink) -> Holding {
    match ctx.live.holdings.get(name) {
        Some(h) => h.clone(),
        None if Sinks::is_readable(sink) => Holding::Empty,
        None => Holding::WriteOnly,
    }
}

/// Secret changes of one app (deletions included), notices, and problems that stop the plan.
pub fn plan_app(
    ctx: &AppContext,
    now: DateTime<Utc>,
    notices: &mut Vec<Notice>,
    problems: &mut Vec<Problem>,
) -> Vec<(Change, Step)> {
    let live = live_secrets(ctx);
    let declared = |c: &LiveSecret| {
        ctx.app
            .secrets
            .iter()
            .any(|s| s.claims(&c.key_id, c.display_name.as_deref()))
    };
    // Credentials of undeclared names that this run prunes anyway may make room under the cap.
    let pruned: Vec<String> = live
        .iter()
        .filter(|c| ctx.observed.prune && !declared(c))
        .map(|c| c.key_id.clone())
        .collect();
    let cap = ctx
        .app
        .sign_in_audience
        .allows_personal_accounts()
        .then_some(Cap {
            max: PERSONAL_ACCOUNT_CAP,
            pruned: &pruned,
        });
    let mut out = Vec::new();
    for spec in &ctx.app.secrets {
        let address = address(ctx, &spec.name);
        let Some(sink) = &spec.sink else {
            out.push(kept_without_sink(ctx, spec, &live, address, now, notices));
            continue;
        };
        check_policy(ctx, spec, &address, now, problems);
        let holding = holding(ctx, &spec.name, sink);
        let plan = plan_secret(spec, &live, &holding, cap, now);
        let action = match plan.action {
            SecretAction::NoOp => Action::NoOp,
            SecretAction::Create => Action::Create,
            SecretAction::Rotate => Action::Rotate,
            SecretAction::Cleanup => Action::Update,
            SecretAction::Blocked => {
                problems.push(Problem::new(
                    address.clone(),
                    Cause::Credential,
                    plan.reason.clone(),
                ));
                Action::NoOp
            }
        };
        let mine: Vec<&LiveSecret> = live
            .iter()
            .filter(|c| spec.claims(&c.key_id, c.display_name.as_deref()))
            .collect();
        let change = Change {
            address,
            resource: ResourceType::Secret,
            action,
            reason: plan.reason.clone(),
            fields: fields(&plan, &live),
            live_digest: live_digest(&mine, &holding),
        };
        let observed = ctx.live.holdings.get(&spec.name).cloned();
        out.push((change, step(ctx, &spec.name, plan, observed)));
    }
    // Credentials of names the manifest does not declare: appreg cannot tell one it made from
    // one made by hand, so they go only when pruning.
    let mut others: BTreeMap<String, Vec<&LiveSecret>> = BTreeMap::new();
    for credential in live.iter().filter(|c| !declared(c)) {
        let name = credential.display_name.clone().unwrap_or_default();
        others.entry(name).or_default().push(credential);
    }
    for (name, credentials) in others {
        let label = if name.is_empty() { "(unnamed)" } else { &name };
        let address = address(ctx, label);
        let n = credentials.len();
        if !ctx.observed.prune {
            notices.push(Notice {
                address,
                message: format!(
                    "{n} password credential{} not in the manifest (kept; --prune removes {})",
                    if n == 1 { "" } else { "s" },
                    if n == 1 { "it" } else { "them" }
                ),
            });
            continue;
        }
        let plan = SecretPlan {
            action: SecretAction::Cleanup,
            reason: "not in the manifest".into(),
            current: None,
            add: None,
            remove_first: Vec::new(),
            remove_after: credentials.iter().map(|c| c.key_id.clone()).collect(),
            earlier: Vec::new(),
        };
        let change = Change {
            address,
            resource: ResourceType::Secret,
            action: Action::Delete,
            reason: "not in the manifest".into(),
            fields: fields(&plan, &live),
            live_digest: live_digest(&credentials, &Holding::Empty),
        };
        out.push((change, step(ctx, &name, plan, None)));
    }
    out
}

/// A secret declared without a sink (an adopted app's credential): kept as it is, never rotated
/// or removed, since a new value would have nowhere to go. When rotation falls due the plan says
/// that a sink must be chosen first.
fn kept_without_sink(
    ctx: &AppContext,
    spec: &crate::model::SecretSpec,
    live: &[LiveSecret],
    address: super::address::Address,
    now: DateTime<Utc>,
    notices: &mut Vec<Notice>,
) -> (Change, Step) {
    let mine: Vec<&LiveSecret> = live
        .iter()
        .filter(|c| spec.claims(&c.key_id, c.display_name.as_deref()))
        .collect();
    let newest = mine.iter().max_by_key(|c| (c.end, c.key_id.clone()));
    let rotate_at = spec
        .rotate_before
        .after(now)
        .unwrap_or(DateTime::<Utc>::MAX_UTC);
    match newest {
        None => notices.push(Notice {
            address: address.clone(),
            message: "no credential of this secret exists and it has no sink: choose one under `deliver` before appreg can create it".into(),
        }),
        Some(c) if c.end <= rotate_at => notices.push(Notice {
            address: address.clone(),
            message: format!(
                "{} on {}; choose a sink under `deliver` before appreg can rotate it (kept as it is until then)",
                if c.end <= now { "expired" } else { "expires" },
                c.end.format("%Y-%m-%d")
            ),
        }),
        Some(_) => {}
    }
    let plan = SecretPlan {
        action: SecretAction::NoOp,
        reason: "kept: no sink to deliver a new value to".into(),
        current: newest.map(|c| (*c).clone()),
        add: None,
        remove_first: Vec::new(),
        remove_after: Vec::new(),
        earlier: Vec::new(),
    };
    let change = Change {
        address,
        resource: ResourceType::Secret,
        action: Action::NoOp,
        reason: plan.reason.clone(),
        fields: Vec::new(),
        live_digest: live_digest(&mine, &Holding::WriteOnly),
    };
    (change, step(ctx, &spec.name, plan, None))
}

fn step(ctx: &AppContext, name: &str, plan: SecretPlan, holding: Option<Holding>) -> Step {
    Step {
        app_key: Some(ctx.app.key.clone()),
        desired: None,
        live: None,
        secret: Some(Box::new(SecretStep {
            name: name.to_string(),
            plan,
            known: live_secrets(ctx).into_iter().map(|c| c.key_id).collect(),
            holding,
        })),
    }
}

/// A lifetime the tenant's policy would refuse fails the plan, not the apply.
fn check_policy(
    ctx: &AppContext,
    spec: &crate::model::SecretSpec,
    address: &super::address::Address,
    now: DateTime<Utc>,
    problems: &mut Vec<Problem>,
) {
    let Some(policy) = &ctx.observed.secret_policy else {
        return;
    };
    let created = ctx
        .live
        .application
        .as_ref()
        .and_then(|a| str_of(a, "createdDateTime"))
        .and_then(|t| t.parse::<DateTime<Utc>>().ok());
    // Apps created before the policy's date are exempt; a new app is created after it.
    if let (Some(after), Some(created)) = (policy.applies_after, created)
        && created <= after
    {
        return;
    }
    if spec.lifetime.after(now) > policy.max.after(now) {
        let days = policy
            .max
            .after(now)
            .map(|end| (end - now).num_days())
            .unwrap_or_default();
        problems.push(Problem::new(
            address.clone(),
            Cause::Credential,
            format!(
                "lifetime {} is longer than the tenant's app-management policy allows (maxLifetime {}, {days} days); shorten `lifetime`",
                spec.lifetime, policy.max_lifetime
            ),
        ));
    }
}

/// What a secret change shows: expiry before and after, the keyId to come, what is removed. Never
/// a value: Graph's hint is not shown either.
fn fields(plan: &SecretPlan, live: &[LiveSecret]) -> Vec<FieldChange> {
    let mut out = Vec::new();
    let day = |t: DateTime<Utc>| json!(t.format("%Y-%m-%d").to_string());
    if let Some((_, end)) = plan.add {
        out.push(FieldChange {
            field: "keyId".into(),
            before: plan.current.as_ref().map(|c| json!(c.key_id)),
            after: Some(json!("(known after apply)")),
        });
        out.push(FieldChange {
            field: "expires".into(),
            before: plan.current.as_ref().map(|c| day(c.end)),
            after: Some(day(end)),
        });
    }
    let removed: Vec<Value> = plan
        .remove_first
        .iter()
        .chain(&plan.remove_after)
        .map(|key| {
            let expiry = live
                .iter()
                .find(|c| &c.key_id == key)
                .map(|c| format!(" (expires {})", c.end.format("%Y-%m-%d")))
                .unwrap_or_default();
            json!(format!("{key}{expiry}"))
        })
        .collect();
    if !removed.is_empty() {
        out.push(FieldChange {
            field: "removes".into(),
            before: Some(Value::Array(removed)),
            after: None,
        });
    }
    out
}

fn live_digest(credentials: &[&LiveSecret], holding: &Holding) -> Option<String> {
    if credentials.is_empty() && *holding == Holding::Empty {
        return None;
    }
    let held = match holding {
        Holding::Holds { key_id, .. } => json!(key_id),
        _ => Value::Null,
    };
    let mut keys: Vec<(String, String)> = credentials
        .iter()
        .map(|c| (c.key_id.clone(), c.end.to_rfc3339()))
        .collect();
    keys.sort();
    Some(digest(&json!({"credentials": keys, "held": held})))
}

/// Carries out the secret steps among `steps`, app by app.
pub async fn apply(
    client: &GraphClient,
    sinks: &Sinks,
    state: &crate::model::DesiredState,
    tenant_id: &str,
    work: Vec<(&Change, &Step)>,
    report: &mut ApplyReport,
) {
    let mut by_app: BTreeMap<String, Vec<(&Change, &Step)>> = BTreeMap::new();
    for (change, step) in work {
        if let Some(key) = &step.app_key {
            by_app.entry(key.clone()).or_default().push((change, step));
        }
    }
    let runs = by_app.into_iter().map(|(key, steps)| {
        let ids = report.ids.get(&key).cloned().unwrap_or_default();
        let app = state.apps.get(&key);
        async move {
            let mut outcome = Outcome::default();
            for (change, step) in steps {
                let (Some(app), Some(secret)) = (app, &step.secret) else {
                    continue;
                };
                let result = run(client, sinks, app, &ids, tenant_id, change, secret).await;
                match result {
                    Ok(delivered) => {
                        outcome.done.push((change.address.clone(), change.action));
                        outcome.delivered.extend(delivered);
                    }
                    Err(e) => outcome.failed.push(Failure::new(
                        &change.address,
                        FailureReason::Sequence(escape_hidden(&e).into_owned()),
                    )),
                }
            }
            outcome
        }
    });
    for outcome in futures_util::future::join_all(runs).await {
        report.done.extend(outcome.done);
        report.failed.extend(outcome.failed);
        report.delivered.extend(outcome.delivered);
    }
}

#[derive(Default)]
struct Outcome {
    done: Vec<(super::address::Address, Action)>,
    failed: Vec<Failure>,
    delivered: Vec<Delivered>,
}

/// Credentials of the secret's name that reads show but the plan did not know: what an
/// `addPassword` without an answer created. New credentials reach reads late (GRAPH.md), so reads
/// are repeated with backoff for up to [`LOST_ADD_READ_BACK`]; none by then means the call most
/// likely never took effect.
async fn minted_by_lost_call(
    client: &GraphClient,
    object_id: &str,
    secret: &SecretStep,
) -> Vec<String> {
    let deadline = tokio::time::Instant::now() + LOST_ADD_READ_BACK;
    let mut pause = std::time::Duration::from_millis(250);
    loop {
        let read = Request::get(format!("/applications/{object_id}"))
            .query("$select", "passwordCredentials");
        let strays: Vec<String> = match client.send(read).await {
            Ok(response) => response
                .body
                .as_ref()
                .map(password_credentials)
                .unwrap_or_default()
                .into_iter()
                .filter(|c| c.display_name.as_deref() == Some(secret.name.as_str()))
                .filter(|c| {
                    !secret
                        .known
                        .iter()
                        .any(|k| k.eq_ignore_ascii_case(&c.key_id))
                })
                .map(|c| c.key_id)
                .collect(),
            Err(_) => Vec::new(),
        };
        if !strays.is_empty() || tokio::time::Instant::now() + pause > deadline {
            return strays;
        }
        tokio::time::sleep(pause).await;
        pause = (pause * 2).min(std::time::Duration::from_secs(4));
    }
}

/// Why the sink no longer holds what `before` says it held (another run delivered meanwhile), or
/// None when it does or cannot be read back (write-only sinks).
async fn sink_moved(
    sinks: &Sinks,
    sink: &SecretSink,
    tenant_id: &str,
    app_id: &str,
    before: &Holding,
) -> Option<String> {
    if !Sinks::is_readable(sink) {
        return None;
    }
    let planned = held_key(before);
    match sinks.holding(sink, tenant_id, app_id).await {
        Ok(now) if held_key(&now) == planned => None,
        Ok(now) => Some(format!(
            "the sink changed since the plan: it holds {} where the plan saw {} (another apply delivered meanwhile?)",
            held_key(&now).map_or("nothing".into(), |k| format!("keyId {k}")),
            planned.map_or("nothing".into(), |k| format!("keyId {k}")),
        )),
        Err(e) => Some(format!(
            "the sink could not be read again before delivery: {e}"
        )),
    }
}

/// One secret's sequence. Returns what was delivered.
async fn run(
    client: &GraphClient,
    sinks: &Sinks,
    app: &DesiredApp,
    ids: &AppIds,
    tenant_id: &str,
    change: &Change,
    secret: &SecretStep,
) -> Result<Option<Delivered>, String> {
    let (Some(object_id), Some(app_id)) = (&ids.object_id, &ids.app_id) else {
        return Err("skipped: the application was not written".into());
    };
    let plan = &secret.plan;
    let spec = app.secrets.iter().find(|s| s.name == secret.name);
    let remove = |key_id: String| {
        // Removing twice is harmless (the second answers 404), so a lost answer is retried.
        let request = Request::post(
            format!("/applications/{object_id}/removePassword"),
            json!({ "keyId": key_id }),
        )
        .repeatable();
        async move {
            match client.send(request).await {
                Ok(_) => Ok(()),
                // Already gone: what removal wanted.
                Err(e) if e.status() == Some(404) => Ok(()),
                Err(e) => Err(format!(
                    "removing credential {key_id}: {}",
                    server_text(&e.to_string())
                )),
            }
        }
    };
    // A secret declared without a sink is never rotated: the plan keeps it, and a plan that says
    // otherwise (edited, or made by another version) is refused before anything is written.
    if let Some(spec) = spec
        && spec.sink.is_none()
        && (plan.add.is_some() || !plan.remove_first.is_empty() || !plan.remove_after.is_empty())
    {
        return Err(format!(
            "secret `{}` has no sink: choose one under `deliver` before appreg can rotate it; nothing was changed",
            escape_hidden(&spec.name)
        ));
    }
    let mut delivered = None;
    if plan.add.is_some() {
        let spec = spec.ok_or("the secret is not declared")?;
        let target = spec
            .sink
            .as_ref()
            .ok_or("the secret has no sink: choose one under `deliver`")?;
        // Check the sink can take a value before a credential exists that it would have to hold.
        let (checker, sink) = (sinks.clone(), target.clone());
        tokio::task::spawn_blocking(move || checker.preflight(&sink))
            .await
            .map_err(|e| e.to_string())?
            .map_err(|e| e.to_string())?;
        // What delivery compares the sink with: the plan's reading, or for an app the plan did not
        // find (so could not read for), a reading taken now, before the credential exists.
        let before = match &secret.holding {
            Some(holding) => holding.clone(),
            None if Sinks::is_readable(target) => sinks
                .holding(target, tenant_id, app_id)
                .await
                .map_err(|e| e.to_string())?,
            None => Holding::WriteOnly,
        };
        for key_id in &plan.remove_first {
            remove(key_id.clone()).await?;
        }
        // The window starts now, at apply time, not when the plan was made.
        let now = Utc::now();
        let end = spec
            .lifetime
            .after(now)
            .ok_or("the lifetime is out of range")?;
        let mut request = Request::post(
            format!("/applications/{object_id}/addPassword"),
            json!({"passwordCredential": {
                "displayName": spec.name,
                "endDateTime": end.to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
            }}),
        );
        if ids.fresh {
            request = request.after_own_write();
        }
        // A lost answer leaves a credential minted or not. What reads show of it is taken back and
        // the add repeated; a credential replication hides for longer than the read-back window
        // stays an orphan nobody holds, which the next run removes.
        let mut attempts = 1;
        let response = loop {
            match client.send(request.clone()).await {
                Ok(response) => break response,
                Err(lost @ GraphError::OutcomeUnknown { .. }) => {
                    if attempts >= ADD_PASSWORD_SENDS {
                        return Err(format!(
                            "adding a credential (attempt {attempts}): {}",
                            server_text(&lost.to_string())
                        ));
                    }
                    let strays = minted_by_lost_call(client, object_id, secret).await;
                    tracing::info!(address = %change.address, strays = strays.len(), "addPassword answer lost; what it created is taken back and the add repeated");
                    for key_id in strays {
                        remove(key_id).await?;
                    }
                    attempts += 1;
                }
                Err(e) => {
                    return Err(format!(
                        "adding a credential: {}",
                        server_text(&e.to_string())
                    ));
                }
            }
        };
        let body = response.body.unwrap_or_default();
        let value = body
            .get("secretText")
            .and_then(Value::as_str)
            .map(|s| Secret::new(s.to_string()));
        let key_id = str_of(&body, "keyId").map(str::to_lowercase);
        let expiry = str_of(&body, "endDateTime")
            .and_then(|t| t.parse::<DateTime<Utc>>().ok())
            .unwrap_or(end);
        let (Some(value), Some(key_id)) = (value, key_id) else {
            return Err("Graph's addPassword answer had no secretText or keyId".into());
        };
        let delivery = Delivery {
            address: &change.address,
            tenant_id,
            app_id,
            key_id: &key_id,
            expiry,
            created: now,
            earlier: &plan.earlier,
        };
        // Compare before delivering: a sink that moved since the plan was written by another run.
        if let Some(moved) = sink_moved(sinks, target, tenant_id, app_id, &before).await {
            drop(value);
            return Err(match remove(key_id.clone()).await {
                Ok(()) => format!(
                    "{moved}; nothing was delivered and the new credential was removed. help: run apply again: it plans from what the sink holds now"
                ),
                Err(undo) => format!(
                    "{moved}; nothing was delivered, and the new credential could not be removed ({undo}): the next run removes it as an orphan"
                ),
            });
        }
        if let Err(e) = sinks.deliver(target, &delivery, &value).await {
            drop(value);
            // Nobody holds the new value: take the credential back before reporting.
            return Err(match remove(key_id.clone()).await {
                Ok(()) => format!("delivery failed, the new credential was removed: {e}"),
                Err(undo) => format!(
                    "delivery failed: {e}; and the new credential could not be removed ({undo}): the next run removes it as an orphan"
                ),
            });
        }
        delivered = Some(Delivered {
            address: change.address.clone(),
            app_key: app.key.clone(),
            name: secret.name.clone(),
            key_id,
            expiry,
        });
    }
    for key_id in &plan.remove_after {
        remove(key_id.clone()).await?;
    }
    Ok(delivered)
}

/// The inverse for client secrets: each live password credential claimed by keyId under a
/// secret named after its displayName (credentials sharing a name are one secret's
/// generations), without a sink, so the first apply keeps every one of them.
pub fn inverse(
    live: &super::observed::ObservedApp,
    app: &mut DesiredApp,
    out: &mut super::kinds::Inverse,
) {
    let credentials: Vec<LiveSecret> = live
        .application
        .as_ref()
        .map(password_credentials)
        .unwrap_or_default();
    let usable = |name: &str| {
        !name.trim().is_empty()
            && name.chars().count() <= 100
            && !name.chars().any(crate::manifest::diagnostic::is_hidden)
    };
    let mut groups: BTreeMap<String, Vec<&LiveSecret>> = BTreeMap::new();
    let mut unnamed = Vec::new();
    for credential in &credentials {
        match credential.display_name.as_deref().filter(|n| usable(n)) {
            Some(name) => groups.entry(name.to_string()).or_default().push(credential),
            None => unnamed.push(credential),
        }
    }
    for credential in unnamed {
        let mut n = 1;
        let name = loop {
            let name = if n == 1 {
                "secret".to_string()
            } else {
                format!("secret-{n}")
            };
            if !groups.contains_key(&name) {
                break name;
            }
            n += 1;
        };
        if let Some(original) = credential.display_name.as_deref().filter(|d| !d.is_empty()) {
            out.remarks.push(format!(
                "secret `{name}` (keyId {}): its displayName `{}` cannot be a secret name here; the credential keeps it",
                credential.key_id,
                escape_hidden(original)
            ));
        }
        groups.insert(name, vec![credential]);
    }
    // Personal-account apps may declare one secret (rotation needs both slots of Graph's cap of
    // 2): their credentials, at most two, become generations of one secret claiming both keyIds.
    if app.sign_in_audience.allows_personal_accounts() && groups.len() > 1 {
        let mut names = groups.keys().cloned();
        let name = names.next().unwrap_or_default();
        for other in names {
            out.remarks.push(format!(
                "secret `{name}` also keeps the credential named `{}`: an app open to personal accounts declares one secret; the credential keeps its name",
                escape_hidden(&other)
            ));
        }
        let members = std::mem::take(&mut groups)
            .into_values()
            .flatten()
            .collect();
        groups.insert(name, members);
    }
    for (name, members) in groups {
        let newest = members.iter().map(|c| c.end).max();
        out.remarks.push(format!(
            "secret `{name}`: kept as it is{}; choose a sink under `deliver` before appreg can rotate it",
            newest
                .map(|end| format!(" (expires {})", end.format("%Y-%m-%d")))
                .unwrap_or_default()
        ));
        app.secrets.push(crate::model::SecretSpec {
            keep: (members.len() as u32).clamp(crate::model::DEFAULT_KEEP, 10),
            key_ids: members.iter().map(|c| c.key_id.to_lowercase()).collect(),
            name,
            lifetime: crate::model::DEFAULT_SECRET_LIFETIME,
            rotate_before: crate::model::DEFAULT_ROTATE_BEFORE,
            sink: None,
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::observed::{Observed, ObservedApp};
    use crate::model::{Period, SecretSpec};

    fn credential(key_id: &str, name: Option<&str>, ends: DateTime<Utc>) -> Value {
        json!({
            "keyId": key_id,
            "displayName": name,
            "startDateTime": "2026-01-01T00:00:00Z",
            "endDateTime": ends.to_rfc3339(),
        })
    }

    fn app_with(secret: SecretSpec) -> DesiredApp {
        let root = std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR"));
        let mut state = crate::manifest::load(&[root.join("examples")], &|_: &str| None)
            .unwrap()
            .state;
        let mut app = state.apps.pop_first().unwrap().1;
        app.secrets = vec![secret];
        app
    }

    /// A secret adopted without a sink keeps every credential it claims by keyId, whatever their
    /// names and however near their expiry; rotation falling due is a notice, not a change.
    #[test]
    fn a_secret_without_a_sink_is_kept_and_never_rotated() {
        let now: DateTime<Utc> = "2026-12-07T12:00:00Z".parse().unwrap();
        let soon = now + chrono::Duration::days(3);
        let later = now + chrono::Duration::days(300);
        for (why, ends, notice) in [
            ("expiring inside the window", soon, true),
            ("far from expiry", later, false),
        ] {
            let spec = SecretSpec {
                name: "portal".into(),
                lifetime: Period::days(180),
                rotate_before: Period::days(30),
                keep: 1,
                sink: None,
                key_ids: ["aaaaaaaa-0000-0000-0000-000000000001".into()].into(),
            };
            let app = app_with(spec);
            let mut observed = Observed::default();
            observed.apps.insert(
                app.key.clone(),
                ObservedApp {
                    application: Some(json!({
                        "id": "obj-1",
                        "appId": "00000000-0000-0000-0000-0000000000aa",
                        "passwordCredentials": [
                            credential("AAAAAAAA-0000-0000-0000-000000000001", None, ends),
                            credential("aaaaaaaa-0000-0000-0000-000000000002", Some("portal"), ends),
                        ],
                    })),
                    ..Default::default()
                },
            );
            let ctx = AppContext::new("set", &app, &observed);
            let (mut notices, mut problems) = (Vec::new(), Vec::new());
            let planned = plan_app(&ctx, now, &mut notices, &mut problems);
            assert!(problems.is_empty(), "{why}: {problems:?}");
            assert_eq!(planned.len(), 1, "{why}: both credentials are the secret's");
            let (change, step) = &planned[0];
            assert_eq!(change.action, Action::NoOp, "{why}");
            let plan = &step.secret.as_ref().unwrap().plan;
            assert!(
                plan.add.is_none() && plan.remove_after.is_empty() && plan.remove_first.is_empty(),
                "{why}: {plan:?}"
            );
            let said = notices.iter().any(|n| n.message.contains("choose a sink"));
            assert_eq!(said, notice, "{why}: {notices:?}");
        }
    }

    /// With a sink chosen, the credential claimed by keyId is an earlier generation of the secret:
    /// the policy (`keep`) applies to it from then on, and nothing else reports it as undeclared.
    #[test]
    fn a_credential_claimed_by_key_id_counts_as_the_secrets() {
        let now: DateTime<Utc> = "2026-12-07T12:00:00Z".parse().unwrap();
        let spec = SecretSpec {
            name: "portal".into(),
            lifetime: Period::days(180),
            rotate_before: Period::days(30),
            keep: 2,
            sink: Some(SecretSink::Stdout),
            key_ids: ["aaaaaaaa-0000-0000-0000-000000000001".into()].into(),
        };
        let app = app_with(spec);
        let mut observed = Observed::default();
        observed.apps.insert(
            app.key.clone(),
            ObservedApp {
                application: Some(json!({
                    "id": "obj-1",
                    "appId": "00000000-0000-0000-0000-0000000000aa",
                    "passwordCredentials": [
                        credential("aaaaaaaa-0000-0000-0000-000000000001", Some("made by hand"), now + chrono::Duration::days(3)),
                    ],
                })),
                ..Default::default()
            },
        );
        let ctx = AppContext::new("set", &app, &observed);
        let (mut notices, mut problems) = (Vec::new(), Vec::new());
        let planned = plan_app(&ctx, now, &mut notices, &mut problems);
        assert_eq!(planned.len(), 1, "{planned:?}");
        assert_eq!(
            planned[0].0.action,
            Action::Rotate,
            "expiring: rotated, not created"
        );
        assert!(
            notices
                .iter()
                .all(|n| !n.message.contains("not in the manifest")),
            "{notices:?}"
        );
    }
}
