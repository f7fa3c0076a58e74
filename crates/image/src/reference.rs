//! Image references: where an image comes from.
//!
//! `dir:PATH`, `oci:PATH[:tag]`, `oci-archive:FILE[:tag]`, or a name in the local store,
//! normalized as containerd and the kubelet do (`busybox` is
//! `docker.io/library/busybox:latest`), so a name imported once matches what a pod names.

use std::fmt;
use std::path::PathBuf;

use crate::ImageError;

/// Where an image comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ImageRef {
    /// A directory used as the rootfs as it is.
    Dir(PathBuf),
    /// An OCI image layout directory, and the tag to pick (`org.opencontainers.image.ref.name`).
    Oci { path: PathBuf, tag: Option<String> },
    /// A tar of an OCI image layout.
    OciArchive { file: PathBuf, tag: Option<String> },
    /// A `docker save` tar, and the image's name in it (RepoTags) when it holds several.
    DockerArchive { file: PathBuf, name: Option<String> },
    /// A name looked up in hostproc's local store.
    Name(Name),
}

/// A normalized image name: `registry/repository[:tag][@sha256:hex]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Name {
    pub registry: String,
    pub repository: String,
    pub tag: Option<String>,
    pub digest: Option<String>,
}

impl fmt::Display for Name {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.registry, self.repository)?;
        if let Some(t) = &self.tag {
            write!(f, ":{t}")?;
        }
        if let Some(d) = &self.digest {
            write!(f, "@{d}")?;
        }
        Ok(())
    }
}

fn bad(image: &str, detail: impl Into<String>) -> ImageError {
    ImageError::BadRef { image: image.to_owned(), detail: detail.into() }
}

/// Splits `PATH[:tag]`: the tag is what follows the last `:` when it holds no `/`.
fn path_and_tag(s: &str) -> (PathBuf, Option<String>) {
    match s.rfind(':') {
        Some(i) if !s[i + 1..].contains('/') => {
            let tag = &s[i + 1..];
            (PathBuf::from(&s[..i]), (!tag.is_empty()).then(|| tag.to_owned()))
        }
        _ => (PathBuf::from(s), None),
    }
}

impl ImageRef {
    pub fn parse(s: &str) -> Result<ImageRef, ImageError> {
        if let Some(p) = s.strip_prefix("dir:") {
            if p.is_empty() {
                return Err(bad(s, "dir: needs a directory: dir:/path/to/rootfs"));
            }
            return Ok(ImageRef::Dir(PathBuf::from(p)));
        }
        if let Some(p) = s.strip_prefix("oci:") {
            let (path, tag) = path_and_tag(p);
            if path.as_os_str().is_empty() {
                return Err(bad(s, "oci: needs an OCI layout directory: oci:/path/to/layout[:tag]"));
            }
            return Ok(ImageRef::Oci { path, tag });
        }
        if let Some(p) = s.strip_prefix("oci-archive:") {
            let (file, tag) = path_and_tag(p);
            if file.as_os_str().is_empty() {
                return Err(bad(s, "oci-archive: needs a tar file: oci-archive:/path/to/image.tar[:tag]"));
            }
            return Ok(ImageRef::OciArchive { file, tag });
        }
        if let Some(p) = s.strip_prefix("docker-archive:") {
            let (file, name) = crate::docker_archive::split(p);
            if file.as_os_str().is_empty() {
                return Err(bad(s, "docker-archive: needs a tar file: docker-archive:/path/to/image.tar[:NAME]"));
            }
            return Ok(ImageRef::DockerArchive { file, name });
        }
        if let Some((scheme, _)) = s.split_once(':').filter(|(a, b)| !a.contains(['/', '.']) && b.starts_with("//")) {
            return Err(bad(s, format!("{scheme}: sources are not supported: use dir:, oci:, oci-archive:, docker-archive: or a name (pulled from its registry)")));
        }
        Ok(ImageRef::Name(Name::parse(s)?))
    }
}

fn valid_tag(t: &str) -> bool {
    let b = t.as_bytes();
    !b.is_empty()
        && b.len() <= 128
        && (b[0].is_ascii_alphanumeric() || b[0] == b'_')
        && b.iter().all(|c| c.is_ascii_alphanumeric() || b"_.-".contains(c))
}

fn valid_component(c: &str) -> bool {
    // [a-z0-9]+ separated by `.`, `_`, `__` or `-`s.
    let b = c.as_bytes();
    !b.is_empty()
        && b[0].is_ascii_lowercase() | b[0].is_ascii_digit()
        && b[b.len() - 1].is_ascii_lowercase() | b[b.len() - 1].is_ascii_digit()
        && b.iter().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || b"._-".contains(c))
        && !c.contains("..")
        && !c.contains("___")
}

impl Name {
    /// Parses and normalizes a name as the distribution reference grammar does.
    pub fn parse(s: &str) -> Result<Name, ImageError> {
        if s.is_empty() {
            return Err(bad(s, "the image name is empty"));
        }
        let (rest, digest) = match s.split_once('@') {
            Some((r, d)) => {
                let hex = d.strip_prefix("sha256:").ok_or_else(|| bad(s, "only sha256 digests are supported: name@sha256:<64 hex digits>"))?;
                if hex.len() != 64 || !hex.bytes().all(|c| c.is_ascii_digit() || (b'a'..=b'f').contains(&c)) {
                    return Err(bad(s, "the digest must be sha256:<64 lowercase hex digits>"));
                }
                (r, Some(d.to_owned()))
            }
            None => (s, None),
        };
        let (rest, tag) = match rest.rfind(':') {
            Some(i) if !rest[i + 1..].contains('/') => (&rest[..i], Some(&rest[i + 1..])),
            _ => (rest, None),
        };
        if let Some(t) = tag {
            if !valid_tag(t) {
                return Err(bad(s, format!("tag {t:?} is not valid: use up to 128 letters, digits, _ . - (not starting with . or -)")));
            }
        }
        let (registry, repo) = match rest.split_once('/') {
            Some((first, r)) if first.contains(['.', ':']) || first == "localhost" || first.chars().any(|c| c.is_ascii_uppercase()) => {
                (first.to_owned(), r.to_owned())
            }
            _ => ("docker.io".to_owned(), rest.to_owned()),
        };
        let repo = if registry == "docker.io" && !repo.contains('/') { format!("library/{repo}") } else { repo };
        if let Some(c) = repo.split('/').find(|c| !valid_component(c)) {
            return Err(bad(s, format!("{c:?} is not a valid name component: use lowercase letters and digits, separated by . _ or -")));
        }
        if registry.is_empty() || registry.contains(|c: char| c.is_whitespace() || c == '@') {
            return Err(bad(s, "the registry host is not valid"));
        }
        let tag = match (tag, &digest) {
            (Some(t), _) => Some(t.to_owned()),
            (None, Some(_)) => None,
            (None, None) => Some("latest".to_owned()),
        };
        Ok(Name { registry, repository: repo, tag, digest })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn name(s: &str) -> String {
        match ImageRef::parse(s).unwrap() {
            ImageRef::Name(n) => n.to_string(),
            other => panic!("{s}: {other:?}"),
        }
    }

    #[test]
    fn names_normalize_as_containerd_does() {
        assert_eq!(name("busybox"), "docker.io/library/busybox:latest");
        assert_eq!(name("busybox:1.36"), "docker.io/library/busybox:1.36");
        assert_eq!(name("me/tool:v1"), "docker.io/me/tool:v1");
        assert_eq!(name("registry.k8s.io/pause:3.9"), "registry.k8s.io/pause:3.9");
        assert_eq!(name("localhost:5000/a/b"), "localhost:5000/a/b:latest");
        assert_eq!(name("localhost/a"), "localhost/a:latest");
        let d = format!("sha256:{}", "ab".repeat(32));
        assert_eq!(name(&format!("x@{d}")), format!("docker.io/library/x@{d}"));
        assert_eq!(name(&format!("x:1@{d}")), format!("docker.io/library/x:1@{d}"));
    }

    #[test]
    fn bad_names_are_refused_naming_the_problem() {
        for (s, want) in [
            ("", "empty"),
            ("Busybox", "name component"),
            ("x:-bad", "tag"),
            ("x@sha256:12", "64"),
            ("x@md5:00", "sha256"),
            ("docker://busybox", "not supported"),
            ("a//b", "name component"),
        ] {
            let e = ImageRef::parse(s).unwrap_err().to_string();
            assert!(e.contains(want), "{s:?}: {e}");
        }
    }

    #[test]
    fn local_sources_split_path_and_tag() {
        assert_eq!(ImageRef::parse("dir:/r").unwrap(), ImageRef::Dir("/r".into()));
        assert_eq!(ImageRef::parse("oci:/l").unwrap(), ImageRef::Oci { path: "/l".into(), tag: None });
        assert_eq!(ImageRef::parse("oci:/l:v1").unwrap(), ImageRef::Oci { path: "/l".into(), tag: Some("v1".into()) });
        assert_eq!(ImageRef::parse("oci:a:b/c").unwrap(), ImageRef::Oci { path: "a:b/c".into(), tag: None });
        assert_eq!(
            ImageRef::parse("oci-archive:/x.tar:app:1").unwrap(),
            ImageRef::OciArchive { file: "/x.tar:app".into(), tag: Some("1".into()) }
        );
        assert!(ImageRef::parse("dir:").is_err());
        assert!(ImageRef::parse("oci-archive:").is_err());
    }
}
