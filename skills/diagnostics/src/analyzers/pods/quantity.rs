//! Kubernetes quantities (`256Mi`, `250m`) as plain numbers.

use serde_json::Value;

pub(super) fn quantity_of(v: &Value) -> Option<f64> {
    match v {
        Value::String(s) => parse_quantity(s),
        Value::Number(n) => n.as_f64(),
        _ => None,
    }
}

/// A Kubernetes quantity (`256Mi`, `1.5G`, `250m`, `2`) as a plain number
/// (bytes, cores).
pub(crate) fn parse_quantity(q: &str) -> Option<f64> {
    let q = q.trim();
    let split = q
        .find(|c: char| !(c.is_ascii_digit() || c == '.' || c == '-' || c == '+'))
        .unwrap_or(q.len());
    let (num, suffix) = q.split_at(split);
    let n: f64 = num.parse().ok()?;
    let mult = match suffix {
        "" => 1.0,
        "m" => 1e-3,
        "k" => 1e3,
        "M" => 1e6,
        "G" => 1e9,
        "T" => 1e12,
        "Ki" => 1024.0,
        "Mi" => 1024.0 * 1024.0,
        "Gi" => 1024.0 * 1024.0 * 1024.0,
        "Ti" => 1024.0_f64.powi(4),
        s if s.starts_with('e') || s.starts_with('E') => 10f64.powi(s[1..].parse().ok()?),
        _ => return None,
    };
    Some(n * mult)
}

/// `bytes` in the units `like` is written in (binary `Ki`…`Ti`, or decimal
/// `k`…`T`), in the largest unit that keeps it whole: 2 × `64Gi` is
/// `128Gi`, not `131072Mi`; 2 × `1G` is `2G`.
pub(super) fn format_bytes(bytes: f64, like: &str) -> String {
    let decimal = like.trim().ends_with(['k', 'M', 'G', 'T']);
    let units: &[(&str, f64)] = if decimal {
        &[("T", 1e12), ("G", 1e9), ("M", 1e6), ("k", 1e3)]
    } else {
        &[
            ("Ti", 1024.0 * 1024.0 * 1024.0 * 1024.0),
            ("Gi", 1024.0 * 1024.0 * 1024.0),
            ("Mi", 1024.0 * 1024.0),
            ("Ki", 1024.0),
        ]
    };
    let bytes = bytes.round();
    for (suffix, size) in units {
        let n = bytes / size;
        if n >= 1.0 && n.fract() == 0.0 {
            return format!("{n}{suffix}");
        }
    }
    // Not whole in any unit: the smallest unit, rounded up.
    let (suffix, size) = units[units.len() - 2];
    format!("{}{suffix}", (bytes / size).ceil())
}

/// `cores` as Kubernetes writes CPU: whole cores (`8`), else millicores
/// (`1500m`, `250m`).
pub(super) fn format_cpu(cores: f64) -> String {
    let milli = (cores * 1000.0).round();
    if milli % 1000.0 == 0.0 {
        format!("{}", milli / 1000.0)
    } else {
        format!("{milli}m")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quantities_as_written() {
        let gi = 1024.0 * 1024.0 * 1024.0;
        assert_eq!(format_bytes(128.0 * gi, "64Gi"), "128Gi");
        assert_eq!(format_bytes(512.0 * 1024.0 * 1024.0, "256Mi"), "512Mi");
        assert_eq!(format_bytes(1536.0 * 1024.0 * 1024.0, "768Mi"), "1536Mi");
        assert_eq!(format_bytes(2e9, "1G"), "2G");
        assert_eq!(format_bytes(4e9, "2000M"), "4G");
        assert_eq!(
            format_bytes(64.0 * gi + 512.0 * 1024.0 * 1024.0, "64Gi"),
            "66048Mi"
        );
        assert_eq!(format_cpu(8.0), "8");
        assert_eq!(format_cpu(1.5), "1500m");
        assert_eq!(format_cpu(0.25), "250m");
    }

    #[test]
    fn quantities() {
        assert_eq!(parse_quantity("256Mi"), Some(268435456.0));
        assert_eq!(parse_quantity("250m"), Some(0.25));
        assert_eq!(parse_quantity("2"), Some(2.0));
        assert_eq!(parse_quantity("1Gi"), Some(1073741824.0));
        assert_eq!(parse_quantity("x"), None);
    }
}
