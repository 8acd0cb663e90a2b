//! A typed async client for the Habitat depot API (docs/api.md): every route, uploads and downloads
//! streamed from and to files with a progress callback, retries with back-off on connection
//! errors, 5xx and 429, and errors that carry the depot's status, code and message.
//!
//! ```
//! use habitat_depot_client::{Client, DepotUrl, RetryPolicy, Token};
//! use std::time::Duration;
//!
//! // The seed's view URL: the depot root plus a channel.
//! let url: DepotUrl = "http://localhost:9636/v1/depot/views/myview".parse()?;
//! assert_eq!(url.api_root().as_str(), "http://localhost:9636/v1");
//! assert_eq!(url.channel().map(|c| c.as_str()), Some("myview"));
//!
//! let token = Token::new("hab_c2VjcmV0LXNlY3JldA")?;
//! let client = Client::new(url, Some(token))?
//!     .with_retry(RetryPolicy::new(3, Duration::from_millis(200)));
//! // Tokens never show: not in Debug, not in Display, not in errors.
//! assert!(!format!("{client:?}").contains("c2VjcmV0"));
//! # Ok::<(), habitat_depot_client::Error>(())
//! ```
//!
//! Calls are `async` and need a Tokio runtime:
//!
//! ```no_run
//! # async fn run() -> Result<(), habitat_depot_client::Error> {
//! use habitat_core::{ChannelName, PackageIdent, PackageTarget};
//! use habitat_depot_client::{Client, DepotUrl};
//!
//! let client = Client::new("http://localhost:9636".parse()?, None)?;
//! let ident: PackageIdent = "core/redis".parse()?;
//! let stable = ChannelName::stable();
//! let channel = client.channel_or(&stable);
//! let latest = client.latest(&ident, PackageTarget::X86_64Linux, Some(channel)).await?;
//! let file = client
//!     .download(&latest.ident, latest.target, Some(channel), "/tmp".as_ref(), |p| {
//!         eprintln!("{} of {:?} bytes", p.done, p.total)
//!     })
//!     .await?;
//! println!("{}", file.path.display());
//! # Ok(()) }
//! ```

use std::path::PathBuf;

mod api;
mod client;
mod error;
mod retry;
mod token;
mod transfer;
pub mod tuf;
mod types;
mod url;

pub use api::packages::PackageListing;
pub use client::{Client, ClientBuilder};
pub use error::{BoxError, Error, Result};
pub use retry::RetryPolicy;
pub use token::Token;
pub use transfer::{Downloaded, Progress, UploadOutcome};
pub use types::{
    AccessToken, AuditEntry, AuditFilter, ChannelManifest, Invitation, KeyInfo, ListedPackage,
    ManifestAnswer, ManifestEntry, Member, NewAccessToken, Origin, Package, PackageChannel, Page,
    PageRequest, Profile, Role, UserOrigin, VersionInfo, Visibility,
};
pub use url::DepotUrl;

/// A free-text path segment (account name, invitation id, key revision): `.` and `..` would
/// change the route, and an empty one names none.
pub(crate) fn segment<'a>(what: &'static str, value: &'a str) -> Result<&'a str> {
    let reason = match value {
        "" => "it is empty",
        "." | ".." => "it is a relative path segment",
        _ => return Ok(value),
    };
    Err(Error::InvalidValue {
        what,
        value: value.to_owned(),
        reason,
    })
}

/// Runs blocking file work (hashing, key cache writes) off the async threads. `path` names the
/// file in the unlikely error that the runtime is shutting down.
pub(crate) async fn blocking<T: Send + 'static>(
    path: PathBuf,
    work: impl FnOnce() -> Result<T> + Send + 'static,
) -> Result<T> {
    match tokio::task::spawn_blocking(work).await {
        Ok(result) => result,
        Err(err) => match err.try_into_panic() {
            Ok(panic) => std::panic::resume_unwind(panic),
            Err(_) => Err(Error::Io {
                action: "finish work on",
                path,
                source: std::io::Error::other("the async runtime is shutting down"),
            }),
        },
    }
}
