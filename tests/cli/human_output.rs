//! Snapshots of what people read from apply, drift and credentials (the human views), through the
//! real binary against a sandbox on 127.0.0.1:0, so a reviewer sees every change in wording.
//!
//! Volatile values (ids, dates, ports, digests, days left) are filtered; the secret values apply
//! delivers are filtered by value and asserted absent before filtering, so no snapshot can hold one.

use crate::tenant;

use appreg::emulator::Faults;
use tenant::*;

fn filters(secrets: &[String]) -> Vec<(String, String)> {
    let mut filters: Vec<(String, String)> = secrets
        .iter()
        .map(|s| (regex::escape(s), "[secret]".to_string()))
        .collect();
    filters.extend(
        [
            (
                r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}",
                "[uuid]",
            ),
            (r"\b[0-9a-f]{64}\b", "[digest]"),
            (
                r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?(Z|[+-]\d{2}:\d{2})",
                "[timestamp]",
            ),
            (r"\b\d{4}-\d{2}-\d{2}\b", "[date]"),
            // credentials' DAYS LEFT column, after the expiry date.
            (r"(\[date\] +)-?\d+( +)", "${1}[days]${2}"),
            (r"127\.0\.0\.1:\d+", "127.0.0.1:[port]"),
            (r"\b\d+ days?\b", "[n] days"),
            (r"(?m)[ \t]+$", ""),
        ]
        .map(|(a, b)| (a.to_string(), b.to_string())),
    );
    filters
}

fn snapshot(name: &str, text: &str, secrets: &[String]) {
    for secret in secrets {
        assert!(
            !text.contains(secret.as_str()),
            "{name} shows a secret value"
        );
    }
    let owned = filters(secrets);
    let borrowed: Vec<(&str, &str)> = owned
        .iter()
        .map(|(a, b)| (a.as_str(), b.as_str()))
        .collect();
    insta::with_settings!({ filters => borrowed }, {
        insta::assert_snapshot!(name, text);
    });
}

/// The client secrets apply delivered to the example's file sink, and the sandbox's own.
fn secret_values(sb: &appreg::emulator::RunningSandbox, examples: &std::path::Path) -> Vec<String> {
    let mut values = vec![sb.admin_client_secret().to_string()];
    let delivered = examples.join("secrets/crm-calendar-sync.json");
    if let Ok(text) = std::fs::read_to_string(delivered) {
        let value: serde_json::Value = serde_json::from_str(&text).unwrap();
        values.extend(value["clientSecret"].as_str().map(str::to_string));
    }
    values
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn apply_drift_and_credentials_read_as_snapshotted() {
    let sb = start(Faults::default(), 0x5a9).await;
    let examples = examples();
    let work = examples.parent().unwrap().to_path_buf();
    let crm = "examples/crm-calendar-sync.yaml";

    // drift before anything exists: everything apply would create.
    let (code, out, err) = run_cli(&sb, &work, &["drift", crm]).await;
    assert_eq!(code, 2, "{err}");
    snapshot("drift_before_apply", &out, &secret_values(&sb, &examples));

    let (code, out, err) = run_cli(&sb, &work, &["apply", "--auto-approve", crm]).await;
    assert_eq!(code, 0, "{err}");
    let secrets = secret_values(&sb, &examples);
    assert_eq!(
        secrets.len(),
        2,
        "the example's secret was delivered to its file"
    );
    snapshot("apply_stdout", &out, &secrets);
    // stderr carries the plan shown for confirmation and the summary line.
    snapshot("apply_stderr", &err, &secrets);

    let (code, out, err) = run_cli(&sb, &work, &["drift", crm]).await;
    assert_eq!(code, 0, "{err}");
    snapshot("drift_after_apply", &out, &secrets);

    let (code, out, err) = run_cli(&sb, &work, &["credentials", crm]).await;
    assert_eq!(code, 0, "{err}");
    snapshot("credentials", &out, &secrets);
    sb.shutdown().await;
}
