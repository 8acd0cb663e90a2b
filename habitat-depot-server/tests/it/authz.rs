//! The policy matrix: every origin-scoped route, asked by a caller of every role, refuses exactly
//! when `authz::permits` says no: 401 for an anonymous caller of a route that needs a token, 403
//! for an account below the route's role, and the route's own answer otherwise.

use habitat_depot_server::authz::{Action, Requirement, permits};
use habitat_depot_server::store::Role;
use reqwest::{Method, StatusCode};

use super::support::TestDepot;

/// A route of the origin `acme`, the action it needs, and a body. The targets are chosen so
/// that a permitted request fails after the policy (an unknown package, account or
/// invitation, an unreadable body) or succeeds without changing who may do what.
struct Case {
    method: Method,
    path: &'static str,
    action: Action,
    body: &'static str,
}

fn case(method: Method, path: &'static str, action: Action) -> Case {
    Case {
        method,
        path,
        action,
        body: "",
    }
}

fn cases() -> Vec<Case> {
    use Action::*;
    const PKG: &str = "/depot/pkgs/acme/none/1.0.0/20200101000000";
    let garbage = |method, path, action| Case {
        body: "not what the route takes",
        ..case(method, path, action)
    };
    vec![
        case(Method::GET, "/depot/origins/acme", Read),
        case(Method::GET, "/depot/origins/acme/keys", Read),
        case(Method::GET, "/depot/origins/acme/keys/latest", Read),
        case(Method::GET, "/depot/channels/acme", Read),
        case(Method::GET, "/depot/pkgs/acme", Read),
        case(Method::GET, "/depot/pkgs/acme/none/versions", Read),
        case(Method::GET, "/depot/origins/acme/users", ListMembers),
        case(Method::GET, "/depot/origins/acme/invitations", ListMembers),
        case(
            Method::GET,
            "/depot/origins/acme/users/owner/role",
            ReadMemberRole,
        ),
        garbage(Method::POST, PKG, Upload),
        case(
            Method::PUT,
            "/depot/origins/acme/invitations/99999",
            AnswerInvitation,
        ),
        case(
            Method::PUT,
            "/depot/origins/acme/invitations/99999/ignore",
            AnswerInvitation,
        ),
        case(Method::DELETE, PKG, ManagePackages),
        case(
            Method::PATCH,
            "/depot/pkgs/acme/none/1.0.0/20200101000000/private",
            ManagePackages,
        ),
        case(
            Method::PUT,
            "/depot/channels/acme/stable/pkgs/none/1.0.0/20200101000000/promote",
            ManagePackages,
        ),
        case(
            Method::PUT,
            "/depot/channels/acme/stable/pkgs/none/1.0.0/20200101000000/demote",
            ManagePackages,
        ),
        case(Method::POST, "/depot/channels/acme/beta", ManageChannels),
        case(Method::DELETE, "/depot/channels/acme/gone", ManageChannels),
        case(
            Method::POST,
            "/depot/origins/acme/users/nobody/invitations",
            Invite,
        ),
        case(
            Method::DELETE,
            "/depot/origins/acme/invitations/99999",
            Invite,
        ),
        case(
            Method::PUT,
            "/depot/origins/acme/users/nobody/role?role=member",
            SetRoles,
        ),
        garbage(
            Method::POST,
            "/depot/origins/acme/keys/20200101000000",
            ManageKeys,
        ),
        garbage(
            Method::POST,
            "/depot/origins/acme/secret_keys/20200101000000",
            ManageKeys,
        ),
        case(
            Method::GET,
            "/depot/origins/acme/secret_keys/latest",
            ManageKeys,
        ),
        case(
            Method::DELETE,
            "/depot/origins/acme/users/nobody",
            RemoveMembers,
        ),
        case(
            Method::POST,
            "/depot/origins/acme/transfer/nobody",
            TransferOrigin,
        ),
        case(
            Method::PUT,
            "/depot/channels/acme/nope/pkgs/promote?channel=stable",
            ManagePackages,
        ),
        case(
            Method::PUT,
            "/depot/channels/acme/nope/pkgs/demote?channel=stable",
            ManagePackages,
        ),
        // Refused after the policy: the origin still has members.
        case(Method::DELETE, "/depot/origins/acme", DeleteOrigin),
    ]
}

#[tokio::test]
async fn every_route_refuses_exactly_what_the_policy_refuses() {
    let depot = TestDepot::start().await;
    let owner = depot.user("owner").await;
    depot.origin(&owner, "acme").await;
    let mut callers = vec![("anonymous", None, None)];
    callers.push(("outsider", Some(depot.user("outsider").await), None));
    for (name, role) in [
        ("readonly", Role::ReadonlyMember),
        ("member", Role::Member),
        ("maintainer", Role::Maintainer),
        ("admin", Role::Administrator),
    ] {
        let token = depot.member("acme", name, role, "owner").await;
        callers.push((name, Some(token), Some(role)));
    }
    callers.push(("owner", Some(owner), Some(Role::Owner)));

    for case in cases() {
        for (name, token, role) in &callers {
            let response = depot
                .request(case.method.clone(), case.path, token.as_deref())
                .body(case.body)
                .send()
                .await
                .unwrap();
            let status = response.status();
            let what = format!("{} {} by {name}", case.method, case.path);
            let body = response.text().await.unwrap();
            let expected = if token.is_none() && case.action.requirement() != Requirement::Anyone {
                Some(StatusCode::UNAUTHORIZED)
            } else if !permits(*role, case.action) {
                Some(StatusCode::FORBIDDEN)
            } else {
                None
            };
            match expected {
                Some(expected) => {
                    assert_eq!(status, expected, "{what}: {body}");
                    let code =
                        serde_json::from_str::<serde_json::Value>(&body).unwrap()["code"].clone();
                    let wanted = if expected == StatusCode::UNAUTHORIZED {
                        "unauthorized"
                    } else {
                        "forbidden"
                    };
                    assert_eq!(code, wanted, "{what}: {body}");
                }
                None => assert!(
                    status != StatusCode::UNAUTHORIZED && status != StatusCode::FORBIDDEN,
                    "{what} is permitted by the policy but answered {status}: {body}"
                ),
            }
        }
    }
}

#[tokio::test]
async fn an_unknown_origin_is_404_to_every_route_but_upload() {
    let depot = TestDepot::start().await;
    let token = depot.user("someone").await;
    for case in cases() {
        let path = case.path.replace("acme", "nowhere");
        let response = depot
            .request(case.method.clone(), &path, Some(&token))
            .body(case.body)
            .send()
            .await
            .unwrap();
        let expected = if case.action == Action::Upload {
            StatusCode::FORBIDDEN
        } else {
            StatusCode::NOT_FOUND
        };
        assert_eq!(response.status(), expected, "{} {path}", case.method);
    }
}
