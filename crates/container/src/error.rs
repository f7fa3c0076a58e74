use std::io;
use std::path::PathBuf;

use hostproc_job::JobError;
use hostproc_storage::StorageError;

/// What went wrong with a container, naming the input or path and, where there is one,
/// the fix.
#[derive(Debug, thiserror::Error)]
pub enum ContainerError {
    #[error("container id {0:?} is not valid: use 1 to 255 letters, digits and . _ + - (not . or ..)")]
    BadId(String),
    #[error("cannot read {path}: {source}")]
    ReadBundle { path: PathBuf, source: io::Error },
    #[error("{path} is not a valid OCI runtime config: {detail}")]
    BadConfig { path: PathBuf, detail: String },
    #[error("ociVersion {0:?} is not supported: hostproc implements runtime-spec 1.0.0 to {max}", max = crate::OCI_VERSION)]
    Version(String),
    #[error("{path} is not a valid {what}: {detail}")]
    BadJson { path: PathBuf, what: &'static str, detail: String },
    #[error("{path} is not hostproc's state: {detail}")]
    BadState { path: PathBuf, detail: String },
    #[error("{field}: {detail}")]
    Invalid { field: String, detail: String },
    #[error("annotation {key}={value:?}: {detail}")]
    Annotation { key: String, value: String, detail: String },
    #[error("container {0} already exists")]
    Exists(String),
    #[error("container {0} does not exist")]
    NotExist(String),
    #[error("container not running")]
    NotRunning,
    #[error("cannot delete container {id} that is not stopped: {status}")]
    NotStopped { id: String, status: String },
    #[error("{0}")]
    Start(String),
    #[error("cannot {what} {path}: {source}")]
    Io { what: &'static str, path: PathBuf, source: io::Error },
    #[error(transparent)]
    Job(#[from] JobError),
    #[error(transparent)]
    Storage(#[from] StorageError),
    #[error(transparent)]
    Checkpoint(#[from] crate::checkpoint::CheckpointError),
    #[error(transparent)]
    Hook(#[from] crate::hooks::HookError),
}

impl ContainerError {
    pub fn invalid(field: impl Into<String>, detail: impl Into<String>) -> Self {
        ContainerError::Invalid { field: field.into(), detail: detail.into() }
    }
}

pub(crate) fn io_err(what: &'static str, path: impl Into<PathBuf>) -> impl FnOnce(io::Error) -> ContainerError {
    let path = path.into();
    move |source| ContainerError::Io { what, path, source }
}
