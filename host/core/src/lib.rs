//! The core every front end shares. `guardian` (CLI), the gRPC and MCP
//! servers and the agent loop open a [`Session`] from [`Options`] and call
//! the same operations; none of them holds logic this crate lacks.

pub mod actions;
pub mod config;
pub mod diagnose;
pub mod eval;
pub mod proposals;
pub mod session;

pub use config::Config;
pub use diagnose::{DiagnoseError, DiagnoseRequest, diagnose, merge, propose_fixes, severity_rank};
pub use session::{Options, Session, Source};
