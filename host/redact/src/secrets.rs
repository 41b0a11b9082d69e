//! Secret values: replaced by a marker that carries the decoded length and
//! a short sha256 prefix (enough to compare two values, far too little to
//! recover one); keys are kept.

use guardian_kube_types::SharedItem;
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

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

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
