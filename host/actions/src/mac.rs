//! Authenticating stored actions: a per-store secret key that never goes
//! into the database, and HMAC-SHA256 tags over what a row decides.
//!
//! Whoever can write `actions.db` but not read the key cannot make an action
//! Guardian will apply: the proposal tag covers everything that decides the
//! write (and what the approver is shown), the approval tag binds a person's
//! approval to that proposal. Both are checked whenever a row leads to a
//! decision (approve, claim for apply) and on every read, so a front end can
//! flag a row that fails.

use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};

use crate::ActionError;
use crate::model::{Action, Approver};

/// The key's file name in the state directory (the default place).
pub const KEY_FILE: &str = "action.key";

/// Key files shorter than this are refused (RFC 2104: at least the hash
/// output length).
const MIN_KEY_BYTES: usize = 32;
const MAX_KEY_BYTES: usize = 4096;

/// A store's secret key.
#[derive(Clone)]
pub(crate) struct Key(Vec<u8>);

impl std::fmt::Debug for Key {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Key(…)")
    }
}

impl Key {
    #[cfg(test)]
    pub(crate) fn from_bytes(bytes: &[u8]) -> Self {
        Self(bytes.to_vec())
    }

    /// The tag of an action's proposal: every field fixed when it was
    /// proposed (id, target, the exact patch bytes and their sha256, the
    /// resourceVersion precondition, rationale, proposer, dry-run result,
    /// diff, policy decision, created, expires).
    pub(crate) fn proposal_mac(&self, a: &Action) -> String {
        let mut m = Message::new("guardian action proposal v2");
        m.field(a.id.as_bytes());
        m.field(a.target.api_version.as_bytes());
        m.field(a.target.kind.as_bytes());
        m.optional(a.target.namespace.as_deref());
        m.field(a.target.name.as_bytes());
        m.field(a.target.resource.as_bytes());
        m.field(&a.patch);
        m.field(a.patch_sha256.as_bytes());
        m.field(a.resource_version.as_bytes());
        m.field(a.rationale.as_bytes());
        m.field(a.proposer.caller.as_bytes());
        m.field(a.proposer.skill.as_bytes());
        m.field(a.proposer.tool.as_bytes());
        m.field(a.dry_run_result.as_bytes());
        m.field(a.diff.as_bytes());
        m.field(a.policy_decision.as_bytes());
        m.field(crate::clock::format(a.created).as_bytes());
        m.field(crate::clock::format(a.expires).as_bytes());
        hex::encode(self.hmac(&m.0))
    }

    /// The tag of a person's approval of the proposal tagged `proposal_mac`.
    pub(crate) fn approval_mac(&self, id: &str, approver: &Approver, proposal_mac: &str) -> String {
        let mut m = Message::new("guardian action approval v2");
        m.field(id.as_bytes());
        m.field(approver.channel().as_str().as_bytes());
        m.field(approver.identity().as_bytes());
        m.field(proposal_mac.as_bytes());
        hex::encode(self.hmac(&m.0))
    }

    /// A value that tells whether a key is the one a store was used with,
    /// without revealing it (kept in the store's `meta` table).
    pub(crate) fn check_value(&self) -> String {
        hex::encode(self.hmac(b"guardian action key check v1"))
    }

    /// HMAC-SHA256 (RFC 2104).
    fn hmac(&self, message: &[u8]) -> [u8; 32] {
        const BLOCK: usize = 64;
        let mut block = [0u8; BLOCK];
        if self.0.len() > BLOCK {
            block[..32].copy_from_slice(&Sha256::digest(&self.0));
        } else {
            block[..self.0.len()].copy_from_slice(&self.0);
        }
        let pad = |byte: u8| -> [u8; BLOCK] {
            let mut p = block;
            for b in &mut p {
                *b ^= byte;
            }
            p
        };
        let inner = Sha256::new()
            .chain_update(pad(0x36))
            .chain_update(message)
            .finalize();
        Sha256::new()
            .chain_update(pad(0x5c))
            .chain_update(inner)
            .finalize()
            .into()
    }
}

/// Fields, each prefixed by its length, after a domain-separating label: no
/// two different rows encode to the same message.
struct Message(Vec<u8>);

impl Message {
    fn new(label: &str) -> Self {
        let mut m = Self(Vec::with_capacity(1024));
        m.field(label.as_bytes());
        m
    }

    fn field(&mut self, bytes: &[u8]) {
        self.0
            .extend_from_slice(&(bytes.len() as u64).to_be_bytes());
        self.0.extend_from_slice(bytes);
    }

    fn optional(&mut self, value: Option<&str>) {
        match value {
            None => self.0.push(0),
            Some(v) => {
                self.0.push(1);
                self.field(v.as_bytes());
            }
        }
    }
}

/// Compares two tags without an early exit.
pub(crate) fn same_tag(a: &str, b: &str) -> bool {
    a.len() == b.len()
        && a.bytes()
            .zip(b.bytes())
            .fold(0u8, |acc, (x, y)| acc | (x ^ y))
            == 0
}

/// Where the key is: `key_file`, or `action.key` next to the database.
pub(crate) fn key_path(db: &Path, key_file: Option<&Path>) -> PathBuf {
    match key_file {
        Some(p) => p.to_owned(),
        None => db
            .parent()
            .filter(|d| !d.as_os_str().is_empty())
            .unwrap_or(Path::new("."))
            .join(KEY_FILE),
    }
}

/// What reading the key found.
pub(crate) enum Loaded {
    Key(Key),
    /// No file at the path.
    Missing,
}

/// Reads the key at `path`. A key others can write is refused; one others
/// can read is made private when this process owns it (`notices` says so),
/// else refused.
pub(crate) fn read(path: &Path, notices: &mut Vec<String>) -> Result<Loaded, ActionError> {
    let io = |message: String| ActionError::Io {
        path: path.to_owned(),
        message,
    };
    let bytes = match fs::read(path) {
        Ok(b) => b,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Loaded::Missing),
        Err(e) => return Err(io(format!("cannot read the action key: {e}"))),
    };
    #[cfg(unix)]
    {
        use std::os::unix::fs::{MetadataExt, PermissionsExt};
        let meta =
            fs::metadata(path).map_err(|e| io(format!("cannot read the action key: {e}")))?;
        let me = fs::metadata("/proc/self").map(|m| m.uid()).ok();
        // A Secret volume is a symlink to a root-owned file in a read-only
        // folder: others cannot write it, which is what matters.
        if meta.mode() & 0o022 != 0 {
            return Err(io(
                "the action key is writable by other users, who could replace it; make it 0600 (or mount the Secret with defaultMode 0400)".into(),
            ));
        }
        if meta.mode() & 0o044 != 0 {
            let owned = me.is_some_and(|uid| uid == meta.uid());
            let tightened =
                owned && fs::set_permissions(path, fs::Permissions::from_mode(0o600)).is_ok();
            if tightened {
                notices.push(format!(
                    "the action key {} was readable by other users; made it 0600",
                    path.display()
                ));
            } else {
                notices.push(format!(
                    "warning: the action key {} is readable by other users; make it 0600 (or mount the Secret with defaultMode 0400)",
                    path.display()
                ));
            }
        }
    }
    if bytes.len() < MIN_KEY_BYTES || bytes.len() > MAX_KEY_BYTES {
        return Err(io(format!(
            "the action key is {} bytes; it must hold {MIN_KEY_BYTES} to {MAX_KEY_BYTES} random bytes (make one with `head -c 32 /dev/urandom > FILE`)",
            bytes.len()
        )));
    }
    Ok(Loaded::Key(Key(bytes)))
}

/// Creates a new 32-byte key at `path` (0600), atomically: a process racing
/// to create it ends up reading the winner's key.
pub(crate) fn create(path: &Path, notices: &mut Vec<String>) -> Result<Key, ActionError> {
    let io = |what: &str, e: std::io::Error| ActionError::Io {
        path: path.to_owned(),
        message: format!("cannot {what} the action key: {e}"),
    };
    let random = |buf: &mut [u8]| {
        getrandom::fill(buf).map_err(|e| ActionError::Io {
            path: path.to_owned(),
            message: format!("cannot get random bytes for the action key: {e}"),
        })
    };
    let mut bytes = [0u8; 32];
    random(&mut bytes)?;
    let dir = path
        .parent()
        .filter(|d| !d.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    let mut suffix = [0u8; 6];
    random(&mut suffix)?;
    let tmp = dir.join(format!(".{KEY_FILE}.{}.tmp", hex::encode(suffix)));
    let mut options = fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    let written = options.open(&tmp).and_then(|mut f| {
        f.write_all(&bytes)?;
        f.sync_all()
    });
    if let Err(e) = written {
        let _ = fs::remove_file(&tmp);
        return Err(io("create", e));
    }
    // link(2) does not replace an existing file: exactly one creator wins.
    let linked = fs::hard_link(&tmp, path);
    let _ = fs::remove_file(&tmp);
    match linked {
        Ok(()) => {
            notices.push(format!(
                "created the action key {} (0600); keep it with the store: actions cannot be approved without it",
                path.display()
            ));
            Ok(Key(bytes.to_vec()))
        }
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => match read(path, notices)? {
            Loaded::Key(k) => Ok(k),
            Loaded::Missing => Err(io("create", e)),
        },
        Err(e) => Err(io("create", e)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// RFC 4231 test case 2 and test case 6 (a key longer than a block).
    #[test]
    fn hmac_sha256_matches_rfc_4231() {
        let k = Key::from_bytes(b"Jefe");
        assert_eq!(
            hex::encode(k.hmac(b"what do ya want for nothing?")),
            "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
        );
        let k = Key::from_bytes(&[0xaa; 131]);
        assert_eq!(
            hex::encode(k.hmac(b"Test Using Larger Than Block-Size Key - Hash Key First")),
            "60e431591ee0b67f0d8a26aacbf5b77f8e0bc6213728c5140546040f0ee37f54"
        );
    }

    #[test]
    fn tags_compare_whole() {
        assert!(same_tag("abcd", "abcd"));
        assert!(!same_tag("abcd", "abce"));
        assert!(!same_tag("abcd", "abc"));
    }
}
