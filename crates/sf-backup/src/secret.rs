use std::fmt;

/// A secret value (a storage connection string or a password) that never shows itself in `Debug` or `Display`
/// output, so logging a request, a [`BackupStorage`](crate::BackupStorage) or an error cannot leak it.
///
/// ```
/// use sf_backup::Secret;
///
/// let secret = Secret::new("AccountKey=abc");
/// assert_eq!(format!("{secret:?}"), "<redacted>");
/// assert_eq!(secret.to_string(), "<redacted>");
/// assert_eq!(secret.expose_secret(), "AccountKey=abc");
/// ```
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    /// Wraps a secret value.
    pub fn new(value: impl Into<String>) -> Self {
        Self(value.into())
    }

    /// The secret in clear. The name makes every place that reveals a secret easy to find in review.
    pub fn expose_secret(&self) -> &str {
        &self.0
    }

    /// The secret in clear, by value: for moving it into a request body without a copy.
    pub(crate) fn into_exposed(self) -> String {
        self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("<redacted>")
    }
}

impl fmt::Display for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("<redacted>")
    }
}

impl From<String> for Secret {
    fn from(value: String) -> Self {
        Self(value)
    }
}

impl From<&str> for Secret {
    fn from(value: &str) -> Self {
        Self(value.to_owned())
    }
}

impl From<&String> for Secret {
    fn from(value: &String) -> Self {
        Self(value.clone())
    }
}
