//! Content-addressed blobs: `blobs/sha256/<hex>`, written to a temporary name while their
//! sha256 and size are checked, and renamed into place only when whole and right.

use std::io::{self, Read, Write};
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

use sha2::{Digest as _, Sha256};

use crate::error::io_err;
use crate::ImageError;

/// A blob's expected digest (`sha256:<hex>`) and size, from a descriptor.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Want {
    pub hex: String,
    pub size: u64,
}

impl Want {
    pub fn digest(&self) -> String {
        format!("sha256:{}", self.hex)
    }

    pub fn from_descriptor(d: &oci_spec::image::Descriptor, source: &str) -> Result<Want, ImageError> {
        let dg = d.digest();
        if !matches!(dg.algorithm(), oci_spec::image::DigestAlgorithm::Sha256) {
            return Err(ImageError::BadSource {
                source_ref: source.to_owned(),
                detail: format!("digest {dg} is not sha256: only sha256 blobs are supported"),
            });
        }
        let hex = dg.digest();
        // The hex names files in the store: nothing but 64 hex digits may reach a path.
        if hex.len() != 64 || !hex.bytes().all(|c| c.is_ascii_digit() || (b'a'..=b'f').contains(&c)) {
            return Err(ImageError::BadSource { source_ref: source.to_owned(), detail: format!("digest {dg} is not sha256:<64 lowercase hex digits>") });
        }
        Ok(Want { hex: hex.to_owned(), size: d.size() })
    }
}

static COUNTER: AtomicU64 = AtomicU64::new(0);

/// A temporary name in `tmp`, unique to this process and call.
pub(crate) fn temp_name(tmp: &Path, what: &str) -> PathBuf {
    tmp.join(format!("{what}-{}-{}", std::process::id(), COUNTER.fetch_add(1, Ordering::Relaxed)))
}

/// A blob being written to a temporary file: hashed and counted as it arrives (a registry's
/// stream or a file), stopping past the descriptor's size; `finish` checks both and renames
/// it into the store, and anything short of that removes the temporary file (also on drop).
pub(crate) struct BlobWriter {
    file: Option<std::fs::File>,
    temp: PathBuf,
    hash: Sha256,
    count: u64,
    limit: u64,
}

impl BlobWriter {
    pub fn create(temp: PathBuf, limit: u64) -> Result<BlobWriter, ImageError> {
        let f = std::fs::OpenOptions::new().write(true).create_new(true).mode(0o644).open(&temp).map_err(io_err("create", &temp))?;
        Ok(BlobWriter { file: Some(f), temp, hash: Sha256::new(), count: 0, limit })
    }

    /// Writes a chunk; false once the blob is longer than its limit (stop reading).
    pub fn write(&mut self, chunk: &[u8]) -> Result<bool, ImageError> {
        self.hash.update(chunk);
        let f = self.file.as_mut().expect("written before finish");
        f.write_all(chunk).map_err(io_err("write", &self.temp))?;
        self.count += chunk.len() as u64;
        Ok(self.count <= self.limit)
    }

    pub fn count(&self) -> u64 {
        self.count
    }

    /// Synced; returns (hex, size) and the temporary path (still owned by the writer).
    fn seal(&mut self) -> Result<(String, u64), ImageError> {
        let f = self.file.take().expect("sealed once");
        f.sync_all().map_err(io_err("sync", &self.temp))?;
        Ok((format!("{:x}", std::mem::take(&mut self.hash).finalize()), self.count))
    }

    /// Checks the blob against `want` and renames it to `dest`; on error nothing is left.
    pub fn finish(mut self, want: &Want, dest: &Path, source: &str) -> Result<(), ImageError> {
        let (hex, n) = self.seal()?;
        crate::crash_point("image-blob-written");
        let bad = |detail: String| ImageError::BadBlob { source_ref: source.to_owned(), digest: want.digest(), detail };
        if n != want.size {
            let has = if n > want.size { "more".to_owned() } else { n.to_string() };
            return Err(bad(format!("it has {has} bytes where its descriptor says {}: the source is corrupt or truncated", want.size)));
        }
        if hex != want.hex {
            return Err(bad(format!("its content's sha256 is {hex}: the source is corrupt")));
        }
        std::fs::rename(&self.temp, dest).map_err(io_err("rename into place", dest))?;
        self.temp = PathBuf::new();
        Ok(())
    }
}

impl BlobWriter {
    /// For content whose digest is learnt from itself (a docker-archive's files): stored
    /// under its own sha256; returns (hex, size).
    pub fn finish_as_is(mut self, blobs: &Path) -> Result<(String, u64), ImageError> {
        let (hex, n) = self.seal()?;
        let dest = blobs.join(&hex);
        if !dest.exists() {
            std::fs::rename(&self.temp, &dest).map_err(io_err("rename into place", &dest))?;
            self.temp = PathBuf::new();
        }
        Ok((hex, n))
    }
}

impl Drop for BlobWriter {
    fn drop(&mut self) {
        if !self.temp.as_os_str().is_empty() {
            let _ = std::fs::remove_file(&self.temp);
        }
    }
}

/// Copies `r` to `file` while hashing, stopping past `limit` bytes; returns (hex, size).
/// The file stays (the caller checks and renames or removes it).
pub(crate) fn copy_hashing(mut r: impl Read, file: &Path, limit: u64) -> Result<(String, u64), ImageError> {
    let mut w = BlobWriter::create(file.to_path_buf(), limit)?;
    let mut buf = vec![0u8; 1 << 16];
    loop {
        let k = match r.read(&mut buf) {
            Ok(0) => break,
            Ok(k) => k,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(io_err("read into", file)(e)),
        };
        if !w.write(&buf[..k])? {
            break;
        }
    }
    let res = w.seal();
    w.temp = PathBuf::new();
    res
}

/// Puts a blob in `blobs` from `r`, checked against `want`; nothing is read when the store
/// has it already. A wrong blob leaves nothing behind.
pub(crate) fn put(blobs: &Path, tmp: &Path, want: &Want, source: &str, r: impl FnOnce() -> io::Result<Box<dyn Read>>) -> Result<(), ImageError> {
    let dest = blobs.join(&want.hex);
    if std::fs::metadata(&dest).is_ok_and(|m| m.len() == want.size) {
        return Ok(());
    }
    let bad = |detail: String| ImageError::BadBlob { source_ref: source.to_owned(), digest: want.digest(), detail };
    let mut reader = r().map_err(|e| bad(format!("cannot read it: {e}")))?;
    let mut w = BlobWriter::create(temp_name(tmp, "blob"), want.size)?;
    let mut buf = vec![0u8; 1 << 16];
    loop {
        let k = match reader.read(&mut buf) {
            Ok(0) => break,
            Ok(k) => k,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(bad(format!("cannot read it: {e}"))),
        };
        if !w.write(&buf[..k])? {
            break;
        }
    }
    w.finish(want, &dest, source)
}

/// Reads a small JSON blob (manifest, index, config) already in the store, checked again.
pub(crate) fn read_json(blobs: &Path, want: &Want, source: &str) -> Result<Vec<u8>, ImageError> {
    let p = blobs.join(&want.hex);
    let data = std::fs::read(&p).map_err(io_err("read", &p))?;
    let hex = format!("{:x}", Sha256::digest(&data));
    if hex != want.hex || data.len() as u64 != want.size {
        return Err(ImageError::BadBlob { source_ref: source.to_owned(), digest: want.digest(), detail: "the stored blob does not match its digest: remove the image and import it again".into() });
    }
    Ok(data)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_sha256_hex_digests_name_blobs() {
        for d in ["sha256:../../../../etc/passwd", &format!("sha256:{}", "A".repeat(64)), &format!("sha512:{}", "a".repeat(128))] {
            let j = serde_json::json!({"mediaType": "application/vnd.oci.image.layer.v1.tar", "digest": d, "size": 1});
            if let Ok(desc) = serde_json::from_value::<oci_spec::image::Descriptor>(j) {
                assert!(Want::from_descriptor(&desc, "t").is_err(), "{d}");
            }
        }
    }

    #[test]
    fn a_blob_is_kept_only_when_its_digest_and_size_match() {
        let d = tempfile::tempdir().unwrap();
        let (blobs, tmp) = (d.path().join("b"), d.path().join("t"));
        std::fs::create_dir_all(&blobs).unwrap();
        std::fs::create_dir_all(&tmp).unwrap();
        let data: &'static [u8] = b"hello";
        let good = Want { hex: format!("{:x}", Sha256::digest(data)), size: 5 };
        let src = || Ok(Box::new(data) as Box<dyn Read>);
        let e = put(&blobs, &tmp, &Want { size: 4, ..good.clone() }, "t", src).unwrap_err().to_string();
        assert!(e.contains("it has more bytes where its descriptor says 4"), "{e}");
        let e = put(&blobs, &tmp, &Want { hex: "00".repeat(32), size: 5 }, "t", src).unwrap_err().to_string();
        assert!(e.contains("corrupt"), "{e}");
        assert_eq!(std::fs::read_dir(&blobs).unwrap().count() + std::fs::read_dir(&tmp).unwrap().count(), 0);
        put(&blobs, &tmp, &good, "t", src).unwrap();
        assert_eq!(std::fs::read(blobs.join(&good.hex)).unwrap(), data);
        // Present: the source is not even opened.
        put(&blobs, &tmp, &good, "t", || panic!("read again")).unwrap();
    }
}
