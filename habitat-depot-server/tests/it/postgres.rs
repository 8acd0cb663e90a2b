//! The PostgreSQL metadata store against the embedded one: the same answer to every method,
//! migrations safe when several processes start at once, uniqueness decided by the database,
//! and dumps that move between the two stores. Skipped (passing) without PostgreSQL: see
//! `backends/postgres.rs`.

use std::fmt::Debug;

use habitat_core::{Blake2bHash, ChannelName, OriginName, PackageTarget};
use habitat_depot_server::store::postgres::PostgresStore;
use habitat_depot_server::store::sqlite::SqliteStore;
use habitat_depot_server::store::{
    Account, ChannelAction, ChannelMembership, Dump, Invitation, Member, MetadataStore, Origin,
    OriginContents, OriginKey, Package, PackageFilter, Page, Paged, Role, SecretOriginKey,
    StoreError, StoreResult, TokenRecord, Visibility,
};
use time::OffsetDateTime;
use time::macros::datetime;

use super::backends::postgres::{connect, database};

/// A fresh PostgreSQL store, or `None` without PostgreSQL.
async fn postgres(pool_size: usize) -> Option<(PostgresStore, String)> {
    let url = database().await?;
    let store = PostgresStore::connect(&url, pool_size).await.unwrap();
    Some((store, url))
}

fn sqlite(dir: &tempfile::TempDir) -> SqliteStore {
    SqliteStore::open(&dir.path().join("depot.sqlite")).unwrap()
}

fn origin(name: &str) -> OriginName {
    name.parse().unwrap()
}

fn channel(name: &str) -> ChannelName {
    name.parse().unwrap()
}

/// A package as uploads make them; `created_at` has a fraction of a second the stores drop.
fn package(ident: &str) -> Package {
    Package {
        id: 0,
        ident: ident.parse().unwrap(),
        target: PackageTarget::X86_64Linux,
        checksum: Blake2bHash::digest(ident.as_bytes()),
        size: 1234,
        visibility: Visibility::Public,
        manifest: format!("# {ident}\n\nünïcode manifest"),
        config: "port = 80\n".into(),
        deps: vec![],
        tdeps: vec![],
        build_deps: vec![],
        build_tdeps: vec![],
        exposes: vec![],
        is_a_service: false,
        owner: "alice".into(),
        created_at: datetime!(2020-01-02 03:04:05.5 UTC),
    }
}

const ALL: Page = Page {
    offset: 0,
    limit: 100,
};

/// What a value looks like with the parts that may differ between two correct stores blanked:
/// ids (PostgreSQL sequences skip the ids of rolled-back inserts) and "now" timestamps.
trait Normal {
    fn normal(self) -> Self;
}

macro_rules! plain {
    ($($ty:ty),*) => { $(impl Normal for $ty { fn normal(self) -> Self { self } })* };
}
plain!(
    (),
    bool,
    u64,
    String,
    OriginName,
    ChannelName,
    Role,
    Member,
    SecretOriginKey,
    OriginContents
);

impl Normal for OffsetDateTime {
    fn normal(self) -> Self {
        let recent = (OffsetDateTime::now_utc() - self).abs() < time::Duration::hours(1);
        if recent {
            assert_eq!(self.nanosecond(), 0, "stored times are whole seconds");
            OffsetDateTime::UNIX_EPOCH
        } else {
            self
        }
    }
}

impl<T: Normal> Normal for Vec<T> {
    fn normal(self) -> Self {
        self.into_iter().map(Normal::normal).collect()
    }
}

impl<T: Normal> Normal for Option<T> {
    fn normal(self) -> Self {
        self.map(Normal::normal)
    }
}

impl<A: Normal, B: Normal> Normal for (A, B) {
    fn normal(self) -> Self {
        (self.0.normal(), self.1.normal())
    }
}

impl<A: Normal, B: Normal> Normal for Result<A, B> {
    fn normal(self) -> Self {
        self.map(Normal::normal).map_err(Normal::normal)
    }
}

impl<T: Normal> Normal for Paged<T> {
    fn normal(self) -> Self {
        Paged {
            items: self.items.normal(),
            total: self.total,
        }
    }
}

impl Normal for Account {
    fn normal(self) -> Self {
        Account {
            id: 0,
            created_at: self.created_at.normal(),
            ..self
        }
    }
}

impl Normal for TokenRecord {
    fn normal(self) -> Self {
        TokenRecord {
            id: 0,
            account_id: 0,
            created_at: self.created_at.normal(),
            last_used_at: self.last_used_at.normal(),
            ..self
        }
    }
}

impl Normal for Origin {
    fn normal(self) -> Self {
        Origin {
            created_at: self.created_at.normal(),
            ..self
        }
    }
}

impl Normal for Invitation {
    fn normal(self) -> Self {
        Invitation {
            id: 0,
            created_at: self.created_at.normal(),
            ..self
        }
    }
}

impl Normal for OriginKey {
    fn normal(self) -> Self {
        OriginKey {
            created_at: self.created_at.normal(),
            ..self
        }
    }
}

impl Normal for Package {
    fn normal(self) -> Self {
        Package { id: 0, ..self }
    }
}

impl Normal for ChannelMembership {
    fn normal(self) -> Self {
        ChannelMembership {
            promoted_at: self.promoted_at.normal(),
            ..self
        }
    }
}

impl Normal
    for (
        i64,
        habitat_core::FullyQualifiedIdent,
        PackageTarget,
        Blake2bHash,
        u64,
    )
{
    fn normal(self) -> Self {
        (0, self.1, self.2, self.3, self.4)
    }
}

/// Backend errors word the database's own message; only their kind must agree.
impl Normal for StoreError {
    fn normal(self) -> Self {
        match self {
            StoreError::Backend(_) => StoreError::Backend(String::new()),
            other => other,
        }
    }
}

/// Every answer a store gave, in order, normalized.
#[derive(Default)]
struct Transcript(Vec<String>);

impl Transcript {
    /// Records `result` under `label`.
    fn record<T: Normal + Clone + Debug>(&mut self, label: &str, result: StoreResult<T>) {
        let _ = self.keep(label, result);
    }

    /// Records `result` under `label` and hands it back.
    fn keep<T: Normal + Clone + Debug>(
        &mut self,
        label: &str,
        result: StoreResult<T>,
    ) -> StoreResult<T> {
        let shown = match &result {
            Ok(value) => format!("Ok({:?})", value.clone().normal()),
            Err(e) => format!("Err({:?})", clone_error(e).normal()),
        };
        self.0.push(format!("{label}: {shown}"));
        result
    }

    /// Records a result that must be `Ok`, and returns its value.
    #[track_caller]
    fn ok<T: Normal + Clone + Debug>(&mut self, label: &str, result: StoreResult<T>) -> T {
        self.keep(label, result)
            .unwrap_or_else(|e| panic!("{label}: {e:?}"))
    }
}

fn clone_error(e: &StoreError) -> StoreError {
    match e {
        StoreError::Conflict(s) => StoreError::Conflict(s.clone()),
        StoreError::NotFound(s) => StoreError::NotFound(s.clone()),
        StoreError::Refused(s) => StoreError::Refused(s.clone()),
        StoreError::Backend(s) => StoreError::Backend(s.clone()),
        other => StoreError::Backend(other.to_string()),
    }
}

/// Calls every method of the store, the failing cases included; the answers, normalized.
async fn exercise(store: &dyn MetadataStore) -> Vec<String> {
    let mut t = Transcript::default();
    t.ok("ping", store.ping().await);
    let ids = accounts_and_tokens(store, &mut t).await;
    origins_members_and_invitations(store, &mut t, &ids).await;
    keys(store, &mut t).await;
    packages_and_channels(store, &mut t).await;
    t.0
}

/// Account ids: alice, bob, Zed.
struct Ids {
    alice: i64,
    bob: i64,
    zed: i64,
}

async fn accounts_and_tokens(store: &dyn MetadataStore, t: &mut Transcript) -> Ids {
    let alice = t.ok(
        "create alice",
        store
            .create_account("alice", Some("alice@example.com"))
            .await,
    );
    let zed = t.ok("create Zed", store.create_account("Zed", None).await);
    let bob = t.ok("create bob", store.create_account("bob", None).await);
    let again = t.keep(
        "create alice again",
        store.create_account("alice", None).await,
    );
    assert!(matches!(again, Err(StoreError::Conflict(_))), "{again:?}");
    t.record("account alice", store.account_by_name("alice").await);
    t.record("account nobody", store.account_by_name("nobody").await);
    let accounts = t.ok("accounts", store.accounts().await);
    let names: Vec<&str> = accounts.iter().map(|a| a.name.as_str()).collect();
    assert_eq!(names, ["Zed", "alice", "bob"], "bytewise order");

    let (hash1, hash2) = (Blake2bHash::digest(b"one"), Blake2bHash::digest(b"two"));
    let expires = datetime!(2999-01-01 00:00:00.25 UTC);
    let cli = t.ok(
        "token cli",
        store.create_token(alice.id, "cli", &hash1, None).await,
    );
    let ci = t.ok(
        "token ci",
        store
            .create_token(alice.id, "ci", &hash2, Some(expires))
            .await,
    );
    t.record(
        "token with a used hash",
        store.create_token(bob.id, "dup", &hash1, None).await,
    );
    let (token, account) = t
        .ok("authenticate", store.authenticate(&hash1).await)
        .unwrap();
    assert_eq!((token.id, account.id), (cli.id, alice.id));
    let (again, _) = t
        .ok("authenticate again", store.authenticate(&hash1).await)
        .unwrap();
    assert!(again.last_used_at.is_some());
    t.record(
        "authenticate unknown",
        store.authenticate(&Blake2bHash::digest(b"x")).await,
    );
    let tokens = t.ok("tokens", store.tokens(alice.id).await);
    assert_eq!(tokens.len(), 2);
    t.record("delete token", store.delete_token(alice.id, ci.id).await);
    t.record(
        "delete token again",
        store.delete_token(alice.id, ci.id).await,
    );
    t.record(
        "delete another's token",
        store.delete_token(bob.id, cli.id).await,
    );
    t.record("tokens after", store.tokens(alice.id).await);
    Ids {
        alice: alice.id,
        bob: bob.id,
        zed: zed.id,
    }
}

async fn origins_members_and_invitations(store: &dyn MetadataStore, t: &mut Transcript, ids: &Ids) {
    let (core, dash, under) = (origin("core"), origin("a-b"), origin("a_b"));
    t.ok(
        "create core",
        store
            .create_origin(&core, ids.alice, Visibility::Public)
            .await,
    );
    t.ok(
        "create a-b",
        store
            .create_origin(&dash, ids.bob, Visibility::Private)
            .await,
    );
    t.ok(
        "create a_b",
        store
            .create_origin(&under, ids.alice, Visibility::Public)
            .await,
    );
    t.record(
        "create core again",
        store
            .create_origin(&core, ids.bob, Visibility::Public)
            .await,
    );
    let gone = origin("gone");
    t.ok(
        "create gone",
        store
            .create_origin(&gone, ids.zed, Visibility::Public)
            .await,
    );
    t.record("delete gone", store.delete_origin(&gone).await);
    t.record("origin gone", store.origin(&gone).await);
    t.record("origin core", store.origin(&core).await);
    t.record("origin none", store.origin(&origin("none")).await);
    t.record("role alice", store.role(&core, ids.alice).await);
    t.record("role bob", store.role(&core, ids.bob).await);
    t.record("account origins", store.account_origins(ids.alice).await);

    let bob = t.ok(
        "invite bob",
        store.create_invitation(&core, "bob", "alice").await,
    );
    // Before the failed inserts: PostgreSQL's sequences skip the ids those roll back, and the
    // "not found" messages below name ids.
    let zed = t.ok(
        "invite Zed",
        store.create_invitation(&core, "Zed", "alice").await,
    );
    t.record(
        "invite Zed to a-b",
        store.create_invitation(&dash, "Zed", "bob").await,
    );
    t.record(
        "invite bob again",
        store.create_invitation(&core, "bob", "alice").await,
    );
    t.record(
        "invite a member",
        store.create_invitation(&core, "alice", "alice").await,
    );
    t.record(
        "invite to no origin",
        store
            .create_invitation(&origin("none"), "bob", "alice")
            .await,
    );
    t.record(
        "invite no account",
        store.create_invitation(&core, "ghost", "alice").await,
    );
    t.record("invitation", store.invitation(bob.id).await);
    t.record("no invitation", store.invitation(bob.id + 1000).await);
    t.record("origin invitations", store.origin_invitations(&core).await);
    t.record(
        "Zed's invitations",
        store.account_invitations(ids.zed).await,
    );
    t.record("accept", store.accept_invitation(bob.id).await);
    t.record("accept again", store.accept_invitation(bob.id).await);
    t.record("delete invitation", store.delete_invitation(zed.id).await);
    t.record("delete it again", store.delete_invitation(zed.id).await);
    t.record("members", store.members(&core).await);
    t.record(
        "promote bob",
        store.set_role(&core, "bob", Role::Maintainer).await,
    );
    t.record(
        "demote the owner",
        store.set_role(&core, "alice", Role::Member).await,
    );
    t.record(
        "role of a non-member",
        store.set_role(&core, "Zed", Role::Member).await,
    );
    t.record(
        "role in no origin",
        store.set_role(&origin("none"), "bob", Role::Member).await,
    );
    t.record("bob's role", store.role(&core, ids.bob).await);
    t.record(
        "remove the owner",
        store.remove_member(&core, "alice").await,
    );
    t.record(
        "remove a non-member",
        store.remove_member(&core, "Zed").await,
    );
    t.record(
        "remove no account",
        store.remove_member(&core, "ghost").await,
    );
    t.record("bob's origins", store.account_origins(ids.bob).await);
}

async fn keys(store: &dyn MetadataStore, t: &mut Transcript) {
    let core = origin("core");
    for revision in ["20210101000000", "20200101000000"] {
        t.ok(
            "add key",
            store
                .add_public_key(
                    &core,
                    revision,
                    &format!("SIG-PUB-1\ncore-{revision}\n\nKEY"),
                )
                .await,
        );
    }
    t.record(
        "add key again",
        store.add_public_key(&core, "20200101000000", "x").await,
    );
    t.record(
        "add key to no origin",
        store
            .add_public_key(&origin("none"), "20200101000000", "x")
            .await,
    );
    t.record("public keys", store.public_keys(&core).await);
    t.record(
        "public key",
        store.public_key(&core, "20200101000000").await,
    );
    t.record(
        "no public key",
        store.public_key(&core, "20190101000000").await,
    );
    let secret = |origin: &OriginName, revision: &str, encrypted: &[u8]| SecretOriginKey {
        origin: origin.clone(),
        revision: revision.into(),
        encrypted: encrypted.to_vec(),
    };
    for key in [
        secret(&core, "20200101000000", &[1, 2, 3]),
        secret(&core, "20210101000000", &[4]),
        secret(&core, "20210101000000", &[5, 0, 255]),
    ] {
        t.ok("put secret key", store.put_secret_key(&key).await);
    }
    t.record(
        "put secret key in no origin",
        store
            .put_secret_key(&secret(&origin("none"), "1", &[1]))
            .await,
    );
    t.record("latest secret key", store.latest_secret_key(&core).await);
    t.record(
        "no secret key",
        store.latest_secret_key(&origin("a_b")).await,
    );
}

async fn packages_and_channels(store: &dyn MetadataStore, t: &mut Transcript) {
    let core = origin("core");
    let mut inserted = Vec::new();
    for ident in [
        "core/lib/1.0.0/20200101000000",
        "core/lib/1.10.0/20200101000000",
        "core/lib/1.9.0/20200101000000",
        "core/lib/1.10.0/20200202000000",
        "core/lib/1.10.0-rc1/20200303000000",
        "core/App/1.0/20200101000000",
        "core/a_p/1.0/20200101000000",
        "core/a-p/1.0/20200101000000",
    ] {
        inserted.push(t.ok("insert", store.insert_package(&package(ident)).await));
    }
    let mut service = package("core/app/2.0/20200101000000");
    service.deps = vec!["core/lib/1.0.0/20200101000000".parse().unwrap()];
    service.tdeps = vec![
        "core/lib/1.0.0/20200101000000".parse().unwrap(),
        "core/a-p/1.0/20200101000000".parse().unwrap(),
    ];
    service.build_deps = vec!["core/App/1.0/20200101000000".parse().unwrap()];
    service.build_tdeps = service.build_deps.clone();
    service.exposes = vec![80, 443];
    service.is_a_service = true;
    let service = t.ok("insert service", store.insert_package(&service).await);
    let mut arm = package("core/lib/1.0.0/20200101000000");
    arm.target = PackageTarget::Aarch64Linux;
    t.ok(
        "insert for another target",
        store.insert_package(&arm).await,
    );
    t.record(
        "insert again",
        store
            .insert_package(&package("core/lib/1.0.0/20200101000000"))
            .await,
    );
    t.record(
        "insert in no origin",
        store
            .insert_package(&package("none/lib/1.0.0/20200101000000"))
            .await,
    );
    let mut private = package("a-b/secret/1.0.0/20200101000000");
    private.visibility = Visibility::Private;
    private.tdeps = vec!["core/lib/1.0.0/20200101000000".parse().unwrap()];
    t.ok("insert private", store.insert_package(&private).await);

    let batch: Vec<Package> = ["1.0", "2.0", "3.0"]
        .iter()
        .map(|v| package(&format!("a_b/bulk/{v}/20200101000000")))
        .collect();
    let mut bad = batch.clone();
    bad.push(batch[1].clone());
    t.record("import a duplicate", store.import_packages(&bad).await);
    let under = PackageFilter {
        origin: Some(origin("a_b")),
        ..PackageFilter::default()
    };
    t.record("nothing imported", store.packages(&under, ALL).await);
    t.record("import", store.import_packages(&batch).await);
    t.record("imported", store.packages(&under, ALL).await);

    let lib = &inserted[0];
    t.record("package", store.package(&lib.ident, lib.target).await);
    t.record(
        "no package",
        store
            .package(&lib.ident, PackageTarget::X86_64Windows)
            .await,
    );
    listings(store, t).await;

    // Channels.
    t.record("channels", store.channels(&core).await);
    t.record(
        "create beta",
        store.create_channel(&core, &channel("beta")).await,
    );
    t.record(
        "create beta again",
        store.create_channel(&core, &channel("beta")).await,
    );
    t.record(
        "create in no origin",
        store
            .create_channel(&origin("none"), &channel("beta"))
            .await,
    );
    t.record(
        "create Beta.2",
        store
            .create_channel(&origin("a_b"), &channel("Beta.2"))
            .await,
    );
    t.record("channels after", store.channels(&core).await);
    t.record("all channel names", store.all_channel_names().await);
    let stable = channel("stable");
    let change = |id: i64, name: &str, action: ChannelAction| {
        let name = channel(name);
        let core = core.clone();
        async move {
            store
                .change_channel(id, &core, &name, action, "alice")
                .await
        }
    };
    t.record(
        "promote lib",
        change(lib.id, "stable", ChannelAction::Promote).await,
    );
    t.record(
        "promote lib again",
        change(lib.id, "stable", ChannelAction::Promote).await,
    );
    t.record(
        "promote newest lib to beta",
        change(inserted[3].id, "beta", ChannelAction::Promote).await,
    );
    t.record(
        "promote to no channel",
        change(lib.id, "nope", ChannelAction::Promote).await,
    );
    t.record(
        "demote from a channel it is not in",
        change(lib.id, "beta", ChannelAction::Demote).await,
    );
    t.record("lib's channels", store.package_channels(lib.id).await);
    let in_stable = PackageFilter {
        origin: Some(core.clone()),
        name: Some("lib".into()),
        channel: Some(stable.clone()),
        ..PackageFilter::default()
    };
    t.record("latest in stable", store.latest(&in_stable).await);
    t.record(
        "latest in stable with channels",
        store.latest_with_channels(&in_stable).await,
    );
    t.record("in stable", store.packages(&in_stable, ALL).await);

    // Deleting.
    t.record(
        "delete a stable package",
        store.delete_package(lib.id).await,
    );
    t.record(
        "demote it",
        change(lib.id, "stable", ChannelAction::Demote).await,
    );
    t.record("delete a dependency", store.delete_package(lib.id).await);
    t.record(
        "delete the dependent",
        store.delete_package(service.id).await,
    );
    t.record("delete a leaf", store.delete_package(inserted[1].id).await);
    t.record(
        "delete it again",
        store.delete_package(inserted[1].id).await,
    );
    t.record(
        "private visibility",
        store
            .set_visibility(inserted[3].id, Visibility::Private)
            .await,
    );
    t.record("checksums", store.package_checksums().await);
    t.record("delete stable", store.delete_channel(&core, &stable).await);
    t.record(
        "delete beta",
        store.delete_channel(&core, &channel("beta")).await,
    );
    t.record(
        "delete beta again",
        store.delete_channel(&core, &channel("beta")).await,
    );
    t.record(
        "newest lib's channels",
        store.package_channels(inserted[3].id).await,
    );
    t.record("delete core", store.delete_origin(&core).await);
    t.record("delete a_b", store.delete_origin(&origin("a_b")).await);
    t.record("delete no package", store.delete_package(i64::MAX).await);
    t.record(
        "delete no origin",
        store.delete_origin(&origin("none")).await,
    );
    let empty = PackageFilter {
        origin: Some(origin("a_b")),
        ..PackageFilter::default()
    };
    t.record("a_b packages", store.packages(&empty, ALL).await);
    let shape: Vec<String> = store
        .dump()
        .await
        .unwrap()
        .tables
        .iter()
        .map(|table| format!("{} {:?} {}", table.name, table.columns, table.rows.len()))
        .collect();
    t.0.push(format!("dump: {shape:?}"));
}

/// Filters, pages, latest, search and reverse dependencies over the packages inserted above.
async fn listings(store: &dyn MetadataStore, t: &mut Transcript) {
    let core = PackageFilter {
        origin: Some(origin("core")),
        ..PackageFilter::default()
    };
    let named = |name: &str| PackageFilter {
        name: Some(name.into()),
        ..core.clone()
    };
    t.record("core", store.packages(&core, ALL).await);
    t.record(
        "core page",
        store
            .packages(
                &core,
                Page {
                    offset: 2,
                    limit: 3,
                },
            )
            .await,
    );
    t.record(
        "core past the end",
        store
            .packages(
                &core,
                Page {
                    offset: 100,
                    limit: 500,
                },
            )
            .await,
    );
    t.record("lib", store.packages(&named("lib"), ALL).await);
    let version = PackageFilter {
        version: Some("1.10.0".into()),
        ..named("lib")
    };
    t.record("lib 1.10.0", store.packages(&version, ALL).await);
    t.record("latest lib 1.10.0", store.latest(&version).await);
    let arm = PackageFilter {
        target: Some(PackageTarget::Aarch64Linux),
        ..named("lib")
    };
    t.record("lib for arm", store.packages(&arm, ALL).await);
    t.record("latest lib for arm", store.latest(&arm).await);
    let latest = t
        .ok("latest lib", store.latest(&named("lib")).await)
        .unwrap();
    assert_eq!(latest.ident.to_string(), "core/lib/1.10.0/20200202000000");
    t.record("latest App", store.latest(&named("App")).await);
    t.record("latest none", store.latest(&named("none")).await);
    t.record(
        "latest lib with channels",
        store.latest_with_channels(&named("lib")).await,
    );
    let unstable = PackageFilter {
        channel: Some(channel("unstable")),
        ..named("lib")
    };
    t.record("lib in unstable", store.packages(&unstable, ALL).await);
    let dash = PackageFilter {
        origin: Some(origin("a-b")),
        ..PackageFilter::default()
    };
    t.record("a-b for anyone", store.packages(&dash, ALL).await);
    let member = PackageFilter {
        private_origins: vec![origin("a-b"), origin("a_b")],
        ..dash.clone()
    };
    t.record("a-b for a member", store.packages(&member, ALL).await);
    t.record("latest a-b for anyone", store.latest(&dash).await);
    t.record("latest a-b for a member", store.latest(&member).await);

    let members = [origin("a-b")];
    for (query, distinct, private) in [
        ("lib", false, &[][..]),
        ("lib", true, &[][..]),
        ("a", true, &[][..]),
        ("core/a", false, &[][..]),
        ("", true, &[][..]),
        ("secret", false, &[][..]),
        ("secret", true, &members[..]),
        ("B", false, &[][..]),
    ] {
        t.record(
            &format!("search {query:?} distinct {distinct} private {private:?}"),
            store.search(query, distinct, private, ALL).await,
        );
    }
    t.record(
        "search page",
        store
            .search(
                "core",
                true,
                &[],
                Page {
                    offset: 1,
                    limit: 2,
                },
            )
            .await,
    );
    t.record(
        "rdeps lib",
        store
            .rdeps(&origin("core"), "lib", PackageTarget::X86_64Linux)
            .await,
    );
    t.record(
        "rdeps lib arm",
        store
            .rdeps(&origin("core"), "lib", PackageTarget::Aarch64Linux)
            .await,
    );
}

#[tokio::test]
async fn every_method_answers_as_the_embedded_store() {
    let Some((postgres, _)) = postgres(4).await else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let expected = exercise(&sqlite(&dir)).await;
    let actual = exercise(&postgres).await;
    for (actual, expected) in actual.iter().zip(&expected) {
        assert_eq!(actual, expected);
    }
    assert_eq!(actual.len(), expected.len());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn migrations_apply_once_when_several_processes_start_at_once() {
    let Some(url) = database().await else {
        return;
    };
    // Four "processes" (each its own pool and sessions) start at the same moment.
    let starts: Vec<_> = (0..4)
        .map(|_| {
            let url = url.clone();
            tokio::spawn(async move { PostgresStore::connect(&url, 1).await })
        })
        .collect();
    for start in starts {
        start.await.unwrap().unwrap();
    }
    let admin = connect(&url).await;
    let versions: Vec<i64> = admin
        .query(
            "SELECT version FROM hab_depot_migrations ORDER BY version",
            &[],
        )
        .await
        .unwrap()
        .iter()
        .map(|row| row.get(0))
        .collect();
    assert!(!versions.is_empty());
    assert_eq!(versions, (1..=versions.len() as i64).collect::<Vec<_>>());

    // Every text column of the store compares bytewise, as SQLite's do.
    let not_bytewise: Vec<String> = admin
        .query(
            "SELECT table_name || '.' || column_name FROM information_schema.columns \
             WHERE table_schema = current_schema() AND data_type = 'text' \
             AND table_name <> 'hab_depot_migrations' AND coalesce(collation_name, '') <> 'C'",
            &[],
        )
        .await
        .unwrap()
        .iter()
        .map(|row| row.get(0))
        .collect();
    assert!(not_bytewise.is_empty(), "{not_bytewise:?}");

    // Starting again changes nothing; a schema newer than this build is refused.
    PostgresStore::connect(&url, 1).await.unwrap();
    admin
        .execute(
            "INSERT INTO hab_depot_migrations VALUES (1000, '2999-01-01T00:00:00Z')",
            &[],
        )
        .await
        .unwrap();
    match PostgresStore::connect(&url, 1).await {
        Err(StoreError::Backend(message)) => assert!(message.contains("newer"), "{message}"),
        other => panic!("a newer schema must be refused: {other:?}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn racing_inserts_of_one_ident_store_it_once_and_the_others_conflict() {
    let Some((store, url)) = postgres(1).await else {
        return;
    };
    let alice = store.create_account("alice", None).await.unwrap();
    store
        .create_origin(&origin("race"), alice.id, Visibility::Public)
        .await
        .unwrap();
    // Eight "processes", each with its own pool, upload the same ident at once.
    let mut stores = Vec::new();
    for _ in 0..8 {
        stores.push(PostgresStore::connect(&url, 1).await.unwrap());
    }
    let barrier = std::sync::Arc::new(tokio::sync::Barrier::new(stores.len()));
    let racers: Vec<_> = stores
        .into_iter()
        .map(|store| {
            let barrier = barrier.clone();
            tokio::spawn(async move {
                barrier.wait().await;
                store
                    .insert_package(&package("race/app/1.0.0/20240101000000"))
                    .await
            })
        })
        .collect();
    let mut results = Vec::new();
    for racer in racers {
        results.push(racer.await.unwrap());
    }
    let won = results.iter().filter(|r| r.is_ok()).count();
    let conflicts = results
        .iter()
        .filter(|r| matches!(r, Err(StoreError::Conflict(_))))
        .count();
    assert_eq!((won, conflicts), (1, 7), "{results:?}");
    let filter = PackageFilter {
        origin: Some(origin("race")),
        ..PackageFilter::default()
    };
    let stored = store.packages(&filter, ALL).await.unwrap();
    assert_eq!(stored.total, 1);
    let channels = store.package_channels(stored.items[0].id).await.unwrap();
    assert_eq!(channels.len(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn deleting_an_origin_while_a_package_arrives_never_strands_the_package() {
    let Some((store, url)) = postgres(2).await else {
        return;
    };
    let other = PostgresStore::connect(&url, 2).await.unwrap();
    let alice = store.create_account("alice", None).await.unwrap();
    for round in 0..20 {
        let name = origin(&format!("o{round}"));
        store
            .create_origin(&name, alice.id, Visibility::Public)
            .await
            .unwrap();
        let arriving = package(&format!("o{round}/app/1.0.0/20240101000000"));
        let (deleted, inserted) =
            tokio::join!(store.delete_origin(&name), other.insert_package(&arriving));
        match (deleted.unwrap(), inserted) {
            // The delete went first: the upload finds no origin.
            (Ok(()), Err(StoreError::NotFound(_))) => {}
            // The upload went first: the delete sees its package.
            (Err(contents), Ok(_)) => assert_eq!(contents.packages, 1),
            outcome => panic!("round {round}: {outcome:?}"),
        }
        let origin_left = store.origin(&name).await.unwrap().is_some();
        let filter = PackageFilter {
            origin: Some(name.clone()),
            ..PackageFilter::default()
        };
        let packages = store.packages(&filter, ALL).await.unwrap().total;
        assert_eq!(
            (origin_left, packages),
            (origin_left, u64::from(origin_left))
        );
    }
}

/// The dump with each table's rows in one order: the embedded store lists rows of tables
/// without an integer key in insertion order, PostgreSQL by key.
fn sorted(mut dump: Dump) -> Dump {
    for table in &mut dump.tables {
        table.rows.sort_by_cached_key(|row| format!("{row:?}"));
    }
    dump
}

#[tokio::test]
async fn dumps_move_between_sqlite_and_postgres_both_ways() {
    let Some((postgres, _)) = postgres(2).await else {
        return;
    };
    let (dir, back_dir) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let source = sqlite(&dir);
    exercise(&source).await;
    let dump = source.dump().await.unwrap();
    let rows = |table: &str| {
        dump.tables
            .iter()
            .find(|t| t.name == table)
            .map(|t| t.rows.len())
            .unwrap()
    };
    for table in habitat_depot_server::store::DUMP_TABLES {
        assert!(
            rows(table) > 0,
            "the test fills every table; {table} is empty"
        );
    }

    // SQLite to PostgreSQL, twice: the same rows, nothing doubled.
    postgres.restore(&dump).await.unwrap();
    let moved = postgres.dump().await.unwrap();
    assert_eq!(sorted(moved.clone()), sorted(dump.clone()));
    postgres.restore(&dump).await.unwrap();
    assert_eq!(postgres.dump().await.unwrap(), moved);

    // And back into a new SQLite store.
    let back = sqlite(&back_dir);
    back.restore(&moved).await.unwrap();
    assert_eq!(sorted(back.dump().await.unwrap()), sorted(dump.clone()));

    // PostgreSQL to PostgreSQL keeps the row order too.
    let Some((copy, _)) = self::postgres(1).await else {
        return;
    };
    copy.restore(&moved).await.unwrap();
    assert_eq!(copy.dump().await.unwrap(), moved);

    // The restored store answers as the source does, and new ids follow the restored ones.
    let core = PackageFilter {
        origin: Some(origin("core")),
        ..PackageFilter::default()
    };
    for store in [&postgres as &dyn MetadataStore, &back] {
        assert_eq!(
            store.packages(&core, ALL).await.unwrap(),
            source.packages(&core, ALL).await.unwrap()
        );
        assert_eq!(
            store
                .authenticate(&Blake2bHash::digest(b"one"))
                .await
                .unwrap()
                .map(|(t, a)| (t.id, a)),
            source
                .authenticate(&Blake2bHash::digest(b"one"))
                .await
                .unwrap()
                .map(|(t, a)| (t.id, a))
        );
        assert_eq!(
            store.members(&origin("core")).await.unwrap(),
            source.members(&origin("core")).await.unwrap()
        );
    }
    let largest = |table: &str| {
        dump.tables
            .iter()
            .find(|t| t.name == table)
            .unwrap()
            .rows
            .iter()
            .filter_map(|row| match row[0] {
                habitat_depot_server::store::DumpValue::Int(id) => Some(id),
                _ => None,
            })
            .max()
            .unwrap()
    };
    let carol = postgres.create_account("carol", None).await.unwrap();
    assert!(carol.id > largest("accounts"));
    let package = postgres
        .insert_package(&package("a-b/new/1.0.0/20240101000000"))
        .await
        .unwrap();
    assert!(package.id > largest("packages"));

    // A dump naming a table no store has is refused by both.
    let mut strange = Dump::default();
    strange.tables.push(habitat_depot_server::store::DumpTable {
        name: "nope".into(),
        columns: vec!["id".into()],
        rows: vec![],
    });
    for store in [&postgres as &dyn MetadataStore, &back] {
        assert!(matches!(
            store.restore(&strange).await,
            Err(StoreError::Refused(_))
        ));
    }
}
