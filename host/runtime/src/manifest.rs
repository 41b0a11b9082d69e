//! `skill.toml`: who a skill is and what it asks for.

use std::collections::BTreeSet;

use serde::{Deserialize, Serialize};

use crate::bindings::{self, semver_lite::AbiVersion};
use crate::grants::Grants;

/// A parsed and validated skill manifest.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Manifest {
    pub name: String,
    pub version: String,
    pub abi: AbiVersion,
    pub description: String,
    /// Hex sha256 of `skill.wasm`; checked before anything is compiled.
    pub sha256: String,
    /// What the skill asks for. The effective grants are these intersected
    /// with the operator's.
    pub grants: Grants,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawManifest {
    name: String,
    version: String,
    abi: String,
    #[serde(default)]
    description: String,
    sha256: Option<String>,
    #[serde(default)]
    grants: RawGrants,
}

#[derive(Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawGrants {
    #[serde(default)]
    read: Vec<String>,
    #[serde(default)]
    propose: Vec<String>,
    #[serde(default)]
    metrics: bool,
}

impl Manifest {
    /// Parses `skill.toml` text. Every problem is reported as one message that
    /// names the field and says what is expected.
    pub fn parse(text: &str) -> Result<Self, String> {
        let raw: RawManifest = toml::from_str(text).map_err(|e| e.to_string().trim().to_owned())?;
        if !is_skill_name(&raw.name) {
            return Err(format!(
                "`name` = {:?}: a skill name is lowercase letters, digits and `-`, starting with a letter",
                raw.name
            ));
        }
        let abi = AbiVersion::parse(&raw.abi).ok_or_else(|| {
            format!(
                "`abi` = {:?}: expected a version such as \"0.2.0\"",
                raw.abi
            )
        })?;
        if !bindings::SUPPORTED.contains(&abi) {
            let known: Vec<String> = bindings::SUPPORTED.iter().map(|v| v.to_string()).collect();
            return Err(format!(
                "`abi` = {:?}: this Guardian supports guardian:skill {}; rebuild the skill against one of those or upgrade Guardian",
                raw.abi,
                known.join(", ")
            ));
        }
        let sha256 = raw
            .sha256
            .ok_or("`sha256` is missing: put the output of `sha256sum skill.wasm` in the manifest")?
            .to_ascii_lowercase();
        if sha256.len() != 64 || !sha256.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Err(format!(
                "`sha256` = {sha256:?}: expected 64 hex digits (the output of `sha256sum skill.wasm`)"
            ));
        }
        for resource in raw.grants.read.iter().chain(&raw.grants.propose) {
            if resource.trim().is_empty() || resource.contains(char::is_whitespace) {
                return Err(format!(
                    "grant {resource:?}: expected a resource name such as \"pods\", \"pods/log\" or \"deployments.apps\""
                ));
            }
        }
        Ok(Self {
            name: raw.name,
            version: raw.version,
            abi,
            description: raw.description,
            sha256,
            grants: Grants {
                read: raw.grants.read.into_iter().collect::<BTreeSet<_>>(),
                propose: raw.grants.propose.into_iter().collect::<BTreeSet<_>>(),
                metrics: raw.grants.metrics,
            },
        })
    }
}

pub(crate) fn is_skill_name(name: &str) -> bool {
    let mut chars = name.chars();
    matches!(chars.next(), Some('a'..='z'))
        && chars.all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
        && name.len() <= 63
}

#[cfg(test)]
mod tests {
    use super::*;

    const SHA: &str = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";

    fn manifest(extra: &str) -> String {
        format!(
            "name = \"demo\"\nversion = \"1.0.0\"\nabi = \"0.2.0\"\nsha256 = \"{SHA}\"\n{extra}"
        )
    }

    #[test]
    fn parses_grants() {
        let m = Manifest::parse(&manifest(
            "[grants]\nread = [\"pods\", \"pods/log\"]\npropose = [\"deployments.apps\"]\nmetrics = true\n",
        ))
        .unwrap();
        assert_eq!(m.abi, AbiVersion::new(0, 2));
        assert!(m.grants.read.contains("pods/log"));
        assert!(m.grants.propose.contains("deployments.apps"));
        assert!(m.grants.metrics);
    }

    #[test]
    fn refuses_unknown_abi_naming_supported_versions() {
        let err = Manifest::parse(&manifest("").replace("0.2.0", "1.0.0")).unwrap_err();
        assert!(
            err.contains("`abi`") && err.contains("0.1.0, 0.2.0"),
            "{err}"
        );
    }

    #[test]
    fn refuses_missing_or_malformed_sha() {
        let no_sha = manifest("").replace(&format!("sha256 = \"{SHA}\"\n"), "");
        assert!(
            Manifest::parse(&no_sha)
                .unwrap_err()
                .contains("`sha256` is missing")
        );
        let bad = manifest("").replace(SHA, "abc");
        assert!(Manifest::parse(&bad).unwrap_err().contains("64 hex digits"));
    }

    #[test]
    fn refuses_unknown_fields_and_bad_names() {
        let err = Manifest::parse(&manifest("[grants]\nwrite = [\"pods\"]\n")).unwrap_err();
        assert!(err.contains("write"), "{err}");
        let err = Manifest::parse(&manifest("").replace("\"demo\"", "\"Demo Skill\"")).unwrap_err();
        assert!(err.contains("`name`"), "{err}");
        assert!(Manifest::parse("name = ").is_err());
    }
}
