//! The rightsize operation: `rightsizing.recommend` over a namespace, a
//! workload or every namespace — requests and limits from real usage, HPA
//! advice — with the fixes optionally stored as pending actions. The CLI,
//! gRPC, MCP and the reasoner call this; none of them holds its own copy.

use std::time::Instant;

use guardian_runtime::CallError;
use serde::Deserialize;
use serde_json::{Map, Value, json};

use crate::diagnose::{DiagnoseError, propose_report_fixes, skill_context};

/// The right-sizing skill.
pub const RIGHTSIZING_SKILL: &str = "rightsizing";
/// Its recommend tool, qualified.
pub const RECOMMEND: &str = "rightsizing.recommend";
const RECOMMEND_TOOL: &str = "recommend";

/// What to right-size, and how. `None` knobs take the config file's
/// `rightsizing:` values, else the skill's defaults (KRR's: p95 CPU, 15%
/// memory buffer, 14 days at 5 minutes, 100 points).
#[derive(Clone, Debug, Default)]
pub struct RightsizeRequest {
    /// One namespace; `None` with `all_namespaces` for every one.
    pub namespace: Option<String>,
    pub all_namespaces: bool,
    /// `kind/name` or a name: one workload of the namespace.
    pub workload: Option<String>,
    /// A Prometheus duration: `14d`.
    pub window: Option<String>,
    pub step: Option<String>,
    pub cpu_percentile: Option<f64>,
    pub memory_buffer_percent: Option<f64>,
    /// Recommend a CPU limit too.
    pub cpu_limit: bool,
    pub min_points: Option<u64>,
    /// Monthly cost figures from these prices.
    pub prices: Option<Prices>,
    /// Check each fix by server-side dry-run.
    pub dry_run: bool,
    /// Store each fix whose dry-run passed as a pending action.
    pub propose: bool,
    /// The end of the window (RFC 3339 or Unix seconds); now when `None`.
    pub at: Option<String>,
}

/// Prices for the cost figure.
#[derive(Clone, Copy, Debug, Default, PartialEq, Deserialize, serde::Serialize)]
#[serde(deny_unknown_fields)]
pub struct Prices {
    /// Per CPU core and hour.
    pub core_hour: f64,
    /// Per GiB of memory and hour.
    pub gib_hour: f64,
}

/// The `rightsizing:` section of the config file: defaults for the knobs.
///
/// ```yaml
/// rightsizing:
///   window: 14d
///   step: 5m
///   cpu_percentile: 95
///   memory_buffer_percent: 15
///   min_points: 100
///   prices: { core_hour: 0.031, gib_hour: 0.004 }
/// ```
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RightsizingConfig {
    pub window: Option<String>,
    pub step: Option<String>,
    pub cpu_percentile: Option<f64>,
    pub memory_buffer_percent: Option<f64>,
    pub min_points: Option<u64>,
    pub prices: Option<Prices>,
}

/// A right-sizing report and the actions it proposed.
#[derive(Clone, Debug)]
pub struct Rightsizing {
    /// `recommendations`, `findings`, `summary` (with `duration_ms`,
    /// `source`, `scope`), `problems`.
    pub report: Value,
    pub proposed: Vec<String>,
}

impl RightsizeRequest {
    /// The tool's input: the request over the config's defaults.
    pub fn input(&self, defaults: &RightsizingConfig) -> Result<Value, DiagnoseError> {
        if self.namespace.is_none() && !self.all_namespaces {
            return Err(DiagnoseError::Other(
                "say which namespace (-n NS) or every namespace (-A)".into(),
            ));
        }
        if self.workload.is_some() && self.namespace.is_none() {
            return Err(DiagnoseError::Other(
                "a workload is named within a namespace: give -n NS with it".into(),
            ));
        }
        let mut input = Map::new();
        let mut put = |key: &str, value: Value| {
            if !value.is_null() {
                input.insert(key.to_owned(), value);
            }
        };
        put("namespace", json!(self.namespace));
        put("all_namespaces", json!(self.all_namespaces));
        put("workload", json!(self.workload));
        put(
            "window",
            json!(self.window.as_ref().or(defaults.window.as_ref())),
        );
        put("step", json!(self.step.as_ref().or(defaults.step.as_ref())));
        put(
            "cpu_percentile",
            json!(self.cpu_percentile.or(defaults.cpu_percentile)),
        );
        put(
            "memory_buffer_percent",
            json!(
                self.memory_buffer_percent
                    .or(defaults.memory_buffer_percent)
            ),
        );
        put("cpu_limit", json!(self.cpu_limit));
        put("min_points", json!(self.min_points.or(defaults.min_points)));
        put("prices", json!(self.prices.or(defaults.prices)));
        put("dry_run", json!(self.dry_run));
        put("at", json!(self.at));
        Ok(Value::Object(input))
    }

    fn scope(&self) -> String {
        match (&self.namespace, &self.workload) {
            (Some(ns), Some(w)) => format!("workload {w} in namespace {ns}"),
            (Some(ns), None) => format!("namespace {ns}"),
            (None, _) => "all namespaces".to_owned(),
        }
    }
}

impl crate::Session {
    /// Right-sizes `request`'s scope as `caller`; with `request.propose`,
    /// stores each fix whose dry-run passed as a pending action (a fix that
    /// could not be proposed carries `proposal_error`).
    pub async fn rightsize(
        &self,
        caller: &str,
        request: &RightsizeRequest,
    ) -> Result<Rightsizing, DiagnoseError> {
        let started = Instant::now();
        let input = request.input(&self.config().rightsizing)?;
        // Every namespace: one call per namespace (a whole cluster's report
        // is more than one call may return), the reports merged.
        let mut report = if request.namespace.is_none() {
            self.per_namespace(caller, &input).await?
        } else {
            self.runtime()
                .call(caller, RECOMMEND, &input.to_string())
                .await?
        };
        if let Some(summary) = report.get_mut("summary").and_then(Value::as_object_mut) {
            summary.insert(
                "duration_ms".into(),
                json!(started.elapsed().as_millis() as u64),
            );
            summary.insert("source".into(), json!(self.source()));
            summary.insert("scope".into(), json!(request.scope()));
        }
        let mut proposed = Vec::new();
        if request.propose {
            let unavailable = |e: crate::ServiceError| DiagnoseError::Other(e.message);
            let store = self.store().map_err(unavailable)?;
            let broker = self.broker().map_err(unavailable)?;
            let cx = skill_context(self.runtime(), caller, RIGHTSIZING_SKILL, RECOMMEND_TOOL)?;
            proposed = propose_report_fixes(store, broker, &cx, &mut report).await?;
        }
        Ok(Rightsizing { report, proposed })
    }
}

impl crate::Session {
    /// `input` (every namespace) as one call per namespace, merged. A
    /// namespace whose own report is still too large is named in
    /// `problems` with what to do, never dropped silently.
    async fn per_namespace(&self, caller: &str, input: &Value) -> Result<Value, DiagnoseError> {
        let namespaces = crate::diagnose::namespaces(self.runtime(), caller).await?;
        let mut parts = Vec::new();
        let mut problems = Vec::new();
        // A metrics source found down is not asked again for the others.
        let mut down: Option<Value> = None;
        for ns in namespaces {
            let mut one = input.clone();
            one["namespace"] = json!(ns);
            one["all_namespaces"] = json!(false);
            if let Some(d) = &down {
                one["metrics_down"] = d.clone();
            }
            match self
                .runtime()
                .call(caller, RECOMMEND, &one.to_string())
                .await
            {
                Ok(part) => {
                    if let Some(d) = part["summary"]["metrics_down"].as_str() {
                        down = Some(json!(d));
                    }
                    parts.push(part)
                }
                Err(CallError::OutputTooLarge { bytes, limit, .. }) => problems.push(format!(
                    "namespace {ns}: its report ({} KiB) is larger than a skill's output limit ({} KiB); right-size its workloads one at a time (guardian rightsize -n {ns} WORKLOAD) or raise limits.output_kib",
                    bytes / 1024,
                    limit / 1024
                )),
                Err(e) => problems.push(format!("namespace {ns}: {e}")),
            }
        }
        Ok(merge(parts, problems))
    }
}

/// Reports of several namespaces as one: lists joined, counts added.
fn merge(parts: Vec<Value>, mut problems: Vec<String>) -> Value {
    let mut recommendations = Vec::new();
    let mut findings = Vec::new();
    let mut summary = Map::new();
    for part in parts {
        let list = |key: &str| part[key].as_array().cloned().unwrap_or_default();
        recommendations.extend(list("recommendations"));
        findings.extend(list("findings"));
        for p in list("problems")
            .into_iter()
            .filter_map(|p| p.as_str().map(str::to_owned))
        {
            if !problems.contains(&p) {
                problems.push(p);
            }
        }
        let Some(m) = part["summary"].as_object() else {
            continue;
        };
        for (key, value) in m {
            let merged = match (summary.get(key), value) {
                (None, v) => v.clone(),
                (Some(Value::Number(a)), Value::Number(b)) => match (a.as_i64(), b.as_i64()) {
                    (Some(a), Some(b)) => json!(a + b),
                    _ => json!(a.as_f64().unwrap_or(0.0) + b.as_f64().unwrap_or(0.0)),
                },
                (Some(Value::Array(a)), Value::Array(b)) => {
                    json!(a.iter().chain(b).cloned().collect::<Vec<_>>())
                }
                (Some(Value::Object(a)), Value::Object(b)) => {
                    let mut sum = a.clone();
                    for (k, v) in b {
                        let n = sum.get(k).and_then(Value::as_i64).unwrap_or(0);
                        sum.insert(k.clone(), json!(n + v.as_i64().unwrap_or(0)));
                    }
                    Value::Object(sum)
                }
                (Some(Value::Null), v) => v.clone(),
                (Some(a), _) => a.clone(),
            };
            summary.insert(key.clone(), merged);
        }
    }
    json!({
        "recommendations": recommendations,
        "findings": findings,
        "summary": summary,
        "problems": problems,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reports_of_namespaces_merge_into_one() {
        let a = json!({"recommendations": [{"container": "a"}], "findings": [{"id": 1}],
            "summary": {"workloads": 2, "containers": 3, "cpu_request_change_millicores": -100,
                        "monthly_cost_change": null, "window": "14d", "namespaces": ["a"],
                        "by_severity": {"info": 1}, "queries": 4},
            "problems": ["Prometheus slow"]});
        let b = json!({"recommendations": [{"container": "b"}], "findings": [],
            "summary": {"workloads": 1, "containers": 1, "cpu_request_change_millicores": 50,
                        "monthly_cost_change": -1.5, "window": "14d", "namespaces": ["b"],
                        "by_severity": {"info": 2, "error": 1}, "queries": 4},
            "problems": ["Prometheus slow"]});
        let m = merge(vec![a, b], vec!["namespace c: too large".into()]);
        assert_eq!(m["recommendations"].as_array().unwrap().len(), 2);
        assert_eq!(m["summary"]["workloads"], 3);
        assert_eq!(m["summary"]["cpu_request_change_millicores"], -50);
        assert_eq!(m["summary"]["monthly_cost_change"], -1.5);
        assert_eq!(m["summary"]["window"], "14d");
        assert_eq!(m["summary"]["namespaces"], json!(["a", "b"]));
        assert_eq!(m["summary"]["by_severity"], json!({"info": 3, "error": 1}));
        assert_eq!(m["summary"]["queries"], 8);
        assert_eq!(
            m["problems"],
            json!(["namespace c: too large", "Prometheus slow"])
        );
    }

    #[test]
    fn the_input_takes_the_request_over_the_config() {
        let defaults = RightsizingConfig {
            window: Some("7d".into()),
            cpu_percentile: Some(90.0),
            prices: Some(Prices {
                core_hour: 0.03,
                gib_hour: 0.004,
            }),
            ..Default::default()
        };
        let request = RightsizeRequest {
            namespace: Some("shop".into()),
            workload: Some("deployment/checkout".into()),
            cpu_percentile: Some(99.0),
            dry_run: true,
            ..Default::default()
        };
        let input = request.input(&defaults).unwrap();
        assert_eq!(input["namespace"], "shop");
        assert_eq!(input["workload"], "deployment/checkout");
        assert_eq!(input["window"], "7d", "the config's default");
        assert_eq!(input["cpu_percentile"], 99.0, "the request wins");
        assert_eq!(input["prices"]["core_hour"], 0.03);
        assert!(input.get("step").is_none(), "unset: the skill's default");
        assert_eq!(input["dry_run"], true);
    }

    #[test]
    fn a_scope_must_be_named() {
        let err = RightsizeRequest::default()
            .input(&RightsizingConfig::default())
            .unwrap_err();
        assert!(err.to_string().contains("-n NS"), "{err}");
        let err = RightsizeRequest {
            all_namespaces: true,
            workload: Some("checkout".into()),
            ..Default::default()
        }
        .input(&RightsizingConfig::default())
        .unwrap_err();
        assert!(err.to_string().contains("within a namespace"), "{err}");
    }
}
