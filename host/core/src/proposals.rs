//! The session's propose-only sink for the runtime: a skill's
//! `actions.propose` lands here, and here only proposes.

use std::sync::Arc;

use guardian_actions::{ActionStore, Proposer};
use guardian_broker::{Broker, CallContext, ObjectRef};
use guardian_runtime::{Proposals, ProposeRefusal};

/// Proposals into an action store: dry run, pending action, nothing more.
pub struct StoreProposals {
    store: Arc<ActionStore>,
}

impl StoreProposals {
    pub fn new(store: Arc<ActionStore>) -> Self {
        Self { store }
    }
}

#[async_trait::async_trait]
impl Proposals for StoreProposals {
    async fn propose(
        &self,
        broker: &Broker,
        cx: &CallContext,
        target: &ObjectRef,
        json_patch: &str,
        rationale: &str,
    ) -> Result<String, ProposeRefusal> {
        let proposer = Proposer {
            caller: cx.caller.clone(),
            skill: cx.skill.clone(),
            tool: cx.tool.clone(),
        };
        guardian_actions::propose(
            &self.store,
            broker,
            cx,
            target,
            json_patch,
            rationale,
            proposer,
        )
        .await
        .map(|action| action.id)
        .map_err(|e| ProposeRefusal {
            kind: e.kind_str().to_owned(),
            message: e.to_string(),
        })
    }
}
