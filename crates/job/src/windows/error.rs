use std::io;
use std::path::PathBuf;

/// What went wrong with a Windows job (a Job Object), and with which job or file.
#[derive(Debug, thiserror::Error)]
pub enum JobError {
    #[error("cannot create the job object {name}: {source}")]
    Create { name: String, source: io::Error },
    #[error("the job object {name} exists already: another container (or a crashed hostproc still holding it) uses this id; choose another id or delete that container")]
    Exists { name: String },
    #[error("cannot open the job object {name}: {source} (it lives only while the container's monitor holds it: is the container still running?)")]
    Open { name: String, source: io::Error },
    #[error("cannot set {limit} to {value} on the job object {name}: {source}")]
    Limit { limit: &'static str, value: String, name: String, source: io::Error },
    #[error("{limit} = {value} is out of range: {hint}")]
    OutOfRange { limit: &'static str, value: String, hint: &'static str },
    #[error("windows.resources.cpu: count ({count:?}), shares ({shares:?}) and maximum ({maximum:?}) are mutually exclusive (a Job Object has one CPU rate control); give only one")]
    CpuExclusive { count: Option<u64>, shares: Option<u16>, maximum: Option<u16> },
    #[error("cannot {what} of the job object {name}: {source}")]
    Io { what: &'static str, name: String, source: io::Error },
    #[error("{what} is not possible on Windows: {why}")]
    Unsupported { what: String, why: &'static str },
    #[error("the command line is empty: give process.args or process.commandLine")]
    EmptyCommand,
    #[error("the command line {0:?} has an opening quote without a closing one")]
    Unterminated(String),
    #[error("cannot find the executable {name:?}: searched {searched}; give its full path or put its directory in PATH")]
    NotFound { name: String, searched: String },
    #[error("the executable {0} is a directory")]
    IsDirectory(PathBuf),
    #[error("the working directory {path} does not exist or is not a directory")]
    Cwd { path: PathBuf },
    #[error("cannot read the default environment of this user (CreateEnvironmentBlock): {0}")]
    Environment(io::Error),
    #[error("cannot {what} process {pid}: {source}")]
    Process { what: &'static str, pid: u32, source: io::Error },
    #[error("cannot start {path} in the job object {name}: {source}")]
    Spawn { path: PathBuf, name: String, source: io::Error },
}
