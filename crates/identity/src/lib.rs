//! Who the payload runs as. Resolved once when the container is created and used by its
//! init and by every exec that names no user.
//!
//! * process.user's uid, gid, additionalGids and umask, as given;
//! * hostproc's own identity (`microsoft.com/hostprocess-inherit-user: "true"`);
//! * a name (`hostproc.io/run-as-user-name`, or a Pod's `runAsUserName`), checked with
//!   Kubernetes' rules first: an existing user runs as that user with its primary group and
//!   its groups from the group database; `NT AUTHORITY\SYSTEM` is root; `NT AUTHORITY\Local
//!   service` and `NT AUTHORITY\NetworkService` are `nobody:nogroup`; a group that is not a
//!   user gets an ephemeral user in it (see `ephemeral`).

mod db;
mod ephemeral;
mod image;
mod names;

pub use ephemeral::{allocate, allocate_exact, release, Ephemeral};
pub use image::{host_groups, image_user, GroupsFromImage};
use ephemeral::{DYNAMIC_UID_DIR, UID_MAX, UID_MIN};
pub use names::validate_run_as_user_name;

use std::path::PathBuf;

use serde::{Deserialize, Serialize};

#[derive(Debug, thiserror::Error)]
pub enum IdentityError {
    #[error("cannot read the user database {path}: {source}")]
    Database { path: PathBuf, source: std::io::Error },
    #[error("runAsUserName {name:?}: {detail}")]
    BadName { name: String, detail: String },
    #[error("runAsUserName {0:?}: no such user or group on this host; create it (useradd/groupadd) or name an existing one")]
    Unknown(String),
    #[error("runAsUserName {0:?}: domain accounts are not available on Linux; give a local user or group name, or NT AUTHORITY\\SYSTEM")]
    Domain(String),
    #[error("no free uid for an ephemeral user: all of {min}-{max} are taken or locked in {dir}; delete stopped containers or free uids in that range", min = UID_MIN, max = UID_MAX, dir = DYNAMIC_UID_DIR)]
    Exhausted,
    #[error("cannot {what} ephemeral user {name}: {detail}")]
    Tool { what: &'static str, name: String, detail: String },
    #[error("the ephemeral uid {uid} cannot be taken again: {detail}")]
    Taken { uid: u32, detail: String },
    #[error("the image's User {user:?}: {detail}")]
    ImageUser { user: String, detail: String },
    #[error("cannot {what} {path}: {source}")]
    Io { what: &'static str, path: PathBuf, source: std::io::Error },
}

/// An ephemeral user made for the container (recorded so that it is removed at delete).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct EphemeralUser {
    pub name: String,
    pub uid: u32,
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
    /// The name the payload knows itself by, when it has one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
}

/// What a name resolves to before anything is made.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Resolved {
    /// An existing account (or a Windows built-in mapped onto one).
    Existing(Identity),
    /// A group that is not a user: an ephemeral user is to be made in it.
    Group { name: String, gid: u32 },
}

impl Identity {
    /// process.user of the OCI spec, as given.
    pub fn from_spec(uid: u32, gid: u32, additional_gids: &[u32], umask: Option<u32>) -> Identity {
        Identity { uid, gid, additional_gids: additional_gids.to_vec(), umask, name: None }
    }

    /// hostproc's own identity (`microsoft.com/hostprocess-inherit-user: "true"`).
    pub fn inherit(umask: Option<u32>) -> Identity {
        let (uid, gid) = hostproc_sys::ids();
        let additional_gids = hostproc_sys::groups().unwrap_or_default();
        Identity { uid, gid, additional_gids, umask, name: None }
    }

    /// The home directory of `uid` in the host's user database, for a payload whose
    /// environment sets no HOME (as runc does).
    pub fn home(&self) -> Option<PathBuf> {
        db::passwd_snapshot().ok()?.iter().find(|p| p.uid == self.uid).map(|p| PathBuf::from(&p.home))
    }
}

/// The name of `uid` in the user database.
pub fn user_name(uid: u32) -> Option<String> {
    db::passwd_snapshot().ok()?.iter().find(|p| p.uid == uid).map(|p| p.name.clone())
}

/// Resolves a runAsUserName (checked with Kubernetes' rules first).
pub fn resolve(name: &str, umask: Option<u32>) -> Result<Resolved, IdentityError> {
    let errors = validate_run_as_user_name(name);
    if let Some(first) = errors.into_iter().next() {
        return Err(IdentityError::BadName { name: name.into(), detail: first });
    }
    let (domain, user) = match name.split_once('\\') {
        Some((d, u)) => (Some(d), u),
        None => (None, name),
    };
    if let Some(d) = domain {
        if d.eq_ignore_ascii_case("NT AUTHORITY") {
            let lower = user.to_ascii_lowercase();
            return match lower.as_str() {
                "system" => Ok(Resolved::Existing(Identity { uid: 0, gid: 0, additional_gids: vec![], umask, name: Some("root".into()) })),
                "local service" | "localservice" | "networkservice" | "network service" => {
                    let pw = db::passwd_snapshot()?;
                    let nobody = pw.iter().find(|p| p.name == "nobody");
                    let gid = db::group()?.iter().find(|g| g.name == "nogroup").map(|g| g.gid).or(nobody.map(|p| p.gid)).unwrap_or(65534);
                    Ok(Resolved::Existing(Identity { uid: nobody.map(|p| p.uid).unwrap_or(65534), gid, additional_gids: vec![], umask, name: Some("nobody".into()) }))
                }
                _ => Err(IdentityError::Unknown(name.into())),
            };
        }
        let host = std::fs::read_to_string("/proc/sys/kernel/hostname").unwrap_or_default();
        if d != "." && !d.eq_ignore_ascii_case(host.trim()) {
            return Err(IdentityError::Domain(name.into()));
        }
    }
    let pw = db::passwd_snapshot()?;
    let groups = db::group()?;
    if let Some(p) = pw.iter().find(|p| p.name == user) {
        let mut extra: Vec<u32> = groups.iter().filter(|g| g.members.iter().any(|m| m == user)).map(|g| g.gid).collect();
        extra.retain(|g| *g != p.gid);
        extra.insert(0, p.gid);
        return Ok(Resolved::Existing(Identity { uid: p.uid, gid: p.gid, additional_gids: extra, umask, name: Some(p.name.clone()) }));
    }
    if let Some(g) = groups.iter().find(|g| g.name == user) {
        return Ok(Resolved::Group { name: g.name.clone(), gid: g.gid });
    }
    Err(IdentityError::Unknown(name.into()))
}
