//! Where metadata and targets come from: the depot's `/v1/tuf/` routes, or anything else that
//! answers by path (the tests' in-memory repository).

use std::future::Future;

use bytes::Bytes;
use reqwest::Method;

use crate::client::Client;
use crate::error::{Error, Result};
use crate::retry::Retry;

/// Reads files of a TUF repository by their path under the TUF base: `metadata/timestamp.json`,
/// `targets/keys/core/{hash}.core-20180119235000.pub`.
pub trait Fetch: Send + Sync {
    /// The depot, as errors name it (`http://127.0.0.1:9636`).
    fn depot(&self) -> String;

    /// The file at `path`, `Ok(None)` when there is none (404). A body longer than `limit`
    /// bytes is an error.
    fn fetch(&self, path: &str, limit: usize)
    -> impl Future<Output = Result<Option<Bytes>>> + Send;
}

impl Fetch for Client {
    /// The depot's root: a view URL's TUF repository is the whole depot's.
    fn depot(&self) -> String {
        let root = self.url.api_root().as_str();
        root.strip_suffix("/v1").unwrap_or(root).to_owned()
    }

    async fn fetch(&self, path: &str, limit: usize) -> Result<Option<Bytes>> {
        let url = self.endpoint(std::iter::once("tuf").chain(path.split('/')));
        match self
            .call(Method::GET, url.clone(), None, Retry::Always)
            .await
        {
            Ok(answer) if answer.body.len() > limit => Err(Error::Decode {
                url: url.to_string(),
                reason: format!("the answer is longer than {limit} bytes"),
            }),
            Ok(answer) => Ok(Some(answer.body)),
            Err(err) if err.is_not_found() => Ok(None),
            Err(err) => Err(err),
        }
    }
}
