//! Reading manifests: YAML or JSON files, several documents each (`---` in YAML, objects one
//! after another in JSON, as kubectl reads them), into k8s-openapi types.
//!
//! Accepted kinds: a Pod, or the pod template of a Deployment, DaemonSet, StatefulSet,
//! ReplicaSet, ReplicationController, Job or CronJob (`spec.jobTemplate.spec.template`);
//! ConfigMaps and Secrets are collected for the pods' volumes and env. Any other kind (a
//! Service, a ServiceAccount, ...) is skipped with a warning: kubectl would apply it, `pod`
//! has no use for it. A `List` is refused (its items would need the same reading).
//!
//! Hostile input: a file over [`MAX_FILE_BYTES`] is refused before it is read; YAML goes
//! through serde-saphyr's budget (aliases, anchors, events, nesting); a field Kubernetes
//! does not know is refused as the API server's strict field validation (kubectl's default)
//! refuses it, naming its path; duplicate keys are refused. Errors name the file, and the
//! line and column where the parser has them.

mod decode;

use std::path::{Path, PathBuf};

use k8s_openapi::api::core::v1::{ConfigMap, PodSpec, Secret};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use k8s_openapi::ByteString;

pub use decode::Object;

/// The largest manifest file read: a pod with its ConfigMaps is kilobytes; 10 MiB leaves
/// room for large ConfigMaps while a 100 MB file is refused before it is read.
pub const MAX_FILE_BYTES: u64 = 10 << 20;

/// Everything the files held that `pod` uses.
#[derive(Debug, Default)]
pub struct Manifests {
    pub pods: Vec<PodManifest>,
    pub config_maps: Vec<ConfigMap>,
    pub secrets: Vec<Secret>,
    /// Documents skipped (kinds `pod` has no use for), one line each, for the user.
    pub warnings: Vec<String>,
}

/// One pod: a Pod object, or a workload's pod template.
#[derive(Debug, Clone)]
pub struct PodManifest {
    pub file: PathBuf,
    /// The object's kind: Pod, Deployment, DaemonSet, StatefulSet, ReplicaSet,
    /// ReplicationController, Job or CronJob.
    pub kind: String,
    /// The object's own name (the workload's for a template).
    pub name: String,
    /// The document's place in its file, counting from 1 (empty documents not counted).
    pub document: usize,
    /// The pod's metadata: the template's, with the workload's name and namespace where
    /// the template has none.
    pub metadata: ObjectMeta,
    pub spec: PodSpec,
}

impl PodManifest {
    /// Where the pod spec sits in the object, as the API server's field paths name it.
    pub fn spec_path(&self) -> &'static str {
        template_spec_path(&self.kind)
    }

    /// `Kind/name`, as kubectl names objects.
    pub fn object(&self) -> String {
        format!("{}/{}", self.kind, self.name)
    }
}

/// The field path of the pod spec inside an object of this kind.
pub fn template_spec_path(kind: &str) -> &'static str {
    match kind {
        "Pod" => "spec",
        "CronJob" => "spec.jobTemplate.spec.template.spec",
        _ => "spec.template.spec",
    }
}

#[derive(Debug, thiserror::Error)]
pub enum ManifestError {
    #[error("{}: cannot read the manifest: {source}", file.display())]
    Read { file: PathBuf, source: std::io::Error },
    #[error("{}: the manifest is over the {} MiB limit: split it into several files", file.display(), MAX_FILE_BYTES >> 20)]
    TooLarge { file: PathBuf },
    #[error("{}: the manifest is not UTF-8 text: save it as UTF-8", file.display())]
    NotUtf8 { file: PathBuf },
    /// A parse or type error, where the parser saw it.
    #[error("{}:{line}:{column}: {detail}", file.display())]
    Parse { file: PathBuf, line: u64, column: u64, detail: String },
    #[error("{}: document {document}: {detail}", file.display())]
    Document { file: PathBuf, document: usize, detail: String },
    #[error("{}: document {document} ({object}): unknown field \"{path}\": Kubernetes refuses it (strict field validation); remove it or fix its spelling", file.display())]
    UnknownField { file: PathBuf, document: usize, object: String, path: String },
    #[error("no Pod nor workload (Deployment, DaemonSet, StatefulSet, ReplicaSet, ReplicationController, Job, CronJob) in {files}: give a manifest with a pod")]
    NoPod { files: String },
}

/// Reads every file, in order. A ConfigMap or Secret in any file serves the pods of all.
pub fn load(paths: &[PathBuf]) -> Result<Manifests, ManifestError> {
    let mut out = Manifests::default();
    for path in paths {
        load_file(path, &mut out)?;
    }
    if out.pods.is_empty() {
        let files = paths.iter().map(|p| p.display().to_string()).collect::<Vec<_>>().join(", ");
        return Err(ManifestError::NoPod { files });
    }
    Ok(out)
}

/// Reads one file into `out` (no check that it holds a pod).
pub fn load_file(path: &Path, out: &mut Manifests) -> Result<(), ManifestError> {
    let text = read_limited(path)?;
    for (i, object) in decode::decode(path, &text)?.into_iter().enumerate() {
        let document = i + 1;
        add(path, document, object, out)?;
    }
    Ok(())
}

/// The file's text, refused past [`MAX_FILE_BYTES`] before reading when its size is known,
/// and while reading otherwise (a pipe, /dev/zero).
fn read_limited(path: &Path) -> Result<String, ManifestError> {
    use std::io::Read;
    let read_err = |source| ManifestError::Read { file: path.to_owned(), source };
    let file = std::fs::File::open(path).map_err(read_err)?;
    let meta = file.metadata().map_err(read_err)?;
    if meta.is_dir() {
        return Err(read_err(std::io::Error::from(std::io::ErrorKind::IsADirectory)));
    }
    if meta.len() > MAX_FILE_BYTES {
        return Err(ManifestError::TooLarge { file: path.to_owned() });
    }
    let mut bytes = Vec::with_capacity(meta.len() as usize);
    file.take(MAX_FILE_BYTES + 1).read_to_end(&mut bytes).map_err(read_err)?;
    if bytes.len() as u64 > MAX_FILE_BYTES {
        return Err(ManifestError::TooLarge { file: path.to_owned() });
    }
    String::from_utf8(bytes).map_err(|_| ManifestError::NotUtf8 { file: path.to_owned() })
}

fn add(path: &Path, document: usize, object: Object, out: &mut Manifests) -> Result<(), ManifestError> {
    let pod = |kind: &str, meta: ObjectMeta, template: Option<(Option<ObjectMeta>, Option<PodSpec>)>| {
        let name = meta.name.clone().unwrap_or_default();
        let (pod_meta, spec) = match template {
            None => (meta.clone(), None),
            Some((tmeta, spec)) => {
                let mut m = tmeta.unwrap_or_default();
                if m.name.is_none() {
                    m.name = meta.name.clone();
                }
                if m.namespace.is_none() {
                    m.namespace = meta.namespace.clone();
                }
                (m, spec)
            }
        };
        PodManifest {
            file: path.to_owned(),
            kind: kind.to_owned(),
            name,
            document,
            metadata: pod_meta,
            spec: spec.unwrap_or_default(),
        }
    };
    let t = |t: k8s_openapi::api::core::v1::PodTemplateSpec| Some((t.metadata, t.spec));
    let manifest = match object {
        Object::Pod(p) => {
            let mut m = pod("Pod", p.metadata, None);
            m.spec = p.spec.unwrap_or_default();
            m
        }
        Object::Deployment(o) => pod("Deployment", o.metadata, o.spec.map(|s| s.template).and_then(t)),
        Object::DaemonSet(o) => pod("DaemonSet", o.metadata, o.spec.map(|s| s.template).and_then(t)),
        Object::StatefulSet(o) => pod("StatefulSet", o.metadata, o.spec.map(|s| s.template).and_then(t)),
        Object::ReplicaSet(o) => pod("ReplicaSet", o.metadata, o.spec.and_then(|s| s.template).and_then(t)),
        Object::ReplicationController(o) => {
            pod("ReplicationController", o.metadata, o.spec.and_then(|s| s.template).and_then(t))
        }
        Object::Job(o) => pod("Job", o.metadata, o.spec.map(|s| s.template).and_then(t)),
        Object::CronJob(o) => {
            let template = o.spec.and_then(|s| s.job_template.spec).map(|s| s.template).and_then(t);
            pod("CronJob", o.metadata, template)
        }
        Object::ConfigMap(c) => {
            out.config_maps.push(c);
            return Ok(());
        }
        Object::Secret(mut s) => {
            // The API server stores stringData into data (stringData wins), as kubectl sees it.
            if let Some(strings) = s.string_data.take() {
                let data = s.data.get_or_insert_with(Default::default);
                for (k, v) in strings {
                    data.insert(k, ByteString(v.into_bytes()));
                }
            }
            out.secrets.push(s);
            return Ok(());
        }
        Object::Other { kind, name } => {
            out.warnings.push(format!(
                "{}: document {document} ({kind}/{name}): skipped: `pod` uses Pods, workloads' pod templates, ConfigMaps and Secrets",
                path.display()
            ));
            return Ok(());
        }
    };
    out.pods.push(manifest);
    Ok(())
}

#[cfg(test)]
mod tests;
