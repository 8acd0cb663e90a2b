//! Origins, members, invitations: every route with its statuses, and who may call it.

use habitat_core::{Blake2bHash, OriginName};
use habitat_depot_server::store::{Package, Role};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use super::support::*;

/// Origin `core` owned by alice, one account of each lower role, and an outsider.
pub struct Team {
    pub depot: TestDepot,
    pub owner: String,
    pub administrator: String,
    pub maintainer: String,
    pub member: String,
    pub readonly: String,
    pub outsider: String,
}

/// Every role below owner, lowest first, with its account name in [`Team`].
const LADDER: [(Role, &str); 4] = [
    (Role::ReadonlyMember, "rob"),
    (Role::Member, "mel"),
    (Role::Maintainer, "max"),
    (Role::Administrator, "ada"),
];

impl Team {
    pub async fn start() -> Self {
        let depot = TestDepot::start().await;
        let owner = depot.user("alice").await;
        depot.origin(&owner, "core").await;
        let mut tokens = Vec::new();
        for (role, name) in LADDER {
            tokens.push(depot.member("core", name, role, "alice").await);
        }
        let outsider = depot.user("otto").await;
        let [readonly, member, maintainer, administrator] = tokens.try_into().unwrap();
        Self {
            depot,
            owner,
            administrator,
            maintainer,
            member,
            readonly,
            outsider,
        }
    }

    /// The token of the account holding `role` in `core`.
    pub fn token(&self, role: Role) -> &str {
        match role {
            Role::ReadonlyMember => &self.readonly,
            Role::Member => &self.member,
            Role::Maintainer => &self.maintainer,
            Role::Administrator => &self.administrator,
            Role::Owner => &self.owner,
        }
    }

    /// Asserts that a route whose minimum role is `min` refuses `call`: no token and a bad
    /// token (401), an outsider and every role below `min` (403).
    pub async fn assert_denied(&self, call: Call<'_>, min: Role) {
        let members: Vec<(Role, &str)> = LADDER
            .iter()
            .map(|(role, _)| (*role, self.token(*role)))
            .collect();
        let calls = refusals(&call, min, &self.outsider, &members);
        self.depot.check(&calls).await;
    }
}

/// `{name: role}` of `core`'s members, read through the API as the owner.
async fn roles(team: &Team) -> Value {
    let body = send(
        team.depot
            .request(Method::GET, "/depot/origins/core/users", Some(&team.owner)),
        StatusCode::OK,
    )
    .await;
    let members = body["members"].as_array().unwrap();
    members
        .iter()
        .map(|m| (m["name"].as_str().unwrap().to_owned(), m["role"].clone()))
        .collect()
}

/// Account names with a pending invitation to `core`.
async fn pending(team: &Team) -> Vec<String> {
    let body = send(
        team.depot.request(
            Method::GET,
            "/depot/origins/core/invitations",
            Some(&team.owner),
        ),
        StatusCode::OK,
    )
    .await;
    assert_eq!(body["origin"], "core");
    body["invitations"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["account"].as_str().unwrap().to_owned())
        .collect()
}

#[tokio::test]
async fn creating_an_origin_makes_the_caller_owner_with_default_channels() {
    let depot = TestDepot::start().await;
    let alice = depot.user("alice").await;
    let response = depot
        .request(Method::POST, "/depot/origins", Some(&alice))
        .json(&json!({"name": "core"}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::CREATED);
    assert_eq!(response.headers()["location"], "/v1/depot/origins/core");
    let created: Value = response.json().await.unwrap();
    assert_eq!(created["name"], "core");
    assert_eq!(created["owner"], "alice");
    assert_eq!(created["default_package_visibility"], "public");
    assert!(
        created["created_at"]
            .as_str()
            .is_some_and(|t| t.ends_with('Z')),
        "{created}"
    );

    // Anyone reads it back, the same.
    let shown = send(
        depot.request(Method::GET, "/depot/origins/core", None),
        StatusCode::OK,
    )
    .await;
    assert_eq!(shown, created);
    let mine = send(
        depot.request(Method::GET, "/user/origins", Some(&alice)),
        StatusCode::OK,
    )
    .await;
    assert_eq!(mine, json!([{"name": "core", "role": "owner"}]));
    let channels = depot
        .state
        .metadata
        .channels(&"core".parse().unwrap())
        .await
        .unwrap();
    let channels: Vec<String> = channels.iter().map(ToString::to_string).collect();
    assert_eq!(channels, ["stable", "unstable"]);

    // The visibility may be chosen; the body's Content-Type does not matter.
    let private = send(
        depot
            .request(Method::POST, "/depot/origins", Some(&alice))
            .body(r#"{"name": "secret", "default_package_visibility": "private"}"#),
        StatusCode::CREATED,
    )
    .await;
    assert_eq!(private["default_package_visibility"], "private");
}

#[tokio::test]
async fn creating_an_origin_refuses_bad_requests() {
    let depot = TestDepot::start().await;
    let alice = depot.user("alice").await;
    let bob = depot.user("bob").await;
    depot.origin(&alice, "core").await;
    let create = |token: Option<&'static str>, body: &str| {
        Call::post("/depot/origins").by(token).body(body.to_owned())
    };
    let by_bob = |body: &str| create(None, body).as_(&bob);

    let mut calls = Vec::new();
    for token in [None, Some(BAD_TOKEN)] {
        calls.push(create(token, r#"{"name": "fresh"}"#).fails(UNAUTHORIZED, "unauthorized"));
    }
    calls.push(by_bob(r#"{"name": "core"}"#).fails(CONFLICT, "conflict"));
    for bad in [
        r#"{"name": "Bad Name!"}"#,
        r#"{"name": ""}"#,
        r#"{"name": "ok", "default_package_visibility": "hidden"}"#,
        "{}",
        "",
    ] {
        calls.push(by_bob(bad).fails(UNPROCESSABLE, "invalid_value"));
    }
    calls.push(by_bob("{name").fails(StatusCode::BAD_REQUEST, "bad_request"));
    // Nothing was made, and `core` is still alice's.
    for name in ["fresh", "ok"] {
        calls.push(Call::get(format!("/depot/origins/{name}")).answers(NOT_FOUND));
    }
    calls.push(Call::get("/depot/origins/core"));
    calls.push(Call::get("/user/origins").as_(&bob));
    let bodies = depot.check(&calls).await;
    assert_message_contains(&bodies[2], "`core`");
    let [.., core, bobs] = bodies.as_slice() else {
        unreachable!()
    };
    assert_eq!(core["owner"], "alice");
    assert_eq!(*bobs, json!([]));
}

#[tokio::test]
async fn showing_an_origin() {
    let depot = TestDepot::start().await;
    let alice = depot.user("alice").await;
    depot.origin(&alice, "core").await;
    let bodies = depot
        .check(&[
            Call::get("/depot/origins/core").as_(&alice),
            Call::get("/depot/origins/nope").fails(NOT_FOUND, "not_found"),
            Call::get("/depot/origins/Not%20Valid").fails(UNPROCESSABLE, "invalid_value"),
            Call::get("/depot/origins/core")
                .as_(BAD_TOKEN)
                .fails(UNAUTHORIZED, "unauthorized"),
        ])
        .await;
    assert_message_contains(&bodies[1], "`nope`");
}

#[tokio::test]
async fn deleting_an_origin_needs_the_owner_and_an_empty_origin() {
    let team = Team::start().await;
    let depot = &team.depot;
    let core: OriginName = "core".parse().unwrap();
    let store = &depot.state.metadata;
    let package = store
        .insert_package(&Package {
            checksum: Blake2bHash::digest(b"tool"),
            size: 4,
            ..package_row("core/tool/1.0.0/20240101000000")
        })
        .await
        .unwrap();
    store
        .create_channel(&core, &"beta".parse().unwrap())
        .await
        .unwrap();

    team.assert_denied(Call::delete("/depot/origins/core"), Role::Owner)
        .await;
    let owner = Some(team.owner.as_str());
    let delete = || Call::delete("/depot/origins/core").by(owner);
    // 409 naming what is left: the package, the four members besides the owner, the channel.
    let bodies = depot
        .check(&[
            Call::get("/depot/origins/core"),
            Call::delete("/depot/origins/nope")
                .by(owner)
                .fails(NOT_FOUND, "not_found"),
            delete().fails(CONFLICT, "origin_not_empty"),
        ])
        .await;
    for part in ["1 package", "4 members", "1 channel"] {
        assert_message_contains(&bodies[2], part);
    }
    store.delete_package(package.id, "alice").await.unwrap();
    store
        .delete_channel(&core, &"beta".parse().unwrap())
        .await
        .unwrap();
    let body = depot.call(&delete().answers(CONFLICT)).await;
    assert_eq!(
        body["message"],
        "origin `core` still has 4 members besides the owner"
    );
    let mut calls: Vec<Call> = LADDER
        .iter()
        .map(|(_, name)| {
            Call::delete(format!("/depot/origins/core/users/{name}"))
                .by(owner)
                .answers(NO_CONTENT)
        })
        .collect();
    calls.push(delete().answers(NO_CONTENT));
    calls.push(Call::get("/depot/origins/core").answers(NOT_FOUND));
    depot.check(&calls).await;
    // The name is free again.
    depot.origin(&team.outsider, "core").await;
}

#[tokio::test]
async fn listing_members_needs_readonly_member() {
    let team = Team::start().await;
    let path = "/depot/origins/core/users";
    let bodies = team
        .depot
        .check(&[
            Call::get(path).as_(&team.readonly),
            Call::get(path).answers(UNAUTHORIZED),
            Call::get(path).as_(BAD_TOKEN).answers(UNAUTHORIZED),
            Call::get(path)
                .as_(&team.outsider)
                .fails(FORBIDDEN, "forbidden"),
            Call::get("/depot/origins/nope/users")
                .as_(&team.owner)
                .fails(NOT_FOUND, "not_found"),
        ])
        .await;
    assert_eq!(
        bodies[0],
        json!({"origin": "core", "members": [
            {"name": "ada", "role": "administrator"},
            {"name": "alice", "role": "owner"},
            {"name": "max", "role": "maintainer"},
            {"name": "mel", "role": "member"},
            {"name": "rob", "role": "readonly_member"},
        ]})
    );
}

#[tokio::test]
async fn removing_members_needs_the_owner() {
    let team = Team::start().await;
    let depot = &team.depot;
    let before = roles(&team).await;
    team.assert_denied(Call::delete("/depot/origins/core/users/mel"), Role::Owner)
        .await;
    assert_eq!(
        roles(&team).await,
        before,
        "a denied request changes nothing"
    );

    let remove = |name: &str| Call::delete(format!("/depot/origins/core/users/{name}"));
    depot
        .call(&remove("mel").as_(&team.owner).answers(NO_CONTENT))
        .await;
    let after = roles(&team).await;
    assert!(after.get("mel").is_none(), "{after}");
    assert_eq!(after.as_object().unwrap().len(), 4);
    let mut calls = vec![
        // mel lost access with the membership.
        Call::get("/depot/origins/core/users")
            .as_(&team.member)
            .answers(FORBIDDEN),
        remove("alice")
            .as_(&team.owner)
            .fails(FORBIDDEN, "forbidden"),
    ];
    for name in ["mel", "otto", "nobody"] {
        calls.push(remove(name).as_(&team.owner).fails(NOT_FOUND, "not_found"));
    }
    calls.push(
        Call::delete("/depot/origins/nope/users/mel")
            .as_(&team.owner)
            .answers(NOT_FOUND),
    );
    let bodies = depot.check(&calls).await;
    assert_message_contains(&bodies[1], "owns");
    assert_eq!(roles(&team).await, after);
}

#[tokio::test]
async fn reading_a_role_needs_member() {
    let team = Team::start().await;
    let path = "/depot/origins/core/users/ada/role";
    let role_of = |name: &str| Call::get(format!("/depot/origins/core/users/{name}/role"));
    let mut calls = vec![
        Call::get(path).as_(&team.member),
        role_of("alice").as_(&team.member),
        Call::get(path).answers(UNAUTHORIZED),
        Call::get(path).as_(BAD_TOKEN).answers(UNAUTHORIZED),
    ];
    for token in [&team.outsider, &team.readonly] {
        calls.push(Call::get(path).as_(token).fails(FORBIDDEN, "forbidden"));
    }
    for name in ["otto", "nobody"] {
        calls.push(
            role_of(name)
                .as_(&team.member)
                .fails(NOT_FOUND, "not_found"),
        );
    }
    calls.push(
        Call::get("/depot/origins/nope/users/ada/role")
            .as_(&team.member)
            .answers(NOT_FOUND),
    );
    let bodies = team.depot.check(&calls).await;
    assert_eq!(bodies[0], json!({"role": "administrator"}));
    assert_eq!(bodies[1], json!({"role": "owner"}));
}

#[tokio::test]
async fn changing_a_role_needs_administrator() {
    let team = Team::start().await;
    let depot = &team.depot;
    let path = "/depot/origins/core/users/mel/role";
    let put = |token: &str| depot.request(Method::PUT, path, Some(token));

    team.assert_denied(
        Call::put(path).json(&json!({"role": "maintainer"})),
        Role::Administrator,
    )
    .await;
    assert_eq!(
        roles(&team).await["mel"],
        "member",
        "a denied request changes nothing"
    );

    // The body of docs/api.md, and `?role=` as the stock client sends it.
    send(
        put(&team.administrator).json(&json!({"role": "maintainer"})),
        StatusCode::NO_CONTENT,
    )
    .await;
    assert_eq!(roles(&team).await["mel"], "maintainer");
    send(
        put(&team.owner).query(&[("role", "readonly_member")]),
        StatusCode::NO_CONTENT,
    )
    .await;
    assert_eq!(roles(&team).await["mel"], "readonly_member");
    send(
        put(&team.administrator)
            .query(&[("role", "administrator")])
            .json(&json!({"role": "administrator"})),
        StatusCode::NO_CONTENT,
    )
    .await;
    assert_eq!(roles(&team).await["mel"], "administrator");

    let before = roles(&team).await;
    let set = |token: &str, target: &str, role: &str| {
        depot
            .request(
                Method::PUT,
                &format!("/depot/origins/core/users/{target}/role"),
                Some(token),
            )
            .json(&json!({"role": role}))
    };
    let (owner, administrator) = (team.owner.as_str(), team.administrator.as_str());
    let mut refused = vec![
        // Nobody becomes owner this way, changes their own role, or changes the owner's.
        (set(owner, "mel", "owner"), FORBIDDEN, "forbidden"),
        (set(administrator, "ada", "member"), FORBIDDEN, "forbidden"),
        (set(owner, "alice", "member"), FORBIDDEN, "forbidden"),
        (
            set(administrator, "alice", "member"),
            FORBIDDEN,
            "forbidden",
        ),
        // Values that do not parse.
        (set(owner, "mel", "king"), UNPROCESSABLE, "invalid_value"),
        (put(owner), UNPROCESSABLE, "invalid_value"),
        (
            set(owner, "mel", "member").query(&[("role", "maintainer")]),
            UNPROCESSABLE,
            "invalid_value",
        ),
        (
            put(owner).json(&json!({"role": 3})),
            UNPROCESSABLE,
            "invalid_value",
        ),
        (
            put(owner).body("{role"),
            StatusCode::BAD_REQUEST,
            "bad_request",
        ),
    ];
    // Not members.
    for name in ["otto", "nobody"] {
        refused.push((set(owner, name, "member"), NOT_FOUND, "not_found"));
    }
    for (request, status, code) in refused {
        send_error(request, status, code).await;
    }
    assert_eq!(roles(&team).await, before);
}

/// The flow of docs/api.md: invite, list, only the invitee accepts, then a member.
#[tokio::test]
async fn invitation_flow() {
    let depot = TestDepot::start().await;
    let alice = depot.user("alice").await;
    let bob = depot.user("bob").await;
    let carol = depot.user("carol").await;
    depot.origin(&alice, "core").await;

    let invitation = depot
        .call(
            &Call::post("/depot/origins/core/users/bob/invitations")
                .as_(&alice)
                .answers(StatusCode::CREATED),
        )
        .await;
    let id = invitation["id"]
        .as_str()
        .expect("ids are strings")
        .to_owned();
    assert_eq!(invitation["origin"], "core");
    assert_eq!(invitation["account"], "bob");
    assert_eq!(invitation["invited_by"], "alice");
    assert!(invitation["created_at"].is_string());

    let answer = |suffix: &str| Call::put(format!("/depot/origins/core/invitations/{id}{suffix}"));
    let mut calls = vec![
        Call::get("/user/invitations").as_(&bob),
        Call::get("/depot/origins/core/invitations").as_(&alice),
    ];
    // Neither carol nor the owner may answer bob's invitation; it stays pending.
    for token in [&carol, &alice] {
        for suffix in ["", "/ignore"] {
            calls.push(answer(suffix).as_(token).fails(FORBIDDEN, "forbidden"));
        }
    }
    for token in [None, Some(BAD_TOKEN)] {
        calls.push(answer("").by(token).answers(UNAUTHORIZED));
    }
    calls.push(Call::get("/user/origins").as_(&carol));
    calls.push(Call::get("/user/invitations").as_(&bob));
    let bodies = depot.check(&calls).await;
    assert_eq!(bodies[0], json!([invitation.clone()]));
    assert_eq!(
        bodies[1],
        json!({"origin": "core", "invitations": [invitation.clone()]})
    );
    let [.., carols, bobs] = bodies.as_slice() else {
        unreachable!()
    };
    assert_eq!(*carols, json!([]));
    assert_eq!(bobs.as_array().unwrap().len(), 1);

    let bodies = depot
        .check(&[
            answer("").as_(&bob).answers(NO_CONTENT),
            Call::get("/depot/origins/core/users").as_(&bob),
            Call::get("/user/origins").as_(&bob),
            Call::get("/user/invitations").as_(&bob),
            Call::get("/depot/origins/core/invitations").as_(&alice),
            // It is gone: accepting again is 404.
            answer("").as_(&bob).fails(NOT_FOUND, "not_found"),
        ])
        .await;
    let members = &bodies[1];
    assert!(
        members["members"]
            .as_array()
            .unwrap()
            .contains(&json!({"name": "bob", "role": "member"})),
        "{members}"
    );
    assert_eq!(bodies[2], json!([{"name": "core", "role": "member"}]));
    assert_eq!(bodies[3], json!([]));
    assert_eq!(bodies[4]["invitations"], json!([]));
}

#[tokio::test]
async fn inviting_needs_maintainer() {
    let team = Team::start().await;
    let depot = &team.depot;
    depot.user("bob").await;
    let path = "/depot/origins/core/users/bob/invitations";
    team.assert_denied(Call::post(path), Role::Maintainer).await;
    assert!(
        pending(&team).await.is_empty(),
        "a denied request changes nothing"
    );

    depot
        .call(
            &Call::post(path)
                .as_(&team.maintainer)
                .answers(StatusCode::CREATED),
        )
        .await;
    assert_eq!(pending(&team).await, ["bob"]);
    let invite = |name: &str| {
        Call::post(format!("/depot/origins/core/users/{name}/invitations")).as_(&team.owner)
    };
    // Already invited, already a member: 409.
    let mut calls: Vec<Call> = ["bob", "mel", "alice"]
        .into_iter()
        .map(|name| invite(name).fails(CONFLICT, "conflict"))
        .collect();
    calls.push(invite("nobody").fails(NOT_FOUND, "not_found"));
    calls.push(
        Call::post("/depot/origins/nope/users/bob/invitations")
            .as_(&team.owner)
            .answers(NOT_FOUND),
    );
    let bodies = depot.check(&calls).await;
    assert_message_contains(&bodies[3], "`nobody`");
    assert_eq!(pending(&team).await, ["bob"]);
}

#[tokio::test]
async fn listing_invitations_needs_readonly_member() {
    let team = Team::start().await;
    let depot = &team.depot;
    depot.user("bob").await;
    let path = "/depot/origins/core/invitations";
    let bodies = depot
        .check(&[
            Call::post("/depot/origins/core/users/bob/invitations")
                .as_(&team.owner)
                .answers(StatusCode::CREATED),
            Call::get(path).as_(&team.readonly),
            Call::get(path).answers(UNAUTHORIZED),
            Call::get(path).as_(BAD_TOKEN).answers(UNAUTHORIZED),
            Call::get(path).as_(&team.outsider).answers(FORBIDDEN),
            Call::get("/depot/origins/nope/invitations")
                .as_(&team.owner)
                .answers(NOT_FOUND),
        ])
        .await;
    assert_eq!(bodies[1]["invitations"][0]["account"], "bob");
}

#[tokio::test]
async fn rescinding_needs_maintainer_and_ignoring_needs_the_invitee() {
    let team = Team::start().await;
    let depot = &team.depot;
    let bob = depot.user("bob").await;
    let invite = || async {
        let invite = Call::post("/depot/origins/core/users/bob/invitations")
            .as_(&team.owner)
            .answers(StatusCode::CREATED);
        depot.call(&invite).await["id"].as_str().unwrap().to_owned()
    };
    let id = invite().await;
    let path = format!("/depot/origins/core/invitations/{id}");

    team.assert_denied(Call::delete(path.as_str()), Role::Maintainer)
        .await;
    assert_eq!(
        pending(&team).await,
        ["bob"],
        "a denied request changes nothing"
    );
    let rescind = || Call::delete(path.as_str()).as_(&team.maintainer);
    depot.call(&rescind().answers(NO_CONTENT)).await;
    assert!(pending(&team).await.is_empty());
    depot.call(&rescind().fails(NOT_FOUND, "not_found")).await;

    // Ignoring: only bob; then it is gone and bob is no member.
    let id = invite().await;
    let ignore = || Call::put(format!("/depot/origins/core/invitations/{id}/ignore"));
    depot
        .check(&[
            ignore().answers(UNAUTHORIZED),
            ignore().as_(BAD_TOKEN).answers(UNAUTHORIZED),
            ignore().as_(&team.owner).answers(FORBIDDEN),
            ignore().as_(&team.outsider).answers(FORBIDDEN),
        ])
        .await;
    assert_eq!(pending(&team).await, ["bob"]);
    depot.call(&ignore().as_(&bob).answers(NO_CONTENT)).await;
    assert!(pending(&team).await.is_empty());
    assert!(roles(&team).await.get("bob").is_none());
    depot.call(&ignore().as_(&bob).answers(NOT_FOUND)).await;
}

#[tokio::test]
async fn an_invitation_of_another_origin_is_not_found() {
    let team = Team::start().await;
    let depot = &team.depot;
    let bob = depot.user("bob").await;
    depot.origin(&team.outsider, "other").await;
    let invite = Call::post("/depot/origins/core/users/bob/invitations")
        .as_(&team.owner)
        .answers(StatusCode::CREATED);
    let id = depot.call(&invite).await["id"].as_str().unwrap().to_owned();
    let other = |suffix: &str| format!("/depot/origins/other/invitations/{id}{suffix}");
    let mut calls = vec![
        // Through `other`, whose owner is otto: no accepting, ignoring or rescinding core's
        // invitation.
        Call::put(other("")).as_(&bob).fails(NOT_FOUND, "not_found"),
        Call::put(other("/ignore"))
            .as_(&bob)
            .fails(NOT_FOUND, "not_found"),
        Call::delete(other(""))
            .as_(&team.outsider)
            .fails(NOT_FOUND, "not_found"),
    ];
    // Ids that are no invitation at all.
    for id in ["999", "abc", "-1"] {
        let path = format!("/depot/origins/core/invitations/{id}");
        calls.push(Call::put(path.as_str()).as_(&bob).answers(NOT_FOUND));
        calls.push(Call::delete(path).as_(&team.owner).answers(NOT_FOUND));
    }
    // An unknown origin is 404 before anything else.
    calls.push(
        Call::put(format!("/depot/origins/nope/invitations/{id}"))
            .as_(&bob)
            .answers(NOT_FOUND),
    );
    depot.check(&calls).await;
    assert_eq!(pending(&team).await, ["bob"]);
}
