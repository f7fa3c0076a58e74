//! Ephemeral users, with systemd DynamicUser's locking protocol: a uid from 61184-65519
//! is taken by creating and `flock`ing `/run/systemd/dynamic-uid/<uid>` (the same
//! directory systemd uses, so neither hands out a uid the other holds), and held for the
//! container's life; uids the user or group database knows, or that own files in the
//! usual places, are skipped. The user itself is a real entry in the user database made
//! by `useradd` (which takes the database's own lock, lckpwdf), since this host resolves
//! names through files only; `userdel` removes it, then the lock file is unlinked while
//! still locked, as systemd does.

use std::fs::{File, OpenOptions};
use std::io::Write;
use std::os::unix::fs::{MetadataExt, OpenOptionsExt};
use std::path::{Path, PathBuf};
use std::process::Command;

use rustix::fs::{flock, FlockOperation};

use crate::{db, EphemeralUser, IdentityError};

pub const UID_MIN: u32 = 61184;
pub const UID_MAX: u32 = 65519;
pub const DYNAMIC_UID_DIR: &str = "/run/systemd/dynamic-uid";

/// A held ephemeral uid (and, once made, its user). Dropping it releases only the lock;
/// `release` also removes the user.
#[derive(Debug)]
pub struct Ephemeral {
    pub user: EphemeralUser,
    lock: File,
}

impl Ephemeral {
    /// The lock's descriptor, for a forked child to close its copy.
    pub fn lock_fd(&self) -> i32 {
        use std::os::fd::AsRawFd;
        self.lock.as_raw_fd()
    }
}

/// Serializes hostproc's own useradd/userdel calls: the shadow tools' lock retries with a
/// one-second sleep when contended, while a flock hands over at once.
const TOOL_LOCK: &str = "/run/lock/hostproc/userdb.lock";

fn tool_lock() -> Option<File> {
    {
        use std::os::unix::fs::DirBuilderExt;
        let _ = std::fs::DirBuilder::new().recursive(true).mode(0o700).create("/run/lock/hostproc");
    }
    let f = OpenOptions::new().write(true).create(true).mode(0o600).custom_flags(rustix::fs::OFlags::NOFOLLOW.bits() as i32).open(TOOL_LOCK).ok()?;
    flock(&f, FlockOperation::LockExclusive).ok()?;
    Some(f)
}

/// Runs a shadow tool (useradd, userdel) under our lock, with a clean environment.
fn shadow_tool(what: &'static str, tool: &str, args: &[&str], name: &str) -> Result<(), IdentityError> {
    let _guard = tool_lock();
    let out = Command::new(tool)
        .args(args)
        .env_clear()
        .env("PATH", "/usr/sbin:/usr/bin:/sbin:/bin")
        .output()
        .map_err(|e| IdentityError::Tool { what, name: name.into(), detail: format!("{tool}: {e} (install the passwd package)") })?;
    if !out.status.success() {
        return Err(IdentityError::Tool { what, name: name.into(), detail: String::from_utf8_lossy(&out.stderr).trim().to_owned() });
    }
    Ok(())
}

fn lock_path(dir: &Path, uid: u32) -> PathBuf {
    dir.join(uid.to_string())
}

/// A valid user name from the container id: `hp<uid>-<id's first letters>`, lower case,
/// at most 31 bytes, unique because the uid is.
pub fn name_for(id: &str, uid: u32) -> String {
    let mut s = format!("hp{uid}-");
    for c in id.chars() {
        if s.len() >= 31 {
            break;
        }
        let c = c.to_ascii_lowercase();
        s.push(if c.is_ascii_lowercase() || c.is_ascii_digit() { c } else { '-' });
    }
    s.trim_end_matches('-').to_owned()
}

/// Does `uid` own a top-level entry of the places users keep files?
fn owns_files(uid: u32) -> bool {
    ["/home", "/tmp", "/var/tmp", "/dev/shm", "/run/user", "/var/mail"].iter().any(|d| {
        std::fs::read_dir(d)
            .map(|rd| rd.filter_map(|e| e.ok()).any(|e| e.metadata().map(|m| m.uid() == uid).unwrap_or(false)))
            .unwrap_or(false)
    })
}

/// Takes a free uid for container `id`, then makes user `hp<uid>-<id>` in group `gid`.
/// The caller records `user` in its state before anything else, so that a crash after this
/// point is undone by `delete --force`.
pub fn allocate(id: &str, gid: u32, before_useradd: impl FnOnce(&EphemeralUser) -> Result<(), String>) -> Result<Ephemeral, IdentityError> {
    let dir = Path::new(DYNAMIC_UID_DIR);
    std::fs::create_dir_all(dir).map_err(|source| IdentityError::Io { what: "create", path: dir.into(), source })?;
    let pw = db::passwd()?;
    let gr = db::group()?;
    let span = UID_MAX - UID_MIN + 1;
    // Start where the id hashes to, as systemd starts where the name hashes to.
    let start = id.bytes().fold(0xcbf29ce484222325u64, |h, b| (h ^ u64::from(b)).wrapping_mul(0x100000001b3)) % u64::from(span);
    for i in 0..span {
        let uid = UID_MIN + ((start as u32 + i) % span);
        if pw.iter().any(|p| p.uid == uid) || gr.iter().any(|g| g.gid == uid) {
            continue;
        }
        let path = lock_path(dir, uid);
        let f = open_lock(&path)?;
        match flock(&f, FlockOperation::NonBlockingLockExclusive) {
            Ok(()) => {}
            Err(rustix::io::Errno::WOULDBLOCK) => continue,
            Err(e) => return Err(IdentityError::Io { what: "lock", path, source: e.into() }),
        }
        // Unlinked by its releaser between our open and our lock: not a valid claim.
        if f.metadata().map(|m| m.nlink() == 0).unwrap_or(true) {
            continue;
        }
        // Re-read: another runtime may have added the uid since we read the database.
        if db::passwd()?.iter().any(|p| p.uid == uid) || owns_files(uid) {
            continue;
        }
        return claim(f, &path, id, uid, gid, before_useradd);
    }
    Err(IdentityError::Exhausted)
}

/// Takes exactly `uid` for container `id` (a checkpoint's restore: its processes' files
/// and credentials carry that uid), then makes user `hp<uid>-<id>` in group `gid`. Refused
/// with the reason when the uid is held by another container or known to the user or
/// group database.
pub fn allocate_exact(id: &str, uid: u32, gid: u32, before_useradd: impl FnOnce(&EphemeralUser) -> Result<(), String>) -> Result<Ephemeral, IdentityError> {
    let taken = |why: String| IdentityError::Taken { uid, detail: why };
    if !(UID_MIN..=UID_MAX).contains(&uid) {
        return Err(taken(format!("it is outside the ephemeral range {UID_MIN}-{UID_MAX}")));
    }
    let dir = Path::new(DYNAMIC_UID_DIR);
    std::fs::create_dir_all(dir).map_err(|source| IdentityError::Io { what: "create", path: dir.into(), source })?;
    if let Some(p) = db::passwd()?.iter().find(|p| p.uid == uid) {
        return Err(taken(format!("user {} has it now; remove that user (or its container) first", p.name)));
    }
    if let Some(g) = db::group()?.iter().find(|g| g.gid == uid) {
        return Err(taken(format!("group {} has it as its gid", g.name)));
    }
    let path = lock_path(dir, uid);
    let f = open_lock(&path)?;
    match flock(&f, FlockOperation::NonBlockingLockExclusive) {
        Ok(()) => {}
        Err(rustix::io::Errno::WOULDBLOCK) => return Err(taken(format!("another container holds it ({})", path.display()))),
        Err(e) => return Err(IdentityError::Io { what: "lock", path, source: e.into() }),
    }
    claim(f, &path, id, uid, gid, before_useradd)
}

/// The uid's lock file, opened (made if missing) without following links.
fn open_lock(path: &Path) -> Result<File, IdentityError> {
    OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .mode(0o600)
        .custom_flags(rustix::fs::OFlags::NOFOLLOW.bits() as i32 | rustix::fs::OFlags::NOCTTY.bits() as i32)
        .open(path)
        .map_err(|source| IdentityError::Io { what: "open the uid lock", path: path.to_path_buf(), source })
}

/// With `uid`'s lock held in `f`: writes the user's name into it, lets the caller record the
/// user, then makes it with useradd (the lock file removed again if useradd fails).
fn claim(mut f: File, path: &Path, id: &str, uid: u32, gid: u32, before_useradd: impl FnOnce(&EphemeralUser) -> Result<(), String>) -> Result<Ephemeral, IdentityError> {
    let user = EphemeralUser { name: name_for(id, uid), uid };
    f.set_len(0).ok();
    let _ = writeln!(f, "{}", user.name);
    before_useradd(&user).map_err(|detail| IdentityError::Tool { what: "record", name: user.name.clone(), detail })?;
    let (uid_s, gid_s) = (uid.to_string(), gid.to_string());
    let comment = format!("hostproc ephemeral user of container {id}");
    let args = [
        "--system", "--no-create-home", "--no-user-group", "--home-dir", "/nonexistent", "--shell", "/usr/sbin/nologin",
        "--uid", &uid_s, "--gid", &gid_s, "--comment", &comment, &user.name,
    ];
    if let Err(e) = shadow_tool("create", "useradd", &args, &user.name) {
        let _ = std::fs::remove_file(path);
        return Err(e);
    }
    Ok(Ephemeral { user, lock: f })
}

/// Removes the ephemeral user and its uid lock. Safe after a crash (the lock then is
/// free) and when called twice. `held`: this process's own hold, if it has one.
pub fn release(user: &EphemeralUser, held: Option<Ephemeral>) -> Result<(), IdentityError> {
    let path = lock_path(Path::new(DYNAMIC_UID_DIR), user.uid);
    let lock = match held {
        Some(e) => Some(e.lock),
        None => match OpenOptions::new().read(true).write(true).custom_flags(rustix::fs::OFlags::NOFOLLOW.bits() as i32).open(&path) {
            Ok(f) => match flock(&f, FlockOperation::NonBlockingLockExclusive) {
                Ok(()) => Some(f),
                // Someone holds it: the uid is (again) in use by a live container.
                Err(rustix::io::Errno::WOULDBLOCK) => return Ok(()),
                Err(e) => return Err(IdentityError::Io { what: "lock", path, source: e.into() }),
            },
            Err(_) => None,
        },
    };
    // Only our own entry: the name and the uid must both match.
    let ours = db::passwd()?.iter().any(|p| p.name == user.name && p.uid == user.uid);
    if ours {
        shadow_tool("remove", "userdel", &[&user.name], &user.name)?;
    }
    if lock.is_some() {
        let _ = std::fs::remove_file(&path);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    #[test]
    fn names() {
        assert_eq!(name_for("My_Container.1", 61184), "hp61184-my-container-1");
        assert!(name_for(&"x".repeat(100), 65519).len() <= 31);
        assert_eq!(name_for("---", 61200), "hp61200");
    }
}
