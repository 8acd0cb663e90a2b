//! `hab-depot` (docs/commands.md, "Depot commands"): serve the API, manage accounts offline, check
//! the store.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{Context, Result};
use clap::{Args, Parser, Subcommand};
use habitat_depot_server::settings::Settings;
use habitat_depot_server::{AppState, auth, fsck, router};

use crate::{out, say};

mod backup;
mod sync;
mod tuf;

/// The Habitat depot: serves packages to `hab`, on an embedded store by default.
#[derive(Parser, Debug)]
#[command(
    name = "hab-depot",
    version,
    propagate_version = true,
    max_term_width = 100
)]
pub struct Cli {
    #[command(subcommand)]
    command: Command,
}

/// Where the data lives; every subcommand takes it.
#[derive(Args, Debug, Clone)]
struct DataArgs {
    /// Data directory [default: HAB_DEPOT_DATA_DIR, else /hab/svc/hab-depot/data for root,
    /// else ~/.hab/depot]
    #[arg(long, value_name = "DIR")]
    data_dir: Option<PathBuf>,
    /// Settings file (TOML; unknown keys are errors).
    #[arg(long, value_name = "FILE")]
    config: Option<PathBuf>,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Serves the depot API until SIGINT or SIGTERM (in-flight requests finish first).
    Start {
        #[command(flatten)]
        data: DataArgs,
        /// Address to listen on [default: 0.0.0.0:9636]
        #[arg(long, value_name = "ADDR")]
        listen: Option<SocketAddr>,
        /// Largest accepted upload in bytes [default: 4 GiB]
        #[arg(long, value_name = "BYTES")]
        max_upload_bytes: Option<u64>,
        /// Longest a request may take, in seconds [default: 3600]
        #[arg(long, value_name = "SECONDS")]
        request_timeout_secs: Option<u64>,
        /// Seconds a connection may stay idle before it is closed [default: 60]
        #[arg(long, value_name = "SECONDS")]
        idle_timeout_secs: Option<u64>,
    },
    /// Accounts, managed offline against the data directory.
    User {
        #[command(subcommand)]
        command: UserCommand,
    },
    /// Copies everything (accounts, tokens, origins, keys, packages, channels, audit log,
    /// artifacts) from the current stores to those of another settings file, then checks that
    /// the destination holds it all. Stop the source depot first. Running it again copies only
    /// what is missing.
    Migrate {
        #[command(flatten)]
        data: DataArgs,
        /// The destination's settings file (its `[metadata]`, `[artifacts]` and
        /// `server_key_file`).
        #[arg(long, value_name = "FILE")]
        to: PathBuf,
        /// Skips reading every artifact back from the destination to check its checksum
        /// (sizes are still compared).
        #[arg(long)]
        no_verify_checksums: bool,
    },
    /// The server key, which encrypts uploaded secret origin keys.
    ServerKey {
        #[command(subcommand)]
        command: ServerKeyCommand,
    },
    /// Copies channels of an upstream depot (a `hab-depot` or a Builder) into this depot's
    /// stores, once: the channels' members and their dependencies, each checked
    /// as an upload is, dependencies first; then the upstream's channel memberships. A package
    /// here with another checksum is a conflict, reported and left as it is.
    Sync {
        #[command(flatten)]
        data: DataArgs,
        /// The upstream depot's URL [default: run every `[[mirror]]` of the settings, once]
        #[arg(long, value_name = "URL", requires = "origins")]
        from: Option<String>,
        /// An origin to mirror (repeatable; needs `--from`).
        #[arg(long = "origin", value_name = "ORIGIN", requires = "from")]
        origins: Vec<habitat_core::OriginName>,
        /// A channel to mirror (repeatable) [default: every channel the upstream has]
        #[arg(long = "channel", value_name = "CHANNEL")]
        channels: Vec<habitat_core::ChannelName>,
        /// A target to mirror (repeatable) [default: x86_64-linux]
        #[arg(long = "target", value_name = "TARGET")]
        targets: Vec<habitat_core::PackageTarget>,
        /// A file holding a token for the upstream (for private packages).
        #[arg(long, value_name = "FILE")]
        token_file: Option<PathBuf>,
        /// The local account that owns an origin the sync creates here (without it, a missing
        /// origin is a failure) [default: each `[[mirror]]` entry's `owner`]
        #[arg(long, value_name = "ACCOUNT")]
        owner: Option<String>,
        /// `additive` only adds; `exact` also removes from a channel here what is not in it
        /// upstream, after a run without failures.
        #[arg(long, value_enum, default_value = "additive")]
        mode: sync::Mode,
    },
    /// Checks that every package has its artifact with the right checksum; reports orphans.
    Fsck {
        #[command(flatten)]
        data: DataArgs,
        /// Removes orphan artifacts.
        #[arg(long)]
        repair: bool,
    },
    /// Copies the embedded store (the database with SQLite's online backup, the artifacts it
    /// references, the server key) into a new or empty directory while the depot serves.
    Backup {
        #[command(flatten)]
        data: DataArgs,
        /// The backup's directory (new or empty; written under a temp name, then renamed).
        #[arg(long, value_name = "DIR")]
        to: PathBuf,
    },
    /// Copies a backup into an empty data directory, then checks it as `fsck` does.
    Restore {
        #[command(flatten)]
        data: DataArgs,
        /// The backup's directory, as `backup --to` wrote it.
        #[arg(long, value_name = "DIR")]
        from: PathBuf,
    },
    /// Air-gap bundles: a channel with its dependencies and keys, carried between depots as
    /// one signed file (docs/bundles.md).
    Bundle {
        #[command(subcommand)]
        command: BundleCommand,
    },
    /// The depot's TUF repository: signed, expiring metadata of what each channel holds
    /// (docs/security.md).
    Tuf {
        #[command(subcommand)]
        command: tuf::TufCommand,
    },
    /// Prints, as JSON on stdout, every package this depot holds with its checksum: what
    /// `hab-depot bundle create --have` takes to make a delta bundle for this depot.
    Inventory {
        #[command(flatten)]
        data: DataArgs,
    },
}

#[derive(Subcommand, Debug)]
enum BundleCommand {
    /// Transfer keys, which sign bundles.
    Key {
        #[command(subcommand)]
        command: BundleKeyCommand,
    },
    /// Writes one uncompressed tar: the signed manifest, then `artifacts/*.hart` and
    /// `keys/*.pub` as `hab pkg download` lays them out. It carries a channel's packages (or
    /// those of a package-set file), their transitive dependencies (any origin) and the keys of
    /// their origins, read from the local stores or, with `--from`, from another depot.
    Create {
        #[command(flatten)]
        data: DataArgs,
        /// Reads from this depot (a `hab-depot` or a Builder) through its API instead of the
        /// local stores; every artifact is downloaded and checked first.
        #[arg(long, value_name = "URL", conflicts_with_all = ["data_dir", "config"])]
        from: Option<String>,
        /// With `--from`: a file holding a token for that depot (for private packages).
        #[arg(long, value_name = "FILE", requires = "from")]
        token_file: Option<PathBuf>,
        /// The origin whose channel is carried.
        #[arg(
            long,
            value_name = "ORIGIN",
            required_unless_present = "file",
            conflicts_with = "file",
            requires = "channel"
        )]
        origin: Option<String>,
        /// The channel.
        #[arg(long, value_name = "CHANNEL", requires = "origin")]
        channel: Option<String>,
        /// A package-set file, as `hab pkg download --file` reads it: for each target, channels
        /// and the packages to carry from them.
        #[arg(long, value_name = "SET.toml")]
        file: Option<PathBuf>,
        /// Only packages for this target (repeatable) [default: every target; with `--from`
        /// and a channel, x86_64-linux]
        #[arg(long = "target", value_name = "TARGET")]
        targets: Vec<String>,
        /// The transfer key's secret file (`NAME-REVISION.sig.key`).
        #[arg(long, value_name = "FILE")]
        sign_key: PathBuf,
        /// An inventory of the importing depot (`hab-depot inventory` there): the packages it
        /// has are left out (a delta bundle).
        #[arg(long, value_name = "INVENTORY.json")]
        have: Option<PathBuf>,
        /// Days the bundle may be imported after it is made.
        #[arg(long, value_name = "DAYS", default_value_t = 30)]
        expires_in_days: u32,
        /// Where to write the bundle.
        #[arg(short = 'o', long = "out", value_name = "BUNDLE.tar")]
        out: PathBuf,
    },
    /// Checks a bundle entirely (signature, expiry, sequence, checksums, keys, artifact
    /// signatures, dependencies, conflicts), then stores its packages dependencies first and
    /// applies its channel memberships. A bundle that fails a check writes nothing.
    Import {
        /// The bundle file (with `--unsigned`: a directory written by `hab pkg download`).
        bundle: PathBuf,
        #[command(flatten)]
        data: DataArgs,
        /// A transfer key's public file (`NAME-REVISION.pub`) the bundle may be signed with
        /// (repeatable), besides the settings' `trusted_bundle_keys`.
        #[arg(long = "trust-key", value_name = "FILE", conflicts_with = "unsigned")]
        trust_keys: Vec<PathBuf>,
        /// BUNDLE is a `hab pkg download` directory, with no manifest: the artifacts'
        /// signatures and the keys are still checked.
        #[arg(long)]
        unsigned: bool,
        /// With `--unsigned`: a channel to add every package to (repeatable).
        #[arg(long = "channel", value_name = "CHANNEL", requires = "unsigned")]
        channels: Vec<String>,
        /// The account recorded as owner of the new packages and of origins created.
        #[arg(long, value_name = "ACCOUNT")]
        owner: String,
        /// Runs every check and reports what would change; writes nothing.
        #[arg(long)]
        dry_run: bool,
    },
}

#[derive(Subcommand, Debug)]
enum BundleKeyCommand {
    /// Writes a new transfer key pair: `NAME-REVISION.sig.key` (keep it on the creating side)
    /// and `NAME-REVISION.pub` (give it to the importing depots).
    Generate {
        /// The key's name (letters, digits, `-` and `_`, as an origin name).
        name: String,
        /// The directory to write both files to.
        #[arg(long, value_name = "DIR")]
        out: PathBuf,
    },
}

#[derive(Subcommand, Debug)]
enum ServerKeyCommand {
    /// Writes a new random server key to FILE (mode 0600); refuses to overwrite one. Make it
    /// once and give every process sharing a metadata database the same file.
    Create {
        /// Where to write it.
        #[arg(long, value_name = "FILE")]
        to: PathBuf,
    },
}

#[derive(Subcommand, Debug)]
enum UserCommand {
    /// Creates an account and prints its first token, alone on stdout.
    Create {
        /// Account name.
        name: String,
        /// E-mail address.
        #[arg(long)]
        email: Option<String>,
        #[command(flatten)]
        data: DataArgs,
    },
    /// Lists accounts.
    List {
        #[command(flatten)]
        data: DataArgs,
    },
    /// Prints a new token for an account, alone on stdout.
    Token {
        /// Account name.
        name: String,
        /// A name for the token.
        #[arg(long = "token-name", default_value = "cli")]
        token_name: String,
        #[command(flatten)]
        data: DataArgs,
    },
    /// Links an existing account to an identity at a sign-in provider, so that signing in
    /// with that identity signs in as the account.
    Link {
        /// Account name.
        name: String,
        /// The provider's `id` in the settings (`[[auth.providers]]`).
        #[arg(long, value_name = "ID")]
        provider: String,
        /// The provider's stable id of the user: GitHub's numeric user id, or OIDC's `sub`.
        #[arg(long, value_name = "SUBJECT")]
        subject: String,
        #[command(flatten)]
        data: DataArgs,
    },
}

/// Parses the command line, runs it and reports any error.
pub fn main() -> ExitCode {
    let cli = Cli::parse();
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(e) => {
            return crate::output::report(
                &anyhow::Error::new(e).context("cannot start the runtime"),
            );
        }
    };
    match runtime.block_on(run(cli)) {
        Ok(code) => code,
        Err(err) => crate::output::report(&err),
    }
}

/// Settings: the file (if any), under `HAB_DEPOT_*` variables, under flags. Empty variables
/// count as unset.
fn settings(data: &DataArgs) -> Result<Settings> {
    let config = data
        .config
        .clone()
        .or_else(|| crate::settings::env("HAB_DEPOT_CONFIG").map(PathBuf::from));
    let mut settings = match &config {
        Some(path) => Settings::from_file(path).map_err(anyhow::Error::msg)?,
        None => Settings::default(),
    };
    if let Some(dir) = data
        .data_dir
        .clone()
        .or_else(|| crate::settings::env("HAB_DEPOT_DATA_DIR").map(PathBuf::from))
    {
        settings.data_dir = dir;
    }
    environment_overrides(&mut settings);
    Ok(settings)
}

/// `HAB_DEPOT_SERVER_KEY_FILE`, `HAB_DEPOT_METADATA_URL` and `HAB_DEPOT_ARTIFACTS_URL` over the
/// file's values. Secrets (the database password, S3 keys) come from variables or files, never
/// from flags.
fn environment_overrides(settings: &mut Settings) {
    if let Some(path) = crate::settings::env("HAB_DEPOT_SERVER_KEY_FILE") {
        settings.server_key_file = Some(PathBuf::from(path));
    }
    if let Some(url) = crate::settings::env("HAB_DEPOT_METADATA_URL") {
        settings.metadata.url = Some(url);
        settings.metadata.url_file = None;
    }
    if let Some(url) = crate::settings::env("HAB_DEPOT_ARTIFACTS_URL") {
        settings.artifacts.url = Some(url);
    }
}

/// A flag's value, else the environment variable's (empty counts as unset), parsed.
fn pick<T: std::str::FromStr>(flag: Option<T>, variable: &str) -> Result<Option<T>>
where
    T::Err: std::fmt::Display,
{
    if flag.is_some() {
        return Ok(flag);
    }
    crate::settings::env(variable)
        .map(|value| {
            value
                .parse()
                .map_err(|e| anyhow::anyhow!("{variable}=`{value}`: {e}"))
        })
        .transpose()
}

async fn open(settings: Settings) -> Result<AppState> {
    Ok(AppState::open(settings).await?)
}

/// The state for an administrator's command (`user`, `fsck`, `migrate`): it signs nobody in, so
/// it neither needs nor checks the sign-in providers' secrets, which may live only in the
/// server's own environment.
async fn open_admin(mut settings: Settings) -> Result<AppState> {
    settings.auth.providers.clear();
    open(settings).await
}

/// [`open_admin`] for a command that stores nothing through the temp directory (`user`,
/// `fsck`): against PostgreSQL + S3 it creates no data directory.
async fn open_admin_without_tmp(mut settings: Settings) -> Result<AppState> {
    settings.auth.providers.clear();
    Ok(AppState::open_without_tmp(settings).await?)
}

async fn run(cli: Cli) -> Result<ExitCode> {
    match cli.command {
        Command::Start {
            data,
            listen,
            max_upload_bytes,
            request_timeout_secs,
            idle_timeout_secs,
        } => {
            let mut settings = settings(&data)?;
            settings.listen = pick(listen, "HAB_DEPOT_LISTEN")?.unwrap_or(settings.listen);
            settings.max_upload_bytes = pick(max_upload_bytes, "HAB_DEPOT_MAX_UPLOAD_BYTES")?
                .unwrap_or(settings.max_upload_bytes);
            settings.request_timeout_secs =
                pick(request_timeout_secs, "HAB_DEPOT_REQUEST_TIMEOUT_SECS")?
                    .unwrap_or(settings.request_timeout_secs);
            settings.idle_timeout_secs = pick(idle_timeout_secs, "HAB_DEPOT_IDLE_TIMEOUT_SECS")?
                .unwrap_or(settings.idle_timeout_secs);
            start(settings).await
        }
        Command::User { command } => user(command).await,
        Command::Migrate {
            data,
            to,
            no_verify_checksums,
        } => migrate(settings(&data)?, &to, !no_verify_checksums).await,
        Command::ServerKey {
            command: ServerKeyCommand::Create { to },
        } => {
            habitat_depot_server::crypto::ServerKey::create_file(&to)
                .with_context(|| format!("cannot create the server key `{}`", to.display()))?;
            say!(
                "wrote a new server key to {}; give every hab-depot process sharing the \
                 database this same file (server_key_file)",
                to.display()
            );
            Ok(ExitCode::SUCCESS)
        }
        Command::Sync {
            data,
            from,
            origins,
            channels,
            targets,
            token_file,
            owner,
            mode,
        } => {
            let state = open_admin(settings(&data)?).await?;
            let requests = match from {
                Some(from) => vec![
                    sync::Flags {
                        from,
                        origins,
                        channels,
                        targets,
                        token_file,
                        owner,
                        mode,
                    }
                    .into(),
                ],
                None => sync::configured(&state, owner)?,
            };
            let mut code = ExitCode::SUCCESS;
            for request in requests {
                if sync::run(&state, request).await? != ExitCode::SUCCESS {
                    code = ExitCode::FAILURE;
                }
            }
            Ok(code)
        }
        Command::Bundle { command } => bundle(command).await,
        Command::Tuf { command } => tuf::run(command).await,
        Command::Inventory { data } => {
            let state = open_admin(settings(&data)?).await?;
            let inventory = habitat_depot_server::sync::bundle::inventory(&state).await?;
            out!("{}", serde_json::to_string_pretty(&inventory)?);
            Ok(ExitCode::SUCCESS)
        }
        Command::Backup { data, to } => backup::backup(settings(&data)?, &to).await,
        Command::Restore { data, from } => backup::restore(settings(&data)?, &from).await,
        Command::Fsck { data, repair } => {
            let state = open_admin_without_tmp(settings(&data)?).await?;
            let report = fsck::check(&state, repair).await?;
            for problem in &report.problems {
                out!("{problem}");
            }
            say!(
                "checked {} packages and {} artifacts: {}",
                report.packages,
                report.artifacts,
                if report.is_clean() {
                    "clean"
                } else {
                    "problems found"
                }
            );
            Ok(if report.is_clean() {
                ExitCode::SUCCESS
            } else {
                ExitCode::FAILURE
            })
        }
    }
}

async fn start(settings: Settings) -> Result<ExitCode> {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "info".into()),
        )
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .init();
    let data_dir = settings.data_dir.clone();
    let listen = settings.listen;
    let state = open(settings).await?;
    let cleaned = state
        .clean_interrupted_uploads()
        .context("cannot clean interrupted uploads")?;
    if cleaned > 0 {
        tracing::info!(count = cleaned, "removed temp files of interrupted uploads");
    }
    if state.first_start || state.metadata.accounts().await?.is_empty() {
        if state.settings.metadata.is_embedded() {
            say!(
                "hab-depot: new data directory {dir}; create the first account with\n  \
                 hab-depot user create NAME --data-dir {dir}",
                dir = data_dir.display()
            );
        } else {
            say!(
                "hab-depot: no accounts yet; create the first one with\n  \
                 hab-depot user create NAME --config FILE"
            );
        }
    }
    let listener = tokio::net::TcpListener::bind(listen)
        .await
        .with_context(|| format!("cannot listen on {listen}"))?;
    if let Some(metrics_listen) = state.settings.metrics_listen {
        let metrics_listener = tokio::net::TcpListener::bind(metrics_listen)
            .await
            .with_context(|| format!("cannot listen on {metrics_listen} (`metrics_listen`)"))?;
        say!(
            "hab-depot metrics on http://{}/metrics",
            metrics_listener.local_addr()?
        );
        let metrics = habitat_depot_server::metrics::router(state.clone());
        tokio::spawn(habitat_depot_server::serve::serve(
            metrics_listener,
            metrics,
            state.settings.idle_timeout(),
            std::future::pending(),
        ));
    }
    let bound = listener.local_addr()?;
    say!(
        "hab-depot listening on http://{bound} (data in {})",
        data_dir.display()
    );
    let idle = state.settings.idle_timeout();
    let mirrors = habitat_depot_server::sync::schedule::start(&state);
    let publisher = habitat_depot_server::tuf::publish::start(&state);
    habitat_depot_server::serve::serve(listener, router(state), idle, shutdown_signal()).await;
    mirrors.stop();
    publisher.abort();
    say!("hab-depot stopped");
    Ok(ExitCode::SUCCESS)
}

/// `hab-depot migrate`: the source is `current`, the destination the settings in `to`.
async fn migrate(current: Settings, to: &std::path::Path, verify: bool) -> Result<ExitCode> {
    use habitat_depot_server::migrate::{Preflight, Stores, migrate};

    let mut preflight = Preflight::check(&current, to)?;
    let mut current = current;
    current.auth.providers.clear();
    let source = AppState::open(current).await?;
    // The destination's stores only: everything is checked before its server key is written
    // or anything stored.
    let (metadata, artifacts) = habitat_depot_server::open_stores(&preflight.destination).await?;
    let target = Stores {
        metadata,
        artifacts,
    };
    preflight.check_destination(&target).await?;
    if let Some(copied) = preflight.share_server_key()? {
        say!(
            "copied the server key to {}: every process of the new deployment needs it",
            copied.display()
        );
    }
    let report = migrate(
        &Stores {
            metadata: source.metadata.clone(),
            artifacts: source.artifacts.clone(),
        },
        &target,
        // The destination's: an embedded artifact store moves the temp file into place by
        // rename, which needs both on one file system.
        &preflight.destination.data_dir.join("tmp"),
        verify,
        |line| say!("{line}"),
    )
    .await?;
    Ok(print_migration(&report))
}

/// Prints a migration's counts on stdout and its problems on stderr; fails when incomplete.
fn print_migration(report: &habitat_depot_server::migrate::Report) -> ExitCode {
    out!("{:<18} {:>10} {:>12}", "table", "source", "destination");
    for table in &report.tables {
        out!(
            "{:<18} {:>10} {:>12}{}",
            table.name,
            table.source,
            table.destination,
            if table.source == table.destination {
                ""
            } else {
                "  MISMATCH"
            }
        );
    }
    out!(
        "{:<18} {:>10} {:>12}  ({} copied now, {} bytes; {})",
        "artifacts",
        report.artifacts,
        report.artifacts_verified,
        report.artifacts_copied,
        report.bytes_copied,
        if report.checksums_checked {
            "sizes and checksums checked"
        } else {
            "sizes checked"
        }
    );
    for problem in &report.problems {
        say!("problem: {problem}");
    }
    if report.is_complete() {
        say!("migration complete: the destination holds everything the source does");
        ExitCode::SUCCESS
    } else {
        say!(
            "migration incomplete: {} problems (running it again copies what is missing)",
            report.problems.len()
        );
        ExitCode::FAILURE
    }
}

async fn shutdown_signal() {
    let interrupt = tokio::signal::ctrl_c();
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(e) => {
                tracing::warn!(error = %e, "cannot listen for SIGTERM");
                std::future::pending::<()>().await;
            }
        }
    };
    tokio::select! {
        _ = interrupt => {}
        _ = terminate => {}
    }
    tracing::info!("shutting down: finishing requests in flight");
}

async fn user(command: UserCommand) -> Result<ExitCode> {
    match command {
        UserCommand::Create { name, email, data } => {
            // Parsed here rather than by clap, so a bad name is an `error:` line with exit
            // status 1 like every other refusal of this command.
            let name: habitat_core::AccountName = name.parse()?;
            let state = open_admin_without_tmp(settings(&data)?).await?;
            let account = state
                .metadata
                .create_account(name.as_str(), email.as_deref())
                .await?;
            let token = auth::issue_token(&state, &account, "default")
                .await
                .map_err(api)?;
            say!("created account `{name}`; its token (shown once) is on stdout");
            out!("{token}");
        }
        UserCommand::List { data } => {
            let state = open_admin_without_tmp(settings(&data)?).await?;
            for account in state.metadata.accounts().await? {
                out!("{}\t{}", account.name, account.email.unwrap_or_default());
            }
        }
        UserCommand::Token {
            name,
            token_name,
            data,
        } => {
            let name: habitat_core::AccountName = name.parse()?;
            let state = open_admin_without_tmp(settings(&data)?).await?;
            let account = state
                .metadata
                .account_by_name(name.as_str())
                .await?
                .with_context(|| format!("no account `{name}`"))?;
            let token = auth::issue_token(&state, &account, &token_name)
                .await
                .map_err(api)?;
            out!("{token}");
        }
        UserCommand::Link {
            name,
            provider,
            subject,
            data,
        } => {
            let name: habitat_core::AccountName = name.parse()?;
            let settings = settings(&data)?;
            if !settings.auth.providers.iter().any(|p| p.id == provider) {
                anyhow::bail!(
                    "the settings have no sign-in provider `{provider}` (`[[auth.providers]]` \
                     with `id = \"{provider}\"`)"
                );
            }
            let subject = subject.trim();
            if subject.is_empty() {
                anyhow::bail!("the subject is empty");
            }
            let state = open_admin_without_tmp(settings).await?;
            let account = state
                .metadata
                .account_by_name(name.as_str())
                .await?
                .with_context(|| format!("no account `{name}`"))?;
            if let Some((_, owner)) = state.metadata.identity(&provider, subject).await? {
                anyhow::bail!(
                    "identity `{subject}` of `{provider}` is already linked to account `{}`",
                    owner.name
                );
            }
            // The provider's user name is learnt at the first sign-in.
            let identity = habitat_depot_server::store::NewIdentity {
                provider: provider.clone(),
                subject: subject.to_owned(),
                username: account.name.clone(),
                email: None,
            };
            state.metadata.link_identity(account.id, &identity).await?;
            say!("linked identity `{subject}` of `{provider}` to account `{name}`");
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// `hab-depot bundle …`.
async fn bundle(command: BundleCommand) -> Result<ExitCode> {
    use habitat_depot_server::sync::bundle;

    match command {
        BundleCommand::Key {
            command: BundleKeyCommand::Generate { name, out },
        } => {
            let name: habitat_core::OriginName = name
                .parse()
                .with_context(|| format!("`{name}` is not a valid transfer key name"))?;
            let secret = habitat_core::SecretKey::generate(&name)?;
            let cache = habitat_core::KeyCache::new(&out);
            let secret_path = cache.write_secret(&secret)?;
            let public_path = cache.write_public(&secret.public_key())?;
            say!(
                "wrote transfer key `{}`: keep {} on the creating side, give {} to the \
                 importing depots",
                secret.name(),
                secret_path.display(),
                public_path.display()
            );
        }
        BundleCommand::Create {
            data,
            from,
            token_file,
            origin,
            channel,
            file,
            targets,
            sign_key,
            have,
            expires_in_days,
            out,
        } => {
            let have = match have {
                Some(path) => {
                    let text = std::fs::read_to_string(&path)
                        .with_context(|| format!("cannot read `{}`", path.display()))?;
                    let inventory: bundle::Inventory = serde_json::from_str(&text)
                        .with_context(|| format!("`{}` is not an inventory", path.display()))?;
                    Some(inventory)
                }
                None => None,
            };
            let wanted = match (origin, channel, file) {
                (Some(origin), Some(channel), None) => bundle::Wanted::Channel {
                    origin: origin.parse()?,
                    channel: channel.parse()?,
                },
                (_, _, Some(file)) => {
                    let text = std::fs::read_to_string(&file)
                        .with_context(|| format!("cannot read `{}`", file.display()))?;
                    bundle::Wanted::Sets(
                        bundle::package_sets(&text)
                            .with_context(|| format!("`{}` refused", file.display()))?,
                    )
                }
                _ => anyhow::bail!("give `--origin ORIGIN --channel CHANNEL` or `--file SET.toml`"),
            };
            let selection = bundle::Selection {
                wanted,
                targets: targets
                    .iter()
                    .map(|t| t.parse())
                    .collect::<Result<_, habitat_core::Error>>()?,
                valid_for: time::Duration::days(i64::from(expires_in_days)),
                have,
            };
            let text = std::fs::read_to_string(&sign_key)
                .with_context(|| format!("cannot read `{}`", sign_key.display()))?;
            let key = habitat_core::SecretKey::parse(&text)
                .with_context(|| format!("`{}` is not a secret signing key", sign_key.display()))?;
            let created = match from {
                Some(from) => {
                    let client = upstream_client(&from, token_file.as_deref())?;
                    bundle::create(bundle::SourceDepot::Remote(&client), &selection, &key, &out)
                        .await?
                }
                None => {
                    let state = open_admin(settings(&data)?).await?;
                    bundle::create(bundle::SourceDepot::Local(&state), &selection, &key, &out)
                        .await?
                }
            };
            say!(
                "wrote {}: {} packages ({} left out, already there), {} channel memberships, {} \
                 keys, {} bytes, sequence {}, signed by `{}`",
                out.display(),
                created.packages,
                created.left_out,
                created.memberships,
                created.keys,
                created.bytes,
                created.sequence,
                key.name()
            );
        }
        BundleCommand::Import {
            bundle: file,
            data,
            trust_keys,
            unsigned,
            channels,
            owner,
            dry_run,
        } => {
            let owner: habitat_core::AccountName = owner.parse()?;
            let state = open_admin(settings(&data)?).await?;
            let trust = if unsigned {
                bundle::Trust::Unsigned {
                    channels: channels
                        .iter()
                        .map(|c| c.parse())
                        .collect::<Result<_, habitat_core::Error>>()?,
                }
            } else {
                let mut trusted = trust_keys
                    .iter()
                    .map(|path| bundle::read_transfer_key(path))
                    .collect::<Result<Vec<_>, _>>()?;
                trusted.extend(bundle::trusted_bundle_keys(&state)?);
                bundle::Trust::Keys(trusted)
            };
            let account = state
                .metadata
                .account_by_name(owner.as_str())
                .await?
                .with_context(|| format!("no account `{owner}`"))?;
            let options = bundle::ImportOptions {
                trust,
                account,
                dry_run,
            };
            let imported = bundle::import(&state, &file, &options)
                .await
                .with_context(|| format!("bundle `{}` refused", file.display()))?;
            if imported.resumed {
                say!(
                    "an earlier import of this bundle did not complete{}",
                    if dry_run {
                        "; importing it again finishes it"
                    } else {
                        "; finished it"
                    }
                );
            }
            out!(
                "{}{} new, {} already present, {} origins created, {} keys added, {} channel \
                 memberships applied",
                if dry_run { "dry run: " } else { "" },
                imported.new,
                imported.present,
                imported.origins,
                imported.keys,
                imported.memberships
            );
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// The client for the depot a bundle is made from, with the token of `token_file` if given.
fn upstream_client(
    from: &str,
    token_file: Option<&std::path::Path>,
) -> Result<habitat_depot_client::Client> {
    let url: habitat_depot_client::DepotUrl = from
        .parse()
        .with_context(|| format!("invalid depot URL `{from}`"))?;
    let token = match token_file {
        Some(path) => {
            let text = std::fs::read_to_string(path)
                .with_context(|| format!("cannot read the token file `{}`", path.display()))?;
            Some(habitat_depot_client::Token::new(text.trim().to_owned())?)
        }
        None => None,
    };
    Ok(habitat_depot_client::Client::builder(url)
        .token(token)
        .build()?)
}

fn api(err: habitat_depot_server::error::ApiError) -> anyhow::Error {
    anyhow::anyhow!("{}", err.message)
}
