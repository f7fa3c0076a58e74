//! Groups taken from the image. containerd's CRI plugin (WithAdditionalGIDs, 1.6.18 on)
//! puts into process.user.additionalGids the user's primary gid and the gids of the
//! groups of the *image's* /etc/group that list the user's name (the image's
//! /etc/passwd names the uid), then the pod's supplementalGroups. A HostProcess payload
//! runs on the host as a host account, where those numbers name the host's groups (a
//! busybox image's `wheel`, gid 10, is `uucp` on Debian). So, as on Windows, where the
//! payload gets the host account's token, it gets the host account's groups instead:
//! the image's are recomputed as containerd did and dropped unless the host's group of
//! that number has the same name, the host account's own groups (what initgroups(3)
//! gives) are added, and every other gid (the pod's) is kept.

use std::io::Read;
use std::path::Path;

use crate::db::{self, Group};
use crate::{Identity, IdentityError};

/// What [`host_groups`] changed.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct GroupsFromImage {
    /// Dropped: (gid, the image's name for it, the host's name for it if any).
    pub dropped: Vec<(u32, String, Option<String>)>,
    /// Added: the host account's own groups the list did not have.
    pub added: Vec<u32>,
}

/// Reads `rel` inside `rootfs` as the image sees it (symlinks resolved within the rootfs,
/// as containerd's `fs.RootPath` does). `None` when it is not there or not a regular file.
fn read_in_root(rootfs: &Path, rel: &str) -> Result<Option<String>, IdentityError> {
    use rustix::fs::{openat2, Mode, OFlags, ResolveFlags};
    let path = rootfs.join(rel);
    let io = |source: std::io::Error| IdentityError::Io { what: "read the image's", path: path.clone(), source };
    let root = match rustix::fs::open(rootfs, OFlags::PATH | OFlags::DIRECTORY | OFlags::CLOEXEC, Mode::empty()) {
        Ok(fd) => fd,
        Err(rustix::io::Errno::NOENT) => return Ok(None),
        Err(e) => return Err(io(e.into())),
    };
    // Never blocks on a fifo planted there: non-regular files are skipped unread.
    let flags = OFlags::RDONLY | OFlags::NONBLOCK | OFlags::NOCTTY | OFlags::CLOEXEC;
    let fd = match openat2(&root, rel, flags, Mode::empty(), ResolveFlags::IN_ROOT | ResolveFlags::NO_MAGICLINKS) {
        Ok(fd) => fd,
        Err(rustix::io::Errno::NOENT) | Err(rustix::io::Errno::NOTDIR) => return Ok(None),
        Err(e) => return Err(io(e.into())),
    };
    let st = rustix::fs::fstat(&fd).map_err(|e| io(e.into()))?;
    if rustix::fs::FileType::from_raw_mode(st.st_mode) != rustix::fs::FileType::RegularFile {
        return Ok(None);
    }
    let mut text = Vec::new();
    // A user database of more than 16 MiB is no image's.
    std::fs::File::from(fd).take(16 << 20).read_to_end(&mut text).map_err(io)?;
    Ok(Some(String::from_utf8_lossy(&text).into_owned()))
}

/// The groups containerd took from the image for `uid`: those of the image's /etc/group
/// listing the user's name (by the image's /etc/passwd), except a group named as the user.
fn image_groups(uid: u32, passwd: Option<&str>, groups: &[Group]) -> Vec<(u32, String)> {
    let Some(name) = passwd.and_then(|p| db::parse_passwd(p).into_iter().find(|p| p.uid == uid)).map(|p| p.name) else {
        return Vec::new();
    };
    groups.iter().filter(|g| g.name != name && g.members.contains(&name)).map(|g| (g.gid, g.name.clone())).collect()
}

/// Gives `id` (from process.user) the host's groups in place of the image's (see the
/// module's text). Nothing is read, and nothing changes, when additionalGids is empty
/// (nothing was derived) or the rootfs has no /etc/group.
pub fn host_groups(id: &mut Identity, rootfs: &Path) -> Result<Option<GroupsFromImage>, IdentityError> {
    if id.additional_gids.is_empty() {
        return Ok(None);
    }
    let Some(image_group) = read_in_root(rootfs, "etc/group")? else { return Ok(None) };
    let image_group = db::parse_group(&image_group);
    // containerd asks for runAsUser's groups, or uid 0's when the pod sets none (even if
    // the image's USER runs the process): either may be in the list.
    let passwd = read_in_root(rootfs, "etc/passwd")?;
    let mut derived = image_groups(id.uid, passwd.as_deref(), &image_group);
    if id.uid != 0 {
        derived.extend(image_groups(0, passwd.as_deref(), &image_group));
    }
    let host_group = db::group()?;
    let host_name = |gid: u32| host_group.iter().find(|g| g.gid == gid).map(|g| g.name.clone());
    let mut out = GroupsFromImage::default();
    let mut gids = Vec::with_capacity(id.additional_gids.len());
    for &gid in &id.additional_gids {
        let names: Vec<&str> = derived.iter().filter(|(g, _)| *g == gid).map(|(_, n)| n.as_str()).collect();
        // The primary gid applies anyway (setgid), and initgroups lists it too.
        if gid != id.gid && !names.is_empty() {
            let host = host_name(gid);
            if !host.as_deref().is_some_and(|h| names.contains(&h)) {
                if !out.dropped.iter().any(|(g, _, _)| *g == gid) {
                    out.dropped.push((gid, names[0].to_owned(), host));
                }
                continue;
            }
        }
        if !gids.contains(&gid) {
            gids.push(gid);
        }
    }
    // The host account's own groups, as initgroups(3) gives them.
    if let Some(user) = db::passwd_snapshot()?.iter().find(|p| p.uid == id.uid) {
        for g in host_group.iter().filter(|g| g.members.contains(&user.name)) {
            if !gids.contains(&g.gid) {
                gids.push(g.gid);
                out.added.push(g.gid);
            }
        }
    }
    id.additional_gids = gids;
    Ok(Some(out))
}

/// An image's `User` ("user", "user:group", each a name or a number) for a payload that
/// runs on the host as a host account: names are looked up in the host's databases, as
/// `runAsUserName` is, never in the image's /etc/passwd (whose numbers name the host's
/// accounts once the payload runs here, as with its groups above). Without a group, the
/// host account's primary group (0 when the host does not know the uid); the groups are
/// the primary one and every host group that lists the account (what initgroups(3) gives).
pub fn image_user(user: &str) -> Result<Identity, IdentityError> {
    let (u, g) = match user.split_once(':') {
        Some((u, g)) => (u, Some(g)),
        None => (user, None),
    };
    let bad = |detail: String| IdentityError::ImageUser { user: user.to_owned(), detail };
    let fix = "a HostProcess payload runs as a host account, so the name is looked up on this host, not in the image's /etc/passwd";
    if u.is_empty() {
        return Err(bad("no user before the ':'; give \"user\", \"uid\", \"user:group\" or \"uid:gid\"".into()));
    }
    let pw = db::passwd_snapshot()?;
    let account = match u.parse::<u32>() {
        Ok(uid) => pw.iter().find(|p| p.uid == uid).map_or((uid, None, None), |p| (uid, Some(p.gid), Some(p.name.clone()))),
        Err(_) => match pw.iter().find(|p| p.name == u) {
            Some(p) => (p.uid, Some(p.gid), Some(p.name.clone())),
            None => return Err(bad(format!("no user {u:?} on this host ({fix}); create it (useradd {u}), or set the container's securityContext.runAsUser or windowsOptions.runAsUserName"))),
        },
    };
    let groups = db::group()?;
    let gid = match g {
        None => account.1.unwrap_or(0),
        Some("") => return Err(bad("no group after the ':'; give \"user:group\" or \"uid:gid\"".into())),
        Some(g) => match g.parse::<u32>() {
            Ok(gid) => gid,
            Err(_) => match groups.iter().find(|x| x.name == g) {
                Some(x) => x.gid,
                None => return Err(bad(format!("no group {g:?} on this host ({fix}); create it (groupadd {g}), or set the container's securityContext.runAsGroup"))),
            },
        },
    };
    let mut additional_gids = vec![gid];
    if let Some(name) = &account.2 {
        for x in groups.iter().filter(|x| x.members.contains(name)) {
            if !additional_gids.contains(&x.gid) {
                additional_gids.push(x.gid);
            }
        }
    }
    Ok(Identity { uid: account.0, gid, additional_gids, umask: None, name: account.2 })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn image_groups_as_containerd_derives_them() {
        let groups = db::parse_group("root:x:0:\nwheel:x:10:root\nadm:x:4:root,daemon\nroot2:x:11:\nalice:x:1000:alice\nstaff:x:50:alice\n");
        let passwd = "root:x:0:0:root:/root:/bin/sh\nalice:x:1000:1000::/home/alice:/bin/sh\n";
        assert_eq!(image_groups(0, Some(passwd), &groups), vec![(10, "wheel".into()), (4, "adm".into())]);
        // The group named as the user is its own, not a supplementary one.
        assert_eq!(image_groups(1000, Some(passwd), &groups), vec![(50, "staff".into())]);
        // A uid the image does not know, or no passwd: only the primary gid was added.
        assert!(image_groups(7, Some(passwd), &groups).is_empty());
        assert!(image_groups(0, None, &groups).is_empty());
    }

    /// Against this host's databases (read only): root and daemon are in every Debian's.
    #[test]
    fn image_users_resolve_against_the_host() {
        let root = image_user("root").unwrap();
        assert_eq!((root.uid, root.gid, root.name.as_deref()), (0, 0, Some("root")));
        let d = image_user("daemon:root").unwrap();
        assert_eq!((d.uid, d.gid), (1, 0));
        let n = image_user("4242:4243").unwrap();
        assert_eq!((n.uid, n.gid, n.additional_gids.as_slice()), (4242, 4243, &[4243][..]));
        let e = image_user("no-such-user-hp").unwrap_err().to_string();
        assert!(e.contains("\"no-such-user-hp\"") && e.contains("useradd no-such-user-hp") && e.contains("runAsUser"), "{e}");
        let e = image_user("root:no-such-group-hp").unwrap_err().to_string();
        assert!(e.contains("groupadd no-such-group-hp") && e.contains("runAsGroup"), "{e}");
        assert!(image_user(":0").is_err() && image_user("0:").is_err());
    }

    #[test]
    fn read_in_root_stays_in_the_rootfs_and_skips_what_is_not_a_file() {
        let dir = std::env::temp_dir().join(format!("hostproc-image-test-{}", std::process::id()));
        let etc = dir.join("etc");
        std::fs::create_dir_all(&etc).unwrap();
        assert_eq!(read_in_root(&dir, "etc/group").unwrap(), None);
        // An absolute symlink resolves inside the rootfs, as in the image.
        std::fs::write(dir.join("group.real"), "g:x:1:\n").unwrap();
        std::os::unix::fs::symlink("/group.real", etc.join("group")).unwrap();
        assert_eq!(read_in_root(&dir, "etc/group").unwrap().as_deref(), Some("g:x:1:\n"));
        std::os::unix::fs::symlink("/etc/../../../../etc/hostname", etc.join("passwd")).unwrap();
        assert_eq!(read_in_root(&dir, "etc/passwd").unwrap(), None, "the host's /etc/hostname is not the image's");
        std::fs::remove_file(etc.join("group")).unwrap();
        std::fs::create_dir(etc.join("group")).unwrap();
        assert_eq!(read_in_root(&dir, "etc/group").unwrap(), None);
        assert_eq!(read_in_root(&dir.join("missing"), "etc/group").unwrap(), None);
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
