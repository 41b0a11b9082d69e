//! What the cells of many kinds share: fields read with a default, names,
//! ages as kubectl words them, selectors, containers, load-balancer
//! addresses.

use guardian_kube_types::time::parse_rfc3339_micros;
use serde_json::{Value, json};

pub(super) fn text<'a>(o: &'a Value, pointer: &str) -> &'a str {
    o.pointer(pointer).and_then(Value::as_str).unwrap_or("")
}

pub(super) fn int(o: &Value, pointer: &str) -> i64 {
    o.pointer(pointer).and_then(Value::as_i64).unwrap_or(0)
}

pub(super) fn count(o: &Value, pointer: &str) -> usize {
    o.pointer(pointer)
        .and_then(Value::as_object)
        .map_or(0, |m| m.len())
}

pub(super) fn or_none(s: &str) -> &str {
    if s.is_empty() { "<none>" } else { s }
}

pub(super) fn name(o: &Value) -> Value {
    json!(text(o, "/metadata/name"))
}

pub(super) fn age(o: &Value, now: i64) -> Value {
    match o
        .pointer("/metadata/creationTimestamp")
        .and_then(Value::as_str)
    {
        Some(t) => since(t, now),
        None => json!("<unknown>"),
    }
}

/// `translateTimestampSince`: how long ago, as kubectl words it.
pub(super) fn since(timestamp: &str, now: i64) -> Value {
    match parse_rfc3339_micros(timestamp) {
        Some(t) => json!(human_duration(seconds_between(t, now))),
        None => json!("<unknown>"),
    }
}

/// Whole seconds from `then` to `now` (microseconds since the epoch),
/// rounded toward zero.
pub(super) fn seconds_between(then: i64, now: i64) -> i64 {
    (now - then) / 1_000_000
}

/// `k8s.io/apimachinery/pkg/util/duration.HumanDuration`.
pub fn human_duration(seconds: i64) -> String {
    if seconds < -1 {
        return "<invalid>".to_string();
    }
    if seconds < 0 {
        return "0s".to_string();
    }
    if seconds < 120 {
        return format!("{seconds}s");
    }
    let minutes = seconds / 60;
    if minutes < 10 {
        let s = seconds % 60;
        return if s == 0 {
            format!("{minutes}m")
        } else {
            format!("{minutes}m{s}s")
        };
    }
    if minutes < 180 {
        return format!("{minutes}m");
    }
    let hours = seconds / 3600;
    if hours < 8 {
        let m = minutes % 60;
        return if m == 0 {
            format!("{hours}h")
        } else {
            format!("{hours}h{m}m")
        };
    }
    if hours < 48 {
        return format!("{hours}h");
    }
    if hours < 24 * 8 {
        let h = hours % 24;
        return if h == 0 {
            format!("{}d", hours / 24)
        } else {
            format!("{}d{h}h", hours / 24)
        };
    }
    if hours < 24 * 365 * 2 {
        return format!("{}d", hours / 24);
    }
    if hours < 24 * 365 * 8 {
        let days = (hours / 24) % 365;
        return if days == 0 {
            format!("{}y", hours / 24 / 365)
        } else {
            format!("{}y{days}d", hours / 24 / 365)
        };
    }
    format!("{}y", hours / 24 / 365)
}

/// The pod template's containers' `field`, comma-joined (wide output).
pub(super) fn containers(o: &Value, field: &str) -> Value {
    let joined = o
        .pointer("/spec/template/spec/containers")
        .and_then(Value::as_array)
        .map(|cs| {
            cs.iter()
                .filter_map(|c| c.get(field).and_then(Value::as_str))
                .collect::<Vec<_>>()
                .join(",")
        })
        .unwrap_or_default();
    json!(joined)
}

pub(super) fn selector(o: &Value) -> Value {
    let Some(selector) = o.pointer("/spec/selector").and_then(Value::as_object) else {
        return json!("<none>");
    };
    // A workload's LabelSelector, or a ReplicationController's plain map.
    let labels = selector
        .get("matchLabels")
        .and_then(Value::as_object)
        .unwrap_or(selector);
    let mut terms: Vec<String> = labels
        .iter()
        .filter_map(|(k, v)| v.as_str().map(|v| format!("{k}={v}")))
        .collect();
    if let Some(expressions) = selector.get("matchExpressions").and_then(Value::as_array) {
        for e in expressions {
            let values: Vec<&str> = e
                .get("values")
                .and_then(Value::as_array)
                .map(|vs| vs.iter().filter_map(Value::as_str).collect())
                .unwrap_or_default();
            let key = e.get("key").and_then(Value::as_str).unwrap_or("");
            terms.push(match e.get("operator").and_then(Value::as_str) {
                Some("In") => format!("{key} in ({})", values.join(",")),
                Some("NotIn") => format!("{key} notin ({})", values.join(",")),
                Some("DoesNotExist") => format!("!{key}"),
                _ => key.to_string(),
            });
        }
    }
    json!(if terms.is_empty() {
        "<none>".to_string()
    } else {
        terms.join(",")
    })
}

pub(super) fn load_balancer(o: &Value) -> Vec<String> {
    o.pointer("/status/loadBalancer/ingress")
        .and_then(Value::as_array)
        .map(|ingress| {
            ingress
                .iter()
                .filter_map(|i| {
                    i.get("ip")
                        .or_else(|| i.get("hostname"))
                        .and_then(Value::as_str)
                        .map(str::to_string)
                })
                .collect()
        })
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn human_durations_match_kubectl() {
        for (seconds, text) in [
            (-5, "<invalid>"),
            (-1, "0s"),
            (59, "59s"),
            (119, "119s"),
            (125, "2m5s"),
            (600, "10m"),
            (3 * 3600 + 60, "3h1m"),
            (30 * 3600, "30h"),
            (3 * 86400 + 3600, "3d1h"),
            (40 * 86400, "40d"),
            (3 * 365 * 86400 + 86400, "3y1d"),
        ] {
            assert_eq!(human_duration(seconds), text, "{seconds}");
        }
    }

    #[test]
    fn ages_count_whole_seconds_since_the_timestamp() {
        let now = parse_rfc3339_micros("2026-11-23T13:30:00.9Z").unwrap();
        assert_eq!(since("2026-11-23T13:29:00Z", now), json!("60s"));
        assert_eq!(since("2026-11-23T15:27:00+02:00", now), json!("3m"));
        assert_eq!(since("yesterday", now), json!("<unknown>"));
        assert_eq!(age(&json!({"metadata": {}}), now), json!("<unknown>"));
        // A timestamp a little in the future (clock skew) is 0s, as kubectl.
        assert_eq!(since("2026-11-23T13:30:01.5Z", now), json!("0s"));
    }
}
