//! The broken-manifest corpus: every file under tests/broken/ holds one kind of mistake (and
//! 99-many-mistakes.yaml a dozen and more), tests/valid/ holds YAML features that must keep working,
//! tests/broken-dirs/ holds multi-file mistakes, and the hostile inputs (non-UTF-8, oversized, deeply
//! nested, alias bombs) are generated at test time.
//!
//! Each case runs the real binary, `appreg validate <path> --color never`, in a cleared environment,
//! and checks the exit code, that nothing panicked, that every report names its file:line:column
//! (and the same position as `--format json`), then snapshots the full human report
//! (tests/snapshots/). Update snapshots with `INSTA_UPDATE=always cargo test --test validate_corpus`
//! and read every changed .snap before committing it.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use serde_json::Value;

/// The crate root: the working directory of most cases, so paths in reports read `tests/broken/...`.
const ROOT: &str = env!("CARGO_MANIFEST_DIR");

/// Runs `appreg validate <path> --color never <extra>` in `dir` with only PATH and `env` set.
fn appreg_validate(dir: &Path, path: &str, extra: &[&str], env: &[(&str, &str)]) -> Output {
    let mut command = Command::new(env!("CARGO_BIN_EXE_appreg"));
    command
        .args(["validate", path, "--color", "never"])
        .args(extra)
        .current_dir(dir)
        .env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap_or_default());
    for (name, value) in env {
        command.env(name, value);
    }
    command.output().expect("the appreg binary runs")
}

/// One reported problem as the human report shows it.
struct Block {
    /// `error` or `warning`.
    severity: String,
    /// `path:line:column` from the `╭─[...]` header; None for problems that belong to no file.
    header: Option<String>,
}

/// Splits a human report into its diagnostics; each starts with `error[code]` or `warning[code]`.
fn blocks(stderr: &str) -> Vec<Block> {
    let mut out: Vec<Block> = Vec::new();
    for line in stderr.lines() {
        if let Some((severity, _)) = line.split_once('[')
            && (severity == "error" || severity == "warning")
            && line.ends_with(']')
        {
            out.push(Block {
                severity: severity.to_string(),
                header: None,
            });
        } else if let Some(at) = line.find("╭─[") {
            let block = out.last_mut().expect("a header belongs to a diagnostic");
            let rest = &line[at + "╭─[".len()..];
            let end = rest.rfind(']').expect("the header closes");
            if block.header.is_none() {
                block.header = Some(rest[..end].to_string());
            }
        }
    }
    out
}

/// Validates `path` (relative to `dir`), checks everything but the snapshot, returns the report.
/// `expected_exit` is 1 for broken manifests and 0 for valid ones.
fn check(dir: &Path, path: &str, env: &[(&str, &str)], expected_exit: i32) -> String {
    let human = appreg_validate(dir, path, &[], env);
    let stderr = String::from_utf8(human.stderr).expect("the report is UTF-8");
    assert!(
        !stderr.contains("panicked"),
        "{path}: appreg panicked:\n{stderr}"
    );
    assert_eq!(
        human.status.code(),
        Some(expected_exit),
        "{path}: wrong exit code; report:\n{stderr}"
    );
    assert!(
        human.stdout.is_empty(),
        "{path}: the human format writes to stderr only"
    );
    let last = stderr.lines().last().unwrap_or_default();
    let verdict = if expected_exit == 0 {
        "valid: "
    } else {
        "invalid: "
    };
    assert!(last.starts_with(verdict), "{path}: last line `{last}`");

    let json = appreg_validate(dir, path, &["--format", "json"], env);
    assert_eq!(
        json.status.code(),
        Some(expected_exit),
        "{path}: --format json exit code"
    );
    let json_stderr = String::from_utf8_lossy(&json.stderr);
    assert!(
        !json_stderr.contains("panicked"),
        "{path}: --format json panicked:\n{json_stderr}"
    );
    let report: Value = serde_json::from_slice(&json.stdout).expect("--format json prints JSON");
    assert_eq!(report["valid"], expected_exit == 0, "{path}: JSON `valid`");
    let diagnostics = report["diagnostics"]
        .as_array()
        .expect("a diagnostics list");

    let blocks = blocks(&stderr);
    assert_eq!(
        blocks.len(),
        diagnostics.len(),
        "{path}: the human report and the JSON report list different numbers of problems:\n{stderr}"
    );
    let errors = blocks.iter().filter(|b| b.severity == "error").count();
    let warnings = blocks.len() - errors;
    assert_eq!(
        report["errors"], errors,
        "{path}: JSON error count vs `error[...]` blocks"
    );
    assert_eq!(report["warnings"], warnings, "{path}: JSON warning count");
    if expected_exit == 1 {
        assert!(errors >= 1, "{path}: invalid without an error:\n{stderr}");
    }

    // Both formats are sorted the same way, so the i-th block is the i-th JSON diagnostic.
    for (i, (block, diagnostic)) in blocks.iter().zip(diagnostics).enumerate() {
        assert_eq!(
            block.severity, diagnostic["severity"],
            "{path}: diagnostic {i} severity"
        );
        match diagnostic["file"].as_str() {
            Some(file) => {
                let line = diagnostic["line"].as_u64().expect("a line");
                let column = diagnostic["column"].as_u64().expect("a column");
                assert!(
                    line >= 1 && column >= 1,
                    "{path}: diagnostic {i} at {line}:{column}"
                );
                let end_line = diagnostic["endLine"].as_u64().expect("an end line");
                assert!(
                    end_line >= line,
                    "{path}: diagnostic {i} ends before it starts"
                );
                assert!(
                    Path::new(file).starts_with(path),
                    "{path}: diagnostic {i} names `{file}`"
                );
                assert_eq!(
                    block.header.as_deref(),
                    Some(format!("{file}:{line}:{column}").as_str()),
                    "{path}: diagnostic {i}: human header and JSON position differ:\n{stderr}"
                );
            }
            None => assert!(
                block.header.is_none(),
                "{path}: diagnostic {i} has no file in JSON but a header in the report"
            ),
        }
    }
    stderr
}

/// `tests/broken/01-x.yaml` -> `broken__01-x`: the snapshot's name.
fn snapshot_name(path: &str) -> String {
    path.trim_start_matches("tests/")
        .trim_end_matches(".yaml")
        .trim_end_matches('/')
        .replace('/', "__")
}

/// Checks a committed corpus file or directory and snapshots its report.
fn check_corpus(path: &str, env: &[(&str, &str)]) -> String {
    let exit = if path.starts_with("tests/valid/") {
        0
    } else {
        1
    };
    let stderr = check(Path::new(ROOT), path, env, exit);
    insta::assert_snapshot!(snapshot_name(path), stderr);
    stderr
}

/// One test per corpus file: `test_name: "path" [, "VAR" = "value"]* => "why the case exists";`
macro_rules! corpus {
    ($($test:ident: $path:literal $(, $var:literal = $value:literal)* => $why:literal;)*) => {
        /// Every corpus file, for the completeness check.
        const CORPUS: &[&str] = &[$($path),*];
        $(
            #[test]
            #[doc = $why]
            fn $test() {
                check_corpus($path, &[$(($var, $value)),*]);
            }
        )*
    };
}

corpus! {
    broken_01: "tests/broken/01-unknown-field-typo.yaml" => "misspelt app key: reported at the key, with did-you-mean";
    broken_02: "tests/broken/02-unknown-top-level-key.yaml" => "unknown top-level key (`tenantId`) suggests `tenant`";
    broken_03: "tests/broken/03-string-for-list.yaml" => "a single string where a list is expected, with the list to write";
    broken_04: "tests/broken/04-list-for-mapping.yaml" => "a list where a mapping (`web`) is expected";
    broken_05: "tests/broken/05-number-for-text.yaml" => "a plain number where text is expected, with the quoting hint";
    broken_06: "tests/broken/06-sign-in-audience-typo.yaml" => "signInAudience typo gets the closest enum value";
    broken_07: "tests/broken/07-yes-for-boolean.yaml" => "YAML 1.1 `yes` is text under YAML 1.2, not a boolean";
    broken_08: "tests/broken/08-missing-display-name.yaml" => "required `displayName` missing: reported at the app key";
    broken_09: "tests/broken/09-secret-without-deliver.yaml" => "required `deliver` missing in a list item";
    broken_10: "tests/broken/10-duplicate-yaml-key.yaml" => "a repeated YAML key names the first one's position";
    broken_11: "tests/broken/11-duplicate-unique-name.yaml" => "a uniqueName override colliding with another app's key";
    broken_12: "tests/broken/12-bad-app-key.yaml" => "an app key with spaces cannot become a uniqueName";
    broken_13: "tests/broken/13-version-2.yaml" => "format version 2 does not exist";
    broken_14: "tests/broken/14-bad-set-name.yaml" => "set `name` with a space fails its pattern";
    broken_15: "tests/broken/15-duplicate-tags.yaml" => "the same tag twice: reported at the second";
    broken_16: "tests/broken/16-tag-with-whitespace.yaml" => "a tag with spaces, with a dashed suggestion";
    broken_17: "tests/broken/17-reserved-tag.yaml" => "appreg's own `appreg:` tag prefix is reserved";
    broken_18: "tests/broken/18-redirect-http-not-localhost.yaml" => "http redirect URI off localhost (the localhost one is fine)";
    broken_19: "tests/broken/19-redirect-forbidden-character.yaml" => "a character Graph refuses in redirect URIs";
    broken_20: "tests/broken/20-redirect-ipv6-loopback.yaml" => "http://[::1] is not supported by Entra ID";
    broken_21: "tests/broken/21-redirect-query-personal.yaml" => "query string in a redirect URI of a personal-account app";
    broken_22: "tests/broken/22-spa-wildcard.yaml" => "wildcards are only for web URIs of organisation-only apps";
    broken_23: "tests/broken/23-identifier-uri-too-long-personal.yaml" => "identifierUri over 120 characters with a personal audience";
    broken_24: "tests/broken/24-personal-without-v2-tokens.yaml" => "personal audience without requestedAccessTokenVersion 2";
    broken_25: "tests/broken/25-app-roles-personal.yaml" => "appRoles are unsupported with personal accounts";
    broken_26: "tests/broken/26-azure-ad-graph-retired.yaml" => "Azure AD Graph permission: retired, with the Microsoft Graph equivalent";
    broken_27: "tests/broken/27-graph-permission-typo.yaml" => "Graph permission typo gets the catalogue's suggestion";
    broken_28: "tests/broken/28-application-permission-as-delegated.yaml" => "an application-only permission listed under delegated";
    broken_29: "tests/broken/29-duration-unknown-unit.yaml" => "duration with an unknown unit (`12x`)";
    broken_30: "tests/broken/30-duration-m-for-months.yaml" => "`6m` is ambiguous (minutes? months?) and refused; months are `mo`";
    broken_31: "tests/broken/31-rotate-before-not-shorter.yaml" => "rotateBefore (12w) not shorter than lifetime (60d): every run would rotate";
    broken_32: "tests/broken/32-deliver-two-sinks.yaml" => "a secret delivered to two sinks";
    broken_33: "tests/broken/33-key-vault-bad-url.yaml" => "Key Vault given without https://";
    broken_34: "tests/broken/34-assignment-user-and-group.yaml" => "one assignment naming both a user and a group";
    broken_35: "tests/broken/35-assignment-unknown-role.yaml" => "assignment role not among the app's appRoles, with did-you-mean";
    broken_36: "tests/broken/36-federated-name-with-spaces.yaml" => "federated credential name with a space";
    broken_37: "tests/broken/37-too-many-federated-credentials.yaml" => "21 federated credentials, Graph allows 20";
    broken_38: "tests/broken/38-federated-duplicate-issuer-subject.yaml" => "two federated credentials with the same issuer and subject";
    broken_39: "tests/broken/39-certificate-file-missing.yaml" => "certificate file that does not exist (relative to the manifest)";
    broken_40: "tests/broken/40-unset-variable.yaml" => "unset `${var:NAME}` (APPREG_VAR_NAME) is an error at the token, never an empty string";
    broken_41: "tests/broken/41-malformed-interpolation.yaml" => "shell-style `${NAME}` instead of `${var:NAME}`";
    broken_42: "tests/broken/42-yaml-syntax-error.yaml" => "unclosed flow sequence: a YAML syntax error";
    broken_43: "tests/broken/43-tab-indentation.yaml" => "a tab indenting a line";
    broken_44: "tests/broken/44-empty-file.yaml" => "an empty file";
    broken_45: "tests/broken/45-multiple-documents.yaml" => "two YAML documents in one file";
    broken_46: "tests/broken/46-undefined-alias.yaml" => "an alias to an anchor that was never defined";
    broken_47: "tests/broken/47-missing-set-name.yaml" => "no file declares the ownership set `name`";
    broken_48: "tests/broken/48-stdout-false.yaml" => "`stdout: false` is a sink that delivers nowhere";
    broken_49: "tests/broken/49-tab-after-scalar.yaml" => "a tab indenting a key after a plain scalar (the parser places it at the end of the line before)";
    broken_50: "tests/broken/50-tab-inside-value.yaml" => "a tab inside a value is a control character Graph refuses";
    broken_51: "tests/broken/51-mistake-through-merge-key.yaml" => "a mistake inherited through `<<` is checked in the merging app too (reported once at the anchor)";
    broken_52: "tests/broken/52-env-interpolation.yaml", "ODOO_URL" = "https://odoo.example.com" => "`${env:NAME}` could read the runner's secrets: refused even when set, with the migration to `${var:NAME}`";
    broken_53: "tests/broken/53-uppercase-set-name.yaml" => "an uppercase set name would prune the lowercase set (Graph folds tag case): refused with the lowercase spelling";
    broken_54: "tests/broken/54-shared-secret-sink.yaml" => "two apps delivering to one file and one Key Vault secret, spelled in other cases: each error names both places";
    broken_55: "tests/broken/55-line-break-in-secret-name.yaml" => "a line break in a secret name (notes may hold line breaks and tabs)";
    broken_56: "tests/broken/56-variable-in-bad-redirect.yaml", "APPREG_VAR_ODOO_HOST" = "odoo.internal.example.com" => "a rule quoting an interpolated value shows the text as written, never the value";
    broken_57: "tests/broken/57-space-separated-permissions.yaml" => "a space-separated permission string: the fix lists separate items, not `[A B]`";
    broken_60: "tests/broken/60-adopted-secret-and-partial-consent.yaml" => "a keyId that is no GUID, one keyId claimed by two secrets, consent to a permission the app does not request";
    broken_61: "tests/broken/61-consent-without-service-principal.yaml" => "admin consent for an app declared without an enterprise application (`servicePrincipal: false`)";
    broken_99: "tests/broken/99-many-mistakes.yaml" => "18 mistakes across four apps, all reported in one run, in file order";
    valid_anchors: "tests/valid/anchors-and-merge-keys.yaml" => "anchors, aliases and `<<` merge keys (single and list) work";
    valid_adopted: "tests/valid/adopted-secret-and-partial-consent.yaml" => "a secret without a sink kept by keyId, and consent to part of the requested permissions";
    valid_var: "tests/valid/var-interpolation.yaml", "APPREG_VAR_ODOO_URL" = "https://odoo.example.com" => "a set variable is substituted and `$${` stays literal";
}

/// Every file in tests/broken and tests/valid is in the table above, and the table has no strays.
#[test]
fn every_corpus_file_has_a_case() {
    let mut on_disk = Vec::new();
    for dir in ["tests/broken", "tests/valid"] {
        for entry in std::fs::read_dir(Path::new(ROOT).join(dir)).expect("corpus directory") {
            let name = entry.expect("directory entry").file_name();
            on_disk.push(format!("{dir}/{}", name.to_string_lossy()));
        }
    }
    on_disk.sort();
    let mut listed: Vec<String> = CORPUS.iter().map(|p| p.to_string()).collect();
    listed.sort();
    assert_eq!(on_disk, listed);
    let broken = listed
        .iter()
        .filter(|p| p.starts_with("tests/broken/"))
        .count();
    assert!(
        broken >= 30,
        "the issue asks for at least 30 broken manifests"
    );
}

// Directories: problems that need more than one file.

#[test]
fn dir_dup_app() {
    // The same app key in two files: the error names both places.
    let stderr = check_corpus("tests/broken-dirs/dup-app", &[]);
    assert!(stderr.contains("tests/broken-dirs/dup-app/api.yaml:5:3"));
    assert!(stderr.contains("first declared at tests/broken-dirs/dup-app/00-set.yaml:4:3"));
}

#[test]
fn dir_name_conflict() {
    // Two files stating different `name`s: reported at the second, naming the first.
    let stderr = check_corpus("tests/broken-dirs/name-conflict", &[]);
    assert!(stderr.contains("tests/broken-dirs/name-conflict/mail.yaml:2:7"));
    assert!(stderr.contains("`orders` at tests/broken-dirs/name-conflict/00-set.yaml:2:7"));
}

#[test]
fn dir_no_manifests() {
    // A directory without *.yaml: a diagnostic that belongs to no file, so it has no header.
    let stderr = check_corpus("tests/broken-dirs/no-manifests", &[]);
    assert!(!stderr.contains("╭─["));
}

// Generated inputs: hostile or large files that are not worth committing. Each is written to a
// fresh directory and validated from there, so the report names it by its bare file name.

/// Writes `name` with `bytes` into a temporary directory and checks it like a corpus file.
fn check_generated(name: &str, bytes: &[u8]) -> String {
    let dir = tempfile::tempdir().expect("a temporary directory");
    let file: PathBuf = dir.path().join(name);
    std::fs::write(&file, bytes).expect("write the generated manifest");
    let stderr = check(dir.path(), name, &[], 1);
    let snapshot = format!("generated__{}", name.trim_end_matches(".yaml"));
    insta::assert_snapshot!(snapshot, stderr);
    stderr
}

const HEAD: &str =
    "version: 1\nname: generated\napps:\n  generated-app:\n    displayName: Generated\n";

#[test]
fn generated_non_utf8() {
    // Latin-1 `é` (0xE9) in a display name: reported at the byte, file:line:column included.
    let bytes =
        b"version: 1\nname: generated\napps:\n  generated-app:\n    displayName: Caf\xE9 sync\n";
    let stderr = check_generated("non-utf8.yaml", bytes);
    assert!(stderr.contains("non-utf8.yaml:5:21"));
}

#[test]
fn generated_over_one_mib() {
    // A valid-looking manifest padded past 1 MiB (1,048,576 bytes) with a long `notes` block.
    let mut text = format!("{HEAD}    notes: |\n");
    while text.len() <= 1024 * 1024 {
        text.push_str(&format!("      {}\n", "x".repeat(70)));
    }
    let stderr = check_generated("over-one-mib.yaml", text.as_bytes());
    assert!(stderr.contains("limited to 1048576 bytes"));
}

#[test]
fn generated_nesting_200_deep() {
    let text = format!("{HEAD}    notes: {}{}\n", "[".repeat(200), "]".repeat(200));
    let stderr = check_generated("nesting-200-deep.yaml", text.as_bytes());
    assert!(stderr.contains("deeper than 64 levels"));
}

#[test]
fn generated_alias_bomb() {
    // Billion laughs: 10 levels of 10 aliases each would expand to 10^9 nodes.
    let mut text = String::from("version: 1\nname: generated\nlol0: &a0 [lol]\n");
    for level in 1..10 {
        let aliases = vec![format!("*a{}", level - 1); 10].join(", ");
        text.push_str(&format!("lol{level}: &a{level} [{aliases}]\n"));
    }
    text.push_str("apps: {}\n");
    let stderr = check_generated("alias-bomb.yaml", text.as_bytes());
    assert!(stderr.contains("more than 100000 nodes"));
}

#[test]
fn generated_many_nodes() {
    // Over 100,000 nodes without a single alias, in well under 1 MiB.
    let mut text = format!("{HEAD}    tags:\n");
    for _ in 0..110_000 {
        text.push_str("    - t\n");
    }
    assert!(text.len() < 1024 * 1024);
    let stderr = check_generated("many-nodes.yaml", text.as_bytes());
    assert!(stderr.contains("more than 100000 nodes"));
}

#[test]
fn generated_crlf_line_endings() {
    // Windows line endings must not shift lines or columns.
    let text = format!("{HEAD}    descripton: CRLF\n    tags: [a, a]\n").replace('\n', "\r\n");
    let stderr = check_generated("crlf-line-endings.yaml", text.as_bytes());
    assert!(stderr.contains("crlf-line-endings.yaml:6:5"));
    assert!(stderr.contains("crlf-line-endings.yaml:7:15"));
}

#[test]
fn generated_label_past_column_65535() {
    // One line of 12,000 tags with the bad one at its end: a diagnostic at column ~72,000.
    let tags: Vec<String> = (0..12_000).map(|i| format!("t{i}")).collect();
    let text = format!("{HEAD}    tags: [{}, \"b c\"]\n", tags.join(","));
    let dir = tempfile::tempdir().expect("a temporary directory");
    std::fs::write(dir.path().join("long-line.yaml"), text).expect("write");
    let stderr = check(dir.path(), "long-line.yaml", &[], 1);
    assert!(stderr.contains("tag `b c` contains whitespace"));
}

#[test]
fn interpolated_values_are_never_quoted() {
    // The snapshot of broken_56 shows the report; this says what must never be in it.
    let stderr = check(
        Path::new(ROOT),
        "tests/broken/56-variable-in-bad-redirect.yaml",
        &[("APPREG_VAR_ODOO_HOST", "odoo.internal.example.com")],
        1,
    );
    assert!(stderr.contains("${var:ODOO_HOST}"), "{stderr}");
    assert!(!stderr.contains("odoo.internal"), "{stderr}");
}
