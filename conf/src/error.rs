//! Configuration errors, and turning byte offsets into the "file:line: key" a person can find.

use std::fmt;
use std::ops::Range;

use toml::Spanned;

use crate::locate::key_path_at;

/// A configuration error, located as precisely as the input allows.
///
/// Displays as "FILE:LINE: KEY: MESSAGE", leaving out the parts that are unknown.
#[derive(Debug, thiserror::Error)]
pub struct ConfError {
    /// The file name, "<default>" for the embedded configuration, "<command line>" for options.
    pub file: String,
    /// 1-based line of the offending key or value.
    pub line: Option<usize>,
    /// Key path of the offending value, e.g. "slave[1].addresses[0]" or "--lcores".
    pub key: Option<String>,
    pub message: String,
}

impl fmt::Display for ConfError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.file)?;
        if let Some(line) = self.line {
            write!(f, ":{line}")?;
        }
        if let Some(key) = &self.key {
            write!(f, ": {key}")?;
        }
        write!(f, ": {}", self.message)
    }
}

/// The text being parsed and its name, so that spans become "file:line" locations.
pub(crate) struct Source<'a> {
    pub origin: &'a str,
    pub text: &'a str,
}

impl Source<'_> {
    /// 1-based line holding byte `offset`.
    fn line_of(&self, offset: usize) -> usize {
        let before = &self.text.as_bytes()[..offset.min(self.text.len())];
        before.iter().filter(|&&byte| byte == b'\n').count() + 1
    }

    /// An error about something absent, which has no line.
    pub fn missing(&self, key: &str, message: impl Into<String>) -> ConfError {
        self.error(None, Some(key.to_string()), message.into())
    }

    /// An error about the value (or table) at `span`.
    pub fn error_at(&self, span: Range<usize>, key: &str, message: impl Into<String>) -> ConfError {
        self.error(Some(span), Some(key.to_string()), message.into())
    }

    /// Checks the value `at` with `check`, locating its error message at the value.
    pub fn check_at<T, U>(
        &self,
        at: &Spanned<T>,
        key: &str,
        check: impl FnOnce(&T) -> Result<U, String>,
    ) -> Result<U, ConfError> {
        check(at.get_ref()).map_err(|message| self.error_at(at.span(), key, message))
    }

    /// Parses the string value `at` with `parse`, locating its error message at the value.
    pub fn parse_at<T>(
        &self,
        at: &Spanned<String>,
        key: &str,
        parse: impl FnOnce(&str) -> Result<T, String>,
    ) -> Result<T, ConfError> {
        self.check_at(at, key, |text| parse(text))
    }

    /// "file:line: key", how a runtime error names the place a setting came from.
    pub fn place(&self, span: Range<usize>, key: &str) -> String {
        format!("{}:{}: {key}", self.origin, self.line_of(span.start))
    }

    /// An error of toml's deserializer (syntax, unknown key, wrong type), with the key found from its span.
    pub fn toml_error(&self, error: &toml::de::Error) -> ConfError {
        let offset = error.span().map(|span| span.start);
        let key = offset.and_then(|offset| key_path_at(self.text, offset));
        let message = error.message().trim().replace('\n', ": ");
        self.error(error.span(), key, message)
    }

    fn error(&self, span: Option<Range<usize>>, key: Option<String>, message: String) -> ConfError {
        ConfError {
            file: self.origin.to_string(),
            line: span.map(|span| self.line_of(span.start)),
            key,
            message,
        }
    }
}
