//! One machine interface: every command that reports prints, with `--json`, one object whose first
//! key is `formatVersion`, keys in camelCase, valid against its checked-in schema according to an
//! independent validator (the `jsonschema` crate), and snapshotted with ids and times redacted.

use crate::tenant;

use std::path::{Path, PathBuf};

use appreg::emulator::Faults;
use serde_json::Value;
use tenant::*;

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// Checks `text` against schemas/`schema`.schema.json and the casing rule; returns the document.
fn checked(schema: &str, text: &str) -> Value {
    let schema_text =
        std::fs::read_to_string(root().join(format!("schemas/{schema}.schema.json"))).unwrap();
    let validator =
        jsonschema::validator_for(&serde_json::from_str(&schema_text).unwrap()).unwrap();
    let value: Value =
        serde_json::from_str(text).unwrap_or_else(|e| panic!("{schema}: not JSON ({e}):\n{text}"));
    let problems: Vec<String> = validator
        .iter_errors(&value)
        .map(|e| format!("{e} at {}", e.instance_path()))
        .collect();
    assert!(problems.is_empty(), "{schema}: {problems:#?}\n{text}");
    assert_eq!(
        value["formatVersion"],
        appreg::output::machine::FORMAT_VERSION,
        "{schema}: {text}"
    );
    assert!(
        text.trim_start().starts_with("{\n  \"formatVersion\""),
        "{schema}: formatVersion comes first: {text}"
    );
    let mut bad = Vec::new();
    camel_case_keys(&value, "", &mut bad);
    assert!(bad.is_empty(), "{schema}: keys not in camelCase: {bad:?}");
    value
}

/// Collects keys that are not camelCase. Keys chosen by the user (app keys under `apps` and
/// `outputs`), rule ids and Graph's values (`before`, `after`) are data, not the format's keys.
fn camel_case_keys(value: &Value, path: &str, bad: &mut Vec<String>) {
    match value {
        Value::Object(map) => {
            // Rule ids count findings in an audit's `byRule`.
            let data_keys =
                path.ends_with("/apps") || path.ends_with("/outputs") || path.ends_with("/byRule");
            for (key, item) in map {
                let camel = key.starts_with(|c: char| c.is_ascii_lowercase())
                    && key.chars().all(|c| c.is_ascii_alphanumeric());
                if !data_keys && !camel {
                    bad.push(format!("{path}/{key}"));
                }
                if key == "before" || key == "after" {
                    continue;
                }
                camel_case_keys(item, &format!("{path}/{key}"), bad);
            }
        }
        Value::Array(items) => {
            for item in items {
                camel_case_keys(item, &format!("{path}/[]"), bad);
            }
        }
        _ => {}
    }
}

fn filters() -> Vec<(&'static str, &'static str)> {
    vec![
        (
            r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}",
            "[uuid]",
        ),
        (r"\b[0-9a-f]{64}\b", "[digest]"),
        (
            r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?(Z|[+-]\d{2}:\d{2})",
            "[timestamp]",
        ),
        (r#""daysLeft": -?\d+"#, r#""daysLeft": "[days]""#),
        (r"127\.0\.0\.1:\d+", "127.0.0.1:[port]"),
        (r#""examples[^"]*""#, r#""[examples]""#),
    ]
}

fn snapshot(name: &str, text: &str) {
    insta::with_settings!({ filters => filters() }, {
        insta::assert_snapshot!(name, text);
    });
}

fn one(dir: &Path, name: &str, text: &str) -> String {
    std::fs::write(dir.join(name), text).unwrap();
    name.to_string()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_reporting_command_prints_json_valid_against_its_schema() {
    let sb = start(Faults::default(), 0x5eed).await;
    let examples = examples();
    let work = examples.parent().unwrap().to_path_buf();
    let dir = "examples/crm-calendar-sync.yaml";

    // validate: a valid manifest and an invalid one (errors listed, exit 1).
    let (code, out, err) = run_cli(&sb, &work, &["validate", "--json", dir]).await;
    assert_eq!(code, 0, "{err}");
    let report = checked("validate", &out);
    assert_eq!(report["valid"], true);
    snapshot("validate_valid", &out);
    let broken = one(
        &work,
        "broken.yaml",
        "version: 1\nname: s\napps:\n  a:\n    displayName: A\n    signInAudiance: AzureADMyOrg\n",
    );
    let (code, out, _) = run_cli(&sb, &work, &["validate", "--json", &broken]).await;
    assert_eq!(code, 1);
    let report = checked("validate", &out);
    assert_eq!(report["valid"], false);
    assert!(report["diagnostics"][0]["endLine"].is_u64(), "{out}");
    snapshot("validate_invalid", &out);
    // The older spelling still prints the same document.
    let (_, older, _) = run_cli(&sb, &work, &["validate", "--format", "json", &broken]).await;
    assert_eq!(older, out);

    // plan and drift before anything exists.
    let (code, out, err) = run_cli(&sb, &work, &["plan", "--json", dir]).await;
    assert_eq!(code, 0, "{err}");
    let plan = checked("plan", &out);
    assert!(plan["changes"].as_array().unwrap().len() > 1);
    let (code, out, err) = run_cli(&sb, &work, &["drift", "--json", dir]).await;
    assert_eq!(code, 2, "{err}");
    checked("plan", &out);

    // apply: the report lists what changed and each app's outputs; stdout holds only the JSON.
    let (code, out, err) = run_cli(
        &sb,
        &work,
        &[
            "apply",
            "--auto-approve",
            "--json",
            "--outputs",
            "out.json",
            dir,
        ],
    )
    .await;
    assert_eq!(code, 0, "{err}");
    let report = checked("apply", &out);
    assert_eq!(report["complete"], true);
    let created = report["summary"]["created"].as_u64().unwrap();
    assert!(created > 0, "{out}");
    assert_eq!(
        report["changes"].as_array().unwrap().len() as u64,
        created
            + report["summary"]["updated"].as_u64().unwrap()
            + report["summary"]["deleted"].as_u64().unwrap()
            + report["summary"]["replaced"].as_u64().unwrap()
    );
    assert!(report["outputs"]["crm-calendar-sync"]["appId"].is_string());
    assert!(!out.contains(sb.admin_client_secret()));
    snapshot("apply", &out);
    let written = std::fs::read_to_string(work.join("out.json")).unwrap();
    checked("output", &written);

    // Converged: apply reports no change, output and credentials read the tenant.
    let (code, out, err) = run_cli(&sb, &work, &["apply", "--auto-approve", "--json", dir]).await;
    assert_eq!(code, 0, "{err}");
    let report = checked("apply", &out);
    assert_eq!(report["changes"].as_array().unwrap().len(), 0, "{out}");
    let (code, out, err) = run_cli(&sb, &work, &["output", "--json", dir]).await;
    assert_eq!(code, 0, "{err}");
    let outputs = checked("output", &out);
    assert_eq!(outputs["apps"], report["outputs"]);
    snapshot("output", &out);
    let (code, out, err) = run_cli(&sb, &work, &["credentials", "--json", dir]).await;
    assert_eq!(code, 0, "{err}");
    let credentials = checked("credentials", &out);
    assert!(
        !credentials["credentials"].as_array().unwrap().is_empty(),
        "{out}"
    );
    snapshot("credentials", &out);
    let (code, out, err) = run_cli(&sb, &work, &["drift", "--json", dir]).await;
    assert_eq!(code, 0, "{err}");
    checked("plan", &out);

    // audit (no schema yet): the same version first, camelCase, `--json` as `--format json`.
    let audit = ["--as-of", "2030-01-01", "audit", "--fail-on", "never"];
    let (code, out, err) = run_cli(&sb, &work, &[&audit[..], &["--json"]].concat()).await;
    assert_eq!(code, 0, "{err}");
    let report: Value = serde_json::from_str(&out).unwrap_or_else(|e| panic!("{e}: {out}"));
    assert_eq!(
        report["formatVersion"],
        appreg::output::machine::FORMAT_VERSION
    );
    assert!(out.starts_with("{\n  \"formatVersion\""), "{out}");
    assert!(report["applications"].as_u64().unwrap() > 0, "{out}");
    let mut bad = Vec::new();
    camel_case_keys(&report, "", &mut bad);
    assert!(bad.is_empty(), "audit: keys not in camelCase: {bad:?}");
    let (_, older, _) = run_cli(&sb, &work, &[&audit[..], &["--format", "json"]].concat()).await;
    assert_eq!(older, out);
    sb.shutdown().await;
}
