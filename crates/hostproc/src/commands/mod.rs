//! One file per command.

pub mod delete;
pub mod kill;
pub mod list;
pub mod run;
pub mod spec;
pub mod state;

/// A command's outcome: the exit code, or an error printed and logged by `main`.
pub type Result = std::result::Result<u8, hostproc_container::ContainerError>;
