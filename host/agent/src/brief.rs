//! Guardian's help to a model (`--assist`): before the model's first turn,
//! Guardian looks at the cluster itself and hands the model what it found as
//! the first tool result (`guardian__brief`), so that a small model starts
//! from evidence instead of guessing where to look.
//!
//! The brief's calls go through [`Agent::guarded_call`] like any other:
//! same caller, guards, audit and accounting.

use std::sync::Mutex;

use serde_json::{Value, json};

use crate::guard::RepeatGuard;
use crate::reasoner::Investigation;
use crate::run::{Agent, Recorder};

/// The wire name of the synthetic call that carries the brief.
pub(crate) const BRIEF_TOOL: &str = "guardian__brief";

/// At most this many findings go into the brief.
const MAX_FINDINGS: usize = 8;

/// At most this many evidence lines per finding.
const MAX_EVIDENCE: usize = 3;

/// At most this many characters of one text (cause, evidence line).
const MAX_TEXT: usize = 300;

/// What Guardian found before the model's first turn — the built-in
/// reasoner's investigation: the question's target found among the
/// cluster's names, only that scope analyzed, the problems that answer it
/// (`{"scope": …, "findings": […]}`), or the honest answer when nothing the
/// question names exists. `None` when the analysis failed (the model then
/// starts on its own).
pub(crate) async fn brief(agent: &Agent, question: &str, rec: &Recorder) -> Option<(Value, Own)> {
    let repeats = Mutex::new(RepeatGuard::default());
    match crate::reasoner::investigate(agent, question, rec, &repeats).await {
        Ok(investigation) => Some((
            investigation.brief(compact, MAX_FINDINGS),
            Own::Investigation(Box::new(investigation)),
        )),
        Err(outcome) if outcome.stopped.is_none() => Some((
            json!({
                "scope": {"answer": outcome.answer.trim_end()},
                "findings": [],
            }),
            Own::Answer(outcome.answer),
        )),
        Err(_) => None,
    }
}

/// What Guardian found by itself before the model's first turn, kept so
/// that a run where the model gives no answer still ends with one, labelled
/// as Guardian's own.
pub(crate) enum Own {
    /// The reasoner's investigation: its answer is written on demand.
    Investigation(Box<Investigation>),
    /// The answer already written (nothing the question names exists).
    Answer(String),
}

impl Own {
    /// The built-in reasoner's answer from what was found (no proposal:
    /// the run was the model's).
    pub(crate) async fn answer(self, agent: &Agent, rec: &Recorder) -> String {
        match self {
            Own::Answer(text) => text,
            Own::Investigation(inv) => {
                let repeats = Mutex::new(RepeatGuard::default());
                crate::reasoner::answer(agent, *inv, rec, &repeats, false)
                    .await
                    .answer
            }
        }
    }
}

/// A finding as the brief carries it: what, why, the evidence, the fix.
fn compact(f: &Value) -> Value {
    let o = &f["object"];
    let object = format!(
        "{} {}{}",
        o["kind"].as_str().unwrap_or(""),
        o["namespace"]
            .as_str()
            .map(|n| format!("{n}/"))
            .unwrap_or_default(),
        o["name"].as_str().unwrap_or("")
    );
    let evidence: Vec<String> = f["evidence"]
        .as_array()
        .into_iter()
        .flatten()
        .take(MAX_EVIDENCE)
        .map(|e| {
            clip(&format!(
                "{}: {}",
                e["ref"].as_str().unwrap_or(""),
                e["text"].as_str().unwrap_or("")
            ))
        })
        .collect();
    let mut out = json!({
        "severity": f["severity"],
        "object": object,
        "reason": f["reason"],
        "cause": clip(f["cause"].as_str().unwrap_or("")),
        "evidence": evidence,
    });
    if let Some(r) = f["root_cause"].as_str() {
        out["root_cause"] = json!(clip(r));
    }
    if let Some(fix) = crate::reasoner::best_fix(f) {
        let mut brief_fix = json!({
            "description": fix["description"],
            "dry_run": fix["dry_run"]["result"],
        });
        if fix["json_patch"].is_array() {
            brief_fix["target"] = fix["target"].clone();
            brief_fix["json_patch"] = fix["json_patch"].clone();
        } else if let Some(k) = fix["kubectl"].as_str() {
            brief_fix["kubectl"] = json!(k);
        }
        out["fix"] = brief_fix;
    }
    out
}

fn clip(text: &str) -> String {
    match text.char_indices().nth(MAX_TEXT) {
        Some((cut, _)) => format!("{} …", &text[..cut]),
        None => text.to_owned(),
    }
}

/// The brief as the model reads it: the scope, then each finding with its
/// keys in reading order (what, why, evidence, fix), a patch on one line.
pub(crate) fn render(brief: &Value) -> String {
    let mut out = String::from("scope:\n");
    for line in serde_yaml::to_string(&brief["scope"])
        .unwrap_or_default()
        .lines()
    {
        out.push_str(&format!("  {line}\n"));
    }
    let findings = brief["findings"].as_array().cloned().unwrap_or_default();
    if findings.is_empty() {
        out.push_str(if brief["scope"]["answer"].is_string() {
            "findings: none (nothing was analyzed: see the answer above)\n"
        } else {
            "findings: none that answer the question in the scope above\n"
        });
        return out;
    }
    out.push_str("findings (those that answer the question, most severe first):\n");
    const ORDER: &[&str] = &[
        "severity",
        "object",
        "reason",
        "cause",
        "root_cause",
        "evidence",
        "fix",
    ];
    for (i, f) in findings.iter().enumerate() {
        let Some(m) = f.as_object() else { continue };
        let mut keys: Vec<&String> = m.keys().collect();
        keys.sort_by_key(|k| ORDER.iter().position(|o| o == k).unwrap_or(ORDER.len()));
        let mut first = true;
        for key in keys {
            let prefix = if first {
                format!("{}. ", i + 1)
            } else {
                "   ".to_owned()
            };
            first = false;
            out.push_str(&prefix);
            out.push_str(&field(key, &m[key.as_str()], "   "));
        }
    }
    out
}

/// `key: value` lines: text as is, lists one item a line, objects one key a
/// line, anything deeper as one line of JSON.
fn field(key: &str, value: &Value, indent: &str) -> String {
    match value {
        Value::String(s) => format!("{key}: {s}\n"),
        Value::Array(items) if items.iter().all(Value::is_string) => {
            let mut s = format!("{key}:\n");
            for item in items {
                s.push_str(&format!("{indent}  - {}\n", item.as_str().unwrap_or("")));
            }
            s
        }
        Value::Object(m) => {
            let mut s = format!("{key}:\n");
            for (k, v) in m {
                let line = match v {
                    Value::String(text) => text.clone(),
                    other => other.to_string(),
                };
                s.push_str(&format!("{indent}  {k}: {line}\n"));
            }
            s
        }
        other => format!("{key}: {other}\n"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_finding_is_compacted_to_what_why_evidence_and_fix() {
        let f = json!({
            "severity": "error",
            "object": {"kind": "Deployment", "namespace": "shop", "name": "payments"},
            "reason": "CreateContainerConfigError",
            "cause": "the container cannot start",
            "root_cause": "Secret payments-db has no key password",
            "evidence": (0..9).map(|i| json!({"ref": format!("r{i}"), "text": "t", "source": "event"})).collect::<Vec<_>>(),
            "fixes": [
                {"description": "needs input", "requires_input": true, "dry_run": {"result": "skipped"}},
                {"description": "read key pass", "dry_run": {"result": "passed"},
                 "target": {"kind": "Deployment"}, "json_patch": [{"op": "test"}], "kubectl": "kubectl patch …"}
            ],
            "pods": ["payments-1"]
        });
        let c = compact(&f);
        assert_eq!(c["object"], "Deployment shop/payments");
        assert_eq!(c["evidence"].as_array().unwrap().len(), MAX_EVIDENCE);
        assert_eq!(c["fix"]["description"], "read key pass");
        assert_eq!(c["fix"]["json_patch"], json!([{"op": "test"}]));
        assert_eq!(c["root_cause"], "Secret payments-db has no key password");
        assert!(c.get("pods").is_none());
    }
}
