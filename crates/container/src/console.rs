//! Terminals: a pty for the payload, its master sent to `--console-socket` as runc does
//! (SCM_RIGHTS, with the pty's name as the message).

use std::os::fd::{AsFd, OwnedFd};
use std::path::Path;

use rustix::net::{sendmsg, SendAncillaryBuffer, SendAncillaryMessage, SendFlags};
use rustix::pty::{grantpt, openpt, ptsname, unlockpt, OpenptFlags};

use crate::error::io_err;
use crate::ContainerError;

/// (master, slave, name) of a new pty.
pub fn open_pty() -> Result<(OwnedFd, OwnedFd, String), ContainerError> {
    let err = |e: rustix::io::Errno| io_err("open a terminal", "/dev/ptmx")(e.into());
    let master = openpt(OpenptFlags::RDWR | OpenptFlags::NOCTTY | OpenptFlags::CLOEXEC).map_err(err)?;
    grantpt(&master).map_err(err)?;
    unlockpt(&master).map_err(err)?;
    let name = ptsname(&master, Vec::new()).map_err(err)?;
    let name = name.to_string_lossy().into_owned();
    let slave = rustix::fs::open(name.as_str(), rustix::fs::OFlags::RDWR | rustix::fs::OFlags::NOCTTY | rustix::fs::OFlags::CLOEXEC, rustix::fs::Mode::empty())
        .map_err(|e| io_err("open the terminal", name.clone())(e.into()))?;
    Ok((master, slave, name))
}

/// Sends `master` over the unix socket at `socket`.
pub fn send_master(socket: &Path, master: &OwnedFd, name: &str) -> Result<(), ContainerError> {
    let err = |e: rustix::io::Errno| io_err("send the terminal to --console-socket", socket)(e.into());
    let sock = rustix::net::socket(rustix::net::AddressFamily::UNIX, rustix::net::SocketType::STREAM, None).map_err(err)?;
    let addr = rustix::net::SocketAddrUnix::new(socket).map_err(err)?;
    rustix::net::connect(&sock, &addr).map_err(err)?;
    let fds = [master.as_fd()];
    let mut space = [std::mem::MaybeUninit::uninit(); rustix::cmsg_space!(ScmRights(1))];
    let mut buf = SendAncillaryBuffer::new(&mut space);
    buf.push(SendAncillaryMessage::ScmRights(&fds));
    let data = [std::io::IoSlice::new(name.as_bytes())];
    sendmsg(&sock, &data, &mut buf, SendFlags::empty()).map_err(err)?;
    Ok(())
}
