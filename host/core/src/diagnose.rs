//! The diagnose operation: `diagnostics.analyze` over a namespace or the
//! whole cluster (split across cores, merged into one report), with the
//! fixes optionally stored as pending actions. The CLI, gRPC and MCP call
//! this; none of them holds its own copy.

use std::sync::Arc;
use std::time::Instant;

use guardian_actions::ActionStore;
use guardian_broker::{Broker, BrokerError, CallContext, ListQuery, ObjectRef};
use guardian_runtime::{CallError, Runtime};
use serde_json::{Value, json};

/// What to diagnose.
#[derive(Clone, Debug, Default)]
pub struct DiagnoseRequest {
    /// One namespace, or `None` for every namespace and the cluster-scoped
    /// objects.
    pub namespace: Option<String>,
    /// Only these analyzers (kinds or kubectl short names).
    pub filter: Vec<String>,
    /// Check each fix by server-side dry-run.
    pub dry_run: bool,
    /// Store each fix whose dry-run passed and that needs no input as a
    /// pending action.
    pub propose: bool,
    /// Split an all-namespaces scan into this many calls (0: one per core,
    /// at most 8).
    pub shards: usize,
    /// Where Argo CD's Applications live [the session's config:
    /// `argocd.namespaces`].
    pub argocd_namespaces: Vec<String>,
}

/// Why a diagnosis produced no report.
#[derive(Debug, thiserror::Error)]
pub enum DiagnoseError {
    #[error(transparent)]
    Call(#[from] CallError),
    /// Nothing of what was asked could be read (the API server cannot be
    /// reached, Guardian may not list the namespaces or read their pods):
    /// there is no report, because an empty one would claim all is well.
    #[error("{message}")]
    NotRead {
        /// The broker's class of the failure: `unavailable`, `denied`,
        /// `timeout`, …
        kind: &'static str,
        message: String,
    },
    #[error("{0}")]
    Other(String),
}

impl DiagnoseError {
    /// A stable code (`invalid-input`, `host-error`, `not-read`, …).
    pub fn code(&self) -> &'static str {
        match self {
            DiagnoseError::Call(e) => e.code(),
            DiagnoseError::NotRead { .. } => "not-read",
            DiagnoseError::Other(_) => "internal",
        }
    }

    /// The host error class behind it (`unavailable`, `denied`, …), when
    /// the cluster's answer is the cause.
    pub fn host_kind(&self) -> Option<&str> {
        match self {
            DiagnoseError::Call(CallError::HostError { kind, .. }) => Some(kind),
            DiagnoseError::NotRead { kind, .. } => Some(kind),
            _ => None,
        }
    }
}

pub use guardian_agent::tools::ANALYZE;
use guardian_agent::tools::{ANALYZE_TOOL, DIAGNOSTICS_SKILL};

/// A diagnosis: the report (`guardian diagnose -o json`) and the ids of
/// the actions proposed from it.
#[derive(Clone, Debug)]
pub struct Diagnosis {
    pub report: Value,
    pub proposed: Vec<String>,
}

impl crate::Session {
    /// Diagnoses `request`'s scope as `caller`; with `request.propose`,
    /// stores each fix whose dry-run passed and that needs no input as a
    /// pending action (a fix that could not be proposed carries
    /// `proposal_error`).
    pub async fn diagnose(
        &self,
        caller: &str,
        request: &DiagnoseRequest,
    ) -> Result<Diagnosis, DiagnoseError> {
        let mut request = request.clone();
        if request.argocd_namespaces.is_empty() {
            request.argocd_namespaces = self.config().argocd.namespaces();
        }
        let request = &request;
        let mut report = diagnose(self.runtime(), caller, self.source(), request).await?;
        // A tag that does not exist: the registry says which ones do (only
        // for registries the config allows).
        if !self.config().registries.allowed_hosts.is_empty()
            && let Ok(broker) = self.broker()
        {
            let cx = CallContext::host_for(caller, "registry.tags");
            let dry_run = analyze_context(self.runtime(), caller)?;
            crate::gitops::complete_image_fixes(broker, &cx, &dry_run, &mut report).await;
        }
        let mut proposed = Vec::new();
        if request.propose {
            let unavailable = |e: crate::ServiceError| DiagnoseError::Other(e.message);
            let store = self.store().map_err(unavailable)?;
            let broker = self.broker().map_err(unavailable)?;
            proposed = propose_fixes(self.runtime(), store, broker, caller, &mut report).await?;
        }
        Ok(Diagnosis { report, proposed })
    }
}

/// Runs the diagnosis for `caller` and returns the report (`findings`,
/// `summary` with `duration_ms`, `scope`, `not_read` when some scope could
/// not be read, and the `source` given). When nothing of the asked scope
/// could be read the result is an error, never an empty report.
pub async fn diagnose(
    runtime: &Arc<Runtime>,
    caller: &str,
    source: &str,
    request: &DiagnoseRequest,
) -> Result<Value, DiagnoseError> {
    let started = Instant::now();
    // A node daemon's node must exist, or "no problems" would be said of
    // pods that were never there to read.
    if let Some(broker) = runtime.broker() {
        broker
            .check_scoped_node()
            .await
            .map_err(|e| DiagnoseError::NotRead {
                kind: e.kind_str(),
                message: e.to_string(),
            })?;
    }
    let mut report = match &request.namespace {
        // One namespace: the skill itself refuses a namespace it cannot read.
        Some(ns) => {
            let mut input = json!({
                "namespace": ns,
                "filter": request.filter,
                "dry_run": request.dry_run,
            });
            if !request.argocd_namespaces.is_empty() {
                input["argocd_namespaces"] = json!(request.argocd_namespaces);
            }
            runtime.call(caller, ANALYZE, &input.to_string()).await?
        }
        None => every_namespace(runtime, caller, request).await?,
    };
    if let Some(summary) = report.get_mut("summary").and_then(Value::as_object_mut) {
        summary.insert(
            "duration_ms".into(),
            json!(started.elapsed().as_millis() as u64),
        );
        summary.insert("source".into(), json!(source));
        let mut scope = match &request.namespace {
            Some(ns) => format!("namespace {ns}"),
            None => "all namespaces".to_string(),
        };
        // A node daemon read one node's pods: the scope says so, so that
        // "no problems" is never said about pods it did not read.
        if let Some(node) = runtime.broker().and_then(|b| b.node_scope()) {
            scope.push_str(&format!(" (the pods of node {node} only)"));
            summary.insert("node".into(), json!(node));
            let note = format!(
                "node mode: read the pods of node {node} only (and that node); pods on other \
                 nodes were not read, so nothing is said about them"
            );
            summary.insert("notes".into(), json!([note]));
        }
        summary.insert("scope".into(), json!(scope));
    }
    Ok(report)
}

/// The namespaces to scan, in name order, listed through the broker as
/// `caller` with the diagnostics skill's grants.
pub(crate) async fn namespaces(
    runtime: &Runtime,
    caller: &str,
) -> Result<Vec<String>, DiagnoseError> {
    let broker = runtime
        .broker()
        .ok_or_else(|| DiagnoseError::Other("no cluster or snapshot to diagnose".into()))?;
    let cx = analyze_context(runtime, caller)?;
    let not_read = |e: BrokerError| DiagnoseError::NotRead {
        kind: e.kind_str(),
        message: format!(
            "cannot list the namespaces of {}, so no namespace was scanned: {e}",
            broker.describe()
        ),
    };
    let kind = broker.resolve("namespaces").await.map_err(not_read)?;
    let list = broker
        .list_shared(&cx, &kind, &ListQuery::default())
        .await
        .map_err(not_read)?;
    let mut names: Vec<String> = list
        .items
        .iter()
        .filter_map(|item| {
            item.to_value()["metadata"]["name"]
                .as_str()
                .map(str::to_owned)
        })
        .collect();
    names.sort();
    names.dedup();
    Ok(names)
}

/// Who the host's own calls on behalf of a diagnosis are (listing the
/// namespaces, proposing its fixes): `caller`, as `diagnostics.analyze`,
/// with the diagnostics skill's grants.
/// The agent loop's hook: a `diagnostics.analyze` answer gets the
/// registry's tags where an image tag does not exist, as `diagnose` adds
/// them for every front end.
pub(crate) struct RegistryTags {
    pub broker: Broker,
    pub runtime: std::sync::Arc<Runtime>,
}

#[async_trait::async_trait]
impl guardian_agent::ToolHook for RegistryTags {
    async fn after(&self, caller: &str, tool: &str, value: &mut Value) {
        if tool != format!("{DIAGNOSTICS_SKILL}.{ANALYZE_TOOL}") {
            return;
        }
        let Ok(dry_run) = analyze_context(&self.runtime, caller) else {
            return;
        };
        let cx = CallContext::host_for(caller, "registry.tags");
        crate::gitops::complete_image_fixes(&self.broker, &cx, &dry_run, value).await;
    }
}

fn analyze_context(runtime: &Runtime, caller: &str) -> Result<CallContext, DiagnoseError> {
    skill_context(runtime, caller, DIAGNOSTICS_SKILL, ANALYZE_TOOL)
}

/// `caller` acting as `skill.tool`, with the skill's grants: who the
/// host's own calls on behalf of that tool's report are.
pub(crate) fn skill_context(
    runtime: &Runtime,
    caller: &str,
    skill: &str,
    tool: &str,
) -> Result<CallContext, DiagnoseError> {
    let grants = runtime
        .skill(skill)
        .map(|s| s.grants.as_sets())
        .ok_or_else(|| DiagnoseError::Other(format!("the {skill} skill is not loaded")))?;
    Ok(CallContext {
        caller: caller.into(),
        skill: skill.into(),
        tool: tool.into(),
        grants,
        scope: Default::default(),
    })
}

/// Whether a call that failed this way may succeed on a smaller part of
/// the scan (a namespace too large for the skill's limits).
fn retry_smaller(err: &CallError) -> bool {
    matches!(
        err,
        CallError::CpuTimeExceeded { .. }
            | CallError::MemoryExceeded { .. }
            | CallError::StackExhausted { .. }
            | CallError::Trap { .. }
            | CallError::OutputTooLarge { .. }
            | CallError::InvalidOutput { .. }
    )
}

/// Every namespace and the cluster-scoped objects, split across the cores:
/// each call takes a share of the namespaces (its findings together with
/// the others' are exactly one unsplit scan's). A call that fails on the
/// skill's limits is done again one namespace at a time, so one namespace
/// too large to analyze is reported as not read and the others' findings
/// stand.
async fn every_namespace(
    runtime: &Arc<Runtime>,
    caller: &str,
    request: &DiagnoseRequest,
) -> Result<Value, DiagnoseError> {
    let all = namespaces(runtime, caller).await?;
    let shards = match request.shards {
        0 => std::thread::available_parallelism().map_or(1, |n| n.get().clamp(1, 8)),
        n => n.clamp(1, 64),
    }
    .min(all.len().max(1));
    let mut parts: Vec<Vec<String>> = vec![Vec::new(); shards];
    for (i, ns) in all.iter().enumerate() {
        parts[i % shards].push(ns.clone());
    }
    let input = |namespaces: &[String], cluster: bool| {
        let mut input = json!({
            "namespaces": namespaces,
            "cluster_scoped": cluster,
            "scan_size": all.len(),
            "filter": request.filter,
            "dry_run": request.dry_run,
        });
        if !request.argocd_namespaces.is_empty() {
            input["argocd_namespaces"] = json!(request.argocd_namespaces);
        }
        input.to_string()
    };
    let spawn = |text: String| {
        let runtime = Arc::clone(runtime);
        let caller = caller.to_owned();
        tokio::spawn(async move { runtime.call(&caller, ANALYZE, &text).await })
    };
    let calls: Vec<_> = parts
        .iter()
        .enumerate()
        .map(|(i, part)| spawn(input(part, i == 0)))
        .collect();
    let mut reports = Vec::new();
    let mut not_read: Vec<Value> = Vec::new();
    for (i, call) in calls.into_iter().enumerate() {
        let err = match joined(call.await)? {
            Ok(report) => {
                reports.push(report);
                continue;
            }
            Err(err) if retry_smaller(&err) => err,
            Err(err) => return Err(err.into()),
        };
        tracing::warn!("diagnose: {err}; scanning its namespaces one at a time");
        // One call per namespace (and the cluster scope alone), in parallel.
        let mut singles: Vec<(String, Option<String>, _)> = Vec::new();
        if i == 0 {
            singles.push((
                "cluster-scoped objects".to_owned(),
                None,
                spawn(input(&[], true)),
            ));
        }
        for ns in &parts[i] {
            singles.push((
                format!("namespace {ns}"),
                Some(ns.clone()),
                spawn(input(std::slice::from_ref(ns), false)),
            ));
        }
        for (scope, namespace, call) in singles {
            match joined(call.await)? {
                Ok(report) => reports.push(report),
                Err(e) => {
                    let mut entry = json!({"scope": scope, "error": e.to_string()});
                    if let Some(ns) = namespace {
                        entry["namespace"] = json!(ns);
                    }
                    not_read.push(entry);
                }
            }
        }
    }
    let mut report = merge(reports);
    if !not_read.is_empty() {
        let summary = &mut report["summary"];
        let mut all_not_read = summary["not_read"].as_array().cloned().unwrap_or_default();
        all_not_read.extend(not_read);
        summary["not_read"] = Value::Array(all_not_read);
    }
    // Not one namespace (or, with none, not the cluster scope) was read.
    let unread: Vec<&Value> = report["summary"]["not_read"]
        .as_array()
        .map(|a| a.iter().collect())
        .unwrap_or_default();
    let read_namespaces = report["summary"]["namespaces"].as_u64().unwrap_or(0);
    let nothing = if all.is_empty() {
        !unread.is_empty()
    } else {
        read_namespaces == 0
    };
    if nothing {
        let mut causes: Vec<String> = Vec::new();
        for u in &unread {
            let cause = u["error"].as_str().unwrap_or("").to_owned();
            if !causes.contains(&cause) {
                causes.push(cause);
            }
        }
        let kind = if causes.iter().any(|c| c.starts_with("denied")) {
            "denied"
        } else {
            "unavailable"
        };
        return Err(DiagnoseError::NotRead {
            kind,
            message: format!(
                "nothing could be read, so nothing was scanned ({} namespace{} and the cluster-scoped objects): {}",
                all.len(),
                if all.len() == 1 { "" } else { "s" },
                causes.join("; ")
            ),
        });
    }
    Ok(report)
}

/// A spawned call's result, or why its task failed.
fn joined(
    result: Result<Result<Value, CallError>, tokio::task::JoinError>,
) -> Result<Result<Value, CallError>, DiagnoseError> {
    result.map_err(|join| DiagnoseError::Other(format!("a diagnose task failed: {join}")))
}

pub use guardian_agent::severity_rank;

/// One report from the shards' reports: findings in the skill's order
/// (severity, then namespace, kind, name, reason), counts added up.
pub fn merge(mut parts: Vec<Value>) -> Value {
    if parts.len() == 1 {
        return parts.pop().unwrap_or_default();
    }
    let mut findings: Vec<Value> = Vec::new();
    let (mut objects, mut namespaces) = (0u64, 0u64);
    let mut unavailable: Vec<Value> = Vec::new();
    let mut not_read: Vec<Value> = Vec::new();
    for part in parts {
        let summary = &part["summary"];
        objects += summary["objects_scanned"].as_u64().unwrap_or(0);
        namespaces += summary["namespaces"].as_u64().unwrap_or(0);
        for u in summary["unavailable"].as_array().into_iter().flatten() {
            let seen = unavailable
                .iter()
                .any(|x| x["resource"] == u["resource"] && x["error"] == u["error"]);
            if !seen {
                unavailable.push(u.clone());
            }
        }
        not_read.extend(
            summary["not_read"]
                .as_array()
                .into_iter()
                .flatten()
                .cloned(),
        );
        if let Value::Array(items) = &part["findings"] {
            findings.extend(items.iter().cloned());
        }
    }
    let key = |f: &Value| {
        let o = &f["object"];
        (
            std::cmp::Reverse(severity_rank(s(f, "severity")).unwrap_or(0)),
            o["namespace"].as_str().map(str::to_string),
            s(o, "kind").to_string(),
            s(o, "name").to_string(),
            s(f, "reason").to_string(),
        )
    };
    findings.sort_by_cached_key(key);
    let mut by_severity = serde_json::Map::new();
    for f in &findings {
        let n = by_severity
            .entry(s(f, "severity").to_string())
            .or_insert(json!(0));
        *n = json!(n.as_u64().unwrap_or(0) + 1);
    }
    let mut summary = json!({
        "objects_scanned": objects,
        "findings": findings.len(),
        "namespaces": namespaces,
        "by_severity": by_severity,
    });
    if !unavailable.is_empty() {
        summary["unavailable"] = Value::Array(unavailable);
    }
    if !not_read.is_empty() {
        summary["not_read"] = Value::Array(not_read);
    }
    json!({"findings": findings, "summary": summary})
}

/// Stores every fix of `report` whose dry-run passed and that needs no
/// input as a pending action, through the same host path as a skill's
/// `actions.propose` (skill `diagnostics`, tool `analyze`, with the
/// diagnostics skill's grants). Each fix gets `proposed_action` (or
/// `proposal_error`); nothing is applied. Returns the ids proposed.
pub async fn propose_fixes(
    runtime: &Runtime,
    store: &ActionStore,
    broker: &Broker,
    caller: &str,
    report: &mut Value,
) -> Result<Vec<String>, DiagnoseError> {
    let cx = analyze_context(runtime, caller)?;
    propose_report_fixes(store, broker, &cx, report).await
}

/// [`propose_fixes`] for any skill's report of findings in diagnostics'
/// format, as the tool `cx` names (its grants decide the proposal).
pub(crate) async fn propose_report_fixes(
    store: &ActionStore,
    broker: &Broker,
    cx: &CallContext,
    report: &mut Value,
) -> Result<Vec<String>, DiagnoseError> {
    let proposer = guardian_actions::Proposer {
        caller: cx.caller.clone(),
        skill: cx.skill.clone(),
        tool: cx.tool.clone(),
    };
    let mut ids = Vec::new();
    let Some(findings) = report["findings"].as_array_mut() else {
        return Ok(ids);
    };
    for finding in findings {
        let why = finding["root_cause"]
            .as_str()
            .or(finding["cause"].as_str())
            .unwrap_or("")
            .to_owned();
        // The finding without its fixes: what a Git change's message and
        // pull request say about it.
        let mut owner = finding.clone();
        owner["fixes"] = json!([]);
        let Some(fixes) = finding["fixes"].as_array_mut() else {
            continue;
        };
        for fix in fixes {
            let passed = fix["dry_run"]["result"].as_str() == Some("passed");
            let needs_input = fix["requires_input"].as_bool() == Some(true);
            let Some(patch) = fix.get("json_patch").filter(|p| p.is_array()).cloned() else {
                continue;
            };
            if !passed || needs_input {
                continue;
            }
            let t = &fix["target"];
            let target = ObjectRef {
                api_version: s(t, "apiVersion").to_owned(),
                kind: s(t, "kind").to_owned(),
                namespace: t["namespace"].as_str().map(str::to_owned),
                name: s(t, "name").to_owned(),
            };
            let rationale = match (why.as_str(), s(fix, "description")) {
                ("", d) => d.to_owned(),
                (w, "") => w.to_owned(),
                (w, d) => format!("{w}. Fix: {d}"),
            };
            // A fix on an object a GitOps tool manages lands in Git when
            // its source can be located; else the cluster patch stays, with
            // the warning that self-heal will revert it.
            if fix["gitops"].is_string() {
                let git_cx = CallContext::host_for(&cx.caller, "gitops.propose");
                match crate::gitops::managing_app(broker, &git_cx, &owner).await {
                    Some(Ok(app)) => {
                        match crate::gitops::propose_in_git(
                            store,
                            broker,
                            &git_cx,
                            proposer.clone(),
                            &app,
                            &owner,
                            fix,
                            action_target(broker, &target).await,
                        )
                        .await
                        {
                            Ok(action) => {
                                fix["proposed_action"] = json!(action.id);
                                fix["lands_in"] = json!("git");
                                ids.push(action.id);
                                continue;
                            }
                            Err(e) => {
                                fix["git_error"] = json!(format!(
                                    "{e}; the cluster patch is proposed instead, and self-heal will revert it"
                                ));
                            }
                        }
                    }
                    Some(Err(e)) => {
                        fix["git_error"] = json!(format!(
                            "the {} that manages it could not be read ({e}); the cluster patch is proposed instead, and it may be reverted",
                            owner["managed_by"]["kind"]
                                .as_str()
                                .unwrap_or("Application")
                        ));
                    }
                    None => {}
                }
            }
            let text = patch.to_string();
            match guardian_actions::propose(
                store,
                broker,
                cx,
                &target,
                &text,
                &rationale,
                proposer.clone(),
            )
            .await
            {
                Ok(action) => {
                    fix["proposed_action"] = json!(action.id);
                    ids.push(action.id);
                }
                Err(e) => {
                    tracing::warn!("not proposed ({} {}): {e}", target.kind, target.name);
                    fix["proposal_error"] = json!(e.to_string());
                }
            }
        }
    }
    Ok(ids)
}

/// The action store's name for the object a fix patches.
async fn action_target(broker: &Broker, target: &ObjectRef) -> guardian_actions::Target {
    let resource = match broker.resolve(&target.kind).await {
        Ok(kind) => kind.grant_name(),
        Err(_) => target.kind.to_ascii_lowercase(),
    };
    guardian_actions::Target {
        api_version: target.api_version.clone(),
        kind: target.kind.clone(),
        namespace: target.namespace.clone(),
        name: target.name.clone(),
        resource,
    }
}

fn s<'a>(v: &'a Value, key: &str) -> &'a str {
    v[key].as_str().unwrap_or("")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn finding(sev: &str, ns: &str, name: &str) -> Value {
        json!({"severity": sev, "reason": "R", "object": {"kind": "Pod", "namespace": ns, "name": name}})
    }

    #[test]
    fn merge_orders_by_severity_then_object_and_adds_counts() {
        let a = json!({"findings": [finding("warning", "a", "x")],
                       "summary": {"objects_scanned": 3, "namespaces": 1,
                                   "unavailable": [{"resource": "nodes", "error": "forbidden"}]}});
        let b = json!({"findings": [finding("critical", "b", "y"), finding("warning", "a", "w")],
                       "summary": {"objects_scanned": 4, "namespaces": 2,
                                   "unavailable": [{"resource": "nodes", "error": "forbidden"}]}});
        let merged = merge(vec![a, b]);
        let names: Vec<&str> = merged["findings"]
            .as_array()
            .unwrap()
            .iter()
            .map(|f| f["object"]["name"].as_str().unwrap())
            .collect();
        assert_eq!(names, ["y", "w", "x"]);
        assert_eq!(merged["summary"]["objects_scanned"], 7);
        assert_eq!(merged["summary"]["namespaces"], 3);
        assert_eq!(merged["summary"]["by_severity"]["warning"], 2);
        assert_eq!(
            merged["summary"]["unavailable"].as_array().unwrap().len(),
            1
        );
    }
}
