//! Packing a directory into a signed artifact (`hab pkg pack`).
//!
//! The tar lists the parent directories `hab/`, `hab/pkgs/`, … down to the package directory,
//! then the generated metadata files, then the source tree depth-first in byte order of names,
//! so the member order is deterministic. The payload is written once: after a gap the size of
//! the header (fixed for a given signer), hashed as it is written, and the header is written
//! into the gap at the end.

use std::fs::{self, File};
use std::io::{Seek, SeekFrom, Write};
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};

use crate::artifact::{finish_file, header_len, write_header};
use crate::error::{Error, IoContext, Result};
use crate::hash::HashingWriter;
use crate::ident::FullyQualifiedIdent;
use crate::keys::SecretKey;
use crate::target::PackageTarget;

/// Files `pack` writes itself; the source directory must not have them.
const GENERATED: &[&str] = &["IDENT", "TARGET", "DEPS", "TDEPS"];

/// What to pack.
#[derive(Clone, Debug)]
pub struct PackSpec {
    /// The package's identifier.
    pub ident: FullyQualifiedIdent,
    /// Its target.
    pub target: PackageTarget,
    /// Direct runtime dependencies (DEPS).
    pub deps: Vec<FullyQualifiedIdent>,
    /// Their transitive closure (TDEPS), dependencies before dependents.
    pub tdeps: Vec<FullyQualifiedIdent>,
}

fn bad_source(path: &Path, reason: impl Into<String>) -> Error {
    Error::PackSource {
        path: path.to_owned(),
        reason: reason.into(),
    }
}

/// Packs `src` as the package `spec` into `out_dir`, signed with `key`, and returns the path of
/// the new `.hart` (named `{origin}-{name}-{version}-{release}-{target}.hart`).
pub fn pack(src: &Path, out_dir: &Path, spec: &PackSpec, key: &SecretKey) -> Result<PathBuf> {
    if key.name().name() != spec.ident.origin().as_str() {
        return Err(Error::MalformedKey {
            name: key.name().to_string(),
            reason: format!("it is not a key of origin `{}`", spec.ident.origin()),
        });
    }
    for name in GENERATED {
        if src.join(name).symlink_metadata().is_ok() {
            return Err(bad_source(
                &src.join(name),
                "hab pkg pack writes this file itself; remove it",
            ));
        }
    }
    let meta = src.metadata().at("read", src)?;
    if !meta.is_dir() {
        return Err(bad_source(src, "not a directory"));
    }
    check_toml(&src.join("default.toml"))?;
    // The artifact would pack itself (and earlier artifacts) into the package.
    let (src_abs, out_abs) = (
        src.canonicalize().at("read", src)?,
        out_dir.canonicalize().at("read", out_dir)?,
    );
    if out_abs.starts_with(&src_abs) {
        return Err(bad_source(
            src,
            format!(
                "the output directory `{}` is inside it; write the .hart elsewhere",
                out_dir.display()
            ),
        ));
    }

    let mut temp = tempfile::Builder::new()
        .prefix(".hart-")
        .tempfile_in(out_dir)
        .at("create temporary file in", out_dir)?;
    let temp_path = temp.path().to_owned();
    let file = temp.as_file_mut();
    file.seek(SeekFrom::Start(header_len(key.name())))
        .at("seek", &temp_path)?;
    let hashing = HashingWriter::new(std::io::BufWriter::with_capacity(1 << 20, &mut *file));
    let mut tar = tar::Builder::new(crate::xz::encoder(hashing)?);
    tar.follow_symlinks(false);

    let prefix = PathBuf::from(format!("hab/pkgs/{}", spec.ident));
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    let write_err = |e| Error::Io {
        action: "write",
        path: temp_path.clone(),
        error: e,
    };
    for dir in prefix
        .ancestors()
        .collect::<Vec<_>>()
        .into_iter()
        .rev()
        .skip(1)
    {
        append_dir(&mut tar, dir, 0o755, now).map_err(write_err)?;
    }

    let lines = |idents: &[FullyQualifiedIdent]| {
        idents.iter().map(|i| format!("{i}\n")).collect::<String>()
    };
    let mut generated = vec![
        ("IDENT", format!("{}\n", spec.ident)),
        ("TARGET", format!("{}\n", spec.target)),
    ];
    if !spec.deps.is_empty() {
        generated.push(("DEPS", lines(&spec.deps)));
    }
    if !spec.tdeps.is_empty() {
        generated.push(("TDEPS", lines(&spec.tdeps)));
    }
    if src.join("bin").is_dir() && src.join("PATH").symlink_metadata().is_err() {
        generated.push(("PATH", format!("/{}/bin\n", prefix.display())));
    }
    if src.join("MANIFEST").symlink_metadata().is_err() {
        generated.push(("MANIFEST", manifest(spec, &prefix)));
    }
    for (name, content) in &generated {
        let mut header = tar::Header::new_gnu();
        header.set_entry_type(tar::EntryType::Regular);
        header.set_mode(0o644);
        header.set_mtime(now);
        header.set_size(content.len() as u64);
        tar.append_data(&mut header, prefix.join(name), content.as_bytes())
            .map_err(write_err)?;
    }

    append_tree(&mut tar, src, src, &prefix)?;

    let hashing = tar
        .into_inner()
        .map_err(write_err)?
        .finish()
        .map_err(write_err)?;
    let (payload_hash, buffered) = hashing.finish();
    buffered
        .into_inner()
        .map_err(|e| write_err(e.into_error()))?;
    write_header(temp.as_file_mut(), key, &payload_hash).at("write", &temp_path)?;
    temp.as_file_mut().flush().at("write", &temp_path)?;

    let dst = out_dir.join(spec.ident.archive_name(spec.target));
    finish_file(temp, &dst)?;
    Ok(dst)
}

/// The MANIFEST of a package that brings none: a short Markdown page for people, which
/// Habitat's own tools also require to be present (docs/formats.md, "Metadata files").
fn manifest(spec: &PackSpec, prefix: &Path) -> String {
    let ident = &spec.ident;
    let title = format!("{} {}", ident.origin(), ident.name());
    let list = |idents: &[FullyQualifiedIdent]| {
        idents
            .iter()
            .map(ToString::to_string)
            .collect::<Vec<_>>()
            .join(" ")
    };
    format!(
        "{title}\n{underline}\n\nVersion: {version}\nRelease: {release}\nTarget: {target}\n\
         Path: /{path}\nDependencies: {deps}\nTransitive Dependencies: {tdeps}\n\n\
         Packed by `hab pkg pack` {packer}.\n",
        underline = "=".repeat(title.chars().count()),
        version = ident.version(),
        release = ident.release(),
        target = spec.target,
        path = prefix.display(),
        deps = list(&spec.deps),
        tdeps = list(&spec.tdeps),
        packer = env!("CARGO_PKG_VERSION"),
    )
}

/// Refuses a `default.toml` that is not valid TOML, naming the line and column, before
/// anything is signed; absent is fine.
fn check_toml(path: &Path) -> Result<()> {
    let text = match fs::read(path) {
        Ok(bytes) => bytes,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
        Err(e) => {
            return Err(Error::Io {
                action: "read",
                path: path.to_owned(),
                error: e,
            });
        }
    };
    let text = String::from_utf8(text).map_err(|e| {
        let (line, column) = line_column(
            &String::from_utf8_lossy(e.as_bytes()),
            e.utf8_error().valid_up_to(),
        );
        bad_source(path, format!("not UTF-8 at line {line}, column {column}"))
    })?;
    if let Err(e) = text.parse::<toml::Table>() {
        let at = e.span().map_or(0, |span| span.start);
        let (line, column) = line_column(&text, at);
        return Err(bad_source(
            path,
            format!(
                "not valid TOML at line {line}, column {column}: {}",
                e.message().trim_end()
            ),
        ));
    }
    Ok(())
}

/// The 1-based line and column (in characters) of byte `offset` in `text`.
fn line_column(text: &str, offset: usize) -> (usize, usize) {
    let before = text.get(..offset).unwrap_or(text);
    let line = before.matches('\n').count() + 1;
    let column = before
        .rsplit('\n')
        .next()
        .map_or(0, |last| last.chars().count())
        + 1;
    (line, column)
}

fn append_dir<W: Write>(
    tar: &mut tar::Builder<W>,
    path: &Path,
    mode: u32,
    mtime: u64,
) -> std::io::Result<()> {
    let mut header = tar::Header::new_gnu();
    header.set_entry_type(tar::EntryType::Directory);
    header.set_mode(mode);
    header.set_mtime(mtime);
    header.set_size(0);
    tar.append_data(&mut header, path, std::io::empty())
}

/// Appends the contents of `dir` (under `root`) below `prefix`, sorted by name, recursively.
fn append_tree<W: Write>(
    tar: &mut tar::Builder<W>,
    root: &Path,
    dir: &Path,
    prefix: &Path,
) -> Result<()> {
    let mut entries = fs::read_dir(dir)
        .at("read directory", dir)?
        .map(|e| e.map(|e| e.path()))
        .collect::<std::io::Result<Vec<_>>>()
        .at("read directory", dir)?;
    entries.sort();
    for path in entries {
        let rel = path.strip_prefix(root).unwrap_or(&path);
        let name = prefix.join(rel);
        let meta = path.symlink_metadata().at("stat", &path)?;
        let mode = meta.permissions().mode() & 0o777;
        let write_err = |e| Error::Io {
            action: "add to the archive",
            path: path.clone(),
            error: e,
        };
        let mut header = tar::Header::new_gnu();
        header.set_mode(mode);
        header.set_mtime(meta.mtime().max(0) as u64);
        if meta.file_type().is_symlink() {
            let target = fs::read_link(&path).at("read link", &path)?;
            check_link(rel, &target).map_err(|reason| bad_source(&path, reason))?;
            header.set_entry_type(tar::EntryType::Symlink);
            header.set_size(0);
            tar.append_link(&mut header, &name, &target)
                .map_err(write_err)?;
        } else if meta.is_dir() {
            append_dir(tar, &name, mode, meta.mtime().max(0) as u64).map_err(write_err)?;
            append_tree(tar, root, &path, prefix)?;
        } else if meta.is_file() {
            header.set_entry_type(tar::EntryType::Regular);
            header.set_size(meta.len());
            let file = File::open(&path).at("open", &path)?;
            tar.append_data(&mut header, &name, file)
                .map_err(write_err)?;
        } else {
            return Err(bad_source(
                &path,
                "only files, directories and symbolic links can be packed",
            ));
        }
    }
    Ok(())
}

/// A packed link must be relative and stay inside the package, as install requires.
fn check_link(rel: &Path, target: &Path) -> Result<(), String> {
    if target.is_absolute() {
        return Err(format!("links to the absolute path `{}`", target.display()));
    }
    let mut depth = rel.components().count() as i64 - 1;
    for component in target.components() {
        match component {
            std::path::Component::ParentDir => depth -= 1,
            std::path::Component::Normal(_) => depth += 1,
            _ => {}
        }
        if depth < 0 {
            return Err(format!(
                "links to `{}`, outside the package",
                target.display()
            ));
        }
    }
    Ok(())
}
