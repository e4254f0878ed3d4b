//! Every paged list (the two backup lists, services, partitions): each page read through [`read_page`], and
//! one [`Pages`] guard that ends a list whose continuation token comes back or that never ends.

use std::collections::HashSet;
use std::future::Future;
use std::num::NonZeroU64;

use sf_backup_api::{ByteStream, ResponseValue};
use tokio::time::Instant;

use crate::client::Api;
use crate::error::Operation;
use crate::request::with_deadline;
use crate::retry;
use crate::{Client, Error};

/// The most pages one list is read for before it is taken as endless.
pub(crate) const MAX_PAGES: usize = 10_000;

/// Reads one page of `operation`: `call` with the generated client of the moment (carrying a fresh bearer token),
/// inside the page's answer deadline (its server timeout plus the client's answer margin, cut short at `cap`),
/// and a failure read into an [`Error`] that names the operation. Every page of every list comes through here.
/// Outside a wait (no `cap`) a failed page is read again as [`RetryPolicy`](crate::RetryPolicy) says; inside
/// one, the wait retries.
pub(crate) async fn read_page<'c, T, F, Fut>(
    client: &'c Client,
    operation: Operation,
    server_timeout: Option<NonZeroU64>,
    cap: Option<Instant>,
    call: F,
) -> Result<T, Error>
where
    F: Fn(Api<'c>) -> Fut,
    Fut: Future<Output = Result<ResponseValue<T>, sf_backup_api::Error<ByteStream>>>,
{
    let call = &call;
    // One attempt, whole: a retry policy wraps `attempt` (a GET may be asked again).
    let attempt = move || async move {
        let api = client.api().await?;
        let answer = async {
            match call(api).await {
                Ok(page) => Ok(page.into_inner()),
                Err(error) => Err(Error::from_api(error, operation).await),
            }
        };
        with_deadline(client, server_timeout, cap, answer).await
    };
    match cap {
        None => retry::standalone(client.retry_policy(), attempt).await,
        Some(_) => attempt().await,
    }
}

/// Where a list is: the token of the next page, every token seen, how many pages were read.
#[derive(Debug)]
pub(crate) struct Pages {
    operation: Operation,
    next: Option<String>,
    seen: HashSet<String>,
    read: usize,
    done: bool,
}

impl Pages {
    pub(crate) fn new(operation: Operation) -> Self {
        Self {
            operation,
            next: None,
            seen: HashSet::new(),
            read: 0,
            done: false,
        }
    }

    /// The continuation token to ask the next page with (`None` for the first page).
    pub(crate) fn token(&self) -> Option<&str> {
        self.next.as_deref()
    }

    /// Whether the list has ended (or was stopped).
    pub(crate) fn is_done(&self) -> bool {
        self.done
    }

    /// Records a page that ended with the token `next`: absent, `null` and `""` all end the list. A token seen
    /// before (the service would page forever) or a page past [`MAX_PAGES`] ends it with
    /// [`Error::EndlessList`].
    pub(crate) fn advance(&mut self, next: Option<String>) -> Result<(), Error> {
        self.read += 1;
        let Some(token) = next.filter(|token| !token.is_empty()) else {
            self.done = true;
            return Ok(());
        };
        let repeated = !self.seen.insert(token.clone());
        if repeated || self.read >= MAX_PAGES {
            self.done = true;
            return Err(Error::EndlessList {
                operation: self.operation.name(),
                pages: self.read,
                repeated_token: repeated.then_some(token),
            });
        }
        self.next = Some(token);
        Ok(())
    }

    /// Ends the list early (a page failed).
    pub(crate) fn stop(&mut self) {
        self.done = true;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn absent_null_or_empty_tokens_end_the_list() {
        for end in [None, Some(String::new())] {
            let mut pages = Pages::new(Operation::GetServiceInfoList);
            pages.advance(Some("a".into())).unwrap();
            assert_eq!(pages.token(), Some("a"));
            pages.advance(end).unwrap();
            assert!(pages.is_done());
        }
    }

    #[test]
    fn a_list_that_never_ends_stops_at_the_page_cap() {
        let mut pages = Pages::new(Operation::GetPartitionInfoList);
        for page in 1..MAX_PAGES {
            pages.advance(Some(page.to_string())).unwrap();
        }
        let error = pages.advance(Some("last".into())).unwrap_err();
        assert!(
            matches!(
                error,
                Error::EndlessList {
                    pages: MAX_PAGES,
                    repeated_token: None,
                    ..
                }
            ),
            "{error:?}"
        );
    }
}
