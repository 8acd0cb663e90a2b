//! The depot commands `hab` shares with the stock client: `pkg download` into the stock layout
//! and `pkg bulkupload` from it (into another depot), whole-channel `bldr channel
//! promote|demote`, `pkg delete`, and `origin transfer|depart|delete`, against real depots.

use std::path::Path;

use crate::support::{Sandbox, fails, ident_of, remote, start_depot, succeeds, user_create};

fn names_in(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    names
}

#[test]
fn download_and_bulkupload_share_the_stock_layout_and_channels_move_whole() {
    let sandbox = Sandbox::new();
    let data = sandbox.path().join("depot-data");
    let alice = user_create(&data, "alice");
    let bob = user_create(&data, "bob");
    let depot = start_depot(&data);
    let url = depot.url.as_str();
    let hab = |args: &[&str]| remote(&sandbox, url, &alice, args);

    succeeds(&hab(&["origin", "create", "demo"]), "origin create");
    sandbox.ok(&["origin", "key", "generate", "demo"]);
    succeeds(&hab(&["origin", "key", "upload", "demo"]), "key upload");
    let liba = sandbox.pack("demo/liba/1.0.0", &[]);
    sandbox.ok(&["pkg", "install", liba.to_str().unwrap()]);
    let app = sandbox.pack("demo/app/1.0.0", &["demo/liba"]);
    succeeds(&hab(&["pkg", "upload", app.to_str().unwrap()]), "upload");
    let (app_ident, liba_ident) = (ident_of(&app), ident_of(&liba));

    // Download into DIR: DIR/artifacts/*.hart and DIR/keys/*.pub, as the stock client writes.
    let dl = sandbox.path().join("dl");
    let idents = sandbox.path().join("idents.txt");
    std::fs::write(&idents, "# what to mirror\n\ndemo/app\n").unwrap();
    let out = hab(&[
        "pkg",
        "download",
        "--file",
        idents.to_str().unwrap(),
        "--download-directory",
        dl.to_str().unwrap(),
        "-c",
        "unstable",
    ]);
    succeeds(&out, "download");
    assert_eq!(names_in(&dl), ["artifacts", "keys"]);
    let artifacts = names_in(&dl.join("artifacts"));
    assert_eq!(artifacts.len(), 2, "{artifacts:?}");
    assert!(
        artifacts.iter().all(|n| n.ends_with(".hart")),
        "{artifacts:?}"
    );
    let keys = names_in(&dl.join("keys"));
    assert_eq!(keys.len(), 1, "{keys:?}");
    assert!(
        keys[0].starts_with("demo-") && keys[0].ends_with(".pub"),
        "{keys:?}"
    );

    // Into another depot, where the origin does not exist yet.
    let data2 = sandbox.path().join("depot2-data");
    let carol = user_create(&data2, "carol");
    let depot2 = start_depot(&data2);
    let hab2 = |args: &[&str]| remote(&sandbox, &depot2.url, &carol, args);
    let dl_arg = dl.to_str().unwrap();
    let refused = fails(&hab2(&["pkg", "bulkupload", dl_arg]), "bulkupload");
    assert!(
        refused.contains("the depot has no origin `demo`"),
        "{refused}"
    );
    assert!(refused.contains("--auto-create-origins"), "{refused}");
    let done = succeeds(
        &hab2(&[
            "pkg",
            "bulkupload",
            dl_arg,
            "--auto-create-origins",
            "-c",
            "stable",
        ]),
        "bulkupload",
    );
    assert!(done.contains("Created origin demo"), "{done}");
    assert!(done.contains("Uploaded public origin key demo-"), "{done}");
    assert!(done.contains(&format!("Uploaded {app_ident}")), "{done}");
    let channels = hab2(&["pkg", "channels", &app_ident]);
    succeeds(&channels, "channels");
    let channels = String::from_utf8_lossy(&channels.stdout).into_owned();
    assert!(channels.lines().any(|l| l == "stable"), "{channels}");
    // Again: everything is there already; --force sends the same files again.
    let again = succeeds(&hab2(&["pkg", "bulkupload", dl_arg]), "bulkupload again");
    assert!(again.contains("already on the depot"), "{again}");
    succeeds(
        &hab2(&["pkg", "bulkupload", dl_arg, "--force"]),
        "forced bulkupload",
    );

    // A whole channel at once, into a channel and out of it.
    succeeds(
        &hab(&["bldr", "channel", "create", "demo", "beta"]),
        "channel create",
    );
    let promoted = succeeds(
        &hab(&[
            "bldr", "channel", "promote", "unstable", "beta", "-o", "demo",
        ]),
        "channel promote",
    );
    assert!(
        promoted.contains("Promoted 2 packages of demo/unstable to beta"),
        "{promoted}"
    );
    let in_beta = hab(&["pkg", "channels", &liba_ident]);
    assert!(String::from_utf8_lossy(&in_beta.stdout).contains("beta"));
    let demoted = remote(
        &sandbox,
        url,
        &alice,
        &["bldr", "channel", "demote", "unstable", "beta"],
    );
    // The origin comes from HAB_ORIGIN like the stock client's.
    let demoted = fails(&demoted, "demote without an origin");
    assert!(demoted.contains("no origin given"), "{demoted}");
    let demoted = sandbox
        .hab()
        .env("HAB_BLDR_URL", url)
        .env("HAB_AUTH_TOKEN", &alice)
        .env("HAB_ORIGIN", "demo")
        .args(["bldr", "channel", "demote", "unstable", "beta"])
        .output()
        .unwrap();
    let demoted = succeeds(&demoted, "channel demote");
    assert!(
        demoted.contains("Demoted 2 packages of demo/unstable from beta"),
        "{demoted}"
    );
    let refused = fails(
        &remote(
            &sandbox,
            url,
            &bob,
            &[
                "bldr", "channel", "promote", "unstable", "beta", "-o", "demo",
            ],
        ),
        "promote by a non-member",
    );
    assert!(
        refused.contains("cannot promote channel `unstable` of `demo` to `beta`"),
        "{refused}"
    );

    // Delete, by Builder's rule: not while another package depends on it.
    let refused = fails(&hab(&["pkg", "delete", &liba_ident]), "delete a dependency");
    assert!(
        refused.contains(&format!("cannot delete `{liba_ident}`")),
        "{refused}"
    );
    let deleted = succeeds(
        &hab(&["pkg", "delete", &app_ident, "x86_64-linux"]),
        "delete",
    );
    assert!(
        deleted.contains(&format!("Deleted {app_ident}")),
        "{deleted}"
    );
    succeeds(&hab(&["pkg", "delete", &liba_ident]), "delete liba");

    // Transfer to a member, depart, delete.
    let invitation = hab(&["origin", "invitations", "send", "demo", "bob"]);
    succeeds(&invitation, "invite");
    let id = String::from_utf8_lossy(&invitation.stdout)
        .trim()
        .to_owned();
    succeeds(
        &remote(
            &sandbox,
            url,
            &bob,
            &["origin", "invitations", "accept", "demo", &id],
        ),
        "accept",
    );
    let transferred = succeeds(&hab(&["origin", "transfer", "demo", "bob"]), "transfer");
    assert!(
        transferred.contains("Transferred origin demo to bob"),
        "{transferred}"
    );
    let refused = fails(
        &hab(&["origin", "delete", "demo"]),
        "delete by a maintainer",
    );
    assert!(refused.contains("cannot delete origin `demo`"), "{refused}");
    let departed = succeeds(&hab(&["origin", "depart", "demo"]), "depart");
    assert!(departed.contains("Departed from origin demo"), "{departed}");
    // Not while it has something in it: the depot says what.
    let bob_hab = |args: &[&str]| remote(&sandbox, url, &bob, args);
    let refused = fails(&bob_hab(&["origin", "delete", "demo"]), "delete with beta");
    assert!(refused.contains("still has 1 channel"), "{refused}");
    succeeds(
        &bob_hab(&["bldr", "channel", "destroy", "demo", "beta"]),
        "channel destroy",
    );
    let deleted = succeeds(&bob_hab(&["origin", "delete", "demo"]), "origin delete");
    assert!(deleted.contains("Deleted origin demo"), "{deleted}");
}
