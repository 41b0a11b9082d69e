//! The built-in `rightsizing` skill: CPU and memory requests and limits from
//! usage history, KRR's "simple" strategy where it applies and past it where
//! it falls short (OOM kills, usage pinned at the limit, HPAs), each change a
//! finding in diagnostics' format with a JSON Patch checked by dry-run.
//!
//! Tools: `recommend` (a namespace, a workload, or every namespace) and
//! `explain` (one container: the usage distribution and why this number).
//! The output is documented in `docs/rightsizing.md`.

mod analysis;
mod cluster;
mod hpa;
mod prom;
mod strategy;
mod units;

// The findings, fixes and YAML diffs are diagnostics' own code, compiled
// here too, so the two skills' findings are one format.
#[allow(dead_code)]
#[path = "../../diagnostics/src/finding.rs"]
mod finding;
#[allow(dead_code)]
#[path = "../../diagnostics/src/fix.rs"]
mod fix;
#[allow(dead_code)]
#[path = "../../diagnostics/src/kinds.rs"]
mod kinds;
#[allow(dead_code)]
#[path = "../../diagnostics/src/yaml.rs"]
mod yaml;

use std::collections::{BTreeMap, BTreeSet};

use guardian_skill_sdk::{
    Effect, ErrorKind, HostError, ListOptions, Tool, ToolError, kube, log, metrics, skill,
};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use serde_json::value::RawValue;

use analysis::{Analysis, Recommendation, Scope, Usage};
use cluster::{Key, Namespace};
use finding::Finding;
use strategy::Knobs;

skill!(Recommend, Explain);

/// Prices for the monthly cost figure.
#[derive(Clone, Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Prices {
    /// Price of one CPU core for one hour.
    pub core_hour: f64,
    /// Price of one GiB of memory for one hour.
    pub gib_hour: f64,
}

fn default_window() -> String {
    "14d".into()
}
fn default_step() -> String {
    "5m".into()
}
fn default_percentile() -> f64 {
    95.0
}
fn default_buffer() -> f64 {
    15.0
}
fn default_min_points() -> u64 {
    100
}
fn default_min_cpu() -> u64 {
    10
}
fn default_min_memory() -> u64 {
    100
}
fn yes() -> bool {
    true
}

/// Input of `recommend`.
#[derive(Clone, Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RecommendInput {
    /// The namespace to right-size. Required unless `all_namespaces` is true.
    #[serde(default)]
    pub namespace: Option<String>,
    /// Every namespace of the cluster.
    #[serde(default)]
    pub all_namespaces: bool,
    /// Only this workload: `kind/name` (`deployment/checkout`,
    /// `statefulset/db`, `cronjob/report`) or a name of any workload kind.
    #[serde(default)]
    pub workload: Option<String>,
    /// How far back usage is read, as a Prometheus duration (default `14d`).
    #[serde(default = "default_window")]
    pub window: String,
    /// The resolution of the history, as a Prometheus duration (default
    /// `5m`; KRR's is `75s`). CPU rates are taken over one step.
    #[serde(default = "default_step")]
    pub step: String,
    /// CPU request = this percentile of per-pod usage (default 95, as KRR).
    #[serde(default = "default_percentile")]
    pub cpu_percentile: f64,
    /// Memory request = limit = peak working set + this percentage (default
    /// 15, as KRR).
    #[serde(default = "default_buffer")]
    pub memory_buffer_percent: f64,
    /// Recommend a CPU limit too (the per-pod peak). Default false: no CPU
    /// limit is recommended, an existing one is kept.
    #[serde(default)]
    pub cpu_limit: bool,
    /// Fewer data points than this (summed over the workload's pods) is
    /// "not enough data": no recommendation (default 100, as KRR).
    #[serde(default = "default_min_points")]
    pub min_points: u64,
    /// Less history than this many hours (from the workload's first sample
    /// to the end of the window) is "not enough data" too (default: no
    /// minimum).
    #[serde(default)]
    pub min_hours: Option<f64>,
    /// The smallest CPU request recommended, in millicores (default 10).
    #[serde(default = "default_min_cpu")]
    pub min_cpu_millicores: u64,
    /// The smallest memory recommended, in MiB (default 100).
    #[serde(default = "default_min_memory")]
    pub min_memory_mib: u64,
    /// Prices per core-hour and GiB-hour: the summary then has the monthly
    /// (730 hours) cost change.
    #[serde(default)]
    pub prices: Option<Prices>,
    /// Check every fix by server-side dry-run (default true). Nothing is
    /// ever persisted.
    #[serde(default = "yes")]
    pub dry_run: bool,
    /// The end of the window, RFC 3339 or Unix seconds (default: now).
    #[serde(default)]
    pub at: Option<String>,
    /// The metrics source is known to be down (what an earlier call's
    /// `summary.metrics_down` said): it is not asked, and this is said
    /// instead — for a caller that right-sizes namespace by namespace.
    #[serde(default)]
    pub metrics_down: Option<String>,
}

/// Input of `explain`.
#[derive(Clone, Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ExplainInput {
    /// The workload's namespace.
    pub namespace: String,
    /// `kind/name` (`deployment/checkout`) or a name of any workload kind.
    pub workload: String,
    /// The container (an init container or an injected sidecar too).
    pub container: String,
    /// How far back usage is read, as a Prometheus duration (default `14d`).
    #[serde(default = "default_window")]
    pub window: String,
    /// The resolution of the history, as a Prometheus duration (default `5m`).
    #[serde(default = "default_step")]
    pub step: String,
    /// CPU request = this percentile of per-pod usage (default 95).
    #[serde(default = "default_percentile")]
    pub cpu_percentile: f64,
    /// Memory request = limit = peak working set + this percentage (default 15).
    #[serde(default = "default_buffer")]
    pub memory_buffer_percent: f64,
    /// Recommend a CPU limit too (the per-pod peak).
    #[serde(default)]
    pub cpu_limit: bool,
    /// Fewer data points than this is "not enough data" (default 100).
    #[serde(default = "default_min_points")]
    pub min_points: u64,
    /// Less history than this many hours (from the workload's first sample
    /// to the end of the window) is "not enough data" too (default: no
    /// minimum).
    #[serde(default)]
    pub min_hours: Option<f64>,
    /// The smallest CPU request recommended, in millicores (default 10).
    #[serde(default = "default_min_cpu")]
    pub min_cpu_millicores: u64,
    /// The smallest memory recommended, in MiB (default 100).
    #[serde(default = "default_min_memory")]
    pub min_memory_mib: u64,
    /// Check the fixes by server-side dry-run (default true).
    #[serde(default = "yes")]
    pub dry_run: bool,
    /// The end of the window, RFC 3339 or Unix seconds (default: now).
    #[serde(default)]
    pub at: Option<String>,
}

impl ExplainInput {
    fn as_recommend(&self) -> RecommendInput {
        RecommendInput {
            namespace: Some(self.namespace.clone()),
            all_namespaces: false,
            workload: Some(self.workload.clone()),
            window: self.window.clone(),
            step: self.step.clone(),
            cpu_percentile: self.cpu_percentile,
            memory_buffer_percent: self.memory_buffer_percent,
            cpu_limit: self.cpu_limit,
            min_points: self.min_points,
            min_hours: self.min_hours,
            min_cpu_millicores: self.min_cpu_millicores,
            min_memory_mib: self.min_memory_mib,
            prices: None,
            dry_run: self.dry_run,
            at: self.at.clone(),
            metrics_down: None,
        }
    }
}

/// Checks the knobs; the error names the field.
fn knobs_of(input: &RecommendInput) -> Result<Knobs, ToolError> {
    let bad = |m: String| Err(ToolError::invalid_input(m));
    let Some(window) = units::parse_duration(&input.window) else {
        return bad(format!(
            "window: `{}` is not a Prometheus duration (e.g. 14d, 36h, 90m)",
            input.window
        ));
    };
    let Some(step) = units::parse_duration(&input.step) else {
        return bad(format!(
            "step: `{}` is not a Prometheus duration (e.g. 5m, 75s)",
            input.step
        ));
    };
    if step >= window {
        return bad(format!(
            "step: {} is not shorter than the window ({})",
            input.step, input.window
        ));
    }
    if window / step > 1_000_000.0 {
        return bad(format!(
            "step: {} over {} is more than a million points per series; use a larger step",
            input.step, input.window
        ));
    }
    if !(input.cpu_percentile > 0.0 && input.cpu_percentile <= 100.0) {
        return bad(format!(
            "cpu_percentile: {} is not in (0, 100]",
            input.cpu_percentile
        ));
    }
    if !(input.memory_buffer_percent >= 0.0 && input.memory_buffer_percent <= 1000.0) {
        return bad(format!(
            "memory_buffer_percent: {} is not in [0, 1000]",
            input.memory_buffer_percent
        ));
    }
    if let Some(at) = &input.at
        && !is_time(at)
    {
        return bad(format!(
            "at: `{at}` is not an RFC 3339 time (2026-12-07T00:00:00Z) or Unix seconds"
        ));
    }
    if input.min_points == 0 {
        return bad("min_points: must be at least 1".into());
    }
    if let Some(h) = input.min_hours
        && !(h.is_finite() && h >= 0.0)
    {
        return bad(format!("min_hours: {h} is not a number of hours (≥ 0)"));
    }
    if let Some(p) = &input.prices {
        for (name, v) in [("core_hour", p.core_hour), ("gib_hour", p.gib_hour)] {
            if !(v.is_finite() && v >= 0.0) {
                return bad(format!("prices.{name}: {v} is not a price (a number ≥ 0)"));
            }
        }
    }
    Ok(Knobs {
        cpu_percentile: input.cpu_percentile,
        memory_buffer_percent: input.memory_buffer_percent,
        min_points: input.min_points,
        min_hours: input.min_hours,
        min_cpu_millicores: input.min_cpu_millicores,
        min_memory_mib: input.min_memory_mib,
        cpu_limit: input.cpu_limit,
        window: input.window.clone(),
        step: input.step.clone(),
    })
}

/// RFC 3339 (`2026-12-07T00:00:00Z`, with offset or fraction) or Unix
/// seconds (`1765065600`, `1765065600.5`).
fn is_time(text: &str) -> bool {
    if text.parse::<f64>().is_ok_and(|v| v.is_finite() && v >= 0.0) {
        return true;
    }
    let b = text.as_bytes();
    let digits =
        |r: std::ops::Range<usize>| r.clone().all(|i| b.get(i).is_some_and(u8::is_ascii_digit));
    b.len() >= 20
        && digits(0..4)
        && b[4] == b'-'
        && digits(5..7)
        && b[7] == b'-'
        && digits(8..10)
        && matches!(b[10], b'T' | b't')
        && digits(11..13)
        && b[13] == b':'
        && digits(14..16)
        && b[16] == b':'
        && digits(17..19)
        && text[19..]
            .chars()
            .all(|c| c.is_ascii_digit() || matches!(c, '.' | 'Z' | 'z' | '+' | '-' | ':'))
}

/// `deployment/checkout` → (Some("Deployment"), "checkout").
fn parse_workload(text: &str) -> Result<(Option<&'static str>, String), ToolError> {
    let (kind, name) = match text.split_once('/') {
        Some((k, n)) => (Some(k), n),
        None => (None, text),
    };
    if name.is_empty() || name.contains('/') {
        return Err(ToolError::invalid_input(format!(
            "workload: `{text}` is not `kind/name` or a name"
        )));
    }
    let kind = match kind.map(|k| k.to_ascii_lowercase()) {
        None => None,
        Some(k) => Some(match k.split('.').next().unwrap_or("") {
            "deployment" | "deployments" | "deploy" => "Deployment",
            "statefulset" | "statefulsets" | "sts" => "StatefulSet",
            "daemonset" | "daemonsets" | "ds" => "DaemonSet",
            "cronjob" | "cronjobs" | "cj" => "CronJob",
            "job" | "jobs" => "Job",
            "replicaset" | "replicasets" | "rs" => "ReplicaSet",
            other => {
                return Err(ToolError::invalid_input(format!(
                    "workload: `{other}` is not a workload kind (deployment, statefulset, daemonset, cronjob, job, replicaset)"
                )));
            }
        }),
    };
    Ok((kind, name.to_string()))
}

/// The workload `text` names in `ns`, or an error listing what is there.
fn find_workload(ns: &Namespace, text: &str) -> Result<Key, ToolError> {
    let (kind, name) = parse_workload(text)?;
    let found: Vec<&Key> = ns
        .workloads
        .keys()
        .filter(|(k, n)| n == &name && kind.is_none_or(|want| want == k))
        .collect();
    match found.as_slice() {
        [one] => Ok((*one).clone()),
        [] => {
            let there: Vec<String> = ns
                .workloads
                .values()
                .map(|w| w.display())
                .take(20)
                .collect();
            Err(ToolError::invalid_input(format!(
                "workload: no workload `{text}` in namespace {} (there: {})",
                ns.name,
                if there.is_empty() {
                    "none".to_string()
                } else {
                    there.join(", ")
                }
            )))
        }
        many => Err(ToolError::invalid_input(format!(
            "workload: `{text}` names several workloads in namespace {} ({}): give kind/name",
            ns.name,
            many.iter()
                .map(|(k, n)| format!("{}/{n}", k.to_lowercase()))
                .collect::<Vec<_>>()
                .join(", ")
        ))),
    }
}

/// Reads one namespace's objects; what cannot be listed goes to `problems`.
/// `None` when none of the workload kinds could be listed.
///
/// Lists are taken one object at a time from their JSON text: pods and
/// events parsed into the few fields the skill reads, owned ReplicaSets and
/// Jobs into their metadata, workloads kept as text (see
/// [`cluster::Workload`]) — so a namespace of a thousand workloads and
/// thousands of pods fits in the skill's memory.
fn read_namespace(name: &str, problems: &mut Vec<String>) -> Option<Namespace> {
    let options = ListOptions {
        namespace: Some(name.to_string()),
        ..Default::default()
    };
    let mut ns = Namespace::new(name);
    let failed_workloads = std::cell::Cell::new(0u32);
    let raw = |resource: &str, workload: bool, problems: &mut Vec<String>| -> Vec<Box<RawValue>> {
        match kube::list::<Box<RawValue>>(resource, &options) {
            Ok(list) => list.items,
            Err(e) => {
                if workload {
                    failed_workloads.set(failed_workloads.get() + 1);
                }
                problems.push(format!(
                    "cannot list {resource} in namespace {name}: {}",
                    e.describe()
                ));
                Vec::new()
            }
        }
    };
    for (resource, kind, api) in [
        ("deployments.apps", "Deployment", "apps/v1"),
        ("statefulsets.apps", "StatefulSet", "apps/v1"),
        ("daemonsets.apps", "DaemonSet", "apps/v1"),
        ("cronjobs.batch", "CronJob", "batch/v1"),
    ] {
        for item in raw(resource, true, problems) {
            if let Ok(object) = serde_json::from_str::<Value>(item.get()) {
                ns.add_workload(object, kind, api);
            }
        }
    }
    for (resource, kind) in [("replicasets.apps", "ReplicaSet"), ("jobs.batch", "Job")] {
        for item in raw(resource, true, problems) {
            let Ok(owned) = serde_json::from_str::<cluster::OwnedObject>(item.get()) else {
                continue;
            };
            ns.add_owned(kind, owned.metadata, || {
                serde_json::from_str(item.get()).unwrap_or(Value::Null)
            });
        }
    }
    if failed_workloads.get() == 6 {
        problems.push(format!(
            "namespace {name} was not read: none of its workloads could be listed"
        ));
        return None;
    }
    for item in raw("pods", false, problems) {
        if let Ok(pod) = serde_json::from_str::<cluster::PodObject>(item.get()) {
            ns.add_pod(pod);
        }
    }
    for item in raw("horizontalpodautoscalers.autoscaling", false, problems) {
        if let Ok(hpa) = serde_json::from_str::<Value>(item.get()) {
            ns.hpas.push(hpa);
        }
    }
    for item in raw("events", false, problems) {
        if let Ok(event) = serde_json::from_str::<cluster::EventObject>(item.get()) {
            ns.add_event(&event);
        }
    }
    ns.finish();
    Some(ns)
}

/// The state of the metrics source across namespaces: once it is down, it
/// is not asked again.
#[derive(Default)]
struct Source {
    down: Option<String>,
    queries: u32,
    at: Option<String>,
}

impl Source {
    fn query(&mut self, what: &str, promql: &str) -> Result<Value, String> {
        if let Some(down) = &self.down {
            return Err(down.clone());
        }
        self.queries += 1;
        log::debug(format!("metrics.query ({what}): {promql}"));
        metrics::query(promql, self.at.as_deref()).map_err(|e| {
            let text = e.describe();
            if matches!(
                e.kind,
                ErrorKind::Unavailable | ErrorKind::Timeout | ErrorKind::Denied
            ) {
                self.down = Some(text.clone());
            }
            text
        })
    }
}

/// Reads the usage of namespace `ns`: one query per metric.
fn read_usage(
    ns: &str,
    knobs: &Knobs,
    w: &prom::Window,
    container: Option<&str>,
    source: &mut Source,
    problems: &mut Vec<String>,
) -> Usage {
    let mut sel = prom::selector(ns);
    if let Some(c) = container {
        sel.push_str(&format!(",container=\"{}\"", c.replace('"', "")));
    }
    let mut usage = Usage::default();
    let run = |what: &str, promql: String, tag: Option<(&str, &str)>, source: &mut Source| {
        let data = source.query(what, &promql)?;
        prom::vector(&data, tag).map_err(|e| {
            format!("Prometheus answered the {what} query with something unusable: {e}")
        })
    };
    let core = (|| -> Result<(), String> {
        usage.cpu = run(
            "CPU percentile",
            prom::cpu_percentile(&sel, knobs.cpu_percentile, w),
            None,
            source,
        )?;
        usage.memory = run("memory peak", prom::memory_max(&sel, w), None, source)?;
        let points_q = prom::points(&sel, w);
        let data = source.query("point count", &points_q)?;
        usage.first_sample = prom::vector(&data, Some(("resource", "first"))).map_err(|e| {
            format!("Prometheus answered the point-count query with something unusable: {e}")
        })?;
        usage.evaluated_at = prom::evaluated_at(&data);
        usage.cpu_points = prom::vector(&data, Some(("resource", "cpu"))).map_err(|e| {
            format!("Prometheus answered the point-count query with something unusable: {e}")
        })?;
        usage.memory_points = prom::vector(&data, Some(("resource", "memory"))).map_err(|e| {
            format!("Prometheus answered the point-count query with something unusable: {e}")
        })?;
        if knobs.cpu_limit {
            usage.cpu_max = run("CPU peak", prom::cpu_max(&sel, w), None, source)?;
        }
        Ok(())
    })();
    match core {
        Ok(()) => {
            if usage.cpu.is_empty() && usage.memory.is_empty() && usage.cpu_points.is_empty() {
                problems.push(format!(
                    "Prometheus has no container usage in namespace {ns} over {}: no container_cpu_usage_seconds_total or container_memory_working_set_bytes series with namespace=\"{ns}\" (is cAdvisor scraped, and are the labels `namespace`, `pod`, `container`?)",
                    w.window
                ));
            }
            match run("OOM kills", prom::oom_killed(ns, w), None, source) {
                Ok(s) => usage.oom = s,
                Err(e) => problems.push(format!(
                    "namespace {ns}: kube-state-metrics' OOMKilled terminations could not be read ({e}); OOM kills are taken from the pods and events only"
                )),
            }
        }
        Err(e) => {
            let message = format!("usage history of namespace {ns}: {e}");
            problems.push(message.clone());
            usage = Usage {
                unavailable: Some(e),
                ..Default::default()
            };
            // Current usage as evidence, when metrics.k8s.io answers.
            match metrics::pod_usage(Some(ns), None) {
                Ok(list) => {
                    for u in list {
                        if container.is_none_or(|c| c == u.container) {
                            usage
                                .current
                                .insert((u.pod, u.container), (u.cpu_millicores, u.memory_bytes));
                        }
                    }
                }
                Err(e) => problems.push(format!(
                    "current usage (metrics.k8s.io) of namespace {ns}: {}",
                    e.describe()
                )),
            }
        }
    }
    usage
}

/// The output of `recommend`.
#[derive(Serialize)]
pub struct RecommendOutput {
    recommendations: Vec<Recommendation>,
    findings: Vec<Finding>,
    summary: Summary,
    problems: Vec<String>,
}

#[derive(Serialize)]
struct Summary {
    workloads: usize,
    containers: usize,
    not_enough_data: usize,
    no_data: usize,
    unchanged: usize,
    cpu_request_change_millicores: i64,
    memory_request_change_bytes: i64,
    monthly_cost_change: Option<f64>,
    window: String,
    step: String,
    namespaces: Vec<String>,
    findings: usize,
    by_severity: BTreeMap<String, usize>,
    /// Prometheus queries sent.
    queries: u32,
    /// Why the metrics source was not (or no longer) asked.
    #[serde(skip_serializing_if = "Option::is_none")]
    metrics_down: Option<String>,
}

/// Reads, queries and analyzes; the shared path of both tools.
struct Run {
    analysis: Analysis,
    namespaces: Vec<String>,
    problems: Vec<String>,
    queries: u32,
    /// Why the metrics source stopped being asked, when it went down.
    metrics_down: Option<String>,
    /// The workload asked for, with its pods (the cluster's and the
    /// history's), for `explain`.
    target: Option<(String, Key, BTreeSet<String>)>,
    window: prom::Window,
}

fn run(input: &RecommendInput, container: Option<&str>) -> Result<Run, ToolError> {
    let knobs = knobs_of(input)?;
    let w = prom::Window {
        window: input.window.clone(),
        step: input.step.clone(),
    };
    let namespaces: Vec<String> = match (&input.namespace, input.all_namespaces) {
        (Some(_), true) => {
            return Err(ToolError::invalid_input(
                "namespace: give a namespace or all_namespaces: true, not both",
            ));
        }
        (None, false) => {
            return Err(ToolError::invalid_input(
                "namespace: give a namespace, or all_namespaces: true for every namespace",
            ));
        }
        (Some(ns), false) => vec![ns.clone()],
        (None, true) => {
            let list = kube::list::<Value>("namespaces", &ListOptions::default()).map_err(|e| {
                ToolError::Host(HostError::new(
                    e.kind,
                    format!(
                        "cannot list the namespaces, so none was right-sized: {}",
                        e.message
                    ),
                ))
            })?;
            let mut names: Vec<String> = list
                .items
                .iter()
                .filter_map(|n| n["metadata"]["name"].as_str().map(str::to_string))
                .collect();
            names.sort();
            names
        }
    };
    if input.workload.is_some() && input.all_namespaces {
        return Err(ToolError::invalid_input(
            "workload: give the workload's namespace, not all_namespaces",
        ));
    }
    let mut problems = Vec::new();
    let mut source = Source {
        at: input.at.clone(),
        down: input.metrics_down.clone(),
        ..Default::default()
    };
    let mut analysis = Analysis::default();
    let mut read = Vec::new();
    let mut target = None;
    let total = namespaces.len() as u32;
    for (i, name) in namespaces.iter().enumerate() {
        log::progress(i as u32, total, format!("namespace {name}"));
        let Some(ns) = read_namespace(name, &mut problems) else {
            continue;
        };
        let scope = match &input.workload {
            Some(text) => Scope {
                workload: Some(find_workload(&ns, text)?),
                container: container.map(str::to_string),
            },
            None => Scope::default(),
        };
        if let (Some(key), Some(c)) = (&scope.workload, container)
            && !ns.workloads[key].containers.iter().any(|x| x.name == c)
        {
            let have: Vec<&str> = ns.workloads[key]
                .containers
                .iter()
                .map(|x| x.name.as_str())
                .collect();
            return Err(ToolError::invalid_input(format!(
                "container: {} has no container `{c}` (it has {})",
                ns.workloads[key].display(),
                have.join(", ")
            )));
        }
        if ns.workloads.is_empty() {
            if input.namespace.is_some() {
                problems.push(format!(
                    "namespace {name} has no workloads (Deployments, StatefulSets, DaemonSets, CronJobs, Jobs, ReplicaSets) to right-size"
                ));
            }
            read.push(name.clone());
            continue;
        }
        let usage = read_usage(name, &knobs, &w, container, &mut source, &mut problems);
        let a = analysis::analyze(&ns, &usage, &knobs, &scope);
        analysis.recommendations.extend(a.recommendations);
        analysis.findings.extend(a.findings);
        read.push(name.clone());
        if let Some(key) = scope.workload {
            let pods = analysis::workload_pods(&ns, &usage, &key);
            target = Some((name.clone(), key, pods));
        }
    }
    if read.is_empty() {
        return Err(ToolError::Host(HostError::new(
            ErrorKind::Unavailable,
            format!(
                "nothing could be read, so nothing was right-sized: {}",
                problems.join("; ")
            ),
        )));
    }
    log::progress(total, total, "checking fixes");
    if input.dry_run {
        fix::dry_run(&mut analysis.findings);
    }
    analysis.findings.sort_by(|a, b| {
        b.severity
            .cmp(&a.severity)
            .then_with(|| a.object.namespace.cmp(&b.object.namespace))
            .then_with(|| a.object.kind.cmp(&b.object.kind))
            .then_with(|| a.object.name.cmp(&b.object.name))
            .then_with(|| a.id.cmp(&b.id))
    });
    let mut seen = BTreeSet::new();
    problems.retain(|p| seen.insert(p.clone()));
    Ok(Run {
        analysis,
        namespaces: read,
        problems,
        queries: source.queries,
        metrics_down: source.down,
        target,
        window: w,
    })
}

fn summary(run: &Run, input: &RecommendInput) -> Summary {
    let recs = &run.analysis.recommendations;
    let workloads: BTreeSet<(String, String, String)> = recs
        .iter()
        .map(|r| {
            (
                r.workload.namespace.clone().unwrap_or_default(),
                r.workload.kind.clone(),
                r.workload.name.clone(),
            )
        })
        .collect();
    let count = |s: &str| recs.iter().filter(|r| r.status == s).count();
    let cpu: i64 = recs.iter().map(|r| r.cpu_change_millicores).sum();
    let memory: i64 = recs.iter().map(|r| r.memory_change_bytes).sum();
    let monthly_cost_change = input.prices.as_ref().map(|p| {
        let cost = (cpu as f64 / 1000.0 * p.core_hour
            + memory as f64 / (1024.0 * 1024.0 * 1024.0) * p.gib_hour)
            * 730.0;
        (cost * 100.0).round() / 100.0
    });
    let mut by_severity = BTreeMap::new();
    for f in &run.analysis.findings {
        let s = serde_json::to_value(f.severity)
            .ok()
            .and_then(|v| v.as_str().map(str::to_string))
            .unwrap_or_default();
        *by_severity.entry(s).or_insert(0) += 1;
    }
    Summary {
        workloads: workloads.len(),
        containers: recs.len(),
        not_enough_data: count("not_enough_data"),
        no_data: count("no_data"),
        unchanged: count("unchanged"),
        cpu_request_change_millicores: cpu,
        memory_request_change_bytes: memory,
        monthly_cost_change,
        window: input.window.clone(),
        step: input.step.clone(),
        namespaces: run.namespaces.clone(),
        findings: run.analysis.findings.len(),
        by_severity,
        queries: run.queries,
        metrics_down: run.metrics_down.clone(),
    }
}

/// Recommends requests and limits.
pub struct Recommend;

impl Tool for Recommend {
    const NAME: &'static str = "recommend";
    const DESCRIPTION: &'static str = "Recommends CPU and memory requests and limits for every container of a namespace's workloads (or one workload, or every namespace) from Prometheus usage history: CPU request = a percentile of per-pod usage, memory = peak + buffer, never below the limit of an OOM-killed container, with what the change does to HPAs; each change is a finding with a JSON Patch checked by dry-run.";
    const EFFECT: Effect = Effect::Read;
    type Input = RecommendInput;
    type Output = RecommendOutput;

    fn run(input: RecommendInput) -> Result<RecommendOutput, ToolError> {
        let r = run(&input, None)?;
        let summary = summary(&r, &input);
        Ok(RecommendOutput {
            summary,
            recommendations: r.analysis.recommendations,
            findings: r.analysis.findings,
            problems: r.problems,
        })
    }
}

/// Explains one container's recommendation.
pub struct Explain;

#[derive(Serialize)]
pub struct ExplainOutput {
    recommendation: Recommendation,
    distribution: Option<Distribution>,
    why: Vec<String>,
    findings: Vec<Finding>,
    problems: Vec<String>,
}

#[derive(Serialize, Default)]
struct Distribution {
    cpu_millicores: BTreeMap<String, f64>,
    memory_bytes: BTreeMap<String, f64>,
    points: u64,
    first_sample: Option<String>,
    last_sample: Option<String>,
}

impl Tool for Explain {
    const NAME: &'static str = "explain";
    const DESCRIPTION: &'static str = "Explains the recommendation for one container of a workload: its usage distribution over the window (CPU p50/p90/p95/p99/max, memory p50/p90/p99/max, points, first and last sample) and why each number is what it is.";
    const EFFECT: Effect = Effect::Read;
    type Input = ExplainInput;
    type Output = ExplainOutput;

    fn run(input: ExplainInput) -> Result<ExplainOutput, ToolError> {
        let rinput = input.as_recommend();
        let mut r = run(&rinput, Some(&input.container))?;
        let recommendation = r.analysis.recommendations.pop().ok_or_else(|| {
            ToolError::failed(format!(
                "no recommendation for container {} of {}",
                input.container, input.workload
            ))
        })?;
        let mut distribution = None;
        if let Some((_, _, pods)) = &r.target
            && !recommendation
                .why
                .iter()
                .any(|w| w.starts_with("no usage history"))
        {
            match distribution_of(&input, &r.window, pods) {
                Ok((d, n)) => {
                    r.queries += n;
                    distribution = Some(d);
                }
                Err(e) => r.problems.push(format!("usage distribution: {e}")),
            }
        }
        let why = recommendation.why.clone();
        Ok(ExplainOutput {
            recommendation,
            distribution,
            why,
            findings: r.analysis.findings,
            problems: r.problems,
        })
    }
}

fn regex_escape(s: &str) -> String {
    let mut out = String::new();
    for c in s.chars() {
        if "\\.+*?()|[]{}^$".contains(c) {
            out.push_str("\\\\");
        }
        out.push(c);
    }
    out
}

/// The distribution of one container's usage: three queries.
fn distribution_of(
    input: &ExplainInput,
    w: &prom::Window,
    pods: &BTreeSet<String>,
) -> Result<(Distribution, u32), String> {
    // Exactly the pods the recommendation used.
    if pods.is_empty() {
        return Err("no pod of the workload is known, in the cluster or the history".into());
    }
    let alternatives: Vec<String> = pods.iter().map(|p| regex_escape(p)).collect();
    let sel = format!(
        "namespace=\"{}\",container=\"{}\",pod=~\"{}\"",
        input.namespace.replace('"', ""),
        input.container.replace('"', ""),
        alternatives.join("|")
    );
    let cpu_rate = format!(
        "max by (pod) (rate(container_cpu_usage_seconds_total{{{sel}}}[{}]))",
        w.step
    );
    let mem = format!("max by (pod) (container_memory_working_set_bytes{{{sel}}})");
    let tag = |expr: String, stat: &str| {
        format!("label_replace({expr}, \"stat\", \"{stat}\", \"\", \"\")")
    };
    let sub = format!("[{}:{}]", w.window, w.step);
    let mut cpu_parts: Vec<String> = [("p50", 50.0), ("p90", 90.0), ("p95", 95.0), ("p99", 99.0)]
        .iter()
        .map(|(s, p)| {
            tag(
                format!(
                    "max(quantile_over_time({}, {cpu_rate}{sub}))",
                    prom::quantile(*p)
                ),
                s,
            )
        })
        .collect();
    cpu_parts.push(tag(format!("max(max_over_time({cpu_rate}{sub}))"), "max"));
    let mut mem_parts: Vec<String> = [("p50", 50.0), ("p90", 90.0), ("p99", 99.0)]
        .iter()
        .map(|(s, p)| {
            tag(
                format!(
                    "max(quantile_over_time({}, {mem}{sub}))",
                    prom::quantile(*p)
                ),
                s,
            )
        })
        .collect();
    mem_parts.push(tag(format!("max(max_over_time({mem}{sub}))"), "max"));
    let raw = format!("container_memory_working_set_bytes{{{sel}}}");
    let times = [
        tag(format!("sum(count_over_time({mem}{sub}))"), "points"),
        tag(
            format!("min(min_over_time(timestamp({raw}){sub}))"),
            "first",
        ),
        tag(format!("max(max_over_time(timestamp({raw}){sub}))"), "last"),
    ]
    .join(" or ");
    let ask = |q: String| -> Result<BTreeMap<String, f64>, String> {
        let data = metrics::query(&q, input.at.as_deref()).map_err(|e| e.describe())?;
        prom::by_label(&data, "stat")
    };
    let cpu = ask(cpu_parts.join(" or "))?;
    let memory = ask(mem_parts.join(" or "))?;
    let t = ask(times)?;
    Ok((
        Distribution {
            cpu_millicores: cpu
                .into_iter()
                .map(|(k, v)| (k, (v * 10000.0).round() / 10.0))
                .collect(),
            memory_bytes: memory.into_iter().map(|(k, v)| (k, v.round())).collect(),
            points: t.get("points").copied().unwrap_or(0.0) as u64,
            first_sample: t.get("first").map(|s| rfc3339(*s)),
            last_sample: t.get("last").map(|s| rfc3339(*s)),
        },
        3,
    ))
}

/// Unix seconds as RFC 3339 (UTC), without a clock or a date library.
fn rfc3339(unix: f64) -> String {
    let secs = unix.floor() as i64;
    let days = secs.div_euclid(86400);
    let rem = secs.rem_euclid(86400);
    // Howard Hinnant's civil_from_days.
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = if m <= 2 { y + 1 } else { y };
    format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}Z",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn input(json: &str) -> Result<RecommendInput, String> {
        serde_json::from_str(json).map_err(|e| e.to_string())
    }

    #[test]
    fn knobs_are_checked_and_the_error_names_the_field() {
        let bad = |j: &str| match knobs_of(&input(j).unwrap()) {
            Err(ToolError::InvalidInput(m)) => m,
            other => panic!("{other:?}"),
        };
        assert!(bad(r#"{"namespace":"a","window":"14 days"}"#).starts_with("window: `14 days`"));
        assert!(bad(r#"{"namespace":"a","step":"x"}"#).starts_with("step: "));
        assert!(bad(r#"{"namespace":"a","step":"14d"}"#).starts_with("step: 14d is not shorter"));
        assert!(bad(r#"{"namespace":"a","cpu_percentile":0}"#).starts_with("cpu_percentile"));
        assert!(bad(r#"{"namespace":"a","cpu_percentile":101}"#).starts_with("cpu_percentile"));
        assert!(
            bad(r#"{"namespace":"a","memory_buffer_percent":-1}"#)
                .starts_with("memory_buffer_percent")
        );
        assert!(bad(r#"{"namespace":"a","min_points":0}"#).starts_with("min_points"));
        assert!(bad(r#"{"namespace":"a","at":"yesterday"}"#).starts_with("at: `yesterday`"));
        assert!(
            knobs_of(&input(r#"{"namespace":"a","at":"2026-12-07T00:00:00Z"}"#).unwrap()).is_ok()
        );
        assert!(
            knobs_of(&input(r#"{"namespace":"a","at":"2026-12-07T00:00:00.5+01:00"}"#).unwrap())
                .is_ok()
        );
        assert!(knobs_of(&input(r#"{"namespace":"a","at":"1765065600"}"#).unwrap()).is_ok());
        assert!(
            bad(r#"{"namespace":"a","prices":{"core_hour":-1,"gib_hour":0}}"#)
                .starts_with("prices.core_hour")
        );
        let k = knobs_of(&input(r#"{"namespace":"a"}"#).unwrap()).unwrap();
        assert_eq!(
            (k.cpu_percentile, k.memory_buffer_percent, k.min_points),
            (95.0, 15.0, 100)
        );
        assert_eq!(k.window, "14d");
        // Unknown fields are refused by the schema's deserializer.
        assert!(
            input(r#"{"namespace":"a","percentile":90}"#)
                .unwrap_err()
                .contains("unknown field `percentile`")
        );
    }

    #[test]
    fn workloads_parse() {
        assert_eq!(
            parse_workload("deployment/checkout").unwrap(),
            (Some("Deployment"), "checkout".into())
        );
        assert_eq!(
            parse_workload("deployments.apps/checkout").unwrap().0,
            Some("Deployment")
        );
        assert_eq!(parse_workload("cj/report").unwrap().0, Some("CronJob"));
        assert_eq!(
            parse_workload("checkout").unwrap(),
            (None, "checkout".into())
        );
        assert!(
            matches!(parse_workload("pod/x"), Err(ToolError::InvalidInput(m)) if m.starts_with("workload: `pod`"))
        );
        assert!(parse_workload("a/b/c").is_err());
    }

    #[test]
    fn schemas_describe_the_fields() {
        let spec = guardian_skill_sdk::__private::spec::<Recommend>();
        let schema: Value = serde_json::from_str(&spec.input_schema).unwrap();
        for field in [
            "namespace",
            "all_namespaces",
            "workload",
            "window",
            "step",
            "cpu_percentile",
            "memory_buffer_percent",
            "cpu_limit",
            "min_points",
            "min_hours",
            "min_cpu_millicores",
            "min_memory_mib",
            "prices",
            "dry_run",
        ] {
            assert!(
                schema["properties"][field]["description"].is_string(),
                "{field}: {schema}"
            );
        }
        assert!(schema["required"].is_null(), "all optional");
        let spec = guardian_skill_sdk::__private::spec::<Explain>();
        let schema: Value = serde_json::from_str(&spec.input_schema).unwrap();
        assert_eq!(
            schema["required"],
            serde_json::json!(["namespace", "workload", "container"])
        );
    }

    #[test]
    fn timestamps() {
        assert_eq!(rfc3339(0.0), "1970-01-01T00:00:00Z");
        assert_eq!(rfc3339(1733500000.5), "2024-12-06T15:46:40Z");
        assert_eq!(rfc3339(951782400.0), "2000-02-29T00:00:00Z");
    }
}
