//! `hab`: the commands (CLI.md, "`hab`").

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Result;
use clap::{Args, CommandFactory, Parser, Subcommand, ValueEnum};
use habitat_core::{OriginName, PackageIdent, PackageTarget};

mod key;
mod pkg;

/// Habitat packages and origin keys.
#[derive(Parser, Debug)]
#[command(
    name = "hab",
    version,
    about,
    propagate_version = true,
    max_term_width = 100
)]
pub struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Origins and their signing keys.
    Origin {
        #[command(subcommand)]
        command: OriginCommand,
    },
    /// Packages: sign, verify, inspect, pack, install.
    Pkg {
        #[command(subcommand)]
        command: PkgCommand,
    },
    /// Prints shell completions for `hab`.
    Completions {
        /// The shell.
        shell: clap_complete::Shell,
    },
}

#[derive(Subcommand, Debug)]
enum OriginCommand {
    /// Origin signing keys.
    Key {
        #[command(subcommand)]
        command: KeyCommand,
    },
}

/// Where keys are cached.
#[derive(Args, Debug, Clone)]
struct KeyCacheArg {
    /// Key cache directory [default: HAB_CACHE_KEY_PATH, else $FS_ROOT/hab/cache/keys for root,
    /// ~/.hab/cache/keys otherwise]
    #[arg(long, value_name = "DIR")]
    cache_key_path: Option<PathBuf>,
}

#[derive(Subcommand, Debug)]
enum KeyCommand {
    /// Generates a new signing key pair for an origin in the key cache.
    Generate {
        /// The origin [default: HAB_ORIGIN, cli.toml `origin`]
        origin: Option<OriginName>,
        #[command(flatten)]
        cache: KeyCacheArg,
    },
    /// Prints the latest key of an origin, to move it to another machine.
    Export {
        /// The origin.
        origin: OriginName,
        /// Which half of the pair.
        #[arg(short = 't', long = "type", value_enum, default_value_t = KeyType::Public)]
        key_type: KeyType,
        #[command(flatten)]
        cache: KeyCacheArg,
    },
    /// Reads a key file (public or secret) on stdin into the key cache.
    Import {
        #[command(flatten)]
        cache: KeyCacheArg,
    },
}

/// The half of a key pair.
#[derive(ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum KeyType {
    /// The public key (`.pub`), which verifies.
    Public,
    /// The secret key (`.sig.key`), which signs.
    Secret,
}

#[derive(Subcommand, Debug)]
enum PkgCommand {
    /// Signs a compressed tarball with the origin's latest secret key, making a .hart.
    Sign {
        /// The origin whose key signs [default: HAB_ORIGIN, cli.toml `origin`]
        #[arg(long)]
        origin: Option<OriginName>,
        /// The xz-compressed tarball.
        source: PathBuf,
        /// The .hart to write.
        destination: PathBuf,
        #[command(flatten)]
        cache: KeyCacheArg,
    },
    /// Verifies a .hart's signature and payload hash with the key cache.
    Verify {
        /// The artifact.
        artifact: PathBuf,
        #[command(flatten)]
        cache: KeyCacheArg,
    },
    /// Prints a .hart's header.
    Header {
        /// The artifact.
        artifact: PathBuf,
    },
    /// Prints what a .hart says about its package (not verified: see `hab pkg verify`).
    Info {
        /// The artifact.
        artifact: PathBuf,
        /// Prints JSON.
        #[arg(short = 'j', long)]
        json: bool,
    },
    /// Prints the BLAKE2b-256 hash of a file (the depot's artifact checksum).
    Hash {
        /// The file.
        file: PathBuf,
    },
    /// Packs a directory into a signed .hart.
    Pack {
        /// The directory whose contents become the package's files (bin/, hooks/,
        /// default.toml, SVC_USER, ...).
        source: PathBuf,
        /// The package: ORIGIN/NAME/VERSION, or ORIGIN/NAME/VERSION/RELEASE [default release:
        /// the UTC time now, YYYYMMDDhhmmss]
        #[arg(long)]
        ident: PackageIdent,
        /// A runtime dependency, resolved to the newest installed package that satisfies it.
        #[arg(long = "dep", value_name = "IDENT")]
        deps: Vec<PackageIdent>,
        /// Directory for the .hart.
        #[arg(short = 'o', long, default_value = ".")]
        output: PathBuf,
        /// The package's target [default: HAB_PACKAGE_TARGET, else this machine's]
        #[arg(short = 't', long)]
        target: Option<PackageTarget>,
        #[command(flatten)]
        cache: KeyCacheArg,
    },
    /// Installs packages from .hart files under FS_ROOT: all are verified before any is
    /// installed, and every TDEPS entry must be installed already or be given too.
    Install {
        /// .hart files.
        #[arg(required = true)]
        artifacts: Vec<String>,
        #[command(flatten)]
        cache: KeyCacheArg,
    },
    /// Prints the directory of the newest installed package that satisfies IDENT.
    Path {
        /// ORIGIN/NAME[/VERSION[/RELEASE]].
        ident: PackageIdent,
    },
    /// Lists installed packages: all, those of an ORIGIN, or those satisfying an IDENT.
    List {
        /// ORIGIN or ORIGIN/NAME[/VERSION[/RELEASE]].
        filter: Option<String>,
    },
}

/// Parses the command line, runs it and reports any error.
pub fn main() -> ExitCode {
    let cli = Cli::parse();
    match run(cli) {
        Ok(code) => code,
        Err(err) => crate::output::report(&err),
    }
}

/// Runs a parsed command line.
pub fn run(cli: Cli) -> Result<ExitCode> {
    match cli.command {
        Command::Origin {
            command: OriginCommand::Key { command },
        } => key::run(command),
        Command::Pkg { command } => pkg::run(command),
        Command::Completions { shell } => {
            clap_complete::generate(shell, &mut Cli::command(), "hab", &mut std::io::stdout());
            Ok(ExitCode::SUCCESS)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn command_line_definition_is_consistent() {
        Cli::command().debug_assert();
    }
}
