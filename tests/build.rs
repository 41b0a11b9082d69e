//! Compiles the test skills and the example skill to wasm32-wasip2 for the
//! end-to-end tests, with the same nested build as the built-in skills.
//!
//! Sets `GUARDIAN_TEST_SKILLS` (a directory with `<name>.wasm` for each of
//! [`TEST_SKILLS`]) and `GUARDIAN_REPO_ROOT`. The manifests stay in the source
//! tree.

use std::path::PathBuf;

#[allow(dead_code)]
mod skill_build {
    include!("../host/builtin-skills/skill_build.rs");
}
use skill_build::{SkillCrate, build_skills, watch_skill_sources};

const TEST_SKILLS: &[SkillCrate] = &[
    SkillCrate {
        name: "hostile",
        package: "test-skill-hostile",
        dir: "tests/skills/hostile",
    },
    SkillCrate {
        name: "hostile-net",
        package: "test-skill-hostile-net",
        dir: "tests/skills/hostile-net",
    },
    SkillCrate {
        name: "hostile-fs",
        package: "test-skill-hostile-fs",
        dir: "tests/skills/hostile-fs",
    },
    SkillCrate {
        name: "legacy-v0-1",
        package: "test-skill-legacy-v0-1",
        dir: "tests/skills/legacy-v0-1",
    },
    SkillCrate {
        name: "hello",
        package: "hello-skill",
        dir: "examples/skills/hello",
    },
];

fn main() {
    let manifest_dir =
        PathBuf::from(std::env::var_os("CARGO_MANIFEST_DIR").expect("CARGO_MANIFEST_DIR"));
    let workspace = manifest_dir
        .join("..")
        .canonicalize()
        .expect("the workspace root");
    let out = PathBuf::from(std::env::var_os("OUT_DIR").expect("OUT_DIR")).join("skills");
    std::fs::create_dir_all(&out).expect("create OUT_DIR/skills");

    watch_skill_sources(&workspace, TEST_SKILLS);
    for (skill, wasm) in TEST_SKILLS
        .iter()
        .zip(build_skills(&workspace, TEST_SKILLS))
    {
        let dest = out.join(format!("{}.wasm", skill.name));
        std::fs::copy(&wasm, &dest)
            .unwrap_or_else(|e| panic!("copy {} to {}: {e}", wasm.display(), dest.display()));
    }
    println!("cargo:rustc-env=GUARDIAN_TEST_SKILLS={}", out.display());
    println!("cargo:rustc-env=GUARDIAN_REPO_ROOT={}", workspace.display());
}
