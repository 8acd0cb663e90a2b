//! Verified channels (docs/commands.md, "Verified channels"; docs/security.md, "Client"): the
//! depot's TUF root pinned with `hab depot trust` or named by `--tuf-root`, and what
//! `hab pkg install`, `hab pkg download` and `hab start` ask the verified metadata: a
//! channel's releases, a release's checksum and size, an origin's public key.

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;

use anyhow::{Context, Result, bail};
use habitat_core::{
    Blake2bHash, ChannelName, FullyQualifiedIdent, KeyCache, NamedRevision, PackageIdent,
    PackageTarget, PublicKey,
};
use habitat_depot_client::Client;
use habitat_depot_client::tuf::{self, ChannelIndex, TufClient};

use super::remote::{block_on, client};
use super::{DepotArgs, KeyCacheArg, TufArgs};
use crate::output::Hinted;
use crate::say;
use crate::settings::{self, TufMode};

/// What the verified index says a release's artifact is.
#[derive(Clone, Debug)]
pub(super) struct Expected {
    /// The BLAKE2b-256 of the `.hart`.
    pub checksum: Blake2bHash,
    /// Its size in bytes.
    pub size: u64,
    /// The origin key that signed it.
    pub signer: NamedRevision,
}

/// The verifier of the depot `client` talks to, when a root is pinned for it and `HAB_TUF`
/// is not `off`. Without a pinned root: `HAB_TUF=required` refuses, else a one-line notice
/// says that the channel is not verified (once: each command calls this once).
pub(super) fn verifier(
    client: &Client,
    args: &TufArgs,
    keys: &KeyCache,
) -> Result<Option<Arc<TufClient>>> {
    let mode = settings::tuf_mode()?;
    if mode == TufMode::Off {
        return Ok(None);
    }
    let cache = tuf::cache_dir(keys.dir(), client.url());
    let verifier = match settings::tuf_root(args.tuf_root.as_deref())? {
        Some(path) => {
            let root = std::fs::read(&path)
                .with_context(|| format!("cannot read the TUF root `{}`", path.display()))?;
            Some(
                TufClient::new(client.clone(), &root, &cache)
                    .with_context(|| format!("cannot use the TUF root `{}`", path.display()))?,
            )
        }
        None => TufClient::from_cache(client.clone(), &cache)?,
    };
    match verifier {
        Some(verifier) => Ok(Some(Arc::new(verifier))),
        None => {
            let depot = tuf::Fetch::depot(client);
            let trust = format!("hab depot trust --url {depot} --root-sha256 HEX");
            if mode == TufMode::Required {
                return Err(anyhow::Error::msg(Hinted {
                    what: format!(
                        "HAB_TUF=required, and no TUF root is pinned for the depot {depot}"
                    ),
                    hint: format!(
                        "pin its root with `{trust}` (the sha256 of its 1.root.json, obtained \
                         from the depot's operator), or name the root file with --tuf-root or \
                         HAB_TUF_ROOT"
                    ),
                }));
            }
            say!(
                "Note: the channels of {depot} are not verified (no TUF root pinned; see \
                 `{trust}`)"
            );
            Ok(None)
        }
    }
}

/// The verified index of `ident`'s origin and name in `channel` (`unstable` for a fully
/// qualified identifier, since every release is there), `None` when it has none there.
pub(super) async fn index(
    verifier: &TufClient,
    ident: &PackageIdent,
    target: PackageTarget,
    channel: &ChannelName,
) -> Result<Option<ChannelIndex>> {
    let unstable = ChannelName::unstable();
    let channel = if ident.is_fully_qualified() {
        &unstable
    } else {
        channel
    };
    verifier
        .index(ident.origin(), channel, ident.name(), target)
        .await
        .with_context(|| {
            format!("cannot verify the index of `{ident}` ({target}) in channel `{channel}`")
        })
}

/// The verified facts of the release that satisfies `ident` first in `channel`'s index.
pub(super) async fn resolve(
    verifier: &TufClient,
    ident: &PackageIdent,
    target: PackageTarget,
    channel: &ChannelName,
) -> Result<Option<(FullyQualifiedIdent, Expected)>> {
    let Some(index) = index(verifier, ident, target, channel).await? else {
        return Ok(None);
    };
    match tuf::latest(&index, ident) {
        Some(release) => Ok(Some((release.ident.clone(), expected(release)?))),
        None => Ok(None),
    }
}

/// The verified facts of a release named exactly (a dependency): from the `unstable` index.
pub(super) async fn exact(
    verifier: &TufClient,
    ident: &FullyQualifiedIdent,
    target: PackageTarget,
) -> Result<Expected> {
    let query = PackageIdent::from(ident.clone());
    match resolve(verifier, &query, target, &ChannelName::unstable()).await? {
        Some((found, expected)) if found == *ident => Ok(expected),
        _ => {
            bail!("`{ident}` ({target}) is not in the depot's verified index of channel `unstable`")
        }
    }
}

fn expected(release: &tuf::IndexedRelease) -> Result<Expected> {
    Ok(Expected {
        checksum: release
            .checksum
            .parse()
            .with_context(|| format!("the verified index of `{}`", release.ident))?,
        size: release.size,
        signer: release
            .signer
            .parse()
            .with_context(|| format!("the verified index of `{}`", release.ident))?,
    })
}

/// Puts the public key `signer` into `keys` from the depot's verified `keys/` target.
pub(super) async fn fetch_key(
    verifier: &TufClient,
    signer: &NamedRevision,
    keys: &KeyCache,
) -> Result<()> {
    let origin = signer
        .name()
        .parse()
        .with_context(|| format!("the key name `{signer}`"))?;
    let text = verifier
        .origin_key(&origin, signer.revision())
        .await
        .with_context(|| format!("cannot verify the public key `{signer}`"))?
        .with_context(|| format!("the depot's verified metadata lists no public key `{signer}`"))?;
    let key = PublicKey::parse(&text)
        .with_context(|| format!("the verified key file `{signer}` is not a public key"))?;
    if key.name() != signer {
        bail!(
            "the verified key file `{signer}` holds the key `{}`",
            key.name()
        );
    }
    keys.write_public(&key)?;
    Ok(())
}

/// `hab depot trust`: pins the depot's root after checking its fingerprint.
pub(super) fn run_trust(
    root_sha256: &str,
    cache: &KeyCacheArg,
    depot: &DepotArgs,
) -> Result<ExitCode> {
    let keys = settings::key_cache(cache.cache_key_path.as_deref())?;
    let client = client(depot)?;
    let dir: PathBuf = tuf::cache_dir(keys.dir(), client.url());
    let depot_name = tuf::Fetch::depot(&client);
    block_on(async {
        TufClient::trust(&client, root_sha256, &dir)
            .await
            .with_context(|| format!("cannot pin the TUF root of {depot_name}"))
    })?;
    say!(
        "Pinned the TUF root of {depot_name} (1.root.json, sha256 {}) in {}",
        root_sha256.trim().to_lowercase(),
        shown(&dir)
    );
    Ok(ExitCode::SUCCESS)
}

fn shown(dir: &Path) -> String {
    dir.display().to_string()
}
