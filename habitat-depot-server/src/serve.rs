//! Serving the router: HTTP/1.1 with keep-alive, an idle timeout (a connection that sends no
//! request head within it is closed, so slow or idle clients cannot hold connections), and a
//! graceful shutdown that lets requests in flight finish.

use std::future::Future;
use std::time::Duration;

use axum::Router;
use axum::extract::ConnectInfo;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::conn::auto;
use hyper_util::server::graceful::GracefulShutdown;
use hyper_util::service::TowerToHyperService;
use tokio::net::TcpListener;
use tower::ServiceExt;

/// Serves `router` on `listener` until `shutdown` resolves, then stops accepting and waits for
/// open requests to finish.
pub async fn serve(
    listener: TcpListener,
    router: Router,
    idle_timeout: Duration,
    shutdown: impl Future<Output = ()>,
) {
    let graceful = GracefulShutdown::new();
    // HTTP/1.1 only: the stock client speaks it, and detecting HTTP/2 first would wait
    // without a timeout on a client that sends nothing.
    let mut builder = auto::Builder::new(TokioExecutor::new()).http1_only();
    builder
        .http1()
        .timer(TokioTimer::new())
        .header_read_timeout(idle_timeout)
        .keep_alive(true);
    tokio::pin!(shutdown);
    loop {
        tokio::select! {
            accepted = listener.accept() => {
                let (stream, peer) = match accepted {
                    Ok(accepted) => accepted,
                    Err(e) => {
                        // Out of file descriptors and the like: wait instead of spinning.
                        tracing::warn!(error = %e, "cannot accept a connection");
                        tokio::time::sleep(Duration::from_millis(100)).await;
                        continue;
                    }
                };
                let _ = stream.set_nodelay(true);
                // The peer's address, for the rate limits of clients without a token.
                let service = TowerToHyperService::new(router.clone().map_request(
                    move |mut request: axum::extract::Request<_>| {
                        request.extensions_mut().insert(ConnectInfo(peer));
                        request
                    },
                ));
                let connection = builder.serve_connection(TokioIo::new(stream), service).into_owned();
                let connection = graceful.watch(connection);
                tokio::spawn(async move {
                    if let Err(e) = connection.await {
                        tracing::debug!(error = %e, "connection closed with an error");
                    }
                });
            }
            () = &mut shutdown => break,
        }
    }
    drop(listener);
    graceful.shutdown().await;
}
