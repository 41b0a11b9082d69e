//! The analyzers. Each reads a [`Scope`] (one namespace) or the [`Cluster`]
//! (cluster-scoped objects) and pushes findings. `--filter` selects analyzers
//! by the names in [`ANALYZERS`].

use crate::ctx::{Cluster, Scope};
use crate::finding::Finding;

pub mod budget;
mod config;
mod gateway;
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

/// One analyzer: the name `--filter` takes, its aliases, and what it runs.
pub struct Analyzer {
    pub name: &'static str,
    pub aliases: &'static [&'static str],
    pub run: Run,
}

/// Every analyzer, in the order they run.
pub const ANALYZERS: &[Analyzer] = &[
    Analyzer {
        name: "Pod",
        aliases: &["pods", "po"],
        run: Run::Namespaced(pods::analyze),
    },
    Analyzer {
        name: "Deployment",
        aliases: &["deployments", "deploy"],
        run: Run::Namespaced(workloads::deployments),
    },
    Analyzer {
        name: "ReplicaSet",
        aliases: &["replicasets", "rs"],
        run: Run::Namespaced(workloads::replicasets),
    },
    Analyzer {
        name: "StatefulSet",
        aliases: &["statefulsets", "sts"],
        run: Run::Namespaced(workloads::statefulsets),
    },
    Analyzer {
        name: "DaemonSet",
        aliases: &["daemonsets", "ds"],
        run: Run::Namespaced(workloads::daemonsets),
    },
    Analyzer {
        name: "Job",
        aliases: &["jobs"],
        run: Run::Namespaced(jobs::jobs),
    },
    Analyzer {
        name: "CronJob",
        aliases: &["cronjobs", "cj"],
        run: Run::Namespaced(jobs::cronjobs),
    },
    Analyzer {
        name: "Service",
        aliases: &["services", "svc"],
        run: Run::Namespaced(service::analyze),
    },
    Analyzer {
        name: "Ingress",
        aliases: &["ingresses", "ing"],
        run: Run::Namespaced(ingress::analyze),
    },
    Analyzer {
        name: "PersistentVolumeClaim",
        aliases: &["persistentvolumeclaims", "pvc"],
        run: Run::Namespaced(storage::claims),
    },
    Analyzer {
        name: "Storage",
        aliases: &["storageclass", "persistentvolume", "pv", "sc"],
        run: Run::Cluster(storage::cluster),
    },
    Analyzer {
        name: "Node",
        aliases: &["nodes", "no"],
        run: Run::Cluster(node::analyze),
    },
    Analyzer {
        name: "ValidatingWebhookConfiguration",
        aliases: &["validatingwebhook"],
        run: Run::Cluster(webhook::validating),
    },
    Analyzer {
        name: "MutatingWebhookConfiguration",
        aliases: &["mutatingwebhook"],
        run: Run::Cluster(webhook::mutating),
    },
    Analyzer {
        name: "ConfigMap",
        aliases: &["configmaps", "cm"],
        run: Run::Namespaced(config::analyze),
    },
    Analyzer {
        name: "HorizontalPodAutoscaler",
        aliases: &["horizontalpodautoscalers", "hpa"],
        run: Run::Namespaced(hpa::analyze),
    },
    Analyzer {
        name: "PodDisruptionBudget",
        aliases: &["poddisruptionbudgets", "pdb"],
        run: Run::Namespaced(pdb::analyze),
    },
    Analyzer {
        name: "NetworkPolicy",
        aliases: &["networkpolicies", "netpol"],
        run: Run::Namespaced(netpol::analyze),
    },
    Analyzer {
        name: "Log",
        aliases: &["logs"],
        run: Run::Namespaced(logs::analyze),
    },
    Analyzer {
        name: "Security",
        aliases: &["securitycontext"],
        run: Run::Namespaced(security::analyze),
    },
    Analyzer {
        name: "GatewayClass",
        aliases: &["gatewayclasses"],
        run: Run::Cluster(gateway::classes),
    },
    Analyzer {
        name: "Gateway",
        aliases: &["gateways"],
        run: Run::Namespaced(gateway::gateways),
    },
    Analyzer {
        name: "HTTPRoute",
        aliases: &["httproutes"],
        run: Run::Namespaced(gateway::routes),
    },
];

/// The analyzers `filter` selects (all when empty); an unknown name is an
/// error listing the known ones.
pub fn select(filter: &[String]) -> Result<Vec<&'static Analyzer>, String> {
    if filter.is_empty() {
        return Ok(ANALYZERS.iter().collect());
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
