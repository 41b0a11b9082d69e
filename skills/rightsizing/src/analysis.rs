//! From one namespace as read ([`Namespace`]) and its usage ([`Usage`]) to
//! recommendations and findings. No host call here: everything is computed
//! from what was read, so the unit tests run it on objects and Prometheus
//! answers they write.

use std::collections::{BTreeMap, BTreeSet};

use serde::Serialize;
use serde_json::{Value, json};

use crate::cluster::{Container, Key, Namespace, Workload};
use crate::finding::{Finding, Fix, ObjRef, Severity, Source};
use crate::fix;
use crate::hpa::{self, Hpa, HpaView};
use crate::prom::Series;
use crate::strategy::{self, Current, Knobs, Outcome, PodUsage, Status};
use crate::units::{format_cpu, format_memory, quantity};

/// The usage of one namespace, as the queries answered.
#[derive(Clone, Debug, Default)]
pub struct Usage {
    pub cpu: Series,
    pub cpu_max: Series,
    pub memory: Series,
    pub cpu_points: Series,
    pub memory_points: Series,
    pub oom: Series,
    /// Each pod's first sample in the window (Unix seconds).
    pub first_sample: Series,
    /// When Prometheus evaluated the queries (the end of the window).
    pub evaluated_at: Option<f64>,
    /// Why there is no usage history (Prometheus unavailable, a query
    /// refused): every container is then "not enough data".
    pub unavailable: Option<String>,
    /// metrics.k8s.io's current usage (millicores, bytes) by (pod,
    /// container): extra evidence when there is no history.
    pub current: BTreeMap<(String, String), (u64, u64)>,
}

impl Usage {
    /// The pods of the series, whatever the metric.
    fn series_pods(&self) -> BTreeSet<&str> {
        [
            &self.cpu,
            &self.memory,
            &self.cpu_points,
            &self.memory_points,
            &self.oom,
        ]
        .into_iter()
        .flat_map(|s| s.keys().map(|(p, _)| p.as_str()))
        .collect()
    }
}

/// Requests and limits as written (`"500m"`), `null` when unset.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct Resources {
    pub cpu_request: Option<String>,
    pub cpu_limit: Option<String>,
    pub memory_request: Option<String>,
    pub memory_limit: Option<String>,
}

#[derive(Clone, Debug, Serialize)]
pub struct Evidence {
    pub cpu_percentile: f64,
    pub cpu_value_millicores: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cpu_peak_millicores: Option<f64>,
    pub memory_peak_bytes: Option<u64>,
    pub points: u64,
    /// Hours from the workload's first sample to the end of the window.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub hours: Option<f64>,
    pub window: String,
    pub oom_kills: u64,
    pub restarts: u64,
    pub pods: usize,
    pub memory_at_limit: bool,
    /// metrics.k8s.io's current usage (highest pod), when there is no
    /// history.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub current_usage: Option<CurrentUsage>,
}

#[derive(Clone, Debug, Serialize)]
pub struct CurrentUsage {
    pub cpu_millicores: u64,
    pub memory_bytes: u64,
    pub pods: usize,
}

/// One recommendation (per container of a workload).
#[derive(Clone, Debug, Serialize)]
pub struct Recommendation {
    pub workload: ObjRef,
    pub container: String,
    pub init: bool,
    /// A native sidecar (init container with `restartPolicy: Always`) or a
    /// container injected into the pods by a webhook.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub sidecar: bool,
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub injected: bool,
    pub replicas: u64,
    pub current: Resources,
    pub recommended: Resources,
    pub status: &'static str,
    pub evidence: Evidence,
    pub hpa: Option<HpaView>,
    pub why: Vec<String>,
    /// (recommended − current) requests × replicas, for the summary.
    #[serde(skip)]
    pub cpu_change_millicores: i64,
    #[serde(skip)]
    pub memory_change_bytes: i64,
}

/// The recommendations and findings of one namespace.
#[derive(Default)]
pub struct Analysis {
    pub recommendations: Vec<Recommendation>,
    pub findings: Vec<Finding>,
}

/// What to analyze within the namespace.
#[derive(Clone, Debug, Default)]
pub struct Scope {
    pub workload: Option<Key>,
    pub container: Option<String>,
}

fn text_of(value: &Value) -> Option<String> {
    match value {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        _ => None,
    }
}

fn current_of(resources: &Value) -> (Resources, Current) {
    let r = |section: &str, key: &str| resources[section][key].clone();
    let texts = Resources {
        cpu_request: text_of(&r("requests", "cpu")),
        cpu_limit: text_of(&r("limits", "cpu")),
        memory_request: text_of(&r("requests", "memory")),
        memory_limit: text_of(&r("limits", "memory")),
    };
    // Kubernetes defaults a missing request to the limit.
    let cpu_limit = quantity(&r("limits", "cpu"));
    let memory_limit = quantity(&r("limits", "memory"));
    let current = Current {
        cpu_request: quantity(&r("requests", "cpu")).or(cpu_limit),
        cpu_limit,
        memory_request: quantity(&r("requests", "memory")).or(memory_limit),
        memory_limit,
    };
    (texts, current)
}

/// Pods by workload: the cluster's, and the history's that map.
fn pods_by_workload(ns: &Namespace, usage: &Usage) -> BTreeMap<Key, BTreeSet<String>> {
    let mut pods_of: BTreeMap<Key, BTreeSet<String>> = BTreeMap::new();
    for pod in ns
        .pods
        .keys()
        .map(String::as_str)
        .chain(usage.series_pods())
    {
        if let Some(key) = ns.workload_of(pod) {
            pods_of.entry(key).or_default().insert(pod.to_string());
        }
    }
    pods_of
}

/// The pods of workload `key`: the cluster's and the history's.
pub fn workload_pods(ns: &Namespace, usage: &Usage, key: &Key) -> BTreeSet<String> {
    pods_by_workload(ns, usage).remove(key).unwrap_or_default()
}

/// Analyzes the namespace `ns` with its usage `usage`.
pub fn analyze(ns: &Namespace, usage: &Usage, knobs: &Knobs, scope: &Scope) -> Analysis {
    let mut out = Analysis::default();
    let hpas: Vec<Hpa> = ns.hpas.iter().filter_map(Hpa::parse).collect();

    let pods_of = pods_by_workload(ns, usage);

    for (key, workload) in &ns.workloads {
        if scope.workload.as_ref().is_some_and(|k| k != key) {
            continue;
        }
        let pods = pods_of.get(key).cloned().unwrap_or_default();
        let hpa = hpas
            .iter()
            .find(|h| h.target_kind == workload.kind && h.target_name == workload.name);
        let mut containers_out: Vec<(Container, Outcome, Current)> = Vec::new();
        for container in &workload.containers {
            if scope
                .container
                .as_ref()
                .is_some_and(|c| c != &container.name)
            {
                continue;
            }
            let (rec, outcome, current) =
                recommend_container(ns, usage, knobs, workload, container, &pods, hpa);
            if let Some(f) = container_finding(workload, container, &rec, &outcome, &current, hpa) {
                out.findings.push(f);
            }
            out.recommendations.push(rec);
            containers_out.push((container.clone(), outcome, current));
        }
        if let Some(hpa) = hpa {
            out.findings.extend(hpa_findings(
                ns,
                workload,
                hpa,
                &containers_out,
                &out.recommendations,
            ));
        }
    }
    out
}

fn recommend_container(
    ns: &Namespace,
    usage: &Usage,
    knobs: &Knobs,
    workload: &Workload,
    container: &Container,
    pods: &BTreeSet<String>,
    hpa: Option<&Hpa>,
) -> (Recommendation, Outcome, Current) {
    let resources = if container.injected {
        // The pods' resources: the template does not have it.
        pods.iter()
            .find_map(|p| {
                ns.pods
                    .get(p)
                    .and_then(|pod| pod.containers.get(&container.name))
                    .map(|c| c.resources.clone())
            })
            .unwrap_or(container.resources.clone())
    } else {
        container.resources.clone()
    };
    let (texts, current) = current_of(&resources);

    // OOM kills and restarts the cluster shows.
    let mut oom_kills = 0;
    let mut restarts = 0;
    for p in pods {
        let mut kills = 0;
        if let Some(c) = ns
            .pods
            .get(p)
            .and_then(|pod| pod.containers.get(&container.name))
        {
            restarts += c.restarts;
            if c.oom_killed {
                kills = 1;
            }
        }
        let single = ns
            .pods
            .get(p)
            .is_some_and(|pod| pod.containers.values().filter(|c| !c.init).count() == 1);
        let mut from_events = ns
            .oom_events
            .get(&(p.clone(), container.name.clone()))
            .copied()
            .unwrap_or(0);
        if single {
            from_events += ns
                .oom_events
                .get(&(p.clone(), String::new()))
                .copied()
                .unwrap_or(0);
        }
        oom_kills += kills.max(from_events);
    }

    let history: Option<BTreeMap<String, PodUsage>> = if usage.unavailable.is_some() {
        None
    } else {
        Some(
            pods.iter()
                .filter_map(|p| {
                    let k = (p.clone(), container.name.clone());
                    let u = PodUsage {
                        cpu: usage.cpu.get(&k).copied(),
                        cpu_max: usage.cpu_max.get(&k).copied(),
                        memory: usage.memory.get(&k).copied(),
                        cpu_points: usage.cpu_points.get(&k).copied().unwrap_or(0.0),
                        memory_points: usage.memory_points.get(&k).copied().unwrap_or(0.0),
                        oom_killed: usage.oom.get(&k).is_some_and(|v| *v > 0.0),
                        hours: match (usage.first_sample.get(&k), usage.evaluated_at) {
                            (Some(first), Some(end)) => Some(((end - first) / 3600.0).max(0.0)),
                            _ => None,
                        },
                    };
                    (u != PodUsage::default()).then(|| (p.clone(), u))
                })
                .collect(),
        )
    };
    let mut outcome = strategy::recommend(
        history.as_ref(),
        usage.unavailable.as_deref(),
        &current,
        oom_kills,
        knobs,
    );
    if outcome.status == Status::Ok && strategy::is_unchanged(&outcome, &current) {
        outcome.status = Status::Unchanged;
        outcome.why.push(format!(
            "every value is within {:.0}% of the current one: no change proposed",
            strategy::TOLERANCE * 100.0
        ));
    }
    let mut why = Vec::new();
    if container.plain_init() {
        why.push(
            "init container: it runs before the others, so the pod's request is the larger of it and the sum of the app containers; it is usually too short-lived to have enough data, and is left out of the summary's totals".to_string(),
        );
    }
    if container.sidecar && container.init {
        why.push("native sidecar (init container with restartPolicy: Always): runs as long as the pod, recommended like an app container".to_string());
    }
    if container.injected {
        why.push("injected into the pods by an admission webhook (not in the workload's template): its resources are set through the injector, see the fix".to_string());
    }
    why.extend(outcome.why.iter().cloned());

    // Current usage (metrics.k8s.io) as evidence when there is no history.
    let current_usage = if usage.unavailable.is_some() {
        let seen: Vec<(u64, u64)> = pods
            .iter()
            .filter_map(|p| {
                usage
                    .current
                    .get(&(p.clone(), container.name.clone()))
                    .copied()
            })
            .collect();
        (!seen.is_empty()).then(|| {
            let cu = CurrentUsage {
                cpu_millicores: seen.iter().map(|s| s.0).max().unwrap_or(0),
                memory_bytes: seen.iter().map(|s| s.1).max().unwrap_or(0),
                pods: seen.len(),
            };
            why.push(format!(
                "current usage (metrics.k8s.io, one instant, not a history): {}m CPU, {} memory in the busiest of {} pod(s) — shown as evidence, not used for a recommendation",
                cu.cpu_millicores,
                strategy::mib(cu.memory_bytes as f64),
                cu.pods
            ));
            cu
        })
    } else {
        None
    };

    let mut recommended = Resources::default();
    let mut cpu_change = 0i64;
    let mut memory_change = 0i64;
    if matches!(outcome.status, Status::Ok | Status::Unchanged) {
        let cpu = outcome.cpu_request_millicores.unwrap_or(0);
        recommended.cpu_request = Some(format_cpu(cpu));
        recommended.cpu_limit = match outcome.cpu_limit_millicores {
            Some(l) => Some(format_cpu(l)),
            // No CPU limit is recommended: an existing one is kept, raised
            // to the request if the request would exceed it.
            None => match current.cpu_limit {
                Some(l) if l * 1000.0 < cpu as f64 => {
                    why.push(format!(
                        "the current CPU limit ({}) is below the new request: raised to it",
                        texts.cpu_limit.as_deref().unwrap_or("")
                    ));
                    Some(format_cpu(cpu))
                }
                _ => texts.cpu_limit.clone(),
            },
        };
        let mem = outcome.memory_bytes.unwrap_or(0);
        recommended.memory_request = Some(format_memory(mem));
        recommended.memory_limit = Some(format_memory(mem));
        if outcome.status == Status::Ok && !container.plain_init() {
            let reps = workload.replicas as i64;
            cpu_change =
                (cpu as i64 - (current.cpu_request.unwrap_or(0.0) * 1000.0).round() as i64) * reps;
            memory_change =
                (mem as i64 - current.memory_request.unwrap_or(0.0).round() as i64) * reps;
        }
    }

    // What the change does to the HPA.
    let mut note = None;
    if let Some(h) = hpa
        && outcome.status == Status::Ok
    {
        let mut notes = Vec::new();
        for (resource, old, new, old_text, new_text) in [
            (
                "cpu",
                current.cpu_request,
                outcome.cpu_request_millicores.map(|m| m as f64 / 1000.0),
                texts.cpu_request.clone(),
                recommended.cpu_request.clone(),
            ),
            (
                "memory",
                current.memory_request,
                outcome.memory_bytes.map(|b| b as f64),
                texts.memory_request.clone(),
                recommended.memory_request.clone(),
            ),
        ] {
            let Some(metric) = h
                .metrics
                .iter()
                .find(|m| m.utilization_of(resource, &container.name))
            else {
                continue;
            };
            if let (Some(old), Some(new)) = (old, new)
                && new > 0.0
                && (old - new).abs() > f64::EPSILON * old
            {
                let (text, _) = hpa::request_change_effect(
                    h,
                    metric,
                    resource,
                    old,
                    new,
                    old_text.as_deref().unwrap_or(""),
                    new_text.as_deref().unwrap_or(""),
                );
                notes.push(text);
            }
        }
        if !notes.is_empty() {
            why.extend(notes.iter().cloned());
            note = Some(notes.join("; "));
        }
    }

    let rec = Recommendation {
        workload: workload.obj_ref(),
        container: container.name.clone(),
        init: container.init,
        sidecar: container.sidecar,
        injected: container.injected,
        replicas: workload.replicas,
        current: texts,
        recommended,
        status: outcome.status.as_str(),
        evidence: Evidence {
            cpu_percentile: knobs.cpu_percentile,
            cpu_value_millicores: outcome
                .cpu_value_millicores
                .map(|v| (v * 10.0).round() / 10.0),
            cpu_peak_millicores: outcome
                .cpu_peak_millicores
                .map(|v| (v * 10.0).round() / 10.0),
            memory_peak_bytes: outcome.memory_peak_bytes.map(|b| b.round() as u64),
            points: outcome.points,
            hours: outcome.hours.map(|h| (h * 10.0).round() / 10.0),
            window: knobs.window.clone(),
            oom_kills: outcome.oom_kills,
            restarts,
            pods: outcome.pods,
            memory_at_limit: outcome.memory_at_limit,
            current_usage,
        },
        hpa: hpa.map(|h| h.view(note)),
        why,
        cpu_change_millicores: cpu_change,
        memory_change_bytes: memory_change,
    };
    (rec, outcome, current)
}

/// Reason codes of the findings (documented in `docs/rightsizing.md`).
pub mod reasons {
    pub const MEMORY_LIMIT_TOO_LOW: &str = "MemoryLimitTooLow";
    pub const MEMORY_UNDER_PROVISIONED: &str = "MemoryUnderProvisioned";
    pub const CPU_UNDER_PROVISIONED: &str = "CPUUnderProvisioned";
    pub const OVER_PROVISIONED: &str = "OverProvisioned";
    pub const RESOURCES_ADJUSTED: &str = "ResourcesAdjusted";
    pub const HPA_IGNORES_MEMORY: &str = "HPAIgnoresMemory";
    pub const HPA_AT_MAX_REPLICAS: &str = "HPAAtMaxReplicas";
    pub const HPA_MISSING_REQUESTS: &str = "HPAMissingRequests";
}

/// Severity by risk: memory the container does not have is an error
/// (killed, or using more than its request), CPU below its use a warning,
/// waste or a small adjustment is info.
fn classify(outcome: &Outcome, current: &Current) -> (Severity, &'static str) {
    let peak = outcome.memory_peak_bytes.unwrap_or(0.0);
    let cpu = outcome.cpu_value_millicores.unwrap_or(0.0) / 1000.0;
    if outcome.censored {
        (Severity::Error, reasons::MEMORY_LIMIT_TOO_LOW)
    } else if current.memory_request.is_none_or(|r| peak > r) {
        (Severity::Error, reasons::MEMORY_UNDER_PROVISIONED)
    } else if current.cpu_request.is_none_or(|r| cpu > r) {
        (Severity::Warning, reasons::CPU_UNDER_PROVISIONED)
    } else {
        let lower = |new: Option<f64>, old: Option<f64>| match (new, old) {
            (Some(n), Some(o)) => n <= o,
            (None, _) => true,
            (Some(_), None) => false,
        };
        let mem = outcome.memory_bytes.map(|b| b as f64);
        if lower(
            outcome.cpu_request_millicores.map(|m| m as f64 / 1000.0),
            current.cpu_request,
        ) && lower(mem, current.memory_request)
            && lower(mem, current.memory_limit)
        {
            (Severity::Info, reasons::OVER_PROVISIONED)
        } else {
            (Severity::Info, reasons::RESOURCES_ADJUSTED)
        }
    }
}

fn change_list(current: &Resources, recommended: &Resources) -> Vec<String> {
    let mut changes = Vec::new();
    for (what, old, new) in [
        (
            "CPU request",
            &current.cpu_request,
            &recommended.cpu_request,
        ),
        ("CPU limit", &current.cpu_limit, &recommended.cpu_limit),
        (
            "memory request",
            &current.memory_request,
            &recommended.memory_request,
        ),
        (
            "memory limit",
            &current.memory_limit,
            &recommended.memory_limit,
        ),
    ] {
        if new.is_some() && old != new {
            changes.push(format!(
                "{what} {} → {}",
                old.as_deref().unwrap_or("unset"),
                new.as_deref().unwrap_or("unset")
            ));
        }
    }
    changes
}

fn container_finding(
    workload: &Workload,
    container: &Container,
    rec: &Recommendation,
    outcome: &Outcome,
    current: &Current,
    hpa: Option<&Hpa>,
) -> Option<Finding> {
    if outcome.status != Status::Ok {
        return None;
    }
    let changes = change_list(&rec.current, &rec.recommended);
    if changes.is_empty() {
        return None;
    }
    let (severity, reason) = classify(outcome, current);
    let target = workload.obj_ref();
    let cause = format!(
        "container {} of {} {}/{}: {}",
        container.name,
        workload.kind,
        workload.namespace,
        workload.name,
        changes.join(", ")
    );
    let ev = &rec.evidence;
    let peak = outcome.memory_peak_bytes.unwrap_or(0.0);
    let root = match reason {
        reasons::MEMORY_LIMIT_TOO_LOW if outcome.oom_kills > 0 => format!(
            "container {} was OOM-killed {} time(s) at its {} memory limit: it needs more memory than the limit allows, and its real peak is hidden by the kills",
            container.name,
            outcome.oom_kills,
            rec.current.memory_limit.as_deref().unwrap_or("(unset)")
        ),
        reasons::MEMORY_LIMIT_TOO_LOW => format!(
            "container {} peaks at {} of its {} memory limit ({:.0}%): pinned at the limit, its real need is hidden",
            container.name,
            strategy::mib(peak),
            rec.current.memory_limit.as_deref().unwrap_or("(unset)"),
            100.0 * outcome.memory_limit_ratio.unwrap_or(0.0)
        ),
        reasons::MEMORY_UNDER_PROVISIONED => format!(
            "container {} peaks at {} of working set, above its memory request ({}): the scheduler reserves less than it uses, so the node can run out of memory",
            container.name,
            strategy::mib(peak),
            rec.current.memory_request.as_deref().unwrap_or("unset")
        ),
        reasons::CPU_UNDER_PROVISIONED => format!(
            "container {} uses {:.0}m CPU at p{} per pod, above its CPU request ({}): it competes for CPU it was not given",
            container.name,
            outcome.cpu_value_millicores.unwrap_or(0.0),
            ev.cpu_percentile,
            rec.current.cpu_request.as_deref().unwrap_or("unset")
        ),
        _ => format!(
            "container {} uses {:.0}m CPU at p{} (request {}) and peaks at {} of memory (request {}) over {}",
            container.name,
            outcome.cpu_value_millicores.unwrap_or(0.0),
            ev.cpu_percentile,
            rec.current.cpu_request.as_deref().unwrap_or("unset"),
            strategy::mib(peak),
            rec.current.memory_request.as_deref().unwrap_or("unset"),
            ev.window
        ),
    };
    let mut f = Finding::new(target.clone(), severity, reason, cause).root_cause(root);
    f.id = format!("{}/{}", f.id, container.name.to_lowercase());
    f = f
        .evidence(
            Source::Metrics,
            format!("Prometheus p{} CPU over {}", ev.cpu_percentile, ev.window),
            format!(
                "{:.1}m (highest of {} pod(s), {} points); request {}",
                outcome.cpu_value_millicores.unwrap_or(0.0),
                ev.pods,
                ev.points,
                rec.current.cpu_request.as_deref().unwrap_or("unset")
            ),
        )
        .evidence(
            Source::Metrics,
            format!("Prometheus peak working set over {}", ev.window),
            format!(
                "{} ({} bytes); request {}, limit {}{}",
                strategy::mib(peak),
                peak.round() as u64,
                rec.current.memory_request.as_deref().unwrap_or("unset"),
                rec.current.memory_limit.as_deref().unwrap_or("unset"),
                match outcome.memory_limit_ratio {
                    Some(r) => format!(" ({:.0}% of the limit)", r * 100.0),
                    None => String::new(),
                }
            ),
        );
    if outcome.oom_kills > 0 {
        f = f.evidence(
            Source::Status,
            format!("{} {}/{} container {}", workload.kind, workload.namespace, workload.name, container.name),
            format!(
                "OOMKilled {} time(s) (container statuses, OOM events, kube-state-metrics); {} restart(s)",
                outcome.oom_kills, ev.restarts
            ),
        );
    }
    if let Some(view) = &rec.hpa
        && let Some(note) = &view.note
    {
        f = f.evidence(
            Source::Spec,
            format!("HorizontalPodAutoscaler {}", view.name),
            note.clone(),
        );
    }
    let _ = hpa;
    f = f.fix(resources_fix(workload, container, rec, &changes));
    Some(f)
}

/// The JSON Patch setting `rec.recommended` on the container, pinned with
/// `test` ops on its name and the old values.
pub fn resource_ops(pointer: &str, name: &str, resources: &Value, new: &Resources) -> Vec<Value> {
    let mut ops = vec![fix::test(&format!("{pointer}/name"), name)];
    let wanted: Vec<(&str, &str, &Option<String>)> = vec![
        ("requests", "cpu", &new.cpu_request),
        ("limits", "cpu", &new.cpu_limit),
        ("requests", "memory", &new.memory_request),
        ("limits", "memory", &new.memory_limit),
    ];
    if !resources.is_object() {
        let mut body = serde_json::Map::new();
        for (section, key, value) in &wanted {
            if let Some(v) = value {
                body.entry(section.to_string()).or_insert_with(|| json!({}))[key] = json!(v);
            }
        }
        ops.push(fix::add(
            &format!("{pointer}/resources"),
            Value::Object(body),
        ));
        return ops;
    }
    for section in ["requests", "limits"] {
        let changes: Vec<(&str, &String)> = wanted
            .iter()
            .filter(|(s, _, _)| *s == section)
            .filter_map(|(_, k, v)| v.as_ref().map(|v| (*k, v)))
            .filter(|(k, v)| text_of(&resources[section][k]).as_ref() != Some(*v))
            .collect();
        if changes.is_empty() {
            continue;
        }
        let base = format!("{pointer}/resources/{section}");
        if !resources[section].is_object() {
            let body: serde_json::Map<String, Value> = changes
                .iter()
                .map(|(k, v)| (k.to_string(), json!(v)))
                .collect();
            ops.push(fix::add(&base, Value::Object(body)));
            continue;
        }
        for (key, value) in changes {
            let old = &resources[section][key];
            if old.is_null() {
                ops.push(fix::add(&format!("{base}/{key}"), value.as_str()));
            } else {
                ops.push(fix::test(&format!("{base}/{key}"), old.clone()));
                ops.push(fix::replace(&format!("{base}/{key}"), value.as_str()));
            }
        }
    }
    ops
}

fn resources_fix(
    workload: &Workload,
    container: &Container,
    rec: &Recommendation,
    changes: &[String],
) -> Fix {
    let target = workload.obj_ref();
    if container.injected {
        return injected_fix(workload, container, rec, changes);
    }
    let pointer = container.pointer(workload.spec_path);
    let ops = resource_ops(
        &pointer,
        &container.name,
        &container.resources,
        &rec.recommended,
    );
    fix::patch(
        target,
        &workload.object(),
        ops,
        format!(
            "Set the resources of container {} of {} {}: {}",
            container.name,
            workload.kind,
            workload.name,
            changes.join(", ")
        ),
    )
}

/// Resources of an injected sidecar are set through the injector: the
/// pod-template annotations Istio and Linkerd read; for another injector,
/// its configuration (a fix that needs input).
fn injected_fix(
    workload: &Workload,
    container: &Container,
    rec: &Recommendation,
    changes: &[String],
) -> Fix {
    let keys: &[(&str, &Option<String>)] = match container.name.as_str() {
        "istio-proxy" => &[
            ("sidecar.istio.io/proxyCPU", &rec.recommended.cpu_request),
            (
                "sidecar.istio.io/proxyMemory",
                &rec.recommended.memory_request,
            ),
            (
                "sidecar.istio.io/proxyMemoryLimit",
                &rec.recommended.memory_limit,
            ),
        ],
        "linkerd-proxy" => &[
            (
                "config.linkerd.io/proxy-cpu-request",
                &rec.recommended.cpu_request,
            ),
            (
                "config.linkerd.io/proxy-memory-request",
                &rec.recommended.memory_request,
            ),
            (
                "config.linkerd.io/proxy-memory-limit",
                &rec.recommended.memory_limit,
            ),
        ],
        _ => {
            return fix::needs_input(
                workload.obj_ref(),
                format!(
                    "Container {} is injected into the pods of {} {} by an admission webhook: set {} in the injector's configuration",
                    container.name,
                    workload.kind,
                    workload.name,
                    changes.join(", ")
                ),
                "kubectl get mutatingwebhookconfigurations  # find the injector of <container>, then set its resources there",
            );
        }
    };
    let meta = workload
        .spec_path
        .strip_suffix("/spec")
        .unwrap_or(workload.spec_path)
        .to_string()
        + "/metadata";
    let mut ops = Vec::new();
    let object = workload.object();
    let annotations = object.pointer(&format!("{meta}/annotations"));
    let present: Vec<(&str, String)> = keys
        .iter()
        .filter_map(|(k, v)| v.as_ref().map(|v| (*k, v.clone())))
        .collect();
    match annotations {
        Some(Value::Object(map)) => {
            for (k, v) in present {
                let path = format!("{meta}/annotations/{}", fix::escape(k));
                match map.get(k) {
                    Some(old) => {
                        ops.push(fix::test(&path, old.clone()));
                        ops.push(fix::replace(&path, v));
                    }
                    None => ops.push(fix::add(&path, v)),
                }
            }
        }
        _ => {
            let body: serde_json::Map<String, Value> = present
                .into_iter()
                .map(|(k, v)| (k.to_string(), json!(v)))
                .collect();
            if object.pointer(&meta).is_some_and(Value::is_object) {
                ops.push(fix::add(
                    &format!("{meta}/annotations"),
                    Value::Object(body),
                ));
            } else {
                ops.push(fix::add(&meta, json!({"annotations": body})));
            }
        }
    }
    fix::patch(
        workload.obj_ref(),
        &object,
        ops,
        format!(
            "Set the resources of the injected {} of {} {} through its pod-template annotations: {}",
            container.name,
            workload.kind,
            workload.name,
            changes.join(", ")
        ),
    )
}

fn hpa_ref(ns: &Namespace, hpa: &Hpa) -> ObjRef {
    ObjRef::new(
        &hpa.api_version,
        "HorizontalPodAutoscaler",
        Some(&ns.name),
        &hpa.name,
    )
}

/// The HPA findings: it scales on CPU while memory sits near its limit (the
/// seed case), it is pinned at maxReplicas, a resource metric's target
/// container has no request.
fn hpa_findings(
    ns: &Namespace,
    workload: &Workload,
    hpa: &Hpa,
    containers: &[(Container, Outcome, Current)],
    recommendations: &[Recommendation],
) -> Vec<Finding> {
    let mut findings = Vec::new();
    let object = hpa_ref(ns, hpa);
    let rec_of = |c: &Container| {
        recommendations.iter().rev().find(|r| {
            r.workload.kind == workload.kind
                && r.workload.name == workload.name
                && r.container == c.name
        })
    };

    // Memory at ≥ 90% of its limit while the HPA does not scale on memory.
    if hpa.scales_on("cpu") && !hpa.scales_on("memory") {
        for (c, outcome, current) in containers {
            let (Some(peak), Some(limit)) = (outcome.memory_peak_bytes, current.memory_limit)
            else {
                continue;
            };
            if peak < 0.9 * limit || c.plain_init() {
                continue;
            }
            let mut f = Finding::new(
                object.clone(),
                Severity::Warning,
                reasons::HPA_IGNORES_MEMORY,
                format!(
                    "HPA {} scales {} {} on CPU only, while container {} peaks at {:.0}% of its {} memory limit",
                    hpa.name,
                    workload.kind,
                    workload.name,
                    c.name,
                    100.0 * peak / limit,
                    strategy::mib(limit)
                ),
            )
            .root_cause(format!(
                "memory is the resource {} runs out of, and the HPA does not see it: load that raises memory adds no replica, the pods hit the limit and are OOM-killed",
                workload.name
            ))
            .evidence(
                Source::Metrics,
                "Prometheus peak working set".to_string(),
                format!(
                    "{} of {} limit ({:.0}%), {} OOM kill(s)",
                    strategy::mib(peak),
                    strategy::mib(limit),
                    100.0 * peak / limit,
                    outcome.oom_kills
                ),
            )
            .evidence(
                Source::Spec,
                format!("HorizontalPodAutoscaler {}", hpa.name),
                format!(
                    "metrics: {}",
                    hpa.metrics.iter().map(|m| m.describe()).collect::<Vec<_>>().join(", ")
                ),
            );
            f.id = format!("{}/{}", f.id, c.name.to_lowercase());
            if let Some(fix) = hpa_memory_metric_fix(ns, hpa, limit) {
                f = f.fix(fix);
            }
            // The other way: raise the limit (the container's own
            // recommendation, above the limit).
            if let Some(rec) = rec_of(c)
                && rec.status == "ok"
                && !c.injected
                && outcome.memory_bytes.is_some_and(|m| m as f64 > limit)
            {
                let changes = change_list(&rec.current, &rec.recommended);
                f = f.fix(resources_fix(workload, c, rec, &changes));
            }
            findings.push(f);
        }
    }

    // Pinned at maxReplicas.
    if hpa.at_max() {
        let mut f = Finding::new(
            object.clone(),
            Severity::Warning,
            reasons::HPA_AT_MAX_REPLICAS,
            format!(
                "HPA {} runs {} at maxReplicas ({} of {}): it cannot scale out further",
                hpa.name, workload.name, hpa.current, hpa.max
            ),
        )
        .evidence(
            Source::Status,
            format!("HorizontalPodAutoscaler {}", hpa.name),
            format!(
                "currentReplicas {}, desiredReplicas {}, maxReplicas {}{}; metrics: {}",
                hpa.current,
                hpa.desired,
                hpa.max,
                if hpa.limited_at_max {
                    ", ScalingLimited: TooManyReplicas"
                } else {
                    ""
                },
                hpa.metrics
                    .iter()
                    .map(|m| m.describe())
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
        );
        // What the metrics ask for, unbounded.
        let wanted = hpa
            .metrics
            .iter()
            .filter_map(|m| {
                let (cur, target) = (m.current_utilization?, m.utilization?);
                (target > 0.0).then(|| hpa::ceil((hpa.current as f64) * cur / target))
            })
            .max();
        if let Some(want) = wanted.filter(|w| *w > hpa.max) {
            f = f.root_cause(format!(
                "at today's utilization the HPA wants {want} replicas and is capped at {}: the pods run hotter than its target",
                hpa.max
            ));
            let new_max = ((want as f64) * 1.25).ceil() as u64;
            f = f.fix(fix::patch(
                object.clone(),
                &hpa.object,
                vec![
                    fix::test("/spec/scaleTargetRef/name", hpa.target_name.as_str()),
                    fix::test("/spec/maxReplicas", hpa.max),
                    fix::replace("/spec/maxReplicas", new_max),
                ],
                format!(
                    "Raise maxReplicas of HPA {} from {} to {new_max} (what it wants, {want}, + 25%)",
                    hpa.name, hpa.max
                ),
            ));
        } else {
            f = f.root_cause(
                "the HPA sits at its ceiling; its metrics do not report how many replicas it would want beyond it".to_string(),
            );
            f = f.fix(fix::needs_input(
                object.clone(),
                format!("Raise maxReplicas of HPA {} (capacity permitting)", hpa.name),
                format!(
                    "kubectl patch horizontalpodautoscalers.autoscaling {} -n {} --type=json -p '[{{\"op\":\"test\",\"path\":\"/spec/maxReplicas\",\"value\":{}}},{{\"op\":\"replace\",\"path\":\"/spec/maxReplicas\",\"value\":<replicas>}}]'",
                    hpa.name, ns.name, hpa.max
                ),
            ));
        }
        findings.push(f);
    }

    // A resource metric's utilization needs a request on its containers.
    for resource in ["cpu", "memory"] {
        for (c, _, current) in containers {
            if c.plain_init() {
                continue;
            }
            let has = match resource {
                "cpu" => current.cpu_request.is_some(),
                _ => current.memory_request.is_some(),
            };
            if has
                || !hpa
                    .metrics
                    .iter()
                    .any(|m| m.utilization_of(resource, &c.name))
            {
                continue;
            }
            let mut f = Finding::new(
                object.clone(),
                Severity::Warning,
                reasons::HPA_MISSING_REQUESTS,
                format!(
                    "HPA {} scales on {resource} utilization, and container {} of {} has no {resource} request",
                    hpa.name, c.name, workload.name
                ),
            )
            .root_cause(format!(
                "utilization is usage ÷ request: without a {resource} request on {}, the HPA cannot compute it and does not scale",
                c.name
            ))
            .evidence(
                Source::Spec,
                format!("HorizontalPodAutoscaler {}", hpa.name),
                format!(
                    "metrics: {}",
                    hpa.metrics.iter().map(|m| m.describe()).collect::<Vec<_>>().join(", ")
                ),
            )
            .evidence(
                Source::Spec,
                format!("{} {}/{} container {}", workload.kind, ns.name, workload.name, c.name),
                format!("resources: {}", if c.resources.is_null() { "none".to_string() } else { c.resources.to_string() }),
            );
            f.id = format!("{}/{}/{resource}", f.id, c.name.to_lowercase());
            if let Some(rec) = rec_of(c)
                && rec.status == "ok"
                && !c.injected
            {
                let changes = change_list(&rec.current, &rec.recommended);
                f = f.fix(resources_fix(workload, c, rec, &changes));
            } else {
                f = f.fix(fix::needs_input(
                    workload.obj_ref(),
                    format!(
                        "Set a {resource} request on container {} (there is not enough usage history to recommend one)",
                        c.name
                    ),
                    format!(
                        "kubectl set resources {} {} -n {} -c {} --requests={resource}=<quantity>",
                        workload.kind.to_lowercase(),
                        workload.name,
                        ns.name,
                        c.name
                    ),
                ));
            }
            findings.push(f);
        }
    }
    findings
}

/// Adds a memory metric to the HPA: scale out when the pods' average working
/// set passes 80% of the limit (an `AverageValue` target, which does not
/// depend on the request).
fn hpa_memory_metric_fix(ns: &Namespace, hpa: &Hpa, limit: f64) -> Option<Fix> {
    let at = crate::units::round_memory(limit * 0.8, 1);
    let metric = json!({"type": "Resource", "resource": {"name": "memory",
        "target": {"type": "AverageValue", "averageValue": format_memory(at)}}});
    let object = hpa_ref(ns, hpa);
    if !hpa.api_version.starts_with("autoscaling/v2") {
        return None;
    }
    let mut ops = vec![fix::test(
        "/spec/scaleTargetRef/name",
        hpa.target_name.as_str(),
    )];
    if hpa.default_metrics {
        // Without `metrics` the HPA scales on CPU at 80%: keep it explicit.
        ops.push(fix::add(
            "/spec/metrics",
            json!([{"type": "Resource", "resource": {"name": "cpu",
                "target": {"type": "Utilization", "averageUtilization": 80}}}, metric]),
        ));
    } else {
        let n = hpa.object["spec"]["metrics"].as_array().map_or(0, Vec::len);
        // Pin the list as read: the new metric goes after these.
        for (i, m) in hpa.object["spec"]["metrics"]
            .as_array()
            .into_iter()
            .flatten()
            .enumerate()
        {
            ops.push(fix::test(
                &format!("/spec/metrics/{i}/type"),
                m["type"].clone(),
            ));
        }
        ops.push(fix::add(&format!("/spec/metrics/{n}"), metric));
    }
    Some(fix::patch(
        object,
        &hpa.object,
        ops,
        format!(
            "Add a memory metric to HPA {}: scale out when the pods' average working set passes {} (80% of the {} limit)",
            hpa.name,
            format_memory(at),
            strategy::mib(limit)
        ),
    ))
}

#[cfg(test)]
mod tests;
