//! Ingresses: a class no controller serves, backends that name a Service (or
//! a Service port) that does not exist, TLS Secrets that do not exist.

use serde_json::{Value, json};

use super::selectors::{closest, list_names, obj_ref};
use crate::ctx::{Scope, name_of};
use crate::finding::{Finding, Fix, ObjRef, Severity, Source};
use crate::fix;
use crate::reasons;

const INGRESS_CLASSES: &str = "ingressclasses.networking.k8s.io";
const CLASS_ANNOTATION: &str = "kubernetes.io/ingress.class";

fn is_default_class(class: &Value) -> bool {
    class["metadata"]["annotations"]["ingressclass.kubernetes.io/is-default-class"].as_str()
        == Some("true")
}

pub fn analyze(scope: &Scope, out: &mut Vec<Finding>) {
    let ns = scope.namespace.as_str();
    let ingresses = scope.objects("ingresses.networking.k8s.io");
    if ingresses.is_empty() {
        return;
    }
    let classes = scope.cluster.objects(INGRESS_CLASSES);
    let class_names: Vec<&str> = classes.iter().map(name_of).collect();
    let classes_text = if class_names.is_empty() {
        "none".to_string()
    } else {
        class_names.join(", ")
    };
    for ing in ingresses {
        let iref = obj_ref(ing, "Ingress", Some(ns));
        class_check(ns, ing, &iref, classes, &classes_text, out);
        backends(scope, ing, &iref, out);
        tls(scope, ing, &iref, out);
    }
}

fn class_check(
    ns: &str,
    ing: &Value,
    iref: &ObjRef,
    classes: &[Value],
    classes_text: &str,
    out: &mut Vec<Finding>,
) {
    let name = name_of(ing);
    let spec_class = ing["spec"]["ingressClassName"].as_str();
    let annotation = ing["metadata"]["annotations"][CLASS_ANNOTATION].as_str();
    let exists = |c: &str| classes.iter().any(|k| name_of(k) == c);
    match (spec_class, annotation) {
        (Some(c), _) => {
            if exists(c) {
                return;
            }
            // No IngressClass at all visible: may be unreadable, or a
            // controller that predates IngressClasses.
            let severity = if classes.is_empty() {
                Severity::Warning
            } else {
                Severity::Error
            };
            let mut f = Finding::new(
                iref.clone(),
                severity,
                reasons::INGRESS_CLASS_NOT_FOUND,
                format!("Ingress {ns}/{name} uses IngressClass `{c}`, which does not exist"),
            )
            .root_cause(format!(
                "spec.ingressClassName of Ingress {ns}/{name} is `{c}`, but the cluster's IngressClasses are: \
                 {classes_text}; no controller claims the Ingress, so its routes are not served."
            ))
            .evidence(Source::Spec, format!("Ingress {ns}/{name} spec.ingressClassName"), c)
            .evidence(Source::Status, "IngressClasses", format!("existing: {classes_text}"));
            if let [only] = classes {
                f = f.fix(fix::patch(
                    iref.clone(),
                    ing,
                    vec![
                        fix::test("/spec/ingressClassName", c),
                        fix::replace("/spec/ingressClassName", name_of(only)),
                    ],
                    format!(
                        "Use IngressClass `{}`, the only one in the cluster.",
                        name_of(only)
                    ),
                ));
            } else if let Some(near) = closest(c, classes.iter().map(name_of)) {
                f = f.fix(fix::patch(
                    iref.clone(),
                    ing,
                    vec![
                        fix::test("/spec/ingressClassName", c),
                        fix::replace("/spec/ingressClassName", near),
                    ],
                    format!("Use IngressClass `{near}`, the existing class whose name is closest to `{c}`."),
                ));
            } else if !classes.is_empty() {
                f = f.fix(fix::needs_input(
                    iref.clone(),
                    format!("Use one of the existing IngressClasses: {classes_text}."),
                    fix::kubectl_patch(
                        iref,
                        &Value::Array(vec![
                            fix::test("/spec/ingressClassName", c),
                            fix::replace("/spec/ingressClassName", "<ingress-class>"),
                        ]),
                    ),
                ));
            }
            out.push(f);
        }
        (None, Some(a)) => {
            // The annotation is matched by controllers on their own terms
            // (often not an IngressClass name): only a hint.
            if exists(a) || classes.is_empty() {
                return;
            }
            out.push(
                Finding::new(
                    iref.clone(),
                    Severity::Warning,
                    reasons::INGRESS_CLASS_NOT_FOUND,
                    format!("Ingress {ns}/{name} has annotation {CLASS_ANNOTATION}={a}, which is no IngressClass"),
                )
                .root_cause(format!(
                    "Ingress {ns}/{name} is claimed only through the deprecated {CLASS_ANNOTATION} annotation (`{a}`), \
                     and no IngressClass is named `{a}` (existing: {classes_text}); unless a controller is configured for \
                     that value, nothing serves it."
                ))
                .evidence(
                    Source::Spec,
                    format!("Ingress {ns}/{name} metadata.annotations"),
                    format!("{CLASS_ANNOTATION}: {a}"),
                ),
            );
        }
        (None, None) => {
            if classes.iter().any(is_default_class) || classes.is_empty() {
                return;
            }
            let mut f = Finding::new(
                iref.clone(),
                Severity::Error,
                reasons::INGRESS_CLASS_NOT_FOUND,
                format!("Ingress {ns}/{name} names no IngressClass and the cluster has no default one"),
            )
            .root_cause(format!(
                "Ingress {ns}/{name} has neither spec.ingressClassName nor the {CLASS_ANNOTATION} annotation, and none \
                 of the IngressClasses ({classes_text}) is marked default: no controller claims it."
            ))
            .evidence(Source::Status, "IngressClasses", format!("existing: {classes_text}, none default"));
            if let [only] = classes {
                f = f.fix(fix::patch(
                    iref.clone(),
                    ing,
                    vec![fix::add("/spec/ingressClassName", name_of(only))],
                    format!(
                        "Use IngressClass `{}`, the only one in the cluster.",
                        name_of(only)
                    ),
                ));
            }
            out.push(f);
        }
    }
}

/// Every service backend: (JSON Pointer of the backend, backend).
fn service_backends(ing: &Value) -> Vec<(String, &Value)> {
    let mut out = Vec::new();
    if ing["spec"]["defaultBackend"]["service"].is_object() {
        out.push((
            "/spec/defaultBackend".to_string(),
            &ing["spec"]["defaultBackend"],
        ));
    }
    for (r, rule) in ing["spec"]["rules"]
        .as_array()
        .into_iter()
        .flatten()
        .enumerate()
    {
        for (p, path) in rule["http"]["paths"]
            .as_array()
            .into_iter()
            .flatten()
            .enumerate()
        {
            if path["backend"]["service"].is_object() {
                out.push((
                    format!("/spec/rules/{r}/http/paths/{p}/backend"),
                    &path["backend"],
                ));
            }
        }
    }
    out
}

fn route_text(ing: &Value, pointer: &str) -> String {
    // `/spec/rules/0/http/paths/1/backend` → `host/path`.
    let parts: Vec<&str> = pointer.split('/').collect();
    if parts.len() >= 7 && parts[2] == "rules" {
        let rule = &ing["spec"]["rules"][parts[3].parse::<usize>().unwrap_or(0)];
        let path = &rule["http"]["paths"][parts[6].parse::<usize>().unwrap_or(0)];
        format!(
            "{}{}",
            rule["host"].as_str().unwrap_or("*"),
            path["path"].as_str().unwrap_or("/")
        )
    } else {
        "default backend".into()
    }
}

fn backends(scope: &Scope, ing: &Value, iref: &ObjRef, out: &mut Vec<Finding>) {
    let ns = scope.namespace.as_str();
    let name = name_of(ing);
    let service_names: Vec<&str> = scope.objects("services").iter().map(name_of).collect();
    let existing = if service_names.is_empty() {
        "none".to_string()
    } else {
        list_names(&service_names, 10)
    };
    // One finding per Ingress: (route problem, evidence, fix) per backend.
    let mut problems: Vec<String> = Vec::new();
    let mut evidence: Vec<(String, String)> = Vec::new();
    let mut fixes: Vec<Fix> = Vec::new();
    for (pointer, backend) in service_backends(ing) {
        let svc_name = backend["service"]["name"].as_str().unwrap_or("");
        let route = route_text(ing, &pointer);
        let at = pointer.trim_start_matches('/').replace('/', ".");
        let Some(svc) = scope.find("services", svc_name) else {
            problems.push(format!(
                "{route} goes to Service `{svc_name}`, which does not exist"
            ));
            evidence.push((format!("Ingress {ns}/{name} {at}"), backend.to_string()));
            let path = format!("{pointer}/service/name");
            fixes.push(match closest(svc_name, service_names.iter().copied()) {
                Some(near) => fix::patch(
                    iref.clone(),
                    ing,
                    vec![fix::test(&path, svc_name), fix::replace(&path, near)],
                    format!("Route {route} to Service `{near}`, the existing Service whose name is closest to `{svc_name}`."),
                ),
                None => fix::needs_input(
                    iref.clone(),
                    format!("Point the backend of {route} at an existing Service ({existing}), or create Service `{svc_name}`."),
                    fix::kubectl_patch(
                        iref,
                        &Value::Array(vec![fix::test(&path, svc_name), fix::replace(&path, "<service>")]),
                    ),
                ),
            });
            continue;
        };
        let port = &backend["service"]["port"];
        let ports = svc["spec"]["ports"]
            .as_array()
            .map(Vec::as_slice)
            .unwrap_or_default();
        let found = if let Some(n) = port["number"].as_i64() {
            ports.iter().any(|p| p["port"].as_i64() == Some(n))
        } else if let Some(n) = port["name"].as_str() {
            ports.iter().any(|p| p["name"].as_str() == Some(n))
        } else {
            true
        };
        if found {
            continue;
        }
        let have: Vec<String> = ports
            .iter()
            .map(|p| match p["name"].as_str() {
                Some(n) if !n.is_empty() => format!("{n} ({})", p["port"]),
                _ => p["port"].to_string(),
            })
            .collect();
        problems.push(format!(
            "{route} goes to port {} of Service `{svc_name}`, which has only {}",
            port_text(port),
            have.join(", ")
        ));
        evidence.push((format!("Ingress {ns}/{name} {at}"), backend.to_string()));
        evidence.push((
            format!("Service {ns}/{svc_name} spec.ports"),
            have.join(", "),
        ));
        let path = format!("{pointer}/service/port");
        if let [only] = ports {
            let new_port = match only["name"].as_str() {
                Some(n) if port.get("name").is_some() && !n.is_empty() => json!({ "name": n }),
                _ => json!({ "number": only["port"] }),
            };
            fixes.push(fix::patch(
                iref.clone(),
                ing,
                vec![
                    fix::test(&path, port.clone()),
                    fix::replace(&path, new_port.clone()),
                ],
                format!(
                    "Route {route} to port {} of Service {svc_name}, the only one it has.",
                    port_text(&new_port)
                ),
            ));
        } else {
            fixes.push(fix::needs_input(
                iref.clone(),
                format!(
                    "Route {route} to one of the ports of Service {svc_name}: {}.",
                    have.join(", ")
                ),
                fix::kubectl_patch(
                    iref,
                    &Value::Array(vec![
                        fix::test(&path, port.clone()),
                        fix::replace(&path, json!({ "number": "<port>" })),
                    ]),
                ),
            ));
        }
    }
    if problems.is_empty() {
        return;
    }
    let mut f = Finding::new(
        iref.clone(),
        Severity::Error,
        reasons::INGRESS_BACKEND_NOT_FOUND,
        format!(
            "Ingress {ns}/{name} routes to {} backend(s) that do not exist",
            problems.len()
        ),
    )
    .root_cause(format!(
        "In Ingress {ns}/{name}, {}: the controller answers those paths with 503 (Services in {ns}: {existing}).",
        problems.join("; ")
    ));
    for (r, t) in evidence {
        f = f.evidence(Source::Spec, r, t);
    }
    for x in fixes {
        f = f.fix(x);
    }
    out.push(f);
}

fn port_text(port: &Value) -> String {
    if let Some(n) = port["number"].as_i64() {
        n.to_string()
    } else if let Some(n) = port["name"].as_str() {
        format!("`{n}`")
    } else {
        port.to_string()
    }
}

fn tls(scope: &Scope, ing: &Value, iref: &ObjRef, out: &mut Vec<Finding>) {
    let ns = scope.namespace.as_str();
    let name = name_of(ing);
    let annotations = &ing["metadata"]["annotations"];
    let cert_manager = ["cert-manager.io/cluster-issuer", "cert-manager.io/issuer"]
        .iter()
        .find_map(|a| annotations[*a].as_str().map(|v| format!("{a}={v}")));
    for (i, t) in ing["spec"]["tls"]
        .as_array()
        .into_iter()
        .flatten()
        .enumerate()
    {
        let Some(secret) = t["secretName"].as_str().filter(|s| !s.is_empty()) else {
            continue;
        };
        if scope.find("secrets", secret).is_some() {
            continue;
        }
        let hosts: Vec<&str> = t["hosts"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(Value::as_str)
            .collect();
        let hosts_text = if hosts.is_empty() {
            "its hosts".to_string()
        } else {
            hosts.join(", ")
        };
        let (severity, root) = match &cert_manager {
            Some(issuer) => (
                Severity::Warning,
                format!(
                    "TLS Secret `{secret}` of Ingress {ns}/{name} does not exist yet; the Ingress asks cert-manager for it \
                     ({issuer}), so the Certificate has not been issued (check `kubectl get certificate,certificaterequest \
                     -n {ns}`); meanwhile {hosts_text} are served with the controller's default certificate."
                ),
            ),
            None => (
                Severity::Error,
                format!(
                    "spec.tls[{i}].secretName of Ingress {ns}/{name} is `{secret}`, which does not exist in {ns}: \
                     {hosts_text} are served with the controller's default (untrusted) certificate."
                ),
            ),
        };
        out.push(
            Finding::new(
                iref.clone(),
                severity,
                reasons::INGRESS_TLS_SECRET_NOT_FOUND,
                format!("Ingress {ns}/{name} references TLS Secret `{secret}`, which does not exist"),
            )
            .root_cause(root)
            .evidence(
                Source::Spec,
                format!("Ingress {ns}/{name} spec.tls[{i}]"),
                t.to_string(),
            )
            .fix(fix::needs_input(
                ObjRef::new("v1", "Secret", Some(ns), secret),
                format!("Create the TLS Secret `{secret}` from the certificate and key for {hosts_text}."),
                format!("kubectl create secret tls {secret} -n {ns} --cert=<cert.pem> --key=<key.pem>"),
            )),
        );
    }
}
