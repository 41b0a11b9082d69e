//! `guardian snapshot capture`: a complete snapshot of a live cluster, in the
//! format the snapshot store reads (`docs/snapshots.md`): what to take and
//! the report here, the folder and its files in `files.rs`, the pods' logs
//! in `logs.rs`.
//!
//! Layout — a `kubectl cluster-info dump` tree plus what the dump lacks:
//!
//! ```text
//! DIR/nodes.json, DIR/namespaces.json, DIR/storageclasses.storage.k8s.io.json …  cluster-scoped kinds
//! DIR/<namespace>/pods.json, DIR/<namespace>/deployments.apps.json …             namespaced kinds
//! DIR/<namespace>/<pod>/logs.txt      current and previous logs, in the dump's block format
//! DIR/capture-report.json             what was captured and what was skipped, and why
//! ```
//!
//! Each `.json` file is a typed list (`PodList`) whose items carry
//! `apiVersion` and `kind`. Before anything is written it is masked the way
//! the read path masks what reaches a skill (`redact`): Secret values become
//! markers; credential-shaped text in env values, container args and
//! commands, probe headers, container and status messages, annotations,
//! ConfigMap values, event messages and logs is replaced. Files are written
//! 0600 in folders 0700 (an existing empty output folder is tightened to
//! 0700, and the capture says so). A kind the user may not list is skipped
//! with a warning and recorded in the report; only an unreachable server or
//! an unwritable folder stops a capture.

mod files;
mod logs;

use std::path::Path;
use std::time::{SystemTime, UNIX_EPOCH};

use serde::Serialize;
use serde_json::{Value, json};

use super::LiveBackend;
use super::rbac::parse_grant;
use crate::gate::Request;
use crate::{Broker, BrokerError, CallContext, ResourceKind, redact};
use files::{prepare_dir, write_file, write_kind};
use logs::capture_logs;

/// The tool name `guardian snapshot capture`'s reads carry in policy input
/// and the audit log.
pub const TOOL: &str = "snapshot.capture";

/// Kinds a capture takes, in kubectl grant spelling. Cluster-scoped and
/// namespaced alike; the server's discovery says which is which.
const KINDS: &[&str] = &[
    // cluster-scoped
    "namespaces",
    "nodes",
    "persistentvolumes",
    "storageclasses.storage.k8s.io",
    "ingressclasses.networking.k8s.io",
    "priorityclasses.scheduling.k8s.io",
    "validatingwebhookconfigurations.admissionregistration.k8s.io",
    "mutatingwebhookconfigurations.admissionregistration.k8s.io",
    "clusterroles.rbac.authorization.k8s.io",
    "clusterrolebindings.rbac.authorization.k8s.io",
    // namespaced: workloads and what they run on
    "pods",
    "events",
    "deployments.apps",
    "replicasets.apps",
    "statefulsets.apps",
    "daemonsets.apps",
    "jobs.batch",
    "cronjobs.batch",
    "replicationcontrollers",
    "horizontalpodautoscalers.autoscaling",
    "poddisruptionbudgets.policy",
    // configuration and storage
    "configmaps",
    "secrets",
    "persistentvolumeclaims",
    "serviceaccounts",
    "resourcequotas",
    "limitranges",
    "roles.rbac.authorization.k8s.io",
    "rolebindings.rbac.authorization.k8s.io",
    // networking
    "services",
    "endpoints",
    "endpointslices.discovery.k8s.io",
    "ingresses.networking.k8s.io",
    "networkpolicies.networking.k8s.io",
];

/// Add-on kinds, captured when the server serves them and silently left out
/// when it does not.
const OPTIONAL_KINDS: &[&str] = &[
    "gatewayclasses.gateway.networking.k8s.io",
    "gateways.gateway.networking.k8s.io",
    "httproutes.gateway.networking.k8s.io",
    "grpcroutes.gateway.networking.k8s.io",
    "applications.argoproj.io",
    "appprojects.argoproj.io",
    "applicationsets.argoproj.io",
    "kustomizations.kustomize.toolkit.fluxcd.io",
    "helmreleases.helm.toolkit.fluxcd.io",
    "gitrepositories.source.toolkit.fluxcd.io",
];

/// The last lines of each container's log that a capture keeps.
pub const LOG_TAIL_LINES: u32 = 10_000;

/// Pod-log requests in flight at once.
const LOG_CONCURRENCY: usize = 8;

/// The report's file name. It is shaped as an empty `kind: List` so that the
/// snapshot loader, which reads every `.json` file in the folder, takes it
/// as nothing at all instead of reporting an object without a kind.
pub const REPORT_FILE: &str = "capture-report.json";

/// Which namespaces to capture (cluster-scoped kinds are always captured).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum CaptureScope {
    Namespace(String),
    AllNamespaces,
}

/// What a capture did, written to `capture-report.json` and returned.
#[derive(Clone, Debug, Default, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct CaptureReport {
    pub server: String,
    pub context: Option<String>,
    pub server_version: String,
    /// `namespace staging` / `all namespaces`.
    pub scope: String,
    /// Seconds since the epoch when the capture started.
    pub started_at_unix: u64,
    pub resources: Vec<CapturedKind>,
    /// Kinds not captured, and why (forbidden, not served, failed).
    pub skipped: Vec<SkippedKind>,
    pub logs: LogStats,
    pub secrets_redacted: usize,
    pub log_tail_lines: u32,
}

#[derive(Clone, Debug, Serialize)]
pub struct CapturedKind {
    pub resource: String,
    pub objects: usize,
}

#[derive(Clone, Debug, Serialize)]
pub struct SkippedKind {
    pub resource: String,
    /// `forbidden`, `not-served`, or the error class.
    pub why: String,
    pub message: String,
}

#[derive(Clone, Debug, Default, Serialize)]
pub struct LogStats {
    pub pods: usize,
    /// Container log blocks written (current instances).
    pub containers: usize,
    /// Previous-instance blocks written (containers that restarted).
    pub previous: usize,
    /// Blocks holding a `Request log error:` line instead of logs.
    pub failed: usize,
}

/// Capture the cluster `backend` points at into `dir` (which must not exist
/// or be empty), every read decided and audited by `broker` as `cx`'s.
/// `progress` receives one line per step, for stderr.
pub(crate) async fn capture(
    broker: &Broker,
    backend: &LiveBackend,
    cx: &CallContext,
    scope: &CaptureScope,
    dir: &Path,
    progress: &(dyn Fn(&str) + Send + Sync),
) -> Result<CaptureReport, BrokerError> {
    if let Some(note) = prepare_dir(dir)? {
        progress(&format!("  note: {note}"));
    }
    let version = broker.server_version(cx).await?;
    let (git_version, platform) = (version.git_version, version.platform);
    progress(&format!(
        "connected to {} — Kubernetes {git_version} ({platform})",
        backend.description()
    ));
    let served = backend.served_resources().await?;
    let namespace = match scope {
        CaptureScope::Namespace(ns) => Some(ns.as_str()),
        CaptureScope::AllNamespaces => None,
    };
    let mut report = CaptureReport {
        // A kubeconfig may carry a password in the server URL.
        server: redact::text(backend.server_url()).into_owned(),
        context: backend.context().map(str::to_string),
        server_version: git_version,
        scope: match namespace {
            Some(ns) => format!("namespace {ns}"),
            None => "all namespaces".to_string(),
        },
        started_at_unix: SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_secs()),
        log_tail_lines: LOG_TAIL_LINES,
        ..CaptureReport::default()
    };

    let mut pods: Vec<Value> = Vec::new();
    let wanted = KINDS
        .iter()
        .map(|g| (*g, false))
        .chain(OPTIONAL_KINDS.iter().map(|g| (*g, true)));
    for (grant, optional) in wanted {
        let (group, plural, _) = parse_grant(grant);
        let Some(kind) = served
            .iter()
            .find(|k| k.group == group && k.plural == plural)
        else {
            if !optional {
                progress(&format!("  {grant}: not served by this cluster; skipped"));
            }
            report.skipped.push(SkippedKind {
                resource: grant.to_string(),
                why: "not-served".to_string(),
                message: format!("the API server does not serve {grant}"),
            });
            continue;
        };
        let mut list = match list_kind(broker, backend, cx, kind, namespace).await {
            Ok(list) => list,
            Err(e) => {
                let why = if e.kind_str() == "denied" {
                    "forbidden"
                } else {
                    e.kind_str()
                };
                let message = redact::text(&e.to_string()).into_owned();
                progress(&format!("  warning: {grant} skipped: {message}"));
                report.skipped.push(SkippedKind {
                    resource: grant.to_string(),
                    why: why.to_string(),
                    message,
                });
                continue;
            }
        };
        if kind.group.is_empty() && kind.kind == "Secret" {
            report.secrets_redacted += list
                .get("items")
                .and_then(Value::as_array)
                .map_or(0, Vec::len);
        }
        // The same masking the read path applies, before anything reaches
        // the disk: Secret values; env values, command lines, probe headers
        // and container messages of pod-shaped objects; annotations, status
        // messages and ConfigMap values of every object; event messages.
        redact::object(&mut list);
        redact::env_values(&mut list);
        redact::event_messages(&mut list);
        let count = write_kind(dir, kind, &list)?;
        progress(&format!("  {grant}: {count}"));
        report.resources.push(CapturedKind {
            resource: grant.to_string(),
            objects: count,
        });
        if kind.group.is_empty() && kind.kind == "Pod" {
            pods = list
                .get_mut("items")
                .map(Value::take)
                .and_then(|v| match v {
                    Value::Array(items) => Some(items),
                    _ => None,
                })
                .unwrap_or_default();
        }
    }

    report.logs = capture_logs(broker, backend, cx, dir, pods, progress).await?;
    let text = serde_json::to_string_pretty(&json!({
        "apiVersion": "v1",
        "kind": "List",
        "metadata": {},
        "items": [],
        "guardianCaptureReport": report,
    }))
    .map_err(|e| BrokerError::Internal(format!("serializing the capture report: {e}")))?;
    write_file(&dir.join(REPORT_FILE), text.as_bytes())?;
    progress(&format!(
        "captured {} kinds, logs of {} pods ({} containers, {} previous, {} failed); {} kinds \
         skipped — see {}",
        report.resources.len(),
        report.logs.pods,
        report.logs.containers,
        report.logs.previous,
        report.logs.failed,
        report
            .skipped
            .iter()
            .filter(|s| s.why != "not-served")
            .count(),
        dir.join(REPORT_FILE).display()
    ));
    Ok(report)
}

/// Every object of `kind` in scope. With a single namespace, a user who may
/// not list Namespaces can usually still get their own.
async fn list_kind(
    broker: &Broker,
    backend: &LiveBackend,
    cx: &CallContext,
    kind: &ResourceKind,
    namespace: Option<&str>,
) -> Result<Value, BrokerError> {
    let scoped = if kind.namespaced { namespace } else { None };
    let listed = broker
        .call(
            cx,
            &Request::new("list", kind, scoped, ""),
            async |permit| backend.list_all(permit, kind, scoped).await,
            |_| {},
        )
        .await;
    match (listed, namespace) {
        (Err(e), Some(ns))
            if e.kind_str() == "denied" && kind.group.is_empty() && kind.kind == "Namespace" =>
        {
            // Policy's refusal in its own words; the server's, as the list's.
            let one = broker
                .call(
                    cx,
                    &Request::new("get", kind, None, ns),
                    async |permit| {
                        backend
                            .get_object(permit, kind, None, ns)
                            .await
                            .map_err(|_| e)
                    },
                    |_| {},
                )
                .await?;
            Ok(json!({
                "apiVersion": kind.api_version(),
                "kind": kind.list_kind(),
                "metadata": {},
                "items": [one],
            }))
        }
        (result, _) => result,
    }
}

#[cfg(test)]
mod tests {
    use super::logs::{LogJob, log_block};
    use super::*;

    #[test]
    fn kinds_are_split_by_namespace_and_load_back() {
        let dir = tempfile::tempdir().unwrap();
        let table = crate::ResourceTable::builtin();
        let pods = table.resolve("pods").unwrap();
        let list = json!({"apiVersion": "v1", "kind": "PodList", "metadata": {"resourceVersion": "9"},
            "items": [
                {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "a", "namespace": "x"}},
                {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "b", "namespace": "y"}}]});
        assert_eq!(write_kind(dir.path(), &pods, &list).unwrap(), 2);
        assert!(dir.path().join("x/pods.json").is_file());
        assert!(dir.path().join("y/pods.json").is_file());
        let nodes = table.resolve("nodes").unwrap();
        let list = json!({"apiVersion": "v1", "kind": "NodeList", "metadata": {},
            "items": [{"apiVersion": "v1", "kind": "Node", "metadata": {"name": "n"}}]});
        write_kind(dir.path(), &nodes, &list).unwrap();
        assert!(dir.path().join("nodes.json").is_file());
        for (ns, pod) in [("x", "a"), ("y", "b")] {
            let job = LogJob {
                container: "c".into(),
                previous: false,
            };
            write_file(
                &dir.path().join(ns).join(pod).join("logs.txt"),
                log_block(ns, pod, &job, &Ok("hello\n".into())).as_bytes(),
            )
            .unwrap();
        }
        let report = json!({"apiVersion": "v1", "kind": "List", "metadata": {}, "items": [],
            "guardianCaptureReport": {"server": "x"}});
        write_file(&dir.path().join(REPORT_FILE), report.to_string().as_bytes()).unwrap();

        let (snapshot, problems) = crate::Snapshot::load(dir.path()).unwrap();
        assert!(problems.is_empty(), "{problems:?}");
        assert_eq!(snapshot.object_count(), 3);
    }
}
