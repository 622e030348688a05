//! Commands of DPDK's telemetry socket (`dpdk-telemetry.py` reads them as it reads
//! `/ethdev/stats`): a command is answered by a Rust closure, called on DPDK's telemetry
//! thread. DPDK's callbacks carry no user data, so one C callback finds the closure by name.

use std::collections::BTreeMap;
use std::ffi::{c_char, c_int, CStr, CString};
use std::sync::{Arc, Mutex};

use dpdk_sys::rte_tel_data;

use crate::{DpdkError, Eal, Result};

/// What a command answers: a dict, or a list of strings. DPDK allows one level of nesting
/// only: a dict's value is a scalar or a list of scalars.
#[derive(Debug, Clone, PartialEq)]
pub enum Telemetry {
    Dict(Vec<(String, TelemetryValue)>),
    Strings(Vec<String>),
}

#[derive(Debug, Clone, PartialEq)]
pub enum TelemetryValue {
    U64(u64),
    Str(String),
    U64s(Vec<u64>),
    Strs(Vec<String>),
}

/// Answers a command: its parameters (the text after the first ','), if any; `None`: the
/// request is refused (bad parameters).
type Handler = Arc<dyn Fn(Option<&str>) -> Option<Telemetry> + Send + Sync>;

static HANDLERS: Mutex<BTreeMap<String, Handler>> = Mutex::new(BTreeMap::new());

const EINVAL: c_int = 22;

/// Registers `command` (e.g. "/ipvlan/stats") with its help text. A command registered again
/// is answered by the newer closure.
pub fn register_telemetry(
    _eal: &Eal,
    command: &str,
    help: &str,
    handler: impl Fn(Option<&str>) -> Option<Telemetry> + Send + Sync + 'static,
) -> Result<()> {
    let longest = dpdk_sys::RTE_TEL_MAX_STRING_LEN as usize - 1;
    if help.len() > longest {
        let message = format!(
            "the help of telemetry command {command} is {} bytes; at most {longest}",
            help.len()
        );
        return Err(DpdkError::new(message, EINVAL));
    }
    let (ccommand, chelp) = (c_string(command)?, c_string(help)?);
    let mut handlers = HANDLERS.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
    let fresh = handlers.insert(command.to_string(), Arc::new(handler)).is_none();
    if fresh {
        // SAFETY: valid C strings (telemetry copies them); `answer` matches telemetry_cb.
        let rc =
            unsafe { dpdk_sys::rte_telemetry_register_cmd(ccommand.as_ptr(), Some(answer), chelp.as_ptr()) };
        if rc < 0 {
            handlers.remove(command);
            return Err(DpdkError::new(
                format!("rte_telemetry_register_cmd({command})"),
                -rc,
            ));
        }
    }
    Ok(())
}

fn c_string(text: &str) -> Result<CString> {
    CString::new(text).map_err(|_| DpdkError::new(format!("{text:?} contains a NUL byte"), EINVAL))
}

/// The one callback of every command registered here.
extern "C" fn answer(command: *const c_char, params: *const c_char, data: *mut rte_tel_data) -> c_int {
    // SAFETY: telemetry passes NUL-terminated strings (params may be NULL) valid for the call.
    let (command, params) = unsafe {
        let params = (!params.is_null()).then(|| CStr::from_ptr(params));
        (CStr::from_ptr(command), params)
    };
    let params = params.and_then(|p| p.to_str().ok()).filter(|p| !p.is_empty());
    let handler = {
        let handlers = HANDLERS.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        command.to_str().ok().and_then(|c| handlers.get(c).cloned())
    };
    match handler.and_then(|handler| handler(params)) {
        // SAFETY: `data` is the telemetry library's, for this call.
        Some(telemetry) => unsafe { fill(data, &telemetry) },
        None => -EINVAL,
    }
}

/// A dict key as telemetry takes it: alphanumerics, '_' and '/' only.
fn key(name: &str) -> CString {
    let safe: String = name
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '/' {
                c
            } else {
                '_'
            }
        })
        .collect();
    CString::new(safe).expect("no NUL is left")
}

/// A value string: whatever it holds, without NUL bytes.
fn text(value: &str) -> CString {
    CString::new(value.replace('\0', "")).expect("no NUL is left")
}

/// # Safety
/// `data` must be the telemetry library's data of the current callback.
unsafe fn fill(data: *mut rte_tel_data, telemetry: &Telemetry) -> c_int {
    use dpdk_sys::*;
    // SAFETY (the whole body): `data` is valid (the caller's promise); every string passed
    // lives across its call (telemetry copies it); arrays come from rte_tel_data_alloc.
    let entries = match telemetry {
        Telemetry::Strings(list) => {
            add_array(data, Scalars::Str(list));
            return 0;
        }
        Telemetry::Dict(entries) => entries,
    };
    rte_tel_data_start_dict(data);
    for (name, value) in entries {
        let name = key(name);
        let scalars = match value {
            TelemetryValue::U64(n) => {
                rte_tel_data_add_dict_u64(data, name.as_ptr(), *n);
                continue;
            }
            TelemetryValue::Str(s) => {
                rte_tel_data_add_dict_string(data, name.as_ptr(), text(s).as_ptr());
                continue;
            }
            TelemetryValue::U64s(list) => Scalars::U64(list),
            TelemetryValue::Strs(list) => Scalars::Str(list),
        };
        let array = rte_tel_data_alloc();
        if array.is_null() {
            return -12; // ENOMEM
        }
        add_array(array, scalars);
        // keep = 0: the library frees the array with the answer.
        rte_tel_data_add_dict_container(data, name.as_ptr(), array, 0);
    }
    0
}

/// The values of one telemetry array.
enum Scalars<'a> {
    U64(&'a [u64]),
    Str(&'a [String]),
}

/// # Safety
/// `array` must be a telemetry data structure not started yet.
unsafe fn add_array(array: *mut rte_tel_data, scalars: Scalars) {
    use dpdk_sys::*;
    // SAFETY (the whole body): `array` is valid (the caller's promise); strings live across
    // each call.
    match scalars {
        Scalars::U64(list) => {
            rte_tel_data_start_array(array, rte_tel_value_type_RTE_TEL_U64_VAL);
            for n in list {
                rte_tel_data_add_array_u64(array, *n);
            }
        }
        Scalars::Str(list) => {
            rte_tel_data_start_array(array, rte_tel_value_type_RTE_TEL_STRING_VAL);
            for s in list {
                rte_tel_data_add_array_string(array, text(s).as_ptr());
            }
        }
    }
}
