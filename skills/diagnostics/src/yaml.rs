//! Block-style YAML of a JSON value, laid out as `kubectl get -o yaml` and
//! `serde_yaml` lay it out (keys in the value's order, a sequence's `- ` at
//! its key's indentation), for the diffs of fixes.
//!
//! Written here rather than through a YAML library: a fix's diff renders
//! the whole object twice, and this is a fraction of the cost in a skill.
//! A string is written plain only when it cannot read back as anything
//! else (a number, a boolean, null, a flow or block indicator); otherwise it
//! is quoted. `round_trips_every_object_of_the_examples` reads every object
//! of the example snapshots back through a YAML parser.

use std::fmt::Write as _;

use serde_json::Value;

/// `value` as a YAML document (no `---`), ending in a newline.
pub fn to_string(value: &Value) -> String {
    let mut out = String::new();
    match value {
        Value::Object(map) if !map.is_empty() => mapping(&mut out, map, 0, false),
        Value::Array(items) if !items.is_empty() => sequence(&mut out, items, 0, false),
        scalar => {
            inline(&mut out, scalar, 2);
            out.push('\n');
        }
    }
    out
}

fn indent(out: &mut String, n: usize) {
    out.extend(std::iter::repeat_n(' ', n));
}

/// The entries of a non-empty mapping, each line indented by `at`; the
/// first one on the current line when `after_dash` (a sequence item's).
fn mapping(out: &mut String, map: &serde_json::Map<String, Value>, at: usize, after_dash: bool) {
    for (i, (key, value)) in map.iter().enumerate() {
        if i > 0 || !after_dash {
            indent(out, at);
        }
        key_string(out, key);
        out.push(':');
        match value {
            Value::Object(inner) if !inner.is_empty() => {
                out.push('\n');
                mapping(out, inner, at + 2, false);
            }
            // A sequence under a key is not indented further.
            Value::Array(items) if !items.is_empty() => {
                out.push('\n');
                sequence(out, items, at, false);
            }
            scalar => {
                out.push(' ');
                inline(out, scalar, at + 2);
                out.push('\n');
            }
        }
    }
}

/// The items of a non-empty sequence, each `- ` indented by `at`; the first
/// one on the current line when `after_dash` (a sequence in a sequence).
fn sequence(out: &mut String, items: &[Value], at: usize, after_dash: bool) {
    for (i, item) in items.iter().enumerate() {
        if i > 0 || !after_dash {
            indent(out, at);
        }
        out.push_str("- ");
        match item {
            Value::Object(inner) if !inner.is_empty() => mapping(out, inner, at + 2, true),
            Value::Array(inner) if !inner.is_empty() => sequence(out, inner, at + 2, true),
            scalar => {
                inline(out, scalar, at + 2);
                out.push('\n');
            }
        }
    }
}

/// A scalar, or an empty mapping or sequence, on the current line; a
/// multi-line string continues on lines indented by `at`.
fn inline(out: &mut String, value: &Value, at: usize) {
    match value {
        Value::Null => out.push_str("null"),
        Value::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
        Value::Number(n) => {
            let _ = write!(out, "{n}");
        }
        Value::String(s) => string(out, s, at),
        Value::Array(_) => out.push_str("[]"),
        Value::Object(_) => out.push_str("{}"),
    }
}

/// A key: plain or quoted, never a block.
fn key_string(out: &mut String, s: &str) {
    if is_plain(s) {
        out.push_str(s);
    } else {
        quoted(out, s);
    }
}

fn quoted(out: &mut String, s: &str) {
    if s.chars().any(char::is_control) {
        // JSON's escapes are YAML's double-quoted ones.
        let _ = write!(out, "{}", Value::String(s.to_string()));
    } else {
        out.push('\'');
        out.push_str(&s.replace('\'', "''"));
        out.push('\'');
    }
}

fn string(out: &mut String, s: &str, at: usize) {
    if is_plain(s) {
        out.push_str(s);
    } else if let Some(chomp) = literal_chomping(s) {
        // `|` keeps one final newline, `|-` none, `|+` all of them.
        out.push('|');
        out.push_str(chomp);
        let body = s.trim_end_matches('\n');
        for line in body.split('\n') {
            out.push('\n');
            if !line.is_empty() {
                indent(out, at);
                out.push_str(line);
            }
        }
        for _ in 0..(s.len() - body.len()).saturating_sub(1) {
            out.push('\n');
        }
    } else {
        quoted(out, s);
    }
}

/// The chomping indicator when `s` can be a literal block: several lines,
/// no control character but the newlines and tabs, the first line not
/// starting with a space (which would need an indentation indicator).
fn literal_chomping(s: &str) -> Option<&'static str> {
    let body = s.trim_end_matches('\n');
    if !body.contains('\n')
        || body.starts_with([' ', '\t'])
        || s.chars().any(|c| c.is_control() && c != '\n' && c != '\t')
        // A line of only spaces would read back as an empty one.
        || body.split('\n').any(|l| !l.is_empty() && l.trim().is_empty())
    {
        return None;
    }
    Some(match s.len() - body.len() {
        0 => "-",
        1 => "",
        _ => "+",
    })
}

/// Whether `s` reads back as this very string when written without quotes.
fn is_plain(s: &str) -> bool {
    let Some(first) = s.chars().next() else {
        return false;
    };
    if first.is_whitespace()
        || s.ends_with(char::is_whitespace)
        || s.ends_with(':')
        || "?:,[]{}#&*!|>'\"%@`".contains(first)
        || (first == '-' && !s[1..].starts_with(|c: char| !c.is_whitespace()))
        || s.contains(": ")
        || s.contains(" #")
        || s.chars().any(|c| c.is_control() || c == '\u{feff}')
    {
        // `:x` and `?x` are plain in YAML too, but rare: kept quoted.
        return false;
    }
    !looks_like_other_scalar(s)
}

/// Strings a YAML 1.1 or 1.2 reader would take for null, a boolean or a
/// number (and so must be quoted to stay strings).
fn looks_like_other_scalar(s: &str) -> bool {
    let lower = s.to_ascii_lowercase();
    if matches!(
        lower.as_str(),
        "~" | "null" | "true" | "false" | "yes" | "no" | "on" | "off" | "y" | "n"
    ) {
        return true;
    }
    // Numbers: decimal, float, `.inf`, `.nan`, `0x…`, `0o…`, `0b…`, with
    // YAML 1.1's `_` separators and `1:30` sexagesimals.
    let body = lower.trim_start_matches(['+', '-']);
    if matches!(body, ".inf" | ".nan") {
        return true;
    }
    let Some(c) = body.chars().next() else {
        return false;
    };
    if !(c.is_ascii_digit() || c == '.') {
        return false;
    }
    body.chars()
        .all(|c| c.is_ascii_hexdigit() || matches!(c, '.' | '_' | ':' | 'x' | 'o' | '+' | '-'))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn back(v: &Value) -> Value {
        let text = to_string(v);
        serde_yaml::from_str(&text).unwrap_or_else(|e| panic!("{e}\n{text}"))
    }

    #[test]
    fn lays_out_like_kubectl() {
        let v = json!({
            "kind": "Deployment",
            "metadata": {"name": "a", "labels": {}},
            "spec": {"template": {"spec": {"containers": [
                {"name": "app", "image": "x:1", "args": ["--port", "8080"], "env": []}
            ]}}}
        });
        assert_eq!(
            to_string(&v),
            "kind: Deployment\nmetadata:\n  labels: {}\n  name: a\nspec:\n  template:\n    spec:\n      containers:\n      - args:\n        - --port\n        - '8080'\n        env: []\n        image: x:1\n        name: app\n"
        );
        assert_eq!(back(&v), v);
    }

    #[test]
    fn strings_that_would_read_as_something_else_are_quoted() {
        for s in [
            "",
            " x",
            "x ",
            "true",
            "No",
            "null",
            "~",
            "8080",
            "1.5",
            "-1",
            "+1",
            "0x1F",
            "1e3",
            ".inf",
            "-.nan",
            "1_000",
            "1:30",
            "a: b",
            "a #b",
            "#x",
            "- x",
            "-x",
            "*x",
            "&x",
            "!x",
            "%x",
            "@x",
            "`x",
            "{x}",
            "[x]",
            "'x'",
            "\"x\"",
            "x:",
            "|x",
            ">x",
            "?x",
            ",x",
            "tab\there",
            "bell\u{7}",
            "cr\r\n",
            "a\nb",
            "a\nb\n",
            "a\nb\n\n",
            "\nb",
            " a\nb",
            "a\n  \nb",
            "10Mi",
            "v1.2.3",
            "http://x:80/a",
            "x:1",
            "10.0.0.1",
        ] {
            let v = json!({ "k": s, "list": [s], s: 1 });
            assert_eq!(back(&v), v, "{s:?}:\n{}", to_string(&v));
        }
        assert_eq!(to_string(&json!("256Mi")), "256Mi\n");
        assert_eq!(to_string(&json!("a\nb\n")), "|\n  a\n  b\n");
    }

    #[test]
    fn round_trips_every_object_of_the_examples() {
        fn walk(dir: &std::path::Path, out: &mut Vec<Value>) {
            for entry in std::fs::read_dir(dir).unwrap().flatten() {
                let path = entry.path();
                if path.is_dir() {
                    walk(&path, out);
                } else if path.extension().is_some_and(|e| e == "json") {
                    let text = std::fs::read_to_string(&path).unwrap();
                    if let Ok(v) = serde_json::from_str::<Value>(&text) {
                        match v.get("items").and_then(Value::as_array) {
                            Some(items) => out.extend(items.iter().cloned()),
                            None => out.push(v),
                        }
                    }
                }
            }
        }
        let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
        let mut objects = Vec::new();
        walk(&root.join("examples"), &mut objects);
        walk(&root.join("tests/scenarios"), &mut objects);
        assert!(objects.len() > 400, "{} objects", objects.len());
        for v in &objects {
            assert_eq!(&back(v), v, "{}", to_string(v));
        }
    }
}
