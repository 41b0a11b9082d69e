//! HorizontalPodAutoscalers: a scale target that does not exist, resource
//! utilisation metrics on containers without the matching request, metrics
//! the HPA cannot read, and HPAs pinned at their maximum.

use std::collections::BTreeMap;

use serde_json::{Map, Value, json};

use super::selectors::{
    closest, condition, describe_condition, obj_ref, pod_spec_of, pod_spec_path,
};
use crate::ctx::{Scope, name_of};
use crate::finding::{Finding, ObjRef, Severity, Source};
use crate::fix;
use crate::kinds;
use crate::reasons;

/// A request proposed when nothing better is known: a starting point.
fn default_request(resource: &str) -> &'static str {
    match resource {
        "memory" => "128Mi",
        _ => "100m",
    }
}

/// A resource metric that is measured against requests.
struct Utilisation {
    resource: String,
    /// `ContainerResource` metrics name one container.
    container: Option<String>,
    target: String,
}

fn utilisation_metrics(hpa: &Value) -> Vec<Utilisation> {
    let mut out = Vec::new();
    // autoscaling/v1
    if let Some(pct) = hpa["spec"]["targetCPUUtilizationPercentage"].as_i64() {
        out.push(Utilisation {
            resource: "cpu".into(),
            container: None,
            target: format!("{pct}%"),
        });
    }
    for m in hpa["spec"]["metrics"].as_array().into_iter().flatten() {
        let (body, container) = match m["type"].as_str() {
            Some("Resource") => (&m["resource"], None),
            Some("ContainerResource") => (
                &m["containerResource"],
                m["containerResource"]["container"]
                    .as_str()
                    .map(str::to_string),
            ),
            _ => continue,
        };
        if body["target"]["type"].as_str() != Some("Utilization") {
            continue;
        }
        let Some(resource) = body["name"].as_str() else {
            continue;
        };
        out.push(Utilisation {
            resource: resource.into(),
            container,
            target: format!(
                "{}%",
                body["target"]["averageUtilization"].as_i64().unwrap_or(0)
            ),
        });
    }
    out
}

pub fn analyze(scope: &Scope, out: &mut Vec<Finding>) {
    let ns = scope.namespace.as_str();
    for hpa in scope.objects("horizontalpodautoscalers.autoscaling") {
        let name = name_of(hpa);
        let href = obj_ref(hpa, "HorizontalPodAutoscaler", Some(ns));
        let tref = &hpa["spec"]["scaleTargetRef"];
        let tkind = tref["kind"].as_str().unwrap_or("");
        let tname = tref["name"].as_str().unwrap_or("");
        let tapi = tref["apiVersion"]
            .as_str()
            .unwrap_or_else(|| kinds::api_version_of(tkind));
        let resource = kinds::resource_of(tapi, tkind);
        let target_ref = ObjRef::new(tapi, tkind, Some(ns), tname);

        // The HPA's own status and warnings, evidence for every finding.
        let mut evidence: Vec<(Source, String, String)> = Vec::new();
        for c in hpa["status"]["conditions"].as_array().into_iter().flatten() {
            evidence.push((
                Source::Status,
                format!(
                    "HorizontalPodAutoscaler {ns}/{name} condition {}",
                    c["type"].as_str().unwrap_or("")
                ),
                describe_condition(c),
            ));
        }
        let mut seen = Vec::new();
        for e in scope
            .events_for("HorizontalPodAutoscaler", name)
            .collect::<Vec<_>>()
            .iter()
            .rev()
        {
            if e.type_.as_deref() != Some("Warning") || seen.contains(&e.reason) || seen.len() >= 3
            {
                continue;
            }
            seen.push(e.reason.clone());
            evidence.push((
                Source::Event,
                format!("Event {}", e.reason.as_deref().unwrap_or("")),
                format!(
                    "{}{}",
                    e.message.as_deref().unwrap_or("").trim(),
                    e.count
                        .filter(|c| *c > 1)
                        .map(|c| format!(" (x{c})"))
                        .unwrap_or_default()
                ),
            ));
        }
        let with_evidence = |mut f: Finding| {
            for (s, r, t) in &evidence {
                f = f.evidence(*s, r.clone(), t.clone());
            }
            f
        };

        if !scope.declares(&resource) {
            // A custom scale target (Argo Rollout…): not read, not checked.
            continue;
        }
        let Some(target) = scope.find(&resource, tname) else {
            // The workload it most likely means: one named like the HPA, or
            // one whose name is close to the target's.
            let names: Vec<&str> = scope.objects(&resource).iter().map(name_of).collect();
            let guess = names
                .iter()
                .copied()
                .find(|n| *n == name)
                .or_else(|| closest(tname, names.iter().copied()));
            let path = "/spec/scaleTargetRef/name";
            let repair = match guess {
                Some(g) => fix::patch(
                    href.clone(),
                    hpa,
                    vec![fix::test(path, tname), fix::replace(path, g)],
                    format!(
                        "Scale {tkind} `{g}` (it exists, and its name matches the HPA or the missing target)."
                    ),
                ),
                None => fix::needs_input(
                    href.clone(),
                    format!(
                        "Point the HPA at the workload it should scale, or delete it if {tkind} {tname} is gone for good."
                    ),
                    fix::kubectl_patch(
                        &href,
                        &Value::Array(vec![
                            fix::test(path, tname),
                            fix::replace(path, "<workload>"),
                        ]),
                    ),
                ),
            };
            out.push(with_evidence(
                Finding::new(
                    href.clone(),
                    Severity::Error,
                    reasons::HPA_TARGET_NOT_FOUND,
                    format!("HorizontalPodAutoscaler {ns}/{name} scales {tkind} {tname}, which does not exist"),
                )
                .root_cause(format!(
                    "spec.scaleTargetRef of HorizontalPodAutoscaler {ns}/{name} names {tkind} `{tname}`, which is not \
                     in namespace {ns}, so the HPA scales nothing."
                ))
                .evidence(
                    Source::Spec,
                    format!("HorizontalPodAutoscaler {ns}/{name} spec.scaleTargetRef"),
                    tref.to_string(),
                )
                .fix(repair),
            ));
            continue;
        };

        let missing = missing_requests(hpa, target, tkind);
        let scaling_active = condition(hpa, "ScalingActive");
        if !missing.is_empty() {
            out.push(with_evidence(missing_finding(
                scope,
                hpa,
                &href,
                target,
                &target_ref,
                &missing,
            )));
        } else if let Some(c) = scaling_active
            && c["status"].as_str() == Some("False")
            && c["reason"].as_str() != Some("ScalingDisabled")
        {
            let message = c["message"].as_str().unwrap_or("");
            let why = if message.contains("metrics.k8s.io")
                || message.contains("resource metrics API")
            {
                "the resource metrics API (metrics.k8s.io, served by metrics-server) does not answer, so the HPA \
                 has no CPU/memory usage to compare"
                    .to_string()
            } else if message.contains("custom.metrics.k8s.io")
                || message.contains("external.metrics.k8s.io")
            {
                "the custom/external metrics API (a metrics adapter such as prometheus-adapter or KEDA) does not \
                 serve the metric the HPA asks for"
                    .to_string()
            } else {
                format!(
                    "the HPA cannot read its metrics: {}",
                    message.trim_end_matches('.')
                )
            };
            out.push(with_evidence(
                Finding::new(
                    href.clone(),
                    Severity::Error,
                    reasons::HPA_METRICS_UNAVAILABLE,
                    format!(
                        "HorizontalPodAutoscaler {ns}/{name} is not scaling: ScalingActive=False ({})",
                        c["reason"].as_str().unwrap_or("")
                    ),
                )
                .root_cause(format!(
                    "HorizontalPodAutoscaler {ns}/{name} keeps {tkind} {tname} at its current size because {why}."
                )),
            ));
        }

        let current = hpa["status"]["currentReplicas"].as_i64();
        let max = hpa["spec"]["maxReplicas"].as_i64();
        let limited = condition(hpa, "ScalingLimited").is_some_and(|c| {
            c["status"].as_str() == Some("True") && c["reason"].as_str() == Some("TooManyReplicas")
        });
        if let (Some(cur), Some(max)) = (current, max)
            && cur >= max
            && limited
        {
            out.push(with_evidence(
                Finding::new(
                    href.clone(),
                    Severity::Warning,
                    reasons::HPA_AT_MAX_REPLICAS,
                    format!("HorizontalPodAutoscaler {ns}/{name} is at maxReplicas ({max}) and wants more"),
                )
                .root_cause(format!(
                    "The load on {tkind} {tname} asks for more than spec.maxReplicas {max} of HorizontalPodAutoscaler \
                     {ns}/{name} (desiredReplicas {}): the workload runs at its ceiling and may be saturated.",
                    hpa["status"]["desiredReplicas"].as_i64().unwrap_or(max)
                ))
                .fix(fix::needs_input(
                    href.clone(),
                    format!("Raise maxReplicas above {max} if the cluster has room (or make each replica cheaper)."),
                    fix::kubectl_patch(
                        &href,
                        &Value::Array(vec![
                            fix::test("/spec/maxReplicas", max),
                            fix::replace("/spec/maxReplicas", "<replicas>"),
                        ]),
                    ),
                )),
            ));
        }
    }
}

/// Per container index of the target's pod template: its name, and the
/// (resource, metric target) pairs it lacks a request for.
type Missing = BTreeMap<usize, (String, Vec<(String, String)>)>;

fn missing_requests(hpa: &Value, target: &Value, kind: &str) -> Missing {
    let mut missing = Missing::new();
    let Some(spec) = pod_spec_of(target, kind) else {
        return missing;
    };
    let containers = spec["containers"]
        .as_array()
        .map(Vec::as_slice)
        .unwrap_or_default();
    for m in utilisation_metrics(hpa) {
        for (i, c) in containers.iter().enumerate() {
            let cname = c["name"].as_str().unwrap_or("");
            if m.container.as_deref().is_some_and(|want| want != cname) {
                continue;
            }
            // Kubernetes defaults a missing request to the limit.
            let has = c["resources"]["requests"].get(&m.resource).is_some()
                || c["resources"]["limits"].get(&m.resource).is_some();
            if !has {
                let entry = missing
                    .entry(i)
                    .or_insert_with(|| (cname.to_string(), Vec::new()));
                if !entry.1.iter().any(|(r, _)| *r == m.resource) {
                    entry.1.push((m.resource.clone(), m.target.clone()));
                }
            }
        }
    }
    missing
}

fn missing_finding(
    scope: &Scope,
    hpa: &Value,
    href: &ObjRef,
    target: &Value,
    target_ref: &ObjRef,
    missing: &Missing,
) -> Finding {
    let ns = scope.namespace.as_str();
    let name = name_of(hpa);
    let prefix = pod_spec_path(&target_ref.kind).unwrap_or("/spec/template/spec");
    let what: Vec<String> = missing
        .values()
        .map(|(c, rs)| {
            format!(
                "container `{c}` has no resources.requests.{}",
                rs.iter()
                    .map(|(r, _)| r.as_str())
                    .collect::<Vec<_>>()
                    .join(" / requests.")
            )
        })
        .collect();
    let metrics: Vec<String> = missing
        .values()
        .flat_map(|(_, rs)| {
            rs.iter()
                .map(|(r, t)| format!("{r} utilisation (target {t})"))
        })
        .collect::<std::collections::BTreeSet<_>>()
        .into_iter()
        .collect();
    let mut finding = Finding::new(
        href.clone(),
        Severity::Error,
        reasons::HPA_MISSING_REQUESTS,
        format!(
            "HorizontalPodAutoscaler {ns}/{name} cannot compute {}: {} {} sets no request for it",
            metrics.join(", "),
            target_ref.kind,
            target_ref.name
        ),
    )
    .root_cause(format!(
        "HorizontalPodAutoscaler {ns}/{name} scales on {}, which is usage divided by the request, but in {} {}: \
         the HPA cannot compute utilisation and does not scale (desiredReplicas {}).",
        metrics.join(" and "),
        target_ref.display(),
        what.join(", "),
        hpa["status"]["desiredReplicas"].as_i64().unwrap_or(0)
    ))
    .evidence(
        Source::Spec,
        format!("HorizontalPodAutoscaler {ns}/{name} spec.metrics"),
        hpa["spec"]["metrics"].to_string(),
    );
    let containers = target
        .pointer(&format!("{prefix}/containers"))
        .and_then(Value::as_array)
        .map(Vec::as_slice)
        .unwrap_or_default();
    let mut ops = Vec::new();
    let mut values = Vec::new();
    for (i, (cname, resources)) in missing {
        let c = &containers[*i];
        finding = finding.evidence(
            Source::Spec,
            format!("{} container {cname} resources", target_ref.display()),
            c["resources"].to_string(),
        );
        let base = format!("{prefix}/containers/{i}");
        ops.push(fix::test(&format!("{base}/name"), cname.as_str()));
        let mut requests = Map::new();
        for (r, _) in resources {
            let value = default_request(r);
            values.push(format!("{cname}: {r} {value}"));
            requests.insert(r.clone(), json!(value));
        }
        if c.get("resources").is_none_or(Value::is_null) {
            ops.push(fix::add(
                &format!("{base}/resources"),
                json!({ "requests": requests }),
            ));
        } else if c["resources"].get("requests").is_none_or(Value::is_null) {
            ops.push(fix::add(
                &format!("{base}/resources/requests"),
                Value::Object(requests),
            ));
        } else {
            for (r, v) in requests {
                ops.push(fix::add(
                    &format!("{base}/resources/requests/{}", fix::escape(&r)),
                    v,
                ));
            }
        }
    }
    finding.fix(fix::patch(
        target_ref.clone(),
        target,
        ops,
        format!(
            "Add resource requests ({}) to {}. These values are a starting point, not a measurement: set them to the \
             containers' typical use (`kubectl top pods -n {ns}`), since the HPA's utilisation target is a percentage \
             of the request. Changing the pod template rolls the pods.",
            values.join(", "),
            target_ref.display()
        ),
    ))
}
