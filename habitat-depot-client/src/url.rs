//! The depot's base URL, as docs/api.md ("Conventions") reads it.

use std::fmt;
use std::str::FromStr;

use habitat_core::ChannelName;
use reqwest::Url;

use crate::error::{Error, Result};

/// A depot's API root (the `/v1` URL every route lives under), plus the channel named by a
/// seed-era view URL.
///
/// | given | API root | channel |
/// |---|---|---|
/// | `http://host[:port][/prefix]` | `…/v1` appended | none |
/// | `…/v1` or `…/v1/depot` | `…/v1` | none |
/// | `…/v1/depot/views/NAME` | `…/v1` | `NAME` |
///
/// Only `http` and `https` are accepted; URLs with credentials, a query or a fragment are
/// refused, as is a path that mentions `v1` in any other shape (`…/v1/depot/pkgs`).
#[derive(Clone, PartialEq, Eq)]
pub struct DepotUrl {
    root: Url,
    channel: Option<ChannelName>,
}

impl DepotUrl {
    /// Parses a base URL; see the type's documentation for the accepted shapes.
    ///
    /// # Errors
    /// [`Error::InvalidUrl`] naming the URL and what is wrong with it.
    pub fn parse(input: &str) -> Result<Self> {
        let trimmed = input.trim();
        let invalid = |reason: &str| Error::InvalidUrl {
            url: redact(trimmed),
            reason: reason.to_owned(),
        };
        let mut url = Url::parse(trimmed).map_err(|e| invalid(&e.to_string()))?;
        if !matches!(url.scheme(), "http" | "https") {
            return Err(invalid(&format!(
                "the scheme `{}` is not supported: expected `http` or `https`",
                url.scheme()
            )));
        }
        if url.host_str().is_none_or(str::is_empty) {
            return Err(invalid("the URL has no host"));
        }
        if !url.username().is_empty() || url.password().is_some() {
            return Err(invalid(
                "credentials in the URL are not supported: use a token",
            ));
        }
        if url.query().is_some() || url.fragment().is_some() {
            return Err(invalid("the URL must not have a query or a fragment"));
        }
        let segments: Vec<String> = url
            .path_segments()
            .map(|s| s.filter(|s| !s.is_empty()).map(str::to_owned).collect())
            .unwrap_or_default();
        let words: Vec<&str> = segments.iter().map(String::as_str).collect();
        let v1 = words.iter().position(|s| *s == "v1");
        let (prefix, channel) = match (v1, v1.map(|i| &words[i + 1..])) {
            (None, _) => (words.as_slice(), None),
            (Some(i), Some([] | ["depot"])) => (&words[..i], None),
            (Some(i), Some(["depot", "views", name])) => {
                let channel = name
                    .parse::<ChannelName>()
                    .map_err(|e| invalid(&format!("`{name}` is not a channel (view) name: {e}")))?;
                (&words[..i], Some(channel))
            }
            (Some(_), _) => {
                return Err(invalid(
                    "expected `http://host[:port]`, or a URL ending in `/v1`, `/v1/depot` or \
                     `/v1/depot/views/NAME`",
                ));
            }
        };
        let mut path: String = prefix.iter().map(|s| format!("/{s}")).collect();
        path.push_str("/v1");
        url.set_path(&path);
        Ok(Self { root: url, channel })
    }

    /// The API root, ending in `/v1` (no trailing slash).
    pub fn api_root(&self) -> &Url {
        &self.root
    }

    /// The channel a view URL (`…/v1/depot/views/NAME`) names; it overrides the channel the
    /// caller would otherwise use (see [`crate::Client::channel_or`]).
    pub fn channel(&self) -> Option<&ChannelName> {
        self.channel.as_ref()
    }

    /// Whether requests go over TLS.
    pub fn is_https(&self) -> bool {
        self.root.scheme() == "https"
    }

    /// The URL of `segments` under the API root, each segment percent-encoded.
    pub(crate) fn join<'a>(&self, segments: impl IntoIterator<Item = &'a str>) -> Url {
        let mut url = self.root.clone();
        // An http(s) URL with a host (checked by `parse`) always has path segments.
        if let Ok(mut path) = url.path_segments_mut() {
            path.pop_if_empty().extend(segments);
        }
        url
    }
}

/// The URL with its password (if any) replaced, for error messages.
fn redact(input: &str) -> String {
    match Url::parse(input) {
        Ok(mut url) if url.password().is_some() => {
            let _ = url.set_password(Some("***"));
            url.to_string()
        }
        _ => input.to_owned(),
    }
}

impl FromStr for DepotUrl {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self> {
        Self::parse(s)
    }
}

impl TryFrom<&str> for DepotUrl {
    type Error = Error;
    fn try_from(s: &str) -> Result<Self> {
        Self::parse(s)
    }
}

/// The API root, or for a view URL the view URL: it parses back to the same value.
impl fmt::Display for DepotUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.channel {
            Some(channel) => write!(f, "{}/depot/views/{channel}", self.root),
            None => write!(f, "{}", self.root),
        }
    }
}

impl fmt::Debug for DepotUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "DepotUrl({self})")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[track_caller]
    fn accepts(input: &str, root: &str, channel: Option<&str>) {
        let url = DepotUrl::parse(input).unwrap_or_else(|e| panic!("{input}: {e}"));
        assert_eq!(url.api_root().as_str(), root, "{input}");
        assert_eq!(url.channel().map(ChannelName::as_str), channel, "{input}");
        let again = DepotUrl::parse(&url.to_string()).unwrap();
        assert_eq!(again, url, "{input} does not round-trip through `{url}`");
    }

    #[track_caller]
    fn refuses(input: &str, reason: &str) {
        match DepotUrl::parse(input) {
            Ok(url) => panic!("{input} was accepted as {url}"),
            Err(e) => assert!(e.to_string().contains(reason), "{input}: {e}"),
        }
    }

    #[test]
    fn accepted_shapes() {
        for (input, root, channel) in [
            ("http://localhost:9636", "http://localhost:9636/v1", None),
            ("http://localhost:9636/", "http://localhost:9636/v1", None),
            (
                "https://bldr.habitat.sh",
                "https://bldr.habitat.sh/v1",
                None,
            ),
            ("  http://host  ", "http://host/v1", None),
            ("http://host/v1", "http://host/v1", None),
            ("http://host/v1/", "http://host/v1", None),
            ("http://host/v1/depot", "http://host/v1", None),
            ("http://host/v1/depot/", "http://host/v1", None),
            ("http://host/bldr", "http://host/bldr/v1", None),
            ("http://host/bldr/v1/depot", "http://host/bldr/v1", None),
            ("HTTP://Host:80/v1", "http://host/v1", None),
            (
                "http://host/v1/depot/views/myview",
                "http://host/v1",
                Some("myview"),
            ),
            (
                "http://127.0.0.1:9636/v1/depot/views/stable/",
                "http://127.0.0.1:9636/v1",
                Some("stable"),
            ),
            ("http://[::1]:9636/v1", "http://[::1]:9636/v1", None),
        ] {
            accepts(input, root, channel);
        }
    }

    #[test]
    fn refused_shapes() {
        for (input, reason) in [
            ("ftp://host/v1", "the scheme `ftp` is not supported"),
            ("file:///tmp/depot", "the scheme `file` is not supported"),
            ("localhost:9636", "the scheme `localhost` is not supported"),
            ("host:9636", "scheme"),
            ("//host", "relative URL without a base"),
            ("", "relative URL without a base"),
            ("http://user:pw@host/v1", "credentials in the URL"),
            ("http://host/v1?x=1", "query"),
            ("http://host/v1#top", "fragment"),
            ("http://host/v1/depot/pkgs", "expected `http://host[:port]`"),
            (
                "http://host/v1/depot/views",
                "expected `http://host[:port]`",
            ),
            (
                "http://host/v1/depot/views/a/b",
                "expected `http://host[:port]`",
            ),
            ("http://host/v1/depot/views/no%20way", "not a channel"),
        ] {
            refuses(input, reason);
        }
    }

    #[test]
    fn passwords_are_not_echoed() {
        let err = DepotUrl::parse("http://me:hunter2@host/v1").unwrap_err();
        assert!(!err.to_string().contains("hunter2"), "{err}");
    }

    #[test]
    fn segments_are_encoded() {
        let url = DepotUrl::parse("http://host/v1/depot").unwrap();
        let joined = url.join([
            "depot",
            "pkgs",
            "core",
            "redis",
            "1.0+b?#",
            "20200101000000",
        ]);
        assert_eq!(
            joined.as_str(),
            "http://host/v1/depot/pkgs/core/redis/1.0+b%3F%23/20200101000000"
        );
        assert_eq!(
            url.join(["depot", "pkgs", "search", "core/redis"]).as_str(),
            "http://host/v1/depot/pkgs/search/core%2Fredis"
        );
    }
}
