//! `ask`: the agent loop on one question, for every front end. Which model
//! answers (or the built-in reasoner) and the guards are resolved here once,
//! from the config, the front end's overrides and the environment.

use std::time::Duration;

use guardian_agent::{
    CancellationToken, EventSink, Guards, LlmClient, LlmOverrides, LlmSettings, Mode, RunOutput,
};

use crate::config::Config;
use crate::{ErrorClass, ServiceError, Session};

/// Which model answers: the config's `llm:`, with these overrides.
#[derive(Clone, Debug, Default)]
pub struct ModelChoice {
    /// The built-in reasoner even when a model is configured.
    pub reasoner: bool,
    pub model: Option<String>,
    pub base_url: Option<String>,
    /// The environment variable holding the API key.
    pub api_key_env: Option<String>,
    pub no_stream: bool,
}

/// Overrides of the config's `agent:` guards.
#[derive(Clone, Debug, Default)]
pub struct GuardOverrides {
    pub max_tool_calls: Option<u32>,
    pub token_budget: Option<u64>,
    /// Seconds.
    pub timeout: Option<f64>,
}

/// One question.
#[derive(Clone, Debug, Default)]
pub struct AskRequest {
    pub question: String,
    /// The namespace a question that names no namespace or object is about
    /// [default: every namespace the caller may read; names in the question
    /// are found in whichever namespace holds them].
    pub namespace: Option<String>,
    /// Let the built-in reasoner store its fix as a pending action.
    pub propose: bool,
    /// Model mode: Guardian's brief (its own scan of the cluster) is given
    /// to the model as the first tool result.
    pub assist: bool,
    pub model: ModelChoice,
    pub guards: GuardOverrides,
}

/// The guards: defaults, the config's `agent:`, then the overrides.
pub fn guards(config: &Config, overrides: &GuardOverrides) -> Result<Guards, ServiceError> {
    let invalid = |m: String| ServiceError::new(ErrorClass::InvalidArgument, m);
    let mut g = Guards::from_config(&config.agent).map_err(invalid)?;
    if let Some(n) = overrides.max_tool_calls {
        if n < 1 {
            return Err(invalid("max tool calls: expected at least 1".into()));
        }
        g.max_tool_calls = n;
    }
    if let Some(n) = overrides.token_budget {
        g.token_budget = n.max(1);
    }
    if let Some(s) = overrides.timeout {
        g.timeout = Duration::try_from_secs_f64(s)
            .ok()
            .filter(|d| !d.is_zero())
            .ok_or_else(|| invalid("timeout: expected a positive number of seconds".into()))?;
    }
    Ok(g)
}

/// The model the choice and the config name, or the built-in reasoner.
pub fn mode(config: &Config, choice: &ModelChoice) -> Result<Mode, ServiceError> {
    if choice.reasoner {
        return Ok(Mode::Reasoner);
    }
    let overrides = LlmOverrides {
        model: choice.model.clone(),
        base_url: choice.base_url.clone(),
        api_key_env: choice.api_key_env.clone(),
        no_stream: choice.no_stream,
    };
    let Some((settings, key_env)) =
        LlmSettings::resolve(&config.llm, &overrides, |k| std::env::var(k).ok())
    else {
        return Ok(Mode::Reasoner);
    };
    if settings.api_key.is_none() && settings.base_url.is_none() {
        return Err(ServiceError::new(
            ErrorClass::FailedPrecondition,
            format!(
                "model {} at https://api.openai.com/v1 needs an API key: set {key_env}, or point --base-url at a local server (Ollama, vLLM, llama.cpp), or drop --model to use the built-in reasoner",
                settings.model
            ),
        ));
    }
    Ok(Mode::Llm(Box::new(LlmClient::new(settings))))
}

impl Session {
    /// Answers `request` with the agent loop. `on_behalf_of` names the API
    /// caller the agent works for (its tool calls are then made as
    /// `agent:reasoner(automation:ci)`); the CLI passes `None`. Events reach
    /// `sink` as they happen; `cancel` stops the run, which still reports.
    pub async fn ask(
        &self,
        on_behalf_of: Option<&str>,
        request: &AskRequest,
        sink: EventSink,
        cancel: CancellationToken,
    ) -> Result<RunOutput, ServiceError> {
        if request.question.trim().is_empty() {
            return Err(ServiceError::new(
                ErrorClass::InvalidArgument,
                "the question is empty: ask something, e.g. \"why is checkout failing in staging?\"",
            ));
        }
        let guards = guards(self.config(), &request.guards)?;
        let mode = mode(self.config(), &request.model)?;
        let caller = match on_behalf_of {
            Some(who) => format!("{}({who})", mode.caller()),
            None => mode.caller().to_owned(),
        };
        let mut agent = self.agent(
            mode,
            guards,
            &caller,
            request.propose,
            request.namespace.clone(),
        );
        agent.assist = request.assist;
        Ok(agent.run(&request.question, sink, cancel).await)
    }
}
