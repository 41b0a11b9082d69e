//! Kubernetes resource quantities (`250m`, `12345678n`, `512Mi`, `1.5G`,
//! `1e3`), parsed as the API server does: a decimal number, then a binary
//! suffix (`Ki` … `Ei`), a decimal suffix (`n`, `u`, `m`, ``, `k`, `M`, `G`,
//! `T`, `P`, `E`) or a decimal exponent (`e3`, `E-2`).

/// The value of `text` in base units (cores, bytes), or `None` when it is
/// not a quantity.
pub fn parse(text: &str) -> Option<f64> {
    let text = text.trim();
    let (sign, body) = match text.as_bytes().first()? {
        b'-' => (-1.0, &text[1..]),
        b'+' => (1.0, &text[1..]),
        _ => (1.0, text),
    };
    let digits = body
        .bytes()
        .take_while(|b| b.is_ascii_digit() || *b == b'.')
        .count();
    let (number, suffix) = body.split_at(digits);
    if number.is_empty() || number == "." || number.matches('.').count() > 1 {
        return None;
    }
    let number: f64 = number.parse().ok()?;
    let scale = match suffix {
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
        "Mi" => 1024f64.powi(2),
        "Gi" => 1024f64.powi(3),
        "Ti" => 1024f64.powi(4),
        "Pi" => 1024f64.powi(5),
        "Ei" => 1024f64.powi(6),
        exp if exp.starts_with(['e', 'E']) => {
            let power: i32 = exp[1..].parse().ok()?;
            10f64.powi(power)
        }
        _ => return None,
    };
    Some(sign * number * scale)
}

/// CPU in millicores, rounded up as kubectl top does (`MilliValue`).
pub fn millicores(text: &str) -> Option<u64> {
    let cores = parse(text)?;
    (cores >= 0.0).then(|| (cores * 1000.0 - 1e-9).ceil().max(0.0) as u64)
}

/// Memory in bytes, rounded up.
pub fn bytes(text: &str) -> Option<u64> {
    let bytes = parse(text)?;
    (bytes >= 0.0).then(|| (bytes - 1e-9).ceil().max(0.0) as u64)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quantities_parse_as_kubernetes_writes_them() {
        assert_eq!(millicores("12345678n"), Some(13));
        assert_eq!(millicores("250m"), Some(250));
        assert_eq!(millicores("1"), Some(1000));
        assert_eq!(millicores("1.5"), Some(1500));
        assert_eq!(millicores("500u"), Some(1));
        assert_eq!(millicores("0"), Some(0));
        assert_eq!(millicores("2k"), Some(2_000_000));
        assert_eq!(bytes("52428Ki"), Some(52428 * 1024));
        assert_eq!(bytes("51Mi"), Some(51 << 20));
        assert_eq!(bytes("1Gi"), Some(1 << 30));
        assert_eq!(bytes("1G"), Some(1_000_000_000));
        assert_eq!(bytes("128974848"), Some(128_974_848));
        assert_eq!(bytes("129e6"), Some(129_000_000));
        assert_eq!(bytes("1.5M"), Some(1_500_000));
        assert_eq!(bytes("100k"), Some(100_000));
        for bad in ["", "Mi", "12 Mi", "1.2.3", "12MB", "abc", "1e", "-1"] {
            assert_eq!(bytes(bad), None, "{bad:?}");
        }
    }
}
