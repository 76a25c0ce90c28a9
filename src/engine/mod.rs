//! The reconciler: observe the tenant, diff it against the desired state, plan, apply, detect drift.
//!
//! The engine never imports `cli` or `output`; it returns plain values that those render.

pub mod address;
pub mod application;
pub mod apply;
pub mod domains;
pub mod fields;
pub mod import;
pub mod inventory;
pub mod kinds;
pub mod observe;
pub mod observed;
pub mod ownership;
pub mod plan;
pub mod planner;
pub mod problem;
pub mod registry;
pub mod resolve;
pub mod retirements;
pub mod secrets;
pub mod step;
pub mod targets;

use chrono::Utc;

use crate::credentials::Sinks;
use crate::graph::{GraphClient, GraphError};
use crate::model::DesiredState;

pub use apply::AppOutputs;
pub use planner::{PlanOptions, Planned};
pub use problem::{Cause, PlanError, Problem};
pub use step::{AppIds, ApplyReport};

#[derive(Debug, thiserror::Error)]
pub enum EngineError {
    #[error(transparent)]
    Graph(#[from] GraphError),
    #[error(transparent)]
    Plan(#[from] PlanError),
    #[error("the tenant is ambiguous about what the manifest names:\n  - {}", .0.join("\n  - "))]
    Ambiguous(Vec<String>),
    #[error("plan is stale: {0}; run `appreg plan` again")]
    Stale(String),
    #[error("cannot read what the secret sinks hold:\n  - {}", .0.join("\n  - "))]
    Sinks(Vec<String>),
    #[error("internal error: {0}")]
    Internal(&'static str),
}

/// Observes the tenant and plans the changes that make it match `state`.
pub async fn plan(
    client: &GraphClient,
    sinks: &Sinks,
    state: &DesiredState,
    tenant_id: &str,
    options: PlanOptions,
) -> Result<(observed::Observed, Planned), EngineError> {
    let mut observed = observe_all(client, sinks, state, tenant_id).await?;
    observed.caller = match options.caller {
        Some(caller) => Some(caller),
        None => caller_from_token(client).await,
    };
    observed.prune = options.prune || state.prune;
    let now = options.as_of.unwrap_or_else(Utc::now);
    let planned = planner::plan(state, &observed, options, now)?;
    Ok((observed, planned))
}

/// The appId of the identity appreg runs as, from its Graph token, when the credential
/// configuration names no client id (see `ownership`: that app is never managed).
async fn caller_from_token(client: &GraphClient) -> Option<uuid::Uuid> {
    let token = client
        .credential()
        .token(&crate::graph::auth::Scope::Graph)
        .await
        .ok()?;
    crate::graph::auth::token_app_id(&token)
}

/// Observes the tenant and what the secret sinks hold (read-only).
pub async fn observe_all(
    client: &GraphClient,
    sinks: &Sinks,
    state: &DesiredState,
    tenant_id: &str,
) -> Result<observed::Observed, EngineError> {
    let mut observed = observe::observe(client, state, tenant_id).await?;
    observe::local(sinks, state, &mut observed).await?;
    Ok(observed)
}

/// Checks that a saved plan is what planning now gives: same manifest, same live objects, same
/// changes. Returns why not, or nothing when it still holds.
pub fn stale_reason(saved: &plan::Plan, now: &plan::Plan) -> Option<String> {
    if saved.manifest_digest != now.manifest_digest {
        return Some("the manifest changed since the plan was made".into());
    }
    if saved.set_name != now.set_name || saved.tenant_id != now.tenant_id {
        return Some("the plan was made for another set or tenant".into());
    }
    let touched = |p: &plan::Plan| -> Vec<(address::Address, plan::Action, Option<String>)> {
        p.changes
            .iter()
            .filter(|c| c.action.is_write())
            .map(|c| (c.address.clone(), c.action, c.live_digest.clone()))
            .collect()
    };
    let (before, after) = (touched(saved), touched(now));
    if before != after {
        let moved = before
            .iter()
            .chain(&after)
            .find(|c| !before.contains(c) || !after.contains(c))
            .map(|c| c.0.to_string())
            .unwrap_or_default();
        return Some(format!(
            "`{moved}` changed in the tenant since the plan was made"
        ));
    }
    None
}
