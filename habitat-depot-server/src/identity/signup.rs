//! Sign-in or sign-up: an identity (provider id + subject) maps to exactly one account. Its
//! first sign-in creates the account, named after the provider's user name made to fit the
//! account-name rules, or a free variant of it (`name-2`, ...) when another account has it.
//! Later sign-ins find the identity by its subject, whatever its user name has become.

use crate::AppState;
use crate::store::{Account, NewIdentity, StoreError, StoreResult};

/// The longest account name (habitat_core's rule).
const MAX_NAME: usize = 64;
/// How many variants of a taken name are tried before giving up.
const MAX_VARIANTS: u32 = 1000;

/// What signing in did.
#[derive(Debug)]
pub(crate) enum Outcome {
    /// A known identity: its account.
    SignedIn(Account),
    /// A new identity: its new account, and why its name is not the provider's user name.
    SignedUp {
        /// The new account.
        account: Account,
        /// Why the name differs, if it does.
        changed: Option<NameChange>,
    },
}

/// Why a new account's name is not the provider's user name.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum NameChange {
    /// The user name has characters (or a length) account names cannot have.
    Rules,
    /// Another account has the name (`wanted`).
    Taken {
        /// The name that was taken.
        wanted: String,
    },
}

impl NameChange {
    /// The reason, for the welcome page.
    pub(crate) fn explain(&self, username: &str) -> String {
        match self {
            Self::Rules => format!(
                "Account names are 1 to {MAX_NAME} letters, digits, `_` or `-`, so `{username}` \
                 was changed to fit."
            ),
            Self::Taken { wanted } => format!(
                "Another account already has the name `{wanted}`, so this free variant was \
                 chosen."
            ),
        }
    }
}

impl Outcome {
    /// The signed-in account.
    pub(crate) fn account(&self) -> &Account {
        match self {
            Self::SignedIn(account) | Self::SignedUp { account, .. } => account,
        }
    }
}

/// Signs `identity` in, or up on its first sign-in.
pub(crate) async fn sign_in_or_up(
    state: &AppState,
    identity: &NewIdentity,
) -> StoreResult<Outcome> {
    if let Some(account) = known(state, identity).await? {
        return Ok(Outcome::SignedIn(account));
    }
    let base = fit_name(&identity.username);
    for n in 1..=MAX_VARIANTS {
        let name = variant(&base, n);
        match state.metadata.sign_up(&name, identity).await {
            Ok(account) => {
                let changed = name_change(&account.name, &identity.username);
                return Ok(Outcome::SignedUp { account, changed });
            }
            Err(StoreError::Conflict(what)) if what.starts_with("account") => continue,
            Err(StoreError::Conflict(_)) => {
                // The same identity signed up at the same moment in another request.
                if let Some(account) = known(state, identity).await? {
                    return Ok(Outcome::SignedIn(account));
                }
                return Err(StoreError::Conflict(format!(
                    "identity `{}` of `{}`",
                    identity.subject, identity.provider
                )));
            }
            Err(e) => return Err(e),
        }
    }
    Err(StoreError::Refused(format!(
        "no free account name like `{base}`: the first {MAX_VARIANTS} are taken"
    )))
}

/// Why an account made from the user name `username` is named `account` instead, if it is.
pub(crate) fn name_change(account: &str, username: &str) -> Option<NameChange> {
    let wanted = fit_name(username);
    if account != wanted {
        Some(NameChange::Taken { wanted })
    } else if wanted != username {
        Some(NameChange::Rules)
    } else {
        None
    }
}

/// The account of a known identity, its sign-in recorded.
async fn known(state: &AppState, identity: &NewIdentity) -> StoreResult<Option<Account>> {
    let Some((_, account)) = state
        .metadata
        .identity(&identity.provider, &identity.subject)
        .await?
    else {
        return Ok(None);
    };
    state.metadata.record_sign_in(identity).await?;
    Ok(Some(account))
}

/// A user name made to fit the account-name rules: other ASCII characters become `-`, other
/// characters are dropped, `-` is trimmed from both ends, and the length is cut to leave room
/// for a variant's suffix. Nothing left gives `user`.
pub(crate) fn fit_name(username: &str) -> String {
    let mapped: String = username
        .chars()
        .filter(char::is_ascii)
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '_' || c == '-' {
                c
            } else {
                '-'
            }
        })
        .collect();
    let trimmed = mapped.trim_matches('-');
    // Room for `-1000`.
    let cut: String = trimmed.chars().take(MAX_NAME - 5).collect();
    let cut = cut.trim_end_matches('-');
    if cut.is_empty() {
        "user".to_owned()
    } else {
        cut.to_owned()
    }
}

/// The `n`th name tried: the name, then `name-2`, `name-3`...
fn variant(base: &str, n: u32) -> String {
    if n == 1 {
        base.to_owned()
    } else {
        format!("{base}-{n}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_made_to_fit_the_rules() {
        assert_eq!(fit_name("alice"), "alice");
        assert_eq!(fit_name("Alice.Smith"), "Alice-Smith");
        assert_eq!(fit_name("bob@example.com"), "bob-example-com");
        assert_eq!(fit_name("  émile  "), "mile");
        assert_eq!(fit_name("日本"), "user");
        assert_eq!(fit_name(&"x".repeat(100)).len(), MAX_NAME - 5);
        for name in ["a.b", "--x--", &"y".repeat(200), "ok_name-1"] {
            let fitted = fit_name(name);
            assert!(
                fitted.parse::<habitat_core::AccountName>().is_ok(),
                "{fitted}"
            );
            assert!(
                variant(&fitted, MAX_VARIANTS)
                    .parse::<habitat_core::AccountName>()
                    .is_ok()
            );
        }
        assert_eq!(variant("alice", 1), "alice");
        assert_eq!(name_change("alice", "alice"), None);
        assert_eq!(name_change("a-b", "a.b"), Some(NameChange::Rules));
        assert_eq!(
            name_change("alice-2", "alice"),
            Some(NameChange::Taken {
                wanted: "alice".into()
            })
        );
        assert_eq!(variant("alice", 2), "alice-2");
    }
}
