//! `hab pkg ...`: the local commands (sign, verify, header, info, hash, pack, install, path,
//! list); the depot commands are in `upload.rs` and `remote.rs`.

use std::path::Path;
use std::process::ExitCode;

use anyhow::{Context, Result, bail};
use base64::Engine;
use habitat_core::pack::{PackSpec, pack};
use habitat_core::{
    Artifact, Blake2bHash, FullyQualifiedIdent, PackageIdent, UnpackLimits, artifact, metadata,
};

use super::PkgCommand;
use crate::{out, say, settings};

pub(super) fn run(command: PkgCommand) -> Result<ExitCode> {
    match command {
        PkgCommand::Sign {
            origin,
            source,
            destination,
            cache,
        } => {
            let origin = settings::origin(origin.as_ref())?;
            let keys = settings::key_cache(cache.cache_key_path.as_deref())?;
            let key = keys.latest_secret(origin.as_str())?;
            artifact::sign(&source, &destination, &key)
                .with_context(|| format!("cannot sign `{}`", source.display()))?;
            say!("Signed {} with {}", destination.display(), key.name());
        }
        PkgCommand::Verify {
            artifact: path,
            cache,
        } => {
            let keys = settings::key_cache(cache.cache_key_path.as_deref())?;
            let verified = artifact::verify(&path, &keys)
                .with_context(|| format!("`{}` does not verify", path.display()))?;
            say!(
                "Verified {} (signed by {})",
                path.display(),
                verified.signer()
            );
        }
        PkgCommand::Header { artifact: path } => header(&path)?,
        PkgCommand::Info {
            artifact: path,
            json,
        } => info(&path, json)?,
        PkgCommand::Hash { file } => out!("{}", Blake2bHash::of_file(&file)?),
        PkgCommand::Pack {
            source,
            ident,
            deps,
            output,
            target,
            cache,
        } => {
            let keys = settings::key_cache(cache.cache_key_path.as_deref())?;
            let spec = pack_spec(ident, &deps, settings::target(target)?)?;
            let key = keys.latest_secret(spec.ident.origin().as_str())?;
            std::fs::create_dir_all(&output)
                .with_context(|| format!("cannot create `{}`", output.display()))?;
            let hart = pack(&source, &output, &spec, &key)
                .with_context(|| format!("cannot pack `{}`", source.display()))?;
            say!("Packed {} signed by {}", spec.ident, key.name());
            out!("{}", hart.display());
        }
        PkgCommand::Install {
            artifacts,
            channel,
            ignore_local,
            binlink,
            cache,
            depot,
        } => {
            let local = if ignore_local {
                super::install::Local::Ignore
            } else {
                super::install::Local::Use
            };
            return super::install::run_install(
                &artifacts, channel, local, binlink, &cache, &depot,
            );
        }
        PkgCommand::Download {
            idents,
            download_directory,
            channel,
            cache,
            depot,
        } => {
            return super::install::run_download(
                &idents,
                download_directory,
                channel,
                &cache,
                &depot,
            );
        }
        PkgCommand::Path { ident } => {
            let root = settings::fs_root();
            match root.latest_installed(&ident)? {
                Some(found) => out!("{}", root.package_dir(&found).display()),
                None => bail!(
                    "`{ident}` is not installed under `{}`",
                    root.path().display()
                ),
            }
        }
        PkgCommand::Upload {
            artifacts,
            channel,
            force,
            depot,
        } => return super::upload::run(&artifacts, channel.as_ref(), force, &depot),
        PkgCommand::Promote {
            ident,
            channel,
            target,
            depot,
        } => return super::remote::run_promote(&ident, &channel, target, &depot),
        PkgCommand::Demote {
            ident,
            channel,
            target,
            depot,
        } => return super::remote::run_demote(&ident, &channel, target, &depot),
        PkgCommand::Channels {
            ident,
            target,
            depot,
        } => return super::remote::run_channels(&ident, target, &depot),
        PkgCommand::Search { term, limit, depot } => {
            return super::remote::run_search(&term, limit, &depot);
        }
        PkgCommand::List { filter } => {
            let query = filter.as_deref().map(parse_list_filter).transpose()?;
            let root = settings::fs_root();
            for ident in root.installed(None)? {
                if query.as_ref().is_none_or(|q| q.matches(&ident)) {
                    out!("{ident}");
                }
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}

fn header(path: &Path) -> Result<()> {
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
    Ok(())
}

fn info(path: &Path, json: bool) -> Result<()> {
    let metadata = metadata::read_metadata(path, &UnpackLimits::default())
        .with_context(|| format!("cannot read `{}`", path.display()))?;
    if json {
        out!("{}", serde_json::to_string_pretty(&metadata)?);
        return Ok(());
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
    Ok(())
}

/// Resolves `--dep`s to installed packages and computes TDEPS, dependencies first.
fn pack_spec(
    ident: PackageIdent,
    deps: &[PackageIdent],
    target: habitat_core::PackageTarget,
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
    Origin(habitat_core::OriginName),
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
