//! On-disk cache of compiled components.
//!
//! Keyed by the sha256 of the wasm bytes and the engine's compatibility hash,
//! in a directory the daemon owns. The only native code ever deserialized is a
//! file this process (or an earlier run of it) wrote into that directory, and
//! whose own sha256 is checked against a digest written beside it: nothing from
//! a skills directory is deserialized, and a truncated or altered cache entry
//! is recompiled, not mapped.

use std::fs;
use std::hash::{Hash, Hasher};
use std::io::Write;
use std::os::unix::fs::{MetadataExt, OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};
use wasmtime::Engine;
use wasmtime::component::Component;

#[derive(Clone, Debug)]
pub struct CompileCache {
    dir: PathBuf,
}

/// Where a component came from, for `skills list` timings and tests.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CacheOutcome {
    Hit,
    Miss,
    Disabled,
}

impl CompileCache {
    /// The default location: `$XDG_CACHE_HOME/guardian/compiled`.
    pub fn default_dir() -> Option<PathBuf> {
        dirs::cache_dir().map(|d| d.join("guardian").join("compiled"))
    }

    /// Opens (creating with mode 0700) a cache directory. Refuses a directory
    /// that another user owns or that others can write to: its files would be
    /// mapped as executable code.
    pub fn open(dir: &Path, engine: &Engine) -> Result<Self, String> {
        let dir = dir.join(engine_key(engine));
        fs::create_dir_all(&dir)
            .map_err(|e| format!("cannot create compile cache {}: {e}", dir.display()))?;
        let me = fs::metadata("/proc/self").map(|m| m.uid()).ok();
        // The directory the operator named: never changed, only checked that
        // no other user can swap our subdirectory out (writable without the
        // sticky bit, as /tmp has).
        if let Some(parent) = dir.parent() {
            let meta = fs::metadata(parent)
                .map_err(|e| format!("cannot read compile cache {}: {e}", parent.display()))?;
            if meta.mode() & 0o022 != 0 && meta.mode() & 0o1000 == 0 {
                return Err(format!(
                    "compile cache {} is writable by other users; use --cache-dir with a directory only you can write",
                    parent.display()
                ));
            }
        }
        // Our own subdirectory: owned by us and private (others could
        // otherwise swap in native code, or see which skills run here).
        let meta = fs::metadata(&dir)
            .map_err(|e| format!("cannot read compile cache {}: {e}", dir.display()))?;
        if me.is_some_and(|uid| uid != meta.uid()) {
            return Err(format!(
                "compile cache {} is owned by uid {}, not by this process; use --cache-dir with a directory you own",
                dir.display(),
                meta.uid()
            ));
        }
        if meta.mode() & 0o077 != 0 {
            fs::set_permissions(&dir, fs::Permissions::from_mode(0o700)).map_err(|e| {
                format!(
                    "compile cache {} is accessible to other users and cannot be made private: {e}",
                    dir.display()
                )
            })?;
        }
        Ok(Self { dir })
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Loads the compiled form of `wasm` (whose sha256 is `sha256`), compiling
    /// and storing it on a miss.
    pub fn load(
        &self,
        engine: &Engine,
        sha256: &str,
        wasm: &[u8],
    ) -> wasmtime::Result<(Component, CacheOutcome)> {
        let path = self.dir.join(format!("{sha256}.cwasm"));
        let digest_path = self.dir.join(format!("{sha256}.cwasm.sha256"));
        if let Some(component) = self.try_read(engine, &path, &digest_path) {
            return Ok((component, CacheOutcome::Hit));
        }
        let component = Component::new(engine, wasm)?;
        if let Err(err) = self.write(&component, &path, &digest_path) {
            tracing::warn!(path = %path.display(), error = %err, "could not write compile cache entry");
        }
        Ok((component, CacheOutcome::Miss))
    }

    fn try_read(&self, engine: &Engine, path: &Path, digest_path: &Path) -> Option<Component> {
        let bytes = fs::read(path).ok()?;
        let expected = fs::read_to_string(digest_path).ok()?;
        if hex::encode(Sha256::digest(&bytes)) != expected.trim() {
            tracing::warn!(path = %path.display(), "compile cache entry does not match its digest; recompiling");
            return None;
        }
        match deserialize(engine, &bytes) {
            Ok(component) => Some(component),
            Err(err) => {
                tracing::warn!(path = %path.display(), error = %err, "stale compile cache entry; recompiling");
                None
            }
        }
    }

    fn write(&self, component: &Component, path: &Path, digest_path: &Path) -> std::io::Result<()> {
        let bytes = component.serialize().map_err(std::io::Error::other)?;
        let digest = hex::encode(Sha256::digest(&bytes));
        atomic_write(digest_path, digest.as_bytes())?;
        atomic_write(path, &bytes)
    }
}

/// Deserializes bytes this cache wrote. The bytes were produced by
/// `Component::serialize` on an engine with the same compatibility hash (the
/// directory name) and verified against the digest written beside them, which
/// is the contract `Component::deserialize` asks of its caller.
#[allow(unsafe_code)]
fn deserialize(engine: &Engine, bytes: &[u8]) -> wasmtime::Result<Component> {
    // SAFETY: see the function documentation: the bytes are our own
    // serialization, integrity-checked, from a directory only we can write.
    unsafe { Component::deserialize(engine, bytes) }
}

fn atomic_write(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    let tmp = path.with_extension(format!("tmp.{}", std::process::id()));
    let mut file = fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(&tmp)?;
    file.write_all(bytes)?;
    file.sync_all()?;
    fs::rename(&tmp, path)
}

/// A short, stable name for the engine's compatibility hash: compiled code
/// from another wasmtime version or another configuration lands elsewhere.
fn engine_key(engine: &Engine) -> String {
    struct Sha(Sha256);
    impl Hasher for Sha {
        fn finish(&self) -> u64 {
            0
        }
        fn write(&mut self, bytes: &[u8]) {
            self.0.update(bytes);
        }
    }
    let mut h = Sha(Sha256::new());
    engine.precompile_compatibility_hash().hash(&mut h);
    format!("engine-{}", &hex::encode(h.0.finalize())[..16])
}
