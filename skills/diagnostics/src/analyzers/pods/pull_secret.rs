//! A private registry refusing an image pull (401/403) from a pod that has
//! no `imagePullSecrets`, while the namespace holds a registry credential
//! Secret (`kubernetes.io/dockerconfigjson` or `kubernetes.io/dockercfg`)
//! for that registry: the fix adds it to the pod template.
//!
//! Secret values reach the skill redacted (`<redacted: N bytes, …>`), so
//! the registry a credential is for is read from what stays visible: the
//! Secret's name, labels and annotations. When none of them names the
//! registry and the namespace has exactly one such Secret, it is proposed
//! with that said.

use serde_json::{Value, json};

use crate::ctx::name_of;
use crate::finding::{Evidence, Source};
use crate::fix;
use crate::model::Container;

use super::diagnosis::Diagnosis;
use super::events::EventIndex;

/// Host labels too common to tell registries apart.
const GENERIC: &[&str] = &[
    "com",
    "io",
    "net",
    "org",
    "dev",
    "cloud",
    "example",
    "www",
    "docker",
    "registry",
    "cr",
    "pkg",
    "azurecr",
    "amazonaws",
    "ecr",
    "dkr",
];

impl<'a> Diagnosis<'a, '_> {
    /// When the pull is refused for credentials and the pod has none: the
    /// credential Secret to add, as a sentence for the root cause (and the
    /// fix); `None` when there is nothing to add.
    pub(super) fn pull_secret(
        &mut self,
        events: &EventIndex,
        c: &Container,
        image: &str,
    ) -> Option<String> {
        let refused = events
            .of("Pod", &self.rep.metadata.name)
            .iter()
            .rev()
            .filter(|e| e.reason.as_deref() == Some("Failed"))
            .filter_map(|e| e.message.as_deref())
            .find(|m| m.contains("pull"))
            .is_some_and(refused_for_credentials);
        if !refused || !self.rep.spec.image_pull_secrets.is_empty() {
            return None;
        }
        let host = registry_of(image);
        let candidates: Vec<&Value> = self
            .scope
            .objects("secrets")
            .iter()
            .filter(|s| {
                matches!(
                    s["type"].as_str(),
                    Some("kubernetes.io/dockerconfigjson") | Some("kubernetes.io/dockercfg")
                )
            })
            .collect();
        if candidates.is_empty() {
            return Some(format!(
                "the pod has no imagePullSecrets and namespace {} holds no kubernetes.io/dockerconfigjson Secret for `{host}`: create one (`kubectl create secret docker-registry`) and reference it",
                self.scope.namespace
            ));
        }
        let scored: Vec<(usize, &Value, String)> = candidates
            .iter()
            .filter_map(|s| names_registry(s, &host).map(|(score, why)| (score, *s, why)))
            .collect();
        let best = scored.iter().map(|(s, _, _)| *s).max();
        let top: Vec<&(usize, &Value, String)> =
            scored.iter().filter(|(s, _, _)| Some(*s) == best).collect();
        let (secret, why) = match (top.as_slice(), candidates.as_slice()) {
            ([(_, s, why)], _) => (*s, why.clone()),
            ([], [only]) => (
                *only,
                format!(
                    "it is the only registry credential Secret in namespace {}; its registry cannot be confirmed because Secret values are redacted",
                    self.scope.namespace
                ),
            ),
            _ => {
                let names: Vec<&str> = candidates.iter().map(|s| name_of(s)).collect();
                return Some(format!(
                    "the pod has no imagePullSecrets; namespace {} holds the registry credential Secrets {}, and which one is for `{host}` cannot be told from their names",
                    self.scope.namespace,
                    names.join(", ")
                ));
            }
        };
        let name = name_of(secret).to_string();
        let key = secret["data"]
            .as_object()
            .and_then(|d| d.keys().next().cloned())
            .unwrap_or_default();
        self.finding.evidence.push(Evidence::new(
            Source::Config,
            format!("Secret {}/{name}", self.scope.namespace),
            format!(
                "type {}, key `{key}` (value redacted); {why}",
                secret["type"].as_str().unwrap_or("")
            ),
        ));
        if let Some(t) = self.template
            && let Some((cpath, _)) = t.container(&c.name)
        {
            let spec = t.spec();
            let entry = json!({"name": name});
            let mut ops = vec![
                fix::test(&format!("{cpath}/name"), c.name.as_str()),
                fix::test(&format!("{cpath}/image"), image),
            ];
            ops.push(if spec["imagePullSecrets"].is_array() {
                fix::add(&format!("{}/imagePullSecrets/-", t.prefix), entry)
            } else {
                fix::add(
                    &format!("{}/imagePullSecrets", t.prefix),
                    Value::Array(vec![entry]),
                )
            });
            if let Some(f) = self.template_fix(
                ops,
                format!(
                    "Add the registry credential Secret `{name}` to the pod's imagePullSecrets, so the kubelet authenticates to `{host}`"
                ),
            ) {
                self.fixes.push(f);
            }
        }
        Some(format!(
            "so the kubelet pulls from `{host}` anonymously, while Secret `{name}` ({}) in the namespace holds a registry credential for it ({why})",
            secret["type"].as_str().unwrap_or("")
        ))
    }
}

/// A pull refused for missing or wrong credentials (HTTP 401/403).
fn refused_for_credentials(message: &str) -> bool {
    let m = message.to_ascii_lowercase();
    [
        "401 unauthorized",
        "403 forbidden",
        "unauthorized",
        "authentication required",
        "authorization failed",
        "pull access denied",
        "denied: ",
        "no basic auth credentials",
    ]
    .iter()
    .any(|k| m.contains(k))
}

/// The registry host of an image reference (`docker.io` when it names none).
pub(super) fn registry_of(image: &str) -> String {
    match image.split_once('/') {
        Some((first, _)) if first.contains('.') || first.contains(':') || first == "localhost" => {
            first.to_ascii_lowercase()
        }
        _ => "docker.io".into(),
    }
}

/// Whether Secret `s` names registry `host` in what stays visible (name,
/// labels, annotations): a score (higher is surer) and why.
fn names_registry(s: &Value, host: &str) -> Option<(usize, String)> {
    let name = name_of(s).to_ascii_lowercase();
    let bare = host.split(':').next().unwrap_or(host);
    let meta = &s["metadata"];
    for field in ["annotations", "labels"] {
        if let Some(map) = meta[field].as_object() {
            for (k, v) in map {
                if v.as_str()
                    .is_some_and(|v| v.to_ascii_lowercase().contains(bare))
                {
                    return Some((3, format!("its {field} `{k}` names `{bare}`")));
                }
            }
        }
    }
    let dashed = bare.replace(['.', ':'], "-");
    if name.contains(&dashed) || name.contains(bare) {
        return Some((2, format!("its name contains the registry host `{bare}`")));
    }
    let words: Vec<&str> = name.split(['-', '.', '_']).collect();
    let distinctive: Vec<&str> = bare
        .split(['.', '-'])
        .filter(|l| l.len() > 2 && !GENERIC.contains(l))
        .collect();
    distinctive.iter().find(|l| words.contains(l)).map(|l| {
        (
            1,
            format!("its name names the registry (`{l}` of `{bare}`)"),
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn registries_and_names() {
        assert_eq!(registry_of("ghcr.io/acme/ledger:1.8.2"), "ghcr.io");
        assert_eq!(registry_of("library/redis:7"), "docker.io");
        assert_eq!(
            registry_of("harbor.corp.example.net:5000/p/x"),
            "harbor.corp.example.net:5000"
        );
        let s = json!({"metadata": {"name": "harbor-robot-payments"}});
        assert_eq!(names_registry(&s, "harbor.corp.example.net").unwrap().0, 1);
        let s = json!({"metadata": {"name": "dockerhub-mirror"}});
        assert!(names_registry(&s, "harbor.corp.example.net").is_none());
        let s = json!({"metadata": {"name": "regcred", "annotations": {"registry": "https://ghcr.io"}}});
        assert_eq!(names_registry(&s, "ghcr.io").unwrap().0, 3);
        assert!(refused_for_credentials(
            "failed to authorize: failed to fetch anonymous token: unexpected status from GET request to https://ghcr.io/token?scope=x: 401 Unauthorized"
        ));
        assert!(!refused_for_credentials(
            "failed to resolve reference: not found"
        ));
    }
}
