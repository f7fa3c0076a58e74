//! The fuzz targets' bodies, shared by the cargo-fuzz binaries (`fuzz_targets/*.rs`) and
//! by the regression replay (`crates/container/tests/fuzz_regressions.rs`), so a finding
//! saved in `fuzz/regressions/<target>/` is replayed through exactly the same code.
//!
//! Each function takes the raw input, feeds it to hostproc's loaders and panics when
//! hostproc panics or when it accepts something it promises to refuse (the assertions
//! below are those promises). Nothing here writes outside the fuzz scratch directory.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::sync::OnceLock;

/// A fuzz target's body.
pub type Target = fn(&[u8]);

/// The targets, by name (the name is the directory under `fuzz/regressions/`).
pub const TARGETS: &[(&str, Target)] =
    &[("config", config), ("process", process), ("state", state), ("resources", resources), ("names", names)];

/// A bundle directory with an empty `rootfs/`, made once per process under
/// `$HOSTPROC_FUZZ_DIR` (run.sh sets and removes it) or the system temp dir.
pub fn bundle_dir() -> &'static Path {
    static DIR: OnceLock<PathBuf> = OnceLock::new();
    DIR.get_or_init(|| {
        let base = std::env::var_os("HOSTPROC_FUZZ_DIR").map(PathBuf::from).unwrap_or_else(std::env::temp_dir);
        let d = base.join(format!("hostproc-fuzz-bundle-{}", std::process::id()));
        std::fs::create_dir_all(d.join("rootfs")).expect("fuzz bundle dir");
        d
    })
}

/// config.json: `parse_spec`, then `Config::from_spec` on a real bundle directory.
pub fn config(data: &[u8]) {
    let bundle = bundle_dir();
    let path = bundle.join("config.json");
    let Ok(spec) = hostproc_container::parse_spec(data, &path) else { return };
    let Ok(cfg) = hostproc_container::Config::from_spec(&spec, bundle, "fuzz") else { return };
    // What an accepted config promises.
    let p = &cfg.process;
    assert!(!p.args.is_empty() && !p.args[0].is_empty(), "accepted a config without a program");
    assert!(p.args.iter().chain(&p.env).all(|s| !s.contains('\0')), "accepted a NUL byte in args/env");
    assert!(p.cwd.is_absolute(), "accepted a relative cwd {:?}", p.cwd);
    assert!(p.rlimits.iter().all(|(_, _, soft, hard)| soft <= hard), "accepted an rlimit with soft > hard");
    assert!(p.oom_score_adj.is_none_or(|a| (-1000..=1000).contains(&a)), "accepted oomScoreAdj {:?}", p.oom_score_adj);
    assert!(cfg.resources.validate().is_ok(), "accepted out-of-range limits: {:?}", cfg.resources);
    let loc = &cfg.storage.location;
    assert!(loc.is_absolute() && loc != Path::new("/") && !loc.starts_with("/proc") && !loc.starts_with("/sys") && !loc.starts_with("/dev"), "accepted rootfs location {loc:?}");
    for m in &cfg.storage.mounts {
        let d = &m.destination;
        assert!(d.is_absolute() && !d.components().any(|c| matches!(c, std::path::Component::ParentDir)), "accepted mount destination {d:?}");
    }
    // cgroupsPath is checked when the job is placed (`Layout::place`, still before anything
    // is made), not here.
    // uid/gid 4294967295 is (uid_t)-1: setresuid/setresgid leave the id unchanged, so
    // the payload would silently keep hostproc's root.
    // (An ephemeral user's uid is a placeholder of u32::MAX until it is made.)
    assert!((cfg.identity.uid != u32::MAX || cfg.ephemeral_group.is_some()) && cfg.identity.gid != u32::MAX, "accepted uid/gid 4294967295 ((uid_t)-1: the payload would run as root)");
}

/// exec's `--process` JSON: serde into oci-spec's Process, as `hostproc exec` reads it; an
/// accepted process survives a round trip.
pub fn process(data: &[u8]) {
    let Ok(p) = serde_json::from_slice::<oci_spec::runtime::Process>(data) else { return };
    let text = serde_json::to_vec(&p).expect("an accepted process serializes");
    let again: oci_spec::runtime::Process = serde_json::from_slice(&text).expect("an accepted process reads back");
    assert_eq!(p, again, "the process changed in a round trip");
}

/// A state file: `parse_state`; an accepted state serializes (as `state` and `list` print
/// it) and reads back.
pub fn state(data: &[u8]) {
    let Ok(st) = hostproc_container::parse_state(data, Path::new("/run/hostproc/fuzz/state.json"), "fuzz") else { return };
    let _ = serde_json::to_vec(&st.public()).expect("the public state serializes");
    let text = serde_json::to_vec(&st).expect("an accepted state serializes");
    hostproc_container::parse_state(&text, Path::new("state.json"), "fuzz").expect("an accepted state reads back");
}

/// linux.resources (config or `update --resources`): serde, `convert_resources`,
/// `validate`, and for accepted limits the cgroup v1 and v2 writes.
pub fn resources(data: &[u8]) {
    let Ok(r) = serde_json::from_slice::<oci_spec::runtime::LinuxResources>(data) else { return };
    let res = hostproc_container::convert_resources(&r);
    if res.validate().is_err() {
        return;
    }
    for w in res.v1_writes().iter().chain(&res.v2_writes()) {
        // A write never leaves the job's own directory, and is one value.
        assert!(!w.file.contains('/') && !w.file.starts_with('.') && !w.file.is_empty(), "write outside the job: {:?}", w.file);
        assert!(!w.file.starts_with("cgroup."), "write to a core cgroup file: {:?}", w.file);
        assert!(!w.value.contains('\0'), "a NUL byte in {}: {:?}", w.file, w.value);
    }
}

/// Names: runAsUserName, container ids and signal names.
pub fn names(data: &[u8]) {
    let Ok(s) = std::str::from_utf8(data) else { return };
    let _ = hostproc_identity::validate_run_as_user_name(s);
    if hostproc_container::validate_id(s).is_ok() {
        assert!(!s.is_empty() && s.len() <= 1024 && s != "." && s != ".." && !s.contains('/') && !s.contains('\0'), "accepted id {s:?}");
    }
    if let Some(n) = hostproc_sys::signal_from_str(s) {
        let max = hostproc_sys::signal_from_str("RTMAX").expect("RTMAX is a signal");
        assert!((1..=max).contains(&n), "{s:?} gave signal {n}, outside 1..={max}");
        let up = s.to_ascii_uppercase();
        let name = up.strip_prefix("SIG").unwrap_or(&up);
        if name.starts_with("RTMIN") || name.starts_with("RTMAX") {
            let min = hostproc_sys::signal_from_str("RTMIN").expect("RTMIN is a signal");
            assert!((min..=max).contains(&n), "{s:?} gave signal {n}, outside the real-time range {min}..={max}");
        }
    }
}
