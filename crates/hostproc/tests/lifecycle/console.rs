//! Console socket.

use super::*;

/// Receives one file descriptor (SCM_RIGHTS) from a connected unix socket.
fn recv_fd(sock: RawFd) -> std::io::Result<OwnedFd> {
    let mut data = [0u8; 4096];
    let mut iov = libc::iovec {
        iov_base: data.as_mut_ptr().cast(),
        iov_len: data.len(),
    };
    // SAFETY: CMSG_SPACE is a pure computation.
    let space = unsafe { libc::CMSG_SPACE(std::mem::size_of::<RawFd>() as u32) } as usize;
    let mut cbuf = vec![0u8; space * 4];
    // SAFETY: msghdr is plain data; every pointer below points into live buffers.
    let mut msg: libc::msghdr = unsafe { std::mem::zeroed() };
    msg.msg_iov = &mut iov;
    msg.msg_iovlen = 1;
    msg.msg_control = cbuf.as_mut_ptr().cast();
    msg.msg_controllen = cbuf.len() as _;
    let n = unsafe { libc::recvmsg(sock, &mut msg, libc::MSG_CMSG_CLOEXEC) };
    if n < 0 {
        return Err(std::io::Error::last_os_error());
    }
    // SAFETY: walking the control messages the kernel filled in.
    unsafe {
        let mut cmsg = libc::CMSG_FIRSTHDR(&msg);
        while !cmsg.is_null() {
            if (*cmsg).cmsg_level == libc::SOL_SOCKET && (*cmsg).cmsg_type == libc::SCM_RIGHTS {
                let fd = std::ptr::read_unaligned(libc::CMSG_DATA(cmsg) as *const RawFd);
                return Ok(OwnedFd::from_raw_fd(fd));
            }
            cmsg = libc::CMSG_NXTHDR(&msg, cmsg);
        }
    }
    Err(std::io::Error::other("no descriptor in the message"))
}

/// Listens on `path` and, in a thread, accepts one connection and receives one fd.
fn console_listener(path: &Path) -> thread::JoinHandle<std::io::Result<OwnedFd>> {
    let l = UnixListener::bind(path).unwrap();
    thread::spawn(move || {
        let (s, _) = l.accept()?;
        recv_fd(s.as_raw_fd())
    })
}

/// Reads from `fd` until `needle` shows up or `timeout` passes; returns all read.
fn read_until(fd: &OwnedFd, acc: &mut String, needle: &str, timeout: Duration) -> bool {
    let end = Instant::now() + timeout;
    let mut buf = [0u8; 4096];
    while !acc.contains(needle) {
        let left = end.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return false;
        }
        let mut p = libc::pollfd {
            fd: fd.as_raw_fd(),
            events: libc::POLLIN,
            revents: 0,
        };
        // SAFETY: one valid pollfd.
        let r = unsafe { libc::poll(&mut p, 1, left.as_millis().min(200) as i32) };
        if r <= 0 {
            continue;
        }
        // SAFETY: reading into a live buffer.
        let n = unsafe { libc::read(fd.as_raw_fd(), buf.as_mut_ptr().cast(), buf.len()) };
        if n <= 0 {
            // EIO once the slave side is closed.
            return acc.contains(needle);
        }
        acc.push_str(&String::from_utf8_lossy(&buf[..n as usize]));
    }
    true
}

fn write_fd(fd: &OwnedFd, data: &[u8]) {
    // SAFETY: writing from a live buffer.
    let n = unsafe { libc::write(fd.as_raw_fd(), data.as_ptr().cast(), data.len()) };
    assert_eq!(n, data.len() as isize, "write to the pty master");
}

/// create with process.terminal and --console-socket sends the pty master over the
/// socket; the payload's terminal I/O goes through it, and its exit is observed.
#[test]
fn console_socket_receives_the_pty_master() {
    let root = Root::new();
    let mut b = Bundle::new();
    b.grace("1s")
        .process_field("terminal", json!(true))
        .sh("tty; echo hi; read line; echo got=$line; exit 0");
    let id = unique_id("console");
    let c = Ctr::new(&root, &id);
    let sock = c.scratch().join("console.sock");
    let rx = console_listener(&sock);
    c.create(&b, &["--console-socket", sock.to_str().unwrap()])
        .assert_code(0);
    let master = rx.join().unwrap().expect("a pty master fd over the console socket");
    // It is a pty master (ptmx).
    let link = fs::read_link(format!("/proc/self/fd/{}", master.as_raw_fd())).unwrap();
    assert!(link.to_string_lossy().contains("ptmx"), "received {}", link.display());
    c.start().assert_code(0);
    let mut acc = String::new();
    assert!(read_until(&master, &mut acc, "hi", secs(10)), "read through the pty: {acc:?}");
    assert!(acc.contains("/dev/pts/"), "tty did not name a pty: {acc:?}");
    write_fd(&master, b"ping\n");
    assert!(read_until(&master, &mut acc, "got=ping", secs(10)), "{acc:?}");
    assert!(c.wait_status("stopped", SLACK + secs(1)), "{:#}", c.state());
    drop(master);
    c.delete().assert_code(0);
    cleanup_check(&root, &b, &id, &[]);
}

/// exec --tty --console-socket: the exec'd process gets a terminal whose master comes over
/// the socket.
#[test]
fn exec_tty_console_socket() {
    let root = Root::new();
    let b = staying_bundle();
    let id = unique_id("exectty");
    let c = Ctr::new(&root, &id);
    create_and_start(&c, &b);
    let sock = c.scratch().join("exec.sock");
    let rx = console_listener(&sock);
    let pf = c.scratch().join("exec.pid");
    let out = c.exec(
        &[
            "--tty",
            "--console-socket",
            sock.to_str().unwrap(),
            "--detach",
            "--pid-file",
            pf.to_str().unwrap(),
        ],
        &["/bin/sh", "-c", "tty; read x; echo got=$x"],
    );
    out.assert_code(0);
    let master = rx.join().unwrap().expect("a pty master fd");
    let mut acc = String::new();
    assert!(read_until(&master, &mut acc, "/dev/pts/", secs(10)), "{acc:?}");
    write_fd(&master, b"pong\n");
    assert!(read_until(&master, &mut acc, "got=pong", secs(10)), "{acc:?}");
    drop(master);
    finish(&c, &b);
}
