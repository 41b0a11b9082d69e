//! Admission webhooks whose Service is missing or has no ready endpoint:
//! with `failurePolicy: Fail` (the default), every request the webhook
//! matches is rejected, which blocks deployments cluster-wide.
//!
//! The webhook's Service lives in another namespace than the scan's, so it
//! is read with one `kube::get` per distinct Service (webhooks are few).

use std::collections::BTreeMap;

use guardian_skill_sdk::{ErrorKind, ListOptions, kube};
use serde_json::{Value, json};

use super::selectors::{Selector, list_names, not_ready_summary, obj_ref};
use crate::ctx::{Cluster, name_of};
use crate::finding::{Finding, ObjRef, Severity, Source};
use crate::fix;
use crate::model::Pod;
use crate::reasons;

pub fn validating(cluster: &Cluster, out: &mut Vec<Finding>) {
    run(
        cluster,
        "validatingwebhookconfigurations.admissionregistration.k8s.io",
        "ValidatingWebhookConfiguration",
        out,
    );
}

pub fn mutating(cluster: &Cluster, out: &mut Vec<Finding>) {
    run(
        cluster,
        "mutatingwebhookconfigurations.admissionregistration.k8s.io",
        "MutatingWebhookConfiguration",
        out,
    );
}

/// What the webhook's Service looks like.
enum Backend {
    /// The Service does not exist.
    Missing,
    /// It exists; no ready endpoint. Evidence lines about it.
    NoEndpoints {
        evidence: Vec<(String, String)>,
        why: String,
    },
    /// Ready, or could not be read (denied…): nothing to report.
    Fine,
}

fn lookup(ns: &str, name: &str) -> Backend {
    let svc: Value = match kube::get("services", Some(ns), name) {
        Ok(s) => s,
        Err(e) if e.kind == ErrorKind::NotFound => return Backend::Missing,
        Err(_) => return Backend::Fine,
    };
    if svc["spec"]["type"].as_str() == Some("ExternalName") {
        return Backend::Fine;
    }
    let ready = match kube::get::<Value>("endpoints", Some(ns), name) {
        Ok(ep) => ep["subsets"]
            .as_array()
            .into_iter()
            .flatten()
            .map(|s| s["addresses"].as_array().map_or(0, Vec::len))
            .sum::<usize>(),
        Err(e) if e.kind == ErrorKind::NotFound => 0,
        Err(_) => return Backend::Fine,
    };
    if ready > 0 {
        return Backend::Fine;
    }
    let selector = Selector::from_map(&svc["spec"]["selector"]);
    let mut evidence = vec![(
        format!("Endpoints {ns}/{name}"),
        "no ready address".to_string(),
    )];
    let why = if selector.is_empty() {
        format!("Service {ns}/{name} has no selector and its Endpoints list no ready address")
    } else {
        let options = ListOptions {
            namespace: Some(ns.into()),
            label_selector: Some(selector.display()),
            ..Default::default()
        };
        match kube::list::<Pod>("pods", &options) {
            Ok(list) if list.items.is_empty() => {
                evidence.push((
                    format!("Service {ns}/{name} spec.selector"),
                    selector.display(),
                ));
                format!(
                    "no pod in {ns} carries the selector {} of Service {ns}/{name} (the webhook's deployment is gone or \
                     scaled to zero)",
                    selector.display()
                )
            }
            Ok(list) => {
                let details: Vec<String> = list
                    .items
                    .iter()
                    .take(3)
                    .map(|p| format!("{} ({})", p.metadata.name, not_ready_summary(p)))
                    .collect();
                for p in list.items.iter().take(3) {
                    evidence.push((
                        format!("Pod {ns}/{}", p.metadata.name),
                        not_ready_summary(p),
                    ));
                }
                format!(
                    "none of the {} pod(s) behind Service {ns}/{name} is ready: {}",
                    list.items.len(),
                    details.join("; ")
                )
            }
            Err(_) => format!("Service {ns}/{name} has no ready endpoint"),
        }
    };
    Backend::NoEndpoints { evidence, why }
}

/// `CREATE,UPDATE pods, deployments`.
fn rules_text(webhook: &Value) -> String {
    let rules: Vec<String> = webhook["rules"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|r| {
            let join = |v: &Value| {
                v.as_array()
                    .into_iter()
                    .flatten()
                    .filter_map(Value::as_str)
                    .collect::<Vec<_>>()
                    .join(",")
            };
            format!("{} {}", join(&r["operations"]), join(&r["resources"]))
        })
        .collect();
    if rules.is_empty() {
        "no rules".into()
    } else {
        rules.join("; ")
    }
}

fn run(cluster: &Cluster, resource: &str, kind: &str, out: &mut Vec<Finding>) {
    let mut cache: BTreeMap<(String, String), Backend> = BTreeMap::new();
    for cfg in cluster.objects(resource) {
        let cfg_name = name_of(cfg);
        let cref = obj_ref(cfg, kind, None);
        // Per reason: the webhooks it hits, and whether one of them fails closed.
        let mut missing: Vec<(usize, &Value, String, String)> = Vec::new();
        let mut no_ep: Vec<(usize, &Value, String, String)> = Vec::new();
        for (i, wh) in cfg["webhooks"].as_array().into_iter().flatten().enumerate() {
            let svc = &wh["clientConfig"]["service"];
            let (Some(ns), Some(name)) = (svc["namespace"].as_str(), svc["name"].as_str()) else {
                continue;
            };
            let backend = cache
                .entry((ns.to_string(), name.to_string()))
                .or_insert_with(|| lookup(ns, name));
            match backend {
                Backend::Missing => missing.push((i, wh, ns.to_string(), name.to_string())),
                Backend::NoEndpoints { .. } => {
                    no_ep.push((i, wh, ns.to_string(), name.to_string()))
                }
                Backend::Fine => {}
            }
        }
        for (reason, hooks) in [
            (reasons::WEBHOOK_SERVICE_NOT_FOUND, &missing),
            (reasons::WEBHOOK_NO_ENDPOINTS, &no_ep),
        ] {
            if hooks.is_empty() {
                continue;
            }
            let fails_closed = hooks
                .iter()
                .any(|(_, wh, _, _)| wh["failurePolicy"].as_str().unwrap_or("Fail") == "Fail");
            let severity = if fails_closed {
                Severity::Critical
            } else {
                Severity::Warning
            };
            let names: Vec<String> = hooks
                .iter()
                .map(|(_, wh, ns, svc)| {
                    format!(
                        "{} → Service {ns}/{svc}",
                        wh["name"].as_str().unwrap_or("?")
                    )
                })
                .collect();
            let consequence = if fails_closed {
                "the API server rejects every request these webhooks match (failurePolicy Fail)"
            } else {
                "the API server skips these webhooks (failurePolicy Ignore), so their policy or mutation is silently not applied"
            };
            let problem = if reason == reasons::WEBHOOK_SERVICE_NOT_FOUND {
                "their Service does not exist".to_string()
            } else {
                let whys: Vec<String> = hooks
                    .iter()
                    .filter_map(
                        |(_, _, ns, svc)| match cache.get(&(ns.clone(), svc.clone())) {
                            Some(Backend::NoEndpoints { why, .. }) => Some(why.clone()),
                            _ => None,
                        },
                    )
                    .collect::<std::collections::BTreeSet<_>>()
                    .into_iter()
                    .collect();
                whys.join("; ")
            };
            let mut f = Finding::new(
                cref.clone(),
                severity,
                reason,
                format!(
                    "{kind} {cfg_name}: webhook(s) {} cannot be called",
                    list_names(&names, 5)
                ),
            )
            .root_cause(format!(
                "{kind} {cfg_name} calls {}, but {problem}: {consequence}.",
                list_names(&names, 5)
            ));
            for (i, wh, _, _) in hooks.iter() {
                f = f.evidence(
                    Source::Spec,
                    format!("{kind} {cfg_name} webhooks[{i}]"),
                    format!(
                        "name {}, clientConfig.service {}, failurePolicy {}, rules: {}",
                        wh["name"].as_str().unwrap_or("?"),
                        wh["clientConfig"]["service"],
                        wh["failurePolicy"].as_str().unwrap_or("Fail (default)"),
                        rules_text(wh)
                    ),
                );
            }
            let mut seen = Vec::new();
            for (_, _, ns, svc) in hooks.iter() {
                if seen.contains(&(ns, svc)) {
                    continue;
                }
                seen.push((ns, svc));
                match cache.get(&(ns.clone(), svc.clone())) {
                    Some(Backend::NoEndpoints { evidence, .. }) => {
                        for (r, t) in evidence {
                            f = f.evidence(Source::Status, r.clone(), t.clone());
                        }
                    }
                    _ => f = f.evidence(Source::Status, format!("Service {ns}/{svc}"), "not found"),
                }
            }
            // Restoring the backend is the fix; failing open is a stopgap the
            // API server accepts at once.
            let restore = if reason == reasons::WEBHOOK_SERVICE_NOT_FOUND {
                format!(
                    "Restore the webhook's Service (reinstall the operator that owns {kind} {cfg_name}); if that operator \
                     was uninstalled, the configuration is a leftover: delete it."
                )
            } else {
                "Make the webhook's pods ready (see the namespace's pod findings); if its operator was uninstalled, delete \
                 the leftover configuration."
                    .to_string()
            };
            let short = if kind.starts_with("Validating") {
                "validatingwebhookconfiguration"
            } else {
                "mutatingwebhookconfiguration"
            };
            f = f.fix(fix::needs_input(
                cref.clone(),
                restore,
                format!("kubectl delete {short} {cfg_name}   # only if its operator is gone"),
            ));
            let closed: Vec<&(usize, &Value, String, String)> = hooks
                .iter()
                .filter(|(_, wh, _, _)| wh["failurePolicy"].as_str().unwrap_or("Fail") == "Fail")
                .collect();
            if !closed.is_empty() {
                let mut ops = Vec::new();
                for (i, wh, _, _) in &closed {
                    let path = format!("/webhooks/{i}/failurePolicy");
                    ops.push(fix::test(
                        &format!("/webhooks/{i}/name"),
                        wh["name"].clone(),
                    ));
                    if wh.get("failurePolicy").is_some() {
                        ops.push(fix::test(&path, "Fail"));
                        ops.push(fix::replace(&path, "Ignore"));
                    } else {
                        ops.push(fix::add(&path, "Ignore"));
                    }
                }
                f = f.fix(fix::needs_input(
                    cref.clone(),
                    "Stopgap while the backend is restored: let requests through unchecked (failurePolicy Ignore). \
                     This disables the webhook's policy; revert once it is back.",
                    fix::kubectl_patch(&ObjRef::new(&cref.api_version, kind, None, cfg_name), &json!(ops)),
                ));
            }
            out.push(f);
        }
    }
}
