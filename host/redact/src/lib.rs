//! Secret redaction: the last thing every object passes through on its way
//! out of the broker (safety invariant 4: Secret values never reach a skill
//! or an LLM).
//!
//! Values are replaced, keys are kept: a diagnosis often hinges on *which*
//! keys a Secret has ("couldn't find key password in Secret staging/auth-db")
//! and sometimes on whether two Secrets hold the same value, so the marker
//! carries the decoded length and a short sha256 prefix — enough to compare,
//! far too little to recover a value.
//!
//! **Architecture invariant:** pure functions over JSON and text — no IO, no
//! state. The broker applies them to everything that leaves it, the
//! snapshot store when it loads, `snapshot capture` before it writes and
//! `snapshot serve` before it answers; all of them with these same rules.

pub mod omit;

use std::borrow::Cow;
use std::sync::LazyLock;

use guardian_kube_types::SharedItem;
use regex::{Captures, Regex, RegexSet};
use serde_json::{Map, Value};
use sha2::{Digest, Sha256};

/// The annotation `kubectl apply` writes with the full previous manifest —
/// for a Secret, its values in clear.
pub const LAST_APPLIED_ANNOTATION: &str = "kubectl.kubernetes.io/last-applied-configuration";

const MARKER_PREFIX: &str = "<redacted: ";

/// Redact every Secret in `v`: a single object, or a list (`items`) of them,
/// including lists nested in a `kind: List`. Items of a typed list
/// (`SecretList`) usually carry no `kind`; they are treated as Secrets.
/// Idempotent: markers already in place are left as they are.
pub fn object(v: &mut Value) {
    redact_value(v, None);
}

/// Redact one item of a list whose kind is `list_kind` (a `SecretList`'s
/// items may lack their own kind).
pub fn list_item(item: &mut Value, list_kind: &str) {
    redact_value(item, implied_item_kind(list_kind));
}

/// Whether [`list_item`] would look inside this item at all: it is a Secret
/// or holds a list. Lets shared items that need nothing stay shared.
pub fn list_item_needs_redaction(item: &Value, list_kind: &str) -> bool {
    let kind = item
        .get("kind")
        .and_then(Value::as_str)
        .or(implied_item_kind(list_kind));
    kind == Some("Secret") || item.get("items").is_some_and(Value::is_array)
}

/// Redact one item of a shared list answer whose kind is `list_kind`,
/// copying it only when it has to be looked at: a tree when it is a Secret
/// or holds a list ([`list_item_needs_redaction`]); a stored object
/// ([`guardian_kube_types::Stored`], redacted when it was stored) only when
/// it is a Secret, whose values are checked again on every answer.
pub fn shared_item(item: &mut SharedItem, list_kind: &str) {
    let needed = match item {
        SharedItem::Tree(v) => list_item_needs_redaction(v, list_kind),
        SharedItem::Stored(_) => list_kind == "SecretList",
    };
    if needed {
        list_item(item.make_mut(), list_kind);
    }
}

fn implied_item_kind(list_kind: &str) -> Option<&str> {
    list_kind.strip_suffix("List").filter(|k| !k.is_empty())
}

/// `<redacted: N bytes, sha256:XXXXXXXX>` for these (decoded) bytes.
pub fn marker(bytes: &[u8]) -> String {
    let digest = hex::encode(Sha256::digest(bytes));
    format!(
        "{MARKER_PREFIX}{} bytes, sha256:{}>",
        bytes.len(),
        &digest[..8]
    )
}

/// Whether a string is already a redaction marker (so snapshots captured
/// with values redacted stay byte-for-byte unchanged).
pub fn is_marker(s: &str) -> bool {
    s.starts_with(MARKER_PREFIX) && s.ends_with('>')
}

/// `implied_kind` is the kind a typed list gives its kind-less items.
fn redact_value(v: &mut Value, implied_kind: Option<&str>) {
    let Some(map) = v.as_object_mut() else {
        return;
    };
    let kind = map
        .get("kind")
        .and_then(Value::as_str)
        .or(implied_kind)
        .map(str::to_string);
    if kind.as_deref() == Some("Secret") {
        redact_secret(map);
        return;
    }
    // Anything with an `items` array is walked: `kind: List`, typed lists,
    // and lists whose own kind is missing. The item kind implied by a typed
    // list is its kind without the `List` suffix.
    let item_kind = kind
        .as_deref()
        .and_then(implied_item_kind)
        .map(str::to_string);
    if let Some(Value::Array(items)) = map.get_mut("items") {
        for item in items {
            redact_value(item, item_kind.as_deref());
        }
    }
}

fn redact_secret(secret: &mut Map<String, Value>) {
    if let Some(Value::Object(data)) = secret.get_mut("data") {
        for value in data.values_mut() {
            redact_entry(value, true);
        }
    }
    if let Some(Value::Object(data)) = secret.get_mut("stringData") {
        for value in data.values_mut() {
            redact_entry(value, false);
        }
    }
    if let Some(Value::Object(annotations)) = secret
        .get_mut("metadata")
        .and_then(|m| m.get_mut("annotations"))
    {
        annotations.remove(LAST_APPLIED_ANNOTATION);
    }
}

fn redact_entry(value: &mut Value, base64_encoded: bool) {
    let bytes: Vec<u8> = match &*value {
        Value::Null => return,
        Value::String(s) if is_marker(s) => return,
        Value::String(s) if base64_encoded => {
            // Not valid base64 can only come from a hand-edited file; the raw
            // text is then what would leak, so that is what we measure.
            decode_base64(s).unwrap_or_else(|| s.as_bytes().to_vec())
        }
        Value::String(s) => s.as_bytes().to_vec(),
        // Numbers or booleans in stringData (YAML `port: 5432`): the API
        // server would reject them, but they are still values to hide.
        other => other.to_string().into_bytes(),
    };
    *value = Value::String(marker(&bytes));
}

/// Standard base64 (RFC 4648 §4) as Kubernetes writes Secret data, with
/// optional padding; whitespace (line-wrapped values) is ignored.
pub(crate) fn decode_base64(text: &str) -> Option<Vec<u8>> {
    fn sextet(c: u8) -> Option<u32> {
        match c {
            b'A'..=b'Z' => Some(u32::from(c - b'A')),
            b'a'..=b'z' => Some(u32::from(c - b'a') + 26),
            b'0'..=b'9' => Some(u32::from(c - b'0') + 52),
            b'+' => Some(62),
            b'/' => Some(63),
            _ => None,
        }
    }
    let clean: Vec<u8> = text.bytes().filter(|b| !b.is_ascii_whitespace()).collect();
    let unpadded = clean
        .iter()
        .rposition(|&b| b != b'=')
        .map_or(&clean[..0], |last| &clean[..=last]);
    if clean.len() - unpadded.len() > 2 || unpadded.len() % 4 == 1 {
        return None;
    }
    let mut out = Vec::with_capacity(unpadded.len() * 3 / 4);
    for chunk in unpadded.chunks(4) {
        let mut acc: u32 = 0;
        for &c in chunk {
            acc = (acc << 6) | sextet(c)?;
        }
        // Left-align the bits of a short final chunk, then emit whole bytes.
        acc <<= 6 * (4 - chunk.len() as u32);
        let bytes = acc.to_be_bytes();
        out.extend_from_slice(&bytes[1..chunk.len()]);
    }
    Some(out)
}

// ---------------------------------------------------------------------------
// Text redaction: logs, event messages, env values, anything free-form.
// ---------------------------------------------------------------------------

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
fn tag(kind: &str) -> String {
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
const KEY_WORDS: &str = concat!(
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
fn key_kind(lower_key: &str) -> &'static str {
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

fn is_auth_scheme(word: &str) -> bool {
    ["bearer", "basic", "digest", "token", "negotiate", "ntlm"]
        .iter()
        .any(|s| word.eq_ignore_ascii_case(s))
}

/// Values that stand for a secret without being one: empty, already masked
/// (by us, by the Secret marker, or by the application: `****`,
/// `[REDACTED]`, `<nil>`), literals (`null`, `true`), and references to a
/// variable (`$(DB_PASSWORD)`, `${DB_PASSWORD}`, `$DB_PASSWORD`).
fn is_placeholder(value: &str) -> bool {
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
fn looks_like_secret(word: &str) -> bool {
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

// ---------------------------------------------------------------------------
// Pod-shaped objects: env values, command lines, probe headers.
// ---------------------------------------------------------------------------

/// Where a pod spec sits in an object: a Pod; the template of a Deployment,
/// StatefulSet, DaemonSet, ReplicaSet, ReplicationController or Job (and
/// any CRD that follows the convention); a CronJob's job template; a
/// PodTemplate.
const POD_SPEC_PATHS: &[&str] = &[
    "/spec",
    "/spec/template/spec",
    "/spec/jobTemplate/spec/template/spec",
    "/template/spec",
];
const CONTAINER_LISTS: &[&str] = &["containers", "initContainers", "ephemeralContainers"];
const STATUS_LISTS: &[&str] = &[
    "containerStatuses",
    "initContainerStatuses",
    "ephemeralContainerStatuses",
];
/// A whole command-line word that is a flag named like a credential:
/// `--password`, `-token`, `--db-api-key`.
static SECRET_FLAG: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(&format!(r"(?i)^--?[a-z0-9_.\-]*?{KEY_WORDS}$")).expect("flag pattern compiles")
});
const LAST_APPLIED_POINTER: &str =
    "/metadata/annotations/kubectl.kubernetes.io~1last-applied-configuration";

/// Redact literal secrets in pod-shaped objects — a Pod, a workload with a
/// pod template, or a list of either — and leave every other object alone:
///
/// - `env[].value` of every container, init and ephemeral container is
///   replaced by a [`marker`] (length + short hash, like Secret values) when
///   the variable's name looks secret ([`env_name_is_secret`]) or the value
///   has a credential shape per [`text`]. `valueFrom` is kept: it is a
///   reference, not a value.
/// - `command[]` / `args[]` items go through [`text`], and the item after a
///   flag named like a credential (`["--password", "hunter2"]`) is masked;
///   probe/lifecycle `httpGet.httpHeaders` values get a marker when the
///   header is named like a secret or `Authorization`/`Cookie`, or the value
///   has a credential shape.
/// - a Pod's container termination/waiting messages (which carry the log
///   tail under `terminationMessagePolicy: FallbackToLogsOnError`) go
///   through [`text`].
/// - the `kubectl.kubernetes.io/last-applied-configuration` annotation holds
///   the same manifest: it is parsed, redacted the same way, re-serialized
///   and then passed through [`text`]; if it does not parse, [`text`] alone.
///
/// And in every object, pod-shaped or not (an operator's annotation, a
/// controller's status message or a ConfigMap value is where a connection
/// string or a token gets pasted; safety invariants 4 and 8):
///
/// - every annotation value goes through [`text`] (the last-applied one as
///   above, for every kind);
/// - `status.message` and `status.conditions[].message` go through [`text`];
/// - a ConfigMap's `data` values go through [`text`] — keys and every
///   non-credential character stay, so a diagnosis that reads a setting
///   still can — and its `binaryData` values become a [`marker`] (length and
///   short hash of the decoded bytes, like Secret values).
///
/// Idempotent.
pub fn env_values(object: &mut Value) {
    for (pointer, value) in pod_edits(object) {
        if let Some(slot) = object.pointer_mut(&pointer) {
            *slot = value;
        }
    }
}

/// Whether [`env_values`] would change this object: lets a caller holding a
/// shared item (`Arc<Value>`) copy only the items that need it.
pub fn env_values_needed(object: &Value) -> bool {
    !pod_edits(object).is_empty()
}

/// Whether an env var's (or header's) name says its value is a secret.
/// Case-insensitive, separators ignored: contains `PASSWORD`, `PASSWD`,
/// `PASSPHRASE`, `SECRET`, `TOKEN`, `API_KEY`, `PRIVATE_KEY`, `CREDENTIAL`;
/// or has a `PASS` / `PWD` segment (`DB_PASS`, `MYSQL_PWD`, but not the
/// shell's `PWD`/`OLDPWD`); or ends in a `KEY` segment (`SIGNING_KEY`,
/// `ENCRYPTION_KEY`) unless a segment says `PUBLIC`.
pub fn env_name_is_secret(name: &str) -> bool {
    let upper = name.to_ascii_uppercase();
    let squashed: String = upper.chars().filter(char::is_ascii_alphanumeric).collect();
    const WORDS: &[&str] = &[
        "PASSWORD",
        "PASSWD",
        "PASSPHRASE",
        "SECRET",
        "TOKEN",
        "APIKEY",
        "PRIVATEKEY",
        "CREDENTIAL",
    ];
    if WORDS.iter().any(|w| squashed.contains(w)) {
        return true;
    }
    if squashed == "PWD" || squashed == "OLDPWD" {
        return false;
    }
    let segments: Vec<&str> = upper
        .split(|c: char| !c.is_ascii_alphanumeric())
        .filter(|s| !s.is_empty())
        .collect();
    if segments.iter().any(|s| *s == "PASS" || *s == "PWD") {
        return true;
    }
    segments.last() == Some(&"KEY") && !segments.contains(&"PUBLIC")
}

/// Whether a literal env value must be hidden.
fn env_value_needs_marker(name: &str, value: &str) -> bool {
    if value.is_empty() || is_marker(value) {
        return false;
    }
    if env_name_is_secret(name) && !is_path_setting(name, value) {
        // `TOKENIZERS_PARALLELISM=false`, `SECRET_ENABLED=true`: a flag is
        // not a secret, whatever its name.
        let flag = value.eq_ignore_ascii_case("true") || value.eq_ignore_ascii_case("false");
        if !flag {
            return true;
        }
    }
    matches!(text(value), Cow::Owned(_))
}

/// `DB_PASSWORD_FILE=/run/secrets/db`: where a secret is, not what it is
/// (the Docker `_FILE` convention). Only with an absolute path as value.
fn is_path_setting(name: &str, value: &str) -> bool {
    let upper = name.to_ascii_uppercase();
    let path_name = ["FILE", "PATH", "DIR", "FILENAME", "LOCATION"]
        .iter()
        .any(|s| upper.ends_with(&format!("_{s}")) || upper.ends_with(&format!("-{s}")));
    path_name && value.starts_with('/') && !value.contains(char::is_whitespace)
}

/// The edits [`env_values`] makes: (JSON pointer, new value).
fn pod_edits(object: &Value) -> Vec<(String, Value)> {
    let mut edits = Vec::new();
    collect_pod_edits(object, "", &mut edits);
    edits
}

fn collect_pod_edits(object: &Value, path: &str, edits: &mut Vec<(String, Value)>) {
    if !object.is_object() {
        return;
    }
    if let Some(Value::Array(items)) = object.get("items") {
        for (i, item) in items.iter().enumerate() {
            collect_pod_edits(item, &format!("{path}/items/{i}"), edits);
        }
    }
    free_text_edits(object, path, edits);
    let mut pod_shaped = false;
    for spec_path in POD_SPEC_PATHS {
        if let Some(spec) = object.pointer(spec_path)
            && spec.get("containers").is_some_and(Value::is_array)
        {
            pod_shaped = true;
            pod_spec_edits(spec, &format!("{path}{spec_path}"), edits);
        }
    }
    if !pod_shaped {
        return;
    }
    if let Some(Value::Object(status)) = object.get("status") {
        for list in STATUS_LISTS {
            let Some(Value::Array(statuses)) = status.get(*list) else {
                continue;
            };
            for (i, status) in statuses.iter().enumerate() {
                for state in ["state", "lastState"] {
                    for reason in ["terminated", "waiting"] {
                        let pointer = format!("/{state}/{reason}/message");
                        if let Some(Value::String(message)) = status.pointer(&pointer)
                            && let Cow::Owned(masked) = text(message)
                        {
                            edits.push((
                                format!("{path}/status/{list}/{i}{pointer}"),
                                Value::String(masked),
                            ));
                        }
                    }
                }
            }
        }
    }
}

/// `a/b~c` as a JSON Pointer segment: `a~1b~0c`.
fn pointer_segment(key: &str) -> Cow<'_, str> {
    if key.contains(['~', '/']) {
        Cow::Owned(key.replace('~', "~0").replace('/', "~1"))
    } else {
        Cow::Borrowed(key)
    }
}

/// The edits of [`env_values`] that every object gets, pod-shaped or not:
/// annotation values, status messages, ConfigMap values.
fn free_text_edits(object: &Value, path: &str, edits: &mut Vec<(String, Value)>) {
    fn mask(edits: &mut Vec<(String, Value)>, pointer: String, value: &str) {
        if let Cow::Owned(masked) = text(value) {
            edits.push((pointer, Value::String(masked)));
        }
    }
    if let Some(Value::Object(annotations)) = object.pointer("/metadata/annotations") {
        for (key, value) in annotations {
            let Value::String(value) = value else {
                continue;
            };
            if key == LAST_APPLIED_ANNOTATION {
                if let Some(masked) = redact_last_applied(value) {
                    edits.push((
                        format!("{path}{LAST_APPLIED_POINTER}"),
                        Value::String(masked),
                    ));
                }
                continue;
            }
            mask(
                edits,
                format!("{path}/metadata/annotations/{}", pointer_segment(key)),
                value,
            );
        }
    }
    if let Some(Value::Object(status)) = object.get("status") {
        if let Some(Value::String(message)) = status.get("message") {
            mask(edits, format!("{path}/status/message"), message);
        }
        if let Some(Value::Array(conditions)) = status.get("conditions") {
            for (i, condition) in conditions.iter().enumerate() {
                if let Some(Value::String(message)) = condition.get("message") {
                    mask(
                        edits,
                        format!("{path}/status/conditions/{i}/message"),
                        message,
                    );
                }
            }
        }
    }
    // A ConfigMap, or a kind-less list item holding `data` (a Secret's
    // values are markers by then, which `text` leaves alone).
    let kind = object.get("kind").and_then(Value::as_str);
    if kind == Some("ConfigMap")
        || (kind.is_none() && object.get("data").is_some_and(Value::is_object))
    {
        if let Some(Value::Object(data)) = object.get("data") {
            for (key, value) in data {
                if let Value::String(value) = value {
                    mask(
                        edits,
                        format!("{path}/data/{}", pointer_segment(key)),
                        value,
                    );
                }
            }
        }
        if let Some(Value::Object(binary)) = object.get("binaryData") {
            for (key, value) in binary {
                if let Value::String(encoded) = value
                    && !is_marker(encoded)
                {
                    let bytes =
                        decode_base64(encoded).unwrap_or_else(|| encoded.as_bytes().to_vec());
                    edits.push((
                        format!("{path}/binaryData/{}", pointer_segment(key)),
                        Value::String(marker(&bytes)),
                    ));
                }
            }
        }
    }
}

fn pod_spec_edits(spec: &Value, path: &str, edits: &mut Vec<(String, Value)>) {
    for list in CONTAINER_LISTS {
        let Some(Value::Array(containers)) = spec.get(*list) else {
            continue;
        };
        for (i, container) in containers.iter().enumerate() {
            let at = format!("{path}/{list}/{i}");
            if let Some(Value::Array(env)) = container.get("env") {
                for (j, var) in env.iter().enumerate() {
                    let name = var.get("name").and_then(Value::as_str).unwrap_or("");
                    if let Some(Value::String(value)) = var.get("value")
                        && env_value_needs_marker(name, value)
                    {
                        edits.push((
                            format!("{at}/env/{j}/value"),
                            Value::String(marker(value.as_bytes())),
                        ));
                    }
                }
            }
            for field in ["command", "args"] {
                let Some(Value::Array(words)) = container.get(field) else {
                    continue;
                };
                for (j, word) in words.iter().enumerate() {
                    let Value::String(word) = word else {
                        continue;
                    };
                    // `["--password", "hunter2"]`: the value of a secret
                    // flag is its own item.
                    let flag = j
                        .checked_sub(1)
                        .and_then(|k| words[k].as_str())
                        .filter(|f| SECRET_FLAG.is_match(f));
                    let masked = match flag {
                        Some(flag) if !word.starts_with('-') && !is_placeholder(word) => {
                            Some(tag(key_kind(&flag.to_ascii_lowercase())))
                        }
                        _ => match text(word) {
                            Cow::Owned(masked) => Some(masked),
                            Cow::Borrowed(_) => None,
                        },
                    };
                    if let Some(masked) = masked {
                        edits.push((format!("{at}/{field}/{j}"), Value::String(masked)));
                    }
                }
            }
            for handler in [
                "/livenessProbe/httpGet",
                "/readinessProbe/httpGet",
                "/startupProbe/httpGet",
                "/lifecycle/postStart/httpGet",
                "/lifecycle/preStop/httpGet",
            ] {
                let Some(Value::Array(headers)) = container
                    .pointer(handler)
                    .and_then(|h| h.get("httpHeaders"))
                else {
                    continue;
                };
                for (j, header) in headers.iter().enumerate() {
                    let name = header.get("name").and_then(Value::as_str).unwrap_or("");
                    let Some(Value::String(value)) = header.get("value") else {
                        continue;
                    };
                    let auth_header = ["authorization", "proxy-authorization", "cookie"]
                        .iter()
                        .any(|h| name.eq_ignore_ascii_case(h));
                    let hide = if auth_header {
                        !value.is_empty() && !is_marker(value)
                    } else {
                        env_value_needs_marker(name, value)
                    };
                    if hide {
                        edits.push((
                            format!("{at}{handler}/httpHeaders/{j}/value"),
                            Value::String(marker(value.as_bytes())),
                        ));
                    }
                }
            }
        }
    }
}

/// The last-applied manifest, redacted like the object; `None` if nothing
/// changes (the original text is then kept byte for byte).
fn redact_last_applied(applied: &str) -> Option<String> {
    let serialized = match serde_json::from_str::<Value>(applied) {
        Ok(mut manifest) => {
            let edits = pod_edits(&manifest);
            if edits.is_empty() {
                Cow::Borrowed(applied)
            } else {
                for (pointer, value) in edits {
                    if let Some(slot) = manifest.pointer_mut(&pointer) {
                        *slot = value;
                    }
                }
                let mut s = manifest.to_string();
                if applied.ends_with('\n') {
                    s.push('\n');
                }
                Cow::Owned(s)
            }
        }
        Err(_) => Cow::Borrowed(applied),
    };
    if let Cow::Owned(masked) = text(&serialized) {
        return Some(masked);
    }
    match serialized {
        Cow::Owned(s) => Some(s),
        Cow::Borrowed(_) => None,
    }
}

/// [`text`] over an Event's (or each event of a list's) `message` (core/v1)
/// and `note` (events.k8s.io/v1).
pub fn event_messages(v: &mut Value) {
    let Some(map) = v.as_object_mut() else {
        return;
    };
    if let Some(Value::Array(items)) = map.get_mut("items") {
        for item in items {
            event_messages(item);
        }
    }
    for field in ["message", "note"] {
        if let Some(Value::String(s)) = map.get_mut(field)
            && let Cow::Owned(masked) = text(s)
        {
            *s = masked;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn annotations_status_messages_and_config_map_values_are_masked() {
        let jwt = "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJhZG1pbiJ9.c2lnbmF0dXJlLW5vdC1yZWFs";
        let mut cm = json!({"apiVersion": "v1", "kind": "ConfigMap",
            "metadata": {"name": "app", "annotations": {
                "example.com/db": "postgres://app:Sup3rS3cret@db:5432/app",
                "team": "orders"}},
            "data": {"DATABASE_URL": "postgres://app:Sup3rS3cret@db:5432/app", "mode": "fast",
                     "app.properties": format!("token={jwt}\nthreads=4\n")},
            "binaryData": {"keystore.p12": "c2VjcmV0LWJ5dGVz"}});
        assert!(env_values_needed(&cm));
        env_values(&mut cm);
        let text = cm.to_string();
        assert!(
            !text.contains("Sup3rS3cret") && !text.contains(jwt),
            "{text}"
        );
        assert_eq!(cm["data"]["mode"], "fast");
        assert!(
            cm["data"]["app.properties"]
                .as_str()
                .unwrap()
                .contains("threads=4")
        );
        assert_eq!(cm["metadata"]["annotations"]["team"], "orders");
        assert_eq!(cm["binaryData"]["keystore.p12"], marker(b"secret-bytes"));
        let mut deployment = json!({"kind": "Deployment", "metadata": {"name": "d"},
            "status": {"conditions": [{"type": "Progressing",
                "message": format!("pull failed with Authorization: Bearer {jwt}")}]}});
        env_values(&mut deployment);
        assert!(!deployment.to_string().contains(jwt), "{deployment}");
        // Idempotent.
        let again = cm.clone();
        env_values(&mut cm);
        assert_eq!(cm, again);
    }

    #[test]
    fn base64_round_trips() {
        for (encoded, decoded) in [
            ("", ""),
            ("YQ==", "a"),
            ("YWI=", "ab"),
            ("YWJj", "abc"),
            ("YWJjZA", "abcd"),
            ("YXV0aA==", "auth"),
            (
                "ZXhhbXBsZS1ub3QtYS1y\nZWFsLXBhc3N3b3Jk",
                "example-not-a-real-password",
            ),
        ] {
            assert_eq!(
                decode_base64(encoded).as_deref(),
                Some(decoded.as_bytes()),
                "{encoded}"
            );
        }
        assert_eq!(decode_base64("a"), None);
        assert_eq!(decode_base64("YQ==="), None);
        assert_eq!(decode_base64("<no>"), None);
    }

    #[test]
    fn marker_has_length_and_hash_prefix() {
        // Expected values from `printf auth | sha256sum`.
        let m = marker(b"auth");
        assert_eq!(m, "<redacted: 4 bytes, sha256:bdf49c3c>");
        assert_eq!(
            marker(b""),
            "<redacted: 0 bytes, sha256:e3b0c442>",
            "sha256 of the empty string"
        );
        assert!(is_marker(&m));
    }

    #[test]
    fn redaction_table() {
        let secret = |extra: Value| {
            let mut s = json!({
                "apiVersion": "v1", "kind": "Secret",
                "metadata": {"name": "db", "namespace": "staging", "annotations": {
                    LAST_APPLIED_ANNOTATION: "{\"data\":{\"user\":\"YXV0aA==\"}}",
                    "team": "payments"
                }},
                "data": {"user": "YXV0aA==", "empty": ""},
                "type": "Opaque"
            });
            if let (Some(s), Some(extra)) = (s.as_object_mut(), extra.as_object()) {
                for (k, v) in extra {
                    s.insert(k.clone(), v.clone());
                }
            }
            s
        };
        let auth = marker(b"auth");
        let empty = marker(b"");

        // A single Secret.
        let mut one = secret(json!({"stringData": {"password": "hunter2", "port": 5432}}));
        object(&mut one);
        assert_eq!(one["data"]["user"], auth);
        assert_eq!(one["data"]["empty"], empty);
        assert_eq!(one["stringData"]["password"], marker(b"hunter2"));
        assert_eq!(one["stringData"]["port"], marker(b"5432"));
        assert_eq!(
            one["metadata"]["annotations"],
            json!({"team": "payments"}),
            "last-applied stripped, other annotations kept"
        );
        assert!(!one.to_string().contains("YXV0aA=="));

        // Idempotent.
        let before = one.clone();
        object(&mut one);
        assert_eq!(one, before);

        // A typed list whose items carry no kind.
        let mut typed = json!({"apiVersion": "v1", "kind": "SecretList", "items": [
            {"metadata": {"name": "a"}, "data": {"k": "YXV0aA=="}}
        ]});
        object(&mut typed);
        assert_eq!(typed["items"][0]["data"]["k"], auth);

        // A `kind: List` mixing kinds: only the Secret changes.
        let cm = json!({"apiVersion": "v1", "kind": "ConfigMap",
                        "metadata": {"name": "c"}, "data": {"k": "YXV0aA=="}});
        let mut mixed = json!({"apiVersion": "v1", "kind": "List",
                               "items": [cm.clone(), secret(json!({}))]});
        object(&mut mixed);
        assert_eq!(mixed["items"][0], cm);
        assert_eq!(mixed["items"][1]["data"]["user"], auth);

        // Items of a PodList are not Secrets even though they lack a kind.
        let mut pods = json!({"kind": "PodList", "items": [{"data": {"k": "YXV0aA=="}}]});
        let pods_before = pods.clone();
        object(&mut pods);
        assert_eq!(pods, pods_before);

        // Non-objects and Secrets without data are left alone.
        let mut scalar = json!("Secret");
        object(&mut scalar);
        assert_eq!(scalar, json!("Secret"));
        let mut bare = json!({"kind": "Secret", "metadata": {"name": "x"}, "data": null});
        object(&mut bare);
        assert_eq!(bare["data"], Value::Null);

        // Invalid base64 is measured as raw text, and still hidden.
        let mut bad = json!({"kind": "Secret", "data": {"k": "not base64!"}});
        object(&mut bad);
        assert_eq!(bad["data"]["k"], marker(b"not base64!"));
    }
}

#[cfg(test)]
mod text_tests {
    use super::*;
    use serde_json::json;

    // A JWT with the real structure and fake claims: header
    // {"alg":"RS256","kid":"fake-key-1","typ":"JWT"}, payload a
    // service-account subject, signature 48 arbitrary bytes.
    const JWT: &str = concat!(
        "eyJhbGciOiJSUzI1NiIsImtpZCI6ImZha2Uta2V5LTEiLCJ0eXAiOiJKV1QifQ",
        ".eyJpc3MiOiJodHRwczovL2t1YmVybmV0ZXMuZGVmYXVsdC5zdmMiLCJzdWIiOiJzeXN0ZW06c2Vy",
        "dmljZWFjY291bnQ6c3RhZ2luZzpvcmRlcnMtYXBpIiwiZXhwIjoxNzk1MTY3NjEyfQ",
        ".KCkqKywtLi8wMTIzNDU2Nzg5Ojs8PT4_QEFCQ0RFRkdISUpLTE1OT1BRUlNUVVZXWFlaW1xdXl9gYWJjZGVmZw",
    );
    // Vendor tokens are assembled from pieces so the source never holds a
    // contiguous string that a push-protection scanner would flag.
    const GITHUB: &str = concat!("gh", "p_", "1a2B3c4D5e6F7g8H9i0J1k2L3m4N5o6P7q8R");
    const GITHUB_PAT: &str = concat!(
        "github",
        "_pat_",
        "11ABCDEFG0123456789_abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ012"
    );
    const SLACK: &str = concat!(
        "xo",
        "xb-",
        "1234567890-1234567890123-AbCdEfGhIjKlMnOpQrStUvWx"
    );
    const STRIPE: &str = concat!("sk", "_live_", "51H8xYzABCdefGHIjklMNOpqrSTUvwx");
    const GOOGLE: &str = concat!("AI", "za", "SyDaGmWKa4JsXZ-HjGw7ISLn_3namBGewQe");
    // The AWS documentation's example credentials.
    const AKIA: &str = "AKIAIOSFODNN7EXAMPLE";
    const AWS_SECRET: &str = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY";
    const RSA_PEM: &str = "-----BEGIN RSA PRIVATE KEY-----\n\
        MIIEowIBAAKCAQEAu1SU1LfVLPHCozMxH2Mo4lgOEePzNm0tRgeLezV6ffAt0gun\n\
        VTLw7onLRnrq0/IzW7yWR7QkrmBL7jTKEn5u+qKhbwKfBstIs+bMY2Zkp18gnTxK\n\
        -----END RSA PRIVATE KEY-----";

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

    const STAGING: &str = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../examples/staging/staging"
    );

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

    #[test]
    fn text_changes_nothing_else_in_the_staging_snapshot() {
        // Every log line, event message and object of the example cluster
        // that holds no secret stays byte for byte the same.
        let mut changed_lines = Vec::new();
        for entry in std::fs::read_dir(STAGING).expect("staging dir") {
            let dir = entry.expect("entry").path();
            let Ok(log) = std::fs::read_to_string(dir.join("logs.txt")) else {
                continue;
            };
            for line in log.lines() {
                if let Cow::Owned(after) = text(line) {
                    changed_lines.push(after);
                }
            }
        }
        assert_eq!(changed_lines.len(), 3, "{changed_lines:#?}");

        let events: Value = serde_json::from_str(
            &std::fs::read_to_string(format!("{STAGING}/events.json")).expect("events"),
        )
        .expect("json");
        let mut redacted = events.clone();
        event_messages(&mut redacted);
        assert_eq!(redacted, events);

        for file in [
            "pods.json",
            "deployments.json",
            "replicasets.json",
            "daemonsets.json",
        ] {
            let list: Value = serde_json::from_str(
                &std::fs::read_to_string(format!("{STAGING}/{file}")).expect("list"),
            )
            .expect("json");
            assert!(!env_values_needed(&list), "{file}");
            let mut redacted = list.clone();
            env_values(&mut redacted);
            assert_eq!(redacted, list, "{file}");
        }
    }

    #[test]
    fn env_names_that_look_secret() {
        for name in [
            "DB_PASSWORD",
            "postgres_password",
            "QUEUE_PASSWD",
            "JWT_SECRET",
            "AWS_SECRET_ACCESS_KEY",
            "GITHUB_TOKEN",
            "authToken",
            "STRIPE_API_KEY",
            "apiKey",
            "GCP_PRIVATE_KEY",
            "GOOGLE_APPLICATION_CREDENTIALS_JSON",
            "DB_PASS",
            "MYSQL_PWD",
            "SIGNING_KEY",
            "SSH_PASSPHRASE",
        ] {
            assert!(env_name_is_secret(name), "{name}");
        }
        for name in [
            "DB_USER",
            "DATABASE_URL",
            "LOG_LEVEL",
            "PWD",
            "OLDPWD",
            "PASSTHROUGH_MODE",
            "KEY_ID",
            "JWT_PUBLIC_KEY",
            "CACHE_TTL",
        ] {
            assert!(!env_name_is_secret(name), "{name}");
        }
    }

    fn containers() -> Value {
        json!([{
            "name": "app",
            "image": "registry.example.com/orders-api@sha256:9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08",
            "args": ["--db=postgres://orders_app:s3cr3t@pg:5432/orders", "--port=8080",
                     "--api-key", "0123456789abcdef", "--api-key", "$(API_KEY)", "--verbose"],
            "env": [
                {"name": "DB_PASSWORD", "value": "hunter2"},
                {"name": "DB_PASSWORD_REF", "valueFrom": {"secretKeyRef": {"name": "db", "key": "password"}}},
                {"name": "DATABASE_URL", "value": "postgres://orders_app:s3cr3t@pg:5432/orders"},
                {"name": "UPSTREAM_AUTH", "value": format!("Bearer {JWT}")},
                {"name": "LOG_LEVEL", "value": "debug"},
                {"name": "API_TOKEN", "value": ""},
                {"name": "DB_PASSWORD_FILE", "value": "/run/secrets/db-password"},
                {"name": "TOKENIZERS_PARALLELISM", "value": "false"},
            ],
            "readinessProbe": {"httpGet": {"path": "/ready", "port": 8080, "httpHeaders": [
                {"name": "Authorization", "value": "Basic b3JkZXJzX2FwcDpzM2NyM3Q="},
                {"name": "X-Probe", "value": "1"},
            ]}},
        }])
    }

    fn assert_pod_spec_redacted(spec: &Value) {
        let env = &spec["containers"][0]["env"];
        assert_eq!(env[0]["value"], marker(b"hunter2"), "secret name");
        assert_eq!(
            env[1],
            json!({"name": "DB_PASSWORD_REF", "valueFrom": {"secretKeyRef": {"name": "db", "key": "password"}}}),
            "references are kept"
        );
        assert_eq!(
            env[2]["value"],
            marker(b"postgres://orders_app:s3cr3t@pg:5432/orders"),
            "credential-shaped value"
        );
        assert_eq!(env[3]["value"], marker(format!("Bearer {JWT}").as_bytes()));
        assert_eq!(env[4]["value"], "debug");
        assert_eq!(env[5]["value"], "", "empty stays empty");
        assert_eq!(
            env[6]["value"], "/run/secrets/db-password",
            "a path to a secret"
        );
        assert_eq!(env[7]["value"], "false", "a flag");
        let c = &spec["containers"][0];
        assert_eq!(
            c["args"],
            json!([
                "--db=postgres://orders_app:<redacted:password>@pg:5432/orders",
                "--port=8080",
                "--api-key",
                "<redacted:api-key>",
                "--api-key",
                "$(API_KEY)",
                "--verbose"
            ])
        );
        let headers = &c["readinessProbe"]["httpGet"]["httpHeaders"];
        assert_eq!(
            headers[0]["value"],
            marker(b"Basic b3JkZXJzX2FwcDpzM2NyM3Q=")
        );
        assert_eq!(headers[1]["value"], "1");
    }

    #[test]
    fn env_values_in_pods_and_templates() {
        let spec = json!({"containers": containers(), "initContainers": containers(),
                          "ephemeralContainers": containers()});
        let pod = json!({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "p"},
                         "spec": spec.clone(),
                         "status": {"containerStatuses": [{"name": "app", "lastState": {"terminated": {
                             "exitCode": 1,
                             "message": "panic: dial postgres://orders_app:s3cr3t@pg:5432: refused"}}}]}});
        let template = json!({"metadata": {"labels": {"app": "orders"}}, "spec": spec.clone()});
        let deployment = |kind: &str| {
            json!({"apiVersion": "apps/v1", "kind": kind, "metadata": {"name": "orders"},
                   "spec": {"replicas": 2, "template": template.clone()}})
        };
        let cronjob = json!({"apiVersion": "batch/v1", "kind": "CronJob", "metadata": {"name": "c"},
                             "spec": {"schedule": "* * * * *", "jobTemplate": {"spec": {"template": template.clone()}}}});
        let pod_template =
            json!({"apiVersion": "v1", "kind": "PodTemplate", "template": template.clone()});

        let mut objects = vec![
            ("/spec", pod.clone()),
            ("/spec/jobTemplate/spec/template/spec", cronjob),
            ("/template/spec", pod_template),
        ];
        for kind in [
            "Deployment",
            "StatefulSet",
            "DaemonSet",
            "ReplicaSet",
            "Job",
            "ReplicationController",
        ] {
            objects.push(("/spec/template/spec", deployment(kind)));
        }
        for (path, object) in &objects {
            let mut redacted = object.clone();
            assert!(env_values_needed(&redacted));
            env_values(&mut redacted);
            let spec = redacted.pointer(path).expect(path);
            for list in CONTAINER_LISTS {
                assert_pod_spec_redacted(&json!({"containers": spec[*list]}));
            }
            assert!(!redacted.to_string().contains("s3cr3t"), "{path}");
            assert!(!redacted.to_string().contains("hunter2"), "{path}");
            // Idempotent.
            assert!(!env_values_needed(&redacted));
            let before = redacted.clone();
            env_values(&mut redacted);
            assert_eq!(redacted, before);
        }

        // The pod's termination message (a log tail) goes through `text`.
        let mut p = pod.clone();
        env_values(&mut p);
        assert_eq!(
            p["status"]["containerStatuses"][0]["lastState"]["terminated"]["message"],
            "panic: dial postgres://orders_app:<redacted:password>@pg:5432: refused"
        );

        // Lists: a PodList (kind-less items) and a `kind: List`.
        let mut list = json!({"kind": "PodList", "items": [
            {"metadata": {"name": "a"}, "spec": spec.clone()},
            {"metadata": {"name": "b"}, "spec": {"containers": [{"name": "c", "env": [{"name": "X", "value": "1"}]}]}}
        ]});
        assert!(env_values_needed(&list["items"][0]));
        assert!(!env_values_needed(&list["items"][1]));
        let untouched = list["items"][1].clone();
        env_values(&mut list);
        assert_pod_spec_redacted(&list["items"][0]["spec"]);
        assert_eq!(list["items"][1], untouched);
        let mut mixed = json!({"kind": "List", "items": [deployment("Deployment"),
            {"kind": "ConfigMap", "metadata": {"name": "c"}, "data": {"password": "not-our-business"}}]});
        let configmap = mixed["items"][1].clone();
        env_values(&mut mixed);
        assert_pod_spec_redacted(&mixed["items"][0]["spec"]["template"]["spec"]);
        assert_eq!(mixed["items"][1], configmap, "only pod-shaped objects");
    }

    #[test]
    fn env_values_in_last_applied_configuration() {
        let manifest = json!({"apiVersion": "apps/v1", "kind": "Deployment",
            "metadata": {"name": "orders", "namespace": "staging"},
            "spec": {"template": {"spec": {"containers": [{"name": "app", "env": [
                {"name": "DB_PASSWORD", "value": "hunter2"},
                {"name": "LOG_LEVEL", "value": "debug"}]}]}}}});
        let applied = format!("{manifest}\n");
        let mut deployment = manifest.clone();
        deployment["metadata"]["annotations"] =
            json!({LAST_APPLIED_ANNOTATION: applied, "team": "orders"});
        env_values(&mut deployment);
        let annotations = &deployment["metadata"]["annotations"];
        assert_eq!(annotations["team"], "orders");
        let applied = annotations[LAST_APPLIED_ANNOTATION]
            .as_str()
            .expect("string");
        assert!(applied.ends_with('\n'));
        let parsed: Value = serde_json::from_str(applied).expect("still JSON");
        let env = &parsed["spec"]["template"]["spec"]["containers"][0]["env"];
        assert_eq!(env[0]["value"], marker(b"hunter2"));
        assert_eq!(env[1]["value"], "debug");
        let before = deployment.clone();
        env_values(&mut deployment);
        assert_eq!(deployment, before, "idempotent");

        // Not JSON (hand-edited, truncated): `text` alone.
        let mut broken = json!({"kind": "Deployment", "metadata": {"annotations": {
            LAST_APPLIED_ANNOTATION: "{\"env\":[{\"name\":\"X\",\"value\":\"postgres://u:s3cr3t@pg/db\"}"}},
            "spec": {"template": {"spec": {"containers": []}}}});
        env_values(&mut broken);
        assert_eq!(
            broken["metadata"]["annotations"][LAST_APPLIED_ANNOTATION],
            "{\"env\":[{\"name\":\"X\",\"value\":\"postgres://u:<redacted:password>@pg/db\"}"
        );

        // A clean annotation is kept byte for byte (no re-serialization).
        let odd_but_clean = "{ \"kind\": \"Deployment\",  \"spec\": {} }";
        let mut clean = json!({"kind": "Deployment", "metadata": {"annotations": {
            LAST_APPLIED_ANNOTATION: odd_but_clean}},
            "spec": {"template": {"spec": {"containers": []}}}});
        env_values(&mut clean);
        assert_eq!(
            clean["metadata"]["annotations"][LAST_APPLIED_ANNOTATION],
            odd_but_clean
        );
    }

    #[test]
    fn event_messages_are_redacted() {
        let mut events = json!({"kind": "EventList", "items": [
            {"reason": "Failed", "message": "Failed to pull image: Authorization: Basic b3JkZXJzX2FwcDpzM2NyM3Q="},
            {"reason": "BackOff", "message": "Back-off restarting failed container"},
            {"reason": "X", "note": format!("webhook called with token={JWT}")}
        ]});
        event_messages(&mut events);
        assert_eq!(
            events["items"][0]["message"],
            "Failed to pull image: Authorization: Basic <redacted:basic-auth>"
        );
        assert_eq!(
            events["items"][1]["message"],
            "Back-off restarting failed container"
        );
        assert_eq!(
            events["items"][2]["note"],
            "webhook called with token=<redacted:jwt>"
        );
    }
}
