//! The one error type every broker call returns.
//!
//! Each variant is a *class* of failure that a caller (a skill, the agent loop,
//! an SRE at the CLI) can act on differently: retrying makes sense for
//! `Unavailable`/`Timeout`, never for `Invalid`/`Denied`. The message inside is
//! written for the person reading it: it names the object or file and says
//! what to do next, because that text ends up verbatim in tool output.

/// Why a broker call failed. The `String` is the full, human-readable message.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum BrokerError {
    /// The object, container, log or file asked for does not exist
    /// (HTTP 404 in API-server terms). Messages follow the API server's
    /// wording, e.g. `pods "x" not found in namespace "staging"`.
    #[error("{0}")]
    NotFound(String),
    /// The request itself is wrong: an unknown or ambiguous resource name, a
    /// selector that does not parse, a patch with a bad path, a missing
    /// container name (HTTP 400/422). Retrying the same request cannot help.
    #[error("{0}")]
    Invalid(String),
    /// The request is well-formed but contradicts the object's current state,
    /// e.g. a JSON Patch `test` operation that no longer holds (HTTP 409).
    /// Re-read the object and re-propose.
    #[error("{0}")]
    Conflict(String),
    /// The data exists in principle but cannot be reached: the API server is
    /// down, or a snapshot did not capture it (logs that could not be fetched
    /// when the dump was taken). Retrying later or re-capturing may help.
    #[error("{0}")]
    Unavailable(String),
    /// Policy or grants forbid the call (HTTP 403). The message says which
    /// rule or grant; asking again will not change the answer.
    #[error("{0}")]
    Denied(String),
    /// An answer or input exceeds a size limit (HTTP 413); narrow the request
    /// with a namespace, selector, limit or tail.
    #[error("{0}")]
    TooLarge(String),
    /// The backend did not answer in time (HTTP 504).
    #[error("{0}")]
    Timeout(String),
    /// A bug or an unexpected state inside Guardian itself (HTTP 500). Worth
    /// a bug report with the message.
    #[error("{0}")]
    Internal(String),
    /// The object lies outside the scope this Guardian reads: a node-mode
    /// daemon (`guardian serve --node NAME`) asked about a pod on another
    /// node. The message names both nodes; ask the other node's daemon, or
    /// a Guardian without `--node`.
    #[error("{0}")]
    OutOfScope(String),
}

impl BrokerError {
    /// A stable, machine-readable name of the class, used in tool errors,
    /// audit records and metrics labels.
    pub fn kind_str(&self) -> &'static str {
        match self {
            Self::NotFound(_) => "not-found",
            Self::Invalid(_) => "invalid",
            Self::Conflict(_) => "conflict",
            Self::Unavailable(_) => "unavailable",
            Self::Denied(_) => "denied",
            Self::TooLarge(_) => "too-large",
            Self::Timeout(_) => "timeout",
            Self::Internal(_) => "internal",
            Self::OutOfScope(_) => "out-of-scope",
        }
    }

    /// The message without the class, as shown to a person.
    pub fn message(&self) -> &str {
        match self {
            Self::NotFound(m)
            | Self::Invalid(m)
            | Self::Conflict(m)
            | Self::Unavailable(m)
            | Self::Denied(m)
            | Self::TooLarge(m)
            | Self::Timeout(m)
            | Self::Internal(m)
            | Self::OutOfScope(m) => m,
        }
    }

    /// Whether the same call may succeed if retried later unchanged.
    pub fn is_retryable(&self) -> bool {
        matches!(self, Self::Unavailable(_) | Self::Timeout(_))
    }
}

#[cfg(test)]
mod tests {
    use super::BrokerError;

    #[test]
    fn kind_strings_are_stable_and_display_is_the_message() {
        let cases = [
            (BrokerError::NotFound("a".into()), "not-found"),
            (BrokerError::Invalid("a".into()), "invalid"),
            (BrokerError::Conflict("a".into()), "conflict"),
            (BrokerError::Unavailable("a".into()), "unavailable"),
            (BrokerError::Denied("a".into()), "denied"),
            (BrokerError::TooLarge("a".into()), "too-large"),
            (BrokerError::Timeout("a".into()), "timeout"),
            (BrokerError::Internal("a".into()), "internal"),
            (BrokerError::OutOfScope("a".into()), "out-of-scope"),
        ];
        for (err, kind) in cases {
            assert_eq!(err.kind_str(), kind);
            assert_eq!(err.to_string(), "a");
            assert_eq!(err.message(), "a");
        }
        assert!(BrokerError::Timeout(String::new()).is_retryable());
        assert!(!BrokerError::Invalid(String::new()).is_retryable());
    }
}
