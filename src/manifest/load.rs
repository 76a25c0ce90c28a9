//! From paths on disk to a validated desired state, or to every problem found on the way.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use chrono::NaiveDate;

use super::diagnostic::{self, Diagnostic};
use super::domains::IdentifierUriSite;
use super::interpolate::{EnvLookup, Expansions, Redactor, interpolate};
use super::settings::Settings;
use super::source::{Location, SourceFile, read_limited};
use super::structure::{Checker, to_json};
use super::validate::{self, AppSource};
use super::view::{self, OutOfView, Survey, is_manifest_name};
use super::yaml::{self, Node, Step, Value};
use super::{characters, lower, wire};
use crate::model::DesiredState;

/// Largest manifest file accepted. Real manifests are a few kilobytes; this bounds time and memory.
pub const MAX_FILE_BYTES: u64 = 1024 * 1024;
/// Largest total of all manifest files of one run: a directory of many files cannot exhaust memory
/// either. An app with permissions, assignments and a federated credential takes about 750 bytes,
/// so this covers 50,000 such apps with room to spare (benches/validate_scale.rs loads them).
pub const MAX_TOTAL_BYTES: u64 = 64 * MAX_FILE_BYTES;

/// A manifest that passed validation, with the warnings it raised.
#[derive(Debug)]
pub struct Loaded {
    pub state: DesiredState,
    pub warnings: Vec<Diagnostic>,
    pub files: Vec<PathBuf>,
    /// Every identifierUri with where it is written, for the checks that need the tenant.
    pub identifier_uris: Vec<IdentifierUriSite>,
    /// The YAML files near the given paths that were not loaded.
    pub survey: Survey,
    /// The `policy:` section, read; None when no file states one.
    pub policy: Option<crate::model::policy::Policy>,
}

impl Loaded {
    /// Whether the apps of the set may be pruned: refused when pruning is asked for (`requested`,
    /// or `prune: true` in the manifest) and an unloaded file declares the same set or might.
    /// Call it before anything reaches the tenant.
    pub fn prune_in_view(&self, requested: bool) -> Result<(), OutOfView> {
        if requested || self.state.prune {
            let set = &self.state.set_name;
            view::check_prune(&view::assess(&self.survey, set), set)
        } else {
            Ok(())
        }
    }
}

/// Why loading failed: every problem, errors and warnings, sorted by position.
#[derive(Debug)]
pub struct Invalid {
    pub diagnostics: Vec<Diagnostic>,
}

/// Loads and validates the manifests at `paths` (files, or directories of *.yaml / *.yml), judging
/// retirement dates as of today (UTC).
pub fn load(paths: &[PathBuf], env: EnvLookup) -> Result<Loaded, Invalid> {
    load_on(paths, env, today())
}

/// Today's date in UTC: the day lifecycle rules are judged on unless the caller names another.
pub fn today() -> NaiveDate {
    chrono::Utc::now().date_naive()
}

/// [`load`], judging retirement dates as of `today`, so that a caller (a test, `--as-of`) decides
/// the day and nothing reads the machine's clock behind its back.
pub fn load_on(paths: &[PathBuf], env: EnvLookup, today: NaiveDate) -> Result<Loaded, Invalid> {
    let mut diagnostics = Vec::new();
    let files = manifest_files(paths, &mut diagnostics);
    let default = [PathBuf::from(".")];
    let given = if paths.is_empty() {
        &default[..]
    } else {
        paths
    };
    let survey = view::survey(given, &files);
    let mut parsed = Vec::new();
    let mut total = 0;
    for path in &files {
        if let Some(file) = read(path, &mut diagnostics) {
            total += file.text.len() as u64;
            if total > MAX_TOTAL_BYTES {
                diagnostics.push(
                    no_file(format!(
                        "the manifest files together are larger than {MAX_TOTAL_BYTES} bytes (at `{}`)",
                        path.display()
                    ))
                    .with_help(format!(
                        "a run reads at most {} MiB of manifests, some 90,000 apps: point appreg at the manifests themselves, not a directory of other YAML; a larger tenant is split into sets (`name:`), each applied by a run of its own",
                        MAX_TOTAL_BYTES / (1024 * 1024)
                    )),
                );
                break;
            }
            parsed.push(file);
        }
    }
    let mut loaded = check(files, parsed, env, today, diagnostics)?;
    // Files in subdirectories are peeked at now, for the warning; files beside a given file only
    // when pruning asks (naming one file of a directory is how a user picks it).
    let mut warnings = view::warnings(&view::assess(&survey.below(), &loaded.state.set_name));
    loaded.survey = survey;
    warnings.append(&mut loaded.warnings);
    loaded.warnings = warnings;
    Ok(loaded)
}

/// Validates one manifest given as bytes, as if read from `path` (relative paths in it resolve
/// against `path`'s directory). The same checks as [`load`] without reading the manifest from disk;
/// what fuzzing and tests of hostile input drive.
pub fn load_bytes(path: &Path, bytes: &[u8], env: EnvLookup) -> Result<Loaded, Invalid> {
    load_bytes_on(path, bytes, env, today())
}

/// [`load_bytes`], judging retirement dates as of `today`.
pub fn load_bytes_on(
    path: &Path,
    bytes: &[u8],
    env: EnvLookup,
    today: NaiveDate,
) -> Result<Loaded, Invalid> {
    let mut diagnostics = Vec::new();
    let parsed = if bytes.len() as u64 > MAX_FILE_BYTES {
        diagnostics.push(too_big(path, bytes.len() as u64));
        Vec::new()
    } else {
        decode_text(path, bytes, &mut diagnostics)
            .into_iter()
            .collect()
    };
    check(vec![path.to_path_buf()], parsed, env, today, diagnostics)
}

fn check(
    files: Vec<PathBuf>,
    parsed: Vec<Arc<SourceFile>>,
    env: EnvLookup,
    today: NaiveDate,
    mut diagnostics: Vec<Diagnostic>,
) -> Result<Loaded, Invalid> {
    // Parsing and the structural check are per file and take most of the time: they run on every
    // core. Interpolation reads the environment through `env`, which need not be shareable across
    // threads, so it runs in between, in file order. Each stage keeps its file's problems apart, and
    // they are appended in file order, stage by stage, so the report is the same as one thread's.
    let mut documents = Vec::new();
    let mut expansions: Vec<Expansions> = Vec::new();
    let parsed = in_parallel(parsed, |file| {
        let root = yaml::parse(&file).map(|root| {
            let mut found = Vec::new();
            characters::check(&root, &file, &mut found);
            (root, found)
        });
        (file, root)
    });
    for (file, root) in parsed {
        match root {
            Ok((mut root, mut found)) => {
                expansions.push(interpolate(&mut root, &file, env, &mut found));
                // What is reported already is left out of the structural check's serde pass.
                let reported = spans_in(&found, &file);
                diagnostics.append(&mut found);
                documents.push((file, root, reported));
            }
            Err(problems) => diagnostics.extend(problems),
        }
    }
    let parsed_count = documents.len();

    let schema = super::schema();
    let schema = schema.as_value();
    let mut decoded = Vec::new();
    let results = in_parallel(documents, |(file, root, reported)| {
        let mut found = Vec::new();
        let document = decode(file, root, schema, reported, &mut found);
        (document, found)
    });
    for (document, mut found) in results {
        diagnostics.append(&mut found);
        decoded.extend(document);
    }

    let merged = merge(&decoded, &mut diagnostics);
    let sources: Vec<AppSource> = decoded
        .iter()
        .flat_map(|d| {
            d.apps.iter().map(move |(key, (app, key_span))| AppSource {
                key,
                app,
                file: &d.file,
                node: d
                    .root
                    .at(&[Step::Key("apps".into()), Step::Key(key.clone())])
                    .expect("decoded apps exist in the tree"),
                key_span: key_span.clone(),
            })
        })
        .collect();
    let policy = stated_policy(&decoded, &mut diagnostics);
    for source in &sources {
        let mut found = Vec::new();
        validate::check_app(source, &mut found);
        validate::permissions::check(source, today, &mut found);
        if let Some(policy) = &policy {
            validate::policy::check(source, policy, &mut found);
            validate::policy::enforce(policy, source.key, &mut found);
        }
        diagnostics.append(&mut found);
    }
    validate::check_across_apps(&sources, &mut diagnostics);

    // No message may quote a variable's value, wherever a rule found it; then each is cut short.
    let redactor = Redactor::new(&expansions);
    for diagnostic in &mut diagnostics {
        redactor.redact(diagnostic);
        diagnostic.bound();
    }
    diagnostic::sort(&mut diagnostics);
    // A mistake inside an anchor is found again wherever an alias repeats it.
    diagnostics.dedup_by(|a, b| {
        a.code == b.code
            && a.message == b.message
            && a.location.as_ref().map(|l| l.span.clone())
                == b.location.as_ref().map(|l| l.span.clone())
    });
    let failed =
        diagnostics.iter().any(Diagnostic::is_error) || !all_decoded(parsed_count, &decoded);
    match merged {
        Some(settings) if !failed => {
            let apps = sources
                .iter()
                .map(|s| (s.key, s.app, s.file.base_dir()))
                .collect::<Vec<_>>();
            Ok(Loaded {
                state: lower::desired_state(settings, &apps),
                warnings: diagnostics,
                files,
                identifier_uris: identifier_uri_sites(&sources),
                survey: Survey::default(),
                policy,
            })
        }
        _ => Err(Invalid { diagnostics }),
    }
}

fn identifier_uri_sites(sources: &[AppSource]) -> Vec<IdentifierUriSite> {
    sources
        .iter()
        .flat_map(|source| {
            source
                .app
                .identifier_uris
                .iter()
                .enumerate()
                .map(move |(i, uri)| {
                    let path = [Step::Key("identifierUris".into()), Step::Index(i)];
                    let span = source
                        .node
                        .at(&path)
                        .map_or_else(|| source.key_span.clone(), |n| n.span.clone());
                    IdentifierUriSite {
                        app: source.key.to_string(),
                        uri: uri.clone(),
                        location: Location {
                            file: source.file.clone(),
                            span,
                        },
                    }
                })
        })
        .collect()
}

fn all_decoded(parsed: usize, decoded: &[Document]) -> bool {
    parsed == decoded.len() && decoded.iter().all(|d| d.complete)
}

/// Runs `work` on each item, on every core when there are several items, and returns the results
/// in the items' order.
fn in_parallel<T: Send, R: Send>(items: Vec<T>, work: impl Fn(T) -> R + Sync) -> Vec<R> {
    let threads = std::thread::available_parallelism()
        .map_or(1, usize::from)
        .min(items.len());
    if threads <= 1 {
        return items.into_iter().map(work).collect();
    }
    // Contiguous runs of equal length keep the order without sorting the results again.
    let per_thread = items.len().div_ceil(threads);
    let mut runs: Vec<Vec<T>> = Vec::with_capacity(threads);
    let mut items = items.into_iter();
    loop {
        let run: Vec<T> = items.by_ref().take(per_thread).collect();
        if run.is_empty() {
            break;
        }
        runs.push(run);
    }
    let work = &work;
    std::thread::scope(|scope| {
        let handles: Vec<_> = runs
            .into_iter()
            .map(|run| scope.spawn(move || run.into_iter().map(work).collect::<Vec<R>>()))
            .collect();
        handles
            .into_iter()
            .flat_map(|handle| match handle.join() {
                Ok(results) => results,
                Err(panic) => std::panic::resume_unwind(panic),
            })
            .collect()
    })
}

/// Where the problems reported in `file` start.
fn spans_in(diagnostics: &[Diagnostic], file: &Arc<SourceFile>) -> Vec<usize> {
    diagnostics
        .iter()
        .filter_map(|d| d.location.as_ref())
        .filter(|l| Arc::ptr_eq(&l.file, file))
        .map(|l| l.span.start)
        .collect()
}

/// Expands directories into their *.yaml / *.yml files, sorted; reports paths that do not exist.
fn manifest_files(paths: &[PathBuf], out: &mut Vec<Diagnostic>) -> Vec<PathBuf> {
    let default = [PathBuf::from(".")];
    let paths = if paths.is_empty() {
        &default[..]
    } else {
        paths
    };
    let mut files = Vec::new();
    for path in paths {
        match std::fs::metadata(path) {
            Ok(meta) if meta.is_dir() => {
                let mut found: Vec<PathBuf> = match std::fs::read_dir(path) {
                    Ok(entries) => entries
                        .filter_map(Result::ok)
                        .map(|e| e.path())
                        .filter(|p| is_manifest_name(p))
                        // Subdirectories are not loaded (`view` reports what they hold). A dangling or looping symlink is kept
                        // so reading it reports why: a manifest silently left out would let
                        // `--prune` delete its apps. A FIFO or device is reported, never read
                        // (it could block forever).
                        .filter(|p| match std::fs::metadata(p) {
                            Ok(meta) if meta.is_dir() => false,
                            Ok(meta) if !meta.is_file() => {
                                out.push(no_file(format!(
                                    "`{}` is not a regular file",
                                    p.display()
                                )));
                                false
                            }
                            _ => true,
                        })
                        .collect(),
                    Err(e) => {
                        out.push(no_file(format!(
                            "cannot read directory `{}`: {e}",
                            path.display()
                        )));
                        continue;
                    }
                };
                if found.is_empty() {
                    out.push(
                        no_file(format!(
                            "`{}` holds no *.yaml or *.yml files",
                            path.display()
                        ))
                        .with_help("point appreg at a manifest file or a directory of them"),
                    );
                }
                found.sort();
                files.extend(found);
            }
            Ok(_) => files.push(path.clone()),
            Err(e) => out.push(no_file(format!("cannot read `{}`: {e}", path.display()))),
        }
    }
    files.dedup();
    files
}

fn no_file(message: String) -> Diagnostic {
    Diagnostic::error("cannot-read", None, message)
}

/// Reads a file as UTF-8 text, refusing oversized files and reporting where invalid bytes start.
fn read(path: &Path, out: &mut Vec<Diagnostic>) -> Option<Arc<SourceFile>> {
    let bytes = match std::fs::metadata(path) {
        Ok(meta) if meta.len() > MAX_FILE_BYTES => {
            out.push(too_big(path, meta.len()));
            return None;
        }
        Ok(_) => match read_limited(path) {
            Ok(bytes) => bytes,
            Err(e) => {
                out.push(no_file(format!("cannot read `{}`: {e}", path.display())));
                return None;
            }
        },
        Err(e) => {
            out.push(no_file(format!("cannot read `{}`: {e}", path.display())));
            return None;
        }
    };
    decode_text(path, &bytes, out)
}

fn too_big(path: &Path, len: u64) -> Diagnostic {
    no_file(format!(
        "`{}` is {len} bytes; manifests are limited to {MAX_FILE_BYTES} bytes",
        path.display(),
    ))
    .with_help("split the manifest into several files in one directory")
}

/// The file's text: UTF-8 (a byte order mark is skipped), or a report of where invalid bytes start.
fn decode_text(path: &Path, bytes: &[u8], out: &mut Vec<Diagnostic>) -> Option<Arc<SourceFile>> {
    let bytes = bytes.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(bytes);
    match std::str::from_utf8(bytes) {
        Ok(text) => Some(SourceFile::new(path, text.to_string())),
        Err(e) => {
            let at = e.valid_up_to();
            let file = SourceFile::new(path, String::from_utf8_lossy(bytes).into_owned());
            out.push(
                Diagnostic::error(
                    "not-utf8",
                    Some(Location {
                        file,
                        span: at..at + 1,
                    }),
                    "the file is not UTF-8 text",
                )
                .with_label("invalid byte here")
                .with_help("save the manifest as UTF-8"),
            );
            None
        }
    }
}

/// One file after the structural check: its top-level settings and the apps that decoded cleanly.
struct Document {
    file: Arc<SourceFile>,
    root: Node,
    settings: Option<wire::ManifestFile>,
    apps: BTreeMap<String, (wire::App, std::ops::Range<usize>)>,
    /// False when some part failed the structural check (its errors are already reported).
    complete: bool,
}

fn decode(
    file: Arc<SourceFile>,
    root: Node,
    schema: &serde_json::Value,
    mut reported: Vec<usize>,
    out: &mut Vec<Diagnostic>,
) -> Option<Document> {
    let mut checker = Checker::new(schema, file.clone());
    checker.check(schema, &root, &mut Vec::new(), None);
    // Spans of this file already reported (structure and interpolation): pruned before serde, so
    // the rest of each app still gets its semantic checks and one run shows every problem.
    reported.extend(spans_in(&checker.diagnostics, &file));
    out.extend(checker.diagnostics);
    let Value::Map(entries) = &root.value else {
        return None;
    };
    let mut complete = reported.is_empty();
    let mut apps = BTreeMap::new();
    let app_entries = entries
        .iter()
        .find(|e| e.key == "apps")
        .map(|e| &e.value.value);
    if let Some(Value::Map(app_entries)) = app_entries {
        for entry in app_entries {
            let had_problems = reported.iter().any(|&at| {
                (entry.key_span.start..entry.value.span.end.max(entry.key_span.end)).contains(&at)
            });
            if reported.iter().any(|at| entry.key_span.contains(at)) {
                continue;
            }
            match serde_json::from_value::<wire::App>(to_json_pruned(&entry.value, &reported)) {
                Ok(app) => {
                    apps.insert(entry.key.clone(), (app, entry.key_span.clone()));
                }
                // The problems that broke it are already reported.
                Err(_) if had_problems => complete = false,
                Err(e) => {
                    complete = false;
                    out.push(Diagnostic::error(
                        "invalid-app",
                        Some(Location {
                            file: file.clone(),
                            span: entry.key_span.clone(),
                        }),
                        format!("app `{}` cannot be read: {e}", entry.key),
                    ));
                }
            }
        }
    }
    let mut json = to_json_pruned(&root, &reported);
    if let Some(object) = json.as_object_mut() {
        object.remove("apps");
    }
    let settings = serde_json::from_value::<wire::ManifestFile>(json).ok();
    complete &= settings.is_some();
    Some(Document {
        file,
        root,
        settings,
        apps,
        complete,
    })
}

/// The node as JSON without the values a problem was reported on (a reported mapping key drops its
/// entry; a reported scalar or list item is left out).
fn to_json_pruned(node: &Node, reported: &[usize]) -> serde_json::Value {
    let hit = |span: &std::ops::Range<usize>| {
        reported
            .iter()
            .any(|at| span.contains(at) || (span.is_empty() && *at == span.start))
    };
    let leaf = |n: &Node| !matches!(n.value, Value::Map(_) | Value::Seq(_));
    match &node.value {
        Value::Map(entries) => serde_json::Value::Object(
            entries
                .iter()
                .filter(|e| !(hit(&e.key_span) || (leaf(&e.value) && hit(&e.value.span))))
                .map(|e| (e.key.clone(), to_json_pruned(&e.value, reported)))
                .collect(),
        ),
        Value::Seq(items) => serde_json::Value::Array(
            items
                .iter()
                .filter(|n| !(leaf(n) && hit(&n.span)))
                .map(|n| to_json_pruned(n, reported))
                .collect(),
        ),
        _ => to_json(node),
    }
}

/// Merges files: apps must not repeat, `name`/`tenant`/`prune` must agree where stated.
fn merge(documents: &[Document], out: &mut Vec<Diagnostic>) -> Option<Settings> {
    let mut first_app: BTreeMap<&str, Location> = BTreeMap::new();
    for document in documents {
        for (key, (_, span)) in &document.apps {
            let here = Location {
                file: document.file.clone(),
                span: span.clone(),
            };
            match first_app.get(key.as_str()) {
                Some(previous) => out.push(
                    Diagnostic::error(
                        "duplicate-app",
                        Some(here),
                        format!("app `{key}` is declared in two places"),
                    )
                    .with_label(format!("first declared at {previous}"))
                    .with_help("keep one declaration; each app key names one app registration"),
                ),
                None => {
                    first_app.insert(key, here);
                }
            }
        }
    }

    let name = agreed(documents, "name", |s| s.name.clone(), out);
    let tenant = agreed(documents, "tenant", |s| s.tenant.clone(), out);
    let prune = agreed(documents, "prune", |s| s.prune.map(|p| p.to_string()), out);
    if documents.iter().any(|d| d.settings.is_none()) {
        return None;
    }
    let Some(name) = name else {
        // A `name` that is stated but invalid has been reported already.
        let stated = documents.iter().any(|d| d.root.entry("name").is_some());
        if let Some(document) = documents.first().filter(|_| !stated) {
            out.push(
                Diagnostic::error("missing-set-name", Some(Location { file: document.file.clone(), span: 0..0 }), "no manifest file declares `name`, the ownership set")
                    .with_label("add `name:` here")
                    .with_help("add `name: <set>` (lowercase letters, digits, `-`, `_`, `.`); managed apps are tagged `appreg:set=<set>` and pruning stays inside it"),
            );
        }
        return None;
    };
    Some(Settings {
        name,
        tenant,
        prune: prune.as_deref() == Some("true"),
    })
}

/// The manifest's `policy:` section, read; None when no file states one. Files stating it must
/// agree, like `name`.
fn stated_policy(
    documents: &[Document],
    out: &mut Vec<Diagnostic>,
) -> Option<crate::model::policy::Policy> {
    agreed(
        documents,
        "policy",
        |s| {
            s.policy
                .as_ref()
                .map(|p| serde_json::to_string(p).expect("a policy serializes"))
        },
        out,
    )?;
    let document = documents
        .iter()
        .find(|d| d.settings.as_ref().is_some_and(|s| s.policy.is_some()))?;
    let section = document.settings.as_ref()?.policy.as_ref()?;
    Some(validate::policy::resolve(
        section,
        &document.file,
        &document.root,
        out,
    ))
}

/// The value of a top-level setting across files; stating different values is an error.
fn agreed(
    documents: &[Document],
    field: &str,
    get: impl Fn(&wire::ManifestFile) -> Option<String>,
    out: &mut Vec<Diagnostic>,
) -> Option<String> {
    let mut first: Option<(String, Location)> = None;
    for document in documents {
        let Some(value) = document.settings.as_ref().and_then(&get) else {
            continue;
        };
        let span = document
            .root
            .at(&[Step::Key(field.to_string())])
            .map_or(0..0, |n| n.span.clone());
        let here = Location {
            file: document.file.clone(),
            span,
        };
        match &first {
            Some((v, previous)) if *v != value => out.push(
                Diagnostic::error(
                    "conflicting-setting",
                    Some(here),
                    format!("`{field}` is `{value}` here but `{v}` at {previous}"),
                )
                .with_label("conflicts")
                .with_help(format!(
                    "files of one manifest must agree on `{field}`; state it once"
                )),
            ),
            Some(_) => {}
            None => first = Some((value, here)),
        }
    }
    first.map(|(v, _)| v)
}
