//! What is history, not a failure now: pods a node's graceful shutdown
//! terminated (their controller replaced them), events older than the
//! container state they would explain, and log lines at INFO/WARN level
//! that merely mention an error or an exception.

use crate::model::{ContainerStatus, Event, Pod};

use super::patterns::{Kind, Match};

/// A controller's pod the kubelet terminated because its node was shutting
/// down: `Failed`, reason `Terminated`/`NodeShutdown`/`Shutdown`. Its
/// controller has replaced it; the pod is left over until deleted.
pub fn shut_down_with_node(pod: &Pod) -> bool {
    pod.status.phase.as_deref() == Some("Failed")
        && matches!(
            pod.status.reason.as_deref(),
            Some("Terminated" | "NodeShutdown" | "Shutdown")
        )
        && pod.metadata.controller().is_some()
}

/// How long a container's current instance must have run Ready, and at
/// least how many times its previous instance's lifetime, before what
/// happened before it is history rather than a loop going on.
const SETTLED_SECONDS: i64 = 10 * 60;
const SETTLED_LIFETIMES: i64 = 3;

/// Whether `event` happened before `cs`'s current instance started, while
/// that instance runs and is ready and has done so for a while by `now`
/// (the newest time the data shows): it explains a past state, not this
/// one. Without `now`, nothing is history.
pub fn before_current_state(event: &Event, cs: &ContainerStatus, now: Option<&str>) -> bool {
    let (Some(run), Some(at)) = (Running::of(cs, now), event.time().and_then(seconds)) else {
        return false;
    };
    let settled = SETTLED_SECONDS.max(run.previous * SETTLED_LIFETIMES);
    cs.ready && at <= run.started && run.now - run.started >= settled
}

/// A running container's current instance: when it started, the previous
/// instance's lifetime (0 when unknown) and `now`, in seconds.
struct Running {
    started: i64,
    previous: i64,
    now: i64,
}

impl Running {
    /// `None` when the container is not running or a time is missing.
    fn of(cs: &ContainerStatus, now: Option<&str>) -> Option<Running> {
        let started = cs
            .state
            .running
            .as_ref()
            .and_then(|r| r.started_at.as_deref())
            .and_then(seconds)?;
        let now = now.and_then(seconds)?;
        let previous = cs
            .last_state
            .terminated
            .as_ref()
            .and_then(|t| {
                Some(seconds(t.finished_at.as_deref()?)? - seconds(t.started_at.as_deref()?)?)
            })
            .unwrap_or(0)
            .max(0);
        Some(Running {
            started,
            previous,
            now,
        })
    }
}

/// How long a container must have run Ready since its last restart, and
/// at least how many times its previous instance's lifetime, before its
/// restarts are history: an app that restarts daily is still failing.
const RECOVERED_SECONDS: i64 = 2 * 86_400;

/// Whether `cs` restarted only long ago: its current instance runs and is
/// ready, and has done so for two days and three times its previous
/// instance's lifetime by `now` (the newest time the data shows). Without
/// `now`, nothing is history.
pub fn recovered_long_ago(cs: &ContainerStatus, now: Option<&str>) -> bool {
    let Some(run) = Running::of(cs, now) else {
        return false;
    };
    cs.ready && run.now - run.started >= RECOVERED_SECONDS.max(run.previous * SETTLED_LIFETIMES)
}

/// Seconds since the epoch of an RFC 3339 UTC timestamp as the API server
/// writes them (`2026-11-20T09:00:14Z`, fractions ignored).
pub fn seconds(t: &str) -> Option<i64> {
    let b = t.as_bytes();
    if b.len() < 19 || b[4] != b'-' || b[7] != b'-' || b[10] != b'T' {
        return None;
    }
    let num = |r: std::ops::Range<usize>| t.get(r)?.parse::<i64>().ok();
    let (y, m, d) = (num(0..4)?, num(5..7)?, num(8..10)?);
    let (hh, mm, ss) = (num(11..13)?, num(14..16)?, num(17..19)?);
    // Days from civil (Howard Hinnant's algorithm).
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    let days = era * 146_097 + doe - 719_468;
    Some(days * 86_400 + hh * 3600 + mm * 60 + ss)
}

/// The level a log line states: `INFO`, `[warn]`, `level=info`,
/// `"level":"warn"`, `I1120 …` (klog), upper-cased; `None` when it states
/// none.
pub fn level_of(line: &str) -> Option<&'static str> {
    const LEVELS: &[(&str, &str)] = &[
        ("trace", "TRACE"),
        ("debug", "DEBUG"),
        ("info", "INFO"),
        ("notice", "INFO"),
        ("warn", "WARN"),
        ("warning", "WARN"),
        ("error", "ERROR"),
        ("err", "ERROR"),
        ("fatal", "FATAL"),
        ("critical", "FATAL"),
        ("crit", "FATAL"),
        ("panic", "FATAL"),
    ];
    let lower = line.to_ascii_lowercase();
    for key in [
        "level=",
        "\"level\":\"",
        "\"level\": \"",
        "\"log.level\": \"",
        "\"log.level\":\"",
        "\"severity\":\"",
    ] {
        if let Some(at) = lower.find(key) {
            let word: String = lower[at + key.len()..]
                .trim_start_matches('"')
                .chars()
                .take_while(char::is_ascii_alphabetic)
                .collect();
            if let Some((_, l)) = LEVELS.iter().find(|(w, _)| *w == word) {
                return Some(l);
            }
        }
    }
    let b = line.as_bytes();
    if b.len() > 5 && b[1..5].iter().all(u8::is_ascii_digit) && b[5] == b' ' {
        match b[0] {
            b'I' => return Some("INFO"),
            b'W' => return Some("WARN"),
            b'E' => return Some("ERROR"),
            b'F' => return Some("FATAL"),
            _ => {}
        }
    }
    // `2026-… INFO 1 --- […]`, `[INFO]`, `[2026/…] [warn]`, `INFO:logger:…`.
    line.split_whitespace().take(6).find_map(|w| {
        let w = w.trim_matches(['[', ']', ':']);
        let w = w.split(':').next().unwrap_or(w);
        LEVELS
            .iter()
            .find(|(word, _)| w.eq_ignore_ascii_case(word) && w.len() > 3)
            .map(|(_, l)| *l)
    })
}

/// A match that only shows a line mentioning an error or an exception
/// (`errors=0`, `Registered exception handler for XException`) at a level
/// below ERROR: not a failure.
pub fn mere_mention(m: &Match) -> bool {
    matches!(m.kind, Kind::Exception | Kind::ErrorLevel)
        && matches!(level_of(&m.line), Some("TRACE" | "DEBUG" | "INFO" | "WARN"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::analyzers::patterns;

    #[test]
    fn timestamps() {
        assert_eq!(seconds("1970-01-01T00:00:00Z"), Some(0));
        assert_eq!(seconds("2026-11-20T09:00:14Z"), Some(1_795_165_214));
        assert_eq!(seconds("2026-11-20T09:00:14.412876Z"), Some(1_795_165_214));
        assert_eq!(seconds("yesterday"), None);
    }

    #[test]
    fn levels() {
        for (line, level) in [
            (
                "2026-11-20T08:52:14.771Z  WARN 1 --- [profile] [nio-8080-exec-7] c.e.X : Resolved [a.b.XException: x]",
                Some("WARN"),
            ),
            (
                "2026-11-11T09:00:21.433Z  INFO 1 --- [profile] [main] c.e.a.p.web.ErrorHandlingConfig : Registered exception handler for ProfileNotFoundException -> 404",
                Some("INFO"),
            ),
            (
                "{\"level\":\"info\",\"msg\":\"registered error page\"}",
                Some("INFO"),
            ),
            ("time=2026 level=warn msg=\"slow\" errors=0", Some("WARN")),
            ("I1120 08:00:00.000 1 x.go:1] synced", Some("INFO")),
            (
                "2026-11-20T02:31:39Z ERROR upload part 14 failed",
                Some("ERROR"),
            ),
            ("INFO:thumbnailer:starting", Some("INFO")),
            ("java.lang.IllegalStateException: boom", None),
        ] {
            assert_eq!(level_of(line), level, "{line}");
        }
    }

    #[test]
    fn mentions_at_info_are_not_failures() {
        for line in [
            "2026-11-20T08:52:14.771Z  WARN 1 --- [profile] [nio-8080-exec-7] c.e.a.p.web.ErrorHandlingConfig : Resolved [com.example.accounts.profile.ProfileNotFoundException: profile 8812 not found]",
            "{\"level\":\"info\",\"msg\":\"mapper registered\",\"class\":\"com.example.ValidationException\"}",
        ] {
            // Either the pattern library passes it by, or it is a mere mention.
            assert!(
                patterns::scan_line(line, 1).is_none_or(|m| mere_mention(&m)),
                "{line}"
            );
        }
        let real = "2026-11-20T08:57:45.914Z ERROR 1 --- [main] com.zaxxer.hikari.pool.HikariPool : HikariPool-1 - Exception during pool initialization.";
        if let Some(m) = patterns::scan_line(real, 1) {
            assert!(!mere_mention(&m));
        }
        let bare = "org.postgresql.util.PSQLException: Connection to pg:5432 refused.";
        let m = patterns::scan_line(bare, 1).unwrap();
        assert!(!mere_mention(&m));
    }
}
