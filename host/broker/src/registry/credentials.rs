//! Registry credentials from image pull secrets, chosen for a registry as
//! the kubelet chooses them: `kubernetes.io/dockerconfigjson` Secrets
//! (`.dockerconfigjson`: `{"auths": {KEY: ENTRY}}`) and legacy
//! `kubernetes.io/dockercfg` ones (`.dockercfg`: `{KEY: ENTRY}`); an
//! entry's `auth` (base64 `user:password`) or its `username` and
//! `password`. A key matches an image `HOST/REPOSITORY` when its host
//! matches (`*` globs a whole label, as in `*.example.com`), its port is the
//! same and its path (if any) is a prefix of the repository; the most
//! specific key of a Secret wins, Secrets in the pod's order.
//!
//! A [`Credential`] never leaves the broker: its `Debug` hides the password,
//! and nothing but the registry and its token service sees it.

use base64::Engine;
use serde_json::Value;

use super::reference::DOCKER_HUB_ALIASES;

/// A user and password for a registry, and where they came from.
#[derive(Clone)]
pub(crate) struct Credential {
    pub username: String,
    pub password: String,
    /// `pull secret shop/regcred (entry 127.0.0.1:5000)`: said in messages
    /// and the audit line, never the values.
    pub source: String,
}

impl std::fmt::Debug for Credential {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Credential")
            .field("source", &self.source)
            .finish_non_exhaustive()
    }
}

/// Docker's secret types and their keys.
pub(crate) const DOCKER_CONFIG_JSON: &str = "kubernetes.io/dockerconfigjson";
pub(crate) const DOCKER_CFG: &str = "kubernetes.io/dockercfg";

/// The entries of a pull Secret object (as the API server returns it:
/// `data` values base64), or why it holds none usable. Never says a value.
pub(crate) fn entries(secret: &Value) -> Result<Vec<(String, String, String)>, String> {
    let kind = secret["type"].as_str().unwrap_or_default();
    let key = match kind {
        DOCKER_CONFIG_JSON => ".dockerconfigjson",
        DOCKER_CFG => ".dockercfg",
        other => {
            return Err(format!(
                "it is of type {other:?}, not {DOCKER_CONFIG_JSON} (or {DOCKER_CFG}); the kubelet \
                 does not use it either"
            ));
        }
    };
    let Some(encoded) = secret["data"][key].as_str() else {
        return Err(format!("it has no {key} in its data"));
    };
    let raw = base64::engine::general_purpose::STANDARD
        .decode(encoded.trim())
        .map_err(|_| {
            format!(
                "its {key} is not base64 (a snapshot holds Secret values redacted: read pull \
                 secrets from a live cluster)"
            )
        })?;
    let config: Value = serde_json::from_slice(&raw).map_err(|e| {
        format!(
            "its {key} is not JSON (at line {}, column {})",
            e.line(),
            e.column()
        )
    })?;
    let auths = if kind == DOCKER_CONFIG_JSON {
        &config["auths"]
    } else {
        &config
    };
    let Some(auths) = auths.as_object() else {
        return Err(format!("its {key} holds no `auths` object"));
    };
    let mut out = Vec::new();
    for (registry, entry) in auths {
        let from_auth = entry["auth"]
            .as_str()
            .filter(|a| !a.is_empty())
            .and_then(|a| {
                base64::engine::general_purpose::STANDARD
                    .decode(a.trim())
                    .ok()
            })
            .and_then(|b| String::from_utf8(b).ok())
            .and_then(|s| s.split_once(':').map(|(u, p)| (u.to_owned(), p.to_owned())));
        let (user, password) = match from_auth {
            Some(pair) => pair,
            None => (
                entry["username"].as_str().unwrap_or_default().to_owned(),
                entry["password"].as_str().unwrap_or_default().to_owned(),
            ),
        };
        if user.is_empty() && password.is_empty() {
            continue;
        }
        out.push((registry.clone(), user, password));
    }
    Ok(out)
}

/// A key or an image, as the kubelet compares them: host labels, port,
/// path.
#[derive(Debug, PartialEq, Eq)]
struct Parsed {
    labels: Vec<String>,
    port: String,
    path: String,
}

fn parse_key(key: &str) -> Option<Parsed> {
    let rest = key
        .trim()
        .trim_start_matches("https://")
        .trim_start_matches("http://");
    let (host, path) = match rest.split_once('/') {
        Some((h, p)) => (h, format!("/{p}")),
        None => (rest, String::new()),
    };
    // `/v1/` and `/v2/` mean the host itself (Docker's `ResolveAuthConfig`).
    let path = ["/v1", "/v2"]
        .iter()
        .find_map(|v| path.strip_prefix(v))
        .map(str::to_owned)
        .unwrap_or(path);
    let path = path.trim_end_matches('/').to_owned();
    let (host, port) = match host.rsplit_once(':') {
        Some((h, p)) if p.chars().all(|c| c.is_ascii_digit()) => (h, p.to_owned()),
        _ => (host, String::new()),
    };
    let host = host.to_ascii_lowercase();
    if host.is_empty() {
        return None;
    }
    let host = if DOCKER_HUB_ALIASES.contains(&host.as_str()) {
        "docker.io".to_owned()
    } else {
        host
    };
    Some(Parsed {
        labels: host.split('.').map(str::to_owned).collect(),
        port,
        path,
    })
}

/// `pattern` (one host label, `*` globs) matches `label`.
fn label_matches(pattern: &str, label: &str) -> bool {
    fn go(p: &[u8], l: &[u8]) -> bool {
        match p.split_first() {
            None => l.is_empty(),
            Some((b'*', rest)) => (0..=l.len()).any(|i| go(rest, &l[i..])),
            Some((c, rest)) => l.first() == Some(c) && go(rest, &l[1..]),
        }
    }
    go(pattern.as_bytes(), label.as_bytes())
}

/// How specific a matching key is: exact hosts before globs, longer paths
/// first.
fn specificity(key: &Parsed) -> (bool, usize, usize) {
    let globbed = key.labels.iter().any(|l| l.contains('*'));
    (!globbed, key.path.len(), key.labels.len())
}

/// Whether `key` (a pull secret's registry key) serves the image
/// `registry/repository`; its specificity when it does.
fn matches(key: &str, registry: &str, repository: &str) -> Option<(bool, usize, usize)> {
    let key = parse_key(key)?;
    let target = parse_key(&format!("{registry}/{repository}"))?;
    if key.labels.len() != target.labels.len()
        || key.port != target.port
        || !key
            .labels
            .iter()
            .zip(&target.labels)
            .all(|(p, l)| label_matches(p, l))
    {
        return None;
    }
    let prefix_ok = key.path.is_empty()
        || target.path == key.path
        || target.path.starts_with(&format!("{}/", key.path));
    prefix_ok.then(|| specificity(&key))
}

/// The credential of one Secret (`namespace/name`, already read) for the
/// image: the most specific matching entry, if any.
pub(crate) fn pick(
    secret_name: &str,
    entries: Vec<(String, String, String)>,
    registry: &str,
    repository: &str,
) -> Option<Credential> {
    entries
        .into_iter()
        .filter_map(|(key, user, password)| {
            matches(&key, registry, repository).map(|rank| (rank, key, user, password))
        })
        .max_by(|a, b| a.0.cmp(&b.0).then_with(|| b.1.cmp(&a.1)))
        .map(|(_, key, username, password)| Credential {
            username,
            password,
            source: format!("pull secret {secret_name} (entry {key})"),
        })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn b64(s: &str) -> String {
        base64::engine::general_purpose::STANDARD.encode(s)
    }

    fn secret(kind: &str, key: &str, config: &Value) -> Value {
        json!({"type": kind, "data": {key: b64(&config.to_string())}})
    }

    #[test]
    fn both_secret_types_and_both_entry_forms_are_read() {
        let config = json!({"auths": {
            "127.0.0.1:5000": {"auth": b64("alice:s3cr:et")},
            "ghcr.io": {"username": "bob", "password": "pw"},
            "empty.example": {"email": "x@example.com"},
        }});
        let mut got = entries(&secret(DOCKER_CONFIG_JSON, ".dockerconfigjson", &config)).unwrap();
        got.sort();
        assert_eq!(
            got,
            vec![
                ("127.0.0.1:5000".into(), "alice".into(), "s3cr:et".into()),
                ("ghcr.io".into(), "bob".into(), "pw".into()),
            ]
        );
        let legacy = json!({"quay.io": {"auth": b64("carol:pw2")}});
        assert_eq!(
            entries(&secret(DOCKER_CFG, ".dockercfg", &legacy)).unwrap(),
            vec![("quay.io".into(), "carol".into(), "pw2".into())]
        );
    }

    #[test]
    fn unusable_secrets_say_why_without_their_values() {
        let opaque = json!({"type": "Opaque", "data": {"password": b64("hunter2")}});
        let why = entries(&opaque).unwrap_err();
        assert!(why.contains("Opaque") && !why.contains("hunter2"), "{why}");
        let redacted = json!({"type": DOCKER_CONFIG_JSON, "data": {".dockerconfigjson": "<redacted: 120 bytes, sha256:ab12>"}});
        assert!(entries(&redacted).unwrap_err().contains("snapshot"));
        let missing = json!({"type": DOCKER_CONFIG_JSON, "data": {}});
        assert!(
            entries(&missing)
                .unwrap_err()
                .contains("no .dockerconfigjson")
        );
        let not_json = json!({"type": DOCKER_CONFIG_JSON, "data": {".dockerconfigjson": b64("{\"auths\": {\"x\": hunter2")}});
        let why = entries(&not_json).unwrap_err();
        assert!(
            why.contains("not JSON") && !why.contains("hunter2"),
            "{why}"
        );
    }

    fn choose(keys: &[&str], registry: &str, repository: &str) -> Option<String> {
        let entries = keys
            .iter()
            .map(|k| ((*k).to_owned(), "u".to_owned(), "p".to_owned()))
            .collect();
        pick("ns/s", entries, registry, repository).map(|c| c.source)
    }

    #[test]
    fn keys_match_as_the_kubelet_matches_them() {
        let src = |k: &str| Some(format!("pull secret ns/s (entry {k})"));
        // Exact host, with or without a scheme and /v1/ or /v2/.
        assert_eq!(
            choose(&["127.0.0.1:5000"], "127.0.0.1:5000", "shop/web"),
            src("127.0.0.1:5000")
        );
        assert_eq!(
            choose(&["https://ghcr.io/v2/"], "ghcr.io", "acme/api"),
            src("https://ghcr.io/v2/")
        );
        // The port must be the same.
        assert_eq!(choose(&["127.0.0.1"], "127.0.0.1:5000", "shop/web"), None);
        assert_eq!(
            choose(&["127.0.0.1:5001"], "127.0.0.1:5000", "shop/web"),
            None
        );
        // A glob covers one label, not more.
        assert_eq!(
            choose(&["*.example.com"], "reg.example.com", "a"),
            src("*.example.com")
        );
        assert_eq!(choose(&["*.example.com"], "a.reg.example.com", "a"), None);
        // A path is a prefix of whole components.
        assert_eq!(
            choose(&["ghcr.io/acme"], "ghcr.io", "acme/api"),
            src("ghcr.io/acme")
        );
        assert_eq!(choose(&["ghcr.io/acme"], "ghcr.io", "acmecorp/api"), None);
        // The most specific key wins: exact before glob, longer path first.
        assert_eq!(
            choose(
                &["*.example.com", "reg.example.com"],
                "reg.example.com",
                "a/b"
            ),
            src("reg.example.com")
        );
        assert_eq!(
            choose(
                &["ghcr.io", "ghcr.io/acme/api", "ghcr.io/acme"],
                "ghcr.io",
                "acme/api"
            ),
            src("ghcr.io/acme/api")
        );
        // Docker Hub's names are one registry.
        assert_eq!(
            choose(
                &["https://index.docker.io/v1/"],
                "registry-1.docker.io",
                "library/nginx"
            ),
            src("https://index.docker.io/v1/")
        );
        assert_eq!(
            choose(&["docker.io"], "registry-1.docker.io", "acme/api"),
            src("docker.io")
        );
        assert_eq!(
            choose(&["quay.io"], "registry-1.docker.io", "acme/api"),
            None
        );
    }

    #[test]
    fn a_credential_debug_hides_the_password() {
        let c = Credential {
            username: "alice".into(),
            password: "hunter2-secret".into(),
            source: "pull secret a/b (entry x)".into(),
        };
        let shown = format!("{c:?}");
        assert!(
            !shown.contains("hunter2") && shown.contains("pull secret a/b"),
            "{shown}"
        );
    }
}
