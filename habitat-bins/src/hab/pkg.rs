//! `hab pkg ...`: the local commands (sign, verify, header, info, hash, pack, install, path,
//! list); the depot commands are in `upload.rs` and `remote.rs`.

use std::path::Path;
use std::process::ExitCode;

use anyhow::{Context, Result, bail};
use base64::Engine;
use habitat_core::pack::{PackSpec, pack};
use habitat_core::{
    Artifact, Blake2bHash, FullyQualifiedIdent, OriginName, PackageIdent, PackageTarget,
    UnpackLimits, artifact, metadata,
};

use super::{KeyCacheArg, PkgCommand};
use crate::output::Hinted;
use crate::{out, say, settings};

/// `hab pkg ...`: one arm a subcommand, each handing its arguments to the function that runs
/// it (here for the local commands, in `install.rs`, `upload.rs` and `remote.rs` for the rest).
pub(super) fn run(command: PkgCommand) -> Result<ExitCode> {
    use super::{bulk, install, remote, upload};
    match command {
        PkgCommand::Sign {
            origin,
            source,
            destination,
            cache,
        } => sign(origin.as_ref(), &source, &destination, &cache),
        PkgCommand::Verify { artifact, cache } => verify(&artifact, &cache),
        PkgCommand::Header { artifact } => header(&artifact),
        PkgCommand::Info { artifact, json } => info(&artifact, json),
        PkgCommand::Hash { file } => hash(&file),
        PkgCommand::Pack {
            source,
            ident,
            deps,
            output,
            target,
            cache,
        } => pack_command(&source, ident, &deps, &output, target, &cache),
        PkgCommand::Install {
            artifacts,
            channel,
            ignore_local,
            binlink,
            cache,
            depot,
            tuf,
        } => {
            let local = if ignore_local {
                install::Local::Ignore
            } else {
                install::Local::Use
            };
            install::run_install(&artifacts, channel, local, binlink, &cache, &depot, &tuf)
        }
        PkgCommand::Download {
            idents,
            file,
            download_directory,
            target,
            channel,
            cache,
            depot,
            tuf,
        } => {
            let mut idents = idents;
            for path in &file {
                idents.extend(install::idents_in(path)?);
            }
            let place = install::DownloadPlace {
                dir: download_directory,
                target,
            };
            install::run_download(&idents, place, channel, &cache, &depot, &tuf)
        }
        PkgCommand::Path { ident } => path(&ident),
        PkgCommand::List { filter } => list(filter.as_deref()),
        PkgCommand::Upload {
            artifacts,
            channel,
            force,
            depot,
        } => upload::run(&artifacts, channel.as_ref(), force, &depot),
        PkgCommand::Bulkupload {
            dir,
            channel,
            auto_create_origins,
            force,
            depot,
        } => {
            let options = bulk::Options {
                channel,
                auto_create_origins,
                force,
            };
            bulk::run(&dir, &options, &depot)
        }
        PkgCommand::Delete {
            ident,
            pkg_target,
            target,
            depot,
        } => remote::run_delete(&ident, pkg_target.or(target), &depot),
        PkgCommand::Promote(args) => remote::run_promote(&args),
        PkgCommand::Demote(args) => remote::run_demote(&args),
        PkgCommand::Channels {
            ident,
            target,
            depot,
        } => remote::run_channels(&ident, target, &depot),
        PkgCommand::Search {
            term,
            limit,
            releases,
            depot,
        } => remote::run_search(&term, limit, releases, &depot),
    }
}

/// `hab pkg sign`: signs with the origin's latest secret key.
fn sign(
    origin: Option<&OriginName>,
    source: &Path,
    destination: &Path,
    cache: &KeyCacheArg,
) -> Result<ExitCode> {
    let origin = settings::origin(origin)?;
    let keys = settings::key_cache(cache.cache_key_path.as_deref())?;
    let key = keys.latest_secret(origin.as_str())?;
    artifact::sign(source, destination, &key)
        .with_context(|| format!("cannot sign `{}`", source.display()))?;
    say!("Signed {} with {}", destination.display(), key.name());
    Ok(ExitCode::SUCCESS)
}

/// Refuses, with the next step, a path that cannot be a `.hart` before any read of it fails
/// with a bare OS error: an identifier where a file belongs (`hab pkg info demo/web`), a
/// missing file, a directory.
pub(super) fn artifact_file(path: &Path, command: &str) -> Result<()> {
    let shown = path.display();
    let (what, hint) = match std::fs::metadata(path) {
        Ok(meta) if meta.is_dir() => (
            format!("`{shown}` is a directory, not a .hart file"),
            // A directory of `hab pkg download --download-directory` (or the stock client's).
            if command == "upload" && path.join("artifacts").is_dir() {
                format!("upload what it holds, keys included: hab pkg bulkupload {shown}")
            } else {
                format!("give the .hart files in it: hab pkg {command} {shown}/*.hart")
            },
        ),
        Ok(_) => return Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            match path.to_str().map(str::parse::<PackageIdent>) {
                Some(Ok(ident)) if !path.to_string_lossy().ends_with(".hart") => (
                    format!("no such file `{shown}`: hab pkg {command} reads a .hart file"),
                    format!(
                        "`hab pkg path {ident}` shows an installed package's directory; \
                         `hab pkg download {ident}` fetches its .hart from the depot"
                    ),
                ),
                _ => bail!("no such file `{shown}`"),
            }
        }
        Err(e) => return Err(e).with_context(|| format!("cannot read `{shown}`")),
    };
    Err(anyhow::Error::msg(Hinted { what, hint }))
}

/// `hab pkg verify`: checks the signature and payload hash with the key cache.
fn verify(path: &Path, cache: &KeyCacheArg) -> Result<ExitCode> {
    artifact_file(path, "verify")?;
    let keys = settings::key_cache(cache.cache_key_path.as_deref())?;
    let verified = artifact::verify(path, &keys)
        .with_context(|| format!("`{}` does not verify", path.display()))?;
    say!(
        "Verified {} (signed by {})",
        path.display(),
        verified.signer()
    );
    Ok(ExitCode::SUCCESS)
}

/// `hab pkg hash`: the file's BLAKE2b-256 hash on stdout.
fn hash(file: &Path) -> Result<ExitCode> {
    out!("{}", Blake2bHash::of_file(file)?);
    Ok(ExitCode::SUCCESS)
}

/// `hab pkg pack`: packs `source` into a signed .hart in `output` and prints its path.
fn pack_command(
    source: &Path,
    ident: PackageIdent,
    deps: &[PackageIdent],
    output: &Path,
    target: Option<PackageTarget>,
    cache: &KeyCacheArg,
) -> Result<ExitCode> {
    let keys = settings::key_cache(cache.cache_key_path.as_deref())?;
    let spec = pack_spec(ident, deps, settings::target(target)?)?;
    let key = keys.latest_secret(spec.ident.origin().as_str())?;
    std::fs::create_dir_all(output)
        .with_context(|| format!("cannot create `{}`", output.display()))?;
    let hart = pack(source, output, &spec, &key).map_err(|err| match err {
        // Already says `cannot pack` and names the path inside the source that is at fault.
        err @ habitat_core::Error::PackSource { .. } => anyhow::Error::new(err),
        err => anyhow::Error::new(err).context(format!("cannot pack `{}`", source.display())),
    })?;
    say!("Packed {} signed by {}", spec.ident, key.name());
    out!("{}", hart.display());
    Ok(ExitCode::SUCCESS)
}

/// `hab pkg path`: the directory of the newest installed package satisfying `ident`.
fn path(ident: &PackageIdent) -> Result<ExitCode> {
    let root = settings::fs_root();
    match root.latest_installed(ident)? {
        Some(found) => out!("{}", root.package_dir(&found).display()),
        None => bail!(
            "`{ident}` is not installed under `{}`",
            root.path().display()
        ),
    }
    Ok(ExitCode::SUCCESS)
}

/// `hab pkg list`: the installed packages `filter` (an origin or an identifier) lets through.
fn list(filter: Option<&str>) -> Result<ExitCode> {
    let query = filter.map(parse_list_filter).transpose()?;
    let root = settings::fs_root();
    for ident in root.installed(None)? {
        if query.as_ref().is_none_or(|q| q.matches(&ident)) {
            out!("{ident}");
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// `hab pkg header`: the .hart's header, as Habitat prints it.
fn header(path: &Path) -> Result<ExitCode> {
    artifact_file(path, "header")?;
    let artifact =
        Artifact::open(path).with_context(|| format!("cannot read `{}`", path.display()))?;
    let header = artifact.header();
    out!("Package        : {}", path.display());
    out!("Format Version : {}", artifact::FORMAT_VERSION);
    out!("Key Name       : {}", header.signer());
    out!("Hash Type      : {}", artifact::HASH_TYPE);
    out!(
        "Raw Signature  : {}",
        base64::engine::general_purpose::STANDARD.encode(header.signed_message())
    );
    Ok(ExitCode::SUCCESS)
}

/// `hab pkg info`: what the .hart says about its package, as text or JSON.
fn info(path: &Path, json: bool) -> Result<ExitCode> {
    artifact_file(path, "info")?;
    let metadata = metadata::read_metadata(path, &UnpackLimits::default())
        .with_context(|| format!("cannot read `{}`", path.display()))?;
    if json {
        out!("{}", serde_json::to_string_pretty(&metadata)?);
        return Ok(ExitCode::SUCCESS);
    }
    let list = |idents: &[FullyQualifiedIdent]| {
        idents
            .iter()
            .map(ToString::to_string)
            .collect::<Vec<_>>()
            .join(", ")
    };
    out!("Ident          : {}", metadata.ident);
    out!("Target         : {}", metadata.target);
    out!("Deps           : {}", list(&metadata.deps));
    out!("TDeps          : {}", list(&metadata.tdeps));
    out!("Build Deps     : {}", list(&metadata.build_deps));
    out!(
        "Exposes        : {}",
        metadata
            .exposes
            .iter()
            .map(ToString::to_string)
            .collect::<Vec<_>>()
            .join(" ")
    );
    out!(
        "Service        : {}",
        if metadata.is_a_service() { "yes" } else { "no" }
    );
    if let Some(user) = &metadata.svc_user {
        out!("Service User   : {user}");
    }
    if let Some(group) = &metadata.svc_group {
        out!("Service Group  : {group}");
    }
    Ok(ExitCode::SUCCESS)
}

/// Resolves `--dep`s to installed packages and computes TDEPS, dependencies first.
fn pack_spec(
    ident: PackageIdent,
    deps: &[PackageIdent],
    target: PackageTarget,
) -> Result<PackSpec> {
    let version = ident
        .version()
        .context("--ident needs at least ORIGIN/NAME/VERSION")?;
    let release = ident
        .release()
        .map_or_else(habitat_core::ident::release_now, str::to_owned);
    let ident: FullyQualifiedIdent =
        format!("{}/{}/{version}/{release}", ident.origin(), ident.name())
            .parse()
            .context("--ident")?;
    let root = settings::fs_root();
    let mut resolved = Vec::new();
    let mut tdeps: Vec<FullyQualifiedIdent> = Vec::new();
    for dep in deps {
        let found = root.latest_installed(dep)?.with_context(|| {
            format!(
                "dependency `{dep}` is not installed under `{}`",
                root.path().display()
            )
        })?;
        for transitive in root
            .installed_tdeps(&found)?
            .into_iter()
            .chain([found.clone()])
        {
            if !tdeps.contains(&transitive) {
                tdeps.push(transitive);
            }
        }
        resolved.push(found);
    }
    Ok(PackSpec {
        ident,
        target,
        deps: resolved,
        tdeps,
    })
}

/// `hab pkg list` filter: an origin, or an identifier.
enum ListFilter {
    Origin(OriginName),
    Ident(PackageIdent),
}

impl ListFilter {
    fn matches(&self, ident: &FullyQualifiedIdent) -> bool {
        match self {
            Self::Origin(origin) => ident.origin() == origin,
            Self::Ident(query) => query.satisfied_by(ident),
        }
    }
}

fn parse_list_filter(text: &str) -> Result<ListFilter> {
    Ok(if text.contains('/') {
        ListFilter::Ident(text.parse()?)
    } else {
        ListFilter::Origin(text.parse()?)
    })
}
