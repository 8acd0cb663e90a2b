//! Who may see or do what: the one place that decides, for the API and for anything else that
//! shows or changes an origin (the rules are listed in docs/api.md, "Roles").
//!
//! Two layers:
//! - [`permits`] is pure: may a caller with this role (or none) do this [`Action`]? A page asks it
//!   to show or hide a control; [`authorize`] asks it too, so the two cannot disagree.
//! - [`authorize`] answers a request: it finds the origin and the caller's role in it, and
//!   returns a [`Permit`] or the refusal to send (401 without a token, 404 for an unknown origin,
//!   403 below the action's role), in that order, so that a refusal never tells an anonymous
//!   caller whether an origin exists.
//!
//! Rules about *whom* an action may touch (the owner, oneself, the invitee, the default channels)
//! are pure functions here too, each answering 403 with the sentence the API has always sent.
//! The stores keep their own transactional guards for the same rules (a second line, not a
//! second policy).
//!
//! Private packages exist only for members: [`Permit::sees_private`] for one origin,
//! [`private_scope`] for listings and search, which the stores turn
//! into one visibility clause.

use habitat_core::{ChannelName, OriginName};

use crate::AppState;
use crate::auth::{Caller, needs_token};
use crate::error::{ApiError, ApiResult};
use crate::store::{Account, Invitation, Origin, Package, Role, Visibility};

/// Something a caller may ask to do in an origin.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Action {
    /// See the origin, its public packages, channels and public keys: anyone.
    Read,
    /// See the origin's private packages: `readonly_member`.
    ReadPrivate,
    /// List the members and the pending invitations: `readonly_member`.
    ListMembers,
    /// Read one member's role: `member`.
    ReadMemberRole,
    /// Upload packages: `member`.
    Upload,
    /// Accept or ignore one's own invitation: any account (the invitee rule is
    /// [`check_invitee`]).
    AnswerInvitation,
    /// Leave an origin one is a member of: any account (the owner cannot, see
    /// [`check_departure`]).
    Depart,
    /// Promote, demote, delete packages and change their visibility: `maintainer`.
    ManagePackages,
    /// Create and delete channels: `maintainer`.
    ManageChannels,
    /// Invite accounts and rescind invitations: `maintainer`.
    Invite,
    /// Change members' roles: `administrator`.
    SetRoles,
    /// Upload public and secret keys, download the secret key: `administrator`.
    ManageKeys,
    /// Change the origin's settings (the visibility of new packages): `administrator`.
    ManageSettings,
    /// Remove members: `owner`.
    RemoveMembers,
    /// Delete the origin: `owner`.
    DeleteOrigin,
    /// Hand the origin to another member: `owner`.
    TransferOrigin,
    /// Read the origin's audit log: `maintainer`.
    ReadAudit,
}

/// Who may ask for an action.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Requirement {
    /// Anyone, anonymous callers included.
    Anyone,
    /// Any account (a token), whatever its role.
    Account,
    /// A member with at least this role.
    Role(Role),
}

impl Action {
    /// Who may ask for it.
    pub const fn requirement(self) -> Requirement {
        match self {
            Self::Read => Requirement::Anyone,
            Self::AnswerInvitation | Self::Depart => Requirement::Account,
            Self::ReadPrivate | Self::ListMembers => Requirement::Role(Role::ReadonlyMember),
            Self::ReadMemberRole | Self::Upload => Requirement::Role(Role::Member),
            Self::ManagePackages | Self::ManageChannels | Self::Invite | Self::ReadAudit => {
                Requirement::Role(Role::Maintainer)
            }
            Self::SetRoles | Self::ManageKeys | Self::ManageSettings => {
                Requirement::Role(Role::Administrator)
            }
            Self::RemoveMembers | Self::DeleteOrigin | Self::TransferOrigin => {
                Requirement::Role(Role::Owner)
            }
        }
    }
}

/// Whether a caller with `role` in an origin (`None`: anonymous, or not a member) may do
/// `action` there. An account that is not a member passes [`Requirement::Account`]: use
/// [`authorize`] where the caller may be anonymous.
pub fn permits(role: Option<Role>, action: Action) -> bool {
    match action.requirement() {
        Requirement::Anyone | Requirement::Account => true,
        Requirement::Role(min) => role.is_some_and(|role| role >= min),
    }
}

/// What [`authorize`] found: the origin, and who asked with which role there.
#[derive(Clone, Debug)]
pub struct Permit {
    /// The origin, which exists.
    pub origin: Origin,
    /// The caller's account; always there for actions that need one.
    pub account: Option<Account>,
    /// The caller's role in the origin (`None`: anonymous or not a member).
    pub role: Option<Role>,
}

impl Permit {
    /// The caller's account. Permits of actions that need an account always have one; for the
    /// others this is the 401 the caller would have had.
    pub fn account(&self) -> ApiResult<&Account> {
        self.account.as_ref().ok_or_else(needs_token)
    }

    /// Whether the caller may do `action` in this origin too.
    pub fn permits(&self, action: Action) -> bool {
        permits(self.role, action)
    }

    /// Whether the caller may see this origin's private packages.
    pub fn sees_private(&self) -> bool {
        self.permits(Action::ReadPrivate)
    }

    /// [`private_scope`] for a listing of this origin, from the role already found.
    pub fn private_scope(&self) -> Vec<OriginName> {
        if self.sees_private() {
            vec![self.origin.name.clone()]
        } else {
            Vec::new()
        }
    }
}

/// Answers whether the caller may do `action` in `origin`: a [`Permit`], or the refusal to
/// send. In order: 401 when the action needs a token and there is none; 404 for an unknown
/// origin (403 for an upload, which has nothing to upload into); 403 below the action's role.
pub async fn authorize(
    state: &AppState,
    caller: &Caller,
    origin: &OriginName,
    action: Action,
) -> ApiResult<Permit> {
    let permit = find(state, caller, origin, action).await?;
    if permit.permits(action) {
        Ok(permit)
    } else {
        Err(refusal(caller, origin, action))
    }
}

/// [`authorize`] for [`Action::ManageKeys`] on a public key upload (`key` names it): a member
/// who may upload packages but not keys learns that a key is already there as 409, since the
/// stock client uploads the public key before every package and takes 409 as "already there".
pub async fn authorize_key_upload(
    state: &AppState,
    caller: &Caller,
    origin: &OriginName,
    revision: &str,
) -> ApiResult<Permit> {
    let action = Action::ManageKeys;
    let permit = find(state, caller, origin, action).await?;
    if permit.permits(action) {
        return Ok(permit);
    }
    if permit.permits(Action::Upload)
        && state.metadata.public_key(origin, revision).await?.is_some()
    {
        return Err(ApiError::conflict(format!(
            "key `{origin}-{revision}` already exists"
        )));
    }
    Err(refusal(caller, origin, action))
}

/// The origin and the caller's role there, without judging the role: 401 when `action` needs a
/// token and there is none, 404 (403 for uploads) when the origin does not exist.
async fn find(
    state: &AppState,
    caller: &Caller,
    origin: &OriginName,
    action: Action,
) -> ApiResult<Permit> {
    if action.requirement() != Requirement::Anyone {
        caller.account()?;
    }
    let Some(found) = state.metadata.origin(origin).await? else {
        return Err(unknown_origin(origin, action));
    };
    let role = match &caller.0 {
        Some(account) => state.metadata.role(origin, account.id).await?,
        None => None,
    };
    Ok(Permit {
        origin: found,
        account: caller.0.clone(),
        role,
    })
}

/// Whether the caller may see `package`: public ones anyone may, private ones only members of
/// its origin. One store call for a private package, none for a public one.
pub async fn sees_package(state: &AppState, caller: &Caller, package: &Package) -> ApiResult<bool> {
    if package.visibility == Visibility::Public {
        return Ok(true);
    }
    let role = match &caller.0 {
        Some(account) => {
            state
                .metadata
                .role(package.ident.origin(), account.id)
                .await?
        }
        None => None,
    };
    Ok(permits(role, Action::ReadPrivate))
}

/// The origins whose private packages a listing may show the caller: for a listing of one
/// `origin`, that origin if the caller may read its private packages; across origins (`None`:
/// search), every such origin. The stores turn this list into their one visibility clause.
pub async fn private_scope(
    state: &AppState,
    caller: &Caller,
    origin: Option<&OriginName>,
) -> ApiResult<Vec<OriginName>> {
    let Some(account) = &caller.0 else {
        return Ok(Vec::new());
    };
    let memberships = match origin {
        Some(origin) => {
            let role = state.metadata.role(origin, account.id).await?;
            role.map(|role| (origin.clone(), role))
                .into_iter()
                .collect()
        }
        None => state.metadata.account_origins(account.id).await?,
    };
    Ok(memberships
        .into_iter()
        .filter(|(_, role)| permits(Some(*role), Action::ReadPrivate))
        .map(|(origin, _)| origin)
        .collect())
}

/// The owner leaves an origin only by deleting it.
pub fn check_removal(origin: &Origin, account: &str) -> ApiResult<()> {
    if origin.owner == account {
        return Err(ApiError::forbidden(format!(
            "`{account}` owns origin `{}` and cannot be removed",
            origin.name
        )));
    }
    Ok(())
}

/// The owner leaves an origin only by handing it to another member first, or by deleting it.
pub fn check_departure(origin: &Origin, account: &str) -> ApiResult<()> {
    if origin.owner == account {
        return Err(ApiError::forbidden(format!(
            "`{account}` owns origin `{}` and cannot depart from it: transfer it to another \
             member first, or delete it",
            origin.name
        )));
    }
    Ok(())
}

/// A role change may not make an owner, change one's own role, or change the owner's role.
pub fn check_role_change(origin: &Origin, me: &Account, account: &str, new: Role) -> ApiResult<()> {
    let name = &origin.name;
    if new == Role::Owner {
        return Err(ApiError::forbidden(format!(
            "nobody can be made owner of origin `{name}` by a role change"
        )));
    }
    if account == me.name {
        return Err(ApiError::forbidden(format!(
            "`{account}` cannot change their own role in origin `{name}`"
        )));
    }
    if account == origin.owner {
        return Err(ApiError::forbidden(format!(
            "`{account}` owns origin `{name}`; the owner's role cannot be changed"
        )));
    }
    Ok(())
}

/// Only its invitee may accept or ignore an invitation (`verb` says which).
pub fn check_invitee(invitation: &Invitation, account: &Account, verb: &str) -> ApiResult<()> {
    if invitation.account != account.name {
        return Err(ApiError::forbidden(format!(
            "only its invitee may {verb} invitation `{}` of origin `{}`",
            invitation.id, invitation.origin
        )));
    }
    Ok(())
}

/// `unstable` and `stable` exist in every origin, always.
pub fn check_channel_deletion(channel: &ChannelName) -> ApiResult<()> {
    if *channel == ChannelName::unstable() || *channel == ChannelName::stable() {
        return Err(ApiError::forbidden(format!(
            "channel `{channel}` cannot be deleted"
        )));
    }
    Ok(())
}

/// A channel this depot mirrors (`[[mirror]]` in the settings) is read-only through the API:
/// only `hab-depot sync` changes it. 403 `mirrored_channel` otherwise.
pub fn check_not_mirrored(
    state: &AppState,
    origin: &OriginName,
    channel: &ChannelName,
) -> ApiResult<()> {
    match state
        .settings
        .mirrors
        .iter()
        .find(|m| m.covers(origin, channel))
    {
        Some(mirror) => Err(ApiError::new(
            axum::http::StatusCode::FORBIDDEN,
            "mirrored_channel",
            format!(
                "channel `{channel}` of origin `{origin}` is mirrored from `{}` and read-only \
                 here",
                mirror.from
            ),
        )),
        None => Ok(()),
    }
}

/// Every upload lives in `unstable`: nothing is demoted from it.
pub fn check_demotion(channel: &ChannelName) -> ApiResult<()> {
    if *channel == ChannelName::unstable() {
        return Err(ApiError::forbidden(format!(
            "packages cannot be demoted from `{channel}`"
        )));
    }
    Ok(())
}

fn unknown_origin(origin: &OriginName, action: Action) -> ApiError {
    if action == Action::Upload {
        ApiError::forbidden(format!(
            "origin `{origin}` does not exist; create it first with `hab origin create {origin}`"
        ))
    } else {
        ApiError::not_found(format!("origin `{origin}` not found"))
    }
}

/// The 403 for a caller below the action's role (or 401 for an anonymous one).
fn refusal(caller: &Caller, origin: &OriginName, action: Action) -> ApiError {
    let (Some(account), Requirement::Role(min)) = (&caller.0, action.requirement()) else {
        return needs_token();
    };
    let purpose = if action == Action::Upload {
        " to upload packages"
    } else {
        ""
    };
    ApiError::forbidden(format!(
        "`{}` needs role `{}` or higher in origin `{origin}`{purpose}",
        account.name,
        min.as_str()
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The lowest role that may do `action`, from `permits` alone.
    fn lowest(action: Action) -> Option<Option<Role>> {
        std::iter::once(None)
            .chain(Role::ALL.map(Some))
            .find(|role| permits(*role, action))
    }

    #[test]
    fn each_action_needs_its_role_and_every_role_above_it_passes() {
        use Action::*;
        let table = [
            (Read, None),
            (AnswerInvitation, None),
            (Depart, None),
            (ReadPrivate, Some(Role::ReadonlyMember)),
            (ListMembers, Some(Role::ReadonlyMember)),
            (ReadMemberRole, Some(Role::Member)),
            (Upload, Some(Role::Member)),
            (ManagePackages, Some(Role::Maintainer)),
            (ManageChannels, Some(Role::Maintainer)),
            (Invite, Some(Role::Maintainer)),
            (SetRoles, Some(Role::Administrator)),
            (ManageKeys, Some(Role::Administrator)),
            (ManageSettings, Some(Role::Administrator)),
            (RemoveMembers, Some(Role::Owner)),
            (DeleteOrigin, Some(Role::Owner)),
            (TransferOrigin, Some(Role::Owner)),
            (ReadAudit, Some(Role::Maintainer)),
        ];
        for (action, min) in table {
            assert_eq!(lowest(action), Some(min), "{action:?}");
            for role in Role::ALL.map(Some).into_iter().filter(|r| *r >= min) {
                assert!(permits(role, action), "{action:?} by {role:?}");
            }
        }
    }

    #[test]
    fn the_default_channels_stay() {
        assert!(check_channel_deletion(&ChannelName::stable()).is_err());
        assert!(check_channel_deletion(&ChannelName::unstable()).is_err());
        assert!(check_demotion(&ChannelName::unstable()).is_err());
        assert!(check_demotion(&ChannelName::stable()).is_ok());
        let extra: ChannelName = "beta".parse().unwrap();
        assert!(check_channel_deletion(&extra).is_ok());
    }
}
