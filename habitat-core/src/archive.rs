//! One pass over a package's xz-compressed tar: every member is checked against the safety
//! rules of docs/formats.md ("How install keeps it safe"), small metadata files are collected,
//! and each member is handed to a sink (which writes it, or ignores it).
//!
//! The rules: paths must lie under `hab/pkgs/O/N/V/R/` (one leading `/` is stripped; parent
//! directory entries above it are allowed); no `..`; no hard links, devices, fifos or other
//! special entries; symbolic links must be relative (or absolute into the package's own
//! `/hab/pkgs/O/N/V/R/`) and, followed through every other link of the archive, stay inside
//! the package directory; pax global headers are skipped; nothing may be written through a link or
//! below a file; no member appears twice (except directories), nor replaces a directory that
//! earlier members lie in; total size and entry count are bounded.
//!
//! The unpacked size is bounded twice: the file members' sizes are added up as their headers are
//! read (refused before their data is decompressed), and every byte of the decompressed tar
//! stream is counted as it is read (headers, padding, extension records, the data of entries
//! that are skipped), so the walk stops as soon as the stream passes the bound.

use std::cell::Cell;
use std::collections::{BTreeMap, HashMap};
use std::io::{self, Read};
use std::path::{Component, Path, PathBuf};

use crate::error::{Error, Result};
use crate::ident::FullyQualifiedIdent;
use crate::metadata_files::{MAX_METADATA_FILE, METADATA_FILES, PackageMetadata};

/// Bounds on what one artifact may unpack to (decompression bombs).
#[derive(Clone, Copy, Debug)]
pub struct UnpackLimits {
    /// Total bytes of all file members, and of the whole decompressed tar stream: past it the
    /// walk stops with [`Error::ArchiveLimit`] naming [`UNPACKED_BYTES`].
    pub max_unpacked_bytes: u64,
    /// Number of tar entries.
    pub max_entries: u64,
    /// Memory the xz decoder may use to decode blocks on several threads; past it, it decodes
    /// on one thread (each thread holds a whole block, 24 MiB for Habitat's artifacts). A
    /// server checking many uploads at once wants this small; an install wants it large.
    pub decoder_threading_memory: u64,
}

impl Default for UnpackLimits {
    fn default() -> Self {
        Self {
            max_unpacked_bytes: 16 << 30,
            max_entries: 1_000_000,
            decoder_threading_memory: 512 << 20,
        }
    }
}

/// The `what` of the [`Error::ArchiveLimit`] refusing an archive that unpacks to more than
/// [`UnpackLimits::max_unpacked_bytes`].
pub const UNPACKED_BYTES: &str = "unpacked bytes";

/// The `what` of the [`Error::ArchiveLimit`] refusing an archive of more than
/// [`UnpackLimits::max_entries`] entries.
pub const ENTRIES: &str = "entries";

/// The longest file name the usual file systems allow.
const MAX_NAME_BYTES: usize = 255;

/// The longest member path or link target accepted, leaving room for the install root under
/// the kernel's 4096-byte limit.
const MAX_PATH_BYTES: usize = 3072;

/// Symbolic links followed in a row before giving up, as the kernel does.
const MAX_LINK_HOPS: usize = 40;

/// Receives the checked members of a package, in archive order.
pub(crate) trait Sink {
    /// Called once, before any member, when the package directory is known.
    fn begin(&mut self, ident: &FullyQualifiedIdent) -> Result<()>;
    /// A directory (`rel` empty means the package directory itself).
    fn directory(&mut self, rel: &Path, mode: u32) -> Result<()>;
    /// A regular file.
    fn file(&mut self, rel: &Path, mode: u32, mtime: u64, data: &mut dyn Read) -> Result<()>;
    /// A symbolic link whose target has passed the lexical checks.
    fn symlink(&mut self, rel: &Path, target: &Path) -> Result<()>;
}

/// A sink that keeps nothing: for reading metadata and checking safety only.
pub(crate) struct Discard;

impl Sink for Discard {
    fn begin(&mut self, _: &FullyQualifiedIdent) -> Result<()> {
        Ok(())
    }
    fn directory(&mut self, _: &Path, _: u32) -> Result<()> {
        Ok(())
    }
    fn file(&mut self, _: &Path, _: u32, _: u64, _: &mut dyn Read) -> Result<()> {
        Ok(())
    }
    fn symlink(&mut self, _: &Path, _: &Path) -> Result<()> {
        Ok(())
    }
}

fn unsafe_member(member: &str, reason: impl Into<String>) -> Error {
    Error::UnsafeMember {
        member: member.to_owned(),
        reason: reason.into(),
    }
}

/// Walks an xz-compressed tar payload, checking every member and handing it to `sink`.
pub(crate) fn walk(
    payload: &mut dyn Read,
    limits: &UnpackLimits,
    sink: &mut dyn Sink,
) -> Result<PackageMetadata> {
    let decoder = crate::xz::decoder(payload, limits.decoder_threading_memory)?;
    walk_tar(decoder, limits, sink)
}

/// The reason given for a member that lies outside `hab/pkgs/O/N/V/R/`.
const OUTSIDE_PACKAGE: &str = "outside hab/pkgs/ORIGIN/NAME/VERSION/RELEASE/";

/// The walk itself: each entry is counted, located inside the package directory, checked
/// against the members before it, and handed to the sink by kind; the checks that need the
/// whole archive (parent entries, where links lead) and the metadata parse run at the end.
fn walk_tar(tar: impl Read, limits: &UnpackLimits, sink: &mut dyn Sink) -> Result<PackageMetadata> {
    let exceeded = Cell::new(false);
    let bounded = Bounded {
        inner: tar,
        left: limits.max_unpacked_bytes,
        exceeded: &exceeded,
    };
    walk_bounded(bounded, limits, sink).map_err(|error| {
        // However the tar reader reported the cut (a broken entry, a short read), the cause is
        // the bound.
        if exceeded.get() {
            unpacked_limit(limits)
        } else {
            error
        }
    })
}

/// The error for an archive unpacking to more than the limit.
fn unpacked_limit(limits: &UnpackLimits) -> Error {
    Error::ArchiveLimit {
        what: UNPACKED_BYTES,
        limit: limits.max_unpacked_bytes,
    }
}

/// A reader that gives at most `left` more bytes, then fails (and says so in `exceeded`)
/// instead of reading on: the bound on the decompressed stream.
struct Bounded<'a, R> {
    inner: R,
    left: u64,
    exceeded: &'a Cell<bool>,
}

impl<R: Read> Read for Bounded<'_, R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if buf.is_empty() {
            return Ok(0);
        }
        if self.left == 0 {
            // One byte more than the bound tells a stream that ends exactly there from one
            // that goes on.
            let mut probe = [0u8; 1];
            return match self.inner.read(&mut probe)? {
                0 => Ok(0),
                _ => {
                    self.exceeded.set(true);
                    Err(io::Error::other("the unpacked size limit is passed"))
                }
            };
        }
        let want = buf
            .len()
            .min(usize::try_from(self.left).unwrap_or(usize::MAX));
        let read = self.inner.read(&mut buf[..want])?;
        self.left -= read as u64;
        Ok(read)
    }
}

/// The walk over a bounded stream.
fn walk_bounded(
    tar: impl Read,
    limits: &UnpackLimits,
    sink: &mut dyn Sink,
) -> Result<PackageMetadata> {
    let mut archive = tar::Archive::new(tar);
    let mut state = Walk::default();
    for entry in archive.entries().map_err(Error::CorruptPayload)? {
        let mut entry = entry.map_err(Error::CorruptPayload)?;
        state.count_entry(limits)?;
        // A pax global header carries defaults for the whole archive (`git archive` writes
        // one), not a member.
        if entry.header().entry_type() == tar::EntryType::XGlobalHeader {
            continue;
        }
        let Some(member) = state.locate(&entry, sink)? else {
            continue;
        };
        state.add(member, &mut entry, limits, sink)?;
    }
    state.finish()
}

/// A member inside the package directory, whose parents have been checked.
struct Member {
    /// The path below the package directory (empty for the directory itself).
    rel: PathBuf,
    /// The path as it appears in the archive, for errors.
    shown: String,
}

/// The permission bits of a member (`0o644` when the header's are unreadable).
fn member_mode(header: &tar::Header) -> u32 {
    header.mode().unwrap_or(0o644) & 0o777
}

/// The error for an entry of a kind no package may hold (links, devices, fifos, ...).
fn refused_kind(kind: tar::EntryType, shown: &str) -> Error {
    use tar::EntryType as T;
    let reason = match kind {
        T::Link => "hard links are not allowed".to_owned(),
        T::Char | T::Block => "device entries are not allowed".to_owned(),
        T::Fifo => "fifo entries are not allowed".to_owned(),
        other => format!("unsupported entry type {:?}", other.as_byte() as char),
    };
    unsafe_member(shown, reason)
}

/// Reads a metadata file into memory, refusing one past [`MAX_METADATA_FILE`].
fn read_metadata_file(name: &str, size: u64, data: &mut dyn Read) -> Result<Vec<u8>> {
    if size > MAX_METADATA_FILE {
        return Err(Error::Metadata {
            file: name.to_owned(),
            reason: format!("larger than {MAX_METADATA_FILE} bytes"),
        });
    }
    let mut content = Vec::with_capacity(size as usize);
    data.read_to_end(&mut content)
        .map_err(Error::CorruptPayload)?;
    Ok(content)
}

/// The target of a symbolic link entry, as UTF-8 of a bounded length.
fn link_target<R: Read>(entry: &tar::Entry<'_, R>, shown: &str) -> Result<PathBuf> {
    let target = entry
        .link_name_bytes()
        .ok_or_else(|| unsafe_member(shown, "a symbolic link without a target"))?
        .into_owned();
    let target = String::from_utf8(target)
        .map_err(|_| unsafe_member(shown, "the link target is not UTF-8"))?;
    if target.contains('\0') || target.len() > MAX_PATH_BYTES {
        return Err(unsafe_member(
            shown,
            "the link target has a NUL byte or is too long",
        ));
    }
    Ok(PathBuf::from(target))
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Seen {
    Directory,
    /// A directory the archive does not list but that holds earlier members.
    Implied,
    Other,
}

#[derive(Default)]
struct Walk {
    entries: u64,
    bytes: u64,
    /// The package directory, once the first member inside it is seen.
    package: Option<PackageDir>,
    /// Parent directory entries above the package directory, checked at the end, with the
    /// member's path as it appears in the archive.
    parents: Vec<(Vec<String>, String)>,
    seen: HashMap<PathBuf, Seen>,
    links: HashMap<PathBuf, PathBuf>,
    /// The links in archive order, with the member's path as it appears in the archive.
    link_members: Vec<(PathBuf, String)>,
    metadata: BTreeMap<String, Vec<u8>>,
}

/// The package directory `hab/pkgs/O/N/V/R/` every member must lie in.
struct PackageDir {
    /// Its four components, `O/N/V/R`.
    components: Vec<String>,
    /// The same as an identifier.
    ident: FullyQualifiedIdent,
}

impl Walk {
    /// Counts an entry against [`UnpackLimits::max_entries`].
    fn count_entry(&mut self, limits: &UnpackLimits) -> Result<()> {
        self.entries += 1;
        if self.entries > limits.max_entries {
            return Err(Error::ArchiveLimit {
                what: ENTRIES,
                limit: limits.max_entries,
            });
        }
        Ok(())
    }

    /// Counts a file's bytes against [`UnpackLimits::max_unpacked_bytes`].
    fn count_bytes(&mut self, size: u64, limits: &UnpackLimits) -> Result<()> {
        self.bytes = self.bytes.saturating_add(size);
        if self.bytes > limits.max_unpacked_bytes {
            return Err(unpacked_limit(limits));
        }
        Ok(())
    }

    /// Where an entry lies: `None` for a parent directory entry above the package directory
    /// (kept to be checked at the end), else its place inside the package directory, whose
    /// parents are checked. The first member inside names the package directory.
    fn locate<R: Read>(
        &mut self,
        entry: &tar::Entry<'_, R>,
        sink: &mut dyn Sink,
    ) -> Result<Option<Member>> {
        let raw_path = entry.path_bytes();
        let shown = String::from_utf8_lossy(&raw_path).into_owned();
        let text = std::str::from_utf8(&raw_path)
            .map_err(|_| unsafe_member(&shown, "the path is not UTF-8"))?;
        let components = split_member_path(text)?;

        // Parent directory entries above the package directory: allowed, written by nobody.
        if components.len() < 6 {
            if !entry.header().entry_type().is_dir() {
                return Err(unsafe_member(&shown, OUTSIDE_PACKAGE));
            }
            self.parents
                .push((components.iter().map(|c| (*c).to_owned()).collect(), shown));
            return Ok(None);
        }
        if components[0] != "hab" || components[1] != "pkgs" {
            return Err(unsafe_member(&shown, OUTSIDE_PACKAGE));
        }
        self.enter_package(&components[2..6], &shown, sink)?;
        let rel: PathBuf = components[6..].iter().collect();
        self.check_parents(&rel, &shown)?;
        Ok(Some(Member { rel, shown }))
    }

    /// Every member must lie in the same package directory; the first one names it, and the
    /// sink begins there.
    fn enter_package(&mut self, prefix: &[&str], shown: &str, sink: &mut dyn Sink) -> Result<()> {
        match &self.package {
            Some(known)
                if known
                    .components
                    .iter()
                    .map(String::as_str)
                    .eq(prefix.iter().copied()) =>
            {
                Ok(())
            }
            Some(known) => Err(unsafe_member(
                shown,
                format!("outside the package directory of {}", known.ident),
            )),
            None => {
                let ident: FullyQualifiedIdent = prefix.join("/").parse().map_err(|e: Error| {
                    unsafe_member(
                        shown,
                        format!("the package directory is not an identifier: {e}"),
                    )
                })?;
                sink.begin(&ident)?;
                self.package = Some(PackageDir {
                    components: prefix.iter().map(|c| (*c).to_owned()).collect(),
                    ident,
                });
                Ok(())
            }
        }
    }

    /// Checks a located member by kind and hands it to the sink.
    fn add<R: Read>(
        &mut self,
        member: Member,
        entry: &mut tar::Entry<'_, R>,
        limits: &UnpackLimits,
        sink: &mut dyn Sink,
    ) -> Result<()> {
        use tar::EntryType as T;
        match entry.header().entry_type() {
            T::Directory => self.add_directory(member, entry.header(), sink),
            T::Regular | T::Continuous => self.add_file(member, entry, limits, sink),
            T::Symlink => self.add_symlink(member, entry, sink),
            other => Err(refused_kind(other, &member.shown)),
        }
    }

    /// A directory may be listed more than once, but not where a file or link was.
    fn add_directory(
        &mut self,
        member: Member,
        header: &tar::Header,
        sink: &mut dyn Sink,
    ) -> Result<()> {
        if let Some(Seen::Other) = self.seen.get(&member.rel) {
            return Err(unsafe_member(&member.shown, "appears twice"));
        }
        self.seen.insert(member.rel.clone(), Seen::Directory);
        sink.directory(&member.rel, member_mode(header))
    }

    /// A regular file counts against the byte limit; a metadata file is also kept in memory.
    fn add_file<R: Read>(
        &mut self,
        member: Member,
        entry: &mut tar::Entry<'_, R>,
        limits: &UnpackLimits,
        sink: &mut dyn Sink,
    ) -> Result<()> {
        let Member { rel, shown } = member;
        self.claim(&rel, &shown, Seen::Other)?;
        let size = entry.size();
        self.count_bytes(size, limits)?;
        let mode = member_mode(entry.header());
        let mtime = entry.header().mtime().unwrap_or(0);
        match rel.to_str().filter(|n| METADATA_FILES.contains(n)) {
            Some(name) => {
                let content = read_metadata_file(name, size, entry)?;
                sink.file(&rel, mode, mtime, &mut &content[..])?;
                self.metadata.insert(name.to_owned(), content);
            }
            None => sink.file(&rel, mode, mtime, entry)?,
        }
        Ok(())
    }

    /// A symbolic link must pass the lexical checks now; where it leads through the other
    /// links is checked at the end, when all of them are known.
    fn add_symlink<R: Read>(
        &mut self,
        member: Member,
        entry: &tar::Entry<'_, R>,
        sink: &mut dyn Sink,
    ) -> Result<()> {
        let Member { rel, shown } = member;
        self.claim(&rel, &shown, Seen::Other)?;
        let target = link_target(entry, &shown)?;
        // `locate` has named the package directory before any member reaches here.
        let Some(package) = &self.package else {
            return Err(unsafe_member(&shown, OUTSIDE_PACKAGE));
        };
        // An absolute link into the package's own directory is checked as the equivalent
        // relative link; the archive's spelling is what gets written.
        let checked = own_relative(&rel, &target, &package.components);
        check_link_lexically(&rel, &checked, &shown)?;
        sink.symlink(&rel, &target)?;
        self.link_members.push((rel.clone(), shown));
        self.links.insert(rel, checked);
        Ok(())
    }

    fn claim(&mut self, rel: &Path, shown: &str, kind: Seen) -> Result<()> {
        if rel.as_os_str().is_empty() {
            return Err(unsafe_member(
                shown,
                "the package directory itself must be a directory",
            ));
        }
        match self.seen.insert(rel.to_owned(), kind) {
            None => Ok(()),
            Some(Seen::Implied) => Err(unsafe_member(
                shown,
                "earlier members lie inside it, so it must be a directory",
            )),
            Some(_) => Err(unsafe_member(shown, "appears twice")),
        }
    }

    /// Nothing may be written through a symbolic link the archive created earlier, nor below
    /// a file; the other parents of a member are directories from now on, listed or not.
    fn check_parents(&mut self, rel: &Path, shown: &str) -> Result<()> {
        for ancestor in rel.ancestors().skip(1) {
            if ancestor.as_os_str().is_empty() {
                break;
            }
            if self.links.contains_key(ancestor) {
                return Err(unsafe_member(
                    shown,
                    format!("would be written through the link `{}`", ancestor.display()),
                ));
            }
            match self.seen.get(ancestor) {
                Some(Seen::Other) => {
                    return Err(unsafe_member(
                        shown,
                        format!("would be written inside the file `{}`", ancestor.display()),
                    ));
                }
                Some(Seen::Directory | Seen::Implied) => {}
                None => {
                    self.seen.insert(ancestor.to_owned(), Seen::Implied);
                }
            }
        }
        Ok(())
    }

    fn finish(self) -> Result<PackageMetadata> {
        let PackageDir { components, ident } = self.package.ok_or_else(|| {
            unsafe_member(
                "",
                "the archive has no hab/pkgs/ORIGIN/NAME/VERSION/RELEASE/ directory",
            )
        })?;
        let full = ["hab", "pkgs"]
            .iter()
            .map(|s| s.to_string())
            .chain(components)
            .collect::<Vec<_>>();
        for (parent, shown) in &self.parents {
            if !full.starts_with(parent) {
                return Err(unsafe_member(
                    shown,
                    format!("outside the package directory of {ident}"),
                ));
            }
        }
        for (link, shown) in &self.link_members {
            if let Some(target) = self.links.get(link) {
                resolve_inside(link, target, shown, &self.links)?;
            }
        }
        PackageMetadata::from_files(&ident, self.metadata)
    }
}

/// Splits a member path into components: strips one leading `/`, drops empty and `.`
/// components, and refuses absolute paths and `..`.
fn split_member_path(path: &str) -> Result<Vec<&str>> {
    let stripped = path.strip_prefix('/').unwrap_or(path);
    if stripped.starts_with('/') {
        return Err(unsafe_member(path, "absolute path"));
    }
    let components: Vec<&str> = stripped
        .split('/')
        .filter(|c| !c.is_empty() && *c != ".")
        .collect();
    if components.contains(&"..") {
        return Err(unsafe_member(path, "`..` in the path"));
    }
    // What no file system can create is refused here, so that the depot never accepts an
    // artifact that cannot be installed.
    if path.contains('\0') {
        return Err(unsafe_member(path, "a NUL byte in the path"));
    }
    if components.iter().any(|c| c.len() > MAX_NAME_BYTES) {
        return Err(unsafe_member(
            path,
            format!("a path component is longer than {MAX_NAME_BYTES} bytes"),
        ));
    }
    if path.len() > MAX_PATH_BYTES {
        return Err(unsafe_member(
            path,
            format!("the path is longer than {MAX_PATH_BYTES} bytes"),
        ));
    }
    Ok(components)
}

/// `/hab/pkgs/O/N/V/R/rest` (the package's own directory) as a path relative to the link's
/// directory; any other target unchanged.
fn own_relative(link: &Path, target: &Path, prefix: &[String]) -> PathBuf {
    let own: PathBuf = ["/hab", "pkgs"]
        .into_iter()
        .chain(prefix.iter().map(String::as_str))
        .collect();
    match target.strip_prefix(&own) {
        Ok(rest) if target.is_absolute() => {
            let up = link.components().count().saturating_sub(1);
            std::iter::repeat_n(Path::new(".."), up)
                .collect::<PathBuf>()
                .join(rest)
        }
        _ => target.to_owned(),
    }
}

/// A link target must be relative and must not climb above the package directory when read
/// from the link's own directory.
fn check_link_lexically(link: &Path, target: &Path, shown: &str) -> Result<()> {
    if target.is_absolute() {
        return Err(unsafe_member(
            shown,
            format!("links to the absolute path `{}`", target.display()),
        ));
    }
    let mut depth = link.components().count() as i64 - 1;
    for component in target.components() {
        match component {
            Component::ParentDir => depth -= 1,
            Component::Normal(_) => depth += 1,
            _ => {}
        }
        if depth < 0 {
            return Err(unsafe_member(
                shown,
                format!("links to `{}`, outside the package", target.display()),
            ));
        }
    }
    Ok(())
}

/// Follows `link` through every link of the archive, as the kernel would once installed, and
/// refuses it if the path ever leaves the package directory.
fn resolve_inside(
    link: &Path,
    target: &Path,
    shown: &str,
    links: &HashMap<PathBuf, PathBuf>,
) -> Result<()> {
    let escape = || {
        unsafe_member(
            shown,
            format!(
                "links to `{}`, which leads outside the package",
                target.display()
            ),
        )
    };
    let mut stack: Vec<&std::ffi::OsStr> = link
        .parent()
        .map(|p| p.components().filter_map(normal).collect())
        .unwrap_or_default();
    let mut pending: Vec<Component<'_>> = target.components().rev().collect();
    let mut hops = 0;
    while let Some(component) = pending.pop() {
        match component {
            Component::ParentDir => {
                stack.pop().ok_or_else(escape)?;
            }
            Component::Normal(name) => {
                stack.push(name);
                let here: PathBuf = stack.iter().collect();
                if let Some(next) = links.get(&here) {
                    hops += 1;
                    if hops > MAX_LINK_HOPS {
                        return Err(unsafe_member(shown, "too many levels of links"));
                    }
                    stack.pop();
                    if next.is_absolute() {
                        return Err(escape());
                    }
                    pending.extend(next.components().rev());
                }
            }
            Component::CurDir => {}
            Component::RootDir | Component::Prefix(_) => return Err(escape()),
        }
    }
    Ok(())
}

fn normal(component: Component<'_>) -> Option<&std::ffi::OsStr> {
    match component {
        Component::Normal(name) => Some(name),
        _ => None,
    }
}

/// Reads the metadata of a package from its xz-compressed tar payload, checking every member,
/// without writing anything.
pub(crate) fn read_metadata(
    payload: &mut dyn Read,
    limits: &UnpackLimits,
) -> Result<PackageMetadata> {
    walk(payload, limits, &mut Discard)
}

/// Adapts an I/O error from a sink's write into the crate error.
pub(crate) fn io_error<'a>(
    action: &'static str,
    path: &'a Path,
) -> impl FnOnce(io::Error) -> Error + 'a {
    move |error| Error::Io {
        action,
        path: path.to_owned(),
        error,
    }
}

/// Checks an already decompressed tar against every safety rule and reads its metadata,
/// writing nothing. The same checks run on upload and install; this entry point skips the xz
/// layer (for tests and fuzzing).
pub fn check_tar(tar: impl Read, limits: &UnpackLimits) -> Result<PackageMetadata> {
    walk_tar(tar, limits, &mut Discard)
}
