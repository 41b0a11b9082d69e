//! RFC 3339 timestamps as Kubernetes writes them: the one parser, used to
//! order events (the snapshot store and the live backend alike) and to
//! print ages (`snapshot serve`'s tables).
//!
//! Kubernetes writes `2026-11-23T13:28:00Z` (metav1.Time) and
//! `2026-11-23T13:28:00.123456Z` (metav1.MicroTime); hand-written or
//! converted files may carry offsets. Comparing the strings would misorder
//! those, so timestamps are turned into microseconds since the epoch.

/// Microseconds since 1970-01-01T00:00:00Z, or `None` if `s` is not an
/// RFC 3339 date-time.
pub fn parse_rfc3339_micros(s: &str) -> Option<i64> {
    let b = s.as_bytes();
    if b.len() < 20 || b[4] != b'-' || b[7] != b'-' || !matches!(b[10], b'T' | b't' | b' ') {
        return None;
    }
    if b[13] != b':' || b[16] != b':' {
        return None;
    }
    let num = |from: usize, to: usize| -> Option<i64> { s.get(from..to)?.parse::<i64>().ok() };
    let (year, month, day) = (num(0, 4)?, num(5, 7)?, num(8, 10)?);
    let (hour, minute, second) = (num(11, 13)?, num(14, 16)?, num(17, 19)?);
    if !(1..=12).contains(&month) || !(1..=31).contains(&day) || hour > 23 || minute > 59 {
        return None;
    }
    // Leap seconds (`:60`) are folded into the next second's slot.
    if second > 60 {
        return None;
    }
    let mut rest = &s[19..];
    let mut micros = 0i64;
    if let Some(fraction) = rest.strip_prefix('.') {
        let digits = fraction.bytes().take_while(u8::is_ascii_digit).count();
        if digits == 0 {
            return None;
        }
        // Keep microsecond precision; pad or cut the fraction to 6 digits.
        let mut padded: String = fraction[..digits].chars().take(6).collect();
        while padded.len() < 6 {
            padded.push('0');
        }
        micros = padded.parse().ok()?;
        rest = &fraction[digits..];
    }
    let offset_seconds = match rest {
        "Z" | "z" => 0,
        _ => {
            let sign = match rest.as_bytes().first()? {
                b'+' => 1,
                b'-' => -1,
                _ => return None,
            };
            let (h, m) = rest.get(1..)?.split_once(':')?;
            if h.len() != 2 || m.len() != 2 {
                return None;
            }
            sign * (h.parse::<i64>().ok()? * 3600 + m.parse::<i64>().ok()? * 60)
        }
    };
    let days = days_from_civil(year, month, day);
    let seconds = days * 86_400 + hour * 3600 + minute * 60 + second - offset_seconds;
    Some(seconds * 1_000_000 + micros)
}

/// Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's
/// `days_from_civil`).
fn days_from_civil(year: i64, month: i64, day: i64) -> i64 {
    let y = if month <= 2 { year - 1 } else { year };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (month + 9) % 12;
    let doy = (153 * mp + 2) / 5 + day - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

#[cfg(test)]
mod tests {
    use super::parse_rfc3339_micros as p;

    #[test]
    fn parses_kubernetes_timestamps() {
        assert_eq!(p("1970-01-01T00:00:00Z"), Some(0));
        assert_eq!(p("1970-01-02T00:00:01Z"), Some(86_401_000_000));
        assert_eq!(p("2000-03-01T00:00:00Z"), Some(951_868_800_000_000));
        assert_eq!(
            p("2026-11-23T13:28:00.5Z"),
            p("2026-11-23T13:28:00Z").map(|t| t + 500_000)
        );
        assert_eq!(p("2026-11-23T15:28:00+02:00"), p("2026-11-23T13:28:00Z"));
        assert_eq!(
            p("2026-11-23T13:28:00.123456789Z").map(|t| t % 1_000_000),
            Some(123_456)
        );
        for bad in [
            "",
            "yesterday",
            "2026-13-01T00:00:00Z",
            "2026-11-23T13:28:00",
            "2026-11-23T13:28:00.Z",
        ] {
            assert_eq!(p(bad), None, "{bad}");
        }
    }
}
