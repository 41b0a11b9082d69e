//! The rightsize operation: `rightsizing.recommend` over a namespace, a
//! workload or every namespace — requests and limits from real usage, HPA
//! advice — with the fixes optionally stored as pending actions. The CLI,
//! gRPC, MCP and the reasoner call this; none of them holds its own copy.

use std::time::Instant;

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
        let mut report = self
            .runtime()
            .call(caller, RECOMMEND, &input.to_string())
            .await?;
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

#[cfg(test)]
mod tests {
    use super::*;

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
