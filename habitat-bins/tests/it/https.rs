//! `hab` against a real `hab-depot` behind HTTPS, with a certificate from a private
//! certificate authority: refused with a clear message until that authority is trusted through
//! `SSL_CERT_FILE`, cli.toml `ca_file` or the SSL cache directory.

use std::net::SocketAddr;

use habitat_test_support::tls::{TlsFront, write_ca};

use crate::support::{Sandbox, start_depot, user_create};

/// `127.0.0.1:PORT` from `http://127.0.0.1:PORT/v1`.
fn addr_of(url: &str) -> SocketAddr {
    let rest = url.trim_start_matches("http://");
    rest.split('/').next().unwrap().parse().unwrap()
}

#[test]
fn https_depots_need_a_trusted_certificate_authority() {
    let sandbox = Sandbox::new();
    let data = sandbox.path().join("depot-data");
    let token = user_create(&data, "alice");
    let depot = start_depot(&data);
    let front = TlsFront::start(addr_of(&depot.url));
    let url = front.url();
    let ca = write_ca(sandbox.path());
    let hab = |args: &[&str]| {
        let mut command = sandbox.hab();
        command
            .env("HAB_BLDR_URL", &url)
            .env("HAB_AUTH_TOKEN", &token)
            .args(args);
        command
    };

    // The platform does not know the test authority: refused at once, saying why and what to do.
    let out = hab(&["origin", "create", "demo"]).output().unwrap();
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains(&format!(
            "the TLS certificate of `{url}/v1/depot/origins` is not trusted"
        )),
        "{stderr}"
    );
    assert!(stderr.contains("unknown issuer"), "{stderr}");
    assert!(!stderr.contains("attempts"), "not retried: {stderr}");
    assert!(
        stderr.contains("hint: trust the depot's certificate authority"),
        "{stderr}"
    );

    // SSL_CERT_FILE names the authority: it works.
    let out = hab(&["origin", "create", "demo"])
        .env("SSL_CERT_FILE", &ca)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("Created origin demo"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );

    // So does cli.toml `ca_file`, with the platform's roots still trusted beside it. Where
    // cli.toml is depends on who runs the tests: root reads it under FS_ROOT.
    let cli_toml = |text: &str| {
        for etc in [
            sandbox.path().join("home/.hab/etc"),
            sandbox.fs_root().join("hab/etc"),
        ] {
            std::fs::create_dir_all(&etc).unwrap();
            std::fs::write(etc.join("cli.toml"), text).unwrap();
        }
    };
    cli_toml(&format!("ca_file = {:?}\n", ca.to_str().unwrap()));
    let out = hab(&["origin", "info", "demo", "-j"]).output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(json["owner"], "alice");

    // So does a certificate in the SSL cache directory, where the stock client looks too.
    cli_toml("");
    let ssl_cache = if rustix::process::geteuid().is_root() {
        sandbox.fs_root().join("hab/cache/ssl")
    } else {
        sandbox.path().join("home/.hab/cache/ssl")
    };
    std::fs::create_dir_all(&ssl_cache).unwrap();
    std::fs::copy(&ca, ssl_cache.join("private-ca.crt")).unwrap();
    let out = hab(&["origin", "info", "demo"]).output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    std::fs::remove_file(ssl_cache.join("private-ca.crt")).unwrap();

    // A ca_file that holds no certificate is named, not ignored.
    cli_toml("ca_file = \"/dev/null\"\n");
    let out = hab(&["origin", "info", "demo"]).output().unwrap();
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("cannot use the CA file `/dev/null`: it holds no PEM certificate"),
        "{stderr}"
    );
}
