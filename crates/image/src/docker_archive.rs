//! `docker-archive:FILE[:NAME]` (what `docker save` writes): `manifest.json` lists each
//! image's config file, RepoTags and layer tars. The tar is read once: every regular file
//! is streamed into the store under its own sha256 (so nothing is trusted by its name, and
//! no path of the tar is ever written to), symlinked layers (docker's duplicates) are
//! followed within the archive; then an OCI manifest is made for the chosen image.

use std::collections::HashMap;
use std::io::Read;
use std::path::{Component, Path, PathBuf};

use serde::Deserialize;

use crate::blob::{self, BlobWriter, Want};
use crate::ImageError;

#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
struct Entry {
    config: String,
    #[serde(default)]
    repo_tags: Option<Vec<String>>,
    layers: Vec<String>,
}

/// Splits `FILE[:NAME]`: the whole string when it is a file, else at the first `:` whose
/// prefix is a file (names hold `:` and `/` too).
pub(crate) fn split(s: &str) -> (PathBuf, Option<String>) {
    if !Path::new(s).is_file() {
        for (i, _) in s.match_indices(':') {
            if Path::new(&s[..i]).is_file() {
                return (PathBuf::from(&s[..i]), Some(s[i + 1..].to_owned()).filter(|n| !n.is_empty()));
            }
        }
    }
    (PathBuf::from(s), None)
}

fn clean(p: &Path) -> String {
    let parts: Vec<String> = p.components().filter(|c| matches!(c, Component::Normal(_))).map(|c| c.as_os_str().to_string_lossy().into_owned()).collect();
    parts.join("/")
}

/// Reads the archive into the store's blobs; returns the manifest made for the image (its
/// Want, already stored) and the name the archive gives it.
pub(crate) fn import(file: &Path, want_name: Option<&str>, source: &str, blobs: &Path, tmp: &Path) -> Result<(Want, Option<String>), ImageError> {
    let bad = |d: String| ImageError::BadSource { source_ref: source.to_owned(), detail: d };
    let f = std::fs::File::open(file).map_err(|e| bad(format!("cannot open {}: {e}", file.display())))?;
    let mut ar = tar::Archive::new(std::io::BufReader::with_capacity(1 << 16, f));
    let not_tar = |e: std::io::Error| bad(format!("not a docker save archive: {e}"));
    let mut files: HashMap<String, (String, u64)> = HashMap::new();
    let mut links: HashMap<String, String> = HashMap::new();
    let mut manifest: Option<Vec<u8>> = None;
    for e in ar.entries().map_err(not_tar)? {
        let mut e = e.map_err(not_tar)?;
        let path = clean(&e.path().map_err(not_tar)?);
        match e.header().entry_type() {
            tar::EntryType::Regular if path == "manifest.json" => {
                let mut v = Vec::new();
                (&mut e).take(4 << 20).read_to_end(&mut v).map_err(not_tar)?;
                manifest = Some(v);
            }
            tar::EntryType::Regular => {
                let mut w = BlobWriter::create(blob::temp_name(tmp, "blob"), u64::MAX)?;
                let mut buf = vec![0u8; 1 << 16];
                loop {
                    let k = e.read(&mut buf).map_err(not_tar)?;
                    if k == 0 {
                        break;
                    }
                    w.write(&buf[..k])?;
                }
                files.insert(path, w.finish_as_is(blobs)?);
            }
            tar::EntryType::Symlink => {
                if let Some(t) = e.link_name().map_err(not_tar)? {
                    let base = Path::new(&path).parent().unwrap_or(Path::new(""));
                    let mut out: Vec<String> = clean(base).split('/').filter(|s| !s.is_empty()).map(str::to_owned).collect();
                    for c in t.components() {
                        match c {
                            Component::ParentDir => {
                                out.pop();
                            }
                            Component::Normal(n) => out.push(n.to_string_lossy().into_owned()),
                            _ => {}
                        }
                    }
                    links.insert(path, out.join("/"));
                }
            }
            _ => {}
        }
    }
    let manifest = manifest.ok_or_else(|| bad("it has no manifest.json: is it a `docker save` archive?".into()))?;
    let entries: Vec<Entry> = serde_json::from_slice(&manifest).map_err(|e| bad(format!("manifest.json: {e}")))?;
    let tags = |e: &Entry| e.repo_tags.clone().unwrap_or_default();
    let entry = match want_name {
        Some(n) => {
            let want = crate::Name::parse(n)?.to_string();
            entries.iter().find(|e| tags(e).iter().any(|t| crate::Name::parse(t).is_ok_and(|t| t.to_string() == want)))
        }
        None if entries.len() == 1 => entries.first(),
        None => None,
    }
    .ok_or_else(|| {
        let all: Vec<String> = entries.iter().flat_map(tags).collect();
        bad(format!("{} images in it ({}): name one as docker-archive:FILE:NAME", entries.len(), if all.is_empty() { "untagged".into() } else { all.join(", ") }))
    })?;
    let find = |p: &str| -> Result<(String, u64), ImageError> {
        let mut p = clean(Path::new(p));
        for _ in 0..8 {
            if let Some(f) = files.get(&p) {
                return Ok(f.clone());
            }
            match links.get(&p) {
                Some(t) => p = t.clone(),
                None => break,
            }
        }
        Err(bad(format!("manifest.json names {p}, which is not in the archive")))
    };
    let (ch, cn) = find(&entry.config)?;
    let mut layers = Vec::new();
    for l in &entry.layers {
        let (h, n) = find(l)?;
        layers.push(serde_json::json!({"mediaType": "application/vnd.oci.image.layer.v1.tar", "digest": format!("sha256:{h}"), "size": n}));
    }
    let m = serde_json::json!({
        "schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "config": {"mediaType": "application/vnd.oci.image.config.v1+json", "digest": format!("sha256:{ch}"), "size": cn},
        "layers": layers,
    });
    let body = serde_json::to_vec(&m).expect("manifest serializes");
    let mut w = BlobWriter::create(blob::temp_name(tmp, "blob"), u64::MAX)?;
    w.write(&body)?;
    let (hex, size) = w.finish_as_is(blobs)?;
    let name = want_name.map(str::to_owned).or_else(|| tags(entry).into_iter().next());
    Ok((Want { hex, size }, name))
}

#[cfg(test)]
mod tests {
    use super::split;

    #[test]
    fn file_and_name() {
        let d = tempfile::tempdir().unwrap();
        let f = d.path().join("x.tar");
        std::fs::write(&f, "").unwrap();
        let fs = f.display().to_string();
        assert_eq!(split(&fs), (f.clone(), None));
        assert_eq!(split(&format!("{fs}:reg.io:5000/a/b:1")), (f.clone(), Some("reg.io:5000/a/b:1".into())));
        assert_eq!(split("/nonexistent.tar:x"), ("/nonexistent.tar:x".into(), None));
    }
}
