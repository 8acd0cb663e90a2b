//! The [`MetadataStore`](super::MetadataStore) methods both SQL stores answer the same way:
//! by calling the function of the same name in their `accounts`, `origins` or `packages`
//! module. Each store writes only what it does its own way (`ping`, `dump`, `restore`).

/// Implements `MetadataStore` for `$store`: the methods given in braces as written, every
/// other one by a call to the function of the same name in the store's area modules
/// (`accounts`, `sessions`, `origins`, `packages`, `pages`, `audit`, `tuf`), with the store first; a backend failure's context
/// then names the method.
macro_rules! metadata_store_by_area {
    ($store:ty, { $($own:tt)* }) => {
        #[async_trait::async_trait]
        impl $crate::store::MetadataStore for $store {
            $($own)*

            async fn create_account(
                &self,
                name: &str,
                email: Option<&str>,
            ) -> StoreResult<Account> {
                accounts::create_account(self, name, email)
                    .await
                    .map_err(|e| e.during("create_account"))
            }

            async fn account_by_name(&self, name: &str) -> StoreResult<Option<Account>> {
                accounts::account_by_name(self, name)
                    .await
                    .map_err(|e| e.during("account_by_name"))
            }

            async fn accounts(&self) -> StoreResult<Vec<Account>> {
                accounts::accounts(self)
                    .await
                    .map_err(|e| e.during("accounts"))
            }

            async fn create_token(
                &self,
                account_id: i64,
                name: &str,
                hash: &Blake2bHash,
                expires_at: Option<OffsetDateTime>,
            ) -> StoreResult<TokenRecord> {
                accounts::create_token(self, account_id, name, hash, expires_at)
                    .await
                    .map_err(|e| e.during("create_token"))
            }

            async fn authenticate(
                &self,
                hash: &Blake2bHash,
            ) -> StoreResult<Option<(TokenRecord, Account)>> {
                accounts::authenticate(self, hash)
                    .await
                    .map_err(|e| e.during("authenticate"))
            }

            async fn tokens(&self, account_id: i64) -> StoreResult<Vec<TokenRecord>> {
                accounts::tokens(self, account_id)
                    .await
                    .map_err(|e| e.during("tokens"))
            }

            async fn delete_token(&self, account_id: i64, token_id: i64) -> StoreResult<bool> {
                accounts::delete_token(self, account_id, token_id)
                    .await
                    .map_err(|e| e.during("delete_token"))
            }

            async fn identity(
                &self,
                provider: &str,
                subject: &str,
            ) -> StoreResult<Option<(Identity, Account)>> {
                sessions::identity(self, provider, subject)
                    .await
                    .map_err(|e| e.during("identity"))
            }

            async fn identities(
                &self,
                account_id: i64,
            ) -> StoreResult<Vec<Identity>> {
                sessions::identities(self, account_id)
                    .await
                    .map_err(|e| e.during("identities"))
            }

            async fn sign_up(
                &self,
                name: &str,
                identity: &NewIdentity,
            ) -> StoreResult<Account> {
                sessions::sign_up(self, name, identity)
                    .await
                    .map_err(|e| e.during("sign_up"))
            }

            async fn link_identity(
                &self,
                account_id: i64,
                identity: &NewIdentity,
            ) -> StoreResult<Identity> {
                sessions::link_identity(self, account_id, identity)
                    .await
                    .map_err(|e| e.during("link_identity"))
            }

            async fn record_sign_in(
                &self,
                identity: &NewIdentity,
            ) -> StoreResult<()> {
                sessions::record_sign_in(self, identity)
                    .await
                    .map_err(|e| e.during("record_sign_in"))
            }

            async fn create_session(
                &self,
                account_id: i64,
                hash: &Blake2bHash,
                expires_at: OffsetDateTime,
            ) -> StoreResult<Session> {
                sessions::create_session(self, account_id, hash, expires_at)
                    .await
                    .map_err(|e| e.during("create_session"))
            }

            async fn session(
                &self,
                hash: &Blake2bHash,
            ) -> StoreResult<Option<(Session, Account)>> {
                sessions::session(self, hash)
                    .await
                    .map_err(|e| e.during("session"))
            }

            async fn touch_session(
                &self,
                id: i64,
            ) -> StoreResult<()> {
                sessions::touch_session(self, id)
                    .await
                    .map_err(|e| e.during("touch_session"))
            }

            async fn delete_session(
                &self,
                hash: &Blake2bHash,
            ) -> StoreResult<()> {
                sessions::delete_session(self, hash)
                    .await
                    .map_err(|e| e.during("delete_session"))
            }

            async fn put_login_flow(
                &self,
                flow: &LoginFlow,
                stale_before: OffsetDateTime,
            ) -> StoreResult<()> {
                sessions::put_login_flow(self, flow, stale_before)
                    .await
                    .map_err(|e| e.during("put_login_flow"))
            }

            async fn take_login_flow(
                &self,
                state_hash: &Blake2bHash,
            ) -> StoreResult<Option<LoginFlow>> {
                sessions::take_login_flow(self, state_hash)
                    .await
                    .map_err(|e| e.during("take_login_flow"))
            }

            async fn create_origin(
                &self,
                name: &OriginName,
                owner_id: i64,
                visibility: Visibility,
            ) -> StoreResult<Origin> {
                origins::create_origin(self, name, owner_id, visibility)
                    .await
                    .map_err(|e| e.during("create_origin"))
            }

            async fn origin(&self, name: &OriginName) -> StoreResult<Option<Origin>> {
                origins::origin(self, name)
                    .await
                    .map_err(|e| e.during("origin"))
            }

            async fn delete_origin(
                &self,
                name: &OriginName,
            ) -> StoreResult<Result<(), OriginContents>> {
                origins::delete_origin(self, name)
                    .await
                    .map_err(|e| e.during("delete_origin"))
            }

            async fn role(
                &self,
                origin: &OriginName,
                account_id: i64,
            ) -> StoreResult<Option<Role>> {
                origins::role(self, origin, account_id)
                    .await
                    .map_err(|e| e.during("role"))
            }

            async fn members(&self, origin: &OriginName) -> StoreResult<Vec<Member>> {
                origins::members(self, origin)
                    .await
                    .map_err(|e| e.during("members"))
            }

            async fn set_role(
                &self,
                origin: &OriginName,
                account: &str,
                role: Role,
            ) -> StoreResult<()> {
                origins::set_role(self, origin, account, role)
                    .await
                    .map_err(|e| e.during("set_role"))
            }

            async fn remove_member(&self, origin: &OriginName, account: &str) -> StoreResult<()> {
                origins::remove_member(self, origin, account)
                    .await
                    .map_err(|e| e.during("remove_member"))
            }

            async fn transfer_origin(&self, origin: &OriginName, account: &str) -> StoreResult<()> {
                origins::transfer_origin(self, origin, account)
                    .await
                    .map_err(|e| e.during("transfer_origin"))
            }

            async fn account_origins(
                &self,
                account_id: i64,
            ) -> StoreResult<Vec<(OriginName, Role)>> {
                origins::account_origins(self, account_id)
                    .await
                    .map_err(|e| e.during("account_origins"))
            }

            async fn create_invitation(
                &self,
                origin: &OriginName,
                account: &str,
                invited_by: &str,
            ) -> StoreResult<Invitation> {
                origins::create_invitation(self, origin, account, invited_by)
                    .await
                    .map_err(|e| e.during("create_invitation"))
            }

            async fn invitation(&self, id: i64) -> StoreResult<Option<Invitation>> {
                origins::invitation(self, id)
                    .await
                    .map_err(|e| e.during("invitation"))
            }

            async fn origin_invitations(
                &self,
                origin: &OriginName,
            ) -> StoreResult<Vec<Invitation>> {
                origins::origin_invitations(self, origin)
                    .await
                    .map_err(|e| e.during("origin_invitations"))
            }

            async fn account_invitations(&self, account_id: i64) -> StoreResult<Vec<Invitation>> {
                origins::account_invitations(self, account_id)
                    .await
                    .map_err(|e| e.during("account_invitations"))
            }

            async fn accept_invitation(&self, id: i64) -> StoreResult<()> {
                origins::accept_invitation(self, id)
                    .await
                    .map_err(|e| e.during("accept_invitation"))
            }

            async fn delete_invitation(&self, id: i64) -> StoreResult<()> {
                origins::delete_invitation(self, id)
                    .await
                    .map_err(|e| e.during("delete_invitation"))
            }

            async fn add_public_key(
                &self,
                origin: &OriginName,
                revision: &str,
                body: &str,
            ) -> StoreResult<OriginKey> {
                origins::add_public_key(self, origin, revision, body)
                    .await
                    .map_err(|e| e.during("add_public_key"))
            }

            async fn public_keys(&self, origin: &OriginName) -> StoreResult<Vec<OriginKey>> {
                origins::public_keys(self, origin)
                    .await
                    .map_err(|e| e.during("public_keys"))
            }

            async fn public_key(
                &self,
                origin: &OriginName,
                revision: &str,
            ) -> StoreResult<Option<OriginKey>> {
                origins::public_key(self, origin, revision)
                    .await
                    .map_err(|e| e.during("public_key"))
            }

            async fn put_secret_key(&self, key: &SecretOriginKey) -> StoreResult<()> {
                origins::put_secret_key(self, key)
                    .await
                    .map_err(|e| e.during("put_secret_key"))
            }

            async fn latest_secret_key(
                &self,
                origin: &OriginName,
            ) -> StoreResult<Option<SecretOriginKey>> {
                origins::latest_secret_key(self, origin)
                    .await
                    .map_err(|e| e.during("latest_secret_key"))
            }

            async fn insert_package(&self, package: &Package) -> StoreResult<Package> {
                packages::insert_package(self, package)
                    .await
                    .map_err(|e| e.during("insert_package"))
            }

            async fn import_packages(&self, packages: &[Package]) -> StoreResult<()> {
                packages::import_packages(self, packages)
                    .await
                    .map_err(|e| e.during("import_packages"))
            }

            async fn package(
                &self,
                ident: &FullyQualifiedIdent,
                target: PackageTarget,
            ) -> StoreResult<Option<Package>> {
                packages::package(self, ident, target)
                    .await
                    .map_err(|e| e.during("package"))
            }

            async fn packages(
                &self,
                filter: &PackageFilter,
                page: Page,
            ) -> StoreResult<Paged<Package>> {
                packages::packages(self, filter, page)
                    .await
                    .map_err(|e| e.during("packages"))
            }

            async fn package_list(
                &self,
                filter: &PackageFilter,
                page: Page,
            ) -> StoreResult<Paged<Package>> {
                packages::package_list(self, filter, page)
                    .await
                    .map_err(|e| e.during("package_list"))
            }

            async fn latest(&self, filter: &PackageFilter) -> StoreResult<Option<Package>> {
                packages::latest(self, filter)
                    .await
                    .map_err(|e| e.during("latest"))
            }

            async fn latest_with_channels(
                &self,
                filter: &PackageFilter,
            ) -> StoreResult<Option<(Package, Vec<ChannelMembership>)>> {
                packages::latest_with_channels(self, filter)
                    .await
                    .map_err(|e| e.during("latest_with_channels"))
            }

            async fn search(
                &self,
                query: &str,
                distinct: bool,
                private_origins: &[OriginName],
                page: Page,
            ) -> StoreResult<Paged<Package>> {
                packages::search(self, query, distinct, private_origins, page)
                    .await
                    .map_err(|e| e.during("search"))
            }

            async fn rdeps(
                &self,
                origin: &OriginName,
                name: &str,
                target: PackageTarget,
            ) -> StoreResult<Vec<String>> {
                packages::rdeps(self, origin, name, target)
                    .await
                    .map_err(|e| e.during("rdeps"))
            }

            async fn delete_package(&self, id: i64, account: &str) -> StoreResult<()> {
                packages::delete_package(self, id, account)
                    .await
                    .map_err(|e| e.during("delete_package"))
            }

            async fn set_visibility(&self, id: i64, visibility: Visibility) -> StoreResult<()> {
                packages::set_visibility(self, id, visibility)
                    .await
                    .map_err(|e| e.during("set_visibility"))
            }

            async fn package_checksums(
                &self,
            ) -> StoreResult<Vec<(i64, FullyQualifiedIdent, PackageTarget, Blake2bHash, u64)>> {
                packages::package_checksums(self)
                    .await
                    .map_err(|e| e.during("package_checksums"))
            }

            async fn channels(&self, origin: &OriginName) -> StoreResult<Vec<ChannelName>> {
                packages::channels(self, origin)
                    .await
                    .map_err(|e| e.during("channels"))
            }

            async fn create_channel(
                &self,
                origin: &OriginName,
                channel: &ChannelName,
            ) -> StoreResult<()> {
                packages::create_channel(self, origin, channel)
                    .await
                    .map_err(|e| e.during("create_channel"))
            }

            async fn delete_channel(
                &self,
                origin: &OriginName,
                channel: &ChannelName,
            ) -> StoreResult<()> {
                packages::delete_channel(self, origin, channel)
                    .await
                    .map_err(|e| e.during("delete_channel"))
            }

            async fn all_channel_names(&self) -> StoreResult<Vec<ChannelName>> {
                packages::all_channel_names(self)
                    .await
                    .map_err(|e| e.during("all_channel_names"))
            }

            async fn package_channels(
                &self,
                package_id: i64,
            ) -> StoreResult<Vec<ChannelMembership>> {
                packages::package_channels(self, package_id)
                    .await
                    .map_err(|e| e.during("package_channels"))
            }

            async fn change_channel(
                &self,
                package_id: i64,
                origin: &OriginName,
                channel: &ChannelName,
                action: ChannelAction,
                account: &str,
            ) -> StoreResult<()> {
                packages::change_channel(self, package_id, origin, channel, action, account)
                    .await
                    .map_err(|e| e.during("change_channel"))
            }

            async fn change_channel_all(
                &self,
                origin: &OriginName,
                source: &ChannelName,
                target: &ChannelName,
                action: ChannelAction,
                account: &str,
            ) -> StoreResult<u64> {
                packages::change_channel_all(self, origin, source, target, action, account)
                    .await
                    .map_err(|e| e.during("change_channel_all"))
            }

            async fn apply_memberships(
                &self,
                memberships: &[(i64, OriginName, ChannelName)],
                account: &str,
            ) -> StoreResult<u64> {
                packages::apply_memberships(self, memberships, account)
                    .await
                    .map_err(|e| e.during("apply_memberships"))
            }

            async fn recent_packages(
                &self,
                private_origins: &[OriginName],
                limit: u64,
            ) -> StoreResult<Vec<Package>> {
                pages::recent_packages(self, private_origins, limit)
                    .await
                    .map_err(|e| e.during("recent_packages"))
            }

            async fn origin_count(&self) -> StoreResult<u64> {
                pages::origin_count(self)
                    .await
                    .map_err(|e| e.during("origin_count"))
            }

            async fn origins_matching(
                &self,
                query: &str,
                page: Page,
            ) -> StoreResult<Paged<OriginName>> {
                pages::origins_matching(self, query, page)
                    .await
                    .map_err(|e| e.during("origins_matching"))
            }

            async fn package_names(
                &self,
                origin: Option<&OriginName>,
                private_origins: &[OriginName],
            ) -> StoreResult<Vec<(OriginName, String)>> {
                pages::package_names(self, origin, private_origins)
                    .await
                    .map_err(|e| e.during("package_names"))
            }

            async fn newest_releases(
                &self,
                names: &[(OriginName, String)],
                private_origins: &[OriginName],
            ) -> StoreResult<Vec<Package>> {
                pages::newest_releases(self, names, private_origins)
                    .await
                    .map_err(|e| e.during("newest_releases"))
            }

            async fn record_audit(&self, record: &AuditRecord) -> StoreResult<()> {
                audit::record_audit(self, record)
                    .await
                    .map_err(|e| e.during("record_audit"))
            }

            async fn audit_log(
                &self,
                origin: &OriginName,
                filter: &AuditFilter,
                page: Page,
            ) -> StoreResult<Paged<AuditEntry>> {
                audit::audit_log(self, origin, filter, page)
                    .await
                    .map_err(|e| e.during("audit_log"))
            }

            async fn set_default_visibility(
                &self,
                origin: &OriginName,
                visibility: Visibility,
            ) -> StoreResult<()> {
                pages::set_default_visibility(self, origin, visibility)
                    .await
                    .map_err(|e| e.during("set_default_visibility"))
            }

            async fn packages_missing_tuf_facts(&self, after: i64, limit: usize) -> StoreResult<Vec<(i64, Blake2bHash)>> {
                tuf::packages_missing_tuf_facts(self, after, limit)
                    .await
                    .map_err(|e| e.during("packages_missing_tuf_facts"))
            }

            async fn set_package_tuf_facts(&self, id: i64, sha256: &str, signer: &str) -> StoreResult<()> {
                tuf::set_package_tuf_facts(self, id, sha256, signer)
                    .await
                    .map_err(|e| e.during("set_package_tuf_facts"))
            }

            async fn tuf_initialized(&self) -> StoreResult<bool> {
                tuf::tuf_initialized(self)
                    .await
                    .map_err(|e| e.during("tuf_initialized"))
            }

            async fn tuf_put_key(&self, name: &str, public: &str, secret_encrypted: &[u8]) -> StoreResult<()> {
                tuf::tuf_put_key(self, name, public, secret_encrypted)
                    .await
                    .map_err(|e| e.during("tuf_put_key"))
            }

            async fn tuf_key(&self, name: &str) -> StoreResult<Option<$crate::store::TufKey>> {
                tuf::tuf_key(self, name)
                    .await
                    .map_err(|e| e.during("tuf_key"))
            }

            async fn tuf_changes(&self, limit: usize) -> StoreResult<Vec<$crate::store::TufChange>> {
                tuf::tuf_changes(self, limit)
                    .await
                    .map_err(|e| e.during("tuf_changes"))
            }

            async fn tuf_index_rows(&self, origin: &OriginName, name: &str) -> StoreResult<Vec<$crate::store::TufIndexRow>> {
                tuf::tuf_index_rows(self, origin, name)
                    .await
                    .map_err(|e| e.during("tuf_index_rows"))
            }

            async fn tuf_origin_package_names(&self, origin: &OriginName) -> StoreResult<Vec<String>> {
                tuf::tuf_origin_package_names(self, origin)
                    .await
                    .map_err(|e| e.during("tuf_origin_package_names"))
            }

            async fn tuf_current_in_bin(&self, bin: &str) -> StoreResult<Vec<$crate::store::TufCurrent>> {
                tuf::tuf_current_in_bin(self, bin)
                    .await
                    .map_err(|e| e.during("tuf_current_in_bin"))
            }

            async fn tuf_current(&self, path: &str) -> StoreResult<Option<$crate::store::TufCurrent>> {
                tuf::tuf_current(self, path)
                    .await
                    .map_err(|e| e.during("tuf_current"))
            }

            async fn tuf_current_paths_under(&self, prefix: &str) -> StoreResult<Vec<String>> {
                tuf::tuf_current_paths_under(self, prefix)
                    .await
                    .map_err(|e| e.during("tuf_current_paths_under"))
            }

            async fn tuf_current_package_paths(&self, origin: &OriginName, name: &str) -> StoreResult<Vec<String>> {
                tuf::tuf_current_package_paths(self, origin, name)
                    .await
                    .map_err(|e| e.during("tuf_current_package_paths"))
            }

            async fn tuf_latest(&self, role: &str) -> StoreResult<Option<$crate::store::TufMetadataRow>> {
                tuf::tuf_latest(self, role)
                    .await
                    .map_err(|e| e.during("tuf_latest"))
            }

            async fn tuf_latest_versions(&self) -> StoreResult<Vec<$crate::store::TufMetadataRow>> {
                tuf::tuf_latest_versions(self)
                    .await
                    .map_err(|e| e.during("tuf_latest_versions"))
            }

            async fn tuf_metadata(&self, role: &str, version: u64) -> StoreResult<Option<$crate::store::TufMetadataRow>> {
                tuf::tuf_metadata(self, role, version)
                    .await
                    .map_err(|e| e.during("tuf_metadata"))
            }

            async fn tuf_target_body(&self, path: &str, hash_hex: &str) -> StoreResult<Option<Vec<u8>>> {
                tuf::tuf_target_body(self, path, hash_hex)
                    .await
                    .map_err(|e| e.during("tuf_target_body"))
            }

            async fn tuf_publish(&self, publish: $crate::store::TufPublish) -> StoreResult<()> {
                tuf::tuf_publish(self, publish)
                    .await
                    .map_err(|e| e.during("tuf_publish"))
            }

            async fn tuf_collect(&self, older_than: OffsetDateTime) -> StoreResult<$crate::store::TufCollected> {
                tuf::tuf_collect(self, older_than)
                    .await
                    .map_err(|e| e.during("tuf_collect"))
            }
        }
    };
}

pub(super) use metadata_store_by_area;
