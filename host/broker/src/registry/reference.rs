//! An image as a pod spec names it — `host[:port]/path/name[:tag|@digest]`
//! — split into the registry host and the repository, with Docker Hub's
//! short names normalised as the container runtimes do (`nginx` →
//! `registry-1.docker.io/library/nginx`).

use crate::BrokerError;

/// Where Docker Hub's API is.
pub const DOCKER_HUB: &str = "registry-1.docker.io";

/// Names of Docker Hub in image names and pull secrets.
pub(crate) const DOCKER_HUB_ALIASES: &[&str] =
    &["docker.io", "index.docker.io", "registry-1.docker.io"];

/// An image reference, split.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Reference {
    /// `host[:port]`, lower case; Docker Hub as [`DOCKER_HUB`].
    pub registry: String,
    /// `shop/web`, `library/nginx`.
    pub repository: String,
    /// The tag, when the image names one.
    pub tag: Option<String>,
    /// The digest, when the image names one.
    pub digest: Option<String>,
}

impl Reference {
    /// `HOST/REPOSITORY`: the name policy decides on.
    pub fn name(&self) -> String {
        format!("{}/{}", self.registry, self.repository)
    }

    /// Whether the registry is Docker Hub.
    pub fn is_docker_hub(&self) -> bool {
        self.registry == DOCKER_HUB
    }
}

fn invalid(image: &str, why: &str) -> BrokerError {
    BrokerError::Invalid(format!(
        "the image {image:?} is not an image reference: {why}; give it as a pod spec does, \
         e.g. 127.0.0.1:5000/shop/web:1.4.2, ghcr.io/acme/api@sha256:…, or nginx:1.27"
    ))
}

/// Splits `image`.
pub(crate) fn parse(image: &str) -> Result<Reference, BrokerError> {
    let text = image.trim();
    if text.is_empty() {
        return Err(invalid(image, "it is empty"));
    }
    if text.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Err(invalid(image, "it holds white space"));
    }
    if text.contains("://") {
        return Err(invalid(
            image,
            "it has a URL scheme; name the image without one",
        ));
    }
    let (rest, digest) = match text.split_once('@') {
        Some((rest, digest)) => {
            let valid = digest.split_once(':').is_some_and(|(alg, hex)| {
                !alg.is_empty()
                    && alg
                        .chars()
                        .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || "+._-".contains(c))
                    && hex.len() >= 32
                    && hex.chars().all(|c| c.is_ascii_alphanumeric())
            });
            if !valid {
                return Err(invalid(image, "its digest is not ALGORITHM:HEX"));
            }
            (rest, Some(digest.to_owned()))
        }
        None => (text, None),
    };
    let last_slash = rest.rfind('/').map_or(0, |i| i + 1);
    let (rest, tag) = match rest[last_slash..].rfind(':') {
        Some(i) => {
            let at = last_slash + i;
            let tag = &rest[at + 1..];
            let valid = !tag.is_empty()
                && tag.len() <= 128
                && tag
                    .chars()
                    .next()
                    .is_some_and(|c| c.is_ascii_alphanumeric() || c == '_')
                && tag
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || "_.-".contains(c));
            if !valid {
                return Err(invalid(
                    image,
                    "its tag may hold only letters, digits, `_`, `.` and `-` (at most 128)",
                ));
            }
            (&rest[..at], Some(tag.to_owned()))
        }
        None => (rest, None),
    };
    let (registry, path) = match rest.split_once('/') {
        Some((first, path))
            if first.contains('.') || first.contains(':') || first == "localhost" =>
        {
            (first.to_ascii_lowercase(), path.to_owned())
        }
        _ => ("docker.io".to_owned(), rest.to_owned()),
    };
    let registry = if DOCKER_HUB_ALIASES.contains(&registry.as_str()) {
        DOCKER_HUB.to_owned()
    } else {
        registry
    };
    let valid_host = registry
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || ".-:[]".contains(c));
    if !valid_host || registry.starts_with(['.', '-', ':']) {
        return Err(invalid(image, "its registry host is not a host name"));
    }
    let path = if registry == DOCKER_HUB && !path.contains('/') {
        format!("library/{path}")
    } else {
        path
    };
    let component_ok = |c: &str| {
        !c.is_empty()
            && c.starts_with(|ch: char| ch.is_ascii_lowercase() || ch.is_ascii_digit())
            && c.ends_with(|ch: char| ch.is_ascii_lowercase() || ch.is_ascii_digit())
            && c.chars()
                .all(|ch| ch.is_ascii_lowercase() || ch.is_ascii_digit() || "._-".contains(ch))
    };
    if path.len() > 255 || !path.split('/').all(component_ok) {
        return Err(invalid(
            image,
            "its repository path must be lower-case letters, digits and `.`, `_`, `-` between \
             `/`",
        ));
    }
    Ok(Reference {
        registry,
        repository: path,
        tag,
        digest,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn split(image: &str) -> (String, String, Option<String>) {
        let r = parse(image).unwrap_or_else(|e| panic!("{image}: {e}"));
        (r.registry, r.repository, r.tag)
    }

    #[test]
    fn images_split_as_the_runtimes_split_them() {
        assert_eq!(
            split("127.0.0.1:5000/shop/web:1.4.2"),
            (
                "127.0.0.1:5000".into(),
                "shop/web".into(),
                Some("1.4.2".into())
            )
        );
        assert_eq!(
            split("nginx"),
            (DOCKER_HUB.into(), "library/nginx".into(), None)
        );
        assert_eq!(
            split("nginx:1.27"),
            (
                DOCKER_HUB.into(),
                "library/nginx".into(),
                Some("1.27".into())
            )
        );
        assert_eq!(
            split("bitnami/redis:7"),
            (DOCKER_HUB.into(), "bitnami/redis".into(), Some("7".into()))
        );
        assert_eq!(
            split("docker.io/nginx"),
            (DOCKER_HUB.into(), "library/nginx".into(), None)
        );
        assert_eq!(
            split("index.docker.io/acme/api:v2"),
            (DOCKER_HUB.into(), "acme/api".into(), Some("v2".into()))
        );
        assert_eq!(
            split("localhost/app:dev"),
            ("localhost".into(), "app".into(), Some("dev".into()))
        );
        assert_eq!(
            split("GHCR.io/acme/api"),
            ("ghcr.io".into(), "acme/api".into(), None)
        );
        let digest = format!("sha256:{}", "a".repeat(64));
        let r = parse(&format!("ghcr.io/acme/api:1.0@{digest}")).unwrap();
        assert_eq!(r.tag.as_deref(), Some("1.0"));
        assert_eq!(r.digest.as_deref(), Some(digest.as_str()));
        assert_eq!(r.name(), "ghcr.io/acme/api");
        // A port is not a tag.
        assert_eq!(
            split("registry.local:5000/web"),
            ("registry.local:5000".into(), "web".into(), None)
        );
    }

    #[test]
    fn what_is_not_an_image_is_said() {
        for bad in [
            "",
            "  ",
            "Shop/Web:1",
            "http://127.0.0.1:5000/shop/web",
            "shop//web",
            "shop/web:",
            "shop/web:-x",
            "shop/web@sha256:short",
            "shop web",
        ] {
            let err = parse(bad).unwrap_err();
            assert_eq!(err.kind_str(), "invalid", "{bad:?}: {err}");
            assert!(err.message().contains("image reference"), "{err}");
        }
    }
}
