//! Image references, normalised as docker and Kubernetes do: a name
//! without a registry is on `docker.io`, a one-part name on Docker Hub is
//! in `library/`, and a reference without a tag or digest is `:latest`.
//!
//! ```text
//!   busybox                     docker.io/library/busybox:latest
//!   busybox:1.36                docker.io/library/busybox:1.36
//!   library/busybox             docker.io/library/busybox:latest
//!   example.com/x/y:tag         example.com/x/y:tag
//!   localhost:5000/app          localhost:5000/app:latest
//!   busybox@sha256:<64 hex>     docker.io/library/busybox@sha256:<64 hex>
//! ```
//!
//! Pure: no I/O.

use std::fmt;

/// Docker Hub's name, as references are written once normalised.
pub const DEFAULT_REGISTRY: &str = "docker.io";
/// Docker Hub's namespace of official images.
const OFFICIAL_NAMESPACE: &str = "library";
/// The tag a reference without one means.
pub const DEFAULT_TAG: &str = "latest";
/// A tag is at most this long (docker's limit).
const TAG_LENGTH_MAX: usize = 128;
/// A whole name is at most this long (docker's limit).
const NAME_LENGTH_MAX: usize = 255;

/// A normalised image reference.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Reference {
    /// The repository with its registry: `docker.io/library/busybox`.
    pub name: String,
    /// The tag, if the reference is by tag (`latest` when none was given
    /// and there is no digest either).
    pub tag: Option<String>,
    /// The digest, if the reference is by digest: `sha256:<64 hex>`.
    pub digest: Option<String>,
}

impl Reference {
    /// Parses and normalises `text`; the error says what is wrong.
    pub fn parse(text: &str) -> Result<Self, String> {
        let (rest, digest) = match text.split_once('@') {
            Some((rest, digest)) => {
                if !is_digest(digest) {
                    return Err(format!(
                        "{digest:?} is not a digest such as sha256:<64 hex>"
                    ));
                }
                (rest, Some(digest.to_owned()))
            }
            None => (text, None),
        };
        // A tag follows the last ':' after the last '/' (a ':' before it
        // is a registry's port).
        let last_slash = rest.rfind('/').map_or(0, |at| at + 1);
        let (name, tag) = match rest[last_slash..].find(':') {
            Some(at) => (&rest[..last_slash + at], Some(&rest[last_slash + at + 1..])),
            None => (rest, None),
        };
        if let Some(tag) = tag {
            check_tag(tag)?;
        }
        let name = normalise_name(name)?;
        let tag = match (tag, &digest) {
            (Some(tag), _) => Some(tag.to_owned()),
            (None, None) => Some(DEFAULT_TAG.to_owned()),
            (None, Some(_)) => None,
        };
        Ok(Self { name, tag, digest })
    }

    /// The name and tag (`docker.io/library/busybox:latest`), the key of
    /// a tag in the store; `None` for a reference by digest alone.
    pub fn tagged(&self) -> Option<String> {
        self.tag.as_ref().map(|tag| format!("{}:{tag}", self.name))
    }
}

impl fmt::Display for Reference {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.name)?;
        if let Some(tag) = &self.tag {
            write!(f, ":{tag}")?;
        }
        if let Some(digest) = &self.digest {
            write!(f, "@{digest}")?;
        }
        Ok(())
    }
}

/// Whether `text` is `sha256:` and 64 lowercase hex digits.
pub fn is_digest(text: &str) -> bool {
    text.strip_prefix("sha256:").is_some_and(is_hex64)
}

/// Whether `text` is 64 lowercase hex digits.
pub fn is_hex64(text: &str) -> bool {
    text.len() == 64 && is_lower_hex(text)
}

/// Whether `text` is non-empty lowercase hex.
pub fn is_lower_hex(text: &str) -> bool {
    !text.is_empty()
        && text
            .bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
}

fn check_tag(tag: &str) -> Result<(), String> {
    let mut bytes = tag.bytes();
    let first_ok = bytes
        .next()
        .is_some_and(|b| b.is_ascii_alphanumeric() || b == b'_');
    let rest_ok = bytes.all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'.' | b'-'));
    if first_ok && rest_ok && tag.len() <= TAG_LENGTH_MAX {
        Ok(())
    } else {
        Err(format!(
            "{tag:?} is not a tag (letters, digits, '_', '.', '-', at most {TAG_LENGTH_MAX})"
        ))
    }
}

/// `busybox` → `docker.io/library/busybox`; a first part with a '.' or a
/// ':', or `localhost`, is a registry.
fn normalise_name(name: &str) -> Result<String, String> {
    if name.is_empty() {
        return Err("the image name is empty".into());
    }
    let (registry, path) = match name.split_once('/') {
        Some((first, rest))
            if first.contains('.') || first.contains(':') || first == "localhost" =>
        {
            (first, rest)
        }
        _ => (DEFAULT_REGISTRY, name),
    };
    let registry = if registry == "index.docker.io" {
        DEFAULT_REGISTRY
    } else {
        registry
    };
    for component in path.split('/') {
        check_component(component)?;
    }
    let full = if registry == DEFAULT_REGISTRY && !path.contains('/') {
        format!("{registry}/{OFFICIAL_NAMESPACE}/{path}")
    } else {
        format!("{registry}/{path}")
    };
    if full.len() > NAME_LENGTH_MAX {
        return Err(format!(
            "the image name {name:?} is longer than {NAME_LENGTH_MAX}"
        ));
    }
    Ok(full)
}

/// A path component: lowercase letters and digits, joined by single
/// separators (`.`, `_`, `__`, runs of `-`).
fn check_component(component: &str) -> Result<(), String> {
    let bytes = component.as_bytes();
    let alphanumeric = |b: &u8| b.is_ascii_lowercase() || b.is_ascii_digit();
    let ok = bytes.first().is_some_and(alphanumeric)
        && bytes.last().is_some_and(alphanumeric)
        && bytes
            .iter()
            .all(|b| alphanumeric(b) || matches!(b, b'.' | b'_' | b'-'))
        && !component.contains("..")
        && !component.contains("___");
    if ok {
        Ok(())
    } else {
        Err(format!(
            "{component:?} is not a repository name component (lowercase letters, digits, \
             separated by '.', '_' or '-')"
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn full(text: &str) -> String {
        Reference::parse(text).unwrap().to_string()
    }

    #[test]
    fn normalises_as_docker_does() {
        assert_eq!(full("busybox"), "docker.io/library/busybox:latest");
        assert_eq!(full("busybox:1.36"), "docker.io/library/busybox:1.36");
        assert_eq!(full("library/busybox"), "docker.io/library/busybox:latest");
        assert_eq!(
            full("docker.io/busybox"),
            "docker.io/library/busybox:latest"
        );
        assert_eq!(
            full("index.docker.io/library/busybox:1"),
            "docker.io/library/busybox:1"
        );
        assert_eq!(full("someone/app:v2"), "docker.io/someone/app:v2");
        assert_eq!(full("example.com/x/y:tag"), "example.com/x/y:tag");
        assert_eq!(full("localhost:5000/app"), "localhost:5000/app:latest");
        assert_eq!(full("localhost/app"), "localhost/app:latest");
        let digest = format!("sha256:{}", "a".repeat(64));
        assert_eq!(
            full(&format!("busybox@{digest}")),
            format!("docker.io/library/busybox@{digest}")
        );
        assert_eq!(
            full(&format!("busybox:1@{digest}")),
            format!("docker.io/library/busybox:1@{digest}")
        );
    }

    #[test]
    fn refuses_what_is_not_a_reference() {
        for bad in [
            "",
            "Busybox",
            "busybox:",
            "busybox:-x",
            "a//b",
            "busybox@sha256:12",
            "x/../y",
        ] {
            assert!(Reference::parse(bad).is_err(), "{bad:?} parsed");
        }
    }
}
