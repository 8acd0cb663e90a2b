//! `hab pkg install IDENT|HART…` and `hab pkg download IDENT…` (docs/commands.md, "`hab pkg
//! install`"): resolve the latest release in the channel, fetch it and its TDEPS (in parallel,
//! bounded) into a directory, fetch the public keys the artifacts' headers name, and for install
//! hand the whole set to `install_all`, which verifies everything before it installs anything.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{Context, Result, bail};
use futures_util::{StreamExt, TryStreamExt, stream};
use habitat_core::install_set::{Outcome, Request, install_all_reporting};
use habitat_core::{
    Artifact, Blake2bHash, ChannelName, FsRoot, FullyQualifiedIdent, KeyCache, PackageIdent,
    PackageTarget, UnpackLimits, metadata,
};
use habitat_depot_client::Client;
use habitat_depot_client::tuf::TufClient;

use super::remote::{block_on, client};
use super::tuf::Expected;
use super::{DepotArgs, KeyCacheArg, TufArgs};
use crate::output::Hinted;
use crate::progress::{Steps, Transfer};
use crate::{out, say, settings};

/// At most this many artifacts are fetched at once, unless `HAB_DOWNLOAD_CONCURRENCY` says
/// otherwise (1 fetches one at a time).
const PARALLEL_DOWNLOADS: usize = 8;

/// How many artifacts are fetched at once.
fn download_concurrency() -> Result<usize> {
    match settings::env("HAB_DOWNLOAD_CONCURRENCY") {
        None => Ok(PARALLEL_DOWNLOADS),
        Some(value) => match value.parse::<usize>() {
            Ok(n @ 1..=64) => Ok(n),
            _ => bail!("HAB_DOWNLOAD_CONCURRENCY must be a number from 1 to 64, not `{value}`"),
        },
    }
}

/// An artifact to have in the download directory.
struct Wanted {
    ident: FullyQualifiedIdent,
    /// The depot's checksum, when the resolution already told it.
    checksum: Option<Blake2bHash>,
    /// The channel it must be downloaded from (the requested package); dependencies come by
    /// their fully qualified identifier, whatever their channels.
    channel: Option<ChannelName>,
    /// What the depot's verified index says of its artifact, when channels are verified.
    expected: Option<Expected>,
}

/// `hab pkg install IDENT|HART…`.
pub(super) fn run_install(
    args: &[String],
    channel: Option<ChannelName>,
    local: Local,
    binlink: bool,
    cache: &KeyCacheArg,
    depot: &DepotArgs,
    tuf: &TufArgs,
) -> Result<ExitCode> {
    let mut files = Vec::new();
    let mut idents = Vec::new();
    for arg in args {
        match PackageArg::parse(arg)? {
            PackageArg::Artifact(path) => files.push(Request::from(path)),
            PackageArg::Ident(ident) => idents.push(ident),
        }
    }
    let keys = settings::key_cache(cache.cache_key_path.as_deref())?;
    let root = settings::fs_root();
    let target = settings::target(None)?;

    let mut needed = Vec::new();
    for ident in &idents {
        match root.latest_installed(ident)? {
            Some(found) if local == Local::Use => say!("{found} is already installed"),
            _ => needed.push(ident.clone()),
        }
    }
    let paths: Vec<PathBuf> = files.iter().map(|f| f.path.clone()).collect();
    let outcomes = if !needed.is_empty() {
        let client = client(depot)?;
        let verifier = super::tuf::verifier(&client, tuf, &keys)?;
        let channel = settings::channel(channel)?;
        block_on(install_from_depot(
            &client,
            verifier.as_deref(),
            &channel,
            &needed,
            files,
            Place {
                root: &root,
                keys: &keys,
                target,
            },
            local,
        ))?
    } else if files.is_empty() {
        Vec::new()
    } else {
        install_with_progress(&root, &files, &keys, target)?
    };
    report(&outcomes);
    if binlink {
        let dest = root.path().join("bin");
        for ident in &idents {
            if let Some(found) = root.latest_installed(ident)? {
                super::binlink::binlink(&root, &found, &dest)?;
            }
        }
        for path in &paths {
            let found = metadata::read_metadata(path, &UnpackLimits::default())
                .with_context(|| format!("cannot read `{}`", path.display()))?;
            super::binlink::binlink(&root, &found.ident, &dest)?;
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// A command-line argument naming a package: an existing file is a `.hart`, anything else an
/// identifier.
pub(super) enum PackageArg {
    /// A `.hart` file.
    Artifact(PathBuf),
    /// `ORIGIN/NAME[/VERSION[/RELEASE]]`.
    Ident(PackageIdent),
}

impl PackageArg {
    /// Reads one argument; a name ending in `.hart` that is not a file is an error.
    pub(super) fn parse(arg: &str) -> Result<Self> {
        let path = Path::new(arg);
        if path.is_file() {
            return Ok(Self::Artifact(path.to_owned()));
        }
        if arg.ends_with(".hart") {
            bail!("no such artifact `{arg}`");
        }
        let ident = arg.parse().with_context(|| {
            format!(
                "`{arg}` is neither a .hart file nor a package identifier \
                 (ORIGIN/NAME[/VERSION[/RELEASE]])"
            )
        })?;
        Ok(Self::Ident(ident))
    }
}

/// Says what happened to each package of an install.
pub(super) fn report(outcomes: &[Outcome]) {
    for outcome in outcomes {
        match outcome {
            Outcome::Installed(ident) => say!("Installed {ident}"),
            Outcome::AlreadyInstalled(ident) => say!("{ident} is already installed"),
        }
    }
}

/// Whether what is already on this machine counts.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Local {
    /// An installed package satisfies an identifier, and a cached artifact with the depot's
    /// checksum is not downloaded again.
    Use,
    /// `--ignore-local`: identifiers are resolved on the depot whatever is installed, and
    /// artifacts are downloaded even when cached (dependencies already installed stay).
    Ignore,
}

/// Where packages are installed, with which keys, for which target.
#[derive(Clone, Copy)]
pub(super) struct Place<'a> {
    /// The filesystem root.
    pub root: &'a FsRoot,
    /// The key cache that verifies and receives public keys.
    pub keys: &'a KeyCache,
    /// The target the packages must be built for.
    pub target: PackageTarget,
}

/// Installs `idents` from the depot, with the artifacts `files`, as one set under `root`: each
/// identifier is resolved to its latest release in `channel` (a view URL's channel wins), then
/// it and every TDEPS entry not installed yet are fetched into the artifact cache, with the
/// public keys their headers name, and everything is verified before anything is installed
/// (`install_all_reporting`, run off the async threads). Returns what happened to each package,
/// dependencies first.
pub(super) async fn install_from_depot(
    client: &Client,
    verifier: Option<&TufClient>,
    channel: &ChannelName,
    idents: &[PackageIdent],
    mut files: Vec<Request>,
    place: Place<'_>,
    local: Local,
) -> Result<Vec<Outcome>> {
    let Place { root, keys, target } = place;
    let channel = client.channel_or(channel);
    let wanted = resolve(client, verifier, idents, target, channel, Some(root)).await?;
    let depot = Depot { client, verifier };
    let fetched = fetch(depot, &wanted, target, &root.artifact_cache(), keys, local).await?;
    // install_all checks each artifact holds what was resolved, while staging it.
    files.extend(fetched.into_iter().map(|(ident, path)| Request {
        path,
        expected: Some(ident),
    }));
    let (root, keys) = (root.clone(), keys.clone());
    let outcomes =
        tokio::task::spawn_blocking(move || install_with_progress(&root, &files, &keys, target))
            .await
            .context("the install task failed")??;
    Ok(outcomes)
}

/// Where `hab pkg download` puts what it fetches, and for which target.
pub(super) struct DownloadPlace {
    /// `--download-directory`: artifacts in `DIR/artifacts`, public keys in `DIR/keys` too.
    pub dir: Option<PathBuf>,
    /// `-t/--target`.
    pub target: Option<PackageTarget>,
}

/// The identifiers of a `--file`: one a line, blank lines and `#` comments skipped.
pub(super) fn idents_in(path: &Path) -> Result<Vec<PackageIdent>> {
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("cannot read `{}`", path.display()))?;
    let mut idents = Vec::new();
    for (number, line) in text.lines().enumerate() {
        let line = line.split('#').next().unwrap_or_default().trim();
        if line.is_empty() {
            continue;
        }
        let ident = line
            .parse()
            .with_context(|| format!("`{}`, line {}", path.display(), number + 1))?;
        idents.push(ident);
    }
    Ok(idents)
}

/// `hab pkg download IDENT…`: the artifacts' paths on stdout, one a line.
pub(super) fn run_download(
    idents: &[PackageIdent],
    place: DownloadPlace,
    channel: Option<ChannelName>,
    cache: &KeyCacheArg,
    depot: &DepotArgs,
    tuf: &TufArgs,
) -> Result<ExitCode> {
    if idents.is_empty() {
        bail!("no package to download: give identifiers or a --file that lists some");
    }
    let keys = settings::key_cache(cache.cache_key_path.as_deref())?;
    let target = settings::target(place.target)?;
    let (dir, key_dir) = match place.dir {
        Some(dir) => (dir.join("artifacts"), Some(KeyCache::new(dir.join("keys")))),
        None => (settings::fs_root().artifact_cache(), None),
    };
    let client = client(depot)?;
    let verifier = super::tuf::verifier(&client, tuf, &keys)?;
    let channel = settings::channel(channel)?;
    let fetched = block_on(async {
        let channel = client.channel_or(&channel);
        let verifier = verifier.as_deref();
        let wanted = resolve(&client, verifier, idents, target, channel, None).await?;
        let depot = Depot {
            client: &client,
            verifier,
        };
        fetch(depot, &wanted, target, &dir, &keys, Local::Use).await
    })?;
    // Nothing is installed here, so nothing else reads these artifacts: check each holds
    // what was resolved (install checks the same while staging).
    for (ident, path) in &fetched {
        let found = metadata::read_metadata(path, &UnpackLimits::default())
            .with_context(|| format!("cannot read `{}`", path.display()))?;
        if &found.ident != ident || found.target != target {
            bail!(
                "`{}` holds `{}` ({}), not `{ident}` ({target})",
                path.display(),
                found.ident,
                found.target
            );
        }
        // The download directory carries the keys that verify it, as `hab pkg bulkupload`
        // (and the stock client) expect.
        if let Some(key_dir) = &key_dir {
            let artifact = Artifact::open(path)
                .with_context(|| format!("cannot read `{}`", path.display()))?;
            let key = keys.public_key(artifact.header().signer())?;
            key_dir.write_public(&key)?;
        }
    }
    for (_, path) in fetched {
        out!("{}", path.display());
    }
    Ok(ExitCode::SUCCESS)
}

/// The latest package satisfying each of `idents` in `channel`, after its TDEPS (those not
/// installed under `root`, when given), without duplicates.
async fn resolve(
    client: &Client,
    verifier: Option<&TufClient>,
    idents: &[PackageIdent],
    target: PackageTarget,
    channel: &ChannelName,
    root: Option<&FsRoot>,
) -> Result<Vec<Wanted>> {
    let mut wanted: Vec<Wanted> = Vec::new();
    let mut add = |item: Wanted| {
        if !wanted.iter().any(|w| w.ident == item.ident) {
            wanted.push(item);
        }
    };
    for ident in idents {
        if let Some(verifier) = verifier {
            let (release, tdeps) =
                resolve_verified(client, verifier, ident, target, channel).await?;
            for dep in tdeps {
                if root.is_none_or(|root| !root.is_installed(&dep)) {
                    add(verified_dependency(client, verifier, dep, target).await?);
                }
            }
            add(release);
            continue;
        }
        let package = match client.latest(ident, target, Some(channel)).await {
            Ok(package) => package,
            Err(err) if err.is_not_found() => {
                let what =
                    format!("no package satisfies `{ident}` ({target}) in channel `{channel}`");
                let hinted = match in_other_channels(client, ident, target).await {
                    Some((found, channels, pick)) => {
                        let names = channels
                            .iter()
                            .map(|c| format!("`{c}`"))
                            .collect::<Vec<_>>()
                            .join(", ");
                        Hinted {
                            what: format!(
                                "{what}; its latest release `{found}` is in channel{} {names}",
                                if channels.len() == 1 { "" } else { "s" }
                            ),
                            // A view URL's channel wins over -c: name the view instead.
                            hint: if client.url().channel().is_some() {
                                format!(
                                    "use the view of that channel (…/v1/depot/views/{pick}), \
                                     or promote the release first: hab pkg promote {found} \
                                     {channel}"
                                )
                            } else {
                                format!(
                                    "choose that channel with -c/--channel {pick} (or \
                                     HAB_BLDR_CHANNEL={pick}), or promote the release first: \
                                     hab pkg promote {found} {channel}"
                                )
                            },
                        }
                    }
                    None => Hinted {
                        what,
                        hint: format!(
                            "check the identifier and the channel (-c/--channel, \
                             HAB_BLDR_CHANNEL, or a view URL); `hab pkg search {}` lists \
                             what the depot has",
                            ident.name()
                        ),
                    },
                };
                return Err(anyhow::Error::new(err).context(hinted));
            }
            Err(err) => {
                return Err(err).with_context(|| {
                    format!("cannot resolve `{ident}` ({target}) in channel `{channel}`")
                });
            }
        };
        if !ident.satisfied_by(&package.ident) || package.target != target {
            bail!(
                "the depot answered `{}` ({}) for `{ident}` ({target}) in channel `{channel}`",
                package.ident,
                package.target
            );
        }
        for dep in &package.tdeps {
            if root.is_none_or(|root| !root.is_installed(dep)) {
                add(Wanted {
                    ident: dep.clone(),
                    checksum: None,
                    channel: None,
                    expected: None,
                });
            }
        }
        add(Wanted {
            ident: package.ident,
            checksum: Some(package.checksum),
            channel: Some(channel.clone()),
            expected: None,
        });
    }
    Ok(wanted)
}

/// The release satisfying `ident` first in the verified index of `channel` (its latest), and
/// its TDEPS. The TDEPS list comes from the depot's package answer; each dependency is then
/// checked against the verified `unstable` index like the release itself.
async fn resolve_verified(
    client: &Client,
    verifier: &TufClient,
    ident: &PackageIdent,
    target: PackageTarget,
    channel: &ChannelName,
) -> Result<(Wanted, Vec<FullyQualifiedIdent>)> {
    let Some((release, expected)) = super::tuf::resolve(verifier, ident, target, channel).await?
    else {
        if let Some(package) = private_latest(client, ident, target, channel).await {
            super::tuf::note_private(&package.ident);
            let wanted = Wanted {
                checksum: Some(package.checksum),
                ident: package.ident,
                channel: Some(channel.clone()),
                expected: None,
            };
            return Ok((wanted, package.tdeps));
        }
        let shown = if ident.is_fully_qualified() {
            "unstable".to_owned()
        } else {
            channel.to_string()
        };
        return Err(anyhow::Error::msg(Hinted {
            what: format!(
                "no package satisfies `{ident}` ({target}) in the depot's verified index of \
                 channel `{shown}`"
            ),
            hint: format!(
                "check the identifier and the channel (-c/--channel, HAB_BLDR_CHANNEL, or a \
                 view URL); `hab pkg search {}` lists what the depot has",
                ident.name()
            ),
        }));
    };
    let package = client
        .package(&release, target)
        .await
        .with_context(|| format!("cannot look up `{release}` ({target}) on the depot"))?;
    if package.ident != release || package.target != target {
        bail!(
            "the depot answered `{}` ({}) for `{release}` ({target})",
            package.ident,
            package.target
        );
    }
    let wanted = Wanted {
        checksum: Some(expected.checksum),
        ident: release,
        // A fully qualified release is resolved through `unstable`, where it is whatever
        // channel was asked for.
        channel: (!ident.is_fully_qualified()).then(|| channel.clone()),
        expected: Some(expected),
    };
    Ok((wanted, package.tdeps))
}

/// A dependency with what the verified `unstable` index says of it; a private one (with a
/// token, as the depot says) goes on its origin signature only.
async fn verified_dependency(
    client: &Client,
    verifier: &TufClient,
    dep: FullyQualifiedIdent,
    target: PackageTarget,
) -> Result<Wanted> {
    if let Some(expected) = super::tuf::exact(verifier, &dep, target).await? {
        return Ok(Wanted {
            checksum: Some(expected.checksum),
            ident: dep,
            channel: None,
            expected: Some(expected),
        });
    }
    let query = PackageIdent::from(dep.clone());
    match private_latest(client, &query, target, &ChannelName::unstable()).await {
        Some(package) if package.ident == dep => {
            super::tuf::note_private(&dep);
            Ok(Wanted {
                checksum: Some(package.checksum),
                ident: dep,
                channel: None,
                expected: None,
            })
        }
        _ => bail!("`{dep}` ({target}) is not in the depot's verified index of channel `unstable`"),
    }
}

/// The depot's latest release satisfying `ident` in `channel` when it is private, which no
/// signed index lists; only asked with a token (private packages are read with one), so an
/// anonymous install never leaves the verified metadata.
pub(super) async fn private_latest(
    client: &Client,
    ident: &PackageIdent,
    target: PackageTarget,
    channel: &ChannelName,
) -> Option<habitat_depot_client::Package> {
    if !client.has_token() {
        return None;
    }
    let package = client.latest(ident, target, Some(channel)).await.ok()?;
    let private = package.visibility == habitat_core::Visibility::Private;
    (private && ident.satisfied_by(&package.ident) && package.target == target).then_some(package)
}

/// The depot, and its verifier when channels are verified.
#[derive(Clone, Copy)]
struct Depot<'a> {
    client: &'a Client,
    verifier: Option<&'a TufClient>,
}

/// The latest release satisfying `ident` in any channel, with the channels it is in and the
/// one to suggest (`stable` if among them), when it is in some channel: what to tell a user
/// whose channel lacks it. Any failure of these lookups just means there is nothing to tell.
async fn in_other_channels(
    client: &Client,
    ident: &PackageIdent,
    target: PackageTarget,
) -> Option<(FullyQualifiedIdent, Vec<ChannelName>, ChannelName)> {
    let latest = client.latest(ident, target, None).await.ok()?;
    if !ident.satisfied_by(&latest.ident) || latest.target != target {
        return None;
    }
    let channels: Vec<ChannelName> = client
        .package_channels(&latest.ident, target)
        .await
        .ok()?
        .into_iter()
        .map(|c| c.name)
        .collect();
    let pick = channels
        .iter()
        .find(|c| c.as_str() == "stable")
        .or(channels.first())?
        .clone();
    Some((latest.ident, channels, pick))
}

/// Fetches `wanted` into `dir` (in parallel, bounded), then the public keys their headers name
/// into `keys`, and checks that each artifact is the package asked for. Returns the files in
/// the order of `wanted`.
async fn fetch(
    depot: Depot<'_>,
    wanted: &[Wanted],
    target: PackageTarget,
    dir: &Path,
    keys: &KeyCache,
    local: Local,
) -> Result<Vec<(FullyQualifiedIdent, PathBuf)>> {
    let fetched: Vec<(FullyQualifiedIdent, PathBuf)> = stream::iter(wanted)
        .map(|item| fetch_one(depot.client, item, target, dir, local))
        .buffered(download_concurrency()?)
        .try_collect()
        .await?;
    let mut known = Vec::new();
    for (ident, path) in &fetched {
        let artifact =
            Artifact::open(path).with_context(|| format!("cannot read `{}`", path.display()))?;
        let signer = artifact.header().signer().clone();
        // Before its key is fetched: a key of another origin is never asked for.
        habitat_core::artifact::check_signer(ident, &signer)
            .with_context(|| format!("cannot use `{}`", path.display()))?;
        let expected = wanted
            .iter()
            .find(|w| w.ident == *ident)
            .and_then(|w| w.expected.as_ref());
        if let Some(expected) = expected
            && expected.signer != signer
        {
            bail!(
                "`{}` is signed by `{signer}`, the depot's verified index says `{}`",
                path.display(),
                expected.signer
            );
        }
        if known.contains(&signer) || keys.public_key(&signer).is_ok() {
            continue;
        }
        say!("Downloading public key {signer}");
        match depot.verifier {
            // Only a key the verified metadata lists, never the first one handed out.
            Some(verifier) => super::tuf::fetch_key(verifier, &signer, keys).await?,
            None => {
                depot
                    .client
                    .download_public_key(ident.origin(), Some(signer.revision()), keys)
                    .await
                    .with_context(|| format!("cannot fetch the public key `{signer}`"))?;
            }
        }
        known.push(signer);
    }
    Ok(fetched)
}

/// Has `item` in `dir`: the cached file when its checksum is the depot's, else a fresh
/// download (which replaces a cached file that differs).
async fn fetch_one(
    client: &Client,
    item: &Wanted,
    target: PackageTarget,
    dir: &Path,
    local: Local,
) -> Result<(FullyQualifiedIdent, PathBuf)> {
    let ident = &item.ident;
    let checksum = match item.checksum {
        Some(checksum) => checksum,
        None => {
            client
                .package(ident, target)
                .await
                .with_context(|| format!("cannot look up `{ident}` ({target}) on the depot"))?
                .checksum
        }
    };
    let archive = ident.archive_name(target);
    let cached = dir.join(&archive);
    if local == Local::Use && cached.is_file() {
        if Blake2bHash::of_file(&cached)? == checksum {
            say!("Using {} from {}", archive, dir.display());
            return Ok((ident.clone(), cached));
        }
        say!(
            "{} differs from the depot's artifact: downloading it again",
            cached.display()
        );
    }
    say!("Downloading {archive}");
    let bar = Transfer::start(&ident.to_string(), None);
    let downloaded = client
        .download(ident, target, item.channel.as_ref(), dir, |p| {
            bar.update(p.done, p.total)
        })
        .await;
    let rate = bar.finish(
        downloaded
            .as_ref()
            .map(|d| d.size - d.resumed_from)
            .unwrap_or(0),
    );
    let downloaded = downloaded.with_context(|| format!("cannot download `{ident}` ({target})"))?;
    say!("Downloaded {archive}: {rate}");
    if downloaded.checksum != checksum {
        // Do not leave a file that the next run would have to check again.
        let _ = std::fs::remove_file(&downloaded.path);
        let source = if item.expected.is_some() {
            "the depot's verified index"
        } else {
            "the depot"
        };
        bail!(
            "the artifact downloaded for `{ident}` ({target}) has checksum `{}`, {source} \
             lists `{checksum}`",
            downloaded.checksum
        );
    }
    if let Some(expected) = &item.expected
        && downloaded.size != expected.size
    {
        let _ = std::fs::remove_file(&downloaded.path);
        bail!(
            "the artifact downloaded for `{ident}` ({target}) is {} bytes, the depot's \
             verified index lists {}",
            downloaded.size,
            expected.size
        );
    }
    Ok((ident.clone(), downloaded.path))
}

/// Verifies and installs `files` all or nothing, with a bar when there are several.
pub(super) fn install_with_progress(
    root: &FsRoot,
    files: &[Request],
    keys: &KeyCache,
    target: PackageTarget,
) -> Result<Vec<Outcome>> {
    let steps = (files.len() > 1).then(|| Steps::start("Verifying", files.len() as u64));
    let outcomes = install_all_reporting(
        root,
        files,
        keys,
        &UnpackLimits::default(),
        target,
        |ident| {
            if let Some(steps) = &steps {
                steps.step(ident.to_string());
            }
        },
    );
    if let Some(steps) = steps {
        steps.finish();
    }
    Ok(outcomes?)
}
