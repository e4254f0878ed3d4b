use std::fmt;
#[cfg(any(feature = "tls", feature = "tls-ring"))]
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use reqwest::header::HeaderMap;

use crate::auth::{Authorizer, Bearer, StaticToken, TokenProvider};
#[cfg(any(feature = "tls", feature = "tls-ring"))]
use crate::tls::{IdentityInput, Input, TlsOptions};
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
    tls: TlsOptions,
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

    /// Presents this client certificate: one PEM with the certificate (chain) and its unencrypted private key.
    /// Replaces any client certificate set before.
    #[cfg(any(feature = "tls", feature = "tls-ring"))]
    #[cfg_attr(docsrs, doc(cfg(any(feature = "tls", feature = "tls-ring"))))]
    pub fn client_certificate_pem(mut self, certificate_and_key: impl Into<Vec<u8>>) -> Self {
        self.tls.identity = Some(IdentityInput::Pem(Input::Bytes(certificate_and_key.into())));
        self
    }

    /// Presents this client certificate, given as separate PEMs for the certificate (chain) and its private key.
    #[cfg(any(feature = "tls", feature = "tls-ring"))]
    #[cfg_attr(docsrs, doc(cfg(any(feature = "tls", feature = "tls-ring"))))]
    pub fn client_certificate_pem_parts(
        mut self,
        certificate: impl Into<Vec<u8>>,
        key: impl Into<Vec<u8>>,
    ) -> Self {
        self.tls.identity = Some(IdentityInput::PemParts {
            certificates: Input::Bytes(certificate.into()),
            key: Input::Bytes(key.into()),
        });
        self
    }

    /// Presents the client certificate in this PEM file, which holds the certificate (chain) and its unencrypted
    /// private key (as `sfctl --pem`). Read by [`ClientBuilder::build`].
    #[cfg(any(feature = "tls", feature = "tls-ring"))]
    #[cfg_attr(docsrs, doc(cfg(any(feature = "tls", feature = "tls-ring"))))]
    pub fn client_certificate_pem_file(mut self, path: impl Into<PathBuf>) -> Self {
        self.tls.identity = Some(IdentityInput::Pem(Input::File(path.into())));
        self
    }

    /// Presents the client certificate in `certificate_path` with the private key in `key_path`, both PEM (as
    /// `sfctl --cert --key`). Read by [`ClientBuilder::build`].
    #[cfg(any(feature = "tls", feature = "tls-ring"))]
    #[cfg_attr(docsrs, doc(cfg(any(feature = "tls", feature = "tls-ring"))))]
    pub fn client_certificate_pem_files(
        mut self,
        certificate_path: impl Into<PathBuf>,
        key_path: impl Into<PathBuf>,
    ) -> Self {
        self.tls.identity = Some(IdentityInput::PemParts {
            certificates: Input::File(certificate_path.into()),
            key: Input::File(key_path.into()),
        });
        self
    }

    /// Presents the client certificate in a PKCS#12 (.pfx or .p12) file, as Windows and the Azure portal export
    /// cluster client certificates, with the password it was exported with (empty when it has none). The first
    /// private key in the file is used, with the certificate chain the file stores for it. Read by
    /// [`ClientBuilder::build`], which fails with [`Error::InvalidInput`] when the file cannot be read, the
    /// password is wrong, or the file holds no private key; for a file encrypted with an algorithm this client
    /// cannot read, that error names the conversion to PEM (`openssl pkcs12 -in cert.pfx -out cert.pem -nodes`)
    /// for [`ClientBuilder::client_certificate_pem_file`]. The password is never shown, not even by `Debug`.
    ///
    /// Needs the `pkcs12` feature (on by default); without it, [`ClientBuilder::build`] refuses every such file
    /// with that conversion.
    #[cfg(any(feature = "tls", feature = "tls-ring"))]
    #[cfg_attr(docsrs, doc(cfg(feature = "pkcs12")))]
    pub fn client_certificate_pkcs12_file(
        mut self,
        path: impl Into<PathBuf>,
        password: impl Into<Secret>,
    ) -> Self {
        self.tls.identity = Some(IdentityInput::Pkcs12 {
            archive: Input::File(path.into()),
            password: password.into(),
        });
        self
    }

    /// Trusts only the CA certificates in this PEM bundle instead of the operating system's trust store: for the
    /// usual validation by host name, and for the chain a certificate accepted by
    /// [common name](ClientBuilder::server_certificate_common_name) must have. Combined with
    /// [`ClientBuilder::server_certificate_issuer_thumbprint`], they are instead candidate issuers of the cluster
    /// certificate when the server does not send its issuer. A self-signed cluster certificate may be its own
    /// CA certificate here.
    ///
    /// [`ClientBuilder::build`] refuses a bundle that would be ignored: beside
    /// [`danger_accept_invalid_server_certificates`](ClientBuilder::danger_accept_invalid_server_certificates),
    /// or beside [server thumbprints](ClientBuilder::server_certificate_thumbprint) without a common name.
    #[cfg(any(feature = "tls", feature = "tls-ring"))]
    #[cfg_attr(docsrs, doc(cfg(any(feature = "tls", feature = "tls-ring"))))]
    pub fn ca_certificates_pem(mut self, pem: impl Into<Vec<u8>>) -> Self {
        self.tls.ca_certificates = Some(Input::Bytes(pem.into()));
        self
    }

    /// Like [`ClientBuilder::ca_certificates_pem`], from a PEM file (as `sfctl --ca`). Read by
    /// [`ClientBuilder::build`].
    #[cfg(any(feature = "tls", feature = "tls-ring"))]
    #[cfg_attr(docsrs, doc(cfg(any(feature = "tls", feature = "tls-ring"))))]
    pub fn ca_certificates_pem_file(mut self, path: impl Into<PathBuf>) -> Self {
        self.tls.ca_certificates = Some(Input::File(path.into()));
        self
    }

    /// Accepts the server certificate with this thumbprint, whatever its name or issuer (the .NET client's
    /// `RemoteCertThumbprints`). Only the server's own certificate is compared, never a CA certificate of its
    /// chain. SHA-1 as Service Fabric and Windows show it (40 hex digits) or SHA-256 (64); case, spaces and colons
    /// do not matter. Call again to accept several certificates, for example during a certificate rollover. The
    /// server must still prove it holds the certificate's key.
    ///
    /// A pinned certificate outside its validity dates (expired, or not yet valid) is refused, as the .NET client
    /// refuses it: its validator forgives an unknown root and a partial chain for a thumbprint match, but not a
    /// time error. Pin the renewed certificate's thumbprint beside the old one before the old one expires.
    #[cfg(any(feature = "tls", feature = "tls-ring"))]
    #[cfg_attr(docsrs, doc(cfg(any(feature = "tls", feature = "tls-ring"))))]
    pub fn server_certificate_thumbprint(mut self, thumbprint: impl AsRef<str>) -> Self {
        self.tls.thumbprints.push(thumbprint.as_ref().to_owned());
        self
    }

    /// Accepts a server certificate whose subject common name or one of whose DNS subject alternative names is
    /// `common_name` (compared literally, ignoring ASCII case; no wildcard matching), whatever host name the
    /// endpoint uses (the .NET client's `RemoteCommonNames`). Call again to accept several names.
    ///
    /// The certificate must also be within its validity dates, and vouched for: without
    /// [`server_certificate_issuer_thumbprint`](ClientBuilder::server_certificate_issuer_thumbprint), its chain
    /// (with the intermediates the server sends) must validate to the operating system's trust store, or to the
    /// [CA certificates](ClientBuilder::ca_certificates_pem) when given, as the .NET client demands. A self-signed
    /// certificate with the right name is therefore refused unless it is itself in the CA certificates: anyone
    /// can make one.
    #[cfg(any(feature = "tls", feature = "tls-ring"))]
    #[cfg_attr(docsrs, doc(cfg(any(feature = "tls", feature = "tls-ring"))))]
    pub fn server_certificate_common_name(mut self, common_name: impl Into<String>) -> Self {
        self.tls.common_names.push(common_name.into());
        self
    }

    /// Requires that a certificate accepted by [common name](ClientBuilder::server_certificate_common_name) was
    /// issued directly by a certificate with this thumbprint (the .NET client's issuer thumbprints; same format
    /// as [`server_certificate_thumbprint`](ClientBuilder::server_certificate_thumbprint)). Call again to accept
    /// several issuers, for example during an issuer rollover. Needs a common name: [`ClientBuilder::build`]
    /// refuses an issuer thumbprint without one.
    ///
    /// Only the direct issuer counts: pinning a root CA does not accept a certificate issued by a sub-CA under
    /// it (pin the sub-CA). The issuer is looked for among the certificates the server sends and the
    /// [CA certificates](ClientBuilder::ca_certificates_pem), and is the certificate itself when it is
    /// self-signed; it counts only if its key verifies the signature on the server certificate, so copying a CA
    /// certificate into a chain, or naming it as issuer, does not pass.
    ///
    /// Unlike the .NET client, which also demands that the chain validate to the machine's trust store, a
    /// pinned issuer is enough: the chain need not end at a CA the trust store knows. Pinning the issuer's key
    /// is the trust decision, and it is narrower than trusting every CA of the store; demanding both would force
    /// operators of clusters with a private CA to install that CA machine-wide, for every program, which is what
    /// pinning spares them. The pinned issuer's own validity dates are not checked (it serves as a trust anchor,
    /// like a certificate of a CA bundle); the server certificate's are.
    #[cfg(any(feature = "tls", feature = "tls-ring"))]
    #[cfg_attr(docsrs, doc(cfg(any(feature = "tls", feature = "tls-ring"))))]
    pub fn server_certificate_issuer_thumbprint(mut self, thumbprint: impl AsRef<str>) -> Self {
        self.tls
            .issuer_thumbprints
            .push(thumbprint.as_ref().to_owned());
        self
    }

    /// Accepts ANY server certificate (as `sfctl --no-verify`). Anyone between you and the cluster can then read
    /// and change the traffic, including storage secrets and tokens: use it only against a throw-away test
    /// cluster, never in production. Prefer [`ClientBuilder::server_certificate_thumbprint`], which also accepts
    /// self-signed certificates. [`ClientBuilder::build`] refuses it together with any other server validation
    /// setting (thumbprints, common names, issuer thumbprints, CA certificates), which it would silently void.
    #[cfg(any(feature = "tls", feature = "tls-ring"))]
    #[cfg_attr(docsrs, doc(cfg(any(feature = "tls", feature = "tls-ring"))))]
    pub fn danger_accept_invalid_server_certificates(mut self) -> Self {
        self.tls.accept_any_server_certificate = true;
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
