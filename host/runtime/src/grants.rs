//! Grants: which resources a skill may read, which it may dry-run or propose
//! changes to, and whether it may query metrics.
//!
//! A skill *requests* grants in its manifest; the operator *allows* grants in
//! the config; the skill gets the intersection. Checked in the host before the
//! broker (and, with it, policy) is even asked.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;

use serde::{Deserialize, Serialize};

/// `"*"` in `read` or `propose` stands for every resource.
pub const ANY: &str = "*";

#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Grants {
    #[serde(default)]
    pub read: BTreeSet<String>,
    #[serde(default)]
    pub propose: BTreeSet<String>,
    #[serde(default)]
    pub metrics: bool,
}

/// What the `metrics` grant lets policy see as read grants.
pub const METRICS_READS: &[&str] = &[
    "prometheus.metrics.guardian.dev",
    "pods.metrics.k8s.io",
    "nodes.metrics.k8s.io",
    // A node daemon's pod usage: its kubelet's /stats/summary.
    "nodes/stats",
];

/// What a host call needs.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Need {
    Read(String),
    Propose(String),
    Metrics,
}

impl fmt::Display for Need {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Need::Read(r) => write!(f, "read `{r}`"),
            Need::Propose(r) => write!(f, "propose changes to `{r}`"),
            Need::Metrics => f.write_str("query metrics"),
        }
    }
}

impl Grants {
    /// The grants as the policy input carries them. The `metrics` grant
    /// reaches policy as reads of what it covers: Prometheus queries
    /// (`prometheus.metrics.guardian.dev`), metrics.k8s.io usage and, for a
    /// node daemon, the kubelet's stats (`nodes/stats`).
    pub fn as_sets(&self) -> guardian_broker::GrantSets {
        let mut read: Vec<String> = self.read.iter().cloned().collect();
        if self.metrics {
            for name in METRICS_READS {
                if !read.iter().any(|r| r == name) {
                    read.push((*name).to_owned());
                }
            }
        }
        guardian_broker::GrantSets {
            read,
            propose: self.propose.iter().cloned().collect(),
        }
    }

    /// The grants both sides agree on.
    pub fn intersect(&self, allowed: &Grants) -> Grants {
        Grants {
            read: intersect_sets(&self.read, &allowed.read),
            propose: intersect_sets(&self.propose, &allowed.propose),
            metrics: self.metrics && allowed.metrics,
        }
    }

    pub fn allows(&self, need: &Need) -> bool {
        match need {
            Need::Read(r) => covers(&self.read, r),
            Need::Propose(r) => covers(&self.propose, r),
            Need::Metrics => self.metrics,
        }
    }

    /// The grant a denied call is missing, said so a person can fix it.
    pub fn missing(&self, skill: &str, need: &Need) -> String {
        let (list, key, have) = match need {
            Need::Read(r) => (&self.read, "read", r.as_str()),
            Need::Propose(r) => (&self.propose, "propose", r.as_str()),
            Need::Metrics => {
                return format!(
                    "skill `{skill}` has no grant to query metrics: set `metrics = true` under [grants] in its skill.toml and allow it in the operator config"
                );
            }
        };
        let current = if list.is_empty() {
            "none".to_owned()
        } else {
            list.iter().cloned().collect::<Vec<_>>().join(", ")
        };
        format!(
            "skill `{skill}` has no grant to {need} (missing grant: {key} `{have}`; its effective {key} grants: {current}); add \"{have}\" to [grants].{key} in its skill.toml and allow it in the operator config"
        )
    }
}

fn covers(set: &BTreeSet<String>, resource: &str) -> bool {
    set.contains(ANY) || set.contains(resource)
}

fn intersect_sets(requested: &BTreeSet<String>, allowed: &BTreeSet<String>) -> BTreeSet<String> {
    match (requested.contains(ANY), allowed.contains(ANY)) {
        (true, true) => BTreeSet::from([ANY.to_owned()]),
        (true, false) => allowed.clone(),
        (false, true) => requested.clone(),
        (false, false) => requested.intersection(allowed).cloned().collect(),
    }
}

/// The operator's side: per-skill allowed grants. A skill not named here gets
/// what it requests, unless `default` says otherwise.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OperatorGrants {
    /// Grants for skills the config does not name; `None` means "what they request".
    #[serde(default)]
    pub default: Option<Grants>,
    #[serde(default)]
    pub skills: BTreeMap<String, Grants>,
}

impl OperatorGrants {
    pub fn effective(&self, skill: &str, requested: &Grants) -> Grants {
        match self.skills.get(skill).or(self.default.as_ref()) {
            Some(allowed) => requested.intersect(allowed),
            None => requested.clone(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn g(read: &[&str], propose: &[&str], metrics: bool) -> Grants {
        Grants {
            read: read.iter().map(|s| s.to_string()).collect(),
            propose: propose.iter().map(|s| s.to_string()).collect(),
            metrics,
        }
    }

    #[test]
    fn the_metrics_grant_reaches_policy_as_metrics_reads() {
        let sets = g(&["pods"], &[], true).as_sets();
        assert_eq!(
            sets.read,
            [
                "pods",
                "prometheus.metrics.guardian.dev",
                "pods.metrics.k8s.io",
                "nodes.metrics.k8s.io",
                "nodes/stats"
            ]
        );
        assert_eq!(g(&["pods"], &[], false).as_sets().read, ["pods"]);
    }

    #[test]
    fn effective_is_the_intersection() {
        let requested = g(
            &["pods", "secrets", "pods/log"],
            &["deployments.apps"],
            true,
        );
        let allowed = g(&["pods", "pods/log", "nodes"], &[], true);
        let eff = requested.intersect(&allowed);
        assert_eq!(eff, g(&["pods", "pods/log"], &[], true));
        assert!(!eff.allows(&Need::Read("secrets".into())));
        assert!(!eff.allows(&Need::Propose("deployments.apps".into())));
        assert!(eff.allows(&Need::Metrics));
    }

    #[test]
    fn wildcard_on_either_side() {
        let any = g(&["*"], &[], false);
        let some = g(&["pods"], &[], false);
        assert_eq!(any.intersect(&some), some);
        assert_eq!(some.intersect(&any), some);
        assert!(any.intersect(&any).allows(&Need::Read("secrets".into())));
    }

    #[test]
    fn missing_names_the_grant() {
        let msg = g(&["pods"], &[], false).missing("hostile", &Need::Read("secrets".into()));
        assert!(msg.contains("missing grant: read `secrets`"), "{msg}");
        assert!(msg.contains("effective read grants: pods"), "{msg}");
    }

    #[test]
    fn operator_default_and_per_skill() {
        let mut op = OperatorGrants::default();
        let requested = g(&["pods", "secrets"], &[], true);
        assert_eq!(op.effective("x", &requested), requested);
        op.default = Some(g(&["pods"], &[], false));
        assert_eq!(op.effective("x", &requested), g(&["pods"], &[], false));
        op.skills.insert("x".into(), g(&["*"], &[], true));
        assert_eq!(op.effective("x", &requested), requested);
    }
}
