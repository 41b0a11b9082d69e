//! Investigations: what Guardian found about one alert (or a person's
//! question) — the alert, the object it is about, the findings of a
//! diagnosis scoped to that object, the fixes proposed, and how long each
//! step took. Alertmanager's webhook feeds them ([`Session::intake_alerts`]);
//! every front end reads them through [`Session::list_investigations`] and
//! [`Session::get_investigation`].
//!
//! An alert's firing notification maps its labels to a target
//! ([`target::map_labels`]; a pod to its owning workload, read through the
//! broker), is deduplicated by fingerprint (an open investigation of the
//! fingerprint is updated, and diagnosed again only past
//! `dedup_window_seconds`), and queued. A worker takes the queue at most
//! `rate_limit_per_minute` diagnoses a minute, `max_concurrent` at a time:
//! alerts past the rate are **deferred** (recorded at once, diagnosed when
//! the rate allows; the record says so), never dropped; only a full queue
//! (`max_queued`) refuses an alert, with an error Alertmanager retries.
//! A resolved notification closes the investigation. The diagnosis runs as
//! caller `alertmanager:<identity>`, which may propose (pending actions)
//! and never approve.

pub mod limit;
pub mod payload;
pub mod store;
pub mod target;

use std::collections::{BTreeMap, VecDeque};
use std::path::PathBuf;
use std::sync::{Arc, Mutex, Weak};
use std::time::{Duration, Instant};

use guardian_broker::CallContext;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

pub use payload::{Alert, AlertStatus, Notification, PayloadError, parse as parse_payload};
pub use target::InvestigationTarget;

use crate::{DiagnoseRequest, ErrorClass, ServiceError, Session};
use limit::{Dedup, RateLimit};
use store::{Phase, Store};

/// The `alertmanager:` section of the config.
///
/// ```yaml
/// alertmanager:
///   rate_limit_per_minute: 30   # diagnoses started a minute (excess: deferred)
///   dedup_window_seconds: 300   # a firing alert with an open investigation is not diagnosed again within this
///   propose: false              # store fixes whose dry-run passed as pending actions
///   max_concurrent: 2           # diagnoses at once
///   max_queued: 1000            # deferred alerts held; past this an alert is refused (503, retried)
/// ```
#[derive(Clone, Debug, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct AlertmanagerConfig {
    pub rate_limit_per_minute: u32,
    pub dedup_window_seconds: u64,
    pub propose: bool,
    pub max_concurrent: usize,
    pub max_queued: usize,
}

impl Default for AlertmanagerConfig {
    fn default() -> Self {
        Self {
            rate_limit_per_minute: 30,
            dedup_window_seconds: 300,
            propose: false,
            max_concurrent: 2,
            max_queued: 1000,
        }
    }
}

/// `open`, `resolved` (the alert resolved), `failed` (the diagnosis
/// failed: see `error`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum InvestigationState {
    Open,
    Resolved,
    Failed,
}

impl InvestigationState {
    pub const ALL: [InvestigationState; 3] = [Self::Open, Self::Resolved, Self::Failed];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Open => "open",
            Self::Resolved => "resolved",
            Self::Failed => "failed",
        }
    }

    /// `""` (all) or a state name; the error names the states.
    pub fn parse(s: &str) -> Result<Option<Self>, ServiceError> {
        match s.trim().to_ascii_lowercase().as_str() {
            "" => Ok(None),
            "open" => Ok(Some(Self::Open)),
            "resolved" => Ok(Some(Self::Resolved)),
            "failed" => Ok(Some(Self::Failed)),
            other => Err(ServiceError::new(
                ErrorClass::InvalidArgument,
                format!(
                    "unknown investigation state {other:?}; expected one of open, resolved, failed"
                ),
            )),
        }
    }
}

/// The alert an investigation is about.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct AlertInfo {
    pub fingerprint: String,
    pub alertname: String,
    pub status: String,
    pub labels: BTreeMap<String, String>,
    pub annotations: BTreeMap<String, String>,
    pub starts_at: String,
    pub ends_at: String,
    pub generator_url: String,
    pub receiver: String,
}

/// One investigation (see the module docs).
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Investigation {
    /// `inv-` and 12 base32 characters.
    pub id: String,
    pub state: InvestigationState,
    /// `alertmanager:<identity>` or `human:<identity>`.
    pub started_by: String,
    pub alert: Option<AlertInfo>,
    pub target: Option<InvestigationTarget>,
    /// Why no target could be mapped (then nothing was diagnosed).
    pub unmapped: Option<String>,
    /// Diagnostics' findings about the target and what it is caused by.
    pub findings: Vec<Value>,
    /// What was actually read (`namespace shop: 42 objects`), or why
    /// nothing was: never an all-clear beyond it.
    pub scope_read: String,
    /// Pending actions proposed (ids).
    pub actions: Vec<String>,
    pub created: String,
    pub updated: String,
    pub resolved: Option<String>,
    /// `diagnose`, `propose`, `total` (ms).
    pub timing_ms: BTreeMap<String, u64>,
    pub error: Option<String>,
}

/// What became of one alert of a notification.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Intake {
    pub fingerprint: String,
    /// The investigation (none when the alert was refused).
    pub id: Option<String>,
    /// `new`, `duplicate`, `again` (diagnosed again past the dedup
    /// window), `deferred` (queued behind the rate limit), `resolved`,
    /// `unmapped`, `unknown` (a resolved alert with no open
    /// investigation), `refused` (the queue is full: retry).
    pub outcome: &'static str,
}

/// The investigations of a session: the store, the queue and the rate.
pub struct Investigator {
    store: Store,
    config: AlertmanagerConfig,
    queue: Mutex<VecDeque<String>>,
    wake: tokio::sync::Notify,
    rate: Mutex<RateLimit>,
    worker: std::sync::Once,
}

/// A fresh id: `inv-` and 12 lowercase base32 characters.
fn new_id() -> Result<String, ServiceError> {
    const ALPHABET: &[u8; 32] = b"abcdefghijklmnopqrstuvwxyz234567";
    let mut bytes = [0u8; 8];
    getrandom::fill(&mut bytes).map_err(|e| {
        ServiceError::new(
            ErrorClass::Internal,
            format!("no randomness for an id: {e}"),
        )
    })?;
    let mut bits = u64::from_le_bytes(bytes);
    let mut id = String::from("inv-");
    for _ in 0..12 {
        id.push(ALPHABET[(bits & 31) as usize] as char);
        bits >>= 5;
    }
    Ok(id)
}

/// Whether `s` has the shape of an investigation id.
pub fn is_valid_id(s: &str) -> bool {
    s.strip_prefix("inv-").is_some_and(|r| {
        r.len() == 12
            && r.bytes()
                .all(|b| b.is_ascii_lowercase() || (b'2'..=b'7').contains(&b))
    })
}

fn now() -> String {
    chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
}

fn now_ms() -> i64 {
    chrono::Utc::now().timestamp_millis()
}

fn internal(e: store::StoreError) -> ServiceError {
    ServiceError::new(ErrorClass::Unavailable, e.to_string())
}

impl Investigator {
    fn open(dir: PathBuf, config: AlertmanagerConfig) -> Result<Self, ServiceError> {
        Ok(Self {
            store: Store::open(&dir).map_err(internal)?,
            rate: Mutex::new(RateLimit::new(config.rate_limit_per_minute, Instant::now())),
            config,
            queue: Mutex::new(VecDeque::new()),
            wake: tokio::sync::Notify::new(),
            worker: std::sync::Once::new(),
        })
    }

    fn queued(&self) -> usize {
        self.queue.lock().unwrap_or_else(|p| p.into_inner()).len()
    }

    fn enqueue(&self, id: String) {
        self.queue
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .push_back(id);
        self.wake.notify_one();
    }
}

impl Session {
    /// The investigations store (opened on first use, in the state
    /// directory beside `actions.db`).
    fn investigator(&self) -> Result<&Arc<Investigator>, ServiceError> {
        if let Some(inv) = self.investigations.get() {
            return Ok(inv);
        }
        let path = guardian_actions::default_path(self.options().state_dir.as_deref())
            .map_err(|e| ServiceError::new(ErrorClass::Unavailable, e.to_string()))?;
        let dir = path
            .parent()
            .map(ToOwned::to_owned)
            .unwrap_or_else(|| PathBuf::from("."));
        let opened = Arc::new(Investigator::open(dir, self.config().alertmanager.clone())?);
        Ok(self.investigations.get_or_init(|| opened))
    }

    /// Every investigation (in `state`, when given), newest first.
    pub fn list_investigations(
        &self,
        state: Option<InvestigationState>,
    ) -> Result<Vec<Investigation>, ServiceError> {
        self.investigator()?.store.list(state).map_err(internal)
    }

    /// One investigation.
    pub fn get_investigation(&self, id: &str) -> Result<Investigation, ServiceError> {
        let id = id.trim();
        if !is_valid_id(id) {
            return Err(ServiceError::new(
                ErrorClass::InvalidArgument,
                format!(
                    "{id:?} is not an investigation id (inv- and 12 characters; `guardian investigations list` shows them)"
                ),
            ));
        }
        self.investigator()?
            .store
            .get(id)
            .map_err(internal)?
            .ok_or_else(|| {
                ServiceError::new(
                    ErrorClass::NotFound,
                    format!("no investigation {id}; `guardian investigations list` shows them"),
                )
            })
    }

    /// Takes one Alertmanager notification from `identity` (the caller is
    /// `alertmanager:<identity>`): records each alert at once and queues
    /// the diagnoses, which run in the background. Returns what became of
    /// each alert.
    pub fn intake_alerts(
        self: &Arc<Self>,
        identity: &str,
        notification: &Notification,
    ) -> Result<Vec<Intake>, ServiceError> {
        let inv = self.investigator()?;
        self.start_worker(inv);
        let caller = format!("alertmanager:{identity}");
        let window = Duration::from_secs(inv.config.dedup_window_seconds);
        let mut out = Vec::with_capacity(notification.alerts.len());
        for alert in &notification.alerts {
            let info = alert_info(alert, &notification.receiver);
            let fp = alert.fingerprint.clone();
            let open = inv.store.open_for(&fp).map_err(internal)?;
            if alert.status == AlertStatus::Resolved {
                let Some((id, _)) = open else {
                    out.push(Intake {
                        fingerprint: fp,
                        id: None,
                        outcome: "unknown",
                    });
                    continue;
                };
                let at = now();
                inv.store
                    .update(&id, |i| {
                        i.state = InvestigationState::Resolved;
                        i.resolved = Some(at.clone());
                        i.updated = at.clone();
                        i.alert = Some(info.clone());
                        None
                    })
                    .map_err(internal)?;
                tracing::info!(investigation = %id, fingerprint = %fp, "alert resolved; investigation closed");
                out.push(Intake {
                    fingerprint: fp,
                    id: Some(id),
                    outcome: "resolved",
                });
                continue;
            }
            let age = open.map(|(id, ms)| {
                (
                    id,
                    Duration::from_millis(u64::try_from(now_ms() - ms).unwrap_or(0)),
                )
            });
            match limit::dedup(age, window) {
                Dedup::Duplicate(id) => {
                    let at = now();
                    inv.store
                        .update(&id, |i| {
                            i.updated = at.clone();
                            i.alert = Some(info.clone());
                            None
                        })
                        .map_err(internal)?;
                    out.push(Intake {
                        fingerprint: fp,
                        id: Some(id),
                        outcome: "duplicate",
                    });
                }
                Dedup::Again(id) => {
                    if inv.queued() >= inv.config.max_queued {
                        out.push(Intake {
                            fingerprint: fp,
                            id: Some(id),
                            outcome: "refused",
                        });
                        continue;
                    }
                    let at = now();
                    inv.store
                        .update(&id, |i| {
                            i.updated = at.clone();
                            i.alert = Some(info.clone());
                            Some(Phase::Queued)
                        })
                        .map_err(internal)?;
                    inv.store.touch_queued(&id, now_ms()).map_err(internal)?;
                    inv.enqueue(id.clone());
                    out.push(Intake {
                        fingerprint: fp,
                        id: Some(id),
                        outcome: "again",
                    });
                }
                Dedup::New => {
                    let at = now();
                    let mut record = Investigation {
                        id: new_id()?,
                        state: InvestigationState::Open,
                        started_by: caller.clone(),
                        alert: Some(info),
                        target: None,
                        unmapped: None,
                        findings: Vec::new(),
                        scope_read: String::new(),
                        actions: Vec::new(),
                        created: at.clone(),
                        updated: at,
                        resolved: None,
                        timing_ms: BTreeMap::new(),
                        error: None,
                    };
                    match target::map_labels(&alert.labels) {
                        Err(why) => {
                            record.scope_read = "nothing was read: the alert names no object Guardian can investigate".into();
                            record.unmapped = Some(why);
                            inv.store
                                .put(&record, Phase::Done, Some(now_ms()))
                                .map_err(internal)?;
                            out.push(Intake {
                                fingerprint: fp,
                                id: Some(record.id),
                                outcome: "unmapped",
                            });
                        }
                        Ok(t) => {
                            if inv.queued() >= inv.config.max_queued {
                                out.push(Intake {
                                    fingerprint: fp,
                                    id: None,
                                    outcome: "refused",
                                });
                                continue;
                            }
                            // Deferred: more is queued than the rate allows now.
                            let available = inv
                                .rate
                                .lock()
                                .unwrap_or_else(|p| p.into_inner())
                                .available(Instant::now());
                            let deferred = inv.queued() as f64 + 1.0 > available;
                            record.scope_read = format!(
                                "not read yet: queued for diagnosis{}",
                                if deferred {
                                    format!(
                                        " (deferred: at most {} diagnoses a minute)",
                                        inv.config.rate_limit_per_minute
                                    )
                                } else {
                                    String::new()
                                }
                            );
                            record.target = Some(t);
                            inv.store
                                .put(&record, Phase::Queued, Some(now_ms()))
                                .map_err(internal)?;
                            inv.enqueue(record.id.clone());
                            out.push(Intake {
                                fingerprint: fp,
                                id: Some(record.id),
                                outcome: if deferred { "deferred" } else { "new" },
                            });
                        }
                    }
                }
            }
        }
        Ok(out)
    }

    /// Starts the worker that takes the queue (once per session), queueing
    /// first what a previous daemon left unfinished.
    fn start_worker(self: &Arc<Self>, inv: &Arc<Investigator>) {
        let session = Arc::downgrade(self);
        let investigator = Arc::clone(inv);
        inv.worker.call_once(|| {
            if let Ok(left) = investigator.store.unfinished() {
                for id in left {
                    investigator.enqueue(id);
                }
            }
            tokio::spawn(work(session, investigator));
        });
    }
}

async fn work(session: Weak<Session>, inv: Arc<Investigator>) {
    let slots = Arc::new(tokio::sync::Semaphore::new(
        inv.config.max_concurrent.max(1),
    ));
    loop {
        let next = inv
            .queue
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .pop_front();
        let Some(id) = next else {
            inv.wake.notified().await;
            continue;
        };
        loop {
            let wait = inv
                .rate
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .take(Instant::now());
            match wait {
                Ok(()) => break,
                Err(d) => tokio::time::sleep(d).await,
            }
        }
        let Ok(permit) = Arc::clone(&slots).acquire_owned().await else {
            return;
        };
        let Some(session) = session.upgrade() else {
            return;
        };
        let inv = Arc::clone(&inv);
        tokio::spawn(async move {
            investigate(&session, &inv, &id).await;
            drop(permit);
        });
    }
}

fn alert_info(alert: &Alert, receiver: &str) -> AlertInfo {
    AlertInfo {
        fingerprint: alert.fingerprint.clone(),
        alertname: alert.labels.get("alertname").cloned().unwrap_or_default(),
        status: alert.status.as_str().into(),
        labels: alert.labels.clone(),
        annotations: alert.annotations.clone(),
        starts_at: alert.starts_at.clone(),
        ends_at: alert.ends_at.clone(),
        generator_url: alert.generator_url.clone(),
        receiver: receiver.into(),
    }
}

/// Diagnoses one queued investigation and records the outcome.
async fn investigate(session: &Session, inv: &Investigator, id: &str) {
    let started = Instant::now();
    let Ok(Some(record)) = inv.store.update(id, |_| Some(Phase::Running)) else {
        return;
    };
    let Some(mut target) = record.target.clone() else {
        let _ = inv.store.update(id, |_| Some(Phase::Done));
        return;
    };
    let caller = record.started_by.clone();
    if target.kind == "Pod"
        && let Some(owner) = pod_workload(session, &caller, &target).await
    {
        target = owner;
    }
    let request = DiagnoseRequest {
        namespace: target.namespace.clone(),
        dry_run: true,
        ..Default::default()
    };
    let diagnosed = session.diagnose(&caller, &request).await;
    let diagnose_ms = started.elapsed().as_millis() as u64;
    let mut findings = Vec::new();
    let mut actions = Vec::new();
    let scope_read;
    let mut error = None;
    let mut propose_ms = None;
    match diagnosed {
        Ok(d) => {
            findings = target::findings_for(&d.report, &target);
            scope_read = scope_of(&d.report, &target);
            if inv.config.propose && !findings.is_empty() {
                let t = Instant::now();
                let mut report = json!({ "findings": findings });
                match (session.store(), session.broker()) {
                    (Ok(store), Ok(broker)) => match crate::diagnose::propose_fixes(
                        session.runtime(),
                        store,
                        broker,
                        &caller,
                        &mut report,
                    )
                    .await
                    {
                        Ok(ids) => actions = ids,
                        Err(e) => error = Some(format!("proposing the fixes failed: {e}")),
                    },
                    (Err(e), _) | (_, Err(e)) => {
                        error = Some(format!("proposing the fixes failed: {}", e.message))
                    }
                }
                if let Some(f) = report["findings"].as_array() {
                    findings = f.clone();
                }
                propose_ms = Some(t.elapsed().as_millis() as u64);
            }
        }
        Err(e) => {
            error = Some(format!("the diagnosis failed: {e}"));
            scope_read = format!(
                "nothing was read of {}: the diagnosis failed",
                target
                    .namespace
                    .as_deref()
                    .map_or("the cluster".to_owned(), |n| format!("namespace {n}"))
            );
        }
    }
    let total_ms = started.elapsed().as_millis() as u64;
    let at = now();
    let failed = error.is_some() && scope_read.starts_with("nothing was read");
    let done = inv.store.update(id, |i| {
        i.target = Some(target.clone());
        i.findings = findings;
        i.actions.extend(actions);
        i.scope_read = scope_read;
        i.updated = at.clone();
        i.timing_ms.insert("diagnose".into(), diagnose_ms);
        if let Some(p) = propose_ms {
            i.timing_ms.insert("propose".into(), p);
        }
        i.timing_ms.insert("total".into(), total_ms);
        i.error = error;
        // A resolved alert stays resolved; a failed diagnosis of an open
        // one is `failed`.
        if failed && i.state == InvestigationState::Open {
            i.state = InvestigationState::Failed;
        }
        Some(Phase::Done)
    });
    if let Err(e) = done {
        tracing::warn!(investigation = id, "cannot record the investigation: {e}");
    }
}

/// What the diagnosis read, in words: `namespace shop: 42 objects`, and
/// what it could not read.
fn scope_of(report: &Value, target: &InvestigationTarget) -> String {
    let summary = &report["summary"];
    let scope = summary["scope"]
        .as_str()
        .map(str::to_owned)
        .unwrap_or_else(|| {
            target
                .namespace
                .as_deref()
                .map_or("all namespaces".into(), |n| format!("namespace {n}"))
        });
    let mut s = format!(
        "{scope}: {} objects",
        summary["objects_scanned"].as_u64().unwrap_or(0)
    );
    let not_read: Vec<String> = summary["not_read"]
        .as_array()
        .into_iter()
        .chain(summary["unavailable"].as_array())
        .flatten()
        .map(|v| match v {
            Value::String(s) => s.clone(),
            other => other["resource"]
                .as_str()
                .map_or_else(|| other.to_string(), str::to_owned),
        })
        .collect();
    if !not_read.is_empty() {
        s.push_str(&format!("; not read: {}", not_read.join(", ")));
    }
    s
}

/// A pod's owning workload (ReplicaSet → Deployment), read through the
/// broker as `caller`; `None` when the pod or its owner cannot be read (the
/// pod stays the target).
async fn pod_workload(
    session: &Session,
    caller: &str,
    pod: &InvestigationTarget,
) -> Option<InvestigationTarget> {
    let broker = session.broker().ok()?;
    let cx = CallContext::host_for(caller, "alertmanager.investigate");
    let ns = pod.namespace.as_deref()?;
    let read = async |resource: &str, name: &str| -> Option<Value> {
        let kind = broker.resolve(resource).await.ok()?;
        match broker.get(&cx, &kind, Some(ns), name).await {
            Ok(v) => Some(v),
            Err(e) => {
                tracing::info!(
                    "the owner of pod {ns}/{}: cannot read {resource} {name}: {e}",
                    pod.name
                );
                None
            }
        }
    };
    let object = read("pods", &pod.name).await?;
    let (mut kind, mut name) = target::pod_owner(&object)?;
    if kind == "ReplicaSet"
        && let Some(rs) = read("replicasets.apps", &name).await
        && let Some((k, n)) = target::pod_owner(&rs)
    {
        (kind, name) = (k, n);
    }
    Some(InvestigationTarget {
        kind,
        namespace: Some(ns.to_owned()),
        name,
        from: format!("{} (its owner)", pod.from),
    })
}
