//! Image registries, through the broker like every other read: the tags of
//! an image's repository from the OCI Distribution API ([`client`]), and
//! which tag to suggest for a broken one ([`suggest_tags`]).
//!
//! A tags read is decided by policy as a `get` of the pseudo-resource
//! `tags.registry.guardian.dev` named `HOST/REPOSITORY`, and its audit line
//! records the registry, the repository, the pull secrets used and the
//! outcome (tags, pages, or the error). Only the hosts the configuration
//! lists ([`RegistryOptions::allowed_hosts`]) are asked; any other is
//! refused before a connection is made. Credentials come from the pod's
//! image pull secrets, which the broker reads itself (each a decided and
//! audited `get` of `secrets`) and chooses as the kubelet does
//! ([`credentials`]); they reach only the registry and its token service —
//! never an answer, a message, a log or an audit line.

mod client;
mod credentials;
mod reference;
mod suggest;

use std::path::PathBuf;
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use serde::{Deserialize, Serialize};

pub use reference::DOCKER_HUB;
pub use suggest::{TagSuggestion, suggest_tags};

use crate::gate::Request;
use crate::{Broker, BrokerError, CallContext, Permit, ResourceKind};
use credentials::Credential;

/// The pseudo-resource policy decides tags reads on.
pub const REGISTRY_GROUP: &str = "registry.guardian.dev";
/// Its plural: the grant name is `tags.registry.guardian.dev`.
pub const TAGS_RESOURCE: &str = "tags";

/// Default timeout of one registry request.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(15);
/// Default bound on the pages of one tags list.
pub const DEFAULT_MAX_PAGES: usize = 50;
/// Default page size asked for (`?n=`).
pub const DEFAULT_PAGE_SIZE: usize = 100;

/// What policy sees for a tags read.
pub fn tags_kind() -> ResourceKind {
    ResourceKind {
        group: REGISTRY_GROUP.into(),
        version: "v1".into(),
        kind: "RegistryTags".into(),
        plural: TAGS_RESOURCE.into(),
        singular: "tags".into(),
        short_names: Vec::new(),
        namespaced: false,
        verbs: vec!["get".into()],
    }
}

/// Which registries Guardian may ask, and how: the `registries:` section of
/// the config file.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize, Serialize)]
#[serde(default, deny_unknown_fields)]
pub struct RegistryOptions {
    /// Registry hosts Guardian may ask, `host[:port]` (e.g. `ghcr.io`,
    /// `127.0.0.1:5000`; Docker Hub as `docker.io`).
    pub allowed_hosts: Vec<String>,
    /// Hosts spoken to over plain http (loopback test registries); https
    /// otherwise.
    pub insecure_http_hosts: Vec<String>,
    /// Extra CA bundle (PEM file) for registries with a private CA.
    pub ca_file: Option<PathBuf>,
    /// One request's timeout: seconds, or text like `15s`, `500ms`, `2m`
    /// [default: 15 s].
    #[serde(with = "duration")]
    pub timeout: Duration,
    /// Tags pages followed via `Link: <…>; rel="next"` [default: 50].
    pub max_pages: usize,
    /// Tags asked for per page (`?n=`) [default: 100].
    pub page_size: usize,
}

impl Default for RegistryOptions {
    fn default() -> Self {
        RegistryOptions {
            allowed_hosts: Vec::new(),
            insecure_http_hosts: Vec::new(),
            ca_file: None,
            timeout: DEFAULT_TIMEOUT,
            max_pages: DEFAULT_MAX_PAGES,
            page_size: DEFAULT_PAGE_SIZE,
        }
    }
}

/// A duration as seconds (`15`, `1.5`) or text (`15s`, `500ms`, `2m`).
mod duration {
    use std::time::Duration;

    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_f64(d.as_secs_f64())
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Duration, D::Error> {
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum Raw {
            Seconds(f64),
            Text(String),
        }
        let bad = |what: &str| {
            serde::de::Error::custom(format!(
                "registries.timeout {what:?} is not a duration: give seconds (15) or text like \
                 15s, 500ms, 2m"
            ))
        };
        let seconds = match Raw::deserialize(d)? {
            Raw::Seconds(s) => s,
            Raw::Text(t) => {
                let t = t.trim();
                let (number, scale) = if let Some(n) = t.strip_suffix("ms") {
                    (n, 0.001)
                } else if let Some(n) = t.strip_suffix('s') {
                    (n, 1.0)
                } else if let Some(n) = t.strip_suffix('m') {
                    (n, 60.0)
                } else {
                    (t, 1.0)
                };
                number.trim().parse::<f64>().map_err(|_| bad(t))? * scale
            }
        };
        if !(seconds.is_finite() && seconds > 0.0 && seconds <= 3600.0) {
            return Err(bad(&seconds.to_string()));
        }
        Ok(Duration::from_secs_f64(seconds))
    }
}

/// The tags of an image's repository.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct RegistryTags {
    /// `host[:port]`; Docker Hub as [`DOCKER_HUB`].
    pub registry: String,
    pub repository: String,
    /// In the order the registry listed them.
    pub tags: Vec<String>,
    /// The pages read.
    pub pages: usize,
    /// Whether the registry was asked with a pull secret's credentials.
    pub authenticated: bool,
    /// More pages were there than `registries.max_pages`: `tags` holds the
    /// first pages only.
    pub truncated: bool,
}

/// The registry options of a broker and its HTTP client (built on first
/// use).
#[derive(Default)]
pub(crate) struct RegistryState {
    options: RegistryOptions,
    client: OnceLock<Result<reqwest::Client, BrokerError>>,
}

impl RegistryState {
    fn client(&self) -> Result<&reqwest::Client, BrokerError> {
        self.client
            .get_or_init(|| client_for(&self.options))
            .as_ref()
            .map_err(Clone::clone)
    }
}

fn client_for(options: &RegistryOptions) -> Result<reqwest::Client, BrokerError> {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let mut builder = reqwest::Client::builder()
        .connect_timeout(Duration::from_secs(10).min(options.timeout))
        .redirect(reqwest::redirect::Policy::none())
        .no_proxy();
    if let Some(path) = &options.ca_file {
        let pem = std::fs::read(path).map_err(|e| {
            BrokerError::Invalid(format!(
                "cannot read the registry CA file {} (registries.ca_file): {e}",
                path.display()
            ))
        })?;
        let certs = reqwest::Certificate::from_pem_bundle(&pem).map_err(|e| {
            BrokerError::Invalid(format!(
                "the registry CA file {} (registries.ca_file) holds no usable PEM certificate: {e}",
                path.display()
            ))
        })?;
        if certs.is_empty() {
            return Err(BrokerError::Invalid(format!(
                "the registry CA file {} (registries.ca_file) holds no PEM certificate",
                path.display()
            )));
        }
        for cert in certs {
            builder = builder.add_root_certificate(cert);
        }
    }
    builder
        .build()
        .map_err(|e| BrokerError::Invalid(format!("cannot build the registry client: {e}")))
}

/// `host` is one of `list` (case-insensitive; Docker Hub by any of its
/// names).
fn listed(list: &[String], host: &str) -> bool {
    let hub = |h: &str| reference::DOCKER_HUB_ALIASES.contains(&h);
    let host = host.to_ascii_lowercase();
    list.iter().any(|entry| {
        let entry = entry
            .trim()
            .trim_start_matches("https://")
            .trim_start_matches("http://")
            .trim_end_matches('/')
            .to_ascii_lowercase();
        entry == host || (hub(&entry) && hub(&host))
    })
}

impl Broker {
    /// This broker with the registries `options` allows.
    pub fn with_registries(mut self, options: RegistryOptions) -> Broker {
        self.registry = Arc::new(RegistryState {
            options,
            client: OnceLock::new(),
        });
        self
    }

    /// Tags of `image`'s repository (`image` as in a pod spec:
    /// `host[:port]/path/name[:tag|@digest]`; Docker Hub short names
    /// normalised to `registry-1.docker.io/library/…`), every page up to
    /// `registries.max_pages`.
    ///
    /// `pull_secrets`: the pod's `imagePullSecrets` in `namespace`; the
    /// broker reads those `kubernetes.io/dockerconfigjson` (and legacy
    /// `kubernetes.io/dockercfg`) Secrets itself (each decided and audited
    /// as a `get` of `secrets`), picks the credentials for the registry as
    /// the kubelet does, and never returns or logs them. A pull secret that
    /// does not exist, or holds nothing for this registry, is passed over
    /// (said in the audit line), as the kubelet passes it over.
    pub async fn registry_tags(
        &self,
        cx: &CallContext,
        image: &str,
        namespace: &str,
        pull_secrets: &[String],
    ) -> Result<RegistryTags, BrokerError> {
        let image_ref = reference::parse(image)?;
        let name = image_ref.name();
        let kind = tags_kind();
        let req = Request::new("get", &kind, None, &name);
        let (permit, started) = self.authorize(cx, &req).await?;
        let mut reasons = vec![
            format!("allowed by {}", permit.rule()),
            format!(
                "registry {} repository {}",
                image_ref.registry, image_ref.repository
            ),
        ];
        let result = self
            .read_tags(
                cx,
                &permit,
                &image_ref,
                namespace,
                pull_secrets,
                &mut reasons,
            )
            .await;
        match &result {
            Ok(t) => reasons.push(format!(
                "answered {} tags in {} pages{}",
                t.tags.len(),
                t.pages,
                if t.truncated {
                    format!(
                        "; cut at registries.max_pages ({}): more pages were there",
                        self.registry.options.max_pages
                    )
                } else {
                    String::new()
                }
            )),
            Err(e) => reasons.push(format!(
                "failed: {}",
                crate::gate::truncate(e.message(), 600)
            )),
        }
        let error = result.as_ref().err().map(BrokerError::kind_str);
        self.audit(cx, &req, "allow", permit.rule(), &reasons, error, started);
        result
    }

    async fn read_tags(
        &self,
        cx: &CallContext,
        permit: &Permit,
        image: &reference::Reference,
        namespace: &str,
        pull_secrets: &[String],
        reasons: &mut Vec<String>,
    ) -> Result<RegistryTags, BrokerError> {
        let resource = &permit.input().resource;
        if permit.verb() != "get"
            || resource.group != REGISTRY_GROUP
            || resource.resource != TAGS_RESOURCE
            || permit.input().name != image.name()
        {
            return Err(BrokerError::Internal(format!(
                "a permit for {} {} {} was used for the tags of {}",
                permit.verb(),
                resource.grant,
                permit.input().name,
                image.name()
            )));
        }
        let options = &self.registry.options;
        if !listed(&options.allowed_hosts, &image.registry) {
            let hub = if image.is_docker_hub() {
                " (Docker Hub: docker.io)"
            } else {
                ""
            };
            return Err(BrokerError::Denied(format!(
                "registry {}{hub} is not in registries.allowed_hosts, so Guardian does not ask it \
                 for the tags of {}; add it to registries.allowed_hosts in the config file to \
                 allow it",
                image.registry, image.repository
            )));
        }
        let client = self.registry.client()?;
        let credentials = self
            .pull_credentials(cx, image, namespace, pull_secrets, reasons)
            .await?;
        let scheme = if listed(&options.insecure_http_hosts, &image.registry) {
            "http"
        } else {
            "https"
        };
        let lister = client::Lister {
            client,
            options,
            target: client::Target {
                scheme,
                registry: &image.registry,
                repository: &image.repository,
            },
        };
        let listing = lister.list(&credentials).await?;
        reasons.push(listing.auth_note.clone());
        Ok(RegistryTags {
            registry: image.registry.clone(),
            repository: image.repository.clone(),
            tags: listing.tags,
            pages: listing.pages,
            authenticated: listing.authenticated,
            truncated: listing.truncated,
        })
    }

    /// The credentials of the pull secrets for `image`, in the pod's order
    /// (one per Secret: its most specific matching entry).
    async fn pull_credentials(
        &self,
        cx: &CallContext,
        image: &reference::Reference,
        namespace: &str,
        pull_secrets: &[String],
        reasons: &mut Vec<String>,
    ) -> Result<Vec<Credential>, BrokerError> {
        let mut found = Vec::new();
        if pull_secrets.is_empty() {
            return Ok(found);
        }
        let secrets = self.backend.resolve("secrets").await?;
        let match_host = if image.is_docker_hub() {
            "docker.io"
        } else {
            image.registry.as_str()
        };
        for name in pull_secrets {
            let shown = format!("{namespace}/{name}");
            let req = Request::new("get", &secrets, Some(namespace), name).noting(
                "an image pull secret, read for a registry's tags; its value stays in the broker",
            );
            let read = self
                .call(
                    cx,
                    &req,
                    async |permit| {
                        self.backend
                            .get(permit, &secrets, Some(namespace), name)
                            .await
                    },
                    |_| {},
                )
                .await;
            let secret = match read {
                Ok(secret) => secret,
                Err(BrokerError::NotFound(_)) => {
                    reasons.push(format!("pull secret {shown}: not found; passed over"));
                    continue;
                }
                Err(e) => {
                    return Err(match e {
                        BrokerError::Denied(m) => BrokerError::Denied(format!(
                            "the pull secret {shown} may not be read, so the credentials for {} \
                             are unknown: {m}",
                            image.registry
                        )),
                        other => other,
                    });
                }
            };
            match credentials::entries(&secret) {
                Err(why) => reasons.push(format!("pull secret {shown}: {why}; passed over")),
                Ok(entries) => {
                    match credentials::pick(&shown, entries, match_host, &image.repository) {
                        Some(c) => {
                            reasons.push(format!("credentials: {}", c.source));
                            found.push(c);
                        }
                        None => reasons.push(format!(
                            "pull secret {shown}: no entry for {}; passed over",
                            image.registry
                        )),
                    }
                }
            }
        }
        Ok(found)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn options_read_from_config_text() {
        let o: RegistryOptions = serde_yaml::from_str(
            "allowed_hosts: [ghcr.io, '127.0.0.1:5000']\ninsecure_http_hosts: ['127.0.0.1:5000']\ntimeout: 2s\n",
        )
        .unwrap();
        assert_eq!(o.timeout, Duration::from_secs(2));
        assert_eq!(o.max_pages, DEFAULT_MAX_PAGES);
        assert_eq!(o.allowed_hosts.len(), 2);
        let o: RegistryOptions = serde_yaml::from_str("timeout: 500ms").unwrap();
        assert_eq!(o.timeout, Duration::from_millis(500));
        let o: RegistryOptions = serde_yaml::from_str("timeout: 3").unwrap();
        assert_eq!(o.timeout, Duration::from_secs(3));
        let e = serde_yaml::from_str::<RegistryOptions>("timeout: soon").unwrap_err();
        assert!(e.to_string().contains("registries.timeout"), "{e}");
        let e = serde_yaml::from_str::<RegistryOptions>("alowed_hosts: []").unwrap_err();
        assert!(e.to_string().contains("alowed_hosts"), "{e}");
        assert_eq!(RegistryOptions::default().timeout, DEFAULT_TIMEOUT);
    }

    #[test]
    fn hosts_are_listed_by_name_and_docker_hub_by_any_of_its_names() {
        let list = vec![
            "GHCR.io".to_owned(),
            "docker.io".to_owned(),
            "127.0.0.1:5000".to_owned(),
        ];
        assert!(listed(&list, "ghcr.io"));
        assert!(listed(&list, DOCKER_HUB));
        assert!(listed(&list, "127.0.0.1:5000"));
        assert!(!listed(&list, "127.0.0.1:5001"));
        assert!(!listed(&list, "127.0.0.1"));
        assert!(!listed(&list, "ghcr.io.evil.example"));
    }
}
