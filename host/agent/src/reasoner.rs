//! The built-in reasoner: a deterministic planner that needs no model. It
//! finds the target of the question (namespace, object names, kinds), runs
//! the skills' tools through the same guards as a model would, picks the
//! findings that answer the question, and writes the answer from them.

use std::collections::BTreeSet;
use std::sync::Mutex;

use serde_json::{Value, json};

use crate::guard::RepeatGuard;
use crate::report::{Event, ProposalRecord};
use crate::run::{Agent, Outcome, Recorder};

/// What the question is about.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Target {
    /// Named explicitly (`in namespace shop`, `-n shop`, `ns shop`).
    pub namespace: Option<String>,
    /// The question's words, lower-case.
    pub words: Vec<String>,
    /// Kinds the question names (`Deployment`, `Service`…).
    pub kinds: BTreeSet<&'static str>,
}

const KINDS: &[(&str, &str)] = &[
    ("deployment", "Deployment"),
    ("deploy", "Deployment"),
    ("pod", "Pod"),
    ("service", "Service"),
    ("svc", "Service"),
    ("ingress", "Ingress"),
    ("job", "Job"),
    ("cronjob", "CronJob"),
    ("statefulset", "StatefulSet"),
    ("sts", "StatefulSet"),
    ("daemonset", "DaemonSet"),
    ("ds", "DaemonSet"),
    ("replicaset", "ReplicaSet"),
    ("pvc", "PersistentVolumeClaim"),
    ("volume", "PersistentVolumeClaim"),
    ("persistentvolumeclaim", "PersistentVolumeClaim"),
    ("node", "Node"),
    ("hpa", "HorizontalPodAutoscaler"),
    ("autoscaler", "HorizontalPodAutoscaler"),
    ("pdb", "PodDisruptionBudget"),
    ("networkpolicy", "NetworkPolicy"),
    ("webhook", "ValidatingWebhookConfiguration"),
    ("httproute", "HTTPRoute"),
    ("route", "HTTPRoute"),
    ("gateway", "Gateway"),
    ("configmap", "ConfigMap"),
];

/// Reads the target out of a question.
pub fn parse_question(question: &str) -> Target {
    let words: Vec<String> = question
        .split(|c: char| {
            !(c.is_ascii_alphanumeric() || c == '-' || c == '.' || c == '_' || c == '/')
        })
        .map(|w| {
            w.trim_matches(|c| c == '.' || c == '/' || c == '-')
                .to_ascii_lowercase()
        })
        .filter(|w| !w.is_empty())
        .collect();
    let mut target = Target::default();
    for (i, w) in words.iter().enumerate() {
        let next = words.get(i + 1).cloned();
        if matches!(w.as_str(), "namespace" | "ns" | "-n" | "n" | "--namespace")
            && let Some(ns) = next.filter(|n| is_name(n))
        {
            target.namespace = Some(ns);
        }
        let singular = w.strip_suffix('s').filter(|s| s.len() > 2).unwrap_or(w);
        for (word, kind) in KINDS {
            if w == word || singular == *word {
                target.kinds.insert(kind);
            }
        }
        // `deployment/checkout`
        if let Some((kind, _)) = w.split_once('/') {
            for (word, k) in KINDS {
                if kind == *word || kind.strip_suffix('s') == Some(word) {
                    target.kinds.insert(k);
                }
            }
        }
    }
    let mut expanded = Vec::new();
    for w in words {
        if let Some((_, name)) = w.split_once('/') {
            expanded.push(name.to_owned());
        }
        expanded.push(w);
    }
    target.words = expanded;
    target
}

fn is_name(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 63
        && s.chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
}

fn s<'a>(v: &'a Value, key: &str) -> &'a str {
    v[key].as_str().unwrap_or("")
}

fn rank(severity: &str) -> i64 {
    crate::severity_rank(severity).map_or(0, i64::from)
}

/// How well a finding answers the question.
fn score(f: &Value, target: &Target) -> i64 {
    let o = &f["object"];
    let name = s(o, "name").to_ascii_lowercase();
    let words = &target.words;
    let mut score = 0;
    if words.contains(&name) {
        score += 20;
    } else if words
        .iter()
        .any(|w| w.len() >= 3 && (name.starts_with(w.as_str()) || w.starts_with(&name)))
    {
        score += 8;
    }
    if f["pods"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(Value::as_str)
        .any(|p| words.iter().any(|w| w == p))
    {
        score += 15;
    }
    if target.kinds.contains(s(o, "kind")) {
        score += 4;
    }
    let text = format!("{} {}", s(f, "root_cause"), s(f, "cause")).to_ascii_lowercase();
    if words
        .iter()
        .any(|w| w.len() >= 4 && !STOP.contains(&w.as_str()) && text.contains(w.as_str()))
    {
        score += 2;
    }
    score
}

const STOP: &[&str] = &[
    "why",
    "what",
    "does",
    "this",
    "that",
    "with",
    "from",
    "failing",
    "broken",
    "wrong",
    "down",
    "working",
    "error",
    "errors",
    "crash",
    "crashing",
    "there",
    "anything",
    "namespace",
    "cluster",
    "pods",
    "pod",
    "service",
    "deployment",
    "is",
    "the",
    "in",
    "not",
];

impl Agent {
    fn related(&self, primary: &Value, all: &[Value]) -> Vec<Value> {
        let pname = s(&primary["object"], "name").to_ascii_lowercase();
        let ptext = format!(
            "{} {} {}",
            s(primary, "root_cause"),
            s(primary, "cause"),
            primary["evidence"]
        )
        .to_ascii_lowercase();
        all.iter()
            .filter(|f| *f != primary && rank(s(f, "severity")) >= 1)
            .filter(|f| {
                let name = s(&f["object"], "name").to_ascii_lowercase();
                let text = format!("{} {} {}", s(f, "root_cause"), s(f, "cause"), f["evidence"])
                    .to_ascii_lowercase();
                (name.len() >= 3 && ptext.contains(&name))
                    || (pname.len() >= 3 && text.contains(&pname))
            })
            .take(3)
            .cloned()
            .collect()
    }
}

pub(crate) async fn run(agent: &Agent, question: &str, rec: &Recorder) -> Outcome {
    let repeats = Mutex::new(RepeatGuard::default());
    let target = parse_question(question);
    let mut tools_used = Vec::new();

    // Observe: what is there, and where.
    rec.step("looking at the cluster (cluster.summary)");
    let (_, summary) = agent
        .guarded_call(
            rec,
            &repeats,
            "r1",
            "cluster.summary",
            &json!({"namespace": target.namespace}),
        )
        .await;
    tools_used.push("cluster.summary");
    let summary = summary.and_then(|o| o.value).unwrap_or(Value::Null);
    let namespaces: Vec<String> = summary["namespaces"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|n| n["namespace"].as_str().map(str::to_owned))
        .collect();
    let namespace = target
        .namespace
        .clone()
        .or_else(|| {
            target
                .words
                .iter()
                .find(|w| namespaces.iter().any(|n| n == *w))
                .cloned()
        })
        .or_else(|| {
            agent
                .context
                .default_namespace
                .clone()
                .filter(|d| namespaces.iter().any(|n| n == d))
        });
    let scope = match &namespace {
        Some(ns) => format!("namespace {ns}"),
        None => "every namespace".to_owned(),
    };

    // Reason: every analyzer over the scope, fixes checked by dry-run.
    rec.step(format!("analyzing {scope} (diagnostics.analyze)"));
    let (_, analysis) = agent
        .guarded_call(
            rec,
            &repeats,
            "r2",
            crate::tools::ANALYZE,
            &json!({"namespace": namespace, "dry_run": true}),
        )
        .await;
    tools_used.push(crate::tools::ANALYZE);
    let analysis = match analysis {
        Some(o) if o.ok() => o.value.unwrap_or(Value::Null),
        Some(o) => {
            let why = o.error.map(|e| e.message).unwrap_or_default();
            return Outcome {
                answer: format!("I could not analyze {scope}: {why}"),
                stopped: Some("diagnostics.analyze failed".into()),
                ..Default::default()
            };
        }
        None => {
            return Outcome {
                stopped: Some("diagnostics.analyze was refused by a guard".into()),
                ..Default::default()
            };
        }
    };
    let findings: Vec<Value> = analysis["findings"].as_array().cloned().unwrap_or_default();
    let scanned = analysis["summary"]["objects_scanned"].as_u64().unwrap_or(0);
    let problems: Vec<&Value> = findings
        .iter()
        .filter(|f| rank(s(f, "severity")) >= 1)
        .collect();

    // Pick what answers the question: the object it names, else the most
    // severe problem.
    let mut best: Option<(&Value, (i64, i64))> = None;
    for f in &problems {
        let key = (score(f, &target), rank(s(f, "severity")));
        if best.is_none_or(|(_, k)| key > k) {
            best = Some((f, key));
        }
    }
    let named_something = target.words.iter().any(|w| {
        !STOP.contains(&w.as_str())
            && findings
                .iter()
                .any(|f| s(&f["object"], "name").eq_ignore_ascii_case(w))
    });
    let Some((primary, (primary_score, _))) = best else {
        let infos = findings.len();
        let answer = format!(
            "No problems found in {scope}: {scanned} objects scanned by every analyzer{}.\n\n{}",
            if infos > 0 {
                format!(
                    ", {infos} informational note{}",
                    if infos == 1 { "" } else { "s" }
                )
            } else {
                String::new()
            },
            footer(&tools_used)
        );
        return Outcome {
            answer,
            ..Default::default()
        };
    };
    let mut answer = String::new();
    if named_something && primary_score < 8 {
        answer.push_str(&format!(
            "I found no problem with what the question names in {scope}; the most severe problem there is:\n\n"
        ));
    }
    let related = agent.related(primary, &findings);
    rec.emit(Event::Finding {
        finding: primary.clone(),
    });
    for f in &related {
        rec.emit(Event::Finding { finding: f.clone() });
    }
    let o = &primary["object"];
    answer.push_str(&format!(
        "{} {} {}{}: {}.\n",
        s(primary, "severity").to_uppercase(),
        s(o, "kind"),
        o["namespace"]
            .as_str()
            .map(|n| format!("{n}/"))
            .unwrap_or_default(),
        s(o, "name"),
        s(primary, "reason")
    ));
    answer.push_str(&format!("What: {}\n", s(primary, "cause")));
    if let Some(why) = primary["root_cause"].as_str() {
        answer.push_str(&format!("Root cause: {why}\n"));
    }
    let evidence = primary["evidence"].as_array().cloned().unwrap_or_default();
    if !evidence.is_empty() {
        answer.push_str("Evidence:\n");
        for e in evidence.iter().take(8) {
            answer.push_str(&format!(
                "  - [{}] {}: {}\n",
                s(e, "source"),
                s(e, "ref"),
                s(e, "text")
            ));
        }
        if evidence.len() > 8 {
            answer.push_str(&format!("  - … {} more\n", evidence.len() - 8));
        }
    }

    // Act: the fix, proposed when asked (a person approves it).
    let fixes = primary["fixes"].as_array().cloned().unwrap_or_default();
    let usable = |f: &&Value| f["dry_run"]["result"] == "passed" && f["requires_input"] != true;
    let fix = fixes.iter().find(usable).or(fixes.first()).cloned();
    let mut proposals = Vec::new();
    if let Some(fix) = &fix {
        let label = match s(&fix["dry_run"], "result") {
            "passed" => "server-side dry-run passed".to_owned(),
            "failed" => format!("dry-run FAILED: {}", s(&fix["dry_run"], "error")),
            "skipped" => format!("not dry-run: {}", s(&fix["dry_run"], "why")),
            _ => "not dry-run".to_owned(),
        };
        answer.push_str(&format!("Fix: {} ({label})\n", s(fix, "description")));
        if fix["requires_input"] == true {
            answer.push_str("  It needs input: fill in the <placeholders> first.\n");
        }
        if let Some(cmd) = fix["kubectl"].as_str() {
            answer.push_str(&format!("  $ {cmd}\n"));
        }
        if agent.propose && usable(&fix) {
            rec.step("proposing the fix (patch.propose)");
            let rationale = primary["root_cause"]
                .as_str()
                .unwrap_or(s(primary, "cause"));
            let input = json!({
                "target": fix["target"],
                "json_patch": fix["json_patch"],
                "rationale": format!("{rationale}. Fix: {}", s(fix, "description")),
            });
            let (_, outcome) = agent
                .guarded_call(rec, &repeats, "r3", "patch.propose", &input)
                .await;
            tools_used.push("patch.propose");
            match outcome
                .as_ref()
                .and_then(|o| o.value.as_ref())
                .and_then(|v| v["action_id"].as_str())
            {
                Some(id) => {
                    answer.push_str(&format!(
                        "Pending action: {id} (nothing is applied until a person approves: `guardian actions show {id}`, then `guardian actions approve {id}`)\n"
                    ));
                    rec.emit(Event::Proposal {
                        action_id: id.to_owned(),
                        target: fix["target"].clone(),
                        rationale: input["rationale"].as_str().unwrap_or("").to_owned(),
                    });
                    proposals.push(ProposalRecord {
                        action_id: id.to_owned(),
                        target: fix["target"].clone(),
                        json_patch: fix["json_patch"].clone(),
                    });
                }
                None => {
                    let why = outcome
                        .and_then(|o| o.error)
                        .map(|e| e.message)
                        .unwrap_or_else(|| "refused by a guard".into());
                    answer.push_str(&format!("Not proposed: {why}\n"));
                }
            }
        }
    } else {
        answer.push_str(
            "Fix: none proposed automatically; the root cause above says what to change.\n",
        );
    }
    if !related.is_empty() {
        answer.push_str("Related:\n");
        for f in &related {
            let o = &f["object"];
            answer.push_str(&format!(
                "  - {} {} {}: {} — {}\n",
                s(f, "severity"),
                s(o, "kind"),
                s(o, "name"),
                s(f, "reason"),
                f["root_cause"].as_str().unwrap_or(s(f, "cause"))
            ));
        }
    }
    let others = problems.len() - 1 - related.len();
    if others > 0 {
        answer.push_str(&format!(
            "{others} other problem{} in {scope} (`guardian diagnose` lists them all).\n",
            if others == 1 { "" } else { "s" }
        ));
    }
    answer.push('\n');
    answer.push_str(&footer(&tools_used));
    let mut chosen = vec![primary.clone()];
    chosen.extend(related);
    Outcome {
        answer,
        findings: chosen,
        fix,
        proposals,
        stopped: None,
    }
}

fn footer(tools: &[&str]) -> String {
    format!(
        "(Answered by the built-in reasoner, without a model; tools used: {}.)",
        tools.join(", ")
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_namespace_names_and_kinds() {
        let t = parse_question("Why is deployment/checkout failing in namespace staging?");
        assert_eq!(t.namespace.as_deref(), Some("staging"));
        assert!(t.kinds.contains("Deployment"));
        assert!(t.words.iter().any(|w| w == "checkout"));
        let t = parse_question("pods crashing -n shop");
        assert_eq!(t.namespace.as_deref(), Some("shop"));
        assert!(t.kinds.contains("Pod"));
        let t = parse_question("why are the payments pods not ready?");
        assert_eq!(t.namespace, None);
        assert!(t.words.iter().any(|w| w == "payments"));
    }

    #[test]
    fn the_named_object_wins_over_severity() {
        let t = parse_question("why is checkout failing?");
        let a =
            json!({"severity": "critical", "object": {"kind": "Deployment", "name": "payments"}});
        let b =
            json!({"severity": "warning", "object": {"kind": "Deployment", "name": "checkout"}});
        assert!(score(&b, &t) > score(&a, &t));
    }
}
