//! Gateway API: GatewayClasses no controller accepts, Gateways whose class
//! is missing or that are not accepted/programmed, HTTPRoutes whose parent
//! Gateway or backend Service is missing or that their Gateway rejects.
//! Clusters without the Gateway API serve none of these: nothing to do.

use serde_json::Value;

use super::selectors::{closest, condition, describe_condition, obj_ref};
use crate::ctx::{Cluster, Scope, name_of};
use crate::finding::{Finding, ObjRef, Severity, Source};
use crate::fix;
use crate::reasons;

const GATEWAY_CLASSES: &str = "gatewayclasses.gateway.networking.k8s.io";
const GATEWAYS: &str = "gateways.gateway.networking.k8s.io";
const HTTP_ROUTES: &str = "httproutes.gateway.networking.k8s.io";
const GROUP: &str = "gateway.networking.k8s.io";

fn status_is(c: Option<&Value>, status: &str) -> bool {
    c.is_some_and(|c| c["status"].as_str() == Some(status))
}

pub fn classes(cluster: &Cluster, out: &mut Vec<Finding>) {
    for gc in cluster.objects(GATEWAY_CLASSES) {
        let name = name_of(gc);
        let controller = gc["spec"]["controllerName"].as_str().unwrap_or("?");
        let accepted = condition(gc, "Accepted");
        let (severity, root) = if status_is(accepted, "False") {
            (
                Severity::Error,
                format!(
                    "Controller `{controller}` rejects GatewayClass {name}: {}.",
                    accepted
                        .and_then(|c| c["message"].as_str().or(c["reason"].as_str()))
                        .unwrap_or("no message")
                        .trim_end_matches('.')
                ),
            )
        } else if status_is(accepted, "Unknown") {
            (
                Severity::Warning,
                format!(
                    "No controller has accepted GatewayClass {name}: nothing named `{controller}` (spec.controllerName) \
                     runs in the cluster, so Gateways of this class are never programmed."
                ),
            )
        } else {
            continue;
        };
        let mut f = Finding::new(
            obj_ref(gc, "GatewayClass", None),
            severity,
            reasons::GATEWAY_CLASS_NOT_ACCEPTED,
            format!("GatewayClass {name} is not accepted by its controller"),
        )
        .root_cause(root)
        .evidence(
            Source::Spec,
            format!("GatewayClass {name} spec.controllerName"),
            controller,
        );
        if let Some(c) = accepted {
            f = f.evidence(
                Source::Status,
                format!("GatewayClass {name} condition Accepted"),
                describe_condition(c),
            );
        }
        out.push(f);
    }
}

/// Listener conditions that are not as they should be.
fn listener_problems(gw: &Value) -> Vec<String> {
    let mut out = Vec::new();
    for l in gw["status"]["listeners"].as_array().into_iter().flatten() {
        let lname = l["name"].as_str().unwrap_or("?");
        for c in l["conditions"].as_array().into_iter().flatten() {
            let t = c["type"].as_str().unwrap_or("");
            let s = c["status"].as_str().unwrap_or("");
            let bad = match t {
                "Accepted" | "Programmed" | "ResolvedRefs" => s == "False",
                "Conflicted" => s == "True",
                _ => false,
            };
            if bad {
                out.push(format!("listener {lname}: {}", describe_condition(c)));
            }
        }
    }
    out
}

pub fn gateways(scope: &Scope, out: &mut Vec<Finding>) {
    let ns = scope.namespace.as_str();
    let classes = scope.cluster.objects(GATEWAY_CLASSES);
    for gw in scope.objects(GATEWAYS) {
        let name = name_of(gw);
        let gref = obj_ref(gw, "Gateway", Some(ns));
        let class = gw["spec"]["gatewayClassName"].as_str().unwrap_or("");
        if !classes.iter().any(|c| name_of(c) == class) {
            let existing: Vec<&str> = classes.iter().map(name_of).collect();
            let existing = if existing.is_empty() {
                "none".to_string()
            } else {
                existing.join(", ")
            };
            let mut f = Finding::new(
                gref.clone(),
                Severity::Error,
                reasons::GATEWAY_CLASS_NOT_FOUND,
                format!("Gateway {ns}/{name} uses GatewayClass `{class}`, which does not exist"),
            )
            .root_cause(format!(
                "spec.gatewayClassName of Gateway {ns}/{name} is `{class}`, but the cluster's GatewayClasses are: \
                 {existing}; no controller programs the Gateway and its routes are not served."
            ))
            .evidence(Source::Spec, format!("Gateway {ns}/{name} spec.gatewayClassName"), class)
            .evidence(Source::Status, "GatewayClasses", format!("existing: {existing}"));
            f = f.fix(fix::needs_input(
                gref.clone(),
                format!(
                    "gatewayClassName is immutable: recreate the Gateway with an existing class ({existing}), or install the \
                     controller that provides `{class}`."
                ),
                format!(
                    "kubectl get gateway {name} -n {ns} -o yaml > {name}.gateway.yaml  # set spec.gatewayClassName: <class>, \
                     drop metadata.resourceVersion/uid\nkubectl delete gateway {name} -n {ns} && kubectl create -f {name}.gateway.yaml"
                ),
            ));
            out.push(f);
            continue;
        }
        let accepted = condition(gw, "Accepted");
        let programmed = condition(gw, "Programmed");
        let listeners = listener_problems(gw);
        let (reason, severity, c) = if status_is(accepted, "False") {
            (reasons::GATEWAY_NOT_ACCEPTED, Severity::Error, accepted)
        } else if status_is(programmed, "False") {
            (reasons::GATEWAY_NOT_ACCEPTED, Severity::Error, programmed)
        } else if !listeners.is_empty() {
            (reasons::GATEWAY_NOT_ACCEPTED, Severity::Warning, None)
        } else {
            continue;
        };
        let what = match c {
            Some(c) => format!(
                "{}={} ({}): {}",
                c["type"].as_str().unwrap_or(""),
                c["status"].as_str().unwrap_or(""),
                c["reason"].as_str().unwrap_or(""),
                c["message"].as_str().unwrap_or("").trim_end_matches('.')
            ),
            None => "some listeners are not ready".to_string(),
        };
        let mut f = Finding::new(
            gref.clone(),
            severity,
            reason,
            format!("Gateway {ns}/{name} (class {class}) is not serving: {what}"),
        )
        .root_cause(if listeners.is_empty() {
            format!("The controller of GatewayClass `{class}` reports Gateway {ns}/{name} {what}.")
        } else {
            format!(
                "The controller of GatewayClass `{class}` reports Gateway {ns}/{name} {what}; {}.",
                listeners.join("; ")
            )
        });
        for c in [accepted, programmed].into_iter().flatten() {
            f = f.evidence(
                Source::Status,
                format!(
                    "Gateway {ns}/{name} condition {}",
                    c["type"].as_str().unwrap_or("")
                ),
                describe_condition(c),
            );
        }
        for l in &listeners {
            f = f.evidence(
                Source::Status,
                format!("Gateway {ns}/{name} status.listeners"),
                l.clone(),
            );
        }
        out.push(f);
    }
}

/// A backend problem: (what, the backendRef, the target when the fix is a
/// patch rather than needs-input, the JSON Patch ops, the fix description).
type BackendProblem = (String, String, Option<ObjRef>, Vec<Value>, String);

pub fn routes(scope: &Scope, out: &mut Vec<Finding>) {
    let ns = scope.namespace.as_str();
    for route in scope.objects(HTTP_ROUTES) {
        let name = name_of(route);
        let rref = obj_ref(route, "HTTPRoute", Some(ns));
        // Status first: evidence for every finding on the route.
        let mut rejected = Vec::new();
        let mut status_evidence = Vec::new();
        for parent in route["status"]["parents"].as_array().into_iter().flatten() {
            let pname = parent["parentRef"]["name"].as_str().unwrap_or("?");
            for c in parent["conditions"].as_array().into_iter().flatten() {
                let t = c["type"].as_str().unwrap_or("");
                if matches!(t, "Accepted" | "ResolvedRefs") && c["status"].as_str() == Some("False")
                {
                    rejected.push(format!("parent {pname}: {}", describe_condition(c)));
                    status_evidence.push((
                        format!("HTTPRoute {ns}/{name} status.parents[{pname}]"),
                        describe_condition(c),
                    ));
                }
            }
        }
        let mut reported = false;

        // Parents in this namespace must exist.
        let mut missing_parents = Vec::new();
        for (i, p) in route["spec"]["parentRefs"]
            .as_array()
            .into_iter()
            .flatten()
            .enumerate()
        {
            let group = p["group"].as_str().unwrap_or(GROUP);
            let kind = p["kind"].as_str().unwrap_or("Gateway");
            let pns = p["namespace"].as_str().unwrap_or(ns);
            if group != GROUP || kind != "Gateway" || pns != ns {
                continue;
            }
            let pname = p["name"].as_str().unwrap_or("");
            if scope.find(GATEWAYS, pname).is_none() {
                missing_parents.push((i, pname.to_string()));
            }
        }
        if !missing_parents.is_empty() {
            let gateways: Vec<&str> = scope.objects(GATEWAYS).iter().map(name_of).collect();
            let existing = if gateways.is_empty() {
                "none".to_string()
            } else {
                gateways.join(", ")
            };
            let names: Vec<&str> = missing_parents.iter().map(|(_, n)| n.as_str()).collect();
            let mut f = Finding::new(
                rref.clone(),
                Severity::Error,
                reasons::HTTP_ROUTE_PARENT_NOT_FOUND,
                format!("HTTPRoute {ns}/{name} attaches to Gateway(s) that do not exist: {}", names.join(", ")),
            )
            .root_cause(format!(
                "spec.parentRefs of HTTPRoute {ns}/{name} name Gateway(s) {} in {ns}, which do not exist (Gateways in \
                 {ns}: {existing}); the route is attached to nothing and serves no traffic.",
                names.join(", ")
            ));
            for (i, pname) in &missing_parents {
                f = f.evidence(
                    Source::Spec,
                    format!("HTTPRoute {ns}/{name} spec.parentRefs[{i}]"),
                    route["spec"]["parentRefs"][*i].to_string(),
                );
                let path = format!("/spec/parentRefs/{i}/name");
                f = f.fix(match closest(pname, gateways.iter().copied()) {
                    Some(near) => fix::patch(
                        rref.clone(),
                        route,
                        vec![fix::test(&path, pname.as_str()), fix::replace(&path, near)],
                        format!("Attach the route to Gateway `{near}`, the existing Gateway whose name is closest to `{pname}`."),
                    ),
                    None => fix::needs_input(
                        rref.clone(),
                        format!("Attach the route to an existing Gateway ({existing}) instead of `{pname}`."),
                        fix::kubectl_patch(
                            &rref,
                            &Value::Array(vec![fix::test(&path, pname.as_str()), fix::replace(&path, "<gateway>")]),
                        ),
                    ),
                });
            }
            for (r, t) in &status_evidence {
                f = f.evidence(Source::Status, r.clone(), t.clone());
            }
            out.push(f);
            reported = true;
        }

        // Service backends in this namespace must exist, with the port.
        let mut problems: Vec<BackendProblem> = Vec::new();
        for (r, rule) in route["spec"]["rules"]
            .as_array()
            .into_iter()
            .flatten()
            .enumerate()
        {
            for (b, backend) in rule["backendRefs"]
                .as_array()
                .into_iter()
                .flatten()
                .enumerate()
            {
                let group = backend["group"].as_str().unwrap_or("");
                let kind = backend["kind"].as_str().unwrap_or("Service");
                let bns = backend["namespace"].as_str().unwrap_or(ns);
                if !group.is_empty() || kind != "Service" || bns != ns {
                    continue;
                }
                let svc_name = backend["name"].as_str().unwrap_or("");
                let base = format!("/spec/rules/{r}/backendRefs/{b}");
                match scope.find("services", svc_name) {
                    None => {
                        let near = closest(svc_name, scope.objects("services").iter().map(name_of));
                        problems.push((
                            format!("rules[{r}].backendRefs[{b}] → Service `{svc_name}` does not exist"),
                            backend.to_string(),
                            near.map(|_| rref.clone()),
                            vec![
                                fix::test(&format!("{base}/name"), svc_name),
                                fix::replace(&format!("{base}/name"), near.unwrap_or("<service>")),
                            ],
                            match near {
                                Some(n) => format!(
                                    "Send the traffic to Service `{n}`, the existing Service whose name is closest to `{svc_name}`."
                                ),
                                None => format!("Point the backend at an existing Service instead of `{svc_name}`, or create it."),
                            },
                        ));
                    }
                    Some(svc) => {
                        let Some(port) = backend["port"].as_i64() else {
                            continue;
                        };
                        let ports: Vec<i64> = svc["spec"]["ports"]
                            .as_array()
                            .into_iter()
                            .flatten()
                            .filter_map(|p| p["port"].as_i64())
                            .collect();
                        if ports.contains(&port) {
                            continue;
                        }
                        let ops = vec![
                            fix::test(&format!("{base}/port"), port),
                            fix::replace(
                                &format!("{base}/port"),
                                ports.first().copied().unwrap_or(0),
                            ),
                        ];
                        problems.push((
                            format!(
                                "rules[{r}].backendRefs[{b}] → Service `{svc_name}` has no port {port} (it has: {})",
                                ports.iter().map(i64::to_string).collect::<Vec<_>>().join(", ")
                            ),
                            backend.to_string(),
                            (ports.len() == 1).then(|| rref.clone()),
                            ops,
                            format!("Use the port Service {svc_name} exposes."),
                        ));
                    }
                }
            }
        }
        if !problems.is_empty() {
            let list: Vec<&str> = problems.iter().map(|p| p.0.as_str()).collect();
            let mut f = Finding::new(
                rref.clone(),
                Severity::Error,
                reasons::HTTP_ROUTE_BACKEND_NOT_FOUND,
                format!("HTTPRoute {ns}/{name} routes to backends that do not exist"),
            )
            .root_cause(format!(
                "In HTTPRoute {ns}/{name}, {}: requests matching those rules get 500 from the Gateway.",
                list.join("; ")
            ));
            for (text, spec, patchable, ops, description) in problems {
                f = f.evidence(
                    Source::Spec,
                    format!("HTTPRoute {ns}/{name}"),
                    format!("{text}: {spec}"),
                );
                f = f.fix(match patchable {
                    Some(target) => fix::patch(target, route, ops, description),
                    None => fix::needs_input(
                        rref.clone(),
                        description,
                        fix::kubectl_patch(&rref, &Value::Array(ops)),
                    ),
                });
            }
            for (r, t) in &status_evidence {
                f = f.evidence(Source::Status, r.clone(), t.clone());
            }
            out.push(f);
            reported = true;
        }

        if !rejected.is_empty() && !reported {
            let mut f = Finding::new(
                rref.clone(),
                Severity::Error,
                reasons::HTTP_ROUTE_NOT_ACCEPTED,
                format!("HTTPRoute {ns}/{name} is rejected by its Gateway"),
            )
            .root_cause(format!(
                "The Gateway controller reports for HTTPRoute {ns}/{name}: {}.",
                rejected.join("; ")
            ));
            for (r, t) in &status_evidence {
                f = f.evidence(Source::Status, r.clone(), t.clone());
            }
            out.push(f);
        }
    }
}
