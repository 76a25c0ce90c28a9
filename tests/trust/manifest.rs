//! Trust tests whose defence lives in src/manifest/ (see SECURITY.md).
//!
//! Each runs the real binary against a sandbox of its own, with the manifest written by an
//! attacker who can open a pull request, and checks what the attacker wanted never happens: no
//! secret in any output or in the tenant, no Graph write, no app deleted.

use std::path::{Path, PathBuf};

use appreg::emulator::{Faults, RunningSandbox};
use serde_json::Value;

use super::tenant::*;

/// A fresh directory for one test's manifests.
fn scratch(name: &str) -> PathBuf {
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join(format!(
        "trust-manifest-{name}-{}",
        uuid::Uuid::new_v4().simple()
    ));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

fn write(dir: &Path, name: &str, text: &str) {
    let path = dir.join(name);
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    std::fs::write(path, text).unwrap();
}

/// Runs appreg; returns the exit code and stdout + stderr together.
async fn appreg(
    sb: &RunningSandbox,
    dir: &Path,
    args: &[&str],
    env: &[(&str, &str)],
) -> (i32, String) {
    let (code, stdout, stderr) = run_cli_env(sb, dir, args, env).await;
    (code, format!("{stdout}\n{stderr}"))
}

/// Unique names of the apps in the tenant.
async fn unique_names(raw: &Raw) -> Vec<String> {
    let mut names: Vec<String> = raw
        .apps()
        .await
        .iter()
        .filter_map(|a| a["uniqueName"].as_str().map(str::to_string))
        .collect();
    names.sort();
    names
}

/// Finding 1 (issue 11): `${env:AZURE_CLIENT_SECRET}` in a display name, notes, a redirect URI
/// or a tag printed appreg's own client secret in `validate`, in every view of `plan` (CI posts
/// the Markdown one as a PR comment) and wrote it into the tenant on `apply`. Now no manifest can
/// read a variable not named `APPREG_VAR_*`: the value appears in no output and no Graph write.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn interpolation_cannot_read_appreg_credentials() {
    let sb = start(Faults::default(), 101).await;
    let dir = scratch("exfiltrate");
    write(
        &dir,
        "app.yaml",
        "version: 1\nname: exfil\napps:\n  leak:\n    displayName: \"x ${env:AZURE_CLIENT_SECRET}\"\n    notes: \"${env:AZURE_CLIENT_SECRET}\"\n    tags: [\"t-${env:AZURE_CLIENT_SECRET}\"]\n    web:\n      redirectUris: [\"https://h.example.com/${env:AZURE_CLIENT_SECRET}\"]\n",
    );
    // `${var:X}` reads APPREG_VAR_X, never X itself.
    write(
        &dir,
        "var.yaml",
        "version: 1\nname: exfil-var\napps:\n  leak:\n    displayName: \"x ${var:AZURE_CLIENT_SECRET}\"\n",
    );
    // cli_command gives the binary the sandbox admin's secret as AZURE_CLIENT_SECRET; a second
    // secret of the runner is planted beside it.
    let planted = "planted-runner-secret-5d1c7e";
    let secrets = [sb.admin_client_secret().to_string(), planted.to_string()];
    let env = [("AZURE_CLIENT_SECRET_2", planted)];
    for (file, code) in [
        ("app.yaml", "env-interpolation-refused"),
        ("var.yaml", "unset-variable"),
    ] {
        for args in [
            vec!["validate", file],
            vec!["validate", file, "--format", "json"],
            vec!["plan", file],
            vec!["plan", file, "--json"],
            vec!["plan", file, "--markdown"],
            vec!["apply", file, "--auto-approve"],
        ] {
            sb.clear_log();
            let (exit, output) = appreg(&sb, &dir, &args, &env).await;
            let what = args.join(" ");
            assert_eq!(exit, 1, "{what}:\n{output}");
            assert!(output.contains(code), "{what}: no {code}:\n{output}");
            for secret in &secrets {
                assert!(
                    !output.contains(secret.as_str()),
                    "{what} printed a secret:\n{output}"
                );
            }
            assert_eq!(writes(&sb), Vec::<String>::new(), "{what} wrote to Graph");
        }
    }
    let (_, output) = appreg(&sb, &dir, &["validate", "app.yaml"], &env).await;
    assert!(
        output.contains("app.yaml:5:21")
            && output.contains("export APPREG_VAR_AZURE_CLIENT_SECRET=..."),
        "the refusal names its place and the migration:\n{output}"
    );
    let tenant = serde_json::to_string(&Raw::new(&sb).await.apps().await).unwrap();
    for secret in &secrets {
        assert!(
            !tenant.contains(secret.as_str()),
            "a secret reached the tenant"
        );
    }
    sb.shutdown().await;
}

/// Finding 1 (issue 11), the values that may be read: a rule quoting a value that came from
/// `${var:NAME}` quotes the text as written, so a variable's value is never echoed by a report.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reports_quote_the_written_template_not_the_value() {
    let sb = start(Faults::default(), 102).await;
    let dir = scratch("template");
    write(
        &dir,
        "app.yaml",
        "version: 1\nname: template\napps:\n  odoo:\n    displayName: Odoo\n    web:\n      redirectUris: [\"http://${var:ODOO_HOST}/microsoft_outlook/confirm\"]\n    tags: [\"${var:ODOO_HOST} x\"]\n",
    );
    let value = "odoo-internal-4f2a.example.com";
    let env = [("APPREG_VAR_ODOO_HOST", value)];
    for args in [
        vec!["validate", "app.yaml"],
        vec!["validate", "app.yaml", "--format", "json"],
        vec!["plan", "app.yaml", "--markdown"],
    ] {
        sb.clear_log();
        let (exit, output) = appreg(&sb, &dir, &args, &env).await;
        let what = args.join(" ");
        assert_eq!(exit, 1, "{what}:\n{output}");
        assert!(
            output.contains("bad-redirect-uri") && output.contains("bad-tag"),
            "{what}: the rules ran on the expanded values:\n{output}"
        );
        assert!(
            output.contains("${var:ODOO_HOST}"),
            "{what}: the template is quoted:\n{output}"
        );
        assert!(
            !output.contains("odoo-internal"),
            "{what} echoed the value:\n{output}"
        );
        assert_eq!(writes(&sb), Vec::<String>::new(), "{what} wrote to Graph");
    }
    sb.shutdown().await;
}

/// Finding 4 (issue 11): a manifest with `name: FINANCE`, `prune: true` and no apps deleted every
/// app of set `finance`, because Graph compares tags without regard to case. Set names are
/// lowercase only, so the manifest is refused before any Graph call and the apps survive.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn uppercase_set_name_cannot_prune_another_set() {
    let sb = start(Faults::default(), 103).await;
    let dir = scratch("case-fold");
    write(
        &dir,
        "finance.yaml",
        "version: 1\nname: finance\napps:\n  ledger:\n    displayName: Ledger\n  payroll:\n    displayName: Payroll\n",
    );
    let (exit, output) = appreg(&sb, &dir, &["apply", "finance.yaml", "--auto-approve"], &[]).await;
    assert_eq!(exit, 0, "{output}");
    let raw = Raw::new(&sb).await;
    let before = unique_names(&raw).await;
    assert!(before.contains(&"ledger".to_string()) && before.contains(&"payroll".to_string()));

    write(
        &dir,
        "attack/set.yaml",
        "version: 1\nname: FINANCE\nprune: true\napps: {}\n",
    );
    for args in [
        vec!["plan", "attack/set.yaml"],
        vec!["apply", "attack/set.yaml", "--auto-approve"],
        vec!["apply", "attack/set.yaml", "--prune", "--auto-approve"],
    ] {
        sb.clear_log();
        let (exit, output) = appreg(&sb, &dir, &args, &[]).await;
        let what = args.join(" ");
        assert_eq!(exit, 1, "{what}:\n{output}");
        assert!(
            output.contains("error[bad-format]")
                && output.contains("attack/set.yaml:2:7")
                && output.contains("`finance`"),
            "{what}: refused at the name, suggesting the lowercase spelling:\n{output}"
        );
        assert_eq!(writes(&sb), Vec::<String>::new(), "{what} wrote to Graph");
    }
    assert_eq!(unique_names(&raw).await, before, "the finance apps survive");
    sb.shutdown().await;
}

/// Finding 5 (issue 11): two apps delivering to the same file, or to one Key Vault secret
/// spelled in another case, passed `--strict`, and each apply rotated one secret and overwrote
/// the other's value. A sink now belongs to one secret across every app and file of a run; the
/// error names both places.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_secrets_cannot_share_a_sink() {
    let sb = start(Faults::default(), 104).await;
    let dir = scratch("sinks");
    write(
        &dir,
        "m/payroll.yaml",
        "version: 1\nname: sinks\napps:\n  payroll:\n    displayName: Payroll\n    secrets:\n      - name: s\n        deliver: { file: secrets/shared.json }\n      - name: v\n        deliver: { keyVault: { vault: https://contoso-kv.vault.azure.net, secret: shared } }\n",
    );
    write(
        &dir,
        "m/expenses.yaml",
        "version: 1\napps:\n  expenses:\n    displayName: Expenses\n    secrets:\n      - name: s\n        deliver: { file: ./Secrets/SHARED.json }\n      - name: v\n        deliver: { keyVault: { vault: https://Contoso-KV.vault.azure.net/, secret: SHARED } }\n",
    );
    let (exit, output) = appreg(&sb, &dir, &["validate", "m", "--strict"], &[]).await;
    assert_eq!(exit, 1, "{output}");
    for (here, there) in [
        ("m/expenses.yaml:7:26", "m/payroll.yaml:8:26"),
        ("m/expenses.yaml:9:30", "m/payroll.yaml:10:30"),
    ] {
        assert!(
            output.contains(&format!("here and at {here}"))
                && output.contains(&format!("[{there}]")),
            "both places of one sink are named ({here}, {there}):\n{output}"
        );
    }
    assert_eq!(
        output.matches("error[duplicate-sink]").count(),
        2,
        "{output}"
    );
    sb.clear_log();
    let (exit, output) = appreg(&sb, &dir, &["apply", "m", "--auto-approve"], &[]).await;
    assert_eq!(exit, 1, "{output}");
    assert_eq!(writes(&sb), Vec::<String>::new(), "apply wrote to Graph");
    assert!(
        !dir.join("m/secrets").exists(),
        "no secret file was written"
    );
    sb.shutdown().await;
}

/// Finding 8 (issue 11): line breaks and escape bytes were accepted in secret names, certificate
/// names, permission resource keys, notes, app role and scope texts. One rule now walks every
/// string of the manifest (keys included) and refuses control characters, direction overrides and
/// line separators, naming each as U+XXXX at its file:line:column; prose keeps line breaks and tabs.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn control_characters_are_refused_in_every_name_and_text() {
    let sb = start(Faults::default(), 105).await;
    let dir = scratch("controls");
    write(
        &dir,
        "cert.pem",
        "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n",
    );
    // Each line with a problem: (line, column, code point), in file order.
    let manifest = concat!(
        "version: 1\n",
        "name: controls\n",
        "apps:\n",
        "  a:\n",
        "    displayName: Controls\n",
        "    notes: \"line one\\nline two\\tand a tab are prose\"\n",
        "    permissions:\n",
        "      \"Microsoft Graph\\n\":\n", // 8:7 U+000A
        "        delegated: [User.Read]\n",
        "    appRoles:\n",
        "      - value: Tasks.Read\n",
        "        displayName: \"Read \\e[2J\"\n", // 12:22 U+001B
        "        description: \"ok\\n\\u202Eexe\"\n", // 13:22 U+202E
        "        allowedMemberTypes: [User]\n",
        "    api:\n",
        "      scopes:\n",
        "        - value: Tasks.Write\n",
        "          adminConsentDisplayName: \"Write\\u0085\"\n", // 18:36 U+0085
        "          adminConsentDescription: \"Write tasks\"\n",
        "    secrets:\n",
        "      - name: \"s\\n::add-mask::x\"\n", // 21:15 U+000A
        "        deliver: { file: secrets/s.json }\n",
        "    certificates:\n",
        "      - name: \"c\\u2028d\"\n", // 24:15 U+2028
        "        file: cert.pem\n",
    );
    write(&dir, "app.yaml", manifest);
    let expected = [
        (8, 7, "U+000A"),
        (12, 22, "U+001B"),
        (13, 22, "U+202E"),
        (18, 36, "U+0085"),
        (21, 15, "U+000A"),
        (24, 15, "U+2028"),
    ];
    let (_, stdout, stderr) = run_cli_env(
        &sb,
        &dir,
        &["validate", "app.yaml", "--format", "json"],
        &[],
    )
    .await;
    let report: Value =
        serde_json::from_str(&stdout).unwrap_or_else(|_| panic!("JSON:\n{stdout}\n{stderr}"));
    let found: Vec<(u64, u64, String)> = report["diagnostics"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|d| d["code"] == "control-character")
        .map(|d| {
            let message = d["message"].as_str().unwrap();
            let at = message.find("U+").expect("names the code point");
            (
                d["line"].as_u64().unwrap(),
                d["column"].as_u64().unwrap(),
                message[at..at + 6].to_string(),
            )
        })
        .collect();
    let expected: Vec<(u64, u64, String)> = expected
        .iter()
        .map(|(l, c, u)| (*l, *c, u.to_string()))
        .collect();
    assert_eq!(found, expected, "{stdout}");
    for args in [
        vec!["plan", "app.yaml"],
        vec!["apply", "app.yaml", "--auto-approve"],
    ] {
        sb.clear_log();
        let (exit, output) = appreg(&sb, &dir, &args, &[]).await;
        assert_eq!(exit, 1, "{output}");
        assert!(output.contains("error[control-character]"), "{output}");
        assert_eq!(
            writes(&sb),
            Vec::<String>::new(),
            "{} wrote to Graph",
            args.join(" ")
        );
    }
    sb.shutdown().await;
}

/// Finding 13 (issue 11): `appreg apply a.yaml --prune` deleted the apps that the sibling `b.yaml`
/// of the same set declares; YAML in a subdirectory or named `*.YAML` was skipped silently, even
/// under `--strict`, and with `prune: true` its apps were deleted. Pruning now needs the set's
/// whole declaration in view: plan and apply refuse before any Graph call, naming each file.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn prune_refuses_while_part_of_the_set_is_out_of_view() {
    let sb = start(Faults::default(), 106).await;
    let dir = scratch("in-view");
    write(
        &dir,
        "m/a.yaml",
        "version: 1\nname: split\napps:\n  alpha:\n    displayName: Alpha\n",
    );
    write(
        &dir,
        "m/b.yaml",
        "version: 1\nname: split\napps:\n  beta:\n    displayName: Beta\n",
    );
    let (exit, output) = appreg(&sb, &dir, &["apply", "m", "--auto-approve"], &[]).await;
    assert_eq!(exit, 0, "{output}");
    let raw = Raw::new(&sb).await;
    let before = unique_names(&raw).await;
    assert!(
        before.contains(&"alpha".to_string()) && before.contains(&"beta".to_string()),
        "{before:?}"
    );

    // One file of the set, with its sibling beside it.
    for args in [
        vec!["plan", "m/a.yaml", "--prune"],
        vec!["apply", "m/a.yaml", "--prune", "--auto-approve"],
    ] {
        sb.clear_log();
        let (exit, output) = appreg(&sb, &dir, &args, &[]).await;
        let what = args.join(" ");
        assert_eq!(exit, 1, "{what}:\n{output}");
        assert!(
            output.contains("refusing to prune set `split`")
                && output.contains("m/b.yaml (declares `name: split`)"),
            "{what}:\n{output}"
        );
        assert_eq!(writes(&sb), Vec::<String>::new(), "{what} wrote to Graph");
    }

    // The sibling moved into a subdirectory, `prune: true` in the manifest: refused; without
    // pruning a warning names the file, and `validate --strict` fails on it.
    std::fs::create_dir_all(dir.join("m/team")).unwrap();
    std::fs::rename(dir.join("m/b.yaml"), dir.join("m/team/b.yaml")).unwrap();
    write(
        &dir,
        "m/a.yaml",
        "version: 1\nname: split\nprune: true\napps:\n  alpha:\n    displayName: Alpha\n",
    );
    sb.clear_log();
    let (exit, output) = appreg(&sb, &dir, &["apply", "m", "--auto-approve"], &[]).await;
    assert_eq!(exit, 1, "{output}");
    assert!(output.contains("m/team/b.yaml"), "{output}");
    assert_eq!(writes(&sb), Vec::<String>::new(), "apply wrote to Graph");
    write(
        &dir,
        "m/a.yaml",
        "version: 1\nname: split\napps:\n  alpha:\n    displayName: Alpha\n",
    );
    let (exit, output) = appreg(&sb, &dir, &["validate", "m", "--strict"], &[]).await;
    assert_eq!(exit, 1, "{output}");
    assert!(
        output.contains("warning[skipped-yaml]") && output.contains("m/team/b.yaml"),
        "{output}"
    );

    // Named `B.YAML`: loaded like any manifest, so pruning keeps its app.
    std::fs::rename(dir.join("m/team/b.yaml"), dir.join("m/B.YAML")).unwrap();
    std::fs::remove_dir(dir.join("m/team")).unwrap();
    let (exit, output) = appreg(&sb, &dir, &["apply", "m", "--prune", "--auto-approve"], &[]).await;
    assert_eq!(exit, 0, "{output}");
    assert_eq!(
        unique_names(&raw).await,
        before,
        "no app of the set was deleted"
    );
    sb.shutdown().await;
}
