//! `/policies/defaultAppManagementPolicy`: the tenant's default app-management policy, read-only.
//!
//! The sandbox has one such rule, the longest client secret addPassword accepts
//! (`Faults::max_secret_lifetime`); this resource is how a client can learn it before asking for a
//! secret, as it would in a tenant. It is derived from the switches on every read, never stored.

use std::time::Duration;

use axum::http::Method;
use serde_json::{Map, Value, json};

use super::{Call, Ctx, Reply, Seg, entity, require_method, select_suffix};
use crate::emulator::error::{GraphError, GraphResult};

/// Graph gives the tenant default policy the nil GUID as its id.
const DEFAULT_POLICY_ID: &str = "00000000-0000-0000-0000-000000000000";
/// The sandbox enforces its lifetime rule on every application whatever its age, so the rule
/// claims to cover apps created after the epoch.
const RESTRICT_AFTER: &str = "1970-01-01T00:00:00Z";

/// `/policies/...`.
pub fn route(ctx: &mut Ctx, call: &Call, rest: &[Seg]) -> GraphResult<Reply> {
    match rest {
        [Seg::Name(name)] if name == "defaultAppManagementPolicy" => {
            require_method(call, &[Method::GET])?;
            super::check_expand(call, false)?;
            default_app_management(ctx, call)
        }
        [Seg::Name(other), ..] => Err(GraphError::unknown_segment(other)),
        _ => Err(GraphError::gateway_bad_request("Invalid request URL.")),
    }
}

fn default_app_management(ctx: &Ctx, call: &Call) -> GraphResult<Reply> {
    let passwords: Vec<Value> = ctx
        .faults
        .max_secret_lifetime
        .map(|max| {
            json!({
                "excludeActors": null,
                "maxLifetime": iso_duration(max),
                "restrictForAppsCreatedAfterDateTime": RESTRICT_AFTER,
                "restrictionType": "passwordLifetime",
                "state": "enabled",
            })
        })
        .into_iter()
        .collect();
    let policy = json!({
        "id": DEFAULT_POLICY_ID,
        "deletedDateTime": null,
        // UNCONFIRMED: the description a tenant's default policy carries.
        "description": "Default tenant policy that enforces app management restrictions on applications and service principals.",
        "displayName": "Default app management tenant policy",
        "isEnabled": !passwords.is_empty(),
        "applicationRestrictions": {
            "identifierUris": null,
            "keyCredentials": [],
            "passwordCredentials": passwords,
        },
        // The sandbox serves addPassword on applications only, so principals are unrestricted.
        "servicePrincipalRestrictions": {
            "keyCredentials": [],
            "passwordCredentials": [],
        },
    });
    let mut object = policy.as_object().cloned().unwrap_or_default();
    if let Some(names) = &call.query.select {
        let mut selected = Map::new();
        for name in names {
            let value = object.remove(name).ok_or_else(|| {
                GraphError::gateway_bad_request(format!(
                    "Could not find a property named '{name}' on type 'microsoft.graph.tenantAppManagementPolicy'."
                ))
            })?;
            selected.insert(name.clone(), value);
        }
        object = selected;
    }
    Ok(Reply::ok(entity(
        ctx,
        &format!(
            "policies/defaultAppManagementPolicy{}",
            select_suffix(&call.query)
        ),
        object,
    )))
}

/// An ISO-8601 duration as Graph writes `Edm.Duration` values: `P90D` for whole days, otherwise
/// days and a time part (`P1DT12H`, `PT90S`).
pub fn iso_duration(duration: Duration) -> String {
    let total = duration.as_secs();
    let (days, rest) = (total / 86_400, total % 86_400);
    let mut text = String::from("P");
    if days > 0 || rest == 0 {
        text.push_str(&format!("{days}D"));
    }
    if rest > 0 {
        text.push('T');
        let (hours, minutes, seconds) = (rest / 3_600, rest % 3_600 / 60, rest % 60);
        for (value, unit) in [(hours, 'H'), (minutes, 'M'), (seconds, 'S')] {
            if value > 0 {
                text.push_str(&format!("{value}{unit}"));
            }
        }
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_read_as_graph_writes_them() {
        let cases = [
            // The common policy values are whole days.
            (Duration::from_secs(365 * 86_400), "P365D"),
            (Duration::from_secs(86_400), "P1D"),
            // Part days need the time designator.
            (Duration::from_secs(36 * 3_600), "P1DT12H"),
            (Duration::from_secs(90), "PT1M30S"),
            // Zero still has to be a valid duration.
            (Duration::ZERO, "P0D"),
        ];
        for (duration, expected) in cases {
            assert_eq!(iso_duration(duration), expected, "{duration:?}");
        }
    }
}
