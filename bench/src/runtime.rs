//! The runtimes: their commands (hostproc, runc, crun) and each container's bundle.

use std::fs;
use std::path::PathBuf;
use std::time::Duration;

use serde_json::json;

use crate::cgroup::own_dir;
use crate::ctx::Ctx;
use crate::process::{reap_orphans, spawn, wait_child, Pre};
use crate::Res;

#[derive(Clone, Copy, PartialEq, Eq, Debug, PartialOrd, Ord)]
pub enum Rt {
    Hostproc,
    Runc,
    Crun,
}
impl Rt {
    pub fn name(self) -> &'static str {
        match self {
            Rt::Hostproc => "hostproc",
            Rt::Runc => "runc",
            Rt::Crun => "crun",
        }
    }
}

/// hostproc's default rootfs location.
pub const HPC_LOCATION: &str = hostproc_storage::DEFAULT_LOCATION;

impl Ctx {
    /// The runtime of this run named `name` (a variant that is not a floor).
    pub fn rt_named(&self, name: &str) -> Rt {
        *self.rts.iter().find(|r| r.name() == name).unwrap()
    }
    pub fn state_root(&self, rt: Rt) -> PathBuf {
        self.tmp.join("state").join(rt.name())
    }
    fn bin(&self, rt: Rt) -> String {
        match rt {
            Rt::Hostproc => self.o.hostproc.display().to_string(),
            Rt::Runc => self.o.runc.as_ref().unwrap().display().to_string(),
            Rt::Crun => self.o.crun.as_ref().unwrap().display().to_string(),
        }
    }
    pub fn cmd(&self, rt: Rt, args: &[&str]) -> (Vec<String>, Pre) {
        let mut v = vec![
            self.bin(rt),
            "--root".into(),
            self.state_root(rt).display().to_string(),
        ];
        v.extend(args.iter().map(|s| s.to_string()));
        let pre = if rt == Rt::Crun && self.hybrid {
            Pre::CrunWrap
        } else {
            Pre::None
        };
        (v, pre)
    }
    pub fn rt(&self, rt: Rt, args: &[&str]) -> Res<(Duration, i64)> {
        let (v, pre) = self.cmd(rt, args);
        self.run(&v, &pre)
    }
    fn rt_quiet(&self, rt: Rt, args: &[&str]) {
        let (v, pre) = self.cmd(rt, args);
        if let Ok(pid) = spawn(&v, &self.io(), &pre) {
            let _ = wait_child(pid);
        }
    }
    /// `delete --force` of each container, reaping what it leaves re-parented to us.
    pub fn force_delete<'a>(&self, containers: impl IntoIterator<Item = (Rt, &'a str)>) {
        for (rt, id) in containers {
            self.rt_quiet(rt, &["delete", "--force", id]);
            reap_orphans();
        }
    }
    /// `create` of a container `id` running `args`, in a bundle of its own.
    pub fn create(&self, rt: Rt, id: &str, args: &[&str]) -> Res<()> {
        let b = self.bundle(rt, id, args)?;
        self.rt(rt, &["create", "--bundle", b.to_str().unwrap(), id])?;
        Ok(())
    }

    /// The timed program, `/bin/true` of the bundles' rootfs, as each runtime names it: a
    /// HostProcess container finds its image's files under its sandbox.
    pub fn payload(&self, rt: Rt) -> &'static str {
        match rt {
            Rt::Hostproc => "$CONTAINER_SANDBOX_MOUNT_POINT/bin/true",
            _ => "/bin/true",
        }
    }
    /// The same program for the floor: fork and exec of the rootfs's /bin/true.
    pub fn floor_payload(&self) -> Vec<String> {
        vec![self.tmp.join("rootfs/bin/true").to_string_lossy().into_owned()]
    }

    /// A bundle for one container (containerd also writes one per container).
    pub fn bundle(&self, rt: Rt, id: &str, args: &[&str]) -> Res<PathBuf> {
        let dir = self.tmp.join("bundles").join(id);
        fs::create_dir_all(&dir).map_err(|e| format!("{}: {e}", dir.display()))?;
        let cfg = match rt {
            Rt::Hostproc => json!({
                "ociVersion": "1.2.0",
                "process": {
                    "terminal": false,
                    "user": {"uid": 0, "gid": 0},
                    "args": args,
                    "env": ["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"],
                    "cwd": ""
                },
                "root": {"path": self.tmp.join("rootfs")},
                "annotations": {
                    "microsoft.com/hostprocess-container": "true",
                }
            }),
            Rt::Runc | Rt::Crun => {
                let mut c = self.template.clone();
                c["process"]["terminal"] = json!(false);
                c["process"]["args"] = json!(args);
                c["root"]["path"] = json!(self.tmp.join("rootfs"));
                let cg = match rt {
                    // runc: relative = beneath runc's own cgroup in every hierarchy.
                    Rt::Runc => format!("hostproc-bench-{id}"),
                    // crun: relative paths are taken from the root, so an absolute path
                    // beneath our own memory cgroup (checked in setup).
                    _ => format!(
                        "{}/hostproc-bench-{id}",
                        self.crun_base.trim_end_matches('/')
                    ),
                };
                c["linux"]["cgroupsPath"] = json!(cg);
                c
            }
        };
        fs::write(
            dir.join("config.json"),
            serde_json::to_vec_pretty(&cfg).unwrap(),
        )
        .map_err(|e| format!("{}: {e}", dir.display()))?;
        Ok(dir)
    }

    /// The job's cgroup directory in the memory hierarchy, if it is still there (a run
    /// that returned must have removed it).
    pub fn cgroup_left(&self, rt: Rt, id: &str) -> Option<PathBuf> {
        let h = self.all.iter().find(|h| h.has("memory"))?;
        let dir = match rt {
            Rt::Hostproc => own_dir(h).join("hostproc").join(id),
            Rt::Runc => own_dir(h).join(format!("hostproc-bench-{id}")),
            Rt::Crun => h
                .mount
                .join(self.crun_base.trim_start_matches('/'))
                .join(format!("hostproc-bench-{id}")),
        };
        dir.exists().then_some(dir)
    }
}
