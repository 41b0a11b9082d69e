//! `investigations.db` in the state directory: SQLite (WAL, 0600), one
//! transaction per change. Each investigation is one row: its record as
//! JSON and the columns the intake looks things up by.

use std::path::{Path, PathBuf};
use std::sync::Mutex;

use rusqlite::{Connection, OptionalExtension, TransactionBehavior, params};

use super::{Investigation, InvestigationState};

/// The file name inside the state directory.
pub const DB_FILE: &str = "investigations.db";

/// Where the work on an investigation is: `queued` (waiting for the rate
/// limit or a worker), `running`, `done`. A daemon that stops leaves
/// `queued` and `running` ones, which the next one queues again.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Phase {
    Queued,
    Running,
    Done,
}

impl Phase {
    fn as_str(self) -> &'static str {
        match self {
            Phase::Queued => "queued",
            Phase::Running => "running",
            Phase::Done => "done",
        }
    }
}

/// Why the store failed.
#[derive(Debug, thiserror::Error)]
#[error("investigations store {path}: {message}")]
pub struct StoreError {
    pub path: PathBuf,
    pub message: String,
}

pub struct Store {
    path: PathBuf,
    conn: Mutex<Connection>,
}

const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS investigations (
    id          TEXT PRIMARY KEY NOT NULL,
    fingerprint TEXT,
    state       TEXT NOT NULL,
    phase       TEXT NOT NULL,
    created     TEXT NOT NULL,
    queued_ms   INTEGER NOT NULL,
    record      TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS investigations_fp ON investigations(fingerprint, state);
CREATE INDEX IF NOT EXISTS investigations_phase ON investigations(phase);
";

impl Store {
    /// Opens (creating if needed) `dir/investigations.db`, the directory
    /// 0700 and the file 0600.
    pub fn open(dir: &Path) -> Result<Self, StoreError> {
        let path = dir.join(DB_FILE);
        let e = |m: String| StoreError {
            path: path.clone(),
            message: m,
        };
        #[cfg(unix)]
        {
            use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt, PermissionsExt};
            if !dir.exists() {
                std::fs::DirBuilder::new()
                    .recursive(true)
                    .mode(0o700)
                    .create(dir)
                    .map_err(|x| e(format!("cannot create the state directory: {x}")))?;
            }
            let file = std::fs::OpenOptions::new()
                .read(true)
                .write(true)
                .create(true)
                .truncate(false)
                .mode(0o600)
                .open(&path)
                .map_err(|x| e(format!("cannot open: {x}")))?;
            let mode = file
                .metadata()
                .map(|m| std::os::unix::fs::MetadataExt::mode(&m))
                .unwrap_or(0);
            if mode & 0o077 != 0 {
                std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600))
                    .map_err(|x| e(format!("cannot make it private: {x}")))?;
            }
        }
        let conn = Connection::open(&path).map_err(|x| e(x.to_string()))?;
        conn.busy_timeout(std::time::Duration::from_secs(5))
            .map_err(|x| e(x.to_string()))?;
        let _: String = conn
            .pragma_update_and_check(None, "journal_mode", "WAL", |row| row.get(0))
            .map_err(|x| e(x.to_string()))?;
        conn.pragma_update(None, "synchronous", "FULL")
            .map_err(|x| e(x.to_string()))?;
        conn.execute_batch(SCHEMA).map_err(|x| e(x.to_string()))?;
        Ok(Self {
            path,
            conn: Mutex::new(conn),
        })
    }

    fn err(&self, x: impl std::fmt::Display) -> StoreError {
        StoreError {
            path: self.path.clone(),
            message: x.to_string(),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Connection> {
        self.conn.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Inserts or replaces `inv` with its phase; `requeued` sets the time
    /// the dedup window counts from (ms since the epoch).
    pub fn put(
        &self,
        inv: &Investigation,
        phase: Phase,
        queued_ms: Option<i64>,
    ) -> Result<(), StoreError> {
        let record = serde_json::to_string(inv).map_err(|x| self.err(x))?;
        let mut conn = self.lock();
        let tx = conn
            .transaction_with_behavior(TransactionBehavior::Immediate)
            .map_err(|x| self.err(x))?;
        let old: Option<i64> = tx
            .query_row(
                "SELECT queued_ms FROM investigations WHERE id = ?1",
                [&inv.id],
                |r| r.get(0),
            )
            .optional()
            .map_err(|x| self.err(x))?;
        let queued = queued_ms.or(old).unwrap_or(0);
        tx.execute(
            "INSERT OR REPLACE INTO investigations (id, fingerprint, state, phase, created, queued_ms, record)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
            params![
                inv.id,
                inv.alert.as_ref().map(|a| a.fingerprint.clone()),
                inv.state.as_str(),
                phase.as_str(),
                inv.created,
                queued,
                record
            ],
        )
        .map_err(|x| self.err(x))?;
        tx.commit().map_err(|x| self.err(x))
    }

    /// Changes an investigation in one transaction: `f` sees the stored
    /// record and returns the phase to store (None: leave it).
    pub fn update(
        &self,
        id: &str,
        f: impl FnOnce(&mut Investigation) -> Option<Phase>,
    ) -> Result<Option<Investigation>, StoreError> {
        let mut conn = self.lock();
        let tx = conn
            .transaction_with_behavior(TransactionBehavior::Immediate)
            .map_err(|x| self.err(x))?;
        let row: Option<(String, String)> = tx
            .query_row(
                "SELECT record, phase FROM investigations WHERE id = ?1",
                [id],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )
            .optional()
            .map_err(|x| self.err(x))?;
        let Some((record, phase)) = row else {
            return Ok(None);
        };
        let mut inv: Investigation = serde_json::from_str(&record).map_err(|x| self.err(x))?;
        let phase = f(&mut inv)
            .map(Phase::as_str)
            .unwrap_or(match phase.as_str() {
                "queued" => "queued",
                "running" => "running",
                _ => "done",
            });
        tx.execute(
            "UPDATE investigations SET state = ?2, phase = ?3, record = ?4 WHERE id = ?1",
            params![
                id,
                inv.state.as_str(),
                phase,
                serde_json::to_string(&inv).map_err(|x| self.err(x))?
            ],
        )
        .map_err(|x| self.err(x))?;
        tx.commit().map_err(|x| self.err(x))?;
        Ok(Some(inv))
    }

    /// Sets the time the dedup window counts from.
    pub fn touch_queued(&self, id: &str, queued_ms: i64) -> Result<(), StoreError> {
        self.lock()
            .execute(
                "UPDATE investigations SET queued_ms = ?2 WHERE id = ?1",
                params![id, queued_ms],
            )
            .map_err(|x| self.err(x))?;
        Ok(())
    }

    /// The open investigation of `fingerprint`: its id and when it was last
    /// queued (ms since the epoch).
    pub fn open_for(&self, fingerprint: &str) -> Result<Option<(String, i64)>, StoreError> {
        self.lock()
            .query_row(
                "SELECT id, queued_ms FROM investigations WHERE fingerprint = ?1 AND state = 'open'
                 ORDER BY created DESC LIMIT 1",
                [fingerprint],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )
            .optional()
            .map_err(|x| self.err(x))
    }

    pub fn get(&self, id: &str) -> Result<Option<Investigation>, StoreError> {
        let record: Option<String> = self
            .lock()
            .query_row(
                "SELECT record FROM investigations WHERE id = ?1",
                [id],
                |r| r.get(0),
            )
            .optional()
            .map_err(|x| self.err(x))?;
        record
            .map(|r| serde_json::from_str(&r).map_err(|x| self.err(x)))
            .transpose()
    }

    /// Newest first.
    pub fn list(
        &self,
        state: Option<InvestigationState>,
    ) -> Result<Vec<Investigation>, StoreError> {
        let conn = self.lock();
        let mut stmt = conn
            .prepare(
                "SELECT record FROM investigations WHERE (?1 IS NULL OR state = ?1)
                 ORDER BY created DESC, id DESC",
            )
            .map_err(|x| self.err(x))?;
        let rows = stmt
            .query_map([state.map(InvestigationState::as_str)], |r| {
                r.get::<_, String>(0)
            })
            .map_err(|x| self.err(x))?;
        let mut out = Vec::new();
        for r in rows {
            let r = r.map_err(|x| self.err(x))?;
            out.push(serde_json::from_str(&r).map_err(|x| self.err(x))?);
        }
        Ok(out)
    }

    /// The ids still queued or running (a daemon stopped before it finished
    /// them), oldest first.
    pub fn unfinished(&self) -> Result<Vec<String>, StoreError> {
        let conn = self.lock();
        let mut stmt = conn
            .prepare("SELECT id FROM investigations WHERE phase IN ('queued', 'running') AND state = 'open' ORDER BY created")
            .map_err(|x| self.err(x))?;
        let rows = stmt
            .query_map([], |r| r.get::<_, String>(0))
            .map_err(|x| self.err(x))?;
        rows.collect::<Result<_, _>>().map_err(|x| self.err(x))
    }
}
