//! Flux, for the GitOps act path: which Kustomization (or HelmRelease)
//! applied an object — the labels its controllers put on what they apply —
//! where that Kustomization's manifests are in Git (its GitRepository's URL
//! and ref, its path), and, after a merge, whether Flux applied the merge
//! commit and is Ready (`verify`).
//!
//! Flux reconciles by itself: there is no sync to propose after a merge.
//! A suspended Kustomization applies nothing until it is resumed, which
//! `verify` says instead of waiting.

use std::time::{Duration, Instant};

use guardian_broker::{Broker, BrokerError, CallContext};
use serde_json::{Value, json};

use crate::argocd::{Outcome, Transition, Verification};
use crate::gitops::{AppSourceInfo, GitProposeError};

pub const KUSTOMIZATIONS: &str = "kustomizations.kustomize.toolkit.fluxcd.io";
pub const HELM_RELEASES: &str = "helmreleases.helm.toolkit.fluxcd.io";
pub const GIT_REPOSITORIES: &str = "gitrepositories.source.toolkit.fluxcd.io";

const KUSTOMIZE_NAME: &str = "kustomize.toolkit.fluxcd.io/name";
const KUSTOMIZE_NAMESPACE: &str = "kustomize.toolkit.fluxcd.io/namespace";
const HELM_NAME: &str = "helm.toolkit.fluxcd.io/name";
const HELM_NAMESPACE: &str = "helm.toolkit.fluxcd.io/namespace";

/// The Flux applier an object's labels name: `(kind, namespace, name)`;
/// helm-controller's labels first (a HelmRelease's objects).
pub fn applier_of(object: &Value) -> Option<(&'static str, String, String)> {
    let labels = &object["metadata"]["labels"];
    for (kind, name, namespace) in [
        ("HelmRelease", HELM_NAME, HELM_NAMESPACE),
        ("Kustomization", KUSTOMIZE_NAME, KUSTOMIZE_NAMESPACE),
    ] {
        if let (Some(n), Some(ns)) = (labels[name].as_str(), labels[namespace].as_str())
            && !n.is_empty()
            && !ns.is_empty()
        {
            return Some((kind, ns.to_owned(), n.to_owned()));
        }
    }
    None
}

/// Reads the applier `kind` `namespace/name` and, for a Kustomization, the
/// GitRepository it takes its manifests from (`None` when its source is
/// another kind, which [`source_info`] explains).
pub async fn read(
    broker: &Broker,
    cx: &CallContext,
    kind: &str,
    namespace: &str,
    name: &str,
) -> Result<(Value, Option<Value>), BrokerError> {
    let resource = if kind == "HelmRelease" {
        HELM_RELEASES
    } else {
        KUSTOMIZATIONS
    };
    let k = broker.resolve(resource).await?;
    let object = broker.get(cx, &k, Some(namespace), name).await?;
    let source_ref = &object["spec"]["sourceRef"];
    if kind != "Kustomization" || source_ref["kind"].as_str() != Some("GitRepository") {
        return Ok((object, None));
    }
    let repo_ns = source_ref["namespace"]
        .as_str()
        .filter(|n| !n.is_empty())
        .unwrap_or(namespace);
    let repo_name = source_ref["name"].as_str().unwrap_or("");
    let repos = broker.resolve(GIT_REPOSITORIES).await?;
    let repo = broker.get(cx, &repos, Some(repo_ns), repo_name).await?;
    Ok((object, Some(repo)))
}

/// Where a Kustomization's manifests are: its GitRepository's URL and
/// ref, and its path. A HelmRelease's change belongs in its values, which
/// Guardian does not edit: the cluster patch stays, with the reason.
pub fn source_info(
    kind: &str,
    object: &Value,
    repo: Option<&Value>,
) -> Result<AppSourceInfo, GitProposeError> {
    let ns = object["metadata"]["namespace"].as_str().unwrap_or("?");
    let name = object["metadata"]["name"].as_str().unwrap_or("?");
    let spec = &object["spec"];
    if kind == "HelmRelease" {
        return Err(GitProposeError::NotLocatable(format!(
            "Flux HelmRelease {ns}/{name} deploys a Helm chart: the change belongs in the release's values (spec.values, spec.valuesFrom or the chart's values files), which Guardian does not edit"
        )));
    }
    let Some(repo) = repo else {
        return Err(GitProposeError::NotLocatable(format!(
            "Flux Kustomization {ns}/{name} takes its manifests from {} {}, not a GitRepository: there is no Git repository to propose the change in",
            spec["sourceRef"]["kind"].as_str().unwrap_or("?"),
            spec["sourceRef"]["name"].as_str().unwrap_or("?")
        )));
    };
    let repo_url = repo["spec"]["url"].as_str().unwrap_or("").to_owned();
    if repo_url.is_empty() {
        return Err(GitProposeError::NotLocatable(format!(
            "the GitRepository of Flux Kustomization {ns}/{name} names no url"
        )));
    }
    let r = &repo["spec"]["ref"];
    let pick = |key: &str| r[key].as_str().filter(|v| !v.is_empty());
    // Flux's order of precedence: commit, name, semver, tag, branch; no
    // ref at all is the `master` branch.
    let target_revision = pick("commit")
        .or_else(|| pick("name").map(|n| n.strip_prefix("refs/heads/").unwrap_or(n)))
        .or_else(|| pick("semver"))
        .or_else(|| pick("tag"))
        .or_else(|| pick("branch"))
        .unwrap_or("master")
        .to_owned();
    let path = spec["path"]
        .as_str()
        .unwrap_or("")
        .trim_start_matches("./")
        .trim_matches('/');
    Ok(AppSourceInfo {
        repo_url,
        target_revision,
        path: if path.is_empty() {
            ".".into()
        } else {
            path.into()
        },
        helm_value_files: Vec::new(),
        // Without a kustomization.yaml of its own, kustomize-controller
        // applies every manifest under the path, recursively.
        recurse: true,
        destination_namespace: spec["targetNamespace"].as_str().map(str::to_owned),
        automated: spec["suspend"].as_bool() != Some(true),
    })
}

/// Whether a Flux revision (`main@sha1:<sha>`, `sha1:<sha>`, or the older
/// `main/<sha>`) is `commit` (a full sha, or a prefix of at least 7).
pub fn is_revision(revision: &str, commit: &str) -> bool {
    if commit.len() < 7 {
        return false;
    }
    let sha = sha_of(revision);
    sha.starts_with(commit) || commit.starts_with(sha) && sha.len() >= 7
}

/// The commit of a Flux revision.
fn sha_of(revision: &str) -> &str {
    revision
        .rsplit_once(':')
        .map(|(_, s)| s)
        .or_else(|| revision.rsplit_once('/').map(|(_, s)| s))
        .unwrap_or(revision)
}

/// What one read of a Kustomization says.
fn observe(ks: &Value, expected: &str, elapsed: Duration) -> (Transition, Seen) {
    let status = &ks["status"];
    let ready = status["conditions"]
        .as_array()
        .and_then(|c| c.iter().find(|c| c["type"] == "Ready"))
        .cloned()
        .unwrap_or(Value::Null);
    let applied = status["lastAppliedRevision"].as_str().unwrap_or("");
    let attempted = status["lastAttemptedRevision"].as_str().unwrap_or("");
    let generation = ks["metadata"]["generation"].as_i64().unwrap_or(0);
    let observed = status["observedGeneration"].as_i64().unwrap_or(-1);
    let seen = Seen {
        suspended: ks["spec"]["suspend"].as_bool() == Some(true),
        ready: ready["status"].as_str().unwrap_or("Unknown").to_owned(),
        reason: ready["reason"].as_str().unwrap_or("").to_owned(),
        message: ready["message"].as_str().unwrap_or("").to_owned(),
        applied: !applied.is_empty() && is_revision(applied, expected),
        attempted: !attempted.is_empty() && is_revision(attempted, expected),
        current: observed >= generation,
        checks_health: ks["spec"]["wait"].as_bool() == Some(true)
            || ks["spec"]["healthChecks"]
                .as_array()
                .is_some_and(|h| !h.is_empty()),
    };
    // In Argo CD's columns: `sync` says whether the expected revision is
    // applied, `health` is the Ready condition.
    let transition = Transition {
        elapsed_ms: elapsed.as_millis() as u64,
        sync: if seen.applied {
            "Applied"
        } else {
            "NotApplied"
        }
        .into(),
        health: match seen.ready.as_str() {
            "True" => "Ready",
            "False" => "NotReady",
            _ => "Progressing",
        }
        .into(),
        operation: (!seen.reason.is_empty()).then(|| seen.reason.clone()),
        operation_pending: false,
        revision: (!applied.is_empty()).then(|| sha_of(applied).to_owned()),
        message: (!seen.message.is_empty()).then(|| seen.message.clone()),
    };
    (transition, seen)
}

struct Seen {
    suspended: bool,
    ready: String,
    reason: String,
    message: String,
    applied: bool,
    attempted: bool,
    current: bool,
    checks_health: bool,
}

/// How a Flux verification ended, beyond [`Outcome`]: whether Flux itself
/// checked the health of what it applied.
pub struct FluxVerification {
    pub verification: Verification,
    pub health_checked: bool,
}

impl crate::Session {
    /// Waits until Flux Kustomization `namespace/name` has applied `commit`
    /// and is Ready: `Verified`; Ready=False at that revision: `Degraded`
    /// (Flux could not apply it, or its health checks failed); a suspended
    /// Kustomization or the deadline: `TimedOut`, with the reason.
    pub async fn flux_verify(
        &self,
        caller: &str,
        namespace: &str,
        name: &str,
        commit: &str,
        timeout: Option<Duration>,
        on_transition: &(dyn Fn(&Transition) + Send + Sync),
    ) -> Result<FluxVerification, crate::ServiceError> {
        let (default_timeout, interval) = self
            .config()
            .argocd
            .verify_times()
            .map_err(crate::ServiceError::from)?;
        let timeout = timeout.unwrap_or(default_timeout);
        let interval = interval.max(Duration::from_millis(50));
        let broker = self.broker()?;
        let cx = CallContext::host_for(caller, "flux.verify");
        let kind = broker.resolve(KUSTOMIZATIONS).await.map_err(|e| {
            crate::ServiceError::new(crate::error::host_class(e.kind_str()), e.to_string())
        })?;
        let display = format!("Flux Kustomization {namespace}/{name}");
        let started = Instant::now();
        let mut transitions: Vec<Transition> = Vec::new();
        let (outcome, summary, status, checks_health) = loop {
            let ks = broker
                .get(&cx, &kind, Some(namespace), name)
                .await
                .map_err(|e| {
                    crate::ServiceError::new(
                        crate::error::host_class(e.kind_str()),
                        format!("cannot read {display}: {e}"),
                    )
                })?;
            let (seen_t, seen) = observe(&ks, commit, started.elapsed());
            if transitions.last().is_none_or(|l| !l.same_state(&seen_t)) {
                on_transition(&seen_t);
                transitions.push(seen_t);
            }
            let status = ks["status"].clone();
            if seen.suspended {
                break (
                    Outcome::TimedOut,
                    format!(
                        "{display} is suspended: it applies nothing until it is resumed (flux resume kustomization {name} -n {namespace}); follow again then"
                    ),
                    status,
                    seen.checks_health,
                );
            }
            if seen.current && seen.applied && seen.ready == "True" {
                let health = if seen.checks_health {
                    "its health checks passed"
                } else {
                    "Flux checked no health (the Kustomization has neither spec.wait nor spec.healthChecks): the objects were applied"
                };
                break (
                    Outcome::Verified,
                    format!("{display} applied {} and is Ready; {health}", short(commit)),
                    status,
                    seen.checks_health,
                );
            }
            if seen.current
                && seen.attempted
                && seen.ready == "False"
                && seen.reason != "Progressing"
            {
                break (
                    Outcome::Degraded,
                    format!(
                        "{display} could not apply {}: {}: {}",
                        short(commit),
                        seen.reason,
                        seen.message
                    ),
                    status,
                    seen.checks_health,
                );
            }
            if started.elapsed() + interval > timeout {
                let last = transitions.last();
                break (
                    Outcome::TimedOut,
                    format!(
                        "{display} has not applied {} after {} s (last applied {}, Ready {}{})",
                        short(commit),
                        timeout.as_secs(),
                        last.and_then(|t| t.revision.clone())
                            .unwrap_or_else(|| "nothing".into()),
                        seen.ready,
                        if seen.message.is_empty() {
                            String::new()
                        } else {
                            format!(": {}", seen.message)
                        }
                    ),
                    status,
                    seen.checks_health,
                );
            }
            tokio::time::sleep(interval).await;
        };
        Ok(FluxVerification {
            verification: Verification {
                application: name.to_owned(),
                namespace: namespace.to_owned(),
                outcome,
                summary,
                expected_revision: Some(commit.to_owned()),
                transitions,
                status: json!({"kind": "Kustomization", "status": status}),
                findings: Vec::new(),
                diagnosed: Vec::new(),
                problems: Vec::new(),
                elapsed_ms: started.elapsed().as_millis() as u64,
            },
            health_checked: checks_health,
        })
    }
}

fn short(commit: &str) -> &str {
    commit.get(..12).unwrap_or(commit)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn flux_revisions_are_matched_in_each_format() {
        let sha = "4f1c2b9a0d8e7f6a5b4c3d2e1f0a9b8c7d6e5f4a";
        for r in [
            format!("main@sha1:{sha}"),
            format!("sha1:{sha}"),
            format!("main/{sha}"),
            sha.to_owned(),
        ] {
            assert!(is_revision(&r, sha), "{r}");
            assert!(is_revision(&r, &sha[..7]), "{r}");
        }
        assert!(!is_revision("main@sha1:0000000aaaa", sha));
        assert!(!is_revision(&format!("main@sha1:{sha}"), "4f1"));
    }

    #[test]
    fn a_kustomizations_source_is_its_git_repository_and_path() {
        let ks = json!({"metadata": {"name": "shop", "namespace": "flux-system"},
            "spec": {"path": "./apps/shop/", "targetNamespace": "shop",
                     "sourceRef": {"kind": "GitRepository", "name": "shop"}}});
        let repo =
            json!({"spec": {"url": "https://git.example.com/shop.git", "ref": {"branch": "prod"}}});
        let info = source_info("Kustomization", &ks, Some(&repo)).unwrap();
        assert_eq!(info.repo_url, "https://git.example.com/shop.git");
        assert_eq!(info.target_revision, "prod");
        assert_eq!(info.path, "apps/shop");
        assert!(info.recurse && info.automated);
        assert_eq!(info.destination_namespace.as_deref(), Some("shop"));

        // No ref: Flux's default branch; a full ref name: its branch.
        let info = source_info("Kustomization", &ks, Some(&json!({"spec": {"url": "u"}}))).unwrap();
        assert_eq!(info.target_revision, "master");
        let named = json!({"spec": {"url": "u", "ref": {"name": "refs/heads/release"}}});
        assert_eq!(
            source_info("Kustomization", &ks, Some(&named))
                .unwrap()
                .target_revision,
            "release"
        );

        // Another source kind, and a HelmRelease: not locatable, with why.
        let oci = source_info("Kustomization", &ks, None)
            .unwrap_err()
            .to_string();
        assert!(oci.contains("not a GitRepository"), "{oci}");
        let hr = source_info("HelmRelease", &ks, None)
            .unwrap_err()
            .to_string();
        assert!(hr.contains("release's values"), "{hr}");
    }

    #[test]
    fn a_kustomization_is_judged_on_the_merge_commit_and_ready() {
        let sha = "4f1c2b9a0d8e7f6a5b4c3d2e1f0a9b8c7d6e5f4a";
        let ks = |applied: &str, ready: &str, reason: &str| {
            json!({"metadata": {"generation": 2}, "spec": {"wait": true},
                "status": {"observedGeneration": 2, "lastAppliedRevision": applied,
                    "lastAttemptedRevision": format!("main@sha1:{sha}"),
                    "conditions": [{"type": "Ready", "status": ready, "reason": reason, "message": "m"}]}})
        };
        let (t, s) = observe(
            &ks(
                &format!("main@sha1:{sha}"),
                "True",
                "ReconciliationSucceeded",
            ),
            sha,
            Duration::ZERO,
        );
        assert!(s.applied && s.current && s.checks_health && s.ready == "True");
        assert_eq!((t.sync.as_str(), t.health.as_str()), ("Applied", "Ready"));
        assert_eq!(t.revision.as_deref(), Some(sha));
        let (t, s) = observe(
            &ks("main@sha1:0123456789abcdef", "False", "HealthCheckFailed"),
            sha,
            Duration::ZERO,
        );
        assert!(!s.applied && s.attempted && s.ready == "False");
        assert_eq!(
            (t.sync.as_str(), t.health.as_str()),
            ("NotApplied", "NotReady")
        );
    }
}
