//! What several pages show the same way: a package in a list, sizes and times, the messages
//! after a form (`?done=`), page links.

use habitat_core::PackageTarget;
use serde::Deserialize;

use crate::store::{Package, Visibility};

/// Rows a listing page shows at once.
pub const PAGE_SIZE: u64 = 30;

/// A package in a list: its ident's parts and where its page is.
pub struct PkgRow {
    /// `origin/name/version/release`.
    pub ident: String,
    /// Origin.
    pub origin: String,
    /// Name.
    pub name: String,
    /// Version.
    pub version: String,
    /// Release.
    pub release: String,
    /// Target.
    pub target: String,
    /// Whether it is private.
    pub private: bool,
    /// Upload time.
    pub uploaded: String,
    /// The release's page (with `?target=` when not the default target).
    pub href: String,
}

impl PkgRow {
    /// The row of `package`.
    pub fn of(package: &Package) -> Self {
        let ident = &package.ident;
        Self {
            ident: ident.to_string(),
            origin: ident.origin().to_string(),
            name: ident.name().to_string(),
            version: ident.version().to_owned(),
            release: ident.release().to_owned(),
            target: package.target.to_string(),
            private: package.visibility == Visibility::Private,
            uploaded: time(package.created_at),
            href: release_href(package),
        }
    }
}

/// The page of a release, for its target.
pub fn release_href(package: &Package) -> String {
    let ident = &package.ident;
    let base = format!(
        "/pkgs/{}/{}/{}/{}",
        ident.origin(),
        ident.name(),
        encode(ident.version()),
        ident.release()
    );
    if package.target == PackageTarget::default() {
        base
    } else {
        format!("{base}?target={}", package.target)
    }
}

/// A time as the pages show it: RFC 3339, UTC, whole seconds.
pub fn time(at: time::OffsetDateTime) -> String {
    habitat_core::timestamp::format_rfc3339(at)
}

/// A size in bytes, KiB or MiB.
pub fn size(bytes: u64) -> String {
    match bytes {
        b if b < 1024 => format!("{b} bytes"),
        b if b < 1024 * 1024 => format!("{:.1} KiB", b as f64 / 1024.0),
        b => format!("{:.1} MiB", b as f64 / (1024.0 * 1024.0)),
    }
}

/// Percent-encodes `text` for a path segment or a query value.
pub fn encode(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for byte in text.bytes() {
        match byte {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' | b'/' => {
                out.push(byte as char)
            }
            _ => out.push_str(&format!("%{byte:02X}")),
        }
    }
    out
}

/// `?done=` after a form: which fixed message the page shows.
#[derive(Debug, Default, Deserialize)]
pub struct Done {
    /// The message's key.
    pub done: Option<String>,
}

impl Done {
    /// The message, if the key is one of the known ones (anything else shows nothing).
    pub fn message(&self) -> Option<&'static str> {
        Some(match self.done.as_deref()? {
            "origin-created" => "The origin was created.",
            "channel-created" => "The channel was created.",
            "channel-deleted" => "The channel was deleted.",
            "role-changed" => "The role was changed.",
            "member-removed" => "The member was removed.",
            "invited" => "The invitation was sent.",
            "rescinded" => "The invitation was rescinded.",
            "public-key" => "The public key was uploaded.",
            "secret-key" => "The secret key was uploaded.",
            "settings" => "The settings were saved.",
            "promoted" => "The package was promoted.",
            "demoted" => "The package was demoted.",
            "token-revoked" => "The token was revoked.",
            "accepted" => "The invitation was accepted: you are a member now.",
            "ignored" => "The invitation was ignored.",
            _ => return None,
        })
    }
}

/// `?page=` (1-based) of a listing page.
#[derive(Debug, Default, Deserialize)]
pub struct PageNumber {
    /// The page, 1 when absent.
    pub page: Option<u64>,
}

impl PageNumber {
    /// The store's window for this page.
    pub fn window(&self) -> crate::store::Page {
        crate::store::Page {
            offset: (self.number() - 1).saturating_mul(PAGE_SIZE),
            limit: PAGE_SIZE,
        }
    }

    /// The page number, at least 1.
    pub fn number(&self) -> u64 {
        self.page.unwrap_or(1).max(1)
    }
}

/// Links to the pages before and after this one.
pub struct Pager {
    /// This page's number.
    pub number: u64,
    /// How many pages there are.
    pub pages: u64,
    /// The previous page's URL.
    pub prev: Option<String>,
    /// The next page's URL.
    pub next: Option<String>,
}

impl Pager {
    /// The pager of page `number` of `total` rows at `base` (a URL that may end in `?...&`;
    /// `page=N` is appended).
    pub fn new(base: &str, number: u64, total: u64) -> Self {
        let pages = total.div_ceil(PAGE_SIZE).max(1);
        let link = |n: u64| format!("{base}page={n}");
        Self {
            number,
            pages,
            prev: (number > 1).then(|| link(number - 1)),
            next: (number < pages).then(|| link(number + 1)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn encoding_and_sizes() {
        assert_eq!(encode("core/zlib 1+2"), "core/zlib%201%2B2");
        assert_eq!(size(10), "10 bytes");
        assert_eq!(size(2048), "2.0 KiB");
        let pager = Pager::new("/search?q=z&", 2, 61);
        assert_eq!(pager.pages, 3);
        assert_eq!(pager.prev.as_deref(), Some("/search?q=z&page=1"));
        assert_eq!(pager.next.as_deref(), Some("/search?q=z&page=3"));
    }
}
