//! `hab origin ...` against a depot: create, info, key upload/download, invitations, rbac. The
//! local key commands live in `key.rs`.

use std::path::Path;
use std::process::ExitCode;

use anyhow::{Context, Result, bail};
use habitat_core::OriginName;
use habitat_core::keys::{PublicKey, SecretKey};
use habitat_depot_client::{Client, Role, UploadOutcome};
use time::format_description::well_known::Rfc3339;

use super::remote::{block_on, client};
use super::{DepotArgs, InvitationCommand, KeyCommand, OriginCommand, RbacCommand, RoleArg};
use crate::{out, say, settings};

/// A key file is tiny; anything larger is not one.
const MAX_KEY_FILE: u64 = 64 * 1024;

pub(super) fn run(command: OriginCommand) -> Result<ExitCode> {
    match command {
        OriginCommand::Create { origin, depot } => create(&origin, &depot)?,
        OriginCommand::Info {
            origin,
            json,
            depot,
        } => info(&origin, json, &depot)?,
        OriginCommand::Key { command } => return super::key::run(command),
        OriginCommand::Invitations { command } => invitations(command)?,
        OriginCommand::Rbac { command } => rbac(command)?,
    }
    Ok(ExitCode::SUCCESS)
}

/// `hab origin key upload|download`; the local key commands are in `key.rs`.
pub(super) fn key_remote(command: KeyCommand) -> Result<ExitCode> {
    match command {
        KeyCommand::Upload {
            origin,
            pubfile,
            secret,
            secfile,
            cache,
            depot,
        } => {
            let keys = settings::key_cache(cache.cache_key_path.as_deref())?;
            let public = match (&pubfile, &origin) {
                (Some(file), _) => PublicKey::parse(&read_key_file(file)?)
                    .with_context(|| format!("`{}` is not a public key file", file.display()))?,
                (None, Some(origin)) => keys.latest_public(origin.as_str())?,
                // clap requires one of the two.
                (None, None) => bail!("give an ORIGIN or --pubfile"),
            };
            let secret_key = match (&secfile, secret) {
                (Some(file), _) => {
                    Some(SecretKey::parse(&read_key_file(file)?).with_context(|| {
                        format!("`{}` is not a secret key file", file.display())
                    })?)
                }
                (None, true) => Some(keys.latest_secret(public.name().name())?),
                (None, false) => None,
            };
            let client = client(&depot)?;
            block_on(upload_keys(&client, &public, secret_key.as_ref()))?;
        }
        KeyCommand::Download {
            origin,
            revision,
            secret,
            cache,
            depot,
        } => {
            let keys = settings::key_cache(cache.cache_key_path.as_deref())?;
            let client = client(&depot)?;
            let paths = block_on(async {
                let what = format!("cannot download the keys of `{origin}`");
                if secret {
                    let path = client
                        .download_latest_secret_key(&origin, &keys)
                        .await
                        .context(what)?;
                    Ok(vec![("secret", path)])
                } else if let Some(revision) = &revision {
                    let path = client
                        .download_public_key(&origin, Some(revision), &keys)
                        .await
                        .context(what)?;
                    Ok(vec![("public", path)])
                } else {
                    let paths = client
                        .download_public_keys(&origin, &keys)
                        .await
                        .context(what)?;
                    Ok(paths.into_iter().map(|p| ("public", p)).collect())
                }
            })?;
            if paths.is_empty() {
                bail!("the depot has no public key of `{origin}`");
            }
            for (kind, path) in paths {
                say!("Downloaded {kind} origin key {}", path.display());
            }
        }
        // The local commands.
        command => return super::key::run(command),
    }
    Ok(ExitCode::SUCCESS)
}

fn read_key_file(path: &Path) -> Result<String> {
    use std::io::Read;
    let file =
        std::fs::File::open(path).with_context(|| format!("cannot open `{}`", path.display()))?;
    let mut text = String::new();
    file.take(MAX_KEY_FILE)
        .read_to_string(&mut text)
        .with_context(|| format!("cannot read `{}`", path.display()))?;
    Ok(text)
}

async fn upload_keys(
    client: &Client,
    public: &PublicKey,
    secret: Option<&SecretKey>,
) -> Result<()> {
    let name = public.name();
    match client
        .upload_public_key(public)
        .await
        .with_context(|| format!("cannot upload public key `{name}`"))?
    {
        UploadOutcome::Created => say!("Uploaded public origin key {name}"),
        UploadOutcome::AlreadyPresent => say!("Public origin key {name} is already on the depot"),
    }
    if let Some(secret) = secret {
        let name = secret.name();
        client
            .upload_secret_key(secret)
            .await
            .with_context(|| format!("cannot upload secret key `{name}`"))?;
        say!("Uploaded secret origin key {name}");
    }
    Ok(())
}

fn create(origin: &OriginName, depot: &DepotArgs) -> Result<()> {
    let client = client(depot)?;
    block_on(async {
        let err = match client.create_origin(origin, None).await {
            Ok(_) => {
                say!("Created origin {origin}");
                return Ok(());
            }
            Err(err) if err.is_conflict() => err,
            Err(err) => {
                return Err(err).with_context(|| format!("cannot create origin `{origin}`"));
            }
        };
        // 409: fine when it is already ours.
        let mine = client
            .my_origins()
            .await
            .with_context(|| format!("cannot create origin `{origin}`"))?;
        match mine.iter().find(|o| o.name == *origin) {
            Some(found) => {
                say!(
                    "Origin {origin} already exists and you are its {}",
                    found.role
                );
                Ok(())
            }
            None => Err(err).with_context(|| {
                format!("cannot create origin `{origin}`: it belongs to someone else")
            }),
        }
    })
}

fn info(origin: &OriginName, json: bool, depot: &DepotArgs) -> Result<()> {
    let client = client(depot)?;
    let found = block_on(async {
        client
            .origin(origin)
            .await
            .with_context(|| format!("cannot show origin `{origin}`"))
    })?;
    let created = found
        .created_at
        .format(&Rfc3339)
        .unwrap_or_else(|_| found.created_at.to_string());
    if json {
        let value = serde_json::json!({
            "name": found.name,
            "owner": found.owner,
            "default_package_visibility": found.default_package_visibility.as_str(),
            "created_at": created,
        });
        out!("{}", serde_json::to_string_pretty(&value)?);
    } else {
        out!("Name           : {}", found.name);
        out!("Owner          : {}", found.owner);
        out!("Visibility     : {}", found.default_package_visibility);
        out!("Created        : {created}");
    }
    Ok(())
}

fn invitations(command: InvitationCommand) -> Result<()> {
    match command {
        InvitationCommand::Send {
            origin,
            account,
            depot,
        } => {
            let client = client(&depot)?;
            let invitation = block_on(async {
                client
                    .send_invitation(&origin, &account)
                    .await
                    .with_context(|| format!("cannot invite `{account}` to `{origin}`"))
            })?;
            say!("Invited {account} to {origin}");
            out!("{}", invitation.id);
        }
        InvitationCommand::List { depot } => {
            let client = client(&depot)?;
            let list = block_on(async {
                client
                    .my_invitations()
                    .await
                    .context("cannot list your invitations")
            })?;
            for invitation in list {
                out!(
                    "{}\t{}\t{}",
                    invitation.id,
                    invitation.origin,
                    invitation.invited_by
                );
            }
        }
        InvitationCommand::Pending { origin, depot } => {
            let client = client(&depot)?;
            let list = block_on(async {
                client
                    .origin_invitations(&origin)
                    .await
                    .with_context(|| format!("cannot list the invitations of `{origin}`"))
            })?;
            for invitation in list {
                out!(
                    "{}\t{}\t{}",
                    invitation.id,
                    invitation.account,
                    invitation.invited_by
                );
            }
        }
        InvitationCommand::Accept { origin, id, depot } => {
            let client = client(&depot)?;
            block_on(async {
                client
                    .accept_invitation(&origin, &id)
                    .await
                    .with_context(|| format!("cannot accept invitation `{id}` to `{origin}`"))
            })?;
            say!("Joined {origin}");
        }
        InvitationCommand::Ignore { origin, id, depot } => {
            let client = client(&depot)?;
            block_on(async {
                client
                    .ignore_invitation(&origin, &id)
                    .await
                    .with_context(|| format!("cannot ignore invitation `{id}` to `{origin}`"))
            })?;
            say!("Ignored invitation {id} to {origin}");
        }
        InvitationCommand::Rescind { origin, id, depot } => {
            let client = client(&depot)?;
            block_on(async {
                client
                    .rescind_invitation(&origin, &id)
                    .await
                    .with_context(|| format!("cannot rescind invitation `{id}` to `{origin}`"))
            })?;
            say!("Rescinded invitation {id} to {origin}");
        }
    }
    Ok(())
}

fn rbac(command: RbacCommand) -> Result<()> {
    match command {
        RbacCommand::Show {
            origin,
            member: Some(member),
            json,
            depot,
        } => {
            let client = client(&depot)?;
            let role = block_on(async {
                client
                    .member_role(&origin, &member)
                    .await
                    .with_context(|| format!("cannot show the role of `{member}` in `{origin}`"))
            })?;
            if json {
                let value = serde_json::json!({ "name": member, "role": role.as_str() });
                out!("{}", serde_json::to_string_pretty(&value)?);
            } else {
                out!("{member}\t{role}");
            }
        }
        RbacCommand::Show {
            origin,
            member: None,
            json,
            depot,
        } => {
            let client = client(&depot)?;
            let members = block_on(async {
                client
                    .members(&origin)
                    .await
                    .with_context(|| format!("cannot list the members of `{origin}`"))
            })?;
            if json {
                let list: Vec<_> = members
                    .iter()
                    .map(|m| serde_json::json!({ "name": m.name, "role": m.role.as_str() }))
                    .collect();
                let value = serde_json::json!({ "origin": origin.as_str(), "members": list });
                out!("{}", serde_json::to_string_pretty(&value)?);
            } else {
                for member in members {
                    out!("{}\t{}", member.name, member.role);
                }
            }
        }
        RbacCommand::Set {
            origin,
            member,
            role,
            depot,
        } => {
            let role = match role {
                RoleArg::ReadonlyMember => Role::ReadonlyMember,
                RoleArg::Member => Role::Member,
                RoleArg::Maintainer => Role::Maintainer,
                RoleArg::Administrator => Role::Administrator,
            };
            let client = client(&depot)?;
            block_on(async {
                client
                    .set_member_role(&origin, &member, role)
                    .await
                    .with_context(|| format!("cannot make `{member}` {role} of `{origin}`"))
            })?;
            say!("{member} is now {role} of {origin}");
        }
    }
    Ok(())
}
