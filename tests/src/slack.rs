//! A loopback Slack Web API double: `chat.postMessage`, `chat.update` and
//! `chat.postEphemeral` with Slack's request shapes (a JSON body or a
//! form-encoded one, the token in `Authorization: Bearer` or a `token`
//! field) and its answers (`{"ok": true, …}`, `{"ok": false, "error":
//! "channel_not_found"}`, HTTP 429 with `Retry-After`), recording every
//! call; and the other direction, interaction payloads signed as Slack
//! signs them (`X-Slack-Signature: v0=HMAC-SHA256(v0:ts:body)`), sent to a
//! request URL.

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use serde_json::{Value, json};

/// One call the double received.
#[derive(Clone, Debug)]
pub struct Call {
    /// `chat.postMessage`
    pub method: String,
    /// The `Authorization` header as sent.
    pub authorization: Option<String>,
    pub content_type: String,
    /// The arguments: the JSON body, or the form fields (with `blocks`
    /// parsed from its JSON text).
    pub args: Value,
    /// What the double answered: its HTTP status and body.
    pub status: u16,
    pub answer: Value,
}

impl Call {
    /// The text of every block and the fallback text, joined: what a
    /// person would read.
    pub fn text(&self) -> String {
        let mut out = self.args["text"].as_str().unwrap_or("").to_owned();
        collect_text(&self.args["blocks"], &mut out);
        out
    }

    /// The value of the button whose `action_id` is `action_id`.
    pub fn button(&self, action_id: &str) -> Option<String> {
        self.args["blocks"]
            .as_array()?
            .iter()
            .filter(|b| b["type"] == "actions")
            .flat_map(|b| b["elements"].as_array().cloned().unwrap_or_default())
            .find(|e| e["action_id"] == action_id)
            .and_then(|e| e["value"].as_str().map(str::to_owned))
    }
}

fn collect_text(v: &Value, out: &mut String) {
    match v {
        Value::Object(m) => {
            for (k, x) in m {
                if k == "text"
                    && let Value::String(s) = x
                {
                    out.push('\n');
                    out.push_str(s);
                } else {
                    collect_text(x, out);
                }
            }
        }
        Value::Array(a) => a.iter().for_each(|x| collect_text(x, out)),
        _ => {}
    }
}

/// A scripted answer for the next call of a method.
#[derive(Clone, Debug)]
pub enum Scripted {
    /// HTTP 200 `{"ok": false, "error": CODE}`.
    Error(String),
    /// HTTP 429 with `Retry-After: SECONDS`.
    RateLimited(u64),
}

#[derive(Default)]
struct Inner {
    token: String,
    channels: Vec<String>,
    calls: Vec<Call>,
    scripted: HashMap<String, VecDeque<Scripted>>,
    next_ts: u64,
    /// (channel, ts) → the message as last posted or updated.
    messages: BTreeMap<(String, String), Value>,
}

/// The running double; stops when dropped.
pub struct SlackDouble {
    /// The Web API base URL to configure (`http://127.0.0.1:PORT/api`).
    pub url: String,
    inner: Arc<Mutex<Inner>>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for SlackDouble {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl SlackDouble {
    /// A workspace whose bot token is `token` and whose bot is in
    /// `channels`.
    pub async fn start(token: &str, channels: &[&str]) -> SlackDouble {
        let inner = Arc::new(Mutex::new(Inner {
            token: token.to_owned(),
            channels: channels.iter().map(|c| (*c).to_owned()).collect(),
            next_ts: 1,
            ..Default::default()
        }));
        let app = Router::new()
            .route("/api/{method}", post(api))
            .with_state(Arc::clone(&inner));
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let task = tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        SlackDouble {
            url: format!("http://{addr}/api"),
            inner,
            task,
        }
    }

    /// The next call of `method` gets `answer` (queued, in order).
    pub fn script(&self, method: &str, answer: Scripted) {
        self.inner
            .lock()
            .unwrap()
            .scripted
            .entry(method.to_owned())
            .or_default()
            .push_back(answer);
    }

    /// Every call so far, in order.
    pub fn calls(&self) -> Vec<Call> {
        self.inner.lock().unwrap().calls.clone()
    }

    /// The calls of `method` so far.
    pub fn calls_of(&self, method: &str) -> Vec<Call> {
        self.calls()
            .into_iter()
            .filter(|c| c.method == method)
            .collect()
    }

    /// The message at `channel`/`ts` as it stands (posted, then updated).
    pub fn message(&self, channel: &str, ts: &str) -> Option<Value> {
        self.inner
            .lock()
            .unwrap()
            .messages
            .get(&(channel.to_owned(), ts.to_owned()))
            .cloned()
    }

    /// Waits (polling) until `done` holds for the calls, or `timeout`.
    pub async fn wait_for(&self, timeout: Duration, done: impl Fn(&[Call]) -> bool) -> bool {
        let deadline = Instant::now() + timeout;
        loop {
            if done(&self.calls()) {
                return true;
            }
            if Instant::now() > deadline {
                return false;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}

fn form_args(body: &[u8]) -> Value {
    let mut args = serde_json::Map::new();
    for (k, v) in url::form_urlencoded::parse(body) {
        let v = if k == "blocks" || k == "attachments" {
            serde_json::from_str(&v).unwrap_or(Value::String(v.into_owned()))
        } else {
            Value::String(v.into_owned())
        };
        args.insert(k.into_owned(), v);
    }
    Value::Object(args)
}

async fn api(
    State(inner): State<Arc<Mutex<Inner>>>,
    Path(method): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let header = |n: &str| {
        headers
            .get(n)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned)
    };
    let content_type = header("content-type").unwrap_or_default();
    let args = if content_type.starts_with("application/json") {
        serde_json::from_slice(&body).unwrap_or(Value::Null)
    } else {
        form_args(&body)
    };
    let authorization = header("authorization");
    let mut inner = inner.lock().unwrap();
    let (status, retry_after, answer) = answer(&mut inner, &method, &authorization, &args);
    inner.calls.push(Call {
        method,
        authorization,
        content_type,
        args,
        status,
        answer: answer.clone(),
    });
    let mut response = (
        StatusCode::from_u16(status).unwrap(),
        [("content-type", "application/json; charset=utf-8")],
        answer.to_string(),
    )
        .into_response();
    if let Some(s) = retry_after {
        response
            .headers_mut()
            .insert("retry-after", s.to_string().parse().unwrap());
    }
    response
}

fn answer(
    inner: &mut Inner,
    method: &str,
    authorization: &Option<String>,
    args: &Value,
) -> (u16, Option<u64>, Value) {
    let error = |code: &str| (200, None, json!({"ok": false, "error": code}));
    if let Some(s) = inner.scripted.get_mut(method).and_then(VecDeque::pop_front) {
        return match s {
            Scripted::Error(code) => error(&code),
            Scripted::RateLimited(secs) => (
                429,
                Some(secs),
                json!({"ok": false, "error": "ratelimited"}),
            ),
        };
    }
    // Slack takes the token from the header, or from a `token` argument.
    let token = authorization
        .as_deref()
        .and_then(|h| h.strip_prefix("Bearer "))
        .map(str::to_owned)
        .or_else(|| args["token"].as_str().map(str::to_owned));
    match token {
        None => return error("not_authed"),
        Some(t) if t != inner.token => return error("invalid_auth"),
        _ => {}
    }
    let channel = args["channel"].as_str().unwrap_or("").to_owned();
    if !inner.channels.contains(&channel) {
        return error("channel_not_found");
    }
    match method {
        "chat.postMessage" => {
            if args["text"].as_str().is_none_or(str::is_empty) && !args["blocks"].is_array() {
                return error("no_text");
            }
            let ts = format!("1700000000.{:06}", inner.next_ts);
            inner.next_ts += 1;
            let message = json!({"type": "message", "text": args["text"], "blocks": args["blocks"],
                                 "thread_ts": args["thread_ts"], "ts": ts});
            inner
                .messages
                .insert((channel.clone(), ts.clone()), message.clone());
            (
                200,
                None,
                json!({"ok": true, "channel": channel, "ts": ts, "message": message}),
            )
        }
        "chat.update" => {
            let ts = args["ts"].as_str().unwrap_or("").to_owned();
            let key = (channel.clone(), ts.clone());
            let Some(message) = inner.messages.get_mut(&key) else {
                return error("message_not_found");
            };
            message["text"] = args["text"].clone();
            message["blocks"] = args["blocks"].clone();
            (
                200,
                None,
                json!({"ok": true, "channel": channel, "ts": ts, "text": args["text"]}),
            )
        }
        "chat.postEphemeral" => {
            if args["user"].as_str().is_none_or(str::is_empty) {
                return error("user_not_in_channel");
            }
            let ts = format!("1700000001.{:06}", inner.next_ts);
            inner.next_ts += 1;
            (200, None, json!({"ok": true, "message_ts": ts}))
        }
        _ => error("unknown_method"),
    }
}

/// `v0=<hex>`: Slack's signature of `body` sent at `timestamp`.
pub fn sign(secret: &str, timestamp: i64, body: &str) -> String {
    let key = ring::hmac::Key::new(ring::hmac::HMAC_SHA256, secret.as_bytes());
    let tag = ring::hmac::sign(&key, format!("v0:{timestamp}:{body}").as_bytes());
    let hex: String = tag.as_ref().iter().map(|b| format!("{b:02x}")).collect();
    format!("v0={hex}")
}

/// A `block_actions` payload as Slack sends it for a button click.
pub fn block_actions(
    user: &str,
    action_id: &str,
    value: &str,
    channel: &str,
    message_ts: &str,
    trigger: u64,
) -> Value {
    json!({
        "type": "block_actions",
        "user": {"id": user, "username": user.to_lowercase(), "team_id": "T0TEST"},
        "api_app_id": "A0GUARDIAN",
        "token": "verification-token-unused",
        "container": {"type": "message", "message_ts": message_ts, "channel_id": channel, "is_ephemeral": false},
        "trigger_id": format!("{trigger}.1.abc"),
        "team": {"id": "T0TEST", "domain": "test"},
        "channel": {"id": channel, "name": "ops"},
        "message": {"type": "message", "ts": message_ts},
        "response_url": "https://hooks.slack.invalid/actions/T0TEST/1/x",
        "actions": [{
            "action_id": action_id, "block_id": "decide", "value": value, "type": "button",
            "action_ts": format!("1700000100.{trigger:06}"),
        }],
    })
}

/// Sends `payload` to `url` as Slack does (`payload=<json>`, form-encoded)
/// signed with `secret` at `timestamp`; the HTTP status and body.
pub async fn send_interaction(
    url: &str,
    secret: &str,
    timestamp: i64,
    payload: &Value,
) -> (u16, String) {
    let body = url::form_urlencoded::Serializer::new(String::new())
        .append_pair("payload", &payload.to_string())
        .finish();
    let signature = sign(secret, timestamp, &body);
    send_raw(url, &timestamp.to_string(), &signature, body).await
}

/// Sends `body` with the given timestamp and signature headers as they are.
pub async fn send_raw(url: &str, timestamp: &str, signature: &str, body: String) -> (u16, String) {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let response = reqwest::Client::new()
        .post(url)
        .header("content-type", "application/x-www-form-urlencoded")
        .header("x-slack-request-timestamp", timestamp)
        .header("x-slack-signature", signature)
        .body(body)
        .send()
        .await
        .expect("the request URL answers");
    let status = response.status().as_u16();
    (status, response.text().await.unwrap_or_default())
}

/// Now, as Unix seconds.
pub fn now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64
}
