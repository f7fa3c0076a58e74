//! The CRI side of cri.rs: containerd's CRI plugin configured with a `hostproc` runtime
//! handler, a do-nothing CNI for the one pod that asks for a network namespace, and a
//! blocking CRI client (k8s-cri's runtime.v1, which containerd 1.6 serves) over the unix
//! socket, as the kubelet talks to it.

use std::fs;
use std::future::Future;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use hyper_util::rt::TokioIo;
use k8s_cri::v1::image_service_client::ImageServiceClient;
use k8s_cri::v1::runtime_service_client::RuntimeServiceClient;
use k8s_cri::v1::{ImageSpec, ImageStatusRequest, VersionRequest, VersionResponse};
use tonic::transport::{Channel, Endpoint, Uri};

use crate::common::HOSTPROC;

/// The runtime handler (RuntimeClass handler) that runs hostproc.
pub const HANDLER: &str = "hostproc";
/// The pod sandbox image: the test image with `/pause` as its command.
pub const PAUSE: &str = "hptest.local/hostproc/pause:v1";
/// Hang guard for one CRI call (a create may wait for /hpc's lock behind other tests).
pub const CALL_TIMEOUT: Duration = Duration::from_secs(120);

/// The CRI plugin's part of containerd's config (version 2). Everything it keeps is under
/// `dir` (containerd's root and state), network namespaces included.
pub fn cri_config(dir: &Path) -> String {
    let d = dir.display();
    let cni_bin = dir.join("cni/bin");
    let cni_conf = dir.join("cni/conf");
    write_fake_cni(&cni_bin, &cni_conf);
    format!(
        r#"
[plugins."io.containerd.grpc.v1.cri"]
  sandbox_image = "{PAUSE}"
  # root lacks CAP_SYS_RESOURCE here: the sandbox's oom_score_adj (-998) cannot be set.
  restrict_oom_score_adj = true
  disable_apparmor = true
  enable_selinux = false
  disable_hugetlb_controller = true
  stream_server_address = "127.0.0.1"
  stream_server_port = "0"
  netns_mounts_under_state_dir = true
  [plugins."io.containerd.grpc.v1.cri".containerd]
    snapshotter = "overlayfs"
    default_runtime_name = "{HANDLER}"
    [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.{HANDLER}]
      runtime_type = "io.containerd.runc.v2"
      pod_annotations = ["hostproc.io/*", "microsoft.com/hostprocess-*"]
      container_annotations = ["hostproc.io/*", "microsoft.com/hostprocess-*"]
      [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.{HANDLER}.options]
        BinaryName = "{HOSTPROC}"
        Root = "{d}/runc"
        SystemdCgroup = false
  [plugins."io.containerd.grpc.v1.cri".cni]
    bin_dir = "{bin}"
    conf_dir = "{conf}"
    max_conf_num = 1
"#,
        bin = cni_bin.display(),
        conf = cni_conf.display(),
    )
}

/// Host-network pods never call CNI; a pod network namespace does (containerd sets the
/// network up before it creates the sandbox with the runtime). These plugins answer ADD
/// with an address that configures nothing, so that the runtime is reached and hostproc's
/// refusal is what RunPodSandbox returns.
fn write_fake_cni(bin: &Path, conf: &Path) {
    fs::create_dir_all(bin).unwrap();
    fs::create_dir_all(conf).unwrap();
    let plugin = |name: &str, version: &str, ips: &str| {
        let script = format!(
            "#!/bin/sh\ncat >/dev/null\ncase \"$CNI_COMMAND\" in\n\
             ADD) printf '{{\"cniVersion\":\"{version}\",\"interfaces\":[{{\"name\":\"%s\",\"sandbox\":\"%s\"}}],\"ips\":[{ips}]}}' \"$CNI_IFNAME\" \"$CNI_NETNS\" ;;\n\
             VERSION) printf '{{\"cniVersion\":\"{version}\",\"supportedVersions\":[\"0.3.0\",\"0.3.1\",\"0.4.0\"]}}' ;;\n\
             esac\n"
        );
        let p = bin.join(name);
        fs::write(&p, script).unwrap();
        fs::set_permissions(&p, fs::Permissions::from_mode(0o755)).unwrap();
    };
    plugin(
        "hptest-null",
        "0.4.0",
        r#"{"version":"4","address":"192.0.2.2/24","interface":0}"#,
    );
    // containerd always adds a loopback network too.
    plugin("loopback", "0.3.1", "");
    fs::write(
        conf.join("10-hptest.conflist"),
        r#"{"cniVersion":"0.4.0","name":"hptest","plugins":[{"type":"hptest-null"}]}"#,
    )
    .unwrap();
}

/// Directories libcni makes for its result cache (/var/lib/cni/results, not configurable
/// in containerd 1.6) when the test's fake network is set up: removed when empty if the
/// test made them.
pub struct CniCache(Vec<PathBuf>);

impl CniCache {
    pub fn note() -> CniCache {
        let dirs = ["/var/lib/cni/results", "/var/lib/cni"];
        CniCache(
            dirs.iter()
                .map(PathBuf::from)
                .filter(|p| !p.exists())
                .collect(),
        )
    }
}

impl Drop for CniCache {
    fn drop(&mut self) {
        for d in &self.0 {
            let _ = fs::remove_dir(d);
        }
    }
}

/// A blocking CRI client: each call runs on a current-thread tokio runtime, under
/// [`CALL_TIMEOUT`].
pub struct Cri {
    rt: tokio::runtime::Runtime,
    pub runtime: RuntimeServiceClient<Channel>,
    pub images: ImageServiceClient<Channel>,
}

impl Cri {
    pub fn connect(sock: &Path) -> Cri {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("a tokio runtime");
        let sock = sock.to_path_buf();
        let channel = rt
            .block_on(async {
                // The URI is not used: every connection is the unix socket.
                Endpoint::try_from("http://[::]:50051")
                    .unwrap()
                    .connect_timeout(Duration::from_secs(10))
                    .timeout(CALL_TIMEOUT)
                    .connect_with_connector(tower::service_fn(move |_: Uri| {
                        let sock = sock.clone();
                        async move {
                            Ok::<_, std::io::Error>(TokioIo::new(
                                tokio::net::UnixStream::connect(sock).await?,
                            ))
                        }
                    }))
                    .await
            })
            .expect("connect to containerd's socket");
        Cri {
            rt,
            runtime: RuntimeServiceClient::new(channel.clone()),
            images: ImageServiceClient::new(channel),
        }
    }

    /// Runs one call to its end (or to the hang guard).
    pub fn block<T>(
        &self,
        call: impl Future<Output = Result<tonic::Response<T>, tonic::Status>>,
    ) -> Result<T, tonic::Status> {
        self.rt.block_on(async {
            match tokio::time::timeout(CALL_TIMEOUT + Duration::from_secs(5), call).await {
                Ok(r) => r.map(tonic::Response::into_inner),
                Err(_) => Err(tonic::Status::deadline_exceeded("the test's hang guard")),
            }
        })
    }

    /// Version, once the CRI plugin answers (it starts in the background of containerd).
    pub fn wait_version(&self, timeout: Duration) -> Result<VersionResponse, tonic::Status> {
        let end = Instant::now() + timeout;
        loop {
            let mut c = self.runtime.clone();
            let r = self.block(c.version(VersionRequest {
                version: "v1".into(),
            }));
            if r.is_ok() || Instant::now() >= end {
                return r;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// Waits until the CRI's image store lists `image` (it follows containerd's image
    /// events, so an image imported a moment ago may not be there yet); true when it does.
    pub fn wait_image(&self, image: &str, timeout: Duration) -> bool {
        let end = Instant::now() + timeout;
        loop {
            let mut c = self.images.clone();
            let r = self.block(c.image_status(ImageStatusRequest {
                image: Some(ImageSpec {
                    image: image.into(),
                    ..Default::default()
                }),
                verbose: false,
            }));
            if r.is_ok_and(|s| s.image.is_some()) {
                return true;
            }
            if Instant::now() >= end {
                return false;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }
}
