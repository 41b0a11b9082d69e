//! How deep a YAML document's flow collections (`[…]`, `{…}`) nest, found
//! by a cheap scan before the document reaches the YAML parser.
//!
//! libyaml (under serde_yaml) spends time proportional to the flow depth on
//! every token it reads, so a 100,000-deep `[[[…]]]` takes minutes before
//! serde_yaml's own recursion limit (128) is even consulted. This scan stops
//! at the first flow collection deeper than the limit, in one pass.
//!
//! Inside flow collections the scan follows libyaml's tokenizer: quoted
//! scalars start only where a token starts, plain scalars end at `,[]{}`,
//! `: ` and ` #`, and brackets anywhere else are indicators. Outside them
//! (block context) it is an approximation: a flow collection starts at a
//! `[`/`{` where a token may start (line start, after `- `, `? `, `: `, an
//! anchor or a tag), quoted scalars are skipped, and block scalars (`|`, `>`)
//! are skipped by their indentation. Kubernetes objects nest a few dozen
//! levels at most, so a limit of 128 leaves a wide margin either way.

/// Flow collections nested deeper than this refuse the document. The same
/// as serde_yaml's recursion limit, which a deeper document fails anyway.
pub(crate) const MAX_FLOW_DEPTH: usize = 128;

/// Where a document nests too deep: the 1-based line of the collection that
/// went past `limit`.
#[derive(Debug, PartialEq, Eq)]
pub(crate) struct TooDeep {
    pub line: usize,
}

/// Scan one YAML document; `Err` at the first flow collection nested deeper
/// than `limit`.
pub(crate) fn check_flow_depth(text: &str, limit: usize) -> Result<(), TooDeep> {
    Scanner {
        bytes: text.as_bytes(),
        at: 0,
        line: 1,
        line_begin: 0,
        limit,
    }
    .run()
}

struct Scanner<'a> {
    bytes: &'a [u8],
    at: usize,
    line: usize,
    /// Where the current line starts.
    line_begin: usize,
    limit: usize,
}

fn is_blank(b: u8) -> bool {
    b == b' ' || b == b'\t'
}

fn is_break(b: u8) -> bool {
    b == b'\n' || b == b'\r'
}

fn is_flow_indicator(b: u8) -> bool {
    matches!(b, b',' | b'[' | b']' | b'{' | b'}')
}

impl Scanner<'_> {
    fn peek(&self, offset: usize) -> Option<u8> {
        self.bytes.get(self.at + offset).copied()
    }

    /// Whether the byte after the current one is blank, a line break or
    /// the end.
    fn blank_after(&self) -> bool {
        self.peek(1).is_none_or(|b| is_blank(b) || is_break(b))
    }

    fn bump(&mut self) {
        if self.bytes[self.at] == b'\n' {
            self.line += 1;
            self.line_begin = self.at + 1;
        }
        self.at += 1;
    }

    fn skip_to_line_end(&mut self) {
        while let Some(b) = self.peek(0) {
            if b == b'\n' {
                return;
            }
            self.at += 1;
        }
    }

    /// Past a quoted scalar whose opening quote is at `self.at`.
    fn skip_quoted(&mut self) {
        let quote = self.bytes[self.at];
        self.bump();
        while let Some(b) = self.peek(0) {
            if quote == b'"' && b == b'\\' {
                self.bump();
                if self.peek(0).is_some() {
                    self.bump();
                }
                continue;
            }
            if b == quote {
                if quote == b'\'' && self.peek(1) == Some(b'\'') {
                    // `''` is an escaped quote in a single-quoted scalar.
                    self.at += 2;
                    continue;
                }
                self.at += 1;
                return;
            }
            self.bump();
        }
    }

    /// The indentation (spaces) of the line starting at `start`, and whether
    /// it holds anything but blanks.
    fn line_shape(&self, start: usize) -> (usize, bool) {
        let rest = &self.bytes[start..];
        let indent = rest.iter().take_while(|b| **b == b' ').count();
        let content = rest[indent..]
            .iter()
            .take_while(|b| **b != b'\n')
            .any(|b| !is_blank(*b) && *b != b'\r');
        (indent, content)
    }

    /// Past the content lines of a block scalar whose header (`|`, `>`) is
    /// at `self.at`; `parent` is the block indentation it belongs to (-1 at
    /// the top), as libyaml counts it.
    fn skip_block_scalar(&mut self, parent: isize) {
        let explicit = self.bytes[self.at..]
            .iter()
            .take(3)
            .find(|b| b.is_ascii_digit())
            .map(|d| (d - b'0') as isize);
        self.skip_to_line_end();
        let mut content_indent: Option<isize> = explicit.map(|d| parent.max(0) + d);
        let minimum = (parent + 1).max(1);
        while self.peek(0) == Some(b'\n') {
            let (indent, content) = self.line_shape(self.at + 1);
            let indent = indent as isize;
            if content {
                let needed = *content_indent.get_or_insert(indent.max(minimum));
                if indent < needed {
                    return;
                }
            }
            self.bump();
            self.skip_to_line_end();
        }
    }

    fn run(mut self) -> Result<(), TooDeep> {
        // Block context, with libyaml's stack of block indentations (what
        // decides where a block scalar or a multi-line plain scalar ends).
        let mut indents: Vec<isize> = Vec::new();
        let top = |indents: &Vec<isize>| indents.last().copied().unwrap_or(-1);
        // Inside a plain scalar that may go on on the next line.
        let mut in_plain = false;
        while self.at < self.bytes.len() {
            // A new line.
            let (indent, content) = self.line_shape(self.at);
            if !content {
                self.skip_to_line_end();
                if self.peek(0).is_some() {
                    self.bump();
                }
                continue;
            }
            self.at += indent;
            let indent = indent as isize;
            let mut token_start = true;
            if in_plain && indent > top(&indents) && self.peek(0) != Some(b'#') {
                // The plain scalar of the lines above goes on.
                token_start = false;
            } else {
                in_plain = false;
                while top(&indents) > indent {
                    indents.pop();
                }
            }
            // The column where a simple key on this line would start: the
            // first token after the line start or an indicator.
            let mut key_column: Option<isize> = None;
            while let Some(b) = self.peek(0) {
                if b == b'\n' {
                    self.bump();
                    break;
                }
                let column = (self.at - self.line_begin) as isize;
                if is_blank(b) || b == b'\r' {
                    self.at += 1;
                    if self.peek(0) == Some(b'#') {
                        // ` #` starts a comment, in a plain scalar too.
                        self.skip_to_line_end();
                        in_plain = false;
                    }
                    continue;
                }
                if !token_start {
                    // Inside a plain scalar: `: ` ends it.
                    if b == b':' && self.blank_after() {
                        in_plain = false;
                        token_start = true;
                        let key = key_column.take().unwrap_or(column);
                        if top(&indents) < key {
                            indents.push(key);
                        }
                    }
                    self.at += 1;
                    continue;
                }
                match b {
                    b'#' => self.skip_to_line_end(),
                    b'-' | b'?' | b':' if self.blank_after() => {
                        let at = if b == b':' {
                            key_column.take().unwrap_or(column)
                        } else {
                            key_column = None;
                            column
                        };
                        if top(&indents) < at {
                            indents.push(at);
                        }
                        self.at += 1;
                    }
                    b'[' | b'{' => {
                        key_column.get_or_insert(column);
                        self.flow()?;
                    }
                    b'\'' | b'"' => {
                        key_column.get_or_insert(column);
                        self.skip_quoted();
                    }
                    b'|' | b'>' => self.skip_block_scalar(top(&indents)),
                    b'&' | b'!' | b'*' => {
                        key_column.get_or_insert(column);
                        while self.peek(0).is_some_and(|b| !is_blank(b) && !is_break(b)) {
                            self.at += 1;
                        }
                    }
                    _ => {
                        key_column.get_or_insert(column);
                        token_start = false;
                        in_plain = true;
                        self.at += 1;
                    }
                }
            }
        }
        Ok(())
    }

    /// A flow collection whose opening bracket is at `self.at`, through its
    /// closing one (or the end of the text).
    fn flow(&mut self) -> Result<(), TooDeep> {
        let mut depth = 0usize;
        let mut token_start = true;
        while let Some(b) = self.peek(0) {
            if is_blank(b) || is_break(b) {
                self.bump();
                // A plain scalar in flow context runs over blanks and line
                // breaks; only what follows decides where it ends.
                if token_start || matches!(self.peek(0), Some(b'#')) {
                    token_start = true;
                }
                continue;
            }
            if !token_start {
                // Inside a plain scalar.
                if is_flow_indicator(b) {
                    token_start = true;
                    continue;
                }
                if b == b':' && (self.blank_after() || self.peek(1).is_some_and(is_flow_indicator))
                {
                    token_start = true;
                }
                self.at += 1;
                continue;
            }
            match b {
                b'#' => self.skip_to_line_end(),
                b'[' | b'{' => {
                    depth += 1;
                    if depth > self.limit {
                        return Err(TooDeep { line: self.line });
                    }
                    self.at += 1;
                }
                b']' | b'}' => {
                    self.at += 1;
                    depth = depth.saturating_sub(1);
                    if depth == 0 {
                        return Ok(());
                    }
                }
                b',' | b'?' | b':' => self.at += 1,
                b'\'' | b'"' => self.skip_quoted(),
                b'&' | b'*' => {
                    self.at += 1;
                    while self
                        .peek(0)
                        .is_some_and(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
                    {
                        self.at += 1;
                    }
                }
                b'!' => {
                    // A tag ends at a blank or a `,`; any bracket inside it is
                    // either part of it or an error that stops libyaml.
                    while self
                        .peek(0)
                        .is_some_and(|b| !is_blank(b) && !is_break(b) && b != b',')
                    {
                        self.at += 1;
                    }
                }
                _ => {
                    token_start = false;
                    self.at += 1;
                }
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn depth_ok(text: &str, limit: usize) -> bool {
        check_flow_depth(text, limit).is_ok()
    }

    #[test]
    fn deep_flow_collections_are_refused() {
        let deep = format!("a: {}{}\n", "[".repeat(200), "]".repeat(200));
        assert_eq!(check_flow_depth(&deep, 128), Err(TooDeep { line: 1 }));
        let maps = format!("a:\n  b: {}\n", "{x: ".repeat(200));
        assert_eq!(check_flow_depth(&maps, 128), Err(TooDeep { line: 2 }));
        // Exactly at the limit is fine.
        let at = format!("{}{}", "[".repeat(128), "]".repeat(128));
        assert!(depth_ok(&at, 128));
        // Collections one after another do not add up.
        let wide = "[[1]], ".repeat(1000);
        assert!(depth_ok(&format!("a: [{wide}]"), 4));
        // 100,000 levels: refused at the first one past the limit, at once.
        let huge = "[".repeat(100_000);
        assert!(!depth_ok(&huge, 128));
    }

    #[test]
    fn brackets_that_are_not_flow_indicators_do_not_count() {
        for text in [
            // quoted, in block and flow context
            "a: \"[[[[[[\"\nb: '{{{{{{'\n",
            "a: ['[[[[[[', \"]]]]]]]\", \"\\\"[[[[\"]\n",
            "a: 'it''s [[[[[['\n",
            // inside plain scalars in block context
            "a: x[[[[[[\nb: y {{{{{{\n",
            // comments
            "# [[[[[[\na: 1 # {{{{{{\nb: [1, 2] # [[[[[[\n",
            // block scalars
            "data:\n  x.json: |\n    [[[[[[\n    {{{{{{\n  y: >-\n      [[[[[[\nz: 1\n",
            "- |\n  [[[[[[\n- ok\n",
        ] {
            assert!(depth_ok(text, 2), "{text}");
        }
    }

    #[test]
    fn quotes_do_not_hide_flow_indicators_from_the_count() {
        // In flow context a quote inside a plain scalar is text, so the
        // brackets after it are real.
        assert!(!depth_ok("a: [x 'y, [[[z]]]]\n", 3));
        assert!(!depth_ok("a: [x\"y, [[[z]]]]\n", 3));
        // A closing bracket inside a quoted scalar closes nothing.
        assert!(!depth_ok("a: [\"]\", [\"]\", [\"]\", [1]]]]\n", 3));
        // A block scalar ends where its indentation does.
        assert!(!depth_ok("a: |\n  text\nb: [[[[1]]]]\n", 3));
        assert!(!depth_ok("- a: |\n    text\n  b: [[[[1]]]]\n", 3));
    }

    #[test]
    fn kubectl_output_passes() {
        let text = "apiVersion: v1\nitems:\n- apiVersion: v1\n  kind: Pod\n  metadata:\n    annotations:\n      kubectl.kubernetes.io/last-applied-configuration: |\n        {\"apiVersion\":\"v1\",\"kind\":\"Pod\",\"spec\":{\"containers\":[{\"name\":\"c\"}]}}\n    labels: {}\n  spec:\n    containers:\n    - args: [\"--x=[y]\", '{']\n      name: c\n    tolerations: []\nkind: List\n";
        assert!(depth_ok(text, 3));
    }
}
