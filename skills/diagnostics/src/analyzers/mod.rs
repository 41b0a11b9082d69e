//! The analyzers. Each reads a [`Scope`] (one namespace) or the [`Cluster`]
//! (cluster-scoped objects) and pushes findings. `--filter` selects analyzers
//! by the names in [`ANALYZERS`].

use crate::ctx::{Cluster, Reads, Scope};
use crate::finding::Finding;

mod admission;
pub mod argocd;
pub mod budget;
mod cascade;
mod config;
mod gateway;
mod history;
mod hpa;
mod ingress;
mod jobs;
mod logs;
mod netpol;
mod node;
mod pdb;
mod pods;
mod refs;
mod security;
mod selectors;
mod service;
mod storage;
mod template;
mod webhook;
mod workloads;

pub mod patterns;

/// How an analyzer runs.
pub enum Run {
    /// Once per namespace.
    Namespaced(fn(&Scope, &mut Vec<Finding>)),
    /// Once per scan, on the cluster-scoped objects.
    Cluster(fn(&Cluster, &mut Vec<Finding>)),
}

/// One analyzer: the name `--filter` takes, its aliases, what it runs, and
/// what it reads.
pub struct Analyzer {
    pub name: &'static str,
    pub aliases: &'static [&'static str],
    pub run: Run,
    /// Every resource it reads besides what the skill reads for itself
    /// (`ctx::OWN_READS`: pods, events, logs), through the helpers it calls
    /// too — an analyzer that names a pod's workload reads ReplicaSets and
    /// Jobs (their owners), one that patches a pod template reads the
    /// workload. The one list of what the skill reads: the loader lists
    /// what the selected analyzers declare; tests hold the skill's grant
    /// (`skill.toml`), `snapshot capture` and `deploy/`'s ClusterRole to
    /// it; and an analyzer sees nothing of what it does not declare
    /// (`ctx::Cluster::reading`).
    pub reads: Reads,
    /// The kinds of object a question may name whose answer can lie in this
    /// analyzer's findings (the object itself, or the cause of its trouble:
    /// a Deployment's answer can be a Secret its pods read, a Service's its
    /// pods' crash). `analyze`'s `kinds` runs only the analyzers that
    /// explain one of the kinds asked about.
    pub explains: Explains,
}

/// The workload kinds: a workload's trouble shows in its pods.
pub const WORKLOAD_KINDS: &[&str] = &[
    "Deployment",
    "ReplicaSet",
    "StatefulSet",
    "DaemonSet",
    "Job",
    "CronJob",
    "Pod",
];

/// The kinds that route traffic to workloads.
pub const ROUTE_KINDS: &[&str] = &["Service", "Ingress", "Gateway", "HTTPRoute"];

/// What an analyzer can explain (see [`Analyzer::explains`]).
pub struct Explains {
    pub workloads: bool,
    pub routes: bool,
    pub kinds: &'static [&'static str],
}

impl Explains {
    pub fn covers(&self, kind: &str) -> bool {
        (self.workloads && WORKLOAD_KINDS.contains(&kind))
            || (self.routes && ROUTE_KINDS.contains(&kind))
            || self.kinds.contains(&kind)
    }

    /// Every kind, in order.
    pub fn all(&self) -> Vec<&'static str> {
        let mut out = Vec::new();
        if self.workloads {
            out.extend_from_slice(WORKLOAD_KINDS);
        }
        if self.routes {
            out.extend_from_slice(ROUTE_KINDS);
        }
        for k in self.kinds {
            if !out.contains(k) {
                out.push(k);
            }
        }
        out
    }
}

/// Workloads, what routes to them, and `kinds`.
const fn both(kinds: &'static [&'static str]) -> Explains {
    Explains {
        workloads: true,
        routes: true,
        kinds,
    }
}

/// Workloads and `kinds`.
const fn workloads(kinds: &'static [&'static str]) -> Explains {
    Explains {
        workloads: true,
        routes: false,
        kinds,
    }
}

/// `kinds` only.
const fn only(kinds: &'static [&'static str]) -> Explains {
    Explains {
        workloads: false,
        routes: false,
        kinds,
    }
}

/// What the Pod analyzer's evidence chain reads ([`pods::build`], which
/// the Job and CronJob analyzers use too): the workload a pod belongs to and
/// its pod template (ReplicaSet → Deployment, Job → CronJob), what the spec
/// references (ConfigMaps, Secrets, claims and their StorageClasses), and
/// the nodes an unschedulable pod could run on.
const POD_CHAIN: Reads = Reads {
    namespaced: &[
        "deployments.apps",
        "replicasets.apps",
        "statefulsets.apps",
        "daemonsets.apps",
        "jobs.batch",
        "cronjobs.batch",
        "configmaps",
        "secrets",
        "persistentvolumeclaims",
    ],
    cluster: &["nodes", "storageclasses.storage.k8s.io"],
    gets: &[],
};

/// Nothing: what the declarations below start from.
const NO_READS: Reads = Reads {
    namespaced: &[],
    cluster: &[],
    gets: &[],
};

/// Every analyzer, in the order they run.
pub const ANALYZERS: &[Analyzer] = &[
    Analyzer {
        name: "Pod",
        aliases: &["pods", "po"],
        run: Run::Namespaced(pods::analyze),
        explains: both(&[
            "Node",
            "PersistentVolumeClaim",
            "ConfigMap",
            "Secret",
            "ServiceAccount",
        ]),
        reads: POD_CHAIN,
    },
    Analyzer {
        name: "Deployment",
        aliases: &["deployments", "deploy"],
        run: Run::Namespaced(workloads::deployments),
        explains: both(&[]),
        reads: ns(&[
            "deployments.apps",
            "replicasets.apps",
            "jobs.batch",
            "resourcequotas",
            "limitranges",
        ]),
    },
    Analyzer {
        name: "ReplicaSet",
        aliases: &["replicasets", "rs"],
        run: Run::Namespaced(workloads::replicasets),
        explains: both(&[]),
        reads: ns(&["replicasets.apps"]),
    },
    Analyzer {
        name: "StatefulSet",
        aliases: &["statefulsets", "sts"],
        run: Run::Namespaced(workloads::statefulsets),
        explains: both(&["PersistentVolumeClaim"]),
        reads: ns(&[
            "statefulsets.apps",
            "services",
            "deployments.apps",
            "replicasets.apps",
            "jobs.batch",
        ]),
    },
    Analyzer {
        name: "DaemonSet",
        aliases: &["daemonsets", "ds"],
        run: Run::Namespaced(workloads::daemonsets),
        explains: both(&["Node"]),
        reads: ns(&[
            "daemonsets.apps",
            "deployments.apps",
            "replicasets.apps",
            "jobs.batch",
        ]),
    },
    Analyzer {
        name: "Job",
        aliases: &["jobs"],
        run: Run::Namespaced(jobs::jobs),
        explains: both(&[]),
        reads: POD_CHAIN,
    },
    Analyzer {
        name: "CronJob",
        aliases: &["cronjobs", "cj"],
        run: Run::Namespaced(jobs::cronjobs),
        explains: workloads(&[]),
        reads: POD_CHAIN,
    },
    Analyzer {
        name: "Service",
        aliases: &["services", "svc"],
        run: Run::Namespaced(service::analyze),
        explains: both(&["Endpoints"]),
        reads: ns(&[
            "services",
            "endpoints",
            "deployments.apps",
            "replicasets.apps",
            "statefulsets.apps",
            "daemonsets.apps",
            "jobs.batch",
            "cronjobs.batch",
        ]),
    },
    Analyzer {
        name: "Ingress",
        aliases: &["ingresses", "ing"],
        run: Run::Namespaced(ingress::analyze),
        explains: only(&["Ingress", "IngressClass"]),
        reads: Reads {
            namespaced: &["ingresses.networking.k8s.io", "services", "secrets"],
            cluster: &["ingressclasses.networking.k8s.io"],
            ..NO_READS
        },
    },
    Analyzer {
        name: "PersistentVolumeClaim",
        aliases: &["persistentvolumeclaims", "pvc"],
        run: Run::Namespaced(storage::claims),
        explains: workloads(&["PersistentVolumeClaim"]),
        reads: Reads {
            namespaced: &["persistentvolumeclaims", "statefulsets.apps"],
            cluster: &["storageclasses.storage.k8s.io", "persistentvolumes"],
            ..NO_READS
        },
    },
    Analyzer {
        name: "Storage",
        aliases: &["storageclass", "persistentvolume", "pv", "sc"],
        run: Run::Cluster(storage::cluster),
        explains: workloads(&["PersistentVolumeClaim", "PersistentVolume", "StorageClass"]),
        reads: cluster(&["persistentvolumes", "storageclasses.storage.k8s.io"]),
    },
    Analyzer {
        name: "Node",
        aliases: &["nodes", "no"],
        run: Run::Cluster(node::analyze),
        explains: workloads(&["Node"]),
        reads: cluster(&["nodes"]),
    },
    Analyzer {
        name: "ValidatingWebhookConfiguration",
        aliases: &["validatingwebhook"],
        run: Run::Cluster(webhook::validating),
        explains: workloads(&["ValidatingWebhookConfiguration", "Service"]),
        reads: Reads {
            cluster: &["validatingwebhookconfigurations.admissionregistration.k8s.io"],
            gets: &["services", "endpoints"],
            ..NO_READS
        },
    },
    Analyzer {
        name: "MutatingWebhookConfiguration",
        aliases: &["mutatingwebhook"],
        run: Run::Cluster(webhook::mutating),
        explains: workloads(&["MutatingWebhookConfiguration", "Service"]),
        reads: Reads {
            cluster: &["mutatingwebhookconfigurations.admissionregistration.k8s.io"],
            gets: &["services", "endpoints"],
            ..NO_READS
        },
    },
    Analyzer {
        name: "ConfigMap",
        aliases: &["configmaps", "cm"],
        run: Run::Namespaced(config::analyze),
        explains: workloads(&["ConfigMap"]),
        reads: ns(&[
            "configmaps",
            "deployments.apps",
            "statefulsets.apps",
            "daemonsets.apps",
            "cronjobs.batch",
            "jobs.batch",
        ]),
    },
    Analyzer {
        name: "HorizontalPodAutoscaler",
        aliases: &["horizontalpodautoscalers", "hpa"],
        run: Run::Namespaced(hpa::analyze),
        explains: workloads(&["HorizontalPodAutoscaler"]),
        reads: ns(&[
            "horizontalpodautoscalers.autoscaling",
            "deployments.apps",
            "replicasets.apps",
            "statefulsets.apps",
            "daemonsets.apps",
            "jobs.batch",
            "cronjobs.batch",
        ]),
    },
    Analyzer {
        name: "PodDisruptionBudget",
        aliases: &["poddisruptionbudgets", "pdb"],
        run: Run::Namespaced(pdb::analyze),
        explains: workloads(&["PodDisruptionBudget", "Node"]),
        reads: ns(&["poddisruptionbudgets.policy"]),
    },
    Analyzer {
        name: "NetworkPolicy",
        aliases: &["networkpolicies", "netpol"],
        run: Run::Namespaced(netpol::analyze),
        explains: both(&["NetworkPolicy"]),
        reads: ns(&[
            "networkpolicies.networking.k8s.io",
            "deployments.apps",
            "statefulsets.apps",
            "daemonsets.apps",
            "cronjobs.batch",
        ]),
    },
    Analyzer {
        name: "Log",
        aliases: &["logs"],
        run: Run::Namespaced(logs::analyze),
        explains: both(&[]),
        reads: ns(&[
            "services",
            "deployments.apps",
            "replicasets.apps",
            "jobs.batch",
        ]),
    },
    Analyzer {
        name: "Security",
        aliases: &["securitycontext"],
        run: Run::Namespaced(security::analyze),
        explains: workloads(&[]),
        reads: ns(&["serviceaccounts", "replicasets.apps", "jobs.batch"]),
    },
    Analyzer {
        name: "GatewayClass",
        aliases: &["gatewayclasses"],
        run: Run::Cluster(gateway::classes),
        explains: only(&["GatewayClass", "Gateway", "HTTPRoute"]),
        reads: cluster(&["gatewayclasses.gateway.networking.k8s.io"]),
    },
    Analyzer {
        name: "Gateway",
        aliases: &["gateways"],
        run: Run::Namespaced(gateway::gateways),
        explains: only(&["Gateway", "HTTPRoute"]),
        reads: Reads {
            namespaced: &["gateways.gateway.networking.k8s.io"],
            cluster: &["gatewayclasses.gateway.networking.k8s.io"],
            ..NO_READS
        },
    },
    Analyzer {
        name: "HTTPRoute",
        aliases: &["httproutes"],
        run: Run::Namespaced(gateway::routes),
        explains: only(&["HTTPRoute", "Gateway", "Service"]),
        reads: ns(&[
            "httproutes.gateway.networking.k8s.io",
            "gateways.gateway.networking.k8s.io",
            "services",
        ]),
    },
    Analyzer {
        name: "Application",
        aliases: &["applications", "app", "apps", "argocd"],
        run: Run::Namespaced(argocd::analyze),
        explains: only(&["Application"]),
        reads: ns(&[argocd::APPLICATIONS]),
    },
    // Last: it links the findings the others made in the namespace.
    Analyzer {
        name: "Cascade",
        aliases: &["cascades"],
        run: Run::Namespaced(cascade::analyze),
        explains: both(&[]),
        reads: ns(&[
            "services",
            "configmaps",
            "deployments.apps",
            "statefulsets.apps",
            "daemonsets.apps",
            "jobs.batch",
            "cronjobs.batch",
        ]),
    },
];

/// Reads of namespaced resources only.
const fn ns(namespaced: &'static [&'static str]) -> Reads {
    Reads {
        namespaced,
        ..NO_READS
    }
}

/// Reads of cluster-scoped resources only.
const fn cluster(cluster: &'static [&'static str]) -> Reads {
    Reads {
        cluster,
        ..NO_READS
    }
}

/// The analyzers `filter` names and those that explain one of `kinds` (all
/// when both are empty); an unknown name or kind is an error listing the
/// known ones.
pub fn select(filter: &[String], kinds: &[String]) -> Result<Vec<&'static Analyzer>, String> {
    let mut chosen = select_named(filter, !kinds.is_empty())?;
    for kind in kinds {
        let found: Vec<&'static Analyzer> = ANALYZERS
            .iter()
            .filter(|a| a.explains.covers(kind.trim()))
            .collect();
        if found.is_empty() {
            let mut known: Vec<&str> = ANALYZERS.iter().flat_map(|a| a.explains.all()).collect();
            known.sort();
            known.dedup();
            return Err(format!(
                "kinds: no analyzer explains `{kind}`; the kinds they explain: {}",
                known.join(", ")
            ));
        }
        for a in found {
            if !chosen.iter().any(|c| c.name == a.name) {
                chosen.push(a);
            }
        }
    }
    // In the order they run: the Cascade analyzer links the others' findings.
    chosen.sort_by_key(|a| ANALYZERS.iter().position(|b| b.name == a.name));
    Ok(chosen)
}

/// The analyzers `filter` names (all when empty, unless kinds narrow).
fn select_named(filter: &[String], narrowed: bool) -> Result<Vec<&'static Analyzer>, String> {
    if filter.is_empty() {
        return Ok(if narrowed {
            Vec::new()
        } else {
            ANALYZERS.iter().collect()
        });
    }
    let mut chosen = Vec::new();
    for wanted in filter {
        let w = wanted.trim().to_ascii_lowercase();
        let found = ANALYZERS
            .iter()
            .find(|a| a.name.to_ascii_lowercase() == w || a.aliases.contains(&w.as_str()));
        match found {
            Some(a) => {
                if !chosen.iter().any(|c: &&Analyzer| c.name == a.name) {
                    chosen.push(a);
                }
            }
            None => {
                let known: Vec<&str> = ANALYZERS.iter().map(|a| a.name).collect();
                return Err(format!(
                    "unknown analyzer `{wanted}`; known: {}",
                    known.join(", ")
                ));
            }
        }
    }
    Ok(chosen)
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;

    use super::*;
    use crate::ctx::{Loader, OWN_READS, ReadSet};

    fn all_reads() -> ReadSet {
        ReadSet::union(ANALYZERS.iter().map(|a| &a.reads))
    }

    fn loader_for(filter: &[&str]) -> Loader {
        let filter: Vec<String> = filter.iter().map(|f| f.to_string()).collect();
        let selected = select(&filter, &[]).unwrap();
        Loader::new(
            selected.iter().map(|a| &a.reads),
            ANALYZERS.iter().map(|a| &a.reads),
        )
    }

    /// The `read` grant of `skill.toml`.
    fn granted() -> BTreeSet<String> {
        let manifest: toml::Value = toml::from_str(include_str!("../../skill.toml")).unwrap();
        manifest["grants"]["read"]
            .as_array()
            .expect("skill.toml has grants.read")
            .iter()
            .map(|r| r.as_str().unwrap().to_owned())
            .collect()
    }

    #[test]
    fn the_grant_is_what_the_analyzers_read() {
        let all = all_reads();
        let mut read: BTreeSet<String> = OWN_READS
            .iter()
            .chain(crate::gitops::flux::READS)
            .map(|r| r.to_string())
            .collect();
        for r in all.namespaced.iter().chain(&all.cluster).chain(&all.gets) {
            read.insert(r.to_string());
        }
        let granted = granted();
        let missing: Vec<&String> = read.difference(&granted).collect();
        let unused: Vec<&String> = granted.difference(&read).collect();
        assert!(
            missing.is_empty() && unused.is_empty(),
            "skill.toml's read grant and the analyzers' reads (analyzers/mod.rs) differ.\n\
             read but not granted (add to skill.toml): {missing:?}\n\
             granted but read by no analyzer (remove from skill.toml, or declare the read): {unused:?}"
        );
    }

    fn names(kinds: &[&str]) -> Vec<&'static str> {
        let kinds: Vec<String> = kinds.iter().map(|k| k.to_string()).collect();
        select(&[], &kinds)
            .unwrap()
            .iter()
            .map(|a| a.name)
            .collect()
    }

    #[test]
    fn kinds_select_the_analyzers_that_explain_them() {
        // A claim: the claim, its storage, and the pods that mount it.
        let pvc = names(&["PersistentVolumeClaim"]);
        for want in ["PersistentVolumeClaim", "Storage", "Pod", "StatefulSet"] {
            assert!(pvc.contains(&want), "{want} in {pvc:?}");
        }
        for not in ["Ingress", "HTTPRoute", "GatewayClass", "Service"] {
            assert!(!pvc.contains(&not), "{not} in {pvc:?}");
        }
        // A Deployment: everything its pods depend on, and the Cascade
        // last; not the Ingress or Gateway API analyzers.
        let deploy = names(&["Deployment"]);
        for want in ["Pod", "Deployment", "ConfigMap", "Service", "Node", "Log"] {
            assert!(deploy.contains(&want), "{want} in {deploy:?}");
        }
        for not in ["Ingress", "HTTPRoute", "Gateway", "GatewayClass"] {
            assert!(!deploy.contains(&not), "{not} in {deploy:?}");
        }
        assert_eq!(deploy.last(), Some(&"Cascade"), "run order kept");
        // Fewer reads: a Deployment's question lists no Ingress or route.
        let kinds = ["Deployment".to_string()];
        let selected = select(&[], &kinds).unwrap();
        let reads = ReadSet::union(selected.iter().map(|a| &a.reads));
        for r in [
            "ingresses.networking.k8s.io",
            "httproutes.gateway.networking.k8s.io",
        ] {
            assert!(!reads.namespaced.contains(&r), "{r} read");
        }
        // Nothing named: every analyzer.
        assert_eq!(select(&[], &[]).unwrap().len(), ANALYZERS.len());
        // An unknown kind is an error naming the known ones.
        let err = select(&[], &["Frobnicator".to_string()])
            .err()
            .expect("an unknown kind is refused");
        assert!(
            err.contains("Frobnicator") && err.contains("Deployment"),
            "{err}"
        );
        // Filter and kinds together: both.
        let both = select(
            &["Ingress".to_string()],
            &["PersistentVolumeClaim".to_string()],
        )
        .unwrap();
        assert!(both.iter().any(|a| a.name == "Ingress"));
        assert!(both.iter().any(|a| a.name == "Storage"));
    }

    #[test]
    fn every_kind_a_question_names_is_explained() {
        for kind in WORKLOAD_KINDS.iter().chain(ROUTE_KINDS).chain(&[
            "PersistentVolumeClaim",
            "Node",
            "HorizontalPodAutoscaler",
            "NetworkPolicy",
            "PodDisruptionBudget",
            "ConfigMap",
            "ValidatingWebhookConfiguration",
            "MutatingWebhookConfiguration",
            "StorageClass",
            "IngressClass",
        ]) {
            assert!(!names(&[kind]).is_empty(), "{kind}");
        }
    }

    #[test]
    fn no_resource_is_both_namespaced_and_cluster_scoped() {
        let all = all_reads();
        for r in &all.namespaced {
            assert!(!all.cluster.contains(r), "{r} is declared both ways");
        }
        for r in all.namespaced.iter().chain(&all.cluster).chain(&all.gets) {
            assert!(!OWN_READS.contains(r), "{r} is read by the skill itself");
        }
    }

    #[test]
    fn the_loader_lists_what_the_selected_analyzers_read() {
        // Everything: every declared resource, once.
        let all = loader_for(&[]);
        assert_eq!(all.loads(), &all_reads());
        assert!(
            all.loads()
                .namespaced
                .contains(&"horizontalpodautoscalers.autoscaling")
        );
        assert!(
            all.loads()
                .cluster
                .contains(&"gatewayclasses.gateway.networking.k8s.io")
        );

        // The Pod analyzer: its evidence chain, not the HPAs or the gateways.
        let pod = loader_for(&["Pod"]);
        let loads = pod.loads();
        for r in [
            "configmaps",
            "secrets",
            "replicasets.apps",
            "persistentvolumeclaims",
        ] {
            assert!(loads.namespaced.contains(&r), "{r}: {loads:?}");
        }
        assert!(loads.cluster.contains(&"nodes"), "{loads:?}");
        for r in [
            "horizontalpodautoscalers.autoscaling",
            "gateways.gateway.networking.k8s.io",
            "services",
            "endpoints",
        ] {
            assert!(!loads.namespaced.contains(&r), "{r}: {loads:?}");
        }
        assert!(
            !loads
                .cluster
                .contains(&"gatewayclasses.gateway.networking.k8s.io")
        );

        // Two analyzers: the union, each resource once.
        let two = loader_for(&["hpa", "Node"]);
        assert_eq!(
            two.loads().namespaced,
            [
                "horizontalpodautoscalers.autoscaling",
                "deployments.apps",
                "replicasets.apps",
                "statefulsets.apps",
                "daemonsets.apps",
                "jobs.batch",
                "cronjobs.batch",
            ]
        );
        assert_eq!(two.loads().cluster, ["nodes"]);

        // A cluster-scoped analyzer lists no namespaced resource.
        assert!(loader_for(&["GatewayClass"]).loads().namespaced.is_empty());
    }

    /// Analyzers that call the host themselves (`kube::get`, `kube::list`)
    /// read what they name there: every such resource is declared.
    #[test]
    fn direct_host_reads_are_declared() {
        let all = all_reads();
        let declared: BTreeSet<&str> = all
            .namespaced
            .iter()
            .chain(&all.cluster)
            .chain(&all.gets)
            .chain(OWN_READS)
            .copied()
            .collect();
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("src/analyzers");
        let mut files = vec![dir.clone()];
        let mut calls = 0;
        while let Some(path) = files.pop() {
            if path.is_dir() {
                files.extend(std::fs::read_dir(&path).unwrap().map(|e| e.unwrap().path()));
                continue;
            }
            let text = std::fs::read_to_string(&path).unwrap();
            for call in ["kube::get", "kube::list"] {
                for (at, _) in text.match_indices(call) {
                    // The resource is the first argument, a string literal.
                    let rest = &text[at + call.len()..];
                    // A call, not a mention in prose.
                    if !(rest.starts_with('(') || rest.starts_with("::<")) {
                        continue;
                    }
                    let Some(open) = rest.find('(') else { continue };
                    let arg = rest[open + 1..].trim_start();
                    let resource = arg
                        .strip_prefix('"')
                        .and_then(|a| a.split('"').next())
                        .unwrap_or_else(|| {
                            panic!(
                                "{}: {call} with a resource that is not a string literal: \
                                 name it literally, so that this test can check it is declared",
                                path.display()
                            )
                        });
                    assert!(
                        declared.contains(resource),
                        "{}: {call}(\"{resource}\", …) reads a resource no analyzer declares",
                        path.display()
                    );
                    calls += 1;
                }
            }
        }
        // The webhook analyzers' Service, Endpoints and pods, a full ConfigMap.
        assert!(calls >= 4, "found only {calls} host reads");
    }
}
