//! The runtime's errors: one variant per way a skill can be refused or a call
//! can fail. Messages name the skill and tool and say what to do.

use std::time::Duration;

/// Why a skill was not loaded. The other skills load regardless.
#[derive(Debug, thiserror::Error)]
#[error("skill {source_desc}: {reason}")]
pub struct LoadError {
    /// `builtin cluster`, `/var/lib/guardian/skills/foo`.
    pub source_desc: String,
    pub reason: String,
}

/// Why a tool call did not produce a result.
#[derive(Debug, thiserror::Error)]
pub enum CallError {
    #[error("unknown skill `{skill}`; loaded skills: {available}")]
    UnknownSkill { skill: String, available: String },
    #[error("skill `{skill}` has no tool `{tool}`; its tools: {available}")]
    UnknownTool {
        skill: String,
        tool: String,
        available: String,
    },
    #[error("`{name}` is not a tool name: use SKILL.TOOL, e.g. cluster.summary")]
    BadToolName { name: String },
    #[error("invalid input for {tool}: {message}")]
    InvalidInput { tool: String, message: String },
    #[error("{tool}: stopped after using its CPU budget of {limit:?} (infinite loop?)")]
    CpuTimeExceeded { tool: String, limit: Duration },
    #[error("{tool}: did not finish within the wall-time limit of {limit:?}")]
    WallTimeExceeded { tool: String, limit: Duration },
    #[error("{tool}: stopped at its memory limit of {limit_mib} MiB")]
    MemoryExceeded { tool: String, limit_mib: usize },
    #[error("{tool}: exhausted the WebAssembly call stack (unbounded recursion?)")]
    StackExhausted { tool: String },
    #[error("{tool}: the skill crashed: {message}")]
    Trap { tool: String, message: String },
    #[error("{tool}: output of {bytes} bytes exceeds the limit of {limit} bytes")]
    OutputTooLarge {
        tool: String,
        bytes: usize,
        limit: usize,
    },
    #[error("{tool}: output is not valid JSON: {message}")]
    InvalidOutput { tool: String, message: String },
    #[error("{tool}: {message}")]
    ToolFailed { tool: String, message: String },
    #[error("{tool}: {message}")]
    HostError {
        tool: String,
        /// The host error kind the tool passed on (`denied`, `not-found`, …).
        kind: String,
        message: String,
    },
    #[error("{tool}: too many tool calls in flight")]
    Busy { tool: String },
    #[error("{tool}: internal error: {message}")]
    Internal { tool: String, message: String },
}

impl CallError {
    /// A stable machine-readable code for JSON output and exit statuses.
    pub fn code(&self) -> &'static str {
        match self {
            CallError::UnknownSkill { .. } => "unknown-skill",
            CallError::UnknownTool { .. } => "unknown-tool",
            CallError::BadToolName { .. } => "bad-tool-name",
            CallError::InvalidInput { .. } => "invalid-input",
            CallError::CpuTimeExceeded { .. } => "cpu-time-exceeded",
            CallError::WallTimeExceeded { .. } => "wall-time-exceeded",
            CallError::MemoryExceeded { .. } => "memory-exceeded",
            CallError::StackExhausted { .. } => "stack-exhausted",
            CallError::Trap { .. } => "trap",
            CallError::OutputTooLarge { .. } => "output-too-large",
            CallError::InvalidOutput { .. } => "invalid-output",
            CallError::ToolFailed { .. } => "tool-failed",
            CallError::HostError { .. } => "host-error",
            CallError::Busy { .. } => "busy",
            CallError::Internal { .. } => "internal",
        }
    }
}
