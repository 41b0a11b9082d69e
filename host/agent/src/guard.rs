//! The loop's guards: how many tool calls, how many tokens, how much of a
//! tool's output reaches the model, when to stop a model that repeats
//! itself, and when older turns are summarised.

use std::collections::HashMap;
use std::time::Duration;

use crate::config::AgentConfig;
use serde::Serialize;
use serde_json::Value;
use sha2::{Digest, Sha256};

/// The limits of one run.
#[derive(Clone, Debug, Serialize)]
pub struct Guards {
    /// Tool calls the model may ask for in one run (executed or refused).
    pub max_tool_calls: u32,
    /// Prompt plus completion tokens in one run.
    pub token_budget: u64,
    /// Bytes of one tool result that go into the context.
    pub tool_output_bytes: usize,
    /// The same, per tool (`diagnostics.analyze`), overriding the default.
    pub tool_output_bytes_per_tool: std::collections::BTreeMap<String, usize>,
    /// Past this estimated context size, older tool results are summarised.
    pub summarize_after_tokens: u64,
    /// Wall time of one run.
    #[serde(with = "secs")]
    pub timeout: Duration,
    /// One completion request.
    #[serde(with = "secs")]
    pub llm_timeout: Duration,
    /// Retries of a completion on 429 and 5xx.
    pub max_retries: u32,
    /// The first retry's delay; doubled each time, at most 8 s.
    #[serde(with = "secs")]
    pub retry_base: Duration,
}

mod secs {
    pub fn serialize<S: serde::Serializer>(
        d: &std::time::Duration,
        s: S,
    ) -> Result<S::Ok, S::Error> {
        s.serialize_f64(d.as_secs_f64())
    }
}

impl Default for Guards {
    fn default() -> Self {
        Guards {
            max_tool_calls: 15,
            token_budget: 200_000,
            tool_output_bytes: 16 * 1024,
            tool_output_bytes_per_tool: Default::default(),
            summarize_after_tokens: 24_000,
            timeout: Duration::from_secs(300),
            llm_timeout: Duration::from_secs(120),
            max_retries: 4,
            retry_base: Duration::from_millis(500),
        }
    }
}

impl Guards {
    /// The output budget of `tool`.
    pub fn output_budget(&self, tool: &str) -> usize {
        self.tool_output_bytes_per_tool
            .get(tool)
            .copied()
            .unwrap_or(self.tool_output_bytes)
    }

    /// The defaults, overridden by the config's `agent:` section.
    pub fn from_config(config: &AgentConfig) -> Result<Guards, String> {
        let mut g = Guards::default();
        let secs = |v: f64, what: &str| {
            Duration::try_from_secs_f64(v)
                .ok()
                .filter(|d| !d.is_zero())
                .ok_or_else(|| format!("agent.{what}: expected a positive number of seconds"))
        };
        if let Some(n) = config.max_tool_calls {
            if n == 0 {
                return Err("agent.max_tool_calls: expected at least 1".into());
            }
            g.max_tool_calls = n;
        }
        if let Some(n) = config.token_budget {
            g.token_budget = n.max(1);
        }
        if let Some(n) = config.tool_output_kib {
            if n == 0 {
                return Err("agent.tool_output_kib: expected at least 1".into());
            }
            g.tool_output_bytes = n << 10;
        }
        for (tool, kib) in &config.tool_output_kib_per_tool {
            if *kib == 0 || !tool.contains('.') {
                return Err(format!(
                    "agent.tool_output_kib_per_tool.{tool}: expected SKILL.TOOL and at least 1 KiB"
                ));
            }
            g.tool_output_bytes_per_tool.insert(tool.clone(), kib << 10);
        }
        if let Some(n) = config.summarize_after_tokens {
            g.summarize_after_tokens = n.max(1000);
        }
        if let Some(v) = config.timeout_seconds {
            g.timeout = secs(v, "timeout_seconds")?;
        }
        if let Some(v) = config.llm_timeout_seconds {
            g.llm_timeout = secs(v, "llm_timeout_seconds")?;
        }
        if let Some(n) = config.max_retries {
            g.max_retries = n;
        }
        Ok(g)
    }
}

/// A rough token count (4 bytes a token), for budgeting before the model
/// reports real usage.
pub fn estimate_tokens(text: &str) -> u64 {
    (text.len() as u64).div_ceil(4)
}

/// Remembers what each (tool, arguments) returned. A call repeated with the
/// same arguments is executed once more (the cluster may have changed); if
/// it returned the same result again, later repeats are not executed.
#[derive(Default)]
pub struct RepeatGuard {
    seen: HashMap<(String, String), Seen>,
}

struct Seen {
    result: [u8; 32],
    first_call: String,
    same_twice: bool,
}

impl RepeatGuard {
    /// `Some(message for the model)` when this call must not run again.
    pub fn refuse(&self, tool: &str, arguments: &Value) -> Option<String> {
        let seen = self.seen.get(&(tool.to_owned(), canonical(arguments)))?;
        seen.same_twice.then(|| {
            format!(
                "not executed: {tool} was already called with these same arguments and returned \
                 the same result twice (first as call {}). Repeating it will not change the \
                 answer: use that result, call a different tool, or give your final answer.",
                seen.first_call
            )
        })
    }

    /// Records what a call returned. True when it returned exactly what the
    /// same call returned before.
    pub fn record(&mut self, tool: &str, arguments: &Value, call_id: &str, result: &str) -> bool {
        let hash: [u8; 32] = Sha256::digest(result.as_bytes()).into();
        match self.seen.entry((tool.to_owned(), canonical(arguments))) {
            std::collections::hash_map::Entry::Occupied(mut e) => {
                let same = e.get().result == hash;
                let seen = e.get_mut();
                seen.same_twice |= same;
                seen.result = hash;
                same
            }
            std::collections::hash_map::Entry::Vacant(e) => {
                e.insert(Seen {
                    result: hash,
                    first_call: call_id.to_owned(),
                    same_twice: false,
                });
                false
            }
        }
    }
}

/// JSON with sorted keys (serde_json's maps are ordered), so argument order
/// does not hide a repeat.
fn canonical(v: &Value) -> String {
    fn sort(v: &Value) -> Value {
        match v {
            Value::Object(m) => {
                let mut keys: Vec<_> = m.keys().collect();
                keys.sort();
                Value::Object(keys.into_iter().map(|k| (k.clone(), sort(&m[k]))).collect())
            }
            Value::Array(a) => Value::Array(a.iter().map(sort).collect()),
            other => other.clone(),
        }
    }
    sort(v).to_string()
}

/// A tool result cut to a byte budget.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Truncated {
    pub text: String,
    pub omitted_lines: usize,
    pub original_bytes: usize,
}

/// Renders a tool's JSON result as YAML lines and, when it exceeds
/// `budget` bytes, keeps the most relevant lines first — errors, warnings,
/// reasons, root causes and fixes before anything else, the object
/// identities next — in their original order, with a marker where lines
/// were cut and "N more lines omitted" at the end.
pub fn truncate_output(value: &Value, budget: usize) -> Truncated {
    let text = match value {
        Value::String(s) => s.clone(),
        other => serde_yaml::to_string(other).unwrap_or_else(|_| other.to_string()),
    };
    truncate_text(&text, budget)
}

/// [`truncate_output`] for text.
pub fn truncate_text(text: &str, budget: usize) -> Truncated {
    let original_bytes = text.len();
    if original_bytes <= budget {
        return Truncated {
            text: text.to_owned(),
            omitted_lines: 0,
            original_bytes,
        };
    }
    let lines: Vec<&str> = text.lines().collect();
    let mut order: Vec<usize> = (0..lines.len()).collect();
    // Stable: equal scores keep their order, so the start of the output wins.
    order.sort_by_key(|&i| std::cmp::Reverse(relevance(lines[i])));
    let room = budget.saturating_sub(64); // for the markers
    let mut keep = vec![false; lines.len()];
    let mut used = 0usize;
    for i in order {
        // Noise never makes the cut, whatever room is left.
        if relevance(lines[i]) == 0 {
            break;
        }
        let cost = lines[i].len().min(400) + 1;
        if used + cost > room {
            continue;
        }
        used += cost;
        keep[i] = true;
    }
    let mut out = String::new();
    let mut omitted = 0usize;
    let mut gap = 0usize;
    for (i, line) in lines.iter().enumerate() {
        if keep[i] {
            if gap > 0 {
                out.push_str(&format!("  … ({gap} lines omitted)\n"));
                gap = 0;
            }
            if line.len() > 400 {
                let mut cut = 400;
                while !line.is_char_boundary(cut) {
                    cut -= 1;
                }
                out.push_str(&line[..cut]);
                out.push_str(" …\n");
            } else {
                out.push_str(line);
                out.push('\n');
            }
        } else {
            gap += 1;
            omitted += 1;
        }
    }
    out.push_str(&format!(
        "[{omitted} more lines omitted: the output was {original_bytes} bytes, over this tool's budget of {budget}]\n"
    ));
    Truncated {
        text: out,
        omitted_lines: omitted,
        original_bytes,
    }
}

/// 3: a problem or its cause or fix; 2: what an object is; 1: the rest;
/// 0: noise (timestamps, uids, managed fields, hashes).
fn relevance(line: &str) -> u8 {
    let l = line.to_ascii_lowercase();
    const NOISE: &[&str] = &[
        "uid:",
        "resourceversion:",
        "creationtimestamp:",
        "managedfields",
        "time:",
        "generation:",
        "pod-template-hash",
        "selflink:",
    ];
    const PROBLEM: &[&str] = &[
        "error",
        "fail",
        "denied",
        "forbidden",
        "crash",
        "backoff",
        "oom",
        "killed",
        "panic",
        "exception",
        "refused",
        "not found",
        "missing",
        "warning",
        "critical",
        "root_cause",
        "reason:",
        "cause:",
        "unhealthy",
        "invalid",
        "mismatch",
        "fix",
        "json_patch",
        "kubectl",
        "proposed_action",
        "severity",
    ];
    const IDENTITY: &[&str] = &[
        "kind:",
        "name:",
        "namespace:",
        "op:",
        "path:",
        "value:",
        "ref:",
        "text:",
        "description:",
        "id:",
    ];
    if NOISE.iter().any(|n| l.contains(n)) {
        0
    } else if PROBLEM.iter().any(|p| l.contains(p)) {
        3
    } else if IDENTITY
        .iter()
        .any(|p| l.trim_start_matches(['-', ' ']).starts_with(p))
    {
        2
    } else {
        1
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn small_output_is_untouched() {
        let t = truncate_text("a: 1\nb: 2\n", 100);
        assert_eq!(t.text, "a: 1\nb: 2\n");
        assert_eq!(t.omitted_lines, 0);
    }

    #[test]
    fn truncation_keeps_errors_and_says_what_it_cut() {
        let mut text = String::new();
        for i in 0..200 {
            text.push_str(&format!("line {i}: nothing to see here, all is fine\n"));
            if i == 150 {
                text.push_str("reason: CrashLoopBackOff\n");
                text.push_str("message: Error: couldn't find key password in Secret shop/db\n");
            }
        }
        let t = truncate_text(&text, 600);
        assert!(t.text.len() <= 600 + 100, "{} bytes", t.text.len());
        assert!(t.text.contains("reason: CrashLoopBackOff"), "{}", t.text);
        assert!(t.text.contains("couldn't find key password"), "{}", t.text);
        assert!(t.text.contains("lines omitted"), "{}", t.text);
        assert!(t.omitted_lines > 150);
        assert!(t.text.ends_with("bytes, over this tool's budget of 600]\n"));
        // The kept lines are in their original order.
        let a = t.text.find("line 0:").unwrap();
        let b = t.text.find("reason: CrashLoopBackOff").unwrap();
        assert!(a < b);
    }

    #[test]
    fn noise_goes_before_identity() {
        let v = json!({"items": (0..100).map(|i| json!({
            "name": format!("pod-{i}"),
            "uid": "0f8fad5b-d9cb-469f-a165-70867728950e",
            "creationTimestamp": "2026-11-20T09:00:14Z"
        })).collect::<Vec<_>>()});
        let t = truncate_output(&v, 2000);
        assert!(t.text.contains("name: pod-0"));
        assert!(!t.text.contains("uid:"), "{}", t.text);
    }

    #[test]
    fn a_repeat_runs_once_more_then_is_refused() {
        let mut g = RepeatGuard::default();
        let args = json!({"namespace": "shop", "filter": []});
        let reordered = json!({"filter": [], "namespace": "shop"});
        assert!(g.refuse("cluster.summary", &args).is_none());
        assert!(!g.record("cluster.summary", &args, "call_1", "{\"a\":1}"));
        assert!(g.refuse("cluster.summary", &reordered).is_none());
        assert!(g.record("cluster.summary", &reordered, "call_2", "{\"a\":1}"));
        let msg = g.refuse("cluster.summary", &args).expect("refused");
        assert!(msg.contains("call_1"), "{msg}");
        // Other arguments are another call.
        assert!(
            g.refuse("cluster.summary", &json!({"namespace": "x"}))
                .is_none()
        );
    }

    #[test]
    fn a_changed_result_is_not_a_repeat() {
        let mut g = RepeatGuard::default();
        let args = json!({});
        g.record("cluster.summary", &args, "c1", "one");
        assert!(!g.record("cluster.summary", &args, "c2", "two"));
        assert!(g.refuse("cluster.summary", &args).is_none());
    }

    #[test]
    fn config_overrides_and_refuses_nonsense() {
        let g = Guards::from_config(&AgentConfig {
            max_tool_calls: Some(3),
            tool_output_kib: Some(2),
            tool_output_kib_per_tool: [("diagnostics.analyze".to_owned(), 40)].into(),
            ..Default::default()
        })
        .unwrap();
        assert_eq!(g.max_tool_calls, 3);
        assert_eq!(g.output_budget("cluster.logs"), 2048);
        assert_eq!(g.output_budget("diagnostics.analyze"), 40 << 10);
        assert!(
            Guards::from_config(&AgentConfig {
                tool_output_kib_per_tool: [("analyze".to_owned(), 4)].into(),
                ..Default::default()
            })
            .is_err()
        );
        assert!(
            Guards::from_config(&AgentConfig {
                max_tool_calls: Some(0),
                ..Default::default()
            })
            .is_err()
        );
        assert!(
            Guards::from_config(&AgentConfig {
                timeout_seconds: Some(-1.0),
                ..Default::default()
            })
            .is_err()
        );
    }
}
