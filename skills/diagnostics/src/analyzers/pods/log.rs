//! The container log of a failing pod: the previous instance's tail (a
//! longer one when the tail is all stack trace), scanned by the pattern
//! library, and the lines worth quoting as evidence.

use guardian_skill_sdk::{LogOptions, kube};

use crate::analyzers::budget;
use crate::analyzers::patterns::{self, Kind, Match};
use crate::ctx::Scope;
use crate::finding::{Evidence, Source};
use crate::reasons as r;

/// Lines of the previous container's log read for a failing container.
const LOG_TAIL: u32 = 50;
/// Lines read when the tail is all stack trace.
const LONG_LOG_TAIL: u32 = 300;
/// Log lines quoted per finding.
const MAX_LOG_LINES: usize = 4;

/// A container log, read and scanned (empty when none was read).
#[derive(Default)]
pub struct Log {
    pub reference: String,
    pub text: String,
    pub matches: Vec<Match>,
    pub error: Option<String>,
}

/// Reads the previous instance's log (when `previous`), falling back to the
/// current one, and scans it.
pub fn read_log(scope: &Scope, pod: &str, container: &str, previous: bool) -> Log {
    let mut error = None;
    let attempts: &[bool] = if previous { &[true, false] } else { &[false] };
    for &prev in attempts {
        if !budget::failing_log() {
            error.get_or_insert_with(|| {
                format!(
                    "not read: this scan already read its share of {} logs in this namespace; re-run the scan on namespace {} alone",
                    budget::failing_share(),
                    scope.namespace
                )
            });
            break;
        }
        let options = LogOptions {
            container: Some(container.to_string()),
            tail_lines: Some(LOG_TAIL),
            previous: prev,
        };
        match kube::logs(&scope.namespace, pod, &options) {
            Ok(mut text) => {
                let mut matches = patterns::scan(&text);
                // A long stack trace fills the tail: what caused it (an unset
                // variable, a refused connection) is logged above it.
                let full = text.lines().count() >= LOG_TAIL as usize;
                let trace = matches
                    .iter()
                    .any(|m| matches!(m.kind, Kind::Exception | Kind::StackTrace | Kind::Panic));
                let specific = matches.iter().any(|m| m.kind < Kind::Panic);
                if full && trace && !specific {
                    let longer = LogOptions {
                        tail_lines: Some(LONG_LOG_TAIL),
                        ..options
                    };
                    if budget::failing_log()
                        && let Ok(more) = kube::logs(&scope.namespace, pod, &longer)
                    {
                        matches = patterns::scan(&more);
                        text = more;
                    }
                }
                return Log {
                    reference: format!(
                        "log of Pod {}/{pod} container {container}{}",
                        scope.namespace,
                        if prev { " (previous)" } else { "" }
                    ),
                    text,
                    matches,
                    error: None,
                };
            }
            Err(e) => {
                if error.is_none() {
                    error = Some(e.describe());
                }
            }
        }
    }
    Log {
        reference: format!("log of Pod {}/{pod} container {container}", scope.namespace),
        text: String::new(),
        matches: Vec::new(),
        error,
    }
}

impl Log {
    /// The lines worth quoting; for a log without telling lines, how it ends.
    pub fn evidence(&self, reason: &str) -> Vec<Evidence> {
        let mut out = Vec::new();
        if let Some(e) = &self.error {
            out.push(Evidence::new(
                Source::Log,
                self.reference.clone(),
                format!("the log could not be read: {e}"),
            ));
            return out;
        }
        let telling = patterns::most_telling(&self.matches, MAX_LOG_LINES);
        for m in &telling {
            out.push(Evidence::new(
                Source::Log,
                format!("{} line {}", self.reference, m.line_no),
                format!("{}: {}", m.kind.label(), m.line),
            ));
        }
        if telling.is_empty() || reason == r::OOM_KILLED || reason == r::PROBE_FAILING {
            if reason == r::PROBE_FAILING {
                if let Some(m) = self.matches.iter().find(|m| m.kind == Kind::Listening) {
                    out.push(Evidence::new(
                        Source::Log,
                        format!("{} line {}", self.reference, m.line_no),
                        format!(
                            "the app says it listens on port {}: {}",
                            m.port.unwrap_or(0),
                            m.line
                        ),
                    ));
                }
            } else if let Some((n, last)) = patterns::last_meaningful_line(&self.text) {
                // Not a runtime's banner or usage text printed after it.
                out.push(Evidence::new(
                    Source::Log,
                    format!("{} line {n}", self.reference),
                    format!(
                        "the log ends with: {}",
                        patterns::clip(last, patterns::MAX_LINE)
                    ),
                ));
            }
        }
        out
    }
}
