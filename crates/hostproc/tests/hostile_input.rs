//! Hostile and broken input: one table, one row per case.
//!
//! Every row names its input (a config.json, an exec process.json, an `update` resources
//! JSON, command-line arguments or a state directory), how to build it, the command that
//! reads it and the words the error must contain (the input and the fix). For every row
//! the runner checks the same promises:
//!
//! * hostproc exits with the row's code (1 for every refusal) and prints ONE message
//!   (one `ERROR`/`error:` line, never a panic);
//! * the payload never ran and nothing was created: no cgroup, process, mount or state
//!   of the container ([`cleanup_check`]), no new entry under `--root`, and the host-side
//!   scratch directory (probe file, symlink targets) is byte-for-byte as it was;
//! * rows with a live container (`live: true`, made with `create` before the input) keep
//!   exactly the job's processes they had; the container is then deleted and checked.
//!
//! Adding a case is adding a row to `CASES`. Rows run in parallel (one thread each, every
//! row with its own root, bundle and ids). A failure names every failing row.

mod common;

use std::collections::BTreeMap;
use std::fs;
use std::os::unix::fs::{symlink, MetadataExt};
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::thread;

use common::lc::{hp, hp_stdin, Ctr};
use common::*;
use serde_json::{json, Value};
use tempfile::TempDir;

/// One case's world: the bundle, the ids, the scratch files.
struct Fx {
    root: PathBuf,
    bundle: Bundle,
    /// The unique id every check looks for (cgroups, mounts, state).
    base: String,
    /// The id given on the command line (the base, or a hostile variant of it).
    id: String,
    /// A scratch file for process.json / resources JSON (`{file}`).
    file: PathBuf,
    /// A host-side directory that must be unchanged afterwards (`{tmp}`): the payload's
    /// probe and symlink targets live here.
    tmp: TempDir,
    /// When set, written as config.json instead of the bundle's JSON.
    raw_config: Option<Vec<u8>>,
    /// Fed to hostproc's stdin.
    stdin: Option<Vec<u8>>,
    /// Extra paths `cleanup_check` looks for in the mount table.
    extra: Vec<PathBuf>,
    /// Paths that must not exist afterwards (beyond the scratch directory's snapshot).
    absent: Vec<PathBuf>,
    /// Paths that must exist afterwards (a symlink's target outside the scratch dir).
    present: Vec<PathBuf>,
}

impl Fx {
    fn config(&mut self, text: impl Into<Vec<u8>>) {
        self.raw_config = Some(text.into());
    }
    fn file(&mut self, text: impl Into<Vec<u8>>) {
        fs::write(&self.file, text.into()).unwrap();
    }
    fn json_file(&mut self, v: Value) {
        self.file(serde_json::to_vec(&v).unwrap());
    }
    /// The container's state directory under the root.
    fn state_dir(&self) -> PathBuf {
        self.root.join(&self.id)
    }
    /// A valid-looking state.json for the case's id (as hostproc writes it), pointing at
    /// a job under a path that does not exist.
    fn fake_state(&self, id: &str) -> Value {
        json!({
            "ociVersion": "1.3.0", "id": id, "pid": 0, "status": "stopped",
            "bundle": self.bundle.path(), "rootfs": self.bundle.rootfs(),
            "created": "2024-01-01T00:00:00.000000000Z", "owner": "root",
            "hostproc": {
                "job": { "dirs": [] },
                "lock_dir": self.tmp.path().join("locks"),
                "identity": { "uid": 0, "gid": 0, "additional_gids": [] },
                "sandbox": "/hpc"
            }
        })
    }
}

/// How a row is run.
#[derive(Clone, Copy)]
enum Cmd {
    /// `run --bundle {bundle} {id}`.
    Run,
    /// `create --bundle {bundle} {id}` (stdio to files; the init would outlive it).
    Create,
    /// These arguments after `--root ROOT`, with `{id}`, `{bundle}`, `{file}`, `{tmp}`
    /// replaced.
    Args(&'static [&'static str]),
}

struct Case {
    name: &'static str,
    /// Builds the input.
    input: fn(&mut Fx),
    cmd: Cmd,
    /// A container `{id}` is created (and held before exec) before the input is built.
    live: bool,
    /// Expected exit code (1 for every refusal; 0 only for `delete --force`).
    code: i32,
    /// Every one of these must appear in stderr (case-sensitive).
    expect: &'static [&'static str],
}

const fn refuse(name: &'static str, input: fn(&mut Fx), cmd: Cmd, expect: &'static [&'static str]) -> Case {
    Case { name, input, cmd, live: false, code: 1, expect }
}

const fn live(name: &'static str, input: fn(&mut Fx), cmd: Cmd, expect: &'static [&'static str]) -> Case {
    Case { name, input, cmd, live: true, code: 1, expect }
}

fn nested(open: &str, close: &str, n: usize, inner: &str) -> String {
    let mut s = String::with_capacity(n * (open.len() + close.len()) + inner.len());
    for _ in 0..n {
        s.push_str(open);
    }
    s.push_str(inner);
    for _ in 0..n {
        s.push_str(close);
    }
    s
}

/// The bundle's config with `f` applied to its JSON.
fn edit(fx: &mut Fx, f: impl FnOnce(&mut Value)) {
    f(&mut fx.bundle.config);
}

fn ok(_: &mut Fx) {}

const EXEC_P: Cmd = Cmd::Args(&["exec", "--process", "{file}", "{id}"]);
const UPDATE_R: Cmd = Cmd::Args(&["update", "--resources", "{file}", "{id}"]);
const NOT_OCI: &[&str] = &["config.json", "is not a valid OCI runtime config"];
const RES: fn(&mut Fx, Value) = |fx, v| {
    fx.bundle.resources(v);
};

static CASES: &[Case] = &[
    // ---------------------------------------------------------------- config.json: JSON
    refuse("config: empty file", |fx| fx.config(""), Cmd::Run, &["config.json", "EOF while parsing"]),
    refuse("config: malformed JSON", |fx| fx.config("{\"ociVersion\": \"1.2.0\", process: }"), Cmd::Run, NOT_OCI),
    refuse("config: truncated in the middle", |fx| {
        let full = serde_json::to_vec_pretty(&fx.bundle.config).unwrap();
        fx.config(full[..full.len() / 2].to_vec());
    }, Cmd::Run, &["config.json", "EOF while parsing"]),
    refuse("config: not UTF-8", |fx| fx.config(b"{\"ociVersion\": \"1.2.0\xff\xfe\"}".to_vec()), Cmd::Run, NOT_OCI),
    refuse("config: a JSON array, not an object", |fx| fx.config("[1, 2, 3]"), Cmd::Run, &["config.json", "ociVersion is missing"]),
    refuse("config: 100k nested arrays", |fx| {
        let deep = nested("[", "]", 100_000, "");
        fx.config(format!("{{\"ociVersion\": \"1.2.0\", \"x\": {deep}}}"));
    }, Cmd::Run, &["config.json", "recursion limit exceeded"]),
    refuse("config: 100k nested objects in annotations", |fx| {
        let deep = nested("{\"a\":", "}", 100_000, "1");
        fx.config(format!("{{\"ociVersion\": \"1.2.0\", \"annotations\": {deep}}}"));
    }, Cmd::Run, &["config.json", "recursion limit exceeded"]),
    refuse("config: number too big for memory.limit", |fx| {
        let text = serde_json::to_string(&fx.bundle.config).unwrap();
        let text = text.replacen("\"linux\":{}", "\"linux\":{\"resources\":{\"memory\":{\"limit\":99999999999999999999999}}}", 1);
        fx.config(text);
    }, Cmd::Run, NOT_OCI),
    // ---------------------------------------------------------------- config.json: version
    refuse("config: ociVersion missing", |fx| edit(fx, |c| { c.as_object_mut().unwrap().remove("ociVersion"); }), Cmd::Run, &["config.json", "ociVersion is missing", "1.3.0"]),
    refuse("config: ociVersion 2.0.0", |fx| { fx.bundle.set(&["ociVersion"], json!("2.0.0")); }, Cmd::Run, &["ociVersion \"2.0.0\" is not supported", "1.0.0 to 1.3.0"]),
    refuse("config: ociVersion 1.9.9", |fx| { fx.bundle.set(&["ociVersion"], json!("1.9.9")); }, Cmd::Run, &["ociVersion \"1.9.9\" is not supported"]),
    refuse("config: ociVersion a number", |fx| { fx.bundle.set(&["ociVersion"], json!(1.2)); }, Cmd::Run, &["config.json", "ociVersion", "string"]),
    // ---------------------------------------------------------------- config.json: types
    refuse("config: process.args a string", |fx| { fx.bundle.process_field("args", json!("/bin/true")); }, Cmd::Run, &["config.json", "invalid type", "expected a sequence"]),
    refuse("config: root.path a number", |fx| { fx.bundle.set(&["root", "path"], json!(7)); }, Cmd::Run, &["config.json", "invalid type"]),
    refuse("config: memory.limit a string", |fx| RES(fx, json!({"memory": {"limit": "lots"}})), Cmd::Run, &["config.json", "invalid type"]),
    refuse("config: annotation value a number", |fx| { fx.bundle.set(&["annotations", "hostproc.io/grace-period"], json!(5)); }, Cmd::Run, &["config.json", "invalid type"]),
    refuse("config: process.user.uid -1", |fx| { fx.bundle.process_field("user", json!({"uid": -1, "gid": 0})); }, Cmd::Run, &["config.json", "invalid value"]),
    // ---------------------------------------------------------------- config.json: process
    refuse("config: process missing", |fx| edit(fx, |c| { c.as_object_mut().unwrap().remove("process"); }), Cmd::Run, &["process is missing", "process.args"]),
    refuse("config: empty args", |fx| { fx.bundle.args(&[]); }, Cmd::Run, &["process.args", "no program given"]),
    refuse("config: args [\"\"]", |fx| { fx.bundle.args(&[""]); }, Cmd::Run, &["process.args", "no program given"]),
    refuse("config: NUL in an argument", |fx| { fx.bundle.args(&["/bin/sh", "-c", "true\0; touch /tmp/x"]); }, Cmd::Run, &["process.args", "NUL"]),
    refuse("config: NUL in the program", |fx| { fx.bundle.args(&["/bin/true\0x"]); }, Cmd::Run, &["process.args", "NUL"]),
    refuse("config: NUL in env", |fx| { fx.bundle.env(&["PATH=/usr/bin:/bin", "A=b\0c"]); }, Cmd::Run, &["process.env", "NUL"]),
    refuse("config: a 300 KB argument", |fx| {
        let big = "x".repeat(300 * 1024);
        let probe = fx.tmp.path().join("payload-ran");
        fx.bundle.args(&["/bin/sh", "-c", &format!("touch {}", probe.display()), &big]);
    }, Cmd::Run, &["process.args"]),
    refuse("config: relative cwd", |fx| { fx.bundle.cwd("tmp"); }, Cmd::Run, &["process.cwd", "\"tmp\" is relative", "absolute path"]),
    refuse("config: cwd climbing ../../etc", |fx| { fx.bundle.cwd("../../etc"); }, Cmd::Run, &["process.cwd", "is relative"]),
    refuse("config: uid 4294967295 (setresuid's -1)", |fx| { fx.bundle.user(u32::MAX, u32::MAX, &[], None); }, Cmd::Run, &["process.user", "4294967295"]),
    refuse("config: rlimit soft above hard", |fx| {
        fx.bundle.process_field("rlimits", json!([{"type": "RLIMIT_NOFILE", "soft": 2048, "hard": 1024}]));
    }, Cmd::Run, &["process.rlimits", "RLIMIT_NOFILE", "soft 2048 is above hard 1024"]),
    refuse("config: unknown rlimit", |fx| {
        fx.bundle.process_field("rlimits", json!([{"type": "RLIMIT_FOO", "soft": 1, "hard": 1}]));
    }, Cmd::Run, &["config.json", "RLIMIT_FOO"]),
    refuse("config: oomScoreAdj 5000", |fx| { fx.bundle.process_field("oomScoreAdj", json!(5000)); }, Cmd::Run, &["process.oomScoreAdj", "5000", "-1000 to 1000"]),
    refuse("config: terminal without --console-socket", |fx| { fx.bundle.process_field("terminal", json!(true)); }, Cmd::Create, &["process.terminal", "--console-socket"]),
    // ---------------------------------------------------------------- config.json: root, mounts
    refuse("config: root missing", |fx| edit(fx, |c| { c.as_object_mut().unwrap().remove("root"); }), Cmd::Run, &["root.path is missing"]),
    refuse("config: root.path does not exist", |fx| { fx.bundle.set(&["root", "path"], json!("no-such-rootfs")); }, Cmd::Run, &["root.path", "no-such-rootfs", "is not a directory"]),
    refuse("config: root.path a file", |fx| { fx.bundle.set(&["root", "path"], json!("config.json")); }, Cmd::Run, &["root.path", "is not a directory"]),
    refuse("config: mount destination ../../etc", |fx| {
        let src = fx.tmp.path().to_path_buf();
        fx.bundle.bind(&src, "../../etc", &[]);
    }, Cmd::Run, &["mount destination \"../../etc\"", "without `..`"]),
    refuse("config: mount destination /data/../../etc", |fx| {
        let src = fx.tmp.path().to_path_buf();
        fx.bundle.bind(&src, "/data/../../etc", &[]);
    }, Cmd::Run, &["mount destination \"/data/../../etc\"", "without `..`"]),
    refuse("config: relative mount destination", |fx| {
        let src = fx.tmp.path().to_path_buf();
        fx.bundle.bind(&src, "data", &[]);
    }, Cmd::Run, &["mount destination \"data\"", "absolute path"]),
    refuse("config: empty mount destination", |fx| {
        let src = fx.tmp.path().to_path_buf();
        fx.bundle.bind(&src, "", &[]);
    }, Cmd::Run, &["mount destination \"\"", "absolute path"]),
    refuse("config: host mode, relative destination", |fx| {
        let src = fx.tmp.path().to_path_buf();
        fx.bundle.host_mode().bind(&src, "../../../../etc", &[]);
    }, Cmd::Run, &["mount destination", "without `..`"]),
    refuse("config: mount source missing", |fx| { fx.bundle.mount("/data", "bind", "/nonexistent/hostproc-source", &["rbind"]); }, Cmd::Run, &["mount source /nonexistent/hostproc-source does not exist"]),
    refuse("config: named-pipe mount", |fx| { fx.bundle.mount("/pipe", "bind", r"\\.\pipe\docker_engine", &["rbind"]); }, Cmd::Run, &["named-pipe", "not available on Linux"]),
    refuse("config: tmpfs mount", |fx| { fx.bundle.mount("/scratch", "tmpfs", "tmpfs", &[]); }, Cmd::Run, &["mount /scratch", "\"tmpfs\" is not supported", "bind"]),
    // host mode: symlinks in the rootfs must never lead a mount onto a host path.
    refuse("host mode: rootfs symlink -> host dir (absolute)", |fx| {
        let target = fx.tmp.path().join("host-dir");
        fs::create_dir(&target).unwrap();
        symlink(&target, fx.bundle.rootfs().join("data")).unwrap();
        let src = fx.bundle.path().join("vol");
        fs::create_dir(&src).unwrap();
        fx.bundle.host_mode().bind(&src, "/data/sub", &[]);
        fx.extra.push(target);
    }, Cmd::Run, &["mount destination /data/sub", "through a symlink", "remove the symlink"]),
    refuse("host mode: rootfs symlink -> ../../.. (relative)", |fx| {
        symlink("../../../../../../..", fx.bundle.rootfs().join("up")).unwrap();
        let src = fx.bundle.path().join("vol");
        fs::create_dir(&src).unwrap();
        let name = format!("hostproc-hostile-{}", fx.base);
        fx.bundle.host_mode().bind(&src, &format!("/up/tmp/{name}"), &[]);
        fx.absent.push(Path::new("/tmp").join(name));
    }, Cmd::Run, &["through a symlink"]),
    refuse("host mode: rootfs symlink -> host file (last component)", |fx| {
        let target = fx.tmp.path().join("host-file");
        fs::write(&target, "host data\n").unwrap();
        symlink(&target, fx.bundle.rootfs().join("conf")).unwrap();
        let src = fx.bundle.path().join("vol.txt");
        fs::write(&src, "payload data\n").unwrap();
        fx.bundle.host_mode().bind(&src, "/conf", &[]);
        fx.extra.push(target);
    }, Cmd::Run, &["mount destination /conf", "through a symlink"]),
    refuse("host mode: dangling rootfs symlink -> host path", |fx| {
        let target = fx.tmp.path().join("not-yet");
        symlink(&target, fx.bundle.rootfs().join("dangling")).unwrap();
        let src = fx.bundle.path().join("vol");
        fs::create_dir(&src).unwrap();
        fx.bundle.host_mode().bind(&src, "/dangling", &[]);
        fx.extra.push(target);
    }, Cmd::Run, &["mount destination /dangling", "through a symlink"]),
    refuse("host mode: rootfs symlink -> / (nested)", |fx| {
        fs::create_dir_all(fx.bundle.rootfs().join("a")).unwrap();
        symlink("/", fx.bundle.rootfs().join("a/b")).unwrap();
        let src = fx.bundle.path().join("vol");
        fs::create_dir(&src).unwrap();
        let name = format!("hostproc-hostile-{}", fx.base);
        fx.bundle.host_mode().bind(&src, &format!("/a/b/tmp/{name}"), &[]);
        fx.absent.push(Path::new("/tmp").join(name));
    }, Cmd::Run, &["through a symlink"]),
    // ---------------------------------------------------------------- config.json: limits
    refuse("limits: memory -5", |fx| RES(fx, json!({"memory": {"limit": -5}})), Cmd::Run, &["linux.resources.memory.limit", "-5 is out of range", "-1 for no limit"]),
    refuse("limits: memory 0", |fx| RES(fx, json!({"memory": {"limit": 0}})), Cmd::Run, &["linux.resources.memory.limit", "0 is out of range"]),
    refuse("limits: swap below memory", |fx| RES(fx, json!({"memory": {"limit": 67108864, "swap": 1048576}})), Cmd::Run, &["linux.resources.memory.swap", "at least memory.limit"]),
    refuse("limits: swappiness 500", |fx| RES(fx, json!({"memory": {"swappiness": 500}})), Cmd::Run, &["swappiness", "0 to 100"]),
    refuse("limits: cpu shares 1", |fx| RES(fx, json!({"cpu": {"shares": 1}})), Cmd::Run, &["linux.resources.cpu.shares", "2 to 262144"]),
    refuse("limits: cpu quota -7", |fx| RES(fx, json!({"cpu": {"quota": -7}})), Cmd::Run, &["linux.resources.cpu.quota", "-7", "-1 for no quota"]),
    refuse("limits: cpu period 10", |fx| RES(fx, json!({"cpu": {"period": 10}})), Cmd::Run, &["linux.resources.cpu.period", "1000 to 1000000"]),
    refuse("limits: pids -3", |fx| RES(fx, json!({"pids": {"limit": -3}})), Cmd::Run, &["linux.resources.pids.limit", "-3 is out of range"]),
    refuse("limits: blkio weight 5000", |fx| RES(fx, json!({"blockIO": {"weight": 5000}})), Cmd::Run, &["linux.resources.blockIO.weight", "10 to 1000"]),
    refuse("limits: blkio weight 70000 (not a u16)", |fx| RES(fx, json!({"blockIO": {"weight": 70000}})), Cmd::Run, &["config.json", "invalid value"]),
    refuse("limits: cpuset cpus 999", |fx| RES(fx, json!({"cpu": {"cpus": "999"}})), Cmd::Run, &["linux.resources.cpu.cpus", "\"999\"", "cpuset.cpus"]),
    refuse("limits: cpuset mems abc", |fx| RES(fx, json!({"cpu": {"mems": "abc"}})), Cmd::Run, &["linux.resources.cpu.mems", "\"abc\""]),
    refuse("limits: unified key climbing out", |fx| RES(fx, json!({"unified": {"../cgroup.procs": "1"}})), Cmd::Run, &["linux.resources.unified", "../cgroup.procs"]),
    refuse("limits: cgroupsPath with ..", |fx| { fx.bundle.cgroups_path("hostproc-test/../../escape"); }, Cmd::Run, &["cgroupsPath \"hostproc-test/../../escape\"", "`..`"]),
    refuse("limits: cgroupsPath only ..", |fx| { fx.bundle.cgroups_path(".."); }, Cmd::Run, &["cgroupsPath \"..\"", "`..`"]),
    // ---------------------------------------------------------------- config.json: annotations
    refuse("annotation: mount-mode weird", |fx| { fx.bundle.annotation("hostproc.io/mount-mode", "weird"); }, Cmd::Run, &["hostproc.io/mount-mode=\"weird\"", "\"bind\"", "\"host\""]),
    refuse("annotation: grace-period -1s", |fx| { fx.bundle.grace("-1s"); }, Cmd::Run, &["hostproc.io/grace-period=\"-1s\"", "5s"]),
    refuse("annotation: grace-period abc", |fx| { fx.bundle.grace("abc"); }, Cmd::Run, &["hostproc.io/grace-period=\"abc\"", "5s"]),
    refuse("annotation: grace-period 100h", |fx| { fx.bundle.grace("100h"); }, Cmd::Run, &["hostproc.io/grace-period=\"100h\"", "at most 24h"]),
    refuse("annotation: grace-period 25h in seconds", |fx| { fx.bundle.grace("90000"); }, Cmd::Run, &["hostproc.io/grace-period=\"90000\"", "at most 24h"]),
    refuse("annotation: hostprocess-container false", |fx| { fx.bundle.annotation("microsoft.com/hostprocess-container", "false"); }, Cmd::Run, &["microsoft.com/hostprocess-container=\"false\"", "runc"]),
    refuse("annotation: hostprocess-container yes", |fx| { fx.bundle.annotation("microsoft.com/hostprocess-container", "yes"); }, Cmd::Run, &["microsoft.com/hostprocess-container=\"yes\"", "\"true\" or \"false\""]),
    refuse("annotation: inherit-user maybe", |fx| { fx.bundle.annotation("microsoft.com/hostprocess-inherit-user", "maybe"); }, Cmd::Run, &["microsoft.com/hostprocess-inherit-user=\"maybe\""]),
    refuse("annotation: rootfs-location /", |fx| { fx.bundle.annotation("microsoft.com/hostprocess-rootfs-location", "/"); }, Cmd::Run, &["rootfs location \"/\"", "such as /hpc"]),
    refuse("annotation: rootfs-location /proc/x", |fx| { fx.bundle.annotation("microsoft.com/hostprocess-rootfs-location", "/proc/x"); }, Cmd::Run, &["rootfs location \"/proc/x\"", "/proc"]),
    refuse("annotation: rootfs-location relative", |fx| { fx.bundle.annotation("microsoft.com/hostprocess-rootfs-location", "hpc"); }, Cmd::Run, &["rootfs location \"hpc\"", "absolute path"]),
    refuse("annotation: rootfs-location /hpc/../etc", |fx| { fx.bundle.annotation("microsoft.com/hostprocess-rootfs-location", "/hpc/../etc"); }, Cmd::Run, &["rootfs location \"/hpc/../etc\""]),
    refuse("annotation: processor.count 0", |fx| { fx.bundle.annotation("io.microsoft.container.processor.count", "0"); }, Cmd::Run, &["io.microsoft.container.processor.count=\"0\"", "whole number from 1"]),
    refuse("annotation: processor.limit 20000", |fx| { fx.bundle.annotation("io.microsoft.container.processor.limit", "20000"); }, Cmd::Run, &["io.microsoft.container.processor.limit=\"20000\"", "1 to 10000"]),
    refuse("annotation: processor.weight -1", |fx| { fx.bundle.annotation("io.microsoft.container.processor.weight", "-1"); }, Cmd::Run, &["io.microsoft.container.processor.weight=\"-1\""]),
    refuse("annotation: memory.sizeinmb abc", |fx| { fx.bundle.annotation("io.microsoft.container.memory.sizeinmb", "abc"); }, Cmd::Run, &["io.microsoft.container.memory.sizeinmb=\"abc\"", "whole number"]),
    refuse("annotation: run-as-user-name two backslashes", |fx| { fx.bundle.annotation("hostproc.io/run-as-user-name", "a\\b\\c"); }, Cmd::Run, &["hostproc.io/run-as-user-name", "more than one backslash"]),
    // ---------------------------------------------------------------- config.json: namespaces
    refuse("namespace: new network namespace", |fx| { fx.bundle.namespaces(json!([{"type": "network"}])); }, Cmd::Run, &["linux.namespaces (network)", "remove the network entry"]),
    refuse("namespace: network path missing", |fx| { fx.bundle.namespaces(json!([{"type": "network", "path": "/nonexistent/netns"}])); }, Cmd::Run, &["/nonexistent/netns"]),
    refuse("namespace: user namespace", |fx| { fx.bundle.namespaces(json!([{"type": "user"}])); }, Cmd::Run, &["linux.namespaces (user)", "remove the user entry"]),
    refuse("namespace: unknown type", |fx| { fx.bundle.namespaces(json!([{"type": "time2"}])); }, Cmd::Run, &["config.json", "time2"]),
    // ---------------------------------------------------------------- ids and bundle flags
    refuse("id: with /", |fx| fx.id = format!("{}/x", fx.base), Cmd::Run, &["container id", "is not valid", "letters, digits"]),
    refuse("id: ..", |fx| fx.id = "..".into(), Cmd::Run, &["container id \"..\" is not valid"]),
    refuse("id: .", |fx| fx.id = ".".into(), Cmd::Run, &["container id \".\" is not valid"]),
    refuse("id: ../ climbing", |fx| fx.id = format!("../{}", fx.base), Cmd::Run, &["is not valid"]),
    refuse("id: 2000 bytes", |fx| fx.id = format!("{}{}", fx.base, "x".repeat(2000 - fx.base.len())), Cmd::Run, &["(2000 bytes)", "1 to 255"]),
    refuse("id: 300 bytes (over a file name's 255)", |fx| fx.id = format!("{}{}", fx.base, "y".repeat(300 - fx.base.len())), Cmd::Run, &["container id", "255"]),
    refuse("id: with a space", |fx| fx.id = format!("{} x", fx.base), Cmd::Run, &["is not valid"]),
    refuse("id: empty", |fx| fx.id = String::new(), Cmd::Run, &["container id \"\" is not valid"]),
    refuse("id: bad id for delete", |fx| fx.id = format!("../{}", fx.base), Cmd::Args(&["delete", "--force", "{id}"]), &["is not valid"]),
    refuse("id: bad id for state", |fx| fx.id = format!("a/{}", fx.base), Cmd::Args(&["state", "{id}"]), &["is not valid"]),
    refuse("bundle: does not exist", ok, Cmd::Args(&["run", "--bundle", "{tmp}/no-such-bundle", "{id}"]), &["cannot read", "no-such-bundle/config.json"]),
    // ---------------------------------------------------------------- command line
    refuse("cli: kill SIGFOO", ok, Cmd::Args(&["kill", "{id}", "SIGFOO"]), &["\"SIGFOO\" is not a signal", "TERM"]),
    refuse("cli: kill 0", ok, Cmd::Args(&["kill", "{id}", "0"]), &["\"0\" is not a signal"]),
    refuse("cli: kill 99999", ok, Cmd::Args(&["kill", "{id}", "99999"]), &["\"99999\" is not a signal"]),
    refuse("cli: kill -9", ok, Cmd::Args(&["kill", "{id}", "--", "-9"]), &["\"-9\" is not a signal"]),
    refuse("cli: kill empty signal", ok, Cmd::Args(&["kill", "{id}", ""]), &["\"\" is not a signal"]),
    refuse("cli: kill RTMIN+2147483647", ok, Cmd::Args(&["kill", "{id}", "RTMIN+2147483647"]), &["\"RTMIN+2147483647\" is not a signal"]),
    refuse("cli: kill RTMAX--5", ok, Cmd::Args(&["kill", "{id}", "RTMAX--5"]), &["\"RTMAX--5\" is not a signal"]),
    refuse("cli: kill RTMIN+-3", ok, Cmd::Args(&["kill", "{id}", "RTMIN+-3"]), &["\"RTMIN+-3\" is not a signal"]),
    refuse("cli: unknown flag", ok, Cmd::Args(&["run", "--frobnicate", "--bundle", "{bundle}", "{id}"]), &["--frobnicate"]),
    refuse("cli: unknown command", ok, Cmd::Args(&["frobnicate", "{id}"]), &["frobnicate"]),
    refuse("cli: run without an id", ok, Cmd::Args(&["run", "--bundle", "{bundle}"]), &["<ID>"]),
    refuse("cli: --rootless true", ok, Cmd::Args(&["--rootless", "true", "run", "--bundle", "{bundle}", "{id}"]), &["--rootless", "not supported"]),
    refuse("cli: --log-format xml", ok, Cmd::Args(&["--log-format", "xml", "run", "--bundle", "{bundle}", "{id}"]), &["xml", "text, json"]),
    refuse("cli: exec without a command", ok, Cmd::Args(&["exec", "{id}"]), &["--process FILE or a command"]),
    refuse("cli: exec --user abc", ok, Cmd::Args(&["exec", "--user", "abc", "{id}", "/bin/true"]), &["--user", "\"abc\"", "uid[:gid]"]),
    refuse("cli: kill an unknown container", ok, Cmd::Args(&["kill", "{id}", "TERM"]), &["container {id} does not exist"]),
    // ---------------------------------------------------------------- exec process.json
    refuse("process.json: missing file", ok, Cmd::Args(&["exec", "--process", "{tmp}/no-such.json", "{id}"]), &["cannot read", "no-such.json"]),
    live("process.json: malformed", |fx| fx.file("{\"args\": [\"/bin/true\""), EXEC_P, &["process.json", "EOF while parsing"]),
    live("process.json: wrong type", |fx| fx.json_file(json!({"user": {"uid": 0, "gid": 0}, "args": "/bin/true", "cwd": "/"})), EXEC_P, &["process.json", "invalid type"]),
    live("process.json: 100k nested arrays", |fx| fx.file(format!("{{\"user\": {{\"uid\": 0, \"gid\": 0}}, \"cwd\": \"/\", \"args\": {}}}", nested("[", "]", 100_000, ""))), EXEC_P, &["process.json", "invalid type: sequence, expected a string"]),
    live("process.json: empty args", |fx| fx.json_file(json!({"user": {"uid": 0, "gid": 0}, "args": [], "cwd": "/"})), EXEC_P, &["process.args", "no program given"]),
    live("process.json: relative cwd", |fx| fx.json_file(json!({"user": {"uid": 0, "gid": 0}, "args": ["/bin/true"], "cwd": "tmp"})), EXEC_P, &["process.cwd", "\"tmp\" is relative"]),
    live("process.json: NUL in an argument", |fx| fx.json_file(json!({"user": {"uid": 0, "gid": 0}, "args": ["/bin/true\u{0}x"], "cwd": "/"})), EXEC_P, &["process.args", "NUL"]),
    live("process.json: missing user", |fx| fx.json_file(json!({"args": ["/bin/true"], "cwd": "/"})), EXEC_P, &["process.json", "missing field `user`"]),
    live("process.json: uid 4294967295", |fx| {
        let probe = fx.tmp.path().join("payload-ran");
        fx.json_file(json!({"user": {"uid": 4294967295u32, "gid": 4294967295u32}, "args": ["/bin/sh", "-c", format!("touch {}", probe.display())], "cwd": "/"}));
    }, EXEC_P, &["process.user", "4294967295"]),
    // ---------------------------------------------------------------- update resources
    live("update: malformed JSON", |fx| fx.file("{\"memory\": {"), UPDATE_R, &["resources.json", "EOF while parsing"]),
    live("update: wrong type", |fx| fx.json_file(json!({"memory": {"limit": "lots"}})), UPDATE_R, &["resources.json", "invalid type"]),
    live("update: memory -5", |fx| fx.json_file(json!({"memory": {"limit": -5}})), UPDATE_R, &["linux.resources.memory.limit", "-5 is out of range"]),
    live("update: pids -3", |fx| fx.json_file(json!({"pids": {"limit": -3}})), UPDATE_R, &["linux.resources.pids.limit", "-3 is out of range"]),
    live("update: cpu period 10", |fx| fx.json_file(json!({"cpu": {"period": 10}})), UPDATE_R, &["linux.resources.cpu.period", "1000 to 1000000"]),
    live("update: garbage on stdin", |fx| fx.stdin = Some(b"\x00\x01not json".to_vec()), Cmd::Args(&["update", "--resources", "-", "{id}"]), &["not a valid linux.resources JSON"]),
    live("update: --blkio-weight 5000", ok, Cmd::Args(&["update", "--blkio-weight", "5000", "{id}"]), &["linux.resources.blockIO.weight", "10 to 1000"]),
    live("update: --memory -5", ok, Cmd::Args(&["update", "--memory", "-5", "{id}"]), &["memory limit", "-5"]),
    refuse("update: unknown container", |fx| fx.json_file(json!({"memory": {"limit": 67108864}})), UPDATE_R, &["container {id} does not exist"]),
    // ---------------------------------------------------------------- the state directory
    refuse("state: corrupt state.json", |fx| {
        fs::create_dir(fx.state_dir()).unwrap();
        fs::write(fx.state_dir().join("state.json"), "{\"ociVersion\": \"1.3.0\", \"id\": ").unwrap();
    }, Cmd::Args(&["state", "{id}"]), &["state.json", "EOF while parsing", "hostproc delete --force {id}"]),
    refuse("state: state.json naming another id", |fx| {
        fs::create_dir(fx.state_dir()).unwrap();
        let v = fx.fake_state("someone-else");
        fs::write(fx.state_dir().join("state.json"), serde_json::to_vec(&v).unwrap()).unwrap();
    }, Cmd::Args(&["kill", "{id}", "KILL"]), &["names container \"someone-else\"", "hostproc delete --force {id}"]),
    refuse("state: a foreign file in place of the state dir", |fx| {
        fs::write(fx.state_dir(), "not a container\n").unwrap();
    }, Cmd::Args(&["state", "{id}"]), &["{id}", "not a directory", "hostproc delete --force {id}"]),
    refuse("state: state.json is a directory", |fx| {
        fs::create_dir_all(fx.state_dir().join("state.json")).unwrap();
    }, Cmd::Args(&["state", "{id}"]), &["state.json"]),
    refuse("state: state.json 100k nested", |fx| {
        fs::create_dir(fx.state_dir()).unwrap();
        fs::write(fx.state_dir().join("state.json"), nested("[", "]", 100_000, "")).unwrap();
    }, Cmd::Args(&["state", "{id}"]), &["state.json", "hostproc delete --force {id}"]),
    refuse("state: state.json a symlink to a host file", |fx| {
        fs::create_dir(fx.state_dir()).unwrap();
        symlink(host_file(fx), fx.state_dir().join("state.json")).unwrap();
    }, Cmd::Args(&["state", "{id}"]), &["state.json"]),
    refuse("state: planted symlink -> dir, delete", |fx| plant(fx, true), Cmd::Args(&["delete", "{id}"]), &["{id}", "planted symlink", "remove it"]),
    refuse("state: planted symlink -> dir, kill", |fx| plant(fx, true), Cmd::Args(&["kill", "{id}", "KILL"]), &["planted symlink"]),
    refuse("state: planted symlink -> dir, state", |fx| plant(fx, true), Cmd::Args(&["state", "{id}"]), &["planted symlink"]),
    refuse("state: planted symlink -> dir, run", |fx| plant(fx, false), Cmd::Run, &["{id}"]),
    Case { name: "state: planted symlink -> dir, delete --force removes the link only", input: |fx| plant(fx, true), cmd: Cmd::Args(&["delete", "--force", "{id}"]), live: false, code: 0, expect: &[] },
    Case { name: "state: planted symlink -> /etc, delete --force removes the link only", input: |fx| {
        symlink("/etc", fx.state_dir()).unwrap();
        fx.present.push("/etc/passwd".into());
        fx.present.push("/etc/hostname".into());
    }, cmd: Cmd::Args(&["delete", "--force", "{id}"]), live: false, code: 0, expect: &[] },
    Case { name: "state: state.json -> a host file, delete --force leaves the file", input: |fx| {
        fs::create_dir(fx.state_dir()).unwrap();
        symlink(host_file(fx), fx.state_dir().join("state.json")).unwrap();
    }, cmd: Cmd::Args(&["delete", "--force", "{id}"]), live: false, code: 0, expect: &[] },
];

/// A passwd-like host file in the scratch dir, the target of a planted state.json link:
/// the scratch dir's snapshot (bytes and mode) shows any write through the link, and its
/// removal.
fn host_file(fx: &Fx) -> PathBuf {
    let target = fx.tmp.path().join("host-passwd");
    fs::write(&target, "root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/nonexistent:/usr/sbin/nologin\n").unwrap();
    target
}

/// `{root}/{id}` -> a directory in the scratch dir holding a believable state.json (and a
/// decoy tree), so that following the link would be visible.
fn plant(fx: &mut Fx, with_state: bool) {
    let target = fx.tmp.path().join("planted");
    fs::create_dir_all(target.join("decoy/deeper")).unwrap();
    fs::write(target.join("decoy/deeper/keep.txt"), "keep me\n").unwrap();
    if with_state {
        let v = fx.fake_state(&fx.id.clone());
        fs::write(target.join("state.json"), serde_json::to_vec(&v).unwrap()).unwrap();
    }
    symlink(&target, fx.state_dir()).unwrap();
}

/// Every entry below `dir` (not following symlinks) with what it is and holds.
fn snapshot(dir: &Path) -> BTreeMap<PathBuf, String> {
    fn walk(base: &Path, dir: &Path, out: &mut BTreeMap<PathBuf, String>) {
        let Ok(rd) = fs::read_dir(dir) else { return };
        for e in rd.flatten() {
            let p = e.path();
            let rel = p.strip_prefix(base).unwrap().to_path_buf();
            let Ok(m) = fs::symlink_metadata(&p) else { continue };
            let what = if m.file_type().is_symlink() {
                format!("symlink -> {}", fs::read_link(&p).map(|t| t.display().to_string()).unwrap_or_default())
            } else if m.is_dir() {
                format!("dir {:o}", m.mode() & 0o7777)
            } else {
                let data = fs::read(&p).unwrap_or_default();
                format!("file {:o} {} bytes {:x}", m.mode() & 0o7777, data.len(), fnv(&data))
            };
            out.insert(rel, what);
            if m.is_dir() {
                walk(base, &p, out);
            }
        }
    }
    let mut out = BTreeMap::new();
    walk(dir, dir, &mut out);
    out
}

fn fnv(data: &[u8]) -> u64 {
    data.iter().fold(0xcbf29ce484222325u64, |h, b| (h ^ u64::from(*b)).wrapping_mul(0x100000001b3))
}

fn fill(s: &str, fx: &Fx) -> String {
    s.replace("{id}", &fx.id)
        .replace("{bundle}", &fx.bundle.path().to_string_lossy())
        .replace("{file}", &fx.file.to_string_lossy())
        .replace("{tmp}", &fx.tmp.path().to_string_lossy())
}

/// Lines of stderr that are error messages (ours: `ERROR ...`; clap's: `error: ...`).
fn error_lines(stderr: &str) -> usize {
    stderr.lines().filter(|l| l.starts_with("ERROR") || l.starts_with("error:")).count()
}

/// Runs one row; returns the problems found (empty when the row holds).
fn run_case(case: &Case) -> Vec<String> {
    let root = Root::new();
    let base = unique_id("hostile");
    let tmp = tempdir();
    let mut fx = Fx {
        root: root.path().to_path_buf(),
        bundle: Bundle::new(),
        base: base.clone(),
        id: base.clone(),
        file: tmp.path().join(if matches!(case.cmd, Cmd::Args(a) if a.first() == Some(&"update")) { "resources.json" } else { "process.json" }),
        tmp,
        raw_config: None,
        stdin: None,
        extra: Vec::new(),
        absent: Vec::new(),
        present: Vec::new(),
    };
    // The payload leaves a mark in the scratch dir if it ever runs.
    let probe = fx.tmp.path().join("payload-ran");
    fx.bundle.sh(&format!("touch {}", probe.display()));

    // A live container: created (init held before exec) with its own bundle.
    let live_bundle = Bundle::new();
    let ctr = case.live.then(|| Ctr::new(&root, &base));
    let mut job_before = Vec::new();
    let mut problems = Vec::new();
    if let Some(c) = &ctr {
        let mut lb = live_bundle;
        lb.sh("sleep 60");
        let out = c.create(&lb, &[]);
        if out.code != Some(0) {
            return vec![format!("could not create the live container:\n{}", out.dump())];
        }
        job_before = processes_in_cgroup(&base);
        job_before.sort();
    }

    (case.input)(&mut fx);
    fx.bundle.write();
    if let Some(raw) = &fx.raw_config {
        fs::write(fx.bundle.path().join("config.json"), raw).unwrap();
    }
    let tmp_before = snapshot(fx.tmp.path());
    let root_before = root.entries();

    let out = match case.cmd {
        Cmd::Run => hp(&root, &["run", "--bundle", &fx.bundle.path().to_string_lossy(), &fx.id]),
        Cmd::Create => hp(&root, &["create", "--bundle", &fx.bundle.path().to_string_lossy(), &fx.id]),
        Cmd::Args(args) => {
            let args: Vec<String> = args.iter().map(|a| fill(a, &fx)).collect();
            let refs: Vec<&str> = args.iter().map(String::as_str).collect();
            hp_stdin(&root, &refs, fx.stdin.as_deref())
        }
    };

    // Exit code and one clear message.
    if out.timed_out || out.code != Some(case.code) {
        problems.push(format!("expected exit code {}, got {:?} (signal {:?}, timed out {})", case.code, out.code, out.signal, out.timed_out));
    }
    if out.stderr.contains("panicked") {
        problems.push("hostproc panicked".into());
    }
    if case.code != 0 && error_lines(&out.stderr) != 1 {
        problems.push(format!("expected one error message, got {}", error_lines(&out.stderr)));
    }
    for want in case.expect {
        let want = fill(want, &fx);
        if !out.stderr.contains(&want) {
            problems.push(format!("the message does not contain {want:?}"));
        }
    }

    // Nothing made, nothing touched.
    if let Some(c) = &ctr {
        let mut job_after = processes_in_cgroup(&base);
        job_after.sort();
        if job_after != job_before {
            problems.push(format!("the job's processes changed: {job_before:?} -> {job_after:?}"));
        }
        let del = c.delete_force();
        if del.code != Some(0) {
            problems.push(format!("delete --force of the live container failed:\n{}", del.dump()));
        }
    }
    let tmp_after = snapshot(fx.tmp.path());
    if tmp_after != tmp_before {
        let changed: Vec<String> = tmp_before
            .iter()
            .filter(|(k, v)| tmp_after.get(*k) != Some(v))
            .map(|(k, v)| format!("{} was {v}, now {:?}", k.display(), tmp_after.get(k)))
            .chain(tmp_after.iter().filter(|(k, _)| !tmp_before.contains_key(*k)).map(|(k, v)| format!("{} appeared: {v}", k.display())))
            .collect();
        problems.push(format!("the host-side scratch dir changed (payload ran or a symlink was followed): {}", changed.join("; ")));
    }
    if !case.live {
        for e in root.entries() {
            if !root_before.contains(&e) {
                problems.push(format!("created under the root: {}", e.display()));
            }
        }
    }
    if case.code == 0 && case.name.contains("delete --force") {
        // The planted link (or the directory holding it) is gone; its target is not.
        if fs::symlink_metadata(root.path().join(&fx.id)).is_ok() {
            problems.push("delete --force left the planted entry in the root".into());
        }
    }
    for p in &fx.absent {
        if fs::symlink_metadata(p).is_ok() {
            problems.push(format!("{} was created on the host", p.display()));
            let _ = fs::remove_dir(p);
        }
    }
    for p in &fx.present {
        if !p.exists() {
            problems.push(format!("{} is gone", p.display()));
        }
    }
    if !Path::new("/etc").is_dir() || fs::symlink_metadata("/etc").map(|m| m.file_type().is_symlink()).unwrap_or(true) {
        problems.push("/etc is no longer a directory".into());
    }
    // The planted inputs themselves (a corrupt state, a symlink) are the case's, not
    // hostproc's: remove them (never following a link) before looking for leftovers.
    if !case.live {
        for e in &root_before {
            let p = root.path().join(e);
            match fs::symlink_metadata(&p) {
                Ok(m) if m.is_dir() => {
                    let _ = fs::remove_dir_all(&p);
                }
                Ok(_) => {
                    let _ = fs::remove_file(&p);
                }
                Err(_) => {}
            }
        }
    }
    let extra: Vec<&Path> = fx.extra.iter().map(PathBuf::as_path).collect();
    let check = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| cleanup_check(&root, &fx.bundle, &base, &extra)));
    if let Err(e) = check {
        let msg = e.downcast_ref::<String>().cloned().or_else(|| e.downcast_ref::<&str>().map(|s| s.to_string())).unwrap_or_default();
        problems.push(msg);
    }
    drop(ctr);
    if !problems.is_empty() {
        problems.push(format!("--- hostproc's output ---\n{}", truncate(&out.dump())));
    }
    problems
}

fn truncate(s: &str) -> String {
    if s.len() <= 4000 {
        s.to_owned()
    } else {
        format!("{}... ({} bytes)", &s[..s.floor_char_boundary(4000)], s.len())
    }
}

/// Rows run in parallel, a few at a time (each is one or a few hostproc invocations).
#[test]
fn hostile_input_table() {
    assert!(CASES.len() >= 60, "the table must hold at least 60 cases");
    let mut names: Vec<&str> = CASES.iter().map(|c| c.name).collect();
    names.sort();
    names.dedup();
    assert_eq!(names.len(), CASES.len(), "case names must be unique");

    let only = std::env::var("HOSTILE_CASE").ok();
    let failures: Mutex<Vec<String>> = Mutex::new(Vec::new());
    let next = std::sync::atomic::AtomicUsize::new(0);
    let workers = thread::available_parallelism().map(|n| n.get()).unwrap_or(4).clamp(2, 8);
    let ran = std::sync::atomic::AtomicUsize::new(0);
    thread::scope(|s| {
        for _ in 0..workers {
            s.spawn(|| loop {
                let i = next.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                let Some(case) = CASES.get(i) else { break };
                if only.as_deref().is_some_and(|o| !case.name.contains(o)) {
                    continue;
                }
                ran.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                let problems = std::panic::catch_unwind(|| run_case(case)).unwrap_or_else(|e| {
                    vec![format!("the test itself panicked: {:?}", e.downcast_ref::<String>().cloned().or_else(|| e.downcast_ref::<&str>().map(|s| s.to_string())))]
                });
                if !problems.is_empty() {
                    failures.lock().unwrap().push(format!("CASE {:?}:\n  {}", case.name, problems.join("\n  ")));
                }
            });
        }
    });
    let failures = failures.into_inner().unwrap();
    let ran = ran.into_inner();
    assert!(ran > 0, "HOSTILE_CASE={:?} matches no case: nothing was checked", only.unwrap_or_default());
    assert!(
        failures.is_empty(),
        "{} of {} hostile-input cases failed:\n\n{}",
        failures.len(),
        ran,
        failures.join("\n\n")
    );
}
