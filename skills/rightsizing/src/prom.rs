//! The PromQL the skill sends and how it reads Prometheus' answers.
//!
//! One instant query per metric per namespace, every container of the
//! namespace at once (aggregated `by (namespace, pod, container)`), never one
//! per container. The shapes are KRR's loaders
//! (`robusta_krr/core/integrations/prometheus/metrics/{cpu,memory}.py`) with
//! the pod and container selectors widened to the namespace.

use std::collections::BTreeMap;

use serde_json::Value;

/// What one query returned: a value per (pod, container), and per extra
/// label value when the query tags its parts (`resource="cpu"`).
pub type Series = BTreeMap<(String, String), f64>;

/// `namespace="NS",container!="",container!="POD"`: every real container
/// of the namespace (cAdvisor also reports the pod's cgroup with
/// `container=""` and the pause container as `POD`).
pub fn selector(namespace: &str) -> String {
    format!(
        "namespace=\"{}\",container!=\"\",container!=\"POD\"",
        escape(namespace)
    )
}

fn escape(text: &str) -> String {
    text.replace('\\', "\\\\").replace('"', "\\\"")
}

const BY: &str = "by (namespace, pod, container)";

/// The knobs the queries take.
#[derive(Clone, Debug)]
pub struct Window {
    pub window: String,
    pub step: String,
}

/// Per-pod CPU percentile (cores): KRR's `PercentileCPULoader`, the rate
/// taken over one step.
pub fn cpu_percentile(sel: &str, percentile: f64, w: &Window) -> String {
    format!(
        "quantile_over_time({q}, max {BY} (rate(container_cpu_usage_seconds_total{{{sel}}}[{step}]))[{window}:{step}])",
        q = quantile(percentile),
        step = w.step,
        window = w.window,
    )
}

/// Per-pod CPU peak (cores), for a recommended CPU limit.
pub fn cpu_max(sel: &str, w: &Window) -> String {
    format!(
        "max_over_time(max {BY} (rate(container_cpu_usage_seconds_total{{{sel}}}[{step}]))[{window}:{step}])",
        step = w.step,
        window = w.window,
    )
}

/// Per-pod peak working set (bytes): KRR's `MaxMemoryLoader`.
pub fn memory_max(sel: &str, w: &Window) -> String {
    format!(
        "max_over_time(max {BY} (container_memory_working_set_bytes{{{sel}}})[{window}:{step}])",
        step = w.step,
        window = w.window,
    )
}

/// Per-pod point counts of both metrics in one query, tagged
/// `resource="cpu"` / `resource="memory"` (KRR's `CPUAmountLoader` and
/// `MemoryAmountLoader`), and the time of each pod's first sample in the
/// window, tagged `resource="first"`.
pub fn points(sel: &str, w: &Window) -> String {
    let count = |metric: &str| {
        format!(
            "count_over_time(max {BY} ({metric}{{{sel}}})[{window}:{step}])",
            step = w.step,
            window = w.window,
        )
    };
    // The first step with a sample, for the hours of history.
    let first = format!(
        "min_over_time(timestamp(max {BY} (container_memory_working_set_bytes{{{sel}}}))[{window}:{step}])",
        step = w.step,
        window = w.window,
    );
    format!(
        "label_replace({}, \"resource\", \"cpu\", \"\", \"\") or label_replace({}, \"resource\", \"memory\", \"\", \"\") or label_replace({first}, \"resource\", \"first\", \"\", \"\")",
        count("container_cpu_usage_seconds_total"),
        count("container_memory_working_set_bytes"),
    )
}

/// Containers whose last termination within the window was an OOM kill
/// (kube-state-metrics).
pub fn oom_killed(namespace: &str, w: &Window) -> String {
    format!(
        "max {BY} (max_over_time(kube_pod_container_status_last_terminated_reason{{namespace=\"{}\",reason=\"OOMKilled\"}}[{}]))",
        escape(namespace),
        w.window,
    )
}

/// `95` → `0.95`; `99.9` → `0.999`.
pub fn quantile(percentile: f64) -> String {
    let q = percentile / 100.0;
    let mut s = format!("{q:.6}");
    while s.ends_with('0') {
        s.pop();
    }
    if s.ends_with('.') {
        s.push('0');
    }
    s
}

/// Reads an instant-query answer (Prometheus' `data` object) into a value
/// per (pod, container); with `tag`, only the series whose label `tag`
/// equals `tag_value`. `NaN` and unparsable samples are skipped; an answer
/// that is not a vector is an error naming what came instead.
pub fn vector(data: &Value, tag: Option<(&str, &str)>) -> Result<Series, String> {
    let kind = data["resultType"].as_str().unwrap_or("");
    if kind != "vector" {
        return Err(format!(
            "expected a vector, Prometheus answered resultType {}",
            if kind.is_empty() { "(none)" } else { kind }
        ));
    }
    let result = data["result"]
        .as_array()
        .ok_or("the answer has no `result` array")?;
    let mut out = Series::new();
    for series in result {
        let metric = &series["metric"];
        if let Some((label, want)) = tag
            && metric[label].as_str() != Some(want)
        {
            continue;
        }
        let (Some(pod), Some(container)) = (metric["pod"].as_str(), metric["container"].as_str())
        else {
            continue;
        };
        let Some(value) = series["value"][1]
            .as_str()
            .and_then(|s| s.parse::<f64>().ok())
            .filter(|v| v.is_finite())
        else {
            continue;
        };
        let slot = out
            .entry((pod.to_string(), container.to_string()))
            .or_insert(f64::MIN);
        *slot = slot.max(value);
    }
    Ok(out)
}

/// When Prometheus evaluated an instant query (the samples' timestamp).
pub fn evaluated_at(data: &Value) -> Option<f64> {
    data["result"]
        .as_array()?
        .iter()
        .find_map(|s| s["value"][0].as_f64())
}

/// One value of an instant query whose series carry no pod (the `explain`
/// distribution), by the value of `label`.
pub fn by_label(data: &Value, label: &str) -> Result<BTreeMap<String, f64>, String> {
    let kind = data["resultType"].as_str().unwrap_or("");
    if kind != "vector" {
        return Err(format!(
            "expected a vector, Prometheus answered resultType {kind}"
        ));
    }
    let mut out = BTreeMap::new();
    for series in data["result"].as_array().into_iter().flatten() {
        let Some(key) = series["metric"][label].as_str() else {
            continue;
        };
        if let Some(v) = series["value"][1]
            .as_str()
            .and_then(|s| s.parse::<f64>().ok())
            .filter(|v| v.is_finite())
        {
            out.insert(key.to_string(), v);
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn w() -> Window {
        Window {
            window: "14d".into(),
            step: "5m".into(),
        }
    }

    #[test]
    fn queries_cover_the_namespace_not_a_container() {
        let sel = selector("shop");
        let q = cpu_percentile(&sel, 95.0, &w());
        assert_eq!(
            q,
            "quantile_over_time(0.95, max by (namespace, pod, container) (rate(container_cpu_usage_seconds_total{namespace=\"shop\",container!=\"\",container!=\"POD\"}[5m]))[14d:5m])"
        );
        assert!(!q.contains("pod=~"));
        assert_eq!(
            memory_max(&sel, &w()),
            "max_over_time(max by (namespace, pod, container) (container_memory_working_set_bytes{namespace=\"shop\",container!=\"\",container!=\"POD\"})[14d:5m])"
        );
        let p = points(&sel, &w());
        assert!(p.contains(
            "count_over_time(max by (namespace, pod, container) (container_cpu_usage_seconds_total{"
        ));
        assert!(p.contains("\"resource\", \"memory\""));
        assert!(p.contains("or label_replace(min_over_time(timestamp(max by (namespace, pod, container) (container_memory_working_set_bytes{"));
        assert!(oom_killed("shop", &w()).contains("reason=\"OOMKilled\"}[14d]"));
        assert_eq!(quantile(99.9), "0.999");
        assert_eq!(quantile(50.0), "0.5");
        assert_eq!(quantile(100.0), "1.0");
    }

    #[test]
    fn reads_a_prometheus_vector() {
        let data = json!({"resultType": "vector", "result": [
            {"metric": {"namespace": "shop", "pod": "checkout-7d9f8b6c5d-abcde", "container": "app"},
             "value": [1733500000.0, "0.1183"]},
            {"metric": {"namespace": "shop", "pod": "checkout-7d9f8b6c5d-abcde", "container": "envoy"},
             "value": [1733500000.0, "NaN"]},
            {"metric": {"namespace": "shop", "pod": "checkout-7d9f8b6c5d-fghij", "container": "app", "resource": "x"},
             "value": [1733500000.0, "0.2"]}
        ]});
        let s = vector(&data, None).unwrap();
        assert_eq!(s.len(), 2);
        assert_eq!(
            s[&("checkout-7d9f8b6c5d-abcde".into(), "app".into())],
            0.1183
        );
        let tagged = vector(&data, Some(("resource", "x"))).unwrap();
        assert_eq!(tagged.len(), 1);
        let e = vector(&json!({"resultType": "matrix", "result": []}), None).unwrap_err();
        assert!(e.contains("matrix"), "{e}");
        assert!(vector(&json!("garbage"), None).is_err());
        assert_eq!(evaluated_at(&data), Some(1733500000.0));
    }
}
