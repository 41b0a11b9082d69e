//! Where Guardian may fetch and push, and with what: the `gitops:` section
//! of the config file ([`GitOptions`]). Only paths to credential files are
//! held here; a token is read when a call needs it and never kept.

use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::{Deserialize, Deserializer};

use crate::BrokerError;

/// Default time one git command (or one forge request) may take.
pub const DEFAULT_GIT_TIMEOUT: Duration = Duration::from_secs(60);

/// The `gitops:` section: repositories and forges Guardian may reach.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct GitOptions {
    /// Repositories Guardian may fetch and push to, matched by URL prefix,
    /// each with its credential. A repository no entry matches is refused.
    pub repositories: Vec<RepositoryAccess>,
    /// Forges: where pull requests are opened for repositories under
    /// `repo_prefix`.
    pub forges: Vec<ForgeAccess>,
    /// Per git command and per forge request [default: 60 s]; in the config
    /// file, seconds.
    #[serde(deserialize_with = "seconds")]
    pub timeout: Duration,
    /// The commit author (`Guardian <guardian@localhost>` by default).
    pub author_name: String,
    pub author_email: String,
}

impl Default for GitOptions {
    fn default() -> Self {
        GitOptions {
            repositories: Vec::new(),
            forges: Vec::new(),
            timeout: DEFAULT_GIT_TIMEOUT,
            author_name: "Guardian".into(),
            author_email: "guardian@localhost".into(),
        }
    }
}

/// One repository prefix and the credential used for it.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RepositoryAccess {
    /// `http://127.0.0.1:9418/`, `https://github.com/acme/`.
    pub url_prefix: String,
    /// `None`: anonymous.
    #[serde(default)]
    pub credential: Option<GitCredential>,
}

/// How Git authenticates: a token file (HTTP basic auth, the token as the
/// password) or an SSH key file.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
#[serde(untagged, deny_unknown_fields)]
pub enum GitCredential {
    Token {
        token_file: PathBuf,
        #[serde(default = "default_username")]
        username: String,
    },
    SshKey {
        ssh_key_file: PathBuf,
        /// The server's host keys (`ssh-keyscan HOST`, checked): the host
        /// must be in it (or in `/etc/ssh/ssh_known_hosts`); an unknown host
        /// is refused, never trusted on first use.
        #[serde(default)]
        known_hosts_file: Option<PathBuf>,
    },
}

fn default_username() -> String {
    "x-access-token".into()
}

/// Which REST API a forge speaks.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ForgeKind {
    Github,
    Gitlab,
}

impl ForgeKind {
    pub fn name(self) -> &'static str {
        match self {
            ForgeKind::Github => "GitHub",
            ForgeKind::Gitlab => "GitLab",
        }
    }
}

/// A forge and the repositories it serves.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ForgeAccess {
    pub kind: ForgeKind,
    /// `https://api.github.com`, `https://gitlab.example.com/api/v4`.
    pub api_url: String,
    /// Repositories (URL prefix) this forge serves.
    pub repo_prefix: String,
    pub token_file: PathBuf,
}

fn seconds<'de, D: Deserializer<'de>>(d: D) -> Result<Duration, D::Error> {
    let secs = f64::deserialize(d)?;
    if !(secs > 0.0 && secs.is_finite()) {
        return Err(serde::de::Error::custom(
            "gitops.timeout must be a positive number of seconds",
        ));
    }
    Ok(Duration::from_secs_f64(secs))
}

/// A token from `path` (`key` names the config setting), trimmed. A missing
/// or empty file is an error naming the path, never the content.
pub(crate) fn read_token(path: &Path, key: &str) -> Result<String, BrokerError> {
    let text = std::fs::read_to_string(path).map_err(|e| {
        BrokerError::Invalid(format!(
            "cannot read the token file {} ({key}): {}",
            path.display(),
            e.kind()
        ))
    })?;
    let token = text.trim();
    if token.is_empty() {
        return Err(BrokerError::Invalid(format!(
            "the token file {} ({key}) is empty; put the token in it",
            path.display()
        )));
    }
    if token.contains(['\n', '\r']) {
        return Err(BrokerError::Invalid(format!(
            "the token file {} ({key}) holds more than one line; put only the token in it",
            path.display()
        )));
    }
    Ok(token.to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_config_section_reads_both_credential_shapes() {
        let yaml = r#"{
            "repositories": [
                {"url_prefix": "https://github.com/acme/", "credential": {"token_file": "/t"}},
                {"url_prefix": "ssh://git.example/", "credential": {"ssh_key_file": "/k"}},
                {"url_prefix": "http://127.0.0.1:1/", "credential": {"token_file": "/t", "username": "oauth2"}},
                {"url_prefix": "http://anon/"}
            ],
            "forges": [{"kind": "gitlab", "api_url": "http://x/api/v4", "repo_prefix": "http://x/", "token_file": "/f"}],
            "timeout": 5
        }"#;
        let o: GitOptions = serde_json::from_str(yaml).unwrap();
        assert_eq!(
            o.repositories[0].credential,
            Some(GitCredential::Token {
                token_file: "/t".into(),
                username: "x-access-token".into()
            })
        );
        assert_eq!(
            o.repositories[1].credential,
            Some(GitCredential::SshKey {
                ssh_key_file: "/k".into(),
                known_hosts_file: None,
            })
        );
        assert!(matches!(
            &o.repositories[2].credential,
            Some(GitCredential::Token { username, .. }) if username == "oauth2"
        ));
        assert_eq!(o.repositories[3].credential, None);
        assert_eq!(o.forges[0].kind, ForgeKind::Gitlab);
        assert_eq!(o.timeout, Duration::from_secs(5));
        assert_eq!(o.author_name, "Guardian");
        let err = serde_json::from_str::<GitOptions>(r#"{"timeout": 0}"#).unwrap_err();
        assert!(err.to_string().contains("gitops.timeout"), "{err}");
    }

    #[test]
    fn a_token_file_is_trimmed_and_an_empty_one_named_not_shown() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("tok");
        std::fs::write(&path, "  s3cr3t-value \n").unwrap();
        assert_eq!(read_token(&path, "k").unwrap(), "s3cr3t-value");
        std::fs::write(&path, " \n").unwrap();
        let err = read_token(&path, "gitops.forges[].token_file").unwrap_err();
        assert!(err.to_string().contains("is empty"), "{err}");
        assert!(err.to_string().contains(&path.display().to_string()));
        let err = read_token(&dir.path().join("missing"), "k").unwrap_err();
        assert!(err.to_string().contains("missing"), "{err}");
    }
}
