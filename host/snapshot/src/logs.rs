//! Pod logs in `kubectl cluster-info dump`'s block format.
//!
//! ```text
//! ==== START logs for container web of pod staging/web-6efe70165c-07ca9 ====
//! ...log lines...
//! ==== END logs for container web of pod staging/web-6efe70165c-07ca9 ====
//! ```
//!
//! The dump writes `Request log error: …` (or `Create log request error: …`)
//! as the body when it could not fetch a container's logs, typically because
//! the node's kubelet was unreachable. Guardian's own captures add the logs of
//! the previous (terminated) container instance in the same format, with
//! `START previous logs for container` / `END previous logs for container`
//! headers (see `docs/snapshots.md`).

use std::borrow::Cow;
use std::collections::BTreeMap;
use std::sync::OnceLock;

use guardian_redact as redact;

/// What a snapshot holds for one container instance.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum LogBody {
    /// The log text, each line ending in `\n`.
    Text(LogText),
    /// The error line the capture wrote instead of the logs.
    FetchError(String),
}

/// Log text as captured, masked ([`redact::text`]) on its first read: a
/// snapshot never changes, so no log is masked twice, and one never read is
/// never masked.
#[derive(Clone, Debug, Default)]
pub(crate) struct LogText {
    raw: String,
    /// `None` when masking changed nothing.
    masked: OnceLock<Option<String>>,
}

impl LogText {
    /// The text with every secret masked. Masking runs on the whole text, so
    /// a PEM block that straddles a tail's first line is still found.
    pub fn masked(&self) -> &str {
        let masked = self.masked.get_or_init(|| match redact::text(&self.raw) {
            Cow::Borrowed(_) => None,
            Cow::Owned(text) => Some(text),
        });
        masked.as_deref().unwrap_or(&self.raw)
    }
}

impl From<String> for LogText {
    fn from(raw: String) -> Self {
        LogText {
            raw,
            masked: OnceLock::new(),
        }
    }
}

impl From<&str> for LogText {
    fn from(raw: &str) -> Self {
        raw.to_string().into()
    }
}

impl PartialEq for LogText {
    fn eq(&self, other: &Self) -> bool {
        self.raw == other.raw
    }
}

impl Eq for LogText {}

/// Current and previous logs of one container.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(crate) struct ContainerLogs {
    pub current: Option<LogBody>,
    pub previous: Option<LogBody>,
}

/// Logs of one pod, by container name.
pub(crate) type PodLogs = BTreeMap<String, ContainerLogs>;

/// One parsed block.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct LogBlock {
    pub namespace: String,
    pub pod: String,
    pub container: String,
    pub previous: bool,
    pub body: LogBody,
}

/// The fields of one `==== START|END [previous ]logs for container C of pod NS/POD ====` line.
#[derive(Clone, Debug, PartialEq, Eq)]
struct Header {
    start: bool,
    previous: bool,
    container: String,
    namespace: String,
    pod: String,
}

impl Header {
    fn same_block(&self, other: &Header) -> bool {
        self.previous == other.previous
            && self.container == other.container
            && self.namespace == other.namespace
            && self.pod == other.pod
    }
}

fn parse_header(line: &str) -> Option<Header> {
    let rest = line
        .trim_end()
        .strip_prefix("==== ")?
        .strip_suffix(" ====")?;
    let (start, rest) = match rest.strip_prefix("START ") {
        Some(r) => (true, r),
        None => (false, rest.strip_prefix("END ")?),
    };
    let (previous, rest) = match rest.strip_prefix("previous logs for container ") {
        Some(r) => (true, r),
        None => (false, rest.strip_prefix("logs for container ")?),
    };
    let (container, pod_ref) = rest.split_once(" of pod ")?;
    let (namespace, pod) = pod_ref.split_once('/')?;
    if container.is_empty() || namespace.is_empty() || pod.is_empty() {
        return None;
    }
    Some(Header {
        start,
        previous,
        container: container.to_string(),
        namespace: namespace.to_string(),
        pod: pod.to_string(),
    })
}

/// The prefixes cluster-info dump writes instead of logs it could not get.
const FETCH_ERROR_PREFIXES: &[&str] = &["Request log error: ", "Create log request error: "];

fn finish_body(lines: Vec<&str>) -> LogBody {
    let meaningful: Vec<&&str> = lines.iter().filter(|l| !l.trim().is_empty()).collect();
    if let [only] = meaningful.as_slice()
        && FETCH_ERROR_PREFIXES.iter().any(|p| only.starts_with(p))
    {
        return LogBody::FetchError(only.trim_end().to_string());
    }
    let mut text = String::with_capacity(lines.iter().map(|l| l.len() + 1).sum());
    for line in lines {
        text.push_str(line);
        text.push('\n');
    }
    LogBody::Text(text.into())
}

/// Parse a logs file. Returns the blocks and, separately, problems worth
/// telling the user about (unterminated blocks and the like). Text outside
/// blocks is ignored: it carries nothing the broker can serve.
pub(crate) fn parse_log_file(text: &str) -> (Vec<LogBlock>, Vec<String>) {
    let mut blocks = Vec::new();
    let mut problems = Vec::new();
    let mut open: Option<(Header, usize, Vec<&str>)> = None;
    for (index, line) in text.lines().enumerate() {
        let line_no = index + 1;
        // A container whose last log line has no trailing newline gets the END
        // header glued to it: `last line==== END logs for …`.
        let (body_part, header) = match parse_header(line) {
            Some(h) => ("", Some(h)),
            None => match line.find("==== END ") {
                Some(at) if at > 0 => match parse_header(&line[at..]) {
                    Some(h) if !h.start => (&line[..at], Some(h)),
                    _ => (line, None),
                },
                _ => (line, None),
            },
        };
        match (header, open.take()) {
            (None, Some((h, start, mut lines))) => {
                lines.push(body_part);
                open = Some((h, start, lines));
            }
            (None, None) => {}
            (Some(h), None) if h.start => open = Some((h, line_no, Vec::new())),
            (Some(h), None) => problems.push(format!(
                "line {line_no}: END of logs for container {} of pod {}/{} without a matching \
                 START; ignored",
                h.container, h.namespace, h.pod
            )),
            (Some(h), Some((current, _, mut lines))) if !h.start && h.same_block(&current) => {
                if !body_part.is_empty() {
                    lines.push(body_part);
                }
                blocks.push(LogBlock {
                    namespace: current.namespace,
                    pod: current.pod,
                    container: current.container,
                    previous: current.previous,
                    body: finish_body(lines),
                });
            }
            (Some(h), Some((current, start, lines))) => {
                // A new START (or a foreign END) inside an open block: the
                // file was cut or concatenated. Keep what the open block had.
                problems.push(format!(
                    "line {start}: logs for container {} of pod {}/{} have no END line before \
                     line {line_no}; kept the {} lines up to there",
                    current.container,
                    current.namespace,
                    current.pod,
                    lines.len()
                ));
                blocks.push(LogBlock {
                    namespace: current.namespace,
                    pod: current.pod,
                    container: current.container,
                    previous: current.previous,
                    body: finish_body(lines),
                });
                if h.start {
                    open = Some((h, line_no, Vec::new()));
                }
            }
        }
    }
    if let Some((current, start, lines)) = open {
        problems.push(format!(
            "line {start}: logs for container {} of pod {}/{} have no END line (file truncated?); \
             kept the {} lines that are there",
            current.container,
            current.namespace,
            current.pod,
            lines.len()
        ));
        blocks.push(LogBlock {
            namespace: current.namespace,
            pod: current.pod,
            container: current.container,
            previous: current.previous,
            body: finish_body(lines),
        });
    }
    (blocks, problems)
}

/// The last `n` lines of `text` (all of it when `n` is `None`).
pub(crate) fn tail(text: &str, n: Option<u32>) -> String {
    let Some(n) = n else {
        return text.to_string();
    };
    let n = n as usize;
    if n == 0 {
        return String::new();
    }
    // Count newlines from the end; a final line without `\n` counts as a line.
    let trimmed = text.strip_suffix('\n').unwrap_or(text);
    let mut seen = 0;
    for (i, b) in trimmed.bytes().enumerate().rev() {
        if b == b'\n' {
            seen += 1;
            if seen == n {
                return text[i + 1..].to_string();
            }
        }
    }
    text.to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn log_text_is_masked_whole_once_and_tailed_after() {
        // A private key whose BEGIN line is outside the last 3 lines.
        let raw = "start\n-----BEGIN RSA PRIVATE KEY-----\nMIIEowIBAAKCAQEA1x2y3z4w5v6u7t8s9r0q\nQWERTYUIOPASDFGHJKLZXCVBNM0123456789ab\n-----END RSA PRIVATE KEY-----\ndone\n";
        let text = LogText::from(raw);
        let masked = text.masked();
        assert!(!masked.contains("MIIEowIBAAKCAQEA"), "{masked}");
        assert!(!masked.contains("QWERTYUIOP"), "{masked}");
        let last3 = tail(masked, Some(3));
        assert!(!last3.contains("QWERTYUIOP"), "{last3}");
        assert!(last3.contains("done"), "{last3}");
        // The second read is the first one's text, not a new masking.
        assert!(std::ptr::eq(masked, text.masked()));
        // Text with nothing to mask is not copied.
        let plain = LogText::from("GET /healthz 200\n");
        assert!(std::ptr::eq(plain.masked(), plain.raw.as_str()));
    }

    #[test]
    fn parses_blocks_errors_and_previous_logs() {
        let text = "\
==== START logs for container app of pod ns1/p1 ====
line 1

line 3
==== END logs for container app of pod ns1/p1 ====
==== START previous logs for container app of pod ns1/p1 ====
panic: boom
==== END previous logs for container app of pod ns1/p1 ====
==== START logs for container side of pod ns1/p1 ====
Request log error: an error on the server (\"unknown\") has prevented the request from succeeding
==== END logs for container side of pod ns1/p1 ====
==== START logs for container empty of pod ns1/p1 ====
==== END logs for container empty of pod ns1/p1 ====
==== START logs for container glued of pod ns1/p1 ====
no newline==== END logs for container glued of pod ns1/p1 ====
";
        let (blocks, problems) = parse_log_file(text);
        assert!(problems.is_empty(), "{problems:?}");
        assert_eq!(blocks.len(), 5);
        assert_eq!(blocks[0].body, LogBody::Text("line 1\n\nline 3\n".into()));
        assert!(!blocks[0].previous);
        assert!(blocks[1].previous);
        assert_eq!(blocks[1].body, LogBody::Text("panic: boom\n".into()));
        assert!(
            matches!(&blocks[2].body, LogBody::FetchError(l) if l.starts_with("Request log error: "))
        );
        assert_eq!(blocks[3].body, LogBody::Text("".into()));
        assert_eq!(blocks[4].body, LogBody::Text("no newline\n".into()));
        assert_eq!(blocks[0].namespace, "ns1");
        assert_eq!(blocks[0].pod, "p1");
    }

    #[test]
    fn unterminated_blocks_are_kept_and_reported() {
        let text = "\
==== START logs for container a of pod ns/p ====
one
==== START logs for container b of pod ns/p ====
two
";
        let (blocks, problems) = parse_log_file(text);
        assert_eq!(blocks.len(), 2);
        assert_eq!(problems.len(), 2, "{problems:?}");
        assert!(problems[0].contains("container a of pod ns/p"));
        assert!(problems[1].contains("truncated"));
        let (blocks, problems) = parse_log_file("==== END logs for container a of pod ns/p ====\n");
        assert!(blocks.is_empty());
        assert_eq!(problems.len(), 1);
    }

    #[test]
    fn tail_counts_lines_from_the_end() {
        let text = "a\nb\nc\n";
        assert_eq!(tail(text, None), text);
        assert_eq!(tail(text, Some(0)), "");
        assert_eq!(tail(text, Some(1)), "c\n");
        assert_eq!(tail(text, Some(2)), "b\nc\n");
        assert_eq!(tail(text, Some(3)), text);
        assert_eq!(tail(text, Some(10)), text);
        assert_eq!(tail("a\nb", Some(1)), "b");
        assert_eq!(tail("", Some(1)), "");
    }
}
