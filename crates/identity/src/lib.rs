//! Who the payload runs as. Resolved once when the container is created and used by its
//! init and by every exec that names no user.

use std::path::PathBuf;

use serde::{Deserialize, Serialize};

#[derive(Debug, thiserror::Error)]
pub enum IdentityError {
    #[error("cannot read the user database {path}: {source}")]
    Database { path: PathBuf, source: std::io::Error },
}

/// A resolved identity.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Identity {
    pub uid: u32,
    pub gid: u32,
    #[serde(default)]
    pub additional_gids: Vec<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub umask: Option<u32>,
}

impl Identity {
    /// process.user of the OCI spec, as given.
    pub fn from_spec(uid: u32, gid: u32, additional_gids: &[u32], umask: Option<u32>) -> Identity {
        Identity { uid, gid, additional_gids: additional_gids.to_vec(), umask }
    }

    /// hostproc's own identity (`microsoft.com/hostprocess-inherit-user: "true"`).
    pub fn inherit(umask: Option<u32>) -> Identity {
        let (uid, gid) = hostproc_sys::ids();
        let additional_gids = hostproc_sys::groups().unwrap_or_default();
        Identity { uid, gid, additional_gids, umask }
    }

    /// The home directory of `uid` in the host's user database, for a payload whose
    /// environment sets no HOME (as runc does).
    pub fn home(&self) -> Option<PathBuf> {
        let text = std::fs::read_to_string("/etc/passwd").ok()?;
        text.lines().find_map(|l| {
            let f: Vec<&str> = l.split(':').collect();
            (f.len() >= 7 && f[2].parse::<u32>().ok() == Some(self.uid)).then(|| PathBuf::from(f[5]))
        })
    }
}
