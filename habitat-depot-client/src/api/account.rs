//! Health and the caller's account (docs/api.md, "Status", "Profile and tokens").

use reqwest::Method;
use serde_json::json;

use crate::client::{Client, Payload};
use crate::error::Result;
use crate::retry::Retry;
use crate::segment;
use crate::types::{AccessToken, Invitation, NewAccessToken, Profile, UserOrigin};

impl Client {
    /// `GET /v1/status`: `Ok` when the depot's stores both answer.
    ///
    /// # Errors
    /// [`Error::Http`](crate::Error::Http) 503 naming the store that failed (after retries),
    /// or [`Error::Connection`](crate::Error::Connection).
    pub async fn status(&self) -> Result<()> {
        self.call_empty(Method::GET, self.endpoint(["status"]), None)
            .await
    }

    /// `GET /v1/profile`: the token's account.
    ///
    /// # Errors
    /// 401 without a valid token.
    pub async fn profile(&self) -> Result<Profile> {
        self.get_json(self.endpoint(["profile"])).await
    }

    /// `GET /v1/profile/access-tokens`: the caller's tokens, without their secrets.
    pub async fn access_tokens(&self) -> Result<Vec<AccessToken>> {
        self.get_json(self.endpoint(["profile", "access-tokens"]))
            .await
    }

    /// `POST /v1/profile/access-tokens`: a new token named `name`, expiring after
    /// `expires_in_days` if given. Its secret is in the answer, and only there.
    ///
    /// Not retried once the depot may have received it (it would make a second token).
    ///
    /// # Errors
    /// 422 for a name over 255 characters or 0 days.
    pub async fn create_access_token(
        &self,
        name: &str,
        expires_in_days: Option<u32>,
    ) -> Result<NewAccessToken> {
        let mut body = json!({ "name": name });
        if let Some(days) = expires_in_days {
            body["expires_in_days"] = json!(days);
        }
        let url = self.endpoint(["profile", "access-tokens"]);
        self.call(Method::POST, url, Some(Payload::json(&body)), Retry::Unsent)
            .await?
            .json()
    }

    /// `DELETE /v1/profile/access-tokens/{id}`: revokes one of the caller's tokens.
    ///
    /// # Errors
    /// 404 for an unknown id or someone else's token.
    pub async fn delete_access_token(&self, id: &str) -> Result<()> {
        let id = segment("token id", id)?;
        let url = self.endpoint(["profile", "access-tokens", id]);
        self.call_empty(Method::DELETE, url, None).await
    }

    /// `GET /v1/user/origins`: the origins the caller belongs to, with their role.
    pub async fn my_origins(&self) -> Result<Vec<UserOrigin>> {
        self.get_json(self.endpoint(["user", "origins"])).await
    }

    /// `GET /v1/user/invitations`: the invitations addressed to the caller.
    pub async fn my_invitations(&self) -> Result<Vec<Invitation>> {
        self.get_json(self.endpoint(["user", "invitations"])).await
    }
}
