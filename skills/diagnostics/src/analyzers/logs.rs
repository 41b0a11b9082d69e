//! The Log analyzer (K8sGPT's optional one): the current log tail of
//! running, ready pods, through the pattern library. Reports `LogErrors`
//! (a warning) per workload, quoting the telling lines.
//!
//! Kept cheap: one pod per workload, workloads that already have a finding
//! are skipped, and at most [`MAX_READS`] logs are read per namespace (and
//! [`super::budget::HEALTHY_LOG_READS`] per scan). Log
//! text arrives redacted by the host and is quoted as it arrives.

use std::collections::{BTreeMap, BTreeSet};

use guardian_skill_sdk::{LogOptions, kube};

use crate::ctx::{Scope, name_of};
use crate::finding::{Evidence, Finding, ObjRef, Severity, Source};
use crate::reasons as r;

use super::patterns::{self, Kind, Match};
use super::pods::is_ready;
use super::template::Owners;

/// Log reads per namespace.
pub const MAX_READS: usize = 20;
/// Lines of each log read.
const TAIL: u32 = 100;
/// Lines quoted per finding.
const MAX_QUOTES: usize = 4;

pub fn analyze(scope: &Scope, out: &mut Vec<Finding>) {
    let owners = Owners::new(scope);
    let mut covered: BTreeSet<&ObjRef> = BTreeSet::new();
    for f in out.iter() {
        covered.insert(&f.object);
        if let Some(o) = &f.owner {
            covered.insert(o);
        }
    }
    let mut visited: BTreeSet<ObjRef> = BTreeSet::new();
    let mut reads = 0;
    let mut found: Vec<Finding> = Vec::new();
    for pod in &scope.pods {
        if reads >= MAX_READS {
            break;
        }
        if pod.status.phase.as_deref() != Some("Running")
            || !is_ready(pod)
            || pod.metadata.deletion_timestamp.is_some()
        {
            continue;
        }
        let workload = owners.workload_of(pod);
        if covered.contains(&workload) || visited.contains(&workload) {
            continue;
        }
        visited.insert(workload.clone());
        let mut hits: Vec<(String, Vec<Match>)> = Vec::new();
        for c in &pod.spec.containers {
            if reads >= MAX_READS || !super::budget::healthy_log() {
                reads = MAX_READS;
                break;
            }
            reads += 1;
            let options = LogOptions {
                container: Some(c.name.clone()),
                tail_lines: Some(TAIL),
                previous: false,
            };
            let Ok(text) = kube::logs(&scope.namespace, &pod.metadata.name, &options) else {
                continue;
            };
            let errors: Vec<Match> = patterns::scan(&text)
                .into_iter()
                .filter(|m| m.kind.is_error() && !super::history::mere_mention(m))
                .collect();
            if !errors.is_empty() {
                hits.push((c.name.clone(), errors));
            }
        }
        if hits.is_empty() {
            continue;
        }
        found.push(finding(scope, workload, &pod.metadata.name, &hits));
    }
    out.extend(found);
}

fn finding(scope: &Scope, workload: ObjRef, pod: &str, hits: &[(String, Vec<Match>)]) -> Finding {
    let ns = scope.namespace.as_str();
    let mut counts: BTreeMap<Kind, usize> = BTreeMap::new();
    for (_, ms) in hits {
        for m in ms {
            *counts.entry(m.kind).or_default() += 1;
        }
    }
    let total: usize = counts.values().sum();
    let summary: Vec<String> = counts
        .iter()
        .map(|(k, n)| format!("{} ×{n}", k.label()))
        .collect();
    let cause = format!(
        "the last {TAIL} log lines of pod {pod} ({}) show {total} error line{}: {}",
        workload.display(),
        if total == 1 { "" } else { "s" },
        summary.join(", ")
    );
    let mut f = Finding::new(workload.clone(), Severity::Warning, r::LOG_ERRORS, cause);
    f.pods = vec![pod.to_string()];
    let mut root: Option<String> = None;
    for (container, ms) in hits {
        let reference = format!("log of Pod {ns}/{pod} container {container}");
        for m in patterns::most_telling(ms, MAX_QUOTES) {
            f.evidence.push(Evidence::new(
                Source::Log,
                format!("{reference} line {}", m.line_no),
                format!("{}: {}", m.kind.label(), m.line),
            ));
        }
        // A refused or timed-out connection to a Service of this namespace.
        for m in ms.iter().filter(|m| {
            matches!(
                m.kind,
                Kind::ConnectionRefused | Kind::Timeout | Kind::DnsFailure
            )
        }) {
            let Some(host) = m.host.as_deref() else {
                continue;
            };
            let Some(svc) = service_for(scope, host) else {
                continue;
            };
            let port = m.port.map(|p| format!(":{p}")).unwrap_or_default();
            let text = format!("{host}{port} is Service {ns}/{svc}");
            if f.evidence.iter().any(|e| e.text == text) {
                continue;
            }
            f.evidence.push(Evidence::new(
                Source::Config,
                format!("Service {ns}/{svc}"),
                text,
            ));
            if root.is_none() {
                root = Some(format!(
                    "container `{container}` of {} cannot reach Service {ns}/{svc} ({host}{port}): {}",
                    workload.display(),
                    m.kind.label()
                ));
            }
        }
    }
    f.root_cause = root;
    f
}

/// The Service a host names: its ClusterIP, `svc`, `svc.ns`, `svc.ns.svc…`.
fn service_for<'s>(scope: &'s Scope, host: &str) -> Option<&'s str> {
    let ns = scope.namespace.as_str();
    scope.objects("services").iter().find_map(|s| {
        let name = name_of(s);
        let ip = s["spec"]["clusterIP"].as_str().unwrap_or("");
        let by_ip = !ip.is_empty() && ip != "None" && ip == host;
        let by_name = host == name
            || host == format!("{name}.{ns}")
            || host.starts_with(&format!("{name}.{ns}.svc"));
        (by_ip || by_name).then_some(name)
    })
}
