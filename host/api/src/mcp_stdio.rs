//! MCP over stdio: one JSON-RPC 2.0 message per line, with the replies
//! JSON-RPC requires for what is not a valid message.
//!
//! - A line that is not UTF-8 or not JSON: `-32700 Parse error`, id `null`.
//! - A line over [`MAX_LINE`]: discarded up to its newline, and answered
//!   `-32600 Invalid Request` (id `null`: the id was never read), so the
//!   client does not wait forever.
//! - JSON that is not a JSON-RPC 2.0 object (an array, a scalar, no
//!   `method`, `jsonrpc` not `"2.0"`, an id that is neither a string nor an
//!   integer): `-32600 Invalid Request`, with the request's id when it has
//!   a usable one.
//! - A request whose `params` is present and not an object (MCP's params
//!   always are), or does not fit its MCP method (`tools/call` without
//!   `params`): `-32602 Invalid params`, naming what is wrong. An unknown
//!   method is rmcp's to answer (`-32601`).
//! - A notification gets no reply, valid or not (JSON-RPC 2.0 §4.1).
//!
//! Everything else goes to rmcp. Every line out — rmcp's messages and these
//! replies — is written whole by one writer task, so lines never interleave.

use std::borrow::Cow;
use std::io;

use rmcp::RoleServer;
use rmcp::model::{ClientJsonRpcMessage, ClientRequest};
use rmcp::service::{RxJsonRpcMessage, TxJsonRpcMessage};
use serde::de::DeserializeOwned;
use serde_json::{Value, json};
use tokio::io::{AsyncBufReadExt, AsyncRead, AsyncWrite, AsyncWriteExt, BufReader};
use tokio::sync::mpsc;

/// The longest line read (one message): 16 MiB, as rmcp's own limit.
pub const MAX_LINE: usize = 16 * 1024 * 1024;

/// JSON-RPC 2.0 error codes.
pub const PARSE_ERROR: i64 = -32700;
pub const INVALID_REQUEST: i64 = -32600;
pub const INVALID_PARAMS: i64 = -32602;

/// The MCP requests a client sends, as rmcp types them. One of these that
/// rmcp could only read as a custom request had params that do not fit.
const STANDARD_REQUESTS: &[&str] = &[
    "ping",
    "initialize",
    "server/discover",
    "completion/complete",
    "logging/setLevel",
    "prompts/get",
    "prompts/list",
    "resources/list",
    "resources/templates/list",
    "resources/read",
    "resources/directory/read",
    "resources/subscribe",
    "resources/unsubscribe",
    "subscriptions/listen",
    "tools/call",
    "tools/list",
    "tasks/get",
    "tasks/update",
    "tasks/cancel",
    "skills/list",
    "skills/get",
];

/// What to do with one line.
#[derive(Debug)]
pub enum Verdict {
    /// A message for rmcp.
    Forward(Box<ClientJsonRpcMessage>),
    /// Not for rmcp: this reply (one line, newline included) goes back.
    Reply(Vec<u8>),
    /// Nothing to answer (a blank line, a bad notification).
    Ignore,
}

/// A JSON-RPC error response, as one line.
pub fn error_line(id: Value, code: i64, message: impl Into<String>) -> Vec<u8> {
    let mut line = json!({
        "jsonrpc": "2.0",
        "id": id,
        "error": {"code": code, "message": message.into()},
    })
    .to_string()
    .into_bytes();
    line.push(b'\n');
    line
}

fn kind(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

/// Why `params` does not fit `T`.
fn params_error<T: DeserializeOwned>(params: Option<&Value>) -> String {
    match params {
        None => "`params` is required".to_owned(),
        Some(p) => match serde_json::from_value::<T>(p.clone()) {
            Err(e) => format!("`params`: {e}"),
            Ok(_) => "`params` does not fit this method".to_owned(),
        },
    }
}

/// The reason a standard method's params were not accepted.
fn why_params(method: &str, params: Option<&Value>) -> String {
    use rmcp::model as m;
    match method {
        "initialize" => params_error::<m::InitializeRequestParams>(params),
        "tools/call" => params_error::<m::CallToolRequestParams>(params),
        "prompts/get" => params_error::<m::GetPromptRequestParams>(params),
        "resources/read" => params_error::<m::ReadResourceRequestParams>(params),
        "resources/subscribe" => params_error::<m::SubscribeRequestParams>(params),
        "resources/unsubscribe" => params_error::<m::UnsubscribeRequestParams>(params),
        "completion/complete" => params_error::<m::CompleteRequestParams>(params),
        "tools/list" | "prompts/list" | "resources/list" | "resources/templates/list" => {
            params_error::<m::PaginatedRequestParams>(params)
        }
        _ if params.is_none() => "`params` is required".to_owned(),
        _ => "`params` does not fit this method".to_owned(),
    }
}

/// Sorts one line (without its newline) into a message for rmcp, a reply,
/// or nothing.
pub fn check(line: &[u8]) -> Verdict {
    let line = line.strip_suffix(b"\r").unwrap_or(line);
    // RFC 8259 §8.1: a parser may ignore a leading byte order mark.
    let line = line.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(line);
    if line.iter().all(u8::is_ascii_whitespace) {
        return Verdict::Ignore;
    }
    let reply = |id: Value, code: i64, message: Cow<'_, str>| {
        Verdict::Reply(error_line(id, code, message.into_owned()))
    };
    let Ok(text) = std::str::from_utf8(line) else {
        return reply(
            Value::Null,
            PARSE_ERROR,
            "Parse error: the message is not valid UTF-8".into(),
        );
    };
    let value: Value = match serde_json::from_str(text) {
        Ok(v) => v,
        Err(e) => {
            return reply(
                Value::Null,
                PARSE_ERROR,
                format!("Parse error: the message is not JSON ({e})").into(),
            );
        }
    };
    let Value::Object(map) = &value else {
        let why = if value.is_array() {
            "Invalid Request: a JSON array (a batch) is not supported by MCP; send one JSON-RPC object per line"
        } else {
            "Invalid Request: a message must be a JSON-RPC 2.0 object"
        };
        return reply(Value::Null, INVALID_REQUEST, why.into());
    };

    let id = map.get("id");
    let usable_id = match id {
        Some(v @ Value::String(_)) => Some(v.clone()),
        Some(v @ Value::Number(n)) if n.is_i64() || n.is_u64() => Some(v.clone()),
        _ => None,
    };
    let method = map.get("method");
    // A notification: a method and no id. It never gets a reply.
    let notification = method.is_some() && id.is_none();
    // A response (to a request of ours): its id is ours, not one the
    // client waits on, so an error about it carries id null.
    let response = method.is_none() && (map.contains_key("result") || map.contains_key("error"));
    let reply_id = match &usable_id {
        Some(id) if !response => id.clone(),
        _ => Value::Null,
    };

    if map.get("jsonrpc").and_then(Value::as_str) != Some("2.0") {
        if notification {
            tracing::debug!("ignoring a notification without `jsonrpc: \"2.0\"`");
            return Verdict::Ignore;
        }
        return reply(
            reply_id,
            INVALID_REQUEST,
            "Invalid Request: `jsonrpc` must be \"2.0\"".into(),
        );
    }

    let Some(method) = method else {
        if response {
            // The client's answer to a request of ours (an elicitation).
            return match serde_json::from_value::<ClientJsonRpcMessage>(value) {
                Ok(m) => Verdict::Forward(Box::new(m)),
                Err(e) => reply(
                    Value::Null,
                    INVALID_REQUEST,
                    format!("Invalid Request: a malformed response ({e})").into(),
                ),
            };
        }
        return reply(
            reply_id,
            INVALID_REQUEST,
            "Invalid Request: a message needs `method` (a request or a notification) or `result`/`error` (a response)".into(),
        );
    };
    let Some(method) = method.as_str().map(str::to_owned) else {
        if notification {
            return Verdict::Ignore;
        }
        return reply(
            reply_id,
            INVALID_REQUEST,
            format!(
                "Invalid Request: `method` must be a string, not {}",
                kind(method)
            )
            .into(),
        );
    };
    let params = map.get("params");

    if notification {
        if params.is_some_and(|p| !p.is_object()) {
            tracing::debug!(
                method,
                "ignoring a notification whose params are not an object"
            );
            return Verdict::Ignore;
        }
        return match serde_json::from_value::<ClientJsonRpcMessage>(value) {
            Ok(m) => Verdict::Forward(Box::new(m)),
            Err(e) => {
                tracing::debug!(method, "ignoring a malformed notification: {e}");
                Verdict::Ignore
            }
        };
    }

    if usable_id.is_none() {
        return reply(
            Value::Null,
            INVALID_REQUEST,
            format!(
                "Invalid Request: `id` must be a string or an integer, not {}",
                id.map_or("missing", kind)
            )
            .into(),
        );
    }
    let standard = STANDARD_REQUESTS.contains(&method.as_str());
    // MCP's params are always an object.
    if let Some(p) = params
        && !p.is_object()
    {
        return reply(
            reply_id,
            INVALID_PARAMS,
            format!(
                "Invalid params: `params` of {method} must be an object, not {}",
                kind(p)
            )
            .into(),
        );
    }
    let why = standard.then(|| why_params(&method, params));
    match serde_json::from_value::<ClientJsonRpcMessage>(value) {
        // rmcp reads a standard method whose params do not fit as a custom
        // request, and would answer "method not found".
        Ok(ClientJsonRpcMessage::Request(r))
            if standard && matches!(r.request, ClientRequest::CustomRequest(_)) =>
        {
            reply(
                reply_id,
                INVALID_PARAMS,
                format!("Invalid params for {method}: {}", why.unwrap_or_default()).into(),
            )
        }
        Ok(m) => Verdict::Forward(Box::new(m)),
        Err(e) => reply(
            reply_id,
            INVALID_REQUEST,
            format!("Invalid Request: {e}").into(),
        ),
    }
}

/// How a bounded line read ended.
enum LineRead {
    /// A whole line is in the buffer (its newline, if any, included).
    Line,
    /// The line was longer than [`MAX_LINE`]; it is dropped.
    Oversized,
    Eof,
    Io(io::Error),
}

/// The stdio transport: reads and checks lines itself, hands rmcp the
/// good messages, and answers the bad ones.
pub struct LineTransport<R> {
    read: BufReader<R>,
    max_line: usize,
    line: Vec<u8>,
    /// Dropping the rest of an oversized line, up to its newline.
    discarding: bool,
    /// To the writer task; `None` once closed.
    out: Option<mpsc::Sender<Vec<u8>>>,
    /// A reply waiting for room in the writer's queue. Kept here so a
    /// cancelled `receive` loses nothing.
    pending: Option<Vec<u8>>,
}

/// A transport over `read` and `write`, and the task that writes its lines
/// (it ends once the transport and every send in flight are gone).
pub fn transport<R, W>(
    read: R,
    write: W,
    max_line: usize,
) -> (LineTransport<R>, tokio::task::JoinHandle<io::Result<()>>)
where
    R: AsyncRead + Send + Unpin + 'static,
    W: AsyncWrite + Send + Unpin + 'static,
{
    let (tx, rx) = mpsc::channel::<Vec<u8>>(64);
    let writer = tokio::spawn(write_lines(write, rx));
    (
        LineTransport {
            read: BufReader::new(read),
            max_line,
            line: Vec::new(),
            discarding: false,
            out: Some(tx),
            pending: None,
        },
        writer,
    )
}

async fn write_lines<W: AsyncWrite + Unpin>(
    mut write: W,
    mut lines: mpsc::Receiver<Vec<u8>>,
) -> io::Result<()> {
    while let Some(line) = lines.recv().await {
        write.write_all(&line).await?;
        if lines.is_empty() {
            write.flush().await?;
        }
    }
    write.flush().await
}

impl<R: AsyncRead + Send + Unpin> LineTransport<R> {
    /// Reads one line into `self.line`, never holding more than
    /// `max_line` bytes of it. Cancellation-safe: bytes are moved from the
    /// reader to `self.line` with no await in between, and the state lives
    /// in `self`.
    async fn read_line(&mut self) -> LineRead {
        loop {
            let (used, done) = {
                let available = match self.read.fill_buf().await {
                    Ok(a) => a,
                    Err(e) => return LineRead::Io(e),
                };
                if available.is_empty() {
                    if !self.discarding && !self.line.is_empty() {
                        // A last message without a newline.
                        return LineRead::Line;
                    }
                    return LineRead::Eof;
                }
                let newline = available.iter().position(|b| *b == b'\n');
                let take = newline.map_or(available.len(), |i| i + 1);
                if self.discarding {
                    if newline.is_some() {
                        self.discarding = false;
                    }
                    (take, None)
                } else if self.line.len() + take > self.max_line + 1 {
                    // Over the limit (the newline itself does not count).
                    self.line.clear();
                    self.discarding = newline.is_none();
                    (take, Some(LineRead::Oversized))
                } else {
                    self.line.extend_from_slice(&available[..take]);
                    (take, newline.map(|_| LineRead::Line))
                }
            };
            self.read.consume(used);
            if let Some(done) = done {
                return done;
            }
        }
    }
}

impl<R: AsyncRead + Send + Unpin + 'static> rmcp::transport::Transport<RoleServer>
    for LineTransport<R>
{
    type Error = io::Error;

    fn send(
        &mut self,
        item: TxJsonRpcMessage<RoleServer>,
    ) -> impl Future<Output = Result<(), io::Error>> + Send + 'static {
        let out = self.out.clone();
        async move {
            let out = out.ok_or_else(|| {
                io::Error::new(io::ErrorKind::NotConnected, "the MCP stream is closed")
            })?;
            let mut line = serde_json::to_vec(&item)?;
            line.push(b'\n');
            out.send(line)
                .await
                .map_err(|_| io::Error::new(io::ErrorKind::BrokenPipe, "stdout is closed"))
        }
    }

    async fn receive(&mut self) -> Option<RxJsonRpcMessage<RoleServer>> {
        loop {
            if self.pending.is_some() {
                let permit = self.out.as_ref()?.reserve().await.ok()?;
                if let Some(line) = self.pending.take() {
                    permit.send(line);
                }
            }
            match self.read_line().await {
                LineRead::Line => {}
                LineRead::Oversized => {
                    tracing::warn!(
                        max = self.max_line,
                        "an MCP message over the line limit was discarded"
                    );
                    self.pending = Some(error_line(
                        Value::Null,
                        INVALID_REQUEST,
                        format!(
                            "Invalid Request: the message is longer than the {} byte limit and was discarded unread",
                            self.max_line
                        ),
                    ));
                    continue;
                }
                LineRead::Eof => return None,
                LineRead::Io(e) => {
                    tracing::error!("reading the MCP stream: {e}");
                    return None;
                }
            }
            let line = self.line.strip_suffix(b"\n").unwrap_or(&self.line);
            let verdict = check(line);
            self.line.clear();
            match verdict {
                Verdict::Forward(m) => return Some(*m),
                Verdict::Reply(r) => self.pending = Some(r),
                Verdict::Ignore => {}
            }
        }
    }

    async fn close(&mut self) -> Result<(), io::Error> {
        self.out = None;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn replied(line: &str) -> Value {
        match check(line.as_bytes()) {
            Verdict::Reply(r) => serde_json::from_slice(&r).unwrap(),
            other => panic!("{line}: expected a reply, got {other:?}"),
        }
    }

    fn code(v: &Value) -> i64 {
        v["error"]["code"].as_i64().unwrap()
    }

    #[test]
    fn bad_lines_get_the_json_rpc_error_they_call_for() {
        let r = replied("this is not json");
        assert_eq!((code(&r), &r["id"]), (PARSE_ERROR, &Value::Null), "{r}");
        let r = match check(b"{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"\xff\"}") {
            Verdict::Reply(r) => serde_json::from_slice::<Value>(&r).unwrap(),
            other => panic!("{other:?}"),
        };
        assert_eq!(code(&r), PARSE_ERROR, "{r}");
        assert!(r["error"]["message"].as_str().unwrap().contains("UTF-8"));

        let r = replied(r#"[{"jsonrpc":"2.0","id":1,"method":"ping"}]"#);
        assert_eq!((code(&r), &r["id"]), (INVALID_REQUEST, &Value::Null), "{r}");
        assert_eq!(code(&replied("42")), INVALID_REQUEST);
        let r = replied(r#"{"jsonrpc":"1.0","id":7,"method":"ping"}"#);
        assert_eq!((code(&r), &r["id"]), (INVALID_REQUEST, &json!(7)), "{r}");
        let r = replied(r#"{"jsonrpc":"2.0","id":{"x":1},"method":"ping"}"#);
        assert_eq!((code(&r), &r["id"]), (INVALID_REQUEST, &Value::Null), "{r}");
        let r = replied(r#"{"id":0,"result":{"action":"accept"}}"#);
        assert_eq!((code(&r), &r["id"]), (INVALID_REQUEST, &Value::Null), "{r}");
        let r = replied(r#"{"jsonrpc":"2.0","id":3}"#);
        assert_eq!((code(&r), &r["id"]), (INVALID_REQUEST, &json!(3)), "{r}");

        for (line, needle) in [
            (
                r#"{"jsonrpc":"2.0","id":"a","method":"tools/call","params":["x"]}"#,
                "must be an object, not an array",
            ),
            (
                r#"{"jsonrpc":"2.0","id":"a","method":"tools/call"}"#,
                "`params` is required",
            ),
            (
                r#"{"jsonrpc":"2.0","id":"a","method":"tools/call","params":{"arguments":{}}}"#,
                "name",
            ),
            (
                r#"{"jsonrpc":"2.0","id":"a","method":"initialize"}"#,
                "`params` is required",
            ),
            (
                r#"{"jsonrpc":"2.0","id":"a","method":"tools/list","params":7}"#,
                "not a number",
            ),
        ] {
            let r = replied(line);
            assert_eq!((code(&r), &r["id"]), (INVALID_PARAMS, &json!("a")), "{r}");
            let message = r["error"]["message"].as_str().unwrap();
            assert!(message.contains(needle), "{line}: {message}");
        }
    }

    #[test]
    fn good_messages_and_notifications_pass_or_are_ignored() {
        for line in [
            r#"{"jsonrpc":"2.0","id":1,"method":"ping"}"#,
            r#"{"jsonrpc":"2.0","id":2,"method":"tools/list"}"#,
            r#"{"jsonrpc":"2.0","id":3,"method":"tools/call","params":{"name":"x","arguments":{}}}"#,
            r#"{"jsonrpc":"2.0","method":"notifications/initialized"}"#,
            r#"{"jsonrpc":"2.0","id":0,"result":{"action":"decline"}}"#,
            // Unknown methods are rmcp's to answer (method not found).
            r#"{"jsonrpc":"2.0","id":4,"method":"no/such","params":{"a":1}}"#,
        ] {
            assert!(
                matches!(check(line.as_bytes()), Verdict::Forward(_)),
                "{line}"
            );
        }
        for line in [
            "",
            "  \r",
            r#"{"jsonrpc":"2.0","method":"notifications/initialized","params":[1]}"#,
            r#"{"method":"notifications/initialized"}"#,
        ] {
            assert!(matches!(check(line.as_bytes()), Verdict::Ignore), "{line}");
        }
    }

    /// The transport over in-memory pipes: an oversized line is answered,
    /// and the next message still reaches rmcp.
    #[tokio::test]
    async fn an_oversized_line_is_answered_and_the_stream_goes_on() {
        use rmcp::transport::Transport;
        let (mut client, server_in) = tokio::io::duplex(1 << 16);
        let (server_out, mut from_server) = tokio::io::duplex(1 << 16);
        let (mut t, writer) = transport(server_in, server_out, 64);
        let feeder = tokio::spawn(async move {
            client.write_all(&[b'x'; 200]).await.unwrap();
            client.write_all(b"\nnot json\n").await.unwrap();
            client
                .write_all(b"{\"jsonrpc\":\"2.0\",\"id\":9,\"method\":\"ping\"}\n")
                .await
                .unwrap();
            client
        });
        let got = t.receive().await.expect("the ping after the bad lines");
        assert!(
            matches!(&got, ClientJsonRpcMessage::Request(r) if matches!(r.request, ClientRequest::PingRequest(_))),
            "{got:?}"
        );
        drop(feeder.await.unwrap());
        assert!(t.receive().await.is_none());
        Transport::<RoleServer>::close(&mut t).await.unwrap();
        drop(t);
        writer.await.unwrap().unwrap();
        let mut out = String::new();
        tokio::io::AsyncReadExt::read_to_string(&mut from_server, &mut out)
            .await
            .unwrap();
        let replies: Vec<Value> = out
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect();
        assert_eq!(replies.len(), 2, "{out}");
        assert_eq!(code(&replies[0]), INVALID_REQUEST, "{out}");
        assert!(
            replies[0]["error"]["message"]
                .as_str()
                .unwrap()
                .contains("64 byte limit")
        );
        assert_eq!(code(&replies[1]), PARSE_ERROR, "{out}");
    }
}
