//! Kubernetes quantities (`500m`, `0.5`, `256Mi`, `1G`, `1e3`) and
//! Prometheus durations (`14d`, `1h30m`, `75s`).

use serde_json::Value;

const MIB: f64 = 1024.0 * 1024.0;

/// A quantity as a plain number (cores for CPU, bytes for memory). JSON
/// numbers are taken as they are (a snapshot written from YAML may hold
/// `cpu: 1`).
pub fn quantity(value: &Value) -> Option<f64> {
    match value {
        Value::Number(n) => n.as_f64(),
        Value::String(s) => parse_quantity(s),
        _ => None,
    }
}

/// Parses a Kubernetes quantity string.
pub fn parse_quantity(text: &str) -> Option<f64> {
    let s = text.trim();
    if s.is_empty() {
        return None;
    }
    let split = s
        .find(|c: char| !(c.is_ascii_digit() || c == '.' || c == '+' || c == '-'))
        .unwrap_or(s.len());
    let (number, suffix) = s.split_at(split);
    let number: f64 = number.parse().ok()?;
    let factor = match suffix {
        "" => 1.0,
        "n" => 1e-9,
        "u" => 1e-6,
        "m" => 1e-3,
        "k" => 1e3,
        "M" => 1e6,
        "G" => 1e9,
        "T" => 1e12,
        "P" => 1e15,
        "E" => 1e18,
        "Ki" => 1024.0,
        "Mi" => MIB,
        "Gi" => MIB * 1024.0,
        "Ti" => MIB * MIB,
        "Pi" => MIB * MIB * 1024.0,
        "Ei" => MIB * MIB * MIB,
        exp if exp.starts_with(['e', 'E']) => 10f64.powi(exp[1..].parse::<i32>().ok()?),
        _ => return None,
    };
    let value = number * factor;
    (value.is_finite() && value >= 0.0).then_some(value)
}

/// CPU as Kubernetes writes it: `2` for whole cores, else `120m`.
pub fn format_cpu(millicores: u64) -> String {
    if millicores > 0 && millicores.is_multiple_of(1000) {
        format!("{}", millicores / 1000)
    } else {
        format!("{millicores}m")
    }
}

/// Memory as Kubernetes writes it: `1Gi` for whole GiB, `300Mi` for whole
/// MiB, else bytes.
pub fn format_memory(bytes: u64) -> String {
    const M: u64 = 1024 * 1024;
    if bytes > 0 && bytes.is_multiple_of(M * 1024) {
        format!("{}Gi", bytes / (M * 1024))
    } else if bytes > 0 && bytes.is_multiple_of(M) {
        format!("{}Mi", bytes / M)
    } else {
        format!("{bytes}")
    }
}

/// Cores rounded up to whole millicores, at least `min` (KRR's rounding:
/// `ceil(cores × 1000)`, then the minimum).
pub fn round_cpu(cores: f64, min_millicores: u64) -> u64 {
    let m = (cores * 1000.0).ceil();
    (m.max(0.0) as u64).max(min_millicores)
}

/// Bytes rounded up to whole MiB, at least `min_mib` MiB (KRR's rounding:
/// `ceil(bytes / 2^20) × 2^20`, then the minimum).
pub fn round_memory(bytes: f64, min_mib: u64) -> u64 {
    let mib = (bytes * (1.0 / MIB)).ceil();
    (mib.max(0.0) as u64).max(min_mib) * 1024 * 1024
}

/// A Prometheus duration (`14d`, `1h30m`, `75s`, `500ms`) in seconds;
/// `None` when it does not parse or is zero.
pub fn parse_duration(text: &str) -> Option<f64> {
    let bytes = text.as_bytes();
    let mut i = 0;
    let mut total = 0.0;
    if bytes.is_empty() {
        return None;
    }
    while i < bytes.len() {
        let start = i;
        while i < bytes.len() && bytes[i].is_ascii_digit() {
            i += 1;
        }
        if start == i {
            return None;
        }
        let n: f64 = text[start..i].parse().ok()?;
        let unit_start = i;
        while i < bytes.len() && bytes[i].is_ascii_alphabetic() {
            i += 1;
        }
        let unit = match &text[unit_start..i] {
            "ms" => 0.001,
            "s" => 1.0,
            "m" => 60.0,
            "h" => 3600.0,
            "d" => 86400.0,
            "w" => 7.0 * 86400.0,
            "y" => 365.0 * 86400.0,
            _ => return None,
        };
        total += n * unit;
    }
    (total > 0.0).then_some(total)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn quantities_parse_as_kubernetes_writes_them() {
        assert_eq!(quantity(&json!("500m")), Some(0.5));
        assert_eq!(quantity(&json!("0.5")), Some(0.5));
        assert_eq!(quantity(&json!(2)), Some(2.0));
        assert_eq!(quantity(&json!("256Mi")), Some(256.0 * MIB));
        assert_eq!(quantity(&json!("1Gi")), Some(1024.0 * MIB));
        assert_eq!(quantity(&json!("1G")), Some(1e9));
        assert_eq!(quantity(&json!("1e3")), Some(1000.0));
        assert_eq!(quantity(&json!("128974848")), Some(128974848.0));
        assert_eq!(quantity(&json!("12x")), None);
        assert_eq!(quantity(&json!(null)), None);
    }

    #[test]
    fn rounding_is_krrs_then_written_as_kubernetes_does() {
        // KRR: ceil to 1m, at least 10m; ceil to 1Mi, at least 100Mi.
        assert_eq!(round_cpu(0.1183, 10), 119);
        assert_eq!(round_cpu(0.004, 10), 10);
        assert_eq!(round_memory(260_000_000.0 * 1.15, 100), 286 * 1024 * 1024);
        assert_eq!(round_memory(5.0 * MIB, 100), 100 * 1024 * 1024);
        assert_eq!(format_cpu(119), "119m");
        assert_eq!(format_cpu(2000), "2");
        assert_eq!(format_memory(286 * 1024 * 1024), "286Mi");
        assert_eq!(format_memory(2048 * 1024 * 1024), "2Gi");
    }

    #[test]
    fn durations() {
        assert_eq!(parse_duration("14d"), Some(14.0 * 86400.0));
        assert_eq!(parse_duration("1h30m"), Some(5400.0));
        assert_eq!(parse_duration("75s"), Some(75.0));
        assert_eq!(parse_duration("5m"), Some(300.0));
        assert_eq!(parse_duration("0s"), None);
        assert_eq!(parse_duration("14 days"), None);
        assert_eq!(parse_duration("1.5h"), None);
        assert_eq!(parse_duration(""), None);
    }
}
