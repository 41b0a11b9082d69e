//! The agent loop: Observe → Reason → Act over the skills' tools.
//!
//! A run answers one question with a model behind any OpenAI-compatible
//! endpoint ([`Mode::Llm`]) or with the built-in deterministic reasoner
//! ([`Mode::Reasoner`]). Every tool call goes through the same guards
//! ([`guard`]) and accounting ([`report::RunStats`]); the CLI, gRPC and
//! MCP call [`Agent::run`]. Nothing here approves or applies an action.

pub mod eval;
pub mod guard;
pub mod llm;
pub mod otel;
pub mod prompt;
pub mod reasoner;
pub mod report;
pub mod run;
pub mod tools;

pub use guard::Guards;
pub use llm::{LlmClient, LlmOverrides, LlmSettings};
pub use report::{Event, EventSink, RunReport, RunStats, no_events};
pub use run::{Agent, Mode, RunContext, RunOutput};
pub use tokio_util::sync::CancellationToken;
pub use tools::Toolbox;

/// TLS for the model and the trace collector uses ring (no aws-lc-rs).
pub(crate) fn install_crypto_provider() {
    let _ = rustls::crypto::ring::default_provider().install_default();
}
