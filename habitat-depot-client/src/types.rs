//! What the depot answers, as typed values. Field names are the JSON's (docs/api.md); fields the
//! API does not promise on every depot are optional or default to empty.

use std::fmt;
use std::str::FromStr;

use habitat_core::{
    Blake2bHash, ChannelName, FullyQualifiedIdent, OriginName, PackageIdent, PackageTarget,
};
use serde::{Deserialize, Deserializer};
use time::OffsetDateTime;

use crate::token::Token;

/// Roles and visibilities are the core's: the depot answers with the same types.
pub use habitat_core::access::{Role, Visibility};

/// `GET /v1/profile`: the caller's account.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
#[non_exhaustive]
pub struct Profile {
    /// Account id.
    pub id: String,
    /// Account name.
    pub name: String,
    /// E-mail address, if known.
    #[serde(default)]
    pub email: Option<String>,
    /// When the account was created.
    #[serde(with = "habitat_core::timestamp::rfc3339")]
    pub created_at: OffsetDateTime,
}

/// One of the caller's access tokens (never its secret).
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
#[non_exhaustive]
pub struct AccessToken {
    /// Token id, for [`delete_access_token`](crate::Client::delete_access_token).
    pub id: String,
    /// Its name.
    pub name: String,
    /// When it was made.
    #[serde(with = "habitat_core::timestamp::rfc3339")]
    pub created_at: OffsetDateTime,
    /// When it was last used, if ever.
    #[serde(default, with = "habitat_core::timestamp::rfc3339::option")]
    pub last_used_at: Option<OffsetDateTime>,
    /// When it expires, if ever.
    #[serde(default, with = "habitat_core::timestamp::rfc3339::option")]
    pub expires_at: Option<OffsetDateTime>,
}

/// A token just made: the only time its secret is available.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
#[non_exhaustive]
pub struct NewAccessToken {
    /// The token's record.
    #[serde(flatten)]
    pub info: AccessToken,
    /// The secret (shown as `hab_…***` by `Debug`).
    pub token: Token,
}

/// An origin the caller belongs to, with their role.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
#[non_exhaustive]
pub struct UserOrigin {
    /// The origin.
    pub name: OriginName,
    /// The caller's role in it.
    pub role: Role,
}

/// An origin.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
#[non_exhaustive]
pub struct Origin {
    /// Its name.
    pub name: OriginName,
    /// The owner's account name.
    pub owner: String,
    /// The visibility new packages get.
    pub default_package_visibility: Visibility,
    /// When it was created.
    #[serde(with = "habitat_core::timestamp::rfc3339")]
    pub created_at: OffsetDateTime,
}

/// A member of an origin.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
#[non_exhaustive]
pub struct Member {
    /// Account name.
    pub name: String,
    /// Role in the origin.
    pub role: Role,
}

/// One entry of an origin's audit log (docs/api.md, "The audit log").
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
#[non_exhaustive]
pub struct AuditEntry {
    /// Its id (grows with every entry).
    pub id: i64,
    /// When, in RFC 3339.
    pub at: String,
    /// The account that acted.
    pub account: String,
    /// What it did (`upload`, `promote`, `role_change`, ...).
    pub action: String,
    /// The client's address, when recorded.
    pub address: Option<String>,
    /// The channel of a promotion or demotion.
    pub channel: Option<String>,
    /// The package or key acted on.
    pub ident: Option<String>,
    /// The package's target.
    pub target: Option<String>,
    /// A short detail (the member and role of a role change, ...).
    pub detail: Option<String>,
}

/// Which entries of an audit log to list: each field given must match exactly.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct AuditFilter {
    /// The action.
    pub action: Option<String>,
    /// The package or key.
    pub ident: Option<String>,
    /// The account that acted.
    pub account: Option<String>,
}

/// An invitation to join an origin.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
#[non_exhaustive]
pub struct Invitation {
    /// Invitation id, for accept, ignore and rescind.
    pub id: String,
    /// The origin.
    pub origin: OriginName,
    /// The invitee's account name.
    pub account: String,
    /// Who invited them.
    pub invited_by: String,
    /// When (the depot sends it in UTC without an offset, as Builder does).
    #[serde(deserialize_with = "utc_time")]
    pub created_at: OffsetDateTime,
}

/// A public origin key in a key listing (newest first).
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
#[non_exhaustive]
pub struct KeyInfo {
    /// The origin.
    pub origin: OriginName,
    /// Its 14-digit revision.
    pub revision: String,
    /// The key's path, as Builder gives it (`/origins/<o>/keys/<rev>`).
    #[serde(default)]
    pub location: String,
}

/// One page of a listing: `{range_start, range_end, total_count, data}` (docs/api.md,
/// "Pagination").
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
#[non_exhaustive]
pub struct Page<T> {
    /// Offset of the first item.
    pub range_start: u64,
    /// Offset of the last item.
    pub range_end: u64,
    /// Items in the whole listing.
    pub total_count: u64,
    /// The items.
    pub data: Vec<T>,
}

impl<T> Page<T> {
    /// Where the next page starts, or `None` when this was the last.
    pub fn next_start(&self) -> Option<u64> {
        let next = self.range_start.saturating_add(self.data.len() as u64);
        (!self.data.is_empty() && next < self.total_count).then_some(next)
    }
}

/// Which page of a listing to ask for.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct PageRequest {
    /// 0-based offset (`?range=`).
    pub start: u64,
    /// Page size (`?limit=`; the depot's default is 50, its maximum 500).
    pub limit: Option<u64>,
}

impl PageRequest {
    /// The page starting at `start`, of the depot's default size.
    pub fn at(start: u64) -> Self {
        Self { start, limit: None }
    }

    /// This page with `limit` items at most.
    pub fn with_limit(self, limit: u64) -> Self {
        Self {
            limit: Some(limit),
            ..self
        }
    }
}

/// A package in a listing or search: its ident and target.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Deserialize)]
#[non_exhaustive]
pub struct ListedPackage {
    /// The package.
    #[serde(flatten)]
    pub ident: FullyQualifiedIdent,
    /// Its target (Builder's listings do not say: then the default target).
    #[serde(default)]
    pub target: PackageTarget,
}

/// A package: what `show`, `latest` and the visibility routes answer.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
#[non_exhaustive]
pub struct Package {
    /// The package.
    pub ident: FullyQualifiedIdent,
    /// Its target.
    pub target: PackageTarget,
    /// BLAKE2b-256 of the whole `.hart` file.
    #[serde(deserialize_with = "from_str")]
    pub checksum: Blake2bHash,
    /// MANIFEST.
    pub manifest: String,
    /// default.toml.
    pub config: String,
    /// DEPS.
    pub deps: Vec<FullyQualifiedIdent>,
    /// TDEPS, dependencies before dependents.
    pub tdeps: Vec<FullyQualifiedIdent>,
    /// BUILD_DEPS.
    #[serde(default)]
    pub build_deps: Vec<FullyQualifiedIdent>,
    /// BUILD_TDEPS.
    #[serde(default)]
    pub build_tdeps: Vec<FullyQualifiedIdent>,
    /// EXPOSES.
    pub exposes: Vec<u16>,
    /// Who may see it.
    #[serde(default)]
    pub visibility: Visibility,
    /// The channels it is in.
    #[serde(default)]
    pub channels: Vec<ChannelName>,
    /// Size of the `.hart` in bytes (0 when the depot does not say).
    #[serde(default)]
    pub size: u64,
    /// Whether it runs as a service (has SVC_USER).
    #[serde(default)]
    pub is_a_service: bool,
    /// The account that uploaded it.
    #[serde(default)]
    pub owner: Option<String>,
    /// Upload time (`None` when the depot does not send RFC 3339).
    #[serde(
        default,
        deserialize_with = "habitat_core::timestamp::rfc3339::lenient"
    )]
    pub created_at: Option<OffsetDateTime>,
}

/// `GET /v1/depot/channels/{o}/{c}/manifest`: a channel's whole membership for one target.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
#[non_exhaustive]
pub struct ChannelManifest {
    /// The origin.
    pub origin: OriginName,
    /// The channel.
    pub channel: ChannelName,
    /// The target every member is built for.
    pub target: PackageTarget,
    /// The members, by ident.
    pub packages: Vec<ManifestEntry>,
}

/// One member of a [`ChannelManifest`].
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
#[non_exhaustive]
pub struct ManifestEntry {
    /// The package.
    pub ident: FullyQualifiedIdent,
    /// Its target.
    pub target: PackageTarget,
    /// BLAKE2b-256 of the whole `.hart` file.
    #[serde(deserialize_with = "from_str")]
    pub checksum: Blake2bHash,
    /// Size of the `.hart` in bytes (0 when the depot does not say).
    #[serde(default)]
    pub size: u64,
    /// TDEPS, dependencies before dependents.
    #[serde(default)]
    pub tdeps: Vec<FullyQualifiedIdent>,
    /// The account that uploaded it.
    #[serde(default)]
    pub owner: Option<String>,
}

/// What [`Client::channel_manifest`](crate::Client::channel_manifest) found.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ManifestAnswer {
    /// The manifest is the one of the `ETag` given (304).
    Unchanged,
    /// The manifest, and its `ETag` when the depot sent one.
    Changed {
        /// The manifest.
        manifest: ChannelManifest,
        /// Its `ETag`, to give back next time.
        etag: Option<String>,
    },
}

/// A channel a package is in.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
#[non_exhaustive]
pub struct PackageChannel {
    /// The channel.
    pub name: ChannelName,
    /// When the package was promoted into it.
    #[serde(
        default,
        deserialize_with = "habitat_core::timestamp::rfc3339::lenient"
    )]
    pub promoted_at: Option<OffsetDateTime>,
}

/// One version of a package in `GET …/versions`.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
#[non_exhaustive]
pub struct VersionInfo {
    /// The version.
    pub version: String,
    /// How many releases it has.
    pub release_count: u64,
    /// Its latest release.
    pub latest: String,
    /// Targets it is built for.
    #[serde(default)]
    pub platforms: Vec<PackageTarget>,
}

/// `{origin, name, rdeps}` of `GET /v1/rdeps/{o}/{n}`.
#[derive(Deserialize)]
pub(crate) struct Rdeps {
    pub(crate) rdeps: Vec<String>,
}

/// `{origin, members}` of `GET …/users`.
#[derive(Deserialize)]
pub(crate) struct Members {
    pub(crate) members: Vec<Member>,
}

/// `{origin, invitations}` of `GET …/invitations`.
#[derive(Deserialize)]
pub(crate) struct Invitations {
    pub(crate) invitations: Vec<Invitation>,
}

/// `{name}` of the channel listings.
#[derive(Deserialize)]
pub(crate) struct Named {
    pub(crate) name: ChannelName,
}

/// `{origin, source, target, changed}` of the bulk promote and demote.
#[derive(Deserialize)]
pub(crate) struct BulkChange {
    pub(crate) changed: u64,
}

/// `{role}`.
#[derive(Deserialize)]
pub(crate) struct RoleBody {
    pub(crate) role: Role,
}

/// Parses an `origin/name` of the rdeps listing.
pub(crate) fn partial_ident(text: &str) -> Result<PackageIdent, habitat_core::Error> {
    text.parse()
}

/// An RFC 3339 time, or one in UTC without an offset (`2026-11-24T05:17:25`, with any fraction
/// of a second): the form Builder, and this depot, give the times of invitations.
fn utc_time<'de, D: Deserializer<'de>>(deserializer: D) -> Result<OffsetDateTime, D::Error> {
    let text = String::deserialize(deserializer)?;
    habitat_core::timestamp::parse_rfc3339(&text)
        .or_else(|e| habitat_core::timestamp::parse_rfc3339(&format!("{text}Z")).map_err(|_| e))
        .map_err(serde::de::Error::custom)
}

pub(crate) fn from_str<'de, D, T>(deserializer: D) -> Result<T, D::Error>
where
    D: Deserializer<'de>,
    T: FromStr,
    T::Err: fmt::Display,
{
    String::deserialize(deserializer)?
        .parse()
        .map_err(serde::de::Error::custom)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn roles_rank_and_parse() {
        assert!(Role::Owner > Role::Administrator);
        assert!(Role::Member > Role::ReadonlyMember);
        for role in [
            "readonly_member",
            "member",
            "maintainer",
            "administrator",
            "owner",
        ] {
            assert_eq!(role.parse::<Role>().unwrap().as_str(), role);
        }
        let err = "admin".parse::<Role>().unwrap_err();
        assert!(
            err.to_string().starts_with("`admin` is not a role"),
            "{err}"
        );
        assert_eq!(
            "private".parse::<Visibility>().unwrap(),
            Visibility::Private
        );
    }

    #[test]
    fn pages_know_what_follows() {
        let page = |start, len: usize, total| Page {
            range_start: start,
            range_end: start + len as u64 - 1,
            total_count: total,
            data: vec![(); len],
        };
        assert_eq!(page(0, 50, 120).next_start(), Some(50));
        assert_eq!(page(100, 20, 120).next_start(), None);
        let empty: Page<()> = Page {
            range_start: 0,
            range_end: 0,
            total_count: 10,
            data: vec![],
        };
        assert_eq!(empty.next_start(), None);
    }

    #[test]
    fn invitation_times_come_with_or_without_an_offset() {
        let json = |at: &str| {
            format!(
                r#"{{"id":"1","origin":"acme","account":"bob","invited_by":"alice",
                    "created_at":"{at}"}}"#
            )
        };
        let naive: Invitation = serde_json::from_str(&json("2026-11-24T05:17:25")).unwrap();
        let zoned: Invitation = serde_json::from_str(&json("2026-11-24T05:17:25Z")).unwrap();
        assert_eq!(naive.created_at, zoned.created_at);
        let fraction: Invitation =
            serde_json::from_str(&json("2026-11-24T05:17:25.123456")).unwrap();
        assert_eq!(fraction.created_at.second(), 25);
        let err = serde_json::from_str::<Invitation>(&json("yesterday")).unwrap_err();
        assert!(err.to_string().contains("yesterday"), "{err}");
    }

    #[test]
    fn builder_style_package_json() {
        // The fields Builder always sends, with its offset-less timestamp.
        let json = r#"{
            "ident": {"origin":"core","name":"redis","version":"4.0.14","release":"20190319155852"},
            "target": "x86_64-linux",
            "checksum": "0000000000000000000000000000000000000000000000000000000000000000",
            "manifest": "", "config": "", "deps": [], "tdeps": [], "exposes": [6379],
            "created_at": "2019-03-19T15:58:52.123456"
        }"#;
        let package: Package = serde_json::from_str(json).unwrap();
        assert_eq!(
            package.ident.to_string(),
            "core/redis/4.0.14/20190319155852"
        );
        assert_eq!(package.exposes, vec![6379]);
        assert_eq!(package.created_at, None);
        assert_eq!(package.visibility, Visibility::Public);
    }
}
