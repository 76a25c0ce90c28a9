//! OData query options: parsing `$filter`, `$select`, `$top`, `$expand`, `$count`, `$orderby`,
//! `$search`, `$skiptoken`, and checking them against what each resource supports.
//!
//! `$filter` is parsed into an expression tree by a real tokenizer: string literals use `''` for a
//! quote, so `O''Brien` is one literal and `' or 1 eq 1` stays inside the string it came in. Anything
//! outside the supported subset is refused with Graph's Request_UnsupportedQuery wording rather than
//! evaluated loosely.

use serde_json::{Map, Value};

use super::error::{GraphError, GraphResult};
use super::store::Pin;

/// Most values an `in` clause may list outside an advanced query.
pub const MAX_IN_VALUES: usize = 15;
/// Largest `$top`.
pub const MAX_PAGE_SIZE: usize = 999;
/// Page size without `$top`.
pub const DEFAULT_PAGE_SIZE: usize = 100;

/// A literal on the right-hand side of a comparison.
#[derive(Debug, Clone, PartialEq)]
pub enum Literal {
    Str(String),
    Bool(bool),
    Null,
    /// Unquoted GUIDs and numbers, compared by their text.
    Bare(String),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Op {
    Eq,
    Ne,
    Ge,
    Le,
    In,
    StartsWith,
    EndsWith,
}

impl Op {
    fn name(self) -> &'static str {
        match self {
            Op::Eq => "eq",
            Op::Ne => "ne",
            Op::Ge => "ge",
            Op::Le => "le",
            Op::In => "in",
            Op::StartsWith => "startsWith",
            Op::EndsWith => "endsWith",
        }
    }

    /// Operators Graph serves only as advanced queries (ConsistencyLevel: eventual + $count=true).
    fn is_advanced(self) -> bool {
        matches!(self, Op::Ne | Op::EndsWith)
    }
}

/// A parsed `$filter` expression.
#[derive(Debug, Clone, PartialEq)]
pub enum Expr {
    Compare {
        property: String,
        op: Op,
        values: Vec<Literal>,
    },
    Any {
        property: String,
        variable: String,
        body: Box<Expr>,
    },
    And(Box<Expr>, Box<Expr>),
    Or(Box<Expr>, Box<Expr>),
    Not(Box<Expr>),
}

#[derive(Debug, Clone, PartialEq)]
enum Token {
    Word(String),
    Str(String),
    Open,
    Close,
    Comma,
    Colon,
    Slash,
}

fn invalid_filter(detail: &str) -> GraphError {
    GraphError::gateway_bad_request(format!("Invalid filter clause: {detail}"))
}

fn tokenize(input: &str) -> GraphResult<Vec<Token>> {
    let mut tokens = Vec::new();
    let mut chars = input.chars().peekable();
    while let Some(&c) = chars.peek() {
        match c {
            c if c.is_whitespace() => {
                chars.next();
            }
            '(' | ')' | ',' | ':' | '/' => {
                chars.next();
                tokens.push(match c {
                    '(' => Token::Open,
                    ')' => Token::Close,
                    ',' => Token::Comma,
                    ':' => Token::Colon,
                    _ => Token::Slash,
                });
            }
            '\'' => {
                chars.next();
                let mut literal = String::new();
                loop {
                    match chars.next() {
                        Some('\'') if chars.peek() == Some(&'\'') => {
                            chars.next();
                            literal.push('\'');
                        }
                        Some('\'') => break,
                        Some(other) => literal.push(other),
                        None => return Err(invalid_filter("unterminated string literal.")),
                    }
                }
                tokens.push(Token::Str(literal));
            }
            c if c.is_alphanumeric() || matches!(c, '_' | '.' | '-' | '$' | '@') => {
                let mut word = String::new();
                while let Some(&c) = chars.peek() {
                    if c.is_alphanumeric() || matches!(c, '_' | '.' | '-' | '$' | '@') {
                        word.push(c);
                        chars.next();
                    } else {
                        break;
                    }
                }
                tokens.push(Token::Word(word));
            }
            other => return Err(invalid_filter(&format!("unexpected character '{other}'."))),
        }
    }
    Ok(tokens)
}

struct Parser {
    tokens: Vec<Token>,
    pos: usize,
}

impl Parser {
    fn peek(&self) -> Option<&Token> {
        self.tokens.get(self.pos)
    }

    fn next(&mut self) -> Option<Token> {
        let token = self.tokens.get(self.pos).cloned();
        self.pos += 1;
        token
    }

    fn expect(&mut self, token: Token) -> GraphResult<()> {
        match self.next() {
            Some(t) if t == token => Ok(()),
            _ => Err(invalid_filter(&format!("expected {token:?}."))),
        }
    }

    fn peek_keyword(&self, keyword: &str) -> bool {
        matches!(self.peek(), Some(Token::Word(w)) if w.eq_ignore_ascii_case(keyword))
    }

    fn or(&mut self) -> GraphResult<Expr> {
        let mut left = self.and()?;
        while self.peek_keyword("or") {
            self.pos += 1;
            left = Expr::Or(Box::new(left), Box::new(self.and()?));
        }
        Ok(left)
    }

    fn and(&mut self) -> GraphResult<Expr> {
        let mut left = self.unary()?;
        while self.peek_keyword("and") {
            self.pos += 1;
            left = Expr::And(Box::new(left), Box::new(self.unary()?));
        }
        Ok(left)
    }

    fn unary(&mut self) -> GraphResult<Expr> {
        if self.peek_keyword("not") {
            self.pos += 1;
            return Ok(Expr::Not(Box::new(self.unary()?)));
        }
        if self.peek() == Some(&Token::Open) {
            self.pos += 1;
            let inner = self.or()?;
            self.expect(Token::Close)?;
            return Ok(inner);
        }
        let Some(Token::Word(word)) = self.next() else {
            return Err(invalid_filter("expected a property or function."));
        };
        if self.peek() == Some(&Token::Open) {
            let op = match word.to_ascii_lowercase().as_str() {
                "startswith" => Op::StartsWith,
                "endswith" => Op::EndsWith,
                _ => {
                    return Err(GraphError::unsupported_query(format!(
                        "Unsupported Query: function '{word}' is not supported."
                    )));
                }
            };
            self.pos += 1;
            let Some(Token::Word(property)) = self.next() else {
                return Err(invalid_filter("expected a property name."));
            };
            self.expect(Token::Comma)?;
            let value = self.literal()?;
            self.expect(Token::Close)?;
            return Ok(Expr::Compare {
                property,
                op,
                values: vec![value],
            });
        }
        if self.peek() == Some(&Token::Slash) {
            self.pos += 1;
            let lambda = match self.next() {
                Some(Token::Word(w)) => w,
                _ => return Err(invalid_filter("expected any.")),
            };
            if !lambda.eq_ignore_ascii_case("any") {
                return Err(GraphError::unsupported_query(format!(
                    "Unsupported or invalid query filter clause specified for property '{word}'."
                )));
            }
            self.expect(Token::Open)?;
            let Some(Token::Word(variable)) = self.next() else {
                return Err(invalid_filter("expected a lambda variable."));
            };
            self.expect(Token::Colon)?;
            let body = self.or()?;
            self.expect(Token::Close)?;
            return Ok(Expr::Any {
                property: word,
                variable,
                body: Box::new(body),
            });
        }
        let op_word = match self.next() {
            Some(Token::Word(w)) => w.to_ascii_lowercase(),
            _ => return Err(invalid_filter("expected an operator.")),
        };
        let op = match op_word.as_str() {
            "eq" => Op::Eq,
            "ne" => Op::Ne,
            "ge" => Op::Ge,
            "le" => Op::Le,
            "in" => Op::In,
            other => {
                return Err(GraphError::unsupported_query(format!(
                    "Unsupported Query: operator '{other}' is not supported."
                )));
            }
        };
        let values = if op == Op::In {
            self.expect(Token::Open)?;
            let mut values = vec![self.literal()?];
            while self.peek() == Some(&Token::Comma) {
                self.pos += 1;
                values.push(self.literal()?);
            }
            self.expect(Token::Close)?;
            values
        } else {
            vec![self.literal()?]
        };
        Ok(Expr::Compare {
            property: word,
            op,
            values,
        })
    }

    fn literal(&mut self) -> GraphResult<Literal> {
        match self.next() {
            Some(Token::Str(s)) => Ok(Literal::Str(s)),
            Some(Token::Word(w)) => Ok(match w.as_str() {
                "true" => Literal::Bool(true),
                "false" => Literal::Bool(false),
                "null" => Literal::Null,
                _ => Literal::Bare(w),
            }),
            _ => Err(invalid_filter("expected a literal.")),
        }
    }
}

/// Parses a `$filter` value.
pub fn parse_filter(input: &str) -> GraphResult<Expr> {
    let mut parser = Parser {
        tokens: tokenize(input)?,
        pos: 0,
    };
    let expr = parser.or()?;
    if parser.pos != parser.tokens.len() {
        return Err(invalid_filter("unexpected text after the expression."));
    }
    Ok(expr)
}

/// What `$filter` may say about one resource: properties with their basic operators, and the
/// collection properties `any` lambdas may range over.
pub struct FilterSupport {
    pub resource: &'static str,
    pub properties: &'static [(&'static str, &'static [Op])],
    pub collections: &'static [&'static str],
    /// Whether `$orderby=displayName` works without advanced-query headers.
    pub plain_orderby: bool,
}

fn unsupported_clause(property: &str, resource: &str) -> GraphError {
    GraphError::unsupported_query(format!(
        "Unsupported or invalid query filter clause specified for property '{property}' of resource '{resource}'."
    ))
}

fn advanced_required(operator: &str) -> GraphError {
    GraphError::unsupported_query(format!(
        "Operator '{operator}' is not supported because the required parameters might be missing. Try adding $count=true query parameter and ConsistencyLevel:eventual header. Refer to https://aka.ms/graph-docs/advanced-queries for more information"
    ))
}

impl FilterSupport {
    /// Refuses expressions outside the resource's supported subset.
    pub fn check(&self, expr: &Expr, advanced: bool) -> GraphResult<()> {
        self.check_inner(expr, advanced, None)
    }

    fn check_inner(
        &self,
        expr: &Expr,
        advanced: bool,
        lambda: Option<(&str, &str)>,
    ) -> GraphResult<()> {
        match expr {
            Expr::And(a, b) | Expr::Or(a, b) => {
                self.check_inner(a, advanced, lambda)?;
                self.check_inner(b, advanced, lambda)
            }
            Expr::Not(inner) => {
                if !advanced {
                    return Err(advanced_required("Not"));
                }
                self.check_inner(inner, advanced, lambda)
            }
            Expr::Any {
                property,
                variable,
                body,
            } => {
                if lambda.is_some() || !self.collections.contains(&property.as_str()) {
                    return Err(unsupported_clause(property, self.resource));
                }
                self.check_inner(body, advanced, Some((variable, property)))
            }
            Expr::Compare {
                property,
                op,
                values,
            } => {
                if op.is_advanced() && !advanced {
                    return Err(advanced_required(op.name()));
                }
                // Advanced queries take longer `in` lists, up to the URL length limit.
                // <https://learn.microsoft.com/en-us/graph/aad-advanced-queries>
                if *op == Op::In && values.len() > MAX_IN_VALUES && !advanced {
                    return Err(GraphError::unsupported_query(format!(
                        "Too many child clauses specified in search filter expression containing 'OR' operators: {}. Max allowed: {MAX_IN_VALUES}.",
                        values.len()
                    )));
                }
                if let Some((variable, collection)) = lambda {
                    return if property == variable && matches!(op, Op::Eq | Op::StartsWith | Op::Ne)
                    {
                        Ok(())
                    } else {
                        Err(unsupported_clause(collection, self.resource))
                    };
                }
                let basic = match op {
                    Op::Ne => Op::Eq,
                    Op::EndsWith => Op::StartsWith,
                    other => *other,
                };
                let allowed = self
                    .properties
                    .iter()
                    .find(|(name, _)| *name == property)
                    .is_some_and(|(_, ops)| ops.contains(&basic));
                if allowed {
                    Ok(())
                } else {
                    Err(unsupported_clause(property, self.resource))
                }
            }
        }
    }
}

fn literal_matches(value: &Value, op: Op, literal: &Literal) -> bool {
    match (literal, op) {
        (Literal::Null, Op::Eq) => value.is_null(),
        (Literal::Null, Op::Ne) => !value.is_null(),
        (Literal::Bool(b), Op::Eq) => value.as_bool() == Some(*b),
        (Literal::Bool(b), Op::Ne) => value.as_bool() != Some(*b),
        (Literal::Str(s) | Literal::Bare(s), _) => {
            let Value::String(text) = value else {
                return match value {
                    Value::Number(n) => n.to_string() == *s && op == Op::Eq,
                    _ => op == Op::Ne,
                };
            };
            // Directory string comparisons ignore case; ASCII folding first avoids allocating
            // for the common case, full Unicode folding only when either side needs it.
            let fold = |a: &str| a.to_lowercase();
            let (text, s): (std::borrow::Cow<str>, std::borrow::Cow<str>) =
                if text.is_ascii() && s.is_ascii() {
                    (text.as_str().into(), s.as_str().into())
                } else {
                    (fold(text).into(), fold(s).into())
                };
            let prefix = |a: &str, b: &str| {
                a.len() >= b.len()
                    && a.is_char_boundary(b.len())
                    && a[..b.len()].eq_ignore_ascii_case(b)
            };
            let suffix = |a: &str, b: &str| {
                a.len() >= b.len()
                    && a.is_char_boundary(a.len() - b.len())
                    && a[a.len() - b.len()..].eq_ignore_ascii_case(b)
            };
            match op {
                Op::Eq | Op::In => text.eq_ignore_ascii_case(&s),
                Op::Ne => !text.eq_ignore_ascii_case(&s),
                Op::Ge => text.to_ascii_lowercase() >= s.to_ascii_lowercase(),
                Op::Le => text.to_ascii_lowercase() <= s.to_ascii_lowercase(),
                Op::StartsWith => prefix(&text, &s),
                Op::EndsWith => suffix(&text, &s),
            }
        }
        _ => false,
    }
}

/// The index lookups that bound every match of `expr`: an object can match only if it satisfies
/// one of the pins. `None` when the filter can match objects no index lookup would name.
pub fn pins(expr: &Expr) -> Option<Vec<Pin>> {
    let text = |literal: &Literal| match literal {
        Literal::Str(s) | Literal::Bare(s) => Some(s.clone()),
        Literal::Bool(_) | Literal::Null => None,
    };
    match expr {
        Expr::Compare {
            property,
            op: Op::Eq | Op::In,
            values,
        } => values
            .iter()
            .map(|v| text(v).map(|v| Pin::Equals(property.clone(), v)))
            .collect(),
        Expr::Compare {
            property,
            op: Op::StartsWith,
            values,
        } => values
            .iter()
            .map(|v| text(v).map(|v| Pin::Prefix(property.clone(), v)))
            .collect(),
        Expr::Any {
            property,
            variable,
            body,
        } => match body.as_ref() {
            Expr::Compare {
                property: bound,
                op: Op::Eq | Op::In,
                values,
            } if bound == variable => values
                .iter()
                .map(|v| text(v).map(|v| Pin::HasItem(property.clone(), v)))
                .collect(),
            _ => None,
        },
        // Either side bounds a conjunction.
        Expr::And(a, b) => pins(a).or_else(|| pins(b)),
        Expr::Or(a, b) => {
            let mut both = pins(a)?;
            both.extend(pins(b)?);
            Some(both)
        }
        Expr::Compare { .. } | Expr::Not(_) => None,
    }
}

/// Evaluates `expr` against one object's JSON.
pub fn matches(expr: &Expr, object: &Map<String, Value>) -> bool {
    eval(expr, object, None)
}

fn eval(expr: &Expr, object: &Map<String, Value>, bound: Option<(&str, &Value)>) -> bool {
    match expr {
        Expr::And(a, b) => eval(a, object, bound) && eval(b, object, bound),
        Expr::Or(a, b) => eval(a, object, bound) || eval(b, object, bound),
        Expr::Not(inner) => !eval(inner, object, bound),
        Expr::Any {
            property,
            variable,
            body,
        } => object
            .get(property)
            .and_then(Value::as_array)
            .is_some_and(|items| {
                items
                    .iter()
                    .any(|item| eval(body, object, Some((variable, item))))
            }),
        Expr::Compare {
            property,
            op,
            values,
        } => {
            let value = match bound {
                Some((variable, item)) if variable == property => item,
                _ => object.get(property).unwrap_or(&Value::Null),
            };
            values
                .iter()
                .any(|literal| literal_matches(value, *op, literal))
        }
    }
}

/// Parsed query options of one request.
#[derive(Debug, Clone, Default)]
pub struct QueryOptions {
    pub filter: Option<Expr>,
    pub select: Option<Vec<String>>,
    pub top: Option<usize>,
    pub skiptoken: Option<String>,
    pub count: bool,
    pub expand: Vec<String>,
    pub orderby: Option<(String, bool)>,
    pub search: Option<(String, String)>,
    /// `ConsistencyLevel: eventual` was sent.
    pub eventual: bool,
    /// All `$` options except `$skiptoken`, to rebuild `@odata.nextLink`.
    pub carried: Vec<(String, String)>,
}

impl QueryOptions {
    /// Advanced queries need both the header and `$count=true`.
    pub fn advanced(&self) -> bool {
        self.eventual && self.count
    }
}

/// Parses the raw query string of a request.
pub fn parse_query(raw: &str, eventual: bool) -> GraphResult<QueryOptions> {
    let mut options = QueryOptions {
        eventual,
        ..QueryOptions::default()
    };
    for (key, value) in form_urlencoded::parse(raw.as_bytes()) {
        let key = key.to_string();
        let value = value.to_string();
        if key != "$skiptoken" && key.starts_with('$') {
            options.carried.push((key.clone(), value.clone()));
        }
        match key.as_str() {
            "$filter" => options.filter = Some(parse_filter(&value)?),
            "$select" => {
                options.select = Some(
                    value
                        .split(',')
                        .map(|s| s.trim().to_string())
                        .filter(|s| !s.is_empty())
                        .collect(),
                )
            }
            "$top" => {
                let top = value
                    .trim()
                    .parse::<i64>()
                    .ok()
                    .filter(|n| (1..=MAX_PAGE_SIZE as i64).contains(n));
                options.top = Some(top.ok_or_else(|| {
                    GraphError::unsupported_query(format!(
                        "Invalid page size specified: '{value}'. Must be between 1 and {MAX_PAGE_SIZE} inclusive."
                    ))
                })? as usize);
            }
            "$skiptoken" => options.skiptoken = Some(value),
            "$count" => {
                options.count = match value.as_str() {
                    "true" => true,
                    "false" => false,
                    _ => {
                        return Err(GraphError::gateway_bad_request(format!(
                            "Invalid value '{value}' for $count query option found. The $count query option requires a Boolean value."
                        )));
                    }
                }
            }
            "$expand" => {
                options.expand = value
                    .split(',')
                    .map(|s| s.trim().to_string())
                    .filter(|s| !s.is_empty())
                    .collect()
            }
            "$orderby" => {
                let mut parts = value.split_whitespace();
                let property = parts.next().unwrap_or_default().to_string();
                let descending = match parts.next() {
                    None | Some("asc") => false,
                    Some("desc") => true,
                    Some(other) => {
                        return Err(GraphError::gateway_bad_request(format!(
                            "Syntax error: character '{other}' is not valid at position {} in '{value}'.",
                            property.len() + 1
                        )));
                    }
                };
                options.orderby = Some((property, descending));
            }
            "$search" => {
                let inner = value.trim().trim_matches('"');
                let Some((property, term)) = inner.split_once(':') else {
                    return Err(GraphError::gateway_bad_request(
                        "Syntax error: invalid $search clause; expected \"property:value\".",
                    ));
                };
                options.search = Some((property.to_string(), term.to_string()));
            }
            "$skip" => {
                return Err(GraphError::unsupported_query(
                    "'$skip' is not supported by the service.",
                ));
            }
            "$format" | "$levels" | "$apply" | "$compute" | "$index" | "$schemaversion"
            | "$deltatoken" => {
                return Err(GraphError::unsupported_query(format!(
                    "Query option '{key}' is not supported."
                )));
            }
            other if other.starts_with('$') => {
                return Err(GraphError::gateway_bad_request(format!(
                    "The query specified in the URI is not valid. The query parameter '{other}' is not supported."
                )));
            }
            _ => {}
        }
    }
    Ok(options)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    const APPS: FilterSupport = FilterSupport {
        resource: "Application",
        properties: &[
            ("displayName", &[Op::Eq, Op::StartsWith, Op::In]),
            ("appId", &[Op::Eq, Op::In]),
        ],
        collections: &["tags"],
        plain_orderby: false,
    };

    fn obj(value: Value) -> Map<String, Value> {
        value.as_object().unwrap().clone()
    }

    #[test]
    fn doubled_quote_is_one_quote_in_the_literal() {
        let expr = parse_filter("displayName eq 'O''Brien'").unwrap();
        assert!(matches(&expr, &obj(json!({"displayName": "O'Brien"}))));
        assert!(!matches(&expr, &obj(json!({"displayName": "O"}))));
    }

    #[test]
    fn injection_attempt_stays_inside_the_literal() {
        // The whole text is one literal; an unescaped quote would have ended it and smuggled `or`.
        let expr = parse_filter("displayName eq 'x'' or 1 eq 1 or ''a'").unwrap();
        assert_eq!(
            expr,
            Expr::Compare {
                property: "displayName".into(),
                op: Op::Eq,
                values: vec![Literal::Str("x' or 1 eq 1 or 'a".into())]
            }
        );
        assert!(
            parse_filter("displayName eq 'x' or 1 eq 1")
                .is_ok_and(|e| APPS.check(&e, false).is_err())
        );
    }

    #[test]
    fn any_lambda_on_tags() {
        let expr = parse_filter("tags/any(t:t eq 'appreg:managed')").unwrap();
        APPS.check(&expr, false).unwrap();
        assert!(matches(
            &expr,
            &obj(json!({"tags": ["a", "appreg:managed"]}))
        ));
        assert!(!matches(&expr, &obj(json!({"tags": []}))));
    }

    #[test]
    fn in_is_limited_to_fifteen_values() {
        let values: Vec<String> = (0..16).map(|i| format!("'{i}'")).collect();
        let expr = parse_filter(&format!("appId in ({})", values.join(","))).unwrap();
        let err = APPS.check(&expr, false).unwrap_err();
        assert!(err.message.contains("Max allowed: 15"), "{}", err.message);
        APPS.check(&expr, true)
            .expect("an advanced query takes more than fifteen values");
    }

    #[test]
    fn advanced_operators_need_eventual_consistency() {
        let expr = parse_filter("displayName ne 'x'").unwrap();
        assert!(
            APPS.check(&expr, false)
                .unwrap_err()
                .message
                .starts_with("Operator 'ne'")
        );
        APPS.check(&expr, true).unwrap();
    }

    #[test]
    fn unsupported_property_is_refused_with_graph_wording() {
        let expr = parse_filter("notes eq 'x'").unwrap();
        assert_eq!(
            APPS.check(&expr, false).unwrap_err().message,
            "Unsupported or invalid query filter clause specified for property 'notes' of resource 'Application'."
        );
    }

    #[test]
    fn top_out_of_range_is_refused() {
        assert!(parse_query("$top=1000", false).is_err());
        assert!(parse_query("$top=0", false).is_err());
        assert_eq!(parse_query("$top=999", false).unwrap().top, Some(999));
    }
}
