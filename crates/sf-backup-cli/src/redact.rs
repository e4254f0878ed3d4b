//! Keeping secrets out of everything printed: the values are gathered before clap runs (its errors may quote
//! arguments) and removed from every message.

use std::ffi::OsString;

/// The flags whose values are secrets, so that they can be removed from anything printed, clap's errors included.
const SECRET_FLAGS: [&str; 3] = [
    "--connection-string",
    "--primary-password",
    "--secondary-password",
];
/// The environment variables whose values are secrets.
const SECRET_ENV: [&str; 4] = [
    "SF_BACKUP_CONNECTION_STRING",
    "SF_BACKUP_PRIMARY_PASSWORD",
    "SF_BACKUP_SECONDARY_PASSWORD",
    "SF_PFX_PASSWORD",
];

/// Secret values from the command line and the environment, gathered before clap runs: clap's own error
/// messages may quote arguments.
pub fn known_secrets(args: &[OsString]) -> Redactor {
    let mut redact = Redactor::default();
    let mut next_is_secret = false;
    for arg in args.iter().filter_map(|arg| arg.to_str()) {
        if std::mem::take(&mut next_is_secret) {
            redact.add(arg);
            continue;
        }
        for flag in SECRET_FLAGS {
            if arg == flag {
                next_is_secret = true;
            } else if let Some(value) = arg
                .strip_prefix(flag)
                .and_then(|rest| rest.strip_prefix('='))
            {
                redact.add(value);
            }
        }
    }
    for var in SECRET_ENV {
        if let Ok(value) = std::env::var(var) {
            redact.add(&value);
        }
    }
    redact
}

/// Removes secret values from text before it is printed. The facade already keeps secrets out of its messages;
/// this is the second line of defence for text the tool does not control (clap's errors echo arguments, serde's
/// errors echo values).
#[derive(Debug, Default)]
pub struct Redactor {
    secrets: Vec<String>,
}

impl Redactor {
    /// Very short values would blank out ordinary words of a message while protecting nothing worth protecting.
    const MIN_LEN: usize = 4;

    /// Remembers a secret value.
    pub fn add(&mut self, secret: &str) {
        if secret.len() >= Self::MIN_LEN && !self.secrets.iter().any(|known| known == secret) {
            self.secrets.push(secret.to_owned());
            // Longest first, so a secret containing another is replaced whole.
            self.secrets
                .sort_by_key(|known| std::cmp::Reverse(known.len()));
        }
    }

    /// `text` with every remembered secret replaced by `<redacted>`.
    pub fn apply(&self, text: &str) -> String {
        self.secrets.iter().fold(text.to_owned(), |text, secret| {
            text.replace(secret.as_str(), "<redacted>")
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secrets_are_replaced_longest_first() {
        let mut redact = Redactor::default();
        redact.add("abcd");
        redact.add("abcd1234");
        redact.add("x");
        assert_eq!(
            redact.apply("pw abcd1234 and abcd and x"),
            "pw <redacted> and <redacted> and x"
        );
    }
}
