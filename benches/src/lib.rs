//! Benchmarks of Habitat's artifact handling, and the helpers they share: a deterministic,
//! realistic synthetic package (see [`package`]) packed into a signed `.hart` and cached under
//! `data/`.
//!
//! ```no_run
//! use habitat_benches::{ArtifactSpec, default_data_dir, ensure_artifact};
//!
//! let artifact = ensure_artifact(&default_data_dir(), &ArtifactSpec::default())?;
//! habitat_core::artifact::verify(&artifact.hart, &habitat_core::KeyCache::new(&artifact.keys))?;
//! # Ok::<(), anyhow::Error>(())
//! ```
//!
//! `make-artifact` prints the path of that artifact; `artifact-vs-tools.sh` times
//! `hab pkg verify` and `hab pkg install` on it against `b2sum` and `xz | tar`;
//! `cargo bench -p habitat-benches` runs the criterion benchmarks.

pub mod data;
pub mod depot;
pub mod mirror;
pub mod package;
pub mod web;

pub use package::{
    ArtifactSpec, BenchArtifact, PackageStats, default_data_dir, ensure_artifact, write_package_dir,
};
