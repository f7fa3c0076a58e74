//! hostproc-bench-pull: pull and unpack of a multi-layer image from a local registry,
//! `hostproc image pull` against `skopeo copy docker://... oci:DIR` + `umoci unpack` (Debian's
//! skopeo and umoci), interleaved rounds, each from an empty store; then a second
//! `hostproc image pull`, which must download no blob (counted in the registry's access log).
//!
//! Needs root, /usr/bin/docker-registry, skopeo and umoci (`apt-get install docker-registry
//! skopeo umoci`): `cargo build --release -p hostproc -p hostproc-bench` then
//! `target/<triple>/release/hostproc-bench-pull [--rounds N (3)] [--hostproc PATH]`.
//! The image's layers are tars of host directories (gzip -1); everything it makes is in
//! one temporary directory, removed at the end, and the registry it starts is killed by pid.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use sha2::{Digest, Sha256};

const LAYERS: &[(&str, &str)] = &[("/usr/share", "zoneinfo"), ("/usr/share", "perl"), ("/usr/lib", "python3"), ("/usr/share", "man")];

fn run(cmd: &mut Command) -> Result<(), String> {
    let out = cmd.stdin(Stdio::null()).output().map_err(|e| format!("{cmd:?}: {e}"))?;
    if !out.status.success() {
        return Err(format!("{cmd:?}: {}\n{}{}", out.status, String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr)));
    }
    Ok(())
}

fn sha_file(p: &Path) -> (String, u64) {
    let data = std::fs::read(p).unwrap();
    (format!("{:x}", Sha256::digest(&data)), data.len() as u64)
}

fn which(n: &str) -> Option<PathBuf> {
    std::env::var("PATH").unwrap_or_default().split(':').map(|d| Path::new(d).join(n)).find(|p| p.is_file())
}

/// An OCI layout of LAYERS in `dir`; returns the total compressed size.
fn make_layout(dir: &Path, work: &Path) -> Result<u64, String> {
    let blobs = dir.join("blobs/sha256");
    std::fs::create_dir_all(&blobs).map_err(|e| e.to_string())?;
    std::fs::write(dir.join("oci-layout"), r#"{"imageLayoutVersion":"1.0.0"}"#).unwrap();
    let (mut descs, mut diffs, mut total) = (Vec::new(), Vec::new(), 0);
    for (i, (base, sub)) in LAYERS.iter().enumerate() {
        let t = work.join(format!("layer{i}.tar"));
        run(Command::new("tar").arg("-C").arg(base).arg("-cf").arg(&t).arg(sub))?;
        diffs.push(format!("sha256:{}", sha_file(&t).0));
        run(Command::new("gzip").arg("-1").arg(&t))?;
        let gz = t.with_extension("tar.gz");
        let (h, n) = sha_file(&gz);
        std::fs::rename(&gz, blobs.join(&h)).unwrap();
        total += n;
        descs.push(serde_json::json!({"mediaType": "application/vnd.oci.image.layer.v1.tar+gzip", "digest": format!("sha256:{h}"), "size": n}));
    }
    let cfg = serde_json::json!({"architecture": "amd64", "os": "linux", "config": {"Cmd": ["/bin/true"]}, "rootfs": {"type": "layers", "diff_ids": diffs}}).to_string();
    let ch = format!("{:x}", Sha256::digest(cfg.as_bytes()));
    std::fs::write(blobs.join(&ch), &cfg).unwrap();
    let m = serde_json::json!({"schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "config": {"mediaType": "application/vnd.oci.image.config.v1+json", "digest": format!("sha256:{ch}"), "size": cfg.len()}, "layers": descs}).to_string();
    let mh = format!("{:x}", Sha256::digest(m.as_bytes()));
    std::fs::write(blobs.join(&mh), &m).unwrap();
    let idx = serde_json::json!({"schemaVersion": 2, "manifests": [{"mediaType": "application/vnd.oci.image.manifest.v1+json", "digest": format!("sha256:{mh}"), "size": m.len(),
        "annotations": {"org.opencontainers.image.ref.name": "1"}}]});
    std::fs::write(dir.join("index.json"), idx.to_string()).unwrap();
    Ok(total)
}

struct Registry(Child);

impl Drop for Registry {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn blob_gets(log: &Path) -> usize {
    std::fs::read_to_string(log).unwrap_or_default().lines().filter(|l| l.contains("\"GET /v2/") && l.contains("/blobs/sha256:") && l.contains("\" 200 ")).count()
}

/// Times `cmd` after an untimed `sync`: hostproc syncs each blob before its rename (as
/// containerd's content store does), and without the `sync` that fsync would also wait for
/// the writeback of what the round before left dirty (umoci's 170 MB, the removed trees).
fn timed(cmd: &mut Command) -> Result<Duration, String> {
    run(&mut Command::new("sync"))?;
    let t = Instant::now();
    run(cmd)?;
    Ok(t.elapsed())
}

fn median(v: &mut [Duration]) -> Duration {
    v.sort();
    v[v.len() / 2]
}

fn bench(work: &Path, hostproc: &Path, rounds: usize) -> Result<(), String> {
    let (skopeo, umoci) = (which("skopeo").ok_or("skopeo is not installed")?, which("umoci").ok_or("umoci is not installed")?);
    let layout = work.join("layout");
    let size = make_layout(&layout, work)?;
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let cfg = work.join("registry.yml");
    std::fs::write(&cfg, format!("version: 0.1\nlog:\n  level: warn\nstorage:\n  filesystem:\n    rootdirectory: {}\nhttp:\n  addr: 127.0.0.1:{port}\n", work.join("storage").display())).unwrap();
    let log = work.join("registry.log");
    let f = std::fs::File::create(&log).unwrap();
    let _reg = Registry(Command::new("/usr/bin/docker-registry").arg("serve").arg(&cfg).stdout(f.try_clone().unwrap()).stderr(f).spawn().map_err(|e| format!("docker-registry: {e}"))?);
    let t = Instant::now();
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        if t.elapsed() > Duration::from_secs(20) {
            return Err("the registry did not start".into());
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    let image = format!("127.0.0.1:{port}/bench/img:1");
    run(Command::new(&skopeo).args(["copy", "--dest-tls-verify=false"]).arg(format!("oci:{}:1", layout.display())).arg(format!("docker://{image}")))?;
    println!("image: {} layers ({}), {:.1} MB compressed, on docker-registry at 127.0.0.1:{port}", LAYERS.len(), LAYERS.iter().map(|(b, s)| format!("{b}/{s}")).collect::<Vec<_>>().join(", "), size as f64 / 1e6);
    let (mut hp, mut su, mut again) = (Vec::new(), Vec::new(), Vec::new());
    for r in 0..rounds {
        let root = work.join(format!("root{r}"));
        hp.push(timed(Command::new(hostproc).arg("--root").arg(&root).args(["image", "pull", "-q", &image]))?);
        let before = blob_gets(&log);
        again.push(timed(Command::new(hostproc).arg("--root").arg(&root).args(["image", "pull", "-q", &image]))?);
        let fetched = blob_gets(&log) - before;
        if fetched != 0 {
            return Err(format!("the second pull downloaded {fetched} blobs"));
        }
        let oci = work.join(format!("oci{r}"));
        let bundle = work.join(format!("bundle{r}"));
        run(&mut Command::new("sync"))?;
        let t = Instant::now();
        run(Command::new(&skopeo).args(["copy", "--src-tls-verify=false"]).arg(format!("docker://{image}")).arg(format!("oci:{}:1", oci.display())))?;
        run(Command::new(&umoci).args(["unpack", "--image"]).arg(format!("{}:1", oci.display())).arg(&bundle))?;
        su.push(t.elapsed());
        for d in [&root, &oci, &bundle] {
            let _ = std::fs::remove_dir_all(d);
        }
        println!("round {}: hostproc image pull {:.2} s (again: {:.3} s, 0 blobs); skopeo copy + umoci unpack {:.2} s", r + 1, hp[r].as_secs_f64(), again[r].as_secs_f64(), su[r].as_secs_f64());
    }
    let (h, s, a) = (median(&mut hp), median(&mut su), median(&mut again));
    println!("\nmedian of {rounds}: hostproc {:.2} s, skopeo+umoci {:.2} s: ratio {:.2} (target <= 0.7); second pull {:.3} s with no blob downloaded", h.as_secs_f64(), s.as_secs_f64(), h.as_secs_f64() / s.as_secs_f64(), a.as_secs_f64());
    Ok(())
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let mut rounds = 3;
    let mut hostproc = std::env::current_exe().ok().and_then(|p| p.parent().map(|d| d.join("hostproc"))).unwrap_or_else(|| "hostproc".into());
    let mut i = 0;
    while i < args.len() {
        match (args[i].as_str(), args.get(i + 1)) {
            ("--rounds", Some(v)) => rounds = v.parse().unwrap_or(3),
            ("--hostproc", Some(v)) => hostproc = v.into(),
            _ => {
                eprintln!("usage: hostproc-bench-pull [--rounds N (3)] [--hostproc PATH]");
                std::process::exit(2);
            }
        }
        i += 2;
    }
    if !Path::new("/usr/bin/docker-registry").is_file() {
        eprintln!("skipped: /usr/bin/docker-registry is not installed (apt-get install docker-registry skopeo umoci)");
        return;
    }
    let work = std::env::temp_dir().join(format!("hostproc-bench-pull-{}", std::process::id()));
    std::fs::create_dir(&work).expect("make the work directory");
    // skopeo keeps a blob-info cache under /var/lib/containers/cache: removed again if this
    // run made it (only then, so a host that uses containers/image keeps its own).
    let skopeo_cache = Path::new("/var/lib/containers");
    let cache_before = skopeo_cache.exists();
    let res = bench(&work, &hostproc, rounds.max(1));
    let _ = std::fs::remove_dir_all(&work);
    if !cache_before && skopeo_cache.exists() {
        let _ = std::fs::remove_dir_all(skopeo_cache);
    }
    if let Err(e) = res {
        eprintln!("ERROR: {e}");
        std::process::exit(1);
    }
}
