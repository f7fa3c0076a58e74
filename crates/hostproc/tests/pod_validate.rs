//! `hostproc pod validate` on manifests, through the real binary: each API server rule with
//! its path and message, their order, every workload kind, the Pod Security Standards line,
//! the exit codes, and hostile manifests (each refused with one error line, exit 1, nothing
//! made under --root).

use std::process::Command;
use std::time::{Duration, Instant};

const HOSTPROC: &str = env!("CARGO_BIN_EXE_hostproc");

struct Out {
    code: i32,
    stdout: String,
    stderr: String,
}

/// Writes `files` in a fresh directory and runs `hostproc pod validate [flags] FILE...`.
fn validate(flags: &[&str], files: &[(&str, &str)]) -> Out {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("root");
    let mut cmd = Command::new(HOSTPROC);
    cmd.current_dir(dir.path()).arg("--root").arg(&root).args(["pod", "validate"]).args(flags);
    for (name, text) in files {
        std::fs::write(dir.path().join(name), text).unwrap();
        cmd.arg(name);
    }
    let o = cmd.output().unwrap();
    assert!(!root.exists(), "validate made {}", root.display());
    Out {
        code: o.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&o.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&o.stderr).into_owned(),
    }
}

/// The error lines for `Kind/name` in `p.yaml`, without their prefix.
fn errors(out: &Out, object: &str) -> Vec<String> {
    let prefix = format!("p.yaml: {object}: ");
    out.stdout
        .lines()
        .filter_map(|l| l.strip_prefix(&prefix))
        .filter(|l| !l.starts_with("valid") && !l.starts_with("Pod Security Standards") && !l.starts_with("not runnable"))
        .map(str::to_owned)
        .collect()
}

/// A HostProcess pod the API server accepts; `{}` marks where cases add pod spec fields,
/// `CTR` container fields.
const POD: &str = "\
apiVersion: v1
kind: Pod
metadata:
  name: hp
spec:
  hostNetwork: true
  securityContext:
    windowsOptions:
      hostProcess: true
  containers:
  - name: a
    image: dir:/x
";

fn pod_errors(text: &str) -> Vec<String> {
    let out = validate(&[], &[("p.yaml", text)]);
    let errs = errors(&out, "Pod/hp");
    assert_eq!(out.code, if errs.is_empty() { 0 } else { 1 }, "{}{}", out.stdout, out.stderr);
    errs
}

#[test]
fn a_hostprocess_pod_is_valid_needs_privileged_and_is_runnable() {
    let out = validate(&[], &[("p.yaml", POD)]);
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert_eq!(
        out.stdout,
        "p.yaml: Pod/hp: valid\n\
         p.yaml: Pod/hp: Pod Security Standards: needs \"privileged\"; baseline and restricted refuse it: violates PodSecurity \"baseline:latest\": host namespaces (hostNetwork=true), hostProcess (pod must not set securityContext.windowsOptions.hostProcess=true)\n"
    );
    assert_eq!(out.stderr, "");
}

#[test]
fn each_hostprocess_rule_with_its_path_and_message() {
    // R1: both set and different, the container's value printed bare. The container's own
    // value decides: no HostProcess container is left, so R2 and R3 do not apply.
    let text = POD.replace("    image: dir:/x\n", "    image: dir:/x\n    securityContext: {windowsOptions: {hostProcess: false}}\n");
    assert_eq!(
        pod_errors(&text),
        ["spec.containers[0].securityContext.windowsOptions.hostProcess: Invalid value: false: pod hostProcess value must be identical if both are specified, was true"]
    );
    // R2 alone: the pod says nothing, one container is HostProcess, one is not.
    let text = POD.replace("  securityContext:\n    windowsOptions:\n      hostProcess: true\n", "")
        + "    securityContext: {windowsOptions: {hostProcess: true}}\n  - name: b\n    image: dir:/x\n";
    assert_eq!(pod_errors(&text), ["spec: Invalid value: \"\": If pod contains any hostProcess containers then all containers must be HostProcess containers"]);
    // R3.
    assert_eq!(
        pod_errors(&POD.replace("  hostNetwork: true\n", "")),
        ["spec.hostNetwork: Invalid value: false: hostNetwork must be true if pod contains any hostProcess containers"]
    );
    // R4 only with --disallow-privileged (kube-apiserver --allow-privileged=false).
    let out = validate(&["--disallow-privileged"], &[("p.yaml", POD)]);
    assert_eq!(out.code, 1);
    assert_eq!(errors(&out, "Pod/hp"), ["spec: Forbidden: hostProcess containers are disallowed by cluster policy"]);
    // hostProcess false everywhere: not a HostProcess pod; valid, not runnable, exit 0.
    let out = validate(&[], &[("p.yaml", &POD.replace("hostProcess: true", "hostProcess: false"))]);
    assert_eq!(out.code, 0);
    assert!(out.stdout.contains("p.yaml: Pod/hp: valid\n"), "{}", out.stdout);
    assert!(out.stdout.contains("p.yaml: Pod/hp: not runnable by hostproc: no HostProcess container"), "{}", out.stdout);
}

#[test]
fn the_order_is_the_api_servers() {
    // Containers (name, image, windowsOptions, then duplicates), init containers, hostPorts,
    // the pod's windowsOptions, R1 in visiting order (init first), R2, R3, R4.
    let text = "\
apiVersion: v1
kind: Pod
metadata: {name: hp}
spec:
  securityContext:
    windowsOptions: {hostProcess: true, runAsUserName: ''}
  initContainers:
  - name: i
    image: x
    securityContext: {windowsOptions: {hostProcess: false}}
  containers:
  - name: a
    securityContext: {windowsOptions: {hostProcess: false, runAsUserName: 'a\\b\\c'}}
  - name: a
    image: x
";
    let out = validate(&["--disallow-privileged"], &[("p.yaml", text)]);
    assert_eq!(out.code, 1);
    assert_eq!(
        errors(&out, "Pod/hp"),
        [
            "spec.containers[0].image: Required value",
            "spec.containers[0].securityContext.windowsOptions.runAsUserName: Invalid value: \"a\\\\b\\\\c\": runAsUserName cannot contain more than one backslash",
            "spec.containers[1].name: Duplicate value: \"a\"",
            "spec.securityContext.windowsOptions.runAsUserName: Invalid value: \"\": runAsUserName cannot be an empty string",
            "spec.initContainers[0].securityContext.windowsOptions.hostProcess: Invalid value: false: pod hostProcess value must be identical if both are specified, was true",
            "spec.containers[0].securityContext.windowsOptions.hostProcess: Invalid value: false: pod hostProcess value must be identical if both are specified, was true",
            "spec: Invalid value: \"\": If pod contains any hostProcess containers then all containers must be HostProcess containers",
            "spec.hostNetwork: Invalid value: false: hostNetwork must be true if pod contains any hostProcess containers",
            "spec: Forbidden: hostProcess containers are disallowed by cluster policy",
        ]
    );
}

#[test]
fn run_as_user_name_gmsa_os_and_host_ports() {
    let with_windows = |opts: &str| POD.replace("      hostProcess: true\n", &format!("      hostProcess: true\n{opts}"));
    assert_eq!(
        pod_errors(&with_windows("      runAsUserName: \"dom\\\\u@x\"\n")),
        ["spec.securityContext.windowsOptions.runAsUserName: Invalid value: \"dom\\\\u@x\": runAsUserName's User cannot contain the following characters: \"/\\:;|=,+*?<>@[]"]
    );
    assert_eq!(
        pod_errors(&with_windows("      runAsUserName: \"a\\tb\"\n")),
        ["spec.securityContext.windowsOptions.runAsUserName: Invalid value: \"a\\tb\": runAsUserName cannot contain control characters"]
    );
    assert_eq!(
        pod_errors(&with_windows("      runAsUserName: \"bad:domain\\\\u\"\n")),
        ["spec.securityContext.windowsOptions.runAsUserName: Invalid value: \"bad:domain\\\\u\": runAsUserName's Domain doesn't match the NetBios nor the DNS format"]
    );
    assert!(pod_errors(&with_windows("      runAsUserName: \"NT AUTHORITY\\\\Local service\"\n")).is_empty());
    let e = pod_errors(&with_windows("      gmsaCredentialSpecName: Web_App\n      gmsaCredentialSpec: ''\n"));
    assert_eq!(e.len(), 2, "{e:?}");
    assert!(e[0].starts_with("spec.securityContext.windowsOptions.gmsaCredentialSpecName: Invalid value: \"Web_App\": a lowercase RFC 1123 subdomain must consist of"));
    assert_eq!(e[1], "spec.securityContext.windowsOptions.gmsaCredentialSpec: Invalid value: \"\": gmsaCredentialSpec cannot be an empty string");
    // spec.os.
    assert_eq!(pod_errors(&format!("{POD}  os: {{name: ''}}\n")), ["spec.os.name: Required value: cannot be empty"]);
    assert_eq!(
        pod_errors(&format!("{POD}  os: {{name: mac}}\n")),
        ["spec.os: Unsupported value: \"mac\": supported values: \"linux\", \"windows\""]
    );
    assert_eq!(
        pod_errors(&format!("{POD}    securityContext: {{windowsOptions: {{hostProcess: true}}}}\n  os: {{name: linux}}\n")),
        [
            "spec.securityContext.windowsOptions: Forbidden: windows options cannot be set for a linux pod",
            "spec.containers[0].securityContext.windowsOptions: Forbidden: windows options cannot be set for a linux pod",
        ]
    );
    assert_eq!(
        pod_errors(&format!("{POD}    securityContext: {{privileged: true, runAsUser: 0}}\n  hostPID: true\n  os: {{name: windows}}\n")),
        [
            "spec.hostPID: Forbidden: cannot be set for a windows pod",
            "spec.containers[0].securityContext.privileged: Forbidden: cannot be set for a windows pod",
            "spec.containers[0].securityContext.runAsUser: Forbidden: cannot be set for a windows pod",
        ]
    );
    // hostPort with hostNetwork: a set hostPort must equal containerPort; unset is defaulted.
    assert_eq!(
        pod_errors(&format!("{POD}    ports: [{{containerPort: 80, hostPort: 8080}}, {{containerPort: 90}}]\n")),
        ["spec.containers[0].ports[0].hostPort: Invalid value: 8080: must match `containerPort` when `hostNetwork` is true"]
    );
}

#[test]
fn every_workload_kind_reports_its_own_paths() {
    let tpl = "      securityContext: {windowsOptions: {hostProcess: true}}\n      containers:\n      - {name: a, image: i}\n";
    let cases = [
        ("apps/v1", "Deployment", "spec.template.spec"),
        ("apps/v1", "DaemonSet", "spec.template.spec"),
        ("apps/v1", "StatefulSet", "spec.template.spec"),
        ("apps/v1", "ReplicaSet", "spec.template.spec"),
        ("v1", "ReplicationController", "spec.template.spec"),
        ("batch/v1", "Job", "spec.template.spec"),
    ];
    let mut text = String::new();
    for (api, kind, _) in cases {
        text += &format!("---\napiVersion: {api}\nkind: {kind}\nmetadata: {{name: w}}\nspec:\n  template:\n    spec:\n{tpl}");
    }
    text += &format!(
        "---\napiVersion: batch/v1\nkind: CronJob\nmetadata: {{name: w}}\nspec:\n  schedule: '@daily'\n  jobTemplate:\n    spec:\n      template:\n        spec:\n{}",
        tpl.replace("\n      ", "\n          ").replacen("      ", "          ", 1)
    );
    let out = validate(&[], &[("p.yaml", &text)]);
    assert_eq!(out.code, 1, "{}", out.stderr);
    for (_, kind, path) in cases.iter().copied().chain([("", "CronJob", "spec.jobTemplate.spec.template.spec")]) {
        assert_eq!(
            errors(&out, &format!("{kind}/w")),
            [format!("{path}.hostNetwork: Invalid value: false: hostNetwork must be true if pod contains any hostProcess containers")],
            "{}",
            out.stdout
        );
    }
    // A template's unset hostPort is not defaulted and allowed.
    let ds = format!("apiVersion: apps/v1\nkind: DaemonSet\nmetadata: {{name: w}}\nspec:\n  template:\n    spec:\n      hostNetwork: true\n{}", tpl.replace("{name: a, image: i}", "{name: a, image: i, ports: [{containerPort: 80}]}"));
    let out = validate(&[], &[("p.yaml", &ds)]);
    assert_eq!(out.code, 0, "{}", out.stdout);
    assert!(out.stdout.contains("p.yaml: DaemonSet/w: valid\n"));
}

#[test]
fn several_files_and_skipped_kinds() {
    let cm = "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: c}\ndata: {k: v}\n---\napiVersion: v1\nkind: Service\nmetadata: {name: s}\n";
    let out = validate(&[], &[("c.yaml", cm), ("p.yaml", POD)]);
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert_eq!(out.stderr, "warning: c.yaml: document 2 (Service/s): skipped: `pod` uses Pods, workloads' pod templates, ConfigMaps and Secrets\n");
    // One invalid pod among valid ones: exit 1, each pod its lines.
    let out = validate(&[], &[("p.yaml", POD), ("q.yaml", &POD.replace("name: hp", "name: q").replace("  hostNetwork: true\n", ""))]);
    assert_eq!(out.code, 1);
    assert!(out.stdout.contains("p.yaml: Pod/hp: valid\n"));
    assert!(out.stdout.contains("q.yaml: Pod/q: spec.hostNetwork: Invalid value: false:"));
}

/// A refused manifest: exit 1, nothing on stdout, one error line naming the file.
fn refused(files: &[(&str, &str)], words: &[&str]) -> String {
    let out = validate(&[], files);
    assert_eq!(out.code, 1, "{}{}", out.stdout, out.stderr);
    assert_eq!(out.stdout, "");
    assert_eq!(out.stderr.lines().count(), 1, "{}", out.stderr);
    for w in words {
        assert!(out.stderr.contains(w), "{w:?} not in {}", out.stderr);
    }
    out.stderr
}

#[test]
fn hostile_and_broken_manifests_are_refused_clearly() {
    // Bad YAML: file, line and column.
    refused(&[("p.yaml", "apiVersion: v1\nkind: Pod\n  bad: indent\n")], &["p.yaml:3:"]);
    // A type error: line, column and field path.
    refused(&[("p.yaml", &POD.replace("hostNetwork: true", "hostNetwork: [1]"))], &["p.yaml:6:", "spec.hostNetwork"]);
    // JSON too.
    refused(&[("p.json", "{\"apiVersion\": \"v1\",\n \"kind\": \"Pod\",\n \"spec\": {\"hostNetwork\": 3}}")], &["p.json:3:", "spec.hostNetwork"]);
    // Unknown fields, as strict field validation refuses them.
    refused(
        &[("p.yaml", &POD.replace("    image: dir:/x\n", "    image: dir:/x\n    imagePulPolicy: Never\n"))],
        &["p.yaml: document 1 (Pod/hp): unknown field \"spec.containers[0].imagePulPolicy\"", "remove it or fix its spelling"],
    );
    // Duplicate keys.
    refused(&[("p.yaml", &format!("{POD}  hostNetwork: false\n"))], &["p.yaml:"]);
    // An alias bomb: ends on the budget, fast.
    let mut bomb = String::from("    l0: &l0 [x, x, x, x, x, x, x, x, x, x]\n");
    for i in 1..12 {
        bomb += &format!("    l{i}: &l{i} [{}]\n", vec![format!("*l{}", i - 1); 20].join(", "));
    }
    let t = Instant::now();
    refused(&[("p.yaml", &format!("apiVersion: v1\nkind: Pod\nmetadata:\n  name: p\n  annotations:\n{bomb}"))], &["p.yaml:", "budget breached", "expands aliases"]);
    assert!(t.elapsed() < Duration::from_secs(5), "{:?}", t.elapsed());
    // Deep nesting.
    refused(&[("p.yaml", &format!("apiVersion: v1\nkind: Pod\nx: {}{}\n", "[".repeat(100_000), "]".repeat(100_000)))], &["p.yaml:3:", "too deeply nested"]);
    // No kind; a List.
    refused(&[("p.yaml", "apiVersion: v1\nmetadata: {name: x}\n")], &["p.yaml: document 1: the document has no `kind`"]);
    refused(&[("p.yaml", "apiVersion: v1\nkind: List\nitems: []\n")], &["a List is not read"]);
    // Nothing to validate.
    refused(&[("p.yaml", "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: c}\n")], &["no Pod nor workload", "p.yaml"]);
}

#[test]
fn duplicate_container_names_are_refused() {
    let text = POD.to_owned() + "  - name: a\n    image: dir:/y\n  initContainers:\n  - name: a\n    image: i\n";
    assert_eq!(pod_errors(&text), ["spec.containers[1].name: Duplicate value: \"a\"", "spec.initContainers[0].name: Duplicate value: \"a\""]);
}

#[test]
fn a_100_mb_manifest_is_refused_before_it_is_read() {
    let dir = tempfile::tempdir().unwrap();
    let big = dir.path().join("big.yaml");
    std::fs::File::create(&big).unwrap().set_len(100 << 20).unwrap();
    let t = Instant::now();
    let o = Command::new(HOSTPROC).args(["pod", "validate"]).arg(&big).output().unwrap();
    let took = t.elapsed();
    assert_eq!(o.status.code(), Some(1));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(err.contains("big.yaml: the manifest is over the 10 MiB limit"), "{err}");
    assert!(took < Duration::from_secs(1), "{took:?}");
}

/// A HostProcess pod's head; the cases add volumes and containers.
const HEAD: &str = "\
apiVersion: v1
kind: Pod
metadata:
  name: hp
spec:
  hostNetwork: true
  securityContext:
    windowsOptions:
      hostProcess: true
";

#[test]
fn volumes_and_volume_mounts_with_the_api_servers_paths_and_messages() {
    let text = HEAD.to_owned()
        + "  volumes:
  - name: Bad_Name
    emptyDir: {}
  - name: v
    emptyDir: {}
  - name: v
    hostPath: {path: /x}
  - name: nosource
  containers:
  - name: a
    image: dir:/x
    volumeMounts:
    - {name: missing, mountPath: /m}
    - {name: v, mountPath: /m}
";
    assert_eq!(
        pod_errors(&text),
        [
            "spec.volumes[0].name: Invalid value: \"Bad_Name\": a lowercase RFC 1123 label must consist of lower case alphanumeric characters or '-', and must start and end with an alphanumeric character (e.g. 'my-name',  or '123-abc', regex used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?')",
            "spec.volumes[2].name: Duplicate value: \"v\"",
            "spec.volumes[3]: Required value: must specify a volume type",
            "spec.containers[0].volumeMounts[0].name: Not found: \"missing\"",
            "spec.containers[0].volumeMounts[1].mountPath: Invalid value: \"/m\": must be unique",
        ]
    );
}

#[test]
fn resources_probes_and_restart_policies_with_the_api_servers_paths_messages_and_order() {
    let text = HEAD.to_owned()
        + "  restartPolicy: Sometimes
  initContainers:
  - name: i
    image: x
    restartPolicy: OnFailure
    readinessProbe: {exec: {command: ['true']}}
  - name: side
    image: x
    restartPolicy: Always
    startupProbe: {httpGet: {port: 70000}, successThreshold: 3}
  containers:
  - name: a
    image: x
    imagePullPolicy: Sometimes
    resources:
      limits: {cpu: 500m, memory: 1Gix}
      requests: {cpu: '1', memory: 1Gi}
    livenessProbe:
      exec: {command: ['true']}
      tcpSocket: {port: 0}
      periodSeconds: -1
      successThreshold: 2
    readinessProbe: {exec: {command: []}, successThreshold: 5}
    startupProbe: {}
    restartPolicy: Always
";
    assert_eq!(
        pod_errors(&text),
        [
            "spec.containers[0].imagePullPolicy: Unsupported value: \"Sometimes\": supported values: \"Always\", \"IfNotPresent\", \"Never\"",
            "spec.containers[0].resources.limits[memory]: Invalid value: \"1Gix\": quantities must match the regular expression '^([+-]?[0-9.]+)([eEinumkKMGTP]*[-+]?[0-9]*)$'",
            "spec.containers[0].resources.requests: Invalid value: \"1\": must be less than or equal to cpu limit of 500m",
            "spec.containers[0].livenessProbe.tcpSocket: Forbidden: may not specify more than 1 handler type",
            "spec.containers[0].livenessProbe.periodSeconds: Invalid value: -1: must be greater than or equal to 0",
            "spec.containers[0].livenessProbe.successThreshold: Invalid value: 2: must be 1",
            "spec.containers[0].readinessProbe.exec.command: Required value",
            "spec.containers[0].startupProbe: Required value: must specify a handler type",
            "spec.containers[0].restartPolicy: Forbidden: may not be set for non-init containers",
            "spec.initContainers[0].restartPolicy: Unsupported value: \"OnFailure\": supported values: \"Always\"",
            "spec.initContainers[0].readinessProbe: Forbidden: may not be set for init containers without restartPolicy=Always",
            "spec.initContainers[1].startupProbe.httpGet.port: Invalid value: 70000: must be between 1 and 65535, inclusive",
            "spec.initContainers[1].startupProbe.successThreshold: Invalid value: 3: must be 1",
            "spec.restartPolicy: Unsupported value: \"Sometimes\": supported values: \"Always\", \"OnFailure\", \"Never\"",
        ]
    );
    // The same containers without the mistakes: valid (a sidecar may have probes).
    let ok = HEAD.to_owned()
        + "  restartPolicy: OnFailure
  initContainers:
  - name: side
    image: x
    restartPolicy: Always
    startupProbe: {httpGet: {port: 8080}}
  containers:
  - name: a
    image: x
    imagePullPolicy: Never
    resources: {limits: {cpu: 500m, memory: 1Gi}, requests: {cpu: 250m, memory: 1Gi}}
    livenessProbe: {exec: {command: ['true']}, periodSeconds: 5, successThreshold: 1}
";
    assert_eq!(pod_errors(&ok), Vec::<String>::new());
}
