//! `hab-depot tuf` (docs/security.md): the depot's TUF repository: its creation, and the state
//! of its roles.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{Context, Result};
use clap::Subcommand;
use habitat_depot_server::tuf::init::{InitOptions, init};
use time::OffsetDateTime;

use super::{DataArgs, open_admin_without_tmp, settings};
use crate::{out, say};

/// `hab-depot tuf …`.
#[derive(Subcommand, Debug)]
pub(crate) enum TufCommand {
    /// Creates the depot's TUF repository: root keys and a targets key written to files (move
    /// them offline), an online key kept in the store for bins, snapshot and timestamp, and
    /// the first metadata of every public package and origin key. Prints the SHA-256 that
    /// clients pin the first root with (`hab depot trust`).
    Init {
        #[command(flatten)]
        data: DataArgs,
        /// How many root keys to make.
        #[arg(long, value_name = "N", default_value_t = 1)]
        root_keys: u32,
        /// How many root keys must sign a new root [default: 1]
        #[arg(long, value_name = "K", default_value_t = 1)]
        threshold: u32,
        /// Where to write the offline keys [default: tuf-keys/ in the data directory]
        #[arg(long, value_name = "DIR")]
        keys_out: Option<PathBuf>,
    },
    /// A new root version: sign it offline, publish it on the depot, see the roles' state.
    Root {
        #[command(subcommand)]
        command: RootCommand,
    },
}

/// `hab-depot tuf root …`.
#[derive(Subcommand, Debug)]
pub(crate) enum RootCommand {
    /// Signs the next root version with the offline keys, on the machine that holds them; needs
    /// no depot. Writes `{N}.root.json` (and new key files) to `--out`.
    Sign {
        /// The current root (`{N}.root.json`, as the depot serves it under /v1/tuf/metadata/).
        #[arg(long, value_name = "FILE")]
        root: PathBuf,
        /// The folder of offline key files (the current root keys; the targets key too with
        /// `--rotate-online-key`).
        #[arg(long, value_name = "DIR")]
        keys: PathBuf,
        /// Where to write the new root and any new key.
        #[arg(long, value_name = "DIR")]
        out: PathBuf,
        /// Replaces the root keys with this many new ones.
        #[arg(long, value_name = "N")]
        new_root_keys: Option<u32>,
        /// The number of root keys that must sign the next root [default: unchanged]
        #[arg(long, value_name = "K")]
        threshold: Option<u32>,
        /// Replaces the online key (bins, snapshot, timestamp); needs `--targets`.
        #[arg(long, requires = "targets")]
        rotate_online_key: bool,
        /// The current top-level targets (`{V}.targets.json`), re-signed to delegate to the new
        /// online key.
        #[arg(long, value_name = "FILE")]
        targets: Option<PathBuf>,
    },
    /// Publishes the root `sign` wrote (the folder it wrote to), with the new online key if
    /// there is one, and re-signs every bin, the snapshot and the timestamp.
    Publish {
        #[command(flatten)]
        data: DataArgs,
        /// The folder `tuf root sign` wrote.
        #[arg(long, value_name = "DIR")]
        from: PathBuf,
    },
    /// Prints each role's newest version and expiry.
    Status {
        #[command(flatten)]
        data: DataArgs,
    },
}

/// Runs one `hab-depot tuf` command.
pub(crate) async fn run(command: TufCommand) -> Result<ExitCode> {
    match command {
        TufCommand::Init {
            data,
            root_keys,
            threshold,
            keys_out,
        } => {
            let settings = settings(&data)?;
            let keys_out = keys_out.unwrap_or_else(|| settings.data_dir.join("tuf-keys"));
            let state = open_admin_without_tmp(settings).await?;
            let options = InitOptions {
                root_keys,
                threshold,
                keys_out,
            };
            let made = init(
                state.metadata.clone(),
                state.artifacts.clone(),
                state.server_key.clone(),
                &options,
                OffsetDateTime::now_utc(),
            )
            .await?;
            for file in &made.key_files {
                say!("wrote offline key {}", file.display());
            }
            say!(
                "warning: move {} to offline storage; the root and targets keys are needed only \
                 to sign a new root (`hab-depot tuf root sign`)",
                options.keys_out.display()
            );
            say!(
                "published {} targets in {} bins",
                made.published.upserted,
                made.published.bins
            );
            say!(
                "clients pin this depot with: hab depot trust --url URL --root-sha256 HEX, where HEX is:"
            );
            out!("{}", made.root_sha256);
            Ok(ExitCode::SUCCESS)
        }
        TufCommand::Root { command } => root(command).await,
    }
}

async fn root(command: RootCommand) -> Result<ExitCode> {
    use habitat_depot_server::tuf::root::{self, SignOptions};
    match command {
        RootCommand::Sign {
            root: root_file,
            keys,
            out,
            new_root_keys,
            threshold,
            rotate_online_key,
            targets,
        } => {
            let current = read(&root_file)?;
            let targets = targets.as_deref().map(read).transpose()?;
            let options = SignOptions {
                new_root_keys,
                threshold,
                rotate_online: rotate_online_key,
            };
            let written = root::sign(
                &current,
                targets.as_deref(),
                &keys,
                &options,
                &out,
                OffsetDateTime::now_utc(),
            )?;
            for file in &written.files {
                say!("wrote {}", file.display());
            }
            say!(
                "root version {} signed; publish it with: hab-depot tuf root publish --from {}",
                written.version,
                out.display()
            );
            Ok(ExitCode::SUCCESS)
        }
        RootCommand::Publish { data, from } => {
            let state = open_admin_without_tmp(settings(&data)?).await?;
            let version = root::publish(
                state.metadata.as_ref(),
                &state.tuf,
                &state.server_key,
                &from,
                OffsetDateTime::now_utc(),
            )
            .await?;
            say!("published root version {version}");
            Ok(ExitCode::SUCCESS)
        }
        RootCommand::Status { data } => {
            let state = open_admin_without_tmp(settings(&data)?).await?;
            let format = time::format_description::well_known::Rfc3339;
            for role in root::status(state.metadata.as_ref()).await? {
                out!(
                    "{:<10} version {:<6} expires {}",
                    role.role,
                    role.version,
                    role.expires_at.format(&format)?
                );
            }
            Ok(ExitCode::SUCCESS)
        }
    }
}

fn read(path: &std::path::Path) -> Result<Vec<u8>> {
    std::fs::read(path).with_context(|| format!("cannot read `{}`", path.display()))
}
