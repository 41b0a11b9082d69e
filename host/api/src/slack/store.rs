//! `slack.db` in the state directory: which Slack message shows which
//! action (channel, ts) and what it last showed, so that a restart neither
//! posts an action twice nor misses an update; and the root message of a
//! thread by subject (an investigation), for replies. SQLite, WAL, 0600,
//! one statement (or transaction) per change.

use std::path::{Path, PathBuf};

use rusqlite::{Connection, OptionalExtension, params};

/// One action's message.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Record {
    pub action_id: String,
    pub channel: String,
    /// `None`: a post was started and never confirmed (the process died or
    /// the request timed out): it may or may not be in Slack.
    pub ts: Option<String>,
    /// The thread it was posted in, if any.
    pub thread_ts: Option<String>,
    /// What the message shows: the action's state and history length
    /// (`pending/1`).
    pub shown: String,
}

#[derive(Debug, thiserror::Error)]
#[error("slack.db {path}: {error}")]
pub struct DbError {
    path: PathBuf,
    error: String,
}

pub struct SlackDb {
    conn: Connection,
    path: PathBuf,
}

impl SlackDb {
    /// Opens (creating) `path`, readable by its owner only.
    pub fn open(path: &Path) -> Result<Self, DbError> {
        let err = |e: &dyn std::fmt::Display| DbError {
            path: path.to_owned(),
            error: e.to_string(),
        };
        if !path.exists() {
            #[cfg(unix)]
            {
                use std::os::unix::fs::OpenOptionsExt;
                std::fs::OpenOptions::new()
                    .create(true)
                    .truncate(false)
                    .write(true)
                    .mode(0o600)
                    .open(path)
                    .map_err(|e| err(&e))?;
            }
        }
        let conn = Connection::open(path).map_err(|e| err(&e))?;
        conn.busy_timeout(std::time::Duration::from_secs(5))
            .map_err(|e| err(&e))?;
        conn.pragma_update(None, "journal_mode", "WAL")
            .map_err(|e| err(&e))?;
        conn.execute_batch(
            "CREATE TABLE IF NOT EXISTS messages (
                action_id TEXT PRIMARY KEY,
                channel TEXT NOT NULL,
                ts TEXT,
                thread_ts TEXT,
                shown TEXT NOT NULL,
                updated TEXT NOT NULL
             );
             CREATE TABLE IF NOT EXISTS threads (
                subject TEXT PRIMARY KEY,
                channel TEXT NOT NULL,
                ts TEXT NOT NULL,
                updated TEXT NOT NULL
             );",
        )
        .map_err(|e| err(&e))?;
        Ok(Self {
            conn,
            path: path.to_owned(),
        })
    }

    fn err(&self, e: rusqlite::Error) -> DbError {
        DbError {
            path: self.path.clone(),
            error: e.to_string(),
        }
    }

    fn now() -> String {
        chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
    }

    pub fn get(&self, action_id: &str) -> Result<Option<Record>, DbError> {
        self.conn
            .query_row(
                "SELECT action_id, channel, ts, thread_ts, shown FROM messages WHERE action_id = ?1",
                params![action_id],
                |r| {
                    Ok(Record {
                        action_id: r.get(0)?,
                        channel: r.get(1)?,
                        ts: r.get(2)?,
                        thread_ts: r.get(3)?,
                        shown: r.get(4)?,
                    })
                },
            )
            .optional()
            .map_err(|e| self.err(e))
    }

    /// Claims the post of `action_id` before it is sent: `false` when a
    /// row is already there (posted, or a post started).
    pub fn claim(
        &self,
        action_id: &str,
        channel: &str,
        thread_ts: Option<&str>,
        shown: &str,
    ) -> Result<bool, DbError> {
        self.conn
            .execute(
                "INSERT OR IGNORE INTO messages (action_id, channel, ts, thread_ts, shown, updated)
                 VALUES (?1, ?2, NULL, ?3, ?4, ?5)",
                params![action_id, channel, thread_ts, shown, Self::now()],
            )
            .map(|n| n == 1)
            .map_err(|e| self.err(e))
    }

    /// The post of a claimed action landed at `channel`/`ts`.
    pub fn posted(&self, action_id: &str, channel: &str, ts: &str) -> Result<(), DbError> {
        self.conn
            .execute(
                "UPDATE messages SET channel = ?2, ts = ?3, updated = ?4 WHERE action_id = ?1",
                params![action_id, channel, ts, Self::now()],
            )
            .map(drop)
            .map_err(|e| self.err(e))
    }

    /// Drops a claim whose post certainly did not land (to post again).
    pub fn release(&self, action_id: &str) -> Result<(), DbError> {
        self.conn
            .execute(
                "DELETE FROM messages WHERE action_id = ?1 AND ts IS NULL",
                params![action_id],
            )
            .map(drop)
            .map_err(|e| self.err(e))
    }

    /// The message now shows `shown`.
    pub fn shown(&self, action_id: &str, shown: &str) -> Result<(), DbError> {
        self.conn
            .execute(
                "UPDATE messages SET shown = ?2, updated = ?3 WHERE action_id = ?1",
                params![action_id, shown, Self::now()],
            )
            .map(drop)
            .map_err(|e| self.err(e))
    }

    /// Posts started and never confirmed.
    pub fn unconfirmed(&self) -> Result<Vec<String>, DbError> {
        let mut st = self
            .conn
            .prepare("SELECT action_id FROM messages WHERE ts IS NULL ORDER BY action_id")
            .map_err(|e| self.err(e))?;
        let rows = st
            .query_map([], |r| r.get::<_, String>(0))
            .map_err(|e| self.err(e))?;
        rows.collect::<Result<_, _>>().map_err(|e| self.err(e))
    }

    /// The root message of the thread of `subject` (an investigation id).
    pub fn thread(&self, subject: &str) -> Result<Option<(String, String)>, DbError> {
        self.conn
            .query_row(
                "SELECT channel, ts FROM threads WHERE subject = ?1",
                params![subject],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )
            .optional()
            .map_err(|e| self.err(e))
    }

    /// Records the root message of the thread of `subject`.
    pub fn set_thread(&self, subject: &str, channel: &str, ts: &str) -> Result<(), DbError> {
        self.conn
            .execute(
                "INSERT INTO threads (subject, channel, ts, updated) VALUES (?1, ?2, ?3, ?4)
                 ON CONFLICT(subject) DO UPDATE SET channel = ?2, ts = ?3, updated = ?4",
                params![subject, channel, ts, Self::now()],
            )
            .map(drop)
            .map_err(|e| self.err(e))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_claim_is_taken_once_and_survives_reopening() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("slack.db");
        {
            let db = SlackDb::open(&path).unwrap();
            assert!(db.claim("act-1", "C1", None, "pending/1").unwrap());
            assert!(!db.claim("act-1", "C1", None, "pending/1").unwrap());
            assert_eq!(db.unconfirmed().unwrap(), vec!["act-1".to_owned()]);
            db.posted("act-1", "C1", "1700000000.000100").unwrap();
            db.release("act-1").unwrap(); // a posted row is never released
            assert!(db.claim("act-2", "C1", Some("1.2"), "pending/1").unwrap());
            db.release("act-2").unwrap();
            db.set_thread("inv-1", "C1", "1.1").unwrap();
        }
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(&path).unwrap().permissions().mode() & 0o777;
            assert_eq!(mode, 0o600);
        }
        let db = SlackDb::open(&path).unwrap();
        let r = db.get("act-1").unwrap().unwrap();
        assert_eq!(r.ts.as_deref(), Some("1700000000.000100"));
        assert!(!db.claim("act-1", "C1", None, "pending/1").unwrap());
        assert_eq!(db.get("act-2").unwrap(), None);
        assert!(db.unconfirmed().unwrap().is_empty());
        db.shown("act-1", "applied/4").unwrap();
        assert_eq!(db.get("act-1").unwrap().unwrap().shown, "applied/4");
        assert_eq!(
            db.thread("inv-1").unwrap(),
            Some(("C1".to_owned(), "1.1".to_owned()))
        );
    }
}
