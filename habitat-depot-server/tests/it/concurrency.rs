//! Many parallel uploads and downloads, distinct and identical idents: no answer beyond the
//! documented ones, no corrupt download.

use reqwest::StatusCode;

use super::support::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn parallel_uploads_and_downloads_see_only_whole_packages() {
    let depot = TestDepot::start().await;
    let token = depot.user("alice").await;
    depot.origin(&token, "par").await;
    let keys = origin_keys(depot.dir.path(), "par");
    depot
        .state
        .metadata
        .add_public_key(
            &"par".parse().unwrap(),
            keys.secret.name().revision(),
            &keys.public_text,
        )
        .await
        .unwrap();

    let idents: Vec<String> = (0..8)
        .map(|i| format!("par/app{i}/1.0.{i}/20240101000000"))
        .collect();
    let files: Vec<Vec<u8>> = idents
        .iter()
        .map(|ident| std::fs::read(artifact(depot.dir.path(), ident, &[], &keys.secret)).unwrap())
        .collect();
    // One package present from the start, downloaded all along.
    let base = &idents[0];
    assert_eq!(
        upload(&depot, Some(&token), base, &write_tmp(&depot, &files[0]))
            .await
            .status(),
        StatusCode::CREATED
    );

    let mut tasks = Vec::new();
    // Every ident uploaded twice at once (identical bytes), while downloads run.
    for round in 0..2 {
        for (ident, bytes) in idents.iter().zip(&files) {
            let (url, token, ident, bytes) = (
                depot.url.clone(),
                token.clone(),
                ident.clone(),
                bytes.clone(),
            );
            tasks.push(tokio::spawn(async move {
                let response = reqwest::Client::new()
                    .post(format!("{url}/depot/pkgs/{ident}"))
                    .bearer_auth(&token)
                    .body(bytes)
                    .send()
                    .await
                    .unwrap();
                (format!("upload {ident} #{round}"), response.status(), None)
            }));
        }
    }
    for i in 0..24 {
        let (url, ident) = (depot.url.clone(), idents[i % idents.len()].clone());
        tasks.push(tokio::spawn(async move {
            let response = reqwest::get(format!("{url}/depot/pkgs/{ident}/download"))
                .await
                .unwrap();
            let status = response.status();
            let body = response.bytes().await.unwrap().to_vec();
            (format!("download {ident}"), status, Some((ident, body)))
        }));
    }
    let mut created = std::collections::HashMap::new();
    for task in tasks {
        let (what, status, download) = task.await.unwrap();
        assert!(
            [
                StatusCode::OK,
                StatusCode::CREATED,
                StatusCode::CONFLICT,
                StatusCode::NOT_FOUND
            ]
            .contains(&status),
            "{what}: {status}"
        );
        if status == StatusCode::CREATED {
            *created
                .entry(what.split(" #").next().unwrap().to_owned())
                .or_insert(0) += 1;
        }
        if let Some((ident, body)) = download.filter(|_| status == StatusCode::OK) {
            let index = idents.iter().position(|i| *i == ident).unwrap();
            assert!(
                body == files[index],
                "{what}: the download differs from the upload"
            );
        }
    }
    // Each ident was created exactly once overall (the base before the race: 0 here).
    for ident in &idents[1..] {
        assert_eq!(
            created.get(&format!("upload {ident}")),
            Some(&1),
            "{ident}: {created:?}"
        );
    }
    assert_eq!(created.get(&format!("upload {base}")), None);
    // Afterwards every package downloads whole.
    for (ident, bytes) in idents.iter().zip(&files) {
        let raw = depot
            .get(&format!("/depot/pkgs/{ident}/download"), None)
            .await
            .bytes()
            .await
            .unwrap();
        assert!(raw[..] == bytes[..], "{ident}");
    }
}

fn write_tmp(depot: &TestDepot, bytes: &[u8]) -> std::path::PathBuf {
    let path = depot.dir.path().join("base.hart");
    std::fs::write(&path, bytes).unwrap();
    path
}
