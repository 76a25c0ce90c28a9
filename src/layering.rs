//! The layering test: dependencies between appreg's modules point one way, and the modules inside
//! the engine, graph and credentials import one another without circles.
//!
//! It reads the source, not the compiled crate: every `crate::…` and `super::…` path outside
//! comments and test modules counts as an import. A layer that imports one above it (the engine
//! reaching into `cli`, the emulator into the client side) fails here before it can set.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// Each top-level module and the top-level modules it may import (besides itself).
const ALLOWED: &[(&str, &[&str])] = &[
    (
        "cli",
        &[
            "catalogue",
            "credentials",
            "emulator",
            "engine",
            "graph",
            "manifest",
            "model",
            "output",
        ],
    ),
    (
        "engine",
        &["catalogue", "credentials", "graph", "manifest", "model"],
    ),
    ("output", &["catalogue", "engine", "manifest", "model"]),
    ("manifest", &["catalogue", "credentials", "model"]),
    ("credentials", &["graph", "manifest", "model"]),
    ("graph", &[]),
    ("model", &["catalogue"]),
    ("catalogue", &[]),
    // The sandbox tenant imports nothing of the client side.
    ("emulator", &["catalogue"]),
];

/// Circles between the first-level modules of a directory that are known and not yet cut. The list
/// may only shrink: a new circle, or a bigger one, fails the test.
const KNOWN_CIRCLES: &[(&str, &[&str])] = &[];

fn src() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("src")
}

/// The module path of a source file under src/ (`engine/kinds/mod.rs` -> [engine, kinds]).
fn module_of(file: &Path) -> Vec<String> {
    let relative = file.strip_prefix(src()).expect("under src");
    let mut parts: Vec<String> = relative
        .with_extension("")
        .iter()
        .map(|p| p.to_string_lossy().into_owned())
        .collect();
    if parts.last().is_some_and(|p| p == "mod") {
        parts.pop();
    }
    parts
}

fn files(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).expect("readable src") {
        let path = entry.expect("entry").path();
        if path.is_dir() {
            files(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

/// The source without comments and without its unit-test module (tests may reach anywhere).
fn code(text: &str) -> String {
    let text = match text.find("#[cfg(test)]\nmod tests") {
        Some(at) => &text[..at],
        None => text,
    };
    text.lines()
        .map(|l| match l.find("//") {
            Some(at) if !l[..at].contains('"') => &l[..at],
            _ => l,
        })
        .collect::<Vec<_>>()
        .join("\n")
}

/// Top-level items of a brace group, split on commas outside nested braces.
fn group_items(body: &str) -> Vec<String> {
    let (mut out, mut current, mut depth) = (Vec::new(), String::new(), 0);
    for c in body.chars() {
        match c {
            '{' => depth += 1,
            '}' => depth -= 1,
            _ => {}
        }
        if c == ',' && depth == 0 {
            out.push(std::mem::take(&mut current));
        } else {
            current.push(c);
        }
    }
    out.push(current);
    out.into_iter()
        .map(|s| s.trim().to_string())
        .filter(|s| !s.is_empty())
        .collect()
}

fn is_ident(c: char) -> bool {
    c.is_ascii_alphanumeric() || c == '_'
}

/// Every path the code names from `crate::` or `super::`, as (base, segments).
fn paths(code: &str) -> Vec<(&'static str, Vec<String>)> {
    let mut out = Vec::new();
    for base in ["crate", "super"] {
        let needle = format!("{base}::");
        let mut from = 0;
        while let Some(found) = code[from..].find(&needle) {
            let start = from + found;
            from = start + needle.len();
            if start > 0 && code[..start].chars().last().is_some_and(is_ident) {
                continue;
            }
            let mut segments = Vec::new();
            let mut at = from;
            loop {
                let rest = &code[at..];
                if let Some(inner) = rest.strip_prefix('{') {
                    let mut depth = 1;
                    let end = inner
                        .char_indices()
                        .find(|(_, c)| {
                            match c {
                                '{' => depth += 1,
                                '}' => depth -= 1,
                                _ => {}
                            }
                            depth == 0
                        })
                        .map_or(inner.len(), |(i, _)| i);
                    for item in group_items(&inner[..end]) {
                        let first: String = item.chars().take_while(|c| is_ident(*c)).collect();
                        let mut with = segments.clone();
                        with.push(first);
                        out.push((base, with));
                    }
                    segments.clear();
                    break;
                }
                let ident: String = rest.chars().take_while(|c| is_ident(*c)).collect();
                if ident.is_empty() {
                    break;
                }
                at += ident.len();
                segments.push(ident);
                if code[at..].starts_with("::") {
                    at += 2;
                } else {
                    break;
                }
            }
            if !segments.is_empty() {
                out.push((base, segments));
            }
        }
    }
    out
}

/// Absolute module paths each file imports, by the file's module path.
fn imports() -> BTreeMap<Vec<String>, BTreeSet<Vec<String>>> {
    let mut all = Vec::new();
    files(&src(), &mut all);
    let mut out = BTreeMap::new();
    for file in all {
        let module = module_of(&file);
        let text = std::fs::read_to_string(&file).expect("readable source");
        let parent = &module[..module.len().saturating_sub(1)];
        let targets = paths(&code(&text))
            .into_iter()
            .map(|(base, segments)| {
                let mut target: Vec<String> = if base == "crate" {
                    Vec::new()
                } else {
                    parent.to_vec()
                };
                let mut segments = segments.into_iter().peekable();
                if base == "super" {
                    while segments.peek().is_some_and(|s| s == "super") {
                        segments.next();
                        target.pop();
                    }
                }
                target.extend(segments);
                target
            })
            .collect();
        out.insert(module, targets);
    }
    out
}

/// Edges between the first-level modules of `dir` (nested files count as their first-level module;
/// the directory's own mod.rs is above its children and left out).
fn edges(
    imports: &BTreeMap<Vec<String>, BTreeSet<Vec<String>>>,
    dir: &str,
) -> BTreeSet<(String, String)> {
    let children: BTreeSet<String> = imports
        .keys()
        .filter(|m| m.len() >= 2 && m[0] == dir)
        .map(|m| m[1].clone())
        .collect();
    let mut out = BTreeSet::new();
    for (module, targets) in imports {
        if module.len() < 2 || module[0] != dir {
            continue;
        }
        for target in targets {
            if target.len() >= 2
                && target[0] == dir
                && children.contains(&target[1])
                && target[1] != module[1]
            {
                out.insert((module[1].clone(), target[1].clone()));
            }
        }
    }
    out
}

/// Groups of modules that reach one another (strongly connected, more than one module).
fn circles(edges: &BTreeSet<(String, String)>) -> Vec<BTreeSet<String>> {
    let nodes: BTreeSet<&String> = edges.iter().flat_map(|(a, b)| [a, b]).collect();
    let reach = |from: &String| -> BTreeSet<String> {
        let mut seen = BTreeSet::new();
        let mut todo = vec![from.clone()];
        while let Some(at) = todo.pop() {
            for (a, b) in edges {
                if *a == at && seen.insert(b.clone()) {
                    todo.push(b.clone());
                }
            }
        }
        seen
    };
    let reachable: BTreeMap<&String, BTreeSet<String>> =
        nodes.iter().map(|n| (*n, reach(n))).collect();
    let mut out: Vec<BTreeSet<String>> = Vec::new();
    for node in &nodes {
        let group: BTreeSet<String> = nodes
            .iter()
            .filter(|other| {
                *other == node
                    || (reachable[*node].contains(**other) && reachable[**other].contains(*node))
            })
            .map(|n| (*n).clone())
            .collect();
        if group.len() > 1 && !out.contains(&group) {
            out.push(group);
        }
    }
    out
}

#[test]
fn no_layer_imports_one_above_it() {
    let imports = imports();
    let mut problems = Vec::new();
    for (module, targets) in &imports {
        let Some(top) = module.first() else { continue };
        let Some((_, allowed)) = ALLOWED.iter().find(|(m, _)| m == top) else {
            continue;
        };
        for target in targets {
            let Some(other) = target.first() else {
                continue;
            };
            let known = ALLOWED.iter().any(|(m, _)| m == other);
            if known && other != top && !allowed.contains(&other.as_str()) {
                problems.push(format!(
                    "{} imports {}",
                    module.join("::"),
                    target.join("::")
                ));
            }
        }
    }
    assert!(
        problems.is_empty(),
        "imports against the layers:\n{}",
        problems.join("\n")
    );
}

#[test]
fn modules_inside_a_layer_import_one_another_without_circles() {
    let imports = imports();
    let mut problems = Vec::new();
    for (dir, _) in ALLOWED {
        for circle in circles(&edges(&imports, dir)) {
            let known = KNOWN_CIRCLES.iter().any(|(d, members)| {
                d == dir && circle.iter().all(|m| members.contains(&m.as_str()))
            });
            if !known {
                let members: Vec<&str> = circle.iter().map(String::as_str).collect();
                problems.push(format!("{dir}: {}", members.join(" <-> ")));
            }
        }
    }
    assert!(
        problems.is_empty(),
        "import circles:\n{}",
        problems.join("\n")
    );
}

#[test]
fn the_scan_sees_imports_and_circles() {
    // The scanner must find what it guards against, or the tests above could never fail.
    let sample = "use super::{a::{self, B}, c};\nuse crate::engine::kinds::X; // crate::cli\n";
    let found = paths(&code(sample));
    assert!(found.contains(&("super", vec!["a".into()])));
    assert!(found.contains(&("super", vec!["c".into()])));
    assert!(found.contains(&("crate", vec!["engine".into(), "kinds".into(), "X".into()])));
    assert!(
        !found
            .iter()
            .any(|(_, p)| p.first().is_some_and(|s| s == "cli"))
    );
    let sample: BTreeSet<(String, String)> = [("a", "b"), ("b", "a"), ("b", "c")]
        .into_iter()
        .map(|(a, b)| (a.to_string(), b.to_string()))
        .collect();
    let found = circles(&sample);
    assert_eq!(found.len(), 1);
    assert_eq!(found[0], ["a".to_string(), "b".to_string()].into());
    let engine = edges(&imports(), "engine");
    assert!(engine.contains(&("apply".to_string(), "kinds".to_string())));
}
