// Compiling skill crates to wasm32-wasip2 from a build script, by a nested
// `cargo build`. The one source of truth for `host/builtin-skills/build.rs` and
// `tests/build.rs` (and `tests/src/lib.rs`, for `set_sha256`), which include it
// as a module: `#[allow(dead_code)] mod skill_build { include!("…"); }`.

use std::path::{Path, PathBuf};
use std::process::Command;

/// A skill crate of the workspace.
pub struct SkillCrate {
    /// The skill's name (its `skill.toml` `name`), used for output file names.
    pub name: &'static str,
    /// The cargo package.
    pub package: &'static str,
    /// The crate's directory relative to the workspace root; `skill.toml` is in it.
    pub dir: &'static str,
}

/// Where the nested build puts its artifacts: its own target directory, so it
/// never waits for the lock of the outer build's.
pub fn skills_target_dir(workspace: &Path) -> PathBuf {
    println!("cargo:rerun-if-env-changed=GUARDIAN_SKILLS_TARGET_DIR");
    match std::env::var_os("GUARDIAN_SKILLS_TARGET_DIR") {
        Some(dir) if !dir.is_empty() => PathBuf::from(dir),
        _ => workspace.join("target").join("skills"),
    }
}

/// Asks cargo to rerun the build script when the sources of `skills` (or the
/// SDK, the WIT, the lock file or the workspace manifest) change.
pub fn watch_skill_sources(workspace: &Path, skills: &[SkillCrate]) {
    for path in ["skills/sdk", "wit", "Cargo.lock", "Cargo.toml"]
        .into_iter()
        .chain(skills.iter().map(|s| s.dir))
    {
        println!("cargo:rerun-if-changed={}", workspace.join(path).display());
    }
}

/// Builds `skills` with `cargo build --profile skill --target wasm32-wasip2`
/// and returns the path of each component, in order. Panics (failing the outer
/// build) with the nested build's output when it fails.
pub fn build_skills(workspace: &Path, skills: &[SkillCrate]) -> Vec<PathBuf> {
    let target_dir = skills_target_dir(workspace);
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let mut cmd = Command::new(cargo);
    cmd.current_dir(workspace)
        .arg("build")
        .arg("--manifest-path")
        .arg(workspace.join("Cargo.toml"))
        .args([
            "--profile",
            "skill",
            "--target",
            "wasm32-wasip2",
            "--color",
            "never",
        ])
        .arg("--target-dir")
        .arg(&target_dir);
    for skill in skills {
        cmd.args(["-p", skill.package]);
    }
    clear_outer_cargo_env(&mut cmd);

    let output = cmd
        .output()
        .unwrap_or_else(|e| panic!("cannot run the nested cargo build of the skills: {e}"));
    if !output.status.success() {
        // Cargo shows a failed build script's stderr: put the nested build's there.
        eprintln!("{}", String::from_utf8_lossy(&output.stdout));
        eprintln!("{}", String::from_utf8_lossy(&output.stderr));
        let stderr = String::from_utf8_lossy(&output.stderr);
        let missing_target = [
            "may not be installed",
            "can't find crate for `core`",
            "can't find crate for `std`",
        ]
        .iter()
        .any(|m| stderr.contains(m));
        panic!(
            "building the skills ({}) for wasm32-wasip2 failed ({}); its output is above.\n\
             hint: {}",
            skills
                .iter()
                .map(|s| s.package)
                .collect::<Vec<_>>()
                .join(", "),
            output.status,
            if missing_target {
                "the wasm32-wasip2 target is not installed: `rustup target add wasm32-wasip2`"
            } else {
                "reproduce with `cargo build --profile skill --target wasm32-wasip2 -p <package>`; \
                 the target must be installed (`rustup target add wasm32-wasip2`)"
            },
        );
    }

    skills
        .iter()
        .map(|skill| {
            let wasm = target_dir
                .join("wasm32-wasip2")
                .join("skill")
                .join(format!("{}.wasm", skill.package.replace('-', "_")));
            assert!(
                wasm.is_file(),
                "the nested build succeeded but {} is missing",
                wasm.display()
            );
            wasm
        })
        .collect()
}

/// Removes what the outer cargo (and clippy) put in a build script's
/// environment that would leak into the nested build: host flags and
/// wrappers, the outer target and profile, package metadata. Kept: the
/// jobserver (`CARGO_MAKEFLAGS`, so both builds share the `-j` budget), the
/// toolchain (`RUSTC`, `RUSTUP_*`), and the user's cargo home, network and
/// registry settings.
pub fn clear_outer_cargo_env(cmd: &mut Command) {
    const KEEP: &[&str] = &[
        "CARGO_HOME",
        "CARGO_MAKEFLAGS",
        "CARGO_INCREMENTAL",
        "CARGO_BUILD_JOBS",
        "CARGO_NET_",
        "CARGO_HTTP_",
        "CARGO_REGISTRIES_",
        "CARGO_REGISTRY_",
        "CARGO_TERM_",
        "CARGO_CACHE_",
    ];
    const DROP: &[&str] = &[
        "RUSTFLAGS",
        "RUSTDOCFLAGS",
        "RUSTC_WRAPPER",
        "RUSTC_WORKSPACE_WRAPPER",
        "RUSTC_LINKER",
        "CLIPPY_ARGS",
        "CLIPPY_CONF_DIR",
        "TARGET",
        "HOST",
        "OUT_DIR",
        "PROFILE",
        "DEBUG",
        "OPT_LEVEL",
        "NUM_JOBS",
    ];
    for (key, _) in std::env::vars_os() {
        let Some(key) = key.to_str() else { continue };
        let kept = KEEP
            .iter()
            .any(|k| key == *k || (k.ends_with('_') && key.starts_with(k)));
        let drop = (key.starts_with("CARGO") && !kept)
            || key.starts_with("__CARGO")
            || key.starts_with("DEP_")
            || DROP.contains(&key);
        if drop {
            cmd.env_remove(key);
        }
    }
}

/// `manifest` with its top-level `sha256` set to `hex`: replaces a
/// `sha256 = …` line or the `# sha256 = …` placeholder, or else adds the key
/// before the first table.
pub fn set_sha256(manifest: &str, hex: &str) -> String {
    let line = format!("sha256 = \"{hex}\"");
    let mut out = Vec::new();
    let mut done = false;
    let mut in_table = false;
    for l in manifest.lines() {
        let t = l.trim_start();
        in_table |= t.starts_with('[');
        let is_sha = t.starts_with("sha256")
            || t.trim_start_matches('#')
                .trim_start()
                .starts_with("sha256 =");
        if !done && !in_table && is_sha {
            out.push(line.clone());
            done = true;
            continue;
        }
        if !done && t.starts_with('[') {
            out.push(line.clone());
            out.push(String::new());
            done = true;
        }
        out.push(l.to_string());
    }
    if !done {
        out.push(line);
    }
    let mut text = out.join("\n");
    text.push('\n');
    text
}
