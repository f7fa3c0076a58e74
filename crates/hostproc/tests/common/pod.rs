//! The pod tests' helpers (pod_run.rs, pod_more.rs): a pod with its own `--root`, its
//! own `dir:` image and host paths under a temporary directory.
#![allow(dead_code)]

use std::fs;
use std::path::PathBuf;

use crate::common::*;
use serde_json::{json, Value};

/// A pod test: the root, a scratch directory (image, host paths), the pod's name.
pub struct T {
    pub root: Root,
    pub dir: tempfile::TempDir,
    pub name: String,
}

/// A test that fails half-way leaves no pod running: its supervisor, containers and
/// volumes go with `pod rm --force` (a passing test has removed the pod already).
impl Drop for T {
    fn drop(&mut self) {
        if std::thread::panicking() {
            let _ = hostproc(&self.root, &["pod", "rm", "--force", &self.name]);
        }
    }
}

impl T {
    pub fn new(tag: &str) -> T {
        // A DNS name unique across parallel tests.
        let name = unique_id(tag).to_ascii_lowercase().replace('_', "-");
        let dir = tempdir();
        fs::create_dir(dir.path().join("img")).unwrap();
        fs::write(dir.path().join("img/hello.sh"), "echo hello from the image\n").unwrap();
        T { root: Root::new(), dir, name }
    }
    pub fn image(&self) -> String {
        format!("dir:{}", self.dir.path().join("img").display())
    }
    pub fn path(&self, rel: &str) -> PathBuf {
        self.dir.path().join(rel)
    }
    pub fn pod_dir(&self) -> PathBuf {
        self.root.path().join("pods").join(format!("default_{}", self.name))
    }
    /// A HostProcess pod with these containers (each `[name, script]`), then `extra`
    /// merged into its spec.
    pub fn pod(&self, init: &[(&str, &str)], containers: &[(&str, &str)], extra: Value) -> Value {
        let c = |(n, s): &(&str, &str)| json!({"name": n, "image": self.image(), "command": ["/bin/sh", "-c", s]});
        let mut spec = json!({
            "hostNetwork": true,
            "restartPolicy": "Never",
            "terminationGracePeriodSeconds": 2,
            "securityContext": {"windowsOptions": {"hostProcess": true, "runAsUserName": "NT AUTHORITY\\SYSTEM"}},
            "initContainers": init.iter().map(c).collect::<Vec<_>>(),
            "containers": containers.iter().map(c).collect::<Vec<_>>(),
        });
        merge(&mut spec, extra);
        json!({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": self.name, "labels": {"app": "demo"}, "annotations": {"note": "x y"}}, "spec": spec})
    }
    /// Writes the documents as one YAML file (JSON documents are YAML).
    pub fn manifest(&self, docs: &[Value]) -> PathBuf {
        let p = self.path("pod.yaml");
        // Each document after its own "---" (the manifest reader wants the marker before a
        // flow-style document that follows another).
        let text: String = docs.iter().map(|d| format!("---\n{}\n", serde_json::to_string(d).unwrap())).collect();
        fs::write(&p, text).unwrap();
        p
    }
    pub fn hostproc(&self, args: &[&str]) -> Output {
        hostproc(&self.root, args)
    }
    pub fn run(&self, docs: &[Value]) -> Output {
        let m = self.manifest(docs);
        self.hostproc(&["pod", "run", m.to_str().unwrap()])
    }
    pub fn log(&self, container: &str, restart: u32) -> String {
        fs::read_to_string(self.pod_dir().join(format!("logs/{container}/{restart}.log"))).unwrap_or_default()
    }
    /// The payload's lines (the CRI prefix removed), stdout and stderr together.
    pub fn lines(&self, container: &str, restart: u32) -> Vec<String> {
        self.log(container, restart).lines().map(|l| l.splitn(4, ' ').nth(3).unwrap_or("").to_string()).collect()
    }
    pub fn status(&self) -> Value {
        let out = self.hostproc(&["pod", "ls", "-o", "json"]);
        assert!(out.ok(), "{}", out.dump());
        let v: Value = serde_json::from_str(&out.stdout).unwrap();
        v["items"].as_array().unwrap().iter().find(|p| p["metadata"]["name"] == self.name.as_str()).cloned().unwrap_or(Value::Null)
    }
    pub fn state(&self) -> Value {
        serde_json::from_slice(&fs::read(self.pod_dir().join("pod.json")).unwrap()).unwrap()
    }
    /// `pod rm --force`, then nothing of the pod left: cgroups, processes, mounts, users,
    /// state.
    #[track_caller]
    pub fn rm_and_check(&self) {
        let out = self.hostproc(&["pod", "rm", "--force", &self.name]);
        assert!(out.ok(), "{}", out.dump());
        let mut problems = Vec::new();
        for cg in cgroups_named(&self.name) {
            problems.push(format!("cgroup left: {}", cg.display()));
        }
        for pid in processes_in_cgroup(&self.name) {
            if pid_alive(pid) {
                problems.push(format!("process left: {pid}"));
            }
        }
        for m in mounts_mentioning(&[&self.name, self.root.path().to_str().unwrap()]) {
            problems.push(format!("mount left: {m}"));
        }
        for u in ephemeral_users_for(&format!("default_{}", self.name)) {
            problems.push(format!("user left: {u}"));
        }
        for e in self.root.entries() {
            if e.to_string_lossy().contains(&self.name) {
                problems.push(format!("state left: {}", e.display()));
            }
        }
        assert!(problems.is_empty(), "pod {} left:\n{}", self.name, problems.join("\n"));
    }
}

pub fn merge(a: &mut Value, b: Value) {
    match (a, b) {
        (Value::Object(a), Value::Object(b)) => {
            for (k, v) in b {
                merge(a.entry(k).or_insert(Value::Null), v);
            }
        }
        (a, b) => *a = b,
    }
}

pub fn config_map(name: &str, data: Value) -> Value {
    json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": name}, "data": data})
}

pub fn secret(name: &str, string_data: Value) -> Value {
    json!({"apiVersion": "v1", "kind": "Secret", "metadata": {"name": name}, "stringData": string_data})
}

