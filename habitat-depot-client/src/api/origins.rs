//! Origins, members and invitations (docs/api.md, "Origins, members and invitations").

use habitat_core::OriginName;
use reqwest::{Method, Url};
use serde_json::json;

use crate::client::{Client, Payload};
use crate::error::Result;
use crate::retry::Retry;
use crate::segment;
use crate::types::{
    AuditEntry, AuditFilter, Invitation, Invitations, Member, Members, Origin, Page, PageRequest,
    Role, RoleBody, Visibility,
};

impl Client {
    fn origin_url<'a>(&self, origin: &'a OriginName, rest: &[&'a str]) -> Url {
        let mut segments = vec!["depot", "origins", origin.as_str()];
        segments.extend_from_slice(rest);
        self.endpoint(segments)
    }

    /// `POST /v1/depot/origins`: creates an origin (with channels `unstable` and `stable`)
    /// owned by the caller.
    ///
    /// # Errors
    /// 409 when it exists (`hab origin create` counts that as success when the caller owns it),
    /// 401 without a token.
    pub async fn create_origin(
        &self,
        name: &OriginName,
        default_package_visibility: Option<Visibility>,
    ) -> Result<Origin> {
        let mut body = json!({ "name": name });
        if let Some(visibility) = default_package_visibility {
            body["default_package_visibility"] = json!(visibility);
        }
        let url = self.endpoint(["depot", "origins"]);
        self.call(Method::POST, url, Some(Payload::json(&body)), Retry::Unsent)
            .await?
            .json()
    }

    /// `GET /v1/depot/origins/{o}`.
    ///
    /// # Errors
    /// 404 for an unknown origin.
    pub async fn origin(&self, name: &OriginName) -> Result<Origin> {
        self.get_json(self.origin_url(name, &[])).await
    }

    /// `DELETE /v1/depot/origins/{o}` (owner only).
    ///
    /// # Errors
    /// 409 `origin_not_empty` naming what is left (packages, members, extra channels).
    pub async fn delete_origin(&self, name: &OriginName) -> Result<()> {
        self.call_empty(Method::DELETE, self.origin_url(name, &[]), None)
            .await
    }

    /// `POST /v1/depot/origins/{o}/transfer/{account}` (owner only): `account`, a member,
    /// becomes the owner; the caller stays a `maintainer`.
    ///
    /// # Errors
    /// 403 when `account` is not a member (or the caller not the owner); 404 for an unknown
    /// account; 422 when `account` owns the origin already.
    pub async fn transfer_origin(&self, origin: &OriginName, account: &str) -> Result<()> {
        let url = self.origin_url(origin, &["transfer", account]);
        self.call_empty(Method::POST, url, None).await
    }

    /// `POST /v1/depot/origins/{o}/depart`: the caller leaves the origin.
    ///
    /// # Errors
    /// 403 for the owner (who transfers or deletes the origin instead); 422 when the caller is
    /// not a member.
    pub async fn depart_origin(&self, origin: &OriginName) -> Result<()> {
        let url = self.origin_url(origin, &["depart"]);
        self.call_empty(Method::POST, url, None).await
    }

    /// One page of `GET /v1/depot/origins/{o}/audit`: the origin's audit log, newest first
    /// (maintainer and up).
    pub async fn audit_log(
        &self,
        origin: &OriginName,
        filter: &AuditFilter,
        page: PageRequest,
    ) -> Result<Page<AuditEntry>> {
        let extra: Vec<(&str, &str)> = [
            ("action", &filter.action),
            ("ident", &filter.ident),
            ("account", &filter.account),
        ]
        .into_iter()
        .filter_map(|(key, value)| value.as_deref().map(|v| (key, v)))
        .collect();
        let url = super::packages::with_page(self.origin_url(origin, &["audit"]), page, &extra);
        self.get_json(url).await
    }

    /// Every entry of [`Client::audit_log`], newest first.
    pub async fn audit_log_all(
        &self,
        origin: &OriginName,
        filter: &AuditFilter,
    ) -> Result<Vec<AuditEntry>> {
        super::packages::all_pages(|page| self.audit_log(origin, filter, page)).await
    }

    /// `GET /v1/depot/origins/{o}/users`: the members and their roles (readonly_member and
    /// up).
    pub async fn members(&self, origin: &OriginName) -> Result<Vec<Member>> {
        let members: Members = self.get_json(self.origin_url(origin, &["users"])).await?;
        Ok(members.members)
    }

    /// `DELETE /v1/depot/origins/{o}/users/{u}` (owner only; the owner cannot be removed).
    pub async fn remove_member(&self, origin: &OriginName, account: &str) -> Result<()> {
        let account = segment("account name", account)?;
        let url = self.origin_url(origin, &["users", account]);
        self.call_empty(Method::DELETE, url, None).await
    }

    /// `GET /v1/depot/origins/{o}/users/{u}/role` (member and up).
    ///
    /// # Errors
    /// 404 when `account` is not a member.
    pub async fn member_role(&self, origin: &OriginName, account: &str) -> Result<Role> {
        let account = segment("account name", account)?;
        let url = self.origin_url(origin, &["users", account, "role"]);
        let body: RoleBody = self.get_json(url).await?;
        Ok(body.role)
    }

    /// `PUT /v1/depot/origins/{o}/users/{u}/role` (administrator and up).
    ///
    /// # Errors
    /// 403 for `owner`, for one's own role and for the owner's role.
    pub async fn set_member_role(
        &self,
        origin: &OriginName,
        account: &str,
        role: Role,
    ) -> Result<()> {
        let account = segment("account name", account)?;
        let url = self.origin_url(origin, &["users", account, "role"]);
        let body = Payload::json(&json!({ "role": role }));
        self.call_empty(Method::PUT, url, Some(body)).await
    }

    /// `POST /v1/depot/origins/{o}/users/{u}/invitations`: invites `account` (maintainer and
    /// up).
    ///
    /// # Errors
    /// 404 for an unknown account; 409 when already a member or invited.
    pub async fn send_invitation(&self, origin: &OriginName, account: &str) -> Result<Invitation> {
        let account = segment("account name", account)?;
        let url = self.origin_url(origin, &["users", account, "invitations"]);
        self.call(Method::POST, url, None, Retry::Unsent)
            .await?
            .json()
    }

    /// `GET /v1/depot/origins/{o}/invitations`: pending invitations (readonly_member and up).
    pub async fn origin_invitations(&self, origin: &OriginName) -> Result<Vec<Invitation>> {
        let body: Invitations = self
            .get_json(self.origin_url(origin, &["invitations"]))
            .await?;
        Ok(body.invitations)
    }

    /// `PUT /v1/depot/origins/{o}/invitations/{id}`: the invitee joins as `member`.
    ///
    /// # Errors
    /// 403 for anyone but the invitee; 404 for an unknown id.
    pub async fn accept_invitation(&self, origin: &OriginName, id: &str) -> Result<()> {
        let id = segment("invitation id", id)?;
        let url = self.origin_url(origin, &["invitations", id]);
        self.call_empty(Method::PUT, url, None).await
    }

    /// `PUT /v1/depot/origins/{o}/invitations/{id}/ignore`: the invitee declines.
    ///
    /// # Errors
    /// 403 for anyone but the invitee; 404 for an unknown id.
    pub async fn ignore_invitation(&self, origin: &OriginName, id: &str) -> Result<()> {
        let id = segment("invitation id", id)?;
        let url = self.origin_url(origin, &["invitations", id, "ignore"]);
        self.call_empty(Method::PUT, url, None).await
    }

    /// `DELETE /v1/depot/origins/{o}/invitations/{id}`: withdraws an invitation (maintainer
    /// and up).
    pub async fn rescind_invitation(&self, origin: &OriginName, id: &str) -> Result<()> {
        let id = segment("invitation id", id)?;
        let url = self.origin_url(origin, &["invitations", id]);
        self.call_empty(Method::DELETE, url, None).await
    }
}
