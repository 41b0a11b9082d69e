//! OOMKilled containers: the memory limit and request, the last memory
//! gauge of the log, and a fix that raises the limit.

use serde_json::Value;

use crate::analyzers::patterns;
use crate::fix;

use super::diagnosis::Diagnosis;
use super::quantity::{format_bytes, parse_quantity};

impl<'a> Diagnosis<'a, '_> {
    pub(super) fn oom(&mut self, log_text: &str) {
        let wl = self.workload.display();
        let Some(c) = self.spec_container else { return };
        let limit = c
            .resources
            .limits
            .get("memory")
            .and_then(Value::as_str)
            .map(str::to_string);
        let request = c
            .resources
            .requests
            .get("memory")
            .and_then(Value::as_str)
            .map(str::to_string);
        let gauge = patterns::last_memory_gauge(log_text);
        self.spec(
            format!("{wl} container {} resources", c.name),
            format!(
                "limits.memory {}, requests.memory {}",
                limit.as_deref().unwrap_or("(none)"),
                request.as_deref().unwrap_or("(none)")
            ),
        );
        let gauge_text = gauge
            .as_ref()
            .map(|(k, v)| format!("; its last log shows {k} {v} before the kill"))
            .unwrap_or_default();
        let Some(limit) = limit else {
            self.root = Some(format!(
                "container `{}` of {wl} is OOMKilled without a memory limit of its own: the node ran out of memory{gauge_text}",
                c.name
            ));
            return;
        };
        self.root = Some(format!(
            "container `{}` of {wl} is killed for exceeding its memory limit {limit} (request {}){gauge_text}",
            c.name,
            request.as_deref().unwrap_or("none")
        ));
        let Some(bytes) = parse_quantity(&limit) else {
            return;
        };
        // The working set's peak, when a metrics source has it: the limit
        // censors it (the container was killed at the limit), so the new
        // limit is the larger of a quarter above the limit and the peak
        // plus 15% — the right-sizing skill's rule. Without it, twice the
        // limit. In the units the limit is written in (`64Gi` → `128Gi`).
        let peak = self.memory_peak(&c.name);
        let (new_limit, because) = match peak {
            Some(peak) => {
                self.finding.evidence.push(crate::finding::Evidence::new(
                    crate::finding::Source::Metrics,
                    format!(
                        "Prometheus container_memory_working_set_bytes, {}",
                        crate::ctx::PEAK_WINDOW
                    ),
                    format!(
                        "container {} peaked at {} ({:.0}% of its limit {limit}) over the last {}",
                        c.name,
                        format_bytes(peak, "Mi"),
                        peak / bytes * 100.0,
                        crate::ctx::PEAK_WINDOW
                    ),
                ));
                (
                    format_bytes((bytes * 1.25).max(peak * 1.15), &limit),
                    format!(
                        ": its working set peaked at {} of {limit} over {} (a quarter above the limit, or the peak plus 15%)",
                        format_bytes(peak, "Mi"),
                        crate::ctx::PEAK_WINDOW
                    ),
                )
            }
            None => (format_bytes(bytes * 2.0, &limit), String::new()),
        };
        let Some(t) = self.template else { return };
        let Some((cpath, _)) = t.container(&c.name) else {
            return;
        };
        let path = format!("{cpath}/resources/limits/memory");
        let ops = vec![
            fix::test(&format!("{cpath}/name"), c.name.as_str()),
            fix::test(&path, limit.as_str()),
            fix::replace(&path, new_limit.as_str()),
        ];
        let keep = request
            .as_deref()
            .map(|r| format!(" (the request {r} stays)"))
            .unwrap_or_default();
        if let Some(f) = self.template_fix(
            ops,
            format!(
                "Raise the memory limit of container `{}` from {limit} to {new_limit}{keep}{because}",
                c.name
            ),
        ) {
            self.fixes.push(f);
        }
    }
}

impl Diagnosis<'_, '_> {
    /// The highest working set of container `name` over the finding's pods
    /// (the worst pod's when the finding names none), from the metrics
    /// source.
    fn memory_peak(&self, name: &str) -> Option<f64> {
        let peaks = &self.scope.memory_peaks;
        let mut pods: Vec<&str> = self.finding.pods.iter().map(String::as_str).collect();
        if pods.is_empty() {
            pods.push(&self.rep.metadata.name);
        }
        pods.iter()
            .filter_map(|p| peaks.get(&((*p).to_owned(), name.to_owned())))
            .copied()
            .reduce(f64::max)
    }
}
