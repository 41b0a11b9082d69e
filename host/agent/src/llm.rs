//! The model: Chat Completions with tool calling through async-openai, to
//! any OpenAI-compatible endpoint (OpenAI, Azure OpenAI's v1 API, vLLM,
//! Ollama, llama.cpp's server, LiteLLM). Requests and responses are kept as
//! JSON (async-openai's bring-your-own-types calls) so that servers which
//! add or omit fields still work. 429 and 5xx are retried with backoff.

use std::time::{Duration, Instant};

use async_openai::Client;
use async_openai::config::OpenAIConfig;
use async_openai::error::OpenAIError;
use futures::StreamExt;
use serde::Serialize;
use serde_json::{Value, json};

/// Which model, where, and how.
#[derive(Clone, Debug)]
pub struct LlmSettings {
    pub model: String,
    /// `https://api.openai.com/v1` when absent.
    pub base_url: Option<String>,
    pub api_key: Option<String>,
    /// Stream completions as server-sent events.
    pub stream: bool,
    pub temperature: Option<f32>,
    /// At most this many tokens in one completion (`max_tokens`).
    pub max_tokens: Option<u32>,
}

/// What the command line (or a request) overrides of the config's `llm:`.
#[derive(Clone, Debug, Default)]
pub struct LlmOverrides {
    pub model: Option<String>,
    pub base_url: Option<String>,
    pub api_key_env: Option<String>,
    pub no_stream: bool,
}

impl LlmSettings {
    /// The settings the config's `llm:` and the overrides name, and the
    /// name of the variable the key was read from; `None` when no model
    /// is named (the built-in reasoner answers). The key comes from the
    /// environment through `env`, never from the file.
    pub fn resolve(
        config: &crate::config::LlmConfig,
        overrides: &LlmOverrides,
        env: impl Fn(&str) -> Option<String>,
    ) -> Option<(LlmSettings, String)> {
        let model = overrides.model.clone().or(config.model.clone())?;
        let key_env = overrides
            .api_key_env
            .clone()
            .or(config.api_key_env.clone())
            .unwrap_or_else(|| "OPENAI_API_KEY".into());
        let settings = LlmSettings {
            model,
            base_url: overrides.base_url.clone().or(config.base_url.clone()),
            api_key: env(&key_env).filter(|k| !k.is_empty()),
            stream: !overrides.no_stream && config.stream.unwrap_or(true),
            temperature: config.temperature,
            max_tokens: config.max_tokens,
        };
        Some((settings, key_env))
    }
}

/// One tool call the model asked for.
#[derive(Clone, Debug, Serialize)]
pub struct ToolCall {
    pub id: String,
    /// The wire name (`diagnostics__analyze`).
    pub name: String,
    /// The raw argument text, as the model wrote it (it may not be JSON).
    pub arguments: String,
}

/// Token usage the server reported.
#[derive(Clone, Copy, Debug, Default, Serialize)]
pub struct Usage {
    pub prompt_tokens: u64,
    pub completion_tokens: u64,
}

/// One completion.
#[derive(Clone, Debug, Serialize)]
pub struct Completion {
    pub content: Option<String>,
    pub tool_calls: Vec<ToolCall>,
    pub finish_reason: Option<String>,
    /// `None` when the server reported none (then the loop estimates).
    pub usage: Option<Usage>,
    /// Attempts that failed with 429/5xx before this one.
    pub retries: u32,
    pub response_model: Option<String>,
    pub response_id: Option<String>,
}

impl Completion {
    /// The assistant message to append to the conversation.
    pub fn message(&self) -> Value {
        let mut m = json!({"role": "assistant", "content": self.content});
        if !self.tool_calls.is_empty() {
            m["tool_calls"] = self
                .tool_calls
                .iter()
                .map(|c| {
                    json!({"id": c.id, "type": "function",
                           "function": {"name": c.name, "arguments": c.arguments}})
                })
                .collect();
        }
        m
    }
}

/// Why no completion came back.
#[derive(Debug, thiserror::Error)]
pub enum LlmError {
    /// The server answered with an error status; `message` is what its
    /// body says, read from whichever shape it has.
    #[error("{}", describe_status(*status, message))]
    Status { status: u16, message: String },
    #[error("cannot reach the model endpoint: {0}")]
    Transport(String),
    #[error("the model endpoint did not answer within {0:?}")]
    Timeout(Duration),
    #[error("the model endpoint sent something that is not a chat completion: {0}")]
    Decode(String),
    #[error("cancelled")]
    Cancelled,
}

impl LlmError {
    /// 429, 5xx, and a connection that failed: worth another attempt.
    pub fn retryable(&self) -> bool {
        match self {
            LlmError::Status { status, .. } => *status == 429 || *status >= 500,
            LlmError::Transport(_) | LlmError::Timeout(_) => true,
            LlmError::Decode(_) | LlmError::Cancelled => false,
        }
    }
}

/// How long one attempt may take and how often to retry.
#[derive(Clone, Copy, Debug)]
pub struct RetryPolicy {
    pub timeout: Duration,
    pub max_retries: u32,
    /// The first retry's delay; doubled each time, at most 8 s.
    pub retry_base: Duration,
}

/// The client.
#[derive(Clone)]
pub struct LlmClient {
    client: Client<OpenAIConfig>,
    pub settings: LlmSettings,
}

impl LlmClient {
    pub fn new(settings: LlmSettings) -> Self {
        crate::install_crypto_provider();
        let mut config = OpenAIConfig::new();
        if let Some(url) = &settings.base_url {
            config = config.with_api_base(url.trim_end_matches('/'));
        }
        // A local server (vLLM, Ollama) needs no key; send a placeholder so
        // no header is malformed.
        config = config.with_api_key(settings.api_key.clone().unwrap_or_default());
        // The plain transport, without async-openai's own retry layer: the
        // loop retries (and counts, and reports) 429 and 5xx itself. It
        // reads an error answer's body itself: providers differ in its shape.
        let transport = Transport {
            http: reqwest::Client::new(),
        };
        LlmClient {
            client: Client::with_config(config).with_http_service(transport),
            settings,
        }
    }

    /// The endpoint, for messages and traces.
    pub fn endpoint(&self) -> String {
        self.settings
            .base_url
            .clone()
            .unwrap_or_else(|| "https://api.openai.com/v1".into())
    }

    /// One completion, retried on 429/5xx as `policy` says, each attempt
    /// bounded by its timeout. `on_retry` hears of each failed attempt.
    pub async fn complete(
        &self,
        messages: &[Value],
        tools: &[Value],
        policy: &RetryPolicy,
        cancel: &tokio_util::sync::CancellationToken,
        on_retry: &(dyn Fn(u32, &LlmError, Duration) + Send + Sync),
    ) -> Result<Completion, LlmError> {
        let RetryPolicy {
            timeout,
            max_retries,
            retry_base,
        } = *policy;
        let mut request = json!({
            "model": self.settings.model,
            "messages": messages,
        });
        if !tools.is_empty() {
            request["tools"] = Value::Array(tools.to_vec());
            request["tool_choice"] = json!("auto");
        }
        if let Some(t) = self.settings.temperature {
            request["temperature"] = json!(t);
        }
        if let Some(n) = self.settings.max_tokens {
            request["max_tokens"] = json!(n);
        }
        if self.settings.stream {
            request["stream"] = json!(true);
            request["stream_options"] = json!({"include_usage": true});
        }
        let mut attempt = 0u32;
        loop {
            let once = async {
                if self.settings.stream {
                    self.stream_once(&request).await
                } else {
                    self.once(&request).await
                }
            };
            let result = tokio::select! {
                _ = cancel.cancelled() => return Err(LlmError::Cancelled),
                r = tokio::time::timeout(timeout, once) => r.unwrap_or(Err(LlmError::Timeout(timeout))),
            };
            match result {
                Ok(mut c) => {
                    c.retries = attempt;
                    return Ok(c);
                }
                Err(e) if e.retryable() && attempt < max_retries => {
                    let delay = retry_base
                        .saturating_mul(1 << attempt.min(5))
                        .min(Duration::from_secs(8));
                    on_retry(attempt + 1, &e, delay);
                    attempt += 1;
                    tokio::select! {
                        _ = cancel.cancelled() => return Err(LlmError::Cancelled),
                        _ = tokio::time::sleep(delay) => {}
                    }
                }
                Err(e) => return Err(e),
            }
        }
    }

    async fn once(&self, request: &Value) -> Result<Completion, LlmError> {
        let response: Value = self
            .client
            .chat()
            .create_byot(request)
            .await
            .map_err(map_error)?;
        parse_response(&response)
    }

    async fn stream_once(&self, request: &Value) -> Result<Completion, LlmError> {
        let mut stream = self
            .client
            .chat()
            .create_stream_byot::<&Value, Value>(request)
            .await
            .map_err(map_error)?;
        let mut acc = StreamAccumulator::default();
        while let Some(chunk) = stream.next().await {
            acc.add(&chunk.map_err(map_error)?);
        }
        acc.finish()
    }
}

/// One HTTP exchange with the model server. A non-2xx answer becomes a
/// [`Refusal`] carrying the status and the message its body holds, before
/// async-openai tries (and fails) to read the body as OpenAI's own shape.
#[derive(Clone)]
struct Transport {
    http: reqwest::Client,
}

/// A non-2xx answer: the status and what the body says.
#[derive(Debug, thiserror::Error)]
#[error("HTTP {status}: {message}")]
struct Refusal {
    status: u16,
    message: String,
}

/// At most this much of an error body is read.
const ERROR_BODY_LIMIT: usize = 64 * 1024;

impl tower_service::Service<async_openai::middleware::HttpRequestFactory> for Transport {
    type Response = reqwest::Response;
    type Error = OpenAIError;
    type Future = std::pin::Pin<
        Box<dyn std::future::Future<Output = Result<reqwest::Response, OpenAIError>> + Send>,
    >;

    fn poll_ready(
        &mut self,
        _: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Result<(), OpenAIError>> {
        std::task::Poll::Ready(Ok(()))
    }

    fn call(&mut self, factory: async_openai::middleware::HttpRequestFactory) -> Self::Future {
        let http = self.http.clone();
        Box::pin(async move {
            let request = factory.build().await?;
            let mut response = http.execute(request).await.map_err(OpenAIError::Reqwest)?;
            if response.status().is_success() {
                return Ok(response);
            }
            let status = response.status().as_u16();
            let mut body = Vec::new();
            while body.len() < ERROR_BODY_LIMIT {
                match response.chunk().await {
                    Ok(Some(chunk)) => body.extend_from_slice(&chunk),
                    Ok(None) | Err(_) => break,
                }
            }
            Err(OpenAIError::Boxed(Box::new(Refusal {
                status,
                message: error_message(&String::from_utf8_lossy(&body)),
            })))
        })
    }
}

/// What an error body says, in whichever shape the server wrote it:
/// OpenAI's `{"error": {"message", "type", "code"}}` (llama.cpp, vLLM and
/// others send `code` as a number), `{"error": "text"}`, `{"message": …}`,
/// `{"detail": …}`, or plain text.
pub fn error_message(body: &str) -> String {
    let body = body.trim();
    if body.is_empty() {
        return "(no explanation in the response)".into();
    }
    let Ok(v) = serde_json::from_str::<Value>(body) else {
        return clip(&body.split_whitespace().collect::<Vec<_>>().join(" "), 600);
    };
    let text = |v: &Value| -> Option<String> {
        match v {
            Value::String(s) if !s.trim().is_empty() => Some(s.trim().to_owned()),
            Value::Null => None,
            Value::String(_) => None,
            other => Some(other.to_string()),
        }
    };
    let error = &v["error"];
    let message = match error {
        Value::Object(e) => e
            .get("message")
            .and_then(text)
            .or_else(|| e.get("msg").and_then(text))
            .or_else(|| Some(error.to_string())),
        other => text(other),
    }
    .or_else(|| text(&v["message"]))
    .or_else(|| text(&v["detail"]))
    .unwrap_or_else(|| v.to_string());
    clip(&message, 600)
}

/// How a status answer reads to a person.
fn describe_status(status: u16, message: &str) -> String {
    let what = match status {
        429 => "the model server is rate limiting the requests",
        500..=599 => "the model server failed",
        _ => "the model server refused the request",
    };
    let hint = match status {
        401 | 403 => " (check the API key: --api-key-env names the variable that holds it)",
        404 => " (check --base-url, which usually ends in /v1, and --model)",
        _ => "",
    };
    format!("{what} (HTTP {status}): {message}{hint}")
}

fn map_error(e: OpenAIError) -> LlmError {
    match e {
        OpenAIError::Boxed(boxed) => match boxed.downcast::<Refusal>() {
            Ok(r) => LlmError::Status {
                status: r.status,
                message: r.message,
            },
            Err(other) => LlmError::Transport(other.to_string()),
        },
        OpenAIError::ApiError(r) => LlmError::Status {
            status: r.status_code.as_u16(),
            message: r.api_error.message,
        },
        OpenAIError::Reqwest(e) => match e.status() {
            Some(s) => LlmError::Status {
                status: s.as_u16(),
                message: e.to_string(),
            },
            None => LlmError::Transport(e.to_string()),
        },
        OpenAIError::JSONDeserialize(e, body) => {
            LlmError::Decode(format!("{e}: {}", clip(&body, 300)))
        }
        OpenAIError::StreamError(e) => {
            let text = e.to_string();
            // eventsource reports a non-2xx answer as an invalid status.
            match status_in(&text) {
                Some(status) => LlmError::Status {
                    status,
                    message: clip(&text, 300),
                },
                None => LlmError::Transport(clip(&text, 300)),
            }
        }
        other => LlmError::Transport(other.to_string()),
    }
}

fn status_in(text: &str) -> Option<u16> {
    text.split(|c: char| !c.is_ascii_digit())
        .filter_map(|w| w.parse::<u16>().ok())
        .find(|n| (400..600).contains(n))
}

fn clip(s: &str, n: usize) -> String {
    if s.len() <= n {
        return s.to_owned();
    }
    let mut cut = n;
    while !s.is_char_boundary(cut) {
        cut -= 1;
    }
    format!("{}…", &s[..cut])
}

fn usage_of(v: &Value) -> Option<Usage> {
    let u = v.get("usage").filter(|u| u.is_object())?;
    Some(Usage {
        prompt_tokens: u["prompt_tokens"].as_u64().unwrap_or(0),
        completion_tokens: u["completion_tokens"].as_u64().unwrap_or(0),
    })
}

/// An error object sent in place of a completion (with status 200, or as
/// an event of a stream): its status (the `code` when it is one, else 500)
/// and message.
fn inline_error(v: &Value) -> Option<LlmError> {
    let error = v.get("error").filter(|e| !e.is_null())?;
    let code = &error["code"];
    let status = code
        .as_u64()
        .or_else(|| code.as_str().and_then(|c| c.trim().parse().ok()))
        .and_then(|c| u16::try_from(c).ok())
        .filter(|c| (400..600).contains(c))
        .unwrap_or(500);
    Some(LlmError::Status {
        status,
        message: error_message(&v.to_string()),
    })
}

/// A non-streamed `chat.completion`.
pub fn parse_response(v: &Value) -> Result<Completion, LlmError> {
    if v.get("choices").is_none()
        && let Some(e) = inline_error(v)
    {
        return Err(e);
    }
    let choice = v["choices"]
        .get(0)
        .ok_or_else(|| LlmError::Decode(format!("no choices in {}", clip(&v.to_string(), 300))))?;
    let message = &choice["message"];
    let tool_calls = message["tool_calls"]
        .as_array()
        .map(|calls| {
            calls
                .iter()
                .enumerate()
                .map(|(i, c)| ToolCall {
                    id: c["id"]
                        .as_str()
                        .map(str::to_owned)
                        .unwrap_or_else(|| format!("call_{i}")),
                    name: c["function"]["name"].as_str().unwrap_or("").to_owned(),
                    arguments: arguments_text(&c["function"]["arguments"]),
                })
                .collect()
        })
        .unwrap_or_default();
    Ok(Completion {
        content: message["content"]
            .as_str()
            .filter(|s| !s.is_empty())
            .map(str::to_owned),
        tool_calls,
        finish_reason: choice["finish_reason"].as_str().map(str::to_owned),
        usage: usage_of(v),
        retries: 0,
        response_model: v["model"].as_str().map(str::to_owned),
        response_id: v["id"].as_str().map(str::to_owned),
    })
}

/// Arguments are a JSON text; some servers send an object instead.
fn arguments_text(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        Value::Null => String::new(),
        other => other.to_string(),
    }
}

/// Builds one completion from `chat.completion.chunk`s: content appended,
/// tool calls assembled by index from their fragments, usage from the
/// final chunk.
#[derive(Default)]
pub struct StreamAccumulator {
    content: String,
    calls: Vec<(String, String, String)>,
    finish_reason: Option<String>,
    usage: Option<Usage>,
    model: Option<String>,
    id: Option<String>,
    chunks: usize,
    error: Option<LlmError>,
}

impl StreamAccumulator {
    pub fn add(&mut self, chunk: &Value) {
        self.chunks += 1;
        if self.error.is_none() {
            self.error = inline_error(chunk);
        }
        if let Some(u) = usage_of(chunk) {
            self.usage = Some(u);
        }
        if self.model.is_none() {
            self.model = chunk["model"].as_str().map(str::to_owned);
            self.id = chunk["id"].as_str().map(str::to_owned);
        }
        let Some(choice) = chunk["choices"].get(0) else {
            return;
        };
        if let Some(r) = choice["finish_reason"].as_str() {
            self.finish_reason = Some(r.to_owned());
        }
        let delta = &choice["delta"];
        if let Some(text) = delta["content"].as_str() {
            self.content.push_str(text);
        }
        for call in delta["tool_calls"].as_array().into_iter().flatten() {
            let index = call["index"].as_u64().unwrap_or(0) as usize;
            if index > 128 {
                continue;
            }
            while self.calls.len() <= index {
                self.calls.push(Default::default());
            }
            let slot = &mut self.calls[index];
            if let Some(id) = call["id"].as_str() {
                slot.0 = id.to_owned();
            }
            if let Some(name) = call["function"]["name"].as_str() {
                slot.1.push_str(name);
            }
            slot.2
                .push_str(&arguments_text(&call["function"]["arguments"]));
        }
    }

    pub fn finish(self) -> Result<Completion, LlmError> {
        if let Some(e) = self.error {
            return Err(e);
        }
        if self.chunks == 0 {
            return Err(LlmError::Decode("the stream ended without a chunk".into()));
        }
        Ok(Completion {
            content: Some(self.content).filter(|s| !s.is_empty()),
            tool_calls: self
                .calls
                .into_iter()
                .enumerate()
                .filter(|(_, c)| !c.1.is_empty())
                .map(|(i, (id, name, arguments))| ToolCall {
                    id: if id.is_empty() {
                        format!("call_{i}")
                    } else {
                        id
                    },
                    name,
                    arguments,
                })
                .collect(),
            finish_reason: self.finish_reason,
            usage: self.usage,
            retries: 0,
            response_model: self.model,
            response_id: self.id,
        })
    }
}

/// Seconds since `start`, for stats.
pub fn since_ms(start: Instant) -> f64 {
    (start.elapsed().as_secs_f64() * 1e6).round() / 1e3
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stream_chunks_assemble_into_tool_calls() {
        let mut acc = StreamAccumulator::default();
        let chunks = [
            json!({"id":"c1","model":"m","choices":[{"index":0,"delta":{"role":"assistant","content":""}}]}),
            json!({"choices":[{"index":0,"delta":{"tool_calls":[{"index":0,"id":"call_a","type":"function","function":{"name":"cluster__summary","arguments":""}}]}}]}),
            json!({"choices":[{"index":0,"delta":{"tool_calls":[{"index":0,"function":{"arguments":"{\"name"}}]}}]}),
            json!({"choices":[{"index":0,"delta":{"tool_calls":[{"index":0,"function":{"arguments":"space\":\"shop\"}"}}]}}]}),
            json!({"choices":[{"index":0,"delta":{"tool_calls":[{"index":1,"id":"call_b","function":{"name":"cluster__events","arguments":"{}"}}]}}]}),
            json!({"choices":[{"index":0,"delta":{},"finish_reason":"tool_calls"}]}),
            json!({"choices":[],"usage":{"prompt_tokens":10,"completion_tokens":5,"total_tokens":15}}),
        ];
        for c in &chunks {
            acc.add(c);
        }
        let c = acc.finish().unwrap();
        assert_eq!(c.tool_calls.len(), 2);
        assert_eq!(c.tool_calls[0].id, "call_a");
        assert_eq!(c.tool_calls[0].arguments, "{\"namespace\":\"shop\"}");
        assert_eq!(c.tool_calls[1].name, "cluster__events");
        assert_eq!(c.finish_reason.as_deref(), Some("tool_calls"));
        assert_eq!(c.usage.unwrap().completion_tokens, 5);
        assert!(c.content.is_none());
    }

    #[test]
    fn settings_come_from_config_then_flags_and_the_key_from_the_named_variable() {
        let config = crate::config::LlmConfig {
            model: Some("from-config".into()),
            api_key_env: Some("MY_KEY".into()),
            stream: Some(false),
            ..Default::default()
        };
        let env = |k: &str| (k == "MY_KEY").then(|| "sk-1".to_owned());
        let (s, key_env) = LlmSettings::resolve(&config, &LlmOverrides::default(), env).unwrap();
        assert_eq!(
            (s.model.as_str(), key_env.as_str()),
            ("from-config", "MY_KEY")
        );
        assert_eq!(s.api_key.as_deref(), Some("sk-1"));
        assert!(!s.stream);
        let flags = LlmOverrides {
            model: Some("from-flag".into()),
            base_url: Some("http://localhost:11434/v1".into()),
            api_key_env: Some("OTHER".into()),
            no_stream: false,
        };
        let (s, _) = LlmSettings::resolve(&config, &flags, env).unwrap();
        assert_eq!(s.model, "from-flag");
        assert_eq!(s.api_key, None);
        assert!(
            LlmSettings::resolve(&Default::default(), &LlmOverrides::default(), env).is_none(),
            "no model named: the reasoner"
        );
    }

    /// A loopback server answering every request with `status`, `body`
    /// and `content_type`; its base URL.
    async fn answering(status: u16, content_type: &'static str, body: &'static str) -> String {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move {
            while let Ok((mut stream, _)) = listener.accept().await {
                tokio::spawn(async move {
                    // The request: headers, then content-length bytes.
                    let mut seen = Vec::new();
                    let mut buf = [0u8; 4096];
                    loop {
                        let n = stream.read(&mut buf).await.unwrap_or(0);
                        if n == 0 {
                            return;
                        }
                        seen.extend_from_slice(&buf[..n]);
                        let text = String::from_utf8_lossy(&seen).to_ascii_lowercase();
                        if let Some(end) = text.find("\r\n\r\n") {
                            let length: usize = text
                                .lines()
                                .find_map(|l| l.strip_prefix("content-length:"))
                                .and_then(|v| v.trim().parse().ok())
                                .unwrap_or(0);
                            if seen.len() >= end + 4 + length {
                                break;
                            }
                        }
                    }
                    let reason = if status == 200 { "OK" } else { "Error" };
                    let answer = format!(
                        "HTTP/1.1 {status} {reason}\r\ncontent-type: {content_type}\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
                        body.len()
                    );
                    let _ = stream.write_all(answer.as_bytes()).await;
                    let _ = stream.shutdown().await;
                });
            }
        });
        format!("http://{addr}/v1")
    }

    async fn error_of(base_url: String, stream: bool) -> LlmError {
        let client = LlmClient::new(LlmSettings {
            model: "m".into(),
            base_url: Some(base_url),
            api_key: None,
            stream,
            temperature: None,
            max_tokens: None,
        });
        let policy = RetryPolicy {
            timeout: Duration::from_secs(20),
            max_retries: 0,
            retry_base: Duration::from_millis(1),
        };
        let messages = [json!({"role": "user", "content": "hi"})];
        client
            .complete(&messages, &[], &policy, &Default::default(), &|_, _, _| {})
            .await
            .expect_err("an error answer")
    }

    #[tokio::test]
    async fn error_bodies_of_every_shape_are_shown_plainly() {
        let schema = "JSON schema error at #/properties/json_patch/items: schema must be an object";
        let cases: [(u16, &str, &'static str, String); 6] = [
            (
                400,
                "application/json",
                r#"{"error":{"code":400,"message":"JSON schema error at #/properties/json_patch/items: schema must be an object","type":"invalid_request_error"}}"#,
                format!("the model server refused the request (HTTP 400): {schema}"),
            ),
            (
                400,
                "application/json",
                r#"{"error":{"code":"400","message":"the request exceeds the available context size","type":"exceed_context_size_error"}}"#,
                "the model server refused the request (HTTP 400): the request exceeds the available context size".into(),
            ),
            (
                422,
                "application/json",
                r#"{"error":"tools[0].function.parameters: unsupported keyword"}"#,
                "the model server refused the request (HTTP 422): tools[0].function.parameters: unsupported keyword".into(),
            ),
            (
                400,
                "text/plain",
                "Bad Request:\n  model `m` is not loaded\n",
                "the model server refused the request (HTTP 400): Bad Request: model `m` is not loaded".into(),
            ),
            (
                404,
                "application/json",
                r#"{"object":"error","message":"The model `m` does not exist.","code":404}"#,
                "the model server refused the request (HTTP 404): The model `m` does not exist. (check --base-url, which usually ends in /v1, and --model)".into(),
            ),
            (
                503,
                "text/html",
                "<html>upstream unavailable</html>",
                "the model server failed (HTTP 503): <html>upstream unavailable</html>".into(),
            ),
        ];
        for (status, content_type, body, want) in cases {
            for stream in [false, true] {
                let e = error_of(answering(status, content_type, body).await, stream).await;
                assert!(
                    matches!(&e, LlmError::Status { status: s, .. } if *s == status),
                    "{body} (stream {stream}): {e:?}"
                );
                assert_eq!(e.to_string(), want, "{body} (stream {stream})");
            }
        }
    }

    #[tokio::test]
    async fn an_error_inside_a_stream_or_a_200_is_an_error() {
        let e = error_of(
            answering(
                200,
                "text/event-stream",
                "data: {\"error\":{\"code\":500,\"message\":\"slot unavailable\",\"type\":\"server_error\"}}\n\n",
            )
            .await,
            true,
        )
        .await;
        assert_eq!(
            e.to_string(),
            "the model server failed (HTTP 500): slot unavailable"
        );
        let e = error_of(
            answering(
                200,
                "application/json",
                r#"{"error":{"code":"429","message":"slow down"}}"#,
            )
            .await,
            false,
        )
        .await;
        assert_eq!(
            e.to_string(),
            "the model server is rate limiting the requests (HTTP 429): slow down"
        );
    }

    #[test]
    fn retryable_statuses() {
        let s = |status| LlmError::Status {
            status,
            message: String::new(),
        };
        assert!(s(429).retryable());
        assert!(s(503).retryable());
        assert!(!s(400).retryable());
        assert!(!s(401).retryable());
        assert_eq!(
            status_in("Invalid status code: 429 Too Many Requests"),
            Some(429)
        );
    }
}
