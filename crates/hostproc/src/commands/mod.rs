//! One file per command.

pub mod checkpoint;
pub mod create;
pub mod delete;
pub mod events;
pub mod exec;
pub mod features;
#[cfg(feature = "pod")]
pub mod image;
pub mod kill;
pub mod list;
pub mod pause;
pub mod restore;
#[cfg(feature = "pod")]
pub mod pod;
pub mod ps;
pub mod run;
pub mod spec;
pub mod start;
pub mod state;
pub mod update;

/// A command's outcome: the exit code, or an error printed and logged by `main`.
pub type Result = std::result::Result<u8, hostproc_container::ContainerError>;
