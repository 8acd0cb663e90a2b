//! Channels this depot mirrors (`[[mirror]]` in the settings) are read-only through the API:
//! only `hab-depot sync` changes them.

use habitat_depot_server::settings::{MirrorMode, MirrorSettings};
use habitat_test_support::{Call, TestDepot, assert_message_contains};
use reqwest::StatusCode;

const FORBIDDEN: StatusCode = StatusCode::FORBIDDEN;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_mirrored_origin_takes_no_upload_and_a_mirrored_channel_no_promotion() {
    let depot = TestDepot::start_with(|settings| {
        settings.mirrors = vec![
            MirrorSettings {
                from: "http://upstream.example".into(),
                origins: vec!["core".parse().unwrap()],
                channels: Vec::new(),
                targets: Vec::new(),
                mode: MirrorMode::Exact,
                token_file: None,
                interval: None,
                owner: None,
            },
            MirrorSettings {
                from: "http://other.example".into(),
                origins: vec!["acme".parse().unwrap()],
                channels: vec!["stable".parse().unwrap()],
                targets: Vec::new(),
                mode: MirrorMode::Additive,
                token_file: None,
                interval: None,
                owner: None,
            },
        ];
    })
    .await;
    let owner = depot.user("alice").await;
    depot.origin(&owner, "core").await;
    depot.origin(&owner, "acme").await;
    let answers = depot
        .check(&[
            // Every channel of `core` is mirrored, `unstable` too: no upload lands there.
            Call::post("/depot/pkgs/core/glibc/2.39/20240101000000")
                .as_(&owner)
                .body(b"not read".to_vec())
                .fails(FORBIDDEN, "mirrored_channel"),
            // Only `stable` of `acme`: bulk promotions into it are refused, others are not.
            Call::put("/depot/channels/acme/unstable/pkgs/promote?channel=stable")
                .as_(&owner)
                .fails(FORBIDDEN, "mirrored_channel"),
            Call::post("/depot/channels/acme/beta")
                .as_(&owner)
                .answers(StatusCode::CREATED),
            Call::put("/depot/channels/acme/unstable/pkgs/promote?channel=beta")
                .as_(&owner)
                .answers(StatusCode::OK),
        ])
        .await;
    assert_message_contains(&answers[0], "`http://upstream.example`");
    assert_message_contains(&answers[1], "channel `stable` of origin `acme`");
}
