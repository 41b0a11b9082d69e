//! The agent's sections of the operator config file (`llm:` and `agent:`);
//! the file itself is read by the session.

use serde::Deserialize;

/// The model `guardian ask` talks to. No model: the built-in reasoner.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LlmConfig {
    pub model: Option<String>,
    pub base_url: Option<String>,
    /// The name of the environment variable that holds the API key
    /// [default: OPENAI_API_KEY]. The key itself is never in the file.
    pub api_key_env: Option<String>,
    pub stream: Option<bool>,
    pub temperature: Option<f32>,
    /// At most this many tokens in one completion [default: the server's].
    pub max_tokens: Option<u32>,
}

/// The agent loop's guards; every field has a default.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AgentConfig {
    pub max_tool_calls: Option<u32>,
    pub token_budget: Option<u64>,
    pub tool_output_kib: Option<usize>,
    #[serde(default)]
    pub tool_output_kib_per_tool: std::collections::BTreeMap<String, usize>,
    pub summarize_after_tokens: Option<u64>,
    pub timeout_seconds: Option<f64>,
    pub llm_timeout_seconds: Option<f64>,
    pub max_retries: Option<u32>,
}
