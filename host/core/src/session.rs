//! One session: the skills runtime, the broker over a live cluster or a
//! snapshot, and the action store — built once from [`Options`], shared by
//! every front end (CLI, gRPC, MCP, the agent loop).

use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::Context;
use guardian_actions::ActionStore;
use guardian_broker::{Audit, Broker, ClusterOptions, Policy};
use guardian_runtime::{CompileCache, ProgressSink, Runtime, RuntimeConfig};

use crate::config::{self, Config};

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
    /// How to reach a live cluster.
    pub cluster: ClusterOptions,
}

/// Where a session reads the cluster from.
#[derive(Clone, Debug)]
pub enum Source {
    /// An offline snapshot folder.
    Snapshot(PathBuf),
    /// The live cluster the [`ClusterOptions`] name.
    Live,
    /// No cluster: tools that read Kubernetes fail, saying how to give one.
    None,
}

/// A ready session.
pub struct Session {
    pub runtime: Arc<Runtime>,
    pub broker: Option<Broker>,
    pub actions: Option<Arc<ActionStore>>,
    /// The live context's namespace (as kubectl's default); `None` for a
    /// snapshot, which is read whole.
    pub default_namespace: Option<String>,
    /// `snapshot PATH` or the live server, for reports.
    pub source: String,
    pub config: Config,
    pub options: Options,
}

impl Session {
    /// Loads the config, the skills and the cluster source; the snapshot
    /// loads on a blocking thread while the skills compile. `progress`
    /// receives skills' progress reports.
    pub async fn open(
        options: &Options,
        source: &Source,
        progress: Option<ProgressSink>,
    ) -> anyhow::Result<Session> {
        let config = config::load(options.config.as_deref())?;
        let snapshot_load = match source {
            Source::Snapshot(path) => {
                let options = options.clone();
                let path = path.clone();
                Some(tokio::task::spawn_blocking(move || {
                    load_snapshot(&options, &path)
                }))
            }
            _ => None,
        };
        let mut runtime = runtime(options, &config, None).await?;
        let (broker, default_namespace, described) = match (source, snapshot_load) {
            (Source::Snapshot(path), Some(load)) => (
                Some(load.await.context("the snapshot loader panicked")??),
                None,
                format!("snapshot {}", path.display()),
            ),
            (Source::Live, _) => {
                let broker = connect(options).await?;
                let ns = broker.default_namespace().map(str::to_owned);
                let described = broker.describe();
                (Some(broker), ns, described)
            }
            _ => (None, None, "no cluster".to_owned()),
        };
        if let Some(broker) = &broker {
            runtime.set_broker(broker.clone());
        }
        let actions = open_actions(options);
        if let Some(store) = &actions {
            runtime.set_actions(Arc::clone(store));
        }
        if let Some(sink) = progress {
            runtime.set_progress(sink);
        }
        Ok(Session {
            runtime: Arc::new(runtime),
            broker,
            actions,
            default_namespace,
            source: described,
            config,
            options: options.clone(),
        })
    }
}

/// The runtime with the built-in skills and the skills directory loaded. A
/// refused skill is reported on stderr and the others load.
pub async fn runtime(
    options: &Options,
    config: &Config,
    broker: Option<Broker>,
) -> anyhow::Result<Runtime> {
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
        broker,
    )?;
    for builtin in guardian_builtin_skills::all() {
        if let Err(e) = runtime.load_builtin(builtin.manifest, builtin.wasm).await {
            eprintln!("warning: {e}");
        }
    }
    if let Some(dir) = skills_dir(options, config) {
        for e in runtime
            .load_dir(&dir)
            .await
            .map_err(|e| anyhow::anyhow!("{e}"))?
        {
            eprintln!("warning: {e}");
        }
    }
    Ok(runtime)
}

/// `--skills-dir`, else the config's `skills.dir`.
pub fn skills_dir(options: &Options, config: &Config) -> Option<PathBuf> {
    options.skills_dir.clone().or(config.skills.dir.clone())
}

/// The policy (defaults plus `--policies`) and the audit sink (`--audit`),
/// which every broker shares. A policy that does not parse stops here.
pub fn policy_and_audit(options: &Options) -> anyhow::Result<(Arc<Policy>, Arc<Audit>)> {
    let policy = Policy::load(options.policies.as_deref())?;
    Ok((Arc::new(policy), Arc::new(audit(options)?)))
}

/// The audit sink `--audit` names, or none.
pub fn audit(options: &Options) -> anyhow::Result<Audit> {
    Ok(match &options.audit {
        Some(path) => Audit::open(path)
            .with_context(|| format!("cannot open the audit log {}", path.display()))?,
        None => Audit::Off,
    })
}

/// The action store under `state_dir` (or the default data dir), auditing
/// to `audit`. `None` (with a warning) when it cannot be opened: proposals
/// are then refused as `unavailable`, and every other call works.
pub fn open_actions(options: &Options) -> Option<Arc<ActionStore>> {
    let audit = match audit(options) {
        Ok(a) => a,
        Err(e) => {
            eprintln!("warning: {e:#}");
            return None;
        }
    };
    match ActionStore::open_default(options.state_dir.as_deref(), Arc::new(audit)) {
        Ok(store) => Some(Arc::new(store)),
        Err(e) => {
            eprintln!("warning: no action store: {e}");
            None
        }
    }
}

/// A broker over a snapshot folder; loader problems are warnings.
pub fn load_snapshot(options: &Options, path: &Path) -> anyhow::Result<Broker> {
    let (policy, audit) = policy_and_audit(options)?;
    let (broker, problems) = Broker::snapshot(path, policy, audit)
        .map_err(|e| anyhow::anyhow!("snapshot {}: {e}", path.display()))?;
    for p in &problems {
        eprintln!("warning: snapshot: {}: {}", p.file.display(), p.message);
    }
    Ok(broker)
}

/// A broker over the live cluster the options name.
pub async fn connect(options: &Options) -> anyhow::Result<Broker> {
    let (policy, audit) = policy_and_audit(options)?;
    Broker::live(&options.cluster, policy, audit)
        .await
        .map_err(|e| anyhow::anyhow!("{e}"))
}

/// A broker over the live cluster, and the context's namespace.
pub async fn live_broker(options: &Options) -> anyhow::Result<(Broker, String)> {
    let broker = connect(options).await?;
    let namespace = broker.default_namespace().unwrap_or("default").to_owned();
    Ok((broker, namespace))
}
