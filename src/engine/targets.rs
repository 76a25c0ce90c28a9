//! `--target`: a run limited to some apps of the manifest, as Terraform's `-target` limits a run
//! to some resources.
//!
//! A targeted run plans, applies and reports only the named apps, with everything that hangs off
//! them. It never prunes: the apps it leaves out are not "gone from the manifest", only out of
//! view. Targets name whole apps (`app.KEY`); an address under an app is refused with the app's
//! address as the suggestion, because applying one object of an app without the rest could leave
//! it half-written (a grant before the permission it grants).

use super::address::{Address, AddressError};
use crate::model::DesiredState;

/// Why the targets cannot be used: every one that names no app, with a suggestion.
#[derive(Debug, thiserror::Error)]
#[error("{}", list(.problems))]
pub struct TargetError {
    pub problems: Vec<AddressError>,
}

fn list(problems: &[AddressError]) -> String {
    let lines: Vec<String> = problems.iter().map(|p| format!("--target {p}")).collect();
    lines.join("\n")
}

/// The targets as addresses of apps of `state`, sorted and without repeats; every problem at once.
pub fn resolve(state: &DesiredState, written: &[String]) -> Result<Vec<Address>, TargetError> {
    let keys = state.apps.keys().map(String::as_str);
    let mut targets = Vec::new();
    let mut problems = Vec::new();
    for text in written {
        match Address::resolve(text, keys.clone()) {
            Ok(address) if address.within().is_none() => targets.push(address),
            Ok(address) => problems.push(AddressError::UnknownApp {
                text: text.clone(),
                suggestion: Some(address.app_address().to_string()),
            }),
            Err(e) => problems.push(e),
        }
    }
    if !problems.is_empty() {
        return Err(TargetError { problems });
    }
    targets.sort();
    targets.dedup();
    Ok(targets)
}

/// The part of `state` the targets name, which never prunes; all of it when there is no target.
pub fn narrow(state: &DesiredState, targets: &[Address]) -> DesiredState {
    if targets.is_empty() {
        return state.clone();
    }
    DesiredState {
        prune: false,
        apps: state
            .apps
            .iter()
            .filter(|(key, _)| targets.iter().any(|t| t.key() == key.as_str()))
            .map(|(key, app)| (key.clone(), app.clone()))
            .collect(),
        ..state.clone()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The examples' first app under each of `keys`, in a set that prunes.
    fn state(keys: &[&str]) -> DesiredState {
        let root = std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR"));
        let mut state = crate::manifest::load(&[root.join("examples")], &|_: &str| None)
            .unwrap()
            .state;
        let app = state.apps.values().next().unwrap().clone();
        state.apps = keys
            .iter()
            .map(|k| {
                (
                    k.to_string(),
                    crate::model::DesiredApp {
                        key: k.to_string(),
                        ..app.clone()
                    },
                )
            })
            .collect();
        state.prune = true;
        state
    }

    #[test]
    fn targets_narrow_to_the_named_apps_and_never_prune() {
        let state = state(&["crm", "crm.sync", "erp"]);
        let targets = resolve(
            &state,
            &["app.crm.sync".into(), "app.erp".into(), "app.erp".into()],
        )
        .unwrap();
        assert_eq!(targets.len(), 2, "repeats collapse");
        let narrowed = narrow(&state, &targets);
        assert_eq!(
            narrowed.apps.keys().collect::<Vec<_>>(),
            ["crm.sync", "erp"]
        );
        assert!(!narrowed.prune, "a targeted run never prunes");
        assert!(narrow(&state, &[]).prune, "no target: the state as it is");
    }

    #[test]
    fn every_unknown_target_is_reported_with_a_suggestion() {
        let state = state(&["crm", "erp"]);
        let error = resolve(
            &state,
            &[
                "app.crn".into(),
                "app.erp.grant.Microsoft Graph".into(),
                "erp".into(),
            ],
        )
        .unwrap_err();
        let text = error.to_string();
        assert!(text.contains("did you mean `app.crm`?"), "{text}");
        assert!(text.contains("did you mean `app.erp`?"), "{text}");
        assert!(text.contains("`erp` is not an address"), "{text}");
        assert_eq!(error.problems.len(), 3);
    }
}
