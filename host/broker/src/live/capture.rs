//! `guardian snapshot capture`: a complete snapshot of a live cluster, in the
//! format the snapshot backend reads (`docs/snapshots.md`).
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

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

use serde::Serialize;
use serde_json::{Value, json};

use super::LiveBackend;
use super::rbac::parse_grant;
use crate::resources::{ResourceKind, ResourceTable};
use crate::{Broker, BrokerError, CallContext, LogQuery, redact};

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
    let permit = broker.permit(cx, "list", kind, "", scoped, "").await?;
    let listed = backend.list_all(&permit, kind, scoped).await;
    match (listed, namespace) {
        (Err(e), Some(ns))
            if e.kind_str() == "denied" && kind.group.is_empty() && kind.kind == "Namespace" =>
        {
            let permit = broker.permit(cx, "get", kind, "", None, ns).await?;
            let one = backend
                .get_object(&permit, kind, None, ns)
                .await
                .map_err(|_| e)?;
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

/// The output folder: created 0700, or an existing empty one tightened to
/// 0700 (a capture holds a cluster's configuration; nobody else should read
/// it). Never one with files in it.
fn prepare_dir(dir: &Path) -> Result<Option<String>, BrokerError> {
    match std::fs::read_dir(dir) {
        Ok(mut entries) => {
            if entries.next().is_some() {
                return Err(BrokerError::Invalid(format!(
                    "output folder {} exists and is not empty; a capture never overwrites — \
                     choose a new folder",
                    dir.display()
                )));
            }
            tighten(dir)
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            create_private_dir(dir).map_err(|e| {
                BrokerError::Unavailable(format!(
                    "cannot create output folder {}: {e}",
                    dir.display()
                ))
            })?;
            Ok(None)
        }
        Err(e) => Err(BrokerError::Unavailable(format!(
            "cannot use output folder {}: {e}",
            dir.display()
        ))),
    }
}

/// Makes an existing (empty) output folder 0700; says so when it was not.
#[cfg(unix)]
fn tighten(dir: &Path) -> Result<Option<String>, BrokerError> {
    use std::os::unix::fs::PermissionsExt;
    let meta = std::fs::metadata(dir).map_err(|e| {
        BrokerError::Unavailable(format!("cannot use output folder {}: {e}", dir.display()))
    })?;
    let mode = meta.permissions().mode() & 0o777;
    if mode & 0o077 == 0 {
        return Ok(None);
    }
    std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700)).map_err(|e| {
        BrokerError::Unavailable(format!(
            "output folder {} can be read by others (mode {mode:o}) and cannot be made private: \
             {e}; choose a folder you own",
            dir.display()
        ))
    })?;
    Ok(Some(format!(
        "output folder {} was mode {mode:o}; made 0700 (owner only) before writing",
        dir.display()
    )))
}

#[cfg(not(unix))]
fn tighten(_dir: &Path) -> Result<Option<String>, BrokerError> {
    Ok(None)
}

/// `create_dir_all` with mode 0700 for every folder it creates.
fn create_private_dir(dir: &Path) -> std::io::Result<()> {
    let mut builder = std::fs::DirBuilder::new();
    builder.recursive(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::DirBuilderExt;
        builder.mode(0o700);
    }
    builder.create(dir)
}

/// Writes a new file, mode 0600, in a 0700 folder (created if needed).
/// Never replaces a file.
fn write_file(path: &Path, bytes: &[u8]) -> Result<(), BrokerError> {
    use std::io::Write as _;
    if let Some(parent) = path.parent() {
        create_private_dir(parent).map_err(|e| {
            BrokerError::Unavailable(format!("cannot create folder {}: {e}", parent.display()))
        })?;
    }
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    options
        .open(path)
        .and_then(|mut file| file.write_all(bytes))
        .map_err(|e| BrokerError::Unavailable(format!("cannot write {}: {e}", path.display())))
}

/// Write one kind's list: at the top for cluster-scoped kinds, one file per
/// namespace otherwise. Returns the object count.
fn write_kind(dir: &Path, kind: &ResourceKind, list: &Value) -> Result<usize, BrokerError> {
    let items: &[Value] = list
        .get("items")
        .and_then(Value::as_array)
        .map_or(&[], Vec::as_slice);
    let file = format!("{}.json", kind.grant_name());
    let metadata = json!({
        "resourceVersion": list.pointer("/metadata/resourceVersion").cloned().unwrap_or(json!("")),
    });
    let mut by_folder: BTreeMap<String, Vec<&Value>> = BTreeMap::new();
    for item in items {
        let folder = if kind.namespaced {
            item.pointer("/metadata/namespace")
                .and_then(Value::as_str)
                .filter(|ns| valid_folder(ns))
                .unwrap_or("default")
                .to_string()
        } else {
            String::new()
        };
        by_folder.entry(folder).or_default().push(item);
    }
    for (folder, items) in by_folder {
        let typed = json!({
            "apiVersion": kind.api_version(),
            "kind": kind.list_kind(),
            "metadata": metadata,
            "items": items,
        });
        let text = serde_json::to_string_pretty(&typed)
            .map_err(|e| BrokerError::Internal(format!("serializing {file}: {e}")))?;
        let path = if folder.is_empty() {
            dir.join(&file)
        } else {
            dir.join(&folder).join(&file)
        };
        write_file(&path, text.as_bytes())?;
    }
    Ok(items.len())
}

/// Namespace and pod names are DNS labels/subdomains; anything else must not
/// become a path.
fn valid_folder(name: &str) -> bool {
    !name.is_empty()
        && !name.starts_with('.')
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_'))
}

/// One container instance whose logs a pod's `logs.txt` gets.
struct LogJob {
    container: String,
    previous: bool,
}

/// The containers of a pod (init containers first, as they run) and which
/// of them restarted.
fn log_jobs(pod: &Value) -> Vec<LogJob> {
    let names = |field: &str| -> Vec<String> {
        pod.pointer(&format!("/spec/{field}"))
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .filter_map(|c| c.get("name").and_then(Value::as_str))
            .map(str::to_string)
            .collect()
    };
    let restarted = |container: &str| -> bool {
        ["containerStatuses", "initContainerStatuses"]
            .iter()
            .filter_map(|f| {
                pod.pointer(&format!("/status/{f}"))
                    .and_then(Value::as_array)
            })
            .flatten()
            .filter(|s| s.get("name").and_then(Value::as_str) == Some(container))
            .any(|s| s.get("restartCount").and_then(Value::as_u64).unwrap_or(0) > 0)
    };
    let mut jobs = Vec::new();
    for container in names("initContainers")
        .into_iter()
        .chain(names("containers"))
    {
        let previous = restarted(&container);
        jobs.push(LogJob {
            container: container.clone(),
            previous: false,
        });
        if previous {
            jobs.push(LogJob {
                container,
                previous: true,
            });
        }
    }
    jobs
}

/// One block in `kubectl cluster-info dump`'s format.
fn log_block(
    namespace: &str,
    pod: &str,
    job: &LogJob,
    body: &Result<String, BrokerError>,
) -> String {
    let which = if job.previous {
        "previous logs"
    } else {
        "logs"
    };
    let header = format!(
        "for container {} of pod {namespace}/{pod} ====\n",
        job.container
    );
    let mut text = format!("==== START {which} {header}");
    match body {
        Ok(logs) => {
            text.push_str(logs);
            if !logs.is_empty() && !logs.ends_with('\n') {
                text.push('\n');
            }
        }
        Err(e) => {
            // The dump's own marker for logs it could not fetch.
            text.push_str("Request log error: ");
            text.push_str(&e.to_string().replace(['\n', '\r'], " "));
            text.push('\n');
        }
    }
    text.push_str(&format!("==== END {which} {header}"));
    text
}

async fn capture_logs(
    broker: &Broker,
    backend: &LiveBackend,
    cx: &CallContext,
    dir: &Path,
    pods: Vec<Value>,
    progress: &(dyn Fn(&str) + Send + Sync),
) -> Result<LogStats, BrokerError> {
    let mut stats = LogStats::default();
    let total = pods.len();
    if total == 0 {
        return Ok(stats);
    }
    progress(&format!("  pod logs: {total} pods"));
    let semaphore = Arc::new(tokio::sync::Semaphore::new(LOG_CONCURRENCY));
    let pods_kind = ResourceTable::builtin()
        .by_group_kind("", "Pod")
        .cloned()
        .ok_or_else(|| BrokerError::Internal("no core Pod kind".to_string()))?;
    let mut tasks = tokio::task::JoinSet::new();
    for pod in pods {
        let text = |p: &str| {
            pod.pointer(p)
                .and_then(Value::as_str)
                .unwrap_or_default()
                .to_string()
        };
        let (namespace, name) = (text("/metadata/namespace"), text("/metadata/name"));
        if !valid_folder(&namespace) || !valid_folder(&name) {
            continue;
        }
        let jobs = log_jobs(&pod);
        let backend = backend.clone();
        let broker = broker.clone();
        let pods_kind = pods_kind.clone();
        let cx = cx.clone();
        let semaphore = semaphore.clone();
        tasks.spawn(async move {
            let mut file = String::new();
            let (mut containers, mut previous, mut failed) = (0, 0, 0);
            for job in jobs {
                let slot = semaphore.acquire().await;
                let body = match broker
                    .permit(&cx, "logs", &pods_kind, "log", Some(&namespace), &name)
                    .await
                {
                    Ok(permit) => {
                        backend
                            .pod_logs(
                                &permit,
                                &namespace,
                                &name,
                                &LogQuery {
                                    container: Some(job.container.clone()),
                                    tail_lines: Some(LOG_TAIL_LINES),
                                    previous: job.previous,
                                },
                            )
                            .await
                    }
                    Err(denied) => Err(denied),
                };
                drop(slot);
                if job.previous {
                    previous += 1;
                } else {
                    containers += 1;
                }
                if body.is_err() {
                    failed += 1;
                }
                file.push_str(&log_block(&namespace, &name, &job, &body));
            }
            (namespace, name, file, containers, previous, failed)
        });
    }
    let mut done = 0usize;
    while let Some(joined) = tasks.join_next().await {
        let (namespace, name, file, containers, previous, failed) =
            joined.map_err(|e| BrokerError::Internal(format!("a log task failed: {e}")))?;
        // Masked as the read path masks logs (`redact::text`).
        write_file(
            &dir.join(&namespace).join(&name).join("logs.txt"),
            redact::text(&file).as_bytes(),
        )?;
        stats.pods += 1;
        stats.containers += containers;
        stats.previous += previous;
        stats.failed += failed;
        done += 1;
        if done.is_multiple_of(25) || done == total {
            progress(&format!("  pod logs: {done}/{total}"));
        }
    }
    Ok(stats)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn log_jobs_cover_init_containers_and_restarts() {
        let pod = json!({
            "spec": {"initContainers": [{"name": "migrate"}],
                     "containers": [{"name": "app"}, {"name": "sidecar"}]},
            "status": {"containerStatuses": [
                {"name": "app", "restartCount": 3}, {"name": "sidecar", "restartCount": 0}]}
        });
        let jobs: Vec<(String, bool)> = log_jobs(&pod)
            .into_iter()
            .map(|j| (j.container, j.previous))
            .collect();
        assert_eq!(
            jobs,
            [
                ("migrate".to_string(), false),
                ("app".to_string(), false),
                ("app".to_string(), true),
                ("sidecar".to_string(), false),
            ]
        );
    }

    #[test]
    fn log_blocks_use_the_dump_format() {
        let job = LogJob {
            container: "app".into(),
            previous: true,
        };
        assert_eq!(
            log_block("a", "p", &job, &Ok("x\ny".into())),
            "==== START previous logs for container app of pod a/p ====\nx\ny\n\
             ==== END previous logs for container app of pod a/p ====\n"
        );
        let failed = log_block(
            "a",
            "p",
            &LogJob {
                container: "app".into(),
                previous: false,
            },
            &Err(BrokerError::Unavailable("kubelet\ndown".into())),
        );
        assert_eq!(
            failed,
            "==== START logs for container app of pod a/p ====\nRequest log error: kubelet \
             down\n==== END logs for container app of pod a/p ====\n"
        );
    }

    #[test]
    fn folders_must_be_names() {
        assert!(valid_folder("staging"));
        assert!(valid_folder("web-1.a"));
        assert!(!valid_folder(".."));
        assert!(!valid_folder("a/b"));
        assert!(!valid_folder(""));
    }

    #[test]
    fn output_folder_must_be_new_or_empty() {
        let dir = tempfile::tempdir().unwrap();
        prepare_dir(dir.path()).unwrap();
        let nested = dir.path().join("a/b");
        prepare_dir(&nested).unwrap();
        assert!(nested.is_dir());
        std::fs::write(dir.path().join("x"), "").unwrap();
        let err = prepare_dir(dir.path()).unwrap_err();
        assert!(err.message().contains("is not empty"), "{err}");
    }

    #[cfg(unix)]
    #[test]
    fn folders_are_private_and_files_owner_only() {
        use std::os::unix::fs::PermissionsExt;
        let mode = |p: &Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
        let dir = tempfile::tempdir().unwrap();
        let fresh = dir.path().join("new/out");
        assert_eq!(prepare_dir(&fresh).unwrap(), None);
        assert_eq!(mode(&fresh), 0o700);
        write_file(&fresh.join("ns/pods.json"), b"{}").unwrap();
        assert_eq!(mode(&fresh.join("ns")), 0o700);
        assert_eq!(mode(&fresh.join("ns/pods.json")), 0o600);
        // Never replaces a file.
        assert!(write_file(&fresh.join("ns/pods.json"), b"{}").is_err());
        // An existing empty folder others can read is made private, and said.
        let open = dir.path().join("open");
        std::fs::create_dir(&open).unwrap();
        std::fs::set_permissions(&open, std::fs::Permissions::from_mode(0o755)).unwrap();
        let note = prepare_dir(&open).unwrap().expect("a note");
        assert!(note.contains("was mode 755; made 0700"), "{note}");
        assert_eq!(mode(&open), 0o700);
    }

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
