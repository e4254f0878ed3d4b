//! Bearer tokens (Azure AD / Entra ID and other claims-based clusters), fetched per request so they can refresh.

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex, PoisonError};

use reqwest::header::{AUTHORIZATION, HeaderMap, HeaderValue};

use crate::{Error, Secret};

/// What a [`TokenProvider`] fails with; reported as [`Error::Client`] (nothing was sent).
pub type TokenError = Box<dyn std::error::Error + Send + Sync>;

/// The future [`TokenProvider::token`] returns.
pub type TokenFuture<'a> = Pin<Box<dyn Future<Output = Result<Secret, TokenError>> + Send + 'a>>;

/// Supplies the bearer token sent as `Authorization: Bearer <token>` with every request.
///
/// The client asks before each request, so a provider can cache a token and renew it before it expires. Return
/// the token alone, without the `Bearer ` prefix.
///
/// Any `Fn() -> impl Future<Output = Result<Secret, TokenError>>` closure is a provider:
///
/// ```
/// use sf_backup::{Client, Secret, TokenError};
///
/// let client = Client::builder()
///     .endpoint("https://mycluster.example.com:19080")
///     .bearer_token_provider(|| async {
///         // Ask your identity platform here; cache the token until shortly before it expires.
///         Ok::<_, TokenError>(Secret::new("eyJ0eXAi..."))
///     })
///     .build()?;
/// # Ok::<(), sf_backup::Error>(())
/// ```
pub trait TokenProvider: Send + Sync {
    /// The token for the next request.
    fn token(&self) -> TokenFuture<'_>;
}

impl<F, Fut> TokenProvider for F
where
    F: Fn() -> Fut + Send + Sync,
    Fut: Future<Output = Result<Secret, TokenError>> + Send + 'static,
{
    fn token(&self) -> TokenFuture<'_> {
        Box::pin(self())
    }
}

pub(crate) struct StaticToken(pub(crate) Secret);

impl TokenProvider for StaticToken {
    fn token(&self) -> TokenFuture<'_> {
        let token = self.0.clone();
        Box::pin(async move { Ok(token) })
    }
}

/// A token provider in a builder or client: shows that there is one, never a token.
#[derive(Clone)]
pub(crate) struct Bearer(pub(crate) Arc<dyn TokenProvider>);

impl fmt::Debug for Bearer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("<bearer token provider>")
    }
}

/// Attaches the current token to the generated client's requests.
///
/// The generated client offers no per-request header, so the token travels as a default header of a reqwest
/// client built for it. That client is kept while the provider returns the same token and replaced when the
/// token changes (usually once an hour), which costs a new connection then.
pub(crate) struct Authorizer {
    provider: Bearer,
    build: Box<dyn Fn(HeaderMap) -> Result<sf_backup_api::Client, Error> + Send + Sync>,
    /// Shared with the requests that use it, so that a request takes a reference count, not a copy.
    current: Mutex<Option<(HeaderValue, Arc<sf_backup_api::Client>)>>,
}

impl fmt::Debug for Authorizer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Authorizer")
            .field("provider", &self.provider)
            .finish_non_exhaustive()
    }
}

impl Authorizer {
    pub(crate) fn new(
        provider: Bearer,
        build: impl Fn(HeaderMap) -> Result<sf_backup_api::Client, Error> + Send + Sync + 'static,
    ) -> Self {
        Self {
            provider,
            build: Box::new(build),
            current: Mutex::new(None),
        }
    }

    /// The generated client to use for the next request, carrying a fresh token.
    pub(crate) async fn api(&self) -> Result<Arc<sf_backup_api::Client>, Error> {
        let token = self
            .provider
            .0
            .token()
            .await
            .map_err(|source| Error::Client {
                message: "the bearer token provider failed".to_owned(),
                source: Some(source),
            })?;
        let value = header_value(&token)?;
        let mut current = self.current.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some((sent, api)) = current.as_ref()
            && *sent == value
        {
            return Ok(Arc::clone(api));
        }
        let mut headers = HeaderMap::new();
        headers.insert(AUTHORIZATION, value.clone());
        let api = Arc::new((self.build)(headers)?);
        *current = Some((value, Arc::clone(&api)));
        Ok(api)
    }
}

fn header_value(token: &Secret) -> Result<HeaderValue, Error> {
    let token = token.expose_secret().trim();
    if token.is_empty() {
        return Err(Error::invalid(
            "bearer token",
            "the token provider returned an empty token",
            "return the access token issued for the cluster's application",
        ));
    }
    let mut value = HeaderValue::try_from(format!("Bearer {token}")).map_err(|_| {
        // The error would not quote the token, but say nothing about its content anyway.
        Error::invalid(
            "bearer token",
            "the token contains characters not allowed in an HTTP header",
            "return the token text alone, without line breaks",
        )
    })?;
    // Keeps the value out of reqwest's and hyper's Debug output.
    value.set_sensitive(true);
    Ok(value)
}
