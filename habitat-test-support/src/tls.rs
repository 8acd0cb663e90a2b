//! A TLS front for a plain-HTTP server on 127.0.0.1: it accepts HTTPS with a certificate for
//! `127.0.0.1` and `localhost` issued by this crate's own test certificate authority, and
//! passes the decrypted bytes to the backend, so that a client meets a real depot over HTTPS.
//!
//! The certificates in `tls/` were made once with `openssl` and are valid until 2126; the
//! authority's private key was thrown away. They are for tests on 127.0.0.1 only.
//!
//! ```
//! use habitat_test_support::tls::TlsFront;
//!
//! let front = TlsFront::start("127.0.0.1:9".parse().unwrap());
//! assert!(front.url().starts_with("https://127.0.0.1:"));
//! assert!(habitat_test_support::tls::CA_PEM.contains("BEGIN CERTIFICATE"));
//! ```

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use tokio::net::{TcpListener, TcpStream};
use tokio_rustls::TlsAcceptor;
use tokio_rustls::rustls::ServerConfig;
use tokio_rustls::rustls::pki_types::pem::PemObject;
use tokio_rustls::rustls::pki_types::{CertificateDer, PrivateKeyDer};

/// The test certificate authority (PEM): what a client must trust to accept [`TlsFront`].
pub const CA_PEM: &str = include_str!("../tls/ca.pem");
const SERVER_PEM: &str = include_str!("../tls/server.pem");
const SERVER_KEY_PEM: &str = include_str!("../tls/server-key.pem");

/// Writes [`CA_PEM`] to `dir/test-ca.pem` and returns its path.
pub fn write_ca(dir: &Path) -> PathBuf {
    let path = dir.join("test-ca.pem");
    std::fs::write(&path, CA_PEM).unwrap();
    path
}

/// A running TLS front, on a thread of its own (so that synchronous tests can use it too);
/// it stops when dropped.
pub struct TlsFront {
    addr: SocketAddr,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl TlsFront {
    /// Listens on `127.0.0.1:0` and passes every connection on to `backend`.
    pub fn start(backend: SocketAddr) -> Self {
        let cert = CertificateDer::from_pem_slice(SERVER_PEM.as_bytes()).unwrap();
        let key = PrivateKeyDer::from_pem_slice(SERVER_KEY_PEM.as_bytes()).unwrap();
        let provider = Arc::new(tokio_rustls::rustls::crypto::aws_lc_rs::default_provider());
        let config = ServerConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .unwrap()
            .with_no_client_auth()
            .with_single_cert(vec![cert], key)
            .unwrap();
        let acceptor = TlsAcceptor::from(Arc::new(config));
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        listener.set_nonblocking(true).unwrap();
        let addr = listener.local_addr().unwrap();
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let thread = std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap();
            runtime.block_on(async move {
                let listener = TcpListener::from_std(listener).unwrap();
                let serve = async {
                    loop {
                        let Ok((client, _)) = listener.accept().await else {
                            continue;
                        };
                        tokio::spawn(pass_on(acceptor.clone(), client, backend));
                    }
                };
                tokio::select! {
                    () = serve => {}
                    _ = stopped => {}
                }
            });
        });
        Self {
            addr,
            stop: Some(stop),
            thread: Some(thread),
        }
    }

    /// The address it listens on.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// `https://127.0.0.1:PORT`.
    pub fn url(&self) -> String {
        format!("https://{}", self.addr)
    }
}

impl Drop for TlsFront {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

/// One connection: the TLS handshake (a client that does not trust the certificate gives up
/// here), then bytes both ways until either side closes.
async fn pass_on(acceptor: TlsAcceptor, client: TcpStream, backend: SocketAddr) {
    let Ok(mut tls) = acceptor.accept(client).await else {
        return;
    };
    let Ok(mut server) = TcpStream::connect(backend).await else {
        return;
    };
    let _ = tokio::io::copy_bidirectional(&mut tls, &mut server).await;
}
