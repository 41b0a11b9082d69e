//! The recommendation for one container from its pods' usage: KRR's
//! "simple" strategy (`robusta_krr/strategies/simple.py`) and its rounding
//! (`robusta_krr/core/runner.py`), then what Guardian adds — OOM kills and
//! usage pinned at the limit mean the peak is censored, so memory is
//! recommended above the limit, never below.

use std::collections::BTreeMap;

use crate::units::{round_cpu, round_memory};

/// The knobs of the strategy.
#[derive(Clone, Debug)]
pub struct Knobs {
    pub cpu_percentile: f64,
    pub memory_buffer_percent: f64,
    pub min_points: u64,
    pub min_hours: Option<f64>,
    pub min_cpu_millicores: u64,
    pub min_memory_mib: u64,
    pub cpu_limit: bool,
    pub window: String,
    pub step: String,
}

/// What Prometheus says about one pod's container.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct PodUsage {
    /// The CPU percentile over the window, cores.
    pub cpu: Option<f64>,
    /// The CPU peak over the window, cores (only with `cpu_limit`).
    pub cpu_max: Option<f64>,
    /// The working-set peak over the window, bytes.
    pub memory: Option<f64>,
    pub cpu_points: f64,
    pub memory_points: f64,
    /// kube-state-metrics saw an OOMKilled termination in the window.
    pub oom_killed: bool,
    /// Hours from the pod's first sample in the window to its end.
    pub hours: Option<f64>,
}

/// The container's current resources, as quantities.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct Current {
    pub cpu_request: Option<f64>,
    pub cpu_limit: Option<f64>,
    pub memory_request: Option<f64>,
    pub memory_limit: Option<f64>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Status {
    Ok,
    NotEnoughData,
    NoData,
    Unchanged,
}

impl Status {
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Ok => "ok",
            Status::NotEnoughData => "not_enough_data",
            Status::NoData => "no_data",
            Status::Unchanged => "unchanged",
        }
    }
}

/// The outcome for one container.
#[derive(Clone, Debug, PartialEq)]
pub struct Outcome {
    pub status: Status,
    pub cpu_request_millicores: Option<u64>,
    /// `Some` only when `cpu_limit` is asked for.
    pub cpu_limit_millicores: Option<u64>,
    /// Request and limit.
    pub memory_bytes: Option<u64>,
    /// Max over pods of the per-pod percentile, millicores, unrounded.
    pub cpu_value_millicores: Option<f64>,
    pub cpu_peak_millicores: Option<f64>,
    pub memory_peak_bytes: Option<f64>,
    /// Sum over pods of the point counts (the smaller of CPU's and
    /// memory's).
    pub points: u64,
    /// Hours of history: from the workload's first sample to the end of
    /// the window.
    pub hours: Option<f64>,
    pub pods: usize,
    pub oom_kills: u64,
    /// Peak ≥ 95% of the memory limit.
    pub memory_at_limit: bool,
    /// Peak / limit.
    pub memory_limit_ratio: Option<f64>,
    /// The peak is censored (OOM kills or pinned at the limit): memory is
    /// recommended above the limit.
    pub censored: bool,
    pub why: Vec<String>,
}

/// Below this relative change (and with no risk), a recommendation is
/// `unchanged`: not worth a rollout.
pub const TOLERANCE: f64 = 0.05;

/// `pinned at the limit`: the peak is at least this share of the limit.
pub const AT_LIMIT: f64 = 0.95;

/// The recommendation for a container from its pods' usage (`usage`, by pod;
/// `None` when no usage history could be read, with `unavailable` saying
/// why) and the OOM kills seen in the cluster (`oom_kills`).
pub fn recommend(
    usage: Option<&BTreeMap<String, PodUsage>>,
    unavailable: Option<&str>,
    current: &Current,
    oom_kills: u64,
    knobs: &Knobs,
) -> Outcome {
    let mut out = Outcome {
        status: Status::NotEnoughData,
        cpu_request_millicores: None,
        cpu_limit_millicores: None,
        memory_bytes: None,
        cpu_value_millicores: None,
        cpu_peak_millicores: None,
        memory_peak_bytes: None,
        points: 0,
        hours: None,
        pods: 0,
        oom_kills,
        memory_at_limit: false,
        memory_limit_ratio: None,
        censored: false,
        why: Vec::new(),
    };
    let Some(usage) = usage else {
        out.why.push(format!(
            "no usage history could be read ({}): no recommendation without data",
            unavailable.unwrap_or("no metrics source")
        ));
        return out;
    };
    let with_data: Vec<&PodUsage> = usage
        .values()
        .filter(|u| u.cpu.is_some() || u.memory.is_some() || u.cpu_points > 0.0)
        .collect();
    out.pods = with_data.len();
    let cpu_points: f64 = usage.values().map(|u| u.cpu_points).sum();
    let memory_points: f64 = usage.values().map(|u| u.memory_points).sum();
    out.points = cpu_points.min(memory_points).max(0.0) as u64;
    out.oom_kills = oom_kills.max(usage.values().filter(|u| u.oom_killed).count() as u64);
    out.hours = max(usage.values().filter_map(|u| u.hours));
    let cpu = max(usage.values().filter_map(|u| u.cpu));
    let cpu_peak = max(usage.values().filter_map(|u| u.cpu_max));
    let memory = max(usage.values().filter_map(|u| u.memory));
    out.cpu_value_millicores = cpu.map(|c| c * 1000.0);
    out.cpu_peak_millicores = cpu_peak.map(|c| c * 1000.0);
    out.memory_peak_bytes = memory;
    if let (Some(peak), Some(limit)) = (memory, current.memory_limit)
        && limit > 0.0
    {
        out.memory_limit_ratio = Some(peak / limit);
        out.memory_at_limit = peak >= AT_LIMIT * limit;
    }

    if with_data.is_empty() && cpu.is_none() && memory.is_none() {
        out.status = Status::NoData;
        out.why.push(format!(
            "Prometheus has no usage of this container over {}",
            knobs.window
        ));
        return out;
    }
    if out.points < knobs.min_points {
        out.status = Status::NotEnoughData;
        out.why.push(format!(
            "{} data points over {} (CPU {}, memory {}), {} needed: no recommendation without enough data",
            out.points, knobs.window, cpu_points as u64, memory_points as u64, knobs.min_points
        ));
        return out;
    }
    if cpu.is_none() || memory.is_none() {
        out.status = Status::NotEnoughData;
        out.why.push(if cpu.is_none() {
            format!(
                "{} data points, but no CPU rate: a rate over one step ({}) needs two samples in it — the samples are further apart than the step; use a step of at least twice the scrape interval",
                out.points, knobs.step
            )
        } else {
            format!("{} data points, but no memory peak", out.points)
        });
        return out;
    }
    if let Some(min) = knobs.min_hours
        && out.hours.unwrap_or(0.0) < min
    {
        out.status = Status::NotEnoughData;
        out.why.push(format!(
            "{:.1} hours of history, {min} needed: no recommendation without enough data",
            out.hours.unwrap_or(0.0)
        ));
        return out;
    }
    let (cpu, memory) = (cpu.unwrap_or(0.0), memory.unwrap_or(0.0));

    // CPU: KRR's max over pods of the per-pod percentile, rounded up to 1m.
    let cpu_mc = round_cpu(cpu, knobs.min_cpu_millicores);
    out.cpu_request_millicores = Some(cpu_mc);
    out.why.push(format!(
        "CPU request = p{} of per-pod usage over {} ({:.1}m, the highest of {} pod{}), rounded up to {}m{}",
        fmt_num(knobs.cpu_percentile),
        knobs.window,
        cpu * 1000.0,
        out.pods,
        if out.pods == 1 { "" } else { "s" },
        cpu_mc,
        if cpu_mc == knobs.min_cpu_millicores && cpu * 1000.0 < knobs.min_cpu_millicores as f64 {
            format!(" (the minimum, {}m)", knobs.min_cpu_millicores)
        } else {
            String::new()
        }
    ));
    if knobs.cpu_limit {
        let peak = cpu_peak.unwrap_or(cpu).max(cpu);
        let limit = round_cpu(peak, knobs.min_cpu_millicores).max(cpu_mc);
        out.cpu_limit_millicores = Some(limit);
        out.why.push(format!(
            "CPU limit = the per-pod peak over {} ({:.1}m), rounded up",
            knobs.window,
            peak * 1000.0
        ));
    }

    // Memory: KRR's peak × (1 + buffer), request = limit.
    let buffered = memory * (1.0 + knobs.memory_buffer_percent / 100.0);
    let mut bytes = round_memory(buffered, knobs.min_memory_mib);
    out.why.push(format!(
        "memory request = limit = peak working set over {} ({}) + {}% = {}",
        knobs.window,
        mib(memory),
        fmt_num(knobs.memory_buffer_percent),
        crate::units::format_memory(bytes)
    ));
    out.censored = out.oom_kills > 0 || out.memory_at_limit;
    if out.censored
        && let Some(limit) = current.memory_limit
    {
        let above = round_memory(limit * 1.25, knobs.min_memory_mib);
        let cause = if out.oom_kills > 0 {
            format!("{} OOM kill(s)", out.oom_kills)
        } else {
            format!(
                "the peak is {:.0}% of the limit",
                100.0 * memory / limit.max(1.0)
            )
        };
        if above > bytes {
            bytes = above;
        }
        out.why.push(format!(
            "{cause}: the real peak is hidden by the limit ({}), so memory = max(limit × 1.25, peak + buffer) = {}, never below the limit",
            mib(limit),
            crate::units::format_memory(bytes)
        ));
    }
    out.memory_bytes = Some(bytes);
    out.status = Status::Ok;
    out
}

/// Whether the recommendation is close enough to the current values (every
/// value within [`TOLERANCE`]) that a change is not worth a rollout. A
/// missing current value is never close.
pub fn is_unchanged(out: &Outcome, current: &Current) -> bool {
    let close = |new: Option<f64>, old: Option<f64>| match (new, old) {
        (None, _) => true,
        (Some(n), Some(o)) => (n - o).abs() <= TOLERANCE * o,
        (Some(_), None) => false,
    };
    let mem = out.memory_bytes.map(|b| b as f64);
    !out.censored
        && close(
            out.cpu_request_millicores.map(|m| m as f64 / 1000.0),
            current.cpu_request,
        )
        && close(
            out.cpu_limit_millicores.map(|m| m as f64 / 1000.0),
            current.cpu_limit,
        )
        && close(mem, current.memory_request)
        && close(mem, current.memory_limit)
}

fn max(values: impl Iterator<Item = f64>) -> Option<f64> {
    values.fold(None, |acc, v| Some(acc.map_or(v, |a: f64| a.max(v))))
}

/// `1 234.5Mi`-style figure for the explanations.
pub fn mib(bytes: f64) -> String {
    format!("{:.1}Mi", bytes / (1024.0 * 1024.0))
}

fn fmt_num(v: f64) -> String {
    if v.fract() == 0.0 {
        format!("{}", v as i64)
    } else {
        format!("{v}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    pub fn knobs() -> Knobs {
        Knobs {
            cpu_percentile: 95.0,
            memory_buffer_percent: 15.0,
            min_points: 100,
            min_hours: None,
            min_cpu_millicores: 10,
            min_memory_mib: 100,
            cpu_limit: false,
            window: "14d".into(),
            step: "5m".into(),
        }
    }

    fn pod(cpu: f64, memory: f64, points: f64) -> PodUsage {
        PodUsage {
            cpu: Some(cpu),
            memory: Some(memory),
            cpu_points: points,
            memory_points: points,
            ..Default::default()
        }
    }

    const MI: f64 = 1024.0 * 1024.0;

    #[test]
    fn krr_simple_strategy_parity() {
        let usage = BTreeMap::from([
            ("a".to_string(), pod(0.1183, 200.0 * MI, 2000.0)),
            ("b".to_string(), pod(0.0901, 260.4 * MI, 2032.0)),
        ]);
        let current = Current {
            cpu_request: Some(0.5),
            memory_request: Some(256.0 * MI),
            memory_limit: Some(512.0 * MI),
            ..Default::default()
        };
        let out = recommend(Some(&usage), None, &current, 0, &knobs());
        assert_eq!(out.status, Status::Ok);
        // max over pods of the per-pod p95, ceil to 1m.
        assert_eq!(out.cpu_request_millicores, Some(119));
        assert_eq!(out.cpu_limit_millicores, None);
        // ceil(260.4 × 1.15 = 299.46 Mi) = 300Mi.
        assert_eq!(out.memory_bytes, Some(300 * 1024 * 1024));
        assert_eq!(out.points, 4032);
        assert_eq!(out.pods, 2);
        assert!(!out.censored);
        assert!(!is_unchanged(&out, &current));
    }

    #[test]
    fn minimums_apply() {
        let usage = BTreeMap::from([("a".to_string(), pod(0.0004, 3.0 * MI, 500.0))]);
        let out = recommend(Some(&usage), None, &Current::default(), 0, &knobs());
        assert_eq!(out.cpu_request_millicores, Some(10));
        assert_eq!(out.memory_bytes, Some(100 * 1024 * 1024));
    }

    #[test]
    fn too_little_data_is_not_a_guess() {
        let usage = BTreeMap::from([("a".to_string(), pod(0.2, 100.0 * MI, 99.0))]);
        let out = recommend(Some(&usage), None, &Current::default(), 0, &knobs());
        assert_eq!(out.status, Status::NotEnoughData);
        assert_eq!(out.cpu_request_millicores, None);
        assert_eq!(out.memory_bytes, None);
        assert!(out.why[0].contains("99 data points"), "{:?}", out.why);
        // Exactly the minimum is enough (KRR: `< points_required`).
        let usage = BTreeMap::from([("a".to_string(), pod(0.2, 100.0 * MI, 100.0))]);
        let out = recommend(Some(&usage), None, &Current::default(), 0, &knobs());
        assert_eq!(out.status, Status::Ok);
        // No history at all.
        let out = recommend(
            None,
            Some("unavailable: no Prometheus"),
            &Current::default(),
            0,
            &knobs(),
        );
        assert_eq!(out.status, Status::NotEnoughData);
        assert!(out.why[0].contains("unavailable: no Prometheus"));
        let out = recommend(
            Some(&BTreeMap::new()),
            None,
            &Current::default(),
            0,
            &knobs(),
        );
        assert_eq!(out.status, Status::NoData);
    }

    #[test]
    fn oom_killed_memory_is_never_below_the_limit() {
        // The peak the limit let through (its cgroup was killed at 512Mi)
        // reads lower than the limit: KRR would recommend 345Mi.
        let usage = BTreeMap::from([("a".to_string(), pod(0.1, 300.0 * MI, 4000.0))]);
        let current = Current {
            memory_request: Some(512.0 * MI),
            memory_limit: Some(512.0 * MI),
            ..Default::default()
        };
        let out = recommend(Some(&usage), None, &current, 2, &knobs());
        assert!(out.censored);
        assert_eq!(out.memory_bytes, Some(640 * 1024 * 1024));
        assert!(out.memory_bytes.unwrap() as f64 > 512.0 * MI);
        // The OOM seen only by kube-state-metrics counts too.
        let mut p = pod(0.1, 300.0 * MI, 4000.0);
        p.oom_killed = true;
        let usage = BTreeMap::from([("a".to_string(), p)]);
        let out = recommend(Some(&usage), None, &current, 0, &knobs());
        assert_eq!(out.oom_kills, 1);
        assert_eq!(out.memory_bytes, Some(640 * 1024 * 1024));
        // Pinned at the limit without a kill: censored too.
        let usage = BTreeMap::from([("a".to_string(), pod(0.1, 500.0 * MI, 4000.0))]);
        let out = recommend(Some(&usage), None, &current, 0, &knobs());
        assert!(out.memory_at_limit && out.censored);
        assert_eq!(out.memory_bytes, Some(640 * 1024 * 1024));
        // When peak + buffer is larger (the limit was lowered since the
        // peak), it wins: ceil(610 × 1.15) = 702Mi > 500 × 1.25.
        let current = Current {
            memory_limit: Some(500.0 * MI),
            ..Default::default()
        };
        let usage = BTreeMap::from([("a".to_string(), pod(0.1, 610.0 * MI, 4000.0))]);
        let out = recommend(Some(&usage), None, &current, 1, &knobs());
        assert_eq!(out.memory_bytes, Some(702 * 1024 * 1024));
    }

    #[test]
    fn too_few_hours_is_not_enough_data_when_asked() {
        let mut p = pod(0.1, 100.0 * MI, 4000.0);
        p.hours = Some(2.5);
        let usage = BTreeMap::from([("a".to_string(), p)]);
        let mut k = knobs();
        let out = recommend(Some(&usage), None, &Current::default(), 0, &k);
        assert_eq!((out.status, out.hours), (Status::Ok, Some(2.5)));
        k.min_hours = Some(3.0);
        let out = recommend(Some(&usage), None, &Current::default(), 0, &k);
        assert_eq!(out.status, Status::NotEnoughData);
        assert_eq!(out.memory_bytes, None);
        assert!(
            out.why[0].starts_with("2.5 hours of history, 3 needed"),
            "{:?}",
            out.why
        );
    }

    #[test]
    fn points_without_a_cpu_rate_say_why() {
        // A step shorter than the scrape interval: the counter is sampled
        // (points) but a rate over one step has one sample, so no value.
        let mut p = pod(0.1, 100.0 * MI, 2306.0);
        p.cpu = None;
        let usage = BTreeMap::from([("a".to_string(), p)]);
        let out = recommend(Some(&usage), None, &Current::default(), 0, &knobs());
        assert_eq!(out.status, Status::NotEnoughData);
        assert!(out.why[0].contains("no CPU rate"), "{:?}", out.why);
    }

    #[test]
    fn cpu_limit_when_asked() {
        let mut p = pod(0.1, 100.0 * MI, 4000.0);
        p.cpu_max = Some(0.4321);
        let usage = BTreeMap::from([("a".to_string(), p)]);
        let mut k = knobs();
        k.cpu_limit = true;
        let out = recommend(Some(&usage), None, &Current::default(), 0, &k);
        assert_eq!(out.cpu_limit_millicores, Some(433));
    }

    #[test]
    fn small_changes_are_unchanged() {
        let usage = BTreeMap::from([("a".to_string(), pod(0.098, 250.0 * MI, 4000.0))]);
        let current = Current {
            cpu_request: Some(0.1),
            memory_request: Some(288.0 * MI),
            memory_limit: Some(288.0 * MI),
            ..Default::default()
        };
        let out = recommend(Some(&usage), None, &current, 0, &knobs());
        assert_eq!(out.memory_bytes, Some(288 * 1024 * 1024));
        assert!(is_unchanged(&out, &current));
        let none = Current::default();
        assert!(!is_unchanged(&out, &none));
    }
}
