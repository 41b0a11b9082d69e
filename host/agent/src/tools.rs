//! The tools the loop may use: every tool of every loaded skill, as the
//! registry presents it (name, description, JSON Schema, effect). Skills'
//! tools read or propose; none approves or applies an action — that path is
//! not in the skill ABI, so no model can reach it through here.

use std::sync::Arc;
use std::time::{Duration, Instant};

use guardian_runtime::{CallError, Effect, Runtime};

/// The built-in diagnostics skill, and its tool every diagnosis runs:
/// named once here for the reasoner, the service layer and the servers.
pub const DIAGNOSTICS_SKILL: &str = "diagnostics";
/// See [`DIAGNOSTICS_SKILL`].
pub const ANALYZE_TOOL: &str = "analyze";
/// `diagnostics.analyze`.
pub const ANALYZE: &str = "diagnostics.analyze";
use serde::Serialize;
use serde_json::{Value, json};

/// A tool as offered to the loop.
#[derive(Clone, Debug, Serialize)]
pub struct OfferedTool {
    /// `diagnostics.analyze`.
    pub name: String,
    /// The name on the wire (`diagnostics__analyze`): OpenAI function names
    /// allow `[a-zA-Z0-9_-]` only.
    pub wire: String,
    pub description: String,
    pub input_schema: Value,
    pub effect: Effect,
}

impl OfferedTool {
    /// The Chat Completions `tools` entry.
    pub fn as_function(&self) -> Value {
        let effect = match self.effect {
            Effect::Read => "Read-only.",
            Effect::Propose => "Stores a proposal that a person must approve; applies nothing.",
        };
        json!({
            "type": "function",
            "function": {
                "name": self.wire,
                "description": format!("{} {effect}", self.description),
                "parameters": provider_schema(&self.input_schema),
            }
        })
    }
}

/// How deep `$ref`s are inlined; a deeper (or recursive) reference becomes
/// `{}` (any value), which every provider accepts. The runtime still
/// validates the call against the tool's own schema.
const MAX_REF_DEPTH: usize = 8;

/// A tool's input schema in the shape every provider accepts (OpenAI and
/// its strict mode's subset, llama.cpp's grammar builder, vLLM, Gemini's
/// OpenAI endpoint): every subschema an object (`true` becomes `{}`, a
/// `false` property is dropped), local `$ref`s inlined to a bounded depth,
/// `oneOf` read as `anyOf`, `["T", "null"]` types and `anyOf [X, null]`
/// read as `T` and `X` (an optional field is simply left out), `const` as a
/// one-value `enum`, only widely known `format`s, and no `$schema`,
/// `$defs`, `title` or conditional keywords. `additionalProperties: false`
/// stays: strict-mode providers require it and llama.cpp accepts it.
///
/// The result may accept more than the original; never less of what the
/// tool takes. What the model sends is still validated against the tool's
/// own schema, and an invalid call goes back to the model with the field.
pub fn provider_schema(schema: &Value) -> Value {
    let mut stack = Vec::new();
    let mut out = match normalize(schema, schema, &mut stack) {
        Some(Value::Object(m)) => m,
        _ => serde_json::Map::new(),
    };
    out.remove("title");
    out.entry("type").or_insert_with(|| json!("object"));
    if out["type"] == "object" {
        out.entry("properties").or_insert_with(|| json!({}));
    }
    Value::Object(out)
}

/// A normalized subschema; `None` for one that admits nothing (`false`).
fn normalize(schema: &Value, root: &Value, stack: &mut Vec<String>) -> Option<Value> {
    let m = match schema {
        Value::Bool(false) => return None,
        Value::Object(m) => m,
        // `true`, or anything that is not a schema: any value.
        _ => return Some(json!({})),
    };
    if let Some(reference) = m.get("$ref") {
        let mut siblings = m.clone();
        siblings.remove("$ref");
        let target = reference
            .as_str()
            .filter(|r| r.starts_with('#'))
            .filter(|r| !stack.iter().any(|s| s == r) && stack.len() < MAX_REF_DEPTH)
            .and_then(|r| root.pointer(&r[1..]).map(|t| (r.to_owned(), t)));
        let Some((reference, Value::Object(target))) = target else {
            // Unresolvable, recursive or too deep: any value, described.
            let mut any = serde_json::Map::new();
            if let Some(d) = siblings.get("description") {
                any.insert("description".into(), d.clone());
            }
            return Some(Value::Object(any));
        };
        let mut merged = target.clone();
        merged.extend(siblings);
        stack.push(reference);
        let out = normalize(&Value::Object(merged), root, stack);
        stack.pop();
        return out;
    }
    let mut out = serde_json::Map::new();
    let mut nullable = false;
    for (key, value) in m {
        match key.as_str() {
            "$schema"
            | "$id"
            | "$defs"
            | "definitions"
            | "$comment"
            | "$anchor"
            | "$dynamicRef"
            | "$dynamicAnchor"
            | "not"
            | "if"
            | "then"
            | "else"
            | "dependentSchemas"
            | "dependentRequired"
            | "dependencies"
            | "propertyNames"
            | "patternProperties"
            | "unevaluatedProperties"
            | "unevaluatedItems"
            | "contains"
            | "minContains"
            | "maxContains"
            | "prefixItems" => {}
            "properties" => {
                let props: serde_json::Map<String, Value> = value
                    .as_object()
                    .into_iter()
                    .flatten()
                    .filter_map(|(k, v)| Some((k.clone(), normalize(v, root, stack)?)))
                    .collect();
                out.insert(key.clone(), Value::Object(props));
            }
            "additionalProperties" => match value {
                Value::Bool(true) => {}
                Value::Bool(false) => {
                    out.insert(key.clone(), Value::Bool(false));
                }
                other => match normalize(other, root, stack) {
                    None => {
                        out.insert(key.clone(), Value::Bool(false));
                    }
                    Some(v) if v.as_object().is_some_and(|o| o.is_empty()) => {}
                    Some(v) => {
                        out.insert(key.clone(), v);
                    }
                },
            },
            "items" => match value {
                // The tuple form: any item (the runtime checks each).
                Value::Array(_) => {
                    out.insert(key.clone(), json!({}));
                }
                other => match normalize(other, root, stack) {
                    None => {
                        out.insert("maxItems".into(), json!(0));
                    }
                    Some(v) => {
                        out.insert(key.clone(), v);
                    }
                },
            },
            "anyOf" | "oneOf" | "allOf" => {
                let mut alternatives: Vec<Value> = value
                    .as_array()
                    .into_iter()
                    .flatten()
                    .filter_map(|v| normalize(v, root, stack))
                    .collect();
                if key != "allOf" {
                    let before = alternatives.len();
                    alternatives.retain(|a| a != &json!({"type": "null"}));
                    nullable |= alternatives.len() < before;
                }
                match alternatives.len() {
                    0 => {}
                    // One alternative: its keywords, the outer ones winning.
                    1 => {
                        if let Some(Value::Object(only)) = alternatives.pop() {
                            for (k, v) in only {
                                out.entry(k).or_insert(v);
                            }
                        }
                    }
                    _ => {
                        let key = if key == "allOf" { "allOf" } else { "anyOf" };
                        out.insert(key.into(), Value::Array(alternatives));
                    }
                }
            }
            "type" => match value {
                Value::Array(types) => {
                    let kept: Vec<&Value> = types.iter().filter(|t| *t != "null").collect();
                    nullable |= kept.len() < types.len();
                    match kept.as_slice() {
                        [] => {
                            out.insert(key.clone(), json!("null"));
                        }
                        [one] => {
                            out.insert(key.clone(), (*one).clone());
                        }
                        many => {
                            out.insert(
                                "anyOf".into(),
                                many.iter().map(|t| json!({"type": t})).collect(),
                            );
                        }
                    }
                }
                other => {
                    out.insert(key.clone(), other.clone());
                }
            },
            "const" => {
                out.insert("enum".into(), json!([value]));
            }
            "format" => {
                const KNOWN: &[&str] = &[
                    "date-time",
                    "date",
                    "time",
                    "duration",
                    "email",
                    "hostname",
                    "ipv4",
                    "ipv6",
                    "uri",
                    "uuid",
                    "int32",
                    "int64",
                    "float",
                    "double",
                ];
                if value.as_str().is_some_and(|f| KNOWN.contains(&f)) {
                    out.insert(key.clone(), value.clone());
                }
            }
            _ => {
                out.insert(key.clone(), value.clone());
            }
        }
    }
    // Outer keywords that a single alternative's merge could not override.
    if nullable && out.get("default") == Some(&Value::Null) {
        out.remove("default");
    }
    if let Some(Value::Object(props)) = out.get("properties") {
        let names: Vec<String> = props.keys().cloned().collect();
        if let Some(Value::Array(required)) = out.get_mut("required") {
            required.retain(|r| r.as_str().is_some_and(|r| names.iter().any(|n| n == r)));
            if required.is_empty() {
                out.remove("required");
            }
        }
    }
    Some(Value::Object(out))
}

impl OfferedTool {
    /// Its parameters in one line, for a model that called it wrongly:
    /// `namespace (string, required), tail_lines (integer)`.
    pub fn signature(&self) -> String {
        let schema = provider_schema(&self.input_schema);
        let required: Vec<&str> = schema["required"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(Value::as_str)
            .collect();
        let params: Vec<String> = schema["properties"]
            .as_object()
            .into_iter()
            .flatten()
            .map(|(name, p)| {
                let kind = p["type"].as_str().unwrap_or("any");
                if required.contains(&name.as_str()) {
                    format!("{name} ({kind}, required)")
                } else {
                    format!("{name} ({kind})")
                }
            })
            .collect();
        if params.is_empty() {
            "no arguments: call it with {}".to_owned()
        } else {
            params.join(", ")
        }
    }
}

/// How a model's tool name was read.
#[derive(Debug)]
pub enum Lookup<'a> {
    /// The wire name or the qualified name.
    Exact(&'a OfferedTool),
    /// A near spelling only one tool has (`diagnostics_analyze`,
    /// `functions.diagnostics__analyze`, `analyze`).
    Read(&'a OfferedTool),
    /// No tool; the nearest name when one is close.
    Unknown(Option<&'a OfferedTool>),
}

/// Finds the tool a model meant by `name`.
pub fn lookup<'a>(tools: &'a [OfferedTool], name: &str) -> Lookup<'a> {
    if let Some(t) = tools.iter().find(|t| t.wire == name || t.name == name) {
        return Lookup::Exact(t);
    }
    let squash = |s: &str| -> String {
        s.chars()
            .filter(char::is_ascii_alphanumeric)
            .collect::<String>()
            .to_ascii_lowercase()
    };
    let trimmed = name
        .trim()
        .trim_start_matches("functions.")
        .trim_start_matches("functions__")
        .trim_start_matches("tools.");
    let wanted = squash(trimmed);
    let unique = |hits: Vec<&'a OfferedTool>| (hits.len() == 1).then(|| hits[0]);
    if let Some(t) = unique(tools.iter().filter(|t| squash(&t.name) == wanted).collect()) {
        return Lookup::Read(t);
    }
    if let Some(t) = unique(
        tools
            .iter()
            .filter(|t| {
                t.name
                    .split_once('.')
                    .is_some_and(|(_, short)| squash(short) == wanted)
            })
            .collect(),
    ) {
        return Lookup::Read(t);
    }
    let nearest = tools
        .iter()
        .map(|t| {
            let short = t.name.split_once('.').map_or(t.name.as_str(), |(_, s)| s);
            let d = edit_distance(&squash(&t.name), &wanted)
                .min(edit_distance(&squash(short), &wanted));
            (d, t)
        })
        .filter(|(d, _)| *d <= 3)
        .min_by_key(|(d, _)| *d)
        .map(|(_, t)| t);
    Lookup::Unknown(nearest)
}

fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut row: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut prev = row[0];
        row[0] = i + 1;
        for (j, cb) in b.iter().enumerate() {
            let here = row[j + 1];
            row[j + 1] = if ca == *cb {
                prev
            } else {
                1 + prev.min(here).min(row[j])
            };
            prev = here;
        }
    }
    row[b.len()]
}

/// A model's argument text as a JSON object. Besides plain JSON it reads
/// what small models write: an object inside a code fence or prose, or a
/// JSON string holding the object. `Ok((object, true))` when it had to be
/// dug out; `Err` says what is wrong, for the model.
pub fn parse_arguments(text: &str) -> Result<(Value, bool), String> {
    let text = text.trim();
    if text.is_empty() {
        return Ok((json!({}), false));
    }
    let first = match serde_json::from_str::<Value>(text) {
        Ok(v @ Value::Object(_)) => return Ok((v, false)),
        Ok(Value::String(inner)) => match serde_json::from_str::<Value>(&inner) {
            Ok(v @ Value::Object(_)) => return Ok((v, true)),
            _ => "a string, not an object".to_owned(),
        },
        Ok(other) => format!("{}, not an object", kind_of(&other)),
        Err(e) => format!("not valid JSON ({e})"),
    };
    if let Some(v) = json_objects(text).into_iter().next() {
        return Ok((v, true));
    }
    Err(first)
}

/// The JSON objects embedded in `text` (outermost only), in order.
pub fn json_objects(text: &str) -> Vec<Value> {
    let mut found = Vec::new();
    let bytes = text.as_bytes();
    let mut start = 0;
    while let Some(offset) = text[start..].find('{') {
        let open = start + offset;
        let (mut depth, mut in_string, mut escaped) = (0usize, false, false);
        let mut end = None;
        for (i, &b) in bytes.iter().enumerate().skip(open) {
            if in_string {
                match b {
                    _ if escaped => escaped = false,
                    b'\\' => escaped = true,
                    b'"' => in_string = false,
                    _ => {}
                }
                continue;
            }
            match b {
                b'"' => in_string = true,
                b'{' => depth += 1,
                b'}' => {
                    depth -= 1;
                    if depth == 0 {
                        end = Some(i);
                        break;
                    }
                }
                _ => {}
            }
        }
        let Some(end) = end else { break };
        match serde_json::from_str::<Value>(&text[open..=end]) {
            Ok(v @ Value::Object(_)) => {
                found.push(v);
                start = end + 1;
            }
            _ => start = open + 1,
        }
    }
    found
}

/// The tool calls a model wrote into its text instead of `tool_calls`:
/// `{"name": "…", "arguments": {…}}` objects (in a code fence, in
/// `<tool_call>` tags or in prose) naming an offered tool. Name and
/// argument text of each.
pub fn calls_in_text(text: &str, tools: &[OfferedTool]) -> Vec<(String, String)> {
    json_objects(text)
        .into_iter()
        .filter_map(|v| {
            let name = v["name"].as_str()?;
            if matches!(lookup(tools, name), Lookup::Unknown(_)) {
                return None;
            }
            let arguments = match v.get("arguments").or(v.get("parameters")) {
                Some(Value::String(s)) => s.clone(),
                Some(other) => other.to_string(),
                None => "{}".to_owned(),
            };
            Some((name.to_owned(), arguments))
        })
        .collect()
}

/// What a JSON value is, in words.
pub fn kind_of(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

/// `skill.tool` → `skill__tool`.
pub fn wire_name(qualified: &str) -> String {
    qualified.replacen('.', "__", 1)
}

/// The outcome of one tool call.
#[derive(Clone, Debug, Serialize)]
pub struct ToolOutcome {
    pub tool: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub value: Option<Value>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<ToolFailure>,
    #[serde(serialize_with = "ms")]
    pub latency: Duration,
}

impl ToolOutcome {
    pub fn ok(&self) -> bool {
        self.error.is_none()
    }

    /// A denial by the broker (or the grants) on the way.
    pub fn denied(&self) -> bool {
        self.error.as_ref().is_some_and(|e| e.kind == "denied")
    }
}

/// Why a tool call failed.
#[derive(Clone, Debug, Serialize)]
pub struct ToolFailure {
    /// The runtime's code (`invalid-input`, `host-error`, `unknown-tool`…).
    pub code: String,
    /// For host errors, the host's kind (`denied`, `not-found`…).
    pub kind: String,
    pub message: String,
}

fn ms<S: serde::Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_f64((d.as_secs_f64() * 1e6).round() / 1e3)
}

/// The skills' tools, called as one caller (`agent:llm`, `agent:reasoner`).
#[derive(Clone)]
pub struct Toolbox {
    runtime: Arc<Runtime>,
    caller: String,
    hook: Option<Arc<dyn ToolHook>>,
}

/// What the host adds to a tool's answer before the loop reads it — what
/// the service layer adds for every front end (the registry's tags for an
/// image tag that does not exist), so that the loop reasons on the same
/// answer a person would get.
#[async_trait::async_trait]
pub trait ToolHook: Send + Sync {
    /// Called after `tool` answered `value` to `caller`; may add to it.
    async fn after(&self, caller: &str, tool: &str, value: &mut Value);
}

impl Toolbox {
    pub fn new(runtime: Arc<Runtime>, caller: &str) -> Self {
        Toolbox {
            runtime,
            caller: caller.to_owned(),
            hook: None,
        }
    }

    /// Every answer passes through `hook` first.
    pub fn with_hook(mut self, hook: Arc<dyn ToolHook>) -> Self {
        self.hook = Some(hook);
        self
    }

    pub fn caller(&self) -> &str {
        &self.caller
    }

    pub fn runtime(&self) -> &Arc<Runtime> {
        &self.runtime
    }

    /// Every tool of every loaded skill, by name.
    pub fn offered(&self) -> Vec<OfferedTool> {
        let mut tools: Vec<OfferedTool> = self
            .runtime
            .skills()
            .iter()
            .flat_map(|skill| {
                skill.tools.iter().map(move |t| {
                    let name = format!("{}.{}", skill.manifest.name, t.name);
                    OfferedTool {
                        wire: wire_name(&name),
                        name,
                        description: t.description.clone(),
                        input_schema: t.input_schema.clone(),
                        effect: t.effect,
                    }
                })
            })
            .collect();
        tools.sort_by(|a, b| a.name.cmp(&b.name));
        tools
    }

    /// Calls `skill.tool` with a JSON text input.
    pub async fn call(&self, qualified: &str, input: &str) -> ToolOutcome {
        let started = Instant::now();
        let mut result = self.runtime.call(&self.caller, qualified, input).await;
        if let (Ok(value), Some(hook)) = (&mut result, &self.hook) {
            hook.after(&self.caller, qualified, value).await;
        }
        let latency = started.elapsed();
        match result {
            Ok(value) => ToolOutcome {
                tool: qualified.to_owned(),
                value: Some(value),
                error: None,
                latency,
            },
            Err(err) => ToolOutcome {
                tool: qualified.to_owned(),
                value: None,
                error: Some(failure(&err)),
                latency,
            },
        }
    }
}

fn failure(err: &CallError) -> ToolFailure {
    let kind = match err {
        CallError::HostError { kind, .. } => kind.clone(),
        _ => String::new(),
    };
    ToolFailure {
        code: err.code().to_owned(),
        kind,
        message: err.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every subschema of `schema` (at `path`) that is not an object, but
    /// for `additionalProperties: false`; and every `$ref`.
    fn not_objects(schema: &Value, path: &str, found: &mut Vec<String>) {
        let Some(m) = schema.as_object() else {
            found.push(format!("{path}: {schema}"));
            return;
        };
        if m.contains_key("$ref") {
            found.push(format!("{path}: $ref {}", m["$ref"]));
        }
        for (key, value) in m {
            let here = format!("{path}/{key}");
            match key.as_str() {
                "properties" | "$defs" | "definitions" | "patternProperties" => {
                    for (name, sub) in value.as_object().into_iter().flatten() {
                        not_objects(sub, &format!("{here}/{name}"), found);
                    }
                }
                "additionalProperties" if value == &Value::Bool(false) => {}
                "additionalProperties"
                | "items"
                | "not"
                | "contains"
                | "if"
                | "then"
                | "else"
                | "propertyNames" => match value {
                    Value::Array(items) => {
                        for (i, sub) in items.iter().enumerate() {
                            not_objects(sub, &format!("{here}/{i}"), found);
                        }
                    }
                    sub => not_objects(sub, &here, found),
                },
                "anyOf" | "oneOf" | "allOf" | "prefixItems" => {
                    for (i, sub) in value.as_array().into_iter().flatten().enumerate() {
                        not_objects(sub, &format!("{here}/{i}"), found);
                    }
                }
                "type" if value.is_array() => found.push(format!("{here}: {value}")),
                _ => {}
            }
        }
    }

    async fn builtin_tools() -> Vec<OfferedTool> {
        let runtime = Runtime::new(
            guardian_runtime::RuntimeConfig {
                limits: Default::default(),
                cache_dir: None,
                operator_grants: Default::default(),
            },
            None,
        )
        .expect("runtime");
        for b in guardian_builtin_skills::all() {
            runtime
                .load_builtin(b.manifest, b.wasm)
                .await
                .expect("a built-in skill loads");
        }
        Toolbox::new(Arc::new(runtime), "test").offered()
    }

    #[tokio::test]
    async fn every_builtin_tool_is_offered_with_object_subschemas_only() {
        let tools = builtin_tools().await;
        assert!(tools.len() >= 8, "{}", tools.len());
        let mut found = Vec::new();
        for tool in &tools {
            let function = tool.as_function();
            let parameters = &function["function"]["parameters"];
            not_objects(parameters, &tool.wire, &mut found);
        }
        assert!(
            found.is_empty(),
            "not accepted by providers:\n{}",
            found.join("\n")
        );
        for tool in &tools {
            let parameters = &tool.as_function()["function"]["parameters"];
            assert_eq!(parameters["type"], "object", "{}: {parameters}", tool.wire);
            assert!(
                parameters["properties"].is_object(),
                "{}: {parameters}",
                tool.wire
            );
            assert!(parameters.get("$schema").is_none(), "{}", tool.wire);
        }
        // What the tools take is kept: the inlined target and the patch array.
        let propose = tools.iter().find(|t| t.name == "patch.propose").unwrap();
        let p = &propose.as_function()["function"]["parameters"];
        assert_eq!(p["properties"]["json_patch"]["items"], json!({}));
        assert_eq!(
            p["properties"]["target"]["properties"]["apiVersion"]["type"],
            "string"
        );
        assert_eq!(
            p["properties"]["target"]["description"],
            "The object to change."
        );
        assert_eq!(p["required"], json!(["target", "json_patch", "rationale"]));
        let analyze = tools.iter().find(|t| t.name == ANALYZE).unwrap();
        let a = &analyze.as_function()["function"]["parameters"]["properties"];
        assert_eq!(a["namespace"]["type"], "string");
        assert!(
            a["namespace"].get("default").is_none(),
            "{}",
            a["namespace"]
        );
        assert_eq!(a["shard"]["properties"]["of"]["type"], "integer");
        assert!(a["shard"]["properties"]["of"].get("format").is_none());
    }

    #[test]
    fn refs_are_inlined_to_a_bound_and_false_schemas_dropped() {
        let recursive = json!({
            "$defs": {"Node": {"type": "object", "properties": {
                "name": {"type": "string"},
                "child": {"$ref": "#/$defs/Node", "description": "the next one"}}}},
            "type": "object",
            "properties": {
                "root": {"$ref": "#/$defs/Node"},
                "gone": false,
                "nothing": {"type": "array", "items": false},
                "either": {"oneOf": [{"type": "string"}, {"type": "integer"}]},
                "fixed": {"const": "x"},
                "elsewhere": {"$ref": "https://example.invalid/schema"}
            },
            "required": ["root", "gone"],
            "additionalProperties": true
        });
        let out = provider_schema(&recursive);
        let mut found = Vec::new();
        not_objects(&out, "", &mut found);
        assert!(found.is_empty(), "{found:?}: {out}");
        let root = &out["properties"]["root"];
        assert_eq!(root["properties"]["name"]["type"], "string");
        // The recursion stops at the cycle: any value, described.
        assert_eq!(
            root["properties"]["child"],
            json!({"description": "the next one"})
        );
        assert!(out["properties"].get("gone").is_none());
        assert_eq!(out["required"], json!(["root"]));
        assert_eq!(out["properties"]["nothing"]["maxItems"], 0);
        assert_eq!(out["properties"]["either"]["anyOf"][1]["type"], "integer");
        assert_eq!(out["properties"]["fixed"]["enum"], json!(["x"]));
        assert_eq!(out["properties"]["elsewhere"], json!({}));
        assert!(out.get("additionalProperties").is_none());
        assert_eq!(
            provider_schema(&json!(true)),
            json!({"type": "object", "properties": {}})
        );
    }
}
