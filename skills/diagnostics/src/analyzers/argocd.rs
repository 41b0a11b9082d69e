//! Argo CD Applications' own failures: in a namespace holding Applications
//! (Argo CD's own, or one it takes Applications from), each Application's
//! findings as the Application model (`skills/argocd/src/app.rs`, shared
//! with the `argocd` skill) finds them — a ComparisonError, an invalid
//! spec, a failed or stuck sync, OutOfSync, Degraded.
//!
//! Which findings elsewhere are about objects an Application manages is
//! marked after every analyzer ran (`crate::gitops`).

use crate::ctx::Scope;
use crate::finding::Finding;
use crate::reasons;

#[allow(dead_code)]
#[path = "../../../argocd/src/app.rs"]
pub mod app;

/// The resource the analyzer reads.
pub const APPLICATIONS: &str = "applications.argoproj.io";

/// Every reason the Application model gives (documented in
/// `docs/diagnostics.md`).
const REASONS: &[&str] = &[
    reasons::ARGO_COMPARISON_ERROR,
    reasons::ARGO_INVALID_SPEC,
    reasons::ARGO_SYNC_FAILED,
    reasons::ARGO_OUT_OF_SYNC,
    reasons::ARGO_DEGRADED,
    reasons::ARGO_SYNC_STUCK,
];

pub fn analyze(scope: &Scope, findings: &mut Vec<Finding>) {
    let apps = scope.objects(APPLICATIONS);
    if apps.is_empty() {
        return;
    }
    let now = now(scope);
    for application in apps {
        for f in app::findings(application, &now) {
            debug_assert!(
                REASONS.contains(&f.reason.as_str()),
                "undocumented reason {}",
                f.reason
            );
            findings.push(f);
        }
    }
}

/// The time the data describes (a skill has no clock of its own to
/// trust): the newest node heartbeat, else the namespace's newest event;
/// empty when neither is known (then only a sync's age is not judged).
fn now(scope: &Scope) -> String {
    scope
        .cluster
        .observed_at
        .clone()
        .or_else(|| {
            scope
                .events
                .last()
                .and_then(|e| e.time())
                .map(str::to_owned)
        })
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    /// The model's reason codes are the ones `reasons.rs` documents.
    #[test]
    fn the_models_reasons_are_documented() {
        let docs = include_str!("../../../../docs/diagnostics.md");
        for reason in REASONS {
            assert!(
                docs.contains(&format!("| `{reason}` |")),
                "{reason} is not in docs/diagnostics.md's reason table"
            );
        }
        let broken = json!({
            "apiVersion": "argoproj.io/v1alpha1", "kind": "Application",
            "metadata": {"name": "billing", "namespace": "argocd"},
            "spec": {"source": {"repoURL": "https://git.example.com/x.git", "path": "apps/billing"},
                     "destination": {"namespace": "billing"}},
            "status": {
                "sync": {"status": "OutOfSync"},
                "health": {"status": "Degraded"},
                "conditions": [{"type": "ComparisonError", "message": "apps/billing: app path does not exist"},
                               {"type": "InvalidSpecError", "message": "project nope does not exist"}],
                "operationState": {"phase": "Running", "startedAt": "2026-11-20T08:00:00Z"},
            },
        });
        let found = app::findings(&broken, "2026-11-20T09:00:00Z");
        assert!(found.len() >= 4, "{found:?}");
        for f in &found {
            assert!(REASONS.contains(&f.reason.as_str()), "{}", f.reason);
        }
    }
}
