//! The log pattern library: what a log tail says about why a container died.
//!
//! Pure functions over log text: no host calls, no allocation beyond the
//! matches. [`scan`] returns one [`Match`] per telling line (stack frames are
//! folded into the trace or exception that starts them), with what could be
//! extracted from it: an environment variable, a host, a port.
//! [`most_telling`] picks the few lines worth quoting as evidence.

mod gates;
mod telling;

pub use telling::{is_noise, last_meaningful_line};

/// What a log line shows.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Kind {
    /// A required environment variable is unset (`X is not set`,
    /// `KeyError: 'X'`, `environment variable X`).
    MissingEnv,
    /// Out of memory: `OutOfMemoryError`, `Cannot allocate memory`, a heap
    /// exhausted or growing past its limit.
    OutOfMemory,
    /// A name did not resolve: `no such host`, `NXDOMAIN`, `Temporary failure
    /// in name resolution`, `ENOTFOUND`, `UnknownHostException`.
    DnsFailure,
    /// `connection refused` / `ECONNREFUSED`.
    ConnectionRefused,
    /// TLS / certificate failure (`x509:`, `SSLHandshakeException`…).
    Tls,
    /// `permission denied` / `EACCES` / `Operation not permitted`.
    PermissionDenied,
    /// `address already in use` / `EADDRINUSE` / `BindException`.
    AddressInUse,
    /// A module, package, class or shared library the program needs is not
    /// in the image: `Cannot find module 'x'`, `ModuleNotFoundError`,
    /// `error while loading shared libraries`, `ClassNotFoundException`.
    MissingModule,
    /// A file or directory the program opens does not exist: `No such file
    /// or directory`, `ENOENT`, `FileNotFoundException`, `cannot open …`.
    MissingFile,
    /// A command line the program refuses: `flag provided but not defined`,
    /// `unknown flag`, `unrecognized arguments` (the first line of the
    /// usage error, not the usage text after it).
    UsageError,
    /// A configuration the program cannot parse or refuses: `yaml: line 12:
    /// …`, `unknown field`, `unknown directive`, `invalid configuration`.
    ConfigError,
    /// A Go `panic:`.
    Panic,
    /// An exception or error with its class: Java, Python, Node.
    Exception,
    /// A fatal or error head without a level or class: `Error: …`,
    /// `fatal: …`, .NET's `crit:`/`fail:`.
    Fatal,
    /// The start of a stack trace: `Traceback (most recent call last):`,
    /// `goroutine 1 [running]:`, `Exception in thread "main"`.
    StackTrace,
    /// `i/o timeout`, `context deadline exceeded`, `timed out`.
    Timeout,
    /// A line logged at error or fatal level that matches nothing above.
    ErrorLevel,
    /// Not an error: the address the program says it listens on.
    Listening,
}

impl Kind {
    /// Short label for evidence: `missing environment variable`, `panic`.
    pub fn label(self) -> &'static str {
        match self {
            Kind::MissingEnv => "missing environment variable",
            Kind::OutOfMemory => "out of memory",
            Kind::DnsFailure => "DNS failure",
            Kind::ConnectionRefused => "connection refused",
            Kind::Tls => "TLS/x509 failure",
            Kind::PermissionDenied => "permission denied",
            Kind::AddressInUse => "address already in use",
            Kind::MissingModule => "missing module",
            Kind::MissingFile => "missing file or directory",
            Kind::UsageError => "command-line usage error",
            Kind::ConfigError => "configuration error",
            Kind::Panic => "Go panic",
            Kind::Exception => "exception",
            Kind::Fatal => "fatal error",
            Kind::StackTrace => "stack trace",
            Kind::Timeout => "timeout",
            Kind::ErrorLevel => "error",
            Kind::Listening => "listening",
        }
    }

    /// Whether the kind is an error (everything but [`Kind::Listening`]).
    pub fn is_error(self) -> bool {
        self != Kind::Listening
    }
}

/// One telling log line.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Match {
    pub kind: Kind,
    /// 1-based line number in the text scanned.
    pub line_no: usize,
    /// The line, trimmed and cut to [`MAX_LINE`] characters.
    pub line: String,
    /// The environment variable named (for [`Kind::MissingEnv`]).
    pub var: Option<String>,
    /// The host named (DNS, connection, TLS failures).
    pub host: Option<String>,
    /// The port named (connections, listening, address in use).
    pub port: Option<u16>,
    /// The exception class (`java.lang.NullPointerException`, `KeyError`).
    pub exception: Option<String>,
    /// The module (for [`Kind::MissingModule`]) or path (for
    /// [`Kind::MissingFile`]) named.
    pub target: Option<String>,
}

/// Longest line quoted, in characters.
pub const MAX_LINE: usize = 300;

impl Match {
    fn new(kind: Kind, line_no: usize, line: &str) -> Self {
        Match {
            kind,
            line_no,
            line: clip(line.trim(), MAX_LINE),
            var: None,
            host: None,
            port: None,
            exception: None,
            target: None,
        }
    }
}

/// `text` cut to about `max` characters by cutting its middle (` … `):
/// the end of a message holds its decisive words (the HTTP status of a
/// failed pull, the key a parser refused), so head and tail are kept.
pub fn clip(text: &str, max: usize) -> String {
    let count = text.chars().count();
    if count <= max {
        return text.to_string();
    }
    let tail = (max * 2 / 5).max(1);
    let head = max.saturating_sub(tail + 3).max(1);
    let head_end = text.char_indices().nth(head).map_or(text.len(), |(i, _)| i);
    let tail_start = text
        .char_indices()
        .nth(count - tail)
        .map_or(text.len(), |(i, _)| i);
    format!(
        "{} … {}",
        text[..head_end].trim_end(),
        text[tail_start..].trim_start()
    )
}

/// Every telling line of `text`, in order.
pub fn scan(text: &str) -> Vec<Match> {
    let mut out = Vec::new();
    for (i, line) in text.lines().enumerate() {
        if let Some(m) = scan_line(line, i + 1) {
            out.push(m);
        }
    }
    out
}

/// What one line shows, if anything.
pub fn scan_line(raw: &str, line_no: usize) -> Option<Match> {
    let line = raw.trim();
    if line.is_empty() || line.len() > 8192 {
        return None;
    }
    detect(raw, line, gates::of(line), line_no)
}

/// [`scan_line`] past its length checks, running only the detectors whose
/// gate is open in `open`. A closed gate means the detector could not have
/// matched (none of the words it needs is in the line), so the result is
/// the same as with every gate open.
fn detect(raw: &str, line: &str, open: gates::Gates, line_no: usize) -> Option<Match> {
    let known = detect_known(raw, line, open, line_no);
    telling::refine(raw, line, open & gates::MORE != 0, known, line_no)
}

/// The detectors of the pattern library, gated by `open`.
fn detect_known(raw: &str, line: &str, open: gates::Gates, line_no: usize) -> Option<Match> {
    use gates::*;
    // Stack frames belong to the exception above them.
    if is_frame(raw) {
        return None;
    }
    // Most lines open no gate: they are spared the lower-casing.
    let lower = if open == NONE {
        String::new()
    } else {
        line.to_ascii_lowercase()
    };

    if open & MISSING_ENV != 0
        && let Some(var) = missing_env(line)
    {
        let mut m = Match::new(Kind::MissingEnv, line_no, line);
        m.var = Some(var);
        // `KeyError: 'X'` is quoted from the exception.
        m.exception = exception_class(line).filter(|e| e == "KeyError");
        return Some(m);
    }
    if open & OOM != 0 && is_oom(line, &lower) {
        let mut m = Match::new(Kind::OutOfMemory, line_no, line);
        m.exception = exception_class(line);
        return Some(m);
    }
    if open & DNS != 0 && is_dns(line, &lower) {
        let mut m = Match::new(Kind::DnsFailure, line_no, line);
        m.host = dns_host(line);
        return Some(m);
    }
    if open & REFUSED != 0
        && (lower.contains("connection refused") || line.contains("ECONNREFUSED"))
    {
        let mut m = Match::new(Kind::ConnectionRefused, line_no, line);
        if let Some((host, port)) = endpoint(line) {
            m.host = Some(host);
            m.port = port;
        }
        return Some(m);
    }
    if open & TLS != 0
        && (lower.contains("x509:")
            || lower.contains("certificate signed by unknown authority")
            || lower.contains("certificate has expired")
            || line.contains("SSLHandshakeException")
            || line.contains("CERTIFICATE_VERIFY_FAILED")
            || lower.contains("tls: failed to verify")
            || lower.contains("tls handshake error"))
    {
        let mut m = Match::new(Kind::Tls, line_no, line);
        m.host = endpoint(line).map(|e| e.0);
        return Some(m);
    }
    if open & PERMISSION != 0
        && (lower.contains("permission denied")
            || line.contains("EACCES")
            || lower.contains("operation not permitted")
            || line.contains("AccessDeniedException"))
    {
        return Some(Match::new(Kind::PermissionDenied, line_no, line));
    }
    if open & ADDRESS_IN_USE != 0
        && (lower.contains("address already in use")
            || line.contains("EADDRINUSE")
            || line.contains("BindException"))
    {
        let mut m = Match::new(Kind::AddressInUse, line_no, line);
        m.port = endpoint(line)
            .and_then(|e| e.1)
            .or_else(|| port_after(line, ":"));
        return Some(m);
    }
    if open & MODULE != 0
        && let Some(module) = missing_module(line, &lower)
    {
        let mut m = Match::new(Kind::MissingModule, line_no, line);
        m.exception = exception_class(line);
        m.target = Some(module);
        return Some(m);
    }
    if open & MISSING_FILE != 0 && is_missing_file(line, &lower) {
        let mut m = Match::new(Kind::MissingFile, line_no, line);
        m.exception = exception_class(line);
        m.target = path_in(line);
        return Some(m);
    }
    if line.starts_with("panic: ") || line.starts_with("fatal error: ") {
        return Some(Match::new(Kind::Panic, line_no, line));
    }
    if line.starts_with("Traceback (most recent call last)")
        || (line.starts_with("goroutine ") && line.ends_with("]:"))
        || line.starts_with("Exception in thread ")
    {
        let mut m = Match::new(Kind::StackTrace, line_no, line);
        m.exception = exception_class(line);
        return Some(m);
    }
    if open & PROMISE != 0 && line.contains("UnhandledPromiseRejection") {
        let mut m = Match::new(Kind::Exception, line_no, line);
        m.exception = Some("UnhandledPromiseRejection".into());
        return Some(m);
    }
    if open & EXCEPTION != 0
        && let Some(class) = exception_class(line)
    {
        let mut m = Match::new(Kind::Exception, line_no, line);
        m.exception = Some(class);
        return Some(m);
    }
    if open & TIMEOUT != 0
        && (lower.contains("i/o timeout")
            || lower.contains("context deadline exceeded")
            || lower.contains("connection timed out")
            || lower.contains("etimedout"))
    {
        let mut m = Match::new(Kind::Timeout, line_no, line);
        if let Some((host, port)) = endpoint(line) {
            m.host = Some(host);
            m.port = port;
        }
        return Some(m);
    }
    if open & LISTENING != 0
        && let Some(port) = listening_port(line, &lower)
    {
        let mut m = Match::new(Kind::Listening, line_no, line);
        m.port = Some(port);
        return Some(m);
    }
    if (open & ERROR_LEVEL != 0 && is_error_level(line, &lower)) || klog_error(line.as_bytes()) {
        return Some(Match::new(Kind::ErrorLevel, line_no, line));
    }
    None
}

/// A stack frame: `\tat com.x.Y(Y.java:1)`, `    at fn (file.js:1:2)`,
/// `  File "x.py", line 3, in f`, Go's `\t/src/x.go:12 +0x1d`.
fn is_frame(raw: &str) -> bool {
    let indented = raw.starts_with([' ', '\t']);
    let t = raw.trim_start();
    (indented && t.starts_with("at ") && (t.contains('(') || t.contains(':')))
        || (indented && t.starts_with("File \"") && t.contains(", line "))
        || (indented && t.starts_with('/') && t.contains(".go:"))
        || t.starts_with("... ") && t.ends_with(" more")
}

fn is_ident_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || c == '_'
}

/// An environment-variable-like name: `DATABASE_URL`, `PORT` (upper case,
/// digits, underscores; at least two characters, starts with a letter).
fn is_env_name(s: &str) -> bool {
    s.len() >= 2
        && s.starts_with(|c: char| c.is_ascii_uppercase())
        && s.chars()
            .all(|c| c.is_ascii_uppercase() || c.is_ascii_digit() || c == '_')
}

/// The identifier-ish token that ends right before byte `at` of `line`,
/// without surrounding quotes or `$`.
fn token_before(line: &str, at: usize) -> Option<&str> {
    let head = line[..at].trim_end();
    let head = head.trim_end_matches(['"', '\'', '`', ')', ']', '\\']);
    let start = head
        .char_indices()
        .rev()
        .find(|(_, c)| !is_ident_char(*c))
        .map(|(i, c)| i + c.len_utf8())
        .unwrap_or(0);
    let tok = &head[start..];
    (!tok.is_empty()).then_some(tok)
}

/// The identifier-ish token starting at byte `at`, after quotes or `$`.
fn token_after(line: &str, at: usize) -> Option<&str> {
    let tail = line[at..].trim_start();
    let tail = tail.trim_start_matches(['"', '\'', '`', '$', '{', '(', '\\']);
    let end = tail.find(|c: char| !is_ident_char(c)).unwrap_or(tail.len());
    let tok = &tail[..end];
    (!tok.is_empty()).then_some(tok)
}

/// The variable of a "missing environment variable" line.
pub fn missing_env(line: &str) -> Option<String> {
    // `X is not set`, `X not set`, `X must be set`, `X is required`,
    // `X is empty`, `X is undefined`.
    for marker in [
        " is not set",
        " not set",
        " must be set",
        " is required",
        " is empty",
        " is undefined",
        " is missing",
        " was not set",
        " unset",
    ] {
        let mut from = 0;
        while let Some(pos) = line[from..].find(marker) {
            let at = from + pos;
            if let Some(tok) = token_before(line, at)
                && is_env_name(tok)
            {
                return Some(tok.to_string());
            }
            from = at + marker.len();
        }
    }
    // `KeyError: 'X'` (Python's os.environ['X']).
    if let Some(pos) = line.find("KeyError: ")
        && let Some(tok) = token_after(line, pos + "KeyError: ".len())
        && is_env_name(tok)
    {
        return Some(tok.to_string());
    }
    // `environment variable X`, `env var X`, `missing env X`.
    let lower = line.to_ascii_lowercase();
    for marker in [
        "environment variable",
        "env variable",
        "env var ",
        "missing env ",
    ] {
        if let Some(pos) = lower.find(marker) {
            let after = pos + marker.len();
            let after = line[after..].strip_prefix('s').map_or(after, |_| after + 1);
            let tail = &line[after..];
            let tail = tail.trim_start_matches([':', ' ']);
            let offset = line.len() - tail.len();
            if let Some(tok) = token_after(line, offset)
                && is_env_name(tok)
            {
                // An error line, not `using environment variable X`.
                let neg = [
                    "missing",
                    "not set",
                    "required",
                    "not found",
                    "undefined",
                    "empty",
                    "unset",
                    "no ",
                ]
                .iter()
                .any(|n| lower.contains(n));
                if neg {
                    return Some(tok.to_string());
                }
            }
            if let Some(tok) = token_before(line, pos)
                && is_env_name(tok)
                && lower[pos..].contains("not")
            {
                return Some(tok.to_string());
            }
        }
    }
    None
}

/// The quoted name after `marker` (`'express'`, `"lodash"`, `` `x` ``) or
/// the bare word after it.
fn name_after(line: &str, marker_end: usize) -> Option<String> {
    let tail = line[marker_end..].trim_start();
    let (quoted, tail) = match tail.chars().next() {
        Some(q @ ('\'' | '"' | '`')) => (Some(q), &tail[1..]),
        _ => (None, tail),
    };
    let end = match quoted {
        Some(q) => tail.find(q).unwrap_or(tail.len()),
        None => tail
            .find(|c: char| c.is_whitespace() || matches!(c, ',' | ';' | ')' | ':'))
            .unwrap_or(tail.len()),
    };
    let name = tail[..end].trim_end_matches('.');
    (!name.is_empty() && name.len() <= 200).then(|| name.to_string())
}

/// The module a "missing module" line names: Node's `Cannot find module
/// 'x'` / `Cannot find package 'x'`, Python's `No module named 'x'`, Ruby's
/// `cannot load such file -- x`, a shared library the loader cannot open,
/// a Java class that is not on the class path.
pub fn missing_module(line: &str, lower: &str) -> Option<String> {
    for marker in [
        "cannot find module ",
        "cannot find package ",
        "no module named ",
        "cannot load such file -- ",
    ] {
        if let Some(pos) = lower.find(marker) {
            return name_after(line, pos + marker.len());
        }
    }
    if let Some(pos) = lower.find("error while loading shared libraries: ") {
        let start = pos + "error while loading shared libraries: ".len();
        return name_after(line, start);
    }
    for class in ["ClassNotFoundException: ", "NoClassDefFoundError: "] {
        if let Some(pos) = line.find(class) {
            return name_after(line, pos + class.len());
        }
    }
    None
}

/// A file or directory the program needs is missing.
fn is_missing_file(line: &str, lower: &str) -> bool {
    if lower.contains("no such file or directory")
        || line.contains("ENOENT")
        || line.contains("FileNotFoundException")
        || line.contains("FileNotFoundError")
        || lower.contains("not a directory")
    {
        return true;
    }
    // `cannot open journal path /var/log/journal`, `failed to open file …`.
    let opens = [
        "cannot open ",
        "could not open ",
        "unable to open ",
        "failed to open ",
        "can't open ",
    ]
    .iter()
    .any(|w| lower.contains(w));
    opens
        && (line.contains(" /")
            || ["file", "path", "directory", "dir "]
                .iter()
                .any(|w| lower.contains(w)))
}

/// The first absolute path in `line`: `/var/log/journal`.
pub fn path_in(line: &str) -> Option<String> {
    line.split(|c: char| c.is_whitespace() || matches!(c, '\'' | '"' | '`' | '(' | '[' | ','))
        .map(|w| w.trim_end_matches([':', ')', ']', '.', ';']))
        .find(|w| w.len() > 1 && w.starts_with('/') && !w.starts_with("//"))
        .map(str::to_string)
}

fn is_oom(line: &str, lower: &str) -> bool {
    line.contains("OutOfMemoryError")
        || line.contains("MemoryError")
        || lower.contains("cannot allocate memory")
        || lower.contains("out of memory")
        || lower.contains("oom-kill")
        || lower.contains("oomkilled")
        || (lower.contains("heap")
            && [
                "out of",
                "exhausted",
                "limit",
                "growing",
                "exceeded",
                "space",
                "oom",
            ]
            .iter()
            .any(|w| lower.contains(w)))
}

fn is_dns(line: &str, lower: &str) -> bool {
    lower.contains("no such host")
        || line.contains("NXDOMAIN")
        || lower.contains("temporary failure in name resolution")
        || lower.contains("name or service not known")
        || line.contains("ENOTFOUND")
        || line.contains("UnknownHostException")
        || lower.contains("could not resolve host")
        || lower.contains("server misbehaving")
}

fn dns_host(line: &str) -> Option<String> {
    for marker in [
        "lookup ",
        "ENOTFOUND ",
        "UnknownHostException: ",
        "resolve host: ",
        "resolve host ",
    ] {
        if let Some(pos) = line.find(marker) {
            let tail = &line[pos + marker.len()..];
            let host: String = tail
                .trim_start_matches(['\'', '"'])
                .chars()
                .take_while(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_'))
                .collect();
            let host = host.trim_end_matches('.').to_string();
            if !host.is_empty() {
                return Some(host);
            }
        }
    }
    None
}

/// `host:port` after `dial tcp `, `connect to `, `ECONNREFUSED `, or in a
/// URL; the port when there is one.
fn endpoint(line: &str) -> Option<(String, Option<u16>)> {
    for marker in [
        "dial tcp ",
        "dial udp ",
        "ECONNREFUSED ",
        "connect to ",
        "Connection to ",
        "connecting to ",
        "://",
    ] {
        if let Some(pos) = line.find(marker) {
            let tail = &line[pos + marker.len()..];
            let tail = tail.trim_start_matches(['\'', '"', '[']);
            // `user:pass@host:port` in a URL.
            let word: &str = tail
                .split(|c: char| {
                    c.is_whitespace() || matches!(c, '/' | '"' | '\'' | ',' | ')' | ';' | '?')
                })
                .next()
                .unwrap_or("");
            let word = word.rsplit('@').next().unwrap_or(word);
            let word = word.trim_end_matches([':', '.']);
            if word.is_empty() {
                continue;
            }
            let (host, port) = match word.rsplit_once(':') {
                Some((h, p)) if p.chars().all(|c| c.is_ascii_digit()) && !p.is_empty() => {
                    (h.trim_end_matches(']'), p.parse().ok())
                }
                _ => (word, None),
            };
            if host.is_empty() {
                continue;
            }
            return Some((host.to_string(), port));
        }
    }
    None
}

/// The number after `marker`'s last occurrence, like `:8080`.
fn port_after(line: &str, marker: &str) -> Option<u16> {
    line.rmatch_indices(marker).find_map(|(pos, _)| {
        let digits: String = line[pos + marker.len()..]
            .chars()
            .take_while(char::is_ascii_digit)
            .collect();
        digits.parse().ok().filter(|p| *p > 0)
    })
}

/// The exception class a line names: `java.lang.NullPointerException`,
/// `KeyError`, `TypeError`, `org.x.BeanCreationException`.
pub fn exception_class(line: &str) -> Option<String> {
    let body = line
        .trim_start()
        .strip_prefix("Caused by: ")
        .or_else(|| line.trim_start().strip_prefix("Uncaught "))
        .unwrap_or(line.trim_start());
    // `Exception in thread "main" java.lang.X: ...`
    let body = match body.strip_prefix("Exception in thread ") {
        Some(rest) => rest.split_once("\" ").map_or(rest, |(_, r)| r),
        None => body,
    };
    let candidates: Vec<&str> = if body.starts_with(|c: char| c.is_ascii_alphabetic()) {
        // At the start: `X.YException: msg`, `KeyError: 'x'`, `TypeError: …`.
        vec![body.split([':', ' ']).next().unwrap_or("")]
    } else {
        Vec::new()
    };
    // Anywhere in a logger's line: `... threw java.lang.IllegalStateException: …`.
    let anywhere = body
        .split(|c: char| c.is_whitespace() || matches!(c, '(' | '[' | '"' | '\'' | ','))
        .map(|w| w.trim_end_matches(':'))
        .filter(|w| w.contains('.') && looks_like_exception(w));
    for cand in candidates.into_iter().chain(anywhere) {
        if looks_like_exception(cand) {
            return Some(cand.to_string());
        }
    }
    None
}

fn looks_like_exception(word: &str) -> bool {
    let last = word.rsplit('.').next().unwrap_or(word);
    let class_like = last.starts_with(|c: char| c.is_ascii_uppercase())
        && last
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '$' || c == '_')
        && word.split('.').all(|seg| {
            !seg.is_empty()
                && seg
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '$' || c == '_')
        });
    let suffix = ["Exception", "Error", "Throwable", "Panic"]
        .iter()
        .any(|s| last.ends_with(s) && last.len() > s.len());
    // Python's bare `KeyError`, `ValueError`; not `Error` alone, not `errors`.
    class_like && suffix
}

fn listening_port(line: &str, lower: &str) -> Option<u16> {
    let said = [
        "listening on",
        "listening at",
        "http server listening",
        "server listening",
        "started server on",
        "running on http",
        "initialized with port",
        "started on port",
        "listen on",
        "serving on",
        "local:",
    ]
    .iter()
    .any(|w| lower.contains(w));
    if !said {
        return None;
    }
    port_after(line, "port ")
        .or_else(|| port_after(line, "port\":"))
        .or_else(|| port_after(line, ":"))
}

fn is_error_level(line: &str, lower: &str) -> bool {
    let structured = [
        "level=error",
        "level=fatal",
        "\"level\":\"error\"",
        "\"level\":\"fatal\"",
        "\"severity\":\"error\"",
        "level=crit",
    ]
    .iter()
    .any(|w| {
        // A key of its own: `level=error`, not `stackTraceLevel=Error`.
        lower.match_indices(w).any(|(at, _)| {
            !lower[..at]
                .chars()
                .next_back()
                .is_some_and(|c| c.is_ascii_alphanumeric() || c == '_')
        })
    });
    if structured {
        return true;
    }
    // `2026-… ERROR 1 --- […]`, `[ERROR]`, `E1120 08:00:00.000 …` (klog).
    let words: Vec<&str> = line.split_whitespace().take(6).collect();
    // Fluent Bit, nginx and others bracket a lower-case level: `[error]`,
    // `[2026/11/20 08:56:49] [error] …`, `[emerg]`.
    words.iter().any(|w| {
        matches!(
            w.trim_matches(['[', ']', ':']),
            "ERROR" | "FATAL" | "CRITICAL" | "PANIC"
        ) || (w.starts_with('[')
            && w.ends_with(']')
            && matches!(
                w.trim_matches(['[', ']']),
                "error" | "fatal" | "crit" | "critical" | "emerg" | "alert"
            ))
    }) || klog_error(line.as_bytes())
}

/// klog's `E1120 08:00:00.000 …` / `F1120 …` (on bytes: a non-ASCII
/// character after the `E` must not split a char boundary).
fn klog_error(b: &[u8]) -> bool {
    b.len() > 5
        && matches!(b[0], b'E' | b'F')
        && b[1..5].iter().all(u8::is_ascii_digit)
        && b[5] == b' '
}

/// Order in which kinds are worth quoting: the most specific first.
fn rank(kind: Kind) -> u8 {
    match kind {
        Kind::MissingEnv => 0,
        Kind::OutOfMemory => 1,
        Kind::MissingModule => 2,
        Kind::UsageError => 3,
        Kind::ConfigError => 4,
        Kind::DnsFailure => 5,
        Kind::ConnectionRefused => 6,
        Kind::Tls => 7,
        Kind::PermissionDenied => 8,
        Kind::MissingFile => 9,
        Kind::AddressInUse => 10,
        Kind::Panic => 11,
        Kind::Exception => 12,
        Kind::Fatal => 13,
        Kind::StackTrace => 14,
        Kind::Timeout => 15,
        Kind::ErrorLevel => 16,
        Kind::Listening => 17,
    }
}

/// Where a match stands among the lines worth quoting (lower first): its
/// kind; a bare error line a runtime or shell prints after the real error
/// (`Error: Could not create the Java Virtual Machine.`, `[ERROR] Worker
/// exited with code 3`) after every other line.
fn standing(m: &Match) -> u8 {
    if telling::generic(m.kind) && is_noise(&m.line) {
        30
    } else {
        rank(m.kind)
    }
}

/// At most `max` error matches worth quoting: the most specific kinds first
/// (the noise a runtime prints after the error last), at most two lines per
/// kind, repeated lines once; for exceptions, the innermost `Caused by:`
/// (the root of a Java chain) and the first one; among bare error lines,
/// one that names a path, host, port, key or option first.
pub fn most_telling(matches: &[Match], max: usize) -> Vec<&Match> {
    let errors: Vec<&Match> = matches.iter().filter(|m| m.kind.is_error()).collect();
    // The last `Caused by:` is the root of a Java chain: the exception to
    // quote first.
    let last_cause = errors
        .iter()
        .rev()
        .find(|m| m.kind == Kind::Exception && m.line.starts_with("Caused by:"))
        .map(|m| m.line_no);
    let mut ordered = errors;
    ordered.sort_by_key(|m| {
        (
            standing(m),
            Some(m.line_no) != last_cause,
            telling::generic(m.kind) && !telling::names_something(&m.line),
            m.line_no,
        )
    });
    // Noise goes unquoted when anything else tells.
    if ordered.iter().any(|m| standing(m) < 30) {
        ordered.retain(|m| standing(m) < 30);
    }
    let mut chosen: Vec<&Match> = Vec::new();
    for m in ordered {
        if chosen.len() >= max {
            break;
        }
        let same_kind = chosen.iter().filter(|c| c.kind == m.kind).count();
        let repeated = chosen
            .iter()
            .any(|c| c.kind == m.kind && normalized(&c.line) == normalized(&m.line));
        if same_kind >= 2 || repeated {
            continue;
        }
        chosen.push(m);
    }
    // Keep the log's order.
    chosen.sort_by_key(|m| m.line_no);
    chosen
}

/// The part of a log line worth quoting in a sentence: from the variable,
/// host or exception it names (dropping the logger's prefix), whitespace
/// collapsed, at most `max` characters.
pub fn quote(m: &Match, max: usize) -> String {
    let line = m.line.as_str();
    let start = [m.var.as_deref(), m.exception.as_deref()]
        .into_iter()
        .flatten()
        .filter_map(|needle| line.find(needle))
        .min()
        .unwrap_or_else(|| {
            // `2026-… WARN 1 --- [app] [main] c.e.Logger : message`.
            line.find(" : ").map_or(0, |i| i + 3)
        });
    // Keep the quote that opens a quoted name: `"API_TOKEN" is required`.
    let start = match line[..start].chars().last() {
        Some(q @ ('"' | '\'' | '`')) => start - q.len_utf8(),
        _ => start,
    };
    let text: Vec<&str> = line[start..].split_whitespace().collect();
    let text = text.join(" ");
    // `msg="X is empty"` loses its opening quote: drop the closing one.
    let text = if text.matches('"').count() % 2 == 1 {
        text.trim_end_matches(['"', '}'])
    } else {
        &text
    };
    clip(text, max)
}

/// A health-check path (`/health`, `/livez`, `/ready`, `/ping`, `/status`)
/// other than `except` that the access lines of `text` show answered with a
/// 2xx status, with that status: JSON (`"path":"/health","status":200`) and
/// common log format (`"GET /health HTTP/1.1" 200`).
pub fn served_health_path(text: &str, except: &str) -> Option<(String, u16)> {
    let healthy = |p: &str| {
        let l = p.to_ascii_lowercase();
        ["health", "live", "ready", "ping", "status"]
            .iter()
            .any(|w| l.contains(w))
    };
    let status_after = |tail: &str| -> Option<u16> {
        let digits: String = tail
            .trim_start_matches([' ', '"', ':', '='])
            .chars()
            .take_while(char::is_ascii_digit)
            .collect();
        digits.parse().ok()
    };
    for line in text.lines() {
        let found = if let Some(pos) = line.find("\"path\":\"") {
            let rest = &line[pos + 8..];
            let path = &rest[..rest.find('"').unwrap_or(rest.len())];
            let status = ["\"status\":", "\"code\":", "\"status_code\":"]
                .iter()
                .find_map(|k| line.find(k).map(|i| &line[i + k.len()..]))
                .and_then(status_after);
            status.map(|s| (path, s))
        } else if let Some(pos) = line.find("\"GET ") {
            let rest = &line[pos + 5..];
            let path = rest.split_whitespace().next().unwrap_or("");
            let after = rest.find('"').map(|i| &rest[i + 1..]);
            after.and_then(status_after).map(|s| (path, s))
        } else {
            None
        };
        if let Some((path, status)) = found
            && (200..300).contains(&status)
            && path.starts_with('/')
            && path != except
            && healthy(path)
        {
            return Some((path.to_string(), status));
        }
    }
    None
}

/// A line without digits, for spotting repeats that differ only in
/// timestamps, ids and counters.
fn normalized(line: &str) -> String {
    line.chars()
        .filter(|c| !c.is_ascii_digit())
        .take(160)
        .collect()
}

/// The last value a JSON or logfmt log gave for a memory gauge such as
/// `heap_inuse_mb`, `heap_mb`, `rss_mb`: `("heap_inuse_mb", 234)`.
pub fn last_memory_gauge(text: &str) -> Option<(String, u64)> {
    let keys = [
        "heap_inuse_mb",
        "heap_alloc_mb",
        "heap_mb",
        "rss_mb",
        "memory_mb",
        "mem_mb",
        "heapUsedMB",
    ];
    let mut found = None;
    for line in text.lines() {
        for key in keys {
            for sep in ["\":", "="] {
                let pat = format!("{key}{sep}");
                if let Some(pos) = line.rfind(&pat) {
                    let digits: String = line[pos + pat.len()..]
                        .trim_start_matches([' ', '"'])
                        .chars()
                        .take_while(char::is_ascii_digit)
                        .collect();
                    if let Ok(v) = digits.parse::<u64>() {
                        found = Some((key.to_string(), v));
                    }
                }
            }
        }
    }
    found
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every line of every log in the repository (examples and test
    /// scenarios), the string literals of this file (the unit tests' lines),
    /// each also upper- and lower-cased: the gates must never change what a
    /// line shows.
    #[test]
    fn gated_scan_equals_ungated_scan() {
        fn logs(dir: &std::path::Path, out: &mut Vec<String>) {
            for entry in std::fs::read_dir(dir).unwrap().flatten() {
                let path = entry.path();
                if path.is_dir() {
                    logs(&path, out);
                } else if path.extension().is_some_and(|e| e == "txt" || e == "log") {
                    out.push(std::fs::read_to_string(&path).unwrap());
                }
            }
        }
        let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
        let mut texts = Vec::new();
        logs(&root.join("examples"), &mut texts);
        logs(&root.join("tests/scenarios"), &mut texts);
        assert!(texts.len() >= 50, "the log corpus is missing");
        let literals: String = include_str!("patterns.rs")
            .lines()
            .filter_map(|l| l.get(l.find('"')? + 1..l.rfind('"')?))
            .map(|l| l.replace("\\\"", "\"").replace("\\t", "\t") + "\n")
            .collect();
        texts.push(literals);
        // Each gate word in the places detectors look for it.
        let probes: String = gates::WORDS
            .iter()
            .flat_map(|(_, words)| words.iter())
            .flat_map(|w| {
                [
                    format!("API_TOKEN{w}"),
                    format!("API_TOKEN{w} for db.staging.svc:5432"),
                    format!("level=info msg=\"{w} 'pkg' dial tcp 10.0.0.7:8080\""),
                    format!("Caused by: java.io.{w}: /etc/app/app.conf"),
                    format!("[{w}] started on port 8080"),
                ]
            })
            .map(|l| l + "\n")
            .collect();
        texts.push(probes);

        let (mut lines, mut telling) = (0, 0);
        for text in &texts {
            for raw in text.lines() {
                for raw in [raw.to_string(), raw.to_uppercase(), raw.to_lowercase()] {
                    let line = raw.trim();
                    if line.is_empty() || line.len() > 8192 {
                        continue;
                    }
                    let ungated = detect(&raw, line, gates::ALL, 1);
                    assert_eq!(scan_line(&raw, 1), ungated, "line: {raw}");
                    lines += 1;
                    telling += usize::from(ungated.is_some());
                }
            }
        }
        // The corpus exercises the detectors, not just quiet lines.
        assert!(
            lines > 5_000 && telling > 500,
            "{lines} lines, {telling} telling"
        );
    }

    fn one(line: &str) -> Option<Match> {
        scan_line(line, 1)
    }

    #[test]
    fn missing_env_forms() {
        let m = one("2026-11-20T08:59:03.711Z  WARN 1 --- [checkout] [main] c.e.s.checkout.config.DataSourceConfig   : DATABASE_URL is not set; no JDBC URL configured").unwrap();
        assert_eq!(m.kind, Kind::MissingEnv);
        assert_eq!(m.var.as_deref(), Some("DATABASE_URL"));
        assert_eq!(
            quote(&m, 200),
            "DATABASE_URL is not set; no JDBC URL configured"
        );
        let m = one("KeyError: 'REDIS_HOST'").unwrap();
        assert_eq!(m.var.as_deref(), Some("REDIS_HOST"));
        assert_eq!(quote(&m, 100), "KeyError: 'REDIS_HOST'");
        let m = one("Error: missing environment variable: STRIPE_API_KEY").unwrap();
        assert_eq!(m.var.as_deref(), Some("STRIPE_API_KEY"));
        let m = one("level=fatal msg=\"required environment variable \\\"PORT\\\" is not set\"")
            .unwrap();
        assert_eq!(m.var.as_deref(), Some("PORT"));
        let m = one("config error: env var QUEUE_URL not set").unwrap();
        assert_eq!(m.var.as_deref(), Some("QUEUE_URL"));
        let m = one("panic: environment variable \"API_TOKEN\" is required").unwrap();
        assert_eq!(m.kind, Kind::MissingEnv);
        assert_eq!(quote(&m, 100), "\"API_TOKEN\" is required");
        assert_eq!(m.var.as_deref(), Some("API_TOKEN"));
    }

    #[test]
    fn missing_env_lookalikes() {
        // Mentions a variable without saying it is missing.
        assert!(one("Picked up JAVA_TOOL_OPTIONS: -XX:MaxRAMPercentage=75").is_none());
        let json =
            r#"{"level":"info","msg":"starting search","version":"1.9.0","GOMEMLIMIT":"unset"}"#;
        assert!(
            one(json)
                .map(|m| m.kind != Kind::MissingEnv)
                .unwrap_or(true)
        );
        assert!(missing_env("using environment variable HOME for the cache").is_none());
        // A Python KeyError on a lower-case dict key is an exception, not env.
        let m = one("KeyError: 'user_id'").unwrap();
        assert_eq!(m.kind, Kind::Exception);
        assert!(m.var.is_none());
        // "is not set" after something that is not an env-style name.
        assert!(missing_env("the password is not set yet, using defaults").is_none());
    }

    #[test]
    fn java_chain() {
        let log = "2026-11-20T08:59:03.818Z ERROR 1 --- [checkout] [main] o.s.boot.SpringApplication : Application run failed\n\
org.springframework.beans.factory.UnsatisfiedDependencyException: Error creating bean with name 'checkoutController'\n\
\tat org.springframework.beans.factory.support.ConstructorResolver.createArgumentArray(ConstructorResolver.java:804)\n\
Caused by: org.springframework.beans.BeanInstantiationException: Failed to instantiate [javax.sql.DataSource]\n\
\tat org.springframework.beans.factory.support.SimpleInstantiationStrategy.instantiate(SimpleInstantiationStrategy.java:200)\n\
Caused by: java.lang.NullPointerException: Cannot invoke \"String.length()\" because \"url\" is null\n\
\tat com.example.shop.checkout.config.DataSourceConfig.dataSource(DataSourceConfig.java:41)\n\
\t... 62 common frames omitted\n";
        let ms = scan(log);
        assert!(ms.iter().all(|m| !m.line.starts_with("at ")), "{ms:?}");
        let npe = ms
            .iter()
            .find(|m| m.exception.as_deref() == Some("java.lang.NullPointerException"))
            .unwrap();
        assert_eq!(npe.kind, Kind::Exception);
        assert_eq!(npe.line_no, 6);
        let top = most_telling(&ms, 3);
        assert!(top.iter().any(|m| m.line_no == 6), "{top:?}");
        assert_eq!(
            quote(npe, 200),
            "java.lang.NullPointerException: Cannot invoke \"String.length()\" because \"url\" is null"
        );
        assert_eq!(ms[0].kind, Kind::ErrorLevel);
    }

    #[test]
    fn oom() {
        assert_eq!(
            one("Exception in thread \"main\" java.lang.OutOfMemoryError: Java heap space")
                .unwrap()
                .kind,
            Kind::OutOfMemory
        );
        assert_eq!(
            one(
                "FATAL ERROR: Reached heap limit Allocation failed - JavaScript heap out of memory"
            )
            .unwrap()
            .kind,
            Kind::OutOfMemory
        );
        assert_eq!(
            one("fatal error: runtime: out of memory").unwrap().kind,
            Kind::OutOfMemory
        );
        assert_eq!(
            one("OSError: [Errno 12] Cannot allocate memory")
                .unwrap()
                .kind,
            Kind::OutOfMemory
        );
        let warm = r#"{"level":"warn","ts":"2026-11-20T08:56:08.065Z","caller":"internal/cache/warmup.go:91","msg":"heap growing during warmup; consider raising memory or lowering cache.max_entries","heap_inuse_mb":217,"cache_entries":68572}"#;
        assert_eq!(one(warm).unwrap().kind, Kind::OutOfMemory);
        // Look-alike: a gauge in an info line is not an error.
        let info =
            r#"{"level":"info","msg":"shard loaded","shard":0,"docs":42341,"heap_inuse_mb":38}"#;
        assert!(one(info).is_none());
        let text = format!("{info}\n{warm}\n");
        assert_eq!(
            last_memory_gauge(&text),
            Some(("heap_inuse_mb".into(), 217))
        );
    }

    #[test]
    fn network() {
        let m = one(r#"time=2026-11-20T08:32:13.642Z level=ERROR msg="upstream request failed" upstream=recommender attempt=3 error="dial tcp 10.96.143.88:8080: connect: connection refused""#).unwrap();
        assert_eq!(m.kind, Kind::ConnectionRefused);
        assert_eq!(m.host.as_deref(), Some("10.96.143.88"));
        assert_eq!(m.port, Some(8080));
        let m = one("Error: connect ECONNREFUSED 127.0.0.1:5432").unwrap();
        assert_eq!((m.host.as_deref(), m.port), (Some("127.0.0.1"), Some(5432)));
        let m =
            one(r#"dial tcp: lookup pg-orders.staging.internal on 10.96.0.10:53: no such host"#)
                .unwrap();
        assert_eq!(m.kind, Kind::DnsFailure);
        assert_eq!(m.host.as_deref(), Some("pg-orders.staging.internal"));
        let m = one("socket.gaierror: [Errno -3] Temporary failure in name resolution").unwrap();
        assert_eq!(m.kind, Kind::DnsFailure);
        let m = one("getaddrinfo ENOTFOUND redis.cache.svc").unwrap();
        assert_eq!(m.host.as_deref(), Some("redis.cache.svc"));
        let m = one("java.net.UnknownHostException: kafka-0.kafka").unwrap();
        assert_eq!(
            (m.kind, m.host.as_deref()),
            (Kind::DnsFailure, Some("kafka-0.kafka"))
        );
        let m = one(
            "Get \"https://api.internal:443/v1\": x509: certificate signed by unknown authority",
        )
        .unwrap();
        assert_eq!(m.kind, Kind::Tls);
        assert_eq!(
            one("listen tcp :8080: bind: address already in use")
                .unwrap()
                .port,
            Some(8080)
        );
        assert_eq!(
            one("open /data/db.lock: permission denied").unwrap().kind,
            Kind::PermissionDenied
        );
        assert_eq!(
            one("context deadline exceeded").unwrap().kind,
            Kind::Timeout
        );
        // Look-alikes.
        assert!(one("ts=2026-11-20T08:35:23.227Z level=info msg=\"batch flushed\" sent=7 failed=0 took=722ms").is_none());
        assert!(one("INFO: 10.20.2.12:38460 - \"GET /healthz HTTP/1.1\" 200 OK").is_none());
    }

    #[test]
    fn go_python_node() {
        let go = "panic: runtime error: invalid memory address or nil pointer dereference\n[signal SIGSEGV: segmentation violation]\n\ngoroutine 1 [running]:\nmain.main()\n\t/src/main.go:12 +0x1d\n";
        let ms = scan(go);
        assert_eq!(ms[0].kind, Kind::Panic);
        assert!(ms.iter().any(|m| m.kind == Kind::StackTrace));
        let py = "Traceback (most recent call last):\n  File \"/app/main.py\", line 3, in <module>\n    import redis\nModuleNotFoundError: No module named 'redis'\n";
        let ms = scan(py);
        assert_eq!(ms[0].kind, Kind::StackTrace);
        assert_eq!(
            ms.last().unwrap().exception.as_deref(),
            Some("ModuleNotFoundError")
        );
        let node = "/app/server.js:14\nTypeError: Cannot read properties of undefined (reading 'port')\n    at Object.<anonymous> (/app/server.js:14:23)\n    at Module._compile (node:internal/modules/cjs/loader:1554:14)\n";
        let ms = scan(node);
        assert_eq!(ms.len(), 1, "{ms:?}");
        assert_eq!(ms[0].exception.as_deref(), Some("TypeError"));
        let m = one("[UnhandledPromiseRejection: This error originated either by throwing inside of an async function]").unwrap();
        assert_eq!(m.kind, Kind::Exception);
        // Look-alikes: words ending in Error that are not classes.
        assert!(one("0 errors, 0 warnings").is_none());
        assert!(one("level=info msg=\"retrying after Error budget check\"").is_none());
        // Non-ASCII right after a leading E must not panic.
        assert!(one("E€€ hello").is_none());
        let klog = "E1120 08:00:00.000000 1 reflector.go:1] failed to list";
        assert_eq!(one(klog).unwrap().kind, Kind::ErrorLevel);
    }

    #[test]
    fn missing_modules_and_files() {
        let m = one("Error: Cannot find module 'express'").unwrap();
        assert_eq!(m.kind, Kind::MissingModule);
        assert_eq!(m.target.as_deref(), Some("express"));
        assert_eq!(quote(&m, 100), "Error: Cannot find module 'express'");
        let m = one("ModuleNotFoundError: No module named 'redis'").unwrap();
        assert_eq!(
            (m.kind, m.target.as_deref(), m.exception.as_deref()),
            (
                Kind::MissingModule,
                Some("redis"),
                Some("ModuleNotFoundError")
            )
        );
        let m = one("/app/bin: error while loading shared libraries: libssl.so.3: cannot open shared object file: No such file or directory").unwrap();
        assert_eq!(
            (m.kind, m.target.as_deref()),
            (Kind::MissingModule, Some("libssl.so.3"))
        );
        let m = one("[2026/11/20 08:56:49] [error] [input:systemd:systemd.0] cannot open journal path /var/log/journal: No such file or directory").unwrap();
        assert_eq!(
            (m.kind, m.target.as_deref()),
            (Kind::MissingFile, Some("/var/log/journal"))
        );
        let m = one("panic: open /etc/app/config.yaml: no such file or directory").unwrap();
        assert_eq!(
            (m.kind, m.target.as_deref()),
            (Kind::MissingFile, Some("/etc/app/config.yaml"))
        );
        // A bracketed lower-case level is an error line.
        assert_eq!(
            one("[2026/11/20 08:56:49] [error] [engine] input initialization failed")
                .unwrap()
                .kind,
            Kind::ErrorLevel
        );
        assert!(one("[2026/11/20 08:56:49] [ info] [fluent bit] version=3.1.9").is_none());
        // The line that explains the failure is quoted before the ones after it.
        let log = "[x] [ info] start\n\
[x] [error] [input:systemd:systemd.0] cannot open journal path /var/log/journal: No such file or directory\n\
[x] [error] failed initialize input systemd.0\n\
[x] [error] [engine] input initialization failed\n";
        let ms = scan(log);
        assert_eq!(most_telling(&ms, 1)[0].kind, Kind::MissingFile);
    }

    #[test]
    fn served_paths() {
        let log = "{\"msg\":\"request\",\"method\":\"GET\",\"path\":\"/healthz\",\"status\":404}\n\
{\"msg\":\"request\",\"method\":\"GET\",\"path\":\"/health\",\"status\":200}\n";
        assert_eq!(
            served_health_path(log, "/healthz"),
            Some(("/health".into(), 200))
        );
        let clf = "10.0.0.1 - - [20/Nov/2026] \"GET /livez HTTP/1.1\" 200 2";
        assert_eq!(
            served_health_path(clf, "/healthz"),
            Some(("/livez".into(), 200))
        );
        assert_eq!(served_health_path(log, "/health"), None);
    }

    #[test]
    fn listening() {
        assert_eq!(
            one("   - Local:        http://localhost:8080")
                .unwrap()
                .port,
            Some(8080)
        );
        let tomcat = "2026-11-20T08:59:02.589Z  INFO 1 --- [checkout] [main] o.s.b.w.embedded.tomcat.TomcatWebServer  : Tomcat initialized with port 8080 (http)";
        assert_eq!(one(tomcat).unwrap().port, Some(8080));
        let json = r#"{"level":"info","caller":"cmd/search/main.go:96","msg":"http server listening","addr":":8080"}"#;
        let m = one(json).unwrap();
        assert_eq!((m.kind, m.port), (Kind::Listening, Some(8080)));
        assert!(!m.kind.is_error());
    }

    #[test]
    fn telling_order_and_repeats() {
        let log = "level=ERROR msg=x error=\"dial tcp 10.0.0.1:80: connect: connection refused\"\n\
level=ERROR msg=x error=\"dial tcp 10.0.0.1:80: connect: connection refused\"\n\
DATABASE_URL is not set\n";
        let ms = scan(log);
        let top = most_telling(&ms, 5);
        assert_eq!(top.len(), 2, "{top:?}");
        assert_eq!(top[0].kind, Kind::ConnectionRefused);
        assert_eq!(top[1].kind, Kind::MissingEnv);
    }
}
