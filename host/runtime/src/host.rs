//! The host side of the skill ABI: what a skill's imports do.
//!
//! Every import checks the skill's effective grants first, then goes to the
//! broker with a deadline. The guest never sees a client, a path or a socket.

use std::sync::Arc;
use std::time::{Duration, Instant};

use guardian_broker::{Broker, BrokerError, CallContext, ListQuery, LogQuery, ObjectRef};
use wasmtime::component::ResourceTable;
use wasmtime::{StoreLimits, StoreLimitsBuilder};
use wasmtime_wasi::p2::pipe::MemoryOutputPipe;
use wasmtime_wasi::{WasiCtx, WasiCtxView, WasiView};

use crate::bindings::latest::guardian::skill::{actions, kube, log, metrics, types};
use crate::bindings::latest::types::{
    ApiResource, ContainerUsage, ErrorKind, HostError, Level, ListOptions, LogOptions,
    ObjectRef as WitObjectRef, Proposal,
};
use crate::grants::{Grants, Need};
use crate::limits::Limits;
use crate::proposals::Proposals;

/// The data of one `Store`: one tool call.
pub struct HostState {
    pub(crate) cx: CallContext,
    pub(crate) grants: Grants,
    pub(crate) broker: Option<Broker>,
    pub(crate) proposals: Option<Arc<dyn Proposals>>,
    pub(crate) limits: StoreLimits,
    pub(crate) host_call_timeout: Duration,
    pub(crate) cpu_time: Duration,
    pub(crate) started: Instant,
    /// Time spent blocked in host calls; not charged to the guest's CPU budget.
    pub(crate) host_time: Duration,
    pub(crate) host_calls: u32,
    pub(crate) stdout: MemoryOutputPipe,
    pub(crate) stderr: MemoryOutputPipe,
    pub(crate) progress: Option<ProgressSink>,
    wasi: WasiCtx,
    table: ResourceTable,
}

/// Receives `log.progress` reports (the CLI draws them on a terminal).
pub type ProgressSink = std::sync::Arc<dyn Fn(&str, u32, u32, &str) + Send + Sync>;

impl HostState {
    pub(crate) fn new(
        cx: CallContext,
        grants: Grants,
        broker: Option<Broker>,
        proposals: Option<Arc<dyn Proposals>>,
        limits: &Limits,
        progress: Option<ProgressSink>,
    ) -> Self {
        let stdout = MemoryOutputPipe::new(limits.stdio_bytes);
        let stderr = MemoryOutputPipe::new(limits.stdio_bytes);
        // No preopens, no environment, no arguments, no network, no inherited
        // stdio: the only WASI a skill gets is clocks, random and two bounded
        // output buffers.
        let wasi = WasiCtx::builder()
            .stdout(stdout.clone())
            .stderr(stderr.clone())
            .allow_tcp(false)
            .allow_udp(false)
            .allow_ip_name_lookup(false)
            .build();
        Self {
            cx,
            grants,
            broker,
            proposals,
            limits: StoreLimitsBuilder::new()
                .memory_size(limits.memory_bytes)
                .table_elements(100_000)
                .instances(32)
                .tables(32)
                .memories(4)
                .trap_on_grow_failure(true)
                .build(),
            host_call_timeout: limits.host_call_timeout,
            cpu_time: limits.cpu_time,
            started: Instant::now(),
            host_time: Duration::ZERO,
            host_calls: 0,
            stdout,
            stderr,
            progress,
            wasi,
            table: ResourceTable::new(),
        }
    }

    /// Guest CPU time used so far: wall time minus time blocked in the host.
    pub(crate) fn guest_time(&self) -> Duration {
        self.started.elapsed().saturating_sub(self.host_time)
    }

    fn check(&self, need: Need) -> Result<(), HostError> {
        if self.grants.allows(&need) {
            Ok(())
        } else {
            tracing::warn!(skill = %self.cx.skill, tool = %self.cx.tool, need = %need, "host call outside grants denied");
            Err(HostError {
                kind: ErrorKind::Denied,
                message: self.grants.missing(&self.cx.skill, &need),
            })
        }
    }

    fn broker(&self) -> Result<&Broker, HostError> {
        self.broker.as_ref().ok_or_else(|| HostError {
            kind: ErrorKind::Unavailable,
            message: "no cluster is configured: pass --snapshot PATH (offline) or --context/--kubeconfig (live)".into(),
        })
    }

    /// Runs one broker call with the host-call deadline, charging its time to
    /// the host, not to the guest.
    async fn timed<T>(
        &mut self,
        what: &str,
        fut: impl Future<Output = Result<T, BrokerError>>,
    ) -> Result<T, HostError> {
        let start = Instant::now();
        let out = tokio::time::timeout(self.host_call_timeout, fut).await;
        self.host_time += start.elapsed();
        self.host_calls += 1;
        match out {
            Ok(result) => result.map_err(host_error),
            Err(_) => Err(HostError {
                kind: ErrorKind::Timeout,
                message: format!(
                    "{what} did not answer within {:?} (host call deadline)",
                    self.host_call_timeout
                ),
            }),
        }
    }

    /// Resolves a resource name and checks the read grant for it.
    async fn resolve_for(
        &mut self,
        resource: &str,
        propose: bool,
    ) -> Result<guardian_broker::ResourceKind, HostError> {
        let broker = self.broker()?.clone();
        let kind = self
            .timed("resource discovery", broker.resolve(resource))
            .await?;
        let name = kind.grant_name();
        let need = if propose {
            Need::Propose(name)
        } else {
            Need::Read(name)
        };
        if let Err(e) = self.check(need) {
            let verb = if propose { "patch" } else { "get" };
            broker.record_refusal(&self.cx, verb, &kind, "", None, "", &e.message);
            return Err(e);
        }
        Ok(kind)
    }
}

pub(crate) fn host_error(err: BrokerError) -> HostError {
    let kind = match &err {
        BrokerError::NotFound(_) => ErrorKind::NotFound,
        BrokerError::Invalid(_) => ErrorKind::Invalid,
        BrokerError::Conflict(_) => ErrorKind::Conflict,
        BrokerError::Unavailable(_) => ErrorKind::Unavailable,
        // Outside a node daemon's scope: refused, whatever is asked again.
        BrokerError::Denied(_) | BrokerError::OutOfScope(_) => ErrorKind::Denied,
        BrokerError::TooLarge(_) => ErrorKind::TooLarge,
        BrokerError::Timeout(_) => ErrorKind::Timeout,
        BrokerError::Internal(_) => ErrorKind::Internal,
    };
    HostError {
        kind,
        message: err.to_string(),
    }
}

fn to_json(value: &serde_json::Value) -> Result<String, HostError> {
    serde_json::to_string(value).map_err(|e| HostError {
        kind: ErrorKind::Internal,
        message: format!("cannot encode answer as JSON: {e}"),
    })
}

impl WasiView for HostState {
    fn ctx(&mut self) -> WasiCtxView<'_> {
        WasiCtxView {
            ctx: &mut self.wasi,
            table: &mut self.table,
        }
    }
}

type HostResult<T> = wasmtime::Result<Result<T, HostError>>;

/// `types` has no functions; both ABI versions share it.
impl types::Host for HostState {}

impl kube::Host for HostState {
    async fn get(
        &mut self,
        resource: String,
        namespace: Option<String>,
        name: String,
    ) -> HostResult<String> {
        Ok(async {
            let kind = self.resolve_for(&resource, false).await?;
            let broker = self.broker()?.clone();
            let cx = self.cx.clone();
            let obj = self
                .timed("get", broker.get(&cx, &kind, namespace.as_deref(), &name))
                .await?;
            to_json(&obj)
        }
        .await)
    }

    async fn list(&mut self, resource: String, options: ListOptions) -> HostResult<String> {
        Ok(async {
            let kind = self.resolve_for(&resource, false).await?;
            let broker = self.broker()?.clone();
            let cx = self.cx.clone();
            let query = ListQuery {
                namespace: options.namespace,
                label_selector: options.label_selector,
                field_selector: options.field_selector,
                limit: options.limit,
            };
            // Shared items: serialized straight from the snapshot's data
            // instead of deep-copying every object first.
            let list = self
                .timed("list", broker.list_shared(&cx, &kind, &query))
                .await?;
            serde_json::to_string(&list).map_err(|e| HostError {
                kind: ErrorKind::Internal,
                message: format!("cannot encode answer as JSON: {e}"),
            })
        }
        .await)
    }

    async fn logs(
        &mut self,
        namespace: String,
        pod: String,
        options: LogOptions,
    ) -> HostResult<String> {
        Ok(async {
            let broker = self.broker()?.clone();
            let cx = self.cx.clone();
            if let Err(e) = self.check(Need::Read("pods/log".into())) {
                if let Ok(kind) = broker.resolve("pods").await {
                    broker.record_refusal(
                        &cx,
                        "logs",
                        &kind,
                        "log",
                        Some(&namespace),
                        &pod,
                        &e.message,
                    );
                }
                return Err(e);
            }
            let query = LogQuery {
                container: options.container,
                tail_lines: options.tail_lines,
                previous: options.previous,
            };
            self.timed("logs", broker.logs(&cx, &namespace, &pod, &query))
                .await
        }
        .await)
    }

    async fn events(&mut self, object: WitObjectRef) -> HostResult<String> {
        Ok(async {
            let broker = self.broker()?.clone();
            let cx = self.cx.clone();
            if let Err(e) = self.check(Need::Read("events".into())) {
                if let Ok(kind) = broker.resolve("events").await {
                    broker.record_refusal(
                        &cx,
                        "events",
                        &kind,
                        "",
                        object.namespace.as_deref(),
                        &object.name,
                        &e.message,
                    );
                }
                return Err(e);
            }
            let object = ObjectRef {
                api_version: object.api_version,
                kind: object.kind,
                namespace: object.namespace,
                name: object.name,
            };
            let events = self.timed("events", broker.events(&cx, &object)).await?;
            to_json(&events)
        }
        .await)
    }

    async fn dry_run_patch(
        &mut self,
        resource: String,
        namespace: Option<String>,
        name: String,
        json_patch: String,
    ) -> HostResult<String> {
        Ok(async {
            let patch: serde_json::Value =
                serde_json::from_str(&json_patch).map_err(|e| HostError {
                    kind: ErrorKind::Invalid,
                    message: format!("json-patch is not JSON: {e}"),
                })?;
            let kind = self.resolve_for(&resource, true).await?;
            let broker = self.broker()?.clone();
            let cx = self.cx.clone();
            let obj = self
                .timed(
                    "dry-run patch",
                    broker.dry_run_patch(&cx, &kind, namespace.as_deref(), &name, &patch),
                )
                .await?;
            to_json(&obj)
        }
        .await)
    }

    async fn api_resources(&mut self) -> HostResult<Vec<ApiResource>> {
        Ok(async {
            let broker = self.broker()?.clone();
            let cx = self.cx.clone();
            let kinds = self.timed("discovery", broker.api_resources(&cx)).await?;
            Ok(kinds
                .into_iter()
                .map(|k| ApiResource {
                    group: k.group,
                    version: k.version,
                    kind: k.kind,
                    name: k.plural,
                    namespaced: k.namespaced,
                    verbs: k.verbs,
                })
                .collect())
        }
        .await)
    }
}

impl HostState {
    /// The broker for a metrics call, after the `metrics` grant check (a
    /// refusal is audited as a `get` of what was asked).
    fn metrics_broker(&self, what: &str) -> Result<Broker, HostError> {
        if let Err(e) = self.check(Need::Metrics) {
            if let Some(broker) = &self.broker {
                broker.record_refusal(
                    &self.cx,
                    "get",
                    &guardian_broker::metrics::prometheus_kind(),
                    "",
                    None,
                    what,
                    &e.message,
                );
            }
            return Err(e);
        }
        self.broker.clone().ok_or_else(|| HostError {
            kind: ErrorKind::Unavailable,
            message: "no metrics source: metrics need a cluster (live: --context/--kubeconfig, \
                      with --prometheus URL or a Prometheus Service in it; or a snapshot with \
                      pod metrics)"
                .into(),
        })
    }
}

impl metrics::Host for HostState {
    async fn pod_usage(
        &mut self,
        namespace: Option<String>,
        label_selector: Option<String>,
    ) -> HostResult<Vec<ContainerUsage>> {
        Ok(async {
            let broker = self.metrics_broker("pod-usage")?;
            let cx = self.cx.clone();
            let usage = self
                .timed(
                    "pod usage (metrics.k8s.io)",
                    broker.pod_usage(&cx, namespace.as_deref(), label_selector.as_deref()),
                )
                .await?;
            Ok(usage
                .into_iter()
                .map(|u| ContainerUsage {
                    namespace: u.namespace,
                    pod: u.pod,
                    container: u.container,
                    cpu_millicores: u.cpu_millicores,
                    memory_bytes: u.memory_bytes,
                })
                .collect())
        }
        .await)
    }

    async fn query(&mut self, promql: String, at: Option<String>) -> HostResult<String> {
        Ok(async {
            let broker = self.metrics_broker(&promql)?;
            let cx = self.cx.clone();
            self.timed(
                "Prometheus query",
                broker.prometheus_query(&cx, &promql, at.as_deref()),
            )
            .await
        }
        .await)
    }

    async fn query_range(
        &mut self,
        promql: String,
        start: String,
        end: String,
        step: String,
    ) -> HostResult<String> {
        Ok(async {
            let broker = self.metrics_broker(&promql)?;
            let cx = self.cx.clone();
            self.timed(
                "Prometheus range query",
                broker.prometheus_query_range(&cx, &promql, &start, &end, &step),
            )
            .await
        }
        .await)
    }
}

impl actions::Host for HostState {
    /// Checks the skill's `propose` grant for the target (a refusal is
    /// audited), then hands the proposal to the session's [`Proposals`]
    /// (dry run, then a pending action) and returns its id. Nothing here can
    /// approve or apply: the runtime holds a propose-only sink.
    async fn propose(&mut self, proposal: Proposal) -> HostResult<String> {
        Ok(async {
            let broker = self.broker()?.clone();
            let target = proposal.target;
            let kind = self
                .timed("resource discovery", broker.resolve(&target.kind))
                .await?;
            let namespace = target.namespace.as_deref();
            if let Err(e) = self.check(Need::Propose(kind.grant_name())) {
                broker.record_refusal(
                    &self.cx,
                    "patch",
                    &kind,
                    "",
                    namespace,
                    &target.name,
                    &e.message,
                );
                return Err(e);
            }
            let sink = self.proposals.clone().ok_or_else(|| HostError {
                kind: ErrorKind::Unavailable,
                message: "no action store; run with --state-dir or the default data dir".into(),
            })?;
            let cx = self.cx.clone();
            let object = ObjectRef {
                api_version: target.api_version,
                kind: target.kind,
                namespace: target.namespace,
                name: target.name,
            };
            let start = Instant::now();
            let out = tokio::time::timeout(
                self.host_call_timeout,
                sink.propose(
                    &broker,
                    &cx,
                    &object,
                    &proposal.json_patch,
                    &proposal.rationale,
                ),
            )
            .await;
            self.host_time += start.elapsed();
            self.host_calls += 1;
            match out {
                Ok(Ok(id)) => Ok(id),
                Ok(Err(e)) => Err(HostError {
                    kind: error_kind(&e.kind),
                    message: e.message,
                }),
                Err(_) => Err(HostError {
                    kind: ErrorKind::Timeout,
                    message: format!(
                        "propose did not answer within {:?} (host call deadline)",
                        self.host_call_timeout
                    ),
                }),
            }
        }
        .await)
    }
}

/// A broker-style error class (`invalid`, `denied`, …) as the ABI names it.
fn error_kind(kind: &str) -> ErrorKind {
    match kind {
        "invalid" => ErrorKind::Invalid,
        "denied" => ErrorKind::Denied,
        "conflict" => ErrorKind::Conflict,
        "not-found" => ErrorKind::NotFound,
        "too-large" => ErrorKind::TooLarge,
        "timeout" => ErrorKind::Timeout,
        "internal" => ErrorKind::Internal,
        _ => ErrorKind::Unavailable,
    }
}

impl log::Host for HostState {
    async fn log(&mut self, level: Level, message: String) -> wasmtime::Result<()> {
        let message = truncate(&message, 4096);
        let (skill, tool) = (&self.cx.skill, &self.cx.tool);
        match level {
            Level::Trace => tracing::trace!(target: "guardian::skill", %skill, %tool, "{message}"),
            Level::Debug => tracing::debug!(target: "guardian::skill", %skill, %tool, "{message}"),
            Level::Info => tracing::info!(target: "guardian::skill", %skill, %tool, "{message}"),
            Level::Warn => tracing::warn!(target: "guardian::skill", %skill, %tool, "{message}"),
            Level::Error => tracing::error!(target: "guardian::skill", %skill, %tool, "{message}"),
        }
        Ok(())
    }

    async fn progress(&mut self, done: u32, total: u32, message: String) -> wasmtime::Result<()> {
        if let Some(sink) = &self.progress {
            sink(&self.cx.skill, done, total, truncate(&message, 200));
        }
        Ok(())
    }
}

/// Cuts `s` to at most `max` bytes on a char boundary.
pub(crate) fn truncate(s: &str, max: usize) -> &str {
    if s.len() <= max {
        return s;
    }
    let mut end = max;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    &s[..end]
}
