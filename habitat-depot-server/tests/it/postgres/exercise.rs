//! Every method of a metadata store, the failing cases included, as one transcript of
//! answers: run against both stores, the transcripts must be equal.

use habitat_core::{Blake2bHash, OriginName, PackageTarget};
use habitat_depot_server::store::{
    BundleImport, ChannelAction, LoginFlow, MetadataStore, NewIdentity, Package, PackageFilter,
    Page, Role, SecretOriginKey, StoreError, TufCurrent, TufMetadataRow, TufPublish,
    TufTargetUpsert, Visibility,
};
use time::macros::datetime;

use super::normal::Transcript;
use super::{ALL, channel, origin, package};

/// Calls every method of the store, the failing cases included; the answers, normalized.
pub async fn exercise(store: &dyn MetadataStore) -> Vec<String> {
    let mut t = Transcript::default();
    t.ok("ping", store.ping().await);
    let ids = accounts_and_tokens(store, &mut t).await;
    identities_and_sessions(store, &mut t, &ids).await;
    origins_members_and_invitations(store, &mut t, &ids).await;
    keys(store, &mut t).await;
    packages_and_channels(store, &mut t).await;
    bundle_imports(store, &mut t).await;
    tuf(store, &mut t).await;
    t.0
}

/// The TUF repository's rows: release facts, the outbox, a publish and what it leaves to read,
/// a publish that loses, keys; some of each is left for the dump tests.
async fn tuf(store: &dyn MetadataStore, t: &mut Transcript) {
    let core = origin("core");
    let version = |role: &str, version: u64| TufMetadataRow {
        role: role.into(),
        version,
        body: format!("{role} {version}").into_bytes(),
        expires_at: datetime!(2030-01-01 00:00:00 UTC),
    };
    let index = "channels/core/stable/lib/x86_64-linux.json";
    let upsert = TufTargetUpsert {
        current: TufCurrent {
            path: index.into(),
            bin: "bin-4c".into(),
            sha256: "5".repeat(64),
            blake2b: "b".repeat(64),
            length: 5,
        },
        body: b"index".to_vec(),
    };
    t.record("tuf before init", store.tuf_initialized().await);
    let missing = t.ok(
        "missing facts",
        store.packages_missing_tuf_facts(0, 3).await.map(|rows| {
            rows.into_iter()
                .map(|(_, checksum)| checksum)
                .collect::<Vec<_>>()
        }),
    );
    assert_eq!(missing.len(), 3);
    let first = store.packages_missing_tuf_facts(0, 1).await.unwrap();
    t.record(
        "set facts",
        store
            .set_package_tuf_facts(first[0].0, &"a".repeat(64), "core-20200101000000")
            .await,
    );
    t.record(
        "set facts of none",
        store.set_package_tuf_facts(-5, "a", "b").await,
    );
    t.ok(
        "tuf init",
        store
            .tuf_publish(TufPublish {
                upserts: vec![upsert.clone()],
                metadata: vec![
                    version("root", 1),
                    version("bin-4c", 1),
                    version("timestamp", 1),
                ],
                ..TufPublish::default()
            })
            .await,
    );
    t.record("tuf after init", store.tuf_initialized().await);
    t.ok(
        "put key",
        store.tuf_put_key("online", "ab", &[1, 2, 3]).await,
    );
    t.record("key", store.tuf_key("online").await);
    t.record("no key", store.tuf_key("root").await);
    t.ok(
        "upload after init",
        store
            .insert_package(&package("core/tufpkg/1.0.0/20200101000000"))
            .await,
    );
    t.record("changes", store.tuf_changes(10).await);
    t.record("index rows", store.tuf_index_rows(&core, "lib").await);
    t.record("index rows none", store.tuf_index_rows(&core, "none").await);
    t.record("names", store.tuf_origin_package_names(&core).await);
    t.record("bin", store.tuf_current_in_bin("bin-4c").await);
    t.record("current", store.tuf_current(index).await);
    t.record(
        "under",
        store.tuf_current_paths_under("channels/core/").await,
    );
    t.record(
        "package paths",
        store.tuf_current_package_paths(&core, "lib").await,
    );
    t.record("latest", store.tuf_latest("timestamp").await);
    t.record("latest versions", store.tuf_latest_versions().await);
    t.record("version", store.tuf_metadata("root", 1).await);
    t.record("body", store.tuf_target_body(index, &"b".repeat(64)).await);
    t.record(
        "no body",
        store.tuf_target_body(index, &"c".repeat(64)).await,
    );
    let lost = t.keep(
        "publish again",
        store
            .tuf_publish(TufPublish {
                metadata: vec![version("root", 1)],
                ..TufPublish::default()
            })
            .await,
    );
    assert!(matches!(lost, Err(StoreError::Conflict(_))), "{lost:?}");
    t.record(
        "collect nothing",
        store.tuf_collect(datetime!(2000-01-01 00:00:00 UTC)).await,
    );
}

/// The last air-gap bundle imported from a transfer key: begun, completed, never older.
async fn bundle_imports(store: &dyn MetadataStore, t: &mut Transcript) {
    let import = |sequence: u64, completed: bool| BundleImport {
        signer: "transfer".into(),
        sequence,
        manifest: format!("{sequence:064x}"),
        completed,
    };
    t.record("no bundle yet", store.bundle_import("transfer").await);
    t.ok(
        "bundle begun",
        store.record_bundle_import(&import(20, false)).await,
    );
    t.record("bundle begun, read", store.bundle_import("transfer").await);
    t.ok(
        "bundle completed",
        store.record_bundle_import(&import(20, true)).await,
    );
    let older = t.keep(
        "older bundle",
        store.record_bundle_import(&import(19, true)).await,
    );
    assert!(matches!(older, Err(StoreError::Conflict(_))), "{older:?}");
    t.ok(
        "newer bundle",
        store.record_bundle_import(&import(21, true)).await,
    );
    t.record("newer bundle, read", store.bundle_import("transfer").await);
    t.record("other signer", store.bundle_import("other").await);
}

/// Identities, sessions and sign-ins in flight.
async fn identities_and_sessions(store: &dyn MetadataStore, t: &mut Transcript, ids: &Ids) {
    let identity = |subject: &str, username: &str| NewIdentity {
        provider: "corp".into(),
        subject: subject.into(),
        username: username.into(),
        email: None,
    };
    t.ok(
        "sign up dora",
        store.sign_up("dora", &identity("d-1", "dora")).await,
    );
    let clash = t.keep(
        "sign up alice by name",
        store.sign_up("alice", &identity("a-9", "alice")).await,
    );
    assert!(matches!(clash, Err(StoreError::Conflict(_))), "{clash:?}");
    let twice = t.keep(
        "sign up dora twice",
        store.sign_up("dora-2", &identity("d-1", "dora")).await,
    );
    assert!(matches!(twice, Err(StoreError::Conflict(_))), "{twice:?}");
    t.ok(
        "link bob",
        store
            .link_identity(ids.bob, &identity("b-1", "bobby"))
            .await,
    );
    t.record(
        "link bob twice",
        store
            .link_identity(ids.alice, &identity("b-1", "bobby"))
            .await,
    );
    t.ok(
        "sign-in dora",
        store.record_sign_in(&identity("d-1", "dora-renamed")).await,
    );
    t.record("identity d-1", store.identity("corp", "d-1").await);
    t.record("identity none", store.identity("corp", "nobody").await);
    t.record("identities of bob", store.identities(ids.bob).await);

    let hash = Blake2bHash::digest(b"session");
    let expires = datetime!(2999-01-01 00:00:00 UTC);
    let session = t.ok(
        "session",
        store.create_session(ids.alice, &hash, expires).await,
    );
    t.record(
        "session again",
        store.create_session(ids.bob, &hash, expires).await,
    );
    t.record("session by hash", store.session(&hash).await);
    t.ok("touch session", store.touch_session(session.id).await);
    t.ok("delete session", store.delete_session(&hash).await);
    t.record("session gone", store.session(&hash).await);
    // A session of its own stays for the dump.
    let kept = Blake2bHash::digest(b"kept session");
    t.ok(
        "session kept",
        store.create_session(ids.zed, &kept, expires).await,
    );

    let flow = LoginFlow {
        state_hash: Blake2bHash::digest(b"state"),
        provider: "corp".into(),
        browser_hash: Blake2bHash::digest(b"browser"),
        nonce: "nonce".into(),
        verifier: "verifier".into(),
        return_to: "/".into(),
        created_at: datetime!(2999-01-01 00:00:00 UTC),
    };
    let stale = datetime!(2998-12-31 23:50:00 UTC);
    t.ok("flow", store.put_login_flow(&flow, stale).await);
    t.record("flow twice", store.put_login_flow(&flow, stale).await);
    t.record("take flow", store.take_login_flow(&flow.state_hash).await);
    t.record(
        "take flow again",
        store.take_login_flow(&flow.state_hash).await,
    );
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
    t.record(
        "transfer to a non-member",
        store.transfer_origin(&core, "Zed").await,
    );
    t.record(
        "transfer to no account",
        store.transfer_origin(&core, "ghost").await,
    );
    t.record(
        "transfer no origin",
        store.transfer_origin(&origin("none"), "bob").await,
    );
    t.record("transfer to bob", store.transfer_origin(&core, "bob").await);
    t.record("core owned by bob", store.origin(&core).await);
    t.record("members after the transfer", store.members(&core).await);
    t.record(
        "transfer back to alice",
        store.transfer_origin(&core, "alice").await,
    );
    t.record(
        "members after the transfer back",
        store.members(&core).await,
    );
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
    let all = |source: &str, target: &str, action: ChannelAction| {
        let (source, target) = (channel(source), channel(target));
        let core = core.clone();
        async move {
            store
                .change_channel_all(&core, &source, &target, action, "alice")
                .await
        }
    };
    t.record(
        "promote all of beta to stable",
        all("beta", "stable", ChannelAction::Promote).await,
    );
    t.record(
        "promote all of beta to stable again",
        all("beta", "stable", ChannelAction::Promote).await,
    );
    t.record(
        "stable after the bulk promotion",
        store
            .packages(
                &PackageFilter {
                    origin: Some(core.clone()),
                    channel: Some(stable.clone()),
                    ..PackageFilter::default()
                },
                ALL,
            )
            .await,
    );
    t.record(
        "demote all of beta from stable",
        all("beta", "stable", ChannelAction::Demote).await,
    );
    t.record(
        "demote all of beta from stable again",
        all("beta", "stable", ChannelAction::Demote).await,
    );
    t.record(
        "promote all of no channel",
        all("nope", "stable", ChannelAction::Promote).await,
    );
    t.record(
        "promote all into no channel",
        all("beta", "nope", ChannelAction::Promote).await,
    );
    let memberships = vec![
        (lib.id, core.clone(), channel("stable")),
        (lib.id, core.clone(), channel("bundled")),
        (inserted[3].id, core.clone(), channel("bundled")),
    ];
    t.record(
        "apply memberships, creating a channel",
        store.apply_memberships(&memberships, "alice").await,
    );
    t.record(
        "apply memberships again",
        store.apply_memberships(&memberships, "alice").await,
    );
    t.record(
        "channels after applying memberships",
        store.channels(&core).await,
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
        store.delete_package(lib.id, "alice").await,
    );
    t.record(
        "demote it",
        change(lib.id, "stable", ChannelAction::Demote).await,
    );
    t.record(
        "delete a dependency",
        store.delete_package(lib.id, "alice").await,
    );
    t.record(
        "delete the dependent",
        store.delete_package(service.id, "alice").await,
    );
    t.record(
        "delete a leaf",
        store.delete_package(inserted[1].id, "alice").await,
    );
    t.record(
        "delete it again",
        store.delete_package(inserted[1].id, "alice").await,
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
    t.record(
        "delete no package",
        store.delete_package(i64::MAX, "alice").await,
    );
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
        "latest none with channels",
        store.latest_with_channels(&named("none")).await,
    );
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
