//! The built-in reasoner: a deterministic planner that needs no model. It
//! lists the cluster's names once, finds what the question is about among
//! them (`resolve`), analyzes only that scope with the skills' tools through
//! the same guards as a model would, picks the findings that answer the
//! question, and writes the answer from them — naming the scope it read.
//! It never says "no problems" about something it did not look at.

use std::collections::BTreeSet;
use std::sync::Mutex;

use serde_json::{Value, json};

use crate::guard::RepeatGuard;
use crate::report::{Event, ProposalRecord};
use crate::resolve::{self, Hit, Inventory, Resolution};
use crate::run::{Agent, Outcome, Recorder, RunContext};

fn s<'a>(v: &'a Value, key: &str) -> &'a str {
    v[key].as_str().unwrap_or("")
}

fn rank(severity: &str) -> i64 {
    crate::severity_rank(severity).map_or(0, i64::from)
}

/// Where the analysis looks.
#[derive(Debug, PartialEq)]
enum Scope {
    /// Every namespace and the cluster-scoped objects.
    Everything,
    /// These namespaces, and the cluster-scoped objects when `nodes`.
    Namespaces {
        names: BTreeSet<String>,
        nodes: bool,
    },
}

impl Scope {
    fn describe(&self) -> String {
        match self {
            Scope::Everything => "every namespace and the cluster-scoped objects".to_owned(),
            Scope::Namespaces { names, nodes } => {
                let list: Vec<&str> = names.iter().map(String::as_str).collect();
                let ns = match list.len() {
                    0 => String::new(),
                    1 => format!("namespace {}", list[0]),
                    _ => format!("namespaces {}", list.join(", ")),
                };
                match (ns.is_empty(), nodes) {
                    (true, _) => "the cluster-scoped objects (nodes…)".to_owned(),
                    (false, true) => format!("{ns} and the cluster-scoped objects"),
                    (false, false) => ns,
                }
            }
        }
    }

    fn input(&self) -> Value {
        match self {
            Scope::Everything => json!({"dry_run": true}),
            Scope::Namespaces {
                names,
                nodes: false,
            } if names.len() == 1 => {
                json!({"namespace": names.iter().next(), "dry_run": true})
            }
            Scope::Namespaces { names, nodes } => {
                json!({"namespaces": names, "cluster_scoped": nodes, "dry_run": true})
            }
        }
    }
}

/// What the answer is about: the resolution, or why there is nothing to
/// look at.
enum Plan {
    Look(Scope),
    /// Nothing the question names exists: the honest answer.
    Nothing(String),
}

fn plan(res: &Resolution, inv: &Inventory, listed: bool, context: &RunContext) -> Plan {
    if !res.missing_namespaces.is_empty() && res.nothing_matched() && listed {
        let ns = &res.missing_namespaces[0];
        let near: Vec<String> = resolve::nearest(ns, inv, 3)
            .into_iter()
            .filter(|n| n.kind == "Namespace")
            .map(|n| format!("`{}`", n.name))
            .collect();
        return Plan::Nothing(format!(
            "There is no namespace `{ns}` among the {} namespaces I can read{}.",
            inv.namespaces.len(),
            if near.is_empty() {
                format!(" ({})", sample(&inv.namespaces))
            } else {
                format!("; did you mean {}?", near.join(" or "))
            }
        ));
    }
    if res.nothing_matched() && !res.unmatched.is_empty() && !res.everything && listed {
        let mut lines = Vec::new();
        for word in res.unmatched.iter().take(3) {
            let near = resolve::nearest(word, inv, 3);
            lines.push(if near.is_empty() {
                format!("Nothing is named `{word}`.")
            } else {
                format!(
                    "Nothing is named `{word}`; did you mean {}?",
                    near.iter()
                        .map(|n| format!("`{}` ({})", n.name, n.display()))
                        .collect::<Vec<_>>()
                        .join(", or ")
                )
            });
        }
        return Plan::Nothing(format!(
            "I found nothing the question names in the {} namespaces I can read ({} workloads, services, ingresses, volume claims, jobs, pods and nodes listed).\n{}\nAsk about one of those names, or \"is anything broken in the cluster?\" to look at everything.",
            inv.namespaces.len(),
            inv.objects.len(),
            lines.join("\n")
        ));
    }
    let names = res.scope();
    if res.everything && res.hits.iter().any(|h| h.object.namespace.is_none()) {
        return Plan::Look(Scope::Everything);
    }
    if !names.is_empty() || res.nodes() && !res.everything {
        return Plan::Look(Scope::Namespaces {
            names,
            nodes: res.nodes(),
        });
    }
    match (&context.explicit_namespace, res.everything) {
        (Some(ns), false) => Plan::Look(Scope::Namespaces {
            names: BTreeSet::from([ns.clone()]),
            nodes: false,
        }),
        _ => Plan::Look(Scope::Everything),
    }
}

fn sample(names: &[String]) -> String {
    let mut out: Vec<&str> = names.iter().take(8).map(String::as_str).collect();
    if names.len() > 8 {
        out.push("…");
    }
    out.join(", ")
}

/// A question about a kind the listing of names does not hold (a
/// NetworkPolicy, an HPA, a webhook…): its unmatched words are taken as
/// that kind's names, matched against the findings of the whole scope,
/// rather than answered as names that do not exist.
fn name_unlisted_kinds(res: &mut Resolution) {
    let Some(kind) = res
        .kinds
        .iter()
        .copied()
        .find(|k| !resolve::LISTED_KINDS.contains(k))
    else {
        return;
    };
    if !res.hits.is_empty() || res.unmatched.is_empty() {
        return;
    }
    let namespace = (res.namespaces.len() == 1)
        .then(|| res.namespaces.iter().next().cloned())
        .flatten();
    let everywhere = namespace.is_none();
    for word in std::mem::take(&mut res.unmatched) {
        res.hits.push(Hit {
            object: resolve::Named {
                kind,
                namespace: namespace.clone(),
                name: word.clone(),
            },
            word,
            how: resolve::How::Exact,
        });
    }
    res.everything |= everywhere;
}

/// Whether finding `f` is about the object `hit` names (the object itself,
/// its pods, or what it owns).
fn about(f: &Value, hit: &Hit) -> bool {
    let o = &f["object"];
    let target = &hit.object;
    if let Some(ns) = &target.namespace
        && o["namespace"].as_str() != Some(ns.as_str())
    {
        return false;
    }
    let name = s(o, "name");
    let pods = f["pods"].as_array().into_iter().flatten();
    if name == target.name {
        return target.kind == "Pod" || target.kind == "Node" || s(o, "kind") != "Node";
    }
    match target.kind {
        "Pod" => {
            pods.filter_map(Value::as_str).any(|p| p == target.name)
                || target.name.starts_with(&format!("{name}-"))
        }
        "Node" => false,
        _ => {
            name.starts_with(&format!("{}-", target.name))
                && matches!(s(o, "kind"), "ReplicaSet" | "Pod" | "Job")
        }
    }
}

/// The kinds whose analyzers are enough, when the question is about named
/// objects only (no namespace or cluster asked about as a whole): the
/// objects' kinds. `None`: every analyzer.
fn narrow(res: &Resolution) -> Option<Vec<&'static str>> {
    /// Kinds the diagnostics skill's analyzers declare they explain.
    const EXPLAINED: &[&str] = &[
        "Deployment",
        "ReplicaSet",
        "StatefulSet",
        "DaemonSet",
        "Job",
        "CronJob",
        "Pod",
        "Service",
        "Ingress",
        "PersistentVolumeClaim",
        "Node",
        "HorizontalPodAutoscaler",
        "NetworkPolicy",
        "PodDisruptionBudget",
        "ConfigMap",
    ];
    if res.hits.is_empty() || res.everything {
        return None;
    }
    let named_alone = res.namespaces.iter().any(|ns| {
        !res.hits
            .iter()
            .any(|h| h.object.namespace.as_ref() == Some(ns))
    });
    if named_alone {
        return None;
    }
    let mut kinds: Vec<&'static str> = Vec::new();
    for h in &res.hits {
        if !EXPLAINED.contains(&h.object.kind) {
            return None;
        }
        if !kinds.contains(&h.object.kind) {
            kinds.push(h.object.kind);
        }
    }
    Some(kinds)
}

/// Findings sorted most severe first; the question's kinds first among
/// equals.
fn by_severity<'a>(mut fs: Vec<&'a Value>, res: &Resolution) -> Vec<&'a Value> {
    fs.sort_by_key(|f| {
        (
            std::cmp::Reverse(rank(s(f, "severity"))),
            !res.kinds.contains(s(&f["object"], "kind")),
        )
    });
    fs
}

impl Agent {
    fn related(&self, chosen: &[&Value], all: &[Value]) -> Vec<Value> {
        let mut out: Vec<Value> = Vec::new();
        for primary in chosen {
            let pname = s(&primary["object"], "name").to_ascii_lowercase();
            let ptext = format!(
                "{} {} {}",
                s(primary, "root_cause"),
                s(primary, "cause"),
                primary["evidence"]
            )
            .to_ascii_lowercase();
            for f in all {
                if chosen.contains(&f) || out.contains(f) || rank(s(f, "severity")) < 1 {
                    continue;
                }
                let name = s(&f["object"], "name").to_ascii_lowercase();
                let text = format!("{} {} {}", s(f, "root_cause"), s(f, "cause"), f["evidence"])
                    .to_ascii_lowercase();
                if (name.len() >= 3 && ptext.contains(&name))
                    || (pname.len() >= 3 && text.contains(&pname))
                {
                    out.push(f.clone());
                }
                if out.len() >= 3 {
                    return out;
                }
            }
        }
        out
    }
}

/// `CRITICAL Deployment shop/payments: CrashLoopBackOff.` and what
/// follows: what, root cause, evidence, the fix.
fn block(f: &Value, evidence_max: usize, indent: &str) -> String {
    let o = &f["object"];
    let mut out = format!(
        "{} {} {}{}: {}.\n",
        s(f, "severity").to_uppercase(),
        s(o, "kind"),
        o["namespace"]
            .as_str()
            .map(|n| format!("{n}/"))
            .unwrap_or_default(),
        s(o, "name"),
        s(f, "reason")
    );
    out.push_str(&format!("{indent}What: {}\n", s(f, "cause")));
    if let Some(why) = f["root_cause"].as_str() {
        out.push_str(&format!("{indent}Root cause: {why}\n"));
    }
    let evidence = f["evidence"].as_array().cloned().unwrap_or_default();
    if !evidence.is_empty() {
        out.push_str(&format!("{indent}Evidence:\n"));
        for e in evidence.iter().take(evidence_max) {
            out.push_str(&format!(
                "{indent}  - [{}] {}: {}\n",
                s(e, "source"),
                s(e, "ref"),
                s(e, "text")
            ));
        }
        if evidence.len() > evidence_max {
            out.push_str(&format!(
                "{indent}  - … {} more\n",
                evidence.len() - evidence_max
            ));
        }
    }
    match best_fix(f) {
        Some(fix) => {
            let label = match s(&fix["dry_run"], "result") {
                "passed" => "server-side dry-run passed".to_owned(),
                "failed" => format!("dry-run FAILED: {}", s(&fix["dry_run"], "error")),
                "skipped" => format!("not dry-run: {}", s(&fix["dry_run"], "why")),
                _ => "not dry-run".to_owned(),
            };
            out.push_str(&format!(
                "{indent}Fix: {} ({label})\n",
                s(&fix, "description")
            ));
            if fix["requires_input"] == true {
                out.push_str(&format!(
                    "{indent}  It needs input: fill in the <placeholders> first.\n"
                ));
            }
            if let Some(cmd) = fix["kubectl"].as_str() {
                out.push_str(&format!("{indent}  $ {cmd}\n"));
            }
        }
        None => out.push_str(&format!(
            "{indent}Fix: none proposed automatically; the root cause above says what to change.\n"
        )),
    }
    out
}

fn usable(fix: &Value) -> bool {
    fix["dry_run"]["result"] == "passed" && fix["requires_input"] != true
}

/// The fix to show: the first whose dry-run passed, else the first.
pub(crate) fn best_fix(f: &Value) -> Option<Value> {
    let fixes = f["fixes"].as_array()?;
    fixes.iter().find(|x| usable(x)).or(fixes.first()).cloned()
}

/// `warning Service shop/web: NoEndpoints — …`
fn one_line(f: &Value) -> String {
    let o = &f["object"];
    format!(
        "{} {} {}{}: {} — {}",
        s(f, "severity"),
        s(o, "kind"),
        o["namespace"]
            .as_str()
            .map(|n| format!("{n}/"))
            .unwrap_or_default(),
        s(o, "name"),
        s(f, "reason"),
        f["root_cause"].as_str().unwrap_or(s(f, "cause"))
    )
}

/// Problems answered in full; more are listed a line each.
const FULL: usize = 5;
const LISTED: usize = 10;

/// What the reasoner found before writing: what the question is about,
/// the scope read, and the findings that answer it.
pub(crate) struct Investigation {
    res: Resolution,
    tools_used: Vec<&'static str>,
    /// How names were read, what could not be listed.
    notes: Vec<String>,
    /// The scope analyzed, as words.
    scope: String,
    /// Which analyzers read it: `by every analyzer`, or those that explain
    /// the kinds asked about.
    by: String,
    findings: Vec<Value>,
    /// Findings of severity warning and above.
    problems: Vec<Value>,
    /// The problems that answer the question, most severe first.
    chosen: Vec<Value>,
    /// "No problem found with …" for each named object with none.
    clean: Vec<String>,
    scanned: u64,
    not_read: Vec<String>,
}

/// Observe and reason: one listing of names, the target found among them,
/// the analyzers over that scope. `Err` is an answer already (nothing the
/// question names exists, or the analysis failed).
pub(crate) async fn investigate(
    agent: &Agent,
    question: &str,
    rec: &Recorder,
    repeats: &Mutex<RepeatGuard>,
) -> Result<Investigation, Outcome> {
    let mut tools_used = vec!["cluster.summary"];
    rec.step("listing what the cluster holds (cluster.summary)");
    let (_, summary) = agent
        .guarded_call(
            rec,
            repeats,
            "r1",
            "cluster.summary",
            &json!({"names": true}),
        )
        .await;
    let (summary, listing_error) = match summary {
        Some(o) if o.ok() => (o.value.unwrap_or(Value::Null), None),
        Some(o) => (
            Value::Null,
            Some(o.error.map(|e| e.message).unwrap_or_default()),
        ),
        None => (Value::Null, Some("refused by a guard".to_owned())),
    };
    let mut notes: Vec<String> = Vec::new();
    let mut only_namespace = None;
    // A caller who may not list every namespace still has the context's.
    let (summary, listing_error) = match (&listing_error, &agent.context.default_namespace) {
        (Some(e), Some(ns)) => {
            let (_, own) = agent
                .guarded_call(
                    rec,
                    repeats,
                    "r1b",
                    "cluster.summary",
                    &json!({"names": true, "namespace": ns}),
                )
                .await;
            match own {
                Some(o) if o.ok() => {
                    notes.push(format!(
                        "I may not list every namespace ({e}); I looked for the question's names in namespace {ns}, the context's."
                    ));
                    only_namespace = Some(ns.clone());
                    (o.value.unwrap_or(Value::Null), None)
                }
                _ => (summary, listing_error),
            }
        }
        _ => (summary, listing_error),
    };
    let inv = Inventory::from_summary(&summary);
    let mut res = resolve::resolve(question, &inv);
    name_unlisted_kinds(&mut res);
    let listed = listing_error.is_none() && !inv.is_empty();
    if let Some(e) = &listing_error {
        notes.push(format!(
            "I could not list the cluster's names ({e}), so the question's words were not matched against them."
        ));
    }
    for u in summary["unavailable"].as_array().into_iter().flatten() {
        notes.push(format!(
            "Not listed: {} ({}).",
            s(u, "resource"),
            s(u, "error")
        ));
    }
    let scope = match plan(&res, &inv, listed, &agent.context) {
        Plan::Nothing(answer) => {
            let mut answer = answer;
            for n in &notes {
                answer.push_str(&format!("\n{n}"));
            }
            answer.push_str("\n\n");
            answer.push_str(&footer(&tools_used));
            return Err(Outcome {
                answer,
                ..Default::default()
            });
        }
        Plan::Look(Scope::Everything) if only_namespace.is_some() => Scope::Namespaces {
            names: only_namespace.into_iter().collect(),
            nodes: false,
        },
        Plan::Look(scope) => scope,
    };
    // Sizing advice, not a diagnosis: the right-sizing tool on the same
    // target.
    if crate::rightsize::asked(question) {
        let namespaces: Vec<String> = match &scope {
            Scope::Namespaces { names, .. } => names.iter().cloned().collect(),
            Scope::Everything => Vec::new(),
        };
        let mut outcome =
            crate::rightsize::answer(agent, &res, &namespaces, rec, repeats, tools_used).await;
        if !notes.is_empty() {
            outcome.answer = format!("{}\n\n{}", notes.join("\n"), outcome.answer);
        }
        return Err(outcome);
    }
    for h in &res.hits {
        if let Some(e) = h.explain() {
            notes.push(format!("Reading {e}."));
        }
    }
    let where_ = scope.describe();
    let mut input = scope.input();
    let by = match narrow(&res) {
        Some(kinds) => {
            let by = format!(
                "by the analyzers that explain {}",
                kinds
                    .iter()
                    .map(|k| format!("a {k}"))
                    .collect::<Vec<_>>()
                    .join(" or ")
            );
            input["kinds"] = json!(kinds);
            by
        }
        None => "by every analyzer".to_owned(),
    };

    rec.step(format!("analyzing {where_} (diagnostics.analyze)"));
    let (_, analysis) = agent
        .guarded_call(rec, repeats, "r2", crate::tools::ANALYZE, &input)
        .await;
    tools_used.push(crate::tools::ANALYZE);
    let analysis = match analysis {
        Some(o) if o.ok() => o.value.unwrap_or(Value::Null),
        Some(o) => {
            let why = o.error.map(|e| e.message).unwrap_or_default();
            return Err(Outcome {
                answer: format!("I could not analyze {where_}: {why}"),
                stopped: Some("diagnostics.analyze failed".into()),
                ..Default::default()
            });
        }
        None => {
            return Err(Outcome {
                stopped: Some("diagnostics.analyze was refused by a guard".into()),
                ..Default::default()
            });
        }
    };
    let findings: Vec<Value> = analysis["findings"].as_array().cloned().unwrap_or_default();
    let scanned = analysis["summary"]["objects_scanned"].as_u64().unwrap_or(0);
    let not_read: Vec<String> = analysis["summary"]["not_read"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|n| format!("{}: {}", s(n, "scope"), s(n, "error")))
        .collect();
    let problems: Vec<&Value> = findings
        .iter()
        .filter(|f| rank(s(f, "severity")) >= 1)
        .collect();

    // What answers the question: the problems of the objects it names,
    // else every problem of the scope, most severe first.
    let mut clean = Vec::new();
    let chosen: Vec<&Value> = if res.hits.is_empty() {
        by_severity(problems.clone(), &res)
    } else {
        let mut out = Vec::new();
        for h in &res.hits {
            let mine: Vec<&Value> = problems
                .iter()
                .copied()
                .filter(|f| about(f, h))
                .filter(|f| !out.contains(f))
                .collect();
            // A hit with nothing wrong says so (pods are found through
            // their workloads; a name shared by kinds speaks once).
            if mine.is_empty()
                && h.object.kind != "Pod"
                && !res.hits.iter().any(|o| {
                    o.object != h.object
                        && o.object.name == h.object.name
                        && problems.iter().any(|f| about(f, o))
                })
            {
                clean.push(format!(
                    "No problem found with {}{}.",
                    h.object.display(),
                    if not_read.is_empty() {
                        ""
                    } else {
                        " in what I could read"
                    }
                ));
            }
            out.extend(mine);
        }
        by_severity(out, &res)
    };
    let chosen: Vec<Value> = chosen.into_iter().cloned().collect();
    let problems: Vec<Value> = problems.into_iter().cloned().collect();
    Ok(Investigation {
        res,
        tools_used,
        notes,
        scope: where_,
        by,
        findings,
        problems,
        chosen,
        clean,
        scanned,
        not_read,
    })
}

impl Investigation {
    /// The investigation as a model's brief: what the question is about,
    /// the scope read, and the problems that answer it (`compact` shapes
    /// each, at most `max`), the scope's other problems a line each.
    pub(crate) fn brief(&self, compact: impl Fn(&Value) -> Value, max: usize) -> Value {
        let others: Vec<String> = self
            .problems
            .iter()
            .filter(|f| !self.chosen.contains(f))
            .take(LISTED)
            .map(one_line)
            .collect();
        let mut scope = json!({
            "analyzed": format!("{} ({})", self.scope, self.by),
            "objects_scanned": self.scanned,
        });
        let about: Vec<String> = self.res.hits.iter().map(|h| h.object.display()).collect();
        for (key, list) in [
            ("question_is_about", about),
            ("notes", self.notes.clone()),
            ("not_read", self.not_read.clone()),
            ("no_problem_found", self.clean.clone()),
            ("other_problems", others),
        ] {
            if !list.is_empty() {
                scope[key] = json!(list);
            }
        }
        if self.chosen.len() > max {
            scope["findings_left_out"] = json!(self.chosen.len() - max);
        }
        json!({
            "scope": scope,
            "findings": self.chosen.iter().take(max).map(compact).collect::<Vec<_>>(),
        })
    }
}

pub(crate) async fn run(agent: &Agent, question: &str, rec: &Recorder) -> Outcome {
    let repeats = Mutex::new(RepeatGuard::default());
    // "is checkout synced?": Argo CD's own view of its Applications.
    if crate::argocd::asked(question) && agent.toolbox.runtime().skill("argocd").is_some() {
        return crate::argocd::answer(agent, question, rec, &repeats).await;
    }
    match investigate(agent, question, rec, &repeats).await {
        Ok(inv) => answer(agent, inv, rec, &repeats, agent.propose).await,
        Err(outcome) => outcome,
    }
}

/// The answer written from an investigation: the problems that answer the
/// question, most severe first, with their evidence and fix; with
/// `propose`, the most severe problem's fix stored as a pending action.
pub(crate) async fn answer(
    agent: &Agent,
    investigation: Investigation,
    rec: &Recorder,
    repeats: &Mutex<RepeatGuard>,
    propose: bool,
) -> Outcome {
    let Investigation {
        res,
        mut tools_used,
        notes,
        scope: where_,
        by,
        findings,
        problems,
        chosen,
        clean,
        scanned,
        not_read,
    } = investigation;
    let scanned_line = format!(
        "Scope: {where_} — {scanned} objects scanned {by}{}.",
        if not_read.is_empty() {
            String::new()
        } else {
            format!("; NOT READ: {}", not_read.join("; "))
        }
    );
    let mut answer = String::new();
    for n in &notes {
        answer.push_str(n);
        answer.push('\n');
    }
    if !notes.is_empty() {
        answer.push('\n');
    }
    for c in &clean {
        answer.push_str(c);
        answer.push('\n');
    }
    let chosen: Vec<&Value> = chosen.iter().collect();
    let problems: Vec<&Value> = problems.iter().collect();

    if chosen.is_empty() {
        let infos = findings.len() - problems.len();
        if res.hits.is_empty() {
            let what = if not_read.is_empty() {
                format!("No problems found in {where_}")
            } else {
                format!("No problems found in what I could read of {where_}")
            };
            answer.push_str(&format!(
                "{what}: {scanned} objects scanned {by}{}.\n",
                if infos > 0 {
                    format!(
                        ", {infos} informational note{}",
                        if infos == 1 { "" } else { "s" }
                    )
                } else {
                    String::new()
                }
            ));
            if !not_read.is_empty() {
                answer.push_str(&format!("NOT READ: {}\n", not_read.join("; ")));
            }
        } else {
            let others = by_severity(problems.clone(), &res);
            if !others.is_empty() {
                answer.push_str(&format!("Other problems in {where_}, most severe first:\n"));
                for f in others.iter().take(LISTED) {
                    answer.push_str(&format!("  - {}\n", one_line(f)));
                }
            }
            answer.push_str(&scanned_line);
            answer.push('\n');
        }
        answer.push('\n');
        answer.push_str(&footer(&tools_used));
        return Outcome {
            answer,
            ..Default::default()
        };
    }

    let primary = chosen[0];
    let related = agent.related(&chosen, &findings);
    for f in chosen.iter().take(FULL) {
        rec.emit(Event::Finding {
            finding: (*f).clone(),
        });
    }
    for f in &related {
        rec.emit(Event::Finding { finding: f.clone() });
    }
    if chosen.len() == 1 {
        answer.push_str(&block(primary, 8, ""));
    } else {
        answer.push_str(&format!(
            "{} problems, most severe first:\n\n",
            chosen.len()
        ));
        for (i, f) in chosen.iter().take(FULL).enumerate() {
            answer.push_str(&format!("{}. {}\n", i + 1, block(f, 4, "   ")));
        }
        if chosen.len() > FULL {
            answer.push_str("Also:\n");
            for f in chosen.iter().skip(FULL).take(LISTED) {
                answer.push_str(&format!("  - {}\n", one_line(f)));
            }
        }
    }

    // Act: the most severe problem's fix, proposed when asked (a person
    // approves it).
    let fix = best_fix(primary);
    let mut proposals = Vec::new();
    if let Some(fix) = fix.as_ref().filter(|f| propose && usable(f)) {
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
            .guarded_call(rec, repeats, "r3", "patch.propose", &input)
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
    if !related.is_empty() {
        answer.push_str("Related:\n");
        for f in &related {
            answer.push_str(&format!("  - {}\n", one_line(f)));
        }
    }
    let shown = chosen.len().min(FULL + LISTED) + related.len();
    let others = problems.len().saturating_sub(shown);
    if others > 0 {
        answer.push_str(&format!(
            "{others} other problem{} in {where_} (`guardian diagnose` lists them all).\n",
            if others == 1 { "" } else { "s" }
        ));
    }
    answer.push_str(&scanned_line);
    answer.push_str("\n\n");
    answer.push_str(&footer(&tools_used));
    let mut all: Vec<Value> = chosen.iter().take(FULL).map(|f| (*f).clone()).collect();
    all.extend(related);
    Outcome {
        answer,
        findings: all,
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
    use crate::resolve::{How, Named};

    fn hit(kind: &'static str, ns: &str, name: &str) -> Hit {
        Hit {
            object: Named {
                kind,
                namespace: Some(ns.to_owned()),
                name: name.to_owned(),
            },
            word: name.to_owned(),
            how: How::Exact,
        }
    }

    #[test]
    fn a_finding_is_about_the_object_its_pods_and_what_it_owns() {
        let f = json!({"object": {"kind": "Deployment", "namespace": "shop", "name": "web"},
                       "pods": ["web-6d5f8b7c9-x2k4p"]});
        assert!(about(&f, &hit("Deployment", "shop", "web")));
        assert!(about(&f, &hit("Pod", "shop", "web-6d5f8b7c9-x2k4p")));
        assert!(!about(&f, &hit("Deployment", "blog", "web")));
        assert!(!about(&f, &hit("Deployment", "shop", "web-admin")));
        let rs =
            json!({"object": {"kind": "ReplicaSet", "namespace": "shop", "name": "web-6d5f8b7c9"}});
        assert!(about(&rs, &hit("Deployment", "shop", "web")));
    }

    #[test]
    fn the_scope_follows_what_the_question_names() {
        let inv = Inventory {
            namespaces: vec!["a".into(), "b".into()],
            objects: vec![Named {
                kind: "Deployment",
                namespace: Some("b".into()),
                name: "notifier".into(),
            }],
        };
        let ctx = RunContext::default();
        let look = |q: &str| match plan(&resolve::resolve(q, &inv), &inv, true, &ctx) {
            Plan::Look(s) => s.describe(),
            Plan::Nothing(t) => t,
        };
        assert_eq!(look("why is notifier crashing?"), "namespace b");
        assert_eq!(
            look("is anything broken?"),
            "every namespace and the cluster-scoped objects"
        );
        assert_eq!(
            look("what's wrong?"),
            "every namespace and the cluster-scoped objects"
        );
        let t = look("why is notifer-worker down?");
        assert!(t.contains("Nothing is named `notifer-worker`"), "{t}");
        assert!(t.contains("`notifier`"), "{t}");
        let ctx = RunContext {
            explicit_namespace: Some("a".into()),
            ..Default::default()
        };
        let s = match plan(&resolve::resolve("what's wrong?", &inv), &inv, true, &ctx) {
            Plan::Look(s) => s.describe(),
            Plan::Nothing(t) => t,
        };
        assert_eq!(s, "namespace a");
    }
}
