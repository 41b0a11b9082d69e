//! The pods' logs a capture keeps: the last lines of every container,
//! current and previous instance, in `kubectl cluster-info dump`'s block
//! format, each read decided and audited, masked before it is written.

use std::path::Path;
use std::sync::Arc;

use serde_json::Value;

use super::files::{valid_folder, write_file};
use super::{LOG_CONCURRENCY, LOG_TAIL_LINES, LogStats};
use crate::gate::Request;
use crate::live::LiveBackend;
use crate::{Broker, BrokerError, CallContext, LogQuery, ResourceTable, redact};

/// One container instance whose logs a pod's `logs.txt` gets.
pub(super) struct LogJob {
    pub(super) container: String,
    pub(super) previous: bool,
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
pub(super) fn log_block(
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

pub(super) async fn capture_logs(
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
                let query = LogQuery {
                    container: Some(job.container.clone()),
                    tail_lines: Some(LOG_TAIL_LINES),
                    previous: job.previous,
                };
                // Masked with the whole file, below.
                let body = broker
                    .call(
                        &cx,
                        &Request::new("logs", &pods_kind, Some(&namespace), &name).on("log"),
                        async |permit| backend.pod_logs(permit, &namespace, &name, &query).await,
                        |_| {},
                    )
                    .await;
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
    use serde_json::json;

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
}
