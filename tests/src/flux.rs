//! Flux on the real API server, for the GitOps tests: its CRDs
//! (Kustomization, HelmRelease, GitRepository — `tests/fixtures/flux-crds`,
//! as Flux publishes them), and the objects kustomize-controller and
//! source-controller would read and write. No Flux controller runs here:
//! a test plays kustomize-controller itself — it applies what Git holds and
//! writes the Kustomization's status ([`applied`]) — as the Argo CD tests
//! play Argo CD's application controller.

use std::path::{Path, PathBuf};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use crate::kube::ControlPlane;

/// `tests/fixtures/flux-crds`.
pub fn crds_dir() -> PathBuf {
    Path::new(crate::REPO_ROOT).join("tests/fixtures/flux-crds")
}

/// Flux's Kustomization, HelmRelease and GitRepository CRDs, applied server-side once
/// per process, then waited for until a list of each is answered.
pub fn install_crds(k: &ControlPlane) {
    static INSTALLED: OnceLock<()> = OnceLock::new();
    INSTALLED.get_or_init(|| {
        let dir = crds_dir();
        k.apply_server_side(
            &[
                "kustomize.toolkit.fluxcd.io_kustomizations.yaml",
                "helm.toolkit.fluxcd.io_helmreleases.yaml",
                "source.toolkit.fluxcd.io_gitrepositories.yaml",
            ]
            .map(|f| dir.join(f)),
        );
        for crd in [
            "kustomizations.kustomize.toolkit.fluxcd.io",
            "helmreleases.helm.toolkit.fluxcd.io",
            "gitrepositories.source.toolkit.fluxcd.io",
        ] {
            k.wait_established(crd);
            let deadline = Instant::now() + Duration::from_secs(120);
            loop {
                let out = k
                    .kubectl()
                    .args(["get", crd, "-A", "--chunk-size=1"])
                    .output()
                    .expect("kubectl runs");
                if out.status.success() {
                    break;
                }
                assert!(
                    Instant::now() < deadline,
                    "{crd} not served after 120 s: {}",
                    String::from_utf8_lossy(&out.stderr)
                );
                std::thread::sleep(Duration::from_millis(100));
            }
        }
    });
}

/// The labels kustomize-controller puts on what Kustomization
/// `namespace/name` applies.
pub fn labels(namespace: &str, name: &str) -> Value {
    json!({
        "kustomize.toolkit.fluxcd.io/name": name,
        "kustomize.toolkit.fluxcd.io/namespace": namespace,
    })
}

/// The labels helm-controller puts on what HelmRelease `namespace/name`
/// releases.
pub fn helm_labels(namespace: &str, name: &str) -> Value {
    json!({
        "helm.toolkit.fluxcd.io/name": name,
        "helm.toolkit.fluxcd.io/namespace": namespace,
    })
}

/// A HelmRelease of the chart at `chart` in GitRepository `source` (same
/// namespace), rebuilt on every commit, into `target_namespace`, with no
/// values of its own.
pub fn helm_release(
    namespace: &str,
    name: &str,
    source: &str,
    chart: &str,
    target_namespace: &str,
) -> Value {
    json!({
        "apiVersion": "helm.toolkit.fluxcd.io/v2",
        "kind": "HelmRelease",
        "metadata": {"name": name, "namespace": namespace},
        "spec": {
            "interval": "10m",
            "targetNamespace": target_namespace,
            "chart": {"spec": {
                "chart": chart,
                "reconcileStrategy": "Revision",
                "sourceRef": {"kind": "GitRepository", "name": source},
            }},
        },
    })
}

/// Writes what helm-controller reports after releasing the chart built
/// from `commit` (version `version+<sha12>`): deployed and Ready, or failed
/// with `reason` and `message`.
pub fn released(
    k: &ControlPlane,
    namespace: &str,
    name: &str,
    version: &str,
    commit: &str,
    ready: Result<(), (&str, &str)>,
) {
    let generation = generation(k, "helmreleases.helm.toolkit.fluxcd.io", namespace, name);
    let chart_version = format!("{version}+{}", &commit[..12]);
    let now = "2026-12-07T12:00:00Z";
    let (condition, state) = match ready {
        Ok(()) => (
            json!({"type": "Ready", "status": "True", "reason": "UpgradeSucceeded",
                   "message": format!("Helm upgrade succeeded for release {name} with chart catalog@{chart_version}"),
                   "lastTransitionTime": now, "observedGeneration": generation}),
            "deployed",
        ),
        Err((reason, message)) => (
            json!({"type": "Ready", "status": "False", "reason": reason, "message": message,
                   "lastTransitionTime": now, "observedGeneration": generation}),
            "failed",
        ),
    };
    let status = json!({
        "observedGeneration": generation,
        "lastAttemptedRevision": chart_version,
        "history": [{"name": name, "namespace": namespace, "version": 2,
                     "chartName": "catalog", "chartVersion": chart_version,
                     "configDigest": "sha256:0", "digest": "sha256:0",
                     "firstDeployed": now, "lastDeployed": now, "status": state}],
        "conditions": [condition],
    });
    k.set_status(
        namespace,
        "helmreleases.helm.toolkit.fluxcd.io",
        name,
        &status,
    );
}

fn generation(k: &ControlPlane, resource: &str, namespace: &str, name: &str) -> i64 {
    k.run(&[
        "get",
        resource,
        name,
        "-n",
        namespace,
        "-o",
        "jsonpath={.metadata.generation}",
    ])
    .trim()
    .parse::<i64>()
    .unwrap_or(1)
}

/// A GitRepository on branch `branch` of `url`.
pub fn git_repository(namespace: &str, name: &str, url: &str, branch: &str) -> Value {
    json!({
        "apiVersion": "source.toolkit.fluxcd.io/v1",
        "kind": "GitRepository",
        "metadata": {"name": name, "namespace": namespace},
        "spec": {"url": url, "interval": "1m", "ref": {"branch": branch}},
    })
}

/// A Kustomization of `path` from GitRepository `source` (same namespace),
/// into `target_namespace`, waiting for health (`spec.wait`).
pub fn kustomization(
    namespace: &str,
    name: &str,
    source: &str,
    path: &str,
    target_namespace: &str,
) -> Value {
    json!({
        "apiVersion": "kustomize.toolkit.fluxcd.io/v1",
        "kind": "Kustomization",
        "metadata": {"name": name, "namespace": namespace},
        "spec": {
            "interval": "10m",
            "path": path,
            "prune": true,
            "wait": true,
            "targetNamespace": target_namespace,
            "sourceRef": {"kind": "GitRepository", "name": source},
        },
    })
}

/// Writes what kustomize-controller reports after reconciling `commit` of
/// `branch`: Ready (or not, with `reason` and `message`), the revision
/// applied (or only attempted, when not Ready).
pub fn applied(
    k: &ControlPlane,
    namespace: &str,
    name: &str,
    branch: &str,
    commit: &str,
    ready: Result<(), (&str, &str)>,
) {
    let generation = generation(
        k,
        "kustomizations.kustomize.toolkit.fluxcd.io",
        namespace,
        name,
    );
    let revision = format!("{branch}@sha1:{commit}");
    let now = "2026-12-07T12:00:00Z";
    let (condition, applied) = match ready {
        Ok(()) => (
            json!({"type": "Ready", "status": "True", "reason": "ReconciliationSucceeded",
                   "message": format!("Applied revision: {revision}"), "lastTransitionTime": now,
                   "observedGeneration": generation}),
            Some(revision.clone()),
        ),
        Err((reason, message)) => (
            json!({"type": "Ready", "status": "False", "reason": reason, "message": message,
                   "lastTransitionTime": now, "observedGeneration": generation}),
            None,
        ),
    };
    let mut status = json!({
        "observedGeneration": generation,
        "lastAttemptedRevision": revision,
        "conditions": [condition],
    });
    if let Some(applied) = applied {
        status["lastAppliedRevision"] = json!(applied);
    }
    k.set_status(
        namespace,
        "kustomizations.kustomize.toolkit.fluxcd.io",
        name,
        &status,
    );
}
