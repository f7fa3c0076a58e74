/// config.json fields a HostProcess container accepts and does not apply (docs/cli.md says
/// why for each). The features document has no standard field for this, and may hold no
/// field of its own, so the list goes in its `annotations`, as a runtime's metadata.
const NOT_APPLIED: &[&str] = &[
    "linux.namespaces",
    "linux.seccomp",
    "linux.sysctl",
    "process.apparmorProfile",
    "process.selinuxLabel",
    "linux.mountLabel",
    "linux.readonlyPaths",
    "linux.maskedPaths",
    "linux.devices",
    "linux.resources.devices",
    "linux.uidMappings",
    "linux.gidMappings",
    "hostname",
    "domainname",
    "linux.personality",
    "linux.intelRdt",
    "linux.timeOffsets",
    "linux.netDevices",
    "linux.memoryPolicy",
    "process.ioPriority",
    "process.scheduler",
    "process.execCPUAffinity",
];

/// The runtime-spec `features` document, with the CRIU that `--criu` (or PATH) gives
/// under hostproc's annotations.
pub fn exec(g: &crate::Global) -> super::Result {
    let criu = match hostproc_container::checkpoint::Criu::find(g.criu.as_deref()) {
        Ok(c) => format!("{} {}", c.path.display(), c.version),
        Err(e) => format!("none: {e}"),
    };
    let v = serde_json::json!({
        "ociVersionMin": "1.0.0",
        "ociVersionMax": "1.3.0",
        "hooks": ["prestart", "createRuntime", "createContainer", "startContainer", "poststart", "poststop"],
        "mountOptions": ["bind", "rbind", "ro", "rw", "shared", "rshared", "slave", "rslave", "private", "rprivate", "unbindable", "runbindable"],
        "linux": {
            "namespaces": [],
            "capabilities": caps::all().iter().map(|c| c.to_string()).collect::<Vec<_>>(),
            "cgroup": {"v1": true, "v2": true, "systemd": false, "systemdUser": false, "rdma": true},
            "apparmor": {"enabled": false},
            "selinux": {"enabled": false},
            "seccomp": {"enabled": false},
            "intelRdt": {"enabled": false},
            "mountExtensions": {"idmap": {"enabled": false}}
        },
        "annotations": {
            "io.github.hostproc.runtime": "hostproc",
            "io.github.hostproc.criu": criu,
            "io.github.hostproc.notApplied": NOT_APPLIED.join(", "),
            "hostproc.io/mount-mode": "bind|host",
            "hostproc.io/grace-period": "duration",
            "microsoft.com/hostprocess-container": "true",
            "microsoft.com/hostprocess-rootfs-location": "path",
            "microsoft.com/hostprocess-inherit-user": "true|false"
        },
        "potentiallyUnsafeConfigAnnotations": []
    });
    println!("{}", serde_json::to_string_pretty(&v).expect("features serialize"));
    Ok(0)
}
