//! Alertmanager's webhook payload (version 4), parsed field by field so
//! that a malformed payload is refused with the field that is wrong
//! (Alertmanager logs the answer's body).

use std::collections::BTreeMap;

use serde::Serialize;
use serde_json::Value;

/// Why a payload was refused: the field (`alerts[2].labels`) and what was
/// expected of it.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{field}: {message}")]
pub struct PayloadError {
    pub field: String,
    pub message: String,
}

fn err(field: impl Into<String>, message: impl Into<String>) -> PayloadError {
    PayloadError {
        field: field.into(),
        message: message.into(),
    }
}

/// One notification: a group of alerts sent to one receiver.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Notification {
    pub version: String,
    pub group_key: String,
    pub status: AlertStatus,
    pub receiver: String,
    pub group_labels: BTreeMap<String, String>,
    pub common_labels: BTreeMap<String, String>,
    pub common_annotations: BTreeMap<String, String>,
    pub external_url: String,
    pub alerts: Vec<Alert>,
}

/// `firing` or `resolved`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum AlertStatus {
    Firing,
    Resolved,
}

impl AlertStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            AlertStatus::Firing => "firing",
            AlertStatus::Resolved => "resolved",
        }
    }
}

/// One alert of a notification.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Alert {
    pub status: AlertStatus,
    pub labels: BTreeMap<String, String>,
    pub annotations: BTreeMap<String, String>,
    pub starts_at: String,
    pub ends_at: String,
    pub generator_url: String,
    pub fingerprint: String,
}

/// At most this many alerts in one notification (Alertmanager's
/// `max_alerts` is 0 = unlimited by default; a group this large is not an
/// incident Guardian can investigate one by one).
pub const MAX_ALERTS: usize = 1000;

/// Parses a webhook body. Only version `"4"` is accepted.
pub fn parse(body: &[u8]) -> Result<Notification, PayloadError> {
    let value: Value = serde_json::from_slice(body).map_err(|e| {
        err(
            "body",
            format!("not JSON ({e}); expected Alertmanager's webhook payload (version 4)"),
        )
    })?;
    let Some(obj) = value.as_object() else {
        return Err(err(
            "body",
            "expected a JSON object (Alertmanager's webhook payload, version 4)",
        ));
    };
    let version = string(obj.get("version"), "version", true)?;
    if version != "4" {
        return Err(err(
            "version",
            format!(
                "version {version:?} is not supported; expected \"4\" (Alertmanager's webhook payload)"
            ),
        ));
    }
    let status = status(obj.get("status"), "status")?;
    let alerts_value = obj
        .get("alerts")
        .ok_or_else(|| err("alerts", "missing; expected a list of alerts"))?;
    let Some(list) = alerts_value.as_array() else {
        return Err(err("alerts", "expected a list of alerts"));
    };
    if list.len() > MAX_ALERTS {
        return Err(err(
            "alerts",
            format!(
                "{} alerts in one notification; at most {MAX_ALERTS} (set max_alerts on the receiver)",
                list.len()
            ),
        ));
    }
    let mut alerts = Vec::with_capacity(list.len());
    for (i, a) in list.iter().enumerate() {
        alerts.push(alert(a, &format!("alerts[{i}]"))?);
    }
    Ok(Notification {
        version,
        group_key: string(obj.get("groupKey"), "groupKey", false)?,
        status,
        receiver: string(obj.get("receiver"), "receiver", false)?,
        group_labels: map(obj.get("groupLabels"), "groupLabels")?,
        common_labels: map(obj.get("commonLabels"), "commonLabels")?,
        common_annotations: map(obj.get("commonAnnotations"), "commonAnnotations")?,
        external_url: string(obj.get("externalURL"), "externalURL", false)?,
        alerts,
    })
}

fn alert(value: &Value, at: &str) -> Result<Alert, PayloadError> {
    let Some(obj) = value.as_object() else {
        return Err(err(at, "expected an alert object"));
    };
    let f = |name: &str| format!("{at}.{name}");
    let fingerprint = string(obj.get("fingerprint"), &f("fingerprint"), true)?;
    if fingerprint.is_empty() || fingerprint.len() > 128 {
        return Err(err(
            f("fingerprint"),
            "expected Alertmanager's fingerprint (1 to 128 characters)",
        ));
    }
    let labels = map(obj.get("labels"), &f("labels"))?;
    Ok(Alert {
        status: status(obj.get("status"), &f("status"))?,
        labels,
        annotations: map(obj.get("annotations"), &f("annotations"))?,
        starts_at: string(obj.get("startsAt"), &f("startsAt"), false)?,
        ends_at: string(obj.get("endsAt"), &f("endsAt"), false)?,
        generator_url: string(obj.get("generatorURL"), &f("generatorURL"), false)?,
        fingerprint,
    })
}

fn string(value: Option<&Value>, field: &str, required: bool) -> Result<String, PayloadError> {
    match value {
        None | Some(Value::Null) if !required => Ok(String::new()),
        None | Some(Value::Null) => Err(err(field, "missing; expected a string")),
        Some(Value::String(s)) => Ok(s.clone()),
        Some(other) => Err(err(
            field,
            format!("expected a string, found {}", kind(other)),
        )),
    }
}

fn status(value: Option<&Value>, field: &str) -> Result<AlertStatus, PayloadError> {
    match string(value, field, true)?.as_str() {
        "firing" => Ok(AlertStatus::Firing),
        "resolved" => Ok(AlertStatus::Resolved),
        other => Err(err(
            field,
            format!("{other:?}; expected \"firing\" or \"resolved\""),
        )),
    }
}

fn map(value: Option<&Value>, field: &str) -> Result<BTreeMap<String, String>, PayloadError> {
    match value {
        None | Some(Value::Null) => Ok(BTreeMap::new()),
        Some(Value::Object(o)) => o
            .iter()
            .map(|(k, v)| match v {
                Value::String(s) => Ok((k.clone(), s.clone())),
                other => Err(err(
                    format!("{field}.{k}"),
                    format!("expected a string, found {}", kind(other)),
                )),
            })
            .collect(),
        Some(other) => Err(err(
            field,
            format!("expected an object of strings, found {}", kind(other)),
        )),
    }
}

fn kind(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "a list",
        Value::Object(_) => "an object",
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    pub(crate) fn sample() -> Value {
        json!({
            "version": "4",
            "groupKey": "{}:{alertname=\"KubePodCrashLooping\"}",
            "truncatedAlerts": 0,
            "status": "firing",
            "receiver": "guardian",
            "groupLabels": {"alertname": "KubePodCrashLooping"},
            "commonLabels": {"alertname": "KubePodCrashLooping", "namespace": "shop"},
            "commonAnnotations": {},
            "externalURL": "http://am:9093",
            "alerts": [{
                "status": "firing",
                "labels": {"alertname": "KubePodCrashLooping", "namespace": "shop", "pod": "checkout-7d9f-abcde"},
                "annotations": {"summary": "crash looping"},
                "startsAt": "2026-12-07T08:00:00Z",
                "endsAt": "0001-01-01T00:00:00Z",
                "generatorURL": "http://prom/graph",
                "fingerprint": "c3a1b2d4e5f60718"
            }]
        })
    }

    #[test]
    fn parses_a_version_4_payload() {
        let n = parse(sample().to_string().as_bytes()).unwrap();
        assert_eq!(n.status, AlertStatus::Firing);
        assert_eq!(n.receiver, "guardian");
        assert_eq!(n.alerts.len(), 1);
        assert_eq!(n.alerts[0].fingerprint, "c3a1b2d4e5f60718");
        assert_eq!(n.alerts[0].labels["pod"], "checkout-7d9f-abcde");
        assert_eq!(n.alerts[0].annotations["summary"], "crash looping");
        assert_eq!(n.common_labels["namespace"], "shop");
    }

    #[test]
    fn a_malformed_payload_names_the_field() {
        let cases: Vec<(Value, &str)> = vec![
            (
                json!({"version": "3", "status": "firing", "alerts": []}),
                "version",
            ),
            (json!({"status": "firing", "alerts": []}), "version"),
            (
                json!({"version": "4", "status": "burning", "alerts": []}),
                "status",
            ),
            (json!({"version": "4", "status": "firing"}), "alerts"),
            (
                json!({"version": "4", "status": "firing", "alerts": {}}),
                "alerts",
            ),
            (
                json!({"version": "4", "status": "firing", "alerts": [7]}),
                "alerts[0]",
            ),
            (
                json!({"version": "4", "status": "firing", "alerts": [{"status": "firing", "labels": {"a": 1}, "fingerprint": "f"}]}),
                "alerts[0].labels.a",
            ),
            (
                json!({"version": "4", "status": "firing", "alerts": [{"status": "firing", "labels": {}}]}),
                "alerts[0].fingerprint",
            ),
            (
                json!({"version": "4", "status": "firing", "alerts": [{"status": "x", "fingerprint": "f"}]}),
                "alerts[0].status",
            ),
            (
                json!({"version": "4", "status": "firing", "groupLabels": [], "alerts": []}),
                "groupLabels",
            ),
        ];
        for (body, field) in cases {
            let e = parse(body.to_string().as_bytes()).unwrap_err();
            assert_eq!(e.field, field, "{body}: {e}");
            assert!(e.to_string().starts_with(&format!("{field}: ")), "{e}");
        }
        let e = parse(b"{not json").unwrap_err();
        assert_eq!(e.field, "body");
        assert!(e.message.contains("not JSON"), "{e}");
        let mut many = sample();
        let one = many["alerts"][0].clone();
        many["alerts"] = Value::Array(vec![one; MAX_ALERTS + 1]);
        assert_eq!(
            parse(many.to_string().as_bytes()).unwrap_err().field,
            "alerts"
        );
    }
}
