//! PodDisruptionBudgets that select no pod, or that allow no voluntary
//! disruption even with every pod healthy (node drains hang on them).

use serde_json::Value;

use super::selectors::{PodIndex, Selector, condition, describe_condition, list_names, obj_ref};
use crate::ctx::{Scope, name_of};
use crate::finding::{Finding, Severity, Source};
use crate::fix;
use crate::reasons;

pub fn analyze(scope: &Scope, out: &mut Vec<Finding>) {
    let ns = scope.namespace.as_str();
    let pdbs = scope.objects("poddisruptionbudgets.policy");
    if pdbs.is_empty() {
        return;
    }
    let index = PodIndex::new(&scope.pods);
    for pdb in pdbs {
        let name = name_of(pdb);
        let pref = obj_ref(pdb, "PodDisruptionBudget", Some(ns));
        let spec = &pdb["spec"];
        let status = &pdb["status"];
        let selector = Selector::from_label_selector(&spec["selector"]);
        let selected = selector
            .as_ref()
            .map(|s| index.matching(s))
            .unwrap_or_default();
        let selector_text = selector
            .as_ref()
            .map_or("null (selects nothing)".to_string(), Selector::display);
        let expected = status["expectedPods"]
            .as_i64()
            .unwrap_or(selected.len() as i64);
        let allowed = status["disruptionsAllowed"].as_i64();
        let healthy = status["currentHealthy"].as_i64().unwrap_or(0);
        let desired = status["desiredHealthy"].as_i64().unwrap_or(0);
        let budget = match (&spec["minAvailable"], &spec["maxUnavailable"]) {
            (Value::Null, Value::Null) => "no minAvailable/maxUnavailable".to_string(),
            (min, Value::Null) => format!("minAvailable {}", text(min)),
            (_, max) => format!("maxUnavailable {}", text(max)),
        };
        let with_condition = |mut f: Finding| {
            if let Some(c) = condition(pdb, "DisruptionAllowed") {
                f = f.evidence(
                    Source::Status,
                    format!("PodDisruptionBudget {ns}/{name} condition DisruptionAllowed"),
                    describe_condition(c),
                );
            }
            f.evidence(
                Source::Status,
                format!("PodDisruptionBudget {ns}/{name} status"),
                format!(
                    "expectedPods {expected}, currentHealthy {healthy}, desiredHealthy {desired}, disruptionsAllowed {}",
                    allowed.map_or("?".to_string(), |a| a.to_string())
                ),
            )
        };

        if selected.is_empty() && expected == 0 {
            let miss = selector.as_ref().and_then(|s| {
                index
                    .near_misses(s)
                    .into_iter()
                    .find(|m| m.actual.is_some())
            });
            if let Some(miss) = miss {
                let actual = miss.actual.clone().unwrap_or_default();
                let path = format!("/spec/selector/matchLabels/{}", fix::escape(&miss.key));
                let pods: Vec<&str> = miss.pods.iter().map(|p| p.metadata.name.as_str()).collect();
                let mut f = with_condition(
                    Finding::new(
                        pref.clone(),
                        Severity::Warning,
                        reasons::PDB_NO_MATCHING_PODS,
                        format!("PodDisruptionBudget {ns}/{name} selects no pod"),
                    )
                    .root_cause(format!(
                        "PodDisruptionBudget {ns}/{name} selects {}={}, but the pods it nearly matches ({}) carry \
                         {}={actual}: the label `{}` differs, so it protects nothing.",
                        miss.key,
                        miss.wanted,
                        list_names(&pods, 3),
                        miss.key,
                        miss.key
                    ))
                    .evidence(
                        Source::Spec,
                        format!("PodDisruptionBudget {ns}/{name} spec.selector"),
                        selector_text.clone(),
                    ),
                );
                if pdb.pointer(&path).is_some() {
                    f = f.fix(fix::patch(
                        pref.clone(),
                        pdb,
                        vec![
                            fix::test(&path, miss.wanted.as_str()),
                            fix::replace(&path, actual.as_str()),
                        ],
                        format!("Select {}={actual}, the value the pods carry.", miss.key),
                    ));
                }
                out.push(f);
                continue;
            }
            out.push(with_condition(
                Finding::new(
                    pref.clone(),
                    Severity::Warning,
                    reasons::PDB_NO_MATCHING_PODS,
                    format!("PodDisruptionBudget {ns}/{name} selects no pod"),
                )
                .root_cause(format!(
                    "No pod in {ns} carries the selector {selector_text} of PodDisruptionBudget {ns}/{name}, so it \
                     protects nothing (its workload was renamed, relabelled or removed)."
                ))
                .evidence(
                    Source::Spec,
                    format!("PodDisruptionBudget {ns}/{name} spec.selector"),
                    selector_text.clone(),
                )
                .fix(fix::needs_input(
                    pref.clone(),
                    "Point the selector at the pods it should protect (a PDB's selector can be changed), or delete the PDB.",
                    format!(
                        "kubectl patch pdb {name} -n {ns} --type=merge -p '{{\"spec\":{{\"selector\":{{\"matchLabels\":{{\"<key>\":\"<value>\"}}}}}}}}'"
                    ),
                )),
            ));
            continue;
        }

        // Zero disruptions with every pod healthy: the budget itself forbids
        // eviction (unhealthy pods are the pod analyzers' business).
        if allowed == Some(0) && expected > 0 && healthy >= desired && healthy >= expected {
            let pod_names: Vec<&str> = selected.iter().map(|p| p.metadata.name.as_str()).collect();
            let mut f = with_condition(
                Finding::new(
                    pref.clone(),
                    Severity::Warning,
                    reasons::PDB_BLOCKS_EVICTION,
                    format!(
                        "PodDisruptionBudget {ns}/{name} allows no voluntary disruption although all {expected} pod(s) are healthy"
                    ),
                )
                .root_cause(format!(
                    "PodDisruptionBudget {ns}/{name} has {budget} for {expected} pod(s) ({}): not one pod may be \
                     evicted, so `kubectl drain`, node upgrades and cluster-autoscaler scale-downs hang on its nodes.",
                    list_names(&pod_names, 3)
                ))
                .evidence(
                    Source::Spec,
                    format!("PodDisruptionBudget {ns}/{name} spec"),
                    format!("{budget}, selector {selector_text}"),
                ),
            );
            if let Some(fix) = budget_fix(pdb, &pref, expected) {
                f = f.fix(fix);
            }
            out.push(f);
        }
    }
}

fn text(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

/// Allow one disruption, pinning the current budget.
fn budget_fix(
    pdb: &Value,
    pref: &crate::finding::ObjRef,
    expected: i64,
) -> Option<crate::finding::Fix> {
    let spec = &pdb["spec"];
    let (ops, what) = match (&spec["minAvailable"], &spec["maxUnavailable"]) {
        (_, max) if !max.is_null() => (
            vec![
                fix::test("/spec/maxUnavailable", max.clone()),
                fix::replace("/spec/maxUnavailable", 1),
            ],
            "Set maxUnavailable to 1: one pod at a time may be evicted.".to_string(),
        ),
        (Value::Number(n), _) if expected > 1 && n.as_i64() == Some(expected) => (
            vec![
                fix::test("/spec/minAvailable", n.clone()),
                fix::replace("/spec/minAvailable", expected - 1),
            ],
            format!(
                "Lower minAvailable to {}: one of the {expected} pods at a time may be evicted.",
                expected - 1
            ),
        ),
        (min, _) if !min.is_null() => (
            vec![
                fix::test("/spec/minAvailable", min.clone()),
                fix::remove("/spec/minAvailable"),
                fix::add("/spec/maxUnavailable", 1),
            ],
            if expected == 1 {
                "Replace minAvailable with maxUnavailable 1. With a single replica the pod is briefly down during a \
                 drain; run 2 replicas if that is not acceptable."
                    .to_string()
            } else {
                "Replace minAvailable with maxUnavailable 1: one pod at a time may be evicted."
                    .to_string()
            },
        ),
        _ => return None,
    };
    Some(fix::patch(pref.clone(), pdb, ops, what))
}
