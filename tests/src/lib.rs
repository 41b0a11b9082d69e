//! Helpers for the end-to-end tests: where the test skills were built and
//! where their manifests are, and a loopback OpenAI-compatible server
//! replaying scripted conversations ([`openai`]); a real Prometheus loaded
//! with history written as OpenMetrics ([`prometheus`]); Argo CD's CRDs, a
//! stand-in for its application controller and Applications in given states
//! on the real API server ([`argocd`]); a loopback Git server over `git
//! http-backend` with token auth ([`git`]) and GitHub/GitLab REST doubles
//! ([`forge`]); headless Chromium through chromedriver for the web console
//! ([`browser`]).

use std::path::PathBuf;

pub mod alertmanager;
pub mod argocd;
pub mod browser;
pub mod flux;
pub mod forge;
pub mod generate;
pub mod git;
pub mod kube;
pub mod openai;
pub mod prometheus;
pub mod registry;
pub mod slack;
pub mod usage_history;

/// The directory holding `<name>.wasm` for every [`TEST_SKILLS`] entry, built
/// by `build.rs`.
pub const TEST_SKILLS_DIR: &str = env!("GUARDIAN_TEST_SKILLS");

/// The workspace root.
pub const REPO_ROOT: &str = env!("GUARDIAN_REPO_ROOT");

/// The test skills (and the example skill) built by `build.rs`: name and the
/// directory of its `skill.toml`, relative to [`REPO_ROOT`].
pub const TEST_SKILLS: &[(&str, &str)] = &[
    ("hostile", "tests/skills/hostile"),
    ("hostile-net", "tests/skills/hostile-net"),
    ("hostile-fs", "tests/skills/hostile-fs"),
    ("legacy-v0-1", "tests/skills/legacy-v0-1"),
    ("hello", "examples/skills/hello"),
];

/// The built component of test skill `name`.
pub fn skill_wasm(name: &str) -> PathBuf {
    PathBuf::from(TEST_SKILLS_DIR).join(format!("{name}.wasm"))
}

/// The source `skill.toml` of test skill `name` (without `sha256`).
pub fn skill_manifest(name: &str) -> PathBuf {
    let (_, dir) = TEST_SKILLS
        .iter()
        .find(|(n, _)| *n == name)
        .unwrap_or_else(|| panic!("no test skill {name}"));
    PathBuf::from(REPO_ROOT).join(dir).join("skill.toml")
}

/// `manifest` with its top-level `sha256` set to `hex` (replacing the
/// `# sha256 = …` placeholder), as the build does for the built-in skills.
pub fn set_sha256(manifest: &str, hex: &str) -> String {
    skill_build::set_sha256(manifest, hex)
}

#[allow(dead_code)]
mod skill_build {
    include!("../../host/builtin-skills/skill_build.rs");
}

#[cfg(test)]
mod tests {
    use super::set_sha256;

    #[test]
    fn sha256_replaces_the_placeholder_or_is_added_before_the_tables() {
        let hex = "ab".repeat(32);
        let placeholder = "name = \"x\"\n# sha256 = \"...\"   # filled in\n\n[grants]\nread = []\n";
        assert_eq!(
            set_sha256(placeholder, &hex),
            format!("name = \"x\"\nsha256 = \"{hex}\"\n\n[grants]\nread = []\n")
        );
        let stale = "name = \"x\"\nsha256 = \"00\"\n[grants]\n";
        assert_eq!(
            set_sha256(stale, &hex),
            format!("name = \"x\"\nsha256 = \"{hex}\"\n[grants]\n")
        );
        let missing = "name = \"x\"\n[grants]\n# sha256 = \"in a table: not ours\"\n";
        assert_eq!(
            set_sha256(missing, &hex),
            format!(
                "name = \"x\"\nsha256 = \"{hex}\"\n\n[grants]\n# sha256 = \"in a table: not ours\"\n"
            )
        );
    }

    #[test]
    fn test_skills_are_built() {
        for (name, _) in super::TEST_SKILLS {
            assert!(super::skill_wasm(name).is_file(), "{name}.wasm");
            assert!(super::skill_manifest(name).is_file(), "{name}/skill.toml");
        }
    }
}
