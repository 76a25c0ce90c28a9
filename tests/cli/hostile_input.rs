//! Hostile input through the real binary, against a sandbox: huge files, alias bombs, deep
//! nesting, binary and non-UTF-8 data, conflicting files, hostile strings in fields, environment
//! interpolation edge cases and damaged saved plans.
//!
//! tests/cli/validate_corpus.rs runs `appreg validate` over the foundation's broken corpus; these cases
//! go further: each runs `appreg plan` and `appreg apply --auto-approve` (or `apply PLANFILE`) and
//! checks, for every run,
//! - the exit code: 1, or 0 where the input is legitimately valid (`O'Brien`), in which case the
//!   apply must succeed and a second plan must be all no-op;
//! - a clear report: the expected rule code and file:line:column where the problem has a place;
//! - no panic, nothing but printable text (no raw ANSI escape, no bidirectional override) and a
//!   bounded amount of it;
//! - bounded time (the child is killed after [`DEADLINE`]) and memory (its address space is
//!   capped at [`MEMORY_LIMIT`] with `prlimit` where available);
//! - zero Graph writes in the sandbox's request log for every refused input.
//!
//! Small inputs live in tests/hostile/; large and binary ones are generated here.

use crate::tenant;

use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use appreg::emulator::{Faults, RunningSandbox};
use futures_util::FutureExt;
use tenant::*;

/// Longest a single run of the binary may take (debug build, shared machine: generous).
const DEADLINE: Duration = Duration::from_secs(20);
/// Address space a run may map. A normal run maps a few hundred megabytes (thread stacks and
/// allocator arenas reserved, not used); an expanding alias bomb would need tens of gigabytes.
/// In bytes: prlimit reads `2G` as something else entirely.
const MEMORY_LIMIT: u64 = 2 << 30;
/// Most output a run may print: 100 diagnostics with excerpts fit many times over.
const MAX_OUTPUT: usize = 1024 * 1024;

const HOSTILE: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/hostile");

/// What a case expects.
#[derive(Debug, Clone, Copy)]
enum Expect {
    /// Refused before anything reaches the tenant: exit 1, `error[code]` in the report and, when
    /// given, `file:line:column` (file relative to the case's directory).
    Invalid {
        code: &'static str,
        at: Option<&'static str>,
    },
    /// Refused with an error line (no diagnostic code, such as a damaged plan file): exit 1, the
    /// text in stderr, zero writes.
    Refused(&'static str),
    /// Legitimately valid: plan and apply exit 0, a second plan is all no-op.
    Valid,
}

/// How a case's files come to be: `build(dir)` writes them and returns the command-line paths.
struct Case {
    name: &'static str,
    why: &'static str,
    build: fn(&Path) -> Vec<String>,
    /// Environment added to the runs.
    env: Vec<(&'static str, String)>,
    expect: Expect,
    /// `apply PLANFILE` only (the paths are a saved plan), instead of plan + apply.
    plan_file: bool,
    /// For a tampered plan: `build` writes a valid app.yaml, the case saves its plan with
    /// `plan --out plan.json` (which writes nothing) and edits it with this before applying it.
    tamper: Option<fn(&mut serde_json::Value)>,
}

const fn invalid(code: &'static str, at: Option<&'static str>) -> Expect {
    Expect::Invalid { code, at }
}

fn write(dir: &Path, name: &str, bytes: impl AsRef<[u8]>) -> String {
    let path = dir.join(name);
    if let Some(parent) = path.parent() {
        std::fs::create_dir_all(parent).unwrap();
    }
    std::fs::write(&path, bytes).unwrap();
    name.to_string()
}

/// A committed file from tests/hostile/, copied into the case's directory.
fn corpus(dir: &Path, name: &str) -> Vec<String> {
    let bytes = std::fs::read(Path::new(HOSTILE).join(name)).unwrap();
    vec![write(dir, name, bytes)]
}

/// `version`, `name` and one app `a` whose body is `app` (indented by four spaces).
fn one_app(set: &str, app: &str) -> String {
    let mut text = format!("version: 1\nname: {set}\napps:\n  a:\n");
    for line in app.lines() {
        text.push_str("    ");
        text.push_str(line);
        text.push('\n');
    }
    text
}

/// The alias chain `a0..a{levels}`, each level repeating the previous one `width` times.
fn bomb(levels: usize, width: usize, shape: &str) -> String {
    let mut text = String::from(
        "version: 1\nname: bomb\napps: {}\nx-bomb:\n  a0: &a0 [lol, lol, lol, lol, lol, lol, lol, lol, lol, lol]\n",
    );
    for i in 1..=levels {
        let prev = format!("*a{}", i - 1);
        let body = match shape {
            "seq" => format!("[{}]", vec![prev; width].join(", ")),
            "map" => format!(
                "{{{}}}",
                (0..width)
                    .map(|k| format!("k{k}: {prev}"))
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
            _ => format!(
                "{{<<: [{}], {}}}",
                vec![prev.clone(); width].join(", "),
                (0..width)
                    .map(|k| format!("m{k}: {prev}"))
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
        };
        text.push_str(&format!("  a{i}: &a{i} {body}\n"));
    }
    text
}

/// Deterministic pseudo-random bytes (xorshift), so a failure reproduces.
fn noise(len: usize, mut seed: u64) -> Vec<u8> {
    (0..len)
        .map(|_| {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            (seed >> 24) as u8
        })
        .collect()
}

fn cases() -> Vec<Case> {
    let case = |name, why, build, expect| Case {
        name,
        why,
        build,
        env: Vec::new(),
        expect,
        plan_file: false,
        tamper: None,
    };
    let env = |name: &'static str, value: &str| vec![(name, value.to_string())];
    vec![
        // ------------------------------------------------------------------ huge inputs
        case(
            "huge_file_over_limit",
            "a 2 MiB manifest is refused by size before it is parsed",
            |d| {
                let mut text = one_app("huge", "displayName: Huge");
                text.push_str(
                    &"# padding padding padding padding padding padding\n".repeat(42_000),
                );
                vec![write(d, "huge.yaml", text)]
            },
            invalid("cannot-read", None),
        ),
        case(
            "huge_one_megabyte_display_name",
            "a value of a million characters is reported once, cut short in the message",
            |d| {
                vec![write(
                    d,
                    "long.yaml",
                    one_app("long", &format!("displayName: {}", "A".repeat(1_000_000))),
                )]
            },
            invalid("too-long", Some("long.yaml:5:18")),
        ),
        case(
            "huge_many_apps_each_broken",
            "three thousand problems: reported in bounded time, the first hundred shown",
            |d| {
                let mut text = String::from("version: 1\nname: many\napps:\n");
                for i in 0..3000 {
                    text.push_str(&format!(
                        "  app-{i}:\n    displayName: App {i}\n    colour: blue\n"
                    ));
                }
                vec![write(d, "many.yaml", text)]
            },
            invalid("unknown-field", Some("many.yaml:6:5")),
        ),
        case(
            "huge_flow_list_of_redirect_uris",
            "twenty thousand redirect URIs on one line",
            |d| {
                let uris: Vec<String> = (0..20_000)
                    .map(|i| format!("https://h.example.com/{i}"))
                    .collect();
                vec![write(
                    d,
                    "uris.yaml",
                    one_app(
                        "uris",
                        &format!(
                            "displayName: Uris\nweb:\n  redirectUris: [{}]",
                            uris.join(", ")
                        ),
                    ),
                )]
            },
            invalid("too-many", Some("uris.yaml:5:5")),
        ),
        case(
            "huge_key_of_half_a_megabyte",
            "a mapping key of 500,000 characters (YAML allows 1024 in a plain key)",
            |d| {
                vec![write(
                    d,
                    "key.yaml",
                    one_app(
                        "key",
                        &format!("displayName: Key\n{}: 1", "k".repeat(500_000)),
                    ),
                )]
            },
            invalid("yaml-syntax", Some("key.yaml:6:5")),
        ),
        // ------------------------------------------------------------------ alias bombs
        case(
            "alias_bomb_nested_lists",
            "the billion laughs: ten levels of ten aliases each",
            |d| vec![write(d, "laughs.yaml", bomb(9, 10, "seq"))],
            invalid("too-large", None),
        ),
        case(
            "alias_bomb_nested_mappings",
            "the same bomb built of mappings",
            |d| vec![write(d, "maps.yaml", bomb(9, 10, "map"))],
            invalid("too-large", None),
        ),
        case(
            "alias_bomb_merge_keys",
            "the same bomb through `<<` merge keys",
            |d| vec![write(d, "merge.yaml", bomb(9, 10, "merge"))],
            invalid("too-large", None),
        ),
        case(
            "alias_bomb_one_long_string_wide",
            "one 500 kB string repeated by 100,000 aliases: few nodes, 50 GB of text (bounded by bytes)",
            |d| {
                let aliases = vec!["*s"; 100_000].join(",");
                let text = format!(
                    "version: 1\nname: wide\napps: {{}}\nx-s: &s \"{}\"\nx-list: [{aliases}]\n",
                    "x".repeat(500_000)
                );
                vec![write(d, "wide.yaml", text)]
            },
            invalid("too-large", None),
        ),
        case(
            "alias_bomb_nested_anchors",
            "an anchor on every one of 60 levels around 90,000 nodes: the copies anchors keep count too",
            |d| {
                let mut t = format!("[{}]", vec!["x"; 90_000].join(","));
                for i in 0..60 {
                    t = format!("&n{i} [{t}]");
                }
                vec![write(
                    d,
                    "anchors.yaml",
                    format!("version: 1\nname: anchors\napps: {{}}\nx: {t}\n"),
                )]
            },
            invalid("too-large", None),
        ),
        case(
            "alias_bomb_in_app_tags",
            "a bomb where the schema expects a list of strings",
            |d| {
                let mut text = String::from(
                    "version: 1\nname: tagbomb\nx-a0: &a0 [t, t, t, t, t, t, t, t, t, t]\n",
                );
                for i in 1..=8 {
                    text.push_str(&format!(
                        "x-a{i}: &a{i} [{}]\n",
                        vec![format!("*a{}", i - 1); 10].join(", ")
                    ));
                }
                text.push_str("apps:\n  a:\n    displayName: Tags\n    tags: *a8\n");
                vec![write(d, "tags.yaml", text)]
            },
            invalid("too-large", None),
        ),
        case(
            "alias_recursive",
            "an alias inside its own anchor refers to nothing yet",
            |d| {
                vec![write(
                    d,
                    "self.yaml",
                    "version: 1\nname: selfref\napps:\n  a: &a\n    displayName: Self\n    notes: *a\n",
                )]
            },
            invalid("unknown-alias", Some("self.yaml:6:12")),
        ),
        // ------------------------------------------------------------------ deep nesting
        case(
            "deep_flow_sequences",
            "five thousand nested flow sequences",
            |d| {
                vec![write(
                    d,
                    "deep.yaml",
                    format!(
                        "version: 1\nname: deep\napps: {{}}\nx: {}{}\n",
                        "[".repeat(5000),
                        "]".repeat(5000)
                    ),
                )]
            },
            invalid("too-deep", None),
        ),
        case(
            "deep_flow_mappings",
            "five thousand nested flow mappings",
            |d| {
                vec![write(
                    d,
                    "deep.yaml",
                    format!(
                        "version: 1\nname: deep\napps: {{}}\nx: {}1{}\n",
                        "{a: ".repeat(5000),
                        "}".repeat(5000)
                    ),
                )]
            },
            invalid("too-deep", None),
        ),
        case(
            "deep_block_mappings",
            "two hundred levels of block indentation",
            |d| {
                let mut text = String::from("version: 1\nname: deep\napps: {}\nx:\n");
                for i in 1..200 {
                    text.push_str(&" ".repeat(i));
                    text.push_str("k:\n");
                }
                vec![write(d, "deep.yaml", text)]
            },
            invalid("too-deep", None),
        ),
        case(
            "deep_block_sequences",
            "two hundred levels of `- ` block sequences",
            |d| {
                let mut text = String::from("version: 1\nname: deep\napps: {}\nx:\n");
                for i in 0..200 {
                    text.push_str(&"  ".repeat(i));
                    text.push_str("-\n");
                }
                vec![write(d, "deep.yaml", text)]
            },
            invalid("too-deep", None),
        ),
        // ------------------------------------------------------------------ binary, non-UTF-8
        case(
            "utf16_le_with_bom",
            "a manifest saved as UTF-16 (Windows Notepad)",
            |d| {
                let mut bytes = vec![0xFF, 0xFE];
                for unit in one_app("utf16", "displayName: Wide").encode_utf16() {
                    bytes.extend(unit.to_le_bytes());
                }
                vec![write(d, "utf16.yaml", bytes)]
            },
            invalid("not-utf8", Some("utf16.yaml:1:1")),
        ),
        case(
            "utf16_be_with_bom",
            "the big-endian variant",
            |d| {
                let mut bytes = vec![0xFE, 0xFF];
                for unit in one_app("utf16", "displayName: Wide").encode_utf16() {
                    bytes.extend(unit.to_be_bytes());
                }
                vec![write(d, "utf16be.yaml", bytes)]
            },
            invalid("not-utf8", Some("utf16be.yaml:1:1")),
        ),
        case(
            "utf8_bom_is_fine",
            "a UTF-8 byte order mark is skipped: the manifest is valid",
            |d| {
                let mut bytes = b"\xEF\xBB\xBF".to_vec();
                bytes.extend(
                    one_app("hostile-bom", "displayName: With a byte order mark").as_bytes(),
                );
                vec![write(d, "bom.yaml", bytes)]
            },
            Expect::Valid,
        ),
        case(
            "nul_byte_raw",
            "a raw NUL byte inside a value",
            |d| {
                vec![write(
                    d,
                    "nul.yaml",
                    one_app("nul", "displayName: nul \0 byte"),
                )]
            },
            invalid("yaml-syntax", Some("nul.yaml:5:22")),
        ),
        case(
            "nul_byte_escaped",
            "`\\0` in a double-quoted value is a control character",
            |d| {
                vec![write(
                    d,
                    "nul.yaml",
                    one_app("nul", "displayName: \"nul \\0 byte\""),
                )]
            },
            invalid("control-character", Some("nul.yaml:5:18")),
        ),
        case(
            "invalid_utf8_in_a_value",
            "Latin-1 `é` (0xE9) in a display name",
            |d| {
                let mut bytes = one_app("latin1", "displayName: caf").into_bytes();
                bytes.pop();
                bytes.extend(b"\xE9\n");
                vec![write(d, "latin1.yaml", bytes)]
            },
            invalid("not-utf8", Some("latin1.yaml:5:21")),
        ),
        case(
            "lone_surrogate_escaped",
            "`\\ud800` names half a character",
            |d| corpus(d, "lone-surrogate.yaml"),
            invalid("yaml-syntax", Some("lone-surrogate.yaml:5:18")),
        ),
        case(
            "random_binary",
            "4 KiB of noise",
            |d| vec![write(d, "noise.yaml", noise(4096, 0x9E37_79B9_7F4A_7C15))],
            invalid("not-utf8", None),
        ),
        case(
            "elf_binary_named_yaml",
            "an executable with a manifest's name",
            |d| {
                vec![write(
                    d,
                    "appreg.yaml",
                    std::fs::read(env!("CARGO_BIN_EXE_appreg")).unwrap(),
                )]
            },
            invalid("cannot-read", None),
        ),
        // ------------------------------------------------------------------ conflicting files
        case(
            "dir_same_app_in_two_files",
            "two files declare the same app key",
            |d| {
                write(d, "m/a.yaml", one_app("conflict", "displayName: First"));
                write(d, "m/b.yaml", one_app("conflict", "displayName: Second"));
                vec!["m".into()]
            },
            invalid("duplicate-app", Some("m/b.yaml:4:3")),
        ),
        case(
            "dir_two_set_names",
            "files of one manifest disagree on the ownership set",
            |d| {
                write(
                    d,
                    "m/a.yaml",
                    "version: 1\nname: one\napps:\n  a:\n    displayName: A\n",
                );
                write(
                    d,
                    "m/b.yaml",
                    "version: 1\nname: two\napps:\n  b:\n    displayName: B\n",
                );
                vec!["m".into()]
            },
            invalid("conflicting-setting", Some("m/b.yaml:2:7")),
        ),
        case(
            "dir_with_a_non_manifest_yaml",
            "a docker-compose.yaml beside the manifest is read as one and named",
            |d| {
                write(d, "m/app.yaml", one_app("compose", "displayName: App"));
                write(
                    d,
                    "m/docker-compose.yaml",
                    "services:\n  web:\n    image: nginx\n",
                );
                vec!["m".into()]
            },
            invalid("unknown-field", Some("m/docker-compose.yaml:1:1")),
        ),
        case(
            "dir_symlink_loop_to_itself",
            "a symlink loop named like a manifest is reported, not skipped (a skipped file's apps would be pruned)",
            |d| {
                write(d, "m/app.yaml", one_app("loop", "displayName: App"));
                std::os::unix::fs::symlink("loop.yaml", d.join("m/loop.yaml")).unwrap();
                vec!["m".into()]
            },
            invalid("cannot-read", None),
        ),
        case(
            "dir_symlink_to_parent_is_not_followed",
            "a directory symlink is not descended into: the manifest beside it is valid",
            |d| {
                write(
                    d,
                    "m/app.yaml",
                    one_app("hostile-dirlink", "displayName: Beside a loop"),
                );
                std::os::unix::fs::symlink("..", d.join("m/up.yaml")).unwrap();
                std::os::unix::fs::symlink(".", d.join("m/self")).unwrap();
                vec!["m".into()]
            },
            Expect::Valid,
        ),
        case(
            "dir_with_a_fifo_named_like_a_manifest",
            "a FIFO in the directory is reported, never opened (reading it would block forever)",
            |d| {
                write(d, "m/app.yaml", one_app("fifo", "displayName: App"));
                let status = Command::new("mkfifo")
                    .arg(d.join("m/pipe.yaml"))
                    .status()
                    .unwrap();
                assert!(status.success());
                vec!["m".into()]
            },
            invalid("cannot-read", None),
        ),
        case(
            "dir_of_many_large_files",
            "files of a million bytes each, more than the run's total: the total is bounded too",
            |d| {
                for i in 0..=appreg::manifest::MAX_TOTAL_BYTES / 1_000_000 {
                    let path = d.join(format!("m/part-{i}.yaml"));
                    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
                    std::fs::File::create(&path)
                        .unwrap()
                        .set_len(1_000_000)
                        .unwrap();
                }
                vec!["m".into()]
            },
            invalid("cannot-read", None),
        ),
        case(
            "path_does_not_exist",
            "a misspelt path",
            |_| vec!["nowhere/manifest.yaml".into()],
            invalid("cannot-read", None),
        ),
        // ------------------------------------------------------------------ hostile strings
        case(
            "ansi_raw_in_display_name",
            "raw ESC bytes: refused by YAML, and the excerpt must not replay them",
            |d| corpus(d, "ansi-raw.yaml"),
            invalid("yaml-syntax", Some("ansi-raw.yaml:5:18")),
        ),
        case(
            "ansi_escaped_in_display_name",
            "`\\e[31m` spelled in a quoted value",
            |d| corpus(d, "ansi-escaped.yaml"),
            invalid("control-character", Some("ansi-escaped.yaml:5:18")),
        ),
        case(
            "ansi_in_notes",
            "notes may hold line breaks, but no escape sequence (issue 11, finding 8)",
            |d| corpus(d, "ansi-notes.yaml"),
            invalid("control-character", Some("ansi-notes.yaml:6:12")),
        ),
        case(
            "bidi_override_in_display_name",
            "U+202E makes a name read as another (issue 11, finding 8): refused at the character",
            |d| corpus(d, "bidi-display-name.yaml"),
            invalid("control-character", Some("bidi-display-name.yaml:5:27")),
        ),
        case(
            "zero_width_in_display_name",
            "U+200B is legitimate Unicode: stored as written, printed escaped",
            |d| corpus(d, "zero-width-display-name.yaml"),
            Expect::Valid,
        ),
        case(
            "zero_width_in_app_key",
            "an app key that looks like another one",
            |d| corpus(d, "zero-width-key.yaml"),
            invalid("bad-app-key", Some("zero-width-key.yaml:4:3")),
        ),
        case(
            "newline_in_display_name",
            "a line break in a name",
            |d| {
                vec![write(
                    d,
                    "newline.yaml",
                    one_app("newline", "displayName: \"two\\nlines\""),
                )]
            },
            invalid("control-character", Some("newline.yaml:5:18")),
        ),
        case(
            "obrien_round_trips",
            "quotes are valid in names and secret names; every query they reach is escaped",
            |d| corpus(d, "obrien.yaml"),
            Expect::Valid,
        ),
        case(
            "odata_injection_in_group_name",
            "`' or 1 eq 1` as a group: one escaped literal, no such group, nothing written",
            |d| corpus(d, "odata-injection-group.yaml"),
            Expect::Refused("Odoo' or 1 eq 1"),
        ),
        case(
            "percent_27_and_top_in_resource_name",
            "`%27` and `&$top=` in a resource name are text, not URL syntax",
            |d| corpus(d, "odata-injection-resource.yaml"),
            Expect::Refused("Graph%27&$top=1"),
        ),
        case(
            "quote_in_unique_name",
            "uniqueName may not hold quotes or slashes",
            |d| corpus(d, "quote-unique-name.yaml"),
            invalid("bad-unique-name", Some("quote-unique-name.yaml:6:17")),
        ),
        case(
            "sink_path_traversal",
            "`../../etc/passwd` as a secret file",
            |d| corpus(d, "sink-traversal.yaml"),
            invalid("bad-sink-path", Some("sink-traversal.yaml:9:26")),
        ),
        case(
            "sink_absolute_path",
            "an absolute secret file path",
            |d| corpus(d, "sink-absolute.yaml"),
            invalid("bad-sink-path", Some("sink-absolute.yaml:9:26")),
        ),
        case(
            "sink_file_url",
            "`file://` is a URL, not a path",
            |d| corpus(d, "sink-file-url.yaml"),
            invalid("bad-sink-path", Some("sink-file-url.yaml:9:26")),
        ),
        case(
            "github_output_name_injects_a_line",
            "a line break in a step output name would add outputs to $GITHUB_OUTPUT",
            |d| corpus(d, "github-output-newline.yaml"),
            invalid("control-character", Some("github-output-newline.yaml:9:38")),
        ),
        case(
            "key_vault_plain_http",
            "a Key Vault over http to a remote host would carry a token in clear",
            |d| corpus(d, "keyvault-http.yaml"),
            invalid("bad-url", Some("keyvault-http.yaml:9:39")),
        ),
        case(
            "key_vault_file_url",
            "a Key Vault `file://` URL",
            |d| corpus(d, "keyvault-file-url.yaml"),
            invalid("bad-url", Some("keyvault-file-url.yaml:9:39")),
        ),
        case(
            "certificate_path_traversal",
            "`../../../../etc/passwd` as a certificate: not a certificate, named where written",
            |d| corpus(d, "certificate-passwd.yaml"),
            invalid("bad-certificate-path", Some("certificate-passwd.yaml:8:15")),
        ),
        case(
            "redirect_uri_javascript",
            "a `javascript:` redirect URI",
            |d| corpus(d, "redirect-javascript.yaml"),
            invalid("bad-redirect-uri", Some("redirect-javascript.yaml:8:11")),
        ),
        case(
            "info_url_plain_http",
            "a marketing URL over http",
            |d| corpus(d, "info-http.yaml"),
            invalid("bad-url", Some("info-http.yaml:7:21")),
        ),
        // ------------------------------------------------------------------ interpolation
        case(
            "env_unset",
            "an unset variable is an error where it is written, never an empty string",
            |d| corpus(d, "env-unset.yaml"),
            invalid("unset-variable", Some("env-unset.yaml:5:23")),
        ),
        case(
            "env_unterminated_huge_token",
            "`${` followed by 200,000 characters: reported, quoted briefly",
            |d| {
                vec![write(
                    d,
                    "token.yaml",
                    one_app(
                        "token",
                        &format!("displayName: \"${{{}\"", "e".repeat(200_000)),
                    ),
                )]
            },
            invalid("bad-interpolation", Some("token.yaml:5:19")),
        ),
        case(
            "env_nested_reference",
            "`${var:${var:A}}` is not expanded twice",
            |d| corpus(d, "env-nested.yaml"),
            invalid("bad-interpolation", Some("env-nested.yaml:5:19")),
        ),
        case(
            "env_in_a_key",
            "keys are never interpolated",
            |d| corpus(d, "env-key.yaml"),
            invalid("bad-app-key", Some("env-key.yaml:4:3")),
        ),
        case(
            "env_escaped_dollar_is_literal",
            "`$${var:X}` is the literal text `${var:X}`",
            |d| corpus(d, "env-escaped.yaml"),
            Expect::Valid,
        ),
        Case {
            env: env(
                "APPREG_VAR_HOSTILE_NAME",
                "Line one\n    owners: [eve@example.com]",
            ),
            ..case(
                "env_value_injects_yaml",
                "a variable's value is text: a line break in it is not YAML, and a value may not hold one",
                |d| corpus(d, "env-value.yaml"),
                invalid("bad-variable-value", Some("env-value.yaml:5:19")),
            )
        },
        Case {
            env: env("APPREG_VAR_HOSTILE_NAME", "\u{1b}]0;pwned\u{7}\u{1b}[2J"),
            ..case(
                "env_value_with_terminal_escapes",
                "escape sequences arriving through a variable",
                |d| corpus(d, "env-value.yaml"),
                invalid("bad-variable-value", Some("env-value.yaml:5:19")),
            )
        },
        Case {
            // Linux caps one variable at 128 kB.
            env: env("APPREG_VAR_HOSTILE_LONG", &"v".repeat(100_000)),
            ..case(
                "env_long_value_repeated_by_aliases",
                "a 100 kB variable repeated by 60,000 aliases: the expansion is bounded",
                |d| {
                    let aliases = vec!["*v"; 60_000].join(",");
                    vec![write(
                        d,
                        "envbomb.yaml",
                        format!(
                            "version: 1\nname: envbomb\napps: {{}}\nx-v: &v \"${{var:HOSTILE_LONG}}\"\nx-list: [{aliases}]\n"
                        ),
                    )]
                },
                invalid("too-large", None),
            )
        },
        // ------------------------------------------------------------------ saved plans
        plan_case(
            "plan_file_truncated",
            "a plan cut off mid-way",
            |d| {
                vec![write(
                    d,
                    "plan.json",
                    "{\"formatVersion\": 2, \"setName\": \"x\", \"changes\": [",
                )]
            },
            Expect::Refused("is not an appreg plan"),
        ),
        plan_case(
            "plan_file_wrong_version",
            "a plan from a future appreg",
            |d| {
                vec![write(
                    d,
                    "plan.json",
                    "{\"formatVersion\": 99, \"whatever\": true}",
                )]
            },
            Expect::Refused("has plan format 99, this appreg reads 2"),
        ),
        plan_case(
            "plan_file_version_as_string",
            "a version of the wrong type",
            |d| {
                vec![write(
                    d,
                    "plan.json",
                    "{\"formatVersion\": \"2\\u001b[2J\"}",
                )]
            },
            Expect::Refused("has plan format"),
        ),
        plan_case(
            "plan_file_not_json_object",
            "`[]` is JSON but no plan",
            |d| vec![write(d, "plan.json", "[]")],
            Expect::Refused("is not an appreg plan"),
        ),
        plan_case(
            "plan_file_binary",
            "non-UTF-8 bytes",
            |d| vec![write(d, "plan.json", noise(2048, 7))],
            Expect::Refused("not UTF-8"),
        ),
        plan_case(
            "plan_file_huge",
            "a 65 MiB plan (sparse) is refused by size, unread",
            |d| {
                let path = d.join("plan.json");
                std::fs::File::create(&path)
                    .unwrap()
                    .set_len(65 * 1024 * 1024)
                    .unwrap();
                vec!["plan.json".into()]
            },
            Expect::Refused("larger than"),
        ),
        plan_case(
            "plan_file_deeply_nested",
            "JSON nested 100,000 levels deep",
            |d| {
                vec![write(
                    d,
                    "plan.json",
                    format!(
                        "{{\"formatVersion\": 2, \"x\": {}{}}}",
                        "[".repeat(100_000),
                        "]".repeat(100_000)
                    ),
                )]
            },
            Expect::Refused("is not an appreg plan"),
        ),
        tampered(
            "plan_file_tampered_digest",
            "a real plan whose manifest digest was edited",
            |plan| plan["manifestDigest"] = "0".repeat(64).into(),
            Expect::Refused("plan is stale"),
        ),
        tampered(
            "plan_file_tampered_changes",
            "a real plan edited to change nothing and prune",
            |plan| {
                plan["prune"] = true.into();
                plan["changes"] = serde_json::json!([]);
            },
            // Flipping prune on is refused before anything is sent: apply must restate --prune.
            Expect::Refused("was made with --prune"),
        ),
        tampered(
            "plan_file_pointing_at_etc_passwd",
            "a plan whose manifest path was edited to a system file",
            |plan| plan["manifestPaths"] = serde_json::json!(["/etc/passwd"]),
            invalid("wrong-type", Some("/etc/passwd:1:1")),
        ),
        // ------------------------------------------------------------------ adopt (engine room)
        case(
            "trust_engine_adopt_from_set_injection",
            "`fromSet` is a set name, not text that reaches a Graph filter or a message unchecked",
            |d| corpus(d, "trust-engine-adopt-from-set-injection.yaml"),
            invalid(
                "bad-format",
                Some("trust-engine-adopt-from-set-injection.yaml:6:67"),
            ),
        ),
        case(
            "trust_engine_adopt_extra_key",
            "the adopt mapping takes `appId` and `fromSet` only (no `force: true`)",
            |d| corpus(d, "trust-engine-adopt-extra-key.yaml"),
            invalid(
                "unknown-field",
                Some("trust-engine-adopt-extra-key.yaml:9:7"),
            ),
        ),
        // ------------------------------------------------------------------ permissions (catalogue room)
        case(
            "trust_catalogue_outlook_rest_permission",
            "an Exchange Online permission of the retired Outlook REST API grants nothing: refused",
            |d| corpus(d, "trust-catalogue-outlook-rest-retired.yaml"),
            invalid(
                "retired-api",
                Some("trust-catalogue-outlook-rest-retired.yaml:8:23"),
            ),
        ),
        case(
            "trust_catalogue_blank_acknowledgement",
            "a blank reason cannot acknowledge a path to Global Administrator",
            |d| corpus(d, "trust-catalogue-acknowledgement-blank.yaml"),
            invalid(
                "bad-acknowledgement",
                Some("trust-catalogue-acknowledgement-blank.yaml:13:17"),
            ),
        ),
        // ------------------------------------------------------------------ trust: credentials
        case(
            "trust_credentials_vault_any_host",
            "finding 2: a Key Vault URL naming any https host would receive the Key Vault token",
            |d| corpus(d, "trust-credentials-vault-attacker.yaml"),
            invalid(
                "bad-url",
                Some("trust-credentials-vault-attacker.yaml:9:39"),
            ),
        ),
        case(
            "trust_credentials_vault_loopback",
            "finding 2: a loopback vault is reached only through --key-vault-url, never from a manifest",
            |d| corpus(d, "trust-credentials-vault-loopback.yaml"),
            invalid(
                "bad-url",
                Some("trust-credentials-vault-loopback.yaml:9:39"),
            ),
        ),
        case(
            "trust_credentials_certificate_dev_zero",
            "finding 7: `/dev/zero` as a certificate: refused as outside the directory, never read",
            |d| corpus(d, "trust-credentials-certificate-dev-zero.yaml"),
            invalid(
                "bad-certificate-path",
                Some("trust-credentials-certificate-dev-zero.yaml:8:15"),
            ),
        ),
        case(
            "trust_credentials_personal_two_secrets",
            "finding 12: two secrets on a personal-account app could never rotate without removing one in use",
            |d| corpus(d, "trust-credentials-personal-two-secrets.yaml"),
            invalid(
                "too-many",
                Some("trust-credentials-personal-two-secrets.yaml:9:7"),
            ),
        ),
        case(
            "identifier_uri_on_an_unverified_domain",
            "an https identifierUri whose host the tenant has not verified is reported where it is written, before any write (Graph would refuse it with HostNameNotOnVerifiedDomain)",
            |d| corpus(d, "trust-emulator-unverified-identifier-uri.yaml"),
            invalid(
                "unverified-identifier-uri-domain",
                Some("trust-emulator-unverified-identifier-uri.yaml:8:9"),
            ),
        ),
        // ------------------------------------------------------------------ issue 11, manifest room
        case(
            "trust_manifest_env_reads_the_runners_secret",
            "finding 1: `${env:AZURE_CLIENT_SECRET}` (set for every run here) is refused, never expanded",
            |d| corpus(d, "trust-manifest-env-secret.yaml"),
            invalid(
                "env-interpolation-refused",
                Some("trust-manifest-env-secret.yaml:5:21"),
            ),
        ),
        case(
            "trust_manifest_uppercase_set_prunes_another",
            "finding 4: `name: FINANCE` with `prune: true` would prune set `finance`",
            |d| corpus(d, "trust-manifest-uppercase-set.yaml"),
            invalid("bad-format", Some("trust-manifest-uppercase-set.yaml:2:7")),
        ),
        case(
            "trust_manifest_two_apps_one_secret_file",
            "finding 5: two apps delivering to one file spelled in another case",
            |d| corpus(d, "trust-manifest-shared-sink.yaml"),
            invalid(
                "duplicate-sink",
                Some("trust-manifest-shared-sink.yaml:13:26"),
            ),
        ),
        case(
            "trust_manifest_escape_in_resource_and_certificate_names",
            "finding 8: control characters in a permission resource key and a certificate name",
            |d| corpus(d, "trust-manifest-control-in-names.yaml"),
            invalid(
                "control-character",
                Some("trust-manifest-control-in-names.yaml:7:7"),
            ),
        ),
        case(
            "trust_manifest_prune_with_a_sibling_of_the_set",
            "finding 13: pruning from one file while its sibling declares apps of the same set",
            |d| {
                write(
                    d,
                    "m/a.yaml",
                    "version: 1\nname: hostile-split\nprune: true\napps:\n  a:\n    displayName: A\n",
                );
                write(d, "m/b.yaml", one_app("hostile-split", "displayName: B"));
                vec!["m/a.yaml".into()]
            },
            Expect::Refused("refusing to prune set `hostile-split`"),
        ),
        case(
            "trust_manifest_prune_with_the_set_in_a_subdirectory",
            "finding 13: pruning a directory whose subdirectory holds apps of the set",
            |d| {
                write(
                    d,
                    "m/set.yaml",
                    "version: 1\nname: hostile-subdir\nprune: true\napps: {}\n",
                );
                write(
                    d,
                    "m/team/b.yaml",
                    "version: 1\napps:\n  b:\n    displayName: B\n",
                );
                vec!["m".into()]
            },
            Expect::Refused("m/team/b.yaml"),
        ),
        case(
            "trust_manifest_uppercase_extension_is_loaded",
            "finding 13: `APP.YAML` is a manifest like `app.yaml`, so its mistakes are found",
            |d| {
                write(d, "m/set.yaml", one_app("hostile-case", "displayName: A"));
                write(
                    d,
                    "m/MORE.YAML",
                    "version: 1\napps:\n  b:\n    displayName: B\n    colour: blue\n",
                );
                vec!["m".into()]
            },
            invalid("unknown-field", Some("m/MORE.YAML:5:5")),
        ),
        Case {
            env: env("APPREG_VAR_HOSTILE_TAG", "tag-value"),
            ..case(
                "trust_manifest_many_interpolated_mistakes",
                "finding 1: 20,000 broken interpolated values; putting the written text back into each report stays linear",
                |d| {
                    let tags: Vec<String> = (0..20_000)
                        .map(|i| format!("\"${{var:HOSTILE_TAG}} {i}\""))
                        .collect();
                    vec![write(
                        d,
                        "tags.yaml",
                        one_app(
                            "hostile-tags",
                            &format!("displayName: Tags\ntags: [{}]", tags.join(",")),
                        ),
                    )]
                },
                invalid("bad-tag", Some("tags.yaml:6:12")),
            )
        },
        case(
            "trust_guardrails_blank_justification",
            "issue 16: a policy allowance whose justification is blank would waive a high-privilege permission with no reason on record",
            |d| corpus(d, "trust-guardrails-blank-justification.yaml"),
            invalid(
                "bad-policy",
                Some("trust-guardrails-blank-justification.yaml:5:7"),
            ),
        ),
    ]
}

fn plan_case(
    name: &'static str,
    why: &'static str,
    build: fn(&Path) -> Vec<String>,
    expect: Expect,
) -> Case {
    Case {
        name,
        why,
        build,
        env: Vec::new(),
        expect,
        plan_file: true,
        tamper: None,
    }
}

fn tampered(
    name: &'static str,
    why: &'static str,
    edit: fn(&mut serde_json::Value),
    expect: Expect,
) -> Case {
    Case {
        tamper: Some(edit),
        ..plan_case(
            name,
            why,
            |d| {
                write(
                    d,
                    "app.yaml",
                    one_app("hostile-tamper", "displayName: Tampered"),
                );
                vec!["plan.json".into()]
            },
            expect,
        )
    }
}

/// One run of the binary: exit code, stdout, stderr, wall time.
struct Run {
    code: Option<i32>,
    stdout: String,
    stderr: String,
    took: Duration,
}

fn prlimit_available() -> bool {
    Command::new("prlimit")
        .arg("--version")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

/// Runs `appreg <args>` as [`cli_command`] sets it up, under the memory cap, killed at the deadline.
async fn run(
    sb: &RunningSandbox,
    dir: &Path,
    args: &[&str],
    env: &[(&'static str, String)],
) -> Run {
    let inner = cli_command(sb, dir, args);
    let mut command = if prlimit_available() {
        let mut c = Command::new("prlimit");
        c.arg(format!("--as={MEMORY_LIMIT}"))
            .arg("--")
            .arg(inner.get_program());
        c
    } else {
        Command::new(inner.get_program())
    };
    command.args(inner.get_args()).env_clear().current_dir(dir);
    for (k, v) in inner.get_envs() {
        if let Some(v) = v {
            command.env(k, v);
        }
    }
    for (k, v) in env {
        command.env(k, v);
    }
    command
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    tokio::task::spawn_blocking(move || {
        let started = Instant::now();
        let mut child = command.spawn().expect("the binary starts");
        let mut out = child.stdout.take().unwrap();
        let mut err = child.stderr.take().unwrap();
        let out = std::thread::spawn(move || {
            let mut b = Vec::new();
            let _ = out.read_to_end(&mut b);
            b
        });
        let err = std::thread::spawn(move || {
            let mut b = Vec::new();
            let _ = err.read_to_end(&mut b);
            b
        });
        let status = loop {
            if let Some(status) = child.try_wait().unwrap() {
                break Some(status);
            }
            if started.elapsed() > DEADLINE {
                let _ = child.kill();
                let _ = child.wait();
                break None;
            }
            std::thread::sleep(Duration::from_millis(10));
        };
        let took = started.elapsed();
        let stdout = out.join().unwrap();
        let stderr = err.join().unwrap();
        Run {
            code: status.and_then(|s| s.code()),
            stdout: String::from_utf8_lossy(&stdout).into_owned(),
            stderr: String::from_utf8_lossy(&stderr).into_owned(),
            took,
        }
    })
    .await
    .unwrap()
}

/// Everything every run must satisfy, whatever the input.
fn check_run(case: &str, what: &str, run: &Run) {
    let context = || {
        format!(
            "{case} ({what}) after {:?}:\n{}",
            run.took,
            tail(&run.stderr)
        )
    };
    assert!(run.took < DEADLINE, "{}: killed at the deadline", context());
    assert!(
        run.code.is_some(),
        "{}: ended by a signal (out of memory under the {MEMORY_LIMIT}-byte cap?)",
        context()
    );
    for text in [&run.stdout, &run.stderr] {
        assert!(
            !text.contains("panicked") && !text.contains("RUST_BACKTRACE"),
            "{}: panicked",
            context()
        );
        assert!(
            text.len() < MAX_OUTPUT,
            "{}: printed {} bytes",
            context(),
            text.len()
        );
        let raw = text.chars().find(|&c| {
            (c.is_control() && c != '\n' && c != '\t')
                || ('\u{202a}'..='\u{202e}').contains(&c)
                || ('\u{2066}'..='\u{2069}').contains(&c)
                || c == '\u{200b}'
        });
        assert!(
            raw.is_none(),
            "{}: printed a raw {:?}",
            context(),
            raw.unwrap()
        );
    }
}

fn tail(text: &str) -> String {
    let start = text.len().saturating_sub(3000);
    let start = (start..text.len())
        .find(|&i| text.is_char_boundary(i))
        .unwrap_or(text.len());
    text[start..].to_string()
}

async fn run_case(sb: &RunningSandbox, root: &Path, case: &Case) {
    let dir = root.join(case.name);
    std::fs::create_dir_all(&dir).unwrap();
    let paths = (case.build)(&dir);
    if let Some(edit) = case.tamper {
        // Save a real plan of the valid manifest (plan writes nothing), then edit it.
        let saved = run(sb, &dir, &["plan", "app.yaml", "--out", "plan.json"], &[]).await;
        check_run(case.name, "plan --out", &saved);
        assert_eq!(saved.code, Some(0), "{}: {}", case.name, saved.stderr);
        let mut plan: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(dir.join("plan.json")).unwrap()).unwrap();
        edit(&mut plan);
        std::fs::write(dir.join("plan.json"), plan.to_string()).unwrap();
    }
    let paths: Vec<&str> = paths.iter().map(String::as_str).collect();
    let mut commands: Vec<Vec<&str>> = Vec::new();
    if case.plan_file {
        commands.push([&["apply"][..], &paths, &["--auto-approve"]].concat());
    } else {
        commands.push([&["plan"][..], &paths].concat());
        commands.push([&["apply"][..], &paths, &["--auto-approve"]].concat());
    }
    for args in &commands {
        sb.clear_log();
        let what = args.join(" ");
        let r = run(sb, &dir, args, &case.env).await;
        check_run(case.name, &what, &r);
        let context = format!("{} ({what}): {}\n{}", case.name, case.why, tail(&r.stderr));
        match case.expect {
            Expect::Invalid { code, at } => {
                assert_eq!(r.code, Some(1), "{context}");
                assert!(
                    r.stderr.contains(&format!("error[{code}]")),
                    "{context}: no error[{code}]"
                );
                if let Some(at) = at {
                    assert!(
                        r.stderr.contains(&format!("[{at}]")),
                        "{context}: no [{at}]"
                    );
                }
                assert!(
                    r.stderr.contains("nothing was sent to the tenant"),
                    "{context}: the report does not say nothing was sent"
                );
                assert_eq!(
                    writes(sb),
                    Vec::<String>::new(),
                    "{context}: wrote to Graph"
                );
            }
            Expect::Refused(text) => {
                assert_eq!(r.code, Some(1), "{context}");
                assert!(r.stderr.contains(text), "{context}: no `{text}`");
                assert!(r.stderr.contains("error: "), "{context}: no error line");
                assert_eq!(
                    writes(sb),
                    Vec::<String>::new(),
                    "{context}: wrote to Graph"
                );
            }
            Expect::Valid => {
                assert_eq!(r.code, Some(0), "{context}");
            }
        }
    }
    if matches!(case.expect, Expect::Valid) {
        sb.clear_log();
        let again = run(sb, &dir, &[&["plan"][..], &paths].concat(), &case.env).await;
        check_run(case.name, "second plan", &again);
        assert_eq!(again.code, Some(0), "{}: {}", case.name, again.stderr);
        assert!(
            again.stdout.starts_with("No changes."),
            "{}: the second plan is not all no-op:\n{}",
            case.name,
            again.stdout
        );
        assert_eq!(
            writes(sb),
            Vec::<String>::new(),
            "{}: plan wrote",
            case.name
        );
        remove_managed_apps(sb).await;
    }
}

/// Deletes the apps a valid case made. Cases of different sets reuse app keys such as `a`, and
/// appreg refuses to manage another set's app without `adopt:`.
async fn remove_managed_apps(sb: &RunningSandbox) {
    let raw = Raw::new(sb).await;
    for app in raw.apps().await {
        let managed = app["tags"]
            .as_array()
            .is_some_and(|t| t.contains(&serde_json::json!("appreg:managed")));
        if managed && let Some(id) = app["id"].as_str() {
            raw.write(
                reqwest::Method::DELETE,
                &format!("/applications/{id}"),
                None,
            )
            .await;
        }
    }
}

/// Every case, in one sandbox (each valid case has its own set), one after the other.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hostile_inputs_are_refused_cleanly_or_round_trip() {
    let cases = cases();
    assert!(cases.len() >= 40, "the corpus has {} cases", cases.len());
    let mut names: Vec<&str> = cases.iter().map(|c| c.name).collect();
    names.sort();
    names.dedup();
    assert_eq!(names.len(), cases.len(), "case names repeat");

    let sb = start(Faults::default(), 7).await;
    let root = PathBuf::from(env!("CARGO_TARGET_TMPDIR"))
        .join(format!("hostile-{}", uuid::Uuid::new_v4().simple()));
    let only = std::env::var("HOSTILE_CASE").ok();
    let mut slowest = (Duration::ZERO, "");
    let mut failed = Vec::new();
    for case in &cases {
        if only.as_deref().is_some_and(|o| o != case.name) {
            continue;
        }
        let started = Instant::now();
        // Every case runs even when one fails, so one run shows every problem.
        let outcome = std::panic::AssertUnwindSafe(run_case(&sb, &root, case))
            .catch_unwind()
            .await;
        if let Err(panic) = outcome {
            let message = panic
                .downcast_ref::<String>()
                .cloned()
                .or_else(|| panic.downcast_ref::<&str>().map(|s| s.to_string()))
                .unwrap_or_default();
            failed.push(format!("{}: {message}", case.name));
        }
        if started.elapsed() > slowest.0 {
            slowest = (started.elapsed(), case.name);
        }
    }
    assert!(
        failed.is_empty(),
        "{} of {} cases failed:\n\n{}",
        failed.len(),
        cases.len(),
        failed.join("\n\n")
    );
    eprintln!(
        "{} cases; slowest: {} in {:?}",
        cases.len(),
        slowest.1,
        slowest.0
    );
    sb.shutdown().await;
    let _ = std::fs::remove_dir_all(&root);
}
