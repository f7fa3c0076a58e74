//! Scenario 8 (issue 12's speed): `hostproc pod run --rm` of a pod with one init container
//! and one container that exits, to exit and clean-up, against podman with the same pod
//! file: `podman kube play` + `podman wait` (the container's exit) + `podman kube down`.
//!
//! podman, when installed, keeps everything it makes in the bench's temporary directory
//! (storage, run root, tmp dir, network config; a containers.conf of ours) and runs in a
//! wrapper (`Pre::PodmanWrap`) whose private cgroup namespace and bind mounts put its
//! `/libpod_parent` cgroups beneath our own cgroup. What it still makes on the host
//! (`/dev/shm/libpod_lock`, `/run/containers`, `/var/lib/containers`, the libpod_parent
//! cgroups) is removed at the end when it did not exist before.

use std::fs;
use std::path::{Path, PathBuf};
use std::time::Instant;

use super::interleaved;
use crate::cgroup::own_dir;
use crate::ctx::Ctx;
use crate::process::{check_stop, cstr, reap_orphans, sh, Pre};
use crate::report::{entry, ms};
use crate::results::Results;
use crate::runtime::Rt;
use crate::Res;

const POD: &str = "hostproc-bench-pod";
const IMAGE: &str = "localhost/hostproc-bench:1";
const HOSTPROC: &str = "hostproc pod run --rm";

/// The pod both run: HostProcess fields for hostproc (podman ignores windowsOptions), the
/// host's network for both (no network to set up), `/bin/true` twice.
fn pod_yaml(image: &str) -> String {
    format!(
        "apiVersion: v1\nkind: Pod\nmetadata:\n  name: {POD}\nspec:\n  hostNetwork: true\n  restartPolicy: Never\n  \
         terminationGracePeriodSeconds: 1\n  securityContext:\n    windowsOptions:\n      hostProcess: true\n      \
         runAsUserName: \"NT AUTHORITY\\\\SYSTEM\"\n  initContainers:\n  - name: init\n    image: {image}\n    \
         imagePullPolicy: Never\n    command: [\"/bin/true\"]\n  containers:\n  - name: main\n    image: {image}\n    \
         imagePullPolicy: Never\n    command: [\"/bin/true\"]\n"
    )
}

struct Podman {
    bin: PathBuf,
    dir: PathBuf,
    binds: Vec<(std::ffi::CString, std::ffi::CString)>,
    hide_v2: bool,
    /// Host paths podman makes that did not exist before the bench: removed at the end.
    made: Vec<PathBuf>,
    /// `<own cgroup>/libpod_parent` in each hierarchy, where it did not exist before.
    cgroups: Vec<PathBuf>,
}

impl Podman {
    fn new(c: &Ctx, bin: PathBuf) -> Res<Podman> {
        let dir = c.tmp.join("podman");
        for d in ["storage", "run", "tmp", "networks"] {
            fs::create_dir_all(dir.join(d)).map_err(|e| format!("{}: {e}", dir.display()))?;
        }
        // podman's default rlimits for root (nofile 1048576, nproc 4194304) cannot be set
        // without CAP_SYS_RESOURCE (this machine's sessions lack it); lower ones always can.
        let conf = dir.join("containers.conf");
        let text = "[containers]\ndefault_ulimits = [\"nofile=1024:1024\", \"nproc=1024:1024\"]\n\
                    [engine]\ncgroup_manager = \"cgroupfs\"\nevents_logger = \"file\"\nruntime = \"crun\"\n";
        fs::write(&conf, text).map_err(|e| format!("{}: {e}", conf.display()))?;
        // Read by every podman the bench starts (it has no flag for all of it).
        std::env::set_var("CONTAINERS_CONF", &conf);
        let binds = c
            .all
            .iter()
            .filter(|h| h.own != "/")
            .map(|h| (cstr(own_dir(h)), cstr(&h.mount)))
            .collect();
        let made = ["/dev/shm/libpod_lock", "/run/containers", "/var/lib/containers", "/run/libpod"]
            .iter()
            .map(PathBuf::from)
            .filter(|p| !p.exists())
            .collect();
        let cgroups = c.all.iter().map(|h| own_dir(h).join("libpod_parent")).filter(|p| !p.exists()).collect();
        Ok(Podman { bin, dir, binds, hide_v2: c.hybrid, made, cgroups })
    }

    fn cmd(&self, args: &[&str]) -> (Vec<String>, Pre) {
        let d = |s: &str| self.dir.join(s).display().to_string();
        let mut v = vec![
            self.bin.display().to_string(),
            "--root".into(),
            d("storage"),
            "--runroot".into(),
            d("run"),
            "--tmpdir".into(),
            d("tmp"),
            "--network-config-dir".into(),
            d("networks"),
            "--storage-driver=overlay".into(),
        ];
        v.extend(args.iter().map(|s| s.to_string()));
        (v, Pre::PodmanWrap(self.binds.clone(), self.hide_v2))
    }

    fn run(&self, c: &Ctx, args: &[&str]) -> Res<()> {
        let (v, pre) = self.cmd(args);
        c.run(&v, &pre).map(|_| ())
    }

    /// play, wait for the container's exit, down: one round.
    fn round(&self, c: &Ctx, yaml: &str) -> Res<()> {
        self.run(c, &["kube", "play", yaml])?;
        self.run(c, &["wait", &format!("{POD}-main")])?;
        self.run(c, &["kube", "down", yaml])
    }

    /// Everything podman made, gone: its pods and containers, storage (with the bench's
    /// directory), its cgroups and host paths that did not exist before.
    fn cleanup(&self, c: &Ctx, yaml: &str) -> Vec<String> {
        let _ = self.run(c, &["kube", "down", yaml]);
        let _ = self.run(c, &["system", "reset", "--force"]);
        // conmon runs `podman container cleanup` when a container ends, on its own time
        // (seen 16 s after the bench): it would make /var/lib/containers again after us.
        let end = Instant::now() + std::time::Duration::from_secs(60);
        while self.users().next().is_some() && Instant::now() < end {
            reap_orphans();
            std::thread::sleep(std::time::Duration::from_millis(100));
        }
        reap_orphans();
        let mut left = Vec::new();
        for cg in &self.cgroups {
            if cg.exists() && !rmdir_tree(cg) {
                left.push(cg.display().to_string());
            }
        }
        for p in &self.made {
            let r = if p.is_dir() { fs::remove_dir_all(p) } else { fs::remove_file(p) };
            if p.exists() {
                left.push(format!("{}: {r:?}", p.display()));
            }
        }
        if let Some(pid) = self.users().next() {
            left.push(format!("podman process {pid} still runs with {}", self.dir.display()));
        }
        left
    }

    /// Processes whose command line names the bench's podman directory (conmon and the
    /// cleanups it starts).
    fn users(&self) -> impl Iterator<Item = u32> + '_ {
        let want = self.dir.display().to_string();
        fs::read_dir("/proc").into_iter().flatten().flatten().filter_map(move |e| {
            let pid: u32 = e.file_name().to_str()?.parse().ok()?;
            let cmd = fs::read(e.path().join("cmdline")).ok()?;
            String::from_utf8_lossy(&cmd).contains(&want).then_some(pid)
        })
    }
}

/// Removes a cgroup directory and those beneath it, deepest first (rmdir only: a cgroup
/// with a process in it stays).
fn rmdir_tree(d: &Path) -> bool {
    if let Ok(rd) = fs::read_dir(d) {
        for e in rd.flatten() {
            if e.file_type().is_ok_and(|t| t.is_dir()) {
                rmdir_tree(&e.path());
            }
        }
    }
    fs::remove_dir(d).is_ok()
}

/// (8) hostproc's `pod run --rm` against podman's play + wait + down of the same pod.
pub fn s8(c: &mut Ctx, r: &mut Results) -> Res<()> {
    if c.rt(Rt::Hostproc, &["pod", "--help"]).is_err() {
        c.say("\nscenario 8: this hostproc has no `pod` command (built with --no-default-features): skipped; build the default binary to time it");
        return Ok(());
    }
    let dir = c.tmp.join("pod");
    fs::create_dir_all(&dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    let podman = match c.o.podman.clone().filter(|p| p.is_file()) {
        Some(bin) => Some(Podman::new(c, bin)?),
        None => {
            c.say("\npodman: not installed (or --podman none): scenario 8 times hostproc alone (apt-get install -y podman to compare)");
            None
        }
    };
    let yaml = dir.join("pod.yaml").display().to_string();
    let res = s8_body(c, r, podman.as_ref(), &dir, &yaml);
    // hostproc's pod, if a round failed half-way.
    let _ = c.rt(Rt::Hostproc, &["pod", "rm", "--force", POD]);
    if let Some(p) = &podman {
        let left = p.cleanup(c, &yaml);
        if !left.is_empty() {
            return Err(format!("podman left: {left:?}"));
        }
    }
    res
}

fn s8_body(c: &mut Ctx, r: &mut Results, podman: Option<&Podman>, dir: &Path, yaml: &str) -> Res<()> {
    // One image for both: the bench's rootfs, imported by podman and saved as an
    // oci-archive that hostproc imports under the same name. Without podman, `dir:`.
    let image = match podman {
        Some(p) => {
            let tar = dir.join("rootfs.tar");
            let out = sh(&format!("tar -C {} -cf {} . && echo ok", c.tmp.join("rootfs").display(), tar.display()));
            if out.trim() != "ok" {
                return Err(format!("tar of the rootfs: {out}"));
            }
            p.run(c, &["import", tar.to_str().unwrap(), IMAGE])?;
            let archive = dir.join("image.oci.tar");
            p.run(c, &["save", "--format", "oci-archive", "-o", archive.to_str().unwrap(), IMAGE])?;
            c.rt(Rt::Hostproc, &["image", "import", &format!("oci-archive:{}", archive.display()), IMAGE])?;
            IMAGE.to_string()
        }
        None => format!("dir:{}", c.tmp.join("rootfs").display()),
    };
    fs::write(yaml, pod_yaml(&image)).map_err(|e| format!("{yaml}: {e}"))?;
    eprintln!("[8] pod run (init container + container) ×{} each, interleaved", c.o.pod_reps);
    // Warm-up, not timed: podman builds its pause image on its first pod.
    c.rt(Rt::Hostproc, &["pod", "run", "--rm", yaml])?;
    let mut variants = vec![HOSTPROC.to_string()];
    if let Some(p) = podman {
        p.round(c, yaml)?;
        variants.push("podman".into());
    }
    for (rep, v) in interleaved(&variants, c.o.pod_reps) {
        check_stop()?;
        let t0 = Instant::now();
        if v == HOSTPROC {
            c.rt(Rt::Hostproc, &["pod", "run", "--rm", yaml])?;
        } else {
            podman.expect("podman").round(c, yaml)?;
        }
        let d = t0.elapsed();
        reap_orphans();
        if rep == 0 && v == HOSTPROC && c.state_root(Rt::Hostproc).join("pods").read_dir().is_ok_and(|mut d| d.next().is_some()) {
            return Err("hostproc pod run --rm left its pod's state".into());
        }
        entry(&mut r.s8, &v).push(ms(d));
    }
    Ok(())
}
