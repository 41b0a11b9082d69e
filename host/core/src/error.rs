//! Why an operation of the session failed, with a class every front end
//! maps to its own terms (a gRPC code, an MCP error, an exit status).

use guardian_actions::State;
use guardian_runtime::CallError;

use crate::actions::DecisionError;
use crate::diagnose::DiagnoseError;

/// An operation's failure: its class and the message for people.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct ServiceError {
    pub class: ErrorClass,
    pub message: String,
}

/// The classes of [`ServiceError`], named after the gRPC codes they map to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ErrorClass {
    Unauthenticated,
    PermissionDenied,
    InvalidArgument,
    NotFound,
    FailedPrecondition,
    ResourceExhausted,
    DeadlineExceeded,
    Unavailable,
    Internal,
}

impl ServiceError {
    pub fn new(class: ErrorClass, message: impl Into<String>) -> Self {
        Self {
            class,
            message: message.into(),
        }
    }

    /// The class of a tool call's error.
    pub fn from_call(err: &CallError) -> Self {
        let class = match err {
            CallError::UnknownSkill { .. } | CallError::UnknownTool { .. } => ErrorClass::NotFound,
            CallError::BadToolName { .. } | CallError::InvalidInput { .. } => {
                ErrorClass::InvalidArgument
            }
            CallError::CpuTimeExceeded { .. }
            | CallError::MemoryExceeded { .. }
            | CallError::StackExhausted { .. }
            | CallError::OutputTooLarge { .. }
            | CallError::Busy { .. } => ErrorClass::ResourceExhausted,
            CallError::WallTimeExceeded { .. } => ErrorClass::DeadlineExceeded,
            CallError::ToolFailed { .. } => ErrorClass::FailedPrecondition,
            CallError::HostError { kind, .. } => host_class(kind),
            CallError::Trap { .. }
            | CallError::InvalidOutput { .. }
            | CallError::Internal { .. } => ErrorClass::Internal,
        };
        Self::new(class, err.to_string())
    }
}

/// The class of a broker error kind (`denied`, `unavailable`, …).
pub fn host_class(kind: &str) -> ErrorClass {
    match kind {
        "denied" | "out-of-scope" => ErrorClass::PermissionDenied,
        "not-found" => ErrorClass::NotFound,
        "invalid" => ErrorClass::InvalidArgument,
        "conflict" => ErrorClass::FailedPrecondition,
        "unavailable" => ErrorClass::Unavailable,
        "timeout" => ErrorClass::DeadlineExceeded,
        "too-large" => ErrorClass::ResourceExhausted,
        _ => ErrorClass::Internal,
    }
}

impl From<CallError> for ServiceError {
    fn from(err: CallError) -> Self {
        Self::from_call(&err)
    }
}

impl From<DecisionError> for ServiceError {
    fn from(err: DecisionError) -> Self {
        let class = match err.class() {
            "not-found" => ErrorClass::NotFound,
            "invalid" => ErrorClass::InvalidArgument,
            "refused" => ErrorClass::FailedPrecondition,
            "unavailable" => ErrorClass::Unavailable,
            _ => ErrorClass::Internal,
        };
        Self::new(class, err.to_string())
    }
}

impl From<guardian_actions::ActionError> for ServiceError {
    fn from(err: guardian_actions::ActionError) -> Self {
        DecisionError::from(err).into()
    }
}

impl From<DiagnoseError> for ServiceError {
    fn from(err: DiagnoseError) -> Self {
        match &err {
            DiagnoseError::Call(e) => Self::from_call(e),
            DiagnoseError::NotRead { kind, message } => Self::new(
                match *kind {
                    "denied" | "out-of-scope" => ErrorClass::PermissionDenied,
                    "not-found" => ErrorClass::NotFound,
                    "timeout" => ErrorClass::DeadlineExceeded,
                    _ => ErrorClass::Unavailable,
                },
                message.clone(),
            ),
            DiagnoseError::Other(m) => Self::new(ErrorClass::Internal, m.clone()),
        }
    }
}

/// `""` (all) or a state name.
pub fn parse_state(state: &str) -> Result<Option<State>, ServiceError> {
    match state.trim() {
        "" => Ok(None),
        s => State::parse(&s.to_ascii_lowercase())
            .map(Some)
            .ok_or_else(|| {
                let names: Vec<&str> = State::ALL.iter().map(|s| s.as_str()).collect();
                ServiceError::new(
                    ErrorClass::InvalidArgument,
                    format!("unknown state {s:?}; expected one of {}", names.join(", ")),
                )
            }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn call_errors_map_to_classes() {
        let host = |kind: &str| CallError::HostError {
            tool: "cluster.get".into(),
            kind: kind.into(),
            message: "m".into(),
        };
        for (err, class) in [
            (
                CallError::UnknownTool {
                    skill: "cluster".into(),
                    tool: "x".into(),
                    available: String::new(),
                },
                ErrorClass::NotFound,
            ),
            (
                CallError::InvalidInput {
                    tool: "cluster.get".into(),
                    message: "field `name`".into(),
                },
                ErrorClass::InvalidArgument,
            ),
            (
                CallError::Busy {
                    tool: "cluster.get".into(),
                },
                ErrorClass::ResourceExhausted,
            ),
            (host("denied"), ErrorClass::PermissionDenied),
            (host("not-found"), ErrorClass::NotFound),
            (host("unavailable"), ErrorClass::Unavailable),
            (host("timeout"), ErrorClass::DeadlineExceeded),
            (
                CallError::Trap {
                    tool: "cluster.get".into(),
                    message: "unreachable".into(),
                },
                ErrorClass::Internal,
            ),
        ] {
            let mapped = ServiceError::from_call(&err);
            assert_eq!(mapped.class, class, "{err}");
            assert_eq!(mapped.message, err.to_string());
        }
        assert_eq!(parse_state("Pending").unwrap(), Some(State::Pending));
        assert_eq!(parse_state("").unwrap(), None);
        assert_eq!(
            parse_state("done").unwrap_err().class,
            ErrorClass::InvalidArgument
        );
    }
}
