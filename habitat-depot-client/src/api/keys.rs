//! Origin keys (docs/api.md, "Origin keys"): public keys as parsed keys, as text or into a key
//! cache; secret keys for their origin's administrators.

use std::path::PathBuf;

use habitat_core::keys::{PublicKey, SecretKey};
use habitat_core::{KeyCache, OriginName};
use reqwest::{Method, Url};

use crate::blocking;
use crate::client::{Client, Payload};
use crate::error::{Error, Result};
use crate::retry::Retry;
use crate::segment;
use crate::transfer::UploadOutcome;
use crate::types::KeyInfo;

impl Client {
    fn key_url(&self, origin: &OriginName, kind: &str, revision: Option<&str>) -> Result<Url> {
        let revision = match revision {
            Some(revision) => segment("key revision", revision)?,
            None => "latest",
        };
        Ok(self.endpoint(["depot", "origins", origin.as_str(), kind, revision]))
    }

    /// `GET /v1/depot/origins/{o}/keys`: the origin's public key revisions, newest first.
    ///
    /// # Errors
    /// 404 for an unknown origin.
    pub async fn public_keys(&self, origin: &OriginName) -> Result<Vec<KeyInfo>> {
        self.get_json(self.endpoint(["depot", "origins", origin.as_str(), "keys"]))
            .await
    }

    /// The public key file of `origin` at `revision` (`None`: the newest), as the depot
    /// serves it.
    ///
    /// # Errors
    /// 404 when there is no such key.
    pub async fn public_key_text(
        &self,
        origin: &OriginName,
        revision: Option<&str>,
    ) -> Result<String> {
        let url = self.key_url(origin, "keys", revision)?;
        let answer = self.call(Method::GET, url, None, Retry::Always).await?;
        Ok(answer.text()?.to_owned())
    }

    /// The public key of `origin` at `revision` (`None`: the newest), parsed and checked to be
    /// the key asked for.
    ///
    /// # Errors
    /// 404 when there is no such key; [`Error::Decode`] when it does not parse;
    /// [`Error::UnexpectedKey`] when the depot sent another key.
    pub async fn public_key(
        &self,
        origin: &OriginName,
        revision: Option<&str>,
    ) -> Result<PublicKey> {
        let url = self.key_url(origin, "keys", revision)?;
        let answer = self
            .call(Method::GET, url.clone(), None, Retry::Always)
            .await?;
        let key = PublicKey::parse(answer.text()?).map_err(|e| Error::Decode {
            url: url.to_string(),
            reason: format!("not a public key file: {e}"),
        })?;
        expect_key(origin, revision, key.name())?;
        Ok(key)
    }

    /// Fetches a public key (as [`Client::public_key`]) into `cache` and returns its path.
    /// A key file already there with the same content is fine.
    ///
    /// # Errors
    /// As [`Client::public_key`]; [`Error::Core`] when the cache cannot be written or holds
    /// another key under that name.
    pub async fn download_public_key(
        &self,
        origin: &OriginName,
        revision: Option<&str>,
        cache: &KeyCache,
    ) -> Result<PathBuf> {
        let key = self.public_key(origin, revision).await?;
        let cache = cache.clone();
        blocking(
            cache.dir().to_owned(),
            move || Ok(cache.write_public(&key)?),
        )
        .await
    }

    /// Fetches every public key revision of `origin` into `cache` (what
    /// `hab origin key download ORIGIN` does); returns their paths, newest first.
    pub async fn download_public_keys(
        &self,
        origin: &OriginName,
        cache: &KeyCache,
    ) -> Result<Vec<PathBuf>> {
        let mut paths = Vec::new();
        for info in self.public_keys(origin).await? {
            paths.push(
                self.download_public_key(origin, Some(&info.revision), cache)
                    .await?,
            );
        }
        Ok(paths)
    }

    /// `POST /v1/depot/origins/{o}/keys/{rev}`: publishes a public key (administrator and up).
    ///
    /// A 409 for a revision the depot holds with this very key is
    /// [`UploadOutcome::AlreadyPresent`] (a member learns that too); retried, since sending it
    /// twice is harmless.
    ///
    /// # Errors
    /// 403 below administrator; 409 when the depot holds another key under this revision;
    /// [`Error::Core`] when the key's name is not an origin name.
    pub async fn upload_public_key(&self, key: &PublicKey) -> Result<UploadOutcome> {
        let origin: OriginName = key.name().name().parse()?;
        let revision = key.name().revision();
        let url = self.key_url(&origin, "keys", Some(revision))?;
        let body = Payload::Text(key.to_file_string().into());
        match self
            .call(Method::POST, url, Some(body), Retry::Always)
            .await
        {
            Ok(_) => Ok(UploadOutcome::Created),
            Err(err) if err.is_conflict() => match self.public_key(&origin, Some(revision)).await {
                Ok(there) if there == *key => Ok(UploadOutcome::AlreadyPresent),
                _ => Err(err),
            },
            Err(err) => Err(err),
        }
    }

    /// `POST /v1/depot/origins/{o}/secret_keys/{rev}`: stores a secret key, encrypted at rest
    /// (administrator and up).
    ///
    /// # Errors
    /// 403 below administrator; 422 `key_mismatch` when the depot holds another public key
    /// under this revision.
    pub async fn upload_secret_key(&self, key: &SecretKey) -> Result<()> {
        let origin: OriginName = key.name().name().parse()?;
        let url = self.key_url(&origin, "secret_keys", Some(key.name().revision()))?;
        let body = Payload::Text(key.to_file_string().into());
        self.call(Method::POST, url, Some(body), Retry::Unsent)
            .await
            .map(drop)
    }

    /// `GET /v1/depot/origins/{o}/secret_keys/latest`: the origin's newest secret key
    /// (administrator and up).
    ///
    /// # Errors
    /// 403 below administrator; 404 when none was uploaded; [`Error::Decode`] when it does not
    /// parse (the message never holds the key).
    pub async fn latest_secret_key(&self, origin: &OriginName) -> Result<SecretKey> {
        let url = self.key_url(origin, "secret_keys", None)?;
        let answer = self
            .call(Method::GET, url.clone(), None, Retry::Always)
            .await?;
        let key = SecretKey::parse(answer.text()?).map_err(|e| Error::Decode {
            url: url.to_string(),
            reason: format!("not a secret key file: {e}"),
        })?;
        expect_key(origin, None, key.name())?;
        Ok(key)
    }

    /// Fetches the newest secret key (as [`Client::latest_secret_key`]) into `cache`.
    pub async fn download_latest_secret_key(
        &self,
        origin: &OriginName,
        cache: &KeyCache,
    ) -> Result<PathBuf> {
        let key = self.latest_secret_key(origin).await?;
        let cache = cache.clone();
        blocking(
            cache.dir().to_owned(),
            move || Ok(cache.write_secret(&key)?),
        )
        .await
    }
}

/// A key served for `origin` (and `revision`) must be named so.
fn expect_key(
    origin: &OriginName,
    revision: Option<&str>,
    found: &habitat_core::NamedRevision,
) -> Result<()> {
    let same = found.name() == origin.as_str() && revision.is_none_or(|r| r == found.revision());
    if same {
        return Ok(());
    }
    Err(Error::UnexpectedKey {
        expected: match revision {
            Some(revision) => format!("{origin}-{revision}"),
            None => origin.to_string(),
        },
        found: found.to_string(),
    })
}
