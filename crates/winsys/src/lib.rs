//! hostproc's Windows API calls: Job Objects ([`job`]), process creation in a job, console
//! control events, environment blocks and path search ([`process`]). This crate is the only
//! place with unsafe code for Windows (crates/sys holds the Linux one); each function is a
//! safe wrapper that reports failures as `io::Error` from `GetLastError`. Empty elsewhere.
#![cfg(windows)]

mod job;
mod lifecycle;
mod process;

pub use job::*;
pub use lifecycle::*;
pub use process::*;

use std::io;

/// `s` as a NUL-terminated UTF-16 string; an interior NUL is refused (Windows would cut
/// the string there silently).
pub(crate) fn wide(s: &str) -> io::Result<Vec<u16>> {
    if s.contains('\0') {
        return Err(io::Error::new(io::ErrorKind::InvalidInput, format!("{s:?} contains a NUL character")));
    }
    Ok(s.encode_utf16().chain(Some(0)).collect())
}

/// The result of a Win32 call returning BOOL.
pub(crate) fn check(ok: windows_sys::core::BOOL) -> io::Result<()> {
    if ok == 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(())
    }
}

/// Whether this process runs under Wine (ntdll exports `wine_get_version` there): the
/// tests and the docs say which behaviour was proven under Wine and which needs Windows.
pub fn wine_version() -> Option<String> {
    use windows_sys::Win32::System::LibraryLoader::{GetModuleHandleW, GetProcAddress};
    let ntdll = wide("ntdll.dll").ok()?;
    // SAFETY: ntdll is loaded in every process; the symbol, where it exists, is
    // `const char *wine_get_version(void)` returning a static string.
    unsafe {
        let module = GetModuleHandleW(ntdll.as_ptr());
        if module.is_null() {
            return None;
        }
        let f = GetProcAddress(module, c"wine_get_version".as_ptr().cast())?;
        let f: extern "C" fn() -> *const std::ffi::c_char = std::mem::transmute(f);
        Some(std::ffi::CStr::from_ptr(f()).to_string_lossy().into_owned())
    }
}
