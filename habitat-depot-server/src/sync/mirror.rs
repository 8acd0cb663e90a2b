//! Mirroring (docs/mirroring.md): one run that copies channels of an upstream depot into this
//! depot's stores. The set is the channels' members plus their transitive dependencies (TDEPS,
//! other origins included); what is missing here is downloaded a few at a time, checked and
//! stored through the depot's one ingest path (dependencies first), and then the channel
//! memberships the upstream has are added (and, in `exact` mode after a run without failures,
//! those it no longer has are removed). A package stored here with another checksum is a
//! conflict: reported, never overwritten.
//!
//! The engine prints nothing: it tells an [`Observer`] what happens as it happens (`hab-depot
//! sync` prints it, the serving process logs it) and returns a [`Summary`].

use std::collections::{BTreeMap, HashMap, HashSet};
use std::path::PathBuf;

use futures_util::StreamExt;
use habitat_core::{ChannelName, FullyQualifiedIdent, OriginName, PackageTarget};
use habitat_depot_client::{Client, DepotUrl, Downloaded, Token, Visibility as ClientVisibility};

use crate::AppState;
use crate::settings::{MirrorMode, MirrorSettings};
use crate::store::{ChannelAction, PackageFilter, Page, StoreError, Visibility};
use crate::sync::fetch::{self, Remote, Upstream};

mod channels;
mod error;
mod report;

pub use error::{Failure, MirrorError, OriginProblem, PackageProblem};
pub use report::{ChannelSummary, Event, Observer, Quiet, Summary};

/// How many artifacts are downloaded at once.
const PARALLEL_DOWNLOADS: usize = 4;

/// The account name the audit log records for the memberships a mirror run changes.
pub const AUDIT_ACCOUNT: &str = "hab-depot-sync";

/// What one run is asked to do.
#[derive(Clone, Debug)]
pub struct Request {
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
    /// The local account that owns an origin the run has to create here (none: a missing
    /// origin is a failure for its packages).
    pub owner: Option<String>,
    /// Whether what left a channel upstream leaves it here too.
    pub mode: MirrorMode,
}

impl Request {
    /// The run a `[[mirror]]` entry of the settings asks for; `owner`, when given, in place of
    /// the entry's `owner` for the origins it creates.
    pub fn from_settings(mirror: &MirrorSettings, owner: Option<String>) -> Self {
        Self {
            from: mirror.from.clone(),
            origins: mirror.origins.clone(),
            channels: mirror.channels.clone(),
            targets: mirror.targets.clone(),
            token_file: mirror.token_file.clone(),
            owner: owner.or_else(|| mirror.owner.clone()),
            mode: mirror.mode,
        }
    }
}

/// A run in progress: its summary, and the observer it tells.
struct Run<'o> {
    summary: Summary,
    observer: &'o mut dyn Observer,
}

impl Run<'_> {
    fn fail(&mut self, failure: Failure) {
        self.observer.event(Event::Failed(&failure));
        self.summary.failures.push(failure);
    }
}

/// Runs one mirror `request` against `state`'s stores, telling `observer` what happens. Fails
/// only when the run cannot be made (the upstream's URL or token, listing an origin's channels,
/// the pinned keys, this depot's stores); any other failure is in the summary.
pub async fn run(
    state: &AppState,
    request: &Request,
    observer: &mut dyn Observer,
) -> Result<Summary, MirrorError> {
    let upstream = Upstream {
        client: upstream_client(request)?,
        pinned: fetch::pinned_keys(state)?,
    };
    let client = &upstream.client;
    let targets = if request.targets.is_empty() {
        vec![PackageTarget::default()]
    } else {
        request.targets.clone()
    };
    let mut run = Run {
        summary: Summary::default(),
        observer,
    };

    // 1. What the upstream's channels hold, asked with the manifests kept from the last clean
    // run; what is known there of the members' dependencies goes into `known`.
    let upstream_name = request.from.trim_end_matches('/');
    let mut known = channels::Known::new();
    let mut wanted: BTreeMap<channels::Key, Remote> = BTreeMap::new();
    let mut memberships: Vec<(FullyQualifiedIdent, PackageTarget, ChannelName)> = Vec::new();
    // The channels read upstream, with their members: what `exact` compares with.
    let mut read: Vec<channels::Channel> = Vec::new();
    // The channels that could not be read.
    let mut unread: Vec<(OriginName, ChannelName, PackageTarget)> = Vec::new();
    for origin in &request.origins {
        let channel_names = if request.channels.is_empty() {
            client
                .channels(origin)
                .await
                .map_err(|source| MirrorError::Channels {
                    origin: origin.clone(),
                    source,
                })?
        } else {
            request.channels.clone()
        };
        for channel in &channel_names {
            for target in &targets {
                let which = (origin, channel, *target);
                match channels::read(state, client, upstream_name, which, &mut known).await? {
                    Ok(found) => {
                        for member in &found.members {
                            memberships.push((
                                member.ident.clone(),
                                member.target,
                                channel.clone(),
                            ));
                            wanted
                                .entry(channels::key_of(member))
                                .or_insert_with(|| member.clone());
                        }
                        read.push(found);
                    }
                    Err(source) => {
                        unread.push((origin.clone(), channel.clone(), *target));
                        run.fail(Failure::Channel {
                            origin: origin.clone(),
                            channel: channel.clone(),
                            target: *target,
                            source,
                        });
                    }
                }
            }
        }
    }

    // 2. Their dependencies, which only TDEPS name. Each is compared with the upstream's
    // (what the kept manifests say of it, else its package JSON upstream), so that one here
    // with another checksum is a conflict as a member would be.
    let mut dependencies: BTreeMap<channels::Key, (FullyQualifiedIdent, PackageTarget)> =
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
    let mut present: HashSet<channels::Key> = HashSet::new();
    // What could not be stored: its dependents are not stored either.
    let mut failed: HashSet<channels::Key> = HashSet::new();
    for member in wanted.values() {
        match state.metadata.package(&member.ident, member.target).await? {
            Some(here) if here.checksum == member.checksum => {
                run.summary.up_to_date += 1;
                present.insert(channels::key_of(member));
            }
            Some(here) => {
                failed.insert(channels::key_of(member));
                run.fail(Failure::Conflict {
                    ident: member.ident.clone(),
                    target: member.target,
                    here: here.checksum,
                });
            }
            None => missing.push(member.clone()),
        }
    }
    for (key, (ident, target)) in dependencies {
        let here = state.metadata.package(&ident, target).await?;
        let there = match known.get(&key) {
            Some(remote) => Ok(remote.clone()),
            None => client.package(&ident, target).await.map(|package| Remote {
                ident: ident.clone(),
                target,
                checksum: package.checksum,
                tdeps: package.tdeps,
                owner: package.owner,
            }),
        };
        match (here, there) {
            (Some(here), Ok(there)) if here.checksum != there.checksum => {
                run.fail(Failure::Conflict {
                    ident,
                    target,
                    here: here.checksum,
                });
                failed.insert(key);
            }
            (Some(_), there) => {
                // Here already. When the upstream cannot say what it has under that ident
                // any more, the one here is taken as it is.
                run.summary.up_to_date += 1;
                present.insert(key.clone());
                if let Ok(there) = there {
                    known.insert(key, there);
                }
            }
            (None, Ok(there)) => {
                known.insert(key, there.clone());
                missing.push(there);
            }
            (None, Err(source)) => {
                run.fail(Failure::Dependency {
                    ident,
                    target,
                    source,
                });
                failed.insert(key);
            }
        }
    }
    let up_to_date = present.clone();
    run.observer.event(Event::Planned {
        downloads: missing.len() as u64,
        up_to_date: run.summary.up_to_date,
    });

    // 3. The missing ones, dependencies first.
    super::dependencies_first(&mut missing, |p| p.tdeps.len(), |p| p.ident.to_string());
    let mut origins_ready: HashMap<OriginName, bool> = HashMap::new();
    for package in &missing {
        let origin = package.ident.origin();
        if !origins_ready.contains_key(origin) {
            let ready = match ensure_origin(state, client, origin, request.owner.as_deref()).await {
                Ok(created) => {
                    if let Some(owner) = created {
                        run.observer.event(Event::OriginCreated {
                            origin,
                            owner: &owner,
                        });
                    }
                    true
                }
                Err(source) => {
                    run.fail(Failure::Origin {
                        origin: origin.clone(),
                        source,
                    });
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
    let mut keys: HashSet<(OriginName, String)> = HashSet::new();
    // Each download runs as a task of its own, so that the ones already started go on while
    // the loop below checks and stores one (measured in benches/README.md, "Mirroring").
    let mut downloads = futures_util::stream::iter(missing.iter().cloned())
        .map(|package| {
            let dest = partial.join(package.checksum.to_string());
            let ready = origins_ready
                .get(package.ident.origin())
                .copied()
                .unwrap_or(false);
            let task = ready.then(|| {
                let (client, ident, target, dest) = (
                    client.clone(),
                    package.ident.clone(),
                    package.target,
                    dest.clone(),
                );
                tokio::spawn(
                    async move { client.download(&ident, target, None, &dest, |_| {}).await },
                )
            });
            async move {
                let found = match task {
                    Some(task) => Some(match task.await {
                        Ok(found) => found,
                        // Never cancelled: the handle is awaited here, and a panic goes on.
                        Err(e) => std::panic::resume_unwind(e.into_panic()),
                    }),
                    None => None,
                };
                (package, dest, found)
            }
        })
        .buffered(PARALLEL_DOWNLOADS);
    while let Some((package, dest, found)) = downloads.next().await {
        let (ident, target) = (&package.ident, package.target);
        let keep_partial = matches!(
            found,
            Some(Err(habitat_depot_client::Error::Connection { .. }))
        );
        let stored = stored_or_why(
            state,
            &upstream,
            &failed,
            &package,
            found,
            &mut keys,
            run.observer,
        )
        .await;
        if !keep_partial {
            // Absent is fine: the ingested file has moved into the artifact store.
            let _ = tokio::fs::remove_dir_all(&dest).await;
        }
        match stored {
            Ok(()) => {
                run.observer.event(Event::Stored { ident, target });
                run.summary.stored += 1;
                present.insert((ident.to_string(), target));
            }
            Err(source) => {
                failed.insert((ident.to_string(), target));
                run.fail(Failure::Package {
                    ident: ident.clone(),
                    target,
                    source,
                });
            }
        }
    }
    drop(downloads);

    // 4. The memberships the upstream has, for what is here now.
    let mut added: HashMap<(OriginName, ChannelName, PackageTarget), u64> = HashMap::new();
    for (ident, target, channel) in &memberships {
        if !present.contains(&(ident.to_string(), *target)) {
            continue;
        }
        match add_membership(state, ident, *target, channel).await {
            Ok(true) => {
                run.summary.promoted += 1;
                *added
                    .entry((ident.origin().clone(), channel.clone(), *target))
                    .or_default() += 1;
                run.observer.event(Event::MembershipAdded {
                    ident,
                    target: *target,
                    channel,
                });
            }
            Ok(false) => {}
            Err(source) => run.fail(Failure::Membership {
                ident: ident.clone(),
                target: *target,
                channel: channel.clone(),
                source,
            }),
        }
    }

    // 5. `exact`: what left a channel upstream leaves it here, only after a clean run.
    let mut removed: HashMap<(OriginName, ChannelName, PackageTarget), u64> = HashMap::new();
    if request.mode == MirrorMode::Exact {
        if run.summary.succeeded() {
            for channel in &read {
                let upstream: HashSet<String> = channel
                    .members
                    .iter()
                    .map(|m| m.ident.to_string())
                    .collect();
                let which = (&channel.origin, &channel.channel, channel.target);
                match remove_departed(state, which, &upstream, run.observer).await {
                    Ok(count) => {
                        run.summary.demoted += count;
                        removed.insert(
                            (
                                channel.origin.clone(),
                                channel.channel.clone(),
                                channel.target,
                            ),
                            count,
                        );
                    }
                    Err(source) => run.fail(Failure::Removing {
                        origin: channel.origin.clone(),
                        channel: channel.channel.clone(),
                        source,
                    }),
                }
            }
        } else {
            run.observer.event(Event::NothingRemoved);
        }
    }

    // The table: for each channel, its members and their dependencies (a package in two
    // channels counts in both), and its memberships.
    for channel in &read {
        let mut closure: HashSet<channels::Key> = HashSet::new();
        for member in &channel.members {
            closure.insert(channels::key_of(member));
            closure.extend(member.tdeps.iter().map(|d| (d.to_string(), member.target)));
        }
        let which = (
            channel.origin.clone(),
            channel.channel.clone(),
            channel.target,
        );
        let count = |set: &HashSet<channels::Key>| {
            closure.iter().filter(|k| set.contains(*k)).count() as u64
        };
        run.summary.channels.push(ChannelSummary {
            stored: closure
                .iter()
                .filter(|k| present.contains(*k) && !up_to_date.contains(*k))
                .count() as u64,
            up_to_date: count(&up_to_date),
            added: added.get(&which).copied().unwrap_or(0),
            removed: removed.get(&which).copied().unwrap_or(0),
            failed: count(&failed),
            origin: which.0,
            channel: which.1,
            target: which.2,
        });
    }
    for (origin, channel, target) in unread {
        run.summary.channels.push(ChannelSummary {
            origin,
            channel,
            target,
            stored: 0,
            up_to_date: 0,
            added: 0,
            removed: 0,
            failed: 1,
        });
    }

    // 6. After a clean run, the manifests read whole are kept for the next run's conditional
    // requests (after a failure, the next run reads every channel whole again).
    if run.summary.succeeded() {
        for channel in &read {
            channels::keep(state, upstream_name, channel, &known).await?;
        }
    }
    Ok(run.summary)
}

/// Stores a downloaded package, or says why not: its origin is not here (not downloaded), a
/// dependency was not stored, the download failed, or a check refused it.
async fn stored_or_why(
    state: &AppState,
    upstream: &Upstream,
    failed: &HashSet<(String, PackageTarget)>,
    package: &Remote,
    found: Option<habitat_depot_client::Result<Downloaded>>,
    keys: &mut HashSet<(OriginName, String)>,
    observer: &mut dyn Observer,
) -> Result<(), PackageProblem> {
    let Some(found) = found else {
        return Err(PackageProblem::NoOrigin);
    };
    if let Some(dep) = package
        .tdeps
        .iter()
        .find(|d| failed.contains(&(d.to_string(), package.target)))
    {
        return Err(PackageProblem::Dependency {
            dependency: dep.clone(),
        });
    }
    match found {
        Ok(downloaded) => store(state, upstream, package, downloaded, keys, observer).await,
        Err(e) => Err(PackageProblem::Download(e)),
    }
}

/// The client for the upstream, with the token of the token file if given.
fn upstream_client(request: &Request) -> Result<Client, MirrorError> {
    let url: DepotUrl = request.from.parse().map_err(|source| MirrorError::Url {
        url: request.from.clone(),
        source,
    })?;
    let token = match &request.token_file {
        Some(path) => {
            let text = std::fs::read_to_string(path).map_err(|source| MirrorError::TokenFile {
                path: path.clone(),
                source,
            })?;
            Some(Token::new(text.trim().to_owned()).map_err(MirrorError::Client)?)
        }
        None => None,
    };
    Client::builder(url)
        .token(token)
        .build()
        .map_err(MirrorError::Client)
}

/// Makes sure the origin exists here: created (with the upstream's default visibility) and
/// owned by `owner` when it does not; then the owner's name.
async fn ensure_origin(
    state: &AppState,
    client: &Client,
    origin: &OriginName,
    owner: Option<&str>,
) -> Result<Option<String>, OriginProblem> {
    if state.metadata.origin(origin).await?.is_some() {
        return Ok(None);
    }
    let Some(owner) = owner else {
        return Err(OriginProblem::NoOwner);
    };
    let account = state
        .metadata
        .account_by_name(owner)
        .await?
        .ok_or_else(|| OriginProblem::NoAccount {
            owner: owner.to_owned(),
        })?;
    let visibility = match client.origin(origin).await?.default_package_visibility {
        ClientVisibility::Private => Visibility::Private,
        _ => Visibility::Public,
    };
    state
        .metadata
        .create_origin(origin, account.id, visibility)
        .await?;
    Ok(Some(owner.to_owned()))
}

/// Checks the signer's key (fetched from upstream once per run; refused when this depot has
/// another key under that revision), then stores the downloaded file through the ingest path.
async fn store(
    state: &AppState,
    upstream: &Upstream,
    package: &Remote,
    downloaded: Downloaded,
    keys: &mut HashSet<(OriginName, String)>,
    observer: &mut dyn Observer,
) -> Result<(), PackageProblem> {
    let origin = package.ident.origin().clone();
    let revision = fetch::signer_revision(&downloaded.path).await?;
    // A key checked good is not asked for again in this run. A refusal is not kept: the key
    // is tried on this package's own artifact, and another one may be intact.
    let key = (origin.clone(), revision.clone());
    if !keys.contains(&key) {
        match fetch::ensure_signer_key(state, upstream, &origin, &downloaded.path).await {
            Ok(added) => {
                if added {
                    observer.event(Event::KeyAdded {
                        origin: &origin,
                        revision: &revision,
                    });
                }
                keys.insert(key);
            }
            Err(e) => return Err(PackageProblem::Key(e.to_string())),
        }
    }
    Ok(fetch::store(state, package, downloaded).await?)
}

/// Adds the package to the channel here (created if missing); `true` when it was not there.
async fn add_membership(
    state: &AppState,
    ident: &FullyQualifiedIdent,
    target: PackageTarget,
    channel: &ChannelName,
) -> Result<bool, PackageProblem> {
    let package = state
        .metadata
        .package(ident, target)
        .await?
        .ok_or(PackageProblem::NotHere)?;
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
    (origin, channel, target): (&OriginName, &ChannelName, PackageTarget),
    upstream: &HashSet<String>,
    observer: &mut dyn Observer,
) -> Result<u64, StoreError> {
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
        observer.event(Event::MembershipRemoved {
            ident: &package.ident,
            target,
            channel,
        });
        removed += 1;
    }
    Ok(removed)
}
