//! The built-in skills, compiled from `skills/*` to `wasm32-wasip2` by this
//! crate's build script and embedded in the binary, each with its manifest
//! (`sha256` of the embedded wasm filled in).
//!
//! Building this crate needs the `wasm32-wasip2` target
//! (`rustup target add wasm32-wasip2`). The nested build uses
//! `<workspace>/target/skills` (or `$GUARDIAN_SKILLS_TARGET_DIR`).

/// One built-in skill.
#[derive(Debug, Clone, Copy)]
pub struct BuiltinSkill {
    /// The skill's name, as in its manifest (`cluster`).
    pub name: &'static str,
    /// Its `skill.toml`, with `sha256` set to the hash of `wasm`.
    pub manifest: &'static str,
    /// The component.
    pub wasm: &'static [u8],
}

static ALL: &[BuiltinSkill] = include!(concat!(env!("OUT_DIR"), "/builtin_skills.rs"));

/// Every built-in skill.
pub fn all() -> &'static [BuiltinSkill] {
    ALL
}

/// The built-in skill called `name`.
pub fn get(name: &str) -> Option<&'static BuiltinSkill> {
    ALL.iter().find(|s| s.name == name)
}

#[cfg(test)]
mod tests {
    #[test]
    fn cluster_is_built_in_with_its_hash() {
        let skill = super::get("cluster").expect("the cluster skill");
        assert!(skill.wasm.starts_with(b"\0asm"), "a wasm binary");
        assert!(skill.manifest.contains("name = \"cluster\""));
        let sha = skill
            .manifest
            .lines()
            .find(|l| l.starts_with("sha256 = \""))
            .expect("a sha256 line");
        assert_eq!(sha.len(), "sha256 = \"\"".len() + 64);
    }

    #[test]
    fn rightsizing_is_built_in_with_the_metrics_grant() {
        let skill = super::get("rightsizing").expect("the rightsizing skill");
        assert!(skill.wasm.starts_with(b"\0asm"), "a wasm binary");
        assert!(skill.manifest.contains("name = \"rightsizing\""));
        assert!(skill.manifest.contains("\nmetrics = true\n"));
    }
}
