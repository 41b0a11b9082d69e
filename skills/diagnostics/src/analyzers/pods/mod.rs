//! The Pod analyzer: classifies each failing pod (CrashLoopBackOff, image
//! pulls, OOMKilled, config errors, scheduling, probes…), groups the pods of
//! one workload into one finding about the workload, and builds the evidence
//! chain: container states, events, the previous container's log through the
//! pattern library, and cross-checks of everything the pod spec references.
//! The root cause links them (an env var the log says is unset ← a missing
//! optional ConfigMap key) and the fixes patch the workload's pod template.
//!
//! Host calls (logs) happen only for failing workloads, at most two per
//! workload, so a namespace of thousands of healthy pods costs nothing.
//!
//! - `classify.rs`: what is wrong with one pod; `group.rs`: pods by workload;
//! - `cause.rs`: the reason, severity and one-line cause of a finding;
//! - `events.rs`, `evidence.rs`, `log.rs`: the evidence chain;
//! - `diagnosis.rs`: the root-cause search, which tries the families of
//!   explanations and fixes in `config.rs`, `probes.rs`, `image.rs`,
//!   `memory.rs`, `scheduling.rs` and `usage.rs` (a refused command line);
//! - `slow_start.rs`, `read_only.rs`, `pull_secret.rs`, `arch.rs`,
//!   `sidecar.rs`: common failures with a fix of their own (a liveness probe
//!   killing a slow start, a read-only root filesystem, a missing pull
//!   secret, an image of another architecture, an unknown flag);
//! - `quantity.rs`: resource quantities.

use crate::analyzers::refs;
use crate::analyzers::template::{ReplicaSets, template_of};
use crate::ctx::Scope;
use crate::finding::{Finding, ObjRef};
use crate::model::Pod;

mod arch;
mod cause;
mod classify;
mod config;
mod diagnosis;
mod events;
mod evidence;
mod group;
mod image;
mod log;
mod memory;
mod probes;
mod pull_secret;
pub(crate) mod quantity;
mod read_only;
mod scheduling;
mod sidecar;
mod slow_start;
mod usage;

pub use classify::{Problem, classify, container_state, is_ready};
pub use events::EventIndex;
pub use group::Group;

use cause::{Counts, FailingContainer};
use diagnosis::Diagnosis;
use log::{Log, read_log};

pub fn analyze(scope: &Scope, out: &mut Vec<Finding>) {
    let events = EventIndex::new(scope);
    let replicasets = ReplicaSets::new(scope);
    for (workload, group) in group::by_workload(scope, &events) {
        if group.failing.is_empty() {
            continue;
        }
        out.push(build(scope, &events, &replicasets, workload, group));
    }
}

/// Everything known about a failing group, then one finding: what it shows,
/// the evidence chain, then the root cause and fixes.
pub fn build(
    scope: &Scope,
    events: &EventIndex,
    replicasets: &ReplicaSets,
    workload: ObjRef,
    mut group: Group,
) -> Finding {
    group.sort_worst_first();
    let (rep, problem) = (group.failing[0].0, group.failing[0].1.clone());
    let report = refs::check(scope, &rep.spec);
    let reason = cause::reason(&problem, &report);
    let counts = Counts::of(&group);
    let container = FailingContainer::of(rep, problem.container.as_deref());
    let wl = workload.display();

    let mut finding = Finding::new(
        workload.clone(),
        cause::severity(&group, reason, &counts, &workload.kind),
        reason,
        cause::sentence(reason, &counts, &wl, rep, &container, events),
    );
    finding.pods = group.failing_names();
    finding
        .evidence
        .extend(evidence::pod_states(scope, &wl, &group));
    finding
        .evidence
        .extend(evidence::events(scope, events, &workload, &group));
    let log = failing_log(scope, rep, &problem);
    if let Some(log) = &log {
        finding.evidence.extend(log.evidence(reason));
    }
    let log = log.unwrap_or_default();
    let (references, issues) = evidence::references(scope, rep, &report, reason);
    finding.evidence.extend(references);

    let template = template_of(scope, &workload);
    let mut diagnosis = Diagnosis {
        scope,
        events,
        replicasets,
        workload: &workload,
        template: template.as_ref(),
        rep,
        container: container.name,
        spec_container: container.spec,
        status: container.status,
        log: &log,
        reason,
        counts,
        finding: &mut finding,
        root: None,
        fixes: Vec::new(),
    };
    diagnosis.find_root(&problem.status, &issues);
    diagnosis.finish();
    finding
}

/// The log of the failing container, when its problem is worth one.
fn failing_log(scope: &Scope, pod: &Pod, problem: &Problem) -> Option<Log> {
    let container = problem.container.as_deref().filter(|_| problem.wants_log)?;
    Some(read_log(
        scope,
        &pod.metadata.name,
        container,
        problem.previous,
    ))
}
