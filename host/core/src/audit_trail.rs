//! The audit trail of one action: the lines of the session's audit log
//! (`--audit FILE`) that are about it — its state changes (`event:
//! "action"`), the broker's decision on its write (`action … approved by …`)
//! and the front ends' refusals that name it — read back from the file the
//! session writes, oldest first.

use std::io::{BufRead, BufReader};

use guardian_broker::Audit;
use serde::Serialize;
use serde_json::Value;

use crate::{ErrorClass, ServiceError};

/// At most this many lines are returned (the newest); the rest are counted.
pub const MAX_LINES: usize = 1000;

/// What the audit log says about one action.
#[derive(Clone, Debug, Default, Serialize)]
pub struct AuditTrail {
    /// The action id.
    pub action: String,
    /// The lines about it, oldest first, as JSON objects.
    pub lines: Vec<Value>,
    /// Older lines about it left out (beyond [`MAX_LINES`]).
    pub omitted: usize,
    /// Why no line can be shown (no audit log kept, or written to stdout,
    /// or the file cannot be read); `None` when the log was read.
    pub unavailable: Option<String>,
}

/// Whether `line` (one audit line, parsed) is about action `id`: its
/// `action` field is the id, or one of its strings names it (the broker's
/// `action ID approved by …` reason, a refusal's method).
pub fn is_about(line: &Value, id: &str) -> bool {
    if line.get("action").and_then(Value::as_str) == Some(id) {
        return true;
    }
    fn names(v: &Value, id: &str, depth: usize) -> bool {
        match v {
            Value::String(s) => mentions(s, id),
            Value::Array(items) if depth < 4 => items.iter().any(|i| names(i, id, depth + 1)),
            Value::Object(map) if depth < 4 => map.values().any(|i| names(i, id, depth + 1)),
            _ => false,
        }
    }
    names(line, id, 0)
}

/// `text` names `id` as a whole word (not as part of a longer name).
fn mentions(text: &str, id: &str) -> bool {
    let word = |c: char| c.is_ascii_alphanumeric() || c == '-' || c == '_';
    text.match_indices(id).any(|(at, _)| {
        let before = text[..at].chars().next_back();
        let after = text[at + id.len()..].chars().next();
        !before.is_some_and(word) && !after.is_some_and(word)
    })
}

/// The lines of `lines` about `id`, the newest [`MAX_LINES`] of them.
fn collect(trail: &mut AuditTrail, lines: impl Iterator<Item = String>) {
    let id = trail.action.clone();
    let mut kept = std::collections::VecDeque::new();
    for line in lines {
        // Cheap first: most lines do not contain the id at all.
        if !line.contains(id.as_str()) {
            continue;
        }
        let Ok(value) = serde_json::from_str::<Value>(&line) else {
            continue;
        };
        if !is_about(&value, &id) {
            continue;
        }
        if kept.len() == MAX_LINES {
            kept.pop_front();
            trail.omitted += 1;
        }
        kept.push_back(value);
    }
    trail.lines = kept.into();
}

impl crate::Session {
    /// The audit lines about action `id` (which must exist), read back from
    /// the audit log this session writes. With no audit file (`--audit`
    /// not given, or `-`), the trail says so in `unavailable` instead of
    /// looking empty.
    pub fn action_audit_trail(&self, id: &str) -> Result<AuditTrail, ServiceError> {
        let action = self.get_action(id)?;
        let mut trail = AuditTrail {
            action: action.id,
            ..AuditTrail::default()
        };
        match self.audit().as_ref() {
            Audit::Memory(_) => collect(&mut trail, self.audit().lines().into_iter()),
            Audit::File(_) => {
                let Some(path) = self.options().audit.clone() else {
                    trail.unavailable = Some("the audit log's file is not known".into());
                    return Ok(trail);
                };
                match std::fs::File::open(&path) {
                    Ok(file) => collect(
                        &mut trail,
                        BufReader::new(file).lines().map_while(Result::ok),
                    ),
                    Err(e) => {
                        return Err(ServiceError::new(
                            ErrorClass::Unavailable,
                            format!("cannot read the audit log {}: {e}", path.display()),
                        ));
                    }
                }
            }
            Audit::Stdout => {
                trail.unavailable = Some(
                    "the audit log is written to standard output (--audit -), so it cannot be read back here; give --audit a file".into(),
                );
            }
            Audit::Off => {
                trail.unavailable =
                    Some("no audit log is kept: start guardian with --audit FILE".into());
            }
        }
        Ok(trail)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn lines_about_an_action_are_its_own_and_those_naming_it() {
        let id = "act-aaaaaaaaaaaa";
        assert!(is_about(&json!({"event": "action", "action": id}), id));
        assert!(is_about(
            &json!({"verb": "patch", "reasons": ["allowed by approved-action", format!("action {id} approved by human:alice")]}),
            id
        ));
        assert!(is_about(
            &json!({"event": "access", "method": format!("console approve {id}")}),
            id
        ));
        assert!(!is_about(
            &json!({"event": "action", "action": "act-bbbbbbbbbbbb"}),
            id
        ));
        assert!(
            !is_about(&json!({"note": format!("{id}x")}), id),
            "a longer name is another name"
        );
    }

    #[test]
    fn only_the_newest_lines_are_kept_and_the_rest_counted() {
        let id = "act-aaaaaaaaaaaa";
        let mut trail = AuditTrail {
            action: id.into(),
            ..AuditTrail::default()
        };
        let lines = (0..MAX_LINES + 5)
            .map(|i| json!({"event": "action", "action": id, "n": i}).to_string())
            .chain(["not json act-aaaaaaaaaaaa".to_owned()])
            .chain([json!({"action": "act-other"}).to_string()]);
        collect(&mut trail, lines);
        assert_eq!(trail.lines.len(), MAX_LINES);
        assert_eq!(trail.omitted, 5);
        assert_eq!(trail.lines[0]["n"], 5);
    }
}
