//! A format-preserving editor for block-style YAML (what Kubernetes manifests, kustomizations
//! and Helm values files are written in).
//!
//! The text is scanned into a tree of nodes that remember their byte spans and line ranges;
//! an edit is a list of byte-range replacements computed against that tree, so every line
//! the change does not touch stays byte-for-byte what it was (comments, key order, quoting,
//! indentation, flow collections, separators, the final newline). Each edited document is
//! parsed again with `serde_yaml` and compared with the value expected, so a scanner mistake
//! is an error, never a silently wrong file.

use std::ops::Range;

use serde_json::Value;

/// One YAML document of a file: its line range and its parsed value.
#[derive(Debug, Clone)]
pub(crate) struct DocChunk {
    /// Byte range of the document's text (separator lines excluded).
    pub span: Range<usize>,
    pub value: Value,
}

/// Splits a YAML stream into documents at `---` lines (and `...` end markers) and parses each.
/// Documents that hold nothing (comments only) are kept as `Value::Null` so indices stay those
/// of the file. Errors carry the 1-based line in the file.
pub(crate) fn split_documents(text: &str) -> Result<Vec<DocChunk>, (usize, String)> {
    let mut docs = Vec::new();
    let mut start = 0usize;
    let mut start_line = 1usize;
    let mut offset = 0usize;
    let mut seen_separator = false;
    for (line_no, line) in (1usize..).zip(text.split_inclusive('\n')) {
        let bare = line.trim_end_matches(['\n', '\r']);
        let is_sep = bare == "---" || bare.starts_with("--- ") || bare == "...";
        if is_sep {
            // Comments before the first `---` belong to no document.
            let leading_comments = !seen_separator
                && text[start..offset]
                    .lines()
                    .all(|l| l.trim().is_empty() || l.trim_start().starts_with('#'));
            if (offset > start || seen_separator) && !leading_comments {
                docs.push((start..offset, start_line));
            }
            seen_separator = true;
            start = offset + line.len();
            start_line = line_no + 1;
            if bare.starts_with("--- ") && !bare[4..].trim_start().starts_with('#') {
                return Err((
                    line_no,
                    "content on the `---` line is not supported; put it on the next line".into(),
                ));
            }
        }
        offset += line.len();
    }
    if offset > start {
        docs.push((start..offset, start_line));
    }
    let mut out = Vec::new();
    for (span, first_line) in docs {
        let body = &text[span.clone()];
        let value = parse_value(body).map_err(|(l, m)| (l + first_line - 1, m))?;
        out.push(DocChunk { span, value });
    }
    Ok(out)
}

/// Parses one document's text to JSON; the error carries the 1-based line within `body`.
pub(crate) fn parse_value(body: &str) -> Result<Value, (usize, String)> {
    if body
        .lines()
        .all(|l| l.trim().is_empty() || l.trim_start().starts_with('#'))
    {
        return Ok(Value::Null);
    }
    let y: serde_yaml::Value = serde_yaml::from_str(body).map_err(|e| {
        let line = e.location().map(|l| l.line()).unwrap_or(1);
        (line, e.to_string())
    })?;
    serde_json::to_value(y).map_err(|e| (1, format!("not representable as JSON: {e}")))
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Style {
    Plain,
    Single,
    Double,
}

#[derive(Debug, Clone)]
pub(crate) enum Node {
    /// A scalar written on the line(s) of `span`.
    Scalar {
        span: Range<usize>,
        style: Style,
    },
    /// No value after `key:` (null); `at` is where a value would be written on the key line.
    Empty {
        at: usize,
    },
    /// A literal/folded block scalar, an alias or a flow collection: replaced whole.
    Opaque {
        span: Range<usize>,
        flow: bool,
    },
    Map(Map),
    Seq(Seq),
    /// A flow mapping (`{a: 1, b: x}`), possibly over several lines.
    FlowMap {
        span: Range<usize>,
        entries: Vec<FlowEntry>,
    },
    /// A flow sequence (`[a, b]`).
    FlowSeq {
        span: Range<usize>,
        items: Vec<(Range<usize>, Node)>,
    },
}

#[derive(Debug, Clone)]
pub(crate) struct FlowEntry {
    pub key: String,
    /// From the key's first byte to the value's last.
    pub span: Range<usize>,
    pub value: Node,
}

#[derive(Debug, Clone)]
pub(crate) struct Map {
    /// Column of the keys.
    pub indent: usize,
    pub entries: Vec<Entry>,
}

#[derive(Debug, Clone)]
pub(crate) struct Entry {
    pub key: String,
    /// Byte offset of the key's first character.
    pub key_at: usize,
    /// Byte offset just after the key's colon.
    pub value_at: usize,
    /// Lines (0-based, inclusive) the entry covers, up to its last content line.
    pub first_line: usize,
    pub last_line: usize,
    pub value: Node,
}

#[derive(Debug, Clone)]
pub(crate) struct Seq {
    /// Column of the `-` indicators.
    pub indent: usize,
    pub items: Vec<Item>,
}

#[derive(Debug, Clone)]
pub(crate) struct Item {
    pub first_line: usize,
    pub last_line: usize,
    pub value: Node,
}

#[derive(Debug, Clone, Copy)]
struct Line {
    start: usize,
    /// End of the line's text, newline excluded.
    end: usize,
    /// End including the newline.
    next: usize,
    indent: usize,
    content: bool,
}

/// The scanned text of one file.
pub(crate) struct Scan<'a> {
    pub text: &'a str,
    lines: Vec<Line>,
}

pub(crate) type ScanResult<T> = Result<T, String>;

impl<'a> Scan<'a> {
    pub fn new(text: &'a str) -> Self {
        let mut lines = Vec::new();
        let mut off = 0;
        for raw in text.split_inclusive('\n') {
            let bare = raw.trim_end_matches(['\n', '\r']);
            let indent = bare.len() - bare.trim_start_matches(' ').len();
            let rest = bare.trim_start();
            lines.push(Line {
                start: off,
                end: off + bare.len(),
                next: off + raw.len(),
                indent,
                content: !rest.is_empty() && !rest.starts_with('#'),
            });
            off += raw.len();
        }
        Scan { text, lines }
    }

    fn line_of(&self, byte: usize) -> usize {
        match self.lines.binary_search_by(|l| {
            if byte < l.start {
                std::cmp::Ordering::Greater
            } else if byte >= l.next {
                std::cmp::Ordering::Less
            } else {
                std::cmp::Ordering::Equal
            }
        }) {
            Ok(i) => i,
            Err(i) => i.min(self.lines.len().saturating_sub(1)),
        }
    }

    fn line_text(&self, i: usize) -> &'a str {
        &self.text[self.lines[i].start..self.lines[i].end]
    }

    /// Parses the document in `span` (a [`DocChunk`] span) into a node tree.
    pub fn document(&self, span: &Range<usize>) -> ScanResult<Node> {
        if span.start >= span.end {
            return Ok(Node::Empty { at: span.start });
        }
        let a = self.line_of(span.start);
        let b = self.line_of(span.end - 1) + 1;
        let Some(first) = (a..b).find(|&i| self.lines[i].content) else {
            return Ok(Node::Empty { at: span.start });
        };
        let col = self.lines[first].indent;
        self.block_node(first, col, b)
    }

    /// The node whose first token is at (`line`, `col`), the node ending before line `end`.
    fn block_node(&self, line: usize, col: usize, end: usize) -> ScanResult<Node> {
        let rest = &self.line_text(line)[col..];
        if rest == "-" || rest.starts_with("- ") || rest.starts_with("-\t") {
            return Ok(Node::Seq(self.seq(line, col, end)?));
        }
        if split_key(rest).is_some() {
            return Ok(Node::Map(self.map(line, col, end)?));
        }
        self.inline_value(self.lines[line].start + col, line, col, end)
    }

    /// Last content line in `[from, to)`, or `from - 1` when none.
    fn last_content(&self, from: usize, to: usize) -> usize {
        (from..to)
            .rev()
            .find(|&i| self.lines[i].content)
            .unwrap_or(from.saturating_sub(1))
    }

    /// Last non-blank line in `[from, to)` indented deeper than `col` (a block scalar's lines,
    /// `#` lines included: inside a block scalar they are text, not comments).
    fn last_deeper(&self, from: usize, to: usize, col: usize) -> usize {
        (from..to)
            .rev()
            .find(|&i| {
                let l = self.lines[i];
                l.end > l.start + l.indent && l.indent > col
            })
            .unwrap_or(from.saturating_sub(1))
    }

    /// For a flow collection starting at byte `at` (its text `v`), the line after the one
    /// it closes on (its closing bracket may sit at any indentation); 0 otherwise.
    fn flow_end_line(&self, at: usize, v: &str) -> usize {
        if !(v.starts_with('[') || v.starts_with('{')) {
            return 0;
        }
        matching_bracket(self.text, at)
            .map(|stop| self.line_of(stop - 1) + 1)
            .unwrap_or(0)
    }

    /// The last line a node's text is on.
    fn node_last(&self, node: &Node) -> Option<usize> {
        match node {
            Node::Scalar { span, .. }
            | Node::Opaque { span, .. }
            | Node::FlowMap { span, .. }
            | Node::FlowSeq { span, .. } => {
                Some(self.line_of(span.end.saturating_sub(1).max(span.start)))
            }
            Node::Empty { .. } => None,
            Node::Map(m) => m.entries.last().map(|e| e.last_line),
            Node::Seq(q) => q.items.last().map(|i| i.last_line),
        }
    }

    fn map(&self, first: usize, col: usize, end: usize) -> ScanResult<Map> {
        let mut entries = Vec::new();
        let mut i = first;
        while i < end {
            let l = self.lines[i];
            if !l.content {
                i += 1;
                continue;
            }
            if i != first && l.indent < col {
                break;
            }
            if i != first && l.indent > col {
                return Err(format!(
                    "line {}: unexpected indentation inside a mapping",
                    i + 1
                ));
            }
            let rest = &self.line_text(i)[col..];
            let Some((key, after_colon)) = split_key(rest) else {
                if rest.starts_with("- ") || rest == "-" {
                    break;
                }
                return Err(format!("line {}: expected `key: value`", i + 1));
            };
            let key_at = l.start + col;
            let value_col = col + after_colon;
            let value_text = &self.line_text(i)[value_col..];
            let v = value_text.trim_start_matches(' ');
            let value_col = value_col + (value_text.len() - v.len());
            // The lines that belong to this entry: more indented ones, and a sequence at the
            // key's own column when the value starts on the next line.
            let empty_inline = v.is_empty() || v.starts_with('#');
            let mut j = i + 1;
            while j < end {
                let lj = self.lines[j];
                if lj.content {
                    if lj.indent < col {
                        break;
                    }
                    if lj.indent == col {
                        let r = &self.line_text(j)[col..];
                        let seq_here = empty_inline && (r == "-" || r.starts_with("- "));
                        if !seq_here {
                            break;
                        }
                    }
                }
                j += 1;
            }
            let j = j.max(self.flow_end_line(l.start + value_col, v).min(end));
            let last = if is_block_indicator(v) {
                self.last_deeper(i + 1, j, col).max(i)
            } else {
                self.last_content(i + 1, j).max(i)
            };
            let value = if empty_inline {
                match (i + 1..j).find(|&k| self.lines[k].content) {
                    None => Node::Empty {
                        at: l.start + col + after_colon.min(rest.len()),
                    },
                    Some(k) => self.block_node(k, self.lines[k].indent, j)?,
                }
            } else {
                self.inline_value(l.start + value_col, i, col, last + 1)?
            };
            let last = last.max(self.node_last(&value).unwrap_or(last));
            entries.push(Entry {
                key,
                key_at,
                value_at: l.start + col + after_colon,
                first_line: i,
                last_line: last,
                value,
            });
            i = j;
        }
        Ok(Map {
            indent: col,
            entries,
        })
    }

    fn seq(&self, first: usize, col: usize, end: usize) -> ScanResult<Seq> {
        let mut items = Vec::new();
        let mut i = first;
        while i < end {
            let l = self.lines[i];
            if !l.content {
                i += 1;
                continue;
            }
            if i != first && l.indent != col {
                break;
            }
            let rest = &self.line_text(i)[col..];
            if !(rest == "-" || rest.starts_with("- ")) {
                break;
            }
            let mut j = i + 1;
            while j < end {
                let lj = self.lines[j];
                if lj.content && lj.indent <= col {
                    break;
                }
                j += 1;
            }
            let after = &rest[1..];
            let v = after.trim_start_matches(' ');
            let vcol = col + 1 + (after.len() - v.len());
            let j = j.max(self.flow_end_line(l.start + vcol, v).min(end));
            let last = if is_block_indicator(v) {
                self.last_deeper(i + 1, j, col).max(i)
            } else {
                self.last_content(i + 1, j).max(i)
            };
            let value = if v.is_empty() || v.starts_with('#') {
                match (i + 1..j).find(|&k| self.lines[k].content) {
                    None => Node::Empty {
                        at: l.start + col + 1,
                    },
                    Some(k) => self.block_node(k, self.lines[k].indent, j)?,
                }
            } else if v == "-" || v.starts_with("- ") || split_key(v).is_some() {
                self.block_node(i, vcol, j)?
            } else {
                self.inline_value(l.start + vcol, i, vcol, last + 1)?
            };
            let last = last.max(self.node_last(&value).unwrap_or(last));
            items.push(Item {
                first_line: i,
                last_line: last,
                value,
            });
            i = j;
        }
        Ok(Seq { indent: col, items })
    }

    /// A value starting at byte `at` on `line` (a scalar, flow collection, block scalar…),
    /// possibly continued on the more indented lines before `end`.
    fn inline_value(&self, at: usize, line: usize, _col: usize, end: usize) -> ScanResult<Node> {
        let text = self.text;
        let line_end = self.lines[line].end;
        let s = &text[at..line_end];
        let first = s.chars().next().unwrap_or(' ');
        match first {
            '&' | '!' => {
                // An anchor or tag before the value: skip it.
                let tok = s.find(' ').unwrap_or(s.len());
                let rest = s[tok..].trim_start_matches(' ');
                if rest.is_empty() || rest.starts_with('#') {
                    let next = (line + 1..end).find(|&k| self.lines[k].content);
                    return match next {
                        None => Ok(Node::Empty { at: line_end }),
                        Some(k) => self.block_node(k, self.lines[k].indent, end),
                    };
                }
                self.inline_value(at + (s.len() - rest.len()), line, _col, end)
            }
            '|' | '>' => {
                let stop = if end > line + 1 {
                    self.lines[end - 1].end
                } else {
                    line_end
                };
                Ok(Node::Opaque {
                    span: at..stop.max(line_end),
                    flow: false,
                })
            }
            '[' | '{' => {
                let stop = matching_bracket(text, at)
                    .ok_or_else(|| format!("line {}: unclosed flow collection", line + 1))?;
                if let Some((node, end)) = flow_node(text, at)
                    && end == stop
                {
                    return Ok(node);
                }
                Ok(Node::Opaque {
                    span: at..stop,
                    flow: true,
                })
            }
            '"' | '\'' => {
                let stop = closing_quote(text, at)
                    .ok_or_else(|| format!("line {}: unclosed quoted scalar", line + 1))?;
                Ok(Node::Scalar {
                    span: at..stop,
                    style: if first == '"' {
                        Style::Double
                    } else {
                        Style::Single
                    },
                })
            }
            '*' => Ok(Node::Opaque {
                span: at..at + plain_len(s),
                flow: false,
            }),
            _ => {
                let mut stop = at + plain_len(s);
                // Continuation lines of a multi-line plain scalar.
                for k in line + 1..end {
                    if self.lines[k].content {
                        let t = self.line_text(k).trim_start();
                        stop = self.lines[k].start + self.lines[k].indent + plain_len(t);
                    }
                }
                Ok(Node::Scalar {
                    span: at..stop,
                    style: Style::Plain,
                })
            }
        }
    }
}

/// Parses the flow collection starting at `at` into nodes with spans; `None` for what this
/// reader does not follow (comments inside, empty values, complex keys): the collection is
/// then replaced whole when it changes.
fn flow_node(text: &str, at: usize) -> Option<(Node, usize)> {
    let b = text.as_bytes();
    let ws = |mut i: usize| -> Option<usize> {
        while i < b.len() && matches!(b[i], b' ' | b'\t' | b'\r' | b'\n') {
            i += 1;
        }
        if b.get(i) == Some(&b'#') {
            return None;
        }
        Some(i)
    };
    // A scalar inside a flow collection: quoted, or plain up to `,` `]` `}` or `: `.
    let scalar = |i: usize, key: bool| -> Option<(Node, usize)> {
        match b.get(i)? {
            q @ (b'"' | b'\'') => {
                let end = closing_quote(text, i)?;
                let style = if *q == b'"' {
                    Style::Double
                } else {
                    Style::Single
                };
                Some((
                    Node::Scalar {
                        span: i..end,
                        style,
                    },
                    end,
                ))
            }
            b'{' | b'[' | b'}' | b']' | b',' | b'&' | b'*' | b'!' | b'?' | b'|' | b'>' => None,
            _ => {
                let mut j = i;
                while j < b.len() {
                    let c = b[j];
                    if matches!(c, b',' | b']' | b'}' | b'\n' | b'\r')
                        || (c == b':'
                            && (key || matches!(b.get(j + 1), Some(b' ' | b',' | b']' | b'}'))))
                            && matches!(
                                b.get(j + 1),
                                Some(b' ' | b'\t' | b',' | b']' | b'}' | b'\n') | None
                            )
                        || (c == b'#' && j > i && b[j - 1] == b' ')
                    {
                        break;
                    }
                    j += 1;
                }
                let raw = text[i..j].trim_end();
                if raw.is_empty() {
                    return None;
                }
                Some((
                    Node::Scalar {
                        span: i..i + raw.len(),
                        style: Style::Plain,
                    },
                    i + raw.len(),
                ))
            }
        }
    };
    fn value(
        text: &str,
        i: usize,
        ws: &dyn Fn(usize) -> Option<usize>,
        scalar: &dyn Fn(usize, bool) -> Option<(Node, usize)>,
    ) -> Option<(Node, usize)> {
        let b = text.as_bytes();
        match b.get(i)? {
            b'{' => {
                let mut entries = Vec::new();
                let mut j = ws(i + 1)?;
                if b.get(j) == Some(&b'}') {
                    return Some((
                        Node::FlowMap {
                            span: i..j + 1,
                            entries,
                        },
                        j + 1,
                    ));
                }
                loop {
                    let (k, kend) = scalar(j, true)?;
                    let Node::Scalar { span: ks, style } = &k else {
                        return None;
                    };
                    let key = decode_scalar(&text[ks.clone()], *style);
                    let c = ws(kend)?;
                    if b.get(c) != Some(&b':') {
                        return None;
                    }
                    let v = ws(c + 1)?;
                    let (node, vend) = value(text, v, ws, scalar)?;
                    entries.push(FlowEntry {
                        key,
                        span: j..vend,
                        value: node,
                    });
                    let n = ws(vend)?;
                    match b.get(n)? {
                        b',' => {
                            j = ws(n + 1)?;
                            if b.get(j) == Some(&b'}') {
                                return Some((
                                    Node::FlowMap {
                                        span: i..j + 1,
                                        entries,
                                    },
                                    j + 1,
                                ));
                            }
                        }
                        b'}' => {
                            return Some((
                                Node::FlowMap {
                                    span: i..n + 1,
                                    entries,
                                },
                                n + 1,
                            ));
                        }
                        _ => return None,
                    }
                }
            }
            b'[' => {
                let mut items = Vec::new();
                let mut j = ws(i + 1)?;
                if b.get(j) == Some(&b']') {
                    return Some((
                        Node::FlowSeq {
                            span: i..j + 1,
                            items,
                        },
                        j + 1,
                    ));
                }
                loop {
                    let (node, vend) = value(text, j, ws, scalar)?;
                    items.push((j..vend, node));
                    let n = ws(vend)?;
                    match b.get(n)? {
                        b',' => {
                            j = ws(n + 1)?;
                            if b.get(j) == Some(&b']') {
                                return Some((
                                    Node::FlowSeq {
                                        span: i..j + 1,
                                        items,
                                    },
                                    j + 1,
                                ));
                            }
                        }
                        b']' => {
                            return Some((
                                Node::FlowSeq {
                                    span: i..n + 1,
                                    items,
                                },
                                n + 1,
                            ));
                        }
                        _ => return None,
                    }
                }
            }
            _ => scalar(i, false),
        }
    }
    value(text, at, &ws, &scalar)
}

/// Whether a value starts a literal or folded block scalar (`|`, `>-`, `|2`, …).
fn is_block_indicator(v: &str) -> bool {
    v.starts_with('|') || v.starts_with('>')
}

/// Length of a plain scalar at the start of `s` (up to ` #` or the end of the line, trimmed).
fn plain_len(s: &str) -> usize {
    let cut = s.find(" #").unwrap_or(s.len());
    s[..cut].trim_end().len()
}

fn matching_bracket(text: &str, at: usize) -> Option<usize> {
    let bytes = text.as_bytes();
    let mut depth = 0i32;
    let mut i = at;
    while i < bytes.len() {
        match bytes[i] {
            b'[' | b'{' => depth += 1,
            b']' | b'}' => {
                depth -= 1;
                if depth == 0 {
                    return Some(i + 1);
                }
            }
            b'"' | b'\'' => {
                i = closing_quote(text, i)? - 1;
            }
            _ => {}
        }
        i += 1;
    }
    None
}

/// The byte after the quote closing the quoted scalar starting at `at`.
fn closing_quote(text: &str, at: usize) -> Option<usize> {
    let bytes = text.as_bytes();
    let q = bytes[at];
    let mut i = at + 1;
    while i < bytes.len() {
        let c = bytes[i];
        if q == b'"' && c == b'\\' {
            i += 2;
            continue;
        }
        if c == q {
            if q == b'\'' && bytes.get(i + 1) == Some(&b'\'') {
                i += 2;
                continue;
            }
            return Some(i + 1);
        }
        i += 1;
    }
    None
}

/// If `s` starts with a mapping key (`key:` followed by a space or the end), returns the
/// decoded key and the offset just after the colon.
fn split_key(s: &str) -> Option<(String, usize)> {
    let first = s.chars().next()?;
    if first == '"' || first == '\'' {
        let stop = closing_quote(s, 0)?;
        let after = &s[stop..];
        let trimmed = after.trim_start_matches(' ');
        let colon = stop + (after.len() - trimmed.len());
        if !trimmed.starts_with(':') {
            return None;
        }
        let tail = &trimmed[1..];
        if !(tail.is_empty() || tail.starts_with(' ')) {
            return None;
        }
        let key = decode_scalar(
            &s[..stop],
            if first == '"' {
                Style::Double
            } else {
                Style::Single
            },
        );
        return Some((key, colon + 1));
    }
    if "[]{}#&*!|>%@`,?-".contains(first) && !(first == '-' && !s.starts_with("- ") && s != "-") {
        return None;
    }
    let mut search = 0;
    while let Some(p) = s[search..].find(':') {
        let p = search + p;
        if s[..p].contains(" #") {
            return None;
        }
        let tail = &s[p + 1..];
        if tail.is_empty() || tail.starts_with(' ') || tail.starts_with('\t') {
            return Some((s[..p].trim_end().to_string(), p + 1));
        }
        search = p + 1;
    }
    None
}

fn decode_scalar(raw: &str, style: Style) -> String {
    match style {
        Style::Plain => raw.to_string(),
        Style::Single => raw[1..raw.len() - 1].replace("''", "'"),
        Style::Double => serde_yaml::from_str::<String>(raw).unwrap_or_else(|_| raw.to_string()),
    }
}

/// One text replacement.
#[derive(Debug, Clone)]
pub(crate) struct Splice {
    pub range: Range<usize>,
    pub text: String,
}

pub(crate) fn apply_splices(text: &str, mut splices: Vec<Splice>) -> Result<String, String> {
    splices.sort_by_key(|s| (s.range.start, s.range.end));
    for w in splices.windows(2) {
        if w[0].range.end > w[1].range.start {
            return Err("overlapping edits".into());
        }
    }
    let mut out = text.to_string();
    for s in splices.into_iter().rev() {
        out.replace_range(s.range, &s.text);
    }
    Ok(out)
}

/// A JSON pointer split into its unescaped segments.
pub(crate) fn pointer_segments(ptr: &str) -> Vec<String> {
    if ptr.is_empty() {
        return Vec::new();
    }
    ptr.trim_start_matches('/')
        .split('/')
        .map(|s| s.replace("~1", "/").replace("~0", "~"))
        .collect()
}

pub(crate) fn escape_segment(s: &str) -> String {
    s.replace('~', "~0").replace('/', "~1")
}

/// The editor of one file's text.
pub(crate) struct Editor<'a> {
    scan: Scan<'a>,
    /// Spaces per nesting level of mappings (detected; 2 by default).
    step: usize,
    /// Whether `- ` items are indented under their key (`key:\n  - a`) or not (`key:\n- a`).
    indent_seqs: bool,
    splices: Vec<Splice>,
}

impl<'a> Editor<'a> {
    pub fn new(text: &'a str) -> Self {
        let scan = Scan::new(text);
        let (step, indent_seqs) = detect_style(&scan);
        Editor {
            scan,
            step,
            indent_seqs,
            splices: Vec::new(),
        }
    }

    pub fn root(&self, span: &Range<usize>) -> ScanResult<Node> {
        self.scan.document(span)
    }

    /// Records the edits that make the document `node` (whose parsed value is `old`) read
    /// as `new`, touching as few lines as possible.
    pub fn set_document(&mut self, node: &Node, new: &Value, old: &Value) -> ScanResult<()> {
        let col = self.scan.lines[self.line_of_node(node)].indent;
        self.replace(node, new, old, col)
    }

    fn line_of_node(&self, node: &Node) -> usize {
        let at = match node {
            Node::Scalar { span, .. }
            | Node::Opaque { span, .. }
            | Node::FlowMap { span, .. }
            | Node::FlowSeq { span, .. } => span.start,
            Node::Empty { at } => *at,
            Node::Map(m) => m.entries.first().map(|e| e.key_at).unwrap_or(0),
            Node::Seq(s) => s
                .items
                .first()
                .map(|i| self.scan.lines[i.first_line].start)
                .unwrap_or(0),
        };
        self.scan.line_of(at)
    }

    /// First line of a block mapping or list written below its key (none for other nodes).
    fn block_first_line(&self, node: &Node) -> Option<usize> {
        match node {
            Node::Map(m) => m.entries.first().map(|e| e.first_line),
            Node::Seq(q) => q.items.first().map(|i| i.first_line),
            _ => None,
        }
    }

    /// Makes `node` (the value of a key at column `key_col`, or an item) hold `v`.
    fn replace(&mut self, node: &Node, v: &Value, old: &Value, key_col: usize) -> ScanResult<()> {
        if v == old {
            return Ok(());
        }
        match (node, v) {
            (Node::Scalar { span, style }, v) if !v.is_object() && !v.is_array() => {
                let text = render_scalar(v, *style);
                self.splices.push(Splice {
                    range: span.clone(),
                    text,
                });
                Ok(())
            }
            (Node::Map(m), Value::Object(new)) => {
                let old_map = old.as_object().cloned().unwrap_or_default();
                if new.is_empty() {
                    return Err("emptying a whole mapping is not supported".into());
                }
                // Removals (whole entries), then changes and additions.
                for (i, e) in m.entries.iter().enumerate() {
                    if !new.contains_key(&e.key) {
                        self.remove_entry(m, i)?;
                    }
                }
                for (k, nv) in new {
                    let ov = old_map.get(k).cloned().unwrap_or(Value::Null);
                    match m.entries.iter().find(|e| &e.key == k) {
                        Some(e) => {
                            let e = e.clone();
                            if is_empty_container(nv)
                                && !is_empty_container(&ov)
                                && let Some(first) = self.block_first_line(&e.value)
                            {
                                // `key:` + block → `key: {}` (or `[]`).
                                self.splices.push(Splice {
                                    range: e.value_at..e.value_at,
                                    text: format!(" {}", render_inline(nv)),
                                });
                                self.remove_lines(first, e.last_line)?;
                                continue;
                            }
                            self.replace(&e.value, nv, &ov, m.indent)?;
                        }
                        None => self.add_entry(m, k, nv)?,
                    }
                }
                Ok(())
            }
            (Node::Seq(s), Value::Array(new)) => {
                let old_arr = old.as_array().cloned().unwrap_or_default();
                for (i, nv) in new.iter().enumerate() {
                    if let Some(it) = s.items.get(i) {
                        let ov = old_arr.get(i).cloned().unwrap_or(Value::Null);
                        let it = it.clone();
                        if is_empty_container(nv)
                            && !is_empty_container(&ov)
                            && let Node::Map(m) = &it.value
                            && let Some(first) = m.entries.first()
                        {
                            // `- a: 1` + more keys → `- {}`.
                            self.splices.push(Splice {
                                range: first.key_at..self.scan.lines[it.last_line].end,
                                text: render_inline(nv),
                            });
                            continue;
                        }
                        self.replace(&it.value, nv, &ov, s.indent + 2)?;
                    } else {
                        self.append_item(s, nv)?;
                    }
                }
                for it in s.items.iter().skip(new.len()) {
                    self.remove_lines(it.first_line, it.last_line)?;
                }
                Ok(())
            }
            (Node::FlowMap { span, entries }, Value::Object(new)) => {
                let mark = self.splices.len();
                if let Err(e) = self.flow_map(entries, new, old) {
                    // Not expressible entry by entry: the collection is written again.
                    let _ = e;
                    self.splices.truncate(mark);
                    self.splices.push(Splice {
                        range: span.clone(),
                        text: render_flow(v),
                    });
                }
                Ok(())
            }
            (Node::FlowSeq { span, items }, Value::Array(new)) => {
                let mark = self.splices.len();
                if self.flow_seq(items, new, old).is_err() {
                    self.splices.truncate(mark);
                    self.splices.push(Splice {
                        range: span.clone(),
                        text: render_flow(v),
                    });
                }
                Ok(())
            }
            (Node::FlowMap { span, .. } | Node::FlowSeq { span, .. }, v) => {
                let text = if v.is_object() || v.is_array() {
                    render_flow(v)
                } else {
                    render_scalar(v, Style::Plain)
                };
                self.splices.push(Splice {
                    range: span.clone(),
                    text,
                });
                Ok(())
            }
            (Node::Opaque { span, flow: true }, v) => {
                let text = render_flow(v);
                self.splices.push(Splice {
                    range: span.clone(),
                    text,
                });
                Ok(())
            }
            (Node::Empty { at }, v)
            | (
                Node::Opaque {
                    span: std::ops::Range { start: at, .. },
                    ..
                },
                v,
            ) if !v.is_object() && !v.is_array() => {
                let end = match node {
                    Node::Opaque { span, .. } => span.end,
                    _ => *at,
                };
                let sep = if matches!(node, Node::Empty { .. }) {
                    " "
                } else {
                    ""
                };
                self.splices.push(Splice {
                    range: *at..end,
                    text: format!("{sep}{}", render_scalar(v, Style::Plain)),
                });
                Ok(())
            }
            (Node::Empty { at }, v) => {
                // `key:` with nothing: write the block on the following lines.
                let body = self.emit(v, key_col + self.step, true);
                self.splices.push(Splice {
                    range: *at..*at,
                    text: format!("\n{}", body.trim_end_matches('\n')),
                });
                Ok(())
            }
            _ => Err(format!(
                "changing a value's kind ({} to {}) in place is not supported",
                kind_name(old),
                kind_name(v)
            )),
        }
    }

    /// Entry-by-entry changes of a flow mapping: values changed where they are, one key
    /// removed, keys added before the closing brace.
    fn flow_map(
        &mut self,
        entries: &[FlowEntry],
        new: &serde_json::Map<String, Value>,
        old: &Value,
    ) -> ScanResult<()> {
        let old_map = old.as_object().cloned().unwrap_or_default();
        let removed: Vec<usize> = (0..entries.len())
            .filter(|&i| !new.contains_key(&entries[i].key))
            .collect();
        let added: Vec<(&String, &Value)> = new
            .iter()
            .filter(|(k, _)| !entries.iter().any(|e| &e.key == *k))
            .collect();
        if entries.is_empty() || removed.len() > 1 || (removed.len() == 1 && entries.len() == 1) {
            return Err("rewritten whole".into());
        }
        if let Some(&i) = removed.first() {
            let range = if i + 1 < entries.len() {
                entries[i].span.start..entries[i + 1].span.start
            } else {
                entries[i - 1].span.end..entries[i].span.end
            };
            self.splices.push(Splice {
                range,
                text: String::new(),
            });
        }
        for e in entries {
            if let Some(nv) = new.get(&e.key) {
                let ov = old_map.get(&e.key).cloned().unwrap_or(Value::Null);
                self.replace(&e.value, nv, &ov, 0)?;
            }
        }
        if !added.is_empty() {
            let at = entries[entries.len() - 1].span.end;
            let text: String = added
                .iter()
                .map(|(k, v)| format!(", {}: {}", flow_key(k), render_flow(v)))
                .collect();
            self.splices.push(Splice {
                range: at..at,
                text,
            });
        }
        Ok(())
    }

    /// Element-by-element changes of a flow sequence (by index; appended or cut at the end).
    fn flow_seq(
        &mut self,
        items: &[(Range<usize>, Node)],
        new: &[Value],
        old: &Value,
    ) -> ScanResult<()> {
        if items.is_empty() || new.is_empty() {
            return Err("rewritten whole".into());
        }
        let old_arr = old.as_array().cloned().unwrap_or_default();
        for (i, nv) in new.iter().enumerate().take(items.len()) {
            let ov = old_arr.get(i).cloned().unwrap_or(Value::Null);
            self.replace(&items[i].1, nv, &ov, 0)?;
        }
        if new.len() > items.len() {
            let at = items[items.len() - 1].0.end;
            let text: String = new[items.len()..]
                .iter()
                .map(|v| format!(", {}", render_flow(v)))
                .collect();
            self.splices.push(Splice {
                range: at..at,
                text,
            });
        } else if new.len() < items.len() {
            self.splices.push(Splice {
                range: items[new.len() - 1].0.end..items[items.len() - 1].0.end,
                text: String::new(),
            });
        }
        Ok(())
    }

    fn remove_entry(&mut self, m: &Map, i: usize) -> ScanResult<()> {
        let e = &m.entries[i];
        let line = self.scan.lines[e.first_line];
        if line.start + line.indent == e.key_at {
            return self.remove_lines(e.first_line, e.last_line);
        }
        // The first key of a list item (`- name: a`): the next key moves up after the `- `.
        let range = match m.entries.get(i + 1) {
            Some(next) => e.key_at..next.key_at,
            None => e.key_at..self.scan.lines[e.last_line].end,
        };
        let text = if m.entries.len() == 1 { "{}" } else { "" };
        self.splices.push(Splice {
            range,
            text: text.into(),
        });
        Ok(())
    }

    fn remove_lines(&mut self, first: usize, last: usize) -> ScanResult<()> {
        let range = self.scan.lines[first].start..self.scan.lines[last].next;
        self.splices.push(Splice {
            range,
            text: String::new(),
        });
        Ok(())
    }

    fn add_entry(&mut self, m: &Map, key: &str, v: &Value) -> ScanResult<()> {
        let Some(last) = m.entries.last() else {
            return Err("cannot add to an empty mapping".into());
        };
        let mut one = serde_json::Map::new();
        one.insert(key.to_string(), v.clone());
        let body = self.emit(&Value::Object(one), m.indent, false);
        let at = self.scan.lines[last.last_line].next;
        let needs_newline = !self.scan.text[..at].ends_with('\n');
        self.splices.push(Splice {
            range: at..at,
            text: if needs_newline {
                format!("\n{}", body.trim_end_matches('\n'))
            } else {
                body
            },
        });
        Ok(())
    }

    fn append_item(&mut self, s: &Seq, v: &Value) -> ScanResult<()> {
        let Some(last) = s.items.last() else {
            return Err("cannot append to an empty list".into());
        };
        let body = self.emit(&Value::Array(vec![v.clone()]), s.indent, false);
        let at = self.scan.lines[last.last_line].next;
        let needs_newline = !self.scan.text[..at].ends_with('\n');
        self.splices.push(Splice {
            range: at..at,
            text: if needs_newline {
                format!("\n{}", body.trim_end_matches('\n'))
            } else {
                body
            },
        });
        Ok(())
    }

    /// Block YAML for `v` with its first-level content at column `col`, one line each,
    /// every line newline-terminated.
    pub fn emit(&self, v: &Value, col: usize, _under_key: bool) -> String {
        let mut out = String::new();
        emit_block(v, col, self.step, self.indent_seqs, &mut out);
        out
    }

    pub fn finish(self) -> ScanResult<String> {
        apply_splices(self.scan.text, self.splices)
    }
}

fn is_empty_container(v: &Value) -> bool {
    matches!(v, Value::Object(m) if m.is_empty()) || matches!(v, Value::Array(a) if a.is_empty())
}

fn kind_name(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "boolean",
        Value::Number(_) => "number",
        Value::String(_) => "string",
        Value::Array(_) => "list",
        Value::Object(_) => "mapping",
    }
}

/// Sets (or removes) the value at `path` in a JSON value, creating mappings as needed.
pub(crate) fn set_value(root: &mut Value, path: &[String], new: Option<Value>) -> ScanResult<()> {
    let Some((last, parents)) = path.split_last() else {
        *root = new.unwrap_or(Value::Null);
        return Ok(());
    };
    let mut cur = root;
    for seg in parents {
        if cur.is_null() {
            *cur = Value::Object(Default::default());
        }
        cur = match cur {
            Value::Object(m) => m.entry(seg.clone()).or_insert(Value::Null),
            Value::Array(a) => {
                let i: usize = seg
                    .parse()
                    .map_err(|_| format!("`{seg}` is not a list index"))?;
                a.get_mut(i)
                    .ok_or_else(|| format!("list index {i} does not exist"))?
            }
            _ => return Err(format!("`{seg}`: not a mapping or list")),
        };
    }
    if cur.is_null() {
        *cur = Value::Object(Default::default());
    }
    match (cur, new) {
        (Value::Object(m), Some(v)) => {
            m.insert(last.clone(), v);
        }
        (Value::Object(m), None) => {
            m.remove(last);
        }
        (Value::Array(a), Some(v)) if last == "-" => a.push(v),
        (Value::Array(a), new) => {
            let i: usize = last
                .parse()
                .map_err(|_| format!("`{last}` is not a list index"))?;
            match new {
                Some(v) if i < a.len() => a[i] = v,
                Some(v) if i == a.len() => a.push(v),
                None if i < a.len() => {
                    a.remove(i);
                }
                _ => return Err(format!("list index {i} does not exist")),
            }
        }
        _ => return Err(format!("`{last}`: parent is not a mapping or list")),
    }
    Ok(())
}

pub(crate) fn get_value<'v>(root: &'v Value, path: &[String]) -> Option<&'v Value> {
    let mut cur = root;
    for seg in path {
        cur = match cur {
            Value::Object(m) => m.get(seg)?,
            Value::Array(a) => a.get(seg.parse::<usize>().ok()?)?,
            _ => return None,
        };
    }
    Some(cur)
}

fn detect_style(scan: &Scan) -> (usize, bool) {
    let mut step = None;
    let mut indent_seqs = None;
    for i in 0..scan.lines.len() {
        let l = scan.lines[i];
        if !l.content {
            continue;
        }
        let t = scan.line_text(i)[l.indent..].trim_end();
        if !(t.ends_with(':') && split_key(t).is_some()) {
            continue;
        }
        if let Some(k) = (i + 1..scan.lines.len()).find(|&k| scan.lines[k].content) {
            let n = scan.lines[k];
            let nt = &scan.line_text(k)[n.indent..];
            let is_seq = nt == "-" || nt.starts_with("- ");
            if is_seq {
                if indent_seqs.is_none() {
                    indent_seqs = Some(n.indent > l.indent);
                }
            } else if n.indent > l.indent && step.is_none() {
                step = Some(n.indent - l.indent);
            }
        }
        if step.is_some() && indent_seqs.is_some() {
            break;
        }
    }
    (step.unwrap_or(2), indent_seqs.unwrap_or(true))
}

/// A scalar in the given style (plain falls back to double quotes when the plain form would
/// read back as something else).
pub(crate) fn render_scalar(v: &Value, style: Style) -> String {
    match v {
        Value::String(s) => match style {
            Style::Double => serde_json::to_string(s).unwrap_or_default(),
            Style::Single if !s.contains('\n') => format!("'{}'", s.replace('\'', "''")),
            _ if plain_safe(s) => s.clone(),
            _ => serde_json::to_string(s).unwrap_or_default(),
        },
        Value::Null => "null".into(),
        Value::Bool(b) => b.to_string(),
        Value::Number(n) => n.to_string(),
        other => serde_json::to_string(other).unwrap_or_default(),
    }
}

fn plain_safe(s: &str) -> bool {
    if s.is_empty()
        || s.trim() != s
        || s.contains(": ")
        || s.contains(" #")
        || s.contains('\n')
        || s.ends_with(':')
        || "[]{}#&*!|>%@`,\"'".contains(s.chars().next().unwrap_or(' '))
        // `-`, `?`, `:` start a plain scalar only when a non-space follows (`--flag`).
        || ("-?:".contains(s.chars().next().unwrap_or(' '))
            && !s[1..].starts_with(|c: char| c != ' '))
        || s == "---"
        || s.starts_with("--- ")
    {
        return false;
    }
    matches!(serde_yaml::from_str::<serde_yaml::Value>(s), Ok(serde_yaml::Value::String(ref r)) if r == s)
}

fn emit_block(v: &Value, col: usize, step: usize, indent_seqs: bool, out: &mut String) {
    let pad = " ".repeat(col);
    match v {
        Value::Object(m) => {
            for (k, val) in m {
                let key = render_scalar(&Value::String(k.clone()), Style::Plain);
                match val {
                    Value::Object(c) if !c.is_empty() => {
                        out.push_str(&format!("{pad}{key}:\n"));
                        emit_block(val, col + step, step, indent_seqs, out);
                    }
                    Value::Array(c) if !c.is_empty() => {
                        out.push_str(&format!("{pad}{key}:\n"));
                        let c2 = if indent_seqs { col + step } else { col };
                        emit_block(val, c2, step, indent_seqs, out);
                    }
                    _ => out.push_str(&format!("{pad}{key}: {}\n", render_inline(val))),
                }
            }
        }
        Value::Array(a) => {
            for item in a {
                match item {
                    Value::Object(c) if !c.is_empty() => {
                        let mut inner = String::new();
                        emit_block(item, col + 2, step, indent_seqs, &mut inner);
                        // First line of the item goes after `- `.
                        let body = inner.split_at(col + 2).1.to_string();
                        out.push_str(&format!("{pad}- {body}"));
                    }
                    Value::Array(c) if !c.is_empty() => {
                        out.push_str(&format!("{pad}-\n"));
                        emit_block(item, col + 2, step, indent_seqs, out);
                    }
                    _ => out.push_str(&format!("{pad}- {}\n", render_inline(item))),
                }
            }
        }
        other => out.push_str(&format!("{pad}{}\n", render_inline(other))),
    }
}

fn flow_key(s: &str) -> String {
    if plain_safe(s) && !s.contains([',', '[', ']', '{', '}', ':']) {
        s.to_string()
    } else {
        serde_json::to_string(s).unwrap_or_default()
    }
}

/// A value in flow style (`{a: 1, b: [x, y]}`), scalars plain where that reads back the same.
fn render_flow(v: &Value) -> String {
    let flow_scalar = |s: &str| flow_key(s);
    match v {
        Value::Object(m) => format!(
            "{{{}}}",
            m.iter()
                .map(|(k, v)| format!("{}: {}", flow_scalar(k), render_flow(v)))
                .collect::<Vec<_>>()
                .join(", ")
        ),
        Value::Array(a) => format!(
            "[{}]",
            a.iter().map(render_flow).collect::<Vec<_>>().join(", ")
        ),
        Value::String(s) => flow_scalar(s),
        other => render_scalar(other, Style::Plain),
    }
}

fn render_inline(v: &Value) -> String {
    match v {
        Value::Object(m) if m.is_empty() => "{}".into(),
        Value::Array(a) if a.is_empty() => "[]".into(),
        other => render_scalar(other, Style::Plain),
    }
}

/// Emits a whole document (used for new files).
pub(crate) fn emit_document(v: &Value) -> String {
    let mut out = String::new();
    emit_block(v, 0, 2, false, &mut out);
    out
}

/// Emits a mapping whose keys come in the given order.
pub(crate) fn emit_ordered(entries: &[(&str, Value)]) -> String {
    let mut out = String::new();
    for (k, v) in entries {
        let mut m = serde_json::Map::new();
        m.insert((*k).to_string(), v.clone());
        emit_block(&Value::Object(m), 0, 2, false, &mut out);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn edit(text: &str, path: &str, v: Option<Value>) -> String {
        let docs = split_documents(text).unwrap();
        let mut expect = docs[0].value.clone();
        set_value(&mut expect, &pointer_segments(path), v).unwrap();
        let mut ed = Editor::new(text);
        let node = ed.root(&docs[0].span).unwrap();
        ed.set_document(&node, &expect, &docs[0].value).unwrap();
        let out = ed.finish().unwrap();
        assert_eq!(parse_value(&out).unwrap(), expect, "{out}");
        out
    }

    #[test]
    fn replaces_scalars_keeping_quotes_and_comments() {
        let t = "a: 1 # one\nb:\n  c: \"x\"   # keep\n  d: 'y'\n";
        assert_eq!(
            edit(t, "/b/c", Some(json!("z"))),
            "a: 1 # one\nb:\n  c: \"z\"   # keep\n  d: 'y'\n"
        );
        assert_eq!(
            edit(t, "/b/d", Some(json!("it's"))),
            "a: 1 # one\nb:\n  c: \"x\"   # keep\n  d: 'it''s'\n"
        );
    }

    #[test]
    fn adds_and_removes_keys_in_sequences_of_maps() {
        let t = "items:\n- name: a\n  v: 1\n- name: b\n  v: 2\nz: 3\n";
        assert_eq!(
            edit(t, "/items/1/w", Some(json!({"k": "x"}))),
            "items:\n- name: a\n  v: 1\n- name: b\n  v: 2\n  w:\n    k: x\nz: 3\n"
        );
        assert_eq!(
            edit(t, "/items/0/v", None),
            "items:\n- name: a\n- name: b\n  v: 2\nz: 3\n"
        );
        assert_eq!(
            edit(t, "/items/-", Some(json!({"name": "c"}))),
            "items:\n- name: a\n  v: 1\n- name: b\n  v: 2\n- name: c\nz: 3\n"
        );
    }

    #[test]
    fn flow_values_stay_flow_and_empty_values_are_filled() {
        let t = "a: {x: 1}\nb:\nc: [1, 2]\n";
        assert_eq!(
            edit(t, "/a/x", Some(json!(2))),
            "a: {x: 2}\nb:\nc: [1, 2]\n"
        );
        assert_eq!(
            edit(t, "/b", Some(json!({"k": "v"}))),
            "a: {x: 1}\nb:\n  k: v\nc: [1, 2]\n"
        );
    }

    #[test]
    fn unparsable_yaml_names_the_line() {
        let err = split_documents("a: 1\n---\nb: [1,\nc: 2\n").unwrap_err();
        assert!(err.0 >= 3, "{err:?}");
    }

    #[test]
    fn block_scalars_anchors_and_odd_spacing_survive() {
        let t = "data:\n  script: |\n    echo a: b\n    # not a comment\n  base: &b\n    x: 1\n  other:   \"q\"\nlast:    7\n";
        assert_eq!(
            edit(t, "/last", Some(json!(8))),
            "data:\n  script: |\n    echo a: b\n    # not a comment\n  base: &b\n    x: 1\n  other:   \"q\"\nlast:    8\n"
        );
        assert_eq!(
            edit(t, "/data/base/x", Some(json!(2))),
            "data:\n  script: |\n    echo a: b\n    # not a comment\n  base: &b\n    x: 2\n  other:   \"q\"\nlast:    7\n"
        );
    }

    #[test]
    fn the_first_key_of_a_list_item_can_be_removed() {
        let t = "env:\n- name: A # first\n  value: x\n- name: B\n";
        assert_eq!(
            edit(t, "/env/0/name", None),
            "env:\n- value: x\n- name: B\n"
        );
        assert_eq!(
            edit(t, "/env/1/name", None),
            "env:\n- name: A # first\n  value: x\n- {}\n"
        );
    }

    #[test]
    fn flow_collections_are_edited_entry_by_entry() {
        let t = "labels: {zeta: \"1\", app: web, 'tier': front}\nargs: [\"--a\", b]\nm: {\n  x: 1,\n  y: [2, 3],\n}\n";
        assert_eq!(
            edit(t, "/labels/app", Some(json!("shop"))),
            "labels: {zeta: \"1\", app: shop, 'tier': front}\nargs: [\"--a\", b]\nm: {\n  x: 1,\n  y: [2, 3],\n}\n"
        );
        assert_eq!(
            edit(t, "/labels/new", Some(json!("n"))),
            "labels: {zeta: \"1\", app: web, 'tier': front, new: n}\nargs: [\"--a\", b]\nm: {\n  x: 1,\n  y: [2, 3],\n}\n"
        );
        assert_eq!(
            edit(t, "/labels/app", None),
            "labels: {zeta: \"1\", 'tier': front}\nargs: [\"--a\", b]\nm: {\n  x: 1,\n  y: [2, 3],\n}\n"
        );
        assert_eq!(
            edit(t, "/labels/tier", None),
            "labels: {zeta: \"1\", app: web}\nargs: [\"--a\", b]\nm: {\n  x: 1,\n  y: [2, 3],\n}\n"
        );
        assert_eq!(
            edit(t, "/args/-", Some(json!("--c=1"))),
            "labels: {zeta: \"1\", app: web, 'tier': front}\nargs: [\"--a\", b, --c=1]\nm: {\n  x: 1,\n  y: [2, 3],\n}\n"
        );
        assert_eq!(
            edit(t, "/args/0", Some(json!("--z"))),
            "labels: {zeta: \"1\", app: web, 'tier': front}\nargs: [\"--z\", b]\nm: {\n  x: 1,\n  y: [2, 3],\n}\n"
        );
        assert_eq!(
            edit(t, "/m/y/1", Some(json!(4))),
            "labels: {zeta: \"1\", app: web, 'tier': front}\nargs: [\"--a\", b]\nm: {\n  x: 1,\n  y: [2, 4],\n}\n"
        );
        assert_eq!(
            edit(t, "/m/y", Some(json!({"k": 1}))),
            "labels: {zeta: \"1\", app: web, 'tier': front}\nargs: [\"--a\", b]\nm: {\n  x: 1,\n  y: {k: 1},\n}\n"
        );
    }

    #[test]
    fn a_mapping_or_list_emptied_becomes_flow_empty() {
        let t = "metadata:\n  labels: # set by CI\n    app: web\nspec:\n  args:\n  - a\n  items:\n  - k: 1\n    j: 2\n  - k: 3\n";
        assert_eq!(
            edit(t, "/metadata/labels/app", None),
            "metadata:\n  labels: {} # set by CI\nspec:\n  args:\n  - a\n  items:\n  - k: 1\n    j: 2\n  - k: 3\n"
        );
        assert_eq!(
            edit(t, "/spec/args/0", None),
            "metadata:\n  labels: # set by CI\n    app: web\nspec:\n  args: []\n  items:\n  - k: 1\n    j: 2\n  - k: 3\n"
        );
        assert_eq!(
            edit(t, "/spec/items/0", Some(json!({}))),
            "metadata:\n  labels: # set by CI\n    app: web\nspec:\n  args:\n  - a\n  items:\n  - {}\n  - k: 3\n"
        );
    }

    #[test]
    fn comment_like_lines_of_a_block_scalar_belong_to_it() {
        let t = "data:\n  script: |\n    run\n    # trailing text line\nkind: X\n";
        assert_eq!(
            edit(t, "/data/more", Some(json!("y"))),
            "data:\n  script: |\n    run\n    # trailing text line\n  more: y\nkind: X\n"
        );
    }

    #[test]
    fn no_final_newline_and_indented_sequences() {
        let t = "spec:\n  items:\n    - a\n    - b";
        assert_eq!(
            edit(t, "/spec/items/1", Some(json!("c"))),
            "spec:\n  items:\n    - a\n    - c"
        );
        assert_eq!(
            edit(t, "/spec/items/-", Some(json!("c"))),
            "spec:\n  items:\n    - a\n    - b\n    - c"
        );
        assert_eq!(
            edit(t, "/spec/more", Some(json!(["x"]))),
            "spec:\n  items:\n    - a\n    - b\n  more:\n    - x"
        );
    }

    #[test]
    fn documents_split_at_separators_keep_their_indices() {
        let t = "# header\n---\na: 1\n--- # second\nb: 2\n...\n---\n";
        let d = split_documents(t).unwrap();
        let values: Vec<Value> = d.iter().map(|c| c.value.clone()).collect();
        assert_eq!(values, vec![json!({"a": 1}), json!({"b": 2}), Value::Null]);
        assert_eq!(&t[d[1].span.clone()], "b: 2\n");
    }

    #[test]
    fn strings_that_would_read_back_differently_are_quoted() {
        assert_eq!(render_scalar(&json!("1.2"), Style::Plain), "\"1.2\"");
        assert_eq!(render_scalar(&json!("true"), Style::Plain), "\"true\"");
        assert_eq!(render_scalar(&json!("a: b"), Style::Plain), "\"a: b\"");
        assert_eq!(render_scalar(&json!("1.2.3"), Style::Plain), "1.2.3");
        assert_eq!(render_scalar(&json!("256Mi"), Style::Plain), "256Mi");
        assert_eq!(
            render_scalar(&json!("--port=80"), Style::Plain),
            "--port=80"
        );
        assert_eq!(render_scalar(&json!("- a"), Style::Plain), "\"- a\"");
        assert_eq!(render_scalar(&json!("-"), Style::Plain), "\"-\"");
    }
}
