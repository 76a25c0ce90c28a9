//! The GitHub Action at the repository root (action.yml), run the way the runner runs a composite
//! action: each step's `run` in bash, its `env` with `${{ inputs.* }}` filled in, and the files
//! GITHUB_OUTPUT and GITHUB_STEP_SUMMARY, against a sandbox tenant. Checks what the steps write:
//! the summary, the step outputs, and that a delivered secret is masked before anything shows it.

use crate::tenant;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;

use appreg::emulator::{Faults, RunningSandbox};
use serde_json::Value;
use tenant::*;

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// What one run of the action left behind.
struct Ran {
    stdout: String,
    stderr: String,
    outputs: BTreeMap<String, String>,
    summary: String,
    success: bool,
}

/// `name=value` lines and `name<<DELIMITER` blocks, as the runner reads GITHUB_OUTPUT.
fn parse_outputs(text: &str) -> BTreeMap<String, String> {
    let mut outputs = BTreeMap::new();
    let mut lines = text.lines();
    while let Some(line) = lines.next() {
        if let Some((name, delimiter)) = line.split_once("<<") {
            let mut value = Vec::new();
            for next in lines.by_ref() {
                if next == delimiter {
                    break;
                }
                value.push(next);
            }
            outputs.insert(name.to_string(), value.join("\n"));
        } else if let Some((name, value)) = line.split_once('=') {
            outputs.insert(name.to_string(), value.to_string());
        }
    }
    outputs
}

/// A program standing in for `appreg` on PATH: the real binary, pointed at the sandbox.
fn appreg_wrapper(dir: &Path, sb: &RunningSandbox) -> PathBuf {
    std::fs::create_dir_all(dir.join("bin")).unwrap();
    let path = dir.join("bin/appreg");
    std::fs::write(
        &path,
        format!(
            "#!/usr/bin/env bash\nexec '{}' --graph-url '{}' --authority-url '{}' --key-vault-url '{}' --auth secret --color never \"$@\"\n",
            env!("CARGO_BIN_EXE_appreg"),
            sb.graph_url(),
            sb.authority_url(),
            sb.key_vault_url()
        ),
    )
    .unwrap();
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).unwrap();
    path
}

async fn run_action(
    sb: &RunningSandbox,
    work: &Path,
    wrapper: &Path,
    inputs: &[(&str, &str)],
) -> Ran {
    let action: Value =
        serde_saphyr::from_str(&std::fs::read_to_string(root().join("action.yml")).unwrap())
            .unwrap();
    assert_eq!(action["runs"]["using"], "composite");
    let mut values: BTreeMap<String, String> = action["inputs"]
        .as_object()
        .unwrap()
        .iter()
        .map(|(k, v)| (k.clone(), v["default"].as_str().unwrap_or("").to_string()))
        .collect();
    for (k, v) in inputs {
        assert!(values.contains_key(*k), "action.yml has no input {k}");
        values.insert(k.to_string(), v.to_string());
    }
    values.insert("appreg".into(), wrapper.display().to_string());
    let runner = tempfile::tempdir().unwrap();
    let output_file = runner.path().join("output");
    let summary_file = runner.path().join("summary");
    std::fs::write(&output_file, "").unwrap();
    std::fs::write(&summary_file, "").unwrap();
    let (mut stdout, mut stderr, mut success) = (String::new(), String::new(), true);
    for step in action["runs"]["steps"].as_array().unwrap() {
        let mut command = Command::new("bash");
        command
            .args(["-e", "-c", step["run"].as_str().unwrap()])
            .current_dir(work)
            .env_clear()
            .env("PATH", std::env::var_os("PATH").unwrap_or_default())
            .env("CI", "true")
            .env("GITHUB_ACTIONS", "true")
            .env("GITHUB_ACTION_PATH", root())
            .env("GITHUB_OUTPUT", &output_file)
            .env("GITHUB_STEP_SUMMARY", &summary_file)
            .env("RUNNER_TEMP", runner.path())
            .env("NO_COLOR", "1")
            .env("AZURE_TENANT_ID", sb.tenant_id())
            .env("AZURE_CLIENT_ID", sb.admin_client_id())
            .env("AZURE_CLIENT_SECRET", sb.admin_client_secret());
        for (name, value) in step["env"].as_object().into_iter().flatten() {
            let mut value = value.as_str().unwrap().to_string();
            for (input, given) in &values {
                value = value.replace(&format!("${{{{ inputs.{input} }}}}"), given);
            }
            assert!(
                !value.contains("${{"),
                "{name}: unfilled expression {value}"
            );
            command.env(name, value);
        }
        let out = tokio::task::spawn_blocking(move || command.output().unwrap())
            .await
            .unwrap();
        stdout.push_str(&String::from_utf8_lossy(&out.stdout));
        stderr.push_str(&String::from_utf8_lossy(&out.stderr));
        success &= out.status.success();
    }
    let ran = Ran {
        stdout,
        stderr,
        outputs: parse_outputs(&std::fs::read_to_string(&output_file).unwrap()),
        summary: std::fs::read_to_string(&summary_file).unwrap(),
        success,
    };
    // Keep the runner's files readable for the assertions after the temporary directory goes.
    let kept = work.join(format!("runner-{}", uuid::Uuid::new_v4().simple()));
    std::fs::create_dir_all(&kept).unwrap();
    for entry in std::fs::read_dir(runner.path()).unwrap() {
        let entry = entry.unwrap();
        let _ = std::fs::copy(entry.path(), kept.join(entry.file_name()));
    }
    let mut ran = ran;
    for value in ran.outputs.values_mut() {
        if let Some(name) = value.strip_prefix(&format!("{}/", runner.path().display())) {
            *value = kept.join(name).display().to_string();
        }
    }
    ran
}

const MANIFEST: &str = "version: 1\nname: ci\napps:\n  deploy-app:\n    displayName: Deploy app\n    secrets:\n      - name: deploy\n        deliver: { github: { output: client_secret } }\n";

/// Issue 14: plan, apply and drift through action.yml's steps, as the runner would run them.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_action_writes_summary_outputs_and_masks() {
    let sb = start(Faults::default(), 0xac).await;
    let work = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(work.path().join("appreg")).unwrap();
    std::fs::write(work.path().join("appreg/app.yaml"), MANIFEST).unwrap();
    let wrapper = appreg_wrapper(work.path(), &sb);

    // Plan: changes are an output, not a failed step; the Markdown plan is in the summary.
    let plan = run_action(
        &sb,
        work.path(),
        &wrapper,
        &[("command", "plan"), ("paths", "appreg/")],
    )
    .await;
    assert!(plan.success, "{}\n{}", plan.stdout, plan.stderr);
    assert_eq!(plan.outputs["exit-code"], "2", "{:?}", plan.outputs);
    assert_eq!(plan.outputs["changes"], "true");
    assert!(
        plan.summary.starts_with("### appreg plan: `ci`"),
        "{}",
        plan.summary
    );
    assert!(plan.summary.contains("deploy-app"), "{}", plan.summary);
    let markdown = std::fs::read_to_string(&plan.outputs["markdown-file"]).unwrap();
    assert_eq!(markdown, plan.summary);
    let plan_file = plan.outputs["plan-file"].clone();
    assert!(Path::new(&plan_file).is_file());
    assert_eq!(writes(&sb), Vec::<String>::new(), "plan never writes");

    // Apply the saved plan: the secret reaches GITHUB_OUTPUT, masked on stdout before anything.
    let apply = run_action(
        &sb,
        work.path(),
        &wrapper,
        &[("command", "apply"), ("plan", &plan_file)],
    )
    .await;
    assert!(apply.success, "{}\n{}", apply.stdout, apply.stderr);
    assert_eq!(apply.outputs["exit-code"], "0", "{:?}", apply.outputs);
    let secret = apply
        .outputs
        .get("client_secret")
        .unwrap_or_else(|| panic!("the github sink's output: {:?}", apply.outputs))
        .clone();
    assert!(secret.len() >= 16, "a real secret value");
    let mask = format!("::add-mask::{secret}");
    let lines: Vec<&str> = apply.stdout.lines().collect();
    assert_eq!(
        lines.iter().position(|l| l.contains(&secret)),
        lines.iter().position(|l| *l == mask),
        "the first line that holds the secret is its mask:\n{}",
        apply.stdout
    );
    assert!(!apply.stderr.contains(&secret));
    assert!(!apply.summary.contains(&secret), "{}", apply.summary);
    assert!(
        apply.summary.contains("### appreg apply"),
        "{}",
        apply.summary
    );
    let outputs: Value =
        serde_json::from_str(&std::fs::read_to_string(&apply.outputs["outputs-file"]).unwrap())
            .unwrap();
    assert!(
        outputs["apps"]["deploy-app"]["appId"].is_string(),
        "{outputs:#}"
    );
    assert!(!outputs.to_string().contains(&secret));

    // Drift right after: nothing differs.
    let drift = run_action(
        &sb,
        work.path(),
        &wrapper,
        &[("command", "drift"), ("paths", "appreg/")],
    )
    .await;
    assert!(drift.success, "{}\n{}", drift.stdout, drift.stderr);
    assert_eq!(drift.outputs["exit-code"], "0", "{:?}", drift.outputs);
    assert_eq!(drift.outputs["changes"], "false");
    assert!(
        drift.summary.starts_with("### appreg drift: `ci`"),
        "{}",
        drift.summary
    );
    sb.shutdown().await;
}

/// The example workflows pin third-party actions by full commit SHA, and never echo a secret.
#[test]
fn example_workflows_pin_actions_by_commit() {
    let dir = root().join("examples/pipelines/github");
    let mut seen = 0;
    for entry in std::fs::read_dir(&dir).unwrap() {
        let path = entry.unwrap().path();
        let text = std::fs::read_to_string(&path).unwrap();
        let _: Value = serde_saphyr::from_str(&text)
            .unwrap_or_else(|e| panic!("{}: not YAML: {e}", path.display()));
        for line in text.lines() {
            let Some(used) = line.trim().trim_start_matches("- ").strip_prefix("uses: ") else {
                continue;
            };
            let reference = used.split_whitespace().next().unwrap();
            if reference.starts_with("your-org/appreg@") {
                continue; // appreg's own action: the reader pins it (the comment says so)
            }
            let sha = reference.split('@').nth(1).unwrap_or("");
            assert!(
                sha.len() == 40 && sha.chars().all(|c| c.is_ascii_hexdigit()),
                "{}: {reference} is not pinned by commit",
                path.display()
            );
        }
        assert!(
            !text.contains("secrets."),
            "{}: no repository secrets needed",
            path.display()
        );
        seen += 1;
    }
    assert_eq!(seen, 3, "plan, apply and drift examples");
}
