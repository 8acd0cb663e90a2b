//! `hab`: the commands (docs/commands.md).

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Result;
use clap::{Args, CommandFactory, Parser, Subcommand, ValueEnum};
use habitat_core::{ChannelName, FullyQualifiedIdent, OriginName, PackageIdent, PackageTarget};

mod binlink;
mod bulk;
mod cli_setup;
mod install;
mod key;
mod origin;
mod pkg;
mod remote;
mod start;
mod tuf;
mod upload;

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
    /// Packages: sign, verify, inspect, pack, install, download.
    Pkg {
        #[command(subcommand)]
        command: PkgCommand,
    },
    /// Depot administration: channels.
    Bldr {
        #[command(subcommand)]
        command: BldrCommand,
    },
    /// Trust in a depot: its pinned TUF root.
    Depot {
        #[command(subcommand)]
        command: DepotCommand,
    },
    /// Settings of `hab` itself.
    Cli {
        #[command(subcommand)]
        command: CliCommand,
    },
    /// Runs a package as a supervised service in the foreground, installing it if needed.
    ///
    /// Renders its hooks and configuration, runs `init` once then `run`, restarts it when it
    /// dies, and with --strategy at-once moves it to the channel's newer releases.
    Start(start::StartArgs),
    /// Prints shell completions for `hab`.
    Completions {
        /// The shell.
        shell: clap_complete::Shell,
    },
}

#[derive(Subcommand, Debug)]
enum DepotCommand {
    /// Pins the depot's TUF root: fetches its 1.root.json and keeps it when the sha256 of its
    /// bytes is ROOT_SHA256 (a fingerprint from the depot's operator); from then on `hab pkg
    /// install`, `hab pkg download` and `hab start` verify that depot's channels.
    Trust {
        /// The sha256 of the depot's 1.root.json, hex.
        #[arg(long, value_name = "HEX")]
        root_sha256: String,
        #[command(flatten)]
        cache: KeyCacheArg,
        #[command(flatten)]
        depot: DepotArgs,
    },
}

#[derive(Subcommand, Debug)]
enum CliCommand {
    /// Asks for the depot URL, the default origin and the auth token and saves them to
    /// cli.toml; offers to generate the origin's signing key.
    Setup,
}

#[derive(Subcommand, Debug)]
enum OriginCommand {
    /// Creates an origin on the depot, owned by you (one you have already is fine).
    Create {
        /// The origin.
        origin: OriginName,
        #[command(flatten)]
        depot: DepotArgs,
    },
    /// Deletes an origin from the depot (its owner; only an origin without packages).
    Delete {
        /// The origin.
        origin: OriginName,
        #[command(flatten)]
        depot: DepotArgs,
    },
    /// Leaves an origin you are a member of (its owner transfers or deletes it instead).
    Depart {
        /// The origin.
        origin: OriginName,
        #[command(flatten)]
        depot: DepotArgs,
    },
    /// Makes another member the owner of an origin (its owner only); you stay a maintainer.
    Transfer {
        /// The origin.
        origin: OriginName,
        /// The account of the new owner, a member of the origin.
        new_owner: habitat_core::AccountName,
        #[command(flatten)]
        depot: DepotArgs,
    },
    /// Shows an origin on the depot.
    Info {
        /// The origin.
        origin: OriginName,
        /// Prints JSON.
        #[arg(short = 'j', long)]
        json: bool,
        #[command(flatten)]
        depot: DepotArgs,
    },
    /// Origin signing keys.
    Key {
        #[command(subcommand)]
        command: KeyCommand,
    },
    /// Invitations to join an origin.
    Invitations {
        #[command(subcommand)]
        command: InvitationCommand,
    },
    /// Members' roles in an origin.
    Rbac {
        #[command(subcommand)]
        command: RbacCommand,
    },
    /// Shows an origin's audit log, newest first (maintainers and up).
    Audit {
        /// The origin.
        origin: OriginName,
        /// Only this action (`upload`, `promote`, `role_change`, ...).
        #[arg(long)]
        action: Option<String>,
        /// Only this package or key identifier.
        #[arg(long)]
        ident: Option<String>,
        /// Only what this account did.
        #[arg(long)]
        account: Option<String>,
        #[command(flatten)]
        depot: DepotArgs,
    },
}

#[derive(Subcommand, Debug)]
enum RbacCommand {
    /// Lists an origin's members with their roles, or shows one member's role.
    Show {
        /// The origin.
        origin: OriginName,
        /// One member.
        member: Option<habitat_core::AccountName>,
        /// Prints JSON.
        #[arg(short = 'j', long)]
        json: bool,
        #[command(flatten)]
        depot: DepotArgs,
    },
    /// Sets a member's role (administrators; nobody can grant `owner` or change their own
    /// role).
    Set {
        /// The origin.
        origin: OriginName,
        /// The member.
        member: habitat_core::AccountName,
        /// The new role.
        role: RoleArg,
        #[command(flatten)]
        depot: DepotArgs,
    },
}

/// An origin role, lowest first.
#[derive(ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
#[value(rename_all = "snake_case")]
enum RoleArg {
    /// Reads private packages.
    ReadonlyMember,
    /// Uploads packages.
    Member,
    /// Promotes, demotes and deletes packages, manages channels, invites.
    Maintainer,
    /// Manages keys and roles.
    Administrator,
}

/// Which depot, as whom.
#[derive(Args, Debug, Clone)]
struct DepotArgs {
    /// The depot URL [default: HAB_BLDR_URL, HAB_DEPOT_URL, cli.toml `bldr_url`,
    /// http://localhost:9636]
    #[arg(short = 'u', long = "url", value_name = "URL")]
    url: Option<String>,
    /// The auth token [default: HAB_AUTH_TOKEN, cli.toml `auth_token`]
    #[arg(short = 'z', long = "auth", value_name = "TOKEN")]
    auth: Option<String>,
}

#[derive(Subcommand, Debug)]
enum InvitationCommand {
    /// Invites an account to join an origin.
    Send {
        /// The origin.
        origin: OriginName,
        /// The account invited.
        account: habitat_core::AccountName,
        #[command(flatten)]
        depot: DepotArgs,
    },
    /// Lists the invitations addressed to you.
    List {
        #[command(flatten)]
        depot: DepotArgs,
    },
    /// Lists an origin's pending invitations.
    Pending {
        /// The origin.
        origin: OriginName,
        #[command(flatten)]
        depot: DepotArgs,
    },
    /// Accepts an invitation addressed to you: you join the origin as a member.
    Accept {
        /// The origin.
        origin: OriginName,
        /// The invitation id.
        id: String,
        #[command(flatten)]
        depot: DepotArgs,
    },
    /// Declines an invitation addressed to you.
    Ignore {
        /// The origin.
        origin: OriginName,
        /// The invitation id.
        id: String,
        #[command(flatten)]
        depot: DepotArgs,
    },
    /// Withdraws an invitation.
    Rescind {
        /// The origin.
        origin: OriginName,
        /// The invitation id.
        id: String,
        #[command(flatten)]
        depot: DepotArgs,
    },
}

#[derive(Subcommand, Debug)]
enum BldrCommand {
    /// An origin's channels.
    Channel {
        #[command(subcommand)]
        command: ChannelCommand,
    },
}

#[derive(Subcommand, Debug)]
enum ChannelCommand {
    /// Creates a channel.
    Create(OriginChannelArgs),
    /// Deletes a channel (not `stable` or `unstable`).
    Destroy(OriginChannelArgs),
    /// Lists an origin's channels.
    List {
        /// The origin.
        origin: OriginName,
        #[command(flatten)]
        depot: DepotArgs,
    },
    /// Puts every package of SOURCE in TARGET too, all at once (maintainers).
    Promote(WholeChannelArgs),
    /// Removes every package of SOURCE from TARGET, all at once (maintainers).
    Demote(WholeChannelArgs),
}

/// A whole channel's packages moving into or out of another channel (`hab bldr channel
/// promote|demote`).
#[derive(Args, Debug)]
struct WholeChannelArgs {
    /// The channel whose packages move.
    source: ChannelName,
    /// The channel they are added to or removed from.
    target: ChannelName,
    /// The origin of both channels [default: HAB_ORIGIN, cli.toml `origin`]
    #[arg(short = 'o', long)]
    origin: Option<OriginName>,
    #[command(flatten)]
    depot: DepotArgs,
}

/// One channel of an origin, on a depot (`hab bldr channel create|destroy`).
#[derive(Args, Debug)]
struct OriginChannelArgs {
    /// The origin.
    origin: OriginName,
    /// The channel.
    channel: ChannelName,
    #[command(flatten)]
    depot: DepotArgs,
}

/// Which TUF root verifies the depot's channels.
#[derive(Args, Debug, Clone)]
struct TufArgs {
    /// The depot's TUF root metadata file to trust [default: HAB_TUF_ROOT, cli.toml
    /// `tuf_root`, else the root pinned with `hab depot trust`]
    #[arg(long, value_name = "FILE")]
    tuf_root: Option<PathBuf>,
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
    /// Uploads the origin's latest public key (or --pubfile) to the depot, and with
    /// --secret the latest secret key (or --secfile).
    Upload {
        /// The origin whose latest cached key is uploaded.
        #[arg(required_unless_present = "pubfile")]
        origin: Option<OriginName>,
        /// A public key file to upload instead.
        #[arg(long, value_name = "FILE", conflicts_with = "origin")]
        pubfile: Option<PathBuf>,
        /// Also uploads the origin's latest secret key.
        #[arg(short = 's', long)]
        secret: bool,
        /// A secret key file to upload as well.
        #[arg(long, value_name = "FILE")]
        secfile: Option<PathBuf>,
        #[command(flatten)]
        cache: KeyCacheArg,
        #[command(flatten)]
        depot: DepotArgs,
    },
    /// Downloads an origin's public keys (all, or one REVISION), or with --secret its latest
    /// secret key, into the key cache.
    Download {
        /// The origin.
        origin: OriginName,
        /// One revision (YYYYMMDDhhmmss) [default: all]
        revision: Option<String>,
        /// Downloads the latest secret key instead (administrators only).
        #[arg(short = 's', long, conflicts_with = "revision")]
        secret: bool,
        #[command(flatten)]
        cache: KeyCacheArg,
        #[command(flatten)]
        depot: DepotArgs,
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
        /// Directory for the .hart (created when missing).
        #[arg(short = 'o', long, default_value = ".")]
        output: PathBuf,
        /// The package's target [default: HAB_PACKAGE_TARGET, else this machine's]
        #[arg(short = 't', long)]
        target: Option<PackageTarget>,
        #[command(flatten)]
        cache: KeyCacheArg,
    },
    /// Installs packages under FS_ROOT: each IDENT not installed yet is resolved to its latest
    /// release in the channel and fetched from the depot with every TDEPS entry not installed
    /// and the public keys they need; .hart files join the same set. All are verified before
    /// any is installed.
    Install {
        /// ORIGIN/NAME[/VERSION[/RELEASE]] identifiers and .hart files.
        #[arg(required = true, value_name = "IDENT|HART")]
        artifacts: Vec<String>,
        /// The channel [default: HAB_BLDR_CHANNEL, else stable; a view URL's channel wins]
        #[arg(short = 'c', long)]
        channel: Option<ChannelName>,
        /// Resolves each IDENT on the depot even when an installed package satisfies it, and
        /// downloads artifacts again even when they are in the artifact cache.
        #[arg(long)]
        ignore_local: bool,
        /// Links the programs of the packages named (not their dependencies) into
        /// $FS_ROOT/bin.
        #[arg(short = 'b', long)]
        binlink: bool,
        #[command(flatten)]
        cache: KeyCacheArg,
        #[command(flatten)]
        depot: DepotArgs,
        #[command(flatten)]
        tuf: TufArgs,
    },
    /// Fetches the latest release of each IDENT in the channel, with all its TDEPS, and the
    /// public keys they need, without installing; prints the artifacts' paths.
    Download {
        /// ORIGIN/NAME[/VERSION[/RELEASE]].
        #[arg(required_unless_present = "file")]
        idents: Vec<PackageIdent>,
        /// A file of identifiers, one a line (blank lines and `#` comments skipped).
        #[arg(long, value_name = "FILE")]
        file: Vec<PathBuf>,
        /// Where the artifacts go: DIR/artifacts, with their public keys in DIR/keys (the
        /// layout `hab pkg bulkupload DIR` reads) [default: the artifact cache,
        /// $FS_ROOT/hab/cache/artifacts, keys in the key cache only]
        #[arg(long, value_name = "DIR")]
        download_directory: Option<PathBuf>,
        /// The packages' target [default: HAB_PACKAGE_TARGET, else this machine's]
        #[arg(short = 't', long)]
        target: Option<PackageTarget>,
        /// The channel [default: HAB_BLDR_CHANNEL, else stable; a view URL's channel wins]
        #[arg(short = 'c', long)]
        channel: Option<ChannelName>,
        #[command(flatten)]
        cache: KeyCacheArg,
        #[command(flatten)]
        depot: DepotArgs,
        #[command(flatten)]
        tuf: TufArgs,
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
    /// Uploads .hart files to the depot, with the TDEPS it lacks found beside each file;
    /// skips what the depot already has. Never uploads a key.
    Upload {
        /// .hart files.
        #[arg(required = true)]
        artifacts: Vec<PathBuf>,
        /// Also promotes each uploaded package to this channel (created when missing).
        #[arg(short = 'c', long)]
        channel: Option<ChannelName>,
        /// Uploads even when the depot has the package (only an identical file is accepted).
        #[arg(long)]
        force: bool,
        #[command(flatten)]
        depot: DepotArgs,
    },
    /// Uploads DIR/artifacts/*.hart after the public keys in DIR/keys/*.pub (the layout
    /// `hab pkg download --download-directory DIR` writes).
    Bulkupload {
        /// The directory holding artifacts/ and keys/.
        dir: PathBuf,
        /// Also promotes each package to this channel (created when missing).
        #[arg(short = 'c', long)]
        channel: Option<ChannelName>,
        /// Creates the origins the depot does not have (owned by you) instead of stopping.
        #[arg(long)]
        auto_create_origins: bool,
        /// Uploads even when the depot has the package (only an identical file is accepted).
        #[arg(long)]
        force: bool,
        #[command(flatten)]
        depot: DepotArgs,
    },
    /// Deletes a package from the depot: only one in no channel but `unstable` that no other
    /// package depends on (maintainers).
    Delete {
        /// ORIGIN/NAME/VERSION/RELEASE.
        ident: FullyQualifiedIdent,
        /// The package's target [default: HAB_PACKAGE_TARGET, else this machine's]
        #[arg(value_name = "TARGET", conflicts_with = "target")]
        pkg_target: Option<PackageTarget>,
        /// The package's target, as a flag.
        #[arg(short = 't', long)]
        target: Option<PackageTarget>,
        #[command(flatten)]
        depot: DepotArgs,
    },
    /// Adds a package to a channel, creating the channel when it does not exist.
    Promote(ChannelMoveArgs),
    /// Removes a package from a channel.
    Demote(ChannelMoveArgs),
    /// Lists the channels a package is in.
    Channels {
        /// ORIGIN/NAME/VERSION/RELEASE.
        ident: FullyQualifiedIdent,
        /// The package's target [default: HAB_PACKAGE_TARGET, else this machine's]
        #[arg(short = 't', long)]
        target: Option<PackageTarget>,
        #[command(flatten)]
        depot: DepotArgs,
    },
    /// Searches the depot for packages whose origin or name contains TERM: each ORIGIN/NAME
    /// once, or with --releases every release.
    Search {
        /// The search term.
        term: String,
        /// At most this many results.
        #[arg(short = 'l', long, default_value_t = 50)]
        limit: u64,
        /// Lists every release (ORIGIN/NAME/VERSION/RELEASE) instead of each package once.
        #[arg(long)]
        releases: bool,
        #[command(flatten)]
        depot: DepotArgs,
    },
}

/// A package and a channel it moves into or out of (`hab pkg promote|demote`).
#[derive(Args, Debug)]
struct ChannelMoveArgs {
    /// ORIGIN/NAME/VERSION/RELEASE.
    ident: FullyQualifiedIdent,
    /// The channel.
    channel: ChannelName,
    /// The package's target [default: HAB_PACKAGE_TARGET, else this machine's]
    #[arg(short = 't', long)]
    target: Option<PackageTarget>,
    #[command(flatten)]
    depot: DepotArgs,
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
        Command::Origin { command } => origin::run(command),
        Command::Pkg { command } => pkg::run(command),
        Command::Bldr {
            command: BldrCommand::Channel { command },
        } => remote::channel(command),
        Command::Depot {
            command:
                DepotCommand::Trust {
                    root_sha256,
                    cache,
                    depot,
                },
        } => tuf::run_trust(&root_sha256, &cache, &depot),
        Command::Cli {
            command: CliCommand::Setup,
        } => cli_setup::run(),
        Command::Start(args) => start::run(args),
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
