//! Packages end to end: upload, download, show, latest, listings, search, channels,
//! visibility, rdeps, delete; a view URL; resumed downloads.

use habitat_core::{
    Blake2bHash, ChannelName, FullyQualifiedIdent, OriginName, PackageIdent, PackageTarget,
};
use habitat_depot_client::{
    Client, Error, PackageListing, PageRequest, Progress, UploadOutcome, Visibility,
};

use super::support::*;

const X86_64: PackageTarget = PackageTarget::X86_64Linux;

/// An origin `acme` owned by `alice`, with its public key uploaded.
struct World {
    depot: TestDepot,
    alice: Client,
    key: habitat_core::SecretKey,
    acme: OriginName,
}

impl World {
    async fn new() -> Self {
        let depot = TestDepot::start().await;
        let alice = depot.client(Some(&depot.user("alice").await));
        let acme: OriginName = "acme".parse().unwrap();
        alice.create_origin(&acme, None).await.unwrap();
        let key = signing_key("acme");
        alice.upload_public_key(&key.public_key()).await.unwrap();
        Self {
            depot,
            alice,
            key,
            acme,
        }
    }

    /// Packs and uploads `ident`; returns its path and ident.
    async fn publish(
        &self,
        ident: &str,
        tdeps: &[&str],
    ) -> (std::path::PathBuf, FullyQualifiedIdent) {
        let work = self.depot.scratch("work");
        let hart = artifact(&work, ident, tdeps, &self.key, 4096, "a");
        let ident: FullyQualifiedIdent = ident.parse().unwrap();
        let outcome = self
            .alice
            .upload(&hart, &ident, X86_64, None, false, |_| {})
            .await
            .unwrap();
        assert_eq!(outcome, UploadOutcome::Created);
        (hart, ident)
    }
}

fn ident(text: &str) -> PackageIdent {
    text.parse().unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn upload_download_and_show() {
    let w = World::new().await;
    let work = w.depot.scratch("work");
    let hart = artifact(
        &work,
        "acme/web/1.0.0/20240101000000",
        &[],
        &w.key,
        1536 << 10,
        "a",
    );
    let size = std::fs::metadata(&hart).unwrap().len();
    let checksum = Blake2bHash::of_file(&hart).unwrap();
    let web: FullyQualifiedIdent = "acme/web/1.0.0/20240101000000".parse().unwrap();

    // Upload, with progress.
    let mut seen = Vec::new();
    let outcome = w
        .alice
        .upload(&hart, &web, X86_64, Some(checksum), false, |p| seen.push(p))
        .await
        .unwrap();
    assert_eq!(outcome, UploadOutcome::Created);
    assert_progress(&seen, size);

    // The same file again: skipped, not sent; forced: the depot accepts the identical file.
    let mut calls = 0;
    let again = w
        .alice
        .upload(&hart, &web, X86_64, None, false, |_| calls += 1)
        .await
        .unwrap();
    assert_eq!((again, calls), (UploadOutcome::AlreadyPresent, 0));
    let forced = w
        .alice
        .upload(&hart, &web, X86_64, None, true, |_| {})
        .await
        .unwrap();
    assert_eq!(forced, UploadOutcome::Created);

    // Another file under the same ident: 409, published artifacts are immutable.
    let other = artifact(
        &work,
        "acme/web/1.0.0/20240101000000",
        &[],
        &w.key,
        1024,
        "b",
    );
    let err = w
        .alice
        .upload(&other, &web, X86_64, None, false, |_| {})
        .await
        .unwrap_err();
    assert!(err.is_conflict(), "{err}");
    assert!(err.to_string().contains("immutable"), "{err}");
    // Forced, the depot refuses it before reading it; the transfer is cut off, and the client
    // asks the depot why.
    let err = w
        .alice
        .upload(&other, &web, X86_64, None, true, |_| {})
        .await
        .unwrap_err();
    assert!(err.is_conflict(), "{err}");
    assert!(err.to_string().contains("forced upload"), "{err}");

    // Refused before the body is read, for want of a role or a token: the depot's answer, not
    // a broken connection.
    let bob = w.depot.client(Some(&w.depot.user("bob").await));
    let big: FullyQualifiedIdent = "acme/big/1.0.0/20240101000000".parse().unwrap();
    let big_hart = artifact(&work, &big.to_string(), &[], &w.key, 6 << 20, "a");
    for _ in 0..3 {
        let err = bob
            .upload(&big_hart, &big, X86_64, None, false, |_| {})
            .await
            .unwrap_err();
        assert_eq!(err.status(), Some(403), "{err}");
        assert!(err.to_string().contains("needs role `member`"), "{err}");
        let err = w
            .depot
            .client(None)
            .upload(&big_hart, &big, X86_64, None, false, |_| {})
            .await
            .unwrap_err();
        assert!(err.is_unauthorized(), "{err}");
    }

    // Show.
    let anonymous = w.depot.client(None);
    let package = anonymous.package(&web, X86_64).await.unwrap();
    assert_eq!(package.ident, web);
    assert_eq!(package.target, X86_64);
    assert_eq!(package.checksum, checksum);
    assert_eq!(package.size, size);
    assert_eq!(
        package.manifest.trim_end(),
        "# acme/web/1.0.0/20240101000000"
    );
    assert_eq!(package.exposes, vec![8080]);
    assert!(package.is_a_service);
    assert_eq!(package.visibility, Visibility::Public);
    assert_eq!(package.channels, vec![ChannelName::unstable()]);
    assert_eq!(package.owner.as_deref(), Some("alice"));
    assert!(package.created_at.is_some());
    assert!(package.deps.is_empty() && package.tdeps.is_empty());

    // Download: byte-identical, named by X-Filename, progress increasing.
    let dest = w.depot.scratch("downloads");
    let mut seen = Vec::new();
    let file = anonymous
        .download(&web, X86_64, None, &dest, |p| seen.push(p))
        .await
        .unwrap();
    assert_eq!(file.path, dest.join(web.archive_name(X86_64)));
    assert_eq!(
        std::fs::read(&file.path).unwrap(),
        std::fs::read(&hart).unwrap()
    );
    assert_eq!(
        (file.size, file.checksum, file.resumed_from),
        (size, checksum, 0)
    );
    assert_progress(&seen, size);
    let leftovers: Vec<_> = std::fs::read_dir(&dest).unwrap().collect();
    assert_eq!(leftovers.len(), 1, "{leftovers:?}");

    // From a channel: only once it is there.
    let stable = ChannelName::stable();
    let err = anonymous
        .download(&web, X86_64, Some(&stable), &dest, |_| {})
        .await
        .unwrap_err();
    assert!(err.is_not_found(), "{err}");
    w.alice.promote(&web, X86_64, &stable).await.unwrap();
    let from_stable = anonymous
        .download(
            &web,
            X86_64,
            Some(&stable),
            &w.depot.scratch("stable"),
            |_| {},
        )
        .await
        .unwrap();
    assert_eq!(from_stable.checksum, checksum);

    // Unknown packages and targets.
    let missing: FullyQualifiedIdent = "acme/web/9.9.9/20240101000000".parse().unwrap();
    let err = anonymous.package(&missing, X86_64).await.unwrap_err();
    assert!(err.is_not_found(), "{err}");
    assert_eq!(err.code(), Some("not_found"));
    let err = anonymous
        .package(&web, PackageTarget::Aarch64Linux)
        .await
        .unwrap_err();
    assert!(err.is_not_found(), "{err}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn upload_needs_the_public_key_and_a_role() {
    let depot = TestDepot::start().await;
    let alice = depot.client(Some(&depot.user("alice").await));
    let bob = depot.client(Some(&depot.user("bob").await));
    alice
        .create_origin(&"acme".parse().unwrap(), None)
        .await
        .unwrap();
    let key = signing_key("acme");
    let hart = artifact(
        &depot.scratch("w"),
        "acme/app/1/20240101000000",
        &[],
        &key,
        0,
        "a",
    );
    let ident: FullyQualifiedIdent = "acme/app/1/20240101000000".parse().unwrap();

    let err = alice
        .upload(&hart, &ident, X86_64, None, false, |_| {})
        .await
        .unwrap_err();
    assert_eq!(err.status(), Some(422), "{err}");
    assert_eq!(err.code(), Some("unknown_signing_key"));
    assert!(
        err.to_string().contains("hab origin key upload acme"),
        "{err}"
    );

    let err = bob
        .upload(&hart, &ident, X86_64, None, false, |_| {})
        .await
        .unwrap_err();
    assert_eq!(err.status(), Some(403), "{err}");

    let missing = depot.scratch("w").join("missing.hart");
    let err = alice
        .upload(&missing, &ident, X86_64, None, false, |_| {})
        .await
        .unwrap_err();
    let Error::Io { path, .. } = &err else {
        panic!("{err:?}")
    };
    assert_eq!(path, &missing);
    assert!(err.to_string().contains("missing.hart"), "{err}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn latest_channels_listings_and_search() {
    let w = World::new().await;
    let (_, old) = w.publish("acme/db/1.2.0/20240101000000", &[]).await;
    let (_, new) = w.publish("acme/db/1.10.0/20240102000000", &[]).await;
    let (_, app) = w
        .publish(
            "acme/app/0.1.0/20240103000000",
            &["acme/db/1.10.0/20240102000000"],
        )
        .await;
    let anonymous = w.depot.client(None);
    let stable = ChannelName::stable();

    // Latest: version ordering, per version, per channel.
    let latest = anonymous
        .latest(&ident("acme/db"), X86_64, None)
        .await
        .unwrap();
    assert_eq!(latest.ident, new);
    let latest = anonymous
        .latest(&ident("acme/db/1.2.0"), X86_64, None)
        .await
        .unwrap();
    assert_eq!(latest.ident, old);
    let err = anonymous
        .latest(&ident("acme/db"), X86_64, Some(&stable))
        .await
        .unwrap_err();
    assert!(err.is_not_found(), "{err}");
    assert!(err.to_string().contains("in channel `stable`"), "{err}");

    // Promote the old one: it is the latest in stable; demote it: gone again.
    w.alice.promote(&old, X86_64, &stable).await.unwrap();
    w.alice.promote(&old, X86_64, &stable).await.unwrap();
    let latest = anonymous
        .latest(&ident("acme/db"), X86_64, Some(&stable))
        .await
        .unwrap();
    assert_eq!(latest.ident, old);
    assert_eq!(latest.channels.len(), 2);
    let exact = anonymous
        .latest(old.as_ident(), X86_64, Some(&stable))
        .await
        .unwrap();
    assert_eq!(exact.ident, old);
    let channels = anonymous.package_channels(&old, X86_64).await.unwrap();
    let names: Vec<&str> = channels.iter().map(|c| c.name.as_str()).collect();
    assert_eq!(names.len(), 2, "{names:?}");
    assert!(
        names.contains(&"stable") && names.contains(&"unstable"),
        "{names:?}"
    );
    assert!(channels.iter().all(|c| c.promoted_at.is_some()));

    // A view URL names the channel.
    let view = Client::builder(
        format!("{}/depot/views/stable", w.depot.url)
            .parse()
            .unwrap(),
    )
    .no_proxy()
    .build()
    .unwrap();
    assert_eq!(view.url().api_root(), w.depot.depot_url().api_root());
    let channel = view.channel_or(&ChannelName::unstable()).clone();
    assert_eq!(channel, stable);
    let via_view = view
        .latest(&ident("acme/db"), X86_64, Some(&channel))
        .await
        .unwrap();
    assert_eq!(via_view.ident, old);
    let views = anonymous.views().await.unwrap();
    assert!(views.contains(&stable), "{views:?}");

    w.alice.demote(&old, X86_64, &stable).await.unwrap();
    let err = w.alice.demote(&old, X86_64, &stable).await.unwrap_err();
    assert!(err.is_not_found(), "{err}");
    let err = w
        .alice
        .demote(&old, X86_64, &ChannelName::unstable())
        .await
        .unwrap_err();
    assert_eq!(err.status(), Some(403), "{err}");
    let err = anonymous.promote(&old, X86_64, &stable).await.unwrap_err();
    assert!(err.is_unauthorized(), "{err}");

    // Channels.
    let beta: ChannelName = "beta".parse().unwrap();
    w.alice.create_channel(&w.acme, &beta).await.unwrap();
    let err = w.alice.create_channel(&w.acme, &beta).await.unwrap_err();
    assert!(err.is_conflict(), "{err}");
    let channels = anonymous.channels(&w.acme).await.unwrap();
    let names: Vec<&str> = channels.iter().map(ChannelName::as_str).collect();
    assert_eq!(names, ["beta", "stable", "unstable"]);
    w.alice.promote(&app, X86_64, &beta).await.unwrap();
    let in_beta = anonymous
        .all_packages(&PackageListing::origin(w.acme.clone()).in_channel(beta.clone()))
        .await
        .unwrap();
    assert_eq!(in_beta.len(), 1);
    assert_eq!(in_beta[0].ident, app);
    w.alice.demote(&app, X86_64, &beta).await.unwrap();
    w.alice.delete_channel(&w.acme, &beta).await.unwrap();
    let err = w.alice.delete_channel(&w.acme, &stable).await.unwrap_err();
    assert_eq!(err.status(), Some(403), "{err}");

    // Listings, one page at a time and all of them.
    let everything = PackageListing::origin(w.acme.clone());
    let first = anonymous
        .packages(&everything, PageRequest::at(0).with_limit(2))
        .await
        .unwrap();
    assert_eq!(
        (first.range_start, first.range_end, first.total_count),
        (0, 1, 3)
    );
    assert_eq!(first.next_start(), Some(2));
    let second = anonymous
        .packages(&everything, PageRequest::at(2).with_limit(2))
        .await
        .unwrap();
    assert_eq!(second.data.len(), 1);
    assert_eq!(second.next_start(), None);
    let all = anonymous.all_packages(&everything).await.unwrap();
    assert_eq!(all.len(), 3);
    assert!(all.iter().all(|p| p.target == X86_64));
    let dbs = anonymous
        .all_packages(&PackageListing::ident(&ident("acme/db")).for_target(X86_64))
        .await
        .unwrap();
    let dbs: Vec<&FullyQualifiedIdent> = dbs.iter().map(|p| &p.ident).collect();
    assert_eq!(dbs, [&new, &old], "newest version first");
    let one_version = anonymous
        .all_packages(&PackageListing::ident(&ident("acme/db/1.2.0")))
        .await
        .unwrap();
    assert_eq!(one_version.len(), 1);
    assert_eq!(one_version[0].ident, old);
    let in_unstable = anonymous
        .all_packages(&PackageListing::ident(&ident("acme/db")).in_channel(ChannelName::unstable()))
        .await
        .unwrap();
    assert_eq!(in_unstable.len(), 2);
    let err = anonymous
        .packages(
            &PackageListing::origin("nowhere".parse().unwrap()),
            PageRequest::default(),
        )
        .await
        .unwrap_err();
    assert!(err.is_not_found(), "{err}");

    // Search.
    let found = anonymous
        .search("db", PageRequest::default())
        .await
        .unwrap();
    assert_eq!(found.total_count, 2);
    assert_eq!(anonymous.search_all("acme").await.unwrap().len(), 3);
    let distinct = anonymous
        .search_distinct("acme", PageRequest::default())
        .await
        .unwrap();
    let names: Vec<String> = distinct.data.iter().map(ToString::to_string).collect();
    assert_eq!(names.len(), 2, "{names:?}");
    assert!(names.contains(&"acme/db".to_owned()), "{names:?}");
    let exact = anonymous.search_all("acme/db").await.unwrap();
    assert_eq!(exact.len(), 2, "{exact:?}");
    let err = anonymous
        .search(" ", PageRequest::default())
        .await
        .unwrap_err();
    assert_eq!(err.status(), Some(422), "{err}");

    // Versions and reverse dependencies.
    let versions = anonymous
        .versions(&w.acme, &"db".parse().unwrap())
        .await
        .unwrap();
    let listed: Vec<(&str, u64, &str)> = versions
        .iter()
        .map(|v| (v.version.as_str(), v.release_count, v.latest.as_str()))
        .collect();
    assert_eq!(
        listed,
        [
            ("1.10.0", 1, "20240102000000"),
            ("1.2.0", 1, "20240101000000")
        ]
    );
    assert_eq!(versions[0].platforms, vec![X86_64]);
    let rdeps = anonymous
        .rdeps(&w.acme, &"db".parse().unwrap(), X86_64)
        .await
        .unwrap();
    assert_eq!(rdeps, vec![ident("acme/app")]);

    // Visibility: a private package does not exist for outsiders.
    let private = w
        .alice
        .set_visibility(&app, X86_64, Visibility::Private)
        .await
        .unwrap();
    assert_eq!(private.visibility, Visibility::Private);
    assert!(
        anonymous
            .package(&app, X86_64)
            .await
            .unwrap_err()
            .is_not_found()
    );
    assert_eq!(w.alice.package(&app, X86_64).await.unwrap().ident, app);
    w.alice
        .set_visibility(&app, X86_64, Visibility::Public)
        .await
        .unwrap();
    assert_eq!(anonymous.package(&app, X86_64).await.unwrap().ident, app);

    // Delete: not while another package depends on it (422, as on Builder).
    let err = w.alice.delete_package(&new, X86_64).await.unwrap_err();
    assert_eq!(err.status(), Some(422), "{err}");
    assert_eq!(err.code(), Some("not_deletable"), "{err}");
    w.alice.delete_package(&app, X86_64).await.unwrap();
    w.alice.delete_package(&new, X86_64).await.unwrap();
    assert!(
        anonymous
            .package(&new, X86_64)
            .await
            .unwrap_err()
            .is_not_found()
    );
    let err = anonymous.delete_package(&old, X86_64).await.unwrap_err();
    assert!(err.is_unauthorized(), "{err}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn downloads_resume_from_a_partial_file() {
    let w = World::new().await;
    let work = w.depot.scratch("work");
    let web: FullyQualifiedIdent = "acme/web/2.0.0/20240101000000".parse().unwrap();
    let hart = artifact(&work, &web.to_string(), &[], &w.key, 512 << 10, "a");
    w.alice
        .upload(&hart, &web, X86_64, None, false, |_| {})
        .await
        .unwrap();
    let bytes = std::fs::read(&hart).unwrap();
    let name = web.archive_name(X86_64);

    // Half of it is on disk from an interrupted download: only the rest is fetched.
    let dest = w.depot.scratch("resume");
    let half = bytes.len() / 2;
    std::fs::write(dest.join(format!(".{name}.part")), &bytes[..half]).unwrap();
    let mut seen = Vec::<Progress>::new();
    let file = w
        .alice
        .download(&web, X86_64, None, &dest, |p| seen.push(p))
        .await
        .unwrap();
    assert_eq!(file.resumed_from, half as u64);
    assert_eq!(std::fs::read(&file.path).unwrap(), bytes);
    assert_eq!(seen[0].done, half as u64);
    assert_progress(&seen, bytes.len() as u64);
    assert!(!dest.join(format!(".{name}.part")).exists());

    // A stale partial file (other bytes): the checksum catches it, and it starts over.
    let dest = w.depot.scratch("stale");
    std::fs::write(dest.join(format!(".{name}.part")), vec![0u8; half]).unwrap();
    let file = w
        .alice
        .download(&web, X86_64, None, &dest, |_| {})
        .await
        .unwrap();
    assert_eq!(file.resumed_from, 0);
    assert_eq!(std::fs::read(&file.path).unwrap(), bytes);

    // A partial file as long as the artifact: the depot cannot satisfy the range.
    let dest = w.depot.scratch("too-long");
    let mut longer = bytes.clone();
    longer.extend_from_slice(b"junk");
    std::fs::write(dest.join(format!(".{name}.part")), &longer).unwrap();
    let file = w
        .alice
        .download(&web, X86_64, None, &dest, |_| {})
        .await
        .unwrap();
    assert_eq!(
        (file.resumed_from, std::fs::read(&file.path).unwrap()),
        (0, bytes)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn whole_channels_are_promoted_and_demoted() {
    let w = World::new().await;
    let (_, web) = w.publish("acme/web/1.0.0/20240101000000", &[]).await;
    let (_, db) = w.publish("acme/db/1.0.0/20240101000000", &[]).await;
    let (unstable, stable): (ChannelName, ChannelName) =
        ("unstable".parse().unwrap(), "stable".parse().unwrap());
    let beta: ChannelName = "beta".parse().unwrap();
    w.alice.create_channel(&w.acme, &beta).await.unwrap();
    w.alice.promote(&web, X86_64, &stable).await.unwrap();

    let promoted = w.alice.promote_channel(&w.acme, &unstable, &beta).await;
    assert_eq!(promoted.unwrap(), 2);
    assert_eq!(
        w.alice
            .promote_channel(&w.acme, &unstable, &beta)
            .await
            .unwrap(),
        0
    );
    let demoted = w.alice.demote_channel(&w.acme, &stable, &beta).await;
    assert_eq!(demoted.unwrap(), 1);
    let channels = w.alice.package_channels(&db, X86_64).await.unwrap();
    let names: Vec<_> = channels.iter().map(|c| c.name.as_str()).collect();
    assert_eq!(names, ["beta", "unstable"]);

    let err = w
        .alice
        .demote_channel(&w.acme, &beta, &unstable)
        .await
        .unwrap_err();
    assert_eq!(err.status(), Some(403), "{err}");
    let nope: ChannelName = "nope".parse().unwrap();
    let err = w
        .alice
        .promote_channel(&w.acme, &nope, &beta)
        .await
        .unwrap_err();
    assert!(err.is_not_found(), "{err}");
    let anonymous = w.depot.client(None);
    let err = anonymous
        .promote_channel(&w.acme, &unstable, &beta)
        .await
        .unwrap_err();
    assert!(err.is_unauthorized(), "{err}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_channel_manifest_lists_every_member_with_an_etag() {
    use habitat_depot_client::ManifestAnswer;
    let w = World::new().await;
    let (_, db) = w.publish("acme/db/1.0.0/20240101000000", &[]).await;
    let (_, web) = w
        .publish(
            "acme/web/1.0.0/20240101000000",
            &["acme/db/1.0.0/20240101000000"],
        )
        .await;
    let (_, secret) = w.publish("acme/secret/1.0.0/20240101000000", &[]).await;
    let stable: ChannelName = "stable".parse().unwrap();
    for ident in [&web, &secret] {
        w.alice.promote(ident, X86_64, &stable).await.unwrap();
    }
    w.alice
        .set_visibility(&secret, X86_64, Visibility::Private)
        .await
        .unwrap();

    let answer = w
        .alice
        .channel_manifest(&w.acme, &stable, X86_64, None)
        .await
        .unwrap();
    let ManifestAnswer::Changed { manifest, etag } = answer else {
        panic!("no manifest: {answer:?}");
    };
    let etag = etag.expect("an ETag");
    assert!(etag.starts_with('"') && etag.ends_with('"'), "{etag}");
    let members: Vec<_> = manifest.packages.iter().map(|p| p.ident.clone()).collect();
    assert_eq!(members, [secret.clone(), web.clone()]);
    let entry = &manifest.packages[1];
    assert_eq!(entry.tdeps, std::slice::from_ref(&db));
    assert_eq!(entry.target, X86_64);
    assert_eq!(entry.owner.as_deref(), Some("alice"));
    let package = w.alice.package(&web, X86_64).await.unwrap();
    assert_eq!(
        (entry.checksum, entry.size),
        (package.checksum, package.size)
    );

    // Unchanged: a 304 without a body; a promotion changes the manifest and its ETag.
    let again = w
        .alice
        .channel_manifest(&w.acme, &stable, X86_64, Some(&etag))
        .await
        .unwrap();
    assert_eq!(again, ManifestAnswer::Unchanged);
    w.alice.promote(&db, X86_64, &stable).await.unwrap();
    let ManifestAnswer::Changed {
        manifest,
        etag: changed,
    } = w
        .alice
        .channel_manifest(&w.acme, &stable, X86_64, Some(&etag))
        .await
        .unwrap()
    else {
        panic!("the manifest did not change");
    };
    assert_eq!(manifest.packages.len(), 3);
    assert_ne!(changed.as_deref(), Some(etag.as_str()));

    // Private members only for members of the origin; other targets are other manifests.
    let anonymous = w.depot.client(None);
    let ManifestAnswer::Changed { manifest, .. } = anonymous
        .channel_manifest(&w.acme, &stable, X86_64, None)
        .await
        .unwrap()
    else {
        panic!("no manifest");
    };
    let members: Vec<_> = manifest.packages.iter().map(|p| p.ident.clone()).collect();
    assert_eq!(members, [db, web]);
    let ManifestAnswer::Changed { manifest, .. } = anonymous
        .channel_manifest(&w.acme, &stable, PackageTarget::Aarch64Linux, None)
        .await
        .unwrap()
    else {
        panic!("no manifest");
    };
    assert!(manifest.packages.is_empty());

    let nope: ChannelName = "nope".parse().unwrap();
    let err = anonymous
        .channel_manifest(&w.acme, &nope, X86_64, None)
        .await
        .unwrap_err();
    assert!(err.is_not_found(), "{err}");
}
