//! Judging what `appreg import` wrote and the plans that follow it: the generated manifest files,
//! the entry that adopts an app, and whether a JSON plan is the adoption and nothing more.
#![allow(dead_code)]

use std::path::{Path, PathBuf};

use serde_json::Value;

/// The manifest files of `dir` (YAML), sorted, with their text.
pub fn manifest_texts(dir: &Path) -> Vec<(PathBuf, String)> {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return Vec::new();
    };
    let mut texts: Vec<_> = entries
        .filter_map(Result::ok)
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|e| e == "yaml" || e == "yml"))
        .map(|p| {
            let text = std::fs::read_to_string(&p).unwrap();
            (p, text)
        })
        .collect();
    texts.sort();
    texts
}

/// The file and key (under `apps:`) of the entry that adopts `app_id`.
pub fn entry_adopting(dir: &Path, app_id: &str) -> Option<(PathBuf, String)> {
    for (path, text) in manifest_texts(dir) {
        let mut key = None;
        // Indentation of an `adopt:` written as a block mapping ({appId, fromSet}), while in it.
        let mut adopt_block: Option<usize> = None;
        for line in text.lines() {
            let indent = line.len() - line.trim_start().len();
            let trimmed = line.trim();
            if trimmed.is_empty() || trimmed.starts_with('#') {
                continue;
            }
            if adopt_block.is_some_and(|at| indent <= at) {
                adopt_block = None;
            }
            if indent == 2 && trimmed.ends_with(':') {
                key = Some(
                    trimmed
                        .trim_end_matches(':')
                        .trim_matches(['"', '\''])
                        .to_string(),
                );
            }
            if trimmed == "adopt:" {
                adopt_block = Some(indent);
            }
            let in_block = adopt_block.is_some() && trimmed.starts_with("appId:");
            if (trimmed.starts_with("adopt:") || in_block) && line.contains(app_id) {
                return key.map(|k| (path, k));
            }
        }
    }
    None
}

fn is_no_op(change: &Value) -> bool {
    matches!(change["action"].as_str().unwrap_or_default(), "no_op")
}

/// Pending changes of a JSON plan, as `address: action (reason) fields`.
pub fn pending_changes(plan: &Value) -> Vec<String> {
    plan["changes"]
        .as_array()
        .map(|changes| {
            changes
                .iter()
                .filter(|c| !is_no_op(c))
                .map(|c| {
                    format!(
                        "{}: {} ({}) {}",
                        c["address"], c["action"], c["reason"], c["fields"]
                    )
                })
                .collect()
        })
        .unwrap_or_default()
}

fn strings(value: &Value) -> Vec<String> {
    value
        .as_array()
        .map(|a| {
            a.iter()
                .filter_map(|t| t.as_str().map(str::to_string))
                .collect()
        })
        .unwrap_or_default()
}

/// Every pending change of a plan that is more than adopting apps into `set`: anything but an
/// update of uniqueName and tags, and tag changes other than appreg's own tags arriving (and
/// another set's tag `appreg:set=<from>` leaving, for an app taken over from set `from`).
pub fn beyond_adoption(plan: &Value, set: &str, from: &[&str]) -> Vec<String> {
    let ours = ["appreg:managed".to_string(), format!("appreg:set={set}")];
    let leaving: Vec<String> = from.iter().map(|s| format!("appreg:set={s}")).collect();
    let mut problems = Vec::new();
    for change in plan["changes"].as_array().unwrap() {
        if is_no_op(change) {
            continue;
        }
        let action = change["action"].as_str().unwrap_or_default();
        let shown = format!("{}: {action} ({})", change["address"], change["reason"]);
        if action != "update" {
            problems.push(format!("{shown}: not an adoption"));
            continue;
        }
        for field in change["fields"].as_array().unwrap() {
            match field["field"].as_str().unwrap_or_default() {
                "uniqueName" => {}
                "tags" => {
                    let (before, after) = (strings(&field["before"]), strings(&field["after"]));
                    let arrived_ok = after.iter().all(|t| ours.contains(t) || before.contains(t));
                    let left_ok = before
                        .iter()
                        .all(|t| after.contains(t) || leaving.contains(t));
                    if !arrived_ok || !left_ok {
                        problems.push(format!("{shown}: tags {before:?} -> {after:?}"));
                    }
                }
                other => problems.push(format!(
                    "{shown}: changes {other}: {} -> {}",
                    field["before"], field["after"]
                )),
            }
        }
    }
    problems
}

/// Addresses of the changes whose reason is an adoption.
pub fn adopted(plan: &Value) -> Vec<String> {
    plan["changes"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|c| c["reason"].as_str().is_some_and(|r| r.contains("adopt")))
        .filter_map(|c| c["address"].as_str().map(str::to_string))
        .collect()
}
