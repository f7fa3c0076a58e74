/// The runtime-spec `features` document.
pub fn exec() -> super::Result {
    let v = serde_json::json!({
        "ociVersionMin": "1.0.0",
        "ociVersionMax": "1.3.0",
        "hooks": ["prestart", "createRuntime", "createContainer", "startContainer", "poststart", "poststop"],
        "mountOptions": ["bind", "rbind", "ro", "rw"],
        "linux": {
            "namespaces": [],
            "capabilities": caps::all().iter().map(|c| c.to_string()).collect::<Vec<_>>(),
            "cgroup": {"v1": true, "v2": true, "systemd": false, "systemdUser": false, "rdma": false},
            "apparmor": {"enabled": false},
            "selinux": {"enabled": false},
            "intelRdt": {"enabled": false},
            "mountExtensions": {"idmap": {"enabled": false}}
        },
        "annotations": {
            "io.github.hostproc.runtime": "hostproc",
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
