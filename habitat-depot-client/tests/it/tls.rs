//! HTTPS: a real depot behind a TLS front whose certificate comes from a private certificate
//! authority. Not trusted: a certificate error at once, without retries; trusted through
//! `ca_file`: the same calls work.

use habitat_depot_client::{Client, Error};
use habitat_test_support::tls::{TlsFront, write_ca};

use crate::support::{TestDepot, fast_retry};

#[tokio::test]
async fn a_private_authority_must_be_trusted() {
    let depot = TestDepot::start().await;
    let addr = depot
        .url
        .trim_start_matches("http://")
        .trim_end_matches("/v1")
        .parse()
        .unwrap();
    let front = TlsFront::start(addr);
    let url = front.url();

    let untrusted = Client::builder(url.parse().unwrap())
        .retry(fast_retry())
        .no_proxy()
        .build()
        .unwrap();
    let err = untrusted.status().await.unwrap_err();
    assert!(
        matches!(&err, Error::Certificate { reason, .. } if reason.contains("unknown issuer")),
        "{err:?}"
    );
    assert_eq!(
        err.to_string(),
        format!(
            "the TLS certificate of `{url}/v1/status` is not trusted: it is issued by a \
             certificate authority this machine does not trust (unknown issuer)"
        )
    );

    let ca = write_ca(depot.dir.path());
    let trusted = Client::builder(url.parse().unwrap())
        .retry(fast_retry())
        .no_proxy()
        .ca_file(&ca)
        .build()
        .unwrap();
    trusted.status().await.unwrap();
}
