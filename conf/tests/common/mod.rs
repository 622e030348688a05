//! What the configuration tests share: parsing a file that must be refused, and checking
//! where its error points.
#![allow(dead_code)] // each test binary uses its own subset

use conf::{ConfError, Config};

/// Parses `text`, which must be rejected.
pub fn error_of(text: &str) -> ConfError {
    match Config::parse(text, "s.toml") {
        Ok(config) => panic!("accepted: {config:?}"),
        Err(error) => error,
    }
}

/// Asserts the error's line and key, and that its message mentions `words`.
pub fn assert_error(text: &str, line: usize, key: &str, words: &str) {
    let error = error_of(text);
    assert_eq!(
        (error.file.as_str(), error.line, error.key.as_deref()),
        ("s.toml", Some(line), Some(key)),
        "{error}"
    );
    assert!(error.message.contains(words), "{error}");
}
