//! Criterion benchmarks of the 256 MiB benchmark artifact (issue: "hashing/verifying a 256 MiB
//! artifact"): BLAKE2b-256 throughput, `artifact::verify`, and a staged install with commit.
//! The artifact is generated once and cached under `benches/data/` (see `make-artifact`).
//!
//! Run with `cargo bench -p habitat-benches --locked`; it takes a few minutes.

use std::hint::black_box;
use std::path::Path;
use std::time::{Duration, Instant};

use criterion::{Criterion, SamplingMode, Throughput, criterion_main};
use habitat_benches::data::opaque_bytes;
use habitat_benches::{ArtifactSpec, BenchArtifact, default_data_dir, ensure_artifact};
use habitat_core::{Blake2bHash, FsRoot, KeyCache, UnpackLimits, artifact};

fn bench_artifact() -> BenchArtifact {
    match ensure_artifact(&default_data_dir(), &ArtifactSpec::default()) {
        Ok(artifact) => artifact,
        Err(e) => panic!("cannot make the benchmark artifact: {e:#}"),
    }
}

fn file_len(path: &Path) -> u64 {
    match path.metadata() {
        Ok(meta) => meta.len(),
        Err(e) => panic!("cannot stat `{}`: {e}", path.display()),
    }
}

fn hashing(c: &mut Criterion) {
    let spec = ArtifactSpec::default();
    let data = opaque_bytes(spec.size_bytes() as usize, 7);
    let artifact = bench_artifact();
    let mut group = c.benchmark_group("hash");
    group
        .sample_size(10)
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(5));
    group.throughput(Throughput::Bytes(data.len() as u64));
    group.bench_function("of_reader/256MiB-in-memory", |b| {
        b.iter(|| Blake2bHash::of_reader(black_box(&data[..])).ok())
    });
    group.throughput(Throughput::Bytes(file_len(&artifact.hart)));
    group.bench_function("of_file/artifact-checksum", |b| {
        b.iter(|| artifact::checksum(black_box(&artifact.hart)).ok())
    });
    group.finish();
}

fn verifying(c: &mut Criterion) {
    let artifact = bench_artifact();
    let keys = KeyCache::new(&artifact.keys);
    let mut group = c.benchmark_group("verify");
    group
        .sample_size(10)
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(5))
        .throughput(Throughput::Bytes(file_len(&artifact.hart)));
    group.bench_function("artifact::verify/256MiB", |b| {
        b.iter(
            || match artifact::verify(black_box(&artifact.hart), &keys) {
                Ok(verified) => verified,
                Err(e) => panic!("the benchmark artifact does not verify: {e}"),
            },
        )
    });
    group.finish();
}

fn installing(c: &mut Criterion) {
    let spec = ArtifactSpec::default();
    let artifact = bench_artifact();
    let keys = KeyCache::new(&artifact.keys);
    let limits = UnpackLimits::default();
    // FS_ROOTs go beside the artifact: the same file system as a real install, not a tmpfs.
    let scratch = default_data_dir();
    let mut group = c.benchmark_group("install");
    group
        .sample_size(10)
        .sampling_mode(SamplingMode::Flat)
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(40))
        .throughput(Throughput::Bytes(spec.size_bytes()));
    group.bench_function("stage+commit/256MiB", |b| {
        // Creating and removing the root is not part of an install: time only stage + commit.
        b.iter_custom(|iters| {
            let mut total = Duration::ZERO;
            for _ in 0..iters {
                let root = match tempfile::Builder::new()
                    .prefix("fs-root-")
                    .tempdir_in(&scratch)
                {
                    Ok(root) => root,
                    Err(e) => panic!("cannot create a temporary FS_ROOT: {e}"),
                };
                let start = Instant::now();
                let installed = match FsRoot::new(root.path()).stage(&artifact.hart, &keys, &limits)
                {
                    Ok(staged) => staged.commit(),
                    Err(e) => Err(e),
                };
                total += start.elapsed();
                if let Err(e) = installed {
                    panic!("the benchmark artifact does not install: {e}");
                }
            }
            total
        })
    });
    group.finish();
}

/// `criterion_group!` generates an undocumented `pub fn`, hence the module.
#[allow(missing_docs)]
mod groups {
    use super::{hashing, installing, verifying};
    criterion::criterion_group!(benches, hashing, verifying, installing);
}
criterion_main!(groups::benches);
