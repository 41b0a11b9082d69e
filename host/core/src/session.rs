//! One session: the skills runtime, the broker over a live cluster or a
//! snapshot, the action store and the one audit sink they all write to —
//! built once from [`Options`]. Every front end (CLI, gRPC, MCP) opens one
//! and calls its operations (the other modules of this crate add them:
//! tools, diagnose, ask, actions, doctor, capture); none holds logic of its
//! own.
//!
//! **Architecture invariant:** nothing here prints. What a person should
//! see goes through `tracing` (a warning, a note), which the CLI renders on
//! stderr and the daemon sends to its log.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::Context;
use guardian_actions::ActionStore;
use guardian_broker::{Audit, Broker, ClusterOptions, Policy, PrometheusOptions};
use guardian_runtime::{CompileCache, ProgressSink, Runtime, RuntimeConfig};

use crate::config::{self, Config};
use crate::proposals::StoreProposals;

/// The tracing target of what a person should hear even when nothing is
/// wrong (a key created, a directory made private): shown by default,
/// as `note: …`.
pub const NOTICE: &str = "guardian::notice";

/// Everything a session is built from: the global flags of the CLI, or the
/// options of `guardian serve`.
#[derive(Clone, Debug, Default)]
pub struct Options {
    /// Third-party skills (one subdirectory per skill).
    pub skills_dir: Option<PathBuf>,
    /// Compiled-component cache [default: ~/.cache/guardian/compiled].
    pub cache_dir: Option<PathBuf>,
    pub no_cache: bool,
    /// The operator config file [default: ~/.config/guardian/config.yaml].
    pub config: Option<PathBuf>,
    /// Extra Rego policies.
    pub policies: Option<PathBuf>,
    /// The audit log (`-` for stdout).
    pub audit: Option<PathBuf>,
    /// Where actions are stored [default: ~/.local/share/guardian].
    pub state_dir: Option<PathBuf>,
    /// The key that authenticates stored actions [default: `action.key` in
    /// the state directory].
    pub action_key_file: Option<PathBuf>,
    /// How to reach a live cluster.
    pub cluster: ClusterOptions,
    /// Where Prometheus is (`--prometheus`, `--prometheus-token-file`,
    /// `--prometheus-ca-file`); the config file's `prometheus:` fills in
    /// the rest.
    pub prometheus: PrometheusOptions,
    /// The node mode (`--node NAME`, `--kubelet …`): the broker reads that
    /// node's pods only, and pod usage from its kubelet. `None` reads the
    /// whole cluster.
    pub node: Option<guardian_broker::NodeOptions>,
}

/// Where a session reads the cluster from.
#[derive(Clone, Debug)]
pub enum Source {
    /// An offline snapshot folder.
    Snapshot(PathBuf),
    /// The live cluster the [`ClusterOptions`] name (then `$KUBECONFIG`,
    /// `~/.kube/config`, the in-cluster service account): it must be there.
    Live,
    /// The live cluster when one is named or found, else none (`skills
    /// call`: a tool that needs no cluster still runs).
    LiveIfAny,
    /// No cluster: tools that read Kubernetes fail, saying how to give one.
    None,
}

/// A ready session.
pub struct Session {
    runtime: Arc<Runtime>,
    broker: Option<Broker>,
    policy: Arc<Policy>,
    actions: Option<Arc<ActionStore>>,
    audit: Arc<Audit>,
    /// The live context's namespace (as kubectl's default); `None` for a
    /// snapshot, which is read whole.
    default_namespace: Option<String>,
    /// `snapshot PATH`, the live server, or `no cluster`.
    source: String,
    snapshot: bool,
    config: Config,
    options: Options,
    /// The investigations store and queue, opened on first use.
    pub(crate) investigations: std::sync::OnceLock<Arc<crate::investigations::Investigator>>,
}

impl Session {
    /// Loads the config, the policy, the skills and the cluster source (a
    /// snapshot loads on a blocking thread while the skills compile), and
    /// opens the action store. `progress` receives skills' progress
    /// reports.
    pub async fn open(
        options: &Options,
        source: &Source,
        progress: Option<ProgressSink>,
    ) -> anyhow::Result<Session> {
        Self::build(options, source, progress, true).await
    }

    /// [`Session::open`] without loading any skill: for the operations
    /// that run none (actions, capture), so they start at once.
    pub async fn open_without_skills(
        options: &Options,
        source: &Source,
    ) -> anyhow::Result<Session> {
        Self::build(options, source, None, false).await
    }

    async fn build(
        options: &Options,
        source: &Source,
        progress: Option<ProgressSink>,
        skills: bool,
    ) -> anyhow::Result<Session> {
        let config = config::load(options.config.as_deref())?;
        let policy = Arc::new(Policy::load(options.policies.as_deref())?);
        let audit = Arc::new(audit(options)?);
        let snapshot_load = match source {
            Source::Snapshot(path) => {
                let (path, policy, audit) = (path.clone(), policy.clone(), audit.clone());
                Some(tokio::task::spawn_blocking(move || {
                    load_snapshot(&path, policy, audit)
                }))
            }
            _ => None,
        };
        let mut runtime = runtime(options, &config, skills).await?;
        let (broker, default_namespace, described) = match (source, snapshot_load) {
            (Source::Snapshot(path), Some(load)) => (
                Some(load.await.context("the snapshot loader panicked")??),
                None,
                format!("snapshot {}", path.display()),
            ),
            (Source::Live, _) => {
                let (broker, ns) =
                    live_broker(&options.cluster, policy.clone(), audit.clone()).await?;
                let described = broker.describe();
                (Some(broker), Some(ns), described)
            }
            (Source::LiveIfAny, _) => {
                match live_broker(&options.cluster, policy.clone(), audit.clone()).await {
                    Ok((broker, ns)) => {
                        let described = broker.describe();
                        (Some(broker), Some(ns), described)
                    }
                    Err(e) if cluster_named(&options.cluster) => return Err(e),
                    Err(e) => {
                        tracing::info!("no cluster for this session: {e:#}");
                        (None, None, "no cluster".to_owned())
                    }
                }
            }
            _ => (None, None, "no cluster".to_owned()),
        };
        let prometheus = config.prometheus.merged(&options.prometheus)?;
        let broker = broker.map(|b| {
            b.with_prometheus(prometheus)
                .with_registries(config.registries.clone())
                .with_git(config.gitops.clone())
        });
        // The node mode: this session reads one node.
        let broker = match (broker, &options.node) {
            (Some(b), Some(node)) => Some(
                b.with_node_scope(node)
                    .map_err(|e| anyhow::anyhow!("--node {}: {e}", node.name))?,
            ),
            (broker, _) => broker,
        };
        let described = match options.node.as_ref().filter(|_| broker.is_some()) {
            Some(node) => format!("{described}, node {} only", node.name),
            None => described,
        };
        if let Some(broker) = &broker {
            runtime.set_broker(broker.clone());
        }
        let actions = open_actions(options, audit.clone());
        if let Some(store) = &actions {
            runtime.set_proposals(Arc::new(
                StoreProposals::new(Arc::clone(store)).with_gitops(
                    config.argocd.namespaces(),
                    !config.gitops.repositories.is_empty(),
                ),
            ));
        }
        if let Some(sink) = progress {
            runtime.set_progress(sink);
        }
        Ok(Session {
            runtime: Arc::new(runtime),
            broker,
            policy,
            actions,
            audit,
            default_namespace,
            source: described,
            snapshot: matches!(source, Source::Snapshot(_)),
            config,
            options: options.clone(),
            investigations: Default::default(),
        })
    }

    /// The skills runtime (the loaded skills; `serve` reloads a skills
    /// directory through it).
    pub fn runtime(&self) -> &Arc<Runtime> {
        &self.runtime
    }

    /// The one audit sink of the session: the broker's decisions, the
    /// actions' state changes and the front ends' access refusals.
    pub fn audit(&self) -> &Arc<Audit> {
        &self.audit
    }

    /// `snapshot PATH`, the live server (`context kind-dev
    /// (https://127.0.0.1:6443)`), or `no cluster`.
    pub fn source(&self) -> &str {
        &self.source
    }

    /// The session reads a snapshot, which cannot be changed.
    pub fn is_snapshot(&self) -> bool {
        self.snapshot
    }

    /// The namespace kubectl would use without `-n`; `None` for a snapshot
    /// or without a cluster.
    pub fn default_namespace(&self) -> Option<&str> {
        self.default_namespace.as_deref()
    }

    pub fn config(&self) -> &Config {
        &self.config
    }

    pub fn options(&self) -> &Options {
        &self.options
    }

    /// The action store, or why there is none.
    pub(crate) fn store(&self) -> Result<&Arc<ActionStore>, crate::ServiceError> {
        self.actions.as_ref().ok_or_else(|| {
            crate::ServiceError::new(
                crate::ErrorClass::Unavailable,
                "no action store: the state directory could not be opened (--state-dir); see the warning at start",
            )
        })
    }

    /// The broker, or why there is none.
    pub(crate) fn broker(&self) -> Result<&Broker, crate::ServiceError> {
        self.broker.as_ref().ok_or_else(|| {
            crate::ServiceError::new(
                crate::ErrorClass::Unavailable,
                "no cluster: give a snapshot (--snapshot) or a live cluster (--kubeconfig, --context)",
            )
        })
    }

    /// A broker on the live cluster for the host's own questions (the
    /// TokenReviews of `serve --token-review`): the session's, or — when the
    /// session reads a snapshot — one over the cluster the options name,
    /// with the session's policy and audit sink.
    pub async fn live_broker(&self) -> anyhow::Result<Broker> {
        match &self.broker {
            Some(broker) if !self.snapshot => Ok(broker.clone()),
            _ => Ok(live_broker(
                &self.options.cluster,
                self.policy.clone(),
                self.audit.clone(),
            )
            .await?
            .0),
        }
    }

    /// The agent loop over this session's skills, calling them as `caller`
    /// (`agent:reasoner`, `agent:llm(automation:ci)`); `namespace` is what a
    /// question that names none is about (default: the context's).
    pub fn agent(
        &self,
        mode: guardian_agent::Mode,
        guards: guardian_agent::Guards,
        caller: &str,
        propose: bool,
        namespace: Option<String>,
    ) -> guardian_agent::Agent {
        let mut toolbox = guardian_agent::Toolbox::new(self.runtime.clone(), caller);
        // What `diagnose` adds for every front end, the loop's diagnoses
        // get too: the registry's tags for an image tag that does not exist.
        if !self.config.registries.allowed_hosts.is_empty()
            && let Some(broker) = &self.broker
        {
            toolbox = toolbox.with_hook(std::sync::Arc::new(crate::diagnose::RegistryTags {
                broker: broker.clone(),
                runtime: self.runtime.clone(),
            }));
        }
        guardian_agent::Agent {
            toolbox,
            guards,
            mode,
            propose,
            context: guardian_agent::RunContext {
                source: self.source.clone(),
                default_namespace: namespace.clone().or(self.default_namespace.clone()),
                explicit_namespace: namespace,
                argocd_namespaces: self.config.argocd.namespaces(),
            },
            assist: false,
        }
    }
}

/// Whether the options or the environment name a cluster (then it must be
/// reachable through them).
fn cluster_named(cluster: &ClusterOptions) -> bool {
    cluster.kubeconfig.is_some()
        || cluster.context.is_some()
        || cluster.impersonate_user.is_some()
        || std::env::var_os("KUBECONFIG").is_some_and(|v| !v.is_empty())
}

/// The runtime with the built-in skills and the skills directory loaded. A
/// refused skill is a warning and the others load.
async fn runtime(options: &Options, config: &Config, skills: bool) -> anyhow::Result<Runtime> {
    let limits = config.limits.apply(Default::default())?;
    let cache_dir = if options.no_cache {
        None
    } else {
        options.cache_dir.clone().or_else(CompileCache::default_dir)
    };
    let runtime = Runtime::new(
        RuntimeConfig {
            limits,
            cache_dir,
            operator_grants: config.skills.grants.clone(),
        },
        None,
    )?;
    if !skills {
        return Ok(runtime);
    }
    for builtin in guardian_builtin_skills::all() {
        if let Err(e) = runtime.load_builtin(builtin.manifest, builtin.wasm).await {
            tracing::warn!("{e}");
        }
    }
    if let Some(dir) = skills_dir(options, config) {
        for e in runtime
            .load_dir(&dir)
            .await
            .map_err(|e| anyhow::anyhow!("{e}"))?
        {
            tracing::warn!("{e}");
        }
    }
    Ok(runtime)
}

/// `--skills-dir`, else the config's `skills.dir`.
pub fn skills_dir(options: &Options, config: &Config) -> Option<PathBuf> {
    options.skills_dir.clone().or(config.skills.dir.clone())
}

/// The audit sink `--audit` names, or none.
fn audit(options: &Options) -> anyhow::Result<Audit> {
    Ok(match &options.audit {
        Some(path) => Audit::open(path)
            .with_context(|| format!("cannot open the audit log {}", path.display()))?,
        None => Audit::Off,
    })
}

/// The action store under `state_dir` (or the default data dir), auditing
/// to `audit`. `None` (with a warning) when it cannot be opened: proposals
/// are then refused as `unavailable`, and every other call works.
fn open_actions(options: &Options, audit: Arc<Audit>) -> Option<Arc<ActionStore>> {
    let opened = ActionStore::open_default_with(
        options.state_dir.as_deref(),
        audit,
        guardian_actions::StoreOptions {
            key_file: options.action_key_file.clone(),
            ..Default::default()
        },
    );
    match opened {
        Ok(store) => {
            for notice in store.notices() {
                tracing::info!(target: NOTICE, "{notice}");
            }
            if let Some(problem) = store.key_problem() {
                tracing::warn!("{problem}");
            }
            Some(Arc::new(store))
        }
        Err(e) => {
            tracing::warn!("no action store: {e}");
            None
        }
    }
}

/// A broker over a snapshot folder; loader problems are warnings.
fn load_snapshot(path: &Path, policy: Arc<Policy>, audit: Arc<Audit>) -> anyhow::Result<Broker> {
    let (broker, problems) = Broker::snapshot(path, policy, audit)
        .map_err(|e| anyhow::anyhow!("snapshot {}: {e}", path.display()))?;
    for p in &problems {
        tracing::warn!("snapshot: {}: {}", p.file.display(), p.message);
    }
    Ok(broker)
}

/// A broker over the live cluster, and the context's namespace.
async fn live_broker(
    cluster: &ClusterOptions,
    policy: Arc<Policy>,
    audit: Arc<Audit>,
) -> anyhow::Result<(Broker, String)> {
    let broker = Broker::live(cluster, policy, audit)
        .await
        .map_err(|e| anyhow::anyhow!("{e}"))?;
    let namespace = broker.default_namespace().unwrap_or("default").to_owned();
    Ok((broker, namespace))
}
