//! `hab origin ...` against a depot: create, delete, depart, transfer, info, invitations, rbac. The key commands, local
//! and against a depot, live in `key.rs`.

use std::process::ExitCode;

use anyhow::{Context, Result};
use habitat_core::{OriginName, timestamp};
use habitat_depot_client::Role;

use super::remote::{block_on, client};
use super::{DepotArgs, InvitationCommand, OriginCommand, RbacCommand, RoleArg};
use crate::{out, say};

pub(super) fn run(command: OriginCommand) -> Result<ExitCode> {
    match command {
        OriginCommand::Create { origin, depot } => create(&origin, &depot)?,
        OriginCommand::Delete { origin, depot } => {
            let client = client(&depot)?;
            block_on(async {
                client
                    .delete_origin(&origin)
                    .await
                    .with_context(|| format!("cannot delete origin `{origin}`"))
            })?;
            say!("Deleted origin {origin}");
        }
        OriginCommand::Depart { origin, depot } => {
            let client = client(&depot)?;
            block_on(async {
                client
                    .depart_origin(&origin)
                    .await
                    .with_context(|| format!("cannot depart from origin `{origin}`"))
            })?;
            say!("Departed from origin {origin}");
        }
        OriginCommand::Transfer {
            origin,
            new_owner,
            depot,
        } => {
            let client = client(&depot)?;
            block_on(async {
                client
                    .transfer_origin(&origin, new_owner.as_str())
                    .await
                    .with_context(|| format!("cannot transfer origin `{origin}` to `{new_owner}`"))
            })?;
            say!("Transferred origin {origin} to {new_owner}; you are now its maintainer");
        }
        OriginCommand::Info {
            origin,
            json,
            depot,
        } => info(&origin, json, &depot)?,
        OriginCommand::Key { command } => return super::key::run(command),
        OriginCommand::Invitations { command } => invitations(command)?,
        OriginCommand::Rbac { command } => rbac(command)?,
        OriginCommand::Audit {
            origin,
            action,
            ident,
            account,
            depot,
        } => {
            let filter = habitat_depot_client::AuditFilter {
                action,
                ident,
                account,
            };
            audit(&origin, &filter, &depot)?;
        }
    }
    Ok(ExitCode::SUCCESS)
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

/// `hab origin audit`: the audit log as a table, newest first; `-` for an empty field.
fn audit(
    origin: &OriginName,
    filter: &habitat_depot_client::AuditFilter,
    depot: &DepotArgs,
) -> Result<()> {
    let client = client(depot)?;
    let entries = block_on(async {
        client
            .audit_log_all(origin, filter)
            .await
            .with_context(|| format!("cannot show the audit log of `{origin}`"))
    })?;
    if entries.is_empty() {
        say!("No audit entries for origin {origin}");
        return Ok(());
    }
    let field = |value: &Option<String>| value.clone().unwrap_or_else(|| "-".into());
    let rows: Vec<[String; 7]> = entries
        .iter()
        .map(|e| {
            [
                e.at.clone(),
                e.account.clone(),
                e.action.clone(),
                field(&e.address),
                field(&e.channel),
                match (&e.ident, &e.target) {
                    (Some(ident), Some(target)) => format!("{ident} ({target})"),
                    (ident, _) => field(ident),
                },
                field(&e.detail),
            ]
        })
        .collect();
    let header = [
        "TIME", "ACCOUNT", "ACTION", "ADDRESS", "CHANNEL", "IDENT", "DETAIL",
    ];
    let mut widths = header.map(str::len);
    for row in &rows {
        for (width, cell) in widths.iter_mut().zip(row) {
            *width = (*width).max(cell.chars().count());
        }
    }
    let line = |cells: Vec<&str>| {
        let padded: Vec<String> = cells
            .iter()
            .zip(widths)
            .map(|(cell, width)| format!("{cell:<width$}"))
            .collect();
        padded.join("  ").trim_end().to_owned()
    };
    out!("{}", line(header.to_vec()));
    for row in &rows {
        out!("{}", line(row.iter().map(String::as_str).collect()));
    }
    Ok(())
}

fn info(origin: &OriginName, json: bool, depot: &DepotArgs) -> Result<()> {
    let client = client(depot)?;
    let found = block_on(async {
        client
            .origin(origin)
            .await
            .with_context(|| format!("cannot show origin `{origin}`"))
    })?;
    let created = timestamp::format_rfc3339(found.created_at);
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
                    .send_invitation(&origin, account.as_str())
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
                    .member_role(&origin, member.as_str())
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
                    .set_member_role(&origin, member.as_str(), role)
                    .await
                    .with_context(|| format!("cannot make `{member}` {role} of `{origin}`"))
            })?;
            say!("{member} is now {role} of {origin}");
        }
    }
    Ok(())
}
