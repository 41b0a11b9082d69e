//! The agent loop: Observe → Reason → Act over the skills' tools.
//!
//! A run answers one question with a model behind any OpenAI-compatible
//! endpoint ([`Mode::Llm`]) or with the built-in deterministic reasoner
//! ([`Mode::Reasoner`]). Every tool call goes through the same guards
//! ([`guard`]) and accounting ([`report::RunStats`]); the session
//! (`guardian-core`) builds the [`Agent`] for every front end.
//!
//! **Architecture invariant:** nothing here approves or applies an action.
//! The crate does not depend on the action store (`.ci/run` checks
//! `cargo tree`), so it cannot even name an approver:
//!
//! ```compile_fail
//! // guardian-actions is not a dependency of guardian-agent (normal or
//! // dev): this stops compiling the day it becomes one.
//! use guardian_actions::Approver;
//! ```

pub mod argocd;
pub(crate) mod brief;
pub mod config;
pub mod eval;
pub mod guard;
pub mod llm;
pub mod otel;
pub mod prompt;
pub mod reasoner;
pub mod report;
pub mod resolve;
pub mod rightsize;
pub mod run;
pub mod tools;

pub use guard::Guards;
pub use llm::{LlmClient, LlmOverrides, LlmSettings};
pub use report::{Event, EventSink, RunReport, RunStats, no_events};
pub use run::{Agent, Mode, RunContext, RunOutput};
pub use tokio_util::sync::CancellationToken;
pub use tools::{ToolHook, Toolbox};

/// The rank of a finding's severity (`info` 0 … `critical` 3), as the
/// diagnostics report orders them.
pub fn severity_rank(severity: &str) -> Option<u8> {
    match severity {
        "info" => Some(0),
        "warning" => Some(1),
        "error" => Some(2),
        "critical" => Some(3),
        _ => None,
    }
}

/// TLS for the model and the trace collector uses ring (no aws-lc-rs).
pub(crate) fn install_crypto_provider() {
    let _ = rustls::crypto::ring::default_provider().install_default();
}
