//! Flux, for the GitOps act path: which Kustomization (or HelmRelease)
//! applied an object — the labels its controllers put on what they apply —
//! where that Kustomization's manifests are in Git (its GitRepository's URL
//! and ref, its path), and, after a merge, whether Flux applied the merge
//! commit and is Ready (`verify`).
//!
//! Flux reconciles by itself: there is no sync to propose after a merge.
//! A suspended Kustomization applies nothing until it is resumed, which
//! `verify` says instead of waiting.
//!
//! A HelmRelease's change lands in Git only where Git decides the value:
//! its chart in a GitRepository, rebuilt on every commit (`reconcileStrategy:
//! Revision`), with no values of its own (`spec.values`, `valuesFrom`) that
//! would override the chart's values files. Otherwise the cluster patch
//! stays, with the reason.

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

/// Reads the applier `kind` `namespace/name` and the GitRepository it takes
/// its manifests (a HelmRelease: its chart) from — `None` when its source is
/// another kind, which [`source_info`] explains.
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
    let source_ref = if kind == "HelmRelease" {
        &object["spec"]["chart"]["spec"]["sourceRef"]
    } else {
        &object["spec"]["sourceRef"]
    };
    if source_ref["kind"].as_str() != Some("GitRepository") {
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
        return helm_release_source(object, repo);
    }
    let Some(repo) = repo else {
        return Err(GitProposeError::NotLocatable(format!(
            "Flux Kustomization {ns}/{name} takes its manifests from {} {}, not a GitRepository: there is no Git repository to propose the change in",
            spec["sourceRef"]["kind"].as_str().unwrap_or("?"),
            spec["sourceRef"]["name"].as_str().unwrap_or("?")
        )));
    };
    let (repo_url, target_revision) = repository(repo, &format!("Flux Kustomization {ns}/{name}"))?;
    let path = clean_path(spec["path"].as_str().unwrap_or(""));
    Ok(AppSourceInfo {
        repo_url,
        target_revision,
        path,
        helm_value_files: Vec::new(),
        // Without a kustomization.yaml of its own, kustomize-controller
        // applies every manifest under the path, recursively.
        recurse: true,
        destination_namespace: spec["targetNamespace"].as_str().map(str::to_owned),
        automated: spec["suspend"].as_bool() != Some(true),
    })
}

/// A GitRepository's URL and the revision Flux checks out.
fn repository(repo: &Value, of: &str) -> Result<(String, String), GitProposeError> {
    let repo_url = repo["spec"]["url"].as_str().unwrap_or("").to_owned();
    if repo_url.is_empty() {
        return Err(GitProposeError::NotLocatable(format!(
            "the GitRepository of {of} names no url"
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
    Ok((repo_url, target_revision))
}

/// `./apps/shop/` → `apps/shop`; nothing → `.`.
fn clean_path(path: &str) -> String {
    let p = path.trim_start_matches("./").trim_matches('/');
    if p.is_empty() { ".".into() } else { p.into() }
}

/// Where a HelmRelease's values are in Git, when Git decides them.
fn helm_release_source(hr: &Value, repo: Option<&Value>) -> Result<AppSourceInfo, GitProposeError> {
    let ns = hr["metadata"]["namespace"].as_str().unwrap_or("?");
    let name = hr["metadata"]["name"].as_str().unwrap_or("?");
    let who = format!("Flux HelmRelease {ns}/{name}");
    let spec = &hr["spec"];
    let chart = &spec["chart"]["spec"];
    if spec["chartRef"].is_object() || !chart.is_object() {
        return Err(GitProposeError::NotLocatable(format!(
            "{who} takes a built chart ({} {}): the change belongs in the release's values (spec.values), which Guardian does not edit",
            spec["chartRef"]["kind"].as_str().unwrap_or("chartRef"),
            spec["chartRef"]["name"].as_str().unwrap_or("?")
        )));
    }
    let chart_name = chart["chart"].as_str().unwrap_or("?");
    let Some(repo) = repo else {
        return Err(GitProposeError::NotLocatable(format!(
            "{who} deploys chart {chart_name} from {} {}, not from Git: the change belongs in the release's values (spec.values), which Guardian does not edit",
            chart["sourceRef"]["kind"].as_str().unwrap_or("?"),
            chart["sourceRef"]["name"].as_str().unwrap_or("?")
        )));
    };
    let inline = spec["values"].as_object().is_some_and(|v| !v.is_empty())
        || spec["valuesFrom"].as_array().is_some_and(|v| !v.is_empty());
    if inline {
        return Err(GitProposeError::NotLocatable(format!(
            "{who} sets values of its own (spec.values or spec.valuesFrom), which override the chart's values files: the change belongs there, in the HelmRelease's manifest, which Guardian does not edit"
        )));
    }
    if chart["reconcileStrategy"].as_str() != Some("Revision") {
        return Err(GitProposeError::NotLocatable(format!(
            "{who} rebuilds its chart only when the chart's version changes (reconcileStrategy ChartVersion, the default): a values change in Git would not be released; set spec.chart.spec.reconcileStrategy: Revision, or change the values in the HelmRelease"
        )));
    }
    let (repo_url, target_revision) = repository(repo, &who)?;
    let path = clean_path(chart_name);
    // Flux's valuesFiles are relative to the repository; the editor's, to
    // the chart. Empty: the chart's values.yaml.
    let mut value_files = Vec::new();
    for file in chart["valuesFiles"].as_array().into_iter().flatten() {
        let file = clean_path(file.as_str().unwrap_or(""));
        let Some(relative) = file.strip_prefix(&format!("{path}/")) else {
            return Err(GitProposeError::NotLocatable(format!(
                "{who} takes the values file {file}, outside its chart's folder {path}: Guardian edits values files in the chart's folder only"
            )));
        };
        value_files.push(relative.to_owned());
    }
    Ok(AppSourceInfo {
        repo_url,
        target_revision,
        path,
        helm_value_files: value_files,
        recurse: false,
        destination_namespace: Some(
            spec["targetNamespace"]
                .as_str()
                .filter(|n| !n.is_empty())
                .unwrap_or(ns)
                .to_owned(),
        ),
        automated: spec["suspend"].as_bool() != Some(true),
    })
}

/// Whether a Flux revision (`main@sha1:<sha>`, `sha1:<sha>`, the older
/// `main/<sha>`, or a chart version built from a commit, `0.1.0+<sha12>`)
/// is `commit` (a full sha, or a prefix of at least 7).
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
        .rsplit_once('+')
        .map(|(_, s)| s)
        .or_else(|| revision.rsplit_once(':').map(|(_, s)| s))
        .or_else(|| revision.rsplit_once('/').map(|(_, s)| s))
        .unwrap_or(revision)
}

/// What one read of a Kustomization (or a HelmRelease) says.
fn observe(ks: &Value, expected: &str, elapsed: Duration) -> (Transition, Seen) {
    let status = &ks["status"];
    let helm = ks["kind"] == "HelmRelease";
    let ready = status["conditions"]
        .as_array()
        .and_then(|c| c.iter().find(|c| c["type"] == "Ready"))
        .cloned()
        .unwrap_or(Value::Null);
    // A HelmRelease: the release it last made (Helm's history, newest
    // first), of a chart built from the commit.
    let release = &status["history"][0];
    let applied = if helm {
        if release["status"] == "deployed" {
            release["chartVersion"].as_str().unwrap_or("")
        } else {
            ""
        }
    } else {
        status["lastAppliedRevision"].as_str().unwrap_or("")
    };
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
        checks_health: if helm {
            // Helm waits for the release's resources unless told not to.
            ks["spec"]["upgrade"]["disableWait"].as_bool() != Some(true)
        } else {
            ks["spec"]["wait"].as_bool() == Some(true)
                || ks["spec"]["healthChecks"]
                    .as_array()
                    .is_some_and(|h| !h.is_empty())
        },
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
    /// Waits until Flux `kind` (Kustomization, HelmRelease)
    /// `namespace/name` has applied `commit` and is Ready: `Verified`;
    /// Ready=False at that revision: `Degraded` (Flux could not apply it,
    /// or its health checks failed); suspended, or the deadline:
    /// `TimedOut`, with the reason.
    #[allow(clippy::too_many_arguments)]
    pub async fn flux_verify(
        &self,
        caller: &str,
        kind: &str,
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
        let helm = kind == "HelmRelease";
        let resource = if helm { HELM_RELEASES } else { KUSTOMIZATIONS };
        let display = format!("Flux {kind} {namespace}/{name}");
        let resume = kind.to_ascii_lowercase();
        let kind = broker.resolve(resource).await.map_err(|e| {
            crate::ServiceError::new(crate::error::host_class(e.kind_str()), e.to_string())
        })?;
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
                        "{display} is suspended: it applies nothing until it is resumed (flux resume {resume} {name} -n {namespace}); follow again then"
                    ),
                    status,
                    seen.checks_health,
                );
            }
            if seen.current && seen.applied && seen.ready == "True" {
                let health = match (helm, seen.checks_health) {
                    (false, true) => "its health checks passed",
                    (false, false) => {
                        "Flux checked no health (the Kustomization has neither spec.wait nor spec.healthChecks): the objects were applied"
                    }
                    (true, true) => "Helm waited until the release's resources were ready",
                    (true, false) => {
                        "Helm did not wait for the release's resources (spec.upgrade.disableWait): they were applied"
                    }
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
                status: json!({"kind": if helm { "HelmRelease" } else { "Kustomization" }, "status": status}),
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
    fn a_helm_releases_values_are_in_git_only_where_git_decides_them() {
        let repo =
            json!({"spec": {"url": "https://git.example.com/shop.git", "ref": {"branch": "main"}}});
        let hr = |chart: Value, values: Value| {
            json!({"kind": "HelmRelease", "metadata": {"name": "web", "namespace": "shop"},
                   "spec": {"chart": {"spec": chart}, "values": values}})
        };
        let git_chart = json!({"chart": "./charts/web", "reconcileStrategy": "Revision",
            "sourceRef": {"kind": "GitRepository", "name": "shop", "namespace": "flux-system"},
            "valuesFiles": ["charts/web/values.yaml", "./charts/web/values-prod.yaml"]});
        let info = source_info(
            "HelmRelease",
            &hr(git_chart.clone(), json!({})),
            Some(&repo),
        )
        .unwrap();
        assert_eq!(info.path, "charts/web");
        assert_eq!(info.helm_value_files, ["values.yaml", "values-prod.yaml"]);
        assert_eq!(info.target_revision, "main");
        assert_eq!(info.destination_namespace.as_deref(), Some("shop"));

        let refused = |chart: Value, values: Value, repo: Option<&Value>| {
            source_info("HelmRelease", &hr(chart, values), repo)
                .unwrap_err()
                .to_string()
        };
        // Values of its own override the files.
        let e = refused(
            git_chart.clone(),
            json!({"image": {"tag": "v1"}}),
            Some(&repo),
        );
        assert!(e.contains("sets values of its own"), "{e}");
        // The default strategy does not release a values change.
        let mut by_version = git_chart.clone();
        by_version
            .as_object_mut()
            .unwrap()
            .remove("reconcileStrategy");
        let e = refused(by_version, json!({}), Some(&repo));
        assert!(e.contains("reconcileStrategy ChartVersion"), "{e}");
        // A chart from a chart repository.
        let e = refused(
            json!({"chart": "redis", "sourceRef": {"kind": "HelmRepository", "name": "bitnami"}}),
            json!({}),
            None,
        );
        assert!(
            e.contains("from HelmRepository bitnami, not from Git"),
            "{e}"
        );
        // A values file outside the chart.
        let mut outside = git_chart;
        outside["valuesFiles"] = json!(["values/prod.yaml"]);
        let e = refused(outside, json!({}), Some(&repo));
        assert!(e.contains("outside its chart's folder"), "{e}");
    }

    #[test]
    fn a_helm_release_is_judged_on_its_release_of_the_merge_commit() {
        let sha = "4f1c2b9a0d8e7f6a5b4c3d2e1f0a9b8c7d6e5f4a";
        let hr = json!({"kind": "HelmRelease", "metadata": {"generation": 3}, "spec": {},
            "status": {"observedGeneration": 3, "lastAttemptedRevision": format!("0.1.0+{}", &sha[..12]),
                "history": [{"chartVersion": format!("0.1.0+{}", &sha[..12]), "status": "deployed"}],
                "conditions": [{"type": "Ready", "status": "True", "reason": "UpgradeSucceeded", "message": "m"}]}});
        let (t, s) = observe(&hr, sha, Duration::ZERO);
        assert!(s.applied && s.current && s.checks_health, "{t:?}");
        assert_eq!(t.revision.as_deref(), Some(&sha[..12]));
        // A failed release of it: attempted, not applied.
        let mut failed = hr.clone();
        failed["status"]["history"][0]["status"] = json!("failed");
        let (_, s) = observe(&failed, sha, Duration::ZERO);
        assert!(!s.applied && s.attempted);
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
