use super::*;
use std::io::Write;

fn file(dir: &tempfile::TempDir, name: &str, text: &str) -> PathBuf {
    let p = dir.path().join(name);
    std::fs::File::create(&p).unwrap().write_all(text.as_bytes()).unwrap();
    p
}

fn load_text(text: &str) -> Result<Manifests, ManifestError> {
    let dir = tempfile::tempdir().unwrap();
    load(&[file(&dir, "m.yaml", text)])
}

fn err_text(text: &str) -> String {
    load_text(text).expect_err("the manifest should be refused").to_string()
}

const POD: &str = "\
apiVersion: v1
kind: Pod
metadata:
  name: p
spec:
  hostNetwork: true
  securityContext:
    windowsOptions:
      hostProcess: true
  containers:
  - name: a
    image: dir:/x
";

#[test]
fn a_pod_and_every_workload_kind_give_their_pod_template() {
    let tpl = "    metadata:\n      labels: {app: x}\n    spec:\n      containers:\n      - name: c\n        image: i\n";
    let sel = "  selector: {matchLabels: {app: x}}\n";
    let mut text = POD.to_owned();
    for (api, kind) in [
        ("apps/v1", "Deployment"),
        ("apps/v1", "DaemonSet"),
        ("apps/v1", "StatefulSet"),
        ("apps/v1", "ReplicaSet"),
        ("v1", "ReplicationController"),
        ("batch/v1", "Job"),
    ] {
        let sel = if kind == "ReplicationController" { "  selector: {app: x}\n" } else { sel };
        text += &format!("---\napiVersion: {api}\nkind: {kind}\nmetadata: {{name: w-{kind}, namespace: ns}}\nspec:\n{sel}  template:\n{tpl}");
    }
    text += "---\napiVersion: batch/v1\nkind: CronJob\nmetadata: {name: cj}\nspec:\n  schedule: '* * * * *'\n  jobTemplate:\n    spec:\n      template:\n        spec:\n          containers:\n          - {name: c, image: i}\n";
    let m = load_text(&text).unwrap();
    let kinds: Vec<_> = m.pods.iter().map(|p| (p.kind.as_str(), p.spec_path())).collect();
    assert_eq!(
        kinds,
        [
            ("Pod", "spec"),
            ("Deployment", "spec.template.spec"),
            ("DaemonSet", "spec.template.spec"),
            ("StatefulSet", "spec.template.spec"),
            ("ReplicaSet", "spec.template.spec"),
            ("ReplicationController", "spec.template.spec"),
            ("Job", "spec.template.spec"),
            ("CronJob", "spec.jobTemplate.spec.template.spec"),
        ]
    );
    assert_eq!(m.pods[0].spec.containers[0].name, "a");
    assert_eq!(m.pods[0].spec.host_network, Some(true));
    let ds = &m.pods[2];
    // The template has no name: the workload's, and its namespace, stand in.
    assert_eq!((ds.name.as_str(), ds.metadata.name.as_deref(), ds.metadata.namespace.as_deref()), ("w-DaemonSet", Some("w-DaemonSet"), Some("ns")));
    assert_eq!(ds.metadata.labels.as_ref().unwrap()["app"], "x");
    assert_eq!(ds.document, 3);
    assert_eq!(m.pods[7].spec.containers[0].name, "c");
}

#[test]
fn config_maps_and_secrets_are_collected_with_string_data_merged() {
    let text = format!(
        "{POD}---\napiVersion: v1\nkind: ConfigMap\nmetadata: {{name: cm}}\ndata: {{k: v}}\n---\napiVersion: v1\nkind: Secret\nmetadata: {{name: s}}\ndata: {{a: aGVsbG8=, b: b2xk}}\nstringData: {{b: new}}\n"
    );
    let m = load_text(&text).unwrap();
    assert_eq!(m.config_maps[0].data.as_ref().unwrap()["k"], "v");
    let data = m.secrets[0].data.as_ref().unwrap();
    assert_eq!(data["a"].0, b"hello");
    assert_eq!(data["b"].0, b"new", "stringData wins over data, as the API server stores it");
    assert!(m.secrets[0].string_data.is_none());
}

#[test]
fn json_one_or_several_objects() {
    let pod = r#"{"apiVersion":"v1","kind":"Pod","metadata":{"name":"j"},"spec":{"containers":[{"name":"a","image":"i"}]}}"#;
    let m = load_text(&format!("{pod}\n{pod}")).unwrap();
    assert_eq!(m.pods.len(), 2);
    assert_eq!(m.pods[1].name, "j");
    // JSON errors carry line and column too.
    let e = err_text("{\"apiVersion\":\"v1\",\n\"kind\":\"Pod\",\n\"spec\":{\"hostNetwork\":\"yes\"}}");
    assert!(e.contains("m.yaml:3:") && e.contains("spec.hostNetwork"), "{e}");
}

#[test]
fn other_kinds_are_skipped_with_a_warning() {
    let m = load_text(&format!("apiVersion: v1\nkind: Service\nmetadata: {{name: svc}}\nspec: {{ports: [{{port: 80}}]}}\n---\n{POD}")).unwrap();
    assert_eq!(m.pods.len(), 1);
    assert_eq!(m.warnings.len(), 1);
    assert!(m.warnings[0].contains("document 1 (Service/svc): skipped"), "{}", m.warnings[0]);
}

#[test]
fn no_pod_no_kind_and_list_are_refused() {
    assert!(err_text("apiVersion: v1\nkind: ConfigMap\nmetadata: {name: c}\n").contains("no Pod nor workload"));
    let e = err_text("apiVersion: v1\nmetadata: {name: c}\n");
    assert!(e.contains("m.yaml: document 1: the document has no `kind`"), "{e}");
    assert!(err_text("apiVersion: v1\nkind: List\nitems: []\n").contains("a List is not read"));
    let e = err_text("kind: Pod\nmetadata: {name: p}\n");
    assert!(e.contains("m.yaml: document 1: the Pod has no `apiVersion`"), "{e}");
}

#[test]
fn type_errors_name_line_column_and_field_path() {
    let e = err_text(&POD.replace("hostNetwork: true", "hostNetwork: {a: 1}"));
    assert!(e.starts_with(&format!("{}", "")) && e.contains(":6:") && e.contains("spec.hostNetwork"), "{e}");
    let e = err_text(&POD.replace("  - name: a\n", "  - name: a\n    ports: [{containerPort: eighty}]\n"));
    assert!(e.contains("spec.containers[0].ports[0].containerPort"), "{e}");
    // A wrong apiVersion for the kind.
    let e = err_text(&POD.replace("apiVersion: v1", "apiVersion: apps/v1"));
    assert!(e.contains("m.yaml:1:") && e.contains("expected v1"), "{e}");
}

#[test]
fn bad_yaml_names_line_and_column() {
    let e = err_text("apiVersion: v1\nkind: Pod\nspec:\n  containers: [\n");
    assert!(e.contains("m.yaml:") && e.split(':').nth(1).unwrap().parse::<u32>().is_ok(), "{e}");
    let e = err_text("apiVersion: v1\nkind: Pod\n  bad: indent\n");
    assert!(e.contains("m.yaml:3:"), "{e}");
}

#[test]
fn unknown_fields_are_refused_with_their_path() {
    let e = err_text(&POD.replace("    image: dir:/x\n", "    image: dir:/x\n    imagePullPolicyy: Never\n"));
    assert!(e.contains("document 1 (Pod/p): unknown field \"spec.containers[0].imagePullPolicyy\""), "{e}");
    let e = err_text(&format!("{POD}  hostNetwrk: true\n"));
    assert!(e.contains("unknown field \"spec.hostNetwrk\""), "{e}");
    let e = err_text(&format!("{POD}status2: {{}}\n"));
    assert!(e.contains("unknown field \"status2\""), "{e}");
    let e = err_text(&format!("{POD}---\napiVersion: v1\nkind: ConfigMap\nmetadata: {{name: c}}\ndatta: {{}}\n"));
    assert!(e.contains("document 2 (ConfigMap/c): unknown field \"datta\""), "{e}");
}

#[test]
fn duplicate_keys_are_refused() {
    let e = err_text(&POD.replace("  hostNetwork: true\n", "  hostNetwork: true\n  hostNetwork: false\n"));
    assert!(e.contains("m.yaml:7:"), "{e}");
}

#[test]
fn octal_modes_read_as_kubectl_reads_them() {
    let text = format!("{POD}  volumes:\n  - name: v\n    configMap: {{name: c, defaultMode: 0644}}\n");
    let m = load_text(&text).unwrap();
    let v = &m.pods[0].spec.volumes.as_ref().unwrap()[0];
    assert_eq!(v.config_map.as_ref().unwrap().default_mode, Some(0o644));
}

#[test]
fn alias_bombs_and_deep_nesting_end_early() {
    // Eleven levels of twenty aliases each: 20^11 nodes if expanded.
    let mut bomb = String::from("l0: &l0 [x, x, x, x, x, x, x, x, x, x]\n");
    for i in 1..12 {
        let refs = vec![format!("*l{}", i - 1); 20].join(", ");
        bomb += &format!("l{i}: &l{i} [{refs}]\n");
    }
    let text = format!("apiVersion: v1\nkind: Pod\nmetadata:\n  name: p\n  annotations:\n    {}", bomb.replace('\n', "\n    "));
    let t = std::time::Instant::now();
    let e = err_text(&text);
    assert!(t.elapsed() < std::time::Duration::from_secs(5), "{:?}", t.elapsed());
    assert!(e.contains("m.yaml:10:19: budget breached: Nodes") && e.contains("expands aliases"), "{e}");
    // Nesting past the budget's depth (64), even where the types would ignore it.
    let deep = format!("apiVersion: v1\nkind: Pod\nmetadata: {{name: p}}\nx: {}{}\n", "[".repeat(10_000), "]".repeat(10_000));
    let e = err_text(&deep);
    assert!(e.contains("m.yaml:4:") && e.contains("too deeply nested"), "{e}");
    let nested = format!("apiVersion: v1\nkind: Pod\nx:\n{}", (1..200).map(|i| format!("{}a:\n", " ".repeat(i))).collect::<String>());
    assert!(err_text(&nested).contains("budget breached: Depth"));
    // JSON: serde_json's recursion limit (128) where a type reads it; skipped values are
    // walked without recursion, and refused as unknown fields.
    let deep_json = format!("{{\"apiVersion\":\"v1\",\"kind\":\"Pod\",\"x\":{}{}}}", "[".repeat(10_000), "]".repeat(10_000));
    assert!(err_text(&deep_json).contains("unknown field \"x\""));
}

#[test]
fn large_files_are_refused_before_reading() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("big.yaml");
    let f = std::fs::File::create(&p).unwrap();
    f.set_len(100 << 20).unwrap(); // sparse: nothing to read, nothing written
    let t = std::time::Instant::now();
    let e = load(&[p]).unwrap_err();
    assert!(matches!(e, ManifestError::TooLarge { .. }), "{e}");
    assert!(t.elapsed() < std::time::Duration::from_millis(100), "{:?}", t.elapsed());
    // A file whose size says nothing: refused after the limit, not read to its end.
    let e = load(&[PathBuf::from("/dev/zero")]).unwrap_err();
    assert!(matches!(e, ManifestError::TooLarge { .. }), "{e}");
    let e = load(&[dir.path().join("missing.yaml")]).unwrap_err();
    assert!(e.to_string().contains("missing.yaml: cannot read the manifest"), "{e}");
}

#[test]
fn not_utf8_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("b.yaml");
    std::fs::write(&p, b"kind: Pod\nx: \xff\n").unwrap();
    assert!(matches!(load(&[p]).unwrap_err(), ManifestError::NotUtf8 { .. }));
}

/// Mutated manifests (bytes flipped, dropped, duplicated, spliced) end in an error or a
/// result, never a panic: a small, dependency-free fuzz of the two-pass reader.
#[test]
fn mutated_manifests_never_panic() {
    let seed = format!("{POD}  volumes: [{{name: v, configMap: {{name: c, defaultMode: 0644}}}}]\n---\napiVersion: v1\nkind: Secret\nmetadata: {{name: s}}\ndata: {{a: aGVsbG8=}}\n---\n{{\"x\": [1, 2]}}\n");
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("f.yaml");
    let mut state: u64 = 0x9e37_79b9_7f4a_7c15;
    let mut next = move || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        state
    };
    let alphabet = b"{}[]:,-&*!|>'\"#%@` \n\tabcxyz019.\\";
    for _ in 0..3000 {
        let mut b = seed.as_bytes().to_vec();
        for _ in 0..1 + next() % 4 {
            let at = (next() as usize) % b.len();
            match next() % 4 {
                0 => b[at] = alphabet[(next() as usize) % alphabet.len()],
                1 => {
                    b.remove(at);
                }
                2 => b.insert(at, alphabet[(next() as usize) % alphabet.len()]),
                _ => {
                    let end = (at + (next() as usize) % 40).min(b.len());
                    let chunk = b[at..end].to_vec();
                    let to = (next() as usize) % b.len();
                    b.splice(to..to, chunk);
                }
            }
        }
        std::fs::write(&path, &b).unwrap();
        let _ = load(std::slice::from_ref(&path));
    }
}
