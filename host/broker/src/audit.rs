//! The audit log: one JSON line per broker decision and per action state
//! change (DESIGN.md §4 invariant 5).

use std::fs::{File, OpenOptions};
use std::io::{BufWriter, Write};
use std::path::Path;
use std::sync::Mutex;

use serde::Serialize;

/// One line of the audit log.
#[derive(Clone, Debug, Serialize)]
pub struct AuditRecord<'a> {
    /// RFC 3339, UTC.
    pub time: String,
    /// `human:alice`, `agent:loop`, `system:guardian`.
    pub caller: String,
    pub skill: &'a str,
    pub tool: &'a str,
    pub verb: &'a str,
    /// `group/version/resource[/subresource]`, core group empty: `/v1/pods/log`.
    pub resource: String,
    pub namespace: &'a str,
    pub name: &'a str,
    pub dry_run: bool,
    /// `allow` or `deny`.
    pub decision: &'static str,
    pub rule: &'a str,
    pub reasons: &'a [String],
    /// What the backend said when an allowed call failed (`not-found`, …).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<&'static str>,
    /// The node a node daemon (`guardian serve --node NAME`) reads; absent
    /// when the whole cluster is read.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub node: Option<&'a str>,
    /// Decision plus backend time.
    pub latency_us: u64,
}

/// One line of the audit log for a state change of a proposed action
/// (`guardian-actions`): `{"time", "event": "action", "action", "from", "to",
/// "who", "target", "note"}`.
#[derive(Clone, Debug, Serialize)]
pub struct ActionAuditRecord<'a> {
    /// RFC 3339, UTC: when the transition happened.
    pub time: String,
    /// Always `action` (tells these lines from decision lines).
    pub event: &'static str,
    /// The action id: `act-…`.
    pub action: &'a str,
    /// The state before; `None` (JSON `null`) for a new proposal.
    pub from: Option<&'a str>,
    /// The state after: `pending`, `approved`, `rejected`, `expired`,
    /// `applying`, `applied`, `failed`.
    pub to: &'a str,
    /// Who made the change: `human:alice (cli)`, `agent via diagnostics.analyze`,
    /// `system:guardian`.
    pub who: &'a str,
    /// The object: `deployments.apps shop/web`.
    pub target: &'a str,
    pub note: &'a str,
}

impl<'a> ActionAuditRecord<'a> {
    /// A record with `event` set to `action`.
    pub fn new(
        time: String,
        action: &'a str,
        from: Option<&'a str>,
        to: &'a str,
        who: &'a str,
        target: &'a str,
        note: &'a str,
    ) -> Self {
        Self {
            time,
            event: "action",
            action,
            from,
            to,
            who,
            target,
            note,
        }
    }
}

/// Where audit lines go.
pub enum Audit {
    /// Discarded (tests, benchmarks).
    Off,
    Stdout,
    File(Mutex<BufWriter<File>>),
    /// Kept in memory (tests read them back).
    Memory(Mutex<Vec<String>>),
}

impl Audit {
    /// `-` is stdout; anything else is a file opened for appending.
    pub fn open(target: &Path) -> std::io::Result<Self> {
        if target.as_os_str() == "-" {
            return Ok(Audit::Stdout);
        }
        let file = OpenOptions::new().create(true).append(true).open(target)?;
        Ok(Audit::File(Mutex::new(BufWriter::new(file))))
    }

    pub fn memory() -> Self {
        Audit::Memory(Mutex::new(Vec::new()))
    }

    /// Records one broker decision.
    pub fn record(&self, record: &AuditRecord<'_>) {
        self.write(record);
    }

    /// Records one state change of a proposed action.
    pub fn record_action(&self, record: &ActionAuditRecord<'_>) {
        self.write(record);
    }

    /// Records another kind of event (an `event` field tells it from
    /// decision lines): the API server's refused calls (`event: "access"`).
    pub fn record_event<T: Serialize>(&self, record: &T) {
        self.write(record);
    }

    fn write<T: Serialize>(&self, record: &T) {
        if matches!(self, Audit::Off) {
            return;
        }
        let line = match serde_json::to_string(record) {
            Ok(l) => l,
            Err(e) => {
                tracing::error!(error = %e, "cannot encode an audit record");
                return;
            }
        };
        match self {
            Audit::Off => {}
            Audit::Stdout => {
                let mut out = std::io::stdout().lock();
                let _ = writeln!(out, "{line}");
            }
            Audit::File(file) => {
                let mut file = file.lock().unwrap_or_else(|p| p.into_inner());
                // Flushed per line: an audit log that loses its tail on a
                // crash is not an audit log.
                if let Err(e) = writeln!(file, "{line}").and_then(|()| file.flush()) {
                    tracing::error!(error = %e, "cannot write the audit log");
                }
            }
            Audit::Memory(lines) => lines.lock().unwrap_or_else(|p| p.into_inner()).push(line),
        }
    }

    /// The lines recorded so far (only for [`Audit::memory`]).
    pub fn lines(&self) -> Vec<String> {
        match self {
            Audit::Memory(lines) => lines.lock().unwrap_or_else(|p| p.into_inner()).clone(),
            _ => Vec::new(),
        }
    }
}

pub(crate) fn now_rfc3339() -> String {
    chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Micros, true)
}
