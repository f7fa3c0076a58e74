//! Features, version, logging, global flags.

use super::*;

#[test]
fn features_json() {
    let root = Root::new();
    let out = hp(&root, &["features"]);
    out.assert_code(0);
    let v: Value = serde_json::from_str(&out.stdout).unwrap();
    let max = v["ociVersionMax"].as_str().expect("ociVersionMax");
    assert!(max.starts_with("1."), "{max}");
    assert!(v["ociVersionMin"].is_string(), "{v:#}");
}

/// `--version` prints runc's three lines: `hostproc version X.Y.Z`, `commit: ...`,
/// `spec: X.Y.Z`.
#[test]
fn version_three_lines() {
    let root = Root::new();
    let out = hp(&root, &["--version"]);
    out.assert_code(0);
    let lines: Vec<&str> = out.stdout.lines().collect();
    assert_eq!(lines.len(), 3, "{}", out.dump());
    let v = lines[0]
        .strip_prefix("hostproc version ")
        .unwrap_or_else(|| panic!("first line {:?} is not `hostproc version X.Y.Z`", lines[0]));
    assert_eq!(v.split('.').count(), 3, "{}", lines[0]);
    assert!(v.split('.').all(|p| p.parse::<u32>().is_ok()), "{}", lines[0]);
    assert!(lines[1].starts_with("commit: ") && lines[1].len() > 8, "{}", lines[1]);
    assert!(lines[2].starts_with("spec: 1."), "{}", lines[2]);
}

/// Every JSON log line as a value; panics on a line that is not a JSON object.
fn json_log(p: &Path) -> Vec<Value> {
    fs::read_to_string(p)
        .unwrap_or_default()
        .lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| {
            let v: Value = serde_json::from_str(l).unwrap_or_else(|e| panic!("log line {l:?}: {e}"));
            assert!(v.is_object(), "{l}");
            v
        })
        .collect()
}

/// With --log-format json --log F, a failure writes an "error" line with msg and an RFC
/// 3339 time, as the shim reads it; the flags work before and after the command.
#[test]
fn json_log_on_error() {
    let root = Root::new();
    let id = unique_id("log");
    let logs = tempdir();
    let log = logs.path().join("log.json");
    let lp = log.to_str().unwrap();
    hp(&root, &["--log", lp, "--log-format", "json", "state", &id]).assert_code(1);
    hp(&root, &["kill", &id, "KILL", "--log", lp, "--log-format", "json"]).assert_code(1);
    let entries = json_log(&log);
    let errors: Vec<&Value> = entries.iter().filter(|e| e["level"] == "error").collect();
    assert_eq!(errors.len(), 2, "{entries:#?}");
    for e in &errors {
        assert!(
            e["msg"].as_str().unwrap_or("").contains("does not exist"),
            "{e}"
        );
        assert!(e["msg"].as_str().unwrap().contains(&id), "{e}");
        assert!(is_rfc3339(e["time"].as_str().unwrap_or("")), "{e}");
    }
    for e in &entries {
        let level = e["level"].as_str().unwrap_or("");
        assert_eq!(level, level.to_lowercase(), "{e}");
        assert!(is_rfc3339(e["time"].as_str().unwrap_or("")), "{e}");
    }

    // A failed start logs the program it could not run.
    let mut b = Bundle::new();
    b.write_file("hpt-logged-unexecutable", "\x01 not an executable format\n", 0o755);
    b.args(&["$CONTAINER_SANDBOX_MOUNT_POINT/hpt-logged-unexecutable"]);
    let id2 = unique_id("logstart");
    let c = Ctr::new(&root, &id2);
    c.create(&b, &[]).assert_code(0);
    let log2 = logs.path().join("start.json");
    hp(
        &root,
        &["--log", log2.to_str().unwrap(), "--log-format", "json", "start", &id2],
    )
    .assert_code(1);
    let last_error = json_log(&log2)
        .into_iter()
        .rev()
        .find(|e| e["level"] == "error")
        .expect("an error entry");
    assert!(
        last_error["msg"].as_str().unwrap_or("").contains("hpt-logged-unexecutable"),
        "{last_error}"
    );
    finish(&c, &b);
}

/// Global flags and command flags after the container id (`create ID --bundle B`).
#[test]
fn flags_after_the_id() {
    let root = Root::new();
    let b = staying_bundle();
    b.write();
    let id = unique_id("flagsafter");
    let c = Ctr::new(&root, &id);
    let logs = tempdir();
    let log = logs.path().join("log.json");
    let pf = logs.path().join("init.pid");
    let r = root.path().to_str().unwrap();
    let (o, e) = (logs.path().join("out"), logs.path().join("err"));
    let out = hostproc_files(
        &[
            "create",
            &id,
            "--bundle",
            b.path().to_str().unwrap(),
            "--root",
            r,
            "--log",
            log.to_str().unwrap(),
            "--log-format",
            "json",
            "--pid-file",
            pf.to_str().unwrap(),
        ],
        None,
        &o,
        &e,
    );
    out.assert_code(0);
    assert_eq!(c.status(), "created");
    assert_eq!(fs::read_to_string(&pf).unwrap().trim(), c.pid().to_string());
    let (o, e) = (logs.path().join("out2"), logs.path().join("err2"));
    hostproc_files(&["start", &id, "--root", r], None, &o, &e).assert_code(0);
    assert_eq!(c.status(), "running");
    let (o, e) = (logs.path().join("out3"), logs.path().join("err3"));
    let out = hostproc_files(&["state", &id, "--root", r], None, &o, &e);
    out.assert_code(0);
    let st: Value = serde_json::from_str(&out.stdout).unwrap();
    assert_eq!(st["status"], "running");
    let (o, e) = (logs.path().join("out4"), logs.path().join("err4"));
    hostproc_files(&["delete", &id, "--force", "--root", r], None, &o, &e).assert_code(0);
    cleanup_check(&root, &b, &id, &[]);
}

/// --rootless true is refused clearly; false/auto and the other runc global flags are
/// accepted.
#[test]
fn global_flags_accepted_and_rootless_refused() {
    let root = Root::new();
    for args in [
        vec!["--rootless", "true", "list"],
        vec!["--rootless=true", "list"],
    ] {
        let out = hp(&root, &args);
        out.assert_error();
        assert!(out.stderr.to_lowercase().contains("rootless"), "{args:?}:\n{}", out.dump());
    }
    // rootless refused also for create, and nothing is made.
    let b = staying_bundle();
    let id = unique_id("rootless");
    let c = Ctr::new(&root, &id);
    let out = c.create(&b, &["--rootless", "true"]);
    out.assert_error();
    assert!(hp(&root, &["state", &id]).code == Some(1));
    cleanup_check(&root, &b, &id, &[]);
    for args in [
        vec!["--rootless", "false", "list"],
        vec!["--rootless=auto", "list"],
        vec!["--debug", "list"],
        vec!["--systemd-cgroup", "list"],
        vec!["--criu", "/usr/sbin/criu", "list"],
        vec!["--log-format", "text", "list"],
    ] {
        hp(&root, &args).assert_code(0);
    }
    // create with runc's other create flags.
    let b2 = staying_bundle();
    let id2 = unique_id("flags");
    let c2 = Ctr::new(&root, &id2);
    c2.create(&b2, &["--no-pivot", "--no-new-keyring"]).assert_code(0);
    c2.start().assert_code(0);
    c2.expect_out("payload-ran", secs(10));
    finish(&c2, &b2);
}

/// create --preserve-fds 1 hands descriptor 3 to the payload.
#[test]
fn create_preserve_fds() {
    let root = Root::new();
    let mut b = Bundle::new();
    b.grace("1s").sh("echo preserved >&3; echo done");
    b.write();
    let id = unique_id("fds");
    let c = Ctr::new(&root, &id);
    let target = c.scratch().join("fd3");
    let f = fs::File::create(&target).unwrap();
    let fd = f.as_raw_fd();
    let mut cmd = Command::new(HOSTPROC);
    cmd.arg("--root")
        .arg(root.path())
        .args(["create", "--preserve-fds", "1", "--bundle"])
        .arg(b.path())
        .arg(&id)
        .stdin(Stdio::null())
        .stdout(fs::File::create(&c.out).unwrap())
        .stderr(fs::File::create(&c.err).unwrap());
    // SAFETY: dup2/fcntl in the forked child before exec; async-signal-safe.
    unsafe {
        cmd.pre_exec(move || {
            // dup2 onto itself keeps close-on-exec: clear it explicitly.
            if libc::dup2(fd, 3) < 0 || libc::fcntl(3, libc::F_SETFD, 0) < 0 {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        });
    }
    let status = cmd.status().unwrap();
    drop(f);
    assert!(status.success(), "create --preserve-fds failed: {}", c.payload_err());
    c.start().assert_code(0);
    assert!(c.wait_status("stopped", SLACK + secs(1)), "{:#}", c.state());
    assert_eq!(read_trim(&target), "preserved", "payload stderr: {}", c.payload_err());
    c.delete().assert_code(0);
    cleanup_check(&root, &b, &id, &[]);
}
