//! Generates (or reuses) the benchmark artifact and prints the path of its `.hart`. The key
//! cache that verifies it is the `keys/` directory beside it.
//!
//! Usage: `make-artifact [--data-dir DIR] [--size-mib N] [--seed N]`

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{Context, Result, bail};
use habitat_benches::{ArtifactSpec, default_data_dir, ensure_artifact};

fn main() -> Result<ExitCode> {
    let mut data_dir = default_data_dir();
    let mut spec = ArtifactSpec::default();
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        let mut value = |name: &str| args.next().with_context(|| format!("{name} needs a value"));
        match arg.as_str() {
            "--data-dir" => data_dir = PathBuf::from(value("--data-dir")?),
            "--size-mib" => {
                spec.size_mib = value("--size-mib")?
                    .parse()
                    .context("--size-mib takes a number")?;
            }
            "--seed" => spec.seed = value("--seed")?.parse().context("--seed takes a number")?,
            "-h" | "--help" => {
                println!("usage: make-artifact [--data-dir DIR] [--size-mib N] [--seed N]");
                return Ok(ExitCode::SUCCESS);
            }
            other => bail!("unknown argument `{other}` (try --help)"),
        }
    }
    let artifact = ensure_artifact(&data_dir, &spec)?;
    if let Some(stats) = artifact.generated {
        let percent = |part: u64| 100.0 * part as f64 / stats.bytes.max(1) as f64;
        eprintln!(
            "generated {} files and {} links, {} bytes: {:.1}% incompressible, {:.1}% text",
            stats.files,
            stats.links,
            stats.bytes,
            percent(stats.opaque_bytes),
            percent(stats.text_bytes)
        );
    }
    println!("{}", artifact.hart.display());
    Ok(ExitCode::SUCCESS)
}
