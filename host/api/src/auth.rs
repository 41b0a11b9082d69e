//! Who is calling: bearer tokens from a tokens file, each naming an
//! identity and a role; refusals are audited.
//!
//! ```yaml
//! # guardian serve --tokens-file tokens.yaml
//! tokens:
//!   - identity: ci-bot
//!     role: viewer                # viewer | operator | approver
//!     sha256: 9f86d081884c7d65…   # hex sha256 of the token (preferred)
//!   - identity: alice
//!     role: approver
//!     token: s3cr3t-token-value   # or the token itself
//! kubernetes:                     # with --token-review: tokens not listed
//!   audiences: []                 # above are checked by TokenReview, and
//!   roles:                        # get the highest role a rule gives
//!     - {user: "system:serviceaccount:ci:deployer", role: operator}
//!     - {group: "guardian-approvers", role: approver}
//! ```

use std::collections::HashMap;
use std::fmt;
use std::path::Path;
use std::sync::Arc;

use anyhow::Context;
use guardian_broker::Audit;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

/// What an identity may do. Each role includes the ones before it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Deserialize, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    /// List and call read tools, diagnose, ask, list and watch actions.
    Viewer,
    /// Also propose: propose tools, diagnose and ask with `propose`.
    Operator,
    /// Also approve (which applies) and reject actions.
    Approver,
}

impl Role {
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Viewer => "viewer",
            Role::Operator => "operator",
            Role::Approver => "approver",
        }
    }
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// An authenticated caller.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Identity {
    /// `alice`, `ci-bot`.
    pub name: String,
    pub role: Role,
}

impl Identity {
    /// The caller string policy and the audit log see for this identity on
    /// `channel` (`automation:ci-bot` for gRPC, `mcp:alice` for MCP).
    pub fn caller(&self, channel: Channel) -> String {
        format!("{}:{}", channel.caller_kind(), self.name)
    }

    /// `Ok` when the role is at least `needed`; else the refusal message.
    pub fn require(&self, needed: Role, what: &str) -> Result<(), String> {
        if self.role >= needed {
            Ok(())
        } else {
            Err(format!(
                "{what} needs the {needed} role; {} has the {} role",
                self.name, self.role
            ))
        }
    }
}

/// Where a call came in.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Channel {
    Grpc,
    Mcp,
    /// Alertmanager's webhook (`POST /alertmanager`): may propose, never
    /// approve.
    Alertmanager,
    /// Slack interactions (`POST /slack/interactions`).
    Slack,
    /// The web console (`/console/`).
    Web,
}

impl Channel {
    pub fn as_str(self) -> &'static str {
        match self {
            Channel::Grpc => "grpc",
            Channel::Mcp => "mcp",
            Channel::Alertmanager => "alertmanager",
            Channel::Slack => "slack",
            Channel::Web => "web",
        }
    }

    /// The caller kind policy sees (`policies/README.md`).
    pub fn caller_kind(self) -> &'static str {
        match self {
            Channel::Grpc => "automation",
            Channel::Mcp => "mcp",
            Channel::Alertmanager => "alertmanager",
            Channel::Slack => "slack",
            Channel::Web => "web",
        }
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct TokensFile {
    #[serde(default)]
    tokens: Vec<TokenEntry>,
    #[serde(default)]
    kubernetes: Option<KubeRules>,
}

/// Which role a Kubernetes user (by TokenReview) gets.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct KubeRules {
    /// The audiences the token must be valid for (empty: the API server's).
    #[serde(default)]
    pub audiences: Vec<String>,
    #[serde(default)]
    pub roles: Vec<KubeRule>,
}

/// One rule: a username or a group, and the role it gives.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct KubeRule {
    #[serde(default)]
    pub user: Option<String>,
    #[serde(default)]
    pub group: Option<String>,
    pub role: Role,
}

impl KubeRules {
    /// The highest role the rules give `user` with `groups`.
    pub fn role(&self, user: &str, groups: &[String]) -> Option<Role> {
        self.roles
            .iter()
            .filter(|r| {
                r.user.as_deref() == Some(user)
                    || r.group.as_ref().is_some_and(|g| groups.contains(g))
            })
            .map(|r| r.role)
            .max()
    }
}

/// A Kubernetes username as an identity: `system:serviceaccount:ci:deployer`
/// becomes `serviceaccount/ci/deployer` (an identity has no `:`).
pub fn kube_identity(user: &str) -> String {
    let user = user.strip_prefix("system:").unwrap_or(user);
    user.replace(':', "/")
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct TokenEntry {
    identity: String,
    role: Role,
    #[serde(default)]
    token: Option<String>,
    #[serde(default)]
    sha256: Option<String>,
}

/// The known tokens, by the sha256 of the token.
#[derive(Clone, Debug, Default)]
pub struct Tokens {
    by_hash: HashMap<[u8; 32], Identity>,
    /// The `kubernetes:` section, for TokenReview.
    pub kubernetes: Option<KubeRules>,
}

/// Why a call was refused before it ran.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Refusal {
    /// No credentials, or credentials nobody issued.
    Unauthenticated(String),
    /// Known caller, not allowed to do this.
    PermissionDenied(String),
}

impl Refusal {
    pub fn message(&self) -> &str {
        match self {
            Refusal::Unauthenticated(m) | Refusal::PermissionDenied(m) => m,
        }
    }
}

impl Tokens {
    /// Reads a tokens file (see the module docs). Every identity must be a
    /// plain name and every token at least 16 bytes.
    pub fn load(path: &Path) -> anyhow::Result<Self> {
        let text = std::fs::read_to_string(path)
            .with_context(|| format!("cannot read the tokens file {}", path.display()))?;
        Self::parse(&text).with_context(|| format!("tokens file {}", path.display()))
    }

    pub fn parse(text: &str) -> anyhow::Result<Self> {
        let file: TokensFile = serde_yaml::from_str(text)?;
        if let Some(k) = &file.kubernetes {
            for (i, r) in k.roles.iter().enumerate() {
                anyhow::ensure!(
                    r.user.is_some() != r.group.is_some(),
                    "kubernetes.roles[{i}]: give exactly one of user or group"
                );
            }
        }
        let mut by_hash = HashMap::new();
        for (i, e) in file.tokens.into_iter().enumerate() {
            let name = e.identity.trim();
            anyhow::ensure!(
                !name.is_empty()
                    && name.len() <= 128
                    && !name.contains(':')
                    && !name.chars().any(|c| c.is_control() || c.is_whitespace()),
                "tokens[{i}]: identity {:?} must be a plain name (no spaces, no `:`)",
                e.identity
            );
            let hash: [u8; 32] = match (&e.token, &e.sha256) {
                (Some(t), None) => {
                    anyhow::ensure!(
                        t.len() >= 16,
                        "tokens[{i}] ({name}): a token must be at least 16 characters"
                    );
                    Sha256::digest(t.as_bytes()).into()
                }
                (None, Some(h)) => hex::decode(h.trim())
                    .ok()
                    .and_then(|b| <[u8; 32]>::try_from(b).ok())
                    .with_context(|| {
                        format!("tokens[{i}] ({name}): sha256 must be 64 hex digits")
                    })?,
                _ => anyhow::bail!("tokens[{i}] ({name}): give exactly one of token or sha256"),
            };
            let identity = Identity {
                name: name.to_owned(),
                role: e.role,
            };
            anyhow::ensure!(
                by_hash.insert(hash, identity).is_none(),
                "tokens[{i}] ({name}): the same token is listed twice"
            );
        }
        Ok(Tokens {
            by_hash,
            kubernetes: file.kubernetes,
        })
    }

    /// Adds one token (tests, `--token-env`).
    pub fn insert(&mut self, token: &str, identity: Identity) {
        self.by_hash
            .insert(Sha256::digest(token.as_bytes()).into(), identity);
    }

    /// The role of the identity named `name` (its highest, if several
    /// tokens name it): how a Slack user mapped to `name` is authorised.
    pub fn role_of(&self, name: &str) -> Option<Role> {
        self.by_hash
            .values()
            .filter(|i| i.name == name)
            .map(|i| i.role)
            .max()
    }

    pub fn len(&self) -> usize {
        self.by_hash.len()
    }

    pub fn is_empty(&self) -> bool {
        self.by_hash.is_empty()
    }

    /// The bearer token of an `authorization` header value.
    pub fn bearer(header: Option<&str>) -> Result<&str, Refusal> {
        let Some(header) = header else {
            return Err(Refusal::Unauthenticated(
                "no credentials: send `authorization: Bearer <token>`".into(),
            ));
        };
        header
            .strip_prefix("Bearer ")
            .or_else(|| header.strip_prefix("bearer "))
            .map(str::trim)
            .filter(|t| !t.is_empty())
            .ok_or_else(|| {
                Refusal::Unauthenticated("the authorization header is not `Bearer <token>`".into())
            })
    }

    /// The identity an `authorization` header value names.
    pub fn authenticate(&self, header: Option<&str>) -> Result<Identity, Refusal> {
        let Some(header) = header else {
            return Err(Refusal::Unauthenticated(
                "no credentials: send `authorization: Bearer <token>`".into(),
            ));
        };
        let token = header
            .strip_prefix("Bearer ")
            .or_else(|| header.strip_prefix("bearer "))
            .map(str::trim)
            .filter(|t| !t.is_empty())
            .ok_or_else(|| {
                Refusal::Unauthenticated("the authorization header is not `Bearer <token>`".into())
            })?;
        // Looked up by hash: the comparison never runs over the secret.
        let hash: [u8; 32] = Sha256::digest(token.as_bytes()).into();
        self.by_hash
            .get(&hash)
            .cloned()
            .ok_or_else(|| Refusal::Unauthenticated("unknown or revoked token".into()))
    }
}

/// Authentication and the audit of what it refuses.
#[derive(Clone)]
pub struct Gate {
    pub tokens: Arc<Tokens>,
    pub audit: Arc<Audit>,
    /// TokenReview for tokens the file does not list (`--token-review`).
    pub reviewer: Option<Arc<Reviewer>>,
}

/// Checks tokens with the cluster's TokenReview API; answers are cached
/// for a minute (by the token's hash), refusals included.
pub struct Reviewer {
    broker: guardian_broker::Broker,
    rules: KubeRules,
    cache: std::sync::Mutex<HashMap<[u8; 32], Reviewed>>,
}

/// When a token was reviewed, and the answer.
type Reviewed = (std::time::Instant, Result<Identity, Refusal>);

impl Reviewer {
    /// Reviews tokens through `broker` (a live cluster), whose policy
    /// decides each TokenReview and whose audit log records it.
    pub fn new(broker: guardian_broker::Broker, rules: KubeRules) -> Self {
        Self {
            broker,
            rules,
            cache: Default::default(),
        }
    }

    async fn review(&self, token: &str) -> Result<Identity, Refusal> {
        const TTL: std::time::Duration = std::time::Duration::from_secs(60);
        let hash: [u8; 32] = Sha256::digest(token.as_bytes()).into();
        if let Some((at, answer)) = self
            .cache
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .get(&hash)
            && at.elapsed() < TTL
        {
            return answer.clone();
        }
        let answer = match self.broker.token_review(token, &self.rules.audiences).await {
            Ok(Some(guardian_broker::TokenUser { name: user, groups })) => {
                match self.rules.role(&user, &groups) {
                    Some(role) => Ok(Identity {
                        name: kube_identity(&user),
                        role,
                    }),
                    None => Err(Refusal::PermissionDenied(format!(
                        "the cluster authenticates the token as {user}, but the tokens file's kubernetes.roles give it no role"
                    ))),
                }
            }
            Ok(None) => Err(Refusal::Unauthenticated(
                "unknown or revoked token (not in the tokens file; TokenReview did not accept it)"
                    .into(),
            )),
            // Not cached: the next call asks again.
            Err(e) => {
                return Err(Refusal::Unauthenticated(format!(
                    "the token is not in the tokens file and TokenReview failed: {e}"
                )));
            }
        };
        let mut cache = self.cache.lock().unwrap_or_else(|p| p.into_inner());
        if cache.len() > 10_000 {
            cache.clear();
        }
        cache.insert(hash, (std::time::Instant::now(), answer.clone()));
        answer
    }
}

#[derive(Serialize)]
struct AccessRecord<'a> {
    time: String,
    event: &'static str,
    channel: &'a str,
    method: &'a str,
    caller: &'a str,
    decision: &'static str,
    reason: &'a str,
    /// The MCP session the request named, when that is what was refused.
    #[serde(skip_serializing_if = "Option::is_none")]
    session: Option<&'a str>,
}

impl Gate {
    /// Authenticates `header` for `method`: the tokens file, then (with a
    /// reviewer) TokenReview. A refusal is audited.
    pub async fn check(
        &self,
        channel: Channel,
        method: &str,
        header: Option<&str>,
    ) -> Result<Identity, Refusal> {
        let result = match (self.tokens.authenticate(header), &self.reviewer) {
            (Ok(id), _) => Ok(id),
            (Err(Refusal::Unauthenticated(_)), Some(reviewer))
                if Tokens::bearer(header).is_ok() =>
            {
                let token = Tokens::bearer(header).unwrap_or_default();
                reviewer.review(token).await
            }
            (Err(r), _) => Err(r),
        };
        result.inspect_err(|r| {
            self.refused(channel, method, "", None, r);
        })
    }

    /// Checks `identity` has `needed` for `method`; a refusal is audited.
    pub fn require(
        &self,
        channel: Channel,
        method: &str,
        identity: &Identity,
        needed: Role,
    ) -> Result<(), Refusal> {
        identity.require(needed, method).map_err(|m| {
            let r = Refusal::PermissionDenied(m);
            self.refused(channel, method, &identity.caller(channel), None, &r);
            r
        })
    }

    /// One `event: "access"` line in the audit log (`session`: the MCP
    /// session the refused request named, if that is the reason).
    pub fn refused(
        &self,
        channel: Channel,
        method: &str,
        caller: &str,
        session: Option<&str>,
        refusal: &Refusal,
    ) {
        crate::metrics::global().auth_refusal(
            channel.as_str(),
            match refusal {
                Refusal::Unauthenticated(_) => "unauthenticated",
                Refusal::PermissionDenied(_) => "permission-denied",
            },
        );
        tracing::warn!(
            channel = channel.as_str(),
            method,
            caller,
            session,
            reason = refusal.message(),
            "refused"
        );
        self.audit.record_event(&AccessRecord {
            time: chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Micros, true),
            event: "access",
            channel: channel.as_str(),
            method,
            caller,
            decision: match refusal {
                Refusal::Unauthenticated(_) => "unauthenticated",
                Refusal::PermissionDenied(_) => "permission-denied",
            },
            reason: refusal.message(),
            session,
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_by_value_and_by_hash() {
        let hash = hex::encode(Sha256::digest(b"0123456789abcdef-viewer"));
        let tokens = Tokens::parse(&format!(
            "tokens:\n  - {{identity: alice, role: approver, token: 0123456789abcdef-alice}}\n  - {{identity: bot, role: viewer, sha256: {hash}}}\n"
        ))
        .unwrap();
        let alice = tokens
            .authenticate(Some("Bearer 0123456789abcdef-alice"))
            .unwrap();
        assert_eq!(alice.role, Role::Approver);
        assert_eq!(alice.caller(Channel::Grpc), "automation:alice");
        let bot = tokens
            .authenticate(Some("Bearer 0123456789abcdef-viewer"))
            .unwrap();
        assert_eq!((bot.name.as_str(), bot.role), ("bot", Role::Viewer));
        assert!(bot.require(Role::Approver, "ApproveAction").is_err());
        assert!(matches!(
            tokens.authenticate(None),
            Err(Refusal::Unauthenticated(_))
        ));
        assert!(matches!(
            tokens.authenticate(Some("Bearer nope")),
            Err(Refusal::Unauthenticated(_))
        ));
        assert!(matches!(
            tokens.authenticate(Some("Basic abc")),
            Err(Refusal::Unauthenticated(_))
        ));
    }

    #[test]
    fn kubernetes_users_get_the_highest_role_a_rule_gives() {
        let tokens = Tokens::parse(
            "kubernetes:\n  roles:\n    - {user: 'system:serviceaccount:ci:deployer', role: operator}\n    - {group: ops, role: viewer}\n    - {group: approvers, role: approver}\n",
        )
        .unwrap();
        assert!(tokens.is_empty());
        let rules = tokens.kubernetes.unwrap();
        assert_eq!(
            rules.role("system:serviceaccount:ci:deployer", &["ops".into()]),
            Some(Role::Operator)
        );
        assert_eq!(
            rules.role("erin", &["ops".into(), "approvers".into()]),
            Some(Role::Approver)
        );
        assert_eq!(rules.role("mallory", &[]), None);
        assert_eq!(
            kube_identity("system:serviceaccount:ci:deployer"),
            "serviceaccount/ci/deployer"
        );
        assert_eq!(kube_identity("erin@example.com"), "erin@example.com");
        assert!(
            Tokens::parse("kubernetes:\n  roles:\n    - {role: viewer}\n").is_err(),
            "a rule without user or group"
        );
    }

    #[test]
    fn bad_files_are_refused() {
        for bad in [
            "tokens:\n  - {identity: alice, role: admin, token: 0123456789abcdef}\n",
            "tokens:\n  - {identity: 'human:alice', role: viewer, token: 0123456789abcdef}\n",
            "tokens:\n  - {identity: alice, role: viewer, token: short}\n",
            "tokens:\n  - {identity: alice, role: viewer}\n",
        ] {
            assert!(Tokens::parse(bad).is_err(), "{bad}");
        }
    }
}
