//! The reasoner's Argo CD answers: "is checkout synced?", "what drifted in
//! payments?", "which apps are out of sync?" go to the `argocd` skill —
//! Argo CD's own verdict on its Applications, read through the Kubernetes
//! API — rather than to a diagnosis of the namespace.

use std::sync::Mutex;

use serde_json::{Value, json};

use crate::guard::RepeatGuard;
use crate::run::{Agent, Outcome, Recorder};

pub const APPS: &str = "argocd.apps";
pub const STATUS: &str = "argocd.status";
pub const SYNC: &str = "argocd.sync";
const ANALYZE: &str = crate::tools::ANALYZE;

/// Whether the question is about Argo CD's view: sync, drift, GitOps.
pub fn asked(question: &str) -> bool {
    const WORDS: &[&str] = &[
        "synced",
        "sync",
        "syncing",
        "unsynced",
        "outofsync",
        "argo",
        "argocd",
        "gitops",
        "drift",
        "drifted",
        "drifting",
    ];
    const PHRASES: &[&str] = &["out of sync", "in sync", "argo cd", "self heal"];
    let q = question.to_ascii_lowercase();
    let words = words(&q);
    let joined = words.join(" ");
    words.iter().any(|w| WORDS.contains(w)) || PHRASES.iter().any(|p| joined.contains(p))
}

fn words(q: &str) -> Vec<&str> {
    q.split(|c: char| !(c.is_ascii_alphanumeric() || c == '-' || c == '_' || c == '.'))
        .map(|w| w.trim_matches('.'))
        .filter(|w| !w.is_empty())
        .collect()
}

/// The Applications whose names the question says (whole words; a name
/// may hold `-`), in the order listed.
fn named<'a>(question: &str, apps: &'a [Value]) -> Vec<&'a Value> {
    let q = question.to_ascii_lowercase();
    let said = words(&q);
    apps.iter()
        .filter(|a| {
            a["name"]
                .as_str()
                .is_some_and(|n| said.contains(&n.to_ascii_lowercase().as_str()))
        })
        .collect()
}

/// The answer: the Applications the question names (or, naming none, every
/// one read and which are not Synced and Healthy), each with Argo CD's
/// verdict, what is out of sync or unhealthy and why; with `propose`, a sync
/// of a named Application that is out of sync, stored for a person to
/// approve.
pub(crate) async fn answer(
    agent: &Agent,
    question: &str,
    rec: &Recorder,
    repeats: &Mutex<RepeatGuard>,
) -> Outcome {
    let mut tools_used = vec![APPS];
    let mut answer = String::new();
    // Where Applications live: the explicit namespace, else the config's.
    let namespaces: Vec<String> = match &agent.context.explicit_namespace {
        Some(ns) => vec![ns.clone()],
        None => agent.context.argocd_namespaces.clone(),
    };
    let mut apps: Vec<Value> = Vec::new();
    let mut read = Vec::new();
    let mut unread = Vec::new();
    for (i, ns) in namespaces.iter().enumerate() {
        rec.step(format!("listing Argo CD Applications in {ns} ({APPS})"));
        let (_, outcome) = agent
            .guarded_call(
                rec,
                repeats,
                &format!("a{i}"),
                APPS,
                &json!({"namespace": ns}),
            )
            .await;
        match outcome {
            Some(o) if o.ok() => {
                let v = o.value.unwrap_or(Value::Null);
                apps.extend(v["apps"].as_array().cloned().unwrap_or_default());
                read.push(ns.clone());
            }
            Some(o) => unread.push(format!(
                "namespace {ns}: {}",
                o.error.map(|e| e.message).unwrap_or_default()
            )),
            None => unread.push(format!("namespace {ns}: refused by a guard")),
        }
    }
    if read.is_empty() {
        answer.push_str(&format!(
            "I could not read Argo CD's Applications, so I cannot say whether anything is synced: {}.\n\n",
            unread.join("; ")
        ));
        answer.push_str(&footer(&tools_used));
        return Outcome {
            answer,
            ..Default::default()
        };
    }
    let scope = format!("namespace {}", read.join(", "));
    let chosen = named(question, &apps);
    let mut proposals = Vec::new();
    if chosen.is_empty() {
        answer.push_str(&overview(&apps, &scope));
    } else {
        tools_used.push(STATUS);
        for (i, app) in chosen.iter().enumerate() {
            let (name, ns) = (s(app, "name"), s(app, "namespace"));
            rec.step(format!("reading Application {ns}/{name} ({STATUS})"));
            let (_, outcome) = agent
                .guarded_call(
                    rec,
                    repeats,
                    &format!("s{i}"),
                    STATUS,
                    &json!({"name": name, "namespace": ns}),
                )
                .await;
            let status = match outcome {
                Some(o) if o.ok() => o.value.unwrap_or(Value::Null),
                Some(o) => {
                    let why = o.error.map(|e| e.message).unwrap_or_default();
                    answer.push_str(&format!(
                        "I could not read Application {ns}/{name}: {why}\n\n"
                    ));
                    continue;
                }
                None => {
                    answer.push_str(&format!(
                        "I could not read Application {ns}/{name}: refused by a guard.\n\n"
                    ));
                    continue;
                }
            };
            answer.push_str(&describe(&status));
            answer.push_str(&underneath(agent, rec, repeats, &status, i, &mut tools_used).await);
            let summary = &status["app"];
            let idle =
                summary["operation_requested"] != true && summary["operation"]["running"] != true;
            if agent.propose && summary["sync_status"] == "OutOfSync" && idle {
                if !tools_used.contains(&SYNC) {
                    tools_used.push(SYNC);
                }
                let input = json!({"name": name, "namespace": ns,
                    "reason": format!("asked: {question}")});
                let (_, outcome) = agent
                    .guarded_call(rec, repeats, &format!("y{i}"), SYNC, &input)
                    .await;
                match outcome
                    .as_ref()
                    .and_then(|o| o.value.as_ref())
                    .and_then(|v| v["action_id"].as_str().map(|id| (id, v)))
                {
                    Some((id, v)) => {
                        answer.push_str(&format!(
                            "Pending action: {id}, a sync of {name} (nothing is synced until a person approves: `guardian actions show {id}`, then `guardian actions approve {id}`, then `guardian argocd verify {name}`)\n"
                        ));
                        proposals.push(crate::report::ProposalRecord {
                            action_id: id.to_owned(),
                            target: json!({"apiVersion": "argoproj.io/v1alpha1",
                                "kind": "Application", "namespace": ns, "name": name}),
                            json_patch: v["patch"].clone(),
                        });
                    }
                    None => {
                        let why = outcome
                            .and_then(|o| o.error)
                            .map(|e| e.message)
                            .unwrap_or_else(|| "refused by a guard".into());
                        answer.push_str(&format!("Sync not proposed: {why}\n"));
                    }
                }
            }
            answer.push('\n');
        }
    }
    for u in &unread {
        answer.push_str(&format!("Not read: {u}.\n"));
    }
    if !unread.is_empty() {
        answer.push('\n');
    }
    answer.push_str(&footer(&tools_used));
    Outcome {
        answer,
        proposals,
        ..Default::default()
    }
}

/// Why the Application's resources that are not healthy are not:
/// diagnostics over their namespace, narrowed to their kinds, keeping the
/// findings about them (the most severe first).
async fn underneath(
    agent: &Agent,
    rec: &Recorder,
    repeats: &Mutex<RepeatGuard>,
    status: &Value,
    i: usize,
    tools_used: &mut Vec<&'static str>,
) -> String {
    let unhealthy: Vec<&Value> = status["resources"]["unhealthy"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|r| r["namespace"].as_str().is_some_and(|n| !n.is_empty()))
        .collect();
    let Some(ns) = unhealthy.first().and_then(|r| r["namespace"].as_str()) else {
        return String::new();
    };
    let here: Vec<&&Value> = unhealthy.iter().filter(|r| r["namespace"] == ns).collect();
    let mut kinds: Vec<&str> = here.iter().filter_map(|r| r["kind"].as_str()).collect();
    kinds.sort_unstable();
    kinds.dedup();
    let input = json!({"namespace": ns, "kinds": kinds});
    rec.step(format!(
        "diagnosing what is not healthy in namespace {ns} ({ANALYZE})"
    ));
    if !tools_used.contains(&ANALYZE) {
        tools_used.push(ANALYZE);
    }
    let (_, outcome) = agent
        .guarded_call(rec, repeats, &format!("d{i}"), ANALYZE, &input)
        .await;
    let report = match outcome {
        Some(o) if o.ok() => o.value.unwrap_or(Value::Null),
        Some(o) => {
            return format!(
                "I could not diagnose namespace {ns}: {}\n",
                o.error.map(|e| e.message).unwrap_or_default()
            );
        }
        None => return format!("I could not diagnose namespace {ns}: refused by a guard.\n"),
    };
    let about = |f: &Value| {
        here.iter().any(|r| {
            [&f["object"], &f["owner"]]
                .iter()
                .any(|o| o["kind"] == r["kind"] && o["name"] == r["name"])
        })
    };
    let findings: Vec<&Value> = report["findings"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|f| about(f))
        .take(3)
        .collect();
    if findings.is_empty() {
        return format!(
            "Diagnostics found nothing more about {} in namespace {ns}.\n",
            here.iter()
                .map(|r| format!("{}/{}", s(r, "kind"), s(r, "name")))
                .collect::<Vec<_>>()
                .join(", ")
        );
    }
    let mut out = String::new();
    for f in findings {
        out.push_str(&format!(
            "Why ({} on {} {}/{}): {}\n",
            s(f, "reason"),
            s(&f["object"], "kind"),
            s(&f["object"], "namespace"),
            s(&f["object"], "name"),
            f["root_cause"].as_str().unwrap_or_else(|| s(f, "cause"))
        ));
        if let Some(fix) = f["fixes"].as_array().and_then(|x| x.first()) {
            out.push_str(&format!("Fix: {}", s(fix, "description")));
            if let Some(note) = fix["gitops"].as_str() {
                out.push_str(&format!(" — {note}"));
            }
            out.push('\n');
        }
    }
    out
}

fn footer(tools: &[&str]) -> String {
    format!(
        "(Answered by the built-in reasoner, without a model; tools used: {}.)",
        tools.join(", ")
    )
}

fn s<'a>(v: &'a Value, key: &str) -> &'a str {
    v[key].as_str().unwrap_or("")
}

/// A Git sha as `git log --oneline` shows it (7 hex digits); any other
/// revision (a tag, a branch, a chart version) as it is.
pub fn short(revision: &str) -> &str {
    if revision.len() == 40 && revision.bytes().all(|b| b.is_ascii_hexdigit()) {
        &revision[..7]
    } else {
        revision
    }
}

/// Every Application read: how many are Synced and Healthy, and each that
/// is not.
fn overview(apps: &[Value], scope: &str) -> String {
    if apps.is_empty() {
        return format!(
            "There are no Argo CD Applications in {scope}, so nothing there is synced by Argo CD.\n\n"
        );
    }
    let good = apps
        .iter()
        .filter(|a| a["sync_status"] == "Synced" && a["health_status"] == "Healthy")
        .count();
    let mut out = format!(
        "{good} of the {} Argo CD Applications in {scope} are Synced and Healthy.\n",
        apps.len()
    );
    let line = |a: &Value| {
        format!(
            "- {}/{}: {} and {}{}\n",
            s(a, "namespace"),
            s(a, "name"),
            s(a, "sync_status"),
            s(a, "health_status"),
            a["health_message"]
                .as_str()
                .map(|m| format!(" ({m})"))
                .unwrap_or_default()
        )
    };
    let not_synced: Vec<&Value> = apps
        .iter()
        .filter(|a| a["sync_status"] != "Synced")
        .collect();
    let unhealthy: Vec<&Value> = apps
        .iter()
        .filter(|a| a["sync_status"] == "Synced" && a["health_status"] != "Healthy")
        .collect();
    if !not_synced.is_empty() {
        out.push_str("Not synced (OutOfSync, or Unknown when Argo CD cannot compare):\n");
        not_synced.iter().for_each(|a| out.push_str(&line(a)));
    }
    if !unhealthy.is_empty() {
        out.push_str("Synced, but not healthy:\n");
        unhealthy.iter().for_each(|a| out.push_str(&line(a)));
    }
    out.push('\n');
    out
}

/// One Application's status as words.
fn describe(status: &Value) -> String {
    let app = &status["app"];
    let (name, ns) = (s(app, "name"), s(app, "namespace"));
    let sync = s(app, "sync_status");
    let health = s(app, "health_status");
    let revision = app["revision"]
        .as_str()
        .map(|r| format!(" at revision {}", short(r)))
        .unwrap_or_default();
    let verdict = match (sync, health) {
        ("Synced", "Healthy") => "Yes: ",
        ("Synced", _) => "Synced, but not healthy: ",
        ("Unknown", _) => "Unknown: ",
        _ => "No: ",
    };
    let mut out = format!(
        "{verdict}Application {ns}/{name} is {sync} and {health}{revision}{}.\n",
        app["health_message"]
            .as_str()
            .map(|m| format!(" ({m})"))
            .unwrap_or_default()
    );
    let policy = if app["automated"] == true {
        if app["self_heal"] == true {
            "automated sync with self-heal: a direct change to what it manages is reverted; change Git instead"
        } else {
            "automated sync without self-heal: the next change in Git overwrites a direct change"
        }
    } else {
        "manual sync"
    };
    out.push_str(&format!("Sync policy: {policy}.\n"));
    if let Some(op) = status["operation"].as_object() {
        out.push_str(&format!(
            "Last operation: {}{}.\n",
            op.get("phase").and_then(Value::as_str).unwrap_or("?"),
            op.get("message")
                .and_then(Value::as_str)
                .map(|m| format!(": {m}"))
                .unwrap_or_default()
        ));
    }
    for c in status["conditions"].as_array().into_iter().flatten() {
        out.push_str(&format!(
            "Condition {}: {}\n",
            s(c, "type"),
            s(c, "message")
        ));
    }
    for (key, what) in [("out_of_sync", "Out of sync"), ("unhealthy", "Not healthy")] {
        let list: Vec<String> = status["resources"][key]
            .as_array()
            .into_iter()
            .flatten()
            .map(|r| {
                let mut t = format!("{} {}/{}", s(r, "kind"), s(r, "namespace"), s(r, "name"));
                if key == "unhealthy"
                    && let Some(m) = r["health_message"].as_str()
                {
                    t.push_str(&format!(" ({m})"));
                }
                t
            })
            .collect();
        if !list.is_empty() {
            out.push_str(&format!("{what}: {}.\n", list.join(", ")));
        }
    }
    for f in status["findings"].as_array().into_iter().flatten() {
        out.push_str(&format!(
            "Problem ({}): {}{}\n",
            s(f, "reason"),
            s(f, "cause"),
            f["root_cause"]
                .as_str()
                .map(|r| format!(" — {r}"))
                .unwrap_or_default()
        ));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sync_questions_are_told_from_other_questions() {
        for q in [
            "is checkout synced?",
            "Which apps are out of sync?",
            "what drifted in payments",
            "is argo happy with shop?",
            "is the gitops app for checkout ok",
        ] {
            assert!(asked(q), "{q}");
        }
        for q in [
            "why is checkout crashing?",
            "optimize the worker",
            "what's wrong in shop?",
            "is the syncer pod ok?",
        ] {
            assert!(!asked(q), "{q}");
        }
    }

    #[test]
    fn applications_are_found_by_their_whole_names() {
        let apps = vec![
            json!({"name": "checkout"}),
            json!({"name": "checkout-api"}),
            json!({"name": "cart"}),
        ];
        let got: Vec<&str> = named("is checkout-api synced?", &apps)
            .iter()
            .map(|a| a["name"].as_str().unwrap())
            .collect();
        assert_eq!(got, vec!["checkout-api"]);
        let got: Vec<&str> = named("is Checkout synced? and cart.", &apps)
            .iter()
            .map(|a| a["name"].as_str().unwrap())
            .collect();
        assert_eq!(got, vec!["checkout", "cart"]);
    }
}
