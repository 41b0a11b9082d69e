//! Guardian's skill runtime: runs every capability as a sandboxed WebAssembly
//! component.
//!
//! One [`Runtime`] owns one wasmtime `Engine`, a `Linker` with exactly the
//! host interfaces skills may import, and the loaded skills, each with an
//! `InstancePre` built once. Every tool call gets a fresh `Store` with its own
//! memory, CPU and output limits (see [`Limits`]).
//!
//! **Architecture invariants**
//! - A skill reaches Kubernetes only through the host imports in `host.rs`,
//!   which check the skill's effective grants and then ask the broker.
//! - A skill gets no filesystem, network, environment or arguments; a
//!   component importing `wasi:filesystem` or `wasi:sockets` is refused at load.
//! - Only code this runtime compiled is ever deserialized (`cache.rs`).
//! - Skill output is never trusted: size-bounded, parsed as JSON, and a skill
//!   that traps, loops or exhausts memory is stopped with a typed error while
//!   the runtime keeps serving.

mod bindings;
mod cache;
mod engine;
mod error;
pub mod grants;
mod host;
mod limits;
mod manifest;
mod proposals;
mod sandbox;

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use std::sync::{Arc, RwLock};

use guardian_broker::{Broker, CallContext};
use serde::Serialize;
use serde_json::Value;
use sha2::{Digest, Sha256};
use tokio::sync::Semaphore;
use wasmtime::component::{Component, Linker};

pub use bindings::semver_lite::AbiVersion;
pub use cache::{CacheOutcome, CompileCache};
pub use engine::Allocator;
pub use error::{CallError, LoadError};
pub use grants::{Grants, OperatorGrants};
pub use host::ProgressSink;
pub use limits::Limits;
pub use manifest::Manifest;
pub use proposals::{Proposals, ProposeRefusal};

use bindings::{v0_1, v0_2};
use host::HostState;

/// How the runtime is set up.
#[derive(Clone, Debug, Default)]
pub struct RuntimeConfig {
    pub limits: Limits,
    /// Where compiled components are cached; `None` disables the cache.
    pub cache_dir: Option<PathBuf>,
    pub operator_grants: OperatorGrants,
}

/// Where a skill came from.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum SkillSource {
    Builtin,
    Dir(PathBuf),
}

/// The effect of a tool, as declared by the skill.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Effect {
    Read,
    Propose,
}

/// A tool as the registry presents it.
#[derive(Clone, Debug, Serialize)]
pub struct ToolInfo {
    pub name: String,
    pub description: String,
    pub input_schema: Value,
    pub effect: Effect,
}

/// A loaded skill.
pub struct Skill {
    pub manifest: Manifest,
    pub source: SkillSource,
    /// Effective grants: requested ∩ allowed by the operator.
    pub grants: Grants,
    pub tools: Vec<ToolInfo>,
    pub cache: CacheOutcome,
    validators: HashMap<String, jsonschema::Validator>,
    pre: SkillPre,
}

enum SkillPre {
    V0_1(v0_1::SkillPre<HostState>),
    V0_2(v0_2::SkillPre<HostState>),
}

/// The JSON shape of `guardian skills list -o json`.
#[derive(Clone, Debug, Serialize)]
pub struct SkillInfo {
    pub name: String,
    pub version: String,
    pub abi: String,
    pub description: String,
    pub source: &'static str,
    pub path: Option<PathBuf>,
    pub grants: Grants,
    pub tools: Vec<ToolInfo>,
}

impl Skill {
    pub fn info(&self) -> SkillInfo {
        SkillInfo {
            name: self.manifest.name.clone(),
            version: self.manifest.version.clone(),
            abi: self.manifest.abi.to_string(),
            description: self.manifest.description.clone(),
            source: match self.source {
                SkillSource::Builtin => "builtin",
                SkillSource::Dir(_) => "dir",
            },
            path: match &self.source {
                SkillSource::Builtin => None,
                SkillSource::Dir(p) => Some(p.clone()),
            },
            grants: self.grants.clone(),
            tools: self.tools.clone(),
        }
    }
}

/// The skill host.
pub struct Runtime {
    engine: engine::GuardianEngine,
    linker: Linker<HostState>,
    cache: Option<CompileCache>,
    limits: Limits,
    operator: OperatorGrants,
    broker: Option<Broker>,
    proposals: Option<Arc<dyn Proposals>>,
    skills: RwLock<BTreeMap<String, Arc<Skill>>>,
    slots: Arc<Semaphore>,
    progress: Option<ProgressSink>,
}

impl Runtime {
    /// Builds the engine and linker. `broker` is `None` when no cluster or
    /// snapshot is configured; Kubernetes imports then fail with a message
    /// saying how to configure one.
    pub fn new(config: RuntimeConfig, broker: Option<Broker>) -> anyhow::Result<Self> {
        let engine = engine::GuardianEngine::new(&config.limits)
            .map_err(|e| anyhow::anyhow!("cannot create the WebAssembly engine: {e:#}"))?;
        let mut linker = Linker::new(&engine.engine);
        sandbox::add_wasi(&mut linker)
            .and_then(|()| {
                v0_2::Skill::add_to_linker::<HostState, wasmtime::component::HasSelf<HostState>>(
                    &mut linker,
                    |s| s,
                )
            })
            .and_then(|()| v0_1::add_to_linker(&mut linker))
            .map_err(|e| anyhow::anyhow!("cannot link the host interfaces: {e:#}"))?;
        let cache = match &config.cache_dir {
            Some(dir) => {
                Some(CompileCache::open(dir, &engine.engine).map_err(|e| anyhow::anyhow!(e))?)
            }
            None => None,
        };
        Ok(Self {
            slots: Arc::new(Semaphore::new(
                config.limits.concurrent_calls.max(1) as usize
            )),
            engine,
            linker,
            cache,
            limits: config.limits,
            operator: config.operator_grants,
            broker,
            proposals: None,
            skills: RwLock::default(),
            progress: None,
        })
    }

    /// Sets (or replaces) the broker skills' Kubernetes calls go to: lets a
    /// caller load a large snapshot while the skills load.
    pub fn set_broker(&mut self, broker: Broker) {
        self.broker = Some(broker);
    }

    /// The broker skills' Kubernetes calls go to (`None`: no cluster).
    pub fn broker(&self) -> Option<&Broker> {
        self.broker.as_ref()
    }

    /// Sets where `actions.propose` sends proposals (the session's action
    /// store, behind a propose-only interface). Without it, proposals are
    /// refused as `unavailable`.
    pub fn set_proposals(&mut self, sink: Arc<dyn Proposals>) {
        self.proposals = Some(sink);
    }

    pub fn set_progress(&mut self, sink: ProgressSink) {
        self.progress = Some(sink);
    }

    pub fn allocator(&self) -> Allocator {
        self.engine.allocator
    }

    pub fn limits(&self) -> &Limits {
        &self.limits
    }

    pub fn cache_dir(&self) -> Option<&Path> {
        self.cache.as_ref().map(|c| c.dir())
    }

    /// Loads a built-in skill (manifest text and wasm bytes embedded in the binary).
    pub async fn load_builtin(&self, manifest: &str, wasm: &[u8]) -> Result<(), LoadError> {
        self.load(SkillSource::Builtin, manifest, wasm).await
    }

    /// Loads every skill in `dir`: each subdirectory holding `skill.toml` and
    /// `skill.wasm`. Returns one error per skill refused; the rest load.
    pub async fn load_dir(&self, dir: &Path) -> Result<Vec<LoadError>, LoadError> {
        let fail = |reason: String| LoadError {
            source_desc: dir.display().to_string(),
            reason,
        };
        if let (Some(cache), Ok(skills)) = (&self.cache, dir.canonicalize())
            && let Ok(cache) = cache.dir().canonicalize()
            && cache.starts_with(&skills)
        {
            return Err(fail(format!(
                "the compile cache {} is inside the skills directory; compiled code must not live where skills are dropped in — choose another --cache-dir",
                cache.display()
            )));
        }
        let entries = std::fs::read_dir(dir)
            .map_err(|e| fail(format!("cannot read the skills directory: {e}")))?;
        let mut paths: Vec<PathBuf> = entries
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| p.is_dir())
            .collect();
        paths.sort();
        let mut errors = Vec::new();
        for path in paths {
            let desc = path.display().to_string();
            let manifest = match std::fs::read_to_string(path.join("skill.toml")) {
                Ok(m) => m,
                Err(e) => {
                    errors.push(LoadError {
                        source_desc: desc,
                        reason: format!("cannot read skill.toml: {e}"),
                    });
                    continue;
                }
            };
            let wasm = match std::fs::read(path.join("skill.wasm")) {
                Ok(w) => w,
                Err(e) => {
                    errors.push(LoadError {
                        source_desc: desc,
                        reason: format!("cannot read skill.wasm: {e}"),
                    });
                    continue;
                }
            };
            if let Err(e) = self.load(SkillSource::Dir(path), &manifest, &wasm).await {
                errors.push(e);
            }
        }
        Ok(errors)
    }

    async fn load(
        &self,
        source: SkillSource,
        manifest: &str,
        wasm: &[u8],
    ) -> Result<(), LoadError> {
        let desc = match &source {
            SkillSource::Builtin => "builtin".to_owned(),
            SkillSource::Dir(p) => p.display().to_string(),
        };
        let fail = |reason: String| LoadError {
            source_desc: desc.clone(),
            reason,
        };
        let manifest = Manifest::parse(manifest).map_err(|e| fail(format!("skill.toml: {e}")))?;
        let desc = match &source {
            SkillSource::Builtin => format!("`{}` (builtin)", manifest.name),
            SkillSource::Dir(p) => format!("`{}` ({})", manifest.name, p.display()),
        };
        let fail = |reason: String| LoadError {
            source_desc: desc.clone(),
            reason,
        };
        let actual = hex::encode(Sha256::digest(wasm));
        if actual != manifest.sha256 {
            return Err(fail(format!(
                "sha256 mismatch: skill.toml says {}, skill.wasm is {actual}; the wasm was changed or the manifest is stale — rebuild, then update `sha256`",
                manifest.sha256
            )));
        }
        if self
            .skills
            .read()
            .expect("skills lock")
            .contains_key(&manifest.name)
        {
            return Err(fail(format!(
                "a skill named `{}` is already loaded; names must be unique",
                manifest.name
            )));
        }
        let (component, cache) = match &self.cache {
            Some(c) => c.load(&self.engine.engine, &actual, wasm),
            None => Component::new(&self.engine.engine, wasm).map(|c| (c, CacheOutcome::Disabled)),
        }
        .map_err(|e| fail(format!("not a valid WebAssembly component: {e:#}")))?;
        sandbox::check_imports(&self.engine.engine, &component, manifest.abi).map_err(fail)?;
        let pre = self
            .linker
            .instantiate_pre(&component)
            .map_err(|e| fail(format!("cannot link: {e:#}")))?;
        let pre = match (manifest.abi.major, manifest.abi.minor) {
            (0, 1) => v0_1::SkillPre::new(pre).map(SkillPre::V0_1),
            _ => v0_2::SkillPre::new(pre).map(SkillPre::V0_2),
        }
        .map_err(|e| {
            fail(format!(
                "does not export guardian:skill/tools@{}: {e:#}",
                manifest.abi
            ))
        })?;
        let grants = self.operator.effective(&manifest.name, &manifest.grants);
        let mut skill = Skill {
            manifest,
            source,
            grants,
            tools: Vec::new(),
            cache,
            validators: HashMap::new(),
            pre,
        };
        let specs = self
            .describe(&skill)
            .await
            .map_err(|e| fail(format!("describe failed: {e}")))?;
        for spec in specs {
            let tool = sandbox::check_tool_spec(spec).map_err(&fail)?;
            let validator = jsonschema::validator_for(&tool.input_schema).map_err(|e| {
                fail(format!(
                    "tool `{}`: input schema is not valid JSON Schema: {e}",
                    tool.name
                ))
            })?;
            if skill
                .validators
                .insert(tool.name.clone(), validator)
                .is_some()
            {
                return Err(fail(format!("tool `{}` is declared twice", tool.name)));
            }
            skill.tools.push(tool);
        }
        tracing::debug!(skill = %skill.manifest.name, tools = skill.tools.len(), cache = ?skill.cache, "skill loaded");
        let mut skills = self.skills.write().expect("skills lock");
        if skills.contains_key(&skill.manifest.name) {
            return Err(fail(format!(
                "a skill named `{}` is already loaded; names must be unique",
                skill.manifest.name
            )));
        }
        skills.insert(skill.manifest.name.clone(), Arc::new(skill));
        Ok(())
    }

    /// Removes a skill (used when a drop-in directory changes).
    pub fn unload(&self, name: &str) -> bool {
        self.skills
            .write()
            .expect("skills lock")
            .remove(name)
            .is_some()
    }

    pub fn skills(&self) -> Vec<Arc<Skill>> {
        self.skills
            .read()
            .expect("skills lock")
            .values()
            .cloned()
            .collect()
    }

    pub fn skill(&self, name: &str) -> Option<Arc<Skill>> {
        self.skills.read().expect("skills lock").get(name).cloned()
    }

    /// Calls `skill.tool` with a JSON input. `caller` is who asked
    /// (`human:alice`, `agent`, …), carried to the broker.
    pub async fn call(
        &self,
        caller: &str,
        qualified: &str,
        input: &str,
    ) -> Result<Value, CallError> {
        let (skill_name, tool) = qualified
            .split_once('.')
            .filter(|(s, t)| !s.is_empty() && !t.is_empty())
            .ok_or_else(|| CallError::BadToolName {
                name: qualified.to_owned(),
            })?;
        let skill = self
            .skill(skill_name)
            .ok_or_else(|| CallError::UnknownSkill {
                skill: skill_name.to_owned(),
                available: self
                    .skills()
                    .iter()
                    .map(|s| s.manifest.name.clone())
                    .collect::<Vec<_>>()
                    .join(", "),
            })?;
        let Some(validator) = skill.validators.get(tool) else {
            return Err(CallError::UnknownTool {
                skill: skill_name.to_owned(),
                tool: tool.to_owned(),
                available: skill
                    .tools
                    .iter()
                    .map(|t| t.name.as_str())
                    .collect::<Vec<_>>()
                    .join(", "),
            });
        };
        let value: Value = serde_json::from_str(input).map_err(|e| CallError::InvalidInput {
            tool: qualified.to_owned(),
            message: format!("input is not JSON: {e}"),
        })?;
        sandbox::validate_input(validator, &value).map_err(|message| CallError::InvalidInput {
            tool: qualified.to_owned(),
            message,
        })?;
        let cx = CallContext {
            caller: caller.to_owned(),
            skill: skill_name.to_owned(),
            tool: tool.to_owned(),
            grants: skill.grants.as_sets(),
            scope: Default::default(),
        };
        let canonical = value.to_string();
        match self
            .run(&skill, cx, sandbox::Invocation::Call(tool, &canonical))
            .await?
        {
            sandbox::Output::Call(v) => Ok(v),
            sandbox::Output::Describe(_) => unreachable!("call returns a call output"),
        }
    }

    async fn describe(
        &self,
        skill: &Skill,
    ) -> Result<Vec<bindings::latest::types::ToolSpec>, CallError> {
        let cx = CallContext {
            caller: "system:guardian".into(),
            skill: skill.manifest.name.clone(),
            tool: "describe".into(),
            grants: skill.grants.as_sets(),
            scope: Default::default(),
        };
        match self.run(skill, cx, sandbox::Invocation::Describe).await? {
            sandbox::Output::Describe(specs) => Ok(specs),
            sandbox::Output::Call(_) => unreachable!("describe returns specs"),
        }
    }

    async fn run(
        &self,
        skill: &Skill,
        cx: CallContext,
        invocation: sandbox::Invocation<'_>,
    ) -> Result<sandbox::Output, CallError> {
        let label = format!("{}.{}", cx.skill, cx.tool);
        let _slot = tokio::time::timeout(self.limits.wall_time, self.slots.acquire())
            .await
            .map_err(|_| CallError::Busy {
                tool: label.clone(),
            })?
            .map_err(|_| CallError::Busy {
                tool: label.clone(),
            })?;
        let state = HostState::new(
            cx,
            skill.grants.clone(),
            self.broker.clone(),
            self.proposals.clone(),
            &self.limits,
            self.progress.clone(),
        );
        sandbox::run(
            &self.engine.engine,
            &skill.pre,
            state,
            &self.limits,
            &label,
            invocation,
        )
        .await
    }
}
