//! Who may do what in an origin, in the terms the depot and its clients share: an
//! [`AccountName`], the [`Role`] an account holds in an origin and a package's [`Visibility`].
//!
//! Roles rank lowest first (`ReadonlyMember < Member < Maintainer < Administrator < Owner`): an
//! action that needs a role is allowed to that role and every higher one. The API names roles
//! and visibilities in snake case (`readonly_member`, `private`); [`Role::as_str`], `Display`,
//! `FromStr` and serde all use those names. The rules of each role are in docs/api.md, "Roles".
//!
//! ```
//! use habitat_core::access::{AccountName, Role, Visibility};
//!
//! let role: Role = "maintainer".parse()?;
//! assert!(role >= Role::Member && role < Role::Administrator);
//! assert_eq!(role.to_string(), "maintainer");
//! assert_eq!("private".parse::<Visibility>()?, Visibility::Private);
//!
//! let alice: AccountName = "alice".parse()?;
//! assert_eq!(alice.as_str(), "alice");
//! assert!("alice smith".parse::<AccountName>().is_err());
//! # Ok::<(), habitat_core::Error>(())
//! ```

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::ident::string_newtype;

/// An account's role in an origin, lowest first: `Ord` follows the ranking, so a check for a
/// minimum role is `role >= minimum`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    /// Reads the origin's private packages.
    ReadonlyMember,
    /// Also uploads packages.
    Member,
    /// Also promotes, demotes and deletes packages, manages channels and invites accounts.
    Maintainer,
    /// Also uploads keys and changes members' roles.
    Administrator,
    /// Created the origin; also deletes it and removes members. An origin has exactly one.
    Owner,
}

impl Role {
    /// Every role, lowest first.
    pub const ALL: [Self; 5] = [
        Self::ReadonlyMember,
        Self::Member,
        Self::Maintainer,
        Self::Administrator,
        Self::Owner,
    ];

    /// The role's name in the API (`readonly_member`, `member`, ...).
    pub fn as_str(self) -> &'static str {
        match self {
            Self::ReadonlyMember => "readonly_member",
            Self::Member => "member",
            Self::Maintainer => "maintainer",
            Self::Administrator => "administrator",
            Self::Owner => "owner",
        }
    }

    /// The role named `text` in the API, or `None`; `FromStr` does the same with an error that
    /// names the text.
    pub fn parse(text: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|role| role.as_str() == text)
    }
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Role {
    type Err = Error;

    /// Parses an API role name; [`Error::NotOneOf`] names anything else.
    fn from_str(text: &str) -> Result<Self> {
        Self::parse(text).ok_or_else(|| Error::NotOneOf {
            what: "role",
            input: text.to_owned(),
            expected: "`readonly_member`, `member`, `maintainer`, `administrator` or `owner`",
        })
    }
}

/// Who may read a package: everyone, or the members of its origin only.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Visibility {
    /// Everyone, signed in or not.
    #[default]
    Public,
    /// Members of the package's origin (`readonly_member` or higher) only.
    Private,
}

impl Visibility {
    /// The visibility's name in the API (`public` or `private`).
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Public => "public",
            Self::Private => "private",
        }
    }

    /// The visibility named `text` in the API, or `None`; `FromStr` does the same with an error
    /// that names the text.
    pub fn parse(text: &str) -> Option<Self> {
        [Self::Public, Self::Private]
            .into_iter()
            .find(|visibility| visibility.as_str() == text)
    }
}

impl fmt::Display for Visibility {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Visibility {
    type Err = Error;

    /// Parses an API visibility name; [`Error::NotOneOf`] names anything else.
    fn from_str(text: &str) -> Result<Self> {
        Self::parse(text).ok_or_else(|| Error::NotOneOf {
            what: "package visibility",
            input: text.to_owned(),
            expected: "`public` or `private`",
        })
    }
}

/// The longest account name.
const MAX_ACCOUNT_NAME_LEN: usize = 64;

/// An account name: 1 to 64 ASCII letters, digits, `_` or `-`, so it is safe as a URL path
/// segment and in a log line. Case matters: `Alice` and `alice` are two accounts.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct AccountName(String);
string_newtype!(AccountName);

impl FromStr for AccountName {
    type Err = Error;

    /// Checks the rule; [`Error::InvalidValue`] names a name that breaks it.
    fn from_str(s: &str) -> Result<Self> {
        let allowed = |b: u8| b.is_ascii_alphanumeric() || b == b'_' || b == b'-';
        if s.is_empty() || s.len() > MAX_ACCOUNT_NAME_LEN || !s.bytes().all(allowed) {
            return Err(Error::InvalidValue {
                what: "account name",
                input: s.to_owned(),
                reason: "use 1 to 64 letters, digits, `_` or `-`",
            });
        }
        Ok(Self(s.to_owned()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[track_caller]
    fn roundtrip(input: &str) {
        let name: AccountName = input.parse().unwrap();
        assert_eq!(name.to_string(), input);
        assert_eq!(name.to_string().parse::<AccountName>().unwrap(), name);
    }

    #[test]
    fn roles_rank_lowest_first_and_use_the_api_names() {
        assert!(Role::ALL.windows(2).all(|pair| pair[0] < pair[1]));
        let names: Vec<_> = Role::ALL.iter().map(|r| r.to_string()).collect();
        assert_eq!(
            names,
            [
                "readonly_member",
                "member",
                "maintainer",
                "administrator",
                "owner"
            ]
        );
        for role in Role::ALL {
            assert_eq!(role.as_str().parse::<Role>().unwrap(), role);
            assert_eq!(Role::parse(role.as_str()), Some(role));
            let json = serde_json::to_string(&role).unwrap();
            assert_eq!(json, format!("\"{role}\""));
            assert_eq!(serde_json::from_str::<Role>(&json).unwrap(), role);
        }
    }

    #[test]
    fn unknown_roles_and_visibilities_are_named() {
        let err = "admin".parse::<Role>().unwrap_err().to_string();
        assert!(err.starts_with("`admin` is not a role: expected"), "{err}");
        assert_eq!(Role::parse("Owner"), None);
        let err = "secret".parse::<Visibility>().unwrap_err().to_string();
        assert_eq!(
            err,
            "`secret` is not a package visibility: expected `public` or `private`"
        );
        assert!(serde_json::from_str::<Role>(r#""admin""#).is_err());
    }

    #[test]
    fn visibilities_default_to_public() {
        assert_eq!(Visibility::default(), Visibility::Public);
        for visibility in [Visibility::Public, Visibility::Private] {
            assert_eq!(
                visibility.as_str().parse::<Visibility>().unwrap(),
                visibility
            );
            let json = serde_json::to_string(&visibility).unwrap();
            assert_eq!(json, format!("\"{visibility}\""));
        }
        assert_eq!(Visibility::parse("PRIVATE"), None);
    }

    #[test]
    fn account_names() {
        roundtrip("alice");
        roundtrip("Zed");
        roundtrip("bob_2-x");
        roundtrip(&"a".repeat(64));
        for bad in ["", "a b", "a/b", ".", "..", "é", "alice\n", &"a".repeat(65)] {
            let err = bad.parse::<AccountName>().unwrap_err().to_string();
            assert_eq!(
                err,
                format!("invalid account name `{bad}`: use 1 to 64 letters, digits, `_` or `-`")
            );
        }
        let name: AccountName = serde_json::from_str(r#""alice""#).unwrap();
        assert_eq!(serde_json::to_string(&name).unwrap(), r#""alice""#);
        assert!(serde_json::from_str::<AccountName>(r#""a b""#).is_err());
        assert_eq!(AccountName::try_from("bob").unwrap().as_str(), "bob");
    }

    proptest! {
        #[test]
        fn account_name_parsing_never_panics_and_round_trips(s in "\\PC{0,70}") {
            if let Ok(name) = s.parse::<AccountName>() {
                prop_assert_eq!(name.to_string(), s);
            }
        }

        #[test]
        fn valid_account_names_round_trip(s in "[A-Za-z0-9_-]{1,64}") {
            let name: AccountName = s.parse().unwrap();
            prop_assert_eq!(name.as_str(), s.as_str());
            let json = serde_json::to_string(&name).unwrap();
            prop_assert_eq!(serde_json::from_str::<AccountName>(&json).unwrap(), name);
        }
    }
}
