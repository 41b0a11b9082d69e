//! The reasoner's right-sizing answers: "optimize checkout", "is payments
//! over-provisioned?", "how much memory does the worker need?" go to the
//! `rightsizing.recommend` tool for the namespaces (and the workload) the
//! question names, found the same way as every other question's target.

use std::sync::Mutex;

use serde_json::{Value, json};

use crate::guard::RepeatGuard;
use crate::resolve::Resolution;
use crate::run::{Agent, Outcome, Recorder};

/// The tool.
pub const RECOMMEND: &str = "rightsizing.recommend";

/// Whether the question asks for sizing advice rather than a diagnosis:
/// one of the words (whole words: `cost-api` is a name, not a question
/// about cost) or phrases.
pub fn asked(question: &str) -> bool {
    const WORDS: &[&str] = &[
        "optimize",
        "optimise",
        "optimizing",
        "optimising",
        "optimization",
        "optimisation",
        "rightsize",
        "right-size",
        "rightsizing",
        "right-sizing",
        "oversized",
        "undersized",
        "overprovisioned",
        "underprovisioned",
        "over-provisioned",
        "under-provisioned",
        "provisioned",
        "waste",
        "wasting",
        "wasted",
        "cost",
        "costs",
    ];
    const PHRASES: &[&str] = &[
        "right size",
        "requests and limits",
        "resource requests",
        "cpu request",
        "memory request",
        "how much cpu",
        "how much memory",
        "too much cpu",
        "too much memory",
        "save money",
    ];
    let q = question.to_ascii_lowercase();
    let words: Vec<&str> = q
        .split(|c: char| !(c.is_ascii_alphanumeric() || c == '-'))
        .filter(|w| !w.is_empty())
        .collect();
    let joined = words.join(" ");
    words.iter().any(|w| WORDS.contains(w)) || PHRASES.iter().any(|p| joined.contains(p))
}

/// The answer: the recommendations of each namespace the question names
/// (the workload it names, when one), their findings and fixes, and what
/// could not be read.
pub(crate) async fn answer(
    agent: &Agent,
    res: &Resolution,
    namespaces: &[String],
    rec: &Recorder,
    repeats: &Mutex<RepeatGuard>,
    mut tools_used: Vec<&'static str>,
) -> Outcome {
    let mut calls: Vec<Value> = Vec::new();
    if namespaces.is_empty() {
        calls.push(json!({"all_namespaces": true}));
    }
    for ns in namespaces {
        let workloads: Vec<String> = res
            .hits
            .iter()
            .filter(|h| h.object.namespace.as_deref() == Some(ns.as_str()))
            .filter(|h| {
                matches!(
                    h.object.kind,
                    "Deployment" | "StatefulSet" | "DaemonSet" | "CronJob" | "Job"
                )
            })
            .map(|h| format!("{}/{}", h.object.kind.to_ascii_lowercase(), h.object.name))
            .collect();
        match workloads.as_slice() {
            [] => calls.push(json!({"namespace": ns})),
            list => {
                for w in list {
                    calls.push(json!({"namespace": ns, "workload": w}));
                }
            }
        }
    }
    let mut answer = String::new();
    for (i, h) in res.hits.iter().enumerate() {
        if let Some(e) = h.explain() {
            answer.push_str(&format!("Reading {e}.\n"));
        }
        if i + 1 == res.hits.len() && h.explain().is_some() {
            answer.push('\n');
        }
    }
    tools_used.push(RECOMMEND);
    let mut proposals = Vec::new();
    for (i, input) in calls.iter().enumerate() {
        let scope = match (&input["namespace"], &input["workload"]) {
            (Value::String(ns), Value::String(w)) => format!("{w} in namespace {ns}"),
            (Value::String(ns), _) => format!("namespace {ns}"),
            _ => "every namespace".to_owned(),
        };
        rec.step(format!("right-sizing {scope} (rightsizing.recommend)"));
        let (_, outcome) = agent
            .guarded_call(rec, repeats, &format!("rs{i}"), RECOMMEND, input)
            .await;
        let report = match outcome {
            Some(o) if o.ok() => o.value.unwrap_or(Value::Null),
            Some(o) => {
                let why = o.error.map(|e| e.message).unwrap_or_default();
                answer.push_str(&format!("I could not right-size {scope}: {why}\n\n"));
                continue;
            }
            None => {
                answer.push_str(&format!(
                    "I could not right-size {scope}: the call was refused by a guard.\n\n"
                ));
                continue;
            }
        };
        answer.push_str(&render(&report, &scope));
        if agent.propose
            && let Some(fix) = first_fix(&report)
        {
            let input = json!({
                "target": fix["target"],
                "json_patch": fix["json_patch"],
                "rationale": s(fix, "description"),
            });
            let (_, outcome) = agent
                .guarded_call(rec, repeats, &format!("rs{i}p"), "patch.propose", &input)
                .await;
            if !tools_used.contains(&"patch.propose") {
                tools_used.push("patch.propose");
            }
            match outcome
                .as_ref()
                .and_then(|o| o.value.as_ref())
                .and_then(|v| v["action_id"].as_str())
            {
                Some(id) => {
                    answer.push_str(&format!(
                        "Pending action: {id} (nothing is applied until a person approves: `guardian actions show {id}`, then `guardian actions approve {id}`)\n"
                    ));
                    proposals.push(crate::report::ProposalRecord {
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
        answer.push('\n');
    }
    answer.push_str(&format!(
        "(Answered by the built-in reasoner, without a model; tools used: {}.)",
        tools_used.join(", ")
    ));
    Outcome {
        answer,
        proposals,
        ..Default::default()
    }
}

/// The first fix of the most severe finding whose dry-run passed.
fn first_fix(report: &Value) -> Option<&Value> {
    report["findings"]
        .as_array()?
        .iter()
        .flat_map(|f| f["fixes"].as_array().into_iter().flatten())
        .find(|x| x["dry_run"]["result"] == "passed" && x["json_patch"].is_array())
}

/// One report as words: each container's change and why, the findings,
/// what could not be read, the totals.
pub(crate) fn render(report: &Value, scope: &str) -> String {
    let mut out = String::new();
    let recs = report["recommendations"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    let problems: Vec<&str> = report["problems"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(Value::as_str)
        .collect();
    if recs.is_empty() {
        out.push_str(&format!("No workloads to right-size in {scope}.\n"));
    }
    for r in &recs {
        let w = &r["workload"];
        let head = format!(
            "{} {}/{} container {}",
            s(w, "kind"),
            s(w, "namespace"),
            s(w, "name"),
            s(r, "container")
        );
        match s(r, "status") {
            "ok" => {
                let mut changes = Vec::new();
                for (key, label) in [
                    ("cpu_request", "CPU request"),
                    ("cpu_limit", "CPU limit"),
                    ("memory_request", "memory request"),
                    ("memory_limit", "memory limit"),
                ] {
                    let before = r["current"][key].as_str().unwrap_or("none");
                    let after = r["recommended"][key].as_str().unwrap_or("none");
                    if before != after {
                        changes.push(format!("{label} {before} → {after}"));
                    }
                }
                if changes.is_empty() {
                    out.push_str(&format!("{head}: sized right, no change.\n"));
                } else {
                    out.push_str(&format!("{head}: {}.\n", changes.join(", ")));
                }
            }
            "unchanged" => out.push_str(&format!("{head}: sized right, no change.\n")),
            other => out.push_str(&format!("{head}: {}.\n", other.replace('_', " "))),
        }
        for why in r["why"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(Value::as_str)
        {
            out.push_str(&format!("  - {why}\n"));
        }
    }
    for f in report["findings"].as_array().into_iter().flatten() {
        out.push_str(&format!(
            "{} {} {}/{} ({}): {}\n",
            s(f, "severity").to_uppercase(),
            s(&f["object"], "kind"),
            s(&f["object"], "namespace"),
            s(&f["object"], "name"),
            s(f, "reason"),
            f["root_cause"].as_str().unwrap_or(s(f, "cause"))
        ));
        if let Some(fix) = f["fixes"].as_array().and_then(|x| x.first()) {
            out.push_str(&format!(
                "  Fix: {} (server-side dry-run {})\n",
                s(fix, "description"),
                fix["dry_run"]["result"].as_str().unwrap_or("not run")
            ));
            if let Some(k) = fix["kubectl"].as_str() {
                out.push_str(&format!("  $ {k}\n"));
            }
        }
    }
    for p in &problems {
        out.push_str(&format!("NOT READ: {p}\n"));
    }
    let m = &report["summary"];
    if let (Some(cpu), Some(mem)) = (
        m["cpu_request_change_millicores"].as_f64(),
        m["memory_request_change_bytes"].as_f64(),
    ) {
        out.push_str(&format!(
            "Scope: {scope} — {} containers, {} without enough data; requested CPU {:+.0}m, memory {:+.0}Mi{}.\n",
            m["containers"].as_u64().unwrap_or(recs.len() as u64),
            m["not_enough_data"].as_u64().unwrap_or(0),
            cpu,
            mem / (1024.0 * 1024.0),
            m["monthly_cost_change"]
                .as_f64()
                .map(|c| format!("; monthly cost {c:+.2}"))
                .unwrap_or_default()
        ));
    } else {
        out.push_str(&format!("Scope: {scope}.\n"));
    }
    out
}

fn s<'a>(v: &'a Value, key: &str) -> &'a str {
    v[key].as_str().unwrap_or("")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizing_questions_are_told_from_diagnoses() {
        for q in [
            "optimize checkout-service",
            "right-size the payments namespace",
            "is web over-provisioned?",
            "how much memory does the worker need",
            "where are we wasting cpu?",
        ] {
            assert!(asked(q), "{q}");
        }
        for q in [
            "why is checkout OOMKilled?",
            "why is payments down?",
            "is anything broken in the cluster?",
            "what's wrong with the memory-cache deployment",
            "why is cost-api down?",
            "is the optimizer-worker healthy?",
        ] {
            assert!(!asked(q), "{q}");
        }
    }

    #[test]
    fn a_report_is_written_as_changes_and_what_was_not_read() {
        let report = json!({
            "recommendations": [{
                "workload": {"kind": "Deployment", "namespace": "shop", "name": "checkout"},
                "container": "app",
                "current": {"cpu_request": "500m", "memory_request": "256Mi", "memory_limit": "512Mi"},
                "recommended": {"cpu_request": "120m", "memory_request": "300Mi", "memory_limit": "300Mi"},
                "status": "ok",
                "why": ["CPU request = p95 of per-pod usage over 14d (118m)"]
            }, {
                "workload": {"kind": "Deployment", "namespace": "shop", "name": "new"},
                "container": "app", "status": "not_enough_data",
                "why": ["12 samples over 14d; 100 needed"]
            }],
            "findings": [],
            "summary": {"containers": 2, "not_enough_data": 1,
                        "cpu_request_change_millicores": -380.0, "memory_request_change_bytes": 46137344.0},
            "problems": ["Prometheus http://127.0.0.1:1: connection refused"]
        });
        let text = render(&report, "namespace shop");
        assert!(text.contains("CPU request 500m → 120m"), "{text}");
        assert!(text.contains("memory limit 512Mi → 300Mi"), "{text}");
        assert!(
            text.contains("Deployment shop/new container app: not enough data."),
            "{text}"
        );
        assert!(text.contains("NOT READ: Prometheus"), "{text}");
        assert!(text.contains("requested CPU -380m, memory +44Mi"), "{text}");
    }
}
