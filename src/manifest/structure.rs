//! The structural check: a positioned YAML tree against the manifest JSON Schema.
//!
//! The schema generated from the wire types is the one contract: editors validate against it, and so
//! does this walker, which knows the subset of JSON Schema that schemars emits for them (`$ref`,
//! `anyOf`/`oneOf`, `enum`/`const`, `type`, `properties`, `required`, `additionalProperties`,
//! `items`, length, `pattern` and range keywords). Every problem is collected, none stops the walk.

use std::ops::Range;
use std::sync::Arc;

use serde_json::{Map, Value as Json};

use super::diagnostic::{Diagnostic, closest};
use super::source::{Location, SourceFile};
use super::yaml::{Node, Plain, Step, Value, resolve_plain};

pub struct Checker<'s> {
    definitions: &'s Map<String, Json>,
    file: Arc<SourceFile>,
    pub diagnostics: Vec<Diagnostic>,
}

impl<'s> Checker<'s> {
    pub fn new(root_schema: &'s Json, file: Arc<SourceFile>) -> Self {
        static EMPTY: std::sync::LazyLock<Map<String, Json>> = std::sync::LazyLock::new(Map::new);
        Checker {
            definitions: root_schema
                .get("definitions")
                .and_then(Json::as_object)
                .unwrap_or(&EMPTY),
            file,
            diagnostics: Vec::new(),
        }
    }

    fn resolve(&self, schema: &'s Json) -> &'s Json {
        let mut schema = schema;
        while let Some(name) = schema
            .get("$ref")
            .and_then(Json::as_str)
            .and_then(|r| r.strip_prefix("#/definitions/"))
        {
            match self.definitions.get(name) {
                Some(target) => schema = target,
                None => break,
            }
        }
        schema
    }

    fn report(
        &mut self,
        code: &'static str,
        span: Range<usize>,
        message: String,
    ) -> &mut Diagnostic {
        let location = Location {
            file: self.file.clone(),
            span,
        };
        self.diagnostics
            .push(Diagnostic::error(code, Some(location), message));
        self.diagnostics.last_mut().expect("just pushed")
    }

    /// Checks `node` against `schema`. `path` names the node in messages; `key_span` is the span of
    /// the mapping key that holds it, where a missing field is reported.
    pub fn check(
        &mut self,
        schema: &'s Json,
        node: &Node,
        path: &mut Vec<Step>,
        key_span: Option<&Range<usize>>,
    ) {
        let schema = self.resolve(schema);
        if let Some(branches) = schema
            .get("anyOf")
            .or_else(|| schema.get("oneOf"))
            .and_then(Json::as_array)
        {
            self.check_alternatives(branches, node, path, key_span);
            return;
        }
        if let Some(values) = schema.get("enum").and_then(Json::as_array) {
            let allowed: Vec<&str> = values.iter().filter_map(Json::as_str).collect();
            self.check_choice(&allowed, node, path);
            return;
        }
        if let Some(value) = schema.get("const").and_then(Json::as_str) {
            self.check_choice(&[value], node, path);
            return;
        }
        let types = types_of(schema);
        if !types.is_empty() && !types.iter().any(|t| fits(t, node)) {
            self.type_mismatch(&types, node, path);
            return;
        }
        match &node.value {
            Value::Map(entries) => self.check_object(schema, node, entries, path, key_span),
            Value::Seq(items) => {
                if let Some(item_schema) = schema.get("items") {
                    for (i, item) in items.iter().enumerate() {
                        path.push(Step::Index(i));
                        self.check(item_schema, item, path, None);
                        path.pop();
                    }
                }
            }
            Value::Scalar(scalar) => self.check_scalar(schema, node, &scalar.text, path),
            Value::Null => {}
        }
    }

    fn check_alternatives(
        &mut self,
        branches: &'s [Json],
        node: &Node,
        path: &mut Vec<Step>,
        key_span: Option<&Range<usize>>,
    ) {
        let branches: Vec<&'s Json> = branches.iter().map(|b| self.resolve(b)).collect();
        let (nulls, others): (Vec<&Json>, Vec<&Json>) =
            branches.into_iter().partition(|b| types_of(b) == ["null"]);
        if matches!(node.value, Value::Null) && !nulls.is_empty() {
            return;
        }
        if others
            .iter()
            .all(|b| b.get("const").is_some_and(Json::is_string))
        {
            let allowed: Vec<&str> = others.iter().filter_map(|b| b["const"].as_str()).collect();
            self.check_choice(&allowed, node, path);
            return;
        }
        if let [only] = others.as_slice() {
            self.check(only, node, path, key_span);
            return;
        }
        // Alternatives of distinct JSON types (`adopt:` is a GUID or a mapping): the node's own
        // type picks the branch.
        let typed: Vec<Vec<&str>> = others.iter().map(|b| types_of(b)).collect();
        let all: Vec<&str> = typed.concat();
        let distinct: std::collections::BTreeSet<&str> = all.iter().copied().collect();
        if typed.iter().all(|t| !t.is_empty()) && distinct.len() == all.len() {
            match typed.iter().position(|t| t.iter().any(|t| fits(t, node))) {
                Some(i) => self.check(others[i], node, path, key_span),
                None => self.type_mismatch(&all, node, path),
            }
            return;
        }
        // Externally tagged alternatives: a mapping with exactly one of the branch keys.
        let tags: Vec<&str> = others
            .iter()
            .filter_map(|b| b.get("required")?.as_array()?.first()?.as_str())
            .collect();
        let expected = tags
            .iter()
            .map(|t| format!("`{t}`"))
            .collect::<Vec<_>>()
            .join(" or ");
        let Value::Map(entries) = &node.value else {
            let found = node.kind();
            self.report(
                "wrong-type",
                node.span.clone(),
                format!(
                    "{} should be a mapping with {expected}, found {found}",
                    describe(path)
                ),
            )
            .with_label_mut("expected a mapping");
            return;
        };
        match entries.as_slice() {
            [entry] => match others.iter().position(|b| {
                b.get("required")
                    .and_then(Json::as_array)
                    .and_then(|r| r.first())
                    .and_then(Json::as_str)
                    == Some(entry.key.as_str())
            }) {
                Some(i) => self.check(others[i], node, path, key_span),
                None => {
                    let hint = closest(&entry.key, tags.iter().copied());
                    let diagnostic = self
                        .report(
                            "unknown-field",
                            entry.key_span.clone(),
                            format!("unknown field `{}` in {}", entry.key, describe(path)),
                        )
                        .with_label_mut("unknown field");
                    diagnostic.help = Some(match hint {
                        Some(h) => format!("did you mean `{h}`?"),
                        None => format!("expected {expected}"),
                    });
                }
            },
            _ => {
                self.report(
                    "wrong-type",
                    node.span.clone(),
                    format!("{} needs exactly one of {expected}", describe(path)),
                )
                .with_label_mut("one key expected");
            }
        }
    }

    fn check_choice(&mut self, allowed: &[&str], node: &Node, path: &[Step]) {
        let text = match &node.value {
            Value::Scalar(s) => s.text.as_str(),
            _ => {
                let found = node.kind();
                self.report(
                    "wrong-type",
                    node.span.clone(),
                    format!(
                        "{} should be one of {}, found {found}",
                        describe(path),
                        list(allowed)
                    ),
                )
                .with_label_mut("expected text");
                return;
            }
        };
        if allowed.contains(&text) {
            return;
        }
        let hint = closest(text, allowed.iter().copied());
        let diagnostic = self
            .report(
                "unknown-value",
                node.span.clone(),
                format!("`{text}` is not a valid value for {}", describe(path)),
            )
            .with_label_mut("unknown value");
        diagnostic.help = Some(match hint {
            Some(h) => format!("did you mean `{h}`?"),
            None => format!("expected one of {}", list(allowed)),
        });
    }

    fn check_object(
        &mut self,
        schema: &'s Json,
        node: &Node,
        entries: &[super::yaml::Entry],
        path: &mut Vec<Step>,
        key_span: Option<&Range<usize>>,
    ) {
        let properties = schema.get("properties").and_then(Json::as_object);
        let additional = schema.get("additionalProperties");
        for entry in entries {
            path.push(Step::Key(entry.key.clone()));
            if let Some(property) = properties.and_then(|p| p.get(&entry.key)) {
                self.check(property, &entry.value, path, Some(&entry.key_span));
            } else {
                match additional {
                    Some(Json::Bool(false)) => {
                        path.pop();
                        let names: Vec<&str> = properties
                            .map(|p| p.keys().map(String::as_str).collect())
                            .unwrap_or_default();
                        let hint = closest(&entry.key, names.iter().copied());
                        let diagnostic = self
                            .report(
                                "unknown-field",
                                entry.key_span.clone(),
                                format!("unknown field `{}` in {}", entry.key, describe(path)),
                            )
                            .with_label_mut("unknown field");
                        diagnostic.help = Some(match hint {
                            Some(h) => format!("did you mean `{h}`?"),
                            None => format!("expected one of {}", list(&names)),
                        });
                        continue;
                    }
                    Some(value_schema) if value_schema.is_object() => {
                        self.check(value_schema, &entry.value, path, Some(&entry.key_span));
                    }
                    _ => {}
                }
            }
            path.pop();
        }
        let required = schema.get("required").and_then(Json::as_array);
        for name in required.into_iter().flatten().filter_map(Json::as_str) {
            if !entries.iter().any(|e| e.key == name) {
                let span = key_span
                    .cloned()
                    .unwrap_or(node.span.start..node.span.start);
                self.report(
                    "missing-field",
                    span,
                    format!("{} is missing the required field `{name}`", describe(path)),
                )
                .with_label_mut(format!("`{name}` missing"))
                .help = Some(format!("add `{name}:` to this mapping"));
            }
        }
    }

    fn check_scalar(&mut self, schema: &Json, node: &Node, text: &str, path: &[Step]) {
        let length = text.chars().count() as u64;
        if let Some(min) = schema
            .get("minLength")
            .and_then(Json::as_u64)
            .filter(|&m| length < m)
        {
            let message = if min == 1 {
                format!("{} must not be empty", describe(path))
            } else {
                format!("{} must be at least {min} characters", describe(path))
            };
            self.report("too-short", node.span.clone(), message)
                .with_label_mut("too short");
        }
        if let Some(max) = schema
            .get("maxLength")
            .and_then(Json::as_u64)
            .filter(|&m| length > m)
        {
            self.report(
                "too-long",
                node.span.clone(),
                format!(
                    "{} is {length} characters long, the limit is {max}",
                    describe(path)
                ),
            )
            .with_label_mut("too long");
        }
        if let Some(pattern) = schema.get("pattern").and_then(Json::as_str) {
            let compiled = compiled(pattern);
            let matches = compiled.as_ref().is_none_or(|re| re.is_match(text));
            if !matches {
                let diagnostic = self
                    .report(
                        "bad-format",
                        node.span.clone(),
                        format!("`{text}` is not a valid value for {}", describe(path)),
                    )
                    .with_label_mut(format!("must match {pattern}"));
                // A lowercase-only pattern (the set name) says which spelling it wants.
                let lower = text.to_lowercase();
                if lower != text && compiled.is_some_and(|re| re.is_match(&lower)) {
                    diagnostic.help = Some(format!(
                        "write it in lowercase, `{lower}`: names that differ only in case would be the same to Graph"
                    ));
                }
            }
        }
        if let Plain::Int(value) = scalar_meaning(node) {
            let min = schema.get("minimum").and_then(Json::as_i64);
            let max = schema.get("maximum").and_then(Json::as_i64);
            let below = min.is_some_and(|m| value < m);
            let above = max.is_some_and(|m| value > m);
            if below || above {
                let range = match (min, max) {
                    (Some(a), Some(b)) if a == b => format!("must be {a}"),
                    (Some(a), Some(b)) => format!("must be between {a} and {b}"),
                    (Some(a), None) => format!("must be at least {a}"),
                    (None, Some(b)) => format!("must be at most {b}"),
                    (None, None) => unreachable!("a bound was crossed"),
                };
                self.report(
                    "out-of-range",
                    node.span.clone(),
                    format!("{} {range}, found {value}", describe(path)),
                )
                .with_label_mut("out of range");
            }
        }
    }

    fn type_mismatch(&mut self, types: &[&str], node: &Node, path: &[Step]) {
        let expected: Vec<&str> = types
            .iter()
            .filter(|t| **t != "null")
            .map(|t| match *t {
                "string" => "text",
                "integer" => "a whole number",
                "number" => "a number",
                "boolean" => "true or false",
                "array" => "a list",
                "object" => "a mapping",
                other => other,
            })
            .collect();
        let found = node.kind();
        let label = format!("expected {}", expected.join(" or "));
        let diagnostic = self
            .report(
                "wrong-type",
                node.span.clone(),
                format!(
                    "{} should be {}, found {found}",
                    describe(path),
                    expected.join(" or ")
                ),
            )
            .with_label_mut(label);
        diagnostic.help = match (&node.value, types.first().copied()) {
            (Value::Scalar(s), Some("string")) if s.plain => {
                Some(format!("quote it to make it text: \"{}\"", s.text))
            }
            (Value::Scalar(s), Some("boolean"))
                if ["yes", "no", "on", "off", "y", "n"]
                    .contains(&s.text.to_lowercase().as_str()) =>
            {
                Some(format!(
                    "YAML 1.2 reads `{}` as text; write true or false",
                    s.text
                ))
            }
            (Value::Scalar(s), Some("array")) => Some(list_help(&s.text)),
            _ => None,
        };
    }
}

/// How to write `text` as a list. Words separated by spaces or commas (`User.Read Mail.Send`, as
/// OAuth scope strings are written) are separate items: `[User.Read Mail.Send]` would be one item
/// holding a space, which is refused in turn.
fn list_help(text: &str) -> String {
    let items: Vec<&str> = text
        .split_whitespace()
        .map(|item| item.trim_end_matches(','))
        .filter(|item| !item.is_empty())
        .collect();
    if items.len() > 1 {
        format!("write a list, one item each: [{}]", items.join(", "))
    } else {
        format!("write a list: [{}]", text.trim())
    }
}

trait LabelMut {
    fn with_label_mut(&mut self, label: impl Into<String>) -> &mut Self;
}

impl LabelMut for Diagnostic {
    fn with_label_mut(&mut self, label: impl Into<String>) -> &mut Self {
        self.label = label.into();
        self
    }
}

/// The schema's pattern, compiled once per process rather than once per value (every file states
/// a set name); None when it does not compile, which lets every value pass.
fn compiled(pattern: &str) -> Option<regex::Regex> {
    static CACHE: std::sync::LazyLock<
        std::sync::Mutex<std::collections::HashMap<String, Option<regex::Regex>>>,
    > = std::sync::LazyLock::new(Default::default);
    let mut cache = CACHE
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    cache
        .entry(pattern.to_string())
        .or_insert_with(|| regex::Regex::new(pattern).ok())
        .clone()
}

fn types_of(schema: &Json) -> Vec<&str> {
    match schema.get("type") {
        Some(Json::String(t)) => vec![t.as_str()],
        Some(Json::Array(ts)) => ts.iter().filter_map(Json::as_str).collect(),
        _ => Vec::new(),
    }
}

fn scalar_meaning(node: &Node) -> Plain {
    match &node.value {
        Value::Scalar(s) if s.plain => resolve_plain(&s.text),
        Value::Null => Plain::Null,
        _ => Plain::Str,
    }
}

fn fits(json_type: &str, node: &Node) -> bool {
    match (json_type, &node.value) {
        ("null", Value::Null) => true,
        ("object", Value::Map(_)) => true,
        ("array", Value::Seq(_)) => true,
        (_, Value::Scalar(_)) => {
            let meaning = scalar_meaning(node);
            matches!(
                (json_type, meaning),
                ("string", Plain::Str)
                    | ("boolean", Plain::Bool(_))
                    | ("integer", Plain::Int(_))
                    | ("number", Plain::Int(_) | Plain::Float(_))
            )
        }
        _ => false,
    }
}

/// The node as JSON, for serde. Only meaningful after the node passed the check.
pub fn to_json(node: &Node) -> Json {
    match &node.value {
        Value::Null => Json::Null,
        Value::Scalar(s) if !s.plain => Json::String(s.text.clone()),
        Value::Scalar(s) => match resolve_plain(&s.text) {
            Plain::Null => Json::Null,
            Plain::Bool(b) => Json::Bool(b),
            Plain::Int(i) => Json::from(i),
            Plain::Float(f) => serde_json::Number::from_f64(f).map_or(Json::Null, Json::Number),
            Plain::Str => Json::String(s.text.clone()),
        },
        Value::Seq(items) => Json::Array(items.iter().map(to_json).collect()),
        Value::Map(entries) => Json::Object(
            entries
                .iter()
                .map(|e| (e.key.clone(), to_json(&e.value)))
                .collect(),
        ),
    }
}

/// `apps.crm.web.redirectUris[0]` style name of a path, in backticks; "the manifest" for the root.
pub fn describe(path: &[Step]) -> String {
    if path.is_empty() {
        return "the manifest".to_string();
    }
    let mut text = String::new();
    for step in path {
        match step {
            Step::Key(k) if text.is_empty() => text.push_str(k),
            Step::Key(k) => {
                text.push('.');
                text.push_str(k);
            }
            Step::Index(i) => text.push_str(&format!("[{i}]")),
        }
    }
    format!("`{text}`")
}

fn list(values: &[&str]) -> String {
    values
        .iter()
        .map(|v| format!("`{v}`"))
        .collect::<Vec<_>>()
        .join(", ")
}
