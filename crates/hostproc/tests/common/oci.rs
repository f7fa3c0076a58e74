//! OCI image layouts and archives built by the tests: tar layers made with the tar crate
//! (hostile ones too: their paths are written into the header's bytes as they are),
//! gzip or zstd, blobs named by their sha256.
#![allow(dead_code)]

use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};

use serde_json::json;
use sha2::{Digest, Sha256};

/// One tar entry.
pub enum E<'a> {
    Dir(&'a str, u32),
    File(&'a str, &'a str, u32),
    /// A file with an owner and a modification time.
    Owned(&'a str, &'a str, u32, u64, u64, u64),
    Symlink(&'a str, &'a str),
    Link(&'a str, &'a str),
    /// Any path, written as is (no checks): for hostile layers.
    RawFile(&'a str, &'a str),
    RawSymlink(&'a str, &'a str),
    RawLink(&'a str, &'a str),
    /// A file with a pax `SCHILY.xattr.<name>` record.
    Xattr(&'a str, &'a str, &'a str, &'a str),
}

/// One pax record: `<length> <key>=<value>\n`, the length counting itself.
fn pax_record(k: &str, v: &str) -> Vec<u8> {
    let rest = format!(" {k}={v}\n");
    let mut n = rest.len() + 1;
    while n.to_string().len() + rest.len() != n {
        n += 1;
    }
    format!("{n}{rest}").into_bytes()
}

#[derive(Clone, Copy)]
pub enum Compression {
    None,
    Gzip,
    Zstd,
}

fn header(kind: tar::EntryType, path: &str, link: &str, size: u64, mode: u32) -> tar::Header {
    let mut h = tar::Header::new_ustar();
    h.set_entry_type(kind);
    {
        let u = h.as_ustar_mut().unwrap();
        u.name[..path.len()].copy_from_slice(path.as_bytes());
        u.linkname[..link.len()].copy_from_slice(link.as_bytes());
    }
    h.set_size(size);
    h.set_mode(mode);
    h.set_uid(0);
    h.set_gid(0);
    h.set_mtime(1_600_000_000);
    h.set_cksum();
    h
}

/// An uncompressed tar of `entries`.
pub fn tar(entries: &[E]) -> Vec<u8> {
    use tar::EntryType as T;
    let mut b = tar::Builder::new(Vec::new());
    for e in entries {
        let (h, data): (tar::Header, &[u8]) = match *e {
            E::Dir(p, m) => (header(T::Directory, p, "", 0, m), b""),
            E::File(p, d, m) | E::Owned(p, d, m, ..) => {
                let mut h = header(T::Regular, p, "", d.len() as u64, m);
                if let E::Owned(_, _, _, uid, gid, mtime) = *e {
                    h.set_uid(uid);
                    h.set_gid(gid);
                    h.set_mtime(mtime);
                    h.set_cksum();
                }
                (h, d.as_bytes())
            }
            E::Xattr(p, d, k, v) => {
                let rec = pax_record(&format!("SCHILY.xattr.{k}"), v);
                b.append(&header(T::XHeader, "PaxHeader", "", rec.len() as u64, 0o644), &rec[..]).unwrap();
                (header(T::Regular, p, "", d.len() as u64, 0o644), d.as_bytes())
            }
            E::RawFile(p, d) => (header(T::Regular, p, "", d.len() as u64, 0o644), d.as_bytes()),
            E::Symlink(p, t) | E::RawSymlink(p, t) => (header(T::Symlink, p, t, 0, 0o777), b""),
            E::Link(p, t) | E::RawLink(p, t) => (header(T::Link, p, t, 0, 0o644), b""),
        };
        b.append(&h, data).unwrap();
    }
    b.into_inner().unwrap()
}

fn compress(data: &[u8], c: Compression) -> (Vec<u8>, &'static str) {
    match c {
        Compression::None => (data.to_vec(), "application/vnd.oci.image.layer.v1.tar"),
        Compression::Gzip => {
            let mut g = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
            g.write_all(data).unwrap();
            (g.finish().unwrap(), "application/vnd.oci.image.layer.v1.tar+gzip")
        }
        Compression::Zstd => {
            (ruzstd::encoding::compress_to_vec(data, ruzstd::encoding::CompressionLevel::Fastest), "application/vnd.oci.image.layer.v1.tar+zstd")
        }
    }
}

pub fn sha(data: &[u8]) -> String {
    format!("{:x}", Sha256::digest(data))
}

/// An OCI layout being built in a directory.
pub struct Layout {
    pub dir: PathBuf,
    manifests: Vec<serde_json::Value>,
    /// The config's User of the next image ("1000" unless changed).
    pub user: String,
}

impl Layout {
    pub fn new(dir: &Path) -> Layout {
        fs::create_dir_all(dir.join("blobs/sha256")).unwrap();
        fs::write(dir.join("oci-layout"), r#"{"imageLayoutVersion":"1.0.0"}"#).unwrap();
        let l = Layout { dir: dir.to_path_buf(), manifests: Vec::new(), user: "1000".into() };
        l.write_index();
        l
    }

    /// Writes a blob; returns its hex digest and size.
    pub fn blob(&self, data: &[u8]) -> (String, usize) {
        let h = sha(data);
        fs::write(self.dir.join("blobs/sha256").join(&h), data).unwrap();
        (h, data.len())
    }

    pub fn blob_path(&self, hex: &str) -> PathBuf {
        self.dir.join("blobs/sha256").join(hex)
    }

    /// Adds an image of `layers` (tars) named `ref_name`; returns the manifest's hex and
    /// the layers' blob hexes.
    pub fn image(&mut self, layers: &[(Vec<u8>, Compression)], ref_name: Option<&str>, cmd: &[&str]) -> (String, Vec<String>) {
        let mut descs = Vec::new();
        let mut diff_ids = Vec::new();
        let mut hexes = Vec::new();
        for (t, c) in layers {
            diff_ids.push(format!("sha256:{}", sha(t)));
            let (data, mt) = compress(t, *c);
            let (h, n) = self.blob(&data);
            descs.push(json!({"mediaType": mt, "digest": format!("sha256:{h}"), "size": n}));
            hexes.push(h);
        }
        let config = json!({
            "architecture": host_arch(), "os": "linux",
            "config": {"Env": ["PATH=/bin", "FROM_IMAGE=yes"], "Entrypoint": ["/bin/sh", "-c"], "Cmd": cmd, "WorkingDir": "/work", "User": self.user},
            "rootfs": {"type": "layers", "diff_ids": diff_ids}
        });
        let (ch, cn) = self.blob(config.to_string().as_bytes());
        let manifest = json!({
            "schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json",
            "config": {"mediaType": "application/vnd.oci.image.config.v1+json", "digest": format!("sha256:{ch}"), "size": cn},
            "layers": descs
        });
        let (mh, mn) = self.blob(manifest.to_string().as_bytes());
        let mut d = json!({"mediaType": "application/vnd.oci.image.manifest.v1+json", "digest": format!("sha256:{mh}"), "size": mn});
        if let Some(r) = ref_name {
            d["annotations"] = json!({"org.opencontainers.image.ref.name": r});
        }
        self.manifests.push(d);
        self.write_index();
        (mh, hexes)
    }

    fn write_index(&self) {
        let idx = json!({"schemaVersion": 2, "mediaType": "application/vnd.oci.image.index.v1+json", "manifests": self.manifests});
        fs::write(self.dir.join("index.json"), idx.to_string()).unwrap();
    }

    /// A tar of the layout (an `oci-archive:`).
    pub fn archive(&self, file: &Path) {
        let mut b = tar::Builder::new(fs::File::create(file).unwrap());
        b.append_dir_all(".", &self.dir).unwrap();
        b.finish().unwrap();
    }
}

pub fn host_arch() -> &'static str {
    match std::env::consts::ARCH {
        "x86_64" => "amd64",
        "aarch64" => "arm64",
        other => other,
    }
}
