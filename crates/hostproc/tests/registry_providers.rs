//! kubelet credential providers for `image pull` (and `pod run`): a shell-script plugin
//! that logs each call is matched by matchImages with the kubelet's rules, run with its
//! args and env, its answer cached by cacheKeyType for cacheDuration (across commands);
//! a plugin that fails, hangs or answers garbage is named and the pull goes on without it.
//! Against Debian's docker-registry with htpasswd auth (tests/common/registry.rs).

mod common;
#[path = "common/oci.rs"]
mod oci;
#[path = "common/registry.rs"]
mod registry;

use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use common::*;
use oci::{Compression as C, Layout, E};
use registry::*;

const PLUGIN: &str = r#"#!/bin/sh
# A credential provider: logs its call, then answers as $HP_MODE says.
req=$(cat)
echo "called args=$* image=$(echo "$req" | sed 's/.*"image":"\([^"]*\)".*/\1/')" >> "$HP_LOG"
case "$HP_MODE" in
fail) echo "no credentials for you" >&2; exit 3 ;;
hang) echo "group=$$" >> "$HP_LOG"; sleep 30 ;;
garbage) echo "this is not json" ;;
*) printf '{"apiVersion":"credentialprovider.kubelet.k8s.io/v1","kind":"CredentialProviderResponse","cacheKeyType":"%s",%s"auth":{"%s":{"username":"alice","password":"%s"}}}' "$HP_KEY" "$HP_DURATION" "$HP_REGISTRY" "$HP_PASSWORD" ;;
esac
"#;

struct Fixture {
    t: tempfile::TempDir,
    reg: Registry,
    bin: PathBuf,
}

/// A registry with htpasswd auth (alice:s3cret) holding team/a:1 and team/b:1.
fn fixture(auth: bool) -> Fixture {
    assert!(registry_bin().is_some(), "{REGISTRY_BIN} is missing: apt-get install docker-registry (.ci/run does)");
    let t = tempdir();
    let storage = t.path().join("storage");
    {
        let plain = Registry::start(&t.path().join("reg"), &storage, None, &Auth::None);
        for repo in ["team/a", "team/b"] {
            let mut l = Layout::new(&t.path().join(repo));
            let (m, _) = l.image(&[(oci::tar(&[E::File("hello.txt", repo, 0o644)]), C::Gzip)], None, &["true"]);
            push_layout_image(&plain.addr, repo, Some("1"), &l, &m);
        }
    }
    let a = if auth {
        let hf = t.path().join("htpasswd");
        htpasswd(&hf, "alice", "s3cret");
        Auth::Htpasswd(hf)
    } else {
        Auth::None
    };
    let reg = Registry::start(&t.path().join("reg"), &storage, None, &a);
    let bin = t.path().join("plugins");
    fs::create_dir(&bin).unwrap();
    for name in ["hp-creds", "hp-other"] {
        fs::write(bin.join(name), PLUGIN).unwrap();
        fs::set_permissions(bin.join(name), fs::Permissions::from_mode(0o755)).unwrap();
    }
    Fixture { t, reg, bin }
}

impl Fixture {
    /// A CredentialProviderConfig: hp-creds for this registry (mode, cacheKeyType, the
    /// response's cacheDuration field), hp-other for another host only.
    fn config(&self, mode: &str, key: &str, duration: Option<&str>, password: &str) -> PathBuf {
        let port = self.reg.addr.rsplit(':').next().unwrap();
        let log = self.log_path();
        let dur = duration.map(|d| format!("\\\"cacheDuration\\\":\\\"{d}\\\",")).unwrap_or_default();
        let text = format!(
            r#"apiVersion: kubelet.config.k8s.io/v1
kind: CredentialProviderConfig
providers:
  - name: hp-other
    matchImages: ["*.example.com", "127.0.0.1:1"]
    defaultCacheDuration: 10m
    apiVersion: credentialprovider.kubelet.k8s.io/v1
    env: [{{name: HP_LOG, value: "{log}.other"}}]
  - name: hp-creds
    matchImages: ["other.registry.io", "*.*.*.*:{port}"]
    defaultCacheDuration: 10m
    apiVersion: credentialprovider.kubelet.k8s.io/v1
    args: ["--from", "hostproc-test"]
    env:
      - {{name: HP_LOG, value: "{log}"}}
      - {{name: HP_MODE, value: "{mode}"}}
      - {{name: HP_KEY, value: "{key}"}}
      - {{name: HP_DURATION, value: "{dur}"}}
      - {{name: HP_REGISTRY, value: "{addr}"}}
      - {{name: HP_PASSWORD, value: "{password}"}}
"#,
            log = log.display(),
            addr = self.reg.addr,
        );
        let p = self.t.path().join(format!("providers-{mode}-{key}.yaml"));
        fs::write(&p, text).unwrap();
        p
    }

    fn log_path(&self) -> PathBuf {
        self.t.path().join("plugin.log")
    }

    fn calls(&self) -> Vec<String> {
        fs::read_to_string(self.log_path()).unwrap_or_default().lines().map(str::to_owned).collect()
    }

    fn pull(&self, root: &Root, config: &Path, repo: &str, timeout: Option<&str>) -> Output {
        let mut c = command(root);
        c.args(["image", "pull", "--docker-config", &self.t.path().join("no-docker-config.json").display().to_string()]);
        fs::write(self.t.path().join("no-docker-config.json"), "{}").unwrap();
        c.arg("--image-credential-provider-config").arg(config).arg("--image-credential-provider-bin-dir").arg(&self.bin);
        c.arg(format!("{}/{repo}:1", self.reg.addr));
        if let Some(t) = timeout {
            c.env("HOSTPROC_CREDENTIAL_PROVIDER_TIMEOUT", t);
        }
        execute(c)
    }
}

#[test]
fn a_provider_is_matched_called_with_its_args_and_env_and_its_answer_cached_per_registry() {
    let f = fixture(true);
    let cfg = f.config("good", "Registry", Some("1h"), "s3cret");
    let root = Root::new();
    f.pull(&root, &cfg, "team/a", None).assert_code(0);
    let image = format!("{}/team/a", f.reg.addr);
    assert_eq!(f.calls(), [format!("called args=--from hostproc-test image={image}")]);
    // hp-other's matchImages do not match: never run.
    assert!(!f.t.path().join("plugin.log.other").exists());
    // Cached by registry (in the store, 0600): another repository of it, in another command, asks nothing.
    let cache = root.path().join("images/credential-provider-cache.json");
    assert_eq!(fs::metadata(&cache).unwrap().permissions().mode() & 0o777, 0o600);
    f.pull(&root, &cfg, "team/b", None).assert_code(0);
    assert_eq!(f.calls().len(), 1, "{:?}", f.calls());
}

#[test]
fn image_keys_and_a_zero_cache_duration_ask_again_and_a_wrong_password_names_the_provider() {
    let f = fixture(true);
    let root = Root::new();
    // cacheKeyType Image, no cacheDuration: the provider's defaultCacheDuration (10m) per image.
    let cfg = f.config("good", "Image", None, "s3cret");
    f.pull(&root, &cfg, "team/a", None).assert_code(0);
    f.pull(&root, &cfg, "team/a", None).assert_code(0);
    f.pull(&root, &cfg, "team/b", None).assert_code(0);
    assert_eq!(f.calls().len(), 2, "once per image: {:?}", f.calls());
    // cacheDuration 0s: not cached at all; a wrong password is refused naming the provider.
    let root = Root::new();
    let cfg = f.config("good", "Global", Some("0s"), "wrong");
    let o = f.pull(&root, &cfg, "team/a", None);
    o.assert_code(1);
    assert!(o.stderr.contains("credential provider hp-creds") && o.stderr.contains("401"), "{}", o.dump());
    f.pull(&root, &cfg, "team/a", None).assert_code(1);
    assert_eq!(f.calls().len(), 4, "{:?}", f.calls());
    assert!(fs::read_dir(root.path().join("images/rootfs")).map_or(0, |d| d.count()) == 0);
}

#[test]
fn a_failing_hanging_or_garbage_plugin_is_named_and_the_pull_goes_on_anonymously() {
    let open = fixture(false);
    for (mode, what) in [("fail", "it failed (exit status: 3): no credentials for you"), ("hang", "did not answer within 1s and was killed"), ("garbage", "not a CredentialProviderResponse")] {
        let root = Root::new();
        let cfg = open.config(mode, "Registry", None, "x");
        let started = std::time::Instant::now();
        let o = open.pull(&root, &cfg, "team/a", Some("1s"));
        o.assert_code(0);
        assert!(o.stderr.contains("credential provider hp-creds") && o.stderr.contains(what) && o.stderr.contains("going on without its credentials"), "{mode}: {}", o.dump());
        assert!(started.elapsed() < std::time::Duration::from_secs(20), "{mode}");
    }
    // The hung plugin was killed with its process group (its `sleep` too).
    let group: i32 = open.calls().iter().find_map(|l| l.strip_prefix("group=")).expect("the hang plugin ran").parse().unwrap();
    std::thread::sleep(std::time::Duration::from_millis(200));
    let left: Vec<_> = fs::read_dir("/proc").unwrap().flatten().filter_map(|e| fs::read_to_string(e.path().join("stat")).ok()).filter(|st| {
        let f: Vec<&str> = st.rsplit_once(')').map(|(_, r)| r.split_whitespace().collect()).unwrap_or_default();
        // Killed ones may wait as zombies for their new parent to reap them.
        f.first() != Some(&"Z") && f.get(2).and_then(|g| g.parse::<i32>().ok()) == Some(group)
    }).collect();
    assert!(left.is_empty(), "left running: {left:?}");
    // Against a registry that needs credentials the refusal says why there were none.
    let closed = fixture(true);
    let root = Root::new();
    let o = closed.pull(&root, &closed.config("fail", "Registry", None, "x"), "team/a", None);
    o.assert_code(1);
    assert!(o.stderr.contains("refused the pull") && o.stderr.contains("credential provider hp-creds") && o.stderr.contains("exit status: 3"), "{}", o.dump());
}

#[test]
fn a_bad_provider_config_is_refused_naming_the_field() {
    let t = tempdir();
    let bin = t.path();
    fs::write(bin.join("p"), "#!/bin/sh\n").unwrap();
    let root = Root::new();
    for (text, want) in [
        ("apiVersion: kubelet.config.k8s.io/v1\nkind: CredentialProviderConfig\nproviders:\n  - name: p\n    matchImages: [\"*\"]\n    defaultCacheDuration: 1m\n    apiVersion: credentialprovider.kubelet.k8s.io/v9\n", "providers[0].apiVersion"),
        ("apiVersion: kubelet.config.k8s.io/v1\nkind: CredentialProviderConfig\nproviders:\n  - name: p\n    matchImages: []\n    defaultCacheDuration: 1m\n    apiVersion: credentialprovider.kubelet.k8s.io/v1\n", "providers[0].matchImages"),
        ("apiVersion: kubelet.config.k8s.io/v1\nkind: CredentialProviderConfig\nproviders:\n  - name: missing\n    matchImages: [\"*\"]\n    defaultCacheDuration: 1m\n    apiVersion: credentialprovider.kubelet.k8s.io/v1\n", "plugin"),
        ("apiVersion: kubelet.config.k8s.io/v1\nkind: CredentialProviderConfig\nproviders:\n  - name: p\n    matchImages: [\"*\"]\n    apiVersion: credentialprovider.kubelet.k8s.io/v1\n", "defaultCacheDuration is required"),
        ("apiVersion: v1\nkind: Pod\n", "kind CredentialProviderConfig"),
    ] {
        let cfg = t.path().join("c.yaml");
        fs::write(&cfg, text).unwrap();
        let o = hostproc(&root, &["image", "pull", "--image-credential-provider-config", cfg.to_str().unwrap(), "--image-credential-provider-bin-dir", bin.to_str().unwrap(), "127.0.0.1:1/x:1"]);
        o.assert_code(1);
        assert!(o.stderr.contains(cfg.to_str().unwrap()) && o.stderr.contains(want), "{want}: {}", o.dump());
    }
}

#[test]
fn docker_credential_helpers_from_cred_helpers_and_creds_store() {
    let f = fixture(true);
    let helpers = f.t.path().join("helpers");
    fs::create_dir(&helpers).unwrap();
    let log = f.t.path().join("helper.log");
    for (name, answer) in [("hpgood", r#"{"ServerURL":"x","Username":"alice","Secret":"s3cret"}"#), ("hpnone", "credentials not found in native keychain")] {
        let code = if name == "hpnone" { 1 } else { 0 };
        let script = format!("#!/bin/sh\necho \"{name} $1 $(cat)\" >> {}\necho '{answer}'\nexit {code}\n", log.display());
        fs::write(helpers.join(format!("docker-credential-{name}")), script).unwrap();
        fs::set_permissions(helpers.join(format!("docker-credential-{name}")), fs::Permissions::from_mode(0o755)).unwrap();
    }
    let path = format!("{}:{}", helpers.display(), std::env::var("PATH").unwrap_or_default());
    let pull = |cfg: serde_json::Value| {
        let dir = f.t.path().join(format!("dc{}", cfg.to_string().len()));
        fs::create_dir_all(&dir).unwrap();
        fs::write(dir.join("config.json"), cfg.to_string()).unwrap();
        let root = Root::new();
        let mut c = command(&root);
        c.args(["image", "pull", &format!("{}/team/a:1", f.reg.addr)]).env("DOCKER_CONFIG", &dir).env("PATH", &path);
        execute(c)
    };
    // credHelpers names the helper for this registry; it is asked with the registry on stdin.
    pull(serde_json::json!({"credHelpers": {f.reg.addr.clone(): "hpgood"}, "credsStore": "hpnone"})).assert_code(0);
    assert_eq!(fs::read_to_string(&log).unwrap(), format!("hpgood get {}\n", f.reg.addr));
    // credsStore for the rest; "not found" is no credential, and the refusal says none were found.
    let o = pull(serde_json::json!({"credsStore": "hpnone"}));
    o.assert_code(1);
    assert!(o.stderr.contains("no credentials were found"), "{}", o.dump());
    assert!(fs::read_to_string(&log).unwrap().ends_with(&format!("hpnone get {}\n", f.reg.addr)));
    // A helper that is not installed is named.
    let o = pull(serde_json::json!({"credsStore": "hpmissing"}));
    o.assert_code(1);
    assert!(o.stderr.contains("cannot run docker-credential-hpmissing"), "{}", o.dump());
}
