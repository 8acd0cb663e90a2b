//! The PostgreSQL metadata store against the embedded one: the same answer to every method,
//! migrations safe when several processes start at once, uniqueness decided by the database,
//! and dumps that move between the two stores. Skipped (passing) without PostgreSQL: see
//! `habitat_test_support::postgres`.

use habitat_core::{Blake2bHash, ChannelName, OriginName};
use habitat_depot_server::store::postgres::PostgresStore;
use habitat_depot_server::store::sqlite::SqliteStore;
use habitat_depot_server::store::{
    Dump, MetadataStore, MirroredManifest, Package, PackageFilter, Page, StoreError, Visibility,
};
use habitat_test_support::postgres::{connect, database};
use time::macros::datetime;

mod exercise;
mod normal;

use exercise::exercise;

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
        size: 1234,
        manifest: format!("# {ident}\n\nünïcode manifest"),
        config: "port = 80\n".into(),
        created_at: datetime!(2020-01-02 03:04:05.5 UTC),
        ..super::support::package_row(ident)
    }
}

const ALL: Page = Page {
    offset: 0,
    limit: 100,
};
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
        Err(StoreError::Invalid(message)) => assert!(message.contains("newer"), "{message}"),
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

#[tokio::test]
async fn text_postgresql_cannot_hold_is_refused_not_a_server_error() {
    let Some((store, _)) = postgres(1).await else {
        return;
    };
    let alice = store.create_account("alice", None).await.unwrap();
    store
        .create_origin(&origin("nul"), alice.id, Visibility::Public)
        .await
        .unwrap();
    let mut odd = package("nul/app/1.0.0/20240101000000");
    odd.manifest = "a\0b".into();
    match store.insert_package(&odd).await {
        Err(StoreError::Refused(message)) => assert!(message.contains("NUL"), "{message}"),
        other => panic!("{other:?}"),
    }
    odd.manifest = "ab".into();
    store.insert_package(&odd).await.unwrap();
}

#[tokio::test]
async fn a_database_failure_keeps_its_sqlstate_for_the_log() {
    let Some((store, url)) = postgres(1).await else {
        return;
    };
    let admin = connect(&url).await;
    admin.batch_execute("DROP TABLE audit").await.unwrap();
    let error = store.dump().await.unwrap_err();
    assert!(matches!(error, StoreError::Backend { .. }), "{error:?}");
    let logged = habitat_depot_server::error::Chain(&error).to_string();
    // 42P01: undefined_table; the server's own message follows.
    assert!(logged.contains("SQLSTATE 42P01"), "{logged}");
    assert!(logged.contains("\"audit\" does not exist"), "{logged}");
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

/// Ends every other connection to the database at `url`, as a PostgreSQL restart does: the
/// pool's connections are dead from then on.
async fn terminate_other_backends(url: &str) -> u64 {
    let admin = connect(url).await;
    let ended = admin
        .query(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity \
             WHERE datname = current_database() AND pid <> pg_backend_pid()",
            &[],
        )
        .await
        .unwrap();
    ended.len() as u64
}

#[tokio::test]
async fn the_first_request_after_the_connections_die_succeeds() {
    let Some((store, url)) = postgres(4).await else {
        return;
    };
    store.create_account("alice", None).await.unwrap();
    for round in 0..5 {
        // Several connections in the pool, all idle.
        let reads = (0..4).map(|_| store.accounts());
        for read in futures_util::future::join_all(reads).await {
            assert_eq!(read.unwrap().len(), 1);
        }
        assert!(terminate_other_backends(&url).await > 0, "round {round}");
        // At once, before anything else notices: each dead connection is replaced, not used.
        let reads = (0..4).map(|_| store.accounts());
        for read in futures_util::future::join_all(reads).await {
            let accounts = read.unwrap_or_else(|e| panic!("round {round}: {e}"));
            assert_eq!(accounts.len(), 1);
        }
        store.account_by_name("alice").await.unwrap().unwrap();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_lock_is_held_by_one_process_at_a_time_and_freed_when_dropped() {
    let Some(url) = database().await else {
        return;
    };
    // Two "processes", each with its own pool.
    let one = PostgresStore::connect(&url, 2).await.unwrap();
    let other = PostgresStore::connect(&url, 2).await.unwrap();
    let held = one
        .try_lock("mirror a")
        .await
        .unwrap()
        .expect("a free lock");
    assert!(other.try_lock("mirror a").await.unwrap().is_none());
    assert!(other.try_lock("mirror b").await.unwrap().is_some());
    drop(held);
    // The lock goes with its session, which closes as the connection's task ends.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    while other.try_lock("mirror a").await.unwrap().is_none() {
        assert!(
            std::time::Instant::now() < deadline,
            "the lock was not freed"
        );
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    // The embedded store belongs to one process: always free.
    let dir = tempfile::tempdir().unwrap();
    let embedded = sqlite(&dir);
    let _first = embedded.try_lock("mirror a").await.unwrap().expect("free");
    assert!(embedded.try_lock("mirror a").await.unwrap().is_some());
}

#[tokio::test]
async fn a_mirrored_manifest_is_kept_and_replaced_in_both_stores() {
    let dir = tempfile::tempdir().unwrap();
    let embedded = sqlite(&dir);
    let postgres = postgres(2).await;
    let mut stores: Vec<&dyn MetadataStore> = vec![&embedded];
    if let Some((postgres, _)) = &postgres {
        stores.push(postgres);
    }
    for store in stores {
        let mut kept = MirroredManifest {
            upstream: "http://up/v1".into(),
            origin: origin("core"),
            channel: channel("stable"),
            target: habitat_core::PackageTarget::X86_64Linux,
            etag: "\"one\"".into(),
            packages: "{\"members\":[]}".into(),
        };
        async fn get(store: &dyn MetadataStore, m: &MirroredManifest) -> Option<MirroredManifest> {
            store
                .mirrored_manifest(&m.upstream, &m.origin, &m.channel, m.target)
                .await
                .unwrap()
        }
        assert_eq!(get(store, &kept).await, None);
        store.put_mirrored_manifest(&kept).await.unwrap();
        assert_eq!(get(store, &kept).await.as_ref(), Some(&kept));
        kept.etag = "\"two\"".into();
        kept.packages = "{}".into();
        store.put_mirrored_manifest(&kept).await.unwrap();
        assert_eq!(get(store, &kept).await.as_ref(), Some(&kept));
        let other = MirroredManifest {
            channel: channel("beta"),
            ..kept.clone()
        };
        assert_eq!(get(store, &other).await, None);
    }
}
