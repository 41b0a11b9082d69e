//! The diagnose operation: `diagnostics.analyze` over a namespace or the
//! whole cluster (split across cores, merged into one report), with the
//! fixes optionally stored as pending actions. The CLI, gRPC and MCP call
//! this; none of them holds its own copy.

use std::sync::Arc;
use std::time::Instant;

use guardian_actions::ActionStore;
use guardian_broker::{Broker, CallContext, ObjectRef};
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
}

/// Why a diagnosis produced no report.
#[derive(Debug, thiserror::Error)]
pub enum DiagnoseError {
    #[error(transparent)]
    Call(#[from] CallError),
    #[error("{0}")]
    Other(String),
}

impl DiagnoseError {
    /// A stable code (`invalid-input`, `host-error`, …).
    pub fn code(&self) -> &'static str {
        match self {
            DiagnoseError::Call(e) => e.code(),
            DiagnoseError::Other(_) => "internal",
        }
    }
}

/// Runs the diagnosis for `caller` and returns the report (`findings`,
/// `summary` with `duration_ms`, `scope`, and the `source` given).
pub async fn diagnose(
    runtime: &Arc<Runtime>,
    caller: &str,
    source: &str,
    request: &DiagnoseRequest,
) -> Result<Value, DiagnoseError> {
    // A scan of every namespace is split across the cores: each call takes
    // a share of the namespaces (see the tool's `shard` input), and their
    // findings together are exactly one call's.
    let shards = match (&request.namespace, request.shards) {
        (Some(_), _) => 1,
        (None, 0) => std::thread::available_parallelism().map_or(1, |n| n.get().clamp(1, 8)),
        (None, n) => n.clamp(1, 64),
    };
    let started = Instant::now();
    let mut calls = Vec::new();
    for index in 0..shards {
        let mut input = json!({
            "namespace": request.namespace,
            "filter": request.filter,
            "dry_run": request.dry_run,
        });
        if shards > 1 {
            input["shard"] = json!({"index": index, "of": shards});
        }
        let runtime = Arc::clone(runtime);
        let caller = caller.to_owned();
        calls.push(tokio::spawn(async move {
            runtime
                .call(&caller, "diagnostics.analyze", &input.to_string())
                .await
        }));
    }
    let mut parts = Vec::new();
    let mut failure = None;
    for call in calls {
        match call.await {
            Ok(Ok(part)) => parts.push(part),
            Ok(Err(err)) => {
                failure.get_or_insert(DiagnoseError::Call(err));
            }
            Err(join) => {
                failure.get_or_insert(DiagnoseError::Other(format!(
                    "a diagnose task failed: {join}"
                )));
            }
        }
    }
    if let Some(err) = failure {
        return Err(err);
    }
    let mut report = merge(parts);
    if let Some(summary) = report.get_mut("summary").and_then(Value::as_object_mut) {
        summary.insert(
            "duration_ms".into(),
            json!(started.elapsed().as_millis() as u64),
        );
        summary.insert("source".into(), json!(source));
        summary.insert(
            "scope".into(),
            json!(match &request.namespace {
                Some(ns) => format!("namespace {ns}"),
                None => "all namespaces".to_string(),
            }),
        );
    }
    Ok(report)
}

/// The rank of a finding's severity (`info` 0 … `critical` 3).
pub fn severity_rank(severity: &str) -> Option<u8> {
    match severity {
        "info" => Some(0),
        "warning" => Some(1),
        "error" => Some(2),
        "critical" => Some(3),
        _ => None,
    }
}

/// One report from the shards' reports: findings in the skill's order
/// (severity, then namespace, kind, name, reason), counts added up.
pub fn merge(mut parts: Vec<Value>) -> Value {
    if parts.len() == 1 {
        return parts.pop().unwrap_or_default();
    }
    let mut findings: Vec<Value> = Vec::new();
    let (mut objects, mut namespaces) = (0u64, 0u64);
    let mut unavailable: Vec<Value> = Vec::new();
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
    let grants = runtime
        .skill("diagnostics")
        .map(|s| s.grants.as_sets())
        .ok_or_else(|| DiagnoseError::Other("the diagnostics skill is not loaded".into()))?;
    let cx = CallContext {
        caller: caller.into(),
        skill: "diagnostics".into(),
        tool: "analyze".into(),
        grants,
        scope: Default::default(),
    };
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
        let Some(fixes) = finding["fixes"].as_array_mut() else {
            continue;
        };
        for fix in fixes {
            let passed = fix["dry_run"]["result"].as_str() == Some("passed");
            let needs_input = fix["requires_input"].as_bool() == Some(true);
            let Some(patch) = fix.get("json_patch").filter(|p| p.is_array()) else {
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
            let text = patch.to_string();
            match guardian_actions::propose(
                store,
                broker,
                &cx,
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
