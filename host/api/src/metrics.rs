//! Prometheus metrics for `/metrics`: tool calls and their latencies (by
//! channel, tool and outcome), policy denials, refused calls, calls in
//! flight, and (read at scrape time) pending actions.

use std::collections::BTreeMap;
use std::fmt::Write;
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::{Mutex, OnceLock};
use std::time::Duration;

/// Latency bucket bounds, in seconds.
const BUCKETS: [f64; 12] = [
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 10.0,
];

#[derive(Default)]
struct Histogram {
    counts: [u64; BUCKETS.len()],
    sum: f64,
    count: u64,
}

impl Histogram {
    fn observe(&mut self, secs: f64) {
        for (i, bound) in BUCKETS.iter().enumerate() {
            if secs <= *bound {
                self.counts[i] += 1;
            }
        }
        self.sum += secs;
        self.count += 1;
    }
}

#[derive(Default)]
struct Inner {
    /// (channel, tool, outcome) → count
    calls: BTreeMap<(String, String, String), u64>,
    /// (channel, tool) → latency
    latency: BTreeMap<(String, String), Histogram>,
    /// (channel, tool) → policy denials
    denials: BTreeMap<(String, String), u64>,
    /// (channel, reason) → refused calls
    refusals: BTreeMap<(String, String), u64>,
    /// (channel, method, code) → API requests
    requests: BTreeMap<(String, String, String), u64>,
}

/// The process's metrics.
#[derive(Default)]
pub struct Metrics {
    inner: Mutex<Inner>,
    in_flight: AtomicI64,
}

static GLOBAL: OnceLock<Metrics> = OnceLock::new();

/// The metrics of this process.
pub fn global() -> &'static Metrics {
    GLOBAL.get_or_init(Metrics::default)
}

/// Counts a call in flight while it lives.
pub struct InFlight(());

impl Drop for InFlight {
    fn drop(&mut self) {
        global().in_flight.fetch_sub(1, Ordering::SeqCst);
    }
}

impl Metrics {
    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Marks a call in flight until the guard drops.
    pub fn start(&self) -> InFlight {
        self.in_flight.fetch_add(1, Ordering::SeqCst);
        InFlight(())
    }

    /// Calls in flight now.
    pub fn in_flight(&self) -> i64 {
        self.in_flight.load(Ordering::SeqCst)
    }

    /// One tool call: `outcome` is `ok` or the error code; `denied` when
    /// the broker's policy denied a Kubernetes call in it.
    pub fn tool_call(
        &self,
        channel: &str,
        tool: &str,
        outcome: &str,
        denied: bool,
        took: Duration,
    ) {
        let mut m = self.lock();
        *m.calls
            .entry((channel.into(), tool.into(), outcome.into()))
            .or_default() += 1;
        m.latency
            .entry((channel.into(), tool.into()))
            .or_default()
            .observe(took.as_secs_f64());
        if denied {
            *m.denials.entry((channel.into(), tool.into())).or_default() += 1;
        }
    }

    /// `n` policy denials in `tool` (the agent's, counted from its stats).
    pub fn denials(&self, channel: &str, tool: &str, n: u64) {
        if n > 0 {
            *self
                .lock()
                .denials
                .entry((channel.into(), tool.into()))
                .or_default() += n;
        }
    }

    /// One call refused by authentication or role.
    pub fn auth_refusal(&self, channel: &str, reason: &str) {
        *self
            .lock()
            .refusals
            .entry((channel.into(), reason.into()))
            .or_default() += 1;
    }

    /// One API request and the status it ended with.
    pub fn request(&self, channel: &str, method: &str, code: &str) {
        *self
            .lock()
            .requests
            .entry((channel.into(), method.into(), code.into()))
            .or_default() += 1;
    }

    /// The text exposition format; `pending` is the pending actions now.
    pub fn render(&self, pending: Option<usize>, skills: usize) -> String {
        let m = self.lock();
        let mut out = String::new();
        let esc = |s: &str| s.replace('\\', "\\\\").replace('"', "\\\"");
        out.push_str("# HELP guardian_tool_calls_total Tool calls, by channel, tool and outcome (ok or the error code).\n# TYPE guardian_tool_calls_total counter\n");
        for ((c, t, o), n) in &m.calls {
            let _ = writeln!(
                out,
                "guardian_tool_calls_total{{channel=\"{}\",tool=\"{}\",outcome=\"{}\"}} {n}",
                esc(c),
                esc(t),
                esc(o)
            );
        }
        out.push_str("# HELP guardian_tool_call_duration_seconds Tool call latency.\n# TYPE guardian_tool_call_duration_seconds histogram\n");
        for ((c, t), h) in &m.latency {
            let labels = format!("channel=\"{}\",tool=\"{}\"", esc(c), esc(t));
            for (i, bound) in BUCKETS.iter().enumerate() {
                let _ = writeln!(
                    out,
                    "guardian_tool_call_duration_seconds_bucket{{{labels},le=\"{bound}\"}} {}",
                    h.counts[i]
                );
            }
            let _ = writeln!(
                out,
                "guardian_tool_call_duration_seconds_bucket{{{labels},le=\"+Inf\"}} {}",
                h.count
            );
            let _ = writeln!(
                out,
                "guardian_tool_call_duration_seconds_sum{{{labels}}} {}",
                h.sum
            );
            let _ = writeln!(
                out,
                "guardian_tool_call_duration_seconds_count{{{labels}}} {}",
                h.count
            );
        }
        out.push_str("# HELP guardian_policy_denials_total Tool calls that failed because policy (or the skill's grants) denied a Kubernetes call; for ask, the agent's denied calls.\n# TYPE guardian_policy_denials_total counter\n");
        for ((c, t), n) in &m.denials {
            let _ = writeln!(
                out,
                "guardian_policy_denials_total{{channel=\"{}\",tool=\"{}\"}} {n}",
                esc(c),
                esc(t)
            );
        }
        out.push_str("# HELP guardian_auth_refusals_total Calls refused before they ran (unauthenticated, permission-denied).\n# TYPE guardian_auth_refusals_total counter\n");
        for ((c, r), n) in &m.refusals {
            let _ = writeln!(
                out,
                "guardian_auth_refusals_total{{channel=\"{}\",reason=\"{}\"}} {n}",
                esc(c),
                esc(r)
            );
        }
        out.push_str("# HELP guardian_api_requests_total API requests, by channel, method and status.\n# TYPE guardian_api_requests_total counter\n");
        for ((c, meth, code), n) in &m.requests {
            let _ = writeln!(
                out,
                "guardian_api_requests_total{{channel=\"{}\",method=\"{}\",code=\"{}\"}} {n}",
                esc(c),
                esc(meth),
                esc(code)
            );
        }
        let _ = writeln!(
            out,
            "# HELP guardian_calls_in_flight API calls running now.\n# TYPE guardian_calls_in_flight gauge\nguardian_calls_in_flight {}",
            self.in_flight()
        );
        if let Some(p) = pending {
            let _ = writeln!(
                out,
                "# HELP guardian_pending_actions Proposed actions waiting for a person.\n# TYPE guardian_pending_actions gauge\nguardian_pending_actions {p}"
            );
        }
        let _ = writeln!(
            out,
            "# HELP guardian_skills_loaded Skills loaded.\n# TYPE guardian_skills_loaded gauge\nguardian_skills_loaded {skills}"
        );
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_counters_and_histograms() {
        let m = Metrics::default();
        m.tool_call(
            "grpc",
            "cluster.list",
            "ok",
            false,
            Duration::from_millis(3),
        );
        m.tool_call(
            "grpc",
            "cluster.list",
            "host-error",
            true,
            Duration::from_millis(30),
        );
        let text = m.render(Some(2), 3);
        assert!(text.contains(
            "guardian_tool_calls_total{channel=\"grpc\",tool=\"cluster.list\",outcome=\"ok\"} 1"
        ));
        assert!(text.contains(
            "guardian_tool_call_duration_seconds_bucket{channel=\"grpc\",tool=\"cluster.list\",le=\"0.005\"} 1"
        ));
        assert!(text.contains(
            "guardian_tool_call_duration_seconds_count{channel=\"grpc\",tool=\"cluster.list\"} 2"
        ));
        assert!(
            text.contains(
                "guardian_policy_denials_total{channel=\"grpc\",tool=\"cluster.list\"} 1"
            )
        );
        assert!(text.contains("guardian_pending_actions 2"));
    }
}
