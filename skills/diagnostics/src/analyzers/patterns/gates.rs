//! One pass over a log line that says which detectors of [`super::detect`]
//! could match it.
//!
//! Each detector needs at least one of a few words (`connection refused`,
//! `ECONNREFUSED`, …); a line holding none of them cannot match it. One pass
//! over the line (ASCII case-insensitive) finds every word of every detector
//! at once, so the common line — one that shows nothing — costs a single
//! scan instead of a hundred substring searches. A gate only skips work: an
//! open gate still runs the detector's exact checks.
//!
//! The words of a gate must include something every match of its detector
//! contains (case aside): a word added to a detector is added here.
//! `gated_scan_equals_ungated_scan` holds the two scans to the same result
//! over every log in the repository.
//!
//! The index is built in every call of the skill (each call is a new
//! instance), so it is a plain table of the words' first two bytes: nothing
//! to compile, where an automaton would cost more to build than it saves on a
//! log tail.

use std::sync::LazyLock;

/// A set of open gates, one bit per detector.
pub type Gates = u32;

pub const NONE: Gates = 0;
pub const MISSING_ENV: Gates = 1 << 0;
pub const OOM: Gates = 1 << 1;
pub const DNS: Gates = 1 << 2;
pub const REFUSED: Gates = 1 << 3;
pub const TLS: Gates = 1 << 4;
pub const PERMISSION: Gates = 1 << 5;
pub const ADDRESS_IN_USE: Gates = 1 << 6;
pub const MODULE: Gates = 1 << 7;
pub const MISSING_FILE: Gates = 1 << 8;
pub const PROMISE: Gates = 1 << 9;
pub const EXCEPTION: Gates = 1 << 10;
pub const TIMEOUT: Gates = 1 << 11;
pub const LISTENING: Gates = 1 << 12;
pub const ERROR_LEVEL: Gates = 1 << 13;
/// The usage, configuration and fatal-head checks of `telling.rs`.
pub const MORE: Gates = 1 << 14;
#[cfg(test)]
pub const ALL: Gates = (1 << 15) - 1;

/// The words that open each gate, lower case (matched case-insensitively).
/// A word that contains another is left out: the shorter one finds it.
pub(super) const WORDS: &[(Gates, &[&str])] = &[
    (
        MISSING_ENV,
        &[
            // ` is not set`, ` was not set`
            " not set",
            " must be set",
            " is required",
            " is empty",
            " is undefined",
            " is missing",
            " unset",
            "keyerror: ",
            "environment variable",
            "env variable",
            "env var ",
            "missing env ",
        ],
    ),
    (
        OOM,
        &[
            // `OutOfMemoryError`
            "memoryerror",
            "cannot allocate memory",
            "out of memory",
            "oom-kill",
            "oomkilled",
            "heap",
        ],
    ),
    (
        DNS,
        &[
            "no such host",
            "nxdomain",
            "temporary failure in name resolution",
            "name or service not known",
            "enotfound",
            "unknownhostexception",
            "could not resolve host",
            "server misbehaving",
        ],
    ),
    (REFUSED, &["connection refused", "econnrefused"]),
    (
        TLS,
        &[
            "x509:",
            "certificate signed by unknown authority",
            "certificate has expired",
            "sslhandshakeexception",
            "certificate_verify_failed",
            "tls: failed to verify",
            "tls handshake error",
        ],
    ),
    (
        PERMISSION,
        &[
            "permission denied",
            "eacces",
            "operation not permitted",
            "accessdeniedexception",
        ],
    ),
    (
        ADDRESS_IN_USE,
        &["address already in use", "eaddrinuse", "bindexception"],
    ),
    (
        MODULE,
        &[
            "cannot find module ",
            "cannot find package ",
            "no module named ",
            "cannot load such file -- ",
            "error while loading shared libraries: ",
            "classnotfoundexception: ",
            "noclassdeffounderror: ",
        ],
    ),
    (
        MISSING_FILE,
        &[
            "no such file or directory",
            "enoent",
            // `FileNotFoundException`, `FileNotFoundError`
            "filenotfound",
            "not a directory",
            "cannot open ",
            "could not open ",
            "unable to open ",
            "failed to open ",
            "can't open ",
        ],
    ),
    (PROMISE, &["unhandledpromiserejection"]),
    // A class named like `…Exception`, `…Error`, `…Throwable`, `…Panic`.
    (EXCEPTION, &["exception", "error", "throwable", "panic"]),
    (
        TIMEOUT,
        &[
            "i/o timeout",
            "context deadline exceeded",
            "connection timed out",
            "etimedout",
        ],
    ),
    (
        LISTENING,
        &[
            "listening on",
            "listening at",
            // `http server listening`, `server listening`
            "server listening",
            "started server on",
            "running on http",
            "initialized with port",
            "started on port",
            "listen on",
            "serving on",
            "local:",
        ],
    ),
    // `level=error`, `"severity":"error"`, `ERROR`, `[crit]`, `[emerg]`…
    // (klog's `E1120 …` is checked apart: it has no word).
    (
        ERROR_LEVEL,
        &["error", "fatal", "crit", "panic", "emerg", "alert"],
    ),
    // `flag provided but not defined`, `unrecognized arguments`, `unknown
    // option`, `yaml: line 3`, `unknown field`, `Error: …`, `crit: …`, a
    // Ruby head's `:in `, a parser's `line 14: …`.
    (
        MORE,
        &[
            "flag",
            "option",
            "argument",
            "unrecognized",
            "wasn't expected",
            "yaml",
            "toml",
            "unmarshal",
            "field",
            "directive",
            "key",
            "did not find expected",
            "mapping values",
            "found character",
            "config",
            "line ",
            ":in ",
            "error",
            "fatal",
            "crit",
            "fail: ",
            "unhandled",
        ],
    ),
];

/// The words by their first two bytes (lower case).
struct Index {
    /// `(first two bytes, word, gates it opens)`, sorted by the two bytes.
    words: Vec<(u16, &'static [u8], Gates)>,
    /// One bit per two-byte prefix that starts some word.
    starts: Vec<u64>,
}

fn pair(a: u8, b: u8) -> u16 {
    u16::from(a.to_ascii_lowercase()) << 8 | u16::from(b.to_ascii_lowercase())
}

static INDEX: LazyLock<Index> = LazyLock::new(|| {
    let mut words: Vec<(u16, &'static [u8], Gates)> = Vec::new();
    for (gate, list) in WORDS {
        for word in *list {
            let w = word.as_bytes();
            debug_assert!(w.len() >= 2 && !w.iter().any(u8::is_ascii_uppercase));
            match words.iter_mut().find(|(_, x, _)| *x == w) {
                Some(entry) => entry.2 |= gate,
                None => words.push((pair(w[0], w[1]), w, *gate)),
            }
        }
    }
    words.sort_by_key(|(key, _, _)| *key);
    let mut starts = vec![0u64; 1 << 10];
    for (key, _, _) in &words {
        starts[usize::from(*key) >> 6] |= 1 << (key & 63);
    }
    Index { words, starts }
});

/// The gates `line` opens.
pub fn of(line: &str) -> Gates {
    let index = &*INDEX;
    let b = line.as_bytes();
    let mut open = NONE;
    for i in 0..b.len().saturating_sub(1) {
        let key = pair(b[i], b[i + 1]);
        if index.starts[usize::from(key) >> 6] & (1 << (key & 63)) == 0 {
            continue;
        }
        let from = index.words.partition_point(|(k, _, _)| *k < key);
        for (k, word, gates) in &index.words[from..] {
            if *k != key {
                break;
            }
            if b[i..]
                .get(..word.len())
                .is_some_and(|s| s.eq_ignore_ascii_case(word))
            {
                open |= gates;
            }
        }
    }
    open
}
