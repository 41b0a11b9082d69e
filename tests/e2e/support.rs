//! Helpers shared by the end-to-end modules.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::Arc;
use std::time::Duration;

use guardian_broker::{Audit, Broker, Policy};
use guardian_runtime::{Limits, Runtime, RuntimeConfig};
pub use sha2_lite::sha256_hex;

pub use guardian_tests::skill_wasm as test_skill_wasm;

/// The workspace root.
pub fn repo_root() -> PathBuf {
    PathBuf::from(guardian_tests::REPO_ROOT)
}

/// The example cluster shipped in `examples/staging`.
pub fn example_snapshot() -> PathBuf {
    repo_root().join("examples/staging")
}

/// A broker over a snapshot folder.
pub fn snapshot_broker(path: &Path) -> Broker {
    let (broker, problems) = Broker::snapshot(
        path,
        Arc::new(Policy::defaults().expect("default policy")),
        Arc::new(Audit::Off),
    )
    .expect("snapshot loads");
    assert!(problems.is_empty(), "snapshot problems: {problems:?}");
    broker
}

/// A broker over a snapshot folder that keeps its audit lines in memory.
pub fn audited_broker(path: &Path) -> (Broker, Arc<Audit>) {
    let audit = Arc::new(Audit::memory());
    let (broker, problems) = Broker::snapshot(
        path,
        Arc::new(Policy::defaults().expect("default policy")),
        audit.clone(),
    )
    .expect("snapshot loads");
    assert!(problems.is_empty(), "snapshot problems: {problems:?}");
    (broker, audit)
}

/// Limits small enough that hostile tests finish quickly.
pub fn test_limits() -> Limits {
    Limits {
        cpu_time: Duration::from_millis(500),
        wall_time: Duration::from_secs(20),
        ..Limits::default()
    }
}

/// A runtime with the built-in skills and no compile cache.
pub async fn runtime_with(limits: Limits, broker: Option<Broker>) -> Runtime {
    let runtime = Runtime::new(
        RuntimeConfig {
            limits,
            cache_dir: None,
            operator_grants: Default::default(),
        },
        broker,
    )
    .expect("runtime");
    for b in guardian_builtin_skills::all() {
        runtime
            .load_builtin(b.manifest, b.wasm)
            .await
            .expect("builtin skill loads");
    }
    runtime
}

/// Writes `<dir>/<name>/skill.wasm` and a `skill.toml` from the source
/// manifest at `manifest`, with `sha256` filled in. Returns the skill folder.
pub fn install_skill(dir: &Path, name: &str, wasm: &Path, manifest: &Path) -> PathBuf {
    let bytes = std::fs::read(wasm).unwrap_or_else(|e| panic!("{}: {e}", wasm.display()));
    let text =
        std::fs::read_to_string(manifest).unwrap_or_else(|e| panic!("{}: {e}", manifest.display()));
    let text = with_sha(&text, &sha256_hex(&bytes));
    let folder = dir.join(name);
    std::fs::create_dir_all(&folder).unwrap();
    std::fs::write(folder.join("skill.wasm"), bytes).unwrap();
    std::fs::write(folder.join("skill.toml"), text).unwrap();
    folder
}

/// Sets (or replaces) the top-level `sha256 = "..."` line of a manifest.
pub fn with_sha(manifest: &str, sha: &str) -> String {
    let mut out: Vec<String> = manifest
        .lines()
        .filter(|l| !l.trim_start().starts_with("sha256"))
        .map(str::to_owned)
        .collect();
    // Top-level keys must come before the first table header.
    let at = out
        .iter()
        .position(|l| l.trim_start().starts_with('['))
        .unwrap_or(out.len());
    out.insert(at, format!("sha256 = \"{sha}\""));
    out.join("\n") + "\n"
}

/// Installs a test skill from `tests/skills/<name>`.
pub fn install_test_skill(dir: &Path, name: &str) -> PathBuf {
    install_skill(
        dir,
        name,
        &test_skill_wasm(name),
        &repo_root()
            .join("tests/skills")
            .join(name)
            .join("skill.toml"),
    )
}

/// The real binary, with its own compile cache and no user config.
pub fn guardian(cache: &Path) -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_guardian"));
    cmd.env("GUARDIAN_CACHE_DIR", cache)
        .env("GUARDIAN_CONFIG", "/dev/null")
        .env_remove("GUARDIAN_SKILLS_DIR")
        .env_remove("GUARDIAN_LOG")
        .current_dir(repo_root());
    cmd
}

pub fn run_ok(cmd: &mut Command) -> String {
    let out = cmd.output().expect("guardian runs");
    assert!(
        out.status.success(),
        "{cmd:?} failed: {}\nstdout: {}",
        String::from_utf8_lossy(&out.stderr),
        String::from_utf8_lossy(&out.stdout)
    );
    String::from_utf8(out.stdout).expect("utf-8 stdout")
}

pub fn run_err(cmd: &mut Command) -> Output {
    let out = cmd.output().expect("guardian runs");
    assert!(!out.status.success(), "{cmd:?} unexpectedly succeeded");
    out
}

mod sha2_lite {
    /// sha256 via the system `sha256sum`, so the tests check the runtime's
    /// hashing against an independent implementation.
    pub fn sha256_hex(bytes: &[u8]) -> String {
        use std::io::Write;
        let mut child = std::process::Command::new("sha256sum")
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .spawn()
            .expect("sha256sum");
        child.stdin.take().unwrap().write_all(bytes).unwrap();
        let out = child.wait_with_output().unwrap();
        String::from_utf8(out.stdout).unwrap()[..64].to_owned()
    }
}

/// Runs `cmd`: its exit code (-1 when killed), stdout and stderr.
pub fn output(cmd: &mut Command) -> (i32, String, String) {
    let out = cmd.output().expect("guardian runs");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// `guardian … mcp` over stdio, initialized, as a raw JSON-RPC client;
/// killed on drop.
pub struct McpStdio {
    _child: crate::serve::Killed,
    stdin: std::process::ChildStdin,
    stdout: std::io::BufReader<std::process::ChildStdout>,
    next_id: i64,
}

impl McpStdio {
    /// Starts `cmd` (a `guardian … mcp …` command) and initializes the
    /// session.
    pub fn start(mut cmd: Command) -> McpStdio {
        use std::process::Stdio;
        let mut child = crate::serve::Killed(
            cmd.stdin(Stdio::piped())
                .stdout(Stdio::piped())
                .stderr(Stdio::null())
                .spawn()
                .expect("guardian mcp starts"),
        );
        let stdin = child.0.stdin.take().unwrap();
        let stdout = std::io::BufReader::new(child.0.stdout.take().unwrap());
        let mut mcp = McpStdio {
            _child: child,
            stdin,
            stdout,
            next_id: 1,
        };
        mcp.request(
            "initialize",
            serde_json::json!({"protocolVersion": "2025-06-18", "capabilities": {},
                               "clientInfo": {"name": "test", "version": "1"}}),
        );
        mcp.send(&serde_json::json!({"jsonrpc": "2.0", "method": "notifications/initialized"}));
        mcp
    }

    fn send(&mut self, message: &serde_json::Value) {
        use std::io::Write;
        writeln!(self.stdin, "{message}").expect("the MCP server reads");
    }

    /// Sends a request and returns its answer (the whole JSON-RPC message).
    pub fn request(&mut self, method: &str, params: serde_json::Value) -> serde_json::Value {
        use std::io::BufRead;
        let id = self.next_id;
        self.next_id += 1;
        self.send(
            &serde_json::json!({"jsonrpc": "2.0", "id": id, "method": method, "params": params}),
        );
        loop {
            let mut line = String::new();
            assert!(
                self.stdout.read_line(&mut line).unwrap() > 0,
                "the MCP server hung up"
            );
            let v: serde_json::Value = serde_json::from_str(&line).unwrap();
            if v["id"] == id {
                return v;
            }
        }
    }
}
