//! Services: a selector that selects no pod (and the pods that nearly match
//! it), selected pods of which none is ready, and target ports the selected
//! pods do not expose.

use std::collections::BTreeMap;

use serde_json::Value;

use super::selectors::{
    NearMiss, PodIndex, Selector, list_names, not_ready_summary, obj_ref, pod_condition, pod_ready,
    workloads,
};
use crate::ctx::{Scope, name_of};
use crate::finding::{Finding, Fix, ObjRef, Severity, Source};
use crate::fix;
use crate::model::{ContainerPort, Pod};
use crate::reasons;

/// Pods named in a root cause or listed as evidence, at most.
const MAX_PODS: usize = 5;

pub fn analyze(scope: &Scope, out: &mut Vec<Finding>) {
    let services = scope.objects("services");
    if services.is_empty() {
        return;
    }
    let index = PodIndex::new(&scope.pods);
    let endpoints: BTreeMap<&str, &Value> = scope
        .objects("endpoints")
        .iter()
        .map(|e| (name_of(e), e))
        .collect();
    for svc in services {
        let spec = &svc["spec"];
        if spec["type"].as_str() == Some("ExternalName") {
            continue;
        }
        let selector = Selector::from_map(&spec["selector"]);
        if selector.is_empty() {
            continue;
        }
        let ep = endpoints.get(name_of(svc)).copied();
        let selected = index.matching(&selector);
        if selected.is_empty() {
            no_pods(scope, svc, &selector, ep, &index, out);
            continue;
        }
        let (port_findings, named_unresolved) = target_ports(scope, svc, &selector, &selected);
        let ready = match ep {
            Some(ep) => ready_addresses(ep),
            None => selected.iter().filter(|p| pod_ready(p)).count(),
        };
        let publishes_not_ready = spec["publishNotReadyAddresses"].as_bool() == Some(true);
        // A named target port no pod exposes keeps every pod out of the
        // Endpoints: that finding already explains the empty Endpoints.
        if ready == 0 && !publishes_not_ready && !named_unresolved {
            out.push(not_ready(scope, svc, &selector, ep, &selected));
        }
        out.extend(port_findings);
    }
}

/// Ready addresses of an Endpoints object, over its subsets.
fn ready_addresses(ep: &Value) -> usize {
    ep["subsets"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|s| s["addresses"].as_array().map_or(0, Vec::len))
        .sum()
}

fn not_ready_addresses(ep: &Value) -> usize {
    ep["subsets"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|s| s["notReadyAddresses"].as_array().map_or(0, Vec::len))
        .sum()
}

fn endpoints_text(ep: Option<&Value>) -> String {
    match ep {
        None => "no Endpoints object".into(),
        Some(ep) if ep["subsets"].as_array().is_none_or(Vec::is_empty) => {
            "no subsets: no address, ready or not".into()
        }
        Some(ep) => format!(
            "{} ready address(es), {} not-ready address(es)",
            ready_addresses(ep),
            not_ready_addresses(ep)
        ),
    }
}

fn service_ref(scope: &Scope, svc: &Value) -> ObjRef {
    obj_ref(svc, "Service", Some(&scope.namespace))
}

/// Pods are selected, none is ready.
fn not_ready(
    scope: &Scope,
    svc: &Value,
    selector: &Selector,
    ep: Option<&Value>,
    selected: &[&Pod],
) -> Finding {
    let ns = &scope.namespace;
    let name = name_of(svc);
    let names: Vec<&str> = selected.iter().map(|p| p.metadata.name.as_str()).collect();
    let details: Vec<String> = selected
        .iter()
        .take(MAX_PODS)
        .map(|p| format!("{} ({})", p.metadata.name, not_ready_summary(p)))
        .collect();
    let mut workloads: Vec<String> = selected
        .iter()
        .map(|p| scope.workload_of(p).display())
        .collect();
    workloads.sort();
    workloads.dedup();
    let more = if selected.len() > MAX_PODS {
        format!(" and {} more", selected.len() - MAX_PODS)
    } else {
        String::new()
    };
    let mut finding = Finding::new(
        service_ref(scope, svc),
        Severity::Error,
        reasons::SERVICE_NO_ENDPOINTS,
        format!(
            "Service {ns}/{name} has no ready endpoints: its selector {} selects {} pod(s), none of them ready",
            selector.display(),
            selected.len()
        ),
    )
    .root_cause(format!(
        "The selector is right but none of its {} pod(s) is ready, so the Service routes nowhere: {}{more}; \
         the problem is in {} (see its pod findings), not in the Service.",
        selected.len(),
        details.join("; "),
        workloads.join(", ")
    ))
    .evidence(Source::Status, format!("Endpoints {ns}/{name}"), endpoints_text(ep))
    .evidence(
        Source::Spec,
        format!("Service {ns}/{name} spec.selector"),
        selector.display(),
    );
    for pod in selected.iter().take(MAX_PODS) {
        let text = match pod_condition(pod, "Ready") {
            Some(c) => format!(
                "Ready={}{}{}",
                c.status,
                c.reason
                    .as_deref()
                    .map(|r| format!(" ({r})"))
                    .unwrap_or_default(),
                c.message
                    .as_deref()
                    .map(|m| format!(": {m}"))
                    .unwrap_or_default()
            ),
            None => not_ready_summary(pod),
        };
        finding = finding.evidence(
            Source::Status,
            format!("Pod {ns}/{} condition Ready", pod.metadata.name),
            text,
        );
    }
    finding.pods = names.iter().map(|n| n.to_string()).collect();
    finding
}

/// No pod is selected: a selector that drifted from the pods' labels, or a
/// workload with no pods.
fn no_pods(
    scope: &Scope,
    svc: &Value,
    selector: &Selector,
    ep: Option<&Value>,
    index: &PodIndex,
    out: &mut Vec<Finding>,
) {
    let ns = &scope.namespace;
    let name = name_of(svc);
    let target = service_ref(scope, svc);

    // A workload whose pod template matches: it has no pods (scaled to zero
    // or failing to create them), the selector is fine.
    for (kind, object) in workloads(scope) {
        let labels = template_labels(kind, object);
        if labels.is_empty() || !selector.matches(&labels) {
            continue;
        }
        let replicas = object["spec"]["replicas"].as_i64();
        let wref = obj_ref(object, kind, Some(ns));
        let (severity, why) = match (kind, replicas) {
            ("CronJob", _) => continue,
            (_, Some(0)) => (
                Severity::Warning,
                format!("{} is scaled to zero (spec.replicas 0)", wref.display()),
            ),
            _ => (
                Severity::Error,
                format!(
                    "{} matches the selector but has no running pod (see its findings)",
                    wref.display()
                ),
            ),
        };
        out.push(
            Finding::new(
                target,
                severity,
                reasons::SERVICE_NO_ENDPOINTS,
                format!(
                    "Service {ns}/{name} has no endpoints: no pod carries {}",
                    selector.display()
                ),
            )
            .root_cause(format!(
                "{why}, so Service {ns}/{name} has no pod to route to."
            ))
            .evidence(
                Source::Status,
                format!("Endpoints {ns}/{name}"),
                endpoints_text(ep),
            )
            .evidence(
                Source::Spec,
                format!("{} spec.replicas", wref.display()),
                replicas.map_or("unset (1)".into(), |r| r.to_string()),
            ),
        );
        return;
    }

    let mut finding = Finding::new(
        target.clone(),
        Severity::Error,
        reasons::SERVICE_SELECTOR_MISMATCH,
        format!(
            "Service {ns}/{name} selects no pod: no pod in {ns} carries {}",
            selector.display()
        ),
    )
    .evidence(
        Source::Spec,
        format!("Service {ns}/{name} spec.selector"),
        selector.display(),
    )
    .evidence(
        Source::Status,
        format!("Endpoints {ns}/{name}"),
        endpoints_text(ep),
    );

    let misses = index.near_misses(selector);
    if let Some(miss) = misses.first() {
        finding = near_miss(scope, svc, selector, miss, index, finding);
    } else if let Some((kind, object, key, actual)) = template_near_miss(scope, selector) {
        // No pod at all (the workload may be failing), but a template nearly
        // matches: same diagnosis, from the template.
        let wref = obj_ref(object, kind, Some(ns));
        let carries = actual
            .as_deref()
            .map_or(format!("no `{key}` label"), |v| format!("{key}={v}"));
        let wanted = selector
            .labels
            .iter()
            .find(|(k, _)| *k == key)
            .map(|(_, v)| v.clone())
            .unwrap_or_default();
        finding = finding
            .root_cause(format!(
                "Service {ns}/{name} selects {key}={wanted}, but the pod template of {} carries {carries} \
                 (it matches every other selector label), so no pod is selected.",
                wref.display()
            ))
            .evidence(
                Source::Spec,
                format!("{} spec.template.metadata.labels", wref.display()),
                label_text(&template_labels(kind, object)),
            );
        if let Some(actual) = actual {
            finding = finding.fix(selector_fix(&target, svc, &key, &wanted, &actual));
        }
    } else {
        finding.severity = Severity::Warning;
        finding = finding.root_cause(format!(
            "No pod and no workload pod template in {ns} carries the labels {} (nor all of them but one): \
             the Service is unused, or its pods were renamed or removed.",
            selector.display()
        ));
        finding = finding.fix(fix::needs_input(
            target,
            "Point the selector at the pods' labels (list them with `kubectl get pods --show-labels`).",
            format!(
                "kubectl patch service {name} -n {ns} --type=merge -p '{{\"spec\":{{\"selector\":{{\"<key>\":\"<value>\"}}}}}}'"
            ),
        ));
    }
    out.push(finding);
}

/// The root cause and fixes of a selector that nearly matches some pods.
fn near_miss(
    scope: &Scope,
    svc: &Value,
    selector: &Selector,
    miss: &NearMiss,
    index: &PodIndex,
    mut finding: Finding,
) -> Finding {
    let ns = &scope.namespace;
    let name = name_of(svc);
    let target = service_ref(scope, svc);
    let pod_names: Vec<&str> = miss.pods.iter().map(|p| p.metadata.name.as_str()).collect();
    let mut owners: Vec<ObjRef> = miss.pods.iter().map(|p| scope.workload_of(p)).collect();
    owners.sort();
    owners.dedup();
    let owner_text = owners
        .iter()
        .map(ObjRef::display)
        .collect::<Vec<_>>()
        .join(", ");
    let carries = miss
        .actual
        .as_deref()
        .map_or(format!("no `{}` label", miss.key), |v| {
            format!("{}={v}", miss.key)
        });
    let others: Vec<String> = selector
        .labels
        .iter()
        .filter(|(k, _)| *k != miss.key)
        .map(|(k, v)| format!("{k}={v}"))
        .collect();
    let also = if others.is_empty() {
        String::new()
    } else {
        format!(
            " (they match every other selector label: {})",
            others.join(",")
        )
    };
    finding = finding.root_cause(format!(
        "Service {ns}/{name} selects {}={}, but the pods of {owner_text} ({}) carry {carries}{also}, \
         so the label `{}` differs and no pod is selected.",
        miss.key,
        miss.wanted,
        list_names(&pod_names, MAX_PODS),
        miss.key
    ));
    for pod in miss.pods.iter().take(2) {
        finding = finding.evidence(
            Source::Spec,
            format!("Pod {ns}/{} labels", pod.metadata.name),
            label_text(&pod.metadata.labels),
        );
    }
    finding.pods = pod_names.iter().map(|n| n.to_string()).collect();

    match &miss.actual {
        Some(actual) => {
            finding = finding.fix(selector_fix(&target, svc, &miss.key, &miss.wanted, actual));
        }
        None => {
            // Dropping the key is right only if what is left selects just
            // these pods.
            let reduced = Selector {
                labels: selector
                    .labels
                    .iter()
                    .filter(|(k, _)| *k != miss.key)
                    .cloned()
                    .collect(),
                expressions: Vec::new(),
            };
            if index.matching(&reduced).len() == miss.pods.len() {
                let path = format!("/spec/selector/{}", fix::escape(&miss.key));
                finding = finding.fix(fix::patch(
                    target.clone(),
                    svc,
                    vec![fix::test(&path, miss.wanted.as_str()), fix::remove(&path)],
                    format!(
                        "Drop `{}` from the selector of Service {name}: without it, it selects exactly the pods of {owner_text}.",
                        miss.key
                    ),
                ));
            }
        }
    }
    // The other way round: label the pods as the Service expects, through
    // their workload's template (a rollout), when the label is not part of
    // the workload's own selector (which is immutable).
    if owners.len() == 1
        && matches!(
            owners[0].kind.as_str(),
            "Deployment" | "StatefulSet" | "DaemonSet"
        )
        && let Some(object) = scope.find(&owners[0].resource(), &owners[0].name)
        && object["spec"]["selector"]["matchLabels"]
            .get(&miss.key)
            .is_none()
        && object.pointer("/spec/template/metadata/labels").is_some()
    {
        let path = format!("/spec/template/metadata/labels/{}", fix::escape(&miss.key));
        let ops = match &miss.actual {
            Some(actual) => vec![
                fix::test(&path, actual.as_str()),
                fix::replace(&path, miss.wanted.as_str()),
            ],
            None => vec![fix::add(&path, miss.wanted.as_str())],
        };
        finding = finding.fix(fix::patch(
            owners[0].clone(),
            object,
            ops,
            format!(
                "Or relabel the pods: set {}={} in the pod template of {} (rolls the pods; check nothing else selects {carries}).",
                miss.key,
                miss.wanted,
                owners[0].display()
            ),
        ));
    }
    finding
}

/// Replace the selector value of `key`, pinning the old one.
fn selector_fix(target: &ObjRef, svc: &Value, key: &str, wanted: &str, actual: &str) -> Fix {
    let path = format!("/spec/selector/{}", fix::escape(key));
    fix::patch(
        target.clone(),
        svc,
        vec![fix::test(&path, wanted), fix::replace(&path, actual)],
        format!(
            "Set the selector of Service {} to {key}={actual}, the value its pods carry (was {key}={wanted}).",
            target.name
        ),
    )
}

/// A workload template that matches every equality label of the selector
/// but one: (kind, object, key, the template's value for it).
fn template_near_miss<'s>(
    scope: &'s Scope,
    selector: &Selector,
) -> Option<(&'static str, &'s Value, String, Option<String>)> {
    if selector.labels.len() < 2 {
        return None;
    }
    for (kind, object) in workloads(scope) {
        let labels = template_labels(kind, object);
        let differing: Vec<&(String, String)> = selector
            .labels
            .iter()
            .filter(|(k, v)| labels.get(k) != Some(v))
            .collect();
        if let [(key, _)] = differing.as_slice() {
            return Some((kind, object, key.clone(), labels.get(key).cloned()));
        }
    }
    None
}

fn template_labels(kind: &str, object: &Value) -> BTreeMap<String, String> {
    let pointer = if kind == "CronJob" {
        "/spec/jobTemplate/spec/template/metadata/labels"
    } else {
        "/spec/template/metadata/labels"
    };
    object
        .pointer(pointer)
        .and_then(Value::as_object)
        .map(|m| {
            m.iter()
                .map(|(k, v)| (k.clone(), v.as_str().unwrap_or_default().to_string()))
                .collect()
        })
        .unwrap_or_default()
}

fn label_text(labels: &BTreeMap<String, String>) -> String {
    labels
        .iter()
        .map(|(k, v)| format!("{k}={v}"))
        .collect::<Vec<_>>()
        .join(",")
}

/// Service ports whose targetPort the selected pods do not expose.
/// Also says whether a named target port is unresolved (which keeps the
/// pods out of the Endpoints).
fn target_ports(
    scope: &Scope,
    svc: &Value,
    selector: &Selector,
    selected: &[&Pod],
) -> (Vec<Finding>, bool) {
    let ns = &scope.namespace;
    let name = name_of(svc);
    let mut out = Vec::new();
    let mut named_unresolved = false;
    let ports = svc["spec"]["ports"]
        .as_array()
        .map(Vec::as_slice)
        .unwrap_or_default();
    for (i, port) in ports.iter().enumerate() {
        let protocol = port["protocol"].as_str().unwrap_or("TCP");
        let target_port = match &port["targetPort"] {
            Value::Null => port["port"].clone(),
            other => other.clone(),
        };
        let named = match &target_port {
            Value::String(s) if s.parse::<i64>().is_err() => Some(s.clone()),
            _ => None,
        };
        let number = match &target_port {
            Value::Number(n) => n.as_i64(),
            Value::String(s) => s.parse().ok(),
            _ => None,
        };
        let declared = |pod: &Pod| -> Vec<ContainerPort> {
            pod.spec
                .containers
                .iter()
                .flat_map(|c| c.ports.iter())
                .filter(|p| p.protocol.as_deref().unwrap_or("TCP") == protocol)
                .cloned()
                .collect()
        };
        let resolves = |pod: &&&Pod| -> bool {
            let ports = declared(pod);
            match (&named, number) {
                (Some(n), _) => ports.iter().any(|p| p.name.as_deref() == Some(n.as_str())),
                // A container need not declare the ports it listens on: an
                // undeclared number is only suspicious when the pod
                // declares others.
                (None, Some(n)) => ports.is_empty() || ports.iter().any(|p| p.container_port == n),
                (None, None) => true,
            }
        };
        if selected.iter().any(|p| resolves(&p)) {
            continue;
        }
        let exposed = declared(selected[0]);
        let exposed_text = if exposed.is_empty() {
            "no ports".to_string()
        } else {
            exposed
                .iter()
                .map(|p| match &p.name {
                    Some(n) => format!("{n}:{}", p.container_port),
                    None => p.container_port.to_string(),
                })
                .collect::<Vec<_>>()
                .join(", ")
        };
        let port_label = port["name"].as_str().map_or(port["port"].to_string(), |n| {
            format!("{n} ({})", port["port"])
        });
        let tp_text = match &target_port {
            Value::String(s) => s.clone(),
            other => other.to_string(),
        };
        named_unresolved |= named.is_some();
        let (severity, consequence) = if named.is_some() {
            (
                Severity::Error,
                "the endpoints controller cannot resolve the name, so no pod is an endpoint for this port",
            )
        } else {
            (
                Severity::Error,
                "unless the container listens on that port without declaring it, connections are refused",
            )
        };
        let mut finding = Finding::new(
            service_ref(scope, svc),
            severity,
            reasons::SERVICE_TARGET_PORT_MISMATCH,
            format!(
                "Service {ns}/{name} port {port_label} targets {tp_text}/{protocol}, which no pod it selects exposes"
            ),
        )
        .root_cause(format!(
            "Service {ns}/{name} port {port_label} has targetPort {tp_text}, but the pods selected by {} \
             ({}) expose {exposed_text}: {consequence}.",
            selector.display(),
            list_names(
                &selected.iter().map(|p| p.metadata.name.as_str()).collect::<Vec<_>>(),
                3
            )
        ))
        .evidence(
            Source::Spec,
            format!("Service {ns}/{name} spec.ports[{i}]"),
            port.to_string(),
        )
        .evidence(
            Source::Spec,
            format!("Pod {ns}/{} container ports", selected[0].metadata.name),
            exposed_text.clone(),
        );
        let path = format!("/spec/ports/{i}/targetPort");
        // The port the Service most likely means: same name as the Service
        // port, else same number, else the only one.
        let svc_port_name = port["name"].as_str();
        let svc_port_number = port["port"].as_i64();
        let candidate = exposed
            .iter()
            .find(|p| p.name.is_some() && p.name.as_deref() == svc_port_name)
            .or_else(|| {
                exposed
                    .iter()
                    .find(|p| Some(p.container_port) == svc_port_number)
            })
            .or(if exposed.len() == 1 {
                exposed.first()
            } else {
                None
            });
        if let Some(only) = candidate {
            let value: Value = match &only.name {
                Some(n) if named.is_some() => Value::String(n.clone()),
                _ => Value::from(only.container_port),
            };
            let mut ops = Vec::new();
            if port.get("targetPort").is_some() {
                ops.push(fix::test(&path, target_port.clone()));
                ops.push(fix::replace(&path, value.clone()));
            } else {
                ops.push(fix::add(&path, value.clone()));
            }
            finding = finding.fix(fix::patch(
                service_ref(scope, svc),
                svc,
                ops,
                format!(
                    "Point targetPort of port {port_label} at `{}`: the pods' container port {}{}.",
                    match &value {
                        Value::String(s) => s.clone(),
                        v => v.to_string(),
                    },
                    only.name
                        .as_deref()
                        .map(|n| format!("{n}:"))
                        .unwrap_or_default(),
                    only.container_port
                ),
            ));
        } else {
            finding = finding.fix(fix::needs_input(
                service_ref(scope, svc),
                format!("Point targetPort of port {port_label} at one of the ports the pods expose: {exposed_text}."),
                fix::kubectl_patch(
                    &service_ref(scope, svc),
                    &Value::Array(vec![
                        fix::test(&path, target_port.clone()),
                        fix::replace(&path, "<port name or number>"),
                    ]),
                ),
            ));
        }
        out.push(finding);
    }
    (out, named_unresolved)
}
