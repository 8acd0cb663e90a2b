//! What every depot command shares (a client, an async runtime), and the channel commands:
//! `hab pkg promote|demote|delete|channels|search`, `hab bldr channel ...`.

use std::future::Future;
use std::process::ExitCode;

use anyhow::{Context, Result};
use habitat_core::{ChannelName, FullyQualifiedIdent, OriginName, PackageTarget};
use habitat_depot_client::{Client, Page, PageRequest};

use super::{ChannelCommand, ChannelMoveArgs, DepotArgs, OriginChannelArgs, WholeChannelArgs};
use crate::{out, say, settings};

/// A client for the depot and token the settings name (docs/commands.md, "Settings").
pub(super) fn client(depot: &DepotArgs) -> Result<Client> {
    let url = settings::depot_url(depot.url.as_deref())?;
    let token = settings::auth_token(depot.auth.as_deref())?;
    let mut builder = Client::builder(url)
        .token(token)
        .user_agent(concat!("hab/", env!("CARGO_PKG_VERSION")));
    for path in settings::ca_files()? {
        builder = builder.ca_file(path);
    }
    builder.build().context("cannot set up the depot client")
}

/// Runs one command's depot work to completion. The calls are sequential, so one thread will do.
pub(super) fn block_on<T>(work: impl Future<Output = Result<T>>) -> Result<T> {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime")?
        .block_on(work)
}

/// Makes one depot call with a client for `depot`, its error explained by `failure`: what
/// most depot commands do once their arguments are resolved.
fn call<T>(
    depot: &DepotArgs,
    work: impl AsyncFnOnce(&Client) -> habitat_depot_client::Result<T>,
    failure: impl FnOnce() -> String,
) -> Result<T> {
    let client = client(depot)?;
    block_on(async { work(&client).await.with_context(failure) })
}

/// Adds `ident` to `channel`, creating the channel first when the origin does not have it.
/// Every failure reads as the promotion's (`cannot promote … to …`), whichever step failed.
pub(super) async fn promote(
    client: &Client,
    ident: &FullyQualifiedIdent,
    target: PackageTarget,
    channel: &ChannelName,
) -> Result<()> {
    let failed = || format!("cannot promote `{ident}` to `{channel}`");
    let origin = ident.origin();
    let channels = client.channels(origin).await.with_context(failed)?;
    if !channels.contains(channel) {
        match client.create_channel(origin, channel).await {
            Ok(()) => say!("Created channel {channel} in {origin}"),
            // Someone else made it meanwhile: just as good.
            Err(err) if err.is_conflict() => {}
            Err(err) => {
                return Err(err)
                    .with_context(|| format!("cannot create channel `{channel}` in `{origin}`"))
                    .with_context(failed);
            }
        }
    }
    client
        .promote(ident, target, channel)
        .await
        .with_context(failed)?;
    say!("Promoted {ident} ({target}) to {channel}");
    Ok(())
}

/// `hab pkg promote IDENT CHANNEL`.
pub(super) fn run_promote(args: &ChannelMoveArgs) -> Result<ExitCode> {
    let target = settings::target(args.target)?;
    let client = client(&args.depot)?;
    block_on(promote(&client, &args.ident, target, &args.channel))?;
    Ok(ExitCode::SUCCESS)
}

/// `hab pkg demote IDENT CHANNEL`.
pub(super) fn run_demote(args: &ChannelMoveArgs) -> Result<ExitCode> {
    let ChannelMoveArgs { ident, channel, .. } = args;
    let target = settings::target(args.target)?;
    call(
        &args.depot,
        async |client| client.demote(ident, target, channel).await,
        || format!("cannot demote `{ident}` from `{channel}`"),
    )?;
    say!("Demoted {ident} ({target}) from {channel}");
    Ok(ExitCode::SUCCESS)
}

/// `hab pkg delete IDENT [TARGET]`.
pub(super) fn run_delete(
    ident: &FullyQualifiedIdent,
    target: Option<PackageTarget>,
    depot: &DepotArgs,
) -> Result<ExitCode> {
    let target = settings::target(target)?;
    call(
        depot,
        async |client| client.delete_package(ident, target).await,
        || format!("cannot delete `{ident}` ({target})"),
    )?;
    say!("Deleted {ident} ({target})");
    Ok(ExitCode::SUCCESS)
}

/// `hab pkg channels IDENT`: one channel a line on stdout.
pub(super) fn run_channels(
    ident: &FullyQualifiedIdent,
    target: Option<PackageTarget>,
    depot: &DepotArgs,
) -> Result<ExitCode> {
    let target = settings::target(target)?;
    let channels = call(
        depot,
        async |client| client.package_channels(ident, target).await,
        || format!("cannot list the channels of `{ident}`"),
    )?;
    for channel in channels {
        out!("{}", channel.name);
    }
    Ok(ExitCode::SUCCESS)
}

/// `hab pkg search TERM [-l LIMIT] [--releases]`: one package (`origin/name`) a line on
/// stdout, as Habitat's client lists them, or with `releases` one release a line.
pub(super) fn run_search(
    term: &str,
    limit: u64,
    releases: bool,
    depot: &DepotArgs,
) -> Result<ExitCode> {
    let client = client(depot)?;
    let (found, total) = if releases {
        let (found, total) =
            search_pages(term, limit, async |page| client.search(term, page).await)?;
        (found.iter().map(|p| p.ident.to_string()).collect(), total)
    } else {
        let (found, total) = search_pages(term, limit, async |page| {
            client.search_distinct(term, page).await
        })?;
        (
            found.iter().map(ToString::to_string).collect::<Vec<_>>(),
            total,
        )
    };
    for line in &found {
        out!("{line}");
    }
    let what = if releases { "releases" } else { "packages" };
    if found.is_empty() {
        say!("No packages match `{term}`");
    } else if total > found.len() as u64 {
        say!("Showing {} of {total} {what} (see -l/--limit)", found.len());
    }
    Ok(ExitCode::SUCCESS)
}

/// Up to `limit` search results, page after page, and how many there are in all.
fn search_pages<T>(
    term: &str,
    limit: u64,
    mut page_at: impl AsyncFnMut(PageRequest) -> habitat_depot_client::Result<Page<T>>,
) -> Result<(Vec<T>, u64)> {
    let mut found = Vec::new();
    let mut total = 0;
    block_on(async {
        let mut page = PageRequest::at(0);
        while (found.len() as u64) < limit {
            let remaining = limit - found.len() as u64;
            let answer = page_at(page.with_limit(remaining.min(500)))
                .await
                .with_context(|| format!("cannot search for `{term}`"))?;
            total = answer.total_count;
            let next = answer.next_start();
            found.extend(answer.data);
            match next {
                Some(start) => page = PageRequest::at(start),
                None => break,
            }
        }
        Ok(())
    })?;
    found.truncate(usize::try_from(limit).unwrap_or(usize::MAX));
    Ok((found, total))
}

/// `hab bldr channel create|destroy|list`.
pub(super) fn channel(command: ChannelCommand) -> Result<ExitCode> {
    match command {
        ChannelCommand::Create(at) => change_channel(&at, ("create", "Created"), async |client| {
            client.create_channel(&at.origin, &at.channel).await
        })?,
        ChannelCommand::Destroy(at) => {
            change_channel(&at, ("destroy", "Destroyed"), async |client| {
                client.delete_channel(&at.origin, &at.channel).await
            })?
        }
        ChannelCommand::List { origin, depot } => {
            for channel in list_channels(&origin, &depot)? {
                out!("{channel}");
            }
        }
        ChannelCommand::Promote(args) => whole_channel(&args, true)?,
        ChannelCommand::Demote(args) => whole_channel(&args, false)?,
    }
    Ok(ExitCode::SUCCESS)
}

/// `hab bldr channel promote|demote SOURCE TARGET`: every package of SOURCE added to (or
/// removed from) TARGET in one transaction on the depot.
fn whole_channel(args: &WholeChannelArgs, promote: bool) -> Result<()> {
    let WholeChannelArgs {
        source,
        target,
        origin,
        depot,
    } = args;
    let origin = settings::origin(origin.as_ref())?;
    let changed = if promote {
        call(
            depot,
            async |client| client.promote_channel(&origin, source, target).await,
            || format!("cannot promote channel `{source}` of `{origin}` to `{target}`"),
        )?
    } else {
        call(
            depot,
            async |client| client.demote_channel(&origin, source, target).await,
            || format!("cannot demote channel `{source}` of `{origin}` from `{target}`"),
        )?
    };
    let packages = if changed == 1 { "package" } else { "packages" };
    if promote {
        say!("Promoted {changed} {packages} of {origin}/{source} to {target}");
    } else {
        say!("Demoted {changed} {packages} of {origin}/{source} from {target}");
    }
    Ok(())
}

/// One change to a channel, named by `verb` in an error (`create`) and by `done` in the
/// report (`Created`).
fn change_channel(
    at: &OriginChannelArgs,
    (verb, done): (&str, &str),
    work: impl AsyncFnOnce(&Client) -> habitat_depot_client::Result<()>,
) -> Result<()> {
    let OriginChannelArgs {
        origin,
        channel,
        depot,
    } = at;
    call(depot, work, || {
        format!("cannot {verb} channel `{channel}` in `{origin}`")
    })?;
    say!("{done} channel {channel} in {origin}");
    Ok(())
}

fn list_channels(origin: &OriginName, depot: &DepotArgs) -> Result<Vec<ChannelName>> {
    call(
        depot,
        async |client| client.channels(origin).await,
        || format!("cannot list the channels of `{origin}`"),
    )
}
