//! What a run did not load, and whether pruning may go ahead without it.
//!
//! Pruning deletes the apps of a set that the manifest no longer declares, so it is only safe with
//! the set's whole declaration in view. A set is often split over files; `appreg apply a.yaml
//! --prune` would otherwise delete what the sibling `b.yaml` declares, and a file moved into a
//! subdirectory of the manifest directory would have its apps deleted without a word. So the
//! loader records the YAML files it did not load (beside a given file, below a given directory),
//! each is peeked at: one that declares the same set, or might (unreadable, no
//! `name:` of its own and none in its directory, a `name:` built by interpolation) stops the prune
//! before any Graph call, and one in a subdirectory is warned about even without pruning.
//!
//! The search is bounded (depth, entries visited, files peeked) and never follows a directory
//! symlink; what the bounds leave unseen counts as "might be the same set". Nothing here writes.

use std::collections::HashSet;
use std::path::{Path, PathBuf};

use super::diagnostic::{Diagnostic, escape_hidden};
use super::yaml::{self, Value};

/// Deepest subdirectory searched below a given directory.
const MAX_DEPTH: usize = 8;
/// Most directory entries looked at in one survey (a manifest directory has a few dozen).
const MAX_ENTRIES: usize = 10_000;
/// Most unloaded files peeked at before pruning; the rest count as "might be the same set".
const MAX_PEEKED: usize = 200;
/// Most files named one by one in a warning or a refusal.
const MAX_NAMED: usize = 20;

/// A YAML file the run did not load.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Unloaded {
    pub path: PathBuf,
    /// True when it lies in a subdirectory of a directory given on the command line; false when
    /// it lies beside a file given on the command line.
    pub below: bool,
}

/// What the loader left out of view.
#[derive(Debug, Default)]
pub struct Survey {
    pub unloaded: Vec<Unloaded>,
    /// Directories whose search stopped at a bound: what is below them was not seen.
    pub unfinished: Vec<PathBuf>,
}

/// Why pruning was refused: the set's declaration is not wholly in view.
#[derive(Debug, thiserror::Error)]
#[error(
    "refusing to prune set `{set}`: YAML files that were not loaded may declare apps of it, and pruning would delete them:{}\nhelp: pass the directory that holds the whole set (subdirectories are not read: pass each one), or list every file of the set; without pruning, nothing is deleted",
    self.listing()
)]
pub struct OutOfView {
    pub set: String,
    /// Each unloaded file that declares (or may declare) the set, with why it counts.
    pub files: Vec<(PathBuf, String)>,
    pub unfinished: Vec<PathBuf>,
}

impl OutOfView {
    /// The files (and unfinished directories), one indented line each; a file name holding an
    /// escape sequence is printed escaped.
    pub fn listing(&self) -> String {
        let shown = |p: &Path| escape_hidden(&p.display().to_string()).into_owned();
        let mut text = String::new();
        for (path, why) in self.files.iter().take(MAX_NAMED) {
            text.push_str(&format!("\n  - {} ({})", shown(path), escape_hidden(why)));
        }
        if self.files.len() > MAX_NAMED {
            text.push_str(&format!("\n  - and {} more", self.files.len() - MAX_NAMED));
        }
        for dir in &self.unfinished {
            text.push_str(&format!(
                "\n  - below {} (too many files to check)",
                shown(dir)
            ));
        }
        text
    }
}

impl Survey {
    /// Only the files in subdirectories of given directories.
    pub fn below(&self) -> Survey {
        Survey {
            unloaded: self.unloaded.iter().filter(|u| u.below).cloned().collect(),
            unfinished: self.unfinished.clone(),
        }
    }
}

/// The YAML files near `given` (beside given files, below given directories) that are not among
/// `loaded`.
pub fn survey(given: &[PathBuf], loaded: &[PathBuf]) -> Survey {
    let identity = |p: &Path| std::fs::canonicalize(p).unwrap_or_else(|_| p.to_path_buf());
    let loaded: HashSet<PathBuf> = loaded.iter().map(|p| identity(p)).collect();
    let mut survey = Survey::default();
    let mut budget = MAX_ENTRIES;
    let mut found = Vec::new();
    // Many files of one directory (a set split over hundreds of files) list it once, not once each.
    let mut listed = HashSet::new();
    for path in given {
        match std::fs::metadata(path) {
            Ok(meta) if meta.is_dir() => {
                for sub in subdirectories(path, &mut budget) {
                    if !below(&sub, 1, &mut budget, &mut found) {
                        survey.unfinished.push(path.clone());
                        break;
                    }
                }
            }
            Ok(_) => {
                let parent = match path.parent() {
                    Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
                    _ => PathBuf::from("."),
                };
                if !listed.insert(parent.clone()) {
                    continue;
                }
                for file in yaml_files(&parent, &mut budget) {
                    found.push(Unloaded {
                        path: file,
                        below: false,
                    });
                }
            }
            Err(_) => {}
        }
    }
    let mut seen = HashSet::new();
    for unloaded in found {
        let id = identity(&unloaded.path);
        if loaded.contains(&id) || !seen.insert(id) {
            continue;
        }
        survey.unloaded.push(unloaded);
    }
    survey
}

/// Collects the YAML files of `dir` and of its subdirectories into `found`; false when a bound
/// stopped the search.
fn below(dir: &Path, depth: usize, budget: &mut usize, found: &mut Vec<Unloaded>) -> bool {
    if depth > MAX_DEPTH {
        return false;
    }
    found.extend(
        yaml_files(dir, budget)
            .into_iter()
            .map(|path| Unloaded { path, below: true }),
    );
    for sub in subdirectories(dir, budget) {
        if !below(&sub, depth + 1, budget, found) {
            return false;
        }
    }
    *budget > 0
}

/// The entries of `dir` (none when it cannot be read), counted against `budget`.
fn entries(dir: &Path, budget: &mut usize) -> Vec<std::fs::DirEntry> {
    let Ok(read) = std::fs::read_dir(dir) else {
        return Vec::new();
    };
    let mut out = Vec::new();
    for entry in read.filter_map(Result::ok) {
        if *budget == 0 {
            break;
        }
        *budget -= 1;
        out.push(entry);
    }
    out.sort_by_key(std::fs::DirEntry::path);
    out
}

/// Visible subdirectories of `dir`; directory symlinks are not followed (they may loop).
fn subdirectories(dir: &Path, budget: &mut usize) -> Vec<PathBuf> {
    entries(dir, budget)
        .into_iter()
        .filter(|e| e.file_type().is_ok_and(|t| t.is_dir()))
        .map(|e| e.path())
        .filter(|p| !is_hidden_name(p))
        .collect()
}

/// The files of `dir` a directory argument would load.
fn yaml_files(dir: &Path, budget: &mut usize) -> Vec<PathBuf> {
    entries(dir, budget)
        .into_iter()
        .filter(|e| !e.file_type().is_ok_and(|t| t.is_dir()))
        .map(|e| e.path())
        .filter(|p| is_manifest_name(p))
        .collect()
}

fn is_hidden_name(path: &Path) -> bool {
    path.file_name()
        .and_then(|n| n.to_str())
        .is_none_or(|n| n.starts_with('.'))
}

/// A visible file named `*.yaml` or `*.yml`, in any case (`APP.YAML` is a manifest on every
/// system, and a file skipped for its spelling would have its apps pruned).
pub fn is_manifest_name(path: &Path) -> bool {
    let extension = path.extension().and_then(|e| e.to_str());
    !is_hidden_name(path)
        && extension
            .is_some_and(|e| e.eq_ignore_ascii_case("yaml") || e.eq_ignore_ascii_case("yml"))
}

/// An unloaded file that declares the loaded set, or might.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Suspect {
    pub path: PathBuf,
    pub below: bool,
    /// Why it counts, such as "declares `name: finance`".
    pub why: String,
}

/// The part of the loaded set's declaration that may be out of view.
#[derive(Debug, Default)]
pub struct Unseen {
    pub suspects: Vec<Suspect>,
    /// Directories whose search stopped at a bound.
    pub unfinished: Vec<PathBuf>,
}

/// Peeks at every unloaded file and keeps those that declare `set` or might. A file without a
/// `name` of its own joins the set its directory's other files declare (passing that directory
/// would load them together); beside a given file, that is the loaded set.
pub fn assess(survey: &Survey, set: &str) -> Unseen {
    let peeked: Vec<(&Unloaded, Peeked)> = survey
        .unloaded
        .iter()
        .enumerate()
        .map(|(i, u)| {
            let peeked = if i < MAX_PEEKED {
                peek(&u.path)
            } else {
                Peeked::Unknown("not checked: too many files".into())
            };
            (u, peeked)
        })
        .collect();
    let names_in = |dir: Option<&Path>| -> Vec<&str> {
        peeked
            .iter()
            .filter(|(u, _)| u.path.parent() == dir)
            .filter_map(|(_, p)| match p {
                Peeked::Set(name) => Some(name.as_str()),
                _ => None,
            })
            .collect()
    };
    let same = |name: &str| name.eq_ignore_ascii_case(set);
    let mut suspects = Vec::new();
    for (unloaded, peeked) in &peeked {
        let why = match peeked {
            Peeked::Set(name) if same(name) => Some(format!("declares `name: {set}`")),
            Peeked::Set(_) | Peeked::NotAManifest => None,
            Peeked::Nameless if unloaded.below => {
                let names = names_in(unloaded.path.parent());
                if names.iter().any(|n| same(n)) {
                    Some(format!(
                        "declares apps; its directory declares `name: {set}`"
                    ))
                } else if names.is_empty() {
                    Some("declares apps without a `name`".to_string())
                } else {
                    None
                }
            }
            Peeked::Nameless => Some("declares apps without a `name`".to_string()),
            Peeked::Unknown(why) => Some(why.clone()),
        };
        if let Some(why) = why {
            suspects.push(Suspect {
                path: unloaded.path.clone(),
                below: unloaded.below,
                why,
            });
        }
    }
    Unseen {
        suspects,
        unfinished: survey.unfinished.clone(),
    }
}

/// A warning for each file in a subdirectory that may hold apps of the set (an error under
/// `--strict`). Files beside a given file are not warned about: naming one file of a directory is
/// how a user picks it; only pruning needs the rest. A search cut short by its bounds is not
/// warned about either (a repository root holds build trees); it only stops pruning.
pub fn warnings(unseen: &Unseen) -> Vec<Diagnostic> {
    let below: Vec<&Suspect> = unseen.suspects.iter().filter(|s| s.below).collect();
    let mut out: Vec<Diagnostic> = below
        .iter()
        .take(MAX_NAMED)
        .map(|s| {
            Diagnostic::warning(
                "skipped-yaml",
                None,
                format!(
                    "`{}` is in a subdirectory and was not loaded; it {}",
                    s.path.display(),
                    s.why
                ),
            )
            .with_help("subdirectories are not read: pass the subdirectory too, or move the file up; pruning is refused while it is out of view")
        })
        .collect();
    if below.len() > MAX_NAMED {
        out.push(Diagnostic::warning(
            "skipped-yaml",
            None,
            format!(
                "{} more YAML files in subdirectories were not loaded",
                below.len() - MAX_NAMED
            ),
        ));
    }
    out
}

/// Refuses pruning `set` while part of its declaration may be out of view.
pub fn check_prune(unseen: &Unseen, set: &str) -> Result<(), OutOfView> {
    if unseen.suspects.is_empty() && unseen.unfinished.is_empty() {
        return Ok(());
    }
    Err(OutOfView {
        set: set.to_string(),
        files: unseen
            .suspects
            .iter()
            .map(|s| (s.path.clone(), s.why.clone()))
            .collect(),
        unfinished: unseen.unfinished.clone(),
    })
}

/// What an unloaded file says about its set.
#[derive(Debug, PartialEq)]
enum Peeked {
    Set(String),
    /// Apps without a `name:`: the file joins whichever set it is loaded with.
    Nameless,
    /// YAML without `name:` and without `apps:`: some other tool's file.
    NotAManifest,
    /// It may belong to any set; why.
    Unknown(String),
}

/// Reads (at most a manifest's size) and parses `path` to find its top-level `name`.
fn peek(path: &Path) -> Peeked {
    // A FIFO or device would block or never end: only regular files are opened.
    match std::fs::metadata(path) {
        Ok(meta) if meta.is_file() && meta.len() <= super::MAX_FILE_BYTES => {}
        Ok(meta) if meta.is_file() => return Peeked::Unknown("too large to check".into()),
        Ok(_) => return Peeked::Unknown("not a regular file".into()),
        Err(e) => return Peeked::Unknown(format!("cannot be read: {e}")),
    }
    let bytes = match super::source::read_limited(path) {
        Ok(bytes) => bytes,
        Err(e) => return Peeked::Unknown(format!("cannot be read: {e}")),
    };
    let bytes = bytes.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(&bytes);
    let Ok(text) = std::str::from_utf8(bytes) else {
        return Peeked::Unknown("not UTF-8 text".into());
    };
    let file = super::source::SourceFile::new(path, text.to_string());
    let Ok(root) = yaml::parse(&file) else {
        return Peeked::Unknown("not valid YAML".into());
    };
    match root.entry("name").map(|e| &e.value.value) {
        Some(Value::Scalar(s)) if !s.text.contains('$') => Peeked::Set(s.text.clone()),
        Some(_) => Peeked::Unknown("its `name` cannot be read without loading it".into()),
        None if root.entry("apps").is_some() => Peeked::Nameless,
        None => Peeked::NotAManifest,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn peeks_at_the_set() {
        let dir = tempfile::tempdir().unwrap();
        // Each case: file text, what the peek says, why.
        let cases = [
            (
                "version: 1\nname: finance\napps: {}\n",
                Peeked::Set("finance".into()),
                "a plain name",
            ),
            (
                "name: \"finance\" # quoted\n",
                Peeked::Set("finance".into()),
                "quotes and comments are YAML, not part of the name",
            ),
            (
                "apps:\n  a: {displayName: A}\n",
                Peeked::Nameless,
                "it joins whichever set it is loaded with",
            ),
            (
                "name: \"${var:SET}\"\n",
                Peeked::Unknown("its `name` cannot be read without loading it".into()),
                "interpolated",
            ),
            (
                "services:\n  web: {image: nginx}\n",
                Peeked::NotAManifest,
                "another tool's YAML",
            ),
            (
                "name: [unclosed\n",
                Peeked::Unknown("not valid YAML".into()),
                "broken YAML may be anything",
            ),
        ];
        for (i, (text, expected, why)) in cases.into_iter().enumerate() {
            let path = dir.path().join(format!("{i}.yaml"));
            std::fs::write(&path, text).unwrap();
            assert_eq!(peek(&path), expected, "{why}");
        }
        assert!(matches!(
            peek(&dir.path().join("missing.yaml")),
            Peeked::Unknown(_)
        ));
    }

    #[test]
    fn finds_what_was_not_loaded() {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path();
        for name in [
            "m/a.yaml",
            "m/b.YML",
            "m/notes.txt",
            "m/sub/c.yaml",
            "m/sub/deeper/d.Yaml",
            "m/.hidden/e.yaml",
        ] {
            let path = d.join(name);
            std::fs::create_dir_all(path.parent().unwrap()).unwrap();
            std::fs::write(path, "name: x\n").unwrap();
        }
        std::os::unix::fs::symlink("..", d.join("m/sub/up")).unwrap();
        // A directory: what is below it, never through the symlink, never hidden.
        let s = survey(&[d.join("m")], &[d.join("m/a.yaml"), d.join("m/b.YML")]);
        let names: Vec<(String, bool)> = s
            .unloaded
            .iter()
            .map(|u| {
                (
                    u.path.strip_prefix(d).unwrap().display().to_string(),
                    u.below,
                )
            })
            .collect();
        assert_eq!(
            names,
            [
                ("m/sub/c.yaml".to_string(), true),
                ("m/sub/deeper/d.Yaml".to_string(), true)
            ]
        );
        assert!(s.unfinished.is_empty());
        // A file: its siblings, the loaded one excluded however it is spelled.
        let s = survey(&[d.join("m/./a.yaml")], &[d.join("m/./a.yaml")]);
        let names: Vec<(String, bool)> = s
            .unloaded
            .iter()
            .map(|u| {
                (
                    u.path.file_name().unwrap().to_string_lossy().into_owned(),
                    u.below,
                )
            })
            .collect();
        assert_eq!(names, [("b.YML".to_string(), false)]);
        assert!(
            check_prune(&assess(&s, "x"), "x").is_err(),
            "the sibling declares the same set"
        );
        assert!(check_prune(&assess(&s, "y"), "y").is_ok(), "another set");
    }

    #[test]
    fn a_nameless_file_joins_its_directorys_set() {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path();
        let files = [
            ("m/set.yaml", "version: 1\nname: x\nprune: true\napps: {}\n"),
            ("m/other/00-set.yaml", "version: 1\nname: y\n"),
            (
                "m/other/apps.yaml",
                "version: 1\napps: {a: {displayName: A}}\n",
            ),
            ("m/mine/00-set.yaml", "version: 1\nname: x\n"),
            (
                "m/mine/apps.yaml",
                "version: 1\napps: {b: {displayName: B}}\n",
            ),
            (
                "m/loose/apps.yaml",
                "version: 1\napps: {c: {displayName: C}}\n",
            ),
            ("m/ci/compose.yml", "services: {web: {image: nginx}}\n"),
        ];
        for (name, text) in files {
            let path = d.join(name);
            std::fs::create_dir_all(path.parent().unwrap()).unwrap();
            std::fs::write(path, text).unwrap();
        }
        let unseen = assess(&survey(&[d.join("m")], &[d.join("m/set.yaml")]), "x");
        let suspects: Vec<(String, String)> = unseen
            .suspects
            .iter()
            .map(|s| {
                let path = s.path.strip_prefix(d).unwrap().display().to_string();
                (path, s.why.clone())
            })
            .collect();
        // Why each is (or is not) here: another set's directory is left alone, a directory of
        // this set is not, a file whose set cannot be told counts, another tool's YAML does not.
        assert_eq!(
            suspects,
            [
                (
                    "m/loose/apps.yaml".to_string(),
                    "declares apps without a `name`".to_string()
                ),
                (
                    "m/mine/00-set.yaml".to_string(),
                    "declares `name: x`".to_string()
                ),
                (
                    "m/mine/apps.yaml".to_string(),
                    "declares apps; its directory declares `name: x`".to_string()
                ),
            ]
        );
        assert_eq!(warnings(&unseen).len(), 3, "each is warned about");
    }

    #[test]
    fn a_search_cut_short_stops_pruning_only() {
        // Why: what the bounds leave unseen may hold apps of the set.
        let dir = tempfile::tempdir().unwrap();
        let deep = (0..=MAX_DEPTH).fold(dir.path().join("m"), |p, i| p.join(format!("d{i}")));
        std::fs::create_dir_all(&deep).unwrap();
        std::fs::write(dir.path().join("m/set.yaml"), "name: x\n").unwrap();
        let s = survey(&[dir.path().join("m")], &[dir.path().join("m/set.yaml")]);
        assert_eq!(s.unfinished, [dir.path().join("m")]);
        let unseen = assess(&s, "x");
        assert!(
            warnings(&unseen).is_empty(),
            "no warning for a search cut short"
        );
        let refusal = check_prune(&unseen, "x").unwrap_err().to_string();
        assert!(refusal.contains("too many files to check"), "{refusal}");
    }
}
