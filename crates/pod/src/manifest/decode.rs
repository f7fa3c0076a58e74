//! Documents into typed objects. The type of a document depends on its `kind`, which may come
//! after its `spec`; reading it into an untyped value first would lose the parser's line and
//! column for type errors. So each file is read twice: first only each document's kind, then
//! each document straight into its k8s-openapi type, the kinds from the first pass handed to
//! the second through a thread-local queue (the parser calls `Object::deserialize` once per
//! document, in order). The second pass also records fields the types ignored
//! (serde_ignored) and the path of a type error (serde_path_to_error).

use std::cell::RefCell;
use std::collections::VecDeque;
use std::path::Path;

use k8s_openapi::api::apps::v1::{DaemonSet, Deployment, ReplicaSet, StatefulSet};
use k8s_openapi::api::batch::v1::{CronJob, Job};
use k8s_openapi::api::core::v1::{ConfigMap, Pod, ReplicationController, Secret};
use serde::de::{Deserialize, Deserializer, Error as _, IgnoredAny};

use super::ManifestError;

/// One document, read into the type its kind names.
#[derive(Debug)]
#[allow(clippy::large_enum_variant)]
pub enum Object {
    Pod(Pod),
    Deployment(Deployment),
    DaemonSet(DaemonSet),
    StatefulSet(StatefulSet),
    ReplicaSet(ReplicaSet),
    ReplicationController(ReplicationController),
    Job(Job),
    CronJob(CronJob),
    ConfigMap(ConfigMap),
    Secret(Secret),
    /// A kind `pod` does not use, skipped.
    Other { kind: String, name: String },
}

/// What the first pass reads of a document.
#[derive(serde::Deserialize)]
struct Head {
    #[serde(rename = "apiVersion")]
    api_version: Option<String>,
    kind: Option<String>,
    metadata: Option<HeadMeta>,
}

#[derive(serde::Deserialize)]
struct HeadMeta {
    name: Option<String>,
}

#[derive(Default)]
struct Pass {
    heads: VecDeque<Head>,
    /// Documents started so far in the second pass.
    document: usize,
    /// The first field a type ignored: (document from 1, `Kind/name`, path).
    unknown: Option<(usize, String, String)>,
    /// The field path of the last type error.
    error_path: Option<String>,
}

thread_local! {
    static PASS: RefCell<Pass> = RefCell::new(Pass::default());
}

/// Every non-empty document of `text`, in order. JSON when the text starts with `{` (as
/// kubectl tells them apart), YAML otherwise.
pub(super) fn decode(file: &Path, text: &str) -> Result<Vec<Object>, ManifestError> {
    let json = text.trim_start_matches('\u{feff}').trim_start().starts_with('{');
    let heads = if json { json_docs::<Head>(file, text) } else { yaml_docs::<Head>(file, text) }?;
    PASS.with(|p| *p.borrow_mut() = Pass { heads: heads.into(), ..Pass::default() });
    let objects = if json { json_docs::<Object>(file, text) } else { yaml_docs::<Object>(file, text) };
    let pass = PASS.with(|p| std::mem::take(&mut *p.borrow_mut()));
    let objects = objects.map_err(|e| match (e, pass.error_path) {
        // An error the document's root gave has no place: name the document.
        (ManifestError::Parse { file, line: 0, detail, .. }, _) => {
            ManifestError::Document { file, document: pass.document, detail }
        }
        (ManifestError::Parse { file, line, column, detail }, Some(path)) if !path.is_empty() => {
            ManifestError::Parse { file, line, column, detail: format!("{path}: {detail}") }
        }
        (e, _) => e,
    })?;
    if let Some((document, object, path)) = pass.unknown {
        return Err(ManifestError::UnknownField { file: file.to_owned(), document, object, path });
    }
    Ok(objects)
}

fn yaml_options() -> serde_saphyr::Options {
    serde_saphyr::options! {
        // The budget's defaults bound events, nodes, depth (64), aliases and the alias to
        // anchor ratio: an alias bomb or deep nesting ends early with an error.
        budget: Some(serde_saphyr::Budget::default()),
        // 0644 is octal, as in kubectl's YAML (1.1): defaultMode: 0644 means rw-r--r--.
        legacy_octal_numbers: true,
        with_snippet: false,
    }
}

fn yaml_docs<T: for<'de> Deserialize<'de>>(file: &Path, text: &str) -> Result<Vec<T>, ManifestError> {
    serde_saphyr::from_multiple_with_options(text, yaml_options()).map_err(|e| {
        let (line, column) = e.location().map(|l| (l.line(), l.column())).unwrap_or((0, 0));
        ManifestError::Parse { file: file.to_owned(), line, column, detail: yaml_message(&e) }
    })
}

/// serde-saphyr's message on one line, without the location it appends (the error line
/// starts with it), with the fix for a breached budget.
fn yaml_message(e: &serde_saphyr::Error) -> String {
    let msg = e.to_string();
    let first = msg.lines().next().unwrap_or_default();
    let msg = first.split(" at line ").next().unwrap_or_default();
    if msg.starts_with("budget breached") || msg.contains("recursion limit") {
        format!("{msg}: the YAML is too large, too deeply nested or expands aliases too far to be read safely; write the manifest out plainly")
    } else {
        msg.to_owned()
    }
}

fn json_docs<T: for<'de> Deserialize<'de>>(file: &Path, text: &str) -> Result<Vec<T>, ManifestError> {
    let text = text.trim_start_matches('\u{feff}');
    serde_json::Deserializer::from_str(text).into_iter::<T>().collect::<Result<Vec<_>, _>>().map_err(|e| {
        let detail = e.to_string();
        let detail = match detail.rfind(" at line ") {
            Some(i) => detail[..i].to_owned(),
            None => detail,
        };
        ManifestError::Parse { file: file.to_owned(), line: e.line() as u64, column: e.column() as u64, detail }
    })
}

impl<'de> Deserialize<'de> for Object {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let (head, document) = PASS.with(|p| {
            let mut p = p.borrow_mut();
            p.document += 1;
            (p.heads.pop_front(), p.document)
        });
        let head = head.ok_or_else(|| D::Error::custom("the documents changed between two reads of the file"))?;
        let name = head.metadata.and_then(|m| m.name).unwrap_or_default();
        let Some(kind) = head.kind else {
            return Err(D::Error::custom("the document has no `kind`: add one (e.g. `apiVersion: v1` and `kind: Pod`)"));
        };
        if head.api_version.is_none() {
            return Err(D::Error::custom(format!(
                "the {kind} has no `apiVersion`: add it (v1 for a Pod, ConfigMap or Secret; apps/v1 for a Deployment, DaemonSet, StatefulSet or ReplicaSet; batch/v1 for a Job or CronJob)"
            )));
        }
        let object = format!("{kind}/{name}");
        Ok(match kind.as_str() {
            "Pod" => Object::Pod(typed(d, document, &object)?),
            "Deployment" => Object::Deployment(typed(d, document, &object)?),
            "DaemonSet" => Object::DaemonSet(typed(d, document, &object)?),
            "StatefulSet" => Object::StatefulSet(typed(d, document, &object)?),
            "ReplicaSet" => Object::ReplicaSet(typed(d, document, &object)?),
            "ReplicationController" => Object::ReplicationController(typed(d, document, &object)?),
            "Job" => Object::Job(typed(d, document, &object)?),
            "CronJob" => Object::CronJob(typed(d, document, &object)?),
            "ConfigMap" => Object::ConfigMap(typed(d, document, &object)?),
            "Secret" => Object::Secret(typed(d, document, &object)?),
            "List" => {
                return Err(D::Error::custom(
                    "a List is not read: put each of its items in a document of its own (separated by `---`)",
                ))
            }
            _ => {
                IgnoredAny::deserialize(d)?;
                Object::Other { kind, name }
            }
        })
    }
}

/// `T` from `d`, recording the first field `T` ignored and, on error, the error's path.
fn typed<'de, D: Deserializer<'de>, T: Deserialize<'de>>(d: D, document: usize, object: &str) -> Result<T, D::Error> {
    let mut track = serde_path_to_error::Track::new();
    let mut unknown: Option<String> = None;
    let res = serde_ignored::deserialize(serde_path_to_error::Deserializer::new(d, &mut track), |p| {
        unknown.get_or_insert_with(|| ignored_path(&p));
    });
    PASS.with(|pass| {
        let mut pass = pass.borrow_mut();
        match &res {
            Ok(_) => {
                if let (None, Some(path)) = (&pass.unknown, unknown) {
                    pass.unknown = Some((document, object.to_owned(), path));
                }
            }
            Err(_) => pass.error_path = Some(error_path(&track.path())),
        }
    });
    res
}

/// A serde_ignored path as Kubernetes writes field paths: `spec.containers[0].imagePullPolicyy`.
fn ignored_path(p: &serde_ignored::Path) -> String {
    use serde_ignored::Path as P;
    match p {
        P::Root => String::new(),
        P::Seq { parent, index } => format!("{}[{index}]", ignored_path(parent)),
        P::Map { parent, key } => {
            let parent = ignored_path(parent);
            if parent.is_empty() {
                key.clone()
            } else {
                format!("{parent}.{key}")
            }
        }
        P::Some { parent } | P::NewtypeStruct { parent } | P::NewtypeVariant { parent } => ignored_path(parent),
    }
}

fn error_path(p: &serde_path_to_error::Path) -> String {
    use serde_path_to_error::Segment;
    let mut out = String::new();
    for seg in p.iter() {
        match seg {
            Segment::Seq { index } => out.push_str(&format!("[{index}]")),
            Segment::Map { key } | Segment::Enum { variant: key } => {
                if !out.is_empty() {
                    out.push('.');
                }
                out.push_str(key);
            }
            Segment::Unknown => {}
        }
    }
    out
}
