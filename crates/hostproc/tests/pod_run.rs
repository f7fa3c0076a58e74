//! `hostproc pod run|ls|stop|rm`: pods run for real through the binary, each test with its
//! own `--root`, its own `dir:` image and host paths under a temporary directory.

mod common;
#[path = "common/oci.rs"]
mod oci;
#[path = "common/pod.rs"]
mod pod;

use std::fs;
use std::os::unix::fs::{FileTypeExt, MetadataExt, PermissionsExt};
use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use common::*;
use pod::*;
use serde_json::{json, Value};

#[test]
fn init_containers_run_one_at_a_time_in_order_then_the_containers() {
    let t = T::new("podinit");
    let f = t.path("order").display().to_string();
    let s1 = format!("echo init1 >> {f}; sleep 0.3; echo init1-done >> {f}");
    let s2 = format!("echo init2 >> {f}");
    let m = format!("echo main >> {f}; cat {f}; sh $CONTAINER_SANDBOX_MOUNT_POINT/hello.sh");
    let out = t.run(&[t.pod(&[("init1", &s1), ("init2", &s2)], &[("main", &m)], json!({}))]);
    assert_eq!(out.code(), 0, "{}", out.dump());
    assert_eq!(fs::read_to_string(&f).unwrap(), "init1\ninit1-done\ninit2\nmain\n");
    assert_eq!(t.lines("main", 0), ["init1", "init1-done", "init2", "main", "hello from the image"]);
    // CRI format: RFC 3339 nano time, stream, F.
    let first = t.log("main", 0).lines().next().unwrap().to_string();
    let parts: Vec<&str> = first.splitn(4, ' ').collect();
    assert!(parts[0].ends_with('Z') && parts[0].contains('T') && parts[0].contains('.'), "{first}");
    assert_eq!((parts[1], parts[2]), ("stdout", "F"), "{first}");
    let st = t.status();
    assert_eq!(st["status"]["phase"], "Succeeded");
    for c in st["status"]["initContainerStatuses"].as_array().unwrap().iter().chain(st["status"]["containerStatuses"].as_array().unwrap()) {
        assert_eq!(c["state"]["terminated"]["reason"], "Completed", "{c}");
        assert_eq!(c["state"]["terminated"]["exitCode"], 0, "{c}");
    }
    let table = t.hostproc(&["pod", "ls"]);
    assert!(table.stdout.lines().any(|l| l.contains(&t.name) && l.contains("Succeeded") && l.contains("0/1")), "{}", table.dump());
    let yaml = t.hostproc(&["pod", "ls", "-o", "yaml"]);
    assert!(yaml.stdout.contains("phase: Succeeded"), "{}", yaml.dump());
    // rm without --force works on a finished pod.
    let out = t.hostproc(&["pod", "rm", &t.name]);
    assert!(out.ok(), "{}", out.dump());
    t.rm_and_check();
}

#[test]
fn a_failing_init_container_with_restart_policy_never_fails_the_pod_and_nothing_else_runs() {
    let t = T::new("podinitfail");
    let f = t.path("ran");
    let out = t.run(&[t.pod(&[("init1", "exit 3")], &[("main", &format!("touch {}", f.display()))], json!({}))]);
    assert_eq!(out.code(), 1, "{}", out.dump());
    assert!(!f.exists(), "main ran after a failed init container");
    let st = t.status();
    assert_eq!(st["status"]["phase"], "Failed");
    let i = &st["status"]["initContainerStatuses"][0];
    assert_eq!((i["state"]["terminated"]["exitCode"].as_i64(), i["state"]["terminated"]["reason"].as_str()), (Some(3), Some("Error")), "{i}");
    t.rm_and_check();
}

#[test]
fn on_failure_restarts_a_failed_container_until_it_succeeds() {
    let t = T::new("podonfail");
    let f = t.path("count");
    // Fails the first time, succeeds the second (the restart is immediate, as kubelet's).
    let s = format!("if [ -e {f} ]; then echo second; exit 0; fi; touch {f}; echo first; exit 7", f = f.display());
    let out = t.run(&[t.pod(&[], &[("main", &s)], json!({"restartPolicy": "OnFailure"}))]);
    assert_eq!(out.code(), 0, "{}", out.dump());
    let c = &t.status()["status"]["containerStatuses"][0];
    assert_eq!(c["restartCount"], 1, "{c}");
    assert_eq!(c["lastState"]["terminated"]["exitCode"], 7, "{c}");
    assert_eq!(c["state"]["terminated"]["reason"], "Completed", "{c}");
    assert_eq!(t.lines("main", 0), ["first"]);
    assert_eq!(t.lines("main", 1), ["second"]);
    t.rm_and_check();
}

#[test]
fn never_does_not_restart_and_a_failure_fails_the_pod() {
    let t = T::new("podnever");
    let out = t.run(&[t.pod(&[], &[("ok", "exit 0"), ("bad", "exit 4")], json!({}))]);
    assert_eq!(out.code(), 1, "{}", out.dump());
    let st = t.status();
    assert_eq!(st["status"]["phase"], "Failed");
    for c in st["status"]["containerStatuses"].as_array().unwrap() {
        assert_eq!(c["restartCount"], 0, "{c}");
    }
    t.rm_and_check();
}

/// restartPolicy Always: a container that exits is restarted, at once the first time,
/// then after 10 s, then 20 s (kubelet's back-off), CrashLoopBackOff while it waits.
#[test]
fn always_restarts_with_kubelets_back_off() {
    let t = T::new("podbackoff");
    let m = t.manifest(&[t.pod(&[], &[("main", "echo run; exit 1")], json!({"restartPolicy": "Always"}))]);
    let out = t.hostproc(&["pod", "run", "--detach", m.to_str().unwrap()]);
    assert!(out.ok(), "{}", out.dump());
    let end = Instant::now() + Duration::from_secs(60);
    let mut saw_backoff = false;
    loop {
        let c = t.status()["status"]["containerStatuses"][0].clone();
        if c["state"]["waiting"]["reason"] == "CrashLoopBackOff" {
            saw_backoff = true;
        }
        if c["restartCount"].as_u64().unwrap_or(0) >= 3 {
            break;
        }
        assert!(Instant::now() < end, "no third restart in 60 s: {c}");
        std::thread::sleep(Duration::from_millis(200));
    }
    assert!(saw_backoff, "the container was never seen in CrashLoopBackOff");
    let st = t.state();
    let c = &st["containerStatuses"][0];
    let times: Vec<k8s_time::T> = c["hostproc"]["restartTimes"].as_array().unwrap().iter().map(|v| k8s_time::parse(v.as_str().unwrap())).collect();
    assert!(times.len() >= 3, "{c}");
    let gap1 = times[1] - times[0];
    let gap2 = times[2] - times[1];
    // Each gap is the back-off plus the container's short run.
    assert!((10.0..15.0).contains(&gap1), "second restart {gap1} s after the first (want 10 s back-off)");
    assert!((20.0..25.0).contains(&gap2), "third restart {gap2} s after the second (want 20 s back-off)");
    assert_eq!(t.lines("main", 2), ["run"]);
    t.rm_and_check();
}

/// RFC 3339 times to seconds, for gaps.
mod k8s_time {
    pub type T = f64;
    pub fn parse(s: &str) -> T {
        let (date, time) = s.trim_end_matches('Z').split_once('T').unwrap();
        let d: Vec<i64> = date.split('-').map(|x| x.parse().unwrap()).collect();
        let (hms, frac) = time.split_once('.').unwrap_or((time, "0"));
        let t: Vec<f64> = hms.split(':').map(|x| x.parse().unwrap()).collect();
        // Days are enough for gaps within a test (same month).
        (d[2] as f64) * 86400.0 + t[0] * 3600.0 + t[1] * 60.0 + t[2] + format!("0.{frac}").parse::<f64>().unwrap()
    }
}

#[test]
fn every_env_source_and_kubelets_expansion() {
    let t = T::new("podenv");
    let script = "for v in LIT EXP ESC UNRES NAME NS UID LABEL ANN NODE SA HOSTIP PODIPS CPU_M MEM_MI REQ_CPU CM SEC OPT_CM P_a P_b S_k; do eval \"echo $v=\\${$v-unset}\"; done; echo ARGS=$1";
    let pod = t.pod(
        &[],
        &[("main", script)],
        json!({
            "serviceAccountName": "agent",
            "containers": [{
                "name": "main",
                "image": t.image(),
                "command": ["/bin/sh", "-c", script, "$(NAME)"],
                "args": ["$(LIT)-$$(LIT)-$(NOPE)"],
                "resources": {"limits": {"cpu": "500m", "memory": "64Mi"}, "requests": {"cpu": "250m"}},
                "envFrom": [{"prefix": "P_", "configMapRef": {"name": "cm"}}, {"prefix": "S_", "secretRef": {"name": "sec"}}, {"configMapRef": {"name": "missing", "optional": true}}],
                "env": [
                    {"name": "LIT", "value": "lit"},
                    {"name": "EXP", "value": "[$(LIT)]"},
                    {"name": "ESC", "value": "$$(LIT)"},
                    {"name": "UNRES", "value": "$(LATER)"},
                    {"name": "NAME", "valueFrom": {"fieldRef": {"fieldPath": "metadata.name"}}},
                    {"name": "NS", "valueFrom": {"fieldRef": {"fieldPath": "metadata.namespace"}}},
                    {"name": "UID", "valueFrom": {"fieldRef": {"fieldPath": "metadata.uid"}}},
                    {"name": "LABEL", "valueFrom": {"fieldRef": {"fieldPath": "metadata.labels['app']"}}},
                    {"name": "ANN", "valueFrom": {"fieldRef": {"fieldPath": "metadata.annotations['note']"}}},
                    {"name": "NODE", "valueFrom": {"fieldRef": {"fieldPath": "spec.nodeName"}}},
                    {"name": "SA", "valueFrom": {"fieldRef": {"fieldPath": "spec.serviceAccountName"}}},
                    {"name": "HOSTIP", "valueFrom": {"fieldRef": {"fieldPath": "status.hostIP"}}},
                    {"name": "PODIPS", "valueFrom": {"fieldRef": {"fieldPath": "status.podIPs"}}},
                    {"name": "CPU_M", "valueFrom": {"resourceFieldRef": {"resource": "limits.cpu", "divisor": "1m"}}},
                    {"name": "MEM_MI", "valueFrom": {"resourceFieldRef": {"resource": "limits.memory", "divisor": "1Mi"}}},
                    {"name": "REQ_CPU", "valueFrom": {"resourceFieldRef": {"resource": "requests.cpu"}}},
                    {"name": "CM", "valueFrom": {"configMapKeyRef": {"name": "cm", "key": "a"}}},
                    {"name": "SEC", "valueFrom": {"secretKeyRef": {"name": "sec", "key": "k"}}},
                    {"name": "OPT_CM", "valueFrom": {"configMapKeyRef": {"name": "cm", "key": "nokey", "optional": true}}},
                    {"name": "LATER", "value": "late"}
                ]
            }]
        }),
    );
    let m = t.manifest(&[config_map("cm", json!({"a": "A", "b": "B"})), secret("sec", json!({"k": "s3cret"})), pod]);
    let out = t.hostproc(&["pod", "run", "--node-name", "node-7", m.to_str().unwrap()]);
    assert_eq!(out.code(), 0, "{}", out.dump());
    let lines = t.lines("main", 0);
    let get = |k: &str| lines.iter().find_map(|l| l.strip_prefix(&format!("{k}="))).unwrap_or_else(|| panic!("{k} missing: {lines:?}")).to_string();
    let uid = t.state()["uid"].as_str().unwrap().to_string();
    let ip = t.state()["hostIp"].as_str().unwrap().to_string();
    assert_eq!(get("LIT"), "lit");
    assert_eq!(get("EXP"), "[lit]");
    assert_eq!(get("ESC"), "$(LIT)");
    assert_eq!(get("UNRES"), "$(LATER)", "a reference to a later variable stays as written");
    assert_eq!(get("NAME"), t.name);
    assert_eq!(get("NS"), "default");
    assert_eq!(get("UID"), uid);
    assert!(!uid.is_empty());
    assert_eq!(get("LABEL"), "demo");
    assert_eq!(get("ANN"), "x y");
    assert_eq!(get("NODE"), "node-7");
    assert_eq!(get("SA"), "agent");
    assert_eq!(get("HOSTIP"), ip);
    assert!(get("PODIPS").starts_with(&ip));
    assert_eq!(get("CPU_M"), "500");
    assert_eq!(get("MEM_MI"), "64");
    assert_eq!(get("REQ_CPU"), "1", "250m in cores, rounded up");
    assert_eq!(get("CM"), "A");
    assert_eq!(get("SEC"), "s3cret");
    assert_eq!(get("OPT_CM"), "unset");
    assert_eq!((get("P_a"), get("P_b"), get("S_k")), ("A".into(), "B".into(), "s3cret".into()));
    // command and args expanded against the environment: $0 is the name, $1 the arg.
    assert_eq!(get("ARGS"), "lit-$(LIT)-$(NOPE)");
    // The CRI annotations and HostProcess reach the bundle.
    let cfg: Value = serde_json::from_slice(&fs::read(t.pod_dir().join("containers/main/config.json")).unwrap()).unwrap();
    let a = &cfg["annotations"];
    assert_eq!(a["io.kubernetes.pod.name"], t.name.as_str());
    assert_eq!(a["io.kubernetes.pod.namespace"], "default");
    assert_eq!(a["io.kubernetes.pod.uid"], uid.as_str());
    assert_eq!(a["io.kubernetes.container.name"], "main");
    assert_eq!(a["io.kubernetes.cri.sandbox-name"], t.name.as_str());
    assert_eq!(a["microsoft.com/hostprocess-container"], "true");
    assert_eq!(a["hostproc.io/grace-period"], "2s");
    assert_eq!(a["hostproc.io/run-as-user-name"], "NT AUTHORITY\\SYSTEM");
    t.rm_and_check();
}

#[test]
fn a_missing_config_map_key_is_refused_naming_the_field_and_nothing_is_made() {
    let t = T::new("podenvbad");
    let pod = t.pod(&[], &[("main", "true")], json!({}));
    let mut pod2 = pod.clone();
    pod2["spec"]["containers"][0]["env"] = json!([{"name": "X", "valueFrom": {"configMapKeyRef": {"name": "cm", "key": "nokey"}}}]);
    let out = t.run(&[config_map("cm", json!({"a": "A"})), pod2]);
    assert_eq!(out.code(), 1, "{}", out.dump());
    assert!(out.stderr.contains("env[0].valueFrom.configMapKeyRef.key") && out.stderr.contains("nokey"), "{}", out.dump());
    assert!(!t.pod_dir().exists(), "the pod's state was left");
    t.rm_and_check();
}

#[test]
fn every_volume_kind_with_its_checks_and_mounts() {
    let t = T::new("podvol");
    let host = t.path("host");
    fs::create_dir(&host).unwrap();
    fs::write(host.join("file"), "hostfile\n").unwrap();
    let sock = host.join("sock");
    let _listener = std::os::unix::net::UnixListener::bind(&sock).unwrap();
    let made_dir = host.join("made/deep");
    let made_file = host.join("made-file");
    let script = "set -e; \
        echo doc > /doc/ok; cat /doc/ok; \
        cat /hf; ls /hd >/dev/null; test -S /hs; test -c /null; \
        echo x > /mem/f; echo MEMFS=$(stat -f -c %T /mem); \
        echo CM=$(cat /cm/renamed); echo CMMODE=$(stat -c %a /cm/renamed); \
        echo SEC=$(cat /sec/k); echo SECMODE=$(stat -c %a /sec/k); \
        echo DOWN=$(cat /down/name); cat /down/labels; \
        echo SUB=$(cat /sub/inner); \
        if echo y > /ro/f 2>/dev/null; then echo RO=writable; else echo RO=readonly; fi; \
        if echo y > /cm/new 2>/dev/null; then echo CMRO=writable; else echo CMRO=readonly; fi";
    let pod = t.pod(
        &[("prep", "mkdir -p /scratch/sub && echo inner > /scratch/sub/inner")],
        &[("main", script)],
        json!({
            "initContainers": [{"name": "prep", "image": t.image(), "command": ["/bin/sh", "-c", "mkdir -p /scratch/sub && echo inner > /scratch/sub/inner"], "volumeMounts": [{"name": "scratch", "mountPath": "/scratch"}]}],
            "containers": [{
                "name": "main", "image": t.image(), "command": ["/bin/sh", "-c", script],
                "volumeMounts": [
                    {"name": "doc", "mountPath": "/doc"},
                    {"name": "hf", "mountPath": "/hf"},
                    {"name": "hd", "mountPath": "/hd"},
                    {"name": "hs", "mountPath": "/hs"},
                    {"name": "null", "mountPath": "/null"},
                    {"name": "mkdir", "mountPath": "/mkdir"},
                    {"name": "mkfile", "mountPath": "/mkfile"},
                    {"name": "mem", "mountPath": "/mem"},
                    {"name": "cm", "mountPath": "/cm"},
                    {"name": "sec", "mountPath": "/sec"},
                    {"name": "down", "mountPath": "/down"},
                    {"name": "scratch", "mountPath": "/sub", "subPath": "sub"},
                    {"name": "scratch", "mountPath": "/ro", "readOnly": true}
                ]
            }],
            "volumes": [
                {"name": "doc", "emptyDir": {}},
                {"name": "scratch", "emptyDir": {}},
                {"name": "hf", "hostPath": {"path": host.join("file"), "type": "File"}},
                {"name": "hd", "hostPath": {"path": host, "type": "Directory"}},
                {"name": "hs", "hostPath": {"path": sock, "type": "Socket"}},
                {"name": "null", "hostPath": {"path": "/dev/null", "type": "CharDevice"}},
                {"name": "mkdir", "hostPath": {"path": made_dir, "type": "DirectoryOrCreate"}},
                {"name": "mkfile", "hostPath": {"path": made_file, "type": "FileOrCreate"}},
                {"name": "mem", "emptyDir": {"medium": "Memory", "sizeLimit": "8Mi"}},
                {"name": "cm", "configMap": {"name": "cm", "items": [{"key": "a", "path": "renamed", "mode": 0o600}]}},
                {"name": "sec", "secret": {"secretName": "sec", "defaultMode": 0o440}},
                {"name": "down", "downwardAPI": {"items": [{"path": "name", "fieldRef": {"fieldPath": "metadata.name"}}, {"path": "labels", "fieldRef": {"fieldPath": "metadata.labels"}}]}}
            ]
        }),
    );
    let m = t.manifest(&[config_map("cm", json!({"a": "A", "b": "B"})), secret("sec", json!({"k": "s3cret"})), pod]);
    let run = spawn({
        let mut c = command(&t.root);
        c.args(["pod", "run", m.to_str().unwrap()]);
        c
    });
    // While it runs (or once it ran): the tmpfs is mounted on the host under the pod.
    let out = {
        let end = Instant::now() + Duration::from_secs(20);
        while !t.pod_dir().join("pod.json").exists() && Instant::now() < end {
            std::thread::sleep(Duration::from_millis(20));
        }
        run.finish(TIMEOUT)
    };
    assert_eq!(out.code(), 0, "{}\n{}", out.dump(), t.log("main", 0));
    let lines = t.lines("main", 0);
    let has = |s: &str| lines.iter().any(|l| l == s);
    for want in ["doc", "hostfile", "MEMFS=tmpfs", "CM=A", "CMMODE=600", "SEC=s3cret", "SECMODE=440", "SUB=inner", "RO=readonly", "CMRO=readonly", "app=\"demo\""] {
        assert!(has(want), "{want} missing: {lines:?}");
    }
    assert!(has(&format!("DOWN={}", t.name)), "{lines:?}");
    assert_eq!(fs::metadata(&made_dir).unwrap().permissions().mode() & 0o7777, 0o755);
    let mf = fs::metadata(&made_file).unwrap();
    assert!(mf.is_file() && mf.mode() & 0o777 == 0o644, "{:o}", mf.mode());
    // The tmpfs is still mounted (until rm), the emptyDir there.
    assert!(!mounts_mentioning(&[t.pod_dir().join("volumes/mem").to_str().unwrap()]).is_empty(), "tmpfs not mounted");
    assert!(t.pod_dir().join("volumes/doc/ok").exists());
    let _ = sock.metadata().unwrap().file_type().is_socket();
    t.rm_and_check();
    // hostPath contents are the host's: they stay.
    assert!(made_dir.is_dir() && made_file.is_file());
}

#[test]
fn hostpath_type_mismatch_unsupported_volumes_and_dotdot_items_are_refused_with_nothing_made() {
    let t = T::new("podvolbad");
    let f = t.path("afile");
    fs::write(&f, "x").unwrap();
    let cases: Vec<(Value, Vec<&str>)> = vec![
        (json!([{"name": "h", "hostPath": {"path": f, "type": "Directory"}}]), vec!["spec.volumes[0].hostPath.type", "is not a directory"]),
        (json!([{"name": "h", "hostPath": {"path": t.path("nope"), "type": "File"}}]), vec!["does not exist"]),
        (json!([{"name": "h", "hostPath": {"path": f, "type": "Socket"}}]), vec!["is not a socket"]),
        (json!([{"name": "h", "hostPath": {"path": f, "type": "BlockDevice"}}]), vec!["is not a block device"]),
        (json!([{"name": "data", "persistentVolumeClaim": {"claimName": "c"}}]), vec!["\"data\"", "persistentVolumeClaim"]),
        (json!([{"name": "tok", "projected": {"sources": []}}]), vec!["\"tok\"", "projected"]),
        (json!([{"name": "c", "configMap": {"name": "cm", "items": [{"key": "a", "path": "../escape"}]}}]), vec!["items[0].path", ".."]),
        (json!([{"name": "c", "configMap": {"name": "cm", "items": [{"key": "a", "path": "/abs"}]}}]), vec!["items[0].path", "absolute"]),
        (json!([{"name": "c", "configMap": {"name": "nocm"}}]), vec!["configMap \"nocm\""]),
    ];
    for (vols, want) in cases {
        let pod = t.pod(&[], &[("main", "true")], json!({"volumes": vols}));
        let out = t.run(&[config_map("cm", json!({"a": "A"})), pod]);
        assert_eq!(out.code(), 1, "{vols}: {}", out.dump());
        for w in want {
            assert!(out.stderr.contains(w), "{vols}: {w:?} not in {}", out.stderr);
        }
        assert!(!t.pod_dir().exists(), "{vols}: state left");
    }
    // Not a HostProcess pod, no host network.
    let mut pod = t.pod(&[], &[("main", "true")], json!({}));
    pod["spec"]["securityContext"]["windowsOptions"]["hostProcess"] = json!(false);
    let out = t.run(&[pod]);
    assert_eq!(out.code(), 1, "{}", out.dump());
    assert!(out.stderr.contains("not runnable by hostproc"), "{}", out.dump());
    let out = t.run(&[t.pod(&[], &[("main", "true")], json!({"hostNetwork": false}))]);
    assert!(out.code() == 1 && out.stderr.contains("spec.hostNetwork"), "{}", out.dump());
    // An optional missing configMap is an empty volume.
    let pod = t.pod(&[], &[("main", "true")], json!({"volumes": [{"name": "c", "configMap": {"name": "nocm", "optional": true}}]}));
    let out = t.run(&[pod]);
    assert_eq!(out.code(), 0, "{}", out.dump());
    t.rm_and_check();
}

#[test]
fn limits_and_requests_reach_the_cgroup_as_kubelet_computes_them() {
    let t = T::new("podlimits");
    let script = format!(
        "{}echo QUOTA=$(cat $CG/cpu.cfs_quota_us) PERIOD=$(cat $CG/cpu.cfs_period_us) SHARES=$(cat $CG/cpu.shares); {}echo MEM=$(cat $CG/memory.limit_in_bytes)",
        sh_own_cgroup("cpu"),
        sh_own_cgroup("memory")
    );
    let pod = t.pod(&[], &[("main", &script)], json!({}));
    let mut pod = pod;
    pod["spec"]["containers"][0]["resources"] = json!({"limits": {"cpu": "250m", "memory": "96Mi"}, "requests": {"cpu": "100m"}});
    let out = t.run(&[pod]);
    assert_eq!(out.code(), 0, "{}", out.dump());
    let lines = t.lines("main", 0).join("\n");
    // MilliCPUToQuota(250, 100000) = 25000; MilliCPUToShares(100) = 102.
    assert!(lines.contains("QUOTA=25000 PERIOD=100000 SHARES=102"), "{lines}");
    assert!(lines.contains(&format!("MEM={}", 96 << 20)), "{lines}");
    t.rm_and_check();
}

#[test]
fn a_container_over_its_memory_limit_is_oomkilled() {
    let t = T::new("podoom");
    // tail -c N keeps the last N bytes in memory: 64 MiB of zeros over a 16 MiB limit.
    let mut pod = t.pod(&[], &[("main", "head -c 67108864 /dev/zero | tail -c 67108864 >/dev/null")], json!({}));
    pod["spec"]["containers"][0]["resources"] = json!({"limits": {"memory": "16Mi"}});
    let out = t.run(&[pod]);
    assert_eq!(out.code(), 1, "{}", out.dump());
    let c = &t.status()["status"]["containerStatuses"][0];
    assert_eq!(c["state"]["terminated"]["reason"], "OOMKilled", "{c}");
    t.rm_and_check();
}

#[test]
fn ctrl_c_stops_each_container_with_sigterm_then_its_grace() {
    let t = T::new("podstop");
    let ready = t.path("ready");
    // One container ends on SIGTERM; the other ignores it and is killed after the 2 s grace.
    let polite = format!("trap 'echo got-term; exit 0' TERM; touch {}; while :; do sleep 0.1; done", ready.display());
    let stubborn = "trap '' TERM; while :; do sleep 0.1; done";
    let m = t.manifest(&[t.pod(&[], &[("polite", &polite), ("stubborn", stubborn)], json!({"restartPolicy": "Always"}))]);
    let run = spawn({
        let mut c = command(&t.root);
        c.args(["pod", "run", m.to_str().unwrap()]);
        c
    });
    let end = Instant::now() + Duration::from_secs(20);
    while !ready.exists() {
        assert!(Instant::now() < end, "the pod never started");
        std::thread::sleep(Duration::from_millis(20));
    }
    std::thread::sleep(Duration::from_millis(300));
    let st = t.status();
    assert_eq!(st["status"]["phase"], "Running", "{st}");
    let t0 = Instant::now();
    run.signal(libc::SIGINT);
    let out = run.finish(Duration::from_secs(30));
    let took = t0.elapsed();
    assert_eq!(out.code(), 0, "a stopped pod exits 0: {}", out.dump());
    assert!(took >= Duration::from_millis(1900) && took < Duration::from_secs(10), "stop took {took:?} (grace 2 s)");
    assert!(t.lines("polite", 0).contains(&"got-term".to_string()), "{:?}", t.lines("polite", 0));
    let st = t.status();
    for c in st["status"]["containerStatuses"].as_array().unwrap() {
        assert!(c["state"]["terminated"].is_object(), "{c}");
        assert_eq!(c["restartCount"], 0, "no restart after a stop: {c}");
    }
    t.rm_and_check();
}

#[test]
fn detached_pod_stop_and_supervisor_loss_then_rm_force_leaves_nothing() {
    let t = T::new("poddetach");
    // An ephemeral user (runAsUserName names a group) and a tmpfs, to see them removed.
    let mut pod = t.pod(&[], &[("main", "while :; do sleep 0.2; done")], json!({"restartPolicy": "Always", "volumes": [{"name": "m", "emptyDir": {"medium": "Memory"}}]}));
    pod["spec"]["containers"][0]["securityContext"] = json!({"windowsOptions": {"runAsUserName": "users"}});
    pod["spec"]["containers"][0]["volumeMounts"] = json!([{"name": "m", "mountPath": "/m"}]);
    let m = t.manifest(&[pod]);
    let out = t.hostproc(&["pod", "run", "--detach", m.to_str().unwrap()]);
    assert!(out.ok(), "{}", out.dump());
    let wait_running = || {
        let end = Instant::now() + Duration::from_secs(20);
        loop {
            let st = t.status();
            if st["status"]["containerStatuses"][0]["state"]["running"].is_object() {
                return st;
            }
            assert!(Instant::now() < end, "never running: {st}");
            std::thread::sleep(Duration::from_millis(50));
        }
    };
    wait_running();
    let id = format!("default_{}_main_0", t.name);
    // "running" is recorded as the engine is started: wait for the payload in its job.
    let end = Instant::now() + Duration::from_secs(20);
    while processes_in_cgroup(&id).is_empty() {
        assert!(Instant::now() < end, "the payload never ran");
        std::thread::sleep(Duration::from_millis(20));
    }
    assert!(!ephemeral_users_for(&id).is_empty(), "no ephemeral user made");
    assert!(!cgroups_named(&id).is_empty());
    // The pod's supervisor is killed: ls says so, the container runs on.
    let sup = t.state()["supervisor"][0].as_i64().unwrap() as i32;
    let start = t.state()["supervisor"][1].as_u64().unwrap();
    let p = ProcId::matching(sup, start).expect("the supervisor runs");
    p.kill();
    assert!(p.wait_gone(Duration::from_secs(5)));
    let table = t.hostproc(&["pod", "ls"]);
    assert!(table.stdout.contains("supervisor lost"), "{}", table.dump());
    assert_eq!(t.status()["status"]["reason"], "SupervisorLost");
    assert!(!processes_in_cgroup(&id).is_empty(), "the container should still run");
    // rm without --force refuses a pod whose containers still run.
    let out = t.hostproc(&["pod", "rm", &t.name]);
    assert_eq!(out.code(), 1, "{}", out.dump());
    t.rm_and_check();
}

#[test]
fn pod_stop_of_a_detached_pod_stops_it_gracefully() {
    let t = T::new("podstopcmd");
    let m = t.manifest(&[t.pod(&[], &[("main", "trap 'echo bye; exit 0' TERM; while :; do sleep 0.1; done")], json!({"restartPolicy": "Always"}))]);
    let out = t.hostproc(&["pod", "run", "--detach", m.to_str().unwrap()]);
    assert!(out.ok(), "{}", out.dump());
    let end = Instant::now() + Duration::from_secs(20);
    while !t.status()["status"]["containerStatuses"][0]["state"]["running"].is_object() {
        assert!(Instant::now() < end);
        std::thread::sleep(Duration::from_millis(50));
    }
    std::thread::sleep(Duration::from_millis(300));
    let out = t.hostproc(&["pod", "stop", &t.name]);
    assert!(out.ok(), "{}", out.dump());
    let c = &t.status()["status"]["containerStatuses"][0];
    assert_eq!(c["state"]["terminated"]["exitCode"], 0, "{c}");
    assert_eq!(c["restartCount"], 0, "{c}");
    assert!(t.lines("main", 0).contains(&"bye".to_string()));
    assert_eq!(t.status()["status"]["phase"], "Succeeded");
    let out = t.hostproc(&["pod", "rm", &t.name]);
    assert!(out.ok(), "{}", out.dump());
    t.rm_and_check();
    let _ = Command::new("true");
    let _ = Path::new("/");
}

#[test]
fn readiness_and_liveness_probes_and_the_prestop_hook_through_the_supervisor() {
    let t = T::new("podprobes");
    let ready = t.path("ready");
    let prestop = t.path("prestop");
    let alive = t.path("alive");
    let pod = t.pod(
        &[],
        &[("web", "while :; do sleep 0.1; done"), ("live", "while :; do sleep 0.1; done")],
        json!({"restartPolicy": "Always"}),
    );
    let mut pod = pod;
    pod["spec"]["containers"][0]["readinessProbe"] = json!({"exec": {"command": ["test", "-e", ready]}, "periodSeconds": 1});
    pod["spec"]["containers"][0]["lifecycle"] = json!({"preStop": {"exec": {"command": ["/bin/sh", "-c", format!("echo prestop-ran > {}", prestop.display())]}}});
    pod["spec"]["containers"][1]["livenessProbe"] = json!({"exec": {"command": ["test", "-e", alive]}, "periodSeconds": 1, "failureThreshold": 1, "initialDelaySeconds": 1});
    let m = t.manifest(&[pod]);
    let out = t.hostproc(&["pod", "run", "--detach", m.to_str().unwrap()]);
    assert!(out.ok(), "{}", out.dump());
    let wait = |what: &str, f: &dyn Fn(&Value) -> bool| {
        let end = Instant::now() + Duration::from_secs(20);
        loop {
            let st = t.status();
            if f(&st) {
                return st;
            }
            assert!(Instant::now() < end, "{what} never came: {st}");
            std::thread::sleep(Duration::from_millis(100));
        }
    };
    let st = wait("web running", &|st| st["status"]["containerStatuses"][0]["state"]["running"].is_object());
    assert_eq!(st["status"]["containerStatuses"][0]["ready"], false, "ready before its probe passed");
    // The liveness probe fails (no file): the container is restarted.
    wait("a liveness restart", &|st| st["status"]["containerStatuses"][1]["restartCount"].as_u64().unwrap_or(0) >= 1);
    fs::write(&alive, "").unwrap();
    fs::write(&ready, "").unwrap();
    wait("web ready", &|st| st["status"]["containerStatuses"][0]["ready"] == true);
    let out = t.hostproc(&["pod", "stop", &t.name]);
    assert!(out.ok(), "{}", out.dump());
    assert_eq!(fs::read_to_string(&prestop).unwrap_or_default(), "prestop-ran\n", "the preStop hook did not run");
    t.rm_and_check();
}

/// examples/pods/node-setup: the DaemonSet writes the host's config file through its
/// hostPath volume and becomes ready; stop and rm leave only that file (removed here).
#[test]
fn the_node_setup_example_writes_its_host_file_and_becomes_ready() {
    let root = Root::new();
    let manifest = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples/pods/node-setup/daemonset.yaml");
    let conf = Path::new("/run/hostproc-example/node.conf");
    let out = hostproc(&root, &["pod", "run", "--detach", manifest.to_str().unwrap()]);
    assert!(out.ok(), "{}", out.dump());
    let end = Instant::now() + Duration::from_secs(20);
    loop {
        let ls = hostproc(&root, &["pod", "ls"]);
        if ls.stdout.lines().any(|l| l.contains("node-setup") && l.contains("Running") && l.contains("1/1")) {
            break;
        }
        assert!(Instant::now() < end, "never ready: {}", ls.dump());
        std::thread::sleep(Duration::from_millis(200));
    }
    let text = fs::read_to_string(conf).unwrap();
    assert!(text.contains("log_level=info") && text.contains("cpu_limit_millicores=100"), "{text}");
    let out = hostproc(&root, &["pod", "stop", "node-setup"]);
    assert!(out.ok(), "{}", out.dump());
    let out = hostproc(&root, &["pod", "rm", "node-setup"]);
    assert!(out.ok(), "{}", out.dump());
    assert!(cgroups_named("default_node-setup_").is_empty());
    assert!(root.entries().iter().all(|e| !e.to_string_lossy().contains("node-setup")));
    let _ = fs::remove_dir_all("/run/hostproc-example");
}

#[test]
fn run_as_user_group_supplemental_groups_and_run_as_user_name_per_container() {
    let t = T::new("podident");
    let mut pod = t.pod(&[], &[("pod-level", "echo U=$(id -u) G=$(id -g) GS=$(id -G)"), ("own", "echo U=$(id -u) G=$(id -g)"), ("named", "echo N=$(id -un)")], json!({}));
    pod["spec"]["securityContext"] = json!({"windowsOptions": {"hostProcess": true}, "runAsUser": 65534, "runAsGroup": 65534, "supplementalGroups": [100]});
    pod["spec"]["containers"][1]["securityContext"] = json!({"runAsUser": 1, "runAsGroup": 1});
    pod["spec"]["containers"][2]["securityContext"] = json!({"windowsOptions": {"runAsUserName": "NT AUTHORITY\\Local service"}});
    let out = t.run(&[pod]);
    assert_eq!(out.code(), 0, "{}", out.dump());
    let l = t.lines("pod-level", 0);
    assert!(l.iter().any(|l| l.starts_with("U=65534 G=65534 GS=") && l.split_whitespace().any(|g| g == "100")), "{l:?}");
    assert_eq!(t.lines("own", 0), ["U=1 G=1"]);
    assert_eq!(t.lines("named", 0), ["N=nobody"]);
    t.rm_and_check();
}

#[test]
fn a_bad_hook_or_probe_is_refused_before_anything_runs() {
    let t = T::new("podbadhook");
    let ran = t.path("ran");
    let mut pod = t.pod(&[], &[("main", &format!("touch {}", ran.display()))], json!({}));
    pod["spec"]["containers"][0]["lifecycle"] = json!({"preStop": {"tcpSocket": {"port": 80}}});
    let out = t.run(&[pod.clone()]);
    assert_eq!(out.code(), 1, "{}", out.dump());
    assert!(out.stderr.contains("spec.containers[0].lifecycle.preStop") && out.stderr.contains("tcpSocket"), "{}", out.dump());
    pod["spec"]["containers"][0]["lifecycle"] = Value::Null;
    pod["spec"]["containers"][0]["livenessProbe"] = json!({"periodSeconds": 1});
    let out = t.run(&[pod]);
    assert_eq!(out.code(), 1, "{}", out.dump());
    assert!(out.stderr.contains("spec.containers[0].livenessProbe"), "{}", out.dump());
    assert!(!ran.exists() && !t.pod_dir().exists());
    // An init container's restartPolicy other than Always (a sidecar) is refused.
    let mut pod = t.pod(&[("side", "true")], &[("main", "true")], json!({}));
    pod["spec"]["initContainers"][0]["restartPolicy"] = json!("OnFailure");
    let out = t.run(&[pod]);
    assert!(out.code() == 1 && out.stderr.contains("spec.initContainers[0].restartPolicy") && out.stderr.contains("\"Always\""), "{}", out.dump());
    assert!(!t.pod_dir().exists());
    t.rm_and_check();
}

/// An OCI image through the store: its Entrypoint/Cmd (no command given), Env under the
/// container's, WorkingDir and User; the container's rootfs a view released at rm.
#[test]
fn an_oci_image_gives_its_entrypoint_cmd_env_working_dir_and_user() {
    let t = T::new("podoci");
    let layout_dir = t.path("layout");
    let mut l = oci::Layout::new(&layout_dir);
    let layer = oci::tar(&[oci::E::Dir("work", 0o755), oci::E::File("hello.txt", "hello from the layer\n", 0o644)]);
    l.image(&[(layer, oci::Compression::Gzip)], Some("example.com/podtest:v1"), &["echo FROM=$FROM_IMAGE MINE=$MINE PWD=$(pwd) U=$(id -u); cat $CONTAINER_SANDBOX_MOUNT_POINT/hello.txt"]);
    let mut pod = t.pod(&[], &[("main", "unused")], json!({}));
    pod["spec"]["securityContext"] = json!({"windowsOptions": {"hostProcess": true}});
    pod["spec"]["containers"][0] = json!({"name": "main", "image": format!("oci:{}", layout_dir.display()), "env": [{"name": "MINE", "value": "mine"}]});
    let out = t.run(&[pod]);
    assert_eq!(out.code(), 0, "{}\n{}", out.dump(), t.log("main", 0));
    let lines = t.lines("main", 0);
    assert!(lines.iter().any(|l| l == "FROM=yes MINE=mine PWD=/work U=1000"), "{lines:?}");
    assert!(lines.iter().any(|l| l == "hello from the layer"), "{lines:?}");
    let cfg: Value = serde_json::from_slice(&fs::read(t.pod_dir().join("containers/main/config.json")).unwrap()).unwrap();
    assert_eq!(cfg["process"]["args"][0], "/bin/sh", "{cfg}");
    // The view is the pod's, not the shared image's rootfs.
    assert!(Path::new(cfg["root"]["path"].as_str().unwrap()).starts_with(t.pod_dir()), "{cfg}");
    t.rm_and_check();
    // The store keeps the image; the test's root goes with it.
}
