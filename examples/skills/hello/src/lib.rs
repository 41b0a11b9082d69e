//! `hello`: an example third-party Guardian skill. See `../README.md`.
//!
//! Two tools: `greet`, which needs nothing from the cluster, and
//! `pods-per-node`, which lists pods through the host (the only resource this
//! skill's `skill.toml` grants it) and counts them per node.

use std::collections::BTreeMap;

use guardian_skill_sdk::{Effect, ListOptions, Tool, ToolError, kube, log, skill};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::Value;

skill!(Greet, PodsPerNode);

/// Says hello.
pub struct Greet;

#[derive(Deserialize, JsonSchema)]
pub struct GreetInput {
    /// Who to greet.
    pub name: String,
}

#[derive(Serialize)]
pub struct GreetOutput {
    pub greeting: String,
}

impl Tool for Greet {
    const NAME: &'static str = "greet";
    const DESCRIPTION: &'static str = "Greets someone by name.";
    const EFFECT: Effect = Effect::Read;
    type Input = GreetInput;
    type Output = GreetOutput;

    fn run(input: GreetInput) -> Result<GreetOutput, ToolError> {
        if input.name.trim().is_empty() {
            return Err(ToolError::invalid_input("name: must not be empty"));
        }
        Ok(GreetOutput {
            greeting: format!("Hello, {}!", input.name.trim()),
        })
    }
}

/// Counts pods per node.
pub struct PodsPerNode;

#[derive(Deserialize, JsonSchema)]
pub struct PodsPerNodeInput {
    /// Only pods of this namespace; every namespace when absent.
    #[serde(default)]
    pub namespace: Option<String>,
}

#[derive(Serialize)]
pub struct PodsPerNodeOutput {
    /// Node name → number of pods scheduled on it.
    pub nodes: BTreeMap<String, usize>,
    /// Pods not scheduled on any node yet (Pending).
    pub unscheduled: usize,
    pub total: usize,
}

impl Tool for PodsPerNode {
    const NAME: &'static str = "pods-per-node";
    const DESCRIPTION: &'static str =
        "Counts the pods scheduled on each node, in one namespace or all of them.";
    const EFFECT: Effect = Effect::Read;
    type Input = PodsPerNodeInput;
    type Output = PodsPerNodeOutput;

    fn run(input: PodsPerNodeInput) -> Result<PodsPerNodeOutput, ToolError> {
        let options = ListOptions {
            namespace: input.namespace,
            ..Default::default()
        };
        // `?` passes a host error (denied, unavailable…) on to the caller.
        let pods = kube::list::<Value>("pods", &options)?;
        let mut nodes = BTreeMap::new();
        let mut unscheduled = 0;
        for pod in &pods.items {
            match pod["spec"]["nodeName"].as_str() {
                Some(node) => *nodes.entry(node.to_string()).or_default() += 1,
                None => unscheduled += 1,
            }
        }
        log::debug(format!(
            "{} pods on {} nodes",
            pods.items.len(),
            nodes.len()
        ));
        Ok(PodsPerNodeOutput {
            nodes,
            unscheduled,
            total: pods.items.len(),
        })
    }
}
