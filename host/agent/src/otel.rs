//! Traces of a run, exported over OTLP/HTTP (JSON encoding) when
//! `OTEL_EXPORTER_OTLP_ENDPOINT` (or `OTEL_EXPORTER_OTLP_TRACES_ENDPOINT`)
//! is set, following the OpenTelemetry GenAI semantic conventions: one
//! `invoke_agent guardian` span per run, a `chat {model}` span per
//! completion and an `execute_tool {tool}` span per tool call.

use std::time::Duration;

use serde_json::{Value, json};

use crate::report::RunReport;

/// Where to send traces, from the standard OTLP environment variables.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OtlpTarget {
    /// The full `/v1/traces` URL.
    pub url: String,
    pub headers: Vec<(String, String)>,
}

impl OtlpTarget {
    /// `None` when no endpoint is set. `OTEL_EXPORTER_OTLP_TRACES_ENDPOINT`
    /// is used as is; `OTEL_EXPORTER_OTLP_ENDPOINT` gets `/v1/traces`
    /// appended; `OTEL_EXPORTER_OTLP_HEADERS` is `k=v,k2=v2`.
    pub fn from_env(get: impl Fn(&str) -> Option<String>) -> Result<Option<OtlpTarget>, String> {
        let nonempty = |k: &str| get(k).filter(|v| !v.trim().is_empty());
        let url = match (
            nonempty("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT"),
            nonempty("OTEL_EXPORTER_OTLP_ENDPOINT"),
        ) {
            (Some(u), _) => u,
            (None, Some(base)) => format!("{}/v1/traces", base.trim_end_matches('/')),
            (None, None) => return Ok(None),
        };
        if let Some(p) = nonempty("OTEL_EXPORTER_OTLP_TRACES_PROTOCOL")
            .or_else(|| nonempty("OTEL_EXPORTER_OTLP_PROTOCOL"))
            && p != "http/json"
        {
            return Err(format!(
                "OTEL_EXPORTER_OTLP_PROTOCOL={p}: Guardian exports traces as http/json only; set it to http/json (every OpenTelemetry Collector accepts it on port 4318)"
            ));
        }
        let headers = nonempty("OTEL_EXPORTER_OTLP_TRACES_HEADERS")
            .or_else(|| nonempty("OTEL_EXPORTER_OTLP_HEADERS"))
            .map(|h| {
                h.split(',')
                    .filter_map(|kv| kv.split_once('='))
                    .map(|(k, v)| (k.trim().to_owned(), v.trim().to_owned()))
                    .collect()
            })
            .unwrap_or_default();
        Ok(Some(OtlpTarget { url, headers }))
    }

    /// Sends the run's spans; an error says why the collector refused them.
    pub async fn export(&self, report: &RunReport, endpoint: Option<&str>) -> Result<(), String> {
        crate::install_crypto_provider();
        let body = spans(report, endpoint);
        let client = reqwest::Client::builder()
            .timeout(Duration::from_secs(10))
            .build()
            .map_err(|e| e.to_string())?;
        let mut request = client.post(&self.url).json(&body);
        for (k, v) in &self.headers {
            request = request.header(k, v);
        }
        let response = request
            .send()
            .await
            .map_err(|e| format!("cannot send traces to {}: {e}", self.url))?;
        if !response.status().is_success() {
            let status = response.status();
            let text = response.text().await.unwrap_or_default();
            return Err(format!(
                "the collector at {} answered {status}: {}",
                self.url,
                text.chars().take(200).collect::<String>()
            ));
        }
        Ok(())
    }
}

fn hex_id(bytes: usize) -> String {
    let mut buf = vec![0u8; bytes];
    if getrandom::fill(&mut buf).is_err() || buf.iter().all(|b| *b == 0) {
        buf[0] = 1;
    }
    hex::encode(buf)
}

fn attr(key: &str, value: Value) -> Value {
    let v = match value {
        Value::String(s) => json!({"stringValue": s}),
        Value::Bool(b) => json!({"boolValue": b}),
        Value::Number(n) if n.is_u64() || n.is_i64() => json!({"intValue": n.to_string()}),
        Value::Number(n) => json!({"doubleValue": n}),
        Value::Array(items) => json!({"arrayValue": {"values": items.into_iter().map(|i| match i {
            Value::String(s) => json!({"stringValue": s}),
            other => json!({"stringValue": other.to_string()}),
        }).collect::<Vec<_>>()}}),
        other => json!({"stringValue": other.to_string()}),
    };
    json!({"key": key, "value": v})
}

/// The OTLP `ExportTraceServiceRequest` (JSON) of one run.
pub fn spans(report: &RunReport, endpoint: Option<&str>) -> Value {
    let stats = &report.stats;
    let trace = hex_id(16);
    let root = hex_id(8);
    let ns = |n: u64| n.to_string();
    let end_of = |start: u64, ms: f64| start + (ms * 1e6) as u64;
    let llm = report.mode == "llm";
    let provider = if llm { "openai" } else { "guardian.reasoner" };
    let mut out = Vec::new();
    let mut root_attrs = vec![
        attr("gen_ai.operation.name", json!("invoke_agent")),
        attr("gen_ai.agent.name", json!("guardian")),
        attr("gen_ai.provider.name", json!(provider)),
        attr("gen_ai.usage.input_tokens", json!(stats.prompt_tokens)),
        attr("gen_ai.usage.output_tokens", json!(stats.completion_tokens)),
        attr("guardian.mode", json!(report.mode)),
        attr("guardian.tool_calls", json!(stats.tool_calls)),
        attr(
            "guardian.tool_calls_refused",
            json!(stats.tool_calls_refused),
        ),
    ];
    if let Some(m) = &report.model {
        root_attrs.push(attr("gen_ai.request.model", json!(m)));
    }
    if let Some(why) = &report.stopped {
        root_attrs.push(attr("guardian.stopped", json!(why)));
    }
    out.push(json!({
        "traceId": trace, "spanId": root, "name": "invoke_agent guardian", "kind": 1,
        "startTimeUnixNano": ns(stats.started_ns),
        "endTimeUnixNano": ns(end_of(stats.started_ns, stats.wall_ms)),
        "attributes": root_attrs,
        "status": {"code": if report.stopped.is_some() { 2 } else { 1 }},
    }));
    let host = endpoint
        .and_then(|e| e.split("://").nth(1))
        .and_then(|rest| rest.split(['/', ':']).next())
        .map(str::to_owned);
    for c in &stats.llm {
        let model = report.model.clone().unwrap_or_default();
        let mut attrs = vec![
            attr("gen_ai.operation.name", json!("chat")),
            attr("gen_ai.provider.name", json!(provider)),
            attr("gen_ai.request.model", json!(model)),
            attr("gen_ai.usage.input_tokens", json!(c.prompt_tokens)),
            attr("gen_ai.usage.output_tokens", json!(c.completion_tokens)),
            attr("guardian.retries", json!(c.retries)),
        ];
        if let Some(r) = &c.finish_reason {
            attrs.push(attr("gen_ai.response.finish_reasons", json!([r])));
        }
        if let Some(h) = &host {
            attrs.push(attr("server.address", json!(h)));
        }
        out.push(json!({
            "traceId": trace, "spanId": hex_id(8), "parentSpanId": root,
            "name": format!("chat {model}"), "kind": 3,
            "startTimeUnixNano": ns(c.started_ns),
            "endTimeUnixNano": ns(end_of(c.started_ns, c.latency_ms)),
            "attributes": attrs, "status": {"code": 1},
        }));
    }
    for t in &stats.tools {
        let mut attrs = vec![
            attr("gen_ai.operation.name", json!("execute_tool")),
            attr("gen_ai.tool.name", json!(t.tool)),
            attr("gen_ai.tool.call.id", json!(t.id)),
            attr("gen_ai.tool.type", json!("function")),
            attr("guardian.tool.executed", json!(t.executed)),
        ];
        let error = match (t.executed, t.ok, t.denied) {
            (false, _, _) => Some("refused_by_guard"),
            (true, _, true) => Some("denied"),
            (true, false, _) => Some("tool_error"),
            _ => None,
        };
        if let Some(e) = error {
            attrs.push(attr("error.type", json!(e)));
        }
        out.push(json!({
            "traceId": trace, "spanId": hex_id(8), "parentSpanId": root,
            "name": format!("execute_tool {}", t.tool), "kind": 1,
            "startTimeUnixNano": ns(t.started_ns),
            "endTimeUnixNano": ns(end_of(t.started_ns, t.latency_ms)),
            "attributes": attrs, "status": {"code": if error.is_some() { 2 } else { 1 }},
        }));
    }
    json!({"resourceSpans": [{
        "resource": {"attributes": [
            attr("service.name", json!("guardian")),
            attr("service.version", json!(env!("CARGO_PKG_VERSION"))),
        ]},
        "scopeSpans": [{
            "scope": {"name": "guardian-agent", "version": env!("CARGO_PKG_VERSION")},
            "spans": out,
        }],
    }]})
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn endpoint_and_headers_from_the_environment() {
        let env = |pairs: &'static [(&'static str, &'static str)]| {
            move |k: &str| {
                pairs
                    .iter()
                    .find(|(n, _)| *n == k)
                    .map(|(_, v)| v.to_string())
            }
        };
        assert_eq!(OtlpTarget::from_env(env(&[])).unwrap(), None);
        let t = OtlpTarget::from_env(env(&[
            ("OTEL_EXPORTER_OTLP_ENDPOINT", "http://collector:4318/"),
            (
                "OTEL_EXPORTER_OTLP_HEADERS",
                "x-tenant=ops, authorization=Bearer abc",
            ),
        ]))
        .unwrap()
        .unwrap();
        assert_eq!(t.url, "http://collector:4318/v1/traces");
        assert_eq!(t.headers[1], ("authorization".into(), "Bearer abc".into()));
        assert!(
            OtlpTarget::from_env(env(&[
                ("OTEL_EXPORTER_OTLP_ENDPOINT", "http://c:4317"),
                ("OTEL_EXPORTER_OTLP_PROTOCOL", "grpc"),
            ]))
            .unwrap_err()
            .contains("http/json")
        );
    }
}
