//! One binding module per released ABI version, the way Zed freezes its
//! extension API: `wit/since_vX.Y.Z/` is generated here as `vX_Y`.
//!
//! The host implements the newest version ([`latest`]) once, in `host.rs`.
//! Older versions reuse the newest version's *types* (records are structurally
//! identical across versions, and component typing is structural) and adapt
//! their *functions* onto the newest implementation. Adding 0.3 means: copy the
//! WIT directory, add `v0_3` here, point `latest` at it, and turn `v0_2` into an
//! adapter like `v0_1`.

pub mod v0_1;
pub mod v0_2;

pub use v0_2 as latest;

use semver_lite::AbiVersion;

/// The ABI versions this host can load, oldest first.
pub const SUPPORTED: &[AbiVersion] = &[AbiVersion::new(0, 1), AbiVersion::new(0, 2)];

pub mod semver_lite {
    use std::fmt;

    /// `major.minor` of `guardian:skill@major.minor.patch`. Patch releases of
    /// the ABI are compatible by definition, so they are not distinguished.
    #[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
    pub struct AbiVersion {
        pub major: u32,
        pub minor: u32,
    }

    impl AbiVersion {
        pub const fn new(major: u32, minor: u32) -> Self {
            Self { major, minor }
        }

        /// Parses `0.1`, `0.1.0`, `0.1.3`.
        pub fn parse(s: &str) -> Option<Self> {
            let mut parts = s.trim().split('.');
            let major = parts.next()?.parse().ok()?;
            let minor = parts.next()?.parse().ok()?;
            match parts.next() {
                None => {}
                Some(patch) => {
                    patch.parse::<u32>().ok()?;
                }
            }
            if parts.next().is_some() {
                return None;
            }
            Some(Self { major, minor })
        }
    }

    impl serde::Serialize for AbiVersion {
        fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
            s.collect_str(self)
        }
    }

    impl fmt::Display for AbiVersion {
        fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            write!(f, "{}.{}.0", self.major, self.minor)
        }
    }
}
