//! YAML text -> a tree of nodes that remember where they came from.
//!
//! serde deserializers stop at the first problem and forget positions; validation needs every problem
//! and a file:line:column for each. So the loader builds this small tree from the YAML event stream
//! (granit-parser, the parser under serde-saphyr) and checks it against the schema before any serde
//! type is built.
//!
//! The tree is bounded: nesting depth, node count and text bytes after alias expansion (the copies
//! anchors keep included), and one document per file. An alias bomb, whether it repeats many small
//! nodes or one long string, therefore fails fast in bounded memory instead of expanding.

use std::collections::HashMap;
use std::ops::Range;
use std::sync::Arc;

use serde_saphyr::granit_parser::{Event, Parser, ScalarStyle, ScanError, Span, StrInput};

type YamlParser<'a> = Parser<'a, StrInput<'a>>;

use super::diagnostic::Diagnostic;
use super::source::{Location, SourceFile};

/// Deepest nesting accepted; real manifests stay under 10.
pub const MAX_DEPTH: usize = 64;
/// Most nodes a file may expand to, aliases included.
pub const MAX_NODES: usize = 100_000;
/// Most bytes of scalar text a file may expand to, aliases included: sixteen times the largest
/// file, far beyond any real manifest, and small enough that memory stays bounded.
pub const MAX_TEXT_BYTES: usize = 16 * super::MAX_FILE_BYTES as usize;

#[derive(Debug, Clone, PartialEq)]
pub struct Node {
    /// Byte range of the node's text in its file.
    pub span: Range<usize>,
    pub value: Value,
}

#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    /// `~`, `null` or nothing at all.
    Null,
    Scalar(Scalar),
    Seq(Vec<Node>),
    Map(Vec<Entry>),
}

#[derive(Debug, Clone, PartialEq)]
pub struct Scalar {
    pub text: String,
    /// Plain scalars may be numbers or booleans; quoted and block scalars are always strings.
    pub plain: bool,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Entry {
    /// The key's text and where it is.
    pub key: String,
    pub key_span: Range<usize>,
    pub value: Node,
}

/// One step of a path into the tree, for messages and for finding a node again.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Step {
    Key(String),
    Index(usize),
}

impl Node {
    pub fn kind(&self) -> &'static str {
        match &self.value {
            Value::Null => "nothing",
            Value::Scalar(s) if !s.plain => "a string",
            Value::Scalar(s) => match resolve_plain(&s.text) {
                Plain::Bool(_) => "a boolean",
                Plain::Int(_) => "an integer",
                Plain::Float(_) => "a number",
                Plain::Null => "nothing",
                Plain::Str => "a string",
            },
            Value::Seq(_) => "a list",
            Value::Map(_) => "a mapping",
        }
    }

    /// The entry of a mapping with this key.
    pub fn entry(&self, key: &str) -> Option<&Entry> {
        match &self.value {
            Value::Map(entries) => entries.iter().find(|e| e.key == key),
            _ => None,
        }
    }

    /// The node at `path`, or None when the path leaves the tree.
    pub fn at(&self, path: &[Step]) -> Option<&Node> {
        path.iter()
            .try_fold(self, |node, step| match (step, &node.value) {
                (Step::Key(k), Value::Map(_)) => node.entry(k).map(|e| &e.value),
                (Step::Index(i), Value::Seq(items)) => items.get(*i),
                _ => None,
            })
    }

    /// How many nodes this subtree holds, itself included, and the bytes of its scalar text
    /// (mapping keys included).
    fn size(&self) -> (usize, usize) {
        let add = |(n, b): (usize, usize), (m, c): (usize, usize)| (n + m, b + c);
        match &self.value {
            Value::Seq(items) => items.iter().map(Node::size).fold((1, 0), add),
            Value::Map(entries) => entries
                .iter()
                .map(|e| add((1, e.key.len()), e.value.size()))
                .fold((1, 0), add),
            Value::Scalar(s) => (1, s.text.len()),
            Value::Null => (1, 0),
        }
    }
}

/// What a plain scalar means under the YAML 1.2 core schema.
#[derive(Debug, Clone, PartialEq)]
pub enum Plain {
    Null,
    Bool(bool),
    Int(i64),
    Float(f64),
    Str,
}

pub fn resolve_plain(text: &str) -> Plain {
    match text {
        "" | "~" | "null" | "Null" | "NULL" => return Plain::Null,
        "true" | "True" | "TRUE" => return Plain::Bool(true),
        "false" | "False" | "FALSE" => return Plain::Bool(false),
        _ => {}
    }
    let digits = text.strip_prefix(['-', '+']).unwrap_or(text);
    if !digits.is_empty() && digits.bytes().all(|b| b.is_ascii_digit()) {
        return text
            .parse()
            .map(Plain::Int)
            .unwrap_or(Plain::Float(f64::NAN));
    }
    let radix = [("0x", 16), ("0o", 8)]
        .into_iter()
        .find_map(|(prefix, radix)| {
            let digits = text.strip_prefix(prefix)?;
            i64::from_str_radix(digits, radix).ok()
        });
    if let Some(v) = radix {
        return Plain::Int(v);
    }
    let looks_numeric = digits.starts_with(|c: char| c.is_ascii_digit() || c == '.')
        && digits
            .chars()
            .all(|c| c.is_ascii_digit() || matches!(c, '.' | 'e' | 'E' | '-' | '+'));
    if let Some(v) = looks_numeric.then(|| text.parse::<f64>().ok()).flatten() {
        return Plain::Float(v);
    }
    if matches!(digits, ".inf" | ".Inf" | ".INF") {
        return Plain::Float(f64::INFINITY);
    }
    if matches!(text, ".nan" | ".NaN" | ".NAN") {
        return Plain::Float(f64::NAN);
    }
    Plain::Str
}

/// Parses one file. Structural YAML problems (syntax, duplicate keys, limits) come back as
/// diagnostics; a syntax error ends parsing, other problems do not.
pub fn parse(file: &Arc<SourceFile>) -> Result<Node, Vec<Diagnostic>> {
    let mut builder = Builder {
        file,
        anchors: HashMap::new(),
        nodes: 0,
        anchored: 0,
        bytes: 0,
        diagnostics: Vec::new(),
    };
    let mut parser = Parser::new_from_str(&file.text);
    let result = builder.document(&mut parser);
    match result {
        Ok(node) if builder.diagnostics.is_empty() => Ok(node),
        Ok(_) => Err(builder.diagnostics),
        Err(d) => {
            builder.diagnostics.push(*d);
            Err(builder.diagnostics)
        }
    }
}

type Fatal = Box<Diagnostic>;

struct Builder<'f> {
    file: &'f Arc<SourceFile>,
    anchors: HashMap<usize, Node>,
    nodes: usize,
    /// Nodes held by the copies anchors keep.
    anchored: usize,
    /// Bytes of scalar text built so far, aliases and anchor copies included.
    bytes: usize,
    diagnostics: Vec<Diagnostic>,
}

impl Builder<'_> {
    fn location(&self, span: Range<usize>) -> Location {
        Location {
            file: self.file.clone(),
            span,
        }
    }

    fn byte_range(&self, span: &Span) -> Range<usize> {
        let start = self.byte_offset(span.start.byte_offset(), span.start.index());
        let end = self.byte_offset(span.end.byte_offset(), span.end.index());
        start..end.max(start)
    }

    fn byte_offset(&self, bytes: Option<usize>, chars: usize) -> usize {
        bytes.unwrap_or_else(|| {
            self.file
                .text
                .char_indices()
                .nth(chars)
                .map_or(self.file.text.len(), |(i, _)| i)
        })
    }

    fn next<'a>(&self, parser: &mut YamlParser<'a>) -> Result<(Event<'a>, Span), Fatal> {
        match parser.next_event() {
            // Comments are presentation, not data.
            Some(Ok((Event::Comment(..), _))) => self.next(parser),
            Some(Ok(event)) => Ok(event),
            Some(Err(e)) => Err(Box::new(self.syntax_error(&e))),
            None => Err(Box::new(Diagnostic::error(
                "yaml-syntax",
                Some(self.location(self.file.text.len()..self.file.text.len())),
                "the YAML ends unexpectedly",
            ))),
        }
    }

    fn syntax_error(&self, error: &ScanError) -> Diagnostic {
        let mark = error.marker();
        let at = self.byte_offset(mark.byte_offset(), mark.index());
        let end = (at + 1).min(self.file.text.len()).max(at);
        let info = error.info();
        let rest = self.file.text.get(at..).unwrap_or_default();
        if info.contains("unknown anchor") && rest.starts_with('*') {
            let len = rest
                .find(|c: char| c.is_whitespace() || ",[]{}".contains(c))
                .unwrap_or(rest.len());
            let alias = &rest[..len];
            return Diagnostic::error(
                "unknown-alias",
                Some(self.location(at..at + len)),
                format!("alias `{alias}` refers to no anchor"),
            )
            .with_label("unknown alias")
            .with_help(format!(
                "define `&{}` on a value before this alias uses it",
                &alias[1..]
            ));
        }
        if info.contains("recursion limit") {
            // The parser's own bound on flow collections, met before this builder's.
            return Diagnostic::error(
                "too-deep",
                Some(self.location(at..end)),
                format!("the YAML nests deeper than {MAX_DEPTH} levels"),
            )
            .with_label("too deep");
        }
        let mut diagnostic = Diagnostic::error(
            "yaml-syntax",
            Some(self.location(at..end)),
            format!("invalid YAML: {info}"),
        )
        .with_label("here");
        let line_start = self.file.text[..at].rfind('\n').map_or(0, |i| i + 1);
        if info.contains("tab") || self.file.text[line_start..at].contains('\t') {
            diagnostic = diagnostic
                .with_help("YAML indentation must use spaces; replace the tab characters");
        }
        diagnostic
    }

    fn document<'a>(&mut self, parser: &mut YamlParser<'a>) -> Result<Node, Fatal> {
        let mut root = None;
        loop {
            let (event, span) = self.next(parser)?;
            match event {
                Event::StreamStart | Event::DocumentEnd => {}
                Event::DocumentStart(..) if root.is_some() => {
                    let at = self.byte_range(&span);
                    return Err(Box::new(
                        Diagnostic::error(
                            "multiple-documents",
                            Some(self.location(at)),
                            "a manifest file holds one YAML document, this is a second one",
                        )
                        .with_label("second document starts here")
                        .with_help("put each document in a file of its own; a directory of files is merged"),
                    ));
                }
                Event::DocumentStart(..) => {
                    let (event, span) = self.next(parser)?;
                    root = Some(self.node(parser, event, span, 0)?);
                }
                Event::StreamEnd => break,
                _ => {}
            }
        }
        root.ok_or_else(|| {
            Box::new(
                Diagnostic::error(
                    "empty-file",
                    Some(self.location(0..0)),
                    "the manifest file is empty",
                )
                .with_help("a manifest starts with `version: 1` and declares `apps:`"),
            )
        })
    }

    fn count(&mut self, (nodes, bytes): (usize, usize), span: &Range<usize>) -> Result<(), Fatal> {
        self.nodes += nodes;
        self.bytes += bytes;
        if self.bytes > MAX_TEXT_BYTES {
            return Err(Box::new(
                Diagnostic::error(
                    "too-large",
                    Some(self.location(span.clone())),
                    format!("the YAML expands to more than {MAX_TEXT_BYTES} bytes of text"),
                )
                .with_label("expansion passes the limit here")
                .with_help("this is usually an alias that repeats a long value many times; write the values out or split the manifest"),
            ));
        }
        if self.nodes > MAX_NODES {
            return Err(Box::new(
                Diagnostic::error(
                    "too-large",
                    Some(self.location(span.clone())),
                    format!("the YAML expands to more than {MAX_NODES} nodes"),
                )
                .with_label("expansion passes the limit here")
                .with_help("this is usually an alias bomb (aliases of aliases); write the values out or split the manifest"),
            ));
        }
        Ok(())
    }

    fn node<'a>(
        &mut self,
        parser: &mut YamlParser<'a>,
        event: Event<'a>,
        span: Span,
        depth: usize,
    ) -> Result<Node, Fatal> {
        let range = self.byte_range(&span);
        if depth > MAX_DEPTH {
            return Err(Box::new(
                Diagnostic::error(
                    "too-deep",
                    Some(self.location(range)),
                    format!("the YAML nests deeper than {MAX_DEPTH} levels"),
                )
                .with_label("too deep"),
            ));
        }
        let (node, anchor) = match event {
            Event::Scalar(text, style, anchor, tag) => {
                self.count((1, text.len()), &range)?;
                let explicit_string = tag
                    .as_ref()
                    .is_some_and(|t| t.is_yaml_core_schema_tag("str"));
                let plain = style == ScalarStyle::Plain && !explicit_string;
                let value = if plain && matches!(resolve_plain(&text), Plain::Null) {
                    Value::Null
                } else {
                    Value::Scalar(Scalar {
                        text: text.into_owned(),
                        plain,
                    })
                };
                (Node { span: range, value }, anchor)
            }
            Event::SequenceStart(_, anchor, _) => {
                self.count((1, 0), &range)?;
                let mut items = Vec::new();
                let end = loop {
                    let (event, span) = self.next(parser)?;
                    if let Event::SequenceEnd = event {
                        break self.byte_range(&span).end;
                    }
                    items.push(self.node(parser, event, span, depth + 1)?);
                };
                let span = range.start..end.max(range.end);
                (
                    Node {
                        span,
                        value: Value::Seq(items),
                    },
                    anchor,
                )
            }
            Event::MappingStart(_, anchor, _) => {
                self.count((1, 0), &range)?;
                let (entries, end) = self.mapping(parser, depth)?;
                let span = range.start..end.max(range.end);
                (
                    Node {
                        span,
                        value: Value::Map(entries),
                    },
                    anchor,
                )
            }
            Event::Alias(id) => {
                let Some(target) = self.anchors.get(&id) else {
                    return Err(Box::new(
                        Diagnostic::error(
                            "unknown-alias",
                            Some(self.location(range)),
                            "this alias names no anchor",
                        )
                        .with_label("unknown alias"),
                    ));
                };
                let size = target.size();
                let value = target.value.clone();
                self.count(size, &range)?;
                (Node { span: range, value }, 0)
            }
            other => {
                return Err(Box::new(
                    Diagnostic::error(
                        "yaml-syntax",
                        Some(self.location(range)),
                        format!("unexpected YAML element {other:?}"),
                    )
                    .with_label("here"),
                ));
            }
        };
        if anchor != 0 {
            // The copy kept for later aliases costs memory too: nested anchors would otherwise
            // keep one copy of a large subtree per level. Counted apart from the nodes built,
            // so an alias bomb is still stopped at the alias that passes MAX_NODES.
            let (nodes, bytes) = node.size();
            self.anchored += nodes;
            if self.anchored > MAX_NODES {
                return Err(Box::new(
                    Diagnostic::error(
                        "too-large",
                        Some(self.location(node.span.clone())),
                        format!("the YAML's anchors hold more than {MAX_NODES} nodes"),
                    )
                    .with_label("this anchor passes the limit")
                    .with_help("anchors nested in anchors each keep a copy; anchor only the values aliases repeat"),
                ));
            }
            self.count((0, bytes), &node.span)?;
            self.anchors.insert(anchor, node.clone());
        }
        Ok(node)
    }

    /// Reads mapping entries up to MappingEnd. Keys must be scalars; a repeated key is reported and
    /// the first one kept; `<<` merge keys copy entries the mapping does not set itself.
    fn mapping<'a>(
        &mut self,
        parser: &mut YamlParser<'a>,
        depth: usize,
    ) -> Result<(Vec<Entry>, usize), Fatal> {
        let mut entries: Vec<Entry> = Vec::new();
        let mut merged: Vec<Entry> = Vec::new();
        loop {
            let (event, span) = self.next(parser)?;
            if let Event::MappingEnd = event {
                let end = self.byte_range(&span).end;
                for entry in merged {
                    if !entries.iter().any(|e| e.key == entry.key) {
                        entries.push(entry);
                    }
                }
                return Ok((entries, end));
            }
            let key_node = self.node(parser, event, span, depth + 1)?;
            let (value_event, value_span) = self.next(parser)?;
            let value = self.node(parser, value_event, value_span, depth + 1)?;
            let key = match &key_node.value {
                Value::Scalar(s) => s.text.clone(),
                Value::Null => String::new(),
                _ => {
                    self.diagnostics.push(
                        Diagnostic::error(
                            "complex-key",
                            Some(self.location(key_node.span.clone())),
                            "mapping keys must be plain text",
                        )
                        .with_label("this key is a list or a mapping"),
                    );
                    continue;
                }
            };
            let is_merge = key == "<<" && matches!(&key_node.value, Value::Scalar(s) if s.plain);
            if is_merge {
                self.merge(&mut merged, value);
                continue;
            }
            if let Some(first) = entries.iter().find(|e| e.key == key) {
                let (line, col) = self.file.line_col(first.key_span.start);
                self.diagnostics.push(
                    Diagnostic::error(
                        "duplicate-key",
                        Some(self.location(key_node.span.clone())),
                        format!("duplicate key `{key}`"),
                    )
                    .with_label(format!(
                        "`{key}` is already set at line {line}, column {col}"
                    ))
                    .with_help("remove one of the two; YAML does not merge repeated keys"),
                );
                continue;
            }
            entries.push(Entry {
                key,
                key_span: key_node.span,
                value,
            });
        }
    }

    fn merge(&mut self, merged: &mut Vec<Entry>, value: Node) {
        let sources = match value.value {
            Value::Map(entries) => vec![entries],
            Value::Seq(items) => items
                .into_iter()
                .filter_map(|n| match n.value {
                    Value::Map(entries) => Some(entries),
                    _ => None,
                })
                .collect(),
            _ => {
                self.diagnostics.push(
                    Diagnostic::error(
                        "bad-merge",
                        Some(self.location(value.span)),
                        "a `<<` merge key needs a mapping or a list of mappings",
                    )
                    .with_label("not a mapping"),
                );
                return;
            }
        };
        for entry in sources.into_iter().flatten() {
            if !merged.iter().any(|e| e.key == entry.key) {
                merged.push(entry);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse_str(text: &str) -> Result<Node, Vec<Diagnostic>> {
        parse(&SourceFile::new("t.yaml", text.to_string()))
    }

    #[test]
    fn positions_point_at_keys_and_values() {
        let node = parse_str("a:\n  b: [1, 'x']\n").unwrap();
        let b = node
            .at(&[Step::Key("a".into()), Step::Key("b".into())])
            .unwrap();
        assert_eq!(&"a:\n  b: [1, 'x']\n"[b.span.clone()], "[1, 'x']");
        let x = node
            .at(&[Step::Key("a".into()), Step::Key("b".into()), Step::Index(1)])
            .unwrap();
        assert_eq!(
            x.value,
            Value::Scalar(Scalar {
                text: "x".into(),
                plain: false
            })
        );
    }

    #[test]
    fn duplicate_keys_are_reported_with_both_places() {
        let errors = parse_str("a: 1\nb: 2\na: 3\n").unwrap_err();
        assert_eq!(errors.len(), 1);
        assert_eq!(errors[0].code, "duplicate-key");
        assert!(
            errors[0].label.contains("line 1, column 1"),
            "{}",
            errors[0].label
        );
    }

    #[test]
    fn merge_keys_fill_in_missing_entries_only() {
        let node = parse_str("base: &b {x: 1, y: 2}\nthing:\n  <<: *b\n  y: 3\n").unwrap();
        let thing = node.at(&[Step::Key("thing".into())]).unwrap();
        let Value::Map(entries) = &thing.value else {
            panic!("not a map")
        };
        let keys: Vec<_> = entries.iter().map(|e| e.key.as_str()).collect();
        assert_eq!(keys, ["y", "x"]);
    }

    #[test]
    fn alias_bomb_is_refused_quickly() {
        let mut text = String::from("a0: &a0 [x, x, x, x, x, x, x, x, x, x]\n");
        for i in 1..12 {
            let prev = i - 1;
            text.push_str(&format!(
                "a{i}: &a{i} [*a{prev}, *a{prev}, *a{prev}, *a{prev}, *a{prev}, *a{prev}, *a{prev}, *a{prev}, *a{prev}, *a{prev}]\n"
            ));
        }
        let errors = parse_str(&text).unwrap_err();
        assert_eq!(errors[0].code, "too-large");
    }

    #[test]
    fn long_strings_repeated_by_aliases_are_refused_by_bytes() {
        // Why: few nodes, but 100,000 copies of 200 kB would be 20 GB of text.
        let text = format!(
            "s: &s \"{}\"\nl: [{}]\n",
            "x".repeat(200_000),
            vec!["*s"; 100_000].join(",")
        );
        let errors = parse_str(&text).unwrap_err();
        assert_eq!(errors[0].code, "too-large");
        assert!(
            errors[0].message.contains("bytes of text"),
            "{}",
            errors[0].message
        );
    }

    #[test]
    fn anchors_nested_in_anchors_are_bounded() {
        // Why: each anchor keeps a copy of its subtree; sixty nested anchors around 90,000
        // nodes would keep 5.4 million.
        let mut text = format!("[{}]", vec!["x"; 90_000].join(","));
        for i in 0..60 {
            text = format!("&n{i} [{text}]");
        }
        let errors = parse_str(&text).unwrap_err();
        assert_eq!(errors[0].code, "too-large");
    }

    #[test]
    fn deep_nesting_is_refused() {
        let text = "[".repeat(200) + &"]".repeat(200);
        let errors = parse_str(&text).unwrap_err();
        assert_eq!(errors[0].code, "too-deep");
    }

    #[test]
    fn plain_scalars_resolve_per_yaml_1_2() {
        // Why: YAML 1.1 read `yes`/`on` as booleans; appreg follows 1.2 where they are strings.
        let cases = [
            ("true", Plain::Bool(true)),
            ("yes", Plain::Str),
            ("on", Plain::Str),
            ("42", Plain::Int(42)),
            ("-7", Plain::Int(-7)),
            ("1.5", Plain::Float(1.5)),
            ("365d", Plain::Str),
            ("~", Plain::Null),
            ("2y", Plain::Str),
        ];
        for (text, expected) in cases {
            assert_eq!(resolve_plain(text), expected, "{text}");
        }
    }
}
