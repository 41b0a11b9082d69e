//! The sandbox around one skill: which WASI it gets, which imports it may
//! have, and how a call is run and its result judged.

use std::time::Duration;

use serde_json::Value;
use wasmtime::component::{Component, Linker};
use wasmtime::{Engine, Store, Trap, UpdateDeadline};
use wasmtime_wasi::cli::WasiCli;
use wasmtime_wasi::clocks::WasiClocks;
use wasmtime_wasi::p2::bindings::{cli, clocks, random};
use wasmtime_wasi::random::WasiRandom;

use crate::bindings::latest::types::{ToolError, ToolSpec};
use crate::bindings::semver_lite::AbiVersion;
use crate::engine::EPOCH_TICK;
use crate::error::CallError;
use crate::host::{HostState, truncate};
use crate::limits::Limits;
use crate::{Effect, SkillPre, ToolInfo};

/// WASI interfaces a skill may import. Everything a Rust `wasm32-wasip2`
/// library needs to run (streams for stdout/stderr, clocks, random, exit),
/// and nothing that reaches outside: no `wasi:filesystem`, no `wasi:sockets`,
/// no `wasi:http`.
const ALLOWED_WASI: &[&str] = &[
    "wasi:io/error",
    "wasi:io/poll",
    "wasi:io/streams",
    "wasi:cli/environment",
    "wasi:cli/exit",
    "wasi:cli/stdin",
    "wasi:cli/stdout",
    "wasi:cli/stderr",
    "wasi:cli/terminal-input",
    "wasi:cli/terminal-output",
    "wasi:cli/terminal-stdin",
    "wasi:cli/terminal-stdout",
    "wasi:cli/terminal-stderr",
    "wasi:clocks/monotonic-clock",
    "wasi:clocks/wall-clock",
    "wasi:random/random",
    "wasi:random/insecure",
    "wasi:random/insecure-seed",
];

const GUARDIAN_IMPORTS: &[&str] = &["types", "kube", "metrics", "actions", "log"];

/// Links the allowed WASI interfaces, and only those. The environment and
/// arguments are empty and stdin is closed (see `HostState::new`).
pub(crate) fn add_wasi(linker: &mut Linker<HostState>) -> wasmtime::Result<()> {
    use wasmtime_wasi_io::bindings::wasi::io;
    struct Io;
    impl wasmtime::component::HasData for Io {
        type Data<'a> = &'a mut wasmtime::component::ResourceTable;
    }
    fn table(s: &mut HostState) -> &mut wasmtime::component::ResourceTable {
        wasmtime_wasi::WasiView::ctx(s).table
    }
    let l = linker;
    io::error::add_to_linker::<HostState, Io>(l, table)?;
    io::poll::add_to_linker::<HostState, Io>(l, table)?;
    io::streams::add_to_linker::<HostState, Io>(l, table)?;
    use wasmtime_wasi::cli::WasiCliView;
    use wasmtime_wasi::clocks::WasiClocksView;
    use wasmtime_wasi::random::WasiRandomView;
    clocks::wall_clock::add_to_linker::<HostState, WasiClocks>(l, HostState::clocks)?;
    clocks::monotonic_clock::add_to_linker::<HostState, WasiClocks>(l, HostState::clocks)?;
    random::random::add_to_linker::<HostState, WasiRandom>(l, HostState::random)?;
    random::insecure::add_to_linker::<HostState, WasiRandom>(l, HostState::random)?;
    random::insecure_seed::add_to_linker::<HostState, WasiRandom>(l, HostState::random)?;
    cli::exit::add_to_linker::<HostState, WasiCli>(l, HostState::cli)?;
    cli::environment::add_to_linker::<HostState, WasiCli>(l, HostState::cli)?;
    cli::stdin::add_to_linker::<HostState, WasiCli>(l, HostState::cli)?;
    cli::stdout::add_to_linker::<HostState, WasiCli>(l, HostState::cli)?;
    cli::stderr::add_to_linker::<HostState, WasiCli>(l, HostState::cli)?;
    cli::terminal_input::add_to_linker::<HostState, WasiCli>(l, HostState::cli)?;
    cli::terminal_output::add_to_linker::<HostState, WasiCli>(l, HostState::cli)?;
    cli::terminal_stdin::add_to_linker::<HostState, WasiCli>(l, HostState::cli)?;
    cli::terminal_stdout::add_to_linker::<HostState, WasiCli>(l, HostState::cli)?;
    cli::terminal_stderr::add_to_linker::<HostState, WasiCli>(l, HostState::cli)?;
    Ok(())
}

/// Refuses a component that imports anything outside the sandbox, with a
/// message that says what it asked for and why it cannot have it.
pub(crate) fn check_imports(
    engine: &Engine,
    component: &Component,
    abi: AbiVersion,
) -> Result<(), String> {
    let ty = component.component_type();
    let mut refused = Vec::new();
    for (name, _) in ty.imports(engine) {
        let (path, version) = name.split_once('@').unwrap_or((name, ""));
        if let Some(iface) = path.strip_prefix("guardian:skill/") {
            let v = AbiVersion::parse(version);
            if !GUARDIAN_IMPORTS.contains(&iface) {
                refused.push(format!("`{name}` (no such host interface)"));
            } else if v != Some(abi) {
                refused.push(format!(
                    "`{name}` (skill.toml declares abi {abi}; the component was built against another version)"
                ));
            }
        } else if ALLOWED_WASI.contains(&path) {
            continue;
        } else if path.starts_with("wasi:filesystem/") {
            refused.push(format!(
                "`{name}`: skills get no filesystem access (does it use std::fs?)"
            ));
        } else if path.starts_with("wasi:sockets/") || path.starts_with("wasi:http/") {
            refused.push(format!(
                "`{name}`: skills get no network access; Kubernetes and metrics are reached through the guardian:skill imports"
            ));
        } else {
            refused.push(format!("`{name}`: not provided to skills"));
        }
    }
    let export = format!("guardian:skill/tools@{abi}");
    if ty.get_export(engine, &export).is_none() {
        let exports: Vec<&str> = ty.exports(engine).map(|(n, _)| n).collect();
        refused.push(format!(
            "it does not export `{export}` (exports: {})",
            if exports.is_empty() {
                "none".into()
            } else {
                exports.join(", ")
            }
        ));
    }
    if refused.is_empty() {
        Ok(())
    } else {
        Err(format!("refused: imports {}", refused.join("; ")))
    }
}

pub(crate) fn check_tool_spec(spec: ToolSpec) -> Result<ToolInfo, String> {
    let valid_name = {
        let mut c = spec.name.chars();
        matches!(c.next(), Some('a'..='z'))
            && c.all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-' || c == '_')
            && spec.name.len() <= 64
    };
    if !valid_name {
        return Err(format!(
            "tool name {:?} is not valid (lowercase letters, digits, `-`, `_`)",
            truncate(&spec.name, 80)
        ));
    }
    let input_schema: Value = serde_json::from_str(&spec.input_schema)
        .map_err(|e| format!("tool `{}`: input schema is not JSON: {e}", spec.name))?;
    if !input_schema.is_object() {
        return Err(format!(
            "tool `{}`: input schema must be a JSON object",
            spec.name
        ));
    }
    Ok(ToolInfo {
        name: spec.name,
        description: truncate(&spec.description, 4096).to_owned(),
        input_schema,
        effect: match spec.effect {
            crate::bindings::latest::types::Effect::Read => Effect::Read,
            crate::bindings::latest::types::Effect::Propose => Effect::Propose,
        },
    })
}

/// Validates a tool input against its schema; the message names the field.
pub(crate) fn validate_input(
    validator: &jsonschema::Validator,
    value: &Value,
) -> Result<(), String> {
    let errors: Vec<String> = validator
        .iter_errors(value)
        .take(5)
        .map(|e| {
            let path = e.instance_path.to_string();
            if path.is_empty() {
                e.to_string()
            } else {
                let field = path.trim_start_matches('/').replace('/', ".");
                format!("field `{field}`: {e}")
            }
        })
        .collect();
    if errors.is_empty() {
        Ok(())
    } else {
        Err(errors.join("; "))
    }
}

pub(crate) enum Invocation<'a> {
    Describe,
    Call(&'a str, &'a str),
}

pub(crate) enum Output {
    Describe(Vec<ToolSpec>),
    Call(Value),
}

/// Runs one invocation in a fresh store and judges the result.
pub(crate) async fn run(
    engine: &Engine,
    pre: &SkillPre,
    state: HostState,
    limits: &Limits,
    label: &str,
    invocation: Invocation<'_>,
) -> Result<Output, CallError> {
    let mut store = Store::new(engine, state);
    store.limiter(|s| &mut s.limits);
    store.set_epoch_deadline(ticks(limits.cpu_time));
    store.epoch_deadline_callback(|cx| {
        let state = cx.data();
        let used = state.guest_time();
        if used >= state.cpu_time {
            Ok(UpdateDeadline::Interrupt)
        } else {
            // Re-arm for what is left of the budget, but come back at least
            // every 50 ms so a long computation yields to other tasks.
            let left = ticks(state.cpu_time - used).min(10);
            Ok(UpdateDeadline::Yield(left))
        }
    });

    let work = async {
        match (pre, &invocation) {
            (SkillPre::V0_2(pre), Invocation::Describe) => {
                let skill = pre.instantiate_async(&mut store).await?;
                skill
                    .guardian_skill_tools()
                    .call_describe(&mut store)
                    .await
                    .map(|specs| Ok(RawOutput::Describe(specs)))
            }
            (SkillPre::V0_2(pre), Invocation::Call(tool, input)) => {
                let skill = pre.instantiate_async(&mut store).await?;
                skill
                    .guardian_skill_tools()
                    .call_call(&mut store, tool, input)
                    .await
                    .map(|r| r.map(RawOutput::Call))
            }
            (SkillPre::V0_1(pre), Invocation::Describe) => {
                let skill = pre.instantiate_async(&mut store).await?;
                skill
                    .guardian_skill_tools()
                    .call_describe(&mut store)
                    .await
                    .map(|specs| Ok(RawOutput::Describe(specs)))
            }
            (SkillPre::V0_1(pre), Invocation::Call(tool, input)) => {
                let skill = pre.instantiate_async(&mut store).await?;
                skill
                    .guardian_skill_tools()
                    .call_call(&mut store, tool, input)
                    .await
                    .map(|r| r.map(RawOutput::Call))
            }
        }
    };
    let outcome = tokio::time::timeout(limits.wall_time, work).await;
    forward_stdio(store.data(), label);

    let tool = label.to_owned();
    let result = match outcome {
        Err(_) => {
            return Err(CallError::WallTimeExceeded {
                tool,
                limit: limits.wall_time,
            });
        }
        Ok(Err(err)) => return Err(classify_trap(err, store.data(), limits, tool)),
        Ok(Ok(result)) => result,
    };
    match result {
        Err(ToolError::InvalidInput(message)) => Err(CallError::InvalidInput { tool, message }),
        Err(ToolError::Failed(message)) => Err(CallError::ToolFailed {
            tool,
            message: truncate(&message, 8192).to_owned(),
        }),
        Err(ToolError::Host(e)) => Err(CallError::HostError {
            tool,
            kind: error_kind_str(e.kind).to_owned(),
            message: truncate(&e.message, 8192).to_owned(),
        }),
        Ok(RawOutput::Describe(specs)) => {
            let bytes: usize = specs
                .iter()
                .map(|s| s.name.len() + s.description.len() + s.input_schema.len())
                .sum();
            if bytes > limits.output_bytes {
                return Err(CallError::OutputTooLarge {
                    tool,
                    bytes,
                    limit: limits.output_bytes,
                });
            }
            Ok(Output::Describe(specs))
        }
        Ok(RawOutput::Call(text)) => {
            if text.len() > limits.output_bytes {
                return Err(CallError::OutputTooLarge {
                    tool,
                    bytes: text.len(),
                    limit: limits.output_bytes,
                });
            }
            serde_json::from_str(&text)
                .map(Output::Call)
                .map_err(|e| CallError::InvalidOutput {
                    tool,
                    message: format!("{e} (output starts {:?})", truncate(&text, 80)),
                })
        }
    }
}

/// The WIT name of an error kind (`not-found`), as JSON output shows it.
pub(crate) fn error_kind_str(kind: crate::bindings::latest::types::ErrorKind) -> &'static str {
    use crate::bindings::latest::types::ErrorKind as K;
    match kind {
        K::Denied => "denied",
        K::NotFound => "not-found",
        K::Invalid => "invalid",
        K::Conflict => "conflict",
        K::Unavailable => "unavailable",
        K::Timeout => "timeout",
        K::TooLarge => "too-large",
        K::Internal => "internal",
    }
}

enum RawOutput {
    Describe(Vec<ToolSpec>),
    Call(String),
}

fn ticks(d: Duration) -> u64 {
    (d.as_micros() / EPOCH_TICK.as_micros()).max(1) as u64 + 1
}

/// Turns a wasmtime error into the error a person can act on.
fn classify_trap(
    err: wasmtime::Error,
    state: &HostState,
    limits: &Limits,
    tool: String,
) -> CallError {
    if let Some(trap) = err.downcast_ref::<Trap>() {
        match trap {
            Trap::Interrupt => {
                return CallError::CpuTimeExceeded {
                    tool,
                    limit: limits.cpu_time,
                };
            }
            Trap::StackOverflow => return CallError::StackExhausted { tool },
            _ => {}
        }
    }
    let text = format!("{err:#}");
    if text.contains("growing memory") || text.contains("memory minimum size") {
        return CallError::MemoryExceeded {
            tool,
            limit_mib: limits.memory_bytes >> 20,
        };
    }
    if let Some(trap) = err.downcast_ref::<Trap>() {
        // A Rust panic prints its message to stderr, then hits `unreachable`.
        let stderr = String::from_utf8_lossy(&state.stderr.contents()).into_owned();
        // Rust prints "thread … panicked at FILE:LINE:COL:" then the message
        // (then a RUST_BACKTRACE hint); quote the message, else the last line.
        let lines: Vec<&str> = stderr.lines().filter(|l| !l.trim().is_empty()).collect();
        let quoted = match lines.iter().position(|l| l.contains("panicked at")) {
            Some(i) => lines[i..]
                .iter()
                .take(2)
                .copied()
                .collect::<Vec<_>>()
                .join(" "),
            None => lines.last().map(|l| l.to_string()).unwrap_or_default(),
        };
        let last = if quoted.is_empty() {
            String::new()
        } else {
            format!(" — stderr: {}", truncate(&quoted, 500))
        };
        let what = match trap {
            Trap::UnreachableCodeReached => "panicked (wasm `unreachable`)".to_owned(),
            other => format!("trapped: {other}"),
        };
        return CallError::Trap {
            tool,
            message: format!("{what}{last}"),
        };
    }
    if let Some(exit) = err.downcast_ref::<wasmtime_wasi::I32Exit>() {
        return CallError::Trap {
            tool,
            message: format!("called exit({})", exit.0),
        };
    }
    CallError::Internal {
        tool,
        message: truncate(&text, 2000).to_owned(),
    }
}

fn forward_stdio(state: &HostState, label: &str) {
    for (stream, pipe) in [("stdout", &state.stdout), ("stderr", &state.stderr)] {
        let bytes = pipe.contents();
        if bytes.is_empty() {
            continue;
        }
        let text = String::from_utf8_lossy(&bytes);
        let mut lines = text.lines();
        for line in lines.by_ref().take(50) {
            tracing::debug!(target: "guardian::skill", tool = %label, stream, "{}", truncate(line, 1000));
        }
        let rest = lines.count();
        if rest > 0 {
            tracing::debug!(target: "guardian::skill", tool = %label, stream, "({rest} more lines omitted)");
        }
    }
}
