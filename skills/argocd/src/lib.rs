//! The built-in `argocd` skill: Argo CD Applications read through the
//! Kubernetes API (as `argocd --core` does), and syncs proposed as pending
//! actions.

pub mod app;

// Findings are diagnostics' own format, compiled here too.
#[allow(dead_code)]
#[path = "../../diagnostics/src/finding.rs"]
mod finding;
#[allow(dead_code)]
#[path = "../../diagnostics/src/kinds.rs"]
mod kinds;
