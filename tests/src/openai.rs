//! A loopback OpenAI-compatible Chat Completions server that replays a
//! scripted, tool-calling conversation.
//!
//! A [`Script`] (one YAML file per conversation in `tests/llm/`, see
//! [`llm_script`]) lists the turns of the model: each request to
//! `POST /v1/chat/completions` (or `/chat/completions`) is answered by the
//! next turn, speaking the real wire format — a `chat.completion` object, or
//! with `"stream": true` a `text/event-stream` of `chat.completion.chunk`
//! objects ending with `data: [DONE]` — so a client such as `async-openai`
//! pointed at [`OpenAiServer::base_url`] talks to it exactly as to OpenAI,
//! vLLM or Ollama.
//!
//! ```yaml
//! description: a successful multi-step diagnosis
//! require_api_key: sk-test          # optional: else 401 (not counted as a turn)
//! turns:
//!   - expect:                       # optional checks of the request this turn answers
//!       tools_include: [diagnostics__analyze]   # function names offered in `tools`
//!       tools_exclude: [actions__approve]       # function names NOT offered
//!       last_role: tool                         # role of the last message
//!       last_message_contains: ["CrashLoopBackOff"]
//!       any_message_contains: ["shop"]
//!     status: 429                   # optional: an OpenAI error instead of a reply
//!     retry_after: 1                # optional `Retry-After` (seconds), with `status`
//!     body: '{"error": "text"}'     # optional: the error answer's body as-is, with `status`
//!     content_type: text/plain      # optional, with `body` [default: application/json]
//!     repeat: false                 # true: this turn answers every later request too
//!     reply:                        # required unless `status` is given
//!       content: "text"
//!       tool_calls:
//!         - id: call_1              # default `call_<turn>_<index>`
//!           name: diagnostics__analyze
//!           arguments: '{"namespace":"shop"}'   # sent as-is (default `{}`)
//!     usage: {prompt_tokens: 812, completion_tokens: 40}   # default: bytes / 4
//! ```
//!
//! Turns are numbered from 1 in [`OpenAiServer::mismatches`] and in default
//! tool-call ids; the tool-call index (0-based, the `index` of the streamed
//! deltas) completes the id: the first call of the first turn is `call_1_0`.
//! When a `repeat` turn answers again, its default ids get the answer's
//! ordinal appended (`call_3_0_2`, `call_3_0_3`, …) so ids stay unique.
//!
//! The server never panics on a bad request: failed expectations, requests
//! after the last turn (answered 500, `script exhausted after N turns`),
//! bodies that are not a JSON object (answered 400) and unknown paths
//! (answered 404) are recorded in [`OpenAiServer::mismatches`] for the test to
//! assert on. A request rejected for its API key is answered 401 and recorded
//! in [`OpenAiServer::requests`] but is neither a turn nor a mismatch.
//!
//! Error turns answer `{"error": {"message", "type", "param": null, "code"}}`
//! with `type` `rate_limit_error` and `code` `rate_limit_exceeded` for 429,
//! `invalid_request_error` for other 4xx and `server_error` for 5xx; they use
//! up their turn, so the client's retry gets the next one.

use std::future::IntoFuture;
use std::io;
use std::net::{Ipv4Addr, SocketAddr};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::{SystemTime, UNIX_EPOCH};

use axum::Router;
use axum::body::{Body, Bytes};
use axum::extract::{DefaultBodyLimit, State};
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, Uri, header};
use axum::response::Response;
use axum::routing::post;
use serde::Deserialize;
use serde_json::{Value, json};

/// `REPO_ROOT/tests/llm/<name>.yaml`: the script of recorded conversation
/// `name`.
pub fn llm_script(name: &str) -> PathBuf {
    PathBuf::from(crate::REPO_ROOT)
        .join("tests/llm")
        .join(format!("{name}.yaml"))
}

/// A scripted conversation: the model's turns, in order. See the
/// [module documentation](self) for the format.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Script {
    description: String,
    require_api_key: Option<String>,
    turns: Vec<Turn>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
struct Turn {
    expect: Option<Expect>,
    status: Option<u16>,
    retry_after: Option<u64>,
    body: Option<String>,
    content_type: Option<String>,
    #[serde(default)]
    repeat: bool,
    reply: Option<Reply>,
    usage: Option<Usage>,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct Expect {
    #[serde(default)]
    tools_include: Vec<String>,
    #[serde(default)]
    tools_exclude: Vec<String>,
    last_role: Option<String>,
    #[serde(default)]
    last_message_contains: Vec<String>,
    #[serde(default)]
    any_message_contains: Vec<String>,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct Reply {
    content: Option<String>,
    #[serde(default)]
    tool_calls: Vec<ToolCall>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
struct ToolCall {
    id: Option<String>,
    name: String,
    #[serde(default = "empty_arguments")]
    arguments: String,
}

fn empty_arguments() -> String {
    "{}".to_owned()
}

#[derive(Debug, Clone, Copy, Deserialize)]
#[serde(deny_unknown_fields)]
struct Usage {
    prompt_tokens: u64,
    completion_tokens: u64,
}

impl Script {
    /// Reads and checks the script at `path` (errors name the file).
    pub fn load(path: impl AsRef<Path>) -> Result<Script, String> {
        let path = path.as_ref();
        let yaml = std::fs::read_to_string(path)
            .map_err(|e| format!("reading {}: {e}", path.display()))?;
        Script::from_yaml(&yaml).map_err(|e| format!("{}: {e}", path.display()))
    }

    /// Parses and checks a script.
    pub fn from_yaml(yaml: &str) -> Result<Script, String> {
        let script: Script = serde_yaml::from_str(yaml).map_err(|e| e.to_string())?;
        script.validate()?;
        Ok(script)
    }

    /// What the conversation is about.
    pub fn description(&self) -> &str {
        &self.description
    }

    fn validate(&self) -> Result<(), String> {
        let count = self.turns.len();
        for (index, turn) in self.turns.iter().enumerate() {
            let number = index + 1;
            match (turn.status, &turn.reply) {
                (Some(status), _) if !(400..=599).contains(&status) => {
                    return Err(format!("turn {number}: status {status} is not 4xx or 5xx"));
                }
                (Some(_), Some(_)) => {
                    return Err(format!("turn {number}: both `status` and `reply`"));
                }
                (Some(_), None) if turn.usage.is_some() => {
                    return Err(format!("turn {number}: `usage` with an error `status`"));
                }
                (None, None) => {
                    return Err(format!("turn {number}: needs `reply` or `status`"));
                }
                _ => {}
            }
            if turn.retry_after.is_some() && turn.status.is_none() {
                return Err(format!("turn {number}: `retry_after` without `status`"));
            }
            if turn.body.is_some() && turn.status.is_none() {
                return Err(format!("turn {number}: `body` without `status`"));
            }
            if turn.content_type.is_some() && turn.body.is_none() {
                return Err(format!("turn {number}: `content_type` without `body`"));
            }
            if turn.repeat && number < count {
                return Err(format!(
                    "turn {number} repeats forever: the turns after it are unreachable"
                ));
            }
            let mut calls = turn.reply.iter().flat_map(|reply| &reply.tool_calls);
            if calls.any(|call| call.name.is_empty()) {
                return Err(format!("turn {number}: a tool call without a name"));
            }
        }
        Ok(())
    }
}

/// A running loopback server replaying a [`Script`]. It stops when dropped.
pub struct OpenAiServer {
    addr: SocketAddr,
    shared: Arc<Shared>,
    stop: Stop,
}

enum Stop {
    /// Served by a task of the caller's runtime.
    Task(tokio::task::AbortHandle),
    /// Served by a thread running its own runtime.
    Thread {
        stop: Option<tokio::sync::oneshot::Sender<()>>,
        thread: Option<std::thread::JoinHandle<()>>,
    },
}

impl OpenAiServer {
    /// Binds `127.0.0.1:0` and serves `script` in a task of the current tokio
    /// runtime.
    pub async fn start(script: Script) -> io::Result<OpenAiServer> {
        let listener = tokio::net::TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).await?;
        let addr = listener.local_addr()?;
        let shared = Shared::new(script);
        let app = router(Arc::clone(&shared));
        let task = tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        Ok(OpenAiServer {
            addr,
            shared,
            stop: Stop::Task(task.abort_handle()),
        })
    }

    /// Like [`OpenAiServer::start`] but from a non-async context: binds
    /// `127.0.0.1:0` and serves `script` on a thread with its own runtime,
    /// stopped and joined when the server is dropped.
    pub fn start_blocking(script: Script) -> io::Result<OpenAiServer> {
        let listener = std::net::TcpListener::bind((Ipv4Addr::LOCALHOST, 0))?;
        listener.set_nonblocking(true)?;
        let addr = listener.local_addr()?;
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()?;
        let listener = {
            let _context = runtime.enter();
            tokio::net::TcpListener::from_std(listener)?
        };
        let shared = Shared::new(script);
        let app = router(Arc::clone(&shared));
        let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
        let thread = std::thread::Builder::new()
            .name(format!("openai-server-{}", addr.port()))
            .spawn(move || {
                runtime.block_on(async move {
                    tokio::select! {
                        _ = axum::serve(listener, app).into_future() => {}
                        _ = stop_rx => {}
                    }
                });
                // Dropping the runtime here ends the open connections.
            })?;
        Ok(OpenAiServer {
            addr,
            shared,
            stop: Stop::Thread {
                stop: Some(stop_tx),
                thread: Some(thread),
            },
        })
    }

    /// `http://127.0.0.1:PORT/v1`, the client's base URL.
    pub fn base_url(&self) -> String {
        format!("http://{}/v1", self.addr)
    }

    /// The address the server listens on.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// The bodies of the requests received, in order (a body that is not JSON
    /// as a JSON string).
    pub fn requests(&self) -> Vec<Value> {
        self.shared.log().requests.clone()
    }

    /// The `Authorization` header of each of [`OpenAiServer::requests`].
    pub fn authorizations(&self) -> Vec<Option<String>> {
        self.shared.log().authorizations.clone()
    }

    /// Failed expectations and unexpected requests, in order, each starting
    /// with `turn N (request M): `, or `request M: ` when no turn answered it.
    pub fn mismatches(&self) -> Vec<String> {
        self.shared.log().mismatches.clone()
    }

    /// How many of the script's turns have answered a request (a `repeat`
    /// turn counts once).
    pub fn turns_used(&self) -> usize {
        self.shared
            .log()
            .answered
            .iter()
            .filter(|&&n| n > 0)
            .count()
    }
}

impl Drop for OpenAiServer {
    fn drop(&mut self) {
        match &mut self.stop {
            Stop::Task(task) => task.abort(),
            Stop::Thread { stop, thread } => {
                if let Some(stop) = stop.take() {
                    let _ = stop.send(());
                }
                if let Some(thread) = thread.take() {
                    let _ = thread.join();
                }
            }
        }
    }
}

fn router(shared: Arc<Shared>) -> Router {
    Router::new()
        .route("/v1/chat/completions", post(chat_completions))
        .route("/chat/completions", post(chat_completions))
        .fallback(unknown_path)
        .layer(DefaultBodyLimit::disable())
        .with_state(shared)
}

async fn chat_completions(
    State(shared): State<Arc<Shared>>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    shared.answer(&headers, &body)
}

async fn unknown_path(State(shared): State<Arc<Shared>>, method: Method, uri: Uri) -> Response {
    let message = format!("unexpected request {method} {uri}");
    shared.log().mismatches.push(message.clone());
    error_response(StatusCode::NOT_FOUND, &message, None)
}

struct Shared {
    script: Script,
    log: Mutex<Log>,
}

#[derive(Default)]
struct Log {
    /// The index of the turn answering the next request.
    next: usize,
    /// How many requests each turn has answered.
    answered: Vec<usize>,
    requests: Vec<Value>,
    authorizations: Vec<Option<String>>,
    mismatches: Vec<String>,
    /// Completions sent, for their ids.
    completions: usize,
}

impl Shared {
    fn new(script: Script) -> Arc<Shared> {
        let log = Log {
            answered: vec![0; script.turns.len()],
            ..Log::default()
        };
        Arc::new(Shared {
            script,
            log: Mutex::new(log),
        })
    }

    fn log(&self) -> MutexGuard<'_, Log> {
        self.log.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn answer(&self, headers: &HeaderMap, body: &[u8]) -> Response {
        let authorization = headers
            .get(header::AUTHORIZATION)
            .map(|value| String::from_utf8_lossy(value.as_bytes()).into_owned());
        let parsed = serde_json::from_slice::<Value>(body);
        let mut log = self.log();
        log.requests.push(match &parsed {
            Ok(value) => value.clone(),
            Err(_) => Value::String(String::from_utf8_lossy(body).into_owned()),
        });
        log.authorizations.push(authorization.clone());
        let request_number = log.requests.len();

        let request = match parsed {
            Ok(request) if request.is_object() => request,
            other => {
                let message = match other {
                    Err(e) => format!("the body is not JSON: {e}"),
                    Ok(_) => "the body is not a JSON object".to_owned(),
                };
                log.mismatches
                    .push(format!("request {request_number}: {message}"));
                return error_response(StatusCode::BAD_REQUEST, &message, None);
            }
        };

        if let Some(key) = &self.script.require_api_key
            && authorization.as_deref() != Some(format!("Bearer {key}").as_str())
        {
            return error_response(
                StatusCode::UNAUTHORIZED,
                "Incorrect API key provided.",
                None,
            );
        }

        let count = self.script.turns.len();
        if log.next >= count {
            let message = format!("script exhausted after {count} turns");
            log.mismatches.push(format!(
                "turn {} (request {request_number}): {message}",
                count + 1
            ));
            return error_response(StatusCode::INTERNAL_SERVER_ERROR, &message, None);
        }
        let index = log.next;
        let turn = &self.script.turns[index];
        if !turn.repeat {
            log.next += 1;
        }
        log.answered[index] += 1;
        let ordinal = log.answered[index];
        let number = index + 1;
        let prefix = format!("turn {number} (request {request_number})");

        if let Some(expect) = &turn.expect {
            for failure in expect.check(&request) {
                log.mismatches.push(format!("{prefix}: {failure}"));
            }
        }

        if let Some(status) = turn.status {
            let status = StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
            if let Some(body) = &turn.body {
                let mut response = Response::new(Body::from(body.clone()));
                *response.status_mut() = status;
                let content_type = turn.content_type.as_deref().unwrap_or("application/json");
                if let Ok(value) = HeaderValue::from_str(content_type) {
                    response.headers_mut().insert(header::CONTENT_TYPE, value);
                }
                return response;
            }
            let message = if status == StatusCode::TOO_MANY_REQUESTS {
                format!("Rate limit reached (scripted at turn {number})")
            } else {
                format!("scripted HTTP {} at turn {number}", status.as_u16())
            };
            return error_response(status, &message, turn.retry_after);
        }

        log.completions += 1;
        let completion = Completion::new(
            format!("chatcmpl-{}", log.completions),
            &request,
            body.len(),
            turn,
            number,
            ordinal,
        );
        drop(log);

        if request["stream"].as_bool() == Some(true) {
            let include_usage = request["stream_options"]["include_usage"].as_bool() == Some(true);
            let mut events = String::new();
            for chunk in completion.chunks(include_usage) {
                events.push_str("data: ");
                events.push_str(&chunk.to_string());
                events.push_str("\n\n");
            }
            events.push_str("data: [DONE]\n\n");
            let mut response = Response::new(Body::from(events));
            let headers = response.headers_mut();
            headers.insert(
                header::CONTENT_TYPE,
                HeaderValue::from_static("text/event-stream"),
            );
            headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
            response
        } else {
            json_response(StatusCode::OK, &completion.object())
        }
    }
}

impl Expect {
    /// What `request` fails of these expectations.
    fn check(&self, request: &Value) -> Vec<String> {
        let mut failures = Vec::new();
        let offered: Vec<&str> = request["tools"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|tool| tool["function"]["name"].as_str())
            .collect();
        for name in &self.tools_include {
            if !offered.contains(&name.as_str()) {
                failures.push(format!(
                    "tool `{name}` is not offered (offered: {offered:?})"
                ));
            }
        }
        for name in &self.tools_exclude {
            if offered.contains(&name.as_str()) {
                failures.push(format!("tool `{name}` is offered but must not be"));
            }
        }

        let messages: &[Value] = request["messages"].as_array().map_or(&[], Vec::as_slice);
        let last = messages.last();
        if let Some(role) = &self.last_role {
            let actual = last.and_then(|message| message["role"].as_str());
            if actual != Some(role.as_str()) {
                failures.push(format!(
                    "the last message's role is {actual:?}, expected `{role}`"
                ));
            }
        }
        let last_text = last.map(message_text).unwrap_or_default();
        for needle in &self.last_message_contains {
            if !last_text.contains(needle.as_str()) {
                failures.push(format!(
                    "the last message does not contain {needle:?}: {:?}",
                    excerpt(&last_text)
                ));
            }
        }
        for needle in &self.any_message_contains {
            if !messages
                .iter()
                .any(|message| message_text(message).contains(needle.as_str()))
            {
                failures.push(format!("no message contains {needle:?}"));
            }
        }
        failures
    }
}

/// A message's content: a string, or the `text` of its content parts, one a
/// line; empty when null.
fn message_text(message: &Value) -> String {
    match &message["content"] {
        Value::String(text) => text.clone(),
        Value::Array(parts) => parts
            .iter()
            .filter_map(|part| part["text"].as_str())
            .collect::<Vec<_>>()
            .join("\n"),
        _ => String::new(),
    }
}

fn excerpt(text: &str) -> String {
    const MAX: usize = 200;
    match text.char_indices().nth(MAX) {
        Some((end, _)) => format!("{}…", &text[..end]),
        None => text.to_owned(),
    }
}

/// A reply ready to be written as a completion or as chunks.
struct Completion<'a> {
    id: String,
    created: u64,
    model: Value,
    content: Option<&'a str>,
    /// Id, name and arguments of each tool call.
    calls: Vec<(String, &'a str, &'a str)>,
    prompt_tokens: u64,
    completion_tokens: u64,
}

impl<'a> Completion<'a> {
    fn new(
        id: String,
        request: &Value,
        request_bytes: usize,
        turn: &'a Turn,
        number: usize,
        ordinal: usize,
    ) -> Completion<'a> {
        static NO_REPLY: Reply = Reply {
            content: None,
            tool_calls: Vec::new(),
        };
        let reply = turn.reply.as_ref().unwrap_or(&NO_REPLY);
        let calls: Vec<_> = reply
            .tool_calls
            .iter()
            .enumerate()
            .map(|(i, call)| {
                let id = match (&call.id, ordinal) {
                    (Some(id), _) => id.clone(),
                    (None, 1) => format!("call_{number}_{i}"),
                    (None, n) => format!("call_{number}_{i}_{n}"),
                };
                (id, call.name.as_str(), call.arguments.as_str())
            })
            .collect();
        let reply_bytes = reply.content.as_deref().map_or(0, str::len)
            + calls
                .iter()
                .map(|(_, name, arguments)| name.len() + arguments.len())
                .sum::<usize>();
        let usage = turn.usage.unwrap_or(Usage {
            prompt_tokens: (request_bytes / 4) as u64,
            completion_tokens: (reply_bytes / 4) as u64,
        });
        let model = match &request["model"] {
            Value::String(model) => Value::String(model.clone()),
            _ => Value::String(String::new()),
        };
        Completion {
            id,
            created: SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .map_or(0, |d| d.as_secs()),
            model,
            content: reply.content.as_deref(),
            calls,
            prompt_tokens: usage.prompt_tokens,
            completion_tokens: usage.completion_tokens,
        }
    }

    fn finish_reason(&self) -> &'static str {
        if self.calls.is_empty() {
            "stop"
        } else {
            "tool_calls"
        }
    }

    fn usage(&self) -> Value {
        json!({
            "prompt_tokens": self.prompt_tokens,
            "completion_tokens": self.completion_tokens,
            "total_tokens": self.prompt_tokens + self.completion_tokens,
        })
    }

    /// The `chat.completion` object.
    fn object(&self) -> Value {
        let mut message = json!({"role": "assistant", "content": self.content});
        if !self.calls.is_empty() {
            message["tool_calls"] = self
                .calls
                .iter()
                .map(|(id, name, arguments)| {
                    json!({
                        "id": id,
                        "type": "function",
                        "function": {"name": name, "arguments": arguments},
                    })
                })
                .collect();
        }
        json!({
            "id": self.id,
            "object": "chat.completion",
            "created": self.created,
            "model": self.model,
            "system_fingerprint": SYSTEM_FINGERPRINT,
            "choices": [{
                "index": 0,
                "message": message,
                "finish_reason": self.finish_reason(),
                "logprobs": null,
            }],
            "usage": self.usage(),
        })
    }

    /// The `chat.completion.chunk` objects of the stream.
    fn chunks(&self, include_usage: bool) -> Vec<Value> {
        let chunk = |delta: Value, finish_reason: Option<&str>| {
            let mut chunk = json!({
                "id": self.id,
                "object": "chat.completion.chunk",
                "created": self.created,
                "model": self.model,
                "system_fingerprint": SYSTEM_FINGERPRINT,
                "choices": [{
                    "index": 0,
                    "delta": delta,
                    "logprobs": null,
                    "finish_reason": finish_reason,
                }],
            });
            if include_usage {
                chunk["usage"] = Value::Null;
            }
            chunk
        };

        let mut chunks = vec![chunk(json!({"role": "assistant", "content": ""}), None)];
        let content: Vec<char> = self.content.unwrap_or_default().chars().collect();
        for piece in content.chunks(CONTENT_PIECE) {
            let piece: String = piece.iter().collect();
            chunks.push(chunk(json!({"content": piece}), None));
        }
        for (index, (id, name, arguments)) in self.calls.iter().enumerate() {
            chunks.push(chunk(
                json!({"tool_calls": [{
                    "index": index,
                    "id": id,
                    "type": "function",
                    "function": {"name": name, "arguments": ""},
                }]}),
                None,
            ));
            for fragment in thirds(arguments) {
                chunks.push(chunk(
                    json!({"tool_calls": [{
                        "index": index,
                        "function": {"arguments": fragment},
                    }]}),
                    None,
                ));
            }
        }
        chunks.push(chunk(json!({}), Some(self.finish_reason())));
        if include_usage {
            let mut last = chunk(json!({}), None);
            last["choices"] = json!([]);
            last["usage"] = self.usage();
            chunks.push(last);
        }
        chunks
    }
}

const SYSTEM_FINGERPRINT: &str = "fp_guardian_replay";

/// The most characters of content in one streamed chunk.
const CONTENT_PIECE: usize = 8;

/// `text` cut in three roughly equal non-empty fragments (fewer when it is
/// shorter than three characters).
fn thirds(text: &str) -> Vec<&str> {
    let bounds: Vec<usize> = text.char_indices().map(|(i, _)| i).collect();
    let count = bounds.len();
    let at = |n: usize| bounds.get(n).copied().unwrap_or(text.len());
    let (first, second) = (at(count / 3), at(2 * count / 3));
    [&text[..first], &text[first..second], &text[second..]]
        .into_iter()
        .filter(|fragment| !fragment.is_empty())
        .collect()
}

fn json_response(status: StatusCode, body: &Value) -> Response {
    let mut response = Response::new(Body::from(body.to_string()));
    *response.status_mut() = status;
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    response
}

/// An OpenAI error object answered with `status`.
fn error_response(status: StatusCode, message: &str, retry_after: Option<u64>) -> Response {
    let (kind, code) = match status {
        StatusCode::TOO_MANY_REQUESTS => ("rate_limit_error", json!("rate_limit_exceeded")),
        StatusCode::UNAUTHORIZED => ("invalid_request_error", json!("invalid_api_key")),
        status if status.is_client_error() => ("invalid_request_error", Value::Null),
        _ => ("server_error", Value::Null),
    };
    let body = json!({
        "error": {"message": message, "type": kind, "param": null, "code": code},
    });
    let mut response = json_response(status, &body);
    if let Some(seconds) = retry_after {
        response
            .headers_mut()
            .insert(header::RETRY_AFTER, HeaderValue::from(seconds));
    }
    response
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;
    use std::time::Duration;

    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    use tokio::net::TcpStream;

    use super::*;

    /// A response read off the wire.
    struct Http {
        status: u16,
        headers: BTreeMap<String, String>,
        body: String,
    }

    impl Http {
        fn header(&self, name: &str) -> Option<&str> {
            self.headers.get(name).map(String::as_str)
        }

        fn json(&self) -> Value {
            assert_eq!(self.header("content-type"), Some("application/json"));
            serde_json::from_str(&self.body).expect("a JSON body")
        }

        /// The `data:` of each server-sent event.
        fn events(&self) -> Vec<String> {
            assert_eq!(self.header("content-type"), Some("text/event-stream"));
            assert!(self.body.ends_with("\n\n"), "{}", self.body);
            self.body
                .split_terminator("\n\n")
                .map(|event| {
                    event
                        .strip_prefix("data: ")
                        .unwrap_or_else(|| panic!("not a data event: {event:?}"))
                        .to_owned()
                })
                .collect()
        }
    }

    /// POSTs `body` to `path` with a raw HTTP/1.1 request.
    async fn post(addr: SocketAddr, path: &str, authorization: Option<&str>, body: &str) -> Http {
        let exchange = async {
            let mut stream = TcpStream::connect(addr).await.unwrap();
            let mut request = format!(
                "POST {path} HTTP/1.1\r\nHost: {addr}\r\nContent-Type: application/json\r\n\
                 Content-Length: {}\r\nConnection: close\r\n",
                body.len()
            );
            if let Some(authorization) = authorization {
                request.push_str(&format!("Authorization: {authorization}\r\n"));
            }
            request.push_str("\r\n");
            request.push_str(body);
            stream.write_all(request.as_bytes()).await.unwrap();
            let mut raw = Vec::new();
            stream.read_to_end(&mut raw).await.unwrap();
            raw
        };
        let raw = tokio::time::timeout(Duration::from_secs(30), exchange)
            .await
            .expect("the server answers");
        let raw = String::from_utf8(raw).expect("a UTF-8 response");
        let (head, rest) = raw.split_once("\r\n\r\n").expect("a header block");
        let mut lines = head.split("\r\n");
        let status = lines.next().unwrap().split(' ').nth(1).unwrap();
        let headers: BTreeMap<String, String> = lines
            .map(|line| {
                let (name, value) = line.split_once(':').unwrap();
                (name.to_ascii_lowercase(), value.trim().to_owned())
            })
            .collect();
        let body = if headers.get("transfer-encoding").map(String::as_str) == Some("chunked") {
            dechunk(rest)
        } else {
            let length: usize = headers["content-length"].parse().unwrap();
            assert_eq!(rest.len(), length);
            rest.to_owned()
        };
        Http {
            status: status.parse().unwrap(),
            headers,
            body,
        }
    }

    fn dechunk(mut rest: &str) -> String {
        let mut body = String::new();
        loop {
            let (size, after) = rest.split_once("\r\n").unwrap();
            let size = usize::from_str_radix(size.trim(), 16).unwrap();
            if size == 0 {
                return body;
            }
            body.push_str(&after[..size]);
            rest = &after[size + 2..];
        }
    }

    async fn chat(server: &OpenAiServer, request: &Value) -> Http {
        post(
            server.addr(),
            "/v1/chat/completions",
            None,
            &request.to_string(),
        )
        .await
    }

    fn request(tools: &[&str], messages: Value) -> Value {
        let tools: Vec<Value> = tools
            .iter()
            .map(|name| {
                json!({"type": "function", "function": {
                    "name": name,
                    "parameters": {"type": "object"},
                }})
            })
            .collect();
        json!({"model": "replay-model", "messages": messages, "tools": tools})
    }

    fn user(text: &str) -> Value {
        json!([{"role": "system", "content": "You are Guardian."}, {"role": "user", "content": text}])
    }

    const DIAGNOSIS: &str = r#"
description: analyze, then answer
turns:
  - reply:
      tool_calls:
        - name: diagnostics__analyze
          arguments: '{"namespace":"shop"}'
        - id: fixed
          name: diagnostics__logs
          arguments: '{"pod":"web-0","previous":true}'
  - reply:
      content: "The pod web-0 is in CrashLoopBackOff: the config is missing."
    usage: {prompt_tokens: 812, completion_tokens: 40}
"#;

    #[tokio::test]
    async fn a_tool_call_reply_is_a_chat_completion() {
        let server = OpenAiServer::start(Script::from_yaml(DIAGNOSIS).unwrap())
            .await
            .unwrap();
        assert!(server.base_url().starts_with("http://127.0.0.1:"));
        assert!(server.base_url().ends_with("/v1"));
        let first = request(&["diagnostics__analyze"], user("why is shop down?"));
        let response = chat(&server, &first).await;
        assert_eq!(response.status, 200);
        let body = response.json();
        assert_eq!(body["id"], "chatcmpl-1");
        assert_eq!(body["object"], "chat.completion");
        assert_eq!(body["model"], "replay-model");
        assert!(body["created"].as_u64().unwrap() > 1_600_000_000);
        assert!(body["system_fingerprint"].is_string());
        let choice = &body["choices"][0];
        assert_eq!(choice["index"], 0);
        assert_eq!(choice["finish_reason"], "tool_calls");
        assert!(choice["logprobs"].is_null());
        assert_eq!(choice["message"]["role"], "assistant");
        assert!(choice["message"]["content"].is_null());
        assert_eq!(
            choice["message"]["tool_calls"],
            json!([
                {"id": "call_1_0", "type": "function", "function": {
                    "name": "diagnostics__analyze", "arguments": "{\"namespace\":\"shop\"}"}},
                {"id": "fixed", "type": "function", "function": {
                    "name": "diagnostics__logs", "arguments": "{\"pod\":\"web-0\",\"previous\":true}"}},
            ])
        );
        let prompt = first.to_string().len() as u64 / 4;
        let completion = ("diagnostics__analyze{\"namespace\":\"shop\"}".len()
            + "diagnostics__logs{\"pod\":\"web-0\",\"previous\":true}".len())
            as u64
            / 4;
        assert_eq!(
            body["usage"],
            json!({"prompt_tokens": prompt, "completion_tokens": completion,
                   "total_tokens": prompt + completion})
        );

        // The second turn, on the path without `/v1`: text only.
        let response = post(
            server.addr(),
            "/chat/completions",
            None,
            &request(&[], user("go on")).to_string(),
        )
        .await;
        assert_eq!(response.status, 200);
        let body = response.json();
        assert_eq!(body["id"], "chatcmpl-2");
        let choice = &body["choices"][0];
        assert_eq!(choice["finish_reason"], "stop");
        assert_eq!(
            choice["message"],
            json!({"role": "assistant",
                   "content": "The pod web-0 is in CrashLoopBackOff: the config is missing."})
        );
        assert_eq!(
            body["usage"],
            json!({"prompt_tokens": 812, "completion_tokens": 40, "total_tokens": 852})
        );

        assert_eq!(server.turns_used(), 2);
        assert_eq!(server.requests().len(), 2);
        assert_eq!(server.requests()[0], first);
        assert_eq!(server.authorizations(), vec![None, None]);
        assert!(server.mismatches().is_empty(), "{:?}", server.mismatches());
    }

    #[tokio::test]
    async fn a_streamed_reply_is_a_chunk_stream() {
        let script = r#"
description: streamed text and two tool calls
turns:
  - reply:
      content: "Looking at the shop namespace…"
      tool_calls:
        - name: diagnostics__analyze
          arguments: '{"namespace":"shop","depth":2}'
        - name: k8s__get
          arguments: '{"kind":"Pod"}'
  - reply: {content: "done"}
"#;
        let server = OpenAiServer::start(Script::from_yaml(script).unwrap())
            .await
            .unwrap();
        let mut streamed = request(&["diagnostics__analyze", "k8s__get"], user("shop?"));
        streamed["stream"] = json!(true);
        streamed["stream_options"] = json!({"include_usage": true});
        let response = chat(&server, &streamed).await;
        assert_eq!(response.status, 200);
        let events = response.events();
        assert_eq!(events.last().unwrap(), "[DONE]");
        let chunks: Vec<Value> = events[..events.len() - 1]
            .iter()
            .map(|data| serde_json::from_str(data).unwrap())
            .collect();
        for chunk in &chunks {
            assert_eq!(chunk["id"], "chatcmpl-1");
            assert_eq!(chunk["object"], "chat.completion.chunk");
            assert_eq!(chunk["model"], "replay-model");
            assert_eq!(chunk["created"], chunks[0]["created"]);
        }
        let (usage, choices) = chunks.split_last().unwrap();
        assert_eq!(usage["choices"], json!([]));
        let prompt = streamed.to_string().len() as u64 / 4;
        assert_eq!(usage["usage"]["prompt_tokens"], prompt);
        assert_eq!(
            usage["usage"]["total_tokens"].as_u64().unwrap(),
            prompt + usage["usage"]["completion_tokens"].as_u64().unwrap()
        );
        assert!(choices.iter().all(|chunk| chunk["usage"].is_null()));
        assert!(choices.iter().all(|chunk| chunk.get("usage").is_some()));

        let deltas: Vec<&Value> = choices.iter().map(|c| &c["choices"][0]["delta"]).collect();
        assert_eq!(*deltas[0], json!({"role": "assistant", "content": ""}));
        let (finish, deltas) = deltas.split_last().unwrap();
        assert_eq!(**finish, json!({}));
        assert_eq!(
            choices.last().unwrap()["choices"][0]["finish_reason"],
            "tool_calls"
        );
        assert!(
            choices[..choices.len() - 1]
                .iter()
                .all(|c| c["choices"][0]["finish_reason"].is_null())
        );

        let mut content = String::new();
        let mut calls: BTreeMap<u64, (String, String, String)> = BTreeMap::new();
        let mut fragments = BTreeMap::<u64, usize>::new();
        for delta in &deltas[1..] {
            if let Some(piece) = delta["content"].as_str() {
                assert!(piece.chars().count() <= 8, "{piece:?}");
                content.push_str(piece);
            }
            for call in delta["tool_calls"].as_array().into_iter().flatten() {
                let index = call["index"].as_u64().unwrap();
                let entry = calls.entry(index).or_default();
                if let Some(id) = call["id"].as_str() {
                    assert_eq!(call["type"], "function");
                    assert_eq!(call["function"]["arguments"], "");
                    entry.0 = id.to_owned();
                    entry.1 = call["function"]["name"].as_str().unwrap().to_owned();
                } else {
                    assert!(call.get("type").is_none());
                    assert!(call["function"].get("name").is_none());
                    *fragments.entry(index).or_default() += 1;
                    entry
                        .2
                        .push_str(call["function"]["arguments"].as_str().unwrap());
                }
            }
        }
        assert_eq!(content, "Looking at the shop namespace…");
        assert_eq!(
            calls[&0],
            (
                "call_1_0".to_owned(),
                "diagnostics__analyze".to_owned(),
                r#"{"namespace":"shop","depth":2}"#.to_owned()
            )
        );
        assert_eq!(
            calls[&1],
            (
                "call_1_1".to_owned(),
                "k8s__get".to_owned(),
                r#"{"kind":"Pod"}"#.to_owned()
            )
        );
        assert_eq!(fragments, BTreeMap::from([(0, 3), (1, 3)]));

        // Without `include_usage`: no usage chunk and no `usage` keys.
        let mut plain = request(&[], user("and?"));
        plain["stream"] = json!(true);
        let events = chat(&server, &plain).await.events();
        assert_eq!(events.len(), 4, "{events:?}");
        assert_eq!(events[3], "[DONE]");
        let finish: Value = serde_json::from_str(&events[2]).unwrap();
        assert_eq!(finish["choices"][0]["finish_reason"], "stop");
        for data in &events[..3] {
            let chunk: Value = serde_json::from_str(data).unwrap();
            assert!(chunk.get("usage").is_none());
        }
        assert!(server.mismatches().is_empty(), "{:?}", server.mismatches());
    }

    #[tokio::test]
    async fn an_error_turn_uses_up_its_turn() {
        let script = r#"
description: rate limited, then a 503, then fine
turns:
  - status: 429
    retry_after: 1
  - status: 503
  - reply: {content: "ok"}
"#;
        let server = OpenAiServer::start(Script::from_yaml(script).unwrap())
            .await
            .unwrap();
        let hi = request(&[], user("hi"));
        let limited = chat(&server, &hi).await;
        assert_eq!(limited.status, 429);
        assert_eq!(limited.header("retry-after"), Some("1"));
        let error = &limited.json()["error"];
        assert_eq!(error["type"], "rate_limit_error");
        assert_eq!(error["code"], "rate_limit_exceeded");
        assert!(error["param"].is_null());
        assert!(error["message"].as_str().unwrap().contains("turn 1"));

        let unavailable = chat(&server, &hi).await;
        assert_eq!(unavailable.status, 503);
        assert_eq!(unavailable.header("retry-after"), None);
        let error = &unavailable.json()["error"];
        assert_eq!(error["type"], "server_error");
        assert!(error["code"].is_null());

        let ok = chat(&server, &hi).await;
        assert_eq!(ok.status, 200);
        assert_eq!(ok.json()["choices"][0]["message"]["content"], "ok");
        assert_eq!(server.turns_used(), 3);
        assert!(server.mismatches().is_empty(), "{:?}", server.mismatches());
    }

    #[tokio::test]
    async fn failed_expectations_are_recorded_per_turn() {
        let script = r#"
description: expectations
turns:
  - expect:
      tools_include: [diagnostics__analyze]
      tools_exclude: [actions__approve]
      last_role: user
      last_message_contains: ["shop"]
      any_message_contains: ["Guardian"]
    reply: {content: "first"}
  - expect:
      tools_include: [diagnostics__analyze, k8s__get]
      tools_exclude: [actions__approve]
      last_role: tool
      last_message_contains: ["CrashLoopBackOff"]
      any_message_contains: ["Guardian", "payments"]
    reply: {content: "second"}
"#;
        let server = OpenAiServer::start(Script::from_yaml(script).unwrap())
            .await
            .unwrap();
        let good = request(&["diagnostics__analyze"], user("what is wrong in shop?"));
        assert_eq!(chat(&server, &good).await.status, 200);
        assert!(server.mismatches().is_empty(), "{:?}", server.mismatches());

        // Failing expectations do not change the answer.
        let bad = request(
            &["diagnostics__analyze", "actions__approve"],
            json!([
                {"role": "system", "content": [{"type": "text", "text": "You are Guardian."}]},
                {"role": "user", "content": "shop?"},
                {"role": "assistant", "content": null, "tool_calls": []},
                {"role": "tool", "tool_call_id": "call_1_0", "content": "all pods Running"},
            ]),
        );
        let response = chat(&server, &bad).await;
        assert_eq!(response.status, 200);
        assert_eq!(
            response.json()["choices"][0]["message"]["content"],
            "second"
        );
        let mismatches = server.mismatches();
        assert_eq!(mismatches.len(), 4, "{mismatches:#?}");
        assert!(
            mismatches
                .iter()
                .all(|m| m.starts_with("turn 2 (request 2): "))
        );
        assert!(mismatches[0].contains("`k8s__get` is not offered"));
        assert!(mismatches[1].contains("`actions__approve` is offered"));
        assert!(mismatches[2].contains("\"CrashLoopBackOff\""));
        assert!(mismatches[2].contains("all pods Running"));
        assert!(mismatches[3].contains("no message contains \"payments\""));
    }

    #[tokio::test]
    async fn requests_after_the_last_turn_are_mismatches() {
        let script = "description: one turn\nturns:\n  - reply: {content: only}\n";
        let server = OpenAiServer::start(Script::from_yaml(script).unwrap())
            .await
            .unwrap();
        let hi = request(&[], user("hi"));
        assert_eq!(chat(&server, &hi).await.status, 200);
        let exhausted = chat(&server, &hi).await;
        assert_eq!(exhausted.status, 500);
        assert_eq!(
            exhausted.json(),
            json!({"error": {"message": "script exhausted after 1 turns",
                             "type": "server_error", "param": null, "code": null}})
        );
        assert_eq!(
            server.mismatches(),
            ["turn 2 (request 2): script exhausted after 1 turns"]
        );
        assert_eq!(server.turns_used(), 1);
        assert_eq!(server.requests().len(), 2);

        // Neither a body that is not JSON nor another path is a turn.
        let garbage = post(server.addr(), "/v1/chat/completions", None, "{not json").await;
        assert_eq!(garbage.status, 400);
        assert_eq!(garbage.json()["error"]["type"], "invalid_request_error");
        assert_eq!(server.requests()[2], json!("{not json"));
        let models = post(server.addr(), "/v1/embeddings", None, "{}").await;
        assert_eq!(models.status, 404);
        let mismatches = server.mismatches();
        assert_eq!(mismatches.len(), 3, "{mismatches:#?}");
        assert!(mismatches[1].starts_with("request 3: the body is not JSON"));
        assert_eq!(mismatches[2], "unexpected request POST /v1/embeddings");
    }

    #[tokio::test]
    async fn a_repeat_turn_answers_forever() {
        let script = r#"
description: a model that keeps calling the same tool
turns:
  - reply: {content: "start"}
  - repeat: true
    reply:
      tool_calls: [{name: k8s__get, arguments: '{"kind":"Pod"'}]
"#;
        let server = OpenAiServer::start(Script::from_yaml(script).unwrap())
            .await
            .unwrap();
        let hi = request(&["k8s__get"], user("hi"));
        chat(&server, &hi).await;
        let mut ids = Vec::new();
        for _ in 0..4 {
            let body = chat(&server, &hi).await.json();
            let call = &body["choices"][0]["message"]["tool_calls"][0];
            assert_eq!(call["function"]["arguments"], "{\"kind\":\"Pod\"");
            ids.push(call["id"].as_str().unwrap().to_owned());
        }
        assert_eq!(ids, ["call_2_0", "call_2_0_2", "call_2_0_3", "call_2_0_4"]);
        assert_eq!(server.turns_used(), 2);
        assert!(server.mismatches().is_empty(), "{:?}", server.mismatches());
    }

    #[tokio::test]
    async fn the_api_key_is_checked_when_required() {
        let script =
            "description: keyed\nrequire_api_key: sk-test\nturns:\n  - reply: {content: hi}\n";
        let server = OpenAiServer::start(Script::from_yaml(script).unwrap())
            .await
            .unwrap();
        let body = request(&[], user("hi")).to_string();
        let path = "/v1/chat/completions";
        let missing = post(server.addr(), path, None, &body).await;
        assert_eq!(missing.status, 401);
        assert_eq!(missing.json()["error"]["code"], "invalid_api_key");
        let wrong = post(server.addr(), path, Some("Bearer sk-nope"), &body).await;
        assert_eq!(wrong.status, 401);
        let right = post(server.addr(), path, Some("Bearer sk-test"), &body).await;
        assert_eq!(right.status, 200);
        assert_eq!(
            server.authorizations(),
            [
                None,
                Some("Bearer sk-nope".to_owned()),
                Some("Bearer sk-test".to_owned())
            ]
        );
        assert_eq!(server.turns_used(), 1);
        assert!(server.mismatches().is_empty(), "{:?}", server.mismatches());
    }

    #[test]
    fn the_blocking_server_runs_on_its_own_thread() {
        let script = Script::from_yaml(DIAGNOSIS).unwrap();
        let server = OpenAiServer::start_blocking(script).unwrap();
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        let response = runtime.block_on(chat(&server, &request(&[], user("hi"))));
        assert_eq!(response.status, 200);
        assert_eq!(server.turns_used(), 1);
        let addr = server.addr();
        drop(server);
        assert!(
            std::net::TcpStream::connect(addr).is_err(),
            "stopped on drop"
        );
    }

    #[test]
    fn bad_scripts_are_rejected() {
        let cases = [
            (
                "description: x\nturns: []\nextra: 1\n",
                "unknown field `extra`",
            ),
            (
                "description: x\nturns:\n  - reply: {text: hi}\n",
                "unknown field `text`",
            ),
            (
                "description: x\nturns:\n  - {}\n",
                "turn 1: needs `reply` or `status`",
            ),
            (
                "description: x\nturns:\n  - status: 200\n",
                "not 4xx or 5xx",
            ),
            (
                "description: x\nturns:\n  - {status: 500, reply: {content: a}}\n",
                "both `status` and `reply`",
            ),
            (
                "description: x\nturns:\n  - {retry_after: 1, reply: {content: a}}\n",
                "`retry_after` without `status`",
            ),
            (
                "description: x\nturns:\n  - {repeat: true, reply: {}}\n  - reply: {}\n",
                "turn 1 repeats forever",
            ),
            (
                "description: x\nturns:\n  - reply: {tool_calls: [{name: a, arguments: {b: 1}}]}\n",
                "invalid type",
            ),
        ];
        for (yaml, error) in cases {
            let got = Script::from_yaml(yaml).unwrap_err();
            assert!(got.contains(error), "{yaml:?}: {got}");
        }
        let script = Script::from_yaml("description: fine\nturns: []\n").unwrap();
        assert_eq!(script.description(), "fine");
        let missing = Script::load(llm_script("no-such-script")).unwrap_err();
        assert!(
            missing.contains("tests/llm/no-such-script.yaml"),
            "{missing}"
        );
    }

    #[test]
    fn the_recorded_scripts_parse() {
        let dir = PathBuf::from(crate::REPO_ROOT).join("tests/llm");
        let Ok(entries) = std::fs::read_dir(&dir) else {
            return;
        };
        for entry in entries {
            let path = entry.unwrap().path();
            if path.extension().is_some_and(|ext| ext == "yaml") {
                Script::load(&path).unwrap();
            }
        }
    }

    #[test]
    fn arguments_are_cut_in_three() {
        assert_eq!(thirds(r#"{"a":1}"#), [r#"{""#, r#"a""#, ":1}"]);
        assert_eq!(thirds("ab"), ["a", "b"]);
        assert!(thirds("").is_empty());
        assert_eq!(thirds("ééé").concat(), "ééé");
    }
}
