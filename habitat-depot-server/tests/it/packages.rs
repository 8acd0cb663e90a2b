//! Packages: show, download, channels, delete, visibility, listings, latest, versions, search,
//! rdeps. Packages are seeded straight into the stores (`seed_package`), so these tests do not
//! depend on the upload route; the helpers here serve `channels.rs` too.

use std::path::{Path, PathBuf};

use habitat_core::artifact::checksum;
use habitat_core::keys::SecretKey;
use habitat_core::metadata::read_metadata;
use habitat_core::pack::{PackSpec, pack};
use habitat_core::{FullyQualifiedIdent, PackageTarget, UnpackLimits};
use habitat_depot_server::store::{Package, Role, Visibility};
use reqwest::{Method, Response, StatusCode};
use serde_json::{Value, json};

use super::support::*;

const OK: StatusCode = StatusCode::OK;
const PARTIAL: StatusCode = StatusCode::PARTIAL_CONTENT;
const NOT_FOUND: StatusCode = StatusCode::NOT_FOUND;
const AARCH64: PackageTarget = PackageTarget::Aarch64Linux;
const X86_64: PackageTarget = PackageTarget::X86_64Linux;

/// Stores an artifact and its package row directly, as a finished upload would: the artifact
/// (a copy in the temp directory, removed after: the file store moves the file it is given,
/// the S3 store copies it) first, then the row with its `unstable` membership. The visibility is
/// the origin's default; `owner` is the uploader's account name.
pub(super) async fn seed_package(depot: &TestDepot, owner: &str, hart: &Path) -> Package {
    let metadata = read_metadata(hart, &UnpackLimits::default()).unwrap();
    let checksum = checksum(hart).unwrap();
    let size = std::fs::metadata(hart).unwrap().len();
    let copy = depot.state.tmp_dir.join(format!("seed-{checksum}.hart"));
    std::fs::copy(hart, &copy).unwrap();
    depot.state.artifacts.put(&checksum, &copy).await.unwrap();
    match std::fs::remove_file(&copy) {
        Err(e) if e.kind() != std::io::ErrorKind::NotFound => panic!("{e}"),
        _ => {}
    }
    let store = &depot.state.metadata;
    let origin = store
        .origin(metadata.ident.origin())
        .await
        .unwrap()
        .unwrap();
    let package = Package::new(
        metadata,
        checksum,
        size,
        origin.default_package_visibility,
        owner.to_owned(),
    );
    store.insert_package(&package).await.unwrap()
}

/// Packs `ident` for `target` with these TDEPS (also its DEPS), signed by `key`; the package
/// has a MANIFEST, EXPOSES, default.toml and SVC_USER.
pub(super) fn pack_artifact(
    dir: &Path,
    ident: &str,
    target: PackageTarget,
    tdeps: &[&str],
    key: &SecretKey,
) -> PathBuf {
    let ident: FullyQualifiedIdent = ident.parse().unwrap();
    let src = dir.join(format!(
        "src-{}-{target}",
        ident.to_string().replace('/', "-")
    ));
    std::fs::create_dir_all(src.join("bin")).unwrap();
    std::fs::write(src.join("bin/run"), format!("#!/bin/sh\necho {ident}\n")).unwrap();
    std::fs::write(src.join("MANIFEST"), format!("# {ident}\n")).unwrap();
    std::fs::write(src.join("EXPOSES"), "8080 8443\n").unwrap();
    std::fs::write(src.join("default.toml"), "port = 8080\n").unwrap();
    std::fs::write(src.join("SVC_USER"), "hab\n").unwrap();
    let out = dir.join("out");
    std::fs::create_dir_all(&out).unwrap();
    let tdeps: Vec<FullyQualifiedIdent> = tdeps.iter().map(|t| t.parse().unwrap()).collect();
    let deps = tdeps.clone();
    let spec = PackSpec {
        ident,
        target,
        deps,
        tdeps,
    };
    pack(&src, &out, &spec, key).unwrap()
}

/// A depot with origin `acme` owned by `owner` (who is also the uploader of seeded packages),
/// and one account per kind of caller.
pub(super) struct World {
    pub depot: TestDepot,
    pub keys: OriginKeys,
    pub work: tempfile::TempDir,
    /// The origin's owner.
    pub owner: String,
    /// `mia`, maintainer of `acme`.
    pub maintainer: String,
    /// `mel`, member of `acme`.
    pub member: String,
    /// `rob`, readonly_member of `acme`.
    pub readonly: String,
    /// `otto`, no role in `acme`.
    pub outsider: String,
}

impl World {
    pub async fn new() -> Self {
        let depot = TestDepot::start().await;
        let owner = depot.user("owner").await;
        depot
            .create_origin("owner", "acme", Visibility::Public)
            .await;
        let work = tempfile::tempdir().unwrap();
        let keys = origin_keys(work.path(), "acme");
        let maintainer = depot.member("acme", "mia", Role::Maintainer, "owner").await;
        let member_token = depot.member("acme", "mel", Role::Member, "owner").await;
        let readonly = depot
            .member("acme", "rob", Role::ReadonlyMember, "owner")
            .await;
        let outsider = depot.user("otto").await;
        let member = member_token;
        Self {
            depot,
            keys,
            work,
            owner,
            maintainer,
            member,
            readonly,
            outsider,
        }
    }

    /// Seeds `ident` for x86_64-linux.
    pub async fn seed(&self, ident: &str) -> Package {
        self.seed_with(ident, X86_64, &[]).await
    }

    /// Seeds `ident` for `target` with these TDEPS.
    pub async fn seed_with(&self, ident: &str, target: PackageTarget, tdeps: &[&str]) -> Package {
        let hart = pack_artifact(self.work.path(), ident, target, tdeps, &self.keys.secret);
        seed_package(&self.depot, "owner", &hart).await
    }

    /// The .hart bytes of a seeded package, as packed.
    pub fn hart_bytes(&self, package: &Package) -> Vec<u8> {
        let name = package.ident.archive_name(package.target);
        std::fs::read(self.work.path().join("out").join(name)).unwrap()
    }

    /// `method path` with `token`: checks the status, returns the JSON body (Null if empty).
    pub async fn call(
        &self,
        method: Method,
        path: &str,
        token: Option<&str>,
        status: StatusCode,
    ) -> Value {
        send(self.depot.request(method, path, token), status).await
    }

    /// `GET path` anonymously: checks the status, returns the JSON body.
    pub async fn get(&self, path: &str, status: StatusCode) -> Value {
        self.call(Method::GET, path, None, status).await
    }

    /// `method path` as the maintainer: checks the status, returns the JSON body.
    pub async fn maintain(&self, method: Method, path: &str, status: StatusCode) -> Value {
        self.call(method, path, Some(&self.maintainer), status)
            .await
    }

    /// `GET path` with a `Range` header, anonymously.
    pub async fn get_range(&self, path: &str, range: &str) -> Response {
        let request = self
            .depot
            .request(Method::GET, path, None)
            .header("Range", range);
        request.send().await.unwrap()
    }

    /// The status of `method path` with `token`, whatever the body.
    pub async fn status(&self, method: Method, path: &str, token: Option<&str>) -> StatusCode {
        self.depot
            .request(method, path, token)
            .send()
            .await
            .unwrap()
            .status()
    }

    /// The ident of the package JSON at `path` (200 expected).
    pub async fn ident_at(&self, path: &str) -> String {
        ident_of(&self.get(path, OK).await["ident"])
    }

    /// Checks each `(path, ident)`: the package JSON at `path` is `ident`'s.
    pub async fn assert_latest(&self, cases: &[(&str, &str)]) {
        for (path, ident) in cases {
            assert_eq!(self.ident_at(path).await, *ident, "{path}");
        }
    }

    /// Seeds each of `idents` for x86_64-linux.
    pub async fn seed_all(&self, idents: &[&str]) {
        for ident in idents {
            self.seed(ident).await;
        }
    }

    /// Sends `method path` as every caller below maintainer and checks each is refused: no
    /// token and a bad token 401, a non-member and roles below maintainer 403.
    pub async fn assert_denied_below_maintainer(&self, method: Method, path: &str) {
        let members = [
            (Role::ReadonlyMember, self.readonly.as_str()),
            (Role::Member, self.member.as_str()),
        ];
        let call = Call::new(method, path);
        let calls = refusals(&call, Role::Maintainer, &self.outsider, &members);
        self.depot.check(&calls).await;
    }
}

/// `origin/name/version/release` of an ident object (or of package JSON's `ident`).
#[track_caller]
pub(super) fn ident_of(value: &Value) -> String {
    let part = |k: &str| {
        value[k]
            .as_str()
            .unwrap_or_else(|| panic!("no {k} in {value}"))
            .to_owned()
    };
    let (origin, name) = (part("origin"), part("name"));
    format!("{origin}/{name}/{}/{}", part("version"), part("release"))
}

/// The idents of a page's `data`.
#[track_caller]
pub(super) fn idents_of(page: &Value) -> Vec<String> {
    page["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(ident_of)
        .collect()
}

/// `(range_start, range_end, total_count)` of a page.
#[track_caller]
pub(super) fn window(page: &Value) -> (u64, u64, u64) {
    let number = |k: &str| {
        page[k]
            .as_u64()
            .unwrap_or_else(|| panic!("no {k} in {page}"))
    };
    (
        number("range_start"),
        number("range_end"),
        number("total_count"),
    )
}

/// Download headers of docs/api.md for a package file name.
#[track_caller]
pub(super) fn assert_download_headers(response: &Response, filename: &str, package: &Package) {
    let h = response.headers();
    assert_eq!(h["content-type"], "application/octet-stream");
    assert_eq!(h["x-filename"], filename);
    let disposition = format!("attachment; filename=\"{filename}\"");
    assert_eq!(h["content-disposition"], disposition.as_str());
    assert_eq!(h["etag"], format!("\"{}\"", package.checksum).as_str());
}

#[tokio::test]
async fn package_json_has_every_documented_field() {
    let w = World::new().await;
    let dep = w.seed("acme/libfoo/1.0.0/20240101000000").await;
    let ident = "acme/nginx/1.25.3/20240102000000";
    let package = w
        .seed_with(ident, X86_64, &["acme/libfoo/1.0.0/20240101000000"])
        .await;
    let path = format!("/depot/pkgs/{ident}");
    let body = w.get(&path, OK).await;
    let expected_ident = json!({"origin": "acme", "name": "nginx", "version": "1.25.3", "release": "20240102000000"});
    assert_eq!(body["ident"], expected_ident);
    assert_eq!(body["target"], "x86_64-linux");
    assert_eq!(body["checksum"], package.checksum.to_string());
    assert_eq!(body["checksum"].as_str().unwrap().len(), 64);
    assert_eq!(body["manifest"], format!("# {ident}"));
    assert_eq!(body["config"], "port = 8080");
    assert_eq!(body["deps"], json!([dep.ident]));
    assert_eq!(body["tdeps"], json!([dep.ident]));
    assert_eq!(body["build_deps"], json!([]));
    assert_eq!(body["build_tdeps"], json!([]));
    assert_eq!(body["exposes"], json!([8080, 8443]));
    assert_eq!(body["visibility"], "public");
    assert_eq!(body["channels"], json!(["unstable"]));
    assert_eq!(body["size"], package.size);
    assert_eq!(body["is_a_service"], true);
    let created = body["created_at"].as_str().unwrap();
    time::OffsetDateTime::parse(created, &time::format_description::well_known::Rfc3339).unwrap();
    assert!(created.ends_with('Z'), "{created}");

    // ?target= picks the record; the default is x86_64-linux; an unknown target is 422.
    // Unknown packages and origins are 404.
    let bodies = w
        .depot
        .check(&[
            Call::get(format!("{path}?target=x86_64-linux")),
            Call::get(format!("{path}?target=aarch64-linux")).fails(NOT_FOUND, "not_found"),
            Call::get(format!("{path}?target=x86_64-plan9")).fails(UNPROCESSABLE, "invalid_target"),
            Call::get("/depot/pkgs/acme/nginx/1.25.3/20990101000000").fails(NOT_FOUND, "not_found"),
            Call::get("/depot/pkgs/nobody/nginx/1.25.3/20240102000000")
                .fails(NOT_FOUND, "not_found"),
        ])
        .await;
    assert_eq!(bodies[0], body);
}

#[tokio::test]
async fn invalid_path_and_query_values_are_422() {
    let w = World::new().await;
    w.seed("acme/nginx/1.0.0/20240101000000").await;
    for path in [
        "/depot/pkgs/Acme/nginx/1.0.0/20240101000000",
        "/depot/pkgs/acme/ngi%20nx/1.0.0/20240101000000",
        "/depot/pkgs/acme/nginx/1.0%200/20240101000000",
        "/depot/pkgs/acme/nginx/1.0.0/2024%2F01",
        "/depot/pkgs/acme/nginx/1.0.0/20240101000000/download?target=nope",
        "/depot/pkgs/Acme",
        "/depot/pkgs/acme/ngi%20nx",
        "/depot/pkgs/acme/nginx/1%0A0",
        "/depot/pkgs/acme/nginx/latest?target=nope",
        "/depot/pkgs/acme/nginx?target=nope",
        "/depot/pkgs/acme/nginx?range=abc",
        "/depot/pkgs/acme/nginx?limit=-1",
        "/depot/pkgs/search/nginx?distinct=maybe",
        "/depot/pkgs/search/nginx?range=-3",
        "/rdeps/acme/nginx?target=nope",
        "/rdeps/acme/ngi%20nx",
    ] {
        let body = w.get(path, StatusCode::UNPROCESSABLE_ENTITY).await;
        assert!(
            body["code"].as_str().unwrap().starts_with("invalid_"),
            "{path}: {body}"
        );
        assert!(
            body["message"].as_str().is_some_and(|m| !m.is_empty()),
            "{path}: {body}"
        );
    }
}

#[tokio::test]
async fn download_sends_exact_headers_and_resumes_with_range() {
    let w = World::new().await;
    let package = w.seed("acme/nginx/1.25.3/20240102000000").await;
    let bytes = w.hart_bytes(&package);
    let size = bytes.len();
    let path = "/depot/pkgs/acme/nginx/1.25.3/20240102000000/download";
    let filename = "acme-nginx-1.25.3-20240102000000-x86_64-linux.hart";
    let response = w.depot.get(path, None).await;
    assert_eq!(response.status(), OK);
    assert_download_headers(&response, filename, &package);
    assert_eq!(
        response.headers()["content-length"],
        size.to_string().as_str()
    );
    assert_eq!(response.bytes().await.unwrap().as_ref(), bytes.as_slice());

    // An interrupted download resumes: 206 with exactly the requested bytes.
    let response = w.get_range(path, "bytes=10-19").await;
    assert_eq!(response.status(), PARTIAL);
    assert_download_headers(&response, filename, &package);
    let h = response.headers();
    assert_eq!(h["content-range"], format!("bytes 10-19/{size}").as_str());
    assert_eq!(h["content-length"], "10");
    assert_eq!(response.bytes().await.unwrap().as_ref(), &bytes[10..20]);
    let response = w.get_range(path, "bytes=100-").await;
    assert_eq!(response.status(), PARTIAL);
    let range = format!("bytes 100-{}/{size}", size - 1);
    assert_eq!(response.headers()["content-range"], range.as_str());
    assert_eq!(response.bytes().await.unwrap().as_ref(), &bytes[100..]);
    let response = w.get_range(path, "bytes=-16").await;
    assert_eq!(response.status(), PARTIAL);
    assert_eq!(
        response.bytes().await.unwrap().as_ref(),
        &bytes[size - 16..]
    );

    // Past the end: 416 with the size.
    let response = w.get_range(path, &format!("bytes={size}-")).await;
    assert_eq!(response.status(), StatusCode::RANGE_NOT_SATISFIABLE);
    assert_eq!(
        response.headers()["content-range"],
        format!("bytes */{size}").as_str()
    );
    let body: Value = response.json().await.unwrap();
    assert_error(&body, "range_not_satisfiable");

    // A client holding the same checksum is told so.
    let etag = format!("\"{}\"", package.checksum);
    let request = w
        .depot
        .request(Method::GET, path, None)
        .header("If-None-Match", &etag);
    assert_eq!(
        request.send().await.unwrap().status(),
        StatusCode::NOT_MODIFIED
    );

    // Unknown target: 404 in JSON.
    let body = w
        .get(&format!("{path}?target=aarch64-linux"), NOT_FOUND)
        .await;
    assert_error(&body, "not_found");
}

#[tokio::test]
async fn latest_follows_the_version_ordering() {
    let w = World::new().await;
    w.seed_all(&[
        "acme/app/1.9/20240101000000",
        "acme/app/1.10/20240101000000",
        "acme/app/1.10/20230101000000",
        "acme/app/1.2.3-rc1/20250101000000",
        "acme/app/1.2.3/20240101000000",
        "acme/app/1.2.3/20240301000000",
        "acme/app/1.2.3-rc9/20260101000000",
    ])
    .await;
    // Another target has its own latest; a newer version of another package never counts.
    w.seed_with("acme/app/0.1/20270101000000", AARCH64, &[])
        .await;
    w.seed("acme/other/9.9/20240101000000").await;

    // 1.10 > 1.9 (numbers, not strings), and within 1.10 the newer release; 1.2.3 > 1.2.3-rc9
    // > 1.2.3-rc1, whatever the release dates.
    w.assert_latest(&[
        (
            "/depot/pkgs/acme/app/latest",
            "acme/app/1.10/20240101000000",
        ),
        (
            "/depot/pkgs/acme/app/latest?target=x86_64-linux",
            "acme/app/1.10/20240101000000",
        ),
        (
            "/depot/pkgs/acme/app/1.2.3/latest",
            "acme/app/1.2.3/20240301000000",
        ),
        (
            "/depot/pkgs/acme/app/1.9/latest",
            "acme/app/1.9/20240101000000",
        ),
        (
            "/depot/pkgs/acme/app/1.2.3-rc1/latest",
            "acme/app/1.2.3-rc1/20250101000000",
        ),
        (
            "/depot/pkgs/acme/app/latest?target=aarch64-linux",
            "acme/app/0.1/20270101000000",
        ),
    ])
    .await;
    // The listing agrees with latest: newest version first.
    let page = w.get("/depot/pkgs/acme/app?target=x86_64-linux", OK).await;
    assert_eq!(
        idents_of(&page),
        [
            "acme/app/1.10/20240101000000",
            "acme/app/1.10/20230101000000",
            "acme/app/1.9/20240101000000",
            "acme/app/1.2.3/20240301000000",
            "acme/app/1.2.3/20240101000000",
            "acme/app/1.2.3-rc9/20260101000000",
            "acme/app/1.2.3-rc1/20250101000000",
        ]
    );

    // Nothing for that version, name, target or origin: 404.
    for path in [
        "/depot/pkgs/acme/app/7.0/latest",
        "/depot/pkgs/acme/nothing/latest",
        "/depot/pkgs/acme/app/latest?target=x86_64-windows",
        "/depot/pkgs/nobody/app/latest",
    ] {
        assert_error(&w.get(path, NOT_FOUND).await, "not_found");
    }
}

#[tokio::test]
async fn listings_are_newest_first_and_paginated() {
    let w = World::new().await;
    w.seed_all(&[
        "acme/web/1.0.0/20240101000000",
        "acme/web/2.0.0/20240101000000",
        "acme/web/2.0.0/20240201000000",
        "acme/db/1.0.0/20240101000000",
        "acme/db/10.0.0/20240101000000",
    ])
    .await;
    w.seed_with("acme/web/3.0.0/20240101000000", AARCH64, &[])
        .await;

    // The whole origin, by name, newest version first; every target without ?target=.
    let page = w.get("/depot/pkgs/acme", OK).await;
    assert_eq!(
        idents_of(&page),
        [
            "acme/db/10.0.0/20240101000000",
            "acme/db/1.0.0/20240101000000",
            "acme/web/3.0.0/20240101000000",
            "acme/web/2.0.0/20240201000000",
            "acme/web/2.0.0/20240101000000",
            "acme/web/1.0.0/20240101000000",
        ]
    );
    assert_eq!(page["data"][2]["target"], "aarch64-linux");
    assert_eq!(window(&page), (0, 5, 6));

    // Pages: 206 while more remain, 200 on the last one.
    let page = w.get("/depot/pkgs/acme/web?limit=2", PARTIAL).await;
    let first = [
        "acme/web/3.0.0/20240101000000",
        "acme/web/2.0.0/20240201000000",
    ];
    assert_eq!(idents_of(&page), first);
    assert_eq!(window(&page), (0, 1, 4));
    let page = w.get("/depot/pkgs/acme/web?range=1&limit=2", PARTIAL).await;
    assert_eq!(window(&page), (1, 2, 4));
    let page = w.get("/depot/pkgs/acme/web?range=2&limit=2", OK).await;
    let last = [
        "acme/web/2.0.0/20240101000000",
        "acme/web/1.0.0/20240101000000",
    ];
    assert_eq!(idents_of(&page), last);
    assert_eq!(window(&page), (2, 3, 4));

    // One version; one target.
    let page = w.get("/depot/pkgs/acme/web/2.0.0", OK).await;
    let both = [
        "acme/web/2.0.0/20240201000000",
        "acme/web/2.0.0/20240101000000",
    ];
    assert_eq!(idents_of(&page), both);
    let page = w.get("/depot/pkgs/acme/web?target=aarch64-linux", OK).await;
    assert_eq!(idents_of(&page), ["acme/web/3.0.0/20240101000000"]);

    // Nothing there: an empty last page. An unknown origin: 404.
    let page = w.get("/depot/pkgs/acme/nothing", OK).await;
    assert_eq!(page["total_count"], 0);
    assert_eq!(page["data"], json!([]));
    assert_error(&w.get("/depot/pkgs/nobody", NOT_FOUND).await, "not_found");
}

#[tokio::test]
async fn versions_summarise_each_version_newest_first() {
    let w = World::new().await;
    w.seed_all(&[
        "acme/web/1.9/20240101000000",
        "acme/web/1.10/20240101000000",
        "acme/web/1.10/20240301000000",
        "acme/web/1.10/20240201000000",
    ])
    .await;
    w.seed_with("acme/web/1.10/20240301000000", AARCH64, &[])
        .await;
    let body = w.get("/depot/pkgs/acme/web/versions", OK).await;
    assert_eq!(
        body,
        json!([
            {"origin": "acme", "name": "web", "version": "1.10", "release_count": 3,
             "latest": "20240301000000", "platforms": ["x86_64-linux", "aarch64-linux"]},
            {"origin": "acme", "name": "web", "version": "1.9", "release_count": 1,
             "latest": "20240101000000", "platforms": ["x86_64-linux"]},
        ])
    );
    assert_eq!(
        w.get("/depot/pkgs/acme/nothing/versions", OK).await,
        json!([])
    );
    w.get("/depot/pkgs/nobody/web/versions", NOT_FOUND).await;
}

#[tokio::test]
async fn search_matches_origin_name_and_both() {
    let w = World::new().await;
    w.seed_all(&[
        "acme/nginx/1.0.0/20240101000000",
        "acme/nginx/1.1.0/20240101000000",
        "acme/nginx-extras/1.0.0/20240101000000",
        "acme/redis/5.0.0/20240101000000",
    ])
    .await;
    let page = w.get("/depot/pkgs/search/ngin", OK).await;
    let nginx = [
        "acme/nginx/1.1.0/20240101000000",
        "acme/nginx/1.0.0/20240101000000",
        "acme/nginx-extras/1.0.0/20240101000000",
    ];
    assert_eq!(idents_of(&page), nginx);
    // By origin, and by origin/name (with the slash escaped or not).
    assert_eq!(w.get("/depot/pkgs/search/acm", OK).await["total_count"], 4);
    let redis = ["acme/redis/5.0.0/20240101000000"];
    assert_eq!(
        idents_of(&w.get("/depot/pkgs/search/acme%2Fred", OK).await),
        redis
    );
    assert_eq!(
        idents_of(&w.get("/depot/pkgs/search/acme/red", OK).await),
        redis
    );
    // distinct: one origin/name each.
    let page = w.get("/depot/pkgs/search/nginx?distinct=true", OK).await;
    let distinct =
        json!([{"origin": "acme", "name": "nginx"}, {"origin": "acme", "name": "nginx-extras"}]);
    assert_eq!(page["data"], distinct);
    // Paginated.
    assert_eq!(
        window(&w.get("/depot/pkgs/search/acme?limit=3", PARTIAL).await),
        (0, 2, 4)
    );
    let page = w.get("/depot/pkgs/search/acme?range=3&limit=3", OK).await;
    assert_eq!(idents_of(&page), redis);
    assert_eq!(w.get("/depot/pkgs/search/zzz", OK).await["total_count"], 0);

    // A private newest release hides only itself, even with distinct.
    let newest = "/depot/pkgs/acme/nginx/1.1.0/20240101000000/private";
    w.maintain(Method::PATCH, newest, OK).await;
    let page = w.get("/depot/pkgs/search/nginx", OK).await;
    assert_eq!(idents_of(&page), [nginx[1], nginx[2]]);
    let page = w.get("/depot/pkgs/search/nginx?distinct=true", OK).await;
    assert_eq!(page["data"], distinct);
    let search = "/depot/pkgs/search/nginx";
    let page = w.call(Method::GET, search, Some(&w.readonly), OK).await;
    assert_eq!(page["total_count"], 3);
    let page = w.call(Method::GET, search, Some(&w.outsider), OK).await;
    assert_eq!(page["total_count"], 2);
}

#[tokio::test]
async fn rdeps_lists_packages_that_depend_on_any_version() {
    let w = World::new().await;
    w.seed("acme/libc/1.0.0/20240101000000").await;
    w.seed("acme/libc/2.0.0/20240101000000").await;
    let libc1 = "acme/libc/1.0.0/20240101000000";
    let (libc2, openssl) = (
        "acme/libc/2.0.0/20240101000000",
        "acme/openssl/3.0.0/20240101000000",
    );
    w.seed_with(openssl, X86_64, &[libc1]).await;
    w.seed_with("acme/nginx/1.0.0/20240101000000", X86_64, &[libc2, openssl])
        .await;
    w.seed_with(libc1, AARCH64, &[]).await;
    w.seed_with("acme/busybox/1.0.0/20240101000000", AARCH64, &[libc1])
        .await;

    let body = w.get("/rdeps/acme/libc", OK).await;
    let expected =
        json!({"origin": "acme", "name": "libc", "rdeps": ["acme/nginx", "acme/openssl"]});
    assert_eq!(body, expected);
    assert_eq!(
        w.get("/rdeps/acme/openssl", OK).await["rdeps"],
        json!(["acme/nginx"])
    );
    assert_eq!(w.get("/rdeps/acme/nginx", OK).await["rdeps"], json!([]));
    let body = w.get("/rdeps/acme/libc?target=aarch64-linux", OK).await;
    assert_eq!(body["rdeps"], json!(["acme/busybox"]));
    w.depot
        .check(
            &[
                "/rdeps/acme/nothing",
                "/rdeps/nobody/libc",
                "/rdeps/acme/nginx?target=aarch64-linux",
            ]
            .map(|path| Call::get(path).fails(NOT_FOUND, "not_found")),
        )
        .await;
}

#[tokio::test]
async fn package_channels_lists_memberships() {
    let w = World::new().await;
    w.seed("acme/web/1.0.0/20240101000000").await;
    let channels = "/depot/pkgs/acme/web/1.0.0/20240101000000/channels";
    let body = w.get(channels, OK).await;
    let list = body.as_array().unwrap();
    assert_eq!(list.len(), 1);
    assert_eq!(list[0]["name"], "unstable");
    assert!(list[0]["promoted_at"].as_str().unwrap().ends_with('Z'));
    let promote = "/depot/channels/acme/stable/pkgs/web/1.0.0/20240101000000/promote";
    w.maintain(Method::PUT, promote, OK).await;
    let bodies = w
        .depot
        .check(&[
            Call::get(channels),
            Call::get(format!("{channels}?target=aarch64-linux")).answers(NOT_FOUND),
            Call::get("/depot/pkgs/acme/web/1.0.0/20990101000000/channels").answers(NOT_FOUND),
        ])
        .await;
    let names: Vec<&str> = bodies[0]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["stable", "unstable"]);
}

#[tokio::test]
async fn private_packages_exist_only_for_members() {
    let w = World::new().await;
    let package = w.seed("acme/secret/1.0.0/20240101000000").await;
    let pkg = "/depot/pkgs/acme/secret/1.0.0/20240101000000";
    let body = w
        .maintain(Method::PATCH, &format!("{pkg}/private"), OK)
        .await;
    assert_eq!(body["visibility"], "private");
    let reads = [
        pkg.to_owned(),
        format!("{pkg}/download"),
        format!("{pkg}/channels"),
        "/depot/pkgs/acme/secret/latest".to_owned(),
        "/depot/pkgs/acme/secret/1.0.0/latest".to_owned(),
        "/rdeps/acme/secret".to_owned(),
        "/depot/channels/acme/unstable/pkgs/secret/latest".to_owned(),
        "/depot/channels/acme/unstable/pkgs/secret/1.0.0/20240101000000".to_owned(),
        "/depot/channels/acme/unstable/pkgs/secret/1.0.0/20240101000000/download".to_owned(),
        "/depot/views/unstable/pkgs/acme/secret/latest".to_owned(),
        "/depot/views/unstable/pkgs/acme/secret/1.0.0/20240101000000/download".to_owned(),
    ];
    let lists = [
        "/depot/pkgs/acme",
        "/depot/pkgs/acme/secret",
        "/depot/pkgs/acme/secret/1.0.0",
        "/depot/pkgs/search/secret",
        "/depot/channels/acme/unstable/pkgs",
        "/depot/channels/acme/unstable/pkgs/secret",
    ];
    // Anonymous callers and non-members: it does not exist.
    for token in [None, Some(w.outsider.as_str())] {
        for path in &reads {
            let body = w.call(Method::GET, path, token, NOT_FOUND).await;
            assert_error(&body, "not_found");
        }
        for path in lists {
            let page = w.call(Method::GET, path, token, OK).await;
            assert_eq!(page["total_count"], 0, "{path} as {token:?}: {page}");
        }
        let versions = "/depot/pkgs/acme/secret/versions";
        assert_eq!(w.call(Method::GET, versions, token, OK).await, json!([]));
    }
    // Every member, readonly_member included, sees it everywhere.
    for token in [w.readonly.as_str(), w.member.as_str(), w.owner.as_str()] {
        for path in &reads {
            assert_eq!(w.status(Method::GET, path, Some(token)).await, OK, "{path}");
        }
        for path in lists {
            let page = w.call(Method::GET, path, Some(token), OK).await;
            assert_eq!(page["total_count"], 1, "{path}: {page}");
        }
    }
    let response = w
        .depot
        .get(&format!("{pkg}/download"), Some(&w.readonly))
        .await;
    assert_eq!(
        response.bytes().await.unwrap().as_ref(),
        w.hart_bytes(&package).as_slice()
    );

    // Public again: everyone sees it.
    let body = w
        .maintain(Method::PATCH, &format!("{pkg}/public"), OK)
        .await;
    assert_eq!(body["visibility"], "public");
    w.get(pkg, OK).await;
}

#[tokio::test]
async fn visibility_needs_maintainer_and_a_refusal_changes_nothing() {
    let w = World::new().await;
    w.seed("acme/web/1.0.0/20240101000000").await;
    let pkg = "/depot/pkgs/acme/web/1.0.0/20240101000000";
    let (private, public) = (format!("{pkg}/private"), format!("{pkg}/public"));
    w.assert_denied_below_maintainer(Method::PATCH, &private)
        .await;
    assert_eq!(w.get(pkg, OK).await["visibility"], "public");

    assert_eq!(
        w.maintain(Method::PATCH, &private, OK).await["visibility"],
        "private"
    );
    // Setting it again is fine; the owner (above maintainer) may too.
    w.call(Method::PATCH, &private, Some(&w.owner), OK).await;

    w.assert_denied_below_maintainer(Method::PATCH, &public)
        .await;
    w.get(pkg, NOT_FOUND).await;
    w.maintain(Method::PATCH, &public, OK).await;
    w.get(pkg, OK).await;

    // Unknown package, unknown origin, invalid ident.
    let patch = |path| Call::new(Method::PATCH, path).as_(&w.maintainer);
    w.depot
        .check(&[
            patch("/depot/pkgs/acme/web/1.0.0/20990101000000/public").answers(NOT_FOUND),
            patch("/depot/pkgs/nobody/web/1.0.0/20240101000000/public").answers(NOT_FOUND),
            patch("/depot/pkgs/Acme/web/1.0.0/20240101000000/public").answers(UNPROCESSABLE),
        ])
        .await;
}

#[tokio::test]
async fn delete_needs_maintainer_and_a_refusal_changes_nothing() {
    let w = World::new().await;
    let package = w.seed("acme/web/1.0.0/20240101000000").await;
    let pkg = "/depot/pkgs/acme/web/1.0.0/20240101000000";
    w.assert_denied_below_maintainer(Method::DELETE, pkg).await;
    w.get(pkg, OK).await;
    let artifacts = &w.depot.state.artifacts;
    assert!(
        artifacts
            .open(&package.checksum, 0)
            .await
            .unwrap()
            .is_some()
    );

    // Another target of the same ident is another package.
    w.maintain(
        Method::DELETE,
        &format!("{pkg}?target=aarch64-linux"),
        NOT_FOUND,
    )
    .await;
    let body = w
        .maintain(Method::DELETE, pkg, StatusCode::NO_CONTENT)
        .await;
    assert_eq!(body, Value::Null);
    assert_error(&w.get(pkg, NOT_FOUND).await, "not_found");
    let artifact = artifacts.open(&package.checksum, 0).await.unwrap();
    assert!(artifact.is_none(), "the artifact goes with the row");
    assert_eq!(w.get("/depot/pkgs/acme/web", OK).await["total_count"], 0);
    // Gone is gone.
    w.maintain(Method::DELETE, pkg, NOT_FOUND).await;
}

#[tokio::test]
async fn delete_refuses_packages_in_stable_or_depended_on() {
    let w = World::new().await;
    let libc = "acme/libc/1.0.0/20240101000000";
    w.seed(libc).await;
    w.seed_with("acme/app/1.0.0/20240101000000", X86_64, &[libc])
        .await;
    w.seed("acme/tool/1.0.0/20240101000000").await;

    // 422, as on Builder: the stock `hab pkg delete` then says to demote the package and look
    // for reverse dependencies.
    let refused = StatusCode::UNPROCESSABLE_ENTITY;
    let body = w
        .maintain(Method::DELETE, &format!("/depot/pkgs/{libc}"), refused)
        .await;
    assert_error(&body, "not_deletable");
    assert!(
        body["message"]
            .as_str()
            .unwrap()
            .contains("acme/app/1.0.0/20240101000000"),
        "{body}"
    );

    let stable = "/depot/channels/acme/stable/pkgs/tool/1.0.0/20240101000000";
    w.maintain(Method::PUT, &format!("{stable}/promote"), OK)
        .await;
    let tool = "/depot/pkgs/acme/tool/1.0.0/20240101000000";
    let body = w.maintain(Method::DELETE, tool, refused).await;
    assert_error(&body, "not_deletable");
    assert!(
        body["message"].as_str().unwrap().contains("stable"),
        "{body}"
    );
    // Both are still whole.
    for pkg in [format!("/depot/pkgs/{libc}"), tool.to_owned()] {
        assert_eq!(
            w.status(Method::GET, &format!("{pkg}/download"), None)
                .await,
            OK
        );
    }
    // Once nothing holds them, they go.
    w.maintain(Method::PUT, &format!("{stable}/demote"), OK)
        .await;
    for pkg in [
        tool,
        "/depot/pkgs/acme/app/1.0.0/20240101000000",
        &format!("/depot/pkgs/{libc}"),
    ] {
        w.maintain(Method::DELETE, pkg, StatusCode::NO_CONTENT)
            .await;
    }
}

/// Static segments (`search`, `latest`, `versions`, `download`, `channels`) and parameters
/// share positions; every route must reach its own handler.
#[tokio::test]
async fn every_package_route_resolves_to_its_handler() {
    let w = World::new().await;
    let latest = "acme/latest/1.0.0/20240101000000";
    w.seed(latest).await;
    w.seed("acme/versions/2.0.0/20240101000000").await;
    // An origin named like a static segment is still listed.
    w.depot
        .create_origin("owner", "search", Visibility::Public)
        .await;
    let keys = origin_keys(w.work.path(), "search");
    let tool = "search/tool/1.0.0/20240101000000";
    let hart = pack_artifact(w.work.path(), tool, X86_64, &[], &keys.secret);
    seed_package(&w.depot, "owner", &hart).await;

    // A package named `latest` is listed by name; its latest is at `…/latest/latest`.
    assert_eq!(
        idents_of(&w.get("/depot/pkgs/acme/latest", OK).await),
        [latest]
    );
    assert_eq!(w.ident_at("/depot/pkgs/acme/latest/latest").await, latest);
    assert_eq!(
        w.get("/depot/pkgs/acme/latest/versions", OK).await[0]["version"],
        "1.0.0"
    );
    let versions = ["acme/versions/2.0.0/20240101000000"];
    assert_eq!(
        idents_of(&w.get("/depot/pkgs/acme/versions", OK).await),
        versions
    );
    assert_eq!(
        w.get("/depot/pkgs/acme/versions/versions", OK).await[0]["version"],
        "2.0.0"
    );
    assert_eq!(
        idents_of(&w.get("/depot/pkgs/acme/latest/1.0.0", OK).await),
        [latest]
    );
    assert_eq!(
        w.ident_at("/depot/pkgs/acme/latest/1.0.0/latest").await,
        latest
    );
    let pkg = format!("/depot/pkgs/{latest}");
    assert_eq!(w.get(&pkg, OK).await["target"], "x86_64-linux");
    assert_eq!(
        w.get(&format!("{pkg}/channels"), OK).await[0]["name"],
        "unstable"
    );
    let response = w.depot.get(&format!("{pkg}/download"), None).await;
    assert_eq!(response.status(), OK);
    assert_eq!(
        response.headers()["content-type"],
        "application/octet-stream"
    );
    assert_eq!(idents_of(&w.get("/depot/pkgs/search", OK).await), [tool]);
    assert_eq!(w.get("/depot/pkgs/search/tool", OK).await["total_count"], 1);
    assert_eq!(
        w.get("/depot/pkgs/search/versions", OK).await["total_count"],
        1
    );

    // The package path also takes the upload (another module's handler): POST is routed.
    let status = w
        .status(
            Method::POST,
            "/depot/pkgs/acme/web/1.0.0/20240101000000",
            None,
        )
        .await;
    let unrouted = [NOT_FOUND, StatusCode::METHOD_NOT_ALLOWED];
    assert!(!unrouted.contains(&status), "{status}");
    // The wrong method on a known path is 405, an unknown path a JSON 404.
    for (method, path) in [
        (Method::PUT, format!("{pkg}/download")),
        (Method::GET, format!("{pkg}/public")),
        (Method::DELETE, "/depot/pkgs/acme/latest/1.0.0".to_owned()),
    ] {
        let status = w.status(method.clone(), &path, Some(&w.maintainer)).await;
        assert_eq!(status, StatusCode::METHOD_NOT_ALLOWED, "{method} {path}");
    }
    assert_error(&w.get(&format!("{pkg}/x/y"), NOT_FOUND).await, "not_found");
}
