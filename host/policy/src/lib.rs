//! Policy: every Kubernetes call a skill makes is decided here, by Rego
//! (evaluated with regorus), before the broker touches a backend.
//!
//! **Architecture invariants**
//! - A [`Permit`] can only be minted by [`Policy::decide`] for an allowing
//!   decision. Backends take a `&Permit` for every call, so a call that skipped
//!   policy does not compile.
//! - This crate does no IO other than reading policy files at load.
//! - The invariants in `policies/system.rego` (no namespace deletes, nothing
//!   written in protected namespaces, no real write without a human-approved
//!   action) cannot be overridden: operator policies may not use that package.

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use regorus::rvm::RegoVM;

use serde::{Deserialize, Serialize};

/// The default policies, compiled into the binary.
pub const DEFAULT_POLICIES: &[(&str, &str)] = &[
    (
        "policies/guardian.rego",
        include_str!("../../../policies/guardian.rego"),
    ),
    (
        "policies/system.rego",
        include_str!("../../../policies/system.rego"),
    ),
];

const ENTRYPOINT: &str = "data.guardian.system.decision";
const RESERVED_PACKAGE: &str = "guardian.system";

/// Who is asking.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Caller {
    /// `human`, `automation`, `mcp`, `agent` or `system`.
    pub kind: String,
    /// `alice`, `ci-bot`, `claude-desktop`…
    pub id: String,
}

impl Caller {
    /// Parses `kind:id` (`human:alice`); a bare name is a `system` caller.
    pub fn parse(s: &str) -> Self {
        match s.split_once(':') {
            Some((kind, id)) => Self {
                kind: kind.to_owned(),
                id: id.to_owned(),
            },
            None => Self {
                kind: "system".into(),
                id: s.to_owned(),
            },
        }
    }
}

/// The resource a call is about, as the API server names it.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Resource {
    pub group: String,
    pub version: String,
    /// Plural: `deployments`.
    pub resource: String,
    /// `log` for `pods/log`, else empty.
    #[serde(default)]
    pub subresource: String,
    pub kind: String,
    /// The name grants use: `pods`, `pods/log`, `deployments.apps`,
    /// `pods/log` of a grouped resource is `resource/sub.group`.
    pub grant: String,
}

impl Resource {
    pub fn new(group: &str, version: &str, resource: &str, subresource: &str, kind: &str) -> Self {
        let base = match subresource {
            "" => resource.to_owned(),
            sub => format!("{resource}/{sub}"),
        };
        let grant = match group {
            "" => base,
            g => format!("{base}.{g}"),
        };
        Self {
            group: group.into(),
            version: version.into(),
            resource: resource.into(),
            subresource: subresource.into(),
            kind: kind.into(),
            grant,
        }
    }
}

/// The action a real write carries.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ActionRef {
    pub id: String,
    /// Approved by a human, on a human channel.
    pub approved: bool,
    /// `human:alice`.
    pub approver: String,
}

/// The skill's effective grants (requested ∩ operator-allowed).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct GrantSets {
    pub read: Vec<String>,
    pub propose: Vec<String>,
}

/// The input document every decision sees. Documented in `policies/README.md`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct PolicyInput {
    pub caller: Caller,
    pub skill: String,
    pub tool: String,
    /// `get`, `list`, `watch`, `logs`, `events`, `create`, `update`, `patch`,
    /// `delete`, `deletecollection`.
    pub verb: String,
    pub resource: Resource,
    pub namespace: String,
    pub name: String,
    /// Labels of the namespace (filled for writes, empty otherwise).
    #[serde(default)]
    pub namespace_labels: BTreeMap<String, String>,
    /// Why the namespace's labels could not be read (filled for writes
    /// whose namespace Guardian may not read, or could not reach); empty
    /// when they were read. Policy then cannot tell whether the namespace
    /// is protected, and must treat it as protected.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub namespace_read_error: String,
    pub dry_run: bool,
    #[serde(default)]
    pub action: Option<ActionRef>,
    #[serde(default)]
    pub grants: GrantSets,
    /// The node a node-mode daemon (`guardian serve --node NAME`) is
    /// scoped to: its pod lists carry `spec.nodeName=NAME`. Absent when the
    /// whole cluster is read.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub node: Option<String>,
}

impl Default for Caller {
    fn default() -> Self {
        Self {
            kind: "system".into(),
            id: "guardian".into(),
        }
    }
}

/// What policy decided.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Decision {
    pub allow: bool,
    /// The call must be a dry run (forced for every write without a
    /// human-approved action).
    pub dry_run: bool,
    pub reasons: Vec<String>,
    /// The rule that decided: the first denying rule, else the first allowing one.
    pub rule: String,
}

/// Proof that policy allowed one specific call. Only [`Policy::decide`] makes
/// them; backends take one for every call.
#[derive(Clone, Debug)]
pub struct Permit {
    input: Arc<PolicyInput>,
    dry_run: bool,
    rule: String,
}

impl Permit {
    /// The request this permit was minted for.
    pub fn input(&self) -> &PolicyInput {
        &self.input
    }

    pub fn verb(&self) -> &str {
        &self.input.verb
    }

    /// When true the backend must not persist anything (`dryRun=All`).
    pub fn dry_run(&self) -> bool {
        self.dry_run
    }

    /// The rule that allowed it.
    pub fn rule(&self) -> &str {
        &self.rule
    }
}

#[derive(Debug, thiserror::Error)]
pub enum PolicyError {
    /// A policy file does not parse or compile. The message carries the file
    /// and line, as regorus reports them.
    #[error("policy {file}: {message}")]
    Invalid { file: String, message: String },
    #[error("cannot read policies from {path}: {message}")]
    Io { path: PathBuf, message: String },
    #[error(
        "policy {file}: package `{RESERVED_PACKAGE}` is reserved for Guardian's invariants; put operator rules in `package guardian`"
    )]
    Reserved { file: String },
    #[error("policy evaluation failed: {0}")]
    Eval(String),
}

/// A loaded, compiled policy set. Cheap to share; evaluation is thread-safe.
///
/// The entry point is compiled once to regorus' bytecode VM (RVM); each
/// decision runs on a VM from a small pool, so no decision re-plans the policy.
pub struct Policy {
    program: Arc<regorus::rvm::Program>,
    vms: Mutex<Vec<RegoVM>>,
    files: Vec<String>,
    /// Decisions already made, by the input's JSON text; `None` when a
    /// module may decide differently on the same input (see
    /// [`NONDETERMINISTIC`]).
    decided: Option<Mutex<HashMap<String, Decision>>>,
}

/// Rego built-ins whose result is not a function of the input. A module
/// that names one (a rule that denies writes outside business hours) is
/// evaluated on every request; every other decision is a pure function of
/// the input and the modules, so it is remembered.
const NONDETERMINISTIC: &[&str] = &[
    "time.now_ns",
    "rand.",
    "uuid.",
    "http.send",
    "opa.runtime",
    "net.lookup",
];

/// Distinct inputs remembered before the memory starts again: a skill's
/// calls repeat a few hundred shapes at most.
const DECIDED_MAX: usize = 4096;

impl Policy {
    /// The built-in defaults only.
    pub fn defaults() -> Result<Self, PolicyError> {
        Self::build(&[])
    }

    /// The defaults plus every `*.rego` file in `dir` (sorted by name). A file
    /// that fails to parse stops loading with its path and line.
    pub fn load(dir: Option<&Path>) -> Result<Self, PolicyError> {
        let Some(dir) = dir else {
            return Self::defaults();
        };
        let io = |e: std::io::Error| PolicyError::Io {
            path: dir.to_path_buf(),
            message: e.to_string(),
        };
        let mut paths: Vec<PathBuf> = std::fs::read_dir(dir)
            .map_err(io)?
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| p.extension().is_some_and(|x| x == "rego"))
            .collect();
        paths.sort();
        let mut extra = Vec::new();
        for path in paths {
            let text = std::fs::read_to_string(&path).map_err(|e| PolicyError::Io {
                path: path.clone(),
                message: e.to_string(),
            })?;
            extra.push((path.display().to_string(), text));
        }
        Self::build(&extra)
    }

    /// The defaults plus these `(file name, Rego text)` modules.
    pub fn with_modules(extra: &[(String, String)]) -> Result<Self, PolicyError> {
        Self::build(extra)
    }

    fn build(extra: &[(String, String)]) -> Result<Self, PolicyError> {
        let pure = DEFAULT_POLICIES
            .iter()
            .map(|(_, text)| *text)
            .chain(extra.iter().map(|(_, text)| text.as_str()))
            .all(|text| !NONDETERMINISTIC.iter().any(|b| text.contains(b)));
        let mut engine = regorus::Engine::new();
        let mut files = Vec::new();
        for (file, text) in DEFAULT_POLICIES {
            engine
                .add_policy((*file).to_owned(), (*text).to_owned())
                .map_err(|e| PolicyError::Invalid {
                    file: (*file).to_owned(),
                    message: e.to_string(),
                })?;
            files.push((*file).to_owned());
        }
        for (file, text) in extra {
            let package = engine.add_policy(file.clone(), text.clone()).map_err(|e| {
                PolicyError::Invalid {
                    file: file.clone(),
                    message: e.to_string(),
                }
            })?;
            let package = package.trim_start_matches("data.");
            if package == RESERVED_PACKAGE || package.starts_with("guardian.system.") {
                return Err(PolicyError::Reserved { file: file.clone() });
            }
            files.push(file.clone());
        }
        let invalid = |e: String| PolicyError::Invalid {
            file: files.join(", "),
            message: e,
        };
        let compiled = engine
            .compile_with_entrypoint(&ENTRYPOINT.into())
            .map_err(|e| invalid(e.to_string()))?;
        let program = regorus::languages::rego::compiler::Compiler::compile_from_policy(
            &compiled,
            &[ENTRYPOINT],
        )
        .map_err(|e| invalid(e.to_string()))?;
        let policy = Self {
            program,
            vms: Mutex::new(Vec::new()),
            files,
            decided: pure.then(|| Mutex::new(HashMap::new())),
        };
        // Evaluate once now, so a policy that only fails at evaluation time
        // (conflicting complete rules, a type error) stops start-up too.
        policy.evaluate(&PolicyInput::default())?;
        Ok(policy)
    }

    /// The policy files in load order.
    pub fn files(&self) -> &[String] {
        &self.files
    }

    /// Decides one request. An allowing decision comes with its [`Permit`].
    pub fn decide(&self, input: PolicyInput) -> (Decision, Option<Permit>) {
        let decision = match self.remembered(&input) {
            Ok(d) => d,
            // Fail closed: an evaluation error denies.
            Err(e) => Decision {
                allow: false,
                dry_run: true,
                reasons: vec![e.to_string()],
                rule: "policy-error".into(),
            },
        };
        let permit = decision.allow.then(|| Permit {
            input: Arc::new(input),
            dry_run: decision.dry_run,
            rule: decision.rule.clone(),
        });
        (decision, permit)
    }

    /// Whether decisions are remembered: no module names a built-in whose
    /// result changes between calls.
    pub fn remembers_decisions(&self) -> bool {
        self.decided.is_some()
    }

    /// [`Policy::evaluate`], or the decision already made on this input.
    fn remembered(&self, input: &PolicyInput) -> Result<Decision, PolicyError> {
        let Some(decided) = &self.decided else {
            return self.evaluate(input);
        };
        let key = serde_json::to_string(input).map_err(|e| PolicyError::Eval(e.to_string()))?;
        if let Some(d) = decided.lock().ok().and_then(|m| m.get(&key).cloned()) {
            return Ok(d);
        }
        let decision = self.evaluate(input)?;
        if let Ok(mut m) = decided.lock() {
            if m.len() >= DECIDED_MAX {
                m.clear();
            }
            m.insert(key, decision.clone());
        }
        Ok(decision)
    }

    fn evaluate(&self, input: &PolicyInput) -> Result<Decision, PolicyError> {
        let json = serde_json::to_value(input).map_err(|e| PolicyError::Eval(e.to_string()))?;
        let mut vm = self
            .vms
            .lock()
            .ok()
            .and_then(|mut v| v.pop())
            .unwrap_or_else(|| {
                let mut vm = RegoVM::new();
                vm.load_program(self.program.clone());
                vm
            });
        vm.set_input(regorus::Value::from(json));
        let result = vm.execute();
        if let Ok(mut pool) = self.vms.lock()
            && pool.len() < 64
        {
            pool.push(vm);
        }
        let value = result.map_err(|e| PolicyError::Eval(e.to_string()))?;
        decision_from(&value).ok_or_else(|| {
            PolicyError::Eval(format!(
                "{ENTRYPOINT} is not a decision object {{allow, dry_run, reasons, rule}}: {value}"
            ))
        })
    }
}

/// Reads the decision object without a JSON round trip.
fn decision_from(value: &regorus::Value) -> Option<Decision> {
    let field = |k: &str| &value[k];
    Some(Decision {
        allow: *field("allow").as_bool().ok()?,
        dry_run: *field("dry_run").as_bool().ok()?,
        reasons: field("reasons")
            .as_array()
            .ok()?
            .iter()
            .map(|r| r.as_string().map(|s| s.to_string()))
            .collect::<Result<_, _>>()
            .ok()?,
        rule: field("rule").as_string().ok()?.to_string(),
    })
}
