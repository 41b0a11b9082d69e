//! HorizontalPodAutoscalers (autoscaling/v2, and v1's
//! `targetCPUUtilizationPercentage`): what they scale on, and what a
//! change of request does to them — a resource metric's utilization is
//! usage ÷ request, so the request is its denominator.

use serde::Serialize;
use serde_json::Value;

/// One metric of an HPA.
#[derive(Clone, Debug, PartialEq)]
pub struct Metric {
    /// `Resource`, `ContainerResource`, `Pods`, `Object`, `External`.
    pub kind: String,
    /// `cpu`, `memory`, or the custom metric's name.
    pub name: String,
    /// ContainerResource's container.
    pub container: Option<String>,
    /// `Utilization`, `AverageValue`, `Value`.
    pub target_type: String,
    pub utilization: Option<f64>,
    pub average_value: Option<String>,
    /// Current average utilization from the status, when reported.
    pub current_utilization: Option<f64>,
}

impl Metric {
    pub fn describe(&self) -> String {
        let what = match &self.container {
            Some(c) => format!("{} of container {c}", self.name),
            None => self.name.clone(),
        };
        let target = match (&self.utilization, &self.average_value) {
            (Some(u), _) => format!("{u}% utilization"),
            (None, Some(v)) => format!("average {v}"),
            _ => self.target_type.clone(),
        };
        let current = self
            .current_utilization
            .map(|c| format!(" (current {c}%)"))
            .unwrap_or_default();
        format!("{what}: {target}{current}")
    }

    /// Scales on the utilization of `resource` (of `container`, or of the
    /// whole pod).
    pub fn utilization_of(&self, resource: &str, container: &str) -> bool {
        self.name == resource
            && self.utilization.is_some()
            && (self.kind == "Resource"
                || (self.kind == "ContainerResource"
                    && self.container.as_deref() == Some(container)))
    }

    fn is_resource(&self, resource: &str) -> bool {
        (self.kind == "Resource" || self.kind == "ContainerResource") && self.name == resource
    }
}

/// An HPA as the skill reads it.
#[derive(Clone, Debug)]
pub struct Hpa {
    pub name: String,
    pub api_version: String,
    pub target_kind: String,
    pub target_name: String,
    pub min: u64,
    pub max: u64,
    pub current: u64,
    pub desired: u64,
    pub metrics: Vec<Metric>,
    /// `spec.metrics` is absent (the default, CPU at 80%).
    pub default_metrics: bool,
    /// `ScalingLimited` with reason `TooManyReplicas`.
    pub limited_at_max: bool,
    pub object: Value,
}

/// What the output's `hpa` field shows.
#[derive(Clone, Debug, Serialize)]
pub struct HpaView {
    pub name: String,
    pub metrics: Vec<String>,
    pub min: u64,
    pub max: u64,
    pub current: u64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
}

impl Hpa {
    pub fn parse(object: &Value) -> Option<Hpa> {
        let spec = &object["spec"];
        let status = &object["status"];
        let target = &spec["scaleTargetRef"];
        let mut metrics = Vec::new();
        let mut default_metrics = false;
        if let Some(list) = spec["metrics"].as_array() {
            for m in list {
                let kind = m["type"].as_str().unwrap_or("").to_string();
                let body = match kind.as_str() {
                    "Resource" => &m["resource"],
                    "ContainerResource" => &m["containerResource"],
                    "Pods" => &m["pods"],
                    "Object" => &m["object"],
                    "External" => &m["external"],
                    _ => &Value::Null,
                };
                let name = body["name"]
                    .as_str()
                    .or_else(|| body["metric"]["name"].as_str())
                    .unwrap_or("")
                    .to_string();
                let container = body["container"].as_str().map(str::to_string);
                let current_utilization = status["currentMetrics"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .find(|c| {
                        c["type"] == kind
                            && match kind.as_str() {
                                "Resource" => c["resource"]["name"] == name.as_str(),
                                "ContainerResource" => {
                                    c["containerResource"]["name"] == name.as_str()
                                        && c["containerResource"]["container"].as_str()
                                            == container.as_deref()
                                }
                                _ => false,
                            }
                    })
                    .and_then(|c| {
                        c["resource"]["current"]["averageUtilization"]
                            .as_f64()
                            .or_else(|| {
                                c["containerResource"]["current"]["averageUtilization"].as_f64()
                            })
                    });
                metrics.push(Metric {
                    kind,
                    name,
                    container,
                    target_type: body["target"]["type"].as_str().unwrap_or("").to_string(),
                    utilization: body["target"]["averageUtilization"].as_f64(),
                    average_value: body["target"]["averageValue"].as_str().map(str::to_string),
                    current_utilization,
                });
            }
        } else if let Some(cpu) = spec["targetCPUUtilizationPercentage"].as_f64() {
            // autoscaling/v1
            metrics.push(Metric {
                kind: "Resource".into(),
                name: "cpu".into(),
                container: None,
                target_type: "Utilization".into(),
                utilization: Some(cpu),
                average_value: None,
                current_utilization: status["currentCPUUtilizationPercentage"].as_f64(),
            });
        } else {
            // No metrics: the HPA controller's default, CPU at 80%.
            default_metrics = true;
            metrics.push(Metric {
                kind: "Resource".into(),
                name: "cpu".into(),
                container: None,
                target_type: "Utilization".into(),
                utilization: Some(80.0),
                average_value: None,
                current_utilization: None,
            });
        }
        let limited_at_max = status["conditions"]
            .as_array()
            .into_iter()
            .flatten()
            .any(|c| {
                c["type"] == "ScalingLimited"
                    && c["status"] == "True"
                    && c["reason"] == "TooManyReplicas"
            });
        Some(Hpa {
            name: object["metadata"]["name"].as_str()?.to_string(),
            api_version: object["apiVersion"]
                .as_str()
                .unwrap_or("autoscaling/v2")
                .to_string(),
            target_kind: target["kind"].as_str()?.to_string(),
            target_name: target["name"].as_str()?.to_string(),
            min: spec["minReplicas"].as_u64().unwrap_or(1),
            max: spec["maxReplicas"].as_u64().unwrap_or(0),
            current: status["currentReplicas"].as_u64().unwrap_or(0),
            desired: status["desiredReplicas"].as_u64().unwrap_or(0),
            metrics,
            default_metrics,
            limited_at_max,
            object: object.clone(),
        })
    }

    pub fn scales_on(&self, resource: &str) -> bool {
        self.metrics.iter().any(|m| m.is_resource(resource))
    }

    /// At `maxReplicas` (by status, or by the ScalingLimited condition).
    pub fn at_max(&self) -> bool {
        self.max > 0 && (self.limited_at_max || self.current >= self.max)
    }

    pub fn view(&self, note: Option<String>) -> HpaView {
        HpaView {
            name: self.name.clone(),
            metrics: self.metrics.iter().map(Metric::describe).collect(),
            min: self.min,
            max: self.max,
            current: self.current,
            note,
        }
    }
}

/// Rounds up, forgiving the last bits of floating-point error (3 × 100 / 50
/// computed as 6.000000000000001 is 6 replicas, not 7).
pub fn ceil(x: f64) -> u64 {
    (x - 1e-9).ceil().max(0.0) as u64
}

/// What changing a request from `old` to `new` does to an HPA metric on that
/// resource's utilization: a sentence, and the replicas it would want at the
/// same usage (when the HPA reports its current utilization).
pub fn request_change_effect(
    hpa: &Hpa,
    metric: &Metric,
    resource: &str,
    old: f64,
    new: f64,
    old_text: &str,
    new_text: &str,
) -> (String, Option<u64>) {
    let target = metric.utilization.unwrap_or(0.0);
    let factor = old / new;
    let keep = target * factor;
    let mut text = format!(
        "HPA {} scales on {resource} utilization (usage ÷ request, target {target}%): with the request at {new_text} instead of {old_text}, the same usage reads {factor:.2}× the utilization, so it scales out at {:.0}% of the old per-pod usage; to keep its scaling points, set its target to {keep:.0}%",
        hpa.name,
        100.0 / factor,
    );
    let mut wanted = None;
    if let Some(cur) = metric.current_utilization
        && target > 0.0
        && hpa.current > 0
    {
        let new_util = cur * factor;
        let want = ceil((hpa.current as f64) * new_util / target);
        let clamped = want.clamp(hpa.min.max(1), hpa.max.max(1));
        text.push_str(&format!(
            "; at today's usage ({cur}% now, {new_util:.0}% after) it would want {want} replica{} instead of {}{}",
            if want == 1 { "" } else { "s" },
            hpa.current,
            if want > hpa.max {
                format!(" — more than maxReplicas ({}), so it would sit at {clamped}", hpa.max)
            } else {
                String::new()
            }
        ));
        wanted = Some(want);
    }
    (text, wanted)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    pub fn cpu_hpa(current: u64, max: u64, util: f64) -> Value {
        json!({"apiVersion": "autoscaling/v2", "kind": "HorizontalPodAutoscaler",
            "metadata": {"name": "checkout"},
            "spec": {"scaleTargetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": "checkout"},
                     "minReplicas": 2, "maxReplicas": max,
                     "metrics": [{"type": "Resource", "resource": {"name": "cpu",
                                  "target": {"type": "Utilization", "averageUtilization": 50}}}]},
            "status": {"currentReplicas": current, "desiredReplicas": current,
                       "currentMetrics": [{"type": "Resource", "resource": {"name": "cpu",
                           "current": {"averageUtilization": util, "averageValue": "120m"}}}]}})
    }

    #[test]
    fn parses_v2_v1_and_the_default() {
        let h = Hpa::parse(&cpu_hpa(4, 10, 40.0)).unwrap();
        assert!(h.scales_on("cpu") && !h.scales_on("memory"));
        assert_eq!(h.metrics[0].current_utilization, Some(40.0));
        assert_eq!(
            h.metrics[0].describe(),
            "cpu: 50% utilization (current 40%)"
        );
        assert!(!h.at_max());
        let v1 = Hpa::parse(&json!({"metadata": {"name": "x"},
            "spec": {"scaleTargetRef": {"kind": "Deployment", "name": "x"}, "maxReplicas": 3,
                     "targetCPUUtilizationPercentage": 70},
            "status": {"currentReplicas": 3}}))
        .unwrap();
        assert!(v1.metrics[0].utilization_of("cpu", "app"));
        assert!(v1.at_max());
        let default = Hpa::parse(&json!({"metadata": {"name": "x"},
            "spec": {"scaleTargetRef": {"kind": "Deployment", "name": "x"}, "maxReplicas": 3}}))
        .unwrap();
        assert!(default.default_metrics && default.scales_on("cpu"));
    }

    #[test]
    fn a_lower_cpu_request_makes_the_hpa_scale_out() {
        let h = Hpa::parse(&cpu_hpa(4, 10, 40.0)).unwrap();
        // 500m → 125m: 4× the utilization, 160% against 50% → 13 wanted.
        let (text, want) =
            request_change_effect(&h, &h.metrics[0], "cpu", 0.5, 0.125, "500m", "125m");
        assert_eq!(want, Some(13));
        assert!(text.contains("4.00×"), "{text}");
        assert!(text.contains("set its target to 200%"), "{text}");
        assert!(text.contains("more than maxReplicas (10)"), "{text}");
    }
}
