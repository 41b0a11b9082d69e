//! Storage: claims that do not bind (a StorageClass that does not exist, no
//! default class, a provisioner that fails), claims that lost their volume,
//! and, cluster-wide, failed and released volumes and more than one default
//! StorageClass.

use serde_json::Value;

use super::selectors::{list_names, obj_ref};
use crate::ctx::{Cluster, Scope, name_of};
use crate::finding::{Finding, ObjRef, Severity, Source};
use crate::fix;
use crate::model::Event;
use crate::reasons;

const STORAGE_CLASSES: &str = "storageclasses.storage.k8s.io";

/// Whether a StorageClass is marked default.
fn is_default(class: &Value) -> bool {
    let ann = &class["metadata"]["annotations"];
    ann["storageclass.kubernetes.io/is-default-class"].as_str() == Some("true")
        || ann["storageclass.beta.kubernetes.io/is-default-class"].as_str() == Some("true")
}

/// `standard (default), slow`.
fn classes_text(classes: &[Value]) -> String {
    if classes.is_empty() {
        return "none".into();
    }
    classes
        .iter()
        .map(|c| {
            if is_default(c) {
                format!("{} (default)", name_of(c))
            } else {
                name_of(c).to_string()
            }
        })
        .collect::<Vec<_>>()
        .join(", ")
}

fn event_text(e: &Event) -> String {
    format!(
        "{} {}{}: {}",
        e.type_.as_deref().unwrap_or("Normal"),
        e.reason.as_deref().unwrap_or(""),
        e.count
            .filter(|c| *c > 1)
            .map(|c| format!(" (x{c})"))
            .unwrap_or_default(),
        e.message.as_deref().unwrap_or("").trim()
    )
}

pub fn claims(scope: &Scope, out: &mut Vec<Finding>) {
    let ns = scope.namespace.as_str();
    let classes = scope.cluster.objects(STORAGE_CLASSES);
    for pvc in scope.objects("persistentvolumeclaims") {
        let name = name_of(pvc);
        let phase = pvc["status"]["phase"].as_str().unwrap_or("");
        let events: Vec<&Event> = scope.events_for("PersistentVolumeClaim", name).collect();
        let owner = statefulset_of(scope, name);
        let mut finding = match phase {
            "Pending" => match pending(scope, pvc, classes, &events, owner.as_ref()) {
                Some(f) => f,
                None => continue,
            },
            "Lost" => lost(scope, pvc),
            _ => continue,
        };
        if let Some((sts, _, _)) = &owner {
            finding.owner = Some(obj_ref(sts, "StatefulSet", Some(ns)));
        }
        for e in events.iter().rev().take(3).rev() {
            finding = finding.evidence(
                Source::Event,
                format!("Event {}", e.reason.as_deref().unwrap_or("")),
                event_text(e),
            );
        }
        out.push(finding);
    }
}

/// The StatefulSet whose `volumeClaimTemplates` made claim `pvc`
/// (`<template>-<statefulset>-<ordinal>`): (object, template index,
/// template name).
fn statefulset_of<'s>(scope: &'s Scope, pvc: &str) -> Option<(&'s Value, usize, String)> {
    for sts in scope.objects("statefulsets.apps") {
        let sts_name = name_of(sts);
        for (i, tpl) in sts["spec"]["volumeClaimTemplates"]
            .as_array()
            .into_iter()
            .flatten()
            .enumerate()
        {
            let tname = tpl["metadata"]["name"].as_str().unwrap_or("");
            let prefix = format!("{tname}-{sts_name}-");
            if let Some(ordinal) = pvc.strip_prefix(&prefix)
                && !ordinal.is_empty()
                && ordinal.chars().all(|c| c.is_ascii_digit())
            {
                return Some((sts, i, tname.to_string()));
            }
        }
    }
    None
}

fn pending(
    scope: &Scope,
    pvc: &Value,
    classes: &[Value],
    events: &[&Event],
    owner: Option<&(&Value, usize, String)>,
) -> Option<Finding> {
    let ns = scope.namespace.as_str();
    let name = name_of(pvc);
    let target = obj_ref(pvc, "PersistentVolumeClaim", Some(ns));
    let class = pvc["spec"]["storageClassName"].as_str();
    let size = pvc["spec"]["resources"]["requests"]["storage"]
        .as_str()
        .unwrap_or("?");
    let cause =
        format!("PersistentVolumeClaim {ns}/{name} ({size}) is Pending: no volume is bound to it");
    let defaults: Vec<&Value> = classes.iter().filter(|c| is_default(c)).collect();
    let last_warning = events
        .iter()
        .rev()
        .find(|e| e.type_.as_deref() == Some("Warning"));
    let spec_ev = |f: Finding| {
        f.evidence(
            Source::Spec,
            format!("PersistentVolumeClaim {ns}/{name} spec.storageClassName"),
            class.map_or("unset (the default StorageClass)".to_string(), |c| {
                if c.is_empty() {
                    "\"\" (static binding: no provisioning)".into()
                } else {
                    c.to_string()
                }
            }),
        )
        .evidence(
            Source::Status,
            format!("PersistentVolumeClaim {ns}/{name} status.phase"),
            "Pending",
        )
    };
    let existing = classes_text(classes);
    let not_found_event = last_warning.is_some_and(|e| {
        e.message
            .as_deref()
            .is_some_and(|m| m.contains("storageclass") && m.contains("not found"))
    });

    match class {
        Some(c) if !c.is_empty() => {
            let found = classes.iter().find(|s| name_of(s) == c);
            if found.is_none() && (!classes.is_empty() || not_found_event) {
                let mut f = spec_ev(Finding::new(target.clone(), Severity::Error, reasons::PVC_PENDING, cause))
                    .root_cause(format!(
                        "PersistentVolumeClaim {ns}/{name} asks for StorageClass `{c}`, which does not exist \
                         (the cluster has: {existing}), so nothing provisions a volume for it{}.",
                        owner.map_or(String::new(), |(sts, _, _)| format!(
                            "; the claim comes from the volumeClaimTemplates of StatefulSet {}",
                            name_of(sts)
                        ))
                    ))
                    .evidence(Source::Status, "StorageClasses", format!("existing: {existing}"));
                let replacement = defaults
                    .first()
                    .copied()
                    .or(if classes.len() == 1 {
                        classes.first()
                    } else {
                        None
                    })
                    .map(|s| name_of(s).to_string());
                f = f.fix(match owner {
                    Some((sts, i, tname)) => recreate_statefulset(
                        scope,
                        sts,
                        *i,
                        tname,
                        c,
                        replacement.as_deref(),
                        classes,
                    ),
                    None => recreate_claim(ns, name, pvc, c, replacement.as_deref(), classes),
                });
                f = f.fix(create_class(c, classes, ns, name));
                return Some(f);
            }
            let found = found?;
            let mode = found["volumeBindingMode"].as_str().unwrap_or("Immediate");
            let provisioner = found["provisioner"].as_str().unwrap_or("?");
            match last_warning {
                Some(e) => Some(
                    spec_ev(Finding::new(target, Severity::Error, reasons::PVC_PENDING, cause))
                        .root_cause(format!(
                            "Provisioner `{provisioner}` of StorageClass `{c}` fails to provision a volume for \
                             PersistentVolumeClaim {ns}/{name}: {}.",
                            e.message.as_deref().unwrap_or("").trim().trim_end_matches('.')
                        )),
                ),
                // Waiting for the first pod is normal binding for this class.
                None if mode == "WaitForFirstConsumer" => None,
                None => {
                    let waiting = events.iter().rev().find(|e| {
                        e.reason.as_deref() == Some("ExternalProvisioning")
                    });
                    Some(
                        spec_ev(Finding::new(target, Severity::Warning, reasons::PVC_PENDING, cause)).root_cause(
                            match waiting {
                                Some(e) => format!(
                                    "No volume has been provisioned yet for PersistentVolumeClaim {ns}/{name}: {} \
                                     (check that the `{provisioner}` CSI controller is running).",
                                    e.message.as_deref().unwrap_or("").trim()
                                ),
                                None => format!(
                                    "Provisioner `{provisioner}` of StorageClass `{c}` has not provisioned a volume \
                                     for PersistentVolumeClaim {ns}/{name} and reports nothing (check that it runs)."
                                ),
                            },
                        ),
                    )
                }
            }
        }
        None if defaults.is_empty() => {
            let mut f = spec_ev(Finding::new(target.clone(), Severity::Error, reasons::PVC_PENDING, cause))
                .root_cause(format!(
                    "PersistentVolumeClaim {ns}/{name} names no StorageClass and the cluster has no default \
                     StorageClass (it has: {existing}), so nothing provisions a volume for it."
                ));
            // A claim without a class may be given one (the field is
            // settable once, from unset).
            if let [only] = classes {
                f = f.fix(fix::patch(
                    target.clone(),
                    pvc,
                    vec![fix::add("/spec/storageClassName", name_of(only))],
                    format!(
                        "Give the claim StorageClass `{}`, the only one in the cluster.",
                        name_of(only)
                    ),
                ));
            }
            f = f.fix(fix::needs_input(
                ObjRef::new("storage.k8s.io/v1", "StorageClass", None, "<storage-class>"),
                format!("Or mark a StorageClass as the cluster default (existing: {existing}); claims without a class then get it."),
                "kubectl annotate storageclass <storage-class> storageclass.kubernetes.io/is-default-class=true",
            ));
            Some(f)
        }
        _ => {
            // Static binding (class "", or the default class with events
            // that say why).
            let volume = pvc["spec"]["volumeName"].as_str();
            let root = match (volume, last_warning) {
                (Some(v), _) if !v.is_empty() => match scope.cluster.find("persistentvolumes", v) {
                    None => format!(
                        "PersistentVolumeClaim {ns}/{name} asks for PersistentVolume `{v}` (spec.volumeName), which does not exist."
                    ),
                    Some(pv) => format!(
                        "PersistentVolumeClaim {ns}/{name} asks for PersistentVolume `{v}` (spec.volumeName), which is {} \
                             and bound to {}.",
                        pv["status"]["phase"].as_str().unwrap_or("?"),
                        claim_of(pv).unwrap_or_else(|| "no claim".into())
                    ),
                },
                (_, Some(e)) => format!(
                    "PersistentVolumeClaim {ns}/{name} cannot bind: {}.",
                    e.message
                        .as_deref()
                        .unwrap_or("")
                        .trim()
                        .trim_end_matches('.')
                ),
                _ if class == Some("") => format!(
                    "PersistentVolumeClaim {ns}/{name} has storageClassName \"\" (static binding) and no Available \
                     PersistentVolume without a class matches its size ({size}) and access modes."
                ),
                _ => return None,
            };
            Some(
                spec_ev(Finding::new(
                    target,
                    Severity::Error,
                    reasons::PVC_PENDING,
                    cause,
                ))
                .root_cause(root),
            )
        }
    }
}

/// `ns/name` of the claim a PersistentVolume is bound to.
fn claim_of(pv: &Value) -> Option<String> {
    let c = &pv["spec"]["claimRef"];
    Some(format!(
        "PersistentVolumeClaim {}/{}",
        c["namespace"].as_str()?,
        c["name"].as_str()?
    ))
}

/// The storage class a fix writes: the default (or only) one, else a
/// placeholder.
fn class_or_placeholder(replacement: Option<&str>) -> String {
    replacement.unwrap_or("<storage-class>").to_string()
}

/// A claim template is immutable: the StatefulSet is recreated (its pods
/// orphaned, then adopted again), and the Pending claims deleted so it
/// makes them anew.
fn recreate_statefulset(
    scope: &Scope,
    sts: &Value,
    index: usize,
    template: &str,
    class: &str,
    replacement: Option<&str>,
    classes: &[Value],
) -> crate::finding::Fix {
    let ns = scope.namespace.as_str();
    let sts_name = name_of(sts);
    let sts_ref = obj_ref(sts, "StatefulSet", Some(ns));
    let new_class = class_or_placeholder(replacement);
    let path = format!("/spec/volumeClaimTemplates/{index}/spec/storageClassName");
    let mut ops = Vec::new();
    if sts.pointer(&path).is_some() {
        ops.push(fix::test(&path, class));
        ops.push(fix::replace(&path, new_class.as_str()));
    } else {
        ops.push(fix::add(&path, new_class.as_str()));
    }
    ops.push(fix::remove("/metadata/resourceVersion"));
    let patch = Value::Array(ops).to_string();
    // Every Pending claim of this template, and the pods waiting for them.
    let prefix = format!("{template}-{sts_name}-");
    let claims: Vec<&str> = scope
        .objects("persistentvolumeclaims")
        .iter()
        .filter(|p| p["status"]["phase"].as_str() == Some("Pending"))
        .map(name_of)
        .filter(|n| {
            n.strip_prefix(&prefix)
                .is_some_and(|o| o.chars().all(|c| c.is_ascii_digit()))
        })
        .collect();
    let pods: Vec<&str> = scope
        .pods
        .iter()
        .filter(|p| p.status.phase.as_deref() == Some("Pending"))
        .filter(|p| {
            p.spec.volumes.iter().any(|v| {
                v.persistent_volume_claim
                    .as_ref()
                    .is_some_and(|c| claims.contains(&c.claim_name.as_str()))
            })
        })
        .map(|p| p.metadata.name.as_str())
        .collect();
    let file = format!("{sts_name}.statefulset.json");
    let mut cmd = vec![
        format!("kubectl get statefulset {sts_name} -n {ns} -o json > {file}"),
        format!(
            "kubectl patch --local -f {file} --type=json -p {} -o json > {sts_name}.fixed.json",
            fix::shell_quote(&patch)
        ),
        format!("kubectl delete statefulset {sts_name} -n {ns} --cascade=orphan"),
    ];
    if !pods.is_empty() {
        cmd.push(format!("kubectl delete pod {} -n {ns}", pods.join(" ")));
    }
    if !claims.is_empty() {
        cmd.push(format!("kubectl delete pvc {} -n {ns}", claims.join(" ")));
    }
    cmd.push(format!("kubectl create -f {sts_name}.fixed.json"));
    let choice = match replacement {
        Some(r) => format!("`{r}`"),
        None => "an existing class (fill in <storage-class>)".to_string(),
    };
    fix::needs_input(
        sts_ref,
        format!(
            "volumeClaimTemplates are immutable, so neither the StatefulSet nor the claim can be patched: \
             recreate StatefulSet {sts_name} with storageClassName {choice} instead of `{class}` \
             (existing classes: {}). The StatefulSet is deleted with --cascade=orphan, so running pods keep running \
             and are adopted again; only the Pending pods ({}) and Pending claims ({}), which hold no data, are deleted. \
             Also change `{class}` to the new class in the manifest the StatefulSet is deployed from, or the next deploy \
             brings the problem back. Review before running.",
            classes_text(classes),
            if pods.is_empty() {
                "none".to_string()
            } else {
                pods.join(", ")
            },
            if claims.is_empty() {
                "none".to_string()
            } else {
                claims.join(", ")
            },
        ),
        cmd.join(" && \\\n  "),
    )
}

/// A claim's storageClassName cannot be changed: recreate it.
fn recreate_claim(
    ns: &str,
    name: &str,
    pvc: &Value,
    class: &str,
    replacement: Option<&str>,
    classes: &[Value],
) -> crate::finding::Fix {
    let new_class = class_or_placeholder(replacement);
    let ops = Value::Array(vec![
        fix::test("/spec/storageClassName", class),
        fix::replace("/spec/storageClassName", new_class.as_str()),
        fix::remove("/metadata/resourceVersion"),
    ]);
    let file = format!("{name}.pvc.json");
    let cmd = [
        format!("kubectl get pvc {name} -n {ns} -o json > {file}"),
        format!(
            "kubectl patch --local -f {file} --type=json -p {} -o json > {name}.fixed.json",
            fix::shell_quote(&ops.to_string())
        ),
        format!("kubectl delete pvc {name} -n {ns}"),
        format!("kubectl create -f {name}.fixed.json"),
    ];
    fix::needs_input(
        obj_ref(pvc, "PersistentVolumeClaim", Some(ns)),
        format!(
            "A claim's storageClassName cannot be changed: recreate PersistentVolumeClaim {name} with class `{new_class}` \
             (existing: {}); it is Pending, so it holds no data. Pods using it pick up the new claim by name.",
            classes_text(classes)
        ),
        cmd.join(" && \\\n  "),
    )
}

/// Create the missing class.
fn create_class(class: &str, classes: &[Value], ns: &str, claim: &str) -> crate::finding::Fix {
    let mut provisioners: Vec<&str> = classes
        .iter()
        .filter_map(|c| c["provisioner"].as_str())
        .collect();
    provisioners.sort();
    provisioners.dedup();
    let hint = if provisioners.is_empty() {
        String::new()
    } else {
        format!(" (existing classes use {})", provisioners.join(", "))
    };
    fix::needs_input(
        ObjRef::new("storage.k8s.io/v1", "StorageClass", None, class),
        format!(
            "Or create StorageClass `{class}` with the provisioner and parameters the claim {ns}/{claim} expects{hint}; \
             fill in <provisioner>. The Pending claim is then provisioned without touching the workload."
        ),
        format!(
            "kubectl create -f - <<'EOF'\napiVersion: storage.k8s.io/v1\nkind: StorageClass\nmetadata:\n  name: {class}\n\
             provisioner: <provisioner>\nreclaimPolicy: Delete\nvolumeBindingMode: WaitForFirstConsumer\n\
             allowVolumeExpansion: true\nEOF"
        ),
    )
}

fn lost(scope: &Scope, pvc: &Value) -> Finding {
    let ns = scope.namespace.as_str();
    let name = name_of(pvc);
    let volume = pvc["spec"]["volumeName"].as_str().unwrap_or("");
    let pv = scope.cluster.find("persistentvolumes", volume);
    let root = match pv {
        None => format!(
            "PersistentVolume `{volume}`, which PersistentVolumeClaim {ns}/{name} was bound to, no longer exists: \
             the data it held is gone from the cluster's view."
        ),
        Some(pv) => format!(
            "PersistentVolume `{volume}` is {} and bound to {}, not to PersistentVolumeClaim {ns}/{name}.",
            pv["status"]["phase"].as_str().unwrap_or("?"),
            claim_of(pv).unwrap_or_else(|| "no claim".into())
        ),
    };
    let target = obj_ref(pvc, "PersistentVolumeClaim", Some(ns));
    Finding::new(
        target.clone(),
        Severity::Error,
        reasons::PVC_LOST,
        format!("PersistentVolumeClaim {ns}/{name} is Lost: its volume `{volume}` is gone"),
    )
    .root_cause(root)
    .evidence(
        Source::Status,
        format!("PersistentVolumeClaim {ns}/{name} status.phase"),
        "Lost",
    )
    .evidence(
        Source::Spec,
        format!("PersistentVolumeClaim {ns}/{name} spec.volumeName"),
        volume,
    )
    .fix(fix::needs_input(
        target,
        "Restore the volume from a backup as a PersistentVolume named as spec.volumeName, or delete the claim and let \
         its workload create a new, empty one.",
        format!("kubectl delete pvc {name} -n {ns}"),
    ))
}

pub fn cluster(cluster: &Cluster, out: &mut Vec<Finding>) {
    for pv in cluster.objects("persistentvolumes") {
        let name = name_of(pv);
        let phase = pv["status"]["phase"].as_str().unwrap_or("");
        let reclaim = pv["spec"]["persistentVolumeReclaimPolicy"]
            .as_str()
            .unwrap_or("Delete");
        let message = pv["status"]["message"].as_str().unwrap_or("");
        let target = obj_ref(pv, "PersistentVolume", None);
        let claim = claim_of(pv).unwrap_or_else(|| "no claim".into());
        let status_ev = format!(
            "phase {phase}{}",
            if message.is_empty() {
                String::new()
            } else {
                format!(": {message}")
            }
        );
        match phase {
            "Failed" => out.push(
                Finding::new(
                    target.clone(),
                    Severity::Error,
                    reasons::PV_FAILED,
                    format!("PersistentVolume {name} is Failed"),
                )
                .root_cause(if message.is_empty() {
                    format!(
                        "Automatic reclamation (policy {reclaim}) of PersistentVolume {name}, released by {claim}, failed."
                    )
                } else {
                    format!(
                        "Automatic reclamation (policy {reclaim}) of PersistentVolume {name}, released by {claim}, failed: {message}."
                    )
                })
                .evidence(Source::Status, format!("PersistentVolume {name} status"), status_ev)
                .fix(fix::needs_input(
                    target,
                    "Check the backing disk in the storage system, then delete the volume (or its disk by hand).",
                    format!("kubectl delete pv {name}"),
                )),
            ),
            "Released" => {
                let (severity, root, command, what) = if reclaim == "Retain" {
                    (
                        Severity::Info,
                        format!(
                            "{claim} was deleted and PersistentVolume {name} has reclaim policy Retain: it keeps the data \
                             but no claim can bind to it until its claimRef is removed."
                        ),
                        format!("kubectl patch pv {name} --type=json -p '[{{\"op\":\"remove\",\"path\":\"/spec/claimRef\"}}]'"),
                        "To reuse the data, clear the claimRef (the volume becomes Available); if it is no longer needed, \
                         `kubectl delete pv` it and delete the disk.",
                    )
                } else {
                    (
                        Severity::Warning,
                        format!(
                            "{claim} was deleted and PersistentVolume {name} has reclaim policy {reclaim}, but it was \
                             not reclaimed{}.",
                            if message.is_empty() { String::new() } else { format!(": {message}") }
                        ),
                        format!("kubectl delete pv {name}"),
                        "Check the provisioner's logs; delete the volume once the disk is gone.",
                    )
                };
                out.push(
                    Finding::new(
                        target.clone(),
                        severity,
                        reasons::PV_RELEASED,
                        format!("PersistentVolume {name} is Released (its claim is gone)"),
                    )
                    .root_cause(root)
                    .evidence(Source::Status, format!("PersistentVolume {name} status"), status_ev)
                    .evidence(
                        Source::Spec,
                        format!("PersistentVolume {name} spec.persistentVolumeReclaimPolicy"),
                        reclaim,
                    )
                    .fix(fix::needs_input(target, what, command)),
                );
            }
            _ => {}
        }
    }

    let classes = cluster.objects(STORAGE_CLASSES);
    let defaults: Vec<&str> = classes
        .iter()
        .filter(|c| is_default(c))
        .map(name_of)
        .collect();
    if defaults.len() > 1 {
        let mut f = Finding::new(
            ObjRef::new("storage.k8s.io/v1", "StorageClass", None, defaults[0]),
            Severity::Warning,
            reasons::MULTIPLE_DEFAULT_STORAGE_CLASSES,
            format!(
                "{} StorageClasses are marked default: {}",
                defaults.len(),
                list_names(&defaults, 10)
            ),
        )
        .root_cause(format!(
            "StorageClasses {} all carry storageclass.kubernetes.io/is-default-class=true: claims without a class get \
             the most recently created one, which may not be the intended default.",
            defaults.join(", ")
        ));
        for d in &defaults {
            f = f.evidence(
                Source::Spec,
                format!("StorageClass {d} metadata.annotations"),
                "storageclass.kubernetes.io/is-default-class: \"true\"",
            );
        }
        f = f.fix(fix::needs_input(
            ObjRef::new("storage.k8s.io/v1", "StorageClass", None, "<class-to-demote>"),
            format!(
                "Keep one default: remove the annotation from the others (among {}).",
                defaults.join(", ")
            ),
            "kubectl annotate storageclass <class-to-demote> storageclass.kubernetes.io/is-default-class=false --overwrite",
        ));
        out.push(f);
    }
}
