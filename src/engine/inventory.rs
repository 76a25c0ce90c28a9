//! Every credential of the manifest's apps, as `appreg credentials` lists it and outputs report
//! expiry: secrets (classified against what their sinks hold), certificates and federated
//! credentials. Pure: it reads an observation.

use chrono::{DateTime, Utc};
use serde::Serialize;

use super::kinds::AppContext;
use super::observed::{Observed, str_of};
use crate::credentials::{Holding, LiveSecret};
use crate::model::DesiredState;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, schemars::JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum CredentialKind {
    Secret,
    Certificate,
    FederatedCredential,
}

/// Where a credential stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, schemars::JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum Standing {
    /// The one the sink holds (or the newest, for write-only sinks), or a declared certificate.
    Current,
    /// An earlier generation kept for overlap.
    Previous,
    /// Created by an interrupted run and never delivered: the next apply removes it.
    Orphan,
    /// Not declared in the manifest.
    Undeclared,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct CredentialRow {
    pub app: String,
    pub kind: CredentialKind,
    pub name: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub key_id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub expires: Option<DateTime<Utc>>,
    /// Whole days until expiry (negative once expired).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub days_left: Option<i64>,
    pub standing: Standing,
    /// Within the secret's rotateBefore window (or 30 days, for certificates), or expired.
    pub due: bool,
}

pub fn inventory(
    state: &DesiredState,
    observed: &Observed,
    now: DateTime<Utc>,
) -> Vec<CredentialRow> {
    let mut rows = Vec::new();
    for app in state.apps.values() {
        let ctx = AppContext::new(&state.set_name, app, observed);
        if ctx.live.application.is_none() {
            continue;
        }
        let row = |kind,
                   name: &str,
                   key_id: Option<String>,
                   end: Option<DateTime<Utc>>,
                   standing,
                   window: Option<DateTime<Utc>>| CredentialRow {
            app: app.key.clone(),
            kind,
            name: name.to_string(),
            key_id,
            expires: end,
            days_left: end.map(|e| (e - now).num_days()),
            standing,
            due: matches!((end, window), (Some(e), Some(w)) if e <= w),
        };
        let live = super::secrets::live_secrets(&ctx);
        let mut by_age: Vec<&LiveSecret> = live.iter().collect();
        by_age.sort_by(|a, b| (b.start, &b.key_id).cmp(&(a.start, &a.key_id)));
        for credential in by_age {
            let name = credential.display_name.clone().unwrap_or_default();
            let spec = app.secrets.iter().find(|s| s.name == name);
            let standing = match spec {
                None => Standing::Undeclared,
                Some(spec) => secret_standing(&ctx, spec, credential, &live),
            };
            let window = spec
                .filter(|_| standing == Standing::Current)
                .and_then(|s| s.rotate_before.after(now));
            rows.push(row(
                CredentialKind::Secret,
                &name,
                Some(credential.key_id.clone()),
                Some(credential.end),
                standing,
                window,
            ));
        }
        let certificate_window =
            now + chrono::Duration::days(super::kinds::certificates::WARNING_DAYS);
        for key in super::kinds::certificates::live_keys(&ctx) {
            let name = str_of(key, "displayName").unwrap_or_default();
            let declared = app.certificates.iter().any(|c| c.name == name);
            let end = str_of(key, "endDateTime").and_then(|t| t.parse().ok());
            rows.push(row(
                CredentialKind::Certificate,
                name,
                str_of(key, "keyId").map(str::to_string),
                end,
                if declared {
                    Standing::Current
                } else {
                    Standing::Undeclared
                },
                Some(certificate_window),
            ));
        }
        for federated in &ctx.live.federated_credentials {
            let name = str_of(federated, "name").unwrap_or_default();
            let declared = app.federated_credentials.iter().any(|f| f.name == name);
            rows.push(row(
                CredentialKind::FederatedCredential,
                name,
                str_of(federated, "id").map(str::to_string),
                None,
                if declared {
                    Standing::Current
                } else {
                    Standing::Undeclared
                },
                None,
            ));
        }
    }
    rows
}

fn secret_standing(
    ctx: &AppContext,
    spec: &crate::model::SecretSpec,
    credential: &LiveSecret,
    live: &[LiveSecret],
) -> Standing {
    let mine = || {
        live.iter()
            .filter(|c| c.display_name.as_deref() == Some(spec.name.as_str()))
    };
    let newest = mine().max_by(|a, b| (a.start, &a.key_id).cmp(&(b.start, &b.key_id)));
    match ctx.live.holdings.get(&spec.name) {
        Some(Holding::Holds {
            key_id, earlier, ..
        }) => match mine().find(|c| &c.key_id == key_id) {
            Some(held) if held.key_id == credential.key_id => Standing::Current,
            Some(held) if credential.start < held.start || earlier.contains(&credential.key_id) => {
                Standing::Previous
            }
            _ => Standing::Orphan,
        },
        Some(Holding::Empty) => Standing::Orphan,
        Some(Holding::WriteOnly) | None => {
            if newest.is_some_and(|n| n.key_id == credential.key_id) {
                Standing::Current
            } else {
                Standing::Previous
            }
        }
    }
}
