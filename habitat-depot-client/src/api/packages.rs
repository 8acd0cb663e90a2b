//! Packages and channels (docs/api.md, "Packages", "Channels", "Seed-era views"): everything but
//! the transfers, which live in `transfer.rs`.

use std::future::Future;

use habitat_core::{
    ChannelName, FullyQualifiedIdent, OriginName, PackageIdent, PackageName, PackageTarget,
};
use reqwest::header::{ETAG, IF_NONE_MATCH};
use reqwest::{Method, StatusCode, Url};

use crate::client::{Answer, Client, SMALL_BODY_LIMIT, read_limited};
use crate::error::{Error, Result};
use crate::retry::{Attempts, Next, Retry};
use crate::types::{
    BulkChange, ChannelManifest, ListedPackage, ManifestAnswer, Named, Package, PackageChannel,
    Page, PageRequest, Rdeps, VersionInfo, Visibility, partial_ident,
};

/// The largest page the depot serves; paging through everything uses it.
const MAX_PAGE: u64 = 500;

/// Which packages a listing shows: an origin's, or one package's, or one version's, optionally
/// only those in a channel or for a target. Listings are newest version first.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PackageListing {
    origin: OriginName,
    name: Option<PackageName>,
    version: Option<String>,
    channel: Option<ChannelName>,
    target: Option<PackageTarget>,
}

impl PackageListing {
    /// Every package of `origin`.
    pub fn origin(origin: OriginName) -> Self {
        Self {
            origin,
            name: None,
            version: None,
            channel: None,
            target: None,
        }
    }

    /// The releases of `origin/name` or of `origin/name/version` (a release, if the ident has
    /// one, is ignored: a listing is never narrower than a version).
    pub fn ident(ident: &PackageIdent) -> Self {
        Self {
            name: Some(ident.name().clone()),
            version: ident.version().map(str::to_owned),
            ..Self::origin(ident.origin().clone())
        }
    }

    /// Only packages in `channel`.
    pub fn in_channel(mut self, channel: ChannelName) -> Self {
        self.channel = Some(channel);
        self
    }

    /// Only packages for `target` (by default: every target).
    pub fn for_target(mut self, target: PackageTarget) -> Self {
        self.target = Some(target);
        self
    }

    fn segments(&self) -> Vec<&str> {
        let mut segments = vec!["depot"];
        match &self.channel {
            Some(channel) => {
                segments.extend(["channels", self.origin.as_str(), channel.as_str(), "pkgs"])
            }
            None => segments.extend(["pkgs", self.origin.as_str()]),
        }
        segments.extend(self.name.as_ref().map(PackageName::as_str));
        segments.extend(self.version.as_deref());
        segments
    }
}

/// `url` with these query parameters appended.
pub(crate) fn with_query(mut url: Url, pairs: &[(&str, &str)]) -> Url {
    if !pairs.is_empty() {
        let mut query = url.query_pairs_mut();
        for (key, value) in pairs {
            query.append_pair(key, value);
        }
    }
    url
}

/// `?target=`.
pub(crate) fn with_target(url: Url, target: PackageTarget) -> Url {
    with_query(url, &[("target", target.as_str())])
}

/// `?range=&limit=`.
pub(super) fn with_page(url: Url, page: PageRequest, extra: &[(&str, &str)]) -> Url {
    let start = page.start.to_string();
    let limit = page.limit.map(|l| l.to_string());
    let mut pairs = vec![("range", start.as_str())];
    if let Some(limit) = &limit {
        pairs.push(("limit", limit));
    }
    pairs.extend_from_slice(extra);
    with_query(url, &pairs)
}

/// The four segments of a fully qualified ident.
fn ident_segments(ident: &FullyQualifiedIdent) -> [&str; 4] {
    [
        ident.origin().as_str(),
        ident.name().as_str(),
        ident.version(),
        ident.release(),
    ]
}

/// Every page of a listing, fetched in order with the largest page size.
pub(super) async fn all_pages<T, F, Fut>(mut fetch: F) -> Result<Vec<T>>
where
    F: FnMut(PageRequest) -> Fut,
    Fut: Future<Output = Result<Page<T>>>,
{
    let mut items = Vec::new();
    let mut start = 0;
    loop {
        let page = fetch(PageRequest::at(start).with_limit(MAX_PAGE)).await?;
        let next = page.next_start();
        items.extend(page.data);
        match next {
            // A depot that does not move forward would page forever.
            Some(next) if next > start => start = next,
            _ => return Ok(items),
        }
    }
}

impl Client {
    /// The URL of a package route: `/depot/pkgs/o/n/v/r[/rest…]`.
    pub(crate) fn package_url(&self, ident: &FullyQualifiedIdent, rest: &[&str]) -> Url {
        let mut segments = vec!["depot", "pkgs"];
        segments.extend(ident_segments(ident));
        segments.extend_from_slice(rest);
        self.endpoint(segments)
    }

    /// The URL of a package route in a channel: `/depot/channels/o/c/pkgs/n/v/r[/rest…]`.
    pub(crate) fn channel_package_url(
        &self,
        ident: &FullyQualifiedIdent,
        channel: &ChannelName,
        rest: &[&str],
    ) -> Url {
        let [origin, name, version, release] = ident_segments(ident);
        let mut segments = vec!["depot", "channels", origin, channel.as_str(), "pkgs"];
        segments.extend([name, version, release]);
        segments.extend_from_slice(rest);
        self.endpoint(segments)
    }

    /// `GET /v1/depot/pkgs/{o}/{n}/{v}/{r}?target=`: one package.
    ///
    /// # Errors
    /// 404 when it does not exist for `target` (or is private and the caller not a member).
    pub async fn package(
        &self,
        ident: &FullyQualifiedIdent,
        target: PackageTarget,
    ) -> Result<Package> {
        self.get_json(with_target(self.package_url(ident, &[]), target))
            .await
    }

    /// The latest release of `origin/name` or `origin/name/version` for `target` (version
    /// ordering of docs/formats.md): across all channels, or in `channel` (what install
    /// resolves).
    /// A fully qualified `ident` answers that very package (from `channel`, if given).
    ///
    /// # Errors
    /// 404 when there is none (in that channel).
    pub async fn latest(
        &self,
        ident: &PackageIdent,
        target: PackageTarget,
        channel: Option<&ChannelName>,
    ) -> Result<Package> {
        if let Ok(exact) = FullyQualifiedIdent::try_from(ident.clone()) {
            let url = match channel {
                Some(channel) => self.channel_package_url(&exact, channel, &[]),
                None => self.package_url(&exact, &[]),
            };
            return self.get_json(with_target(url, target)).await;
        }
        let mut listing = PackageListing::ident(ident);
        listing.channel = channel.cloned();
        let mut segments = listing.segments();
        segments.push("latest");
        self.get_json(with_target(self.endpoint(segments), target))
            .await
    }

    /// One page of a listing (`GET /v1/depot/pkgs/{o}[/{n}[/{v}]]` or its channel twin).
    ///
    /// # Errors
    /// 404 for an unknown origin or channel.
    pub async fn packages(
        &self,
        listing: &PackageListing,
        page: PageRequest,
    ) -> Result<Page<ListedPackage>> {
        let target = listing.target.map(PackageTarget::as_str);
        let extra: Vec<(&str, &str)> = target.map(|t| ("target", t)).into_iter().collect();
        let url = with_page(self.endpoint(listing.segments()), page, &extra);
        self.get_json(url).await
    }

    /// `GET /v1/depot/channels/{o}/{c}/manifest?target=`: every member of the channel for
    /// `target`, with checksums and TDEPS, in one answer (a `hab-depot` route; a Builder
    /// answers 404). Given the `ETag` of an earlier answer, an unchanged channel is
    /// [`ManifestAnswer::Unchanged`] (304), which costs no body.
    ///
    /// # Errors
    /// 404 for an unknown origin or channel, or a depot without the route.
    pub async fn channel_manifest(
        &self,
        origin: &OriginName,
        channel: &ChannelName,
        target: PackageTarget,
        etag: Option<&str>,
    ) -> Result<ManifestAnswer> {
        let url = with_target(
            self.endpoint([
                "depot",
                "channels",
                origin.as_str(),
                channel.as_str(),
                "manifest",
            ]),
            target,
        );
        let mut attempts = Attempts::new(&self.retry, Retry::Always, &url);
        loop {
            attempts.start();
            let mut request = self.request(Method::GET, url.clone());
            if let Some(etag) = etag {
                request = request.header(IF_NONE_MATCH, etag);
            }
            let mut response = match attempts.after(request.send().await).await? {
                Next::Retry => continue,
                Next::Response(response) => response,
            };
            if response.status() == StatusCode::NOT_MODIFIED && etag.is_some() {
                return Ok(ManifestAnswer::Unchanged);
            }
            if !response.status().is_success() {
                return Err(self.http_error(&Method::GET, response).await);
            }
            let new_etag = response
                .headers()
                .get(ETAG)
                .and_then(|v| v.to_str().ok())
                .map(str::to_owned);
            match read_limited(&mut response, SMALL_BODY_LIMIT).await {
                Ok(Some(body)) => {
                    let manifest: ChannelManifest = Answer { url, body }.json()?;
                    return Ok(ManifestAnswer::Changed {
                        manifest,
                        etag: new_etag,
                    });
                }
                Ok(None) => {
                    return Err(Error::Decode {
                        url: url.to_string(),
                        reason: format!("the answer is larger than {} MiB", SMALL_BODY_LIMIT >> 20),
                    });
                }
                Err(e) => attempts.broken(e).await?,
            }
        }
    }

    /// The whole listing, page after page.
    pub async fn all_packages(&self, listing: &PackageListing) -> Result<Vec<ListedPackage>> {
        all_pages(|page| self.packages(listing, page)).await
    }

    /// One page of `GET /v1/depot/pkgs/search/{query}`: packages whose origin, name or
    /// `origin/name` contains `query`.
    ///
    /// # Errors
    /// 422 for an empty query.
    pub async fn search(&self, query: &str, page: PageRequest) -> Result<Page<ListedPackage>> {
        let url = self.endpoint(["depot", "pkgs", "search", query]);
        self.get_json(with_page(url, page, &[])).await
    }

    /// Every result of [`Client::search`].
    pub async fn search_all(&self, query: &str) -> Result<Vec<ListedPackage>> {
        all_pages(|page| self.search(query, page)).await
    }

    /// One page of `…/search/{query}?distinct=true`: one `origin/name` per package.
    pub async fn search_distinct(
        &self,
        query: &str,
        page: PageRequest,
    ) -> Result<Page<PackageIdent>> {
        let url = self.endpoint(["depot", "pkgs", "search", query]);
        self.get_json(with_page(url, page, &[("distinct", "true")]))
            .await
    }

    /// `GET /v1/depot/pkgs/{o}/{n}/versions`: the versions of a package, newest first.
    pub async fn versions(
        &self,
        origin: &OriginName,
        name: &PackageName,
    ) -> Result<Vec<VersionInfo>> {
        let url = self.endpoint(["depot", "pkgs", origin.as_str(), name.as_str(), "versions"]);
        self.get_json(url).await
    }

    /// `GET /v1/depot/pkgs/{o}/{n}/{v}/{r}/channels?target=`: the channels a package is in.
    pub async fn package_channels(
        &self,
        ident: &FullyQualifiedIdent,
        target: PackageTarget,
    ) -> Result<Vec<PackageChannel>> {
        self.get_json(with_target(self.package_url(ident, &["channels"]), target))
            .await
    }

    /// `GET /v1/rdeps/{o}/{n}?target=`: the public packages whose TDEPS name `origin/name`.
    ///
    /// # Errors
    /// 404 when the package does not exist (or the caller may not see it).
    pub async fn rdeps(
        &self,
        origin: &OriginName,
        name: &PackageName,
        target: PackageTarget,
    ) -> Result<Vec<PackageIdent>> {
        let url = with_target(
            self.endpoint(["rdeps", origin.as_str(), name.as_str()]),
            target,
        );
        let body: Rdeps = self.get_json(url.clone()).await?;
        body.rdeps
            .iter()
            .map(|text| {
                partial_ident(text).map_err(|e| Error::Decode {
                    url: url.to_string(),
                    reason: format!("`{text}` is not a package: {e}"),
                })
            })
            .collect()
    }

    /// `DELETE /v1/depot/pkgs/{o}/{n}/{v}/{r}?target=` (maintainer and up).
    ///
    /// # Errors
    /// 409 when it is in `stable` or another package depends on it.
    pub async fn delete_package(
        &self,
        ident: &FullyQualifiedIdent,
        target: PackageTarget,
    ) -> Result<()> {
        let url = with_target(self.package_url(ident, &[]), target);
        self.call_empty(Method::DELETE, url, None).await
    }

    /// `PATCH /v1/depot/pkgs/{o}/{n}/{v}/{r}/{public|private}` (maintainer and up); answers
    /// the package. Retried like a `PUT`: setting a visibility twice is harmless.
    pub async fn set_visibility(
        &self,
        ident: &FullyQualifiedIdent,
        target: PackageTarget,
        visibility: Visibility,
    ) -> Result<Package> {
        let url = with_target(self.package_url(ident, &[visibility.as_str()]), target);
        self.call(Method::PATCH, url, None, Retry::Always)
            .await?
            .json()
    }

    /// `PUT /v1/depot/channels/{o}/{c}/pkgs/{n}/{v}/{r}/promote?target=` (maintainer and up);
    /// fine when it is there already.
    ///
    /// # Errors
    /// 404 for an unknown package or channel (`hab pkg promote` creates the channel first).
    pub async fn promote(
        &self,
        ident: &FullyQualifiedIdent,
        target: PackageTarget,
        channel: &ChannelName,
    ) -> Result<()> {
        self.move_in_channel(ident, target, channel, "promote")
            .await
    }

    /// `PUT /v1/depot/channels/{o}/{c}/pkgs/{n}/{v}/{r}/demote?target=` (maintainer and up).
    ///
    /// # Errors
    /// 403 from `unstable`; 404 when it is not in the channel.
    pub async fn demote(
        &self,
        ident: &FullyQualifiedIdent,
        target: PackageTarget,
        channel: &ChannelName,
    ) -> Result<()> {
        self.move_in_channel(ident, target, channel, "demote").await
    }

    /// `PUT /v1/depot/channels/{o}/{c}/pkgs/{n}/{v}/{r}/{action}?target=`: what promote and
    /// demote share but the last path segment.
    async fn move_in_channel(
        &self,
        ident: &FullyQualifiedIdent,
        target: PackageTarget,
        channel: &ChannelName,
        action: &str,
    ) -> Result<()> {
        let url = with_target(self.channel_package_url(ident, channel, &[action]), target);
        self.call_empty(Method::PUT, url, None).await
    }

    /// `GET /v1/depot/channels/{o}`: the origin's channels, sorted by name.
    pub async fn channels(&self, origin: &OriginName) -> Result<Vec<ChannelName>> {
        let named: Vec<Named> = self
            .get_json(self.endpoint(["depot", "channels", origin.as_str()]))
            .await?;
        Ok(named.into_iter().map(|n| n.name).collect())
    }

    /// `POST /v1/depot/channels/{o}/{c}` (maintainer and up).
    ///
    /// # Errors
    /// 409 when it exists.
    pub async fn create_channel(&self, origin: &OriginName, channel: &ChannelName) -> Result<()> {
        let url = self.endpoint(["depot", "channels", origin.as_str(), channel.as_str()]);
        self.call_empty(Method::POST, url, None).await
    }

    /// `DELETE /v1/depot/channels/{o}/{c}` (maintainer and up).
    ///
    /// # Errors
    /// 403 for `unstable` and `stable`.
    pub async fn delete_channel(&self, origin: &OriginName, channel: &ChannelName) -> Result<()> {
        let url = self.endpoint(["depot", "channels", origin.as_str(), channel.as_str()]);
        self.call_empty(Method::DELETE, url, None).await
    }

    /// `PUT /v1/depot/channels/{o}/{source}/pkgs/promote?channel={target}` (maintainer and
    /// up): every package of `source` is put in `target` too, in one transaction. How many
    /// were not there yet.
    ///
    /// # Errors
    /// 404 for an unknown channel; 422 when the two channels are the same.
    pub async fn promote_channel(
        &self,
        origin: &OriginName,
        source: &ChannelName,
        target: &ChannelName,
    ) -> Result<u64> {
        self.move_channel(origin, source, target, "promote").await
    }

    /// `PUT /v1/depot/channels/{o}/{source}/pkgs/demote?channel={target}` (maintainer and
    /// up): every package of `source` is removed from `target`, in one transaction. How many
    /// were there.
    ///
    /// # Errors
    /// 403 when `target` is `unstable`; 404 for an unknown channel; 422 when the two channels
    /// are the same.
    pub async fn demote_channel(
        &self,
        origin: &OriginName,
        source: &ChannelName,
        target: &ChannelName,
    ) -> Result<u64> {
        self.move_channel(origin, source, target, "demote").await
    }

    /// What the bulk promote and demote share but the last path segment.
    async fn move_channel(
        &self,
        origin: &OriginName,
        source: &ChannelName,
        target: &ChannelName,
        action: &str,
    ) -> Result<u64> {
        let segments = [
            "depot",
            "channels",
            origin.as_str(),
            source.as_str(),
            "pkgs",
            action,
        ];
        let mut url = self.endpoint(segments);
        url.query_pairs_mut()
            .append_pair("channel", target.as_str());
        let answer: BulkChange = self
            .call(Method::PUT, url, None, Retry::Always)
            .await?
            .json()?;
        Ok(answer.changed)
    }

    /// `GET /v1/depot/views` (seed era): the names of all channels in use.
    pub async fn views(&self) -> Result<Vec<ChannelName>> {
        let named: Vec<Named> = self.get_json(self.endpoint(["depot", "views"])).await?;
        Ok(named.into_iter().map(|n| n.name).collect())
    }
}
