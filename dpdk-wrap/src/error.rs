use std::ffi::CStr;

/// An error from DPDK, carrying DPDK's own text for the error number.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{what}: {text} (error {code}){}", .hint.as_ref().map(|hint| format!("; {hint}")).unwrap_or_default())]
pub struct DpdkError {
    /// What was being done, e.g. `rte_eth_dev_configure(port 0)`.
    pub what: String,
    /// The positive errno-style code.
    pub code: i32,
    /// `rte_strerror(code)`.
    pub text: String,
    /// What the user can do about it, where that is known.
    pub hint: Option<String>,
}

impl DpdkError {
    /// Builds an error from a DPDK return value or `rte_errno` (either sign).
    pub fn new(what: impl Into<String>, code: i32) -> Self {
        let code = code.abs();
        // SAFETY: rte_strerror returns a pointer to a static or thread-local NUL-terminated string.
        let text = unsafe { CStr::from_ptr(dpdk_sys::rte_strerror(code)) }
            .to_string_lossy()
            .into_owned();
        DpdkError {
            what: what.into(),
            code,
            text,
            hint: None,
        }
    }

    /// The same error, with advice a user can act on.
    pub fn with_hint(mut self, hint: impl Into<String>) -> Self {
        self.hint = Some(hint.into());
        self
    }

    /// Builds an error from the calling thread's `rte_errno`.
    pub fn from_errno(what: impl Into<String>) -> Self {
        Self::new(what, errno())
    }
}

/// The calling thread's `rte_errno`.
pub(crate) fn errno() -> i32 {
    // SAFETY: a plain read of a thread-local int through the C accessor.
    unsafe { dpdk_sys::dpdk_sys_errno() }
}

/// Turns a DPDK return code (negative on failure) into a Result.
pub(crate) fn check(what: impl FnOnce() -> String, rc: i32) -> Result<i32, DpdkError> {
    if rc < 0 {
        Err(DpdkError::new(what(), rc))
    } else {
        Ok(rc)
    }
}

/// A C string for DPDK; `what` names the value in the error if it contains a NUL.
pub(crate) fn c_string(what: &str, value: impl Into<Vec<u8>>) -> Result<std::ffi::CString> {
    std::ffi::CString::new(value).map_err(|_| DpdkError::new(format!("{what} contains NUL"), 22))
}

pub type Result<T, E = DpdkError> = std::result::Result<T, E>;
