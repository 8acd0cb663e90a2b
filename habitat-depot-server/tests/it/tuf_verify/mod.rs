//! Independent verifiers of the depot's TUF repository: the reference client (python-tuf's
//! `ngclient`, see `habitat_test_support::tuf`) and a Rust TUF client crate (`tough`), both
//! refreshing, finding and downloading targets, and both refusing each attack that the test
//! proxy (`habitat_test_support::proxy`) mounts: rollback, freeze, mix-and-match, an arbitrary
//! package, a substituted origin key.
//!
//! `stand_in` runs them against a repository in the depot's layout written by python-tuf's
//! own metadata API, which tests the harness and the attacks on their own.

mod core_made;
mod depot;
mod stand_in;

use std::path::Path;

use habitat_test_support::tuf::{ReferenceClient, Refused, Verified};
use tough::{
    IntoVec, RepositoryLoader, TargetName, Transport, TransportError, TransportErrorKind,
    TransportStream,
};
use url::Url;

/// tough's transport over reqwest. tough asks for a target of a consistent-snapshot repository
/// as `{hash}.{dir}/{name}`, where the specification and the depot put the hash on the file
/// name, `{dir}/{hash}.{name}`: the transport asks for the latter.
#[derive(Clone, Debug)]
struct DepotTransport {
    http: reqwest::Client,
    targets: String,
}

#[tough::async_trait]
impl Transport for DepotTransport {
    async fn fetch(&self, url: Url) -> Result<TransportStream, TransportError> {
        let url = self.depot_layout(url);
        let failed = |error: reqwest::Error| {
            TransportError::new_with_cause(TransportErrorKind::Other, url.as_str(), error)
        };
        let answer = self.http.get(url.clone()).send().await.map_err(failed)?;
        let status = answer.status();
        if status == reqwest::StatusCode::NOT_FOUND || status == reqwest::StatusCode::FORBIDDEN {
            return Err(TransportError::new(
                TransportErrorKind::FileNotFound,
                url.as_str(),
            ));
        }
        let answer = answer.error_for_status().map_err(failed)?;
        let body = answer.bytes().await.map_err(failed)?;
        Ok(Box::pin(futures_util::stream::once(
            async move { Ok(body) },
        )))
    }
}

impl DepotTransport {
    /// `{targets}{hash}.{dir}/{name}` as `{targets}{dir}/{hash}.{name}`; other URLs as they are.
    fn depot_layout(&self, url: Url) -> Url {
        let Some(rest) = url.as_str().strip_prefix(&self.targets) else {
            return url;
        };
        let Some((hash, path)) = rest.split_once('.') else {
            return url;
        };
        let (dir, name) = path.rsplit_once('/').unwrap_or(("", path));
        let moved = if dir.is_empty() {
            format!("{}{hash}.{name}", self.targets)
        } else {
            format!("{}{dir}/{hash}.{name}", self.targets)
        };
        moved.parse().unwrap_or(url)
    }
}

/// One client of each kind with its own trusted state, kept between runs as a client keeps it
/// (so that rollback protection holds from one run to the next).
struct Clients {
    python: Option<ReferenceClient>,
    root: Vec<u8>,
    root_file: std::path::PathBuf,
    python_work: tempfile::TempDir,
    tough_work: tempfile::TempDir,
}

/// What each client made of one run: the bodies of the targets asked, or why it refused.
struct Outcome {
    python: Option<Result<Vec<Verified>, Refused>>,
    tough: Result<Vec<Vec<u8>>, String>,
}

impl Clients {
    /// Both clients, trusting the root in `root_file`; the reference client only when it is
    /// installed (see `ReferenceClient::find`).
    fn new(root_file: &Path) -> Self {
        Self {
            python: ReferenceClient::find(),
            root: std::fs::read(root_file).unwrap(),
            root_file: root_file.to_owned(),
            python_work: tempfile::tempdir().unwrap(),
            tough_work: tempfile::tempdir().unwrap(),
        }
    }

    /// Both refresh from `base` (`{depot}/v1/tuf`) and download `paths`.
    async fn run(&self, base: &str, paths: &[&str]) -> Outcome {
        let python = match &self.python {
            Some(client) => Some(
                client
                    .verify(base, &self.root_file, self.python_work.path(), paths)
                    .await,
            ),
            None => None,
        };
        let tough = tough_run(base, &self.root, self.tough_work.path(), paths).await;
        Outcome { python, tough }
    }

    /// Both accept: the bodies of `paths`, the same from each client.
    #[track_caller]
    fn accepted(outcome: Outcome) -> Vec<Vec<u8>> {
        let bodies = match outcome.tough {
            Ok(bodies) => bodies,
            Err(error) => panic!("tough refused: {error}"),
        };
        if let Some(python) = outcome.python {
            let verified = python.unwrap_or_else(|refused| {
                panic!(
                    "the reference client refused: {}: {}",
                    refused.error, refused.message
                )
            });
            let theirs: Vec<Vec<u8>> = verified.iter().map(Verified::bytes).collect();
            assert_eq!(theirs, bodies, "the two clients read different targets");
        }
        bodies
    }

    /// Both refuse, the reference client with the error class `class` and tough with a message
    /// containing `tough_says`.
    #[track_caller]
    fn refused(outcome: Outcome, class: &str, tough_says: &str) {
        match outcome.tough {
            Ok(_) => panic!("tough accepted what it should refuse ({tough_says})"),
            Err(error) => assert!(
                error.contains(tough_says),
                "tough refused with `{error}`, not with `{tough_says}`"
            ),
        }
        if let Some(python) = outcome.python {
            match python {
                Ok(_) => panic!("the reference client accepted what it should refuse ({class})"),
                Err(refused) => assert_eq!(
                    refused.error, class,
                    "the reference client refused with {}: {}",
                    refused.error, refused.message
                ),
            }
        }
    }
}

/// tough loads the repository at `base` trusting `root`, with its datastore in `work`, and
/// reads `paths`; an error as its message with its causes.
async fn tough_run(
    base: &str,
    root: &[u8],
    work: &Path,
    paths: &[&str],
) -> Result<Vec<Vec<u8>>, String> {
    let base = base.trim_end_matches('/');
    let targets = format!("{base}/targets/");
    let transport = DepotTransport {
        http: reqwest::Client::builder().no_proxy().build().unwrap(),
        targets: targets.clone(),
    };
    let repository = RepositoryLoader::new(
        &root,
        format!("{base}/metadata/").parse().unwrap(),
        targets.parse().unwrap(),
    )
    .transport(transport)
    .datastore(work)
    .load()
    .await
    .map_err(|error| chain(&error))?;
    let mut bodies = Vec::new();
    for path in paths {
        let name = TargetName::new(*path).map_err(|error| chain(&error))?;
        let Some(stream) = repository
            .read_target(&name)
            .await
            .map_err(|error| chain(&error))?
        else {
            return Err(format!("no target `{path}`"));
        };
        bodies.push(stream.into_vec().await.map_err(|error| chain(&error))?);
    }
    Ok(bodies)
}

/// An error's message followed by its causes'.
fn chain(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut cause = error.source();
    while let Some(next) = cause {
        text.push_str(&format!(": {next}"));
        cause = next.source();
    }
    text
}
