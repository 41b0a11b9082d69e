//! Who is asking: the caller, skill, tool and grants every decision sees,
//! and what one call has learned along the way.

use std::sync::Arc;

use serde::Serialize;

use crate::GrantSets;

/// Who is asking, carried into every decision (and, later, the policy input
/// and the audit log).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct CallContext {
    /// `human:alice`, `automation:ci`, `mcp:claude-desktop`, `agent`.
    pub caller: String,
    pub skill: String,
    pub tool: String,
    /// The skill's effective grants; policy allows reads and dry runs only
    /// within them. Callers that are not skills (capture, doctor) pass `*`.
    pub grants: GrantSets,
    /// What the broker learned during this call (one tool call, one host
    /// operation): the namespaces' labels, read once per call.
    #[serde(skip)]
    pub scope: CallScope,
}

/// What one call has learned about namespaces, kept for the rest of that
/// call: each namespace's labels (or why they could not be read), read the
/// first time the call writes there. Clones share it; a new
/// [`CallContext`] starts empty. It is not part of a call's identity
/// (every scope compares equal).
#[derive(Clone, Default)]
pub struct CallScope {
    labels: Arc<std::sync::Mutex<std::collections::HashMap<String, NamespaceLabels>>>,
}

/// A namespace's labels, or why they could not be read.
pub(crate) type NamespaceLabels = Result<std::collections::BTreeMap<String, String>, String>;

impl CallScope {
    pub(crate) fn get(&self, namespace: &str) -> Option<NamespaceLabels> {
        self.labels
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .get(namespace)
            .cloned()
    }

    pub(crate) fn put(&self, namespace: &str, labels: NamespaceLabels) {
        self.labels
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(namespace.to_owned(), labels);
    }
}

impl PartialEq for CallScope {
    fn eq(&self, _: &Self) -> bool {
        true
    }
}

impl Eq for CallScope {}

impl std::fmt::Debug for CallScope {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let n = self.labels.lock().map(|m| m.len()).unwrap_or(0);
        write!(f, "CallScope({n} namespaces)")
    }
}

impl CallContext {
    /// The host itself acting for the person at the CLI (`snapshot capture`,
    /// `doctor`): caller `human:cli`, skill `guardian`, every read granted
    /// (policy still decides each call).
    pub fn host(tool: &str) -> Self {
        Self::host_for("human:cli", tool)
    }

    /// The host itself acting for `caller` (`human:cli`,
    /// `automation:ci-bot`, `mcp:alice`): skill `guardian`, every read
    /// granted (policy still decides each call).
    pub fn host_for(caller: &str, tool: &str) -> Self {
        CallContext {
            caller: caller.into(),
            skill: "guardian".into(),
            tool: tool.into(),
            grants: GrantSets {
                read: vec!["*".into()],
                propose: Vec::new(),
            },
            scope: CallScope::default(),
        }
    }

    /// Guardian acting as itself (caller `system:guardian`, skill
    /// `guardian`), granted reads of `read` only.
    pub(crate) fn guardian(tool: &str, read: &[&str]) -> Self {
        CallContext {
            caller: "system:guardian".into(),
            skill: "guardian".into(),
            tool: tool.into(),
            grants: GrantSets {
                read: read.iter().map(|r| (*r).to_owned()).collect(),
                propose: Vec::new(),
            },
            scope: Default::default(),
        }
    }
}
