//! The mirroring benchmark's package set (`mirror-bench`, `mirror-bench.sh`): a few hundred
//! small signed packages with a realistic dependency graph over several origins, generated
//! deterministically from a seed, packed with [`habitat_core::pack`] and cached under
//! `data/` with the generated origin keys that signed them.
//!
//! The graph, for the default 500 packages: 50 base libraries in `core` (each needing up to two
//! earlier ones), then libraries in `core`, `acme` and `tools` (each needing one to five base
//! libraries and sometimes an earlier library), then applications in `acme`, `webco`, `dataco`
//! and `tools` (each needing one to five libraries of any tier). Dependencies always come
//! earlier in the list, so the list is in dependency order and a package's TDEPS (its
//! transitive closure) are sorted by position.
//!
//! The members of `stable` are every application, every fourth library and every tenth base
//! library, plus any package that would otherwise be outside the closure: the closure of the
//! channel (members plus their TDEPS) is the whole set.

use std::collections::BTreeSet;
use std::fs;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result, ensure};
use habitat_core::pack::{PackSpec, pack};
use habitat_core::{FullyQualifiedIdent, KeyCache, OriginName, PackageTarget, SecretKey};

use crate::data::{Kind, XorShift64, extend};

/// Bump when the generated content or graph changes, so cached sets are rebuilt.
const GENERATOR_VERSION: u32 = 1;
/// Origins of the base libraries.
const BASE_ORIGINS: [&str; 1] = ["core"];
/// Origins of the libraries built on them.
const LIBRARY_ORIGINS: [&str; 3] = ["core", "acme", "tools"];
/// Origins of the applications.
const APP_ORIGINS: [&str; 4] = ["acme", "webco", "dataco", "tools"];
/// The channel whose closure is the set.
pub const CHANNEL: &str = "stable";

/// What set to make.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SetSpec {
    /// Packages in all.
    pub packages: usize,
    /// Base libraries among them (the first ones).
    pub base: usize,
    /// Seed of every pseudo-random choice (graph, sizes and contents).
    pub seed: u64,
}

impl Default for SetSpec {
    /// The 500 packages, 50 of them base libraries.
    fn default() -> Self {
        Self {
            packages: 500,
            base: 50,
            seed: 1,
        }
    }
}

impl SetSpec {
    /// How many libraries (not base libraries) the set has: three tenths of the rest.
    pub fn libraries(&self) -> usize {
        (self.packages - self.base) * 3 / 10
    }
}

/// The tier of a package in the graph.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Tier {
    /// A base library (needs only other base libraries).
    Base,
    /// A library built on base libraries.
    Library,
    /// An application.
    App,
}

/// One package of the set.
#[derive(Clone, Debug)]
pub struct SetPackage {
    /// Its identifier.
    pub ident: FullyQualifiedIdent,
    /// Its tier.
    pub tier: Tier,
    /// Positions of its direct dependencies (DEPS) in the set.
    pub deps: Vec<usize>,
    /// Positions of its transitive dependencies (TDEPS), ascending (dependencies first).
    pub tdeps: Vec<usize>,
    /// Whether it is a member of [`CHANNEL`].
    pub member: bool,
    /// Its `.hart` in the cache.
    pub hart: PathBuf,
    /// Size of the `.hart`, bytes.
    pub size: u64,
}

/// The whole set: the packages in dependency order, the origins, and their public keys.
#[derive(Clone, Debug)]
pub struct MirrorSet {
    /// The packages, dependencies before dependents.
    pub packages: Vec<SetPackage>,
    /// The origins, sorted.
    pub origins: Vec<OriginName>,
    /// Each origin's public key file text, in the order of `origins`.
    pub public_keys: Vec<String>,
    /// Whether this call packed it (`false`: reused from the cache).
    pub generated: bool,
}

impl MirrorSet {
    /// The identifiers of the members of [`CHANNEL`] in `origin`, as text, sorted.
    pub fn members_of(&self, origin: &OriginName) -> BTreeSet<String> {
        self.packages
            .iter()
            .filter(|p| p.member && p.ident.origin() == origin)
            .map(|p| p.ident.to_string())
            .collect()
    }

    /// The origins that have members in [`CHANNEL`].
    pub fn member_origins(&self) -> Vec<OriginName> {
        self.origins
            .iter()
            .filter(|o| !self.members_of(o).is_empty())
            .cloned()
            .collect()
    }

    /// Total size of the `.hart` files, bytes.
    pub fn bytes(&self) -> u64 {
        self.packages.iter().map(|p| p.size).sum()
    }
}

/// The graph of `spec`, without contents: identifiers, dependencies and memberships.
fn graph(spec: &SetSpec) -> Result<Vec<(FullyQualifiedIdent, Tier, Vec<usize>)>> {
    ensure!(
        spec.base >= 5 && spec.packages >= spec.base * 2,
        "the set needs at least 5 base libraries and as many other packages"
    );
    let mut rng = XorShift64::new(spec.seed ^ 0x6d69_7272_6f72);
    let libraries = spec.libraries();
    let mut out = Vec::with_capacity(spec.packages);
    for i in 0..spec.packages {
        let (tier, origins, name): (Tier, &[&str], String) = if i < spec.base {
            (Tier::Base, &BASE_ORIGINS, format!("base{i:03}"))
        } else if i < spec.base + libraries {
            (Tier::Library, &LIBRARY_ORIGINS, format!("lib{i:03}"))
        } else {
            (Tier::App, &APP_ORIGINS, format!("app{i:03}"))
        };
        let origin = origins[rng.below(origins.len() as u64) as usize];
        let mut deps = BTreeSet::new();
        match tier {
            Tier::Base => {
                for _ in 0..rng.below(3).min(i as u64) {
                    deps.insert(rng.below(i as u64) as usize);
                }
            }
            Tier::Library => {
                for _ in 0..1 + rng.below(5) {
                    deps.insert(rng.below(spec.base as u64) as usize);
                }
                if rng.below(3) == 0 && i > spec.base {
                    deps.insert(spec.base + rng.below((i - spec.base) as u64) as usize);
                }
            }
            Tier::App => {
                for _ in 0..1 + rng.below(5) {
                    deps.insert(rng.below((spec.base + libraries) as u64) as usize);
                }
            }
        }
        let version = format!("{}.{}.{}", 1 + rng.below(4), rng.below(20), rng.below(10));
        let release = format!(
            "2024{:02}{:02}{:02}{:02}{:02}",
            1 + i % 12,
            1 + i % 28,
            i % 24,
            i / 24 % 60,
            i % 60
        );
        let ident: FullyQualifiedIdent = format!("{origin}/{name}/{version}/{release}").parse()?;
        out.push((ident, tier, deps.into_iter().collect()));
    }
    Ok(out)
}

/// The transitive dependencies of each package, ascending.
fn closures(graph: &[(FullyQualifiedIdent, Tier, Vec<usize>)]) -> Vec<Vec<usize>> {
    let mut tdeps: Vec<Vec<usize>> = Vec::with_capacity(graph.len());
    for (_, _, deps) in graph {
        let mut all = BTreeSet::new();
        for &d in deps {
            all.insert(d);
            all.extend(tdeps[d].iter().copied());
        }
        tdeps.push(all.into_iter().collect());
    }
    tdeps
}

/// The members of the channel: every application, every fourth library, every tenth base
/// library, then whatever the closure of those misses.
fn members(graph: &[(FullyQualifiedIdent, Tier, Vec<usize>)], tdeps: &[Vec<usize>]) -> Vec<bool> {
    let mut member: Vec<bool> = graph
        .iter()
        .enumerate()
        .map(|(i, (_, tier, _))| match tier {
            Tier::App => true,
            Tier::Library => i % 4 == 0,
            Tier::Base => i % 10 == 0,
        })
        .collect();
    let mut covered = vec![false; graph.len()];
    for (i, is_member) in member.iter().enumerate() {
        if *is_member {
            covered[i] = true;
            for &d in &tdeps[i] {
                covered[d] = true;
            }
        }
    }
    for (i, covered) in covered.iter().enumerate() {
        if !covered {
            member[i] = true;
        }
    }
    member
}

/// Writes the files of package `i` into `src`: a library or program of machine-code-like
/// bytes, some text (headers or docs), and sometimes an incompressible asset; a few KiB to a
/// few hundred KiB once compressed.
fn write_sources(src: &Path, tier: Tier, rng: &mut XorShift64) -> Result<()> {
    let write = |rel: &str, bytes: &[u8]| -> Result<()> {
        let path = src.join(rel);
        if let Some(parent) = path.parent() {
            fs::create_dir_all(parent).with_context(|| format!("create `{}`", parent.display()))?;
        }
        fs::write(&path, bytes).with_context(|| format!("write `{}`", path.display()))
    };
    let mut code = Vec::new();
    extend(
        &mut code,
        Kind::Code,
        rng.log_uniform(8 << 10, 800 << 10) as usize,
        rng,
    );
    let mut text = Vec::new();
    extend(
        &mut text,
        Kind::Text,
        rng.log_uniform(2 << 10, 64 << 10) as usize,
        rng,
    );
    match tier {
        Tier::Base | Tier::Library => {
            write("lib/libpkg.so.1", &code)?;
            write("include/pkg.h", &text)?;
        }
        Tier::App => {
            write("bin/run", &code)?;
            write("share/doc/README", &text)?;
            if rng.below(10) == 0 {
                let mut asset = Vec::new();
                let len = rng.log_uniform(16 << 10, 160 << 10) as usize;
                extend(&mut asset, Kind::Opaque, len, rng);
                write("share/assets/data.bin", &asset)?;
            }
        }
    }
    Ok(())
}

/// Returns the set for `spec`, cached under `data_dir`, packing it first when needed (with a
/// new signing key per origin, kept in `keys/` beside the artifacts). Packing 500 packages
/// takes one to two minutes on two cores.
///
/// Fails on I/O errors and when a package cannot be packed.
pub fn ensure_set(data_dir: &Path, spec: &SetSpec) -> Result<MirrorSet> {
    let dir = data_dir.join(format!(
        "mirror-set-n{}-base{}-seed{}-v{GENERATOR_VERSION}",
        spec.packages, spec.base, spec.seed
    ));
    let ready = dir.join("READY");
    let keys = KeyCache::new(dir.join("keys"));
    let harts = dir.join("harts");
    let graph = graph(spec)?;
    let tdeps = closures(&graph);
    let member = members(&graph, &tdeps);
    let origins: Vec<OriginName> = graph
        .iter()
        .map(|(ident, _, _)| ident.origin().clone())
        .collect::<BTreeSet<_>>()
        .into_iter()
        .collect();
    let target = PackageTarget::X86_64Linux;
    let generated = !ready.is_file();
    if generated {
        if dir.exists() {
            fs::remove_dir_all(&dir).with_context(|| format!("remove `{}`", dir.display()))?;
        }
        fs::create_dir_all(&harts).with_context(|| format!("create `{}`", harts.display()))?;
        let mut secrets = Vec::new();
        for origin in &origins {
            let key = SecretKey::generate(origin)?;
            keys.write_secret(&key)?;
            keys.write_public(&key.public_key())?;
            secrets.push(key);
        }
        let src_root = dir.join("src");
        let mut rng = XorShift64::new(spec.seed);
        for (i, (ident, tier, deps)) in graph.iter().enumerate() {
            let src = src_root.join(format!("{i:04}"));
            write_sources(&src, *tier, &mut rng)?;
            let key = &secrets[origins
                .iter()
                .position(|o| o == ident.origin())
                .context("an origin without a key")?];
            let idents = |positions: &[usize]| -> Vec<FullyQualifiedIdent> {
                positions.iter().map(|&d| graph[d].0.clone()).collect()
            };
            let pack_spec = PackSpec {
                ident: ident.clone(),
                target,
                deps: idents(deps),
                tdeps: idents(&tdeps[i]),
            };
            pack(&src, &harts, &pack_spec, key).with_context(|| format!("pack `{ident}`"))?;
            fs::remove_dir_all(&src).with_context(|| format!("remove `{}`", src.display()))?;
        }
        fs::remove_dir_all(&src_root).ok();
        fs::write(&ready, "ready\n").with_context(|| format!("write `{}`", ready.display()))?;
    }
    let mut public_keys = Vec::new();
    for origin in &origins {
        public_keys.push(keys.latest_public(origin.as_str())?.to_file_string());
    }
    let mut packages = Vec::with_capacity(graph.len());
    for (i, (ident, tier, deps)) in graph.into_iter().enumerate() {
        let hart = harts.join(ident.archive_name(target));
        let size = hart
            .metadata()
            .with_context(|| format!("stat `{}` (remove `{}`)", hart.display(), dir.display()))?
            .len();
        packages.push(SetPackage {
            ident,
            tier,
            deps,
            tdeps: tdeps[i].clone(),
            member: member[i],
            hart,
            size,
        });
    }
    Ok(MirrorSet {
        packages,
        origins,
        public_keys,
        generated,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_channel_closure_is_the_whole_set_in_dependency_order() -> Result<()> {
        let spec = SetSpec::default();
        let graph = graph(&spec)?;
        assert_eq!(graph.len(), 500);
        let tdeps = closures(&graph);
        let member = members(&graph, &tdeps);
        let mut closure = BTreeSet::new();
        for (i, m) in member.iter().enumerate() {
            if *m {
                closure.insert(i);
                closure.extend(tdeps[i].iter().copied());
            }
        }
        assert_eq!(closure.len(), 500);
        for (i, (_, tier, deps)) in graph.iter().enumerate() {
            assert!(deps.iter().all(|&d| d < i), "{i}");
            if *tier != Tier::Base {
                assert!(!deps.is_empty() && deps.len() <= 6, "{i}: {deps:?}");
            }
        }
        let idents: BTreeSet<String> = graph.iter().map(|g| g.0.to_string()).collect();
        assert_eq!(idents.len(), 500, "identifiers are distinct");
        let origins: BTreeSet<&str> = graph.iter().map(|g| g.0.origin().as_str()).collect();
        assert_eq!(origins.len(), 5);
        // Deterministic: the same seed gives the same graph.
        let again = super::graph(&spec)?;
        assert!(
            graph
                .iter()
                .zip(&again)
                .all(|(a, b)| a.0 == b.0 && a.2 == b.2)
        );
        Ok(())
    }

    #[test]
    fn a_small_set_packs_and_verifies() -> Result<()> {
        let dir = tempfile::tempdir()?;
        let spec = SetSpec {
            packages: 12,
            base: 5,
            seed: 3,
        };
        let set = ensure_set(dir.path(), &spec)?;
        assert!(set.generated);
        assert_eq!(set.packages.len(), 12);
        let keys = KeyCache::new(
            dir.path()
                .join("mirror-set-n12-base5-seed3-v1")
                .join("keys"),
        );
        for package in &set.packages {
            habitat_core::artifact::verify(&package.hart, &keys)?;
        }
        let again = ensure_set(dir.path(), &spec)?;
        assert!(!again.generated);
        assert_eq!(again.bytes(), set.bytes());
        Ok(())
    }
}
