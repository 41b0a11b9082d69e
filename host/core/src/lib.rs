//! The service layer: one [`Session`] and every operation a front end
//! offers, written once. The CLI, gRPC and MCP open a session from
//! [`Options`] and call it; they parse, authenticate and render, and hold no
//! logic of their own.
//!
//! | operation | where |
//! | --- | --- |
//! | list and call tools | [`Session::tools`], [`Session::call_tool`] |
//! | diagnose (and propose its fixes) | [`Session::diagnose`] |
//! | rightsize (and propose its fixes) | [`Session::rightsize`] |
//! | ask (the agent loop) | [`Session::ask`]; `guardian eval`: [`eval::run_corpus`] |
//! | actions: list, show, review, approve, reject | [`Session::list_actions`] … [`Session::reject_action`] |
//! | an action's audit trail (from the audit log) | [`Session::action_audit_trail`] |
//! | Argo CD: apps, status, drift, sync (propose), verify | [`Session::argocd_apps`], [`Session::argocd_app`], [`Session::argocd_verify`] |
//! | doctor (connection and RBAC) | [`Session::doctor`] |
//! | snapshot capture | [`Session::capture`] |
//!
//! Approving needs an [`guardian_actions::Approver`], which only the human
//! channels (the CLI at a terminal, the gRPC approval call, an MCP
//! elicitation answered by the person) construct; nothing here makes one.
//!
//! **Architecture invariant:** nothing here prints (warnings and notes go
//! through `tracing`).

pub mod actions;
pub mod argocd;
pub mod ask;
pub mod audit_trail;
pub mod capture;
pub mod config;
pub mod diagnose;
pub mod doctor;
pub mod error;
pub mod eval;
pub mod flux;
pub mod gitops;
pub mod investigations;
pub mod nodes;
pub mod proposals;
pub mod rightsize;
pub mod session;
pub mod tools;
pub mod usage;

pub use argocd::{AppsRequest, Outcome as VerifyOutcome, Transition, Verification, VerifyRequest};
pub use config::Config;
pub use diagnose::{ANALYZE, DiagnoseError, DiagnoseRequest, Diagnosis, merge, severity_rank};
pub use error::{ErrorClass, ServiceError, parse_state};
pub use investigations::{
    AlertInfo, AlertmanagerConfig, Intake, Investigation, InvestigationState, InvestigationTarget,
};
pub use rightsize::{Prices, RECOMMEND, RightsizeRequest, Rightsizing, RightsizingConfig};
pub use session::{Options, Session, Source};
pub use tools::ToolEntry;
