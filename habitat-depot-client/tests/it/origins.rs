//! Origins, members, roles and the invitation flow.

use habitat_core::OriginName;
use habitat_depot_client::{Role, Visibility};

use super::support::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn origins_members_and_invitations() {
    let depot = TestDepot::start().await;
    let alice = depot.client(Some(&depot.user("alice").await));
    let bob = depot.client(Some(&depot.user("bob").await));
    let carol = depot.client(Some(&depot.user("carol").await));
    let acme: OriginName = "acme".parse().unwrap();

    let origin = alice
        .create_origin(&acme, Some(Visibility::Private))
        .await
        .unwrap();
    assert_eq!(origin.name, acme);
    assert_eq!(origin.owner, "alice");
    assert_eq!(origin.default_package_visibility, Visibility::Private);
    let err = alice.create_origin(&acme, None).await.unwrap_err();
    assert!(err.is_conflict(), "{err}");
    assert_eq!(depot.client(None).origin(&acme).await.unwrap(), origin);
    let err = alice.origin(&"nowhere".parse().unwrap()).await.unwrap_err();
    assert!(err.is_not_found(), "{err}");
    assert!(
        err.to_string().contains("origin `nowhere` not found"),
        "{err}"
    );
    let err = depot
        .client(None)
        .create_origin(&"anon".parse().unwrap(), None)
        .await
        .unwrap_err();
    assert!(err.is_unauthorized(), "{err}");

    // bob is invited, sees it, and accepts: only he may.
    let invitation = alice.send_invitation(&acme, "bob").await.unwrap();
    assert_eq!(
        (invitation.origin.as_str(), invitation.account.as_str()),
        ("acme", "bob")
    );
    assert_eq!(invitation.invited_by, "alice");
    assert_eq!(
        alice.origin_invitations(&acme).await.unwrap(),
        vec![invitation.clone()]
    );
    assert_eq!(
        bob.my_invitations().await.unwrap(),
        vec![invitation.clone()]
    );
    let err = alice.send_invitation(&acme, "bob").await.unwrap_err();
    assert!(err.is_conflict(), "{err}");
    let err = alice.send_invitation(&acme, "nobody").await.unwrap_err();
    assert!(err.is_not_found(), "{err}");
    let err = alice
        .accept_invitation(&acme, &invitation.id)
        .await
        .unwrap_err();
    assert_eq!(err.status(), Some(403), "{err}");
    bob.accept_invitation(&acme, &invitation.id).await.unwrap();
    assert!(bob.my_invitations().await.unwrap().is_empty());
    let mine = bob.my_origins().await.unwrap();
    assert_eq!(mine.len(), 1);
    assert_eq!(
        (mine[0].name.as_str(), mine[0].role),
        ("acme", Role::Member)
    );

    // Roles.
    let members = bob.members(&acme).await.unwrap();
    let roles: Vec<(&str, Role)> = members.iter().map(|m| (m.name.as_str(), m.role)).collect();
    assert!(roles.contains(&("alice", Role::Owner)), "{roles:?}");
    assert!(roles.contains(&("bob", Role::Member)), "{roles:?}");
    assert_eq!(bob.member_role(&acme, "bob").await.unwrap(), Role::Member);
    alice
        .set_member_role(&acme, "bob", Role::Maintainer)
        .await
        .unwrap();
    assert_eq!(
        alice.member_role(&acme, "bob").await.unwrap(),
        Role::Maintainer
    );
    let err = alice
        .set_member_role(&acme, "bob", Role::Owner)
        .await
        .unwrap_err();
    assert_eq!(err.status(), Some(403), "{err}");
    let err = carol.members(&acme).await.unwrap_err();
    assert_eq!(err.status(), Some(403), "{err}");

    // carol ignores hers; a rescinded one is gone.
    let to_carol = bob.send_invitation(&acme, "carol").await.unwrap();
    carol.ignore_invitation(&acme, &to_carol.id).await.unwrap();
    assert!(carol.my_invitations().await.unwrap().is_empty());
    let again = bob.send_invitation(&acme, "carol").await.unwrap();
    alice.rescind_invitation(&acme, &again.id).await.unwrap();
    assert!(alice.origin_invitations(&acme).await.unwrap().is_empty());
    let err = carol.accept_invitation(&acme, &again.id).await.unwrap_err();
    assert!(err.is_not_found(), "{err}");

    // An origin with members cannot be deleted; once empty it can.
    let err = alice.delete_origin(&acme).await.unwrap_err();
    assert!(err.is_conflict(), "{err}");
    assert_eq!(err.code(), Some("origin_not_empty"));
    assert!(
        err.to_string().contains("1 member besides the owner"),
        "{err}"
    );
    let err = alice.remove_member(&acme, "alice").await.unwrap_err();
    assert_eq!(err.status(), Some(403), "{err}");
    alice.remove_member(&acme, "bob").await.unwrap();
    alice.delete_origin(&acme).await.unwrap();
    assert!(alice.origin(&acme).await.unwrap_err().is_not_found());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn origins_are_transferred_and_departed() {
    let depot = TestDepot::start().await;
    let alice = depot.client(Some(&depot.user("alice").await));
    let bob = depot.client(Some(&depot.user("bob").await));
    let acme: OriginName = "acme".parse().unwrap();
    alice.create_origin(&acme, None).await.unwrap();

    // Not to someone who is not a member yet (403), nor to oneself (422).
    let err = alice.transfer_origin(&acme, "bob").await.unwrap_err();
    assert_eq!(err.status(), Some(403), "{err}");
    let err = alice.transfer_origin(&acme, "alice").await.unwrap_err();
    assert_eq!(err.status(), Some(422), "{err}");
    let err = bob.depart_origin(&acme).await.unwrap_err();
    assert_eq!(err.status(), Some(422), "{err}");

    let invitation = alice.send_invitation(&acme, "bob").await.unwrap();
    bob.accept_invitation(&acme, &invitation.id).await.unwrap();
    alice.transfer_origin(&acme, "bob").await.unwrap();
    assert_eq!(bob.origin(&acme).await.unwrap().owner, "bob");
    assert_eq!(
        bob.member_role(&acme, "alice").await.unwrap(),
        Role::Maintainer
    );

    // The owner cannot depart; the previous owner can.
    let err = bob.depart_origin(&acme).await.unwrap_err();
    assert_eq!(err.status(), Some(403), "{err}");
    alice.depart_origin(&acme).await.unwrap();
    let members = bob.members(&acme).await.unwrap();
    assert_eq!(members.len(), 1);
    bob.delete_origin(&acme).await.unwrap();
}
