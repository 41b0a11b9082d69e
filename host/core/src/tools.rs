//! The skills' tools, as every front end lists and calls them.

use guardian_runtime::{CallError, Effect};
use serde_json::Value;

use crate::Session;

/// One tool as the front ends list it.
#[derive(Clone, Debug)]
pub struct ToolEntry {
    /// `skill.tool`
    pub name: String,
    pub skill: String,
    pub skill_version: String,
    pub description: String,
    pub input_schema: Value,
    pub effect: Effect,
}

impl Session {
    /// Every tool of every loaded skill, sorted by name.
    pub fn tools(&self) -> Vec<ToolEntry> {
        let mut out: Vec<ToolEntry> = self
            .runtime()
            .skills()
            .iter()
            .flat_map(|s| {
                s.tools.iter().map(|t| ToolEntry {
                    name: format!("{}.{}", s.manifest.name, t.name),
                    skill: s.manifest.name.clone(),
                    skill_version: s.manifest.version.clone(),
                    description: t.description.clone(),
                    input_schema: t.input_schema.clone(),
                    effect: t.effect,
                })
            })
            .collect();
        out.sort_by(|a, b| a.name.cmp(&b.name));
        out
    }

    /// The effect of `skill.tool`, if it exists.
    pub fn effect(&self, qualified: &str) -> Option<Effect> {
        let (skill, tool) = qualified.split_once('.')?;
        let skill = self.runtime().skill(skill)?;
        skill
            .tools
            .iter()
            .find(|t| t.name == tool)
            .map(|t| t.effect)
    }

    /// Calls `skill.tool` as `caller` with `input` (JSON text; empty means
    /// `{}`), validated against the tool's schema first.
    pub async fn call_tool(
        &self,
        caller: &str,
        tool: &str,
        input: &str,
    ) -> Result<Value, CallError> {
        let input = if input.trim().is_empty() { "{}" } else { input };
        let mut out = self.runtime().call(caller, tool, input).await?;
        // `argocd.drift` answers with the live side only; the host adds
        // Git's, whichever front end called it.
        if tool == crate::argocd::DRIFT {
            self.add_git_diff(caller, &mut out).await;
        }
        Ok(out)
    }
}
