use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use reqwest::header::HeaderMap;

use crate::auth::{Authorizer, Bearer, StaticToken, TokenProvider};
#[cfg(any(feature = "tls", feature = "tls-ring"))]
use crate::tls::TlsOptions;
use crate::{Error, Secret};

/// The address of a development cluster's HTTP gateway.
pub const DEFAULT_ENDPOINT: &str = "http://localhost:19080";

/// What the client waits beyond the server timeout before giving up on an answer ([`Error::NoAnswer`]): the
/// server's answer still has to travel back, and the gateway may add its own delay.
pub const DEFAULT_ANSWER_MARGIN: Duration = Duration::from_secs(10);

/// The server timeout the service applies when the request sets none (the REST reference's default).
pub(crate) const SERVER_DEFAULT_TIMEOUT: Duration = Duration::from_secs(60);

const DEFAULT_CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
const USER_AGENT: &str = concat!("sf-backup/", env!("CARGO_PKG_VERSION"));

/// A client of a Service Fabric cluster's HTTP gateway for partition backups.
///
/// Cheap to clone: clones share the connection pool.
///
/// ```no_run
/// # async fn demo() -> Result<(), sf_backup::Error> {
/// let client = sf_backup::Client::new("http://localhost:19080")?;
/// let id = "1daae3f5-7fd6-42e9-b1ba-8c05f873994d".parse()?;
/// client.backup_partition(id).await?;
/// println!("{}", client.backup_progress(id).await?.state);
/// # Ok(()) }
/// ```
#[derive(Clone)]
pub struct Client {
    pub(crate) inner: Arc<Inner>,
}

pub(crate) struct Inner {
    pub(crate) api: sf_backup_api::Client,
    pub(crate) endpoint: String,
    pub(crate) answer_margin: Duration,
    /// Set when requests carry a bearer token; `api` is then only the client without one.
    pub(crate) authorizer: Option<Authorizer>,
    pub(crate) retry: crate::RetryPolicy,
}

impl fmt::Debug for Client {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Client")
            .field("endpoint", &self.inner.endpoint)
            .field("answer_margin", &self.inner.answer_margin)
            .field("authorizer", &self.inner.authorizer)
            .finish_non_exhaustive()
    }
}

impl Client {
    /// A client of the gateway at `endpoint`, such as `http://localhost:19080` or `https://mycluster:19080`, with
    /// the default settings. See [`ClientBuilder`] for the rules an endpoint must follow.
    pub fn new(endpoint: impl AsRef<str>) -> Result<Self, Error> {
        Self::builder().endpoint(endpoint).build()
    }

    /// A builder for a client with non-default settings.
    pub fn builder() -> ClientBuilder {
        ClientBuilder::default()
    }

    /// The gateway address requests go to, normalised (no trailing slash).
    pub fn endpoint(&self) -> &str {
        &self.inner.endpoint
    }

    /// [`ClientBuilder::retry`].
    pub(crate) fn retry_policy(&self) -> &crate::RetryPolicy {
        &self.inner.retry
    }

    /// The generated client for the next request: with a bearer token provider, one carrying a fresh token.
    /// Never a copy: cloning it (its base URL is a `String`) would cost an allocation per request (see
    /// BENCHMARKS.md).
    pub(crate) async fn api(&self) -> Result<Api<'_>, Error> {
        match &self.inner.authorizer {
            None => Ok(Api::Borrowed(&self.inner.api)),
            Some(authorizer) => authorizer.api().await.map(Api::Shared),
        }
    }
}

/// The generated client a request uses: the client's own, or the one carrying the current bearer token.
pub(crate) enum Api<'a> {
    Borrowed(&'a sf_backup_api::Client),
    Shared(Arc<sf_backup_api::Client>),
}

impl std::ops::Deref for Api<'_> {
    type Target = sf_backup_api::Client;

    fn deref(&self) -> &Self::Target {
        match self {
            Self::Borrowed(api) => api,
            Self::Shared(api) => api,
        }
    }
}

/// Settings for a [`Client`].
///
/// ```
/// use std::time::Duration;
///
/// let client = sf_backup::Client::builder()
///     .endpoint("https://mycluster.example.com:19080/")
///     .answer_margin(Duration::from_secs(5))
///     .build()?;
/// assert_eq!(client.endpoint(), "https://mycluster.example.com:19080");
/// # Ok::<(), sf_backup::Error>(())
/// ```
///
#[cfg_attr(
    any(feature = "tls", feature = "tls-ring"),
    doc = include_str!("secured_clusters.md")
)]
#[cfg_attr(
    not(any(feature = "tls", feature = "tls-ring")),
    doc = "# Secured clusters\n\nThis build has no TLS feature, so it speaks plain http only: client certificates \
           and server certificate validation need `tls` (on by default) or `tls-ring`."
)]
#[derive(Debug)]
#[must_use]
pub struct ClientBuilder {
    endpoint: String,
    proxy: Option<ProxySetting>,
    user_agent: Option<String>,
    answer_margin: Duration,
    connect_timeout: Duration,
    #[cfg(any(feature = "tls", feature = "tls-ring"))]
    pub(crate) tls: TlsOptions,
    bearer: Option<Bearer>,
    retry: crate::RetryPolicy,
    #[cfg(feature = "unstable-reqwest")]
    configure_http: Option<ConfigureHttp>,
}

impl Default for ClientBuilder {
    fn default() -> Self {
        Self {
            endpoint: DEFAULT_ENDPOINT.to_owned(),
            proxy: None,
            user_agent: None,
            answer_margin: DEFAULT_ANSWER_MARGIN,
            connect_timeout: DEFAULT_CONNECT_TIMEOUT,
            #[cfg(any(feature = "tls", feature = "tls-ring"))]
            tls: TlsOptions::default(),
            bearer: None,
            retry: crate::RetryPolicy::default(),
            #[cfg(feature = "unstable-reqwest")]
            configure_http: None,
        }
    }
}

impl ClientBuilder {
    /// The gateway address; [`DEFAULT_ENDPOINT`] when not set. Only `http` and `https` URLs with a host are
    /// accepted; a path (for a reverse proxy) is kept and trailing slashes are removed. User info, a query or a
    /// fragment are rejected. [`ClientBuilder::build`] reports a bad endpoint.
    pub fn endpoint(mut self, endpoint: impl AsRef<str>) -> Self {
        self.endpoint = endpoint.as_ref().to_owned();
        self
    }

    /// Sends every request through this HTTP(S) proxy, such as `http://proxy.example.com:3128` (user info in the
    /// URL authenticates to the proxy and is never shown). Without it, the `HTTPS_PROXY`, `HTTP_PROXY` and
    /// `NO_PROXY` environment variables apply, as for most HTTP clients. The client's TLS settings stay in force
    /// through the proxy. [`ClientBuilder::build`] reports a proxy URL it cannot use.
    pub fn proxy(mut self, proxy_url: impl AsRef<str>) -> Self {
        self.proxy = Some(ProxySetting::Url(crate::Secret::new(
            proxy_url.as_ref().to_owned(),
        )));
        self
    }

    /// Uses no proxy at all, whatever the environment says.
    pub fn no_proxy(mut self) -> Self {
        self.proxy = Some(ProxySetting::None);
        self
    }

    /// The `User-Agent` header; `sf-backup/<version>` when not set. Put your own tool's name first, for
    /// example `mytool/1.2 sf-backup/0.1`, so the cluster's logs tell who called.
    pub fn user_agent(mut self, user_agent: impl Into<String>) -> Self {
        self.user_agent = Some(user_agent.into());
        self
    }

    /// How long the client waits for an answer beyond a request's server timeout before it gives up with
    /// [`Error::NoAnswer`] ([`DEFAULT_ANSWER_MARGIN`] when not set): the answer deadline of each request is its
    /// server timeout plus this margin. See [Timeouts](crate#timeouts).
    pub fn answer_margin(mut self, margin: Duration) -> Self {
        self.answer_margin = margin;
        self
    }

    /// How failed reads are retried ([`RetryPolicy::default`](crate::RetryPolicy::default) when not set); the
    /// policy says which, and how often outside a wait.
    pub fn retry(mut self, retry: crate::RetryPolicy) -> Self {
        self.retry = retry;
        self
    }

    /// How long opening a connection may take; 10 seconds when not set.
    pub fn connect_timeout(mut self, connect_timeout: Duration) -> Self {
        self.connect_timeout = connect_timeout;
        self
    }

    /// Sends `Authorization: Bearer <token>` with every request; for a token that never changes during the
    /// client's life. See [`ClientBuilder::bearer_token_provider`] for tokens that expire.
    pub fn bearer_token(mut self, token: impl Into<Secret>) -> Self {
        self.bearer = Some(Bearer(Arc::new(StaticToken(token.into()))));
        self
    }

    /// Asks `provider` for a token before every request and sends it as `Authorization: Bearer <token>`, so that
    /// the provider can renew tokens before they expire (Azure AD / Entra ID clusters). A provider error fails
    /// the request with [`Error::Client`] before anything is sent.
    pub fn bearer_token_provider(mut self, provider: impl TokenProvider + 'static) -> Self {
        self.bearer = Some(Bearer(Arc::new(provider)));
        self
    }

    /// The escape hatch: `configure` gets the `reqwest::ClientBuilder` this crate prepared (its TLS
    /// configuration, proxy, user agent, connect timeout and redirect policy already set) and may set anything
    /// else reqwest offers, such as `tcp_keepalive`, `pool_max_idle_per_host`, `local_address` or `resolve`.
    /// It runs each time the client makes its HTTP client (once, or once per new token with a token provider).
    ///
    /// Setting TLS, the redirect policy or default headers here replaces this crate's own: a followed redirect
    /// would send a backup request twice. The builder is that of [`reqwest`](crate::reqwest), the version this
    /// crate is built with; the feature is outside this crate's semver promise, since a reqwest upgrade changes
    /// this signature.
    ///
    /// ```
    /// # use std::time::Duration;
    /// let client = sf_backup::Client::builder()
    ///     .configure_http_client(|http| http.tcp_keepalive(Duration::from_secs(30)))
    ///     .build()?;
    /// # Ok::<(), sf_backup::Error>(())
    /// ```
    #[cfg(feature = "unstable-reqwest")]
    #[cfg_attr(docsrs, doc(cfg(feature = "unstable-reqwest")))]
    pub fn configure_http_client(
        mut self,
        configure: impl Fn(reqwest::ClientBuilder) -> reqwest::ClientBuilder + Send + Sync + 'static,
    ) -> Self {
        self.configure_http = Some(ConfigureHttp(Arc::new(configure)));
        self
    }

    /// Builds the client. Fails with [`Error::InvalidInput`] for a bad endpoint, a certificate, key, thumbprint or
    /// name that cannot be used, or server validation settings that contradict each other.
    pub fn build(self) -> Result<Client, Error> {
        let endpoint = normalise_endpoint(&self.endpoint)?;
        refuse_https_without_tls("endpoint", &endpoint)?;
        let proxy = match &self.proxy {
            None => None,
            Some(ProxySetting::None) => Some(None),
            Some(ProxySetting::Url(url)) => Some(Some(proxy(url.expose_secret())?)),
        };
        let user_agent = match self.user_agent {
            None => reqwest::header::HeaderValue::from_static(USER_AGENT),
            Some(agent) => reqwest::header::HeaderValue::from_str(&agent).map_err(|_| {
                Error::invalid(
                    "user agent",
                    format!("{agent:?} is not a valid header value"),
                    "use printable ASCII without line breaks, such as mytool/1.2",
                )
            })?,
        };
        let settings = HttpSettings {
            connect_timeout: self.connect_timeout,
            #[cfg(any(feature = "tls", feature = "tls-ring"))]
            tls: self.tls.client_config()?,
            proxy,
            user_agent,
            #[cfg(feature = "unstable-reqwest")]
            configure: self.configure_http,
        };
        let http_client = settings.build(HeaderMap::new())?;
        let authorizer = self.bearer.map(|bearer| {
            let endpoint = endpoint.clone();
            Authorizer::new(bearer, move |headers| {
                Ok(sf_backup_api::Client::new_with_client(
                    &endpoint,
                    settings.build(headers)?,
                ))
            })
        });
        Ok(Client {
            inner: Arc::new(Inner {
                api: sf_backup_api::Client::new_with_client(&endpoint, http_client),
                endpoint,
                answer_margin: self.answer_margin,
                authorizer,
                retry: self.retry,
            }),
        })
    }
}

/// A proxy choice; the URL may carry the proxy's password.
#[derive(Debug)]
enum ProxySetting {
    Url(crate::Secret),
    None,
}

fn proxy(url: &str) -> Result<reqwest::Proxy, Error> {
    const HOW: &str = "pass the proxy's URL, such as http://proxy.example.com:3128";
    let shown = crate::uri::shown(url.trim());
    let parsed = url::Url::parse(url.trim()).map_err(|error| {
        Error::invalid(
            "proxy",
            format!("{shown} is not an absolute URL ({error})"),
            HOW,
        )
    })?;
    if !matches!(parsed.scheme(), "http" | "https") {
        return Err(Error::invalid(
            "proxy",
            format!("{shown} is not an http or https URL"),
            HOW,
        ));
    }
    refuse_https_without_tls("proxy", parsed.as_str())?;
    reqwest::Proxy::all(parsed.as_str())
        .map_err(|_| Error::invalid("proxy", format!("{shown} cannot be used as a proxy"), HOW))
}

/// What it takes to make the reqwest client again, with other default headers.
struct HttpSettings {
    connect_timeout: Duration,
    #[cfg(any(feature = "tls", feature = "tls-ring"))]
    tls: Option<rustls::ClientConfig>,
    /// `None`: the environment decides; `Some(None)`: no proxy.
    proxy: Option<Option<reqwest::Proxy>>,
    user_agent: reqwest::header::HeaderValue,
    #[cfg(feature = "unstable-reqwest")]
    configure: Option<ConfigureHttp>,
}

/// The caller's changes to the reqwest builder ([`ClientBuilder::configure_http_client`]).
#[cfg(feature = "unstable-reqwest")]
#[derive(Clone)]
struct ConfigureHttp(Arc<dyn Fn(reqwest::ClientBuilder) -> reqwest::ClientBuilder + Send + Sync>);

#[cfg(feature = "unstable-reqwest")]
impl fmt::Debug for ConfigureHttp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("ConfigureHttp(..)")
    }
}

impl HttpSettings {
    fn build(&self, headers: HeaderMap) -> Result<reqwest::Client, Error> {
        let mut builder = reqwest::Client::builder()
            .user_agent(self.user_agent.clone())
            .connect_timeout(self.connect_timeout)
            // A followed redirect would send the backup POST a second time; the gateway never redirects.
            .redirect(reqwest::redirect::Policy::none())
            .default_headers(headers);
        match &self.proxy {
            None => {}
            Some(None) => builder = builder.no_proxy(),
            Some(Some(proxy)) => builder = builder.proxy(proxy.clone()),
        }
        // No overall timeout here: each call gets a deadline derived from its own server timeout.
        #[cfg(any(feature = "tls", feature = "tls-ring"))]
        if let Some(tls) = &self.tls {
            // reqwest accepts only the rustls version it was built with; a mismatch fails this build.
            builder = builder.tls_backend_preconfigured(tls.clone());
        }
        #[cfg(feature = "unstable-reqwest")]
        if let Some(configure) = &self.configure {
            builder = (configure.0)(builder);
        }
        builder.build().map_err(|error| Error::Client {
            message: "could not build the HTTP client".to_owned(),
            source: Some(Box::new(error)),
        })
    }
}

/// Without a TLS feature reqwest has no TLS stack, and an `https` URL would only fail at the first request, with
/// a message that does not say why; refuse it here, naming the feature.
#[cfg(not(any(feature = "tls", feature = "tls-ring")))]
fn refuse_https_without_tls(what: &'static str, url: &str) -> Result<(), Error> {
    // Both callers pass a URL that `url::Url` parsed, so the scheme is lowercase.
    if url.starts_with("https:") {
        return Err(Error::invalid(
            what,
            format!(
                "{} is an https URL, and this build of sf-backup has no TLS support (its `tls` feature is off)",
                crate::uri::shown(url)
            ),
            "enable the `tls` feature of sf-backup (on by default), or use an http URL",
        ));
    }
    Ok(())
}

#[cfg(any(feature = "tls", feature = "tls-ring"))]
fn refuse_https_without_tls(_what: &'static str, _url: &str) -> Result<(), Error> {
    Ok(())
}

fn normalise_endpoint(endpoint: &str) -> Result<String, Error> {
    const HOW: &str =
        "pass the gateway's base URL, such as http://localhost:19080 or https://mycluster:19080";
    let trimmed = endpoint.trim();
    // Never the user info or the query: either may hold a password or a signature.
    let shown = crate::uri::shown(trimmed);
    let url = url::Url::parse(trimmed).map_err(|error| {
        Error::invalid(
            "endpoint",
            format!("{shown} is not an absolute URL ({error})"),
            HOW,
        )
    })?;
    if !matches!(url.scheme(), "http" | "https") {
        return Err(Error::invalid(
            "endpoint",
            format!(
                "{shown} uses the scheme {:?}; only http and https are supported",
                url.scheme()
            ),
            HOW,
        ));
    }
    if url.host_str().is_none_or(str::is_empty) {
        return Err(Error::invalid(
            "endpoint",
            format!("{shown} has no host"),
            HOW,
        ));
    }
    if !url.username().is_empty() || url.password().is_some() {
        return Err(Error::invalid(
            "endpoint",
            "it contains user credentials, which would be sent in clear with every request and logged",
            "remove the user info from the URL",
        ));
    }
    if url.query().is_some() || url.fragment().is_some() {
        return Err(Error::invalid(
            "endpoint",
            format!("{shown} has a query or fragment"),
            HOW,
        ));
    }
    // The generated client appends "/Partitions/..." to the base; a trailing slash would double it.
    Ok(url.as_str().trim_end_matches('/').to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn endpoints_are_normalised() {
        for (input, expected) in [
            ("http://localhost:19080", "http://localhost:19080"),
            ("http://localhost:19080/", "http://localhost:19080"),
            ("  https://cluster:19080///  ", "https://cluster:19080"),
            (
                "HTTP://Cluster:19080/proxy/sf/",
                "http://cluster:19080/proxy/sf",
            ),
            ("https://[::1]:19080", "https://[::1]:19080"),
        ] {
            assert_eq!(normalise_endpoint(input).unwrap(), expected, "{input}");
        }
    }

    #[test]
    fn endpoint_credentials_and_queries_are_rejected_without_echoing_them() {
        for endpoint in [
            "https://admin:hunter2@cluster:19080",
            "ftp://admin:hunter2@cluster:19080",
            "https://cluster:19080/?sig=hunter2",
            "https://cluster:19080/#hunter2",
            "https://admin:hunter2@[cluster",
        ] {
            let error = normalise_endpoint(endpoint).unwrap_err();
            assert!(!error.to_string().contains("hunter2"), "{error}");
            assert!(!format!("{error:?}").contains("hunter2"));
        }
    }

    #[cfg(not(any(feature = "tls", feature = "tls-ring")))]
    #[test]
    fn https_is_refused_without_a_tls_feature_naming_it() {
        let error = Client::new("https://cluster:19080").unwrap_err();
        assert!(error.is_invalid_input(), "{error}");
        let text = error.to_string();
        assert!(text.contains("`tls` feature"), "{text}");
        assert!(text.contains("endpoint"), "{text}");
        let error = Client::builder()
            .proxy("https://proxy.example.com:3128")
            .build()
            .unwrap_err();
        assert!(error.to_string().contains("`tls` feature"), "{error}");
        assert!(error.to_string().contains("proxy"), "{error}");
        // Plain http still builds.
        Client::builder()
            .endpoint("http://cluster:19080")
            .proxy("http://proxy.example.com:3128")
            .build()
            .unwrap();
    }

    #[cfg(any(feature = "tls", feature = "tls-ring"))]
    #[test]
    fn https_endpoints_build_with_a_tls_feature() {
        Client::new("https://cluster:19080").unwrap();
    }

    /// reqwest with only `rustls-no-provider` panics when a client is built without a preconfigured config and
    /// without a process-wide provider; every client of this crate brings its own, and installs none.
    #[cfg(feature = "tls-ring")]
    #[test]
    fn a_ring_build_needs_no_process_wide_provider() {
        for endpoint in ["https://cluster:19080", "http://localhost:19080"] {
            Client::new(endpoint).unwrap();
            Client::builder()
                .endpoint(endpoint)
                .bearer_token("token")
                .build()
                .unwrap();
        }
        assert!(rustls::crypto::CryptoProvider::get_default().is_none());
    }

    #[test]
    fn the_default_endpoint_is_the_local_gateway() {
        let client = Client::builder().build().unwrap();
        assert_eq!(client.endpoint(), "http://localhost:19080");
    }
}
