//! The access token: sent, never shown.

use std::fmt;

use reqwest::header::HeaderValue;
use serde::{Deserialize, Deserializer};

use crate::error::{Error, Result};

/// The prefix of the depot's tokens (`hab_<base64url>`), the only part ever shown.
const PREFIX: &str = "hab_";

/// An access token. Its `Debug` and `Display` show `hab_…***` (or `***`), never the secret;
/// [`Token::expose_secret`] is the one way to read it.
#[derive(Clone, PartialEq, Eq)]
pub struct Token(String);

impl Token {
    /// Wraps a token (surrounding whitespace is trimmed).
    ///
    /// # Errors
    /// [`Error::InvalidToken`] when it is empty or holds characters that cannot be sent in an
    /// HTTP header (whitespace, control characters, non-ASCII). The error does not show it.
    pub fn new(secret: impl Into<String>) -> Result<Self> {
        let secret = secret.into();
        let trimmed = secret.trim();
        if trimmed.is_empty() {
            return Err(Error::InvalidToken {
                reason: "the token is empty",
            });
        }
        if !trimmed.bytes().all(|b| b.is_ascii_graphic()) {
            return Err(Error::InvalidToken {
                reason: "a token holds only visible ASCII characters",
            });
        }
        Ok(Self(trimmed.to_owned()))
    }

    /// The secret, for the one place that must send or store it.
    pub fn expose_secret(&self) -> &str {
        &self.0
    }

    /// `Authorization: Bearer …`, marked sensitive so that HTTP layers do not log it.
    pub(crate) fn header(&self) -> Result<HeaderValue> {
        let mut value = HeaderValue::from_str(&format!("Bearer {}", self.0)).map_err(|_| {
            Error::InvalidToken {
                reason: "a token holds only visible ASCII characters",
            }
        })?;
        value.set_sensitive(true);
        Ok(value)
    }

    /// `text` with every occurrence of the secret replaced by `***`.
    pub(crate) fn scrub(&self, text: &str) -> String {
        text.replace(&self.0, "***")
    }
}

impl fmt::Display for Token {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.0.starts_with(PREFIX) {
            write!(f, "{PREFIX}…***")
        } else {
            f.write_str("***")
        }
    }
}

impl fmt::Debug for Token {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Token({self})")
    }
}

impl std::str::FromStr for Token {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self> {
        Self::new(s)
    }
}

/// The new token in the answer to `POST /v1/profile/access-tokens`.
impl<'de> Deserialize<'de> for Token {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> std::result::Result<Self, D::Error> {
        Self::new(String::deserialize(deserializer)?).map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn never_shown() {
        let secret = "hab_c2VjcmV0LXNlY3JldC1zZWNyZXQtc2VjcmV0";
        let token = Token::new(format!("  {secret}\n")).unwrap();
        assert_eq!(token.expose_secret(), secret);
        assert_eq!(token.to_string(), "hab_…***");
        assert_eq!(format!("{token:?}"), "Token(hab_…***)");
        assert_eq!(format!("{:?}", Token::new("opaque").unwrap()), "Token(***)");
        let header = token.header().unwrap();
        assert!(header.is_sensitive());
        assert!(!format!("{header:?}").contains("c2Vj"));
        assert_eq!(token.scrub(&format!("echo: {secret}!")), "echo: ***!");
    }

    #[test]
    fn refused_tokens_are_not_echoed() {
        for bad in ["", "   ", "hab_a b", "hab_\u{e9}t\u{e9}", "hab_\x07"] {
            let err = Token::new(bad).unwrap_err();
            assert!(matches!(err, Error::InvalidToken { .. }), "{bad:?}");
            assert!(!err.to_string().contains("hab_"), "{err}");
        }
    }
}
