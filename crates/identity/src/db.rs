//! The files user and group databases (/etc/passwd, /etc/group), read-only. Writes go
//! through the shadow tools, which take the database's own lock.

use std::path::Path;

use crate::IdentityError;

#[derive(Debug, Clone)]
pub struct Passwd {
    pub name: String,
    pub uid: u32,
    pub gid: u32,
    pub home: String,
}

#[derive(Debug, Clone)]
pub struct Group {
    pub name: String,
    pub gid: u32,
    pub members: Vec<String>,
}

fn read(path: &str) -> Result<String, IdentityError> {
    std::fs::read_to_string(path).map_err(|source| IdentityError::Database { path: Path::new(path).into(), source })
}

/// The user database as this process first read it: lookups by name or uid while a
/// container is made read it once, not once per question. What must see the file as it is
/// now (the ephemeral users' checks around useradd) calls [`passwd`].
pub fn passwd_snapshot() -> Result<&'static [Passwd], IdentityError> {
    static SNAPSHOT: std::sync::OnceLock<Vec<Passwd>> = std::sync::OnceLock::new();
    if let Some(pw) = SNAPSHOT.get() {
        return Ok(pw);
    }
    let pw = passwd()?;
    Ok(SNAPSHOT.get_or_init(|| pw))
}

pub fn passwd() -> Result<Vec<Passwd>, IdentityError> {
    Ok(parse_passwd(&read("/etc/passwd")?))
}

/// The entries of a passwd file's text (malformed lines skipped).
pub fn parse_passwd(text: &str) -> Vec<Passwd> {
    text.lines()
        .filter_map(|l| {
            let f: Vec<&str> = l.split(':').collect();
            (f.len() >= 7).then(|| Some(Passwd { name: f[0].into(), uid: f[2].parse().ok()?, gid: f[3].parse().ok()?, home: f[5].into() }))?
        })
        .collect()
}

pub fn group() -> Result<Vec<Group>, IdentityError> {
    Ok(parse_group(&read("/etc/group")?))
}

/// The entries of a group file's text (malformed lines skipped).
pub fn parse_group(text: &str) -> Vec<Group> {
    text.lines()
        .filter_map(|l| {
            let f: Vec<&str> = l.split(':').collect();
            (f.len() >= 4).then(|| {
                Some(Group {
                    name: f[0].into(),
                    gid: f[2].parse().ok()?,
                    members: f[3].split(',').filter(|m| !m.is_empty()).map(str::to_owned).collect(),
                })
            })?
        })
        .collect()
}
