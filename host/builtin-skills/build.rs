//! Compiles the built-in skills to wasm32-wasip2 and embeds them: for each,
//! `OUT_DIR/<name>.wasm`, `OUT_DIR/<name>.skill.toml` (its `skill.toml` with
//! `sha256` filled in) and an entry in `OUT_DIR/builtin_skills.rs`.

use std::fmt::Write as _;
use std::path::PathBuf;

use sha2::{Digest, Sha256};

#[allow(dead_code)]
mod skill_build {
    include!("skill_build.rs");
}
use skill_build::{SkillCrate, build_skills, set_sha256, watch_skill_sources};

/// The built-in skills. Adding one is one line here (and a crate with a
/// `skill.toml` under `skills/`).
const BUILTIN: &[SkillCrate] = &[
    SkillCrate {
        name: "argocd",
        package: "guardian-skill-argocd",
        dir: "skills/argocd",
    },
    SkillCrate {
        name: "cluster",
        package: "guardian-skill-cluster",
        dir: "skills/cluster",
    },
    SkillCrate {
        name: "diagnostics",
        package: "guardian-skill-diagnostics",
        dir: "skills/diagnostics",
    },
    SkillCrate {
        name: "patch",
        package: "guardian-skill-patch",
        dir: "skills/patch",
    },
    SkillCrate {
        name: "rightsizing",
        package: "guardian-skill-rightsizing",
        dir: "skills/rightsizing",
    },
];

fn main() {
    let manifest_dir =
        PathBuf::from(std::env::var_os("CARGO_MANIFEST_DIR").expect("CARGO_MANIFEST_DIR"));
    let workspace = manifest_dir
        .join("../..")
        .canonicalize()
        .expect("the workspace root");
    let out_dir = PathBuf::from(std::env::var_os("OUT_DIR").expect("OUT_DIR"));

    watch_skill_sources(&workspace, BUILTIN);
    let built = build_skills(&workspace, BUILTIN);

    let mut entries = String::from("&[\n");
    for (skill, wasm_path) in BUILTIN.iter().zip(built) {
        let wasm =
            std::fs::read(&wasm_path).unwrap_or_else(|e| panic!("{}: {e}", wasm_path.display()));
        let sha = hex::encode(Sha256::digest(&wasm));
        let manifest_src = workspace.join(skill.dir).join("skill.toml");
        let manifest = std::fs::read_to_string(&manifest_src)
            .unwrap_or_else(|e| panic!("{}: {e}", manifest_src.display()));

        let wasm_out = out_dir.join(format!("{}.wasm", skill.name));
        let manifest_out = out_dir.join(format!("{}.skill.toml", skill.name));
        std::fs::write(&wasm_out, &wasm).expect("write the wasm into OUT_DIR");
        std::fs::write(&manifest_out, set_sha256(&manifest, &sha))
            .expect("write the manifest into OUT_DIR");
        writeln!(
            entries,
            "    BuiltinSkill {{ name: {:?}, manifest: include_str!({:?}), wasm: include_bytes!({:?}) }},",
            skill.name,
            manifest_out.display().to_string(),
            wasm_out.display().to_string(),
        )
        .unwrap();
    }
    entries.push_str("]\n");
    std::fs::write(out_dir.join("builtin_skills.rs"), entries).expect("write builtin_skills.rs");
}
