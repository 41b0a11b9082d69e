//! What a finding about a failing group says it sees: the reason it is
//! reported under, how severe it is, and the one-line cause (`2 pods of
//! Deployment shop/web are in CrashLoopBackOff: …; 0/2 ready`).

use crate::analyzers::refs::{self, Report};
use crate::finding::Severity;
use crate::model::{Container, ContainerStatus, Pod};
use crate::reasons as r;

use super::Group;
use super::classify::{Problem, is_ready, killed_by_probe};
use super::events::EventIndex;

/// How many pods of a group fail, and how many of all its pods are ready.
#[derive(Clone, Copy)]
pub(super) struct Counts {
    pub(super) failing: usize,
    pub(super) total: usize,
    pub(super) ready: usize,
}

impl Counts {
    pub(super) fn of(group: &Group) -> Self {
        Counts {
            failing: group.failing.len(),
            total: group.failing.len() + group.others.len(),
            ready: group.others.iter().filter(|p| is_ready(p)).count()
                + group.failing.iter().filter(|(p, _)| is_ready(p)).count(),
        }
    }

    /// `pod` or `pods`, for the failing ones.
    pub(super) fn pods_word(&self) -> &'static str {
        if self.failing == 1 { "pod" } else { "pods" }
    }
}

/// The container a group is reported under, in its worst pod.
#[derive(Clone, Copy)]
pub(super) struct FailingContainer<'a> {
    pub(super) name: Option<&'a str>,
    pub(super) spec: Option<&'a Container>,
    pub(super) status: Option<&'a ContainerStatus>,
}

impl<'a> FailingContainer<'a> {
    /// Container `name` of `pod` (init containers too).
    pub(super) fn of(pod: &'a Pod, name: Option<&'a str>) -> Self {
        let spec = name.and_then(|c| {
            pod.spec
                .containers
                .iter()
                .chain(&pod.spec.init_containers)
                .find(|x| x.name == c)
        });
        let status = name.and_then(|c| {
            pod.status
                .container_statuses
                .iter()
                .chain(&pod.status.init_container_statuses)
                .find(|x| x.name == c)
        });
        FailingContainer { name, spec, status }
    }
}

/// The reason a group is reported under: its worst pod's, except that a
/// pod stuck creating its containers while a volume names a ConfigMap or
/// Secret (or key) that does not exist is blocked on that reference, even
/// when its FailedMount events have expired.
pub(super) fn reason(problem: &Problem, report: &Report) -> &'static str {
    if problem.reason == r::POD_PENDING
        && report.issues.iter().any(|i| {
            i.blocking()
                && matches!(
                    i.via,
                    refs::Via::Volume { .. } | refs::Via::Projected { .. }
                )
        })
    {
        r::MISSING_CONFIG_REFERENCE
    } else {
        problem.reason
    }
}

/// Warning when every failing pod recovered (or evicted pods were
/// replaced); critical when no pod of a controller serves.
pub(super) fn severity(group: &Group, reason: &str, counts: &Counts, kind: &str) -> Severity {
    let all_recovered = group.failing.iter().all(|(_, p)| p.recovered);
    if all_recovered || (reason == r::EVICTED && counts.ready > 0) {
        Severity::Warning
    } else if counts.ready == 0 && !matches!(kind, "Job" | "CronJob" | "Pod") {
        Severity::Critical
    } else {
        Severity::Error
    }
}

/// `{n} pods of {wl} are {symptom}; {ready}/{total} ready`.
pub(super) fn sentence(
    reason: &str,
    counts: &Counts,
    wl: &str,
    pod: &Pod,
    container: &FailingContainer,
    events: &EventIndex,
) -> String {
    let Counts {
        failing: n,
        ready,
        total,
    } = *counts;
    format!(
        "{n} {} of {wl} {} {}; {ready}/{total} ready",
        counts.pods_word(),
        if n == 1 { "is" } else { "are" },
        symptom(reason, n, pod, container, events),
    )
}

/// What the pods show, for the reason they are reported under.
fn symptom(
    reason: &str,
    n: usize,
    rep: &Pod,
    container: &FailingContainer,
    events: &EventIndex,
) -> String {
    let cname = container.name.unwrap_or("");
    let (cs, spec_container) = (container.status, container.spec);
    match reason {
        r::CRASH_LOOP_BACK_OFF => format!(
            "in CrashLoopBackOff: container `{cname}` {}",
            cs.and_then(|c| c.last_state.terminated.as_ref())
                .map(|t| format!(
                    "exits with code {} ({})",
                    t.exit_code.unwrap_or(-1),
                    t.reason.as_deref().unwrap_or("?")
                ))
                .unwrap_or_else(|| "keeps exiting".into())
        ),
        r::OOM_KILLED => {
            format!("OOMKilled: container `{cname}` is killed for exceeding its memory limit")
        }
        r::IMAGE_PULL_BACK_OFF => format!(
            "in ImagePullBackOff: image `{}` cannot be pulled",
            spec_container
                .and_then(|c| c.image.as_deref())
                .unwrap_or("?")
        ),
        r::INVALID_IMAGE_NAME => format!(
            "in InvalidImageName: `{}`",
            spec_container
                .and_then(|c| c.image.as_deref())
                .unwrap_or("?")
        ),
        r::CREATE_CONTAINER_CONFIG_ERROR => format!(
            "in CreateContainerConfigError: {}",
            cs.and_then(|c| c.state.waiting.as_ref())
                .and_then(|w| w.message.clone())
                .unwrap_or_else(|| format!("container `{cname}` cannot be configured"))
        ),
        r::CREATE_CONTAINER_ERROR => format!(
            "in CreateContainerError: {}",
            cs.and_then(|c| c.state.waiting.as_ref())
                .and_then(|w| w.message.clone())
                .unwrap_or_else(|| format!("container `{cname}` cannot be created"))
        ),
        r::INIT_CONTAINER_FAILING => format!("stuck initializing: init container `{cname}` fails"),
        r::CONTAINER_FAILING => format!("failing: container `{cname}` exits with a non-zero code"),
        r::UNSCHEDULABLE => "Pending: the scheduler cannot place them"
            .replace("them", if n == 1 { "it" } else { "them" }),
        r::PROBE_FAILING
            if cs.is_some_and(|c| {
                killed_by_probe(c, events.of("Pod", &rep.metadata.name), events.latest())
            }) =>
        {
            format!(
                "restarted by the kubelet: the liveness probe of container `{cname}` fails ({} restarts)",
                cs.map_or(0, |c| c.restart_count)
            )
        }
        r::PROBE_FAILING => {
            format!("Running but not Ready: the probes of container `{cname}` fail")
        }
        r::EVICTED => "Evicted".into(),
        r::MISSING_CONFIG_REFERENCE => {
            "stuck in ContainerCreating: a volume references a missing ConfigMap, Secret or key"
                .into()
        }
        _ => "Pending".into(),
    }
}
