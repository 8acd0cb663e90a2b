//! The metadata store's calls timed into `hab_depot_store_call_duration_seconds`
//! (`store="metadata"`, `call` the method's name; docs/operations.md, "Metrics").
//!
//! [`TimedMetadata`] wraps the store every [`crate::AppState`] uses. Its methods are written
//! by [`timed_metadata!`] from one line per method: a method added to
//! [`MetadataStore`] needs its line here.

use std::sync::Arc;

use habitat_core::{Blake2bHash, ChannelName, FullyQualifiedIdent, OriginName, PackageTarget};
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::histogram::Histogram;
use time::OffsetDateTime;

use super::{Metrics, StoreCallLabels, timed};
use crate::store::*;

/// A metadata store whose every call is timed, whatever its outcome.
pub struct TimedMetadata {
    inner: Arc<dyn MetadataStore>,
    calls: Family<StoreCallLabels, Histogram, fn() -> Histogram>,
}

impl TimedMetadata {
    /// Wraps `inner`, timing into `metrics`.
    pub fn new(inner: Arc<dyn MetadataStore>, metrics: &Metrics) -> Self {
        Self {
            inner,
            calls: metrics.store_calls.clone(),
        }
    }

    /// The histogram of the method `call`.
    fn histogram(&self, call: &'static str) -> Histogram {
        self.calls
            .get_or_create(&StoreCallLabels {
                store: "metadata",
                call,
            })
            .clone()
    }
}

/// Implements [`MetadataStore`] for [`TimedMetadata`] from the methods' signatures (without
/// `async` and `&self`): each call goes to the wrapped store, timed under its name.
macro_rules! timed_metadata {
    ($(fn $name:ident($($arg:ident: $ty:ty),* $(,)?) -> $ret:ty;)*) => {
        #[async_trait::async_trait]
        impl MetadataStore for TimedMetadata {
            fn pool_use(&self) -> Option<PoolUse> {
                self.inner.pool_use()
            }

            $(
                async fn $name(&self, $($arg: $ty),*) -> $ret {
                    timed(&self.histogram(stringify!($name)), self.inner.$name($($arg),*)).await
                }
            )*
        }
    };
}

timed_metadata! {
    fn ping() -> StoreResult<()>;
    fn create_account(name: &str, email: Option<&str>) -> StoreResult<Account>;
    fn account_by_name(name: &str) -> StoreResult<Option<Account>>;
    fn accounts() -> StoreResult<Vec<Account>>;
    fn create_token(account_id: i64, name: &str, hash: &Blake2bHash, expires_at: Option<OffsetDateTime>) -> StoreResult<TokenRecord>;
    fn authenticate(hash: &Blake2bHash) -> StoreResult<Option<(TokenRecord, Account)>>;
    fn tokens(account_id: i64) -> StoreResult<Vec<TokenRecord>>;
    fn delete_token(account_id: i64, token_id: i64) -> StoreResult<bool>;
    fn identity(provider: &str, subject: &str) -> StoreResult<Option<(Identity, Account)>>;
    fn identities(account_id: i64) -> StoreResult<Vec<Identity>>;
    fn sign_up(name: &str, identity: &NewIdentity) -> StoreResult<Account>;
    fn link_identity(account_id: i64, identity: &NewIdentity) -> StoreResult<Identity>;
    fn record_sign_in(identity: &NewIdentity) -> StoreResult<()>;
    fn create_session(account_id: i64, hash: &Blake2bHash, expires_at: OffsetDateTime) -> StoreResult<Session>;
    fn session(hash: &Blake2bHash) -> StoreResult<Option<(Session, Account)>>;
    fn touch_session(id: i64) -> StoreResult<()>;
    fn delete_session(hash: &Blake2bHash) -> StoreResult<()>;
    fn put_login_flow(flow: &LoginFlow, stale_before: OffsetDateTime) -> StoreResult<()>;
    fn take_login_flow(state_hash: &Blake2bHash) -> StoreResult<Option<LoginFlow>>;
    fn create_origin(name: &OriginName, owner_id: i64, visibility: Visibility) -> StoreResult<Origin>;
    fn origin(name: &OriginName) -> StoreResult<Option<Origin>>;
    fn delete_origin(name: &OriginName) -> StoreResult<Result<(), OriginContents>>;
    fn role(origin: &OriginName, account_id: i64) -> StoreResult<Option<Role>>;
    fn members(origin: &OriginName) -> StoreResult<Vec<Member>>;
    fn set_role(origin: &OriginName, account: &str, role: Role) -> StoreResult<()>;
    fn remove_member(origin: &OriginName, account: &str) -> StoreResult<()>;
    fn transfer_origin(origin: &OriginName, account: &str) -> StoreResult<()>;
    fn account_origins(account_id: i64) -> StoreResult<Vec<(OriginName, Role)>>;
    fn create_invitation(origin: &OriginName, account: &str, invited_by: &str) -> StoreResult<Invitation>;
    fn invitation(id: i64) -> StoreResult<Option<Invitation>>;
    fn origin_invitations(origin: &OriginName) -> StoreResult<Vec<Invitation>>;
    fn account_invitations(account_id: i64) -> StoreResult<Vec<Invitation>>;
    fn accept_invitation(id: i64) -> StoreResult<()>;
    fn delete_invitation(id: i64) -> StoreResult<()>;
    fn add_public_key(origin: &OriginName, revision: &str, body: &str) -> StoreResult<OriginKey>;
    fn public_keys(origin: &OriginName) -> StoreResult<Vec<OriginKey>>;
    fn public_key(origin: &OriginName, revision: &str) -> StoreResult<Option<OriginKey>>;
    fn put_secret_key(key: &SecretOriginKey) -> StoreResult<()>;
    fn latest_secret_key(origin: &OriginName) -> StoreResult<Option<SecretOriginKey>>;
    fn insert_package(package: &Package) -> StoreResult<Package>;
    fn import_packages(packages: &[Package]) -> StoreResult<()>;
    fn package(ident: &FullyQualifiedIdent, target: PackageTarget) -> StoreResult<Option<Package>>;
    fn packages(filter: &PackageFilter, page: Page) -> StoreResult<Paged<Package>>;
    fn package_list(filter: &PackageFilter, page: Page) -> StoreResult<Paged<Package>>;
    fn latest(filter: &PackageFilter) -> StoreResult<Option<Package>>;
    fn latest_with_channels(filter: &PackageFilter) -> StoreResult<Option<(Package, Vec<ChannelMembership>)>>;
    fn search(query: &str, distinct: bool, private_origins: &[OriginName], page: Page) -> StoreResult<Paged<Package>>;
    fn rdeps(origin: &OriginName, name: &str, target: PackageTarget) -> StoreResult<Vec<String>>;
    fn delete_package(id: i64, account: &str) -> StoreResult<()>;
    fn set_visibility(id: i64, visibility: Visibility) -> StoreResult<()>;
    fn package_checksums() -> StoreResult<Vec<(i64, FullyQualifiedIdent, PackageTarget, Blake2bHash, u64)>>;
    fn channels(origin: &OriginName) -> StoreResult<Vec<ChannelName>>;
    fn create_channel(origin: &OriginName, channel: &ChannelName) -> StoreResult<()>;
    fn delete_channel(origin: &OriginName, channel: &ChannelName) -> StoreResult<()>;
    fn all_channel_names() -> StoreResult<Vec<ChannelName>>;
    fn package_channels(package_id: i64) -> StoreResult<Vec<ChannelMembership>>;
    fn change_channel(package_id: i64, origin: &OriginName, channel: &ChannelName, action: ChannelAction, account: &str) -> StoreResult<()>;
    fn change_channel_all(origin: &OriginName, source: &ChannelName, target: &ChannelName, action: ChannelAction, account: &str) -> StoreResult<u64>;
    fn apply_memberships(memberships: &[(i64, OriginName, ChannelName)], account: &str) -> StoreResult<u64>;
    fn recent_packages(private_origins: &[OriginName], limit: u64) -> StoreResult<Vec<Package>>;
    fn origin_count() -> StoreResult<u64>;
    fn origins_matching(query: &str, page: Page) -> StoreResult<Paged<OriginName>>;
    fn package_names(origin: Option<&OriginName>, private_origins: &[OriginName]) -> StoreResult<Vec<(OriginName, String)>>;
    fn newest_releases(names: &[(OriginName, String)], private_origins: &[OriginName]) -> StoreResult<Vec<Package>>;
    fn set_default_visibility(origin: &OriginName, visibility: Visibility) -> StoreResult<()>;
    fn record_audit(record: &AuditRecord) -> StoreResult<()>;
    fn audit_log(origin: &OriginName, filter: &AuditFilter, page: Page) -> StoreResult<Paged<AuditEntry>>;
    fn bundle_import(signer: &str) -> StoreResult<Option<BundleImport>>;
    fn record_bundle_import(import: &BundleImport) -> StoreResult<()>;
    fn dump() -> StoreResult<Dump>;
    fn restore(dump: &Dump) -> StoreResult<()>;
    fn try_lock(name: &str) -> StoreResult<Option<StoreLock>>;
    fn mirrored_manifest(upstream: &str, origin: &OriginName, channel: &ChannelName, target: PackageTarget) -> StoreResult<Option<MirroredManifest>>;
    fn put_mirrored_manifest(manifest: &MirroredManifest) -> StoreResult<()>;
    fn packages_missing_tuf_facts(after: i64, limit: usize) -> StoreResult<Vec<(i64, Blake2bHash)>>;
    fn set_package_tuf_facts(id: i64, sha256: &str, signer: &str) -> StoreResult<()>;
    fn tuf_initialized() -> StoreResult<bool>;
    fn tuf_put_key(name: &str, public: &str, secret_encrypted: &[u8]) -> StoreResult<()>;
    fn tuf_key(name: &str) -> StoreResult<Option<TufKey>>;
    fn tuf_changes(limit: usize) -> StoreResult<Vec<TufChange>>;
    fn tuf_index_rows(origin: &OriginName, name: &str) -> StoreResult<Vec<TufIndexRow>>;
    fn tuf_origin_package_names(origin: &OriginName) -> StoreResult<Vec<String>>;
    fn tuf_current_in_bin(bin: &str) -> StoreResult<Vec<TufCurrent>>;
    fn tuf_current(path: &str) -> StoreResult<Option<TufCurrent>>;
    fn tuf_current_paths_under(prefix: &str) -> StoreResult<Vec<String>>;
    fn tuf_current_package_paths(origin: &OriginName, name: &str) -> StoreResult<Vec<String>>;
    fn tuf_latest(role: &str) -> StoreResult<Option<TufMetadataRow>>;
    fn tuf_latest_versions() -> StoreResult<Vec<TufMetadataRow>>;
    fn tuf_metadata(role: &str, version: u64) -> StoreResult<Option<TufMetadataRow>>;
    fn tuf_target_body(path: &str, hash_hex: &str) -> StoreResult<Option<Vec<u8>>>;
    fn tuf_publish(publish: TufPublish) -> StoreResult<()>;
    fn tuf_collect(older_than: OffsetDateTime) -> StoreResult<TufCollected>;
    fn stored_totals() -> StoreResult<StoredTotals>;
}
