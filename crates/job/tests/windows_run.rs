//! The Windows sandbox (hcsshim's fallback storage) and `run` (spec to exit code), under
//! Wine in CI (.ci/windows) or on Windows.
#![cfg(windows)]

mod wincommon;

use std::fs;
use std::os::windows::io::AsHandle;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use hostproc_job::{Job, Resources};
use wincommon::{id, Setup};

#[test]
fn child() {
    wincommon::child_main();
}

use hostproc_job::windows::sandbox::{self, Sandbox, Volume};

#[test]
fn the_sandbox_is_at_the_location_and_the_id() {
    assert_eq!(sandbox::sandbox_path("abc", None), PathBuf::from("C:\\hpc\\abc"));
    assert_eq!(sandbox::sandbox_path("abc", Some(Path::new("D:\\x"))), PathBuf::from("D:\\x\\abc"));
    let sb = Path::new("C:\\hpc\\abc");
    assert_eq!(sandbox::under_sandbox(sb, "C:\\data\\logs").unwrap(), PathBuf::from("C:\\hpc\\abc\\data\\logs"));
    assert_eq!(sandbox::under_sandbox(sb, "d:\\x").unwrap(), PathBuf::from("C:\\hpc\\abc\\x"));
    for bad in ["relative\\x", "\\no-drive", "C:\\a\\..\\..\\b", "\\\\server\\share\\x", "C:rel"] {
        let e = sandbox::under_sandbox(sb, bad).unwrap_err();
        assert!(e.to_string().contains("absolute Windows path"), "{bad}: {e}");
    }
}

#[test]
fn a_sandbox_in_use_is_refused_and_release_removes_only_links() {
    let dir = tempfile::tempdir().unwrap();
    let loc = dir.path().join("hpc");
    fs::create_dir_all(loc.join("taken")).unwrap();
    let rootfs = dir.path().join("rootfs");
    fs::create_dir(&rootfs).unwrap();
    let e = sandbox::setup("taken", &rootfs, Some(&loc), &[]).unwrap_err();
    assert!(e.to_string().contains("exists already"), "{e}");
    // A record naming a real directory (not a link) never has it removed.
    fs::write(loc.join("taken").join("keep"), "x").unwrap();
    sandbox::release(&Sandbox { path: loc.join("taken"), links: vec![loc.join("taken")], dirs: vec![] }).unwrap();
    assert!(loc.join("taken").join("keep").exists());
}

#[test]
#[ignore = "needs a real Windows host: Wine 8.0's CreateSymbolicLinkW is a stub (reports success, makes nothing)"]
fn the_rootfs_and_volumes_appear_as_links_under_the_sandbox() {
    let dir = tempfile::tempdir().unwrap();
    let (loc, rootfs, vol) = (dir.path().join("hpc"), dir.path().join("rootfs"), dir.path().join("vol"));
    fs::create_dir_all(&rootfs).unwrap();
    fs::create_dir_all(&vol).unwrap();
    fs::write(rootfs.join("image.txt"), "image").unwrap();
    fs::write(vol.join("data.txt"), "volume").unwrap();
    let vols = [Volume { source: vol.clone(), destination: "C:\\data\\v".into() }];
    let sb = sandbox::setup("c1", &rootfs, Some(&loc), &vols).unwrap();
    assert_eq!(sb.path, loc.join("c1"));
    assert_eq!(fs::read_to_string(sb.path.join("image.txt")).unwrap(), "image");
    assert_eq!(fs::read_to_string(sb.path.join("data").join("v").join("data.txt")).unwrap(), "volume");
    sandbox::release(&sb).unwrap();
    sandbox::release(&sb).unwrap();
    assert!(!loc.join("c1").exists() && !rootfs.join("data").exists());
    assert_eq!(fs::read_to_string(vol.join("data.txt")).unwrap(), "volume");
    assert_eq!(fs::read_to_string(rootfs.join("image.txt")).unwrap(), "image");
}

#[test]
fn a_link_that_was_not_made_is_an_error_not_a_silent_success() {
    // Under Wine the stub reports success: setup must notice and undo. On Windows with the
    // privilege the link is made and this test checks nothing more than setup succeeding.
    let dir = tempfile::tempdir().unwrap();
    let rootfs = dir.path().join("rootfs");
    fs::create_dir(&rootfs).unwrap();
    match sandbox::setup("c2", &rootfs, Some(&dir.path().join("hpc")), &[]) {
        Ok(sb) => {
            assert!(hostproc_winsys::wine_version().is_none(), "a link reported made under Wine");
            assert!(fs::symlink_metadata(&sb.path).unwrap().is_symlink());
            sandbox::release(&sb).unwrap();
        }
        Err(e) => {
            assert!(e.to_string().contains("was reported made but is not there"), "{e}");
            assert!(!dir.path().join("hpc").join("c2").exists());
        }
    }
}

use hostproc_job::windows::run;

fn bundle(dir: &Path, out: &Path, mode: &str, annotations: &str) -> PathBuf {
    let rootfs = dir.join("rootfs");
    fs::create_dir_all(&rootfs).unwrap();
    let exe = std::env::current_exe().unwrap().display().to_string();
    let config = format!(
        r#"{{"ociVersion": "1.1.0", "root": {{"path": "rootfs"}},
            "process": {{"cwd": "", "user": {{"uid": 0, "gid": 0}}, "args": [{exe:?}, "--exact", "child", "--nocapture"],
                        "env": ["HOSTPROC_CHILD={mode}", "HOSTPROC_OUT={}"]}},
            "annotations": {{{annotations}}}}}"#,
        out.display().to_string().replace('\\', "\\\\")
    );
    fs::write(dir.join("config.json"), config).unwrap();
    dir.to_path_buf()
}

#[test]
fn run_returns_the_inits_exit_code_and_stops_the_rest_gracefully() {
    let s = Setup::new();
    let b = bundle(s.dir.path(), &s.out, "orphan", r#""hostproc.io/mount-mode": "host""#);
    let (i, o, e) = (std::io::stdin(), std::io::stdout(), std::io::stderr());
    let t = Instant::now();
    let code = run::run(&b, &id("run"), Duration::from_secs(20), [i.as_handle(), o.as_handle(), e.as_handle()]).unwrap();
    assert_eq!(code, 3);
    assert_eq!(s.report(), "init done");
    // Within the 20 s grace: the orphan stopped on CTRL_SHUTDOWN_EVENT, not by terminate.
    assert!(t.elapsed() < Duration::from_secs(12), "{:?}", t.elapsed());
    // No process of the job is left (the object itself may linger a moment in wineserver).
    assert!(Job::open(&id("run"), Resources::default()).map(|j| j.pids().unwrap().is_empty()).unwrap_or(true));
}

#[test]
fn run_refuses_a_bad_spec_and_leaves_nothing() {
    let s = Setup::new();
    let (i, o, e) = (std::io::stdin(), std::io::stdout(), std::io::stderr());
    let stdio = [i.as_handle(), o.as_handle(), e.as_handle()];
    let b = bundle(s.dir.path(), &s.out, "exit", r#""hostproc.io/mount-mode": "sideways""#);
    let err = run::run(&b, &id("badmode"), Duration::from_secs(1), stdio).unwrap_err().to_string();
    assert!(err.contains("hostproc.io/mount-mode") && err.contains("bind or host"), "{err}");
    let b = bundle(s.dir.path(), &s.out, "exit", r#""hostproc.io/mount-mode": "bind""#);
    let err = run::run(&b, &id("bind"), Duration::from_secs(1), stdio).unwrap_err().to_string();
    assert!(err.contains("bind filter") && err.contains("C:\\hpc\\<id>"), "{err}");
    if hostproc_winsys::wine_version().is_some() {
        assert!(!run::bind_filter_available() && err.contains("has no bind filter"), "{err}");
    }
    let b = bundle(s.dir.path(), &s.out, "exit", r#""io.microsoft.container.processor.count": "2", "io.microsoft.container.processor.limit": "100""#);
    let err = run::run(&b, &id("excl"), Duration::from_secs(1), stdio).unwrap_err().to_string();
    assert!(err.contains("mutually exclusive"), "{err}");
    assert!(Job::open(&id("excl"), Resources::default()).is_err(), "the refused job was left");
    fs::remove_file(b.join("config.json")).unwrap();
    let err = run::run(&b, &id("nospec"), Duration::from_secs(1), stdio).unwrap_err().to_string();
    assert!(err.contains("config.json") && err.contains("os error 2"), "{err}");
    fs::write(b.join("config.json"), "{\"ociVersion\": 1}").unwrap();
    let err = run::run(&b, &id("badjson"), Duration::from_secs(1), stdio).unwrap_err().to_string();
    assert!(err.contains("invalid type"), "{err}");
}

#[test]
fn hcsshim_resource_annotations_override_windows_resources() {
    let dir = tempfile::tempdir().unwrap();
    let config = r#"{"ociVersion": "1.1.0", "windows": {"layerFolders": [], "resources": {"memory": {"limit": 1048576}, "cpu": {"shares": 500}}},
        "annotations": {"io.microsoft.container.memory.sizeinmb": "64", "io.microsoft.container.processor.weight": "10000"}}"#;
    fs::write(dir.path().join("config.json"), config).unwrap();
    let spec = oci_spec::runtime::Spec::load(dir.path().join("config.json")).unwrap();
    let r = run::resources_from_spec(&spec).unwrap();
    assert_eq!((r.memory_limit, r.cpu_shares), (Some(64 << 20), Some(10000)));
}
