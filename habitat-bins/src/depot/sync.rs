//! `hab-depot sync` (docs/mirroring.md): one run that copies channels of an upstream depot into
//! this depot's stores, additively. The set is the channels' members plus their transitive
//! dependencies (TDEPS, other origins included); what is missing here is downloaded a few at a
//! time, checked and stored through the depot's one ingest path (dependencies first), and then
//! the channel memberships the upstream has are added. A package stored here with another
//! checksum is a conflict: reported, never overwritten.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{Context, Result};
use futures_util::StreamExt;
use habitat_core::{Blake2bHash, ChannelName, FullyQualifiedIdent, OriginName, PackageTarget};
use habitat_depot_client::{
    Client, DepotUrl, ManifestAnswer, PackageListing, Token, Visibility as ClientVisibility,
};
use habitat_depot_server::AppState;
use habitat_depot_server::settings::MirrorMode;
use habitat_depot_server::store::{ChannelAction, PackageFilter, Page, Visibility};
use habitat_depot_server::sync::fetch::{self, Remote, Upstream};

use crate::say;

/// How many artifacts are downloaded at once.
const PARALLEL_DOWNLOADS: usize = 4;

/// The account name the audit log records for the memberships a sync adds.
const AUDIT_ACCOUNT: &str = "hab-depot-sync";

/// What one run is asked to do.
#[derive(Debug)]
pub(crate) struct Request {
    /// The upstream depot's URL.
    pub from: String,
    /// The origins whose channels are mirrored.
    pub origins: Vec<OriginName>,
    /// The channels (none: every channel the upstream has for each origin).
    pub channels: Vec<ChannelName>,
    /// The targets (none: the default target).
    pub targets: Vec<PackageTarget>,
    /// A file holding a token for the upstream.
    pub token_file: Option<PathBuf>,
    /// The local account that owns an origin the sync has to create here.
    pub owner: Option<String>,
    /// Whether what left a channel upstream leaves it here too.
    pub mode: Mode,
}

/// How channel state is mirrored.
#[derive(clap::ValueEnum, Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) enum Mode {
    /// Only adds packages and memberships.
    #[default]
    Additive,
    /// Also removes from a channel here what is not in it upstream, after a run without any
    /// failure (never from `unstable`, where every stored package is).
    Exact,
}

/// What happened in a run.
#[derive(Debug, Default)]
struct Summary {
    stored: u64,
    up_to_date: u64,
    promoted: u64,
    demoted: u64,
    failures: Vec<String>,
}

impl Summary {
    fn fail(&mut self, problem: String) {
        say!("failed: {problem}");
        self.failures.push(problem);
    }
}

/// The `[[mirror]]` entries of the settings as requests; none is an error.
pub(crate) fn configured(state: &AppState, owner: Option<String>) -> Result<Vec<Request>> {
    let mirrors = &state.settings.mirrors;
    if mirrors.is_empty() {
        anyhow::bail!(
            "nothing to sync: give `--from URL --origin ORIGIN`, or `[[mirror]]` entries in the \
             settings"
        );
    }
    Ok(mirrors
        .iter()
        .map(|mirror| Request {
            from: mirror.from.clone(),
            origins: mirror.origins.clone(),
            channels: mirror.channels.clone(),
            targets: mirror.targets.clone(),
            token_file: mirror.token_file.clone(),
            owner: owner.clone(),
            mode: match mirror.mode {
                MirrorMode::Additive => Mode::Additive,
                MirrorMode::Exact => Mode::Exact,
            },
        })
        .collect())
}

/// Runs one sync against `state`'s stores and prints a summary; the exit status is a failure
/// when anything failed.
pub(crate) async fn run(state: &AppState, request: Request) -> Result<ExitCode> {
    let upstream = Upstream {
        client: upstream_client(&request)?,
        pinned: fetch::pinned_keys(state)?,
    };
    let client = &upstream.client;
    let targets = if request.targets.is_empty() {
        vec![PackageTarget::default()]
    } else {
        request.targets.clone()
    };
    let mut summary = Summary::default();

    // 1. What the upstream's channels hold.
    let mut wanted: BTreeMap<(String, PackageTarget), Remote> = BTreeMap::new();
    let mut memberships: Vec<(FullyQualifiedIdent, PackageTarget, ChannelName)> = Vec::new();
    // The channels read whole upstream, with their members: what `exact` compares with.
    let mut read: Vec<(OriginName, ChannelName, PackageTarget, HashSet<String>)> = Vec::new();
    for origin in &request.origins {
        let channels = if request.channels.is_empty() {
            client
                .channels(origin)
                .await
                .with_context(|| format!("cannot list the channels of origin `{origin}`"))?
        } else {
            request.channels.clone()
        };
        for channel in &channels {
            for target in &targets {
                match members(client, origin, channel, *target).await {
                    Ok(found) => {
                        let idents = found.iter().map(|m| m.ident.to_string()).collect();
                        read.push((origin.clone(), channel.clone(), *target, idents));
                        for member in found {
                            memberships.push((
                                member.ident.clone(),
                                member.target,
                                channel.clone(),
                            ));
                            wanted
                                .entry((member.ident.to_string(), member.target))
                                .or_insert(member);
                        }
                    }
                    Err(e) => summary.fail(format!(
                        "channel `{channel}` of origin `{origin}` for `{target}`: {e:#}"
                    )),
                }
            }
        }
    }

    // 2. Their dependencies, which only TDEPS name: ask for those missing here.
    let mut dependencies: BTreeMap<(String, PackageTarget), (FullyQualifiedIdent, PackageTarget)> =
        BTreeMap::new();
    for member in wanted.values() {
        for dep in &member.tdeps {
            let key = (dep.to_string(), member.target);
            if !wanted.contains_key(&key) {
                dependencies.insert(key, (dep.clone(), member.target));
            }
        }
    }
    let mut missing: Vec<Remote> = Vec::new();
    let mut present: HashSet<(String, PackageTarget)> = HashSet::new();
    // What could not be stored: its dependents are not stored either.
    let mut failed: HashSet<(String, PackageTarget)> = HashSet::new();
    for member in wanted.values() {
        match state.metadata.package(&member.ident, member.target).await? {
            Some(here) if here.checksum == member.checksum => {
                summary.up_to_date += 1;
                present.insert((member.ident.to_string(), member.target));
            }
            Some(here) => summary.fail(conflict(&member.ident, member.target, &here.checksum)),
            None => missing.push(member.clone()),
        }
    }
    for (key, (ident, target)) in dependencies {
        if state.metadata.package(&ident, target).await?.is_some() {
            summary.up_to_date += 1;
            present.insert(key);
            continue;
        }
        match client.package(&ident, target).await {
            Ok(package) => missing.push(Remote {
                ident,
                target,
                checksum: package.checksum,
                tdeps: package.tdeps,
                owner: package.owner,
            }),
            Err(e) => {
                summary.fail(format!("dependency {ident} for `{target}`: {e}"));
                failed.insert(key);
            }
        }
    }

    // 3. The missing ones, dependencies first: a package's TDEPS hold all of its
    // dependencies' TDEPS, so fewer TDEPS never come after more of them.
    missing.sort_by(|a, b| {
        (a.tdeps.len(), a.ident.to_string()).cmp(&(b.tdeps.len(), b.ident.to_string()))
    });
    let mut origins_ready: HashMap<OriginName, bool> = HashMap::new();
    for package in &missing {
        let origin = package.ident.origin();
        if !origins_ready.contains_key(origin) {
            let ready = match ensure_origin(state, client, origin, request.owner.as_deref()).await {
                Ok(()) => true,
                Err(e) => {
                    summary.fail(format!("origin `{origin}`: {e:#}"));
                    false
                }
            };
            origins_ready.insert(origin.clone(), ready);
        }
    }
    // Each download goes to its own directory named by the checksum, kept when the connection
    // broke: the next run resumes from the partial file (`Range`). The serving process clears
    // these at its start, with every other temp file.
    let partial = state.tmp_dir.join("sync-partial");
    let mut keys: HashMap<(OriginName, String), Result<(), String>> = HashMap::new();
    let (client_ref, partial_ref, ready_ref) = (client, &partial, &origins_ready);
    let mut downloads = futures_util::stream::iter(missing.iter())
        .map(|package| async move {
            let dest = partial_ref.join(package.checksum.to_string());
            let found = if ready_ref
                .get(package.ident.origin())
                .copied()
                .unwrap_or(false)
            {
                Some(
                    client_ref
                        .download(&package.ident, package.target, None, &dest, |_| {})
                        .await,
                )
            } else {
                None
            };
            (package, dest, found)
        })
        .buffered(PARALLEL_DOWNLOADS);
    while let Some((package, dest, found)) = downloads.next().await {
        let (ident, target) = (&package.ident, package.target);
        let label = format!("{ident} for `{target}`");
        let keep_partial = matches!(
            found,
            Some(Err(habitat_depot_client::Error::Connection { .. }))
        );
        let stored = stored_or_why(state, &upstream, &failed, package, found, &mut keys).await;
        if !keep_partial {
            // Absent is fine: the ingested file has moved into the artifact store.
            let _ = tokio::fs::remove_dir_all(&dest).await;
        }
        match stored {
            Ok(()) => {
                say!("stored {label}");
                summary.stored += 1;
                present.insert((ident.to_string(), target));
            }
            Err(e) => {
                failed.insert((ident.to_string(), target));
                summary.fail(format!("{label}: {e}"));
            }
        }
    }
    drop(downloads);

    // 4. The memberships the upstream has, for what is here now.
    for (ident, target, channel) in &memberships {
        if !present.contains(&(ident.to_string(), *target)) {
            continue;
        }
        match add_membership(state, ident, *target, channel).await {
            Ok(true) => summary.promoted += 1,
            Ok(false) => {}
            Err(e) => summary.fail(format!(
                "{ident} for `{target}` into channel `{channel}`: {e:#}"
            )),
        }
    }

    // 5. `exact`: what left a channel upstream leaves it here, only after a clean run.
    if request.mode == Mode::Exact {
        if summary.failures.is_empty() {
            for (origin, channel, target, upstream) in &read {
                match remove_departed(state, origin, channel, *target, upstream).await {
                    Ok(removed) => summary.demoted += removed,
                    Err(e) => summary.fail(format!(
                        "removing from channel `{channel}` of origin `{origin}`: {e:#}"
                    )),
                }
            }
        } else {
            say!("exact mode: nothing removed from a channel, since the run did not fully succeed");
        }
    }

    say!(
        "{} new, {} up to date, {} channel membership{} added, {} removed, {} failed",
        summary.stored,
        summary.up_to_date,
        summary.promoted,
        if summary.promoted == 1 { "" } else { "s" },
        summary.demoted,
        summary.failures.len()
    );
    Ok(if summary.failures.is_empty() {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}

/// Stores a downloaded package, or says why not: its origin is not here (not downloaded), a
/// dependency was not stored, the download failed, or a check refused it.
async fn stored_or_why(
    state: &AppState,
    upstream: &Upstream,
    failed: &HashSet<(String, PackageTarget)>,
    package: &Remote,
    found: Option<habitat_depot_client::Result<habitat_depot_client::Downloaded>>,
    keys: &mut HashMap<(OriginName, String), Result<(), String>>,
) -> Result<(), String> {
    let Some(found) = found else {
        return Err("its origin is not here".to_owned());
    };
    if let Some(dep) = package
        .tdeps
        .iter()
        .find(|d| failed.contains(&(d.to_string(), package.target)))
    {
        return Err(format!("its dependency {dep} was not stored"));
    }
    match found {
        Ok(downloaded) => store(state, upstream, package, downloaded, keys).await,
        Err(e) => Err(format!("download: {e}")),
    }
}

/// The client for the upstream, with the token of `--token-file` if given.
fn upstream_client(request: &Request) -> Result<Client> {
    let url: DepotUrl = request
        .from
        .parse()
        .with_context(|| format!("invalid upstream URL `{}`", request.from))?;
    let token = match &request.token_file {
        Some(path) => {
            let text = std::fs::read_to_string(path)
                .with_context(|| format!("cannot read the token file `{}`", path.display()))?;
            Some(Token::new(text.trim().to_owned())?)
        }
        None => None,
    };
    Ok(Client::builder(url).token(token).build()?)
}

/// The members of a channel upstream: from the manifest route of a `hab-depot`, else (a
/// depot without it answers 404) from the channel listing and each package's JSON.
async fn members(
    client: &Client,
    origin: &OriginName,
    channel: &ChannelName,
    target: PackageTarget,
) -> Result<Vec<Remote>> {
    match client.channel_manifest(origin, channel, target, None).await {
        Ok(ManifestAnswer::Changed { manifest, .. }) => {
            return Ok(manifest
                .packages
                .into_iter()
                .map(|p| Remote {
                    ident: p.ident,
                    target: p.target,
                    checksum: p.checksum,
                    tdeps: p.tdeps,
                    owner: p.owner,
                })
                .collect());
        }
        Ok(ManifestAnswer::Unchanged) => {
            anyhow::bail!("the upstream answered 304 to a request without an ETag")
        }
        Err(e) if e.is_not_found() => {}
        Err(e) => return Err(e.into()),
    }
    let listing = PackageListing::origin(origin.clone())
        .in_channel(channel.clone())
        .for_target(target);
    let mut found = Vec::new();
    for listed in client.all_packages(&listing).await? {
        let package = client.package(&listed.ident, target).await?;
        found.push(Remote {
            ident: package.ident,
            target: package.target,
            checksum: package.checksum,
            tdeps: package.tdeps,
            owner: package.owner,
        });
    }
    Ok(found)
}

/// `package ... exists here with checksum ...`: the conflict message.
fn conflict(ident: &FullyQualifiedIdent, target: PackageTarget, here: &Blake2bHash) -> String {
    format!(
        "{ident} for `{target}` exists here with another checksum (`{here}`); a conflict, left \
         as it is"
    )
}

/// Makes sure the origin exists here: created (with the upstream's default visibility) and
/// owned by `owner` when it does not.
async fn ensure_origin(
    state: &AppState,
    client: &Client,
    origin: &OriginName,
    owner: Option<&str>,
) -> Result<()> {
    if state.metadata.origin(origin).await?.is_some() {
        return Ok(());
    }
    let Some(owner) = owner else {
        anyhow::bail!("it does not exist here; create it, or pass `--owner ACCOUNT` to create it")
    };
    let account = state
        .metadata
        .account_by_name(owner)
        .await?
        .with_context(|| format!("no account `{owner}` here"))?;
    let visibility = match client.origin(origin).await?.default_package_visibility {
        ClientVisibility::Private => Visibility::Private,
        _ => Visibility::Public,
    };
    state
        .metadata
        .create_origin(origin, account.id, visibility)
        .await?;
    say!("created origin `{origin}`, owned by `{owner}`");
    Ok(())
}

/// Checks the signer's key (fetched from upstream once per run; refused when this depot has
/// another key under that revision), then stores the downloaded file through the ingest path.
async fn store(
    state: &AppState,
    upstream: &Upstream,
    package: &Remote,
    downloaded: habitat_depot_client::Downloaded,
    keys: &mut HashMap<(OriginName, String), Result<(), String>>,
) -> Result<(), String> {
    let origin = package.ident.origin().clone();
    let revision = fetch::signer_revision(&downloaded.path)
        .await
        .map_err(|e| e.to_string())?;
    let key = (origin.clone(), revision.clone());
    if !keys.contains_key(&key) {
        let checked = match fetch::ensure_key(state, upstream, &origin, &revision).await {
            Ok(added) => {
                if added {
                    say!("added public key `{origin}-{revision}`");
                }
                Ok(())
            }
            Err(e) => Err(e.to_string()),
        };
        keys.insert(key.clone(), checked);
    }
    if let Some(Err(e)) = keys.get(&key) {
        return Err(e.clone());
    }
    fetch::store(state, package, downloaded)
        .await
        .map_err(|e| e.to_string())
}

/// Adds the package to the channel here (created if missing); `true` when it was not there.
async fn add_membership(
    state: &AppState,
    ident: &FullyQualifiedIdent,
    target: PackageTarget,
    channel: &ChannelName,
) -> Result<bool> {
    let package = state
        .metadata
        .package(ident, target)
        .await?
        .context("it is not here")?;
    let memberships = state.metadata.package_channels(package.id).await?;
    if memberships.iter().any(|m| &m.name == channel) {
        return Ok(false);
    }
    let origin = ident.origin();
    if !state.metadata.channels(origin).await?.contains(channel) {
        state.metadata.create_channel(origin, channel).await?;
    }
    state
        .metadata
        .change_channel(
            package.id,
            origin,
            channel,
            ChannelAction::Promote,
            AUDIT_ACCOUNT,
        )
        .await?;
    Ok(true)
}

/// Removes from `channel` here every package of `target` that is not in `upstream` (idents as
/// text); how many. Nothing leaves `unstable`.
async fn remove_departed(
    state: &AppState,
    origin: &OriginName,
    channel: &ChannelName,
    target: PackageTarget,
    upstream: &HashSet<String>,
) -> Result<u64> {
    if channel.as_str() == "unstable" || !state.metadata.channels(origin).await?.contains(channel) {
        return Ok(0);
    }
    let filter = PackageFilter {
        origin: Some(origin.clone()),
        target: Some(target),
        channel: Some(channel.clone()),
        private_origins: vec![origin.clone()],
        ..PackageFilter::default()
    };
    let mut here = Vec::new();
    loop {
        let page = Page {
            offset: here.len() as u64,
            limit: 500,
        };
        let found = state.metadata.packages(&filter, page).await?;
        let done = found.items.is_empty() || page.offset + found.items.len() as u64 >= found.total;
        here.extend(found.items);
        if done {
            break;
        }
    }
    let mut removed = 0;
    for package in here {
        if upstream.contains(&package.ident.to_string()) {
            continue;
        }
        state
            .metadata
            .change_channel(
                package.id,
                origin,
                channel,
                ChannelAction::Demote,
                AUDIT_ACCOUNT,
            )
            .await?;
        say!(
            "removed {} for `{target}` from channel `{channel}`",
            package.ident
        );
        removed += 1;
    }
    Ok(removed)
}
