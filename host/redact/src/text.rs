//! Credential-shaped text: logs, event messages, env values, command lines,
//! anything free-form. Specific token formats are masked by their shape;
//! `key=value`-style pairs whose key says secret, auth headers and URLs with
//! passwords by their context.

use std::borrow::Cow;
use std::sync::LazyLock;

use regex::{Captures, Regex, RegexSet};

use crate::secrets::decode_base64;

/// Mask credential-shaped substrings of free text (a log, an event message,
/// an env value, a command line), keeping what helps a diagnosis: the key
/// name, the auth scheme, the URL's user and host, and a token's fixed,
/// public type prefix (`AKIA`, `ghp_`, `xoxb-`, `sk_live_`, `AIza`). The
/// secret part becomes `<redacted:KIND>`, e.g. `<redacted:jwt>`,
/// `<redacted:password>`.
///
/// Never kept: any character of a password, of a key's random part, or of an
/// opaque bearer token (a "first 4 chars" of those would be real secret
/// bits). Text markers carry no hash either: a short hash of a low-entropy
/// password is a dictionary-attack oracle.
///
/// One pass of a [`RegexSet`] decides which rules can fire; a line with no
/// credential shape costs that one scan and is returned borrowed. Markers
/// are inert to every rule, so `text(text(x)) == text(x)`.
pub fn text(input: &str) -> Cow<'_, str> {
    let rules = &*TEXT_RULES;
    let hits = rules.set.matches(input);
    if !hits.matched_any() {
        return Cow::Borrowed(input);
    }
    let mut out = Cow::Borrowed(input);
    for index in hits.iter() {
        let (rule, regex) = &rules.rules[index];
        if let Some(changed) = apply_rule(*rule, regex, &out) {
            out = Cow::Owned(changed);
        }
    }
    out
}

/// What [`text`] puts in place of a secret of this kind.
pub(crate) fn tag(kind: &str) -> String {
    format!("<redacted:{kind}>")
}

/// The rules, in the order they are applied. Specific token formats come
/// first so that a later, generic rule (a `token=` pair, an `Authorization`
/// header) finds a marker in place and leaves it alone.
#[derive(Clone, Copy, Debug)]
enum Rule {
    /// `-----BEGIN … PRIVATE KEY-----` … `-----END … PRIVATE KEY-----`,
    /// multi-line or with JSON-escaped `\n`; a block whose END is missing
    /// (a truncated log) is masked up to where its base64 body stops.
    PrivateKey,
    /// The same, base64-encoded (a kubeconfig's `client-key-data`, a Secret
    /// manifest's `tls.key`): `LS0tLS1CRUdJTi…` that decodes to a private
    /// key header.
    Base64PrivateKey,
    /// Three base64url segments, the first (and for a JWS the second) a JSON
    /// object (`eyJ`); five-segment JWEs too.
    Jwt,
    /// `ghp_ gho_ ghs_ ghu_ ghr_ github_pat_` + ≥30 chars.
    GitHub,
    /// `xoxb- xoxa- xoxp- xoxr- xoxs- xoxo-` + ≥10 chars.
    Slack,
    /// `sk_live_ sk_test_ rk_live_ rk_test_` + ≥10 alnum.
    Stripe,
    /// `AIza` + 35 chars.
    GoogleApiKey,
    /// `AKIA`/`ASIA` + 16 upper alnum, as a whole word.
    AwsAccessKeyId,
    /// `Authorization: <scheme> <credentials>` (also `Proxy-Authorization`,
    /// `=`, quoted keys, Go's `Authorization:[…]`).
    Authorization,
    /// `Bearer <token>` anywhere, when the token looks like one.
    Bearer,
    /// `Basic <b64>` anywhere, when the base64 decodes to printable `user:pass`.
    Basic,
    /// `Cookie: …` / `Set-Cookie: …` with `name=value` pairs.
    Cookie,
    /// `scheme://user:password@host`.
    UrlPassword,
    /// A command-line flag named like a credential and its space-separated
    /// value: `--password hunter2`, `--api-key "…"`.
    Flag,
    /// `password=…`, `"client_secret": "…"`, `DB_PASSWORD: …`, `--token=…`.
    KeyValue,
}

/// Token characters (base64url plus the standard-base64 extras).
const TOKEN_CHARS: &str = r"A-Za-z0-9_\-";

/// One rule: the detector the [`RegexSet`] runs on every input, and the
/// full pattern run only where the detector fired.
///
/// A detector is a part of its full pattern (inside every full match there
/// is a detector match) that ends after a fixed amount of input: the set
/// searches for overlapping matches and stops at every byte where a
/// pattern is in a match state, so an open-ended `[A-Za-z0-9]+` tail would
/// cost a stop per byte of every token (measured: 12 µs for one log line
/// with a JWT, against under 1 µs with these detectors).
struct RulePattern {
    rule: Rule,
    detect: String,
    full: String,
}

/// The words a key or flag name ends in when its value is a credential.
pub(crate) const KEY_WORDS: &str = concat!(
    r"(?:password|passwd|passphrase|pwd|secret|token|api[_\-]?key",
    r"|secret[_\-]?access[_\-]?key|secret[_\-]?key|private[_\-]?key(?:[_\-]?id)?)"
);

fn rule_patterns() -> Vec<RulePattern> {
    let t = TOKEN_CHARS;
    let keywords = KEY_WORDS;
    let p = |rule: Rule, detect: String, full: String| RulePattern { rule, detect, full };
    // `(?-u:\b)`: an ASCII word boundary keeps every rule on the lazy DFA
    // (a Unicode `\b` makes it give up on non-ASCII input).
    vec![
        p(
            Rule::PrivateKey,
            r"-----BEGIN [A-Z0-9 ]*PRIVATE KEY".into(),
            r"(?s)(-----BEGIN [A-Z0-9 ]*PRIVATE KEY(?: BLOCK)?-----)(?:.*?(-----END [A-Z0-9 ]*PRIVATE KEY(?: BLOCK)?-----)|[A-Za-z0-9+/=\s\\:,\-]{16,})".into(),
        ),
        p(
            Rule::Base64PrivateKey,
            r"(?-u:\b)LS0tLS1CRUdJTi[A-Za-z0-9+/]{20}".into(),
            r"(?-u:\b)LS0tLS1CRUdJTi[A-Za-z0-9+/]{20,}={0,2}".into(),
        ),
        p(
            Rule::Jwt,
            format!(r"(?-u:\b)eyJ[{t}]{{8,}}\.[{t}]*\."),
            format!(
                r"(?-u:\b)eyJ[{t}]{{8,}}\.(?:eyJ[{t}]*\.[{t}]*|[{t}]*\.[{t}]{{8,}}\.[{t}]{{8,}}\.[{t}]{{8,}})"
            ),
        ),
        p(
            Rule::GitHub,
            r"(?-u:\b)(?:gh[pousr]_|github_pat_)[A-Za-z0-9_]{30}".into(),
            r"(?-u:\b)(gh[pousr]_|github_pat_)[A-Za-z0-9_]{30,}".into(),
        ),
        p(
            Rule::Slack,
            r"(?-u:\b)xox[abposr]-[A-Za-z0-9\-]{10}".into(),
            r"(?-u:\b)(xox[abposr]-)[A-Za-z0-9\-]{10,}".into(),
        ),
        p(
            Rule::Stripe,
            r"(?-u:\b)(?:sk|rk)_(?:live|test)_[A-Za-z0-9]{10}".into(),
            r"(?-u:\b)((?:sk|rk)_(?:live|test)_)[A-Za-z0-9]{10,}".into(),
        ),
        p(
            Rule::GoogleApiKey,
            format!(r"(?-u:\b)AIza[{t}]{{35}}"),
            format!(r"(?-u:\b)(AIza)[{t}]{{35}}"),
        ),
        p(
            Rule::AwsAccessKeyId,
            r"(?-u:\b)(?:AKIA|ASIA)[A-Z0-9]{16}(?-u:\b)".into(),
            r"(?-u:\b)(AKIA|ASIA)[A-Z0-9]{16}(?-u:\b)".into(),
        ),
        p(
            Rule::Authorization,
            r#"(?i)(?-u:\b)(?:proxy-)?authorization\\?["']?[ \t]*[:=]"#.into(),
            r#"(?i)(?-u:\b)(?:proxy-)?authorization\\?["']?[ \t]*[:=][ \t]*\[?(?:\\?["'])?(?:(bearer|basic|digest|token|negotiate|ntlm|apikey|key)[ \t]+)?([^\s"'\\,;<>{}\[\]]+)"#.into(),
        ),
        p(
            Rule::Bearer,
            r"(?i)(?-u:\b)bearer[ \t]+[A-Za-z0-9._~+/\-]".into(),
            r"(?i)(?-u:\b)bearer[ \t]+([A-Za-z0-9._~+/\-]+=*)".into(),
        ),
        p(
            Rule::Basic,
            r"(?i)(?-u:\b)basic[ \t]+[A-Za-z0-9+/]{4}".into(),
            r"(?i)(?-u:\b)basic[ \t]+([A-Za-z0-9+/]{4,}={0,2})".into(),
        ),
        p(
            Rule::Cookie,
            r#"(?i)(?-u:\b)(?:set-)?cookie\\?["']?[ \t]*:"#.into(),
            r#"(?i)(?-u:\b)(?:set-)?cookie\\?["']?[ \t]*:[ \t]*\[?(?:\\?["'])?([^\r\n"'\\\]]+)"#.into(),
        ),
        p(
            Rule::UrlPassword,
            r#"(?-u:\b)[A-Za-z][A-Za-z0-9+.\-]*://[^\s:/?#@"'<>]*:[^\s/?#@"']+@"#.into(),
            r#"(?-u:\b)[A-Za-z][A-Za-z0-9+.\-]*://[^\s:/?#@"'<>]*:([^\s/?#@"']+)@"#.into(),
        ),
        p(
            Rule::Flag,
            format!(r"(?i)--[a-z0-9_\-]*?{keywords}[ \t]+[^\s\\<>\-]"),
            format!(
                r#"(?i)--[a-z0-9_\-]*?{keywords}[ \t]+(\$\([A-Za-z0-9_]+\)|\$\{{[^}}\r\n]*\}}|"(?:[^"\\\r\n]|\\.)*"|'[^'\r\n]*'|[^\s"'\\<>\-][^\s"'\\<>]*)"#
            ),
        ),
        p(
            Rule::KeyValue,
            format!(r#"(?i){keywords}(?:\\?["'])?(?:[ \t]*=|:)"#),
            [
                // The key: any identifier that *ends* in a credential word.
                &format!(r"(?i)([a-z0-9_.\-]*?{keywords})"),
                // A closing quote of a quoted key (JSON, escaped JSON, Python).
                r#"(\\?["'])?"#,
                // `=` (logfmt, query, flags, ini) or `:` (YAML, JSON, headers).
                r"([ \t]*=[ \t]*|:[ \t]*)",
                r"(",
                // Variable references: `$(DB_PASSWORD)`, `${DB_PASSWORD}`.
                r"\$\([A-Za-z0-9_]+\)|\$\{[^}\r\n]*\}",
                // Quoted: "…", '…', and \"…\" inside a JSON string.
                r#"|"(?:[^"\\\r\n]|\\.)*"|'[^'\r\n]*'|\\"(?:[^"\\\r\n]|\\[^"\r\n])*\\""#,
                // Unquoted, with an optional auth scheme in front.
                r#"|(?:(?:bearer|basic)[ \t]+)?[^\s"'\\,;&<>{}\[\]()]+"#,
                r")",
            ]
            .concat(),
        ),
    ]
}

struct TextRules {
    set: RegexSet,
    rules: Vec<(Rule, Regex)>,
}

static TEXT_RULES: LazyLock<TextRules> = LazyLock::new(|| {
    let patterns = rule_patterns();
    let set = RegexSet::new(patterns.iter().map(|p| &p.detect)).expect("detectors compile");
    let rules = patterns
        .into_iter()
        .map(|p| {
            (
                p.rule,
                Regex::new(&p.full).expect("redaction pattern compiles"),
            )
        })
        .collect();
    TextRules { set, rules }
});

/// Run one rule over `hay`; `None` if it changed nothing.
fn apply_rule(rule: Rule, regex: &Regex, hay: &str) -> Option<String> {
    let mut out = String::new();
    let mut last = 0;
    let mut changed = false;
    for caps in regex.captures_iter(hay) {
        let whole = caps.get(0).expect("group 0 always matches");
        // Inside a value an earlier replacement extended over.
        if whole.start() < last {
            continue;
        }
        let replaced = match rule {
            Rule::KeyValue => key_value(&caps, hay),
            _ => replace(rule, &caps, hay).map(|r| (r, whole.end())),
        };
        let Some((replacement, end)) = replaced else {
            continue;
        };
        if end == whole.end() && replacement == whole.as_str() {
            continue;
        }
        out.push_str(&hay[last..whole.start()]);
        out.push_str(&replacement);
        last = end;
        changed = true;
    }
    if !changed {
        return None;
    }
    out.push_str(&hay[last..]);
    Some(out)
}

/// The whole match with capture group `group` replaced by `with`.
fn splice(caps: &Captures<'_>, group: usize, with: &str) -> Option<String> {
    let whole = caps.get(0)?;
    let part = caps.get(group)?;
    let text = whole.as_str();
    let (start, end) = (part.start() - whole.start(), part.end() - whole.start());
    Some(format!("{}{with}{}", &text[..start], &text[end..]))
}

/// The replacement for one match, or `None` to leave it (a look-alike, a
/// placeholder, or a value already redacted).
fn replace(rule: Rule, caps: &Captures<'_>, hay: &str) -> Option<String> {
    let whole = caps.get(0)?;
    match rule {
        Rule::PrivateKey => {
            let begin = caps.get(1)?.as_str();
            let end = caps.get(2).map_or("", |m| m.as_str());
            Some(format!("{begin}{}{end}", tag("private-key")))
        }
        Rule::Base64PrivateKey => {
            // Decode just the header: "-----BEGIN RSA PRIVATE KEY-----" is
            // 31 bytes; 64 base64 chars cover any key type's header.
            let head = &whole.as_str()[..whole.as_str().len().min(64) / 4 * 4];
            let decoded = decode_base64(head)?;
            let header = String::from_utf8_lossy(&decoded);
            header.contains("PRIVATE KEY").then(|| tag("private-key"))
        }
        Rule::Jwt => Some(tag("jwt")),
        Rule::GitHub => Some(format!("{}{}", caps.get(1)?.as_str(), tag("github-token"))),
        Rule::Slack => Some(format!("{}{}", caps.get(1)?.as_str(), tag("slack-token"))),
        Rule::Stripe => Some(format!("{}{}", caps.get(1)?.as_str(), tag("stripe-key"))),
        Rule::GoogleApiKey => Some(format!(
            "{}{}",
            caps.get(1)?.as_str(),
            tag("google-api-key")
        )),
        Rule::AwsAccessKeyId => Some(format!(
            "{}{}",
            caps.get(1)?.as_str(),
            tag("aws-access-key-id")
        )),
        Rule::Authorization => {
            let credentials = caps.get(2)?;
            // `Authorization: token ghp_<redacted:github-token>`: a token
            // rule already masked the rest.
            if hay[credentials.end()..].starts_with("<redacted") {
                return None;
            }
            let credentials = credentials.as_str();
            if is_placeholder(credentials) {
                return None;
            }
            let kind = match caps.get(1).map(|m| m.as_str().to_ascii_lowercase()) {
                Some(scheme) if scheme == "bearer" => "bearer-token",
                Some(scheme) if scheme == "basic" => "basic-auth",
                Some(_) => "credentials",
                // No scheme: the first word is the value itself. A bare
                // scheme name is what is left after a token rule masked
                // what followed it (`Authorization: Bearer <redacted:jwt>`).
                None if is_auth_scheme(credentials) || !looks_like_secret(credentials) => {
                    return None;
                }
                None => "credentials",
            };
            splice(caps, 2, &tag(kind))
        }
        Rule::Bearer => {
            let token = caps.get(1)?.as_str();
            if !looks_like_secret(token) {
                return None;
            }
            splice(caps, 1, &tag("bearer-token"))
        }
        Rule::Basic => {
            let encoded = caps.get(1)?.as_str();
            let decoded = decode_base64(encoded)?;
            let is_user_pass = decoded.len() >= 3
                && decoded.contains(&b':')
                && decoded.iter().all(|b| (0x20..0x7f).contains(b));
            if !is_user_pass {
                return None;
            }
            splice(caps, 1, &tag("basic-auth"))
        }
        Rule::UrlPassword => {
            let password = caps.get(1)?.as_str();
            if is_placeholder(password) {
                return None;
            }
            splice(caps, 1, &tag("password"))
        }
        Rule::Cookie => {
            let value = caps.get(1)?.as_str().trim_end();
            if !value.contains('=') || is_placeholder(value) {
                return None;
            }
            let start = caps.get(1)?.start() - whole.start();
            Some(format!("{}{}", &whole.as_str()[..start], tag("cookie")))
        }
        Rule::Flag => {
            let value = caps.get(1)?;
            let raw = value.as_str();
            let (open, content, close) = unquote(raw);
            // `--password string   Password for the database`: a usage
            // text's type placeholder.
            const USAGE_TYPES: &[&str] = &[
                "string",
                "strings",
                "stringArray",
                "stringSlice",
                "int",
                "int32",
                "int64",
                "uint",
                "float",
                "float64",
                "bool",
                "duration",
                "file",
                "path",
                "value",
            ];
            if is_placeholder(content) || USAGE_TYPES.contains(&content) {
                return None;
            }
            if hay[value.end()..].starts_with("<redacted") {
                return None;
            }
            let key = whole.as_str()[..value.start() - whole.start()].trim_end();
            let kind = key_kind(&key.to_ascii_lowercase());
            Some(format!(
                "{}{open}{}{close}",
                &whole.as_str()[..value.start() - whole.start()],
                tag(kind)
            ))
        }
        // Handled by `key_value`, which may extend past the match.
        Rule::KeyValue => None,
    }
}

/// A value's quotes and content: `"…"`, `'…'`, `\"…\"` (inside a JSON
/// string), or bare.
fn unquote(raw: &str) -> (&str, &str, &str) {
    if let Some(inner) = raw
        .strip_prefix("\\\"")
        .and_then(|r| r.strip_suffix("\\\""))
    {
        ("\\\"", inner, "\\\"")
    } else if raw.len() >= 2
        && ((raw.starts_with('"') && raw.ends_with('"'))
            || (raw.starts_with('\'') && raw.ends_with('\'')))
    {
        (&raw[..1], &raw[1..raw.len() - 1], &raw[raw.len() - 1..])
    } else {
        ("", raw, "")
    }
}

/// How far an unquoted value continues past the regex match: over
/// `&more`, `,more`, `;more` runs (`password=Tr0ub4dor&3`, `p@ss,word`),
/// stopping before a run that is the next key (`&user=bob`, `;Encrypt=true`,
/// `,user:`). Returns the number of bytes to take.
fn value_continuation(rest: &str) -> usize {
    const STOP: &[char] = &[
        '"', '\'', '\\', ',', ';', '&', '<', '>', '{', '}', '[', ']', '(', ')', '=',
    ];
    let mut taken = 0;
    loop {
        let r = &rest[taken..];
        if !r.starts_with(['&', ',', ';']) {
            return taken;
        }
        let run = &r[1..];
        let len = run
            .find(|c: char| c.is_whitespace() || STOP.contains(&c))
            .unwrap_or(run.len());
        if len == 0 || run[len..].starts_with('=') || run[..len].ends_with(':') {
            return taken;
        }
        taken += 1 + len;
    }
}

fn key_value(caps: &Captures<'_>, hay: &str) -> Option<(String, usize)> {
    let whole = caps.get(0)?;
    let (start, end) = (whole.start(), whole.end());
    let key = caps.get(1)?.as_str();
    let key_quoted = caps.get(2).is_some();
    let separator = caps.get(3)?.as_str();
    let value = caps.get(4)?;
    let (open, content, close) = unquote(value.as_str());
    let quoted = !open.is_empty();
    if is_placeholder(content) || is_auth_scheme(content) {
        return None;
    }
    let lower_key = key.to_ascii_lowercase();
    // `PWD=/srv/app`, `OLDPWD=/root`: the shell's working directory.
    if lower_key.ends_with("pwd") && (content.starts_with('/') || content.starts_with('~')) {
        return None;
    }
    if !quoted {
        // What a token rule left: `access_token=ghp_<redacted:github-token>`
        // (the unquoted value stops at the marker's `<`).
        if hay[end..].starts_with("<redacted") {
            return None;
        }
        // `key: value` with a bare key in running text is how Go wraps
        // errors ("invalid token: signature is invalid"): there the value is
        // masked only when it looks like a credential. `key=value`, a quoted
        // key, or a key at the start of a line (YAML, a header, an env dump)
        // or of a map/list item is a real pair.
        let structured = separator.contains('=') || key_quoted || starts_item(&hay[..start]);
        if !structured && !looks_like_secret(content) {
            return None;
        }
    }
    let kind = key_kind(&lower_key);
    let offset = value.start() - whole.start();
    let end = if quoted {
        end
    } else {
        end + value_continuation(&hay[end..])
    };
    Some((
        format!("{}{open}{}{close}", &whole.as_str()[..offset], tag(kind)),
        end,
    ))
}

/// The marker kind for a key that ends in a credential word.
pub(crate) fn key_kind(lower_key: &str) -> &'static str {
    let key: String = lower_key
        .chars()
        .filter(char::is_ascii_alphanumeric)
        .collect();
    if key.ends_with("secretaccesskey") {
        "aws-secret-access-key"
    } else if key.ends_with("privatekeyid") {
        "private-key-id"
    } else if key.ends_with("privatekey") {
        "private-key"
    } else if key.ends_with("apikey") {
        "api-key"
    } else if key.ends_with("secretkey") {
        "secret-key"
    } else if key.ends_with("token") {
        "token"
    } else if key.ends_with("secret") {
        "secret"
    } else {
        "password"
    }
}

/// Whether the text before a key puts the key at the start of a line or of
/// a map/list item (`{`, `[`, `,`, `(`, `;`, YAML's `- `).
fn starts_item(before: &str) -> bool {
    let before = before.trim_end_matches([' ', '\t']);
    let before = before
        .strip_suffix('-')
        .map_or(before, |b| b.trim_end_matches([' ', '\t']));
    before.is_empty() || before.ends_with(['\n', '\r', '{', '[', ',', '(', ';'])
}

pub(crate) fn is_auth_scheme(word: &str) -> bool {
    ["bearer", "basic", "digest", "token", "negotiate", "ntlm"]
        .iter()
        .any(|s| word.eq_ignore_ascii_case(s))
}

/// Values that stand for a secret without being one: empty, already masked
/// (by us, by the Secret marker, or by the application: `****`,
/// `[REDACTED]`, `<nil>`), literals (`null`, `true`), and references to a
/// variable (`$(DB_PASSWORD)`, `${DB_PASSWORD}`, `$DB_PASSWORD`).
pub(crate) fn is_placeholder(value: &str) -> bool {
    let v = value.trim();
    if v.is_empty() || v.bytes().all(|b| b == b'*') {
        return true;
    }
    // `<redacted:…>`, `<redacted: 7 bytes, sha256:…>`, `<nil>`, `<none>`,
    // `<your-password>`: one angle-bracketed word or marker.
    if v.starts_with('<') && v.ends_with('>') && v[1..].find('<').is_none() {
        return v.starts_with("<redacted") || !v.contains(char::is_whitespace);
    }
    let lower = v.to_ascii_lowercase();
    if matches!(
        lower.as_str(),
        "null"
            | "nil"
            | "none"
            | "true"
            | "false"
            | "undefined"
            | "redacted"
            | "[redacted]"
            | "(redacted)"
            | "[filtered]"
            | "|"
            | "|-"
            | "|+"
    ) {
        return true;
    }
    let name_ok = |name: &str| {
        !name.is_empty()
            && name
                .bytes()
                .all(|b| b.is_ascii_uppercase() || b.is_ascii_digit() || b == b'_')
    };
    if let Some(inner) = v.strip_prefix("$(").and_then(|r| r.strip_suffix(')')) {
        return inner
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_');
    }
    if v.starts_with("${") && v.ends_with('}') {
        return true;
    }
    v.strip_prefix('$').is_some_and(name_ok)
}

/// Whether a bare word looks like a credential rather than prose: letters
/// and digits mixed (`s3cr3t`, `abc123`), or long and not a plain
/// lower-case word (`dGhpcyBpcyBub3Q`, `Xk9vQmPzLr2sT8wY`). Paths are not.
pub(crate) fn looks_like_secret(word: &str) -> bool {
    if word.starts_with('/') {
        return false;
    }
    let len = word.chars().count();
    let digit = word.bytes().any(|b| b.is_ascii_digit());
    let alpha = word.bytes().any(|b| b.is_ascii_alphabetic());
    if len >= 6 && digit && alpha {
        return true;
    }
    len >= 16
        && !word
            .bytes()
            .all(|b| b.is_ascii_lowercase() || matches!(b, b'-' | b'_' | b'.'))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::samples::*;

    fn masked(input: &str) -> String {
        text(input).into_owned()
    }

    /// (input, expected) for every shape `text` masks.
    fn mask_cases() -> Vec<(String, String)> {
        vec![
            // JWTs, in a header and bare.
            (
                format!(r#"{{"header":"Authorization: Bearer {JWT}"}}"#),
                r#"{"header":"Authorization: Bearer <redacted:jwt>"}"#.into(),
            ),
            (
                format!("projected token {JWT} mounted"),
                "projected token <redacted:jwt> mounted".into(),
            ),
            (
                format!("access_token={JWT}&expires_in=3599"),
                "access_token=<redacted:jwt>&expires_in=3599".into(),
            ),
            // Authorization headers: opaque bearer, basic, Go's header map,
            // other schemes, no scheme.
            (
                "curl -H 'Authorization: Bearer 8f14e45fceea167a5a36dedd4bea2543' http://orders".into(),
                "curl -H 'Authorization: Bearer <redacted:bearer-token>' http://orders".into(),
            ),
            (
                "Authorization: Basic b3JkZXJzX2FwcDpzM2NyM3Q=".into(),
                "Authorization: Basic <redacted:basic-auth>".into(),
            ),
            (
                "headers=map[Accept:[*/*] Authorization:[Bearer 8f14e45fceea167a5a36dedd4bea2543]]".into(),
                "headers=map[Accept:[*/*] Authorization:[Bearer <redacted:bearer-token>]]".into(),
            ),
            (
                "proxy-authorization: Negotiate YIIGhgYGKwYBBQUCoIIGejCCBnag".into(),
                "proxy-authorization: Negotiate <redacted:credentials>".into(),
            ),
            (
                "\"authorization\": \"9c4e1f7b2a8d6e3f0b5c\"".into(),
                "\"authorization\": \"<redacted:credentials>\"".into(),
            ),
            (
                format!("Authorization: token {GITHUB}"),
                "Authorization: token ghp_<redacted:github-token>".into(),
            ),
            (
                "retrying with bearer 8f14e45fceea167a5a36dedd4bea2543 for tenant acme".into(),
                "retrying with bearer <redacted:bearer-token> for tenant acme".into(),
            ),
            (
                "upstream auth: Basic YWRtaW46aHVudGVyMg==".into(),
                "upstream auth: Basic <redacted:basic-auth>".into(),
            ),
            // AWS.
            (
                format!("using access key {AKIA} for s3://shop-staging-models"),
                "using access key AKIA<redacted:aws-access-key-id> for s3://shop-staging-models".into(),
            ),
            (
                "sts credentials ASIAY34FZKBOKMUTVV7A expire 2026-11-20T09:31:08Z".into(),
                "sts credentials ASIA<redacted:aws-access-key-id> expire 2026-11-20T09:31:08Z".into(),
            ),
            (
                format!("[default]\naws_access_key_id = {AKIA}\naws_secret_access_key = {AWS_SECRET}\n"),
                "[default]\naws_access_key_id = AKIA<redacted:aws-access-key-id>\n\
                 aws_secret_access_key = <redacted:aws-secret-access-key>\n".into(),
            ),
            (
                format!("AWS_SECRET_ACCESS_KEY: {AWS_SECRET}"),
                "AWS_SECRET_ACCESS_KEY: <redacted:aws-secret-access-key>".into(),
            ),
            // GCP service-account key file (JSON-escaped PEM) and API key.
            (
                concat!(
                    r#"{"type": "service_account", "project_id": "shop-staging", "#,
                    r#""private_key_id": "3f7a1c9e5b2d4f6a8c0e1b3d5f7a9c1e3b5d7f9a", "#,
                    r#""private_key": "-----BEGIN PRIVATE KEY-----\nMIIEvQIBADANBgkqhkiG9w0BAQEFAASCBKcwggSjAgEAAoIBAQC7\n-----END PRIVATE KEY-----\n", "#,
                    r#""client_email": "orders@shop-staging.iam.gserviceaccount.com"}"#
                ).into(),
                concat!(
                    r#"{"type": "service_account", "project_id": "shop-staging", "#,
                    r#""private_key_id": "<redacted:private-key-id>", "#,
                    r#""private_key": "<redacted:private-key>", "#,
                    r#""client_email": "orders@shop-staging.iam.gserviceaccount.com"}"#
                ).into(),
            ),
            (
                format!("geocoding with key {GOOGLE}, quota ok"),
                "geocoding with key AIza<redacted:google-api-key>, quota ok".into(),
            ),
            // PEM blocks: multi-line, other types, truncated.
            (
                format!("loaded key:\n{RSA_PEM}\nlistening on :8443"),
                "loaded key:\n-----BEGIN RSA PRIVATE KEY-----<redacted:private-key>\
                 -----END RSA PRIVATE KEY-----\nlistening on :8443".into(),
            ),
            (
                "-----BEGIN OPENSSH PRIVATE KEY-----\nb3BlbnNzaC1rZXktdjEAAAAABG5vbmUAAAAEbm9uZQ\n-----END OPENSSH PRIVATE KEY-----".into(),
                "-----BEGIN OPENSSH PRIVATE KEY-----<redacted:private-key>-----END OPENSSH PRIVATE KEY-----".into(),
            ),
            (
                "-----BEGIN ENCRYPTED PRIVATE KEY-----\nMIIFHDBOBgkqhkiG9w0BBQ0wQTApBgkqhkiG9w0BBQwwHAQI\n-----END ENCRYPTED PRIVATE KEY-----".into(),
                "-----BEGIN ENCRYPTED PRIVATE KEY-----<redacted:private-key>-----END ENCRYPTED PRIVATE KEY-----".into(),
            ),
            (
                "-----BEGIN EC PRIVATE KEY-----\nMHcCAQEEIBkg4LVWM9nuwNSk3yByxZpYRTBnVJk5oo0ZkLIZ2ls4oAoGCCqGSM49\n[truncated]".into(),
                "-----BEGIN EC PRIVATE KEY-----<redacted:private-key>[truncated]".into(),
            ),
            // Passwords in URLs: user and host kept.
            (
                "connecting to postgres://orders_app:s3cr3t@pg-orders.staging.internal:5432/orders?sslmode=require".into(),
                "connecting to postgres://orders_app:<redacted:password>@pg-orders.staging.internal:5432/orders?sslmode=require".into(),
            ),
            (
                "redis://:Xk9vQmPz@redis-master:6379/0".into(),
                "redis://:<redacted:password>@redis-master:6379/0".into(),
            ),
            (
                "dial amqp://guest:guest@rabbitmq.staging:5672/ failed".into(),
                "dial amqp://guest:<redacted:password>@rabbitmq.staging:5672/ failed".into(),
            ),
            // Key/value pairs: logfmt, query strings, flags, JSON, escaped
            // JSON, YAML, ini, headers, case-insensitive keys.
            (
                "level=warn msg=\"login failed\" user=bob password=hunter2 attempt=3".into(),
                "level=warn msg=\"login failed\" user=bob password=<redacted:password> attempt=3".into(),
            ),
            (
                "GET /callback?code=4/0AfJohXn&client_secret=GOCSPX-1a2b3c4d5e6f7g8h&state=xyz".into(),
                "GET /callback?code=4/0AfJohXn&client_secret=<redacted:secret>&state=xyz".into(),
            ),
            (
                "kubeadm join 10.0.0.1:6443 --token=abcdef.0123456789abcdef --discovery-token-ca-cert-hash sha256:9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08".into(),
                "kubeadm join 10.0.0.1:6443 --token=<redacted:token> --discovery-token-ca-cert-hash sha256:9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08".into(),
            ),
            (
                r#"{"user":"orders_app","password":"s3cr3t","db":"orders"}"#.into(),
                r#"{"user":"orders_app","password":"<redacted:password>","db":"orders"}"#.into(),
            ),
            (
                r#""msg":"config: {\"Password\":\"s3cr3t\",\"Host\":\"pg\"}""#.into(),
                r#""msg":"config: {\"Password\":\"<redacted:password>\",\"Host\":\"pg\"}""#.into(),
            ),
            (
                "database:\n  host: pg-orders\n  password: changeme\n  pwd: 'p@ss w0rd'\n".into(),
                "database:\n  host: pg-orders\n  password: <redacted:password>\n  pwd: '<redacted:password>'\n".into(),
            ),
            (
                "spring.datasource.password = Sup3rS3cret".into(),
                "spring.datasource.password = <redacted:password>".into(),
            ),
            (
                "X-Api-Key: 2f1c9a7e4b6d8f0a3c5e7b9d".into(),
                "X-Api-Key: <redacted:api-key>".into(),
            ),
            (
                "apikey=0123456789abcdef0123456789abcdef".into(),
                "apikey=<redacted:api-key>".into(),
            ),
            (
                "PASSWD=Tr0ub4dor SECRET=correcthorse Access_Token: ya29.a0AfH6SMBx3".into(),
                "PASSWD=<redacted:password> SECRET=<redacted:secret> Access_Token: <redacted:token>".into(),
            ),
            (
                "webhook token: Bearer 8f14e45fceea167a5a36".into(),
                "webhook token: Bearer <redacted:bearer-token>".into(),
            ),
            (
                // Go error wrapping, but the value is credential-shaped.
                "invalid token: 8f14e45fceea167a5a36dedd4bea2543".into(),
                "invalid token: <redacted:token>".into(),
            ),
            (
                "settings map[debug:true password:hunter2]".into(),
                "settings map[debug:true password:<redacted:password>]".into(),
            ),
            // Vendor tokens keep their public type prefix.
            (
                format!("GITHUB_TOKEN is {GITHUB}"),
                "GITHUB_TOKEN is ghp_<redacted:github-token>".into(),
            ),
            (
                format!("clone with {GITHUB_PAT}"),
                "clone with github_pat_<redacted:github-token>".into(),
            ),
            (
                format!("posting to slack with {SLACK}"),
                "posting to slack with xoxb-<redacted:slack-token>".into(),
            ),
            (
                format!("charging via {STRIPE} failed"),
                "charging via sk_live_<redacted:stripe-key> failed".into(),
            ),
            (
                format!("access_token={GITHUB}"),
                "access_token=ghp_<redacted:github-token>".into(),
            ),
            // A kubeconfig's base64 client key; its certificate stays.
            (
                concat!(
                    "    client-certificate-data: LS0tLS1CRUdJTiBDRVJUSUZJQ0FURS0tLS0tCk1JSUVvd0lCQUFLQ0FRRUF1MVNVMUxm\n",
                    "    client-key-data: LS0tLS1CRUdJTiBSU0EgUFJJVkFURSBLRVktLS0tLQpNSUlFb3dJQkFBS0NBUUVBdTFTVTFMZlZMUEhDb3pNeEgyTW80bGdPRWVQek5tMHRSZ2VM\n",
                ).into(),
                concat!(
                    "    client-certificate-data: LS0tLS1CRUdJTiBDRVJUSUZJQ0FURS0tLS0tCk1JSUVvd0lCQUFLQ0FRRUF1MVNVMUxm\n",
                    "    client-key-data: <redacted:private-key>\n",
                ).into(),
            ),
            (
                r#"header={"Authorization":["Bearer 8f14e45fceea167a5a36dedd4bea2543"]}"#.into(),
                r#"header={"Authorization":["Bearer <redacted:bearer-token>"]}"#.into(),
            ),
            (
                "Server=tcp:sql.staging,1433;User ID=sa;Password=Str0ngPass;Encrypt=true".into(),
                "Server=tcp:sql.staging,1433;User ID=sa;Password=<redacted:password>;Encrypt=true".into(),
            ),
            (
                "mongodb+srv://admin:Pa55w0rd@cluster0.example.net/orders".into(),
                "mongodb+srv://admin:<redacted:password>@cluster0.example.net/orders".into(),
            ),
            (
                "{'username': 'orders', 'password': 'hunter2'}".into(),
                "{'username': 'orders', 'password': '<redacted:password>'}".into(),
            ),
            // Unquoted values continue over `&`, `,`, `;` unless what
            // follows is the next key.
            (
                "login user=bob password=Tr0ub4dor&3 ok".into(),
                "login user=bob password=<redacted:password> ok".into(),
            ),
            (
                "password: p@ss,word;x&y\nnext: 1".into(),
                "password: <redacted:password>\nnext: 1".into(),
            ),
            (
                "/login?password=abc&def&user=bob&token=Zx9".into(),
                "/login?password=<redacted:password>&user=bob&token=<redacted:token>".into(),
            ),
            // Space-separated flags.
            (
                "exec mysqldump --user=root --password Sup3r&S3cret! orders".into(),
                "exec mysqldump --user=root --password <redacted:password> orders".into(),
            ),
            (
                r#"vault login --token "hvs.CAESIJ1a2b3c4d5e6f" -address=https://vault"#.into(),
                r#"vault login --token "<redacted:token>" -address=https://vault"#.into(),
            ),
            // Cookies.
            (
                "Cookie: session=8f14e45fceea167a5a36dedd4bea2543; theme=dark".into(),
                "Cookie: <redacted:cookie>".into(),
            ),
            (
                r#"{"headers":{"Set-Cookie":"sid=Zm9vYmFyYmF6; Path=/; HttpOnly","Vary":"Accept"}}"#.into(),
                r#"{"headers":{"Set-Cookie":"<redacted:cookie>","Vary":"Accept"}}"#.into(),
            ),
        ]
    }

    #[test]
    fn text_masks_each_shape() {
        let cases = mask_cases();
        for (input, expected) in &cases {
            let out = text(input);
            assert_eq!(out, expected.as_str(), "input: {input}");
            assert!(matches!(out, Cow::Owned(_)), "{input}");
            assert_eq!(masked(&out), out, "idempotent: {input}");
        }
        // None of the secrets survive.
        let all: String = cases.iter().map(|(i, _)| masked(i) + "\n").collect();
        for secret in [
            "LS0tLS1CRUdJTiBSU0",
            "8f14e45f",
            "Str0ng",
            "Pa55w0rd",
            JWT,
            GITHUB,
            GITHUB_PAT,
            SLACK,
            STRIPE,
            GOOGLE,
            AKIA,
            AWS_SECRET,
            "s3cr3t",
            "hunter2",
            "8f14e45f",
            "MIIE",
            "b3JkZXJz",
            "YWRtaW4",
            "Xk9vQmPz",
            "changeme",
            "p@ss",
            "Sup3r",
            "Tr0ub4dor",
            "&3",
            ",word",
            "abc&def",
            "hvs.",
            "8f14e4",
            "Zm9vYmFy",
            "0123456789abcdef",
            "correcthorse",
            "ya29",
            "GOCSPX",
            "abcdef.0123",
        ] {
            assert!(!all.contains(secret), "{secret} leaked:\n{all}");
        }
    }

    /// Inputs `text` must leave exactly as they are.
    const LOOK_ALIKES: &[&str] = &[
        // Hashes, ids, versions, timestamps, addresses.
        "image: registry.example.com/orders-api@sha256:9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08",
        "imageID: docker-pullable://registry.example.com/orders-api@sha256:9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08",
        "commit 4f9c2ab1e0d3c5b7a9f1e2d4c6b8a0f1e3d5c7b9 (HEAD -> main)",
        "uid: 58088653-ee5c-44de-a9cd-c53bd8904f94",
        r#""resourceVersion": "6119922", "generation": 7"#,
        "2026-11-20T08:31:08.180Z INFO GET /healthz 200 10.244.1.17:43122 -> 10.96.0.1:443",
        "req_id=T81RRMHBZ1YA9Y7189BN7AFEW3 trace_id=4bf92f3577b34da6a3ce929d0e0e4736",
        // Base64 that is config, not a credential; a list continue token.
        "config.json: eyJsb2dMZXZlbCI6ImRlYnVnIiwicG9ydCI6ODA4MH0=",
        r#""continue": "eyJ2IjoibWV0YS5rOHMuaW8vdjEiLCJydiI6NjExOTkyMiwic3RhcnQiOiJjYXRhbG9nXHUwMDAwIn0""#,
        // Certificates are public.
        "-----BEGIN CERTIFICATE-----\nMIIDdzCCAl+gAwIBAgIEAgAAuTANBgkqhkiG9w0BAQUFADBa\n-----END CERTIFICATE-----",
        "-----BEGIN PUBLIC KEY-----\nMFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAEq7BFUm\n-----END PUBLIC KEY-----",
        // Already redacted, empty, masked by the app, references.
        "password: <redacted: 7 bytes, sha256:bdf49c3c>",
        r#""password": "<redacted: 7 bytes, sha256:bdf49c3c>""#,
        "password: <redacted:password>",
        "password=",
        "password=\nuser=bob",
        "Server=sql;User ID=sa;Password=;Encrypt=true",
        "Usage:\n  --password string   Password for the database\n  --token-file path   Token file",
        "--password-stdin --password-file=/run/secrets/db",
        "cookie: missing; redirecting to /login",
        r#"{"password": "", "token": null, "automountServiceAccountToken": false}"#,
        "password=******** user=bob",
        "password: $(DB_PASSWORD)",
        "--db-password=${DB_PASSWORD}",
        "PGPASSWORD=$DB_PASSWORD psql",
        "password: {{ .Values.db.password }}",
        "password: |\n  hunter2-lives-in-a-block-scalar-we-do-not-follow",
        r#"{"password":"[REDACTED]"}"#,
        // Credential words in prose.
        "invalid password for user orders_app",
        "token expired at 2026-11-20T08:31:08Z",
        "failed to refresh token: context deadline exceeded",
        "error reading token: open /var/run/secrets/kubernetes.io/serviceaccount/token: no such file or directory",
        "oidc: invalid token: signature is invalid",
        "missing Bearer token in Authorization header",
        "the bearer of this token is trusted",
        r#"WWW-Authenticate: Bearer realm="shop-api", error="invalid_token""#,
        "Basic authentication failed for user admin",
        "401 Unauthorized: authorization required",
        "Authorization: Bearer",
        "couldn't find key password in Secret staging/payments-db",
        r#"MountVolume.SetUp failed for volume "db-secret" : secret "db-secret" not found"#,
        "Error: secret \"payments-db\" not found",
        // Kubernetes names and fields, flags.
        "volumeMounts: kube-api-access-x7k2p at /var/run/secrets/kubernetes.io/serviceaccount",
        "secretName: payments-db",
        "serviceAccountToken: {expirationSeconds: 3607, path: token}",
        "--token-ttl=3600s --max_tokens=4096 --password-file=/etc/db/password",
        "DB_PASSWORD_FILE=/run/secrets/db-password",
        "PWD=/srv/app OLDPWD=/root",
        "authorization-mode=Node,RBAC",
        r#""authorization.k8s.io/decision":"allow""#,
        // URLs without credentials.
        "https://user@git.example.com/org/repo.git",
        "http://catalog:8080/v1/products?limit=20",
        "http://[::1]:8080/metrics",
        "git@github.com:org/repo.git",
        "ssh://git@github.com:22/org/repo.git",
        // AWS ids that are not access keys.
        "arn:aws:iam::123456789012:role/AROAJQABLZS4A3QDU576Q",
        // A base64 certificate (kubeconfig `certificate-authority-data`).
        "certificate-authority-data: LS0tLS1CRUdJTiBDRVJUSUZJQ0FURS0tLS0tCk1JSUVvd0lCQUFLQ0FRRUF1MVNVMUxm",
    ];

    #[test]
    fn text_leaves_look_alikes() {
        for &input in LOOK_ALIKES {
            let out = text(input);
            assert!(matches!(out, Cow::Borrowed(_)), "changed: {input} -> {out}");
        }
    }

    #[test]
    fn text_is_idempotent_on_combinations() {
        // Every pair of inputs, joined in ways that put one next to the
        // other's key, value or quote: a second pass never changes more.
        let mut inputs: Vec<String> = LOOK_ALIKES.iter().map(|s| s.to_string()).collect();
        for (input, expected) in mask_cases() {
            inputs.push(input);
            inputs.push(expected);
        }
        let mut checked = 0;
        for a in &inputs {
            for b in &inputs {
                for sep in [" ", "\n", "", "=", ": ", "\""] {
                    let joined = format!("{a}{sep}{b}");
                    let once = text(&joined);
                    assert_eq!(text(&once), once, "not idempotent on {joined:?}");
                    checked += 1;
                }
            }
        }
        assert!(checked > 10_000);
    }

    #[test]
    fn detectors_fire_wherever_their_rule_matches() {
        // The set only runs a rule whose detector matched: a detector must
        // match inside every match of its full pattern.
        let mut inputs: Vec<String> = LOOK_ALIKES.iter().map(|s| s.to_string()).collect();
        inputs.extend(mask_cases().into_iter().map(|(input, _)| input));
        for p in rule_patterns() {
            let full = Regex::new(&p.full).expect("full");
            let detect = Regex::new(&p.detect).expect("detect");
            let mut fired = 0;
            for input in &inputs {
                for m in full.find_iter(input) {
                    let d = detect.find_at(input, m.start());
                    assert!(
                        d.is_some_and(|d| d.end() <= m.end()),
                        "{:?} on {input:?}",
                        p.rule
                    );
                    fired += 1;
                }
            }
            assert!(fired > 0, "{:?} is exercised", p.rule);
        }
    }

    #[test]
    fn text_on_the_staging_orders_api_logs() {
        let log = std::fs::read_to_string(format!("{STAGING}/orders-api-hnsgmrhzj-2p84n/logs.txt"))
            .expect("staging log");
        let out = text(&log);
        assert!(!out.contains("s3cr3t"));
        assert!(!out.contains("eyJ"));
        assert_eq!(out.lines().count(), log.lines().count());
        let mut changed = 0;
        for (before, after) in log.lines().zip(out.lines()) {
            if before == after {
                continue;
            }
            changed += 1;
            if before.contains("postgres://") {
                assert_eq!(
                    after,
                    concat!(
                        r#"{"level":"info","ts":"2026-11-20T08:31:08.189Z","caller":"internal/store/postgres.go:34","#,
                        r#""msg":"connecting to postgres://orders_app:<redacted:password>@pg-orders.staging.internal:5432/orders?sslmode=require"}"#
                    )
                );
            } else {
                // The bearer lines: everything but the JWT is intact.
                let jwt_at = before.find("eyJ").expect("a JWT");
                let jwt_end = jwt_at + before[jwt_at..].find('"').expect("closing quote");
                assert_eq!(
                    after,
                    format!("{}<redacted:jwt>{}", &before[..jwt_at], &before[jwt_end..])
                );
                assert!(after.contains(r#""header":"Authorization: Bearer <redacted:jwt>"}"#));
            }
        }
        assert_eq!(changed, 3, "the postgres URL and two bearer JWTs");
        assert_eq!(text(&out), out, "idempotent");
    }
}
