//! A liveness probe that kills an app slower to start than the probe
//! allows: the kubelet restarts the container (exit 137/143 after `Liveness
//! probe failed` with the port still closed) before it is up, while the
//! app's own log (or a ready pod of the workload, often the previous
//! revision's) shows how long a start takes. The fix is a `startupProbe`
//! sized from that observed start time, so the liveness probe only begins
//! once the app is up.

use serde_json::{Value, json};

use crate::finding::Source;
use crate::fix;
use crate::model::Pod;
use crate::reasons as r;

use super::classify::{is_ready, killed_by_probe};
use super::diagnosis::Diagnosis;
use super::log::read_log;

/// The start-up probe's period, in seconds.
const STARTUP_PERIOD: i64 = 10;

impl<'a> Diagnosis<'a, '_> {
    /// The liveness probe kills the container before the app has started:
    /// the root cause with the probe's window and the observed start time,
    /// and a `startupProbe` fix sized from it.
    pub(super) fn slow_start(&mut self) {
        if !matches!(
            self.reason,
            r::PROBE_FAILING | r::CRASH_LOOP_BACK_OFF | r::CONTAINER_FAILING
        ) {
            return;
        }
        let (Some(c), Some(cs), Some(t)) = (self.spec_container, self.status, self.template) else {
            return;
        };
        let pod_events = self.events.of("Pod", &self.rep.metadata.name);
        if !killed_by_probe(cs, pod_events, self.events.latest()) {
            return;
        }
        // The probe fails because nothing answers yet (not a wrong path).
        let Some(failed) = pod_events.iter().rev().find_map(|e| {
            let m = e.message.as_deref()?;
            (e.reason.as_deref() == Some("Unhealthy")
                && (m.starts_with("Liveness probe failed")
                    || m.starts_with("Startup probe failed")))
            .then_some(m)
        }) else {
            return;
        };
        if !not_up_yet(failed) {
            return;
        }
        let Some((cpath, tc)) = t.container(&c.name) else {
            return;
        };
        let live = &tc["livenessProbe"];
        let startup = &tc["startupProbe"];
        // The probe that decides how long a start may take: the startup
        // probe when there is one (the liveness probe waits for it).
        let (field, governing) = if startup.is_object() {
            ("startupProbe", startup)
        } else if live.is_object() {
            ("livenessProbe", live)
        } else {
            return;
        };
        let initial = governing["initialDelaySeconds"].as_i64().unwrap_or(0);
        let period = governing["periodSeconds"].as_i64().unwrap_or(10);
        let failures = governing["failureThreshold"].as_i64().unwrap_or(3);
        let window = initial + period * failures;
        let Some(start) = self.observed_start(&c.name) else {
            return;
        };
        if start.seconds <= window as f64 {
            return;
        }
        let ran = cs.last_state.terminated.as_ref().and_then(|t| {
            Some(epoch(t.finished_at.as_deref()?)? - epoch(t.started_at.as_deref()?)?)
        });
        let code = cs
            .last_state
            .terminated
            .as_ref()
            .and_then(|t| t.exit_code)
            .unwrap_or(137);
        let wl = self.workload.display();
        let needed = (start.seconds * 1.5).ceil() as i64;
        let threshold = (needed + STARTUP_PERIOD - 1) / STARTUP_PERIOD;
        let secs = fmt_secs(start.seconds);
        self.finding.evidence.push(crate::finding::Evidence::new(
            Source::Log,
            start.reference.clone(),
            format!("the app took {secs}s to start: {}", start.line),
        ));
        self.root = Some(format!(
            "the {field} of container `{}` of {wl} gives the app {window}s to answer (initialDelaySeconds {initial} + periodSeconds {period} × failureThreshold {failures}) and the kubelet kills it when it does not (exit {code}{}, {} restarts: `{}`), but the app takes about {secs}s to start (`{}`, {})",
            c.name,
            ran.map(|s| format!(" after {s}s")).unwrap_or_default(),
            cs.restart_count,
            crate::analyzers::patterns::clip(failed, 160),
            start.line,
            start.reference,
        ));
        let (ops, what) = if startup.is_object() {
            let old = startup["failureThreshold"].as_i64().unwrap_or(3);
            let sp = startup["periodSeconds"].as_i64().unwrap_or(10).max(1);
            let threshold = (needed + sp - 1) / sp;
            if threshold <= old {
                return;
            }
            let path = format!("{cpath}/startupProbe/failureThreshold");
            let mut ops = vec![fix::test(&format!("{cpath}/name"), c.name.as_str())];
            if startup.get("failureThreshold").is_some() {
                ops.push(fix::test(&path, old));
                ops.push(fix::replace(&path, threshold));
            } else {
                ops.push(fix::add(&path, threshold));
            }
            (
                ops,
                format!(
                    "Raise the startupProbe failureThreshold of container `{}` from {old} to {threshold} (× periodSeconds {sp} = {}s, 1.5 × the observed {secs}s start)",
                    c.name,
                    threshold * sp
                ),
            )
        } else {
            let mut probe = serde_json::Map::new();
            for handler in ["httpGet", "tcpSocket", "grpc", "exec"] {
                if let Some(h) = live.get(handler) {
                    probe.insert(handler.into(), h.clone());
                }
            }
            if probe.is_empty() {
                return;
            }
            probe.insert("periodSeconds".into(), json!(STARTUP_PERIOD));
            probe.insert("failureThreshold".into(), json!(threshold));
            probe.insert(
                "timeoutSeconds".into(),
                live.get("timeoutSeconds").cloned().unwrap_or(json!(1)),
            );
            (
                vec![
                    fix::test(&format!("{cpath}/name"), c.name.as_str()),
                    fix::add(&format!("{cpath}/startupProbe"), Value::Object(probe)),
                ],
                format!(
                    "Add a startupProbe to container `{}` with the liveness probe's check, periodSeconds {STARTUP_PERIOD} × failureThreshold {threshold} = {}s (1.5 × the observed {secs}s start): the liveness probe starts only once it passes",
                    c.name,
                    threshold * STARTUP_PERIOD
                ),
            )
        };
        if let Some(f) = self.template_fix(ops, what) {
            self.fixes.push(f);
        }
    }

    /// How long the app takes to start, from a line that says so: the
    /// failing container's log first, then the log of one ready pod of the
    /// workload (one more log read).
    fn observed_start(&self, container: &str) -> Option<Start> {
        if let Some(s) = start_line(&self.log.text) {
            return Some(Start {
                reference: self.log.reference.clone(),
                ..s
            });
        }
        let ready: Vec<&Pod> = self
            .scope
            .pods
            .iter()
            .filter(|p| {
                p.metadata.name != self.rep.metadata.name
                    && is_ready(p)
                    && self.scope.workload_of(p) == *self.workload
                    && p.spec.containers.iter().any(|c| c.name == container)
            })
            .collect();
        let pod = ready.first()?;
        let log = read_log(self.scope, &pod.metadata.name, container, false);
        let s = start_line(&log.text)?;
        Some(Start {
            reference: log.reference,
            ..s
        })
    }
}

/// A start-up time the app logged.
struct Start {
    seconds: f64,
    line: String,
    reference: String,
}

/// `Liveness probe failed: … connection refused` / `… context deadline
/// exceeded` / `… statuscode: 503`: nothing answers yet.
fn not_up_yet(message: &str) -> bool {
    let m = message.to_ascii_lowercase();
    [
        "connection refused",
        "context deadline exceeded",
        "i/o timeout",
        "timeout",
        "statuscode: 503",
        "connection reset",
        "eof",
    ]
    .iter()
    .any(|k| m.contains(k))
}

/// The line saying how long the start took (the longest such time, so a
/// request logged `ready in 3ms` does not count): `Started App in 142.6
/// seconds`, `startup complete in 98s`, `model loaded in 1m38s`,
/// `ready in 45000ms`.
fn start_line(text: &str) -> Option<Start> {
    let mut best = None;
    for line in text.lines() {
        let lower = line.to_ascii_lowercase();
        if ![
            "start",
            "ready",
            "loaded",
            "warm",
            "initiali",
            "listening",
            "boot",
        ]
        .iter()
        .any(|k| lower.contains(k))
        {
            continue;
        }
        let Some(at) = lower.rfind(" in ") else {
            continue;
        };
        if let Some(seconds) = duration(&lower[at + 4..])
            && best.as_ref().is_none_or(|b: &Start| seconds > b.seconds)
        {
            best = Some(Start {
                seconds,
                line: crate::analyzers::patterns::clip(line.trim(), 200),
                reference: String::new(),
            });
        }
    }
    best
}

/// `142.6 seconds`, `98s`, `1m38s`, `45000ms`, `2.5 min` at the start of
/// `text`, in seconds.
fn duration(text: &str) -> Option<f64> {
    let mut total = 0.0;
    let mut rest = text.trim_start();
    let mut any = false;
    loop {
        let end = rest
            .find(|c: char| !(c.is_ascii_digit() || c == '.'))
            .unwrap_or(rest.len());
        if end == 0 {
            break;
        }
        let n: f64 = rest[..end].parse().ok()?;
        let after = rest[end..].trim_start();
        let unit_end = after
            .find(|c: char| !c.is_ascii_alphabetic())
            .unwrap_or(after.len());
        let unit = &after[..unit_end];
        let mult = match unit {
            "ms" | "millis" | "milliseconds" => 0.001,
            "s" | "sec" | "secs" | "second" | "seconds" => 1.0,
            "m" | "min" | "mins" | "minute" | "minutes" => 60.0,
            "h" | "hr" | "hour" | "hours" => 3600.0,
            _ => break,
        };
        total += n * mult;
        any = true;
        rest = &after[unit_end..];
    }
    (any && total > 0.0).then_some(total)
}

fn fmt_secs(s: f64) -> String {
    if (s - s.round()).abs() < 0.05 {
        format!("{}", s.round() as i64)
    } else {
        format!("{s:.1}")
    }
}

/// Seconds since the epoch of an RFC 3339 UTC time (`2026-11-20T08:57:11Z`).
pub(super) fn epoch(t: &str) -> Option<i64> {
    let b = t.as_bytes();
    if b.len() < 19 {
        return None;
    }
    let num = |r: std::ops::Range<usize>| t.get(r)?.parse::<i64>().ok();
    let (y, mo, d) = (num(0..4)?, num(5..7)?, num(8..10)?);
    let (h, mi, s) = (num(11..13)?, num(14..16)?, num(17..19)?);
    // Days from the civil date (Howard Hinnant's algorithm).
    let y = if mo <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (mo + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    let days = era * 146_097 + doe - 719_468;
    Some(days * 86_400 + h * 3600 + mi * 60 + s)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn start_times() {
        let s = start_line("2026-11-20 INFO Started LedgerApplication in 142.6 seconds (process running for 144.1)\n").unwrap();
        assert!((s.seconds - 142.6).abs() < 1e-9);
        assert_eq!(
            start_line("[INFO] feature store warmed in 1m38s\n")
                .unwrap()
                .seconds,
            98.0
        );
        assert!(start_line("GET /healthz in 3ms\n").is_none());
        assert!(start_line("Starting server\n").is_none());
        assert_eq!(
            epoch("2026-11-20T09:00:14Z").unwrap() - epoch("2026-11-20T08:58:14Z").unwrap(),
            120
        );
        assert_eq!(epoch("1970-01-02T00:00:00Z"), Some(86_400));
        assert!(not_up_yet(
            "Liveness probe failed: Get \"http://10.244.1.7:8080/actuator/health/liveness\": dial tcp 10.244.1.7:8080: connect: connection refused"
        ));
        assert!(!not_up_yet(
            "Liveness probe failed: HTTP probe failed with statuscode: 404"
        ));
    }
}
