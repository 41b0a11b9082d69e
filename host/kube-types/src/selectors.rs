//! kubectl label and field selectors: parsing and matching.
//!
//! The grammar and semantics follow `k8s.io/apimachinery/pkg/labels` and
//! `pkg/fields`, so a selector a skill passes means the same against a
//! snapshot as against the API server:
//!
//! * labels: `a=b`, `a==b`, `a!=b`, `a in (x,y)`, `a notin (x)`, `a`, `!a`,
//!   `a>1`, `a<1`, joined with commas (all must hold). `!=` and `notin` also
//!   match objects that lack the label, exactly as the API server does.
//! * fields: `path=value`, `path==value`, `path!=value` joined with commas,
//!   where `path` is a dotted JSON path (`metadata.name`, `status.phase`,
//!   `involvedObject.name`). A missing field compares as `""`. `\,`, `\=` and
//!   `\\` escape those characters in values.

use std::str::FromStr;

use serde_json::{Map, Value};

use crate::BrokerError;

/// One clause of a label selector.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum LabelRequirement {
    /// `key=value` or `key==value`
    Equals { key: String, value: String },
    /// `key!=value`; also true when the label is absent.
    NotEquals { key: String, value: String },
    /// `key in (a,b)`
    In { key: String, values: Vec<String> },
    /// `key notin (a,b)`; also true when the label is absent.
    NotIn { key: String, values: Vec<String> },
    /// `key`
    Exists { key: String },
    /// `!key`
    DoesNotExist { key: String },
    /// `key>n`: the label is an integer greater than `n`.
    GreaterThan { key: String, value: i64 },
    /// `key<n`: the label is an integer less than `n`.
    LessThan { key: String, value: i64 },
}

impl LabelRequirement {
    fn matches(&self, labels: Option<&Map<String, Value>>) -> bool {
        let get = |key: &str| labels.and_then(|l| l.get(key)).and_then(Value::as_str);
        match self {
            Self::Equals { key, value } => get(key) == Some(value.as_str()),
            Self::NotEquals { key, value } => get(key) != Some(value.as_str()),
            Self::In { key, values } => get(key).is_some_and(|v| values.iter().any(|x| x == v)),
            Self::NotIn { key, values } => !get(key).is_some_and(|v| values.iter().any(|x| x == v)),
            Self::Exists { key } => get(key).is_some(),
            Self::DoesNotExist { key } => get(key).is_none(),
            Self::GreaterThan { key, value } => get(key)
                .and_then(|v| v.parse::<i64>().ok())
                .is_some_and(|v| v > *value),
            Self::LessThan { key, value } => get(key)
                .and_then(|v| v.parse::<i64>().ok())
                .is_some_and(|v| v < *value),
        }
    }
}

/// A parsed label selector; the empty selector matches everything.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct LabelSelector {
    pub requirements: Vec<LabelRequirement>,
}

impl LabelSelector {
    /// Parse kubectl's `-l` syntax. Errors are [`BrokerError::Invalid`] and
    /// name the offending token.
    pub fn parse(input: &str) -> Result<Self, BrokerError> {
        LabelParser::new(input).parse()
    }

    pub fn is_empty(&self) -> bool {
        self.requirements.is_empty()
    }

    /// Whether every requirement holds for these labels (`metadata.labels`).
    pub fn matches_labels(&self, labels: Option<&Map<String, Value>>) -> bool {
        self.requirements.iter().all(|r| r.matches(labels))
    }

    /// Whether every requirement holds for the object's `metadata.labels`.
    pub fn matches(&self, object: &Value) -> bool {
        let labels = object
            .get("metadata")
            .and_then(|m| m.get("labels"))
            .and_then(Value::as_object);
        self.matches_labels(labels)
    }
}

impl FromStr for LabelSelector {
    type Err = BrokerError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::parse(s)
    }
}

#[derive(Clone, Debug, PartialEq, Eq)]
enum Token {
    Ident(String),
    In,
    NotIn,
    Not,
    Equals,
    DoubleEquals,
    NotEquals,
    Greater,
    Less,
    Open,
    Close,
    Comma,
    End,
}

impl Token {
    fn describe(&self) -> String {
        match self {
            Self::Ident(s) => format!("\"{s}\""),
            Self::In => "\"in\"".into(),
            Self::NotIn => "\"notin\"".into(),
            Self::Not => "\"!\"".into(),
            Self::Equals => "\"=\"".into(),
            Self::DoubleEquals => "\"==\"".into(),
            Self::NotEquals => "\"!=\"".into(),
            Self::Greater => "\">\"".into(),
            Self::Less => "\"<\"".into(),
            Self::Open => "\"(\"".into(),
            Self::Close => "\")\"".into(),
            Self::Comma => "\",\"".into(),
            Self::End => "the end of the selector".into(),
        }
    }
}

fn tokenize(input: &str) -> Vec<Token> {
    const SPECIAL: &[char] = &['!', '=', '(', ')', ',', '>', '<'];
    let mut tokens = Vec::new();
    let mut chars = input.chars().peekable();
    while let Some(&c) = chars.peek() {
        if c.is_whitespace() {
            chars.next();
            continue;
        }
        chars.next();
        let token = match c {
            '!' if chars.peek() == Some(&'=') => {
                chars.next();
                Token::NotEquals
            }
            '!' => Token::Not,
            '=' if chars.peek() == Some(&'=') => {
                chars.next();
                Token::DoubleEquals
            }
            '=' => Token::Equals,
            '(' => Token::Open,
            ')' => Token::Close,
            ',' => Token::Comma,
            '>' => Token::Greater,
            '<' => Token::Less,
            first => {
                let mut word = String::from(first);
                while let Some(&n) = chars.peek() {
                    if n.is_whitespace() || SPECIAL.contains(&n) {
                        break;
                    }
                    word.push(n);
                    chars.next();
                }
                match word.as_str() {
                    "in" => Token::In,
                    "notin" => Token::NotIn,
                    _ => Token::Ident(word),
                }
            }
        };
        tokens.push(token);
    }
    tokens.push(Token::End);
    tokens
}

struct LabelParser<'a> {
    input: &'a str,
    tokens: Vec<Token>,
    pos: usize,
}

impl<'a> LabelParser<'a> {
    fn new(input: &'a str) -> Self {
        Self {
            input,
            tokens: tokenize(input),
            pos: 0,
        }
    }

    fn peek(&self) -> &Token {
        // `tokenize` always ends with End and we never advance past it.
        &self.tokens[self.pos.min(self.tokens.len() - 1)]
    }

    fn next(&mut self) -> Token {
        let token = self.peek().clone();
        if token != Token::End {
            self.pos += 1;
        }
        token
    }

    fn error(&self, what: String) -> BrokerError {
        BrokerError::Invalid(format!(
            "invalid label selector \"{}\": {what}; the syntax is kubectl's -l: a=b, a!=b, \
             a in (x,y), a notin (x), a, !a, joined with commas",
            self.input
        ))
    }

    fn parse(mut self) -> Result<LabelSelector, BrokerError> {
        let mut requirements = Vec::new();
        if self.peek() == &Token::End {
            return Ok(LabelSelector { requirements });
        }
        loop {
            requirements.push(self.requirement()?);
            match self.next() {
                Token::End => break,
                Token::Comma => {
                    if self.peek() == &Token::End {
                        return Err(
                            self.error("trailing \",\" with no requirement after it".into())
                        );
                    }
                }
                other => {
                    return Err(self.error(format!(
                        "expected \",\" or the end of the selector, found {}",
                        other.describe()
                    )));
                }
            }
        }
        Ok(LabelSelector { requirements })
    }

    fn key(&mut self, after: &str) -> Result<String, BrokerError> {
        match self.next() {
            Token::Ident(key) => {
                validate_label_key(&key).map_err(|why| self.error(why))?;
                Ok(key)
            }
            other => Err(self.error(format!(
                "expected a label key{after}, found {}",
                other.describe()
            ))),
        }
    }

    fn requirement(&mut self) -> Result<LabelRequirement, BrokerError> {
        if self.peek() == &Token::Not {
            self.next();
            let key = self.key(" after \"!\"")?;
            return Ok(LabelRequirement::DoesNotExist { key });
        }
        let key = self.key("")?;
        match self.peek().clone() {
            Token::Comma | Token::End => Ok(LabelRequirement::Exists { key }),
            op @ (Token::Equals | Token::DoubleEquals | Token::NotEquals) => {
                self.next();
                // `a=` (empty value) is legal, as in the API server.
                let value = match self.peek().clone() {
                    Token::Ident(v) => {
                        self.next();
                        v
                    }
                    Token::Comma | Token::End => String::new(),
                    other => {
                        return Err(self.error(format!(
                            "expected a value after {} for key \"{key}\", found {}",
                            op.describe(),
                            other.describe()
                        )));
                    }
                };
                validate_label_value(&value).map_err(|why| self.error(why))?;
                Ok(if op == Token::NotEquals {
                    LabelRequirement::NotEquals { key, value }
                } else {
                    LabelRequirement::Equals { key, value }
                })
            }
            op @ (Token::In | Token::NotIn) => {
                self.next();
                let values = self.set(&op, &key)?;
                Ok(if op == Token::In {
                    LabelRequirement::In { key, values }
                } else {
                    LabelRequirement::NotIn { key, values }
                })
            }
            op @ (Token::Greater | Token::Less) => {
                self.next();
                let value = match self.next() {
                    Token::Ident(v) => v.parse::<i64>().map_err(|_| {
                        self.error(format!(
                            "{} needs an integer, found \"{v}\" for key \"{key}\"",
                            op.describe()
                        ))
                    })?,
                    other => {
                        return Err(self.error(format!(
                            "expected an integer after {} for key \"{key}\", found {}",
                            op.describe(),
                            other.describe()
                        )));
                    }
                };
                Ok(if op == Token::Greater {
                    LabelRequirement::GreaterThan { key, value }
                } else {
                    LabelRequirement::LessThan { key, value }
                })
            }
            other => Err(self.error(format!(
                "expected an operator (=, ==, !=, in, notin) or \",\" after key \"{key}\", found {}",
                other.describe()
            ))),
        }
    }

    fn set(&mut self, op: &Token, key: &str) -> Result<Vec<String>, BrokerError> {
        let opened = self.next();
        if opened != Token::Open {
            return Err(self.error(format!(
                "expected \"(\" after {} for key \"{key}\", found {}",
                op.describe(),
                opened.describe()
            )));
        }
        let mut values = Vec::new();
        loop {
            match self.next() {
                Token::Ident(v) => {
                    validate_label_value(&v).map_err(|why| self.error(why))?;
                    values.push(v);
                    match self.next() {
                        Token::Comma => {}
                        Token::Close => break,
                        other => {
                            return Err(self.error(format!(
                                "expected \",\" or \")\" in the value set of \"{key}\", found {}",
                                other.describe()
                            )));
                        }
                    }
                }
                Token::Close if values.is_empty() => {
                    return Err(self.error(format!(
                        "the value set of {} for key \"{key}\" is empty",
                        op.describe()
                    )));
                }
                other => {
                    return Err(self.error(format!(
                        "expected a value in the set of \"{key}\", found {}",
                        other.describe()
                    )));
                }
            }
        }
        Ok(values)
    }
}

fn is_name_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.')
}

/// The `name` part of a qualified name or a label value: up to 63 chars of
/// `[A-Za-z0-9._-]`, starting and ending alphanumeric.
fn check_name(s: &str) -> bool {
    s.len() <= 63
        && s.chars().all(is_name_char)
        && s.chars().next().is_some_and(|c| c.is_ascii_alphanumeric())
        && s.chars().last().is_some_and(|c| c.is_ascii_alphanumeric())
}

fn validate_label_key(key: &str) -> Result<(), String> {
    let (prefix, name) = match key.rsplit_once('/') {
        Some((p, n)) => (Some(p), n),
        None => (None, key),
    };
    if let Some(prefix) = prefix {
        let ok = !prefix.is_empty()
            && prefix.len() <= 253
            && prefix.split('.').all(|part| {
                !part.is_empty()
                    && part
                        .chars()
                        .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
                    && !part.starts_with('-')
                    && !part.ends_with('-')
            });
        if !ok {
            return Err(format!(
                "label key \"{key}\" has an invalid prefix \"{prefix}\" (must be a lowercase DNS \
                 subdomain such as app.kubernetes.io)"
            ));
        }
    }
    if !check_name(name) {
        return Err(format!(
            "label key \"{key}\" is not valid (name part: 1-63 characters of [A-Za-z0-9._-], \
             starting and ending with a letter or digit)"
        ));
    }
    Ok(())
}

fn validate_label_value(value: &str) -> Result<(), String> {
    if value.is_empty() || check_name(value) {
        Ok(())
    } else {
        Err(format!(
            "label value \"{value}\" is not valid (0-63 characters of [A-Za-z0-9._-], starting \
             and ending with a letter or digit)"
        ))
    }
}

/// Operator of a field-selector clause.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FieldOp {
    /// `=` or `==`
    Equals,
    /// `!=`
    NotEquals,
}

/// One clause of a field selector.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FieldRequirement {
    /// Dotted JSON path: `metadata.name`, `status.phase`.
    pub path: String,
    pub op: FieldOp,
    pub value: String,
}

/// A parsed field selector; the empty selector matches everything.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct FieldSelector {
    pub requirements: Vec<FieldRequirement>,
}

impl FieldSelector {
    /// Parse kubectl's `--field-selector` syntax.
    pub fn parse(input: &str) -> Result<Self, BrokerError> {
        let invalid = |what: String| {
            BrokerError::Invalid(format!(
                "invalid field selector \"{input}\": {what}; the syntax is path=value, \
                 path==value or path!=value joined with commas, e.g. status.phase!=Running"
            ))
        };
        let mut requirements = Vec::new();
        for term in split_unescaped(input, ',') {
            let term = term.trim();
            if term.is_empty() {
                // The API server skips empty terms (`a=b,`), so do we.
                continue;
            }
            let found = ["!=", "==", "="]
                .into_iter()
                .find_map(|op| find_unescaped(term, op).map(|i| (op, i)));
            let Some((op, at)) = found else {
                return Err(invalid(format!("term \"{term}\" has no operator")));
            };
            let path = term[..at].trim();
            if path.is_empty() {
                return Err(invalid(format!("term \"{term}\" has no field path")));
            }
            let value = unescape(term[at + op.len()..].trim())
                .map_err(|e| invalid(format!("term \"{term}\": {e}")))?;
            requirements.push(FieldRequirement {
                path: path.to_string(),
                op: if op == "!=" {
                    FieldOp::NotEquals
                } else {
                    FieldOp::Equals
                },
                value,
            });
        }
        Ok(Self { requirements })
    }

    pub fn is_empty(&self) -> bool {
        self.requirements.is_empty()
    }

    /// Whether every clause holds for the object.
    pub fn matches(&self, object: &Value) -> bool {
        self.requirements.iter().all(|r| {
            let actual = field_value(object, &r.path);
            match r.op {
                FieldOp::Equals => actual == r.value,
                FieldOp::NotEquals => actual != r.value,
            }
        })
    }
}

impl FromStr for FieldSelector {
    type Err = BrokerError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::parse(s)
    }
}

/// The value at a dotted path as a field selector sees it: strings as they
/// are, numbers and booleans in their JSON spelling, anything missing or null
/// as `""`.
pub fn field_value(object: &Value, path: &str) -> String {
    let mut current = object;
    for segment in path.split('.') {
        match current.get(segment) {
            Some(next) => current = next,
            None => return String::new(),
        }
    }
    match current {
        Value::Null => String::new(),
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

/// Split on `sep` where it is not preceded by a backslash escape.
fn split_unescaped(input: &str, sep: char) -> Vec<&str> {
    let mut parts = Vec::new();
    let mut start = 0;
    let mut escaped = false;
    for (i, c) in input.char_indices() {
        if escaped {
            escaped = false;
        } else if c == '\\' {
            escaped = true;
        } else if c == sep {
            parts.push(&input[start..i]);
            start = i + c.len_utf8();
        }
    }
    parts.push(&input[start..]);
    parts
}

/// Byte index of the first unescaped occurrence of `needle`.
fn find_unescaped(haystack: &str, needle: &str) -> Option<usize> {
    let mut escaped = false;
    for (i, c) in haystack.char_indices() {
        if escaped {
            escaped = false;
            continue;
        }
        if c == '\\' {
            escaped = true;
            continue;
        }
        if haystack[i..].starts_with(needle) {
            return Some(i);
        }
    }
    None
}

fn unescape(value: &str) -> Result<String, String> {
    let mut out = String::with_capacity(value.len());
    let mut chars = value.chars();
    while let Some(c) = chars.next() {
        if c != '\\' {
            out.push(c);
            continue;
        }
        match chars.next() {
            Some(e @ ('\\' | ',' | '=')) => out.push(e),
            Some(other) => return Err(format!("invalid escape sequence \"\\{other}\"")),
            None => return Err("value ends with a lone backslash".to_string()),
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn pod(labels: Value) -> Value {
        json!({"metadata": {"name": "web-1", "namespace": "staging", "labels": labels},
               "spec": {"nodeName": "worker-a", "replicas": 3},
               "status": {"phase": "Running"}})
    }

    fn matches(selector: &str, labels: Value) -> bool {
        LabelSelector::parse(selector)
            .unwrap_or_else(|e| panic!("{selector}: {e}"))
            .matches(&pod(labels))
    }

    #[test]
    fn label_selector_table() {
        let web = json!({"app": "web", "tier": "frontend", "replicas": "3"});
        let cases: &[(&str, bool)] = &[
            ("", true),
            ("app=web", true),
            ("app==web", true),
            ("app = web", true),
            ("app=api", false),
            ("app!=api", true),
            ("app!=web", false),
            ("missing!=x", true),
            ("app in (web,api)", true),
            ("app in (api)", false),
            ("app notin (api)", true),
            ("app notin (web, api)", false),
            ("missing notin (x)", true),
            ("missing in (x)", false),
            ("app", true),
            ("missing", false),
            ("!missing", true),
            ("!app", false),
            ("app=web,tier=frontend", true),
            ("app=web,tier=backend", false),
            ("app=web, !missing, tier in (frontend)", true),
            ("replicas>2", true),
            ("replicas<2", false),
            ("app=", false),
            ("missing=", false),
        ];
        for (selector, want) in cases {
            assert_eq!(matches(selector, web.clone()), *want, "{selector}");
        }
        // Absent labels map: only negative requirements hold.
        assert!(matches("!app", Value::Null));
        assert!(matches("app!=web", Value::Null));
        assert!(!matches("app", Value::Null));
        let empty = json!({"app": ""});
        assert!(matches("app=", empty));
    }

    #[test]
    fn label_selector_errors_name_the_token() {
        let cases = [
            ("app in web", "\"web\""),
            ("app in ()", "empty"),
            ("app in (a b)", "\"b\""),
            ("app=web,", "trailing"),
            ("=web", "\"=\""),
            ("!", "the end of the selector"),
            ("app web", "\"web\""),
            ("app>x", "\"x\""),
            ("bad key=1", "\"key\""),
            ("app=-bad-", "\"-bad-\""),
            ("Foo.com/x=1", "Foo.com"),
        ];
        for (selector, needle) in cases {
            let err = LabelSelector::parse(selector).unwrap_err();
            assert_eq!(err.kind_str(), "invalid", "{selector}");
            assert!(err.message().contains(needle), "{selector}: {err}");
            assert!(err.message().contains(selector), "{selector}: {err}");
        }
        assert!(LabelSelector::parse("app.kubernetes.io/name=web").is_ok());
    }

    #[test]
    fn field_selector_table() {
        let event = json!({
            "metadata": {"name": "web.1", "namespace": "staging"},
            "involvedObject": {"kind": "Pod", "name": "web-1"},
            "type": "Warning", "reason": "BackOff", "count": 3
        });
        let p = pod(json!({}));
        let cases: &[(&Value, &str, bool)] = &[
            (&p, "", true),
            (&p, "metadata.name=web-1", true),
            (&p, "metadata.name==web-1", true),
            (&p, "metadata.name!=web-1", false),
            (&p, "metadata.namespace=staging,status.phase=Running", true),
            (&p, "status.phase!=Running", false),
            (&p, "spec.nodeName=worker-a", true),
            (&p, "spec.replicas=3", true),
            (&p, "spec.missing=", true),
            (&p, "spec.missing!=", false),
            (&p, "status.phase=Running,", true),
            (&event, "involvedObject.name=web-1,type=Warning", true),
            (&event, "reason=BackOff", true),
            (&event, "involvedObject.kind=Deployment", false),
            (&event, "metadata.name=web.1", true),
            (&event, "count=3", true),
        ];
        for (object, selector, want) in cases {
            let parsed = FieldSelector::parse(selector).unwrap_or_else(|e| panic!("{e}"));
            assert_eq!(parsed.matches(object), *want, "{selector}");
        }
        let escaped = FieldSelector::parse(r"metadata.name=a\,b").unwrap();
        assert_eq!(escaped.requirements[0].value, "a,b");
        assert_eq!(escaped.requirements.len(), 1);
    }

    #[test]
    fn field_selector_errors_name_the_term() {
        for (selector, needle) in [
            ("status.phase", "\"status.phase\""),
            ("=Running", "\"=Running\""),
            (r"a=b\x", r"\x"),
        ] {
            let err = FieldSelector::parse(selector).unwrap_err();
            assert_eq!(err.kind_str(), "invalid");
            assert!(err.message().contains(needle), "{selector}: {err}");
        }
    }
}
