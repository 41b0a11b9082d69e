//! NetworkPolicies that select no pod (a stale or mistyped selector), and
//! namespace-wide deny-all policies (a fact worth knowing when traffic is
//! refused).

use serde_json::Value;

use super::selectors::{PodIndex, Selector, list_names, obj_ref, workloads};
use crate::ctx::{Scope, name_of};
use crate::finding::{Finding, Severity, Source};
use crate::fix;
use crate::reasons;

pub fn analyze(scope: &Scope, out: &mut Vec<Finding>) {
    let ns = scope.namespace.as_str();
    let policies = scope.objects("networkpolicies.networking.k8s.io");
    if policies.is_empty() {
        return;
    }
    let index = PodIndex::new(&scope.pods);
    for np in policies {
        let name = name_of(np);
        let nref = obj_ref(np, "NetworkPolicy", Some(ns));
        let spec = &np["spec"];
        // A missing podSelector reads as `{}`: every pod.
        let selector = Selector::from_label_selector(&spec["podSelector"]).unwrap_or_default();
        if selector.is_empty() {
            deny_all(ns, np, out);
            continue;
        }
        if !index.matching(&selector).is_empty() {
            continue;
        }
        // A workload scaled to zero still gets the policy when it scales up.
        let templated = workloads(scope).into_iter().any(|(kind, object)| {
            let pointer = if kind == "CronJob" {
                "/spec/jobTemplate/spec/template/metadata/labels"
            } else {
                "/spec/template/metadata/labels"
            };
            object
                .pointer(pointer)
                .and_then(Value::as_object)
                .is_some_and(|m| {
                    let labels = m
                        .iter()
                        .map(|(k, v)| (k.clone(), v.as_str().unwrap_or_default().to_string()))
                        .collect();
                    selector.matches(&labels)
                })
        });
        if templated {
            continue;
        }
        let mut f = Finding::new(
            nref.clone(),
            Severity::Warning,
            reasons::NETWORK_POLICY_NO_PODS,
            format!("NetworkPolicy {ns}/{name} selects no pod"),
        )
        .evidence(
            Source::Spec,
            format!("NetworkPolicy {ns}/{name} spec.podSelector"),
            selector.display(),
        );
        let misses = index.near_misses(&selector);
        match misses.first() {
            Some(miss) if miss.actual.is_some() => {
                let actual = miss.actual.as_deref().unwrap_or_default();
                let pods: Vec<&str> = miss.pods.iter().map(|p| p.metadata.name.as_str()).collect();
                let path = format!("/spec/podSelector/matchLabels/{}", fix::escape(&miss.key));
                f = f
                    .root_cause(format!(
                        "NetworkPolicy {ns}/{name} selects {}={}, but the pods it nearly matches ({}) carry {}={actual}: \
                         the label `{}` differs, so the policy applies to no pod.",
                        miss.key,
                        miss.wanted,
                        list_names(&pods, 3),
                        miss.key,
                        miss.key
                    ))
                    .evidence(
                        Source::Spec,
                        format!("Pod {ns}/{} labels", pods[0]),
                        miss.pods[0]
                            .metadata
                            .labels
                            .iter()
                            .map(|(k, v)| format!("{k}={v}"))
                            .collect::<Vec<_>>()
                            .join(","),
                    );
                if np.pointer(&path).is_some() {
                    f = f.fix(fix::patch(
                        nref.clone(),
                        np,
                        vec![
                            fix::test(&path, miss.wanted.as_str()),
                            fix::replace(&path, actual),
                        ],
                        format!(
                            "Select {}={actual}, the value the pods carry (was {}={}).",
                            miss.key, miss.key, miss.wanted
                        ),
                    ));
                }
            }
            _ => {
                f = f
                    .root_cause(format!(
                        "No pod or workload template in {ns} carries the podSelector {} of NetworkPolicy {ns}/{name}: the \
                         rules it was meant to apply (or the isolation it was meant to give) apply to nothing.",
                        selector.display()
                    ))
                    .fix(fix::needs_input(
                        nref,
                        "Point the podSelector at the pods it should apply to, or delete the policy if they are gone.",
                        format!(
                            "kubectl patch networkpolicy {name} -n {ns} --type=merge -p '{{\"spec\":{{\"podSelector\":{{\"matchLabels\":{{\"<key>\":\"<value>\"}}}}}}}}'"
                        ),
                    ));
            }
        }
        out.push(f);
    }
}

/// An empty podSelector with a direction and no rules for it.
fn deny_all(ns: &str, np: &Value, out: &mut Vec<Finding>) {
    let name = name_of(np);
    let spec = &np["spec"];
    let rules = |k: &str| spec[k].as_array().map_or(0, Vec::len);
    let types: Vec<&str> = match spec["policyTypes"].as_array() {
        Some(t) => t.iter().filter_map(Value::as_str).collect(),
        None => {
            let mut t = vec!["Ingress"];
            if spec["egress"].is_array() {
                t.push("Egress");
            }
            t
        }
    };
    let mut denied = Vec::new();
    if types.contains(&"Ingress") && rules("ingress") == 0 {
        denied.push("ingress");
    }
    if types.contains(&"Egress") && rules("egress") == 0 {
        denied.push("egress");
    }
    if denied.is_empty() {
        return;
    }
    let what = denied.join(" and ");
    let egress_note = if denied.contains(&"egress") {
        " Denying egress also blocks DNS unless another policy allows port 53 to kube-dns."
    } else {
        ""
    };
    out.push(
        Finding::new(
            obj_ref(np, "NetworkPolicy", Some(ns)),
            Severity::Info,
            reasons::NETWORK_POLICY_DENY_ALL,
            format!("NetworkPolicy {ns}/{name} denies all {what} traffic for every pod in {ns}"),
        )
        .root_cause(format!(
            "NetworkPolicy {ns}/{name} selects every pod (empty podSelector) with policyTypes {} and no {what} rules: \
             only traffic another policy in {ns} allows gets through.{egress_note}",
            types.join(", ")
        ))
        .evidence(
            Source::Spec,
            format!("NetworkPolicy {ns}/{name} spec"),
            spec.to_string(),
        ),
    );
}
