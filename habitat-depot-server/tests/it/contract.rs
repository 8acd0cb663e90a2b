//! The contract with the stock Habitat `hab` 2.x client: for every route one of its depot
//! commands calls, the status it takes for success and the JSON it decodes (field names and
//! JSON types), as its API client declares them. A real depot is driven through the same
//! requests, in the order the commands send them; a change that would make the stock client
//! fail to decode an answer, or take a success for an error, fails here.
//!
//! The shapes below are the stock client's, not ours: our answers may carry more fields, never
//! fewer, and never another type.

use std::path::PathBuf;

use reqwest::header::{CONTENT_LENGTH, HeaderMap};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use super::support::*;

const OK: StatusCode = StatusCode::OK;
const CREATED: StatusCode = StatusCode::CREATED;
const PARTIAL: StatusCode = StatusCode::PARTIAL_CONTENT;

/// A JSON type the stock client decodes.
#[derive(Clone, Copy, Debug)]
enum Shape {
    /// A string.
    Str,
    /// A string holding a `u64` (its ids, read with `FromStr`).
    U64Str,
    /// `null`, absent, or a string (`Option<String>`).
    OptStr,
    /// A string `YYYY-MM-DDThh:mm:ss[.fff…]`: chrono's `NaiveDateTime` with
    /// `%Y-%m-%dT%H:%M:%S%.f`, which refuses anything after it ("trailing input").
    NaiveTime,
    /// `true` or `false`.
    Bool,
    /// An integer that fits an `isize`.
    Int,
    /// A non-negative integer that fits a `u32`.
    U32,
    /// An array of this shape.
    List(&'static Shape),
    /// An object with at least these fields (an absent field is allowed only for `OptStr`).
    Obj(&'static [(&'static str, Shape)]),
}

use Shape::*;

/// `PackageIdent` of the stock client's core: version and release are optional.
const IDENT: Shape = Obj(&[
    ("origin", Str),
    ("name", Str),
    ("version", OptStr),
    ("release", OptStr),
]);
/// The stock client's `Package` (what install, download and upload read).
const PACKAGE: Shape = Obj(&[
    ("ident", IDENT),
    ("checksum", Str),
    ("manifest", Str),
    ("deps", List(&IDENT)),
    ("tdeps", List(&IDENT)),
    ("exposes", List(&U32)),
    ("config", Str),
]);
/// `PackageResults<PackageIdent>` of `hab pkg search`.
const SEARCH_PAGE: Shape = Obj(&[
    ("range_start", Int),
    ("range_end", Int),
    ("total_count", Int),
    ("data", List(&IDENT)),
]);
/// `OriginInfoResponse` of `hab origin info`.
const ORIGIN_INFO: Shape = Obj(&[
    ("default_package_visibility", Str),
    ("name", Str),
    ("owner_id", U64Str),
    ("owner_account", Str),
    ("private_key_name", OptStr),
]);
/// `OriginInvitation` of `hab origin invitations list|pending`.
const INVITATION: Shape = Obj(&[
    ("id", U64Str),
    ("account_id", U64Str),
    ("account_name", Str),
    ("created_at", NaiveTime),
    ("ignored", Bool),
    ("origin", Str),
    ("owner_id", U64Str),
    ("updated_at", Str),
]);
/// `UserOriginInvitationsResponse`.
const USER_INVITATIONS: Shape = List(&INVITATION);
/// `PendingOriginInvitationsResponse`.
const PENDING_INVITATIONS: Shape = Obj(&[("origin", Str), ("invitations", List(&INVITATION))]);
/// `Vec<OriginChannelWithPromotion>` of `hab pkg channels`.
const PACKAGE_CHANNELS: Shape = List(&Obj(&[
    ("name", Str),
    ("created_at", Str),
    ("promoted_at", Str),
]));
/// `Vec<OriginChannelIdent>` of `hab bldr channel list` and of install's hints.
const CHANNELS: Shape = List(&Obj(&[("name", Str)]));
/// `Vec<OriginKeyIdent>` of `hab origin key download ORIGIN`.
const KEYS: Shape = List(&Obj(&[
    ("origin", Str),
    ("revision", Str),
    ("location", Str),
]));
/// `OriginMemberRoleResponse` of `hab origin rbac show`.
const ROLE: Shape = Obj(&[("role", Str)]);
/// `ReverseDependencies`.
const RDEPS: Shape = Obj(&[("origin", Str), ("name", Str), ("rdeps", List(&Str))]);

/// Whether `text` is `YYYY-MM-DDThh:mm:ss` with an optional `.digits`, and nothing else.
fn is_naive_time(text: &str) -> bool {
    let (main, fraction) = match text.split_once('.') {
        Some((main, fraction)) => (main, Some(fraction)),
        None => (text, None),
    };
    let pattern = "dddd-dd-ddTdd:dd:dd";
    main.len() == pattern.len()
        && main.chars().zip(pattern.chars()).all(|(c, p)| match p {
            'd' => c.is_ascii_digit(),
            _ => c == p,
        })
        && fraction.is_none_or(|f| !f.is_empty() && f.chars().all(|c| c.is_ascii_digit()))
}

/// Checks `value` against `shape`; `at` names the place for the message.
fn check(value: &Value, shape: Shape, at: &str, faults: &mut Vec<String>) {
    let mut fault = |what: &str| faults.push(format!("{at}: expected {what}, got {value}"));
    match shape {
        Str => {
            if !value.is_string() {
                fault("a string");
            }
        }
        U64Str => {
            if value.as_str().is_none_or(|s| s.parse::<u64>().is_err()) {
                fault("a string of a u64");
            }
        }
        OptStr => {
            if !(value.is_null() || value.is_string()) {
                fault("null or a string");
            }
        }
        NaiveTime => {
            if !value.as_str().is_some_and(is_naive_time) {
                fault("a time without an offset (YYYY-MM-DDThh:mm:ss[.f])");
            }
        }
        Bool => {
            if !value.is_boolean() {
                fault("a boolean");
            }
        }
        Int => {
            if value.as_i64().is_none_or(|n| isize::try_from(n).is_err()) {
                fault("an integer");
            }
        }
        U32 => {
            if value.as_u64().is_none_or(|n| u32::try_from(n).is_err()) {
                fault("an integer of a u32");
            }
        }
        List(item) => match value.as_array() {
            None => fault("an array"),
            Some(items) => {
                for (i, v) in items.iter().enumerate() {
                    check(v, *item, &format!("{at}[{i}]"), faults);
                }
            }
        },
        Obj(fields) => match value.as_object() {
            None => fault("an object"),
            Some(object) => {
                for (name, field) in fields {
                    let at = format!("{at}.{name}");
                    match object.get(*name) {
                        Some(v) => check(v, *field, &at, faults),
                        None if matches!(field, OptStr) => {}
                        None => faults.push(format!("{at}: missing")),
                    }
                }
            }
        },
    }
}

/// Panics unless `value` has `shape`, naming every fault.
#[track_caller]
fn assert_shape(value: &Value, shape: Shape, what: &str) {
    let mut faults = Vec::new();
    check(value, shape, what, &mut faults);
    assert!(faults.is_empty(), "{}\nin {value}", faults.join("\n"));
}

/// The depot, the origin `acme` owned by alice, her signing key, and bob, an account.
struct Stock {
    depot: TestDepot,
    alice: String,
    bob: String,
    keys: OriginKeys,
}

impl Stock {
    async fn new() -> Self {
        let depot = TestDepot::start().await;
        let alice = depot.user("alice").await;
        let bob = depot.user("bob").await;
        let keys = origin_keys(&depot.scratch("keys"), "acme");
        Self {
            depot,
            alice,
            bob,
            keys,
        }
    }

    /// Sends what the stock client sends (a bearer token when it has one), checks the status
    /// and returns the answer's headers and JSON body (`Null` when empty, a string when not
    /// JSON).
    async fn send(
        &self,
        method: Method,
        path: &str,
        token: Option<&str>,
        body: Option<Vec<u8>>,
        expected: StatusCode,
    ) -> (HeaderMap, Value) {
        let mut request = self.depot.request(method.clone(), path, token);
        if let Some(body) = body {
            request = request.body(body);
        }
        let response = request.send().await.unwrap();
        let status = response.status();
        let headers = response.headers().clone();
        let text = response.text().await.unwrap();
        assert_eq!(status, expected, "{method} {path}: {text}");
        // Bodies the stock client does not read (the upload's plain text) stay text.
        let body = if text.is_empty() {
            Value::Null
        } else {
            serde_json::from_str(&text).unwrap_or(Value::String(text))
        };
        (headers, body)
    }

    async fn json(&self, method: Method, path: &str, token: Option<&str>, ok: StatusCode) -> Value {
        self.send(method, path, token, None, ok).await.1
    }

    /// A signed artifact of `ident` with these TDEPS.
    fn artifact(&self, ident: &str, tdeps: &[&str]) -> PathBuf {
        artifact(&self.depot.scratch("out"), ident, tdeps, &self.keys.secret)
    }

    /// `hab pkg upload`: the public key first, the check in `unstable`, then the upload with
    /// `checksum`, `target` and `forced` as the stock client sends them.
    async fn upload(&self, ident: &str, tdeps: &[&str]) {
        let name = self.keys.secret.name();
        let key = format!("/depot/origins/acme/keys/{}", name.revision());
        let token = Some(self.alice.as_str());
        let request = self.depot.request(Method::POST, &key, token);
        let body = self.keys.public_text.clone();
        let status = request.body(body).send().await.unwrap().status();
        // 200 or 201 on the first upload; 409 once the key is there, which it skips.
        assert!(
            [OK, CREATED, StatusCode::CONFLICT].contains(&status),
            "key upload: {status}"
        );
        let (o, rest) = ident.split_once('/').unwrap();
        let check = format!("/depot/channels/{o}/unstable/pkgs/{rest}?target=x86_64-linux");
        self.send(Method::GET, &check, token, None, NOT_FOUND).await;
        let hart = self.artifact(ident, tdeps);
        let bytes = std::fs::read(&hart).unwrap();
        let checksum = habitat_core::Blake2bHash::digest(&bytes).to_string();
        let path =
            format!("/depot/pkgs/{ident}?checksum={checksum}&target=x86_64-linux&forced=false");
        self.send(Method::POST, &path, token, Some(bytes), CREATED)
            .await;
        self.send(Method::GET, &check, token, None, OK).await;
    }
}

#[tokio::test]
async fn origin_commands_get_the_answers_the_stock_client_decodes() {
    let s = Stock::new().await;
    let (alice, bob) = (Some(s.alice.as_str()), Some(s.bob.as_str()));

    // `hab origin create`: 201; 409 again, which it reports as skipped.
    let create = json!({"name": "acme"}).to_string().into_bytes();
    s.send(
        Method::POST,
        "/depot/origins",
        alice,
        Some(create.clone()),
        CREATED,
    )
    .await;
    s.send(
        Method::POST,
        "/depot/origins",
        alice,
        Some(create),
        StatusCode::CONFLICT,
    )
    .await;

    // `hab origin info`: without a secret key, `private_key_name` is null.
    let info = s.json(Method::GET, "/depot/origins/acme", alice, OK).await;
    assert_shape(&info, ORIGIN_INFO, "origin info");
    assert_eq!(info["owner_account"], "alice");
    assert_eq!(info["private_key_name"], Value::Null);

    // `hab origin key upload --secret`, then info names the key.
    let revision = s.keys.secret.name().revision().to_owned();
    let secret = s.keys.secret.to_file_string().into_bytes();
    let path = format!("/depot/origins/acme/secret_keys/{revision}");
    s.send(Method::POST, &path, alice, Some(secret), OK).await;
    let info = s.json(Method::GET, "/depot/origins/acme", alice, OK).await;
    assert_shape(&info, ORIGIN_INFO, "origin info");
    assert_eq!(info["private_key_name"], format!("acme-{revision}"));
    // `hab origin key download --secret`: 200 and the file's name in `X-Filename`.
    let latest = "/depot/origins/acme/secret_keys/latest";
    let (headers, _) = s.send(Method::GET, latest, alice, None, OK).await;
    let filename = headers.get("x-filename").unwrap().to_str().unwrap();
    assert_eq!(filename, format!("acme-{revision}.sig.key"));
    let alice_id = info["owner_id"].clone();

    // `hab origin invitations send`: 201.
    let invite = "/depot/origins/acme/users/bob/invitations";
    s.send(Method::POST, invite, alice, None, CREATED).await;
    // `… pending ORIGIN` and `… list` (the invitee's).
    let pending = s
        .json(Method::GET, "/depot/origins/acme/invitations", alice, OK)
        .await;
    assert_shape(&pending, PENDING_INVITATIONS, "pending invitations");
    let mine = s.json(Method::GET, "/user/invitations", bob, OK).await;
    assert_shape(&mine, USER_INVITATIONS, "user invitations");
    let invitation = &mine[0];
    assert_eq!(invitation["account_name"], "bob");
    assert_eq!(invitation["owner_id"], alice_id);
    assert_eq!(invitation["ignored"], false);
    let id = invitation["id"].as_str().unwrap().to_owned();

    // `… accept` by the invitee: 204; rescind of an unknown id: 404.
    let accept = format!("/depot/origins/acme/invitations/{id}");
    s.send(Method::PUT, &accept, bob, None, NO_CONTENT).await;
    s.send(Method::DELETE, &accept, alice, None, NOT_FOUND)
        .await;
    // `… ignore` and `… rescind` of a second invitation: 204 each.
    let carol = s.depot.user("carol").await;
    let dave = s.depot.user("dave").await;
    for (account, token, verb) in [("carol", &carol, "ignore"), ("dave", &dave, "rescind")] {
        let path = format!("/depot/origins/acme/users/{account}/invitations");
        s.send(Method::POST, &path, alice, None, CREATED).await;
        let mine = s
            .json(Method::GET, "/user/invitations", Some(token), OK)
            .await;
        assert_shape(&mine, USER_INVITATIONS, "user invitations");
        let path = format!(
            "/depot/origins/acme/invitations/{}",
            mine[0]["id"].as_str().unwrap()
        );
        match verb {
            "ignore" => {
                let path = format!("{path}/ignore");
                s.send(Method::PUT, &path, Some(token), None, NO_CONTENT)
                    .await;
            }
            _ => {
                s.send(Method::DELETE, &path, alice, None, NO_CONTENT).await;
            }
        }
    }

    // `hab origin rbac show` (200 and `{role}`) and `set` (`?role=`, 204).
    let role = "/depot/origins/acme/users/bob/role";
    assert_shape(&s.json(Method::GET, role, alice, OK).await, ROLE, "role");
    let set = format!("{role}?role=administrator");
    s.send(Method::PUT, &set, alice, None, NO_CONTENT).await;
    assert_eq!(
        s.json(Method::GET, role, alice, OK).await["role"],
        "administrator"
    );

    // `hab origin transfer`: 204; 403 to a non-member, 422 to oneself, 404 to nobody, each of
    // which it explains.
    s.send(
        Method::POST,
        "/depot/origins/acme/transfer/carol",
        alice,
        None,
        FORBIDDEN,
    )
    .await;
    s.send(
        Method::POST,
        "/depot/origins/acme/transfer/alice",
        alice,
        None,
        UNPROCESSABLE,
    )
    .await;
    s.send(
        Method::POST,
        "/depot/origins/acme/transfer/ghost",
        alice,
        None,
        NOT_FOUND,
    )
    .await;
    s.send(
        Method::POST,
        "/depot/origins/acme/transfer/alice",
        bob,
        None,
        FORBIDDEN,
    )
    .await;
    s.send(
        Method::POST,
        "/depot/origins/acme/transfer/bob",
        alice,
        None,
        NO_CONTENT,
    )
    .await;
    let info = s.json(Method::GET, "/depot/origins/acme", None, OK).await;
    assert_shape(&info, ORIGIN_INFO, "origin info");
    assert_eq!(info["owner_account"], "bob");
    let alice_role = "/depot/origins/acme/users/alice/role";
    assert_eq!(
        s.json(Method::GET, alice_role, bob, OK).await["role"],
        "maintainer"
    );

    // `hab origin depart`: 403 for the owner, 422 for a non-member, 204 for a member.
    let depart = "/depot/origins/acme/depart";
    s.send(Method::POST, depart, bob, None, FORBIDDEN).await;
    s.send(Method::POST, depart, Some(&carol), None, UNPROCESSABLE)
        .await;
    s.send(Method::POST, depart, alice, None, NO_CONTENT).await;
    s.send(Method::GET, alice_role, bob, None, NOT_FOUND).await;

    // `hab origin key download --encryption`: a client error (no retries) that says why.
    let (_, body) = s
        .send(
            Method::GET,
            "/depot/origins/acme/encryption_key",
            bob,
            None,
            NOT_FOUND,
        )
        .await;
    assert_error(&body, "no_secrets");
    assert_message_contains(&body, "origin secrets");

    // `hab origin delete`: 204 once empty.
    s.send(Method::DELETE, "/depot/origins/acme", bob, None, NO_CONTENT)
        .await;
    s.send(Method::GET, "/depot/origins/acme", bob, None, NOT_FOUND)
        .await;
}

#[tokio::test]
async fn package_and_channel_commands_get_the_answers_the_stock_client_decodes() {
    let s = Stock::new().await;
    let alice = Some(s.alice.as_str());
    s.depot.origin(&s.alice, "acme").await;
    // `hab pkg bulkupload` checks the origin first: 200.
    s.send(Method::GET, "/depot/origins/acme", alice, None, OK)
        .await;

    let lib = "acme/lib/1.0.0/20240101000000";
    let app = "acme/app/1.0.0/20240101000000";
    s.upload(lib, &[]).await;
    s.upload(app, &[lib]).await;

    // `hab origin key download ORIGIN`: the list, then each key file with `X-Filename`.
    let keys = s
        .json(Method::GET, "/depot/origins/acme/keys", None, OK)
        .await;
    assert_shape(&keys, KEYS, "keys");
    let revision = keys[0]["revision"].as_str().unwrap();
    let (headers, _) = s
        .send(
            Method::GET,
            &format!("/depot/origins/acme/keys/{revision}"),
            None,
            None,
            OK,
        )
        .await;
    assert!(headers.contains_key("x-filename"));

    // `hab pkg install` / `download`: latest in a channel, then the release, then the file.
    let latest = "/depot/channels/acme/unstable/pkgs/app/latest?target=x86_64-linux";
    let package = s.json(Method::GET, latest, None, OK).await;
    assert_shape(&package, PACKAGE, "latest package");
    assert_eq!(package["tdeps"][0]["name"], "lib");
    let release = "/depot/channels/acme/unstable/pkgs/app/1.0.0/20240101000000?target=x86_64-linux"
        .to_owned();
    assert_shape(
        &s.json(Method::GET, &release, None, OK).await,
        PACKAGE,
        "package",
    );
    let download = format!("/depot/pkgs/{app}/download?target=x86_64-linux");
    let response = s.depot.get(&download, None).await;
    assert_eq!(response.status(), OK);
    assert!(response.headers().contains_key("x-filename"));
    assert!(response.headers().contains_key(CONTENT_LENGTH));
    // Install's hint when nothing is found: the origin's channels.
    let channels = s.json(Method::GET, "/depot/channels/acme", None, OK).await;
    assert_shape(&channels, CHANNELS, "channels");

    // `hab pkg search`: 200 (or 206 while more follow), distinct identifiers.
    let response = s
        .depot
        .get("/depot/pkgs/search/acme?range=0&distinct=true", None)
        .await;
    assert!([OK, PARTIAL].contains(&response.status()));
    let page: Value = response.json().await.unwrap();
    assert_shape(&page, SEARCH_PAGE, "search");
    assert_eq!(page["total_count"], 2);

    // `hab pkg promote`, then `hab pkg channels`.
    let promote =
        "/depot/channels/acme/stable/pkgs/lib/1.0.0/20240101000000/promote?target=x86_64-linux"
            .to_owned();
    s.send(Method::PUT, &promote, alice, None, OK).await;
    let path = format!("/depot/pkgs/{lib}/channels?target=x86_64-linux");
    let channels = s.json(Method::GET, &path, None, OK).await;
    assert_shape(&channels, PACKAGE_CHANNELS, "package channels");
    let names: Vec<&str> = channels
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["stable", "unstable"]);
    // `hab pkg demote`: 200.
    let demote = promote.replace("/promote", "/demote");
    s.send(Method::PUT, &demote, alice, None, OK).await;

    // Reverse dependencies.
    let rdeps = s
        .json(
            Method::GET,
            "/rdeps/acme/lib?target=x86_64-linux",
            alice,
            OK,
        )
        .await;
    assert_shape(&rdeps, RDEPS, "rdeps");

    // `hab bldr channel create` (201), `list`, `promote` and `demote` (bulk, 200).
    s.send(
        Method::POST,
        "/depot/channels/acme/beta",
        alice,
        None,
        CREATED,
    )
    .await;
    let bulk = "/depot/channels/acme/unstable/pkgs/promote?channel=beta";
    s.send(Method::PUT, bulk, alice, None, OK).await;
    let in_beta = s
        .json(Method::GET, "/depot/channels/acme/beta/pkgs", None, OK)
        .await;
    assert_eq!(in_beta["total_count"], 2);
    let bulk = "/depot/channels/acme/unstable/pkgs/demote?channel=beta";
    s.send(Method::PUT, bulk, alice, None, OK).await;
    let in_beta = s
        .json(Method::GET, "/depot/channels/acme/beta/pkgs", None, OK)
        .await;
    assert_eq!(in_beta["total_count"], 0);
    // `hab bldr channel destroy`: 200, nothing else.
    s.send(Method::DELETE, "/depot/channels/acme/beta", alice, None, OK)
        .await;

    // `hab pkg delete`: 422 (which it explains) while something depends on the package or it
    // is in another channel than `unstable`; then 204.
    let delete = format!("/depot/pkgs/{lib}?target=x86_64-linux");
    s.send(Method::DELETE, &delete, alice, None, UNPROCESSABLE)
        .await;
    let app_delete = format!("/depot/pkgs/{app}?target=x86_64-linux");
    let app_stable =
        "/depot/channels/acme/stable/pkgs/app/1.0.0/20240101000000/promote?target=x86_64-linux"
            .to_owned();
    s.send(Method::PUT, &app_stable, alice, None, OK).await;
    s.send(Method::DELETE, &app_delete, alice, None, UNPROCESSABLE)
        .await;
    s.send(
        Method::PUT,
        &app_stable.replace("/promote", "/demote"),
        alice,
        None,
        OK,
    )
    .await;
    s.send(Method::DELETE, &app_delete, alice, None, NO_CONTENT)
        .await;
    s.send(Method::DELETE, &delete, alice, None, NO_CONTENT)
        .await;
    s.send(Method::DELETE, &delete, alice, None, NOT_FOUND)
        .await;
}

/// The answers that broke the stock client before are refused by the shapes, so that the
/// tests above would have caught them.
#[test]
fn the_shapes_refuse_what_broke_the_stock_client() {
    let faults = |value: Value, shape: Shape| {
        let mut faults = Vec::new();
        check(&value, shape, "answer", &mut faults);
        faults
    };
    // `hab origin info`: "error decoding response body" (no owner_id).
    let origin = json!({"name": "acme", "owner": "alice", "default_package_visibility": "public",
        "created_at": "2026-11-24T05:17:25Z"});
    assert!(!faults(origin, ORIGIN_INFO).is_empty());
    // An owner id as a number is not the string the client parses.
    let numeric = json!({"name": "acme", "owner_id": 1, "owner_account": "alice",
        "default_package_visibility": "public"});
    assert_eq!(
        faults(numeric, ORIGIN_INFO),
        ["answer.owner_id: expected a string of a u64, got 1"]
    );
    // `hab origin invitations list`: "trailing input" (an offset after the time).
    let invitation = json!({"id": "1", "account_id": "2", "account_name": "bob",
        "created_at": "2026-11-24T05:17:25Z", "ignored": false, "origin": "acme",
        "owner_id": "1", "updated_at": "2026-11-24T05:17:25"});
    assert_eq!(faults(json!([invitation]), USER_INVITATIONS).len(), 1);
    // `hab pkg channels`: "missing field `created_at`".
    let channels = json!([{"name": "stable", "promoted_at": "2026-11-24T05:17:25Z"}]);
    assert_eq!(
        faults(channels, PACKAGE_CHANNELS),
        ["answer[0].created_at: missing"]
    );
    // Times the invitation shape takes, and some it does not.
    for good in ["2026-11-24T05:17:25", "2026-11-24T05:17:25.925373"] {
        assert!(is_naive_time(good), "{good}");
    }
    for bad in [
        "2026-11-24T05:17:25Z",
        "2026-11-24T05:17:25+00:00",
        "2026-11-24",
        "2026-11-24T05:17:25.",
    ] {
        assert!(!is_naive_time(bad), "{bad}");
    }
}
