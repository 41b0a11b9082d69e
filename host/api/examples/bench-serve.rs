//! `bench-serve`: load on the API servers (not a test).
//!
//! 1. gRPC: `guardian serve`'s gRPC service (in this process, on a loopback
//!    port) over a snapshot, and `--concurrency` concurrent CallTool streams
//!    of a read tool (`cluster.list` of the staging pods by default) over
//!    `--connections` HTTP/2 connections for `--seconds`; prints calls,
//!    errors, calls/s and p50/p90/p99/max latency.
//! 2. MCP stdio: spawns `GUARDIAN mcp --snapshot …` (the release binary by
//!    default) and times `--mcp-calls` `tools/call` round trips (request
//!    sent to the last byte of the response read; the client's parsing of the
//!    response is not counted) of
//!    `diagnostics__analyze` on {"namespace": "staging"} with a minimal
//!    JSON-RPC client over its stdin/stdout; prints p50/p99 (target ≤ 10 ms).
//!
//! ```sh
//! cargo build --release -p guardian-cli -p guardian-api --example bench-serve
//! target/release/examples/bench-serve [--seconds 30] [--concurrency 200]
//! ```

use std::io::{BufRead, BufReader, Write};
use std::path::PathBuf;
use std::process::{Command, ExitCode, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use guardian_api::auth::{Gate, Identity, Role, Tokens};
use guardian_api::proto::CallToolRequest;
use guardian_api::proto::guardian_client::GuardianClient;
use guardian_api::serve::ServeOptions;
use guardian_api::{Api, serve};
use guardian_core::{Options, Session, Source};
use serde_json::{Value, json};

const TOKEN: &str = "bench-viewer-token-0123456789";

struct Args {
    snapshot: PathBuf,
    seconds: u64,
    concurrency: usize,
    connections: usize,
    tool: String,
    input: String,
    guardian: PathBuf,
    mcp_calls: usize,
    mcp_input: String,
    skip_grpc: bool,
}

fn args() -> Result<Args, String> {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..");
    let mut a = Args {
        snapshot: root.join("examples/staging"),
        seconds: 30,
        concurrency: 200,
        connections: 8,
        tool: "cluster.list".into(),
        input: json!({"resource": "pods", "namespace": "staging"}).to_string(),
        guardian: root.join("target/release/guardian"),
        mcp_calls: 300,
        mcp_input: json!({"namespace": "staging"}).to_string(),
        skip_grpc: false,
    };
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        let mut value = || it.next().ok_or_else(|| format!("{flag} needs a value"));
        match flag.as_str() {
            "--snapshot" => a.snapshot = value()?.into(),
            "--seconds" => a.seconds = value()?.parse().map_err(|e| format!("{e}"))?,
            "--concurrency" => a.concurrency = value()?.parse().map_err(|e| format!("{e}"))?,
            "--connections" => a.connections = value()?.parse().map_err(|e| format!("{e}"))?,
            "--tool" => a.tool = value()?,
            "--input" => a.input = value()?,
            "--guardian" => a.guardian = value()?.into(),
            "--mcp-calls" => a.mcp_calls = value()?.parse().map_err(|e| format!("{e}"))?,
            "--mcp-input" => a.mcp_input = value()?,
            "--skip-grpc" => a.skip_grpc = true,
            other => return Err(format!("unknown flag {other}")),
        }
    }
    Ok(a)
}

fn percentile(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i.min(sorted.len() - 1)]
}

fn main() -> ExitCode {
    let args = match args() {
        Ok(a) => a,
        Err(e) => {
            eprintln!("bench-serve: {e}");
            return ExitCode::FAILURE;
        }
    };
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("tokio");
    let mut ok = true;
    if !args.skip_grpc {
        ok &= rt.block_on(grpc(&args));
    }
    if args.mcp_calls > 0 {
        ok &= mcp_stdio(&args);
    }
    if ok {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
}

async fn grpc(args: &Args) -> bool {
    let cache = tempfile::tempdir().expect("tempdir");
    let state = tempfile::tempdir().expect("tempdir");
    let options = Options {
        cache_dir: Some(cache.path().to_path_buf()),
        config: Some("/dev/null".into()),
        state_dir: Some(state.path().to_path_buf()),
        ..Options::default()
    };
    let session =
        match Session::open(&options, &Source::Snapshot(args.snapshot.clone()), None).await {
            Ok(s) => s,
            Err(e) => {
                eprintln!("bench-serve: {e:#}");
                return false;
            }
        };
    let mut tokens = Tokens::default();
    tokens.insert(
        TOKEN,
        Identity {
            name: "bench".into(),
            role: Role::Viewer,
        },
    );
    let gate = Gate {
        tokens: Arc::new(tokens),
        audit: session.audit().clone(),
        reviewer: None,
    };
    let api = Arc::new(Api::new(session, Some(gate)));
    let stop = tokio_util::sync::CancellationToken::new();
    let (tx, rx) = tokio::sync::oneshot::channel();
    let server = {
        let stop = stop.clone();
        tokio::spawn(serve::serve(
            api,
            ServeOptions {
                grpc_listen: Some("127.0.0.1:0".into()),
                mcp_listen: None,
                http_listen: None,
                drain_timeout: Duration::from_secs(10),
                tls: None,
                skills_dir: None,
                reload_interval: Duration::from_secs(2),
                mcp_allowed_origins: Vec::new(),
                mcp_allowed_hosts: Vec::new(),
            },
            async move { stop.cancelled().await },
            move |b| {
                let _ = tx.send(b.grpc);
            },
        ))
    };
    let addr = rx.await.expect("bound").expect("gRPC bound");
    let mut clients = Vec::new();
    for _ in 0..args.connections.max(1) {
        clients.push(
            GuardianClient::connect(format!("http://{addr}"))
                .await
                .expect("connect"),
        );
    }
    // Warm up: one call per connection.
    for c in &mut clients {
        let r = c.call_tool(request(&args.tool, &args.input)).await;
        if let Err(e) = r {
            eprintln!("bench-serve: warm-up call failed: {e}");
            return false;
        }
    }
    let errors = Arc::new(AtomicU64::new(0));
    let deadline = Instant::now() + Duration::from_secs(args.seconds);
    let started = Instant::now();
    let mut tasks = Vec::new();
    for i in 0..args.concurrency {
        let mut client = clients[i % clients.len()].clone();
        let (tool, input) = (args.tool.clone(), args.input.clone());
        let errors = Arc::clone(&errors);
        tasks.push(tokio::spawn(async move {
            let mut latencies = Vec::new();
            while Instant::now() < deadline {
                let t = Instant::now();
                match client.call_tool(request(&tool, &input)).await {
                    Ok(_) => latencies.push(t.elapsed().as_secs_f64() * 1e3),
                    Err(e) => {
                        if errors.fetch_add(1, Ordering::Relaxed) < 5 {
                            eprintln!("bench-serve: call failed: {} {}", e.code(), e.message());
                        }
                    }
                }
            }
            latencies
        }));
    }
    let mut all = Vec::new();
    for t in tasks {
        all.extend(t.await.expect("task"));
    }
    let wall = started.elapsed().as_secs_f64();
    stop.cancel();
    let _ = server.await;
    all.sort_by(f64::total_cmp);
    let errors = errors.load(Ordering::Relaxed);
    println!(
        "gRPC CallTool {} {}: {} concurrent streams over {} connections, {:.0} s",
        args.tool, args.input, args.concurrency, args.connections, wall
    );
    println!(
        "  calls {}  errors {}  {:.0} calls/s  p50 {:.1} ms  p90 {:.1} ms  p99 {:.1} ms  max {:.1} ms",
        all.len(),
        errors,
        all.len() as f64 / wall,
        percentile(&all, 0.50),
        percentile(&all, 0.90),
        percentile(&all, 0.99),
        all.last().copied().unwrap_or(f64::NAN)
    );
    errors == 0 && !all.is_empty()
}

fn request(tool: &str, input: &str) -> tonic::Request<CallToolRequest> {
    let mut r = tonic::Request::new(CallToolRequest {
        tool: tool.into(),
        input_json: input.into(),
    });
    r.metadata_mut()
        .insert("authorization", format!("Bearer {TOKEN}").parse().unwrap());
    r
}

/// A minimal MCP client over a child's stdin/stdout: newline-delimited
/// JSON-RPC, as the stdio transport specifies.
fn mcp_stdio(args: &Args) -> bool {
    if !args.guardian.exists() {
        eprintln!(
            "bench-serve: {} not found; build it (cargo build --release -p guardian-cli) or pass --guardian",
            args.guardian.display()
        );
        return false;
    }
    let cache = tempfile::tempdir().expect("tempdir");
    let state = tempfile::tempdir().expect("tempdir");
    let mut child = Command::new(&args.guardian)
        .arg("mcp")
        .arg("--snapshot")
        .arg(&args.snapshot)
        .arg("--state-dir")
        .arg(state.path())
        .env("GUARDIAN_CACHE_DIR", cache.path())
        .env("GUARDIAN_CONFIG", "/dev/null")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("guardian mcp starts");
    let mut pipe = Pipe {
        stdin: child.stdin.take().unwrap(),
        stdout: BufReader::new(child.stdout.take().unwrap()),
        next_id: 0,
    };
    let init = pipe.request(
        "initialize",
        json!({"protocolVersion": "2025-06-18", "capabilities": {},
               "clientInfo": {"name": "bench-serve", "version": "0"}}),
    );
    assert!(init["result"]["serverInfo"]["name"] == "guardian", "{init}");
    pipe.send(&json!({"jsonrpc": "2.0", "method": "notifications/initialized"}));
    let arguments: Value = serde_json::from_str(&args.mcp_input).expect("--mcp-input is JSON");
    let params = json!({"name": "diagnostics__analyze", "arguments": arguments});
    let mut call = || {
        let (took, r) = pipe.timed_request("tools/call", params.clone());
        let ms = took.as_secs_f64() * 1e3;
        assert!(
            r["result"]["isError"] != json!(true) && r["result"].is_object(),
            "{r}"
        );
        ms
    };
    for _ in 0..10 {
        call();
    }
    let mut lat: Vec<f64> = (0..args.mcp_calls).map(|_| call()).collect();
    drop(pipe);
    let _ = child.kill();
    let _ = child.wait();
    lat.sort_by(f64::total_cmp);
    println!(
        "MCP stdio tools/call diagnostics__analyze {}: {} calls",
        args.mcp_input,
        lat.len()
    );
    let p50 = percentile(&lat, 0.50);
    println!(
        "  p50 {:.2} ms  p90 {:.2} ms  p99 {:.2} ms  min {:.2} ms  (target p50 ≤ 10 ms: {})",
        p50,
        percentile(&lat, 0.90),
        percentile(&lat, 0.99),
        lat.first().copied().unwrap_or(f64::NAN),
        if p50 <= 10.0 { "met" } else { "NOT met" }
    );
    true
}

/// Newline-delimited JSON-RPC over a child's stdin/stdout.
struct Pipe {
    stdin: std::process::ChildStdin,
    stdout: BufReader<std::process::ChildStdout>,
    next_id: u64,
}

impl Pipe {
    fn send(&mut self, msg: &Value) {
        writeln!(self.stdin, "{msg}").expect("write");
        self.stdin.flush().expect("flush");
    }

    fn request(&mut self, method: &str, params: Value) -> Value {
        self.timed_request(method, params).1
    }

    /// The response, and the time from sending the request to having read
    /// the last byte of the response (the client's parsing of it excluded).
    fn timed_request(&mut self, method: &str, params: Value) -> (Duration, Value) {
        self.next_id += 1;
        let id = self.next_id;
        let started = Instant::now();
        self.send(&json!({"jsonrpc": "2.0", "id": id, "method": method, "params": params}));
        let mut line = String::new();
        loop {
            line.clear();
            self.stdout.read_line(&mut line).expect("read");
            let received = started.elapsed();
            assert!(!line.is_empty(), "guardian mcp closed its stdout");
            let v: Value = serde_json::from_str(&line).expect("JSON-RPC");
            if v["id"] == json!(id) {
                return (received, v);
            }
        }
    }
}
