//! The storage seam: [`MetadataStore`] (accounts, tokens, origins, members, invitations, keys,
//! packages, channels, audit log) and [`ArtifactStore`] (the `.hart` files, by checksum).
//!
//! The embedded implementations are [`sqlite::SqliteStore`] and [`files::FileArtifacts`]. A
//! handler never assumes one process: uniqueness and multi-row changes are the store's job,
//! done in its transactions.

use std::path::Path;
use std::pin::Pin;

use async_trait::async_trait;
use habitat_core::{
    Bind, Blake2bHash, ChannelName, FullyQualifiedIdent, OriginName, PackageMetadata, PackageTarget,
};
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;
use tokio::io::AsyncRead;

mod by_area;
mod error;
pub mod files;
pub mod postgres;
pub mod s3;
mod sql;
pub mod sqlite;
pub mod tuf;

pub use error::BackendError;
pub use tuf::{
    TufChange, TufCollected, TufCurrent, TufIndexRow, TufKey, TufMetadataRow, TufPublish, TufScope,
    TufTargetUpsert,
};

/// What a store can fail with. Conflicts and absences the handlers must distinguish have their
/// own variants; everything else is [`StoreError::Backend`] (keeping the backend's error) or
/// [`StoreError::Invalid`].
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StoreError {
    /// A unique value already exists (the string names it).
    #[error("{0} already exists")]
    Conflict(String),
    /// A row the change needs does not exist (the string names it).
    #[error("{0} not found")]
    NotFound(String),
    /// The change is refused by a rule the store enforces (the string says which).
    #[error("{0}")]
    Refused(String),
    /// The backend failed (database, file system, network): what the store was doing, and the
    /// backend's own error, kept for the log.
    #[error("storage backend: {context}")]
    Backend {
        /// What the store was doing.
        context: String,
        /// What the backend answered.
        #[source]
        source: BackendError,
    },
    /// The backend cannot be used as it is: a schema newer than this build, a stored value or
    /// a setting it cannot work with (the string says which).
    #[error("storage backend: {0}")]
    Invalid(String),
}

impl StoreError {
    /// A backend failure while doing `context`.
    pub fn backend(context: impl Into<String>, source: impl Into<BackendError>) -> Self {
        Self::Backend {
            context: context.into(),
            source: source.into(),
        }
    }

    /// The error of the store method `method`: a backend failure's context names it, so the
    /// log says which operation failed; other errors are left as they are.
    pub(crate) fn during(self, method: &str) -> Self {
        match self {
            Self::Backend { context, source } => Self::Backend {
                context: format!("`{method}`: {context}"),
                source,
            },
            other => other,
        }
    }
}

/// Results of store operations.
pub type StoreResult<T> = Result<T, StoreError>;

pub use habitat_core::access::{Role, Visibility};

/// An account.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Account {
    /// Store id.
    pub id: i64,
    /// Unique account name.
    pub name: String,
    /// Optional e-mail address.
    pub email: Option<String>,
    /// Creation time.
    pub created_at: OffsetDateTime,
}

/// A token's record; the secret itself is never stored, only its hash.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TokenRecord {
    /// Store id.
    pub id: i64,
    /// The account it authenticates.
    pub account_id: i64,
    /// A name chosen by its owner.
    pub name: String,
    /// BLAKE2b-256 of the secret.
    pub hash: Blake2bHash,
    /// Creation time.
    pub created_at: OffsetDateTime,
    /// Last time it authenticated a request (updated at most once a minute).
    pub last_used_at: Option<OffsetDateTime>,
    /// When it stops working, if ever.
    pub expires_at: Option<OffsetDateTime>,
}

/// An identity at a sign-in provider, linked to one account.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Identity {
    /// The provider's `id` in the settings.
    pub provider: String,
    /// The provider's stable id of the user (GitHub's numeric `id`, OIDC's `sub`).
    pub subject: String,
    /// The account it signs in as.
    pub account_id: i64,
    /// The user name the provider gave at the last sign-in (it may change there).
    pub username: String,
    /// The e-mail address the provider gave at the last sign-in.
    pub email: Option<String>,
    /// When it was linked.
    pub created_at: OffsetDateTime,
    /// Its last sign-in.
    pub last_sign_in_at: Option<OffsetDateTime>,
}

/// What a provider says of a user at sign-in, before it is stored.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NewIdentity {
    /// The provider's `id` in the settings.
    pub provider: String,
    /// The provider's stable id of the user.
    pub subject: String,
    /// The provider's user name.
    pub username: String,
    /// The e-mail address, if the provider gave one.
    pub email: Option<String>,
}

/// A browser session; its secret is never stored, only its hash.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Session {
    /// Store id.
    pub id: i64,
    /// The signed-in account.
    pub account_id: i64,
    /// Sign-in time.
    pub created_at: OffsetDateTime,
    /// Last request (recorded at most once a minute).
    pub last_seen_at: OffsetDateTime,
    /// When it ends, whatever its use.
    pub expires_at: OffsetDateTime,
}

/// A sign-in in flight, between the redirect to the provider and its callback: kept a few
/// minutes, taken (deleted) by the callback, so a `state` works once.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LoginFlow {
    /// Hash of the `state` parameter sent to the provider.
    pub state_hash: Blake2bHash,
    /// The provider's `id`.
    pub provider: String,
    /// Hash of the browser cookie's id: the callback must come from the same browser.
    pub browser_hash: Blake2bHash,
    /// The OIDC `nonce` the ID token must carry.
    pub nonce: String,
    /// The PKCE code verifier.
    pub verifier: String,
    /// The depot page to return to after sign-in (a path).
    pub return_to: String,
    /// When the sign-in started.
    pub created_at: OffsetDateTime,
}

/// An origin.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Origin {
    /// Its name.
    pub name: OriginName,
    /// The owner's account name.
    pub owner: String,
    /// Visibility of new packages.
    pub default_package_visibility: Visibility,
    /// Creation time.
    pub created_at: OffsetDateTime,
}

/// A member of an origin.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Member {
    /// Account name.
    pub name: String,
    /// Role in the origin.
    pub role: Role,
}

/// A pending invitation.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Invitation {
    /// Store id.
    pub id: i64,
    /// The origin.
    pub origin: OriginName,
    /// The invitee's account name.
    pub account: String,
    /// Who sent it.
    pub invited_by: String,
    /// Creation time.
    pub created_at: OffsetDateTime,
}

/// A public origin key as uploaded.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OriginKey {
    /// The origin.
    pub origin: OriginName,
    /// 14-digit revision.
    pub revision: String,
    /// The key file's text.
    pub body: String,
    /// Upload time.
    pub created_at: OffsetDateTime,
}

/// A secret origin key, encrypted with the server key.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SecretOriginKey {
    /// The origin.
    pub origin: OriginName,
    /// 14-digit revision.
    pub revision: String,
    /// Nonce followed by ciphertext.
    pub encrypted: Vec<u8>,
}

/// A stored package.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Package {
    /// Store id.
    pub id: i64,
    /// Identifier.
    pub ident: FullyQualifiedIdent,
    /// Target.
    pub target: PackageTarget,
    /// BLAKE2b-256 of the whole .hart.
    pub checksum: Blake2bHash,
    /// Size of the .hart in bytes.
    pub size: u64,
    /// Visibility.
    pub visibility: Visibility,
    /// MANIFEST.
    pub manifest: String,
    /// default.toml.
    pub config: String,
    /// DEPS.
    pub deps: Vec<FullyQualifiedIdent>,
    /// TDEPS.
    pub tdeps: Vec<FullyQualifiedIdent>,
    /// BUILD_DEPS.
    pub build_deps: Vec<FullyQualifiedIdent>,
    /// BUILD_TDEPS.
    pub build_tdeps: Vec<FullyQualifiedIdent>,
    /// EXPOSES.
    pub exposes: Vec<u16>,
    /// BINDS.
    pub binds: Vec<Bind>,
    /// BINDS_OPTIONAL.
    pub binds_optional: Vec<Bind>,
    /// Has SVC_USER.
    pub is_a_service: bool,
    /// The account that uploaded it.
    pub owner: String,
    /// Upload time.
    pub created_at: OffsetDateTime,
    /// SHA-256 of the whole .hart, 64 lowercase hex digits (what TUF clients check); `None` for
    /// a package stored before the depot kept it, until the backfill measures it.
    pub sha256: Option<String>,
    /// The name of the key that signed the .hart (`origin-revision`, from its header); `None`
    /// as [`Package::sha256`].
    pub signer: Option<String>,
}

impl Package {
    /// The row of a new package, before the store inserts it (its `id` is 0 until then): what
    /// the artifact's metadata files say, with its checksum and size, the visibility it gets and
    /// the account recorded as its owner; created now. Its `sha256` and `signer` are left
    /// `None` for the caller to set (ingest measures them).
    pub fn new(
        metadata: PackageMetadata,
        checksum: Blake2bHash,
        size: u64,
        visibility: Visibility,
        owner: String,
    ) -> Self {
        Self {
            id: 0,
            is_a_service: metadata.is_a_service(),
            ident: metadata.ident,
            target: metadata.target,
            checksum,
            size,
            visibility,
            manifest: metadata.manifest,
            config: metadata.config,
            deps: metadata.deps,
            tdeps: metadata.tdeps,
            build_deps: metadata.build_deps,
            build_tdeps: metadata.build_tdeps,
            exposes: metadata.exposes,
            binds: metadata.binds,
            binds_optional: metadata.binds_optional,
            owner,
            created_at: now(),
            sha256: None,
            signer: None,
        }
    }
}

/// A package's membership in a channel.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ChannelMembership {
    /// Channel name.
    pub name: ChannelName,
    /// When it was promoted there.
    pub promoted_at: OffsetDateTime,
    /// When the channel was created.
    pub created_at: OffsetDateTime,
}

/// A window of a list: offset and size.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Page {
    /// 0-based offset.
    pub offset: u64,
    /// How many at most.
    pub limit: u64,
}

/// One window of a list and the list's total size.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Paged<T> {
    /// The items.
    pub items: Vec<T>,
    /// The total count.
    pub total: u64,
}

/// Which packages a listing or "latest" looks at.
#[derive(Clone, Debug, Default)]
pub struct PackageFilter {
    /// Origin (always set for listings and latest; `None` for search).
    pub origin: Option<OriginName>,
    /// Package name.
    pub name: Option<String>,
    /// Version.
    pub version: Option<String>,
    /// Target.
    pub target: Option<PackageTarget>,
    /// Only packages in this channel.
    pub channel: Option<ChannelName>,
    /// Include private packages of these origins (the caller's memberships).
    pub private_origins: Vec<OriginName>,
}

/// What blocks deleting an origin.
#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub struct OriginContents {
    /// Packages.
    pub packages: u64,
    /// Members other than the owner.
    pub members: u64,
    /// Channels other than `unstable` and `stable`.
    pub extra_channels: u64,
}

/// A promotion or demotion, for the audit log.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ChannelAction {
    /// Added to a channel.
    Promote,
    /// Removed from a channel.
    Demote,
}

/// One row to add to the audit log (docs/operations.md, "The audit log"): who did what, from
/// where, to what. Rows are only ever added.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct AuditRecord {
    /// The action, e.g. `upload`, `promote`, `role`, `token_create`.
    pub action: String,
    /// The account that acted.
    pub account: String,
    /// The origin acted on; `None` for an account's own actions (tokens).
    pub origin: Option<String>,
    /// The client's address; `None` for commands run on the depot's host.
    pub address: Option<String>,
    /// The channel, for promotions and demotions.
    pub channel: Option<String>,
    /// The package or key acted on (`origin/name/version/release`, or `origin-revision`).
    pub ident: Option<String>,
    /// The package's target.
    pub target: Option<String>,
    /// A short detail, e.g. the member and role of a role change.
    pub detail: Option<String>,
}

/// One row of the audit log as read back, newest first.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AuditEntry {
    /// The row's id (grows with every row).
    pub id: i64,
    /// When.
    pub at: OffsetDateTime,
    /// The rest of the row as recorded.
    pub record: AuditRecord,
}

/// Which audit rows a listing returns (every field that is set must match exactly).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct AuditFilter {
    /// The action.
    pub action: Option<String>,
    /// The package or key identifier.
    pub ident: Option<String>,
    /// The account that acted.
    pub account: Option<String>,
}

/// The last air-gap bundle imported from one transfer key (docs/bundles.md, "Where the sequence
/// is kept"): an importer refuses an older one from the same key.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BundleImport {
    /// The transfer key's name (its revision left out: a new revision continues the sequence).
    pub signer: String,
    /// The bundle's sequence.
    pub sequence: u64,
    /// BLAKE2b-256 of its manifest, 64 lowercase hex digits.
    pub manifest: String,
    /// Whether that import ended (every package stored, the memberships applied); `false`
    /// while it runs, and after it was interrupted.
    pub completed: bool,
}

/// The tables of a metadata store, parents before children: the order a [`Dump`] lists them in
/// and a restore inserts them in. Both SQL stores use these table and column names.
pub const DUMP_TABLES: &[&str] = &[
    "accounts",
    "identities",
    "tokens",
    "origins",
    "members",
    "invitations",
    "public_keys",
    "secret_keys",
    "packages",
    "package_tdeps",
    "channels",
    "channel_packages",
    "audit",
    "bundle_imports",
    "tuf_metadata",
    "tuf_targets",
    "tuf_current",
    "tuf_keys",
    "tuf_outbox",
];

/// One value in a [`DumpTable`] row.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum DumpValue {
    /// SQL NULL.
    Null,
    /// An integer (ids, sizes, flags).
    Int(i64),
    /// Text (names, timestamps in RFC 3339, JSON documents).
    Text(String),
    /// Bytes (token hashes, version sort keys, encrypted secret keys).
    Blob(Vec<u8>),
}

/// Every row of one table, with ids kept, for moving a depot from one store to another.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct DumpTable {
    /// The table's name, one of [`DUMP_TABLES`].
    pub name: String,
    /// Its columns, in the order of each row's values.
    pub columns: Vec<String>,
    /// The rows, ordered by primary key.
    pub rows: Vec<Vec<DumpValue>>,
}

/// Everything a metadata store holds: one [`DumpTable`] for each of [`DUMP_TABLES`], in that
/// order.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Dump {
    /// The tables.
    pub tables: Vec<DumpTable>,
}

impl DumpTable {
    /// Refuses a table or column name a restore must not put into SQL: only the tables of
    /// [`DUMP_TABLES`], and column names of lowercase letters, digits and underscores that
    /// start with a letter (`sha256`).
    pub fn check_names(&self) -> StoreResult<()> {
        if !DUMP_TABLES.contains(&self.name.as_str()) {
            return Err(StoreError::Refused(format!(
                "the dump has an unknown table `{}`",
                self.name
            )));
        }
        let valid = |column: &str| {
            column.starts_with(|ch: char| ch.is_ascii_lowercase())
                && column
                    .chars()
                    .all(|ch| ch.is_ascii_lowercase() || ch.is_ascii_digit() || ch == '_')
        };
        if let Some(bad) = self.columns.iter().find(|c| !valid(c)) {
            return Err(StoreError::Refused(format!(
                "the dump's table `{}` has an invalid column name `{bad}`",
                self.name
            )));
        }
        Ok(())
    }
}

/// Now, in whole seconds (the precision both SQL stores keep), and a time as both keep it:
/// RFC 3339 in whole seconds, whatever the caller passed. The API writes times the same way.
pub(crate) use habitat_core::timestamp::{format_rfc3339 as ts, now};

/// A package's dependency list as both SQL stores keep it in a column: one ident a line.
pub(crate) fn join_idents(idents: &[FullyQualifiedIdent]) -> String {
    idents
        .iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join("\n")
}

/// A package's exposed ports as both SQL stores keep them in a column: space-separated.
/// Binds as stored: one `NAME=EXPORT EXPORT…` line each.
pub(crate) fn join_binds(binds: &[Bind]) -> String {
    binds
        .iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join("\n")
}

/// Binds as stored, read back; a line that is not a bind is an error naming it.
pub(crate) fn split_binds(text: &str) -> Result<Vec<Bind>, habitat_core::Error> {
    text.lines()
        .filter(|l| !l.trim().is_empty())
        .map(str::parse)
        .collect()
}

pub(crate) fn join_exposes(exposes: &[u16]) -> String {
    exposes
        .iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join(" ")
}

/// Accounts, tokens, origins, members, invitations, keys, packages and channels.
///
/// Every method that changes several rows does so in one transaction.
#[async_trait]
pub trait MetadataStore: Send + Sync + 'static {
    /// Answers when the store is reachable.
    async fn ping(&self) -> StoreResult<()>;

    /// Creates an account ([`StoreError::Conflict`] if the name is taken).
    async fn create_account(&self, name: &str, email: Option<&str>) -> StoreResult<Account>;
    /// An account by name.
    async fn account_by_name(&self, name: &str) -> StoreResult<Option<Account>>;
    /// All accounts.
    async fn accounts(&self) -> StoreResult<Vec<Account>>;

    /// Stores a new token's hash.
    async fn create_token(
        &self,
        account_id: i64,
        name: &str,
        hash: &Blake2bHash,
        expires_at: Option<OffsetDateTime>,
    ) -> StoreResult<TokenRecord>;
    /// The token with this hash and its account; records the use.
    async fn authenticate(&self, hash: &Blake2bHash)
    -> StoreResult<Option<(TokenRecord, Account)>>;
    /// An account's tokens.
    async fn tokens(&self, account_id: i64) -> StoreResult<Vec<TokenRecord>>;
    /// Deletes one of an account's tokens; `false` if it has no such token.
    async fn delete_token(&self, account_id: i64, token_id: i64) -> StoreResult<bool>;

    /// The identity `subject` of `provider` and its account.
    async fn identity(
        &self,
        provider: &str,
        subject: &str,
    ) -> StoreResult<Option<(Identity, Account)>>;
    /// An account's identities.
    async fn identities(&self, account_id: i64) -> StoreResult<Vec<Identity>>;
    /// Sign-up: creates the account `name` and links `identity` to it (its first sign-in), in
    /// one transaction ([`StoreError::Conflict`] naming `account `name`` or `identity` when
    /// either exists).
    async fn sign_up(&self, name: &str, identity: &NewIdentity) -> StoreResult<Account>;
    /// Links an identity to an existing account ([`StoreError::Conflict`] if it is linked).
    async fn link_identity(&self, account_id: i64, identity: &NewIdentity)
    -> StoreResult<Identity>;
    /// Records a sign-in: the identity's current user name and e-mail, and the time.
    async fn record_sign_in(&self, identity: &NewIdentity) -> StoreResult<()>;

    /// Stores a new session's hash.
    async fn create_session(
        &self,
        account_id: i64,
        hash: &Blake2bHash,
        expires_at: OffsetDateTime,
    ) -> StoreResult<Session>;
    /// The session with this hash and its account.
    async fn session(&self, hash: &Blake2bHash) -> StoreResult<Option<(Session, Account)>>;
    /// Records a session's use now.
    async fn touch_session(&self, id: i64) -> StoreResult<()>;
    /// Ends a session (absent is fine).
    async fn delete_session(&self, hash: &Blake2bHash) -> StoreResult<()>;
    /// Stores a sign-in in flight, and forgets those older than `stale_before`.
    async fn put_login_flow(
        &self,
        flow: &LoginFlow,
        stale_before: OffsetDateTime,
    ) -> StoreResult<()>;
    /// Takes (reads and deletes) the sign-in in flight with this state hash.
    async fn take_login_flow(&self, state_hash: &Blake2bHash) -> StoreResult<Option<LoginFlow>>;

    /// Creates an origin with channels `unstable` and `stable`, its owner a member with role
    /// owner, in one transaction.
    async fn create_origin(
        &self,
        name: &OriginName,
        owner_id: i64,
        visibility: Visibility,
    ) -> StoreResult<Origin>;
    /// An origin.
    async fn origin(&self, name: &OriginName) -> StoreResult<Option<Origin>>;
    /// Deletes an origin if it has nothing left but its owner and default channels; otherwise
    /// returns what is left.
    async fn delete_origin(&self, name: &OriginName) -> StoreResult<Result<(), OriginContents>>;
    /// An account's role in an origin.
    async fn role(&self, origin: &OriginName, account_id: i64) -> StoreResult<Option<Role>>;
    /// Members of an origin.
    async fn members(&self, origin: &OriginName) -> StoreResult<Vec<Member>>;
    /// Sets a member's role (not to or from owner).
    async fn set_role(&self, origin: &OriginName, account: &str, role: Role) -> StoreResult<()>;
    /// Removes a member (not the owner).
    async fn remove_member(&self, origin: &OriginName, account: &str) -> StoreResult<()>;
    /// Makes member `account` the owner of `origin`; the previous owner stays a `maintainer`.
    /// An account that is not a member is [`StoreError::NotFound`].
    async fn transfer_origin(&self, origin: &OriginName, account: &str) -> StoreResult<()>;
    /// Origins an account belongs to, with its role.
    async fn account_origins(&self, account_id: i64) -> StoreResult<Vec<(OriginName, Role)>>;

    /// Invites an account ([`StoreError::Conflict`] if already a member or invited).
    async fn create_invitation(
        &self,
        origin: &OriginName,
        account: &str,
        invited_by: &str,
    ) -> StoreResult<Invitation>;
    /// An invitation by id.
    async fn invitation(&self, id: i64) -> StoreResult<Option<Invitation>>;
    /// Pending invitations of an origin.
    async fn origin_invitations(&self, origin: &OriginName) -> StoreResult<Vec<Invitation>>;
    /// Pending invitations addressed to an account.
    async fn account_invitations(&self, account_id: i64) -> StoreResult<Vec<Invitation>>;
    /// Accepts: the invitee becomes `member` and the invitation is gone, in one transaction.
    async fn accept_invitation(&self, id: i64) -> StoreResult<()>;
    /// Deletes an invitation (ignored or rescinded).
    async fn delete_invitation(&self, id: i64) -> StoreResult<()>;

    /// Stores a public origin key ([`StoreError::Conflict`] if the revision exists).
    async fn add_public_key(
        &self,
        origin: &OriginName,
        revision: &str,
        body: &str,
    ) -> StoreResult<OriginKey>;
    /// An origin's public keys, newest first.
    async fn public_keys(&self, origin: &OriginName) -> StoreResult<Vec<OriginKey>>;
    /// One public key.
    async fn public_key(
        &self,
        origin: &OriginName,
        revision: &str,
    ) -> StoreResult<Option<OriginKey>>;
    /// Stores (or replaces) an encrypted secret origin key.
    async fn put_secret_key(&self, key: &SecretOriginKey) -> StoreResult<()>;
    /// The newest secret key of an origin.
    async fn latest_secret_key(&self, origin: &OriginName) -> StoreResult<Option<SecretOriginKey>>;

    /// Inserts a package and its `unstable` membership in one transaction
    /// ([`StoreError::Conflict`] if (ident, target) exists).
    async fn insert_package(&self, package: &Package) -> StoreResult<Package>;
    /// Inserts many packages (each with its `unstable` membership) in one transaction: all or
    /// none. For moving a depot between stores and for loading benchmarks.
    async fn import_packages(&self, packages: &[Package]) -> StoreResult<()>;
    /// A package by ident and target.
    async fn package(
        &self,
        ident: &FullyQualifiedIdent,
        target: PackageTarget,
    ) -> StoreResult<Option<Package>>;
    /// Packages matching `filter`, newest version first.
    async fn packages(&self, filter: &PackageFilter, page: Page) -> StoreResult<Paged<Package>>;
    /// [`Self::packages`] for a list that shows idents, targets, visibility and times: each
    /// package's manifest, config, dependency lists and exposed ports are left empty (not
    /// read), so a page of them is cheap. The pages' listings use it.
    async fn package_list(&self, filter: &PackageFilter, page: Page)
    -> StoreResult<Paged<Package>>;
    /// The newest package matching `filter` (version ordering, then release), from an index.
    async fn latest(&self, filter: &PackageFilter) -> StoreResult<Option<Package>>;
    /// The newest package matching `filter` and the channels it is in, in one call: what
    /// install asks on every resolution.
    async fn latest_with_channels(
        &self,
        filter: &PackageFilter,
    ) -> StoreResult<Option<(Package, Vec<ChannelMembership>)>> {
        match self.latest(filter).await? {
            Some(package) => {
                let channels = self.package_channels(package.id).await?;
                Ok(Some((package, channels)))
            }
            None => Ok(None),
        }
    }
    /// Packages whose origin, name or `origin/name` contains `query`; with `distinct`, one
    /// row per origin/name.
    async fn search(
        &self,
        query: &str,
        distinct: bool,
        private_origins: &[OriginName],
        page: Page,
    ) -> StoreResult<Paged<Package>>;
    /// `origin/name` of packages whose TDEPS contain `origin/name` of any version.
    async fn rdeps(
        &self,
        origin: &OriginName,
        name: &str,
        target: PackageTarget,
    ) -> StoreResult<Vec<String>>;
    /// Deletes a package, and records in the audit log that `account` did, unless it is in a
    /// channel other than `unstable` or another package depends on it
    /// ([`StoreError::Refused`], naming the channel or the dependent).
    async fn delete_package(&self, id: i64, account: &str) -> StoreResult<()>;
    /// Sets a package's visibility.
    async fn set_visibility(&self, id: i64, visibility: Visibility) -> StoreResult<()>;
    /// Every package (id, checksum, size), for fsck.
    async fn package_checksums(
        &self,
    ) -> StoreResult<Vec<(i64, FullyQualifiedIdent, PackageTarget, Blake2bHash, u64)>>;

    /// An origin's channels, by name.
    async fn channels(&self, origin: &OriginName) -> StoreResult<Vec<ChannelName>>;
    /// Creates a channel.
    async fn create_channel(&self, origin: &OriginName, channel: &ChannelName) -> StoreResult<()>;
    /// Deletes a channel (not `unstable` or `stable`) and its memberships.
    async fn delete_channel(&self, origin: &OriginName, channel: &ChannelName) -> StoreResult<()>;
    /// Names of every channel of every origin.
    async fn all_channel_names(&self) -> StoreResult<Vec<ChannelName>>;
    /// The channels a package is in.
    async fn package_channels(&self, package_id: i64) -> StoreResult<Vec<ChannelMembership>>;
    /// Adds a package to a channel (idempotent) or removes it, and records who did it.
    async fn change_channel(
        &self,
        package_id: i64,
        origin: &OriginName,
        channel: &ChannelName,
        action: ChannelAction,
        account: &str,
    ) -> StoreResult<()>;
    /// In one transaction, promotes every package of channel `source` into `target`
    /// ([`ChannelAction::Promote`]) or removes every package of `source` from `target`
    /// ([`ChannelAction::Demote`]), recording each change that `account` made in the audit log;
    /// how many packages changed. An unknown channel is [`StoreError::NotFound`].
    async fn change_channel_all(
        &self,
        origin: &OriginName,
        source: &ChannelName,
        target: &ChannelName,
        action: ChannelAction,
        account: &str,
    ) -> StoreResult<u64>;

    /// In one transaction, adds each package (by id) to channel `channel` of origin `origin`,
    /// creating a channel that does not exist, and records each addition that `account` made
    /// in the audit log as a promotion; how many packages were added (those already in their
    /// channel are left as they are). A bundle import applies its memberships with it.
    async fn apply_memberships(
        &self,
        memberships: &[(i64, OriginName, ChannelName)],
        account: &str,
    ) -> StoreResult<u64>;

    /// The newest uploads the caller may see (public, and the private ones of
    /// `private_origins`), newest first, at most `limit`; as [`Self::package_list`] lists them
    /// (manifest, config, dependencies and ports left empty).
    async fn recent_packages(
        &self,
        private_origins: &[OriginName],
        limit: u64,
    ) -> StoreResult<Vec<Package>>;
    /// How many origins there are.
    async fn origin_count(&self) -> StoreResult<u64>;
    /// Origins whose name contains `query`, by name.
    async fn origins_matching(&self, query: &str, page: Page) -> StoreResult<Paged<OriginName>>;
    /// Every origin/name pair (of `origin` only, if given) with a release the caller may see,
    /// by origin and name.
    async fn package_names(
        &self,
        origin: Option<&OriginName>,
        private_origins: &[OriginName],
    ) -> StoreResult<Vec<(OriginName, String)>>;
    /// The newest release the caller may see of each of `names` (origin, name), any target,
    /// in the order of `names`; a name without one is left out. As [`Self::package_list`]
    /// lists them (manifest, config, dependencies and ports left empty).
    async fn newest_releases(
        &self,
        names: &[(OriginName, String)],
        private_origins: &[OriginName],
    ) -> StoreResult<Vec<Package>>;
    /// Sets the visibility an origin gives new packages.
    async fn set_default_visibility(
        &self,
        origin: &OriginName,
        visibility: Visibility,
    ) -> StoreResult<()>;

    /// Adds `record` to the audit log, at the time now.
    async fn record_audit(&self, record: &AuditRecord) -> StoreResult<()>;
    /// `origin`'s audit rows matching `filter`, newest first.
    async fn audit_log(
        &self,
        origin: &OriginName,
        filter: &AuditFilter,
        page: Page,
    ) -> StoreResult<Paged<AuditEntry>>;

    /// The last bundle imported from transfer key `signer`, if any.
    async fn bundle_import(&self, signer: &str) -> StoreResult<Option<BundleImport>>;
    /// Records `import` as the last bundle of its signer, in one statement, unless one with a
    /// larger sequence is recorded already ([`StoreError::Conflict`]: another import got there
    /// first).
    async fn record_bundle_import(&self, import: &BundleImport) -> StoreResult<()>;

    /// Every row of every table, read in one transaction (a consistent snapshot).
    async fn dump(&self) -> StoreResult<Dump>;
    /// Inserts a dump's rows, ids kept, in one transaction: rows whose key is already present
    /// are left as they are (so restoring the same dump twice changes nothing), and id
    /// sequences move past the largest id restored.
    async fn restore(&self, dump: &Dump) -> StoreResult<()>;

    /// Takes the lock `name` unless another process sharing this store holds it (then `None`):
    /// what keeps two processes of a scale-out depot from running the same mirror at once. The
    /// lock is held until the [`StoreLock`] is dropped. The embedded store belongs to one
    /// process, so it always answers with the lock.
    async fn try_lock(&self, name: &str) -> StoreResult<Option<StoreLock>>;

    /// The channel manifest a mirror last read from `upstream` for `origin`'s `channel` and
    /// `target`, if it kept one.
    async fn mirrored_manifest(
        &self,
        upstream: &str,
        origin: &OriginName,
        channel: &ChannelName,
        target: PackageTarget,
    ) -> StoreResult<Option<MirroredManifest>>;

    /// Keeps a channel manifest a mirror read, in place of the one kept for the same upstream,
    /// origin, channel and target.
    async fn put_mirrored_manifest(&self, manifest: &MirroredManifest) -> StoreResult<()>;

    // The TUF repository (docs/security.md). The store keeps rows; the publisher builds and
    // signs. Every change of which public release is in which channel, and of an origin's
    // public keys, writes an outbox row ([`TufChange`]) in its own transaction once the
    // repository is initialized ([`Self::tuf_initialized`]).

    /// Up to `limit` packages with an id above `after` whose `sha256` or `signer` is not
    /// recorded yet (stored before the depot kept them), by id: each id and the checksum its
    /// artifact is stored under. A caller pages with the last id it got, so a package whose
    /// facts cannot be measured (its artifact missing) does not stop the others.
    async fn packages_missing_tuf_facts(
        &self,
        after: i64,
        limit: usize,
    ) -> StoreResult<Vec<(i64, Blake2bHash)>>;
    /// Records a package's `sha256` (64 lowercase hex digits) and `signer` (`origin-revision`),
    /// as the backfill measured them; an unknown id is [`StoreError::NotFound`]. Writes an
    /// outbox row for a public package, since its index entries gain both.
    async fn set_package_tuf_facts(&self, id: i64, sha256: &str, signer: &str) -> StoreResult<()>;
    /// Whether the TUF repository is initialized: some metadata is stored.
    async fn tuf_initialized(&self) -> StoreResult<bool>;
    /// Stores a repository key, replacing the one of the same name (a rotated online key).
    async fn tuf_put_key(
        &self,
        name: &str,
        public: &str,
        secret_encrypted: &[u8],
    ) -> StoreResult<()>;
    /// The repository key `name` (the online key is `online`).
    async fn tuf_key(&self, name: &str) -> StoreResult<Option<TufKey>>;
    /// The oldest `limit` outbox rows, by id. A row this build does not understand (an
    /// unknown scope) fails the call.
    async fn tuf_changes(&self, limit: usize) -> StoreResult<Vec<TufChange>>;
    /// Every public release of `origin`/`name` with each channel it is in, one row per
    /// (release, channel), ordered by channel, then target, then newest first in the order
    /// `latest` uses: each (channel, target) run is one channel index's `releases`, in order.
    async fn tuf_index_rows(
        &self,
        origin: &OriginName,
        name: &str,
    ) -> StoreResult<Vec<TufIndexRow>>;
    /// The names of `origin` that have any release (public or not), by name.
    async fn tuf_origin_package_names(&self, origin: &OriginName) -> StoreResult<Vec<String>>;
    /// What bin `bin` lists now, by path.
    async fn tuf_current_in_bin(&self, bin: &str) -> StoreResult<Vec<TufCurrent>>;
    /// The entry listed now for target `path`.
    async fn tuf_current(&self, path: &str) -> StoreResult<Option<TufCurrent>>;
    /// The paths listed now that start with `prefix` (such as `channels/core/` or
    /// `keys/core/`), by path.
    async fn tuf_current_paths_under(&self, prefix: &str) -> StoreResult<Vec<String>>;
    /// The channel index paths listed now for package `origin`/`name`, in every channel (one
    /// deleted since included), by path: what a publish of that name compares with, without
    /// reading the paths of the origin's other names.
    async fn tuf_current_package_paths(
        &self,
        origin: &OriginName,
        name: &str,
    ) -> StoreResult<Vec<String>>;
    /// The newest version of `role`.
    async fn tuf_latest(&self, role: &str) -> StoreResult<Option<TufMetadataRow>>;
    /// The newest version of every role, without bodies (left empty), by role: what a
    /// publisher reads to build the snapshot and find what expires soon.
    async fn tuf_latest_versions(&self) -> StoreResult<Vec<TufMetadataRow>>;
    /// Version `version` of `role`.
    async fn tuf_metadata(&self, role: &str, version: u64) -> StoreResult<Option<TufMetadataRow>>;
    /// The body of target `path` whose SHA-256 or BLAKE2b-256 is `hash_hex` (lowercase hex),
    /// current or kept from an earlier publish.
    async fn tuf_target_body(&self, path: &str, hash_hex: &str) -> StoreResult<Option<Vec<u8>>>;
    /// Applies one publish in one transaction: the consumed outbox rows deleted, the upserted
    /// targets listed (their bodies kept), the removed ones unlisted, the new metadata
    /// versions stored. A (role, version) stored already is [`StoreError::Conflict`] and
    /// nothing changes: another publisher got there first.
    async fn tuf_publish(&self, publish: TufPublish) -> StoreResult<()>;
    /// Deletes what was stored before `older_than` and is no longer needed: metadata versions
    /// that are not the newest of their role (never a `root` version: clients walk every
    /// root), and target bodies no bin lists now.
    async fn tuf_collect(&self, older_than: OffsetDateTime) -> StoreResult<TufCollected>;
    /// The packages stored and the bytes of their artifacts, in one aggregate query (the
    /// metrics' gauges, docs/operations.md).
    async fn stored_totals(&self) -> StoreResult<StoredTotals>;
    /// The use of the store's connection pool now, for the metrics; `None` (the default) when
    /// the store has none worth reporting (the embedded store).
    fn pool_use(&self) -> Option<PoolUse> {
        None
    }
}

/// What [`MetadataStore::stored_totals`] counts.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct StoredTotals {
    /// Package rows stored.
    pub packages: u64,
    /// The sum of their artifacts' sizes in bytes.
    pub artifact_bytes: u64,
}

/// A connection pool's use at one moment ([`MetadataStore::pool_use`]).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct PoolUse {
    /// The most connections the pool opens.
    pub max_size: u64,
    /// Connections open now.
    pub size: u64,
    /// Open connections that are idle.
    pub available: u64,
    /// Callers waiting for a connection.
    pub waiting: u64,
}

/// A lock taken with [`MetadataStore::try_lock`]; released when dropped.
pub struct StoreLock {
    _held: Option<Box<dyn Send + Sync>>,
}

impl StoreLock {
    /// A lock nobody else can contend for (the embedded store's).
    pub fn uncontended() -> Self {
        Self { _held: None }
    }

    /// A lock held as long as `held` lives (dropping it releases the lock).
    pub(crate) fn holding(held: impl Send + Sync + 'static) -> Self {
        Self {
            _held: Some(Box::new(held)),
        }
    }
}

impl std::fmt::Debug for StoreLock {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StoreLock").finish_non_exhaustive()
    }
}

/// A channel manifest a mirror read from its upstream, kept so that the next run asks with
/// `If-None-Match` and, when the channel is unchanged, reads the packages from here.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MirroredManifest {
    /// The upstream's URL, as the mirror names it.
    pub upstream: String,
    /// The origin.
    pub origin: OriginName,
    /// The channel.
    pub channel: ChannelName,
    /// The target.
    pub target: PackageTarget,
    /// The upstream's `ETag` of the manifest.
    pub etag: String,
    /// What the mirror keeps of it (JSON of its own making: the members and their
    /// dependencies with their checksums).
    pub packages: String,
}

/// A readable artifact: its total size and a reader positioned at the requested offset.
pub struct ArtifactReader {
    /// Size of the whole artifact.
    pub size: u64,
    /// The bytes from the requested offset on.
    pub reader: Pin<Box<dyn AsyncRead + Send>>,
}

/// The `.hart` files, addressed by checksum.
#[async_trait]
pub trait ArtifactStore: Send + Sync + 'static {
    /// Answers when the store is reachable.
    async fn ping(&self) -> StoreResult<()>;
    /// Stores the file at `local` (already verified) under `checksum`, atomically: readers see
    /// the whole artifact or nothing. Storing an existing checksum again is a no-op.
    async fn put(&self, checksum: &Blake2bHash, local: &Path) -> StoreResult<()>;
    /// Opens an artifact at byte `offset`; `None` if absent.
    async fn open(
        &self,
        checksum: &Blake2bHash,
        offset: u64,
    ) -> StoreResult<Option<ArtifactReader>>;
    /// Opens `length` bytes of an artifact from byte `offset` (fewer when it ends before);
    /// `None` if absent. A store that can fetch just those bytes (S3's ranged GET) asks only
    /// for them; by default the reader of [`ArtifactStore::open`] is cut at `length`.
    async fn open_range(
        &self,
        checksum: &Blake2bHash,
        offset: u64,
        length: u64,
    ) -> StoreResult<Option<ArtifactReader>> {
        use tokio::io::AsyncReadExt;
        Ok(self
            .open(checksum, offset)
            .await?
            .map(|opened| ArtifactReader {
                size: opened.size,
                reader: Box::pin(opened.reader.take(length)),
            }))
    }
    /// Deletes an artifact (absent is fine).
    async fn delete(&self, checksum: &Blake2bHash) -> StoreResult<()>;
    /// Every stored artifact's checksum and size.
    async fn list(&self) -> StoreResult<Vec<(Blake2bHash, u64)>>;
}
