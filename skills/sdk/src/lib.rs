//! Write [Guardian](https://github.com/guardian-ops/guardian) skills in typed Rust.
//!
//! A skill is a WebAssembly component (`wasm32-wasip2`) that exports tools and
//! calls the cluster only through the host. With this crate a tool is a type
//! implementing [`Tool`]: a serde input (its JSON Schema is derived with
//! `schemars`, doc comments included), a serde output, and a `run` function.
//! [`skill!`] turns a list of tools into the component's exports. The host
//! interfaces are plain functions: [`kube`], [`metrics`], [`actions`], [`log`].
//!
//! The crate targets the ABI `guardian:skill@0.2.0`; declare `abi = "0.2.0"` in
//! the skill's `skill.toml`.
//!
//! # Example
//!
//! ```no_run
//! use guardian_skill_sdk::{kube, skill, Effect, ListOptions, Tool, ToolError};
//! use schemars::JsonSchema;
//! use serde::{Deserialize, Serialize};
//! use serde_json::Value;
//!
//! /// Counts the pods of a namespace by phase.
//! struct PodPhases;
//!
//! #[derive(Deserialize, JsonSchema)]
//! struct Input {
//!     /// The namespace; every namespace when absent.
//!     namespace: Option<String>,
//! }
//!
//! #[derive(Serialize)]
//! struct Output {
//!     phases: std::collections::BTreeMap<String, usize>,
//! }
//!
//! impl Tool for PodPhases {
//!     const NAME: &'static str = "pod-phases";
//!     const DESCRIPTION: &'static str = "Counts the pods of a namespace by phase.";
//!     const EFFECT: Effect = Effect::Read;
//!     type Input = Input;
//!     type Output = Output;
//!
//!     fn run(input: Input) -> Result<Output, ToolError> {
//!         let options = ListOptions { namespace: input.namespace, ..Default::default() };
//!         let pods = kube::list::<Value>("pods", &options)?;
//!         let mut phases = std::collections::BTreeMap::new();
//!         for pod in &pods.items {
//!             let phase = pod["status"]["phase"].as_str().unwrap_or("Unknown");
//!             *phases.entry(phase.to_string()).or_default() += 1;
//!         }
//!         Ok(Output { phases })
//!     }
//! }
//!
//! skill!(PodPhases);
//! # fn main() {}
//! ```
//!
//! Build it with `cargo build --release --target wasm32-wasip2` (crate type
//! `cdylib`); the `.wasm` in the target directory is the component.
//!
//! # Errors
//!
//! A tool returns [`ToolError`]: `?` on a host call passes the [`HostError`]
//! on as [`ToolError::Host`]; [`ToolError::failed`] says the tool could not do
//! its job. Input that does not deserialize never reaches `run`: the caller
//! gets [`ToolError::InvalidInput`] naming the offending field.
//!
//! # Sandbox
//!
//! A skill has no filesystem, network, clock or environment: the host refuses
//! components importing `wasi:filesystem` or `wasi:sockets`. Plain `std` code
//! (collections, formatting, serde) does not import them; `std::fs` and
//! `std::net` do. Every component imports `wasi:cli` and `wasi:io` (std's
//! stdio and exit); `HashMap`'s random seed adds `wasi:random/insecure-seed`
//! and `std::time` adds `wasi:clocks`, so prefer `BTreeMap`, and take times
//! from the objects rather than from the clock.

extern crate self as guardian_skill_sdk;

use serde::de::DeserializeOwned;
use serde::{Deserialize, Deserializer, Serialize};
use serde_json::Value;

/// The raw bindings generated from the WIT. Not part of the stable API: use
/// the typed wrappers of this crate instead.
#[doc(hidden)]
#[allow(unsafe_code, missing_docs, clippy::all)]
pub mod bindings {
    wit_bindgen::generate!({
        path: "../../wit/since_v0.2.0",
        world: "skill",
        pub_export_macro: true,
        default_bindings_module: "guardian_skill_sdk::bindings",
        // Skill crates depend on this crate only, not on wit-bindgen.
        runtime_path: "guardian_skill_sdk::__private::wit_bindgen::rt",
        // Lets tools return host records (usage, API resources) as output.
        additional_derives: [serde::Serialize],
    });
}

pub use bindings::guardian::skill::types::{
    ApiResource, ContainerUsage, Effect, ErrorKind, HostError, Level, ListOptions, LogOptions,
    ObjectRef, Proposal, ToolError, ToolSpec,
};

/// One tool of a skill.
///
/// The input's JSON Schema is derived from `Input` with `schemars`: doc
/// comments on its fields become descriptions that people and language models
/// read, so write them. The host validates the input against that schema before
/// calling the tool.
pub trait Tool {
    /// Unique within the skill: `[a-z][a-z0-9-_]*` (checked at compile time by
    /// [`skill!`]).
    const NAME: &'static str;
    /// One or two sentences shown to people and to language models.
    const DESCRIPTION: &'static str;
    /// [`Effect::Read`] for tools that only observe, [`Effect::Propose`] for
    /// tools that call [`actions::propose`].
    const EFFECT: Effect;
    /// The input, deserialized from the caller's JSON object.
    type Input: DeserializeOwned + schemars::JsonSchema;
    /// The output: any `serde::Serialize` type (sent as JSON), see
    /// [`ToolOutput`].
    type Output: ToolOutput;

    /// Runs the tool.
    fn run(input: Self::Input) -> Result<Self::Output, ToolError>;
}

/// What a tool can return: every `serde::Serialize` type, encoded as JSON, and
/// [`RawOutput`].
pub trait ToolOutput {
    /// The JSON text handed back to the host.
    fn into_json(self) -> Result<String, ToolError>;
}

impl<T: Serialize> ToolOutput for T {
    fn into_json(self) -> Result<String, ToolError> {
        serde_json::to_string(&self)
            .map_err(|e| ToolError::failed(format!("cannot encode the tool's output as JSON: {e}")))
    }
}

/// Text returned to the host as it is, without checking that it is JSON.
///
/// For tests of the host's handling of misbehaving skills only: a real tool
/// returns a `Serialize` type.
#[derive(Debug, Clone)]
pub struct RawOutput(pub String);

impl ToolOutput for RawOutput {
    fn into_json(self) -> Result<String, ToolError> {
        Ok(self.0)
    }
}

/// The input of a tool that takes no arguments (`{}`).
#[derive(Debug, Clone, Default, Deserialize, schemars::JsonSchema)]
pub struct NoInput {}

impl ToolError {
    /// The tool ran and could not do its job.
    pub fn failed(message: impl Into<String>) -> Self {
        ToolError::Failed(message.into())
    }

    /// The input is unusable; `message` names the field.
    pub fn invalid_input(message: impl Into<String>) -> Self {
        ToolError::InvalidInput(message.into())
    }
}

impl From<HostError> for ToolError {
    fn from(error: HostError) -> Self {
        ToolError::Host(error)
    }
}

impl From<serde_json::Error> for ToolError {
    fn from(error: serde_json::Error) -> Self {
        ToolError::Failed(format!("JSON: {error}"))
    }
}

impl ErrorKind {
    /// The WIT name: `denied`, `not-found`, `invalid`, `conflict`,
    /// `unavailable`, `timeout`, `too-large`, `internal`.
    pub fn as_str(&self) -> &'static str {
        match self {
            ErrorKind::Denied => "denied",
            ErrorKind::NotFound => "not-found",
            ErrorKind::Invalid => "invalid",
            ErrorKind::Conflict => "conflict",
            ErrorKind::Unavailable => "unavailable",
            ErrorKind::Timeout => "timeout",
            ErrorKind::TooLarge => "too-large",
            ErrorKind::Internal => "internal",
        }
    }
}

impl HostError {
    /// A host error of `kind` with a message for people.
    pub fn new(kind: ErrorKind, message: impl Into<String>) -> Self {
        HostError {
            kind,
            message: message.into(),
        }
    }

    /// `kind: message`, for people (the generated `Display` is `Debug`-like).
    pub fn describe(&self) -> String {
        format!("{}: {}", self.kind.as_str(), self.message)
    }
}

// Generated types cannot `#[derive(Default)]`.
#[allow(clippy::derivable_impls)]
impl Default for ListOptions {
    fn default() -> Self {
        ListOptions {
            namespace: None,
            label_selector: None,
            field_selector: None,
            limit: None,
        }
    }
}

#[allow(clippy::derivable_impls)]
impl Default for LogOptions {
    fn default() -> Self {
        LogOptions {
            container: None,
            tail_lines: None,
            previous: false,
        }
    }
}

impl ObjectRef {
    /// A reference to `kind` `name` (`apiVersion` as in the object: `v1`,
    /// `apps/v1`); `namespace` is `None` for cluster-scoped objects.
    pub fn new(api_version: &str, kind: &str, namespace: Option<&str>, name: &str) -> Self {
        ObjectRef {
            api_version: api_version.into(),
            kind: kind.into(),
            namespace: namespace.map(Into::into),
            name: name.into(),
        }
    }
}

impl Proposal {
    /// A proposal to apply the RFC 6902 JSON Patch `json_patch` (an array of
    /// operations, with `test` ops pinning what it changes) to `target`.
    pub fn new(target: ObjectRef, json_patch: &Value, rationale: impl Into<String>) -> Self {
        Proposal {
            target,
            json_patch: json_patch.to_string(),
            rationale: rationale.into(),
        }
    }
}

/// A Kubernetes list (`PodList`, `EventList`, …) with its items deserialized
/// as `T`.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(bound(deserialize = "T: Deserialize<'de>"))]
pub struct List<T = Value> {
    /// The list's kind (`PodList`), when the host sent one.
    #[serde(default)]
    pub kind: Option<String>,
    /// The items; empty when the answer had none (or `null`).
    #[serde(default = "Vec::new", deserialize_with = "null_as_empty")]
    pub items: Vec<T>,
}

fn null_as_empty<'de, D: Deserializer<'de>, T: Deserialize<'de>>(d: D) -> Result<Vec<T>, D::Error> {
    Ok(Option::<Vec<T>>::deserialize(d)?.unwrap_or_default())
}

/// Parses a host answer; a mismatch is the host's (or the caller's type's)
/// fault, reported as `internal` with the path of the offending field.
fn parse<T: DeserializeOwned>(text: &str, what: &str) -> Result<T, HostError> {
    // Plain serde first: tracking the path costs an allocation per map key,
    // which is most of the time of a large list. Only a failure is parsed
    // again, to say where.
    if let Ok(value) = serde_json::from_str(text) {
        return Ok(value);
    }
    let mut de = serde_json::Deserializer::from_str(text);
    serde_path_to_error::deserialize(&mut de).map_err(|e| {
        HostError::new(
            ErrorKind::Internal,
            format!(
                "{what}: the host's answer is not the expected JSON: {}",
                describe_path_error(&e)
            ),
        )
    })
}

fn describe_path_error(e: &serde_path_to_error::Error<serde_json::Error>) -> String {
    let path = e.path().to_string();
    if path == "." {
        e.inner().to_string()
    } else {
        format!("field `{path}`: {}", e.inner())
    }
}

/// Kubernetes, through the host's broker. Resources are named as kubectl names
/// them (`pods`, `deployments.apps`); every call is checked against the
/// skill's grants and the policy, and fails with [`ErrorKind::Denied`] outside
/// them.
pub mod kube {
    use super::*;
    use crate::bindings::guardian::skill::kube as raw;

    /// One object, deserialized as `T` (`serde_json::Value` for any object).
    /// `namespace` is `None` for cluster-scoped resources.
    pub fn get<T: DeserializeOwned>(
        resource: &str,
        namespace: Option<&str>,
        name: &str,
    ) -> Result<T, HostError> {
        let text = raw::get(resource, namespace, name)?;
        parse(&text, &format!("kube.get {resource} {name}"))
    }

    /// A list of `resource` with its items as `T`.
    pub fn list<T: DeserializeOwned>(
        resource: &str,
        options: &ListOptions,
    ) -> Result<List<T>, HostError> {
        let text = raw::list(resource, options)?;
        parse(&text, &format!("kube.list {resource}"))
    }

    /// A container's log as text.
    pub fn logs(namespace: &str, pod: &str, options: &LogOptions) -> Result<String, HostError> {
        raw::logs(namespace, pod, options)
    }

    /// The events about `object` (an `Event`'s `involvedObject`), oldest first.
    pub fn events(object: &ObjectRef) -> Result<Vec<Value>, HostError> {
        let text = raw::events(object)?;
        let list: List<Value> = parse(
            &text,
            &format!("kube.events {} {}", object.kind, object.name),
        )?;
        Ok(list.items)
    }

    /// Server-side dry-run of an RFC 6902 JSON Patch (an array of operations);
    /// returns the object as it would be after the patch. Nothing is persisted.
    pub fn dry_run_patch(
        resource: &str,
        namespace: Option<&str>,
        name: &str,
        json_patch: &Value,
    ) -> Result<Value, HostError> {
        let text = raw::dry_run_patch(resource, namespace, name, &json_patch.to_string())?;
        parse(&text, &format!("kube.dry-run-patch {resource} {name}"))
    }

    /// Like [`dry_run_patch`], for a caller that only needs to know whether
    /// the API server would accept the patch: the patched object is not
    /// parsed.
    pub fn dry_run_patch_check(
        resource: &str,
        namespace: Option<&str>,
        name: &str,
        json_patch: &Value,
    ) -> Result<(), HostError> {
        raw::dry_run_patch(resource, namespace, name, &json_patch.to_string()).map(drop)
    }

    /// API discovery, as `kubectl api-resources` shows it.
    pub fn api_resources() -> Result<Vec<ApiResource>, HostError> {
        raw::api_resources()
    }
}

/// Resource usage: metrics.k8s.io and Prometheus. Requires `metrics = true` in
/// the skill's grants.
pub mod metrics {
    use super::*;
    use crate::bindings::guardian::skill::metrics as raw;

    /// Current usage of the pods' containers in `namespace` (all when `None`).
    pub fn pod_usage(
        namespace: Option<&str>,
        label_selector: Option<&str>,
    ) -> Result<Vec<ContainerUsage>, HostError> {
        raw::pod_usage(namespace, label_selector)
    }

    /// PromQL instant query at `at` (RFC 3339 or Unix time; now when `None`);
    /// returns Prometheus' `data` object.
    pub fn query(promql: &str, at: Option<&str>) -> Result<Value, HostError> {
        parse(&raw::query(promql, at)?, "metrics.query")
    }

    /// PromQL range query; returns Prometheus' `data` object.
    pub fn query_range(
        promql: &str,
        start: &str,
        end: &str,
        step: &str,
    ) -> Result<Value, HostError> {
        parse(
            &raw::query_range(promql, start, end, step)?,
            "metrics.query-range",
        )
    }
}

/// Proposing changes for a human to approve. There is no apply.
pub mod actions {
    use super::*;

    /// Dry-runs `proposal` and stores it as a pending action; returns its id.
    pub fn propose(proposal: &Proposal) -> Result<String, HostError> {
        crate::bindings::guardian::skill::actions::propose(proposal)
    }
}

/// Log lines into the host's tracing, tagged with the skill and tool. Prefer
/// these to printing: the host discards a skill's stdout and stderr.
pub mod log {
    pub use super::Level;
    use crate::bindings::guardian::skill::log as raw;

    /// A line at `level`.
    pub fn log(level: Level, message: impl AsRef<str>) {
        raw::log(level, message.as_ref());
    }
    /// A trace line.
    pub fn trace(message: impl AsRef<str>) {
        log(Level::Trace, message);
    }
    /// A debug line.
    pub fn debug(message: impl AsRef<str>) {
        log(Level::Debug, message);
    }
    /// An info line.
    pub fn info(message: impl AsRef<str>) {
        log(Level::Info, message);
    }
    /// A warning.
    pub fn warn(message: impl AsRef<str>) {
        log(Level::Warn, message);
    }
    /// An error line.
    pub fn error(message: impl AsRef<str>) {
        log(Level::Error, message);
    }
    /// Progress of a long call: `done` of `total` steps. Cheap.
    pub fn progress(done: u32, total: u32, message: impl AsRef<str>) {
        raw::progress(done, total, message.as_ref());
    }
}

/// Exports the listed [`Tool`] types as the skill's tools.
///
/// Use it once per skill crate (a `cdylib`), at the crate root:
/// `skill!(Summary, Get, List);`. Tool names are checked at compile time:
/// unique, and of the form `[a-z][a-z0-9-_]*`.
#[macro_export]
macro_rules! skill {
    ($($tool:ty),+ $(,)?) => {
        const _: () = $crate::__private::check_names(&[$(<$tool as $crate::Tool>::NAME),+]);

        #[doc(hidden)]
        pub struct __GuardianSkill;

        impl $crate::bindings::exports::guardian::skill::tools::Guest for __GuardianSkill {
            fn describe() -> ::std::vec::Vec<$crate::ToolSpec> {
                ::std::vec![$($crate::__private::spec::<$tool>()),+]
            }

            fn call(
                name: ::std::string::String,
                input: ::std::string::String,
            ) -> ::std::result::Result<::std::string::String, $crate::ToolError> {
                $(
                    if name == <$tool as $crate::Tool>::NAME {
                        return $crate::__private::call::<$tool>(&input);
                    }
                )+
                ::std::result::Result::Err($crate::__private::unknown_tool(
                    &name,
                    &[$(<$tool as $crate::Tool>::NAME),+],
                ))
            }
        }

        $crate::bindings::export!(__GuardianSkill with_types_in $crate::bindings);
    };
}

/// Used by [`skill!`]; not part of the API.
#[doc(hidden)]
pub mod __private {
    use super::*;
    pub use wit_bindgen;

    pub fn spec<T: Tool>() -> ToolSpec {
        let schema = schemars::schema_for!(T::Input);
        ToolSpec {
            name: T::NAME.into(),
            description: T::DESCRIPTION.into(),
            input_schema: serde_json::to_string(&schema).expect("a JSON Schema serializes"),
            effect: T::EFFECT,
        }
    }

    pub fn call<T: Tool>(input: &str) -> Result<String, ToolError> {
        // The host always sends an object; be lenient with an empty input.
        let input = if input.trim().is_empty() { "{}" } else { input };
        let mut de = serde_json::Deserializer::from_str(input);
        let parsed: T::Input = serde_path_to_error::deserialize(&mut de)
            .map_err(|e| ToolError::invalid_input(describe_path_error(&e)))?;
        de.end()
            .map_err(|e| ToolError::invalid_input(e.to_string()))?;
        T::run(parsed)?.into_json()
    }

    pub fn unknown_tool(name: &str, known: &[&str]) -> ToolError {
        ToolError::failed(format!(
            "unknown tool {name}; this skill has: {}",
            known.join(", ")
        ))
    }

    /// Compile-time check of the tool names given to `skill!`.
    pub const fn check_names(names: &[&str]) {
        let mut i = 0;
        while i < names.len() {
            let name = names[i].as_bytes();
            if name.is_empty() || !name[0].is_ascii_lowercase() {
                panic!("skill!: a tool name must start with a lowercase ASCII letter");
            }
            let mut k = 1;
            while k < name.len() {
                let c = name[k];
                if !(c.is_ascii_lowercase() || c.is_ascii_digit() || c == b'-' || c == b'_') {
                    panic!("skill!: a tool name may contain only a-z, 0-9, '-' and '_'");
                }
                k += 1;
            }
            let mut j = i + 1;
            while j < names.len() {
                if bytes_eq(name, names[j].as_bytes()) {
                    panic!("skill!: two tools have the same name");
                }
                j += 1;
            }
            i += 1;
        }
    }

    const fn bytes_eq(a: &[u8], b: &[u8]) -> bool {
        if a.len() != b.len() {
            return false;
        }
        let mut i = 0;
        while i < a.len() {
            if a[i] != b[i] {
                return false;
            }
            i += 1;
        }
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Deserialize, schemars::JsonSchema)]
    struct EchoInput {
        /// What to echo.
        text: String,
        #[serde(default)]
        times: Option<u32>,
    }

    struct Echo;
    impl Tool for Echo {
        const NAME: &'static str = "echo";
        const DESCRIPTION: &'static str = "Echoes.";
        const EFFECT: Effect = Effect::Read;
        type Input = EchoInput;
        type Output = Value;
        fn run(input: EchoInput) -> Result<Value, ToolError> {
            Ok(Value::String(
                input.text.repeat(input.times.unwrap_or(1) as usize),
            ))
        }
    }

    #[test]
    fn spec_carries_the_schema() {
        let spec = __private::spec::<Echo>();
        assert_eq!(spec.name, "echo");
        let schema: Value = serde_json::from_str(&spec.input_schema).unwrap();
        assert_eq!(schema["type"], "object");
        assert_eq!(schema["required"], serde_json::json!(["text"]));
        assert_eq!(schema["properties"]["text"]["description"], "What to echo.");
    }

    #[test]
    fn call_decodes_runs_and_encodes() {
        let out = __private::call::<Echo>(r#"{"text":"ab","times":2}"#).unwrap();
        assert_eq!(out, r#""abab""#);
    }

    #[test]
    fn bad_input_names_the_field() {
        match __private::call::<Echo>(r#"{"text":"a","times":"x"}"#) {
            Err(ToolError::InvalidInput(m)) => {
                assert!(m.starts_with("field `times`: invalid type"), "{m}")
            }
            other => panic!("{other:?}"),
        }
        match __private::call::<Echo>(r#"{}"#) {
            Err(ToolError::InvalidInput(m)) => assert!(m.contains("missing field `text`"), "{m}"),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn raw_output_passes_through() {
        assert_eq!(
            RawOutput("not json".into()).into_json().unwrap(),
            "not json"
        );
    }

    #[test]
    fn unknown_tool_lists_the_known_ones() {
        let e = __private::unknown_tool("x", &["a", "b"]);
        assert!(matches!(e, ToolError::Failed(m) if m == "unknown tool x; this skill has: a, b"));
    }

    #[test]
    fn host_answers_that_do_not_parse_are_internal_errors() {
        let e = parse::<List<u32>>(r#"{"items":[1,"two"]}"#, "kube.list pods").unwrap_err();
        assert_eq!(e.kind, ErrorKind::Internal);
        assert!(
            e.message.starts_with(
                "kube.list pods: the host's answer is not the expected JSON: field `items[1]`:"
            ),
            "{}",
            e.message
        );
        let empty: List<u32> = parse(r#"{"kind":"PodList","items":null}"#, "x").unwrap();
        assert!(empty.items.is_empty());
    }

    #[test]
    fn names_are_checked() {
        __private::check_names(&["a", "b-c", "d_1"]);
        assert!(std::panic::catch_unwind(|| __private::check_names(&["a", "a"])).is_err());
        assert!(std::panic::catch_unwind(|| __private::check_names(&["Bad"])).is_err());
    }
}
