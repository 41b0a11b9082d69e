//! `hostile`: a test skill that misbehaves on request, one way per tool, so the
//! end-to-end tests can prove the host stops and reports each misbehaviour and
//! keeps serving. Never shipped.

use std::hint::black_box;
use std::io::Write;

use guardian_skill_sdk::{
    Effect, ListOptions, NoInput, RawOutput, Tool, ToolError, kube, log, metrics, skill,
};
use schemars::JsonSchema;
use serde::Deserialize;
use serde_json::{Value, json};

skill!(
    Behave, ListPods, Spin, Grow, Recurse, Panic, HugeOutput, Garbage, ReadSecret, StdoutSpam, Log,
    Roundtrip, GetAny, PatchAny, Metrics
);

/// Declares a tool taking `NoInput` and returning `Value`.
macro_rules! tool {
    ($ty:ident, $name:literal, $desc:literal, $body:block) => {
        pub struct $ty;
        impl Tool for $ty {
            const NAME: &'static str = $name;
            const DESCRIPTION: &'static str = $desc;
            const EFFECT: Effect = Effect::Read;
            type Input = NoInput;
            type Output = Value;
            fn run(_input: NoInput) -> Result<Value, ToolError> $body
        }
    };
}

tool!(Behave, "ok", "Behaves: returns {\"ok\": true}.", {
    Ok(json!({"ok": true}))
});

tool!(
    ListPods,
    "list-pods",
    "Lists pods in every namespace (granted); returns {\"pods\": count}.",
    {
        let pods = kube::list::<Value>("pods", &ListOptions::default())?;
        Ok(json!({"pods": pods.items.len()}))
    }
);

tool!(Spin, "spin", "Loops forever.", {
    let mut i = 0u64;
    loop {
        i = black_box(i.wrapping_add(1));
    }
});

tool!(
    Grow,
    "grow",
    "Allocates (and touches) 1 MiB after 1 MiB, forever.",
    {
        let mut held: Vec<Vec<u8>> = Vec::new();
        loop {
            held.push(black_box(vec![0xA5u8; 1 << 20]));
            black_box(&held);
        }
    }
);

/// Not tail-recursive (the result is combined after the call) and with scalar
/// arguments only, so each level is a wasm call frame, not linear memory.
#[inline(never)]
fn recurse(depth: u64) -> u64 {
    if depth == 0 {
        return 1;
    }
    recurse(depth - 1).wrapping_mul(31) ^ depth
}

tool!(
    Recurse,
    "recurse",
    "Recurses until the wasm call stack is exhausted.",
    { Ok(json!({"result": recurse(black_box(u64::MAX))})) }
);

tool!(Panic, "panic", "Panics.", {
    panic!("hostile skill panicking on purpose")
});

tool!(
    HugeOutput,
    "huge-output",
    "Returns a JSON string of 2 MiB.",
    { Ok(Value::String("x".repeat(2 << 20))) }
);

/// Returns text that is not JSON.
pub struct Garbage;
impl Tool for Garbage {
    const NAME: &'static str = "garbage";
    const DESCRIPTION: &'static str = "Returns text that is not JSON.";
    const EFFECT: Effect = Effect::Read;
    type Input = NoInput;
    type Output = RawOutput;
    fn run(_input: NoInput) -> Result<RawOutput, ToolError> {
        Ok(RawOutput("this is {not JSON".to_string()))
    }
}

/// Reads a Secret, which its grants (pods only) do not allow.
pub struct ReadSecret;

#[derive(Deserialize, JsonSchema)]
pub struct ReadSecretInput {
    #[serde(default = "default_ns")]
    pub namespace: String,
    #[serde(default = "default_secret")]
    pub name: String,
}
fn default_ns() -> String {
    "default".into()
}
fn default_secret() -> String {
    "db-credentials".into()
}

impl Tool for ReadSecret {
    const NAME: &'static str = "read-secret";
    const DESCRIPTION: &'static str =
        "Gets a Secret (outside its grants); returns the host's error as the tool error.";
    const EFFECT: Effect = Effect::Read;
    type Input = ReadSecretInput;
    type Output = Value;
    fn run(input: ReadSecretInput) -> Result<Value, ToolError> {
        // Should the host ever answer, the test sees the secret in the output.
        Ok(kube::get::<Value>(
            "secrets",
            Some(&input.namespace),
            &input.name,
        )?)
    }
}

tool!(
    StdoutSpam,
    "stdout-spam",
    "Writes 10 MiB to stdout and 10 MiB to stderr, then returns ok.",
    {
        let chunk = vec![b'y'; 64 << 10];
        let (mut out, mut err) = (std::io::stdout(), std::io::stderr());
        for _ in 0..160 {
            // The host may discard or close these; carrying on is the point.
            let _ = out.write_all(&chunk);
            let _ = err.write_all(&chunk);
        }
        let _ = out.flush();
        Ok(json!({"ok": true}))
    }
);

tool!(
    Log,
    "log",
    "Logs a line at each level and reports progress.",
    {
        log::trace("hostile: trace line");
        log::debug("hostile: debug line");
        log::info("hostile: info line");
        log::warn("hostile: warn line");
        log::error("hostile: error line");
        log::progress(1, 2, "halfway");
        log::progress(2, 2, "done");
        Ok(json!({"logged": true}))
    }
);

/// Input of `roundtrip`.
#[derive(Deserialize, JsonSchema)]
pub struct RoundtripInput {
    /// How many host calls to make.
    pub n: u32,
}

/// Makes `n` cheap host calls (`log.log` at trace level), so a benchmark can
/// take the cost of one host-import round trip as the slope over `n`.
pub struct Roundtrip;
impl Tool for Roundtrip {
    const NAME: &'static str = "roundtrip";
    const DESCRIPTION: &'static str = "Makes n log.log host calls; returns {\"calls\": n}.";
    const EFFECT: Effect = Effect::Read;
    type Input = RoundtripInput;
    type Output = Value;
    fn run(input: RoundtripInput) -> Result<Value, ToolError> {
        for _ in 0..input.n {
            log::trace("roundtrip");
        }
        Ok(json!({"calls": input.n}))
    }
}

/// Input of `get`.
#[derive(Deserialize, JsonSchema)]
pub struct GetInput {
    pub resource: String,
    pub namespace: Option<String>,
    pub name: String,
}

/// Reads any object it is asked to (the host decides whether it may).
pub struct GetAny;
impl Tool for GetAny {
    const NAME: &'static str = "get";
    const DESCRIPTION: &'static str = "Gets any object; the host's grants and policy decide.";
    const EFFECT: Effect = Effect::Read;
    type Input = GetInput;
    type Output = Value;
    fn run(input: GetInput) -> Result<Value, ToolError> {
        Ok(kube::get::<Value>(
            &input.resource,
            input.namespace.as_deref(),
            &input.name,
        )?)
    }
}

/// Input of `patch`.
#[derive(Deserialize, JsonSchema)]
pub struct PatchInput {
    pub resource: String,
    pub namespace: Option<String>,
    pub name: String,
    pub patch: Value,
}

/// Asks for a dry-run patch of any object (the host decides).
pub struct PatchAny;
impl Tool for PatchAny {
    const NAME: &'static str = "patch";
    const DESCRIPTION: &'static str =
        "Dry-run patches any object; the host's grants and policy decide.";
    const EFFECT: Effect = Effect::Propose;
    type Input = PatchInput;
    type Output = Value;
    fn run(input: PatchInput) -> Result<Value, ToolError> {
        Ok(kube::dry_run_patch(
            &input.resource,
            input.namespace.as_deref(),
            &input.name,
            &input.patch,
        )?)
    }
}

/// Input of `metrics`.
#[derive(Deserialize, JsonSchema)]
pub struct MetricsInput {
    /// `query`, `query-range` or `pod-usage`.
    pub op: String,
    pub promql: Option<String>,
    pub at: Option<String>,
    pub start: Option<String>,
    pub end: Option<String>,
    pub step: Option<String>,
    pub namespace: Option<String>,
    pub selector: Option<String>,
}

/// Calls one `metrics` import and returns its answer, or its error as
/// `{"error": {"kind", "message"}}` (so a test sees the error's class).
pub struct Metrics;
impl Tool for Metrics {
    const NAME: &'static str = "metrics";
    const DESCRIPTION: &'static str =
        "Calls metrics.query / query-range / pod-usage; returns {data} or {usage} or {error}.";
    const EFFECT: Effect = Effect::Read;
    type Input = MetricsInput;
    type Output = Value;
    fn run(input: MetricsInput) -> Result<Value, ToolError> {
        let text = |v: &Option<String>| v.clone().unwrap_or_default();
        let answer = match input.op.as_str() {
            "query" => {
                metrics::query(&text(&input.promql), input.at.as_deref()).map(|d| json!({"data": d}))
            }
            "query-range" => metrics::query_range(
                &text(&input.promql),
                &text(&input.start),
                &text(&input.end),
                &text(&input.step),
            )
            .map(|d| json!({"data": d})),
            _ => metrics::pod_usage(input.namespace.as_deref(), input.selector.as_deref()).map(
                |usage| {
                    let rows: Vec<Value> = usage
                        .iter()
                        .map(|u| {
                            json!({"namespace": u.namespace, "pod": u.pod, "container": u.container,
                                   "cpu_millicores": u.cpu_millicores, "memory_bytes": u.memory_bytes})
                        })
                        .collect();
                    json!({"usage": rows})
                },
            ),
        };
        Ok(answer.unwrap_or_else(
            |e| json!({"error": {"kind": format!("{:?}", e.kind), "message": e.message}}),
        ))
    }
}
