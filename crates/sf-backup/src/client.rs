use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use crate::Error;

/// The address of a development cluster's HTTP gateway.
pub const DEFAULT_ENDPOINT: &str = "http://localhost:19080";

/// What the client waits beyond the server timeout before giving up on an answer: the server's answer still has
/// to travel back, and the gateway may add its own delay.
pub const DEFAULT_TIMEOUT_MARGIN: Duration = Duration::from_secs(10);

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
    pub(crate) timeout_margin: Duration,
}

impl fmt::Debug for Client {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Client")
            .field("endpoint", &self.inner.endpoint)
            .field("timeout_margin", &self.inner.timeout_margin)
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
}

/// Settings for a [`Client`].
///
/// ```
/// use std::time::Duration;
///
/// let client = sf_backup::Client::builder()
///     .endpoint("https://mycluster.example.com:19080/")
///     .timeout_margin(Duration::from_secs(5))
///     .build()?;
/// assert_eq!(client.endpoint(), "https://mycluster.example.com:19080");
/// # Ok::<(), sf_backup::Error>(())
/// ```
#[derive(Debug)]
#[must_use]
pub struct ClientBuilder {
    endpoint: String,
    http_client: Option<reqwest::Client>,
    timeout_margin: Duration,
    connect_timeout: Duration,
}

impl Default for ClientBuilder {
    fn default() -> Self {
        Self {
            endpoint: DEFAULT_ENDPOINT.to_owned(),
            http_client: None,
            timeout_margin: DEFAULT_TIMEOUT_MARGIN,
            connect_timeout: DEFAULT_CONNECT_TIMEOUT,
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

    /// Uses your own HTTP client, for a proxy, extra root certificates or other settings this builder does not
    /// offer. Its user agent, timeouts and TLS settings are then yours: [`ClientBuilder::connect_timeout`] does
    /// not apply. Do not give it an overall timeout shorter than the server timeout of your requests.
    pub fn http_client(mut self, http_client: reqwest::Client) -> Self {
        self.http_client = Some(http_client);
        self
    }

    /// How long the client waits beyond a request's server timeout before it gives up with [`Error::Timeout`];
    /// [`DEFAULT_TIMEOUT_MARGIN`] when not set.
    pub fn timeout_margin(mut self, margin: Duration) -> Self {
        self.timeout_margin = margin;
        self
    }

    /// How long opening a connection may take; 10 seconds when not set.
    pub fn connect_timeout(mut self, connect_timeout: Duration) -> Self {
        self.connect_timeout = connect_timeout;
        self
    }

    /// Builds the client. Fails with [`Error::InvalidInput`] for a bad endpoint.
    pub fn build(self) -> Result<Client, Error> {
        let endpoint = normalise_endpoint(&self.endpoint)?;
        let http_client = match self.http_client {
            Some(http_client) => http_client,
            None => reqwest::Client::builder()
                .user_agent(USER_AGENT)
                .connect_timeout(self.connect_timeout)
                // No overall timeout here: each call gets a deadline derived from its own server timeout.
                .build()
                .map_err(|error| Error::Client {
                    message: "could not build the HTTP client".to_owned(),
                    source: Some(Box::new(error)),
                })?,
        };
        Ok(Client {
            inner: Arc::new(Inner {
                api: sf_backup_api::Client::new_with_client(&endpoint, http_client),
                endpoint,
                timeout_margin: self.timeout_margin,
            }),
        })
    }
}

fn normalise_endpoint(endpoint: &str) -> Result<String, Error> {
    const HOW: &str =
        "pass the gateway's base URL, such as http://localhost:19080 or https://mycluster:19080";
    let trimmed = endpoint.trim();
    // Echo the text only when it cannot hold a password (user info sits before an '@').
    let shown = if trimmed.contains('@') {
        "the endpoint".to_owned()
    } else {
        format!("{trimmed:?}")
    };
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
    fn bad_endpoints_are_rejected_with_a_reason() {
        for input in [
            "ftp://x",
            "not a url",
            "",
            "localhost:19080",
            "http://",
            "http://h?x=1",
            "file:///tmp",
        ] {
            let error = normalise_endpoint(input).unwrap_err();
            assert!(error.is_invalid_input(), "{input}: {error}");
            assert!(error.to_string().contains("endpoint"), "{error}");
        }
    }

    #[test]
    fn endpoint_credentials_are_rejected_without_echoing_them() {
        let error = normalise_endpoint("https://admin:hunter2@cluster:19080").unwrap_err();
        assert!(!error.to_string().contains("hunter2"), "{error}");
        assert!(!format!("{error:?}").contains("hunter2"));
    }

    #[test]
    fn the_default_endpoint_is_the_local_gateway() {
        let client = Client::builder().build().unwrap();
        assert_eq!(client.endpoint(), "http://localhost:19080");
    }
}
