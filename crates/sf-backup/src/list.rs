//! The backup lists: GetPartitionBackupList (the partition's policy storage) and GetBackupsFromBackupLocation (a
//! storage given explicitly), as one builder and one paging [`Stream`](futures_core::Stream).

use std::collections::VecDeque;
use std::fmt;
use std::future::{Future, IntoFuture};
use std::num::NonZeroU32;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use chrono::{DateTime, Utc};
use reqwest::StatusCode;
use sf_backup_api::{Placeholder, types};
use tokio::time::Instant;
use tracing::Instrument;
use uuid::Uuid;

use crate::error::Operation;
use crate::pages::{Pages, read_page};
use crate::request::{ResponseFuture, server_timeout};
use crate::{BackupStorage, Client, Epoch, Error, ErrorCode, PartitionId};

/// What the backups are listed for in an explicitly given storage (the `BackupEntity` of
/// GetBackupsFromBackupLocation): the folder `<application>/<service>/<partition>` the service enumerates. The
/// service does not check it against the cluster, so it can name another cluster's entity.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum BackupEntity {
    /// Every partition of an application, such as `fabric:/CalcApp`.
    Application(String),
    /// Every partition of a stateful service, such as `fabric:/CalcApp/CalcService`.
    Service(String),
    /// One partition, with the full name of its service.
    Partition {
        /// The full name of the partition's service, such as `fabric:/CalcApp/CalcService`.
        service_name: String,
        /// The partition.
        partition_id: PartitionId,
    },
}

impl BackupEntity {
    /// An application, by its name with the `fabric:` scheme.
    pub fn application(name: impl Into<String>) -> Self {
        Self::Application(name.into())
    }

    /// A stateful service, by its full name with the `fabric:` scheme.
    pub fn service(name: impl Into<String>) -> Self {
        Self::Service(name.into())
    }

    /// One partition of the service `service_name` (full name with the `fabric:` scheme).
    pub fn partition(service_name: impl Into<String>, partition_id: PartitionId) -> Self {
        Self::Partition {
            service_name: service_name.into(),
            partition_id,
        }
    }

    fn check(&self) -> Result<(), Error> {
        let name = match self {
            Self::Application(name) => name,
            Self::Service(name)
            | Self::Partition {
                service_name: name, ..
            } => name,
        };
        if name.starts_with("fabric:/") && name.len() > "fabric:/".len() {
            return Ok(());
        }
        Err(Error::invalid(
            "backup entity",
            format!("{name:?} is not a Service Fabric name"),
            "give the full name with its scheme, such as fabric:/CalcApp/CalcService",
        ))
    }

    fn to_api(&self) -> types::BackupEntity {
        match self {
            Self::Application(name) => types::BackupEntity::Application {
                application_name: name.clone(),
            },
            Self::Service(name) => types::BackupEntity::Service {
                service_name: name.clone(),
            },
            Self::Partition {
                service_name,
                partition_id,
            } => types::BackupEntity::Partition {
                service_name: service_name.clone(),
                partition_id: *partition_id.as_uuid(),
            },
        }
    }
}

/// Whether a backup is full or incremental. Extensible: a type this crate does not know is kept as text.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum BackupType {
    /// A full backup: it starts a backup chain.
    Full,
    /// An incremental backup, on top of the chain's previous backup.
    Incremental,
    /// A type this crate does not know, as the service wrote it.
    Other(String),
}

impl BackupType {
    /// The name as the service writes it.
    pub fn as_str(&self) -> &str {
        match self {
            Self::Full => "Full",
            Self::Incremental => "Incremental",
            Self::Other(other) => other,
        }
    }
}

impl fmt::Display for BackupType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl serde::Serialize for BackupType {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(self.as_str())
    }
}

/// A backup in storage, as a backup list reports it. The service's placeholders (an all-zero id, a 0001-01-01
/// time, LSN 0, type `Invalid`, empty text) are `None`.
///
/// `Serialize` writes the fields below by name (`backup_id`, …, `creation_time_utc` in RFC 3339; placeholders as
/// `null`, the LSN and the epoch's versions as strings), the crate's one JSON shape for a tool's output.
#[derive(Clone, Debug, PartialEq, serde::Serialize)]
#[non_exhaustive]
pub struct BackupInfo {
    /// The backup's id.
    pub backup_id: Option<Uuid>,
    /// The id of the backup chain it belongs to: that of the chain's full backup.
    pub backup_chain_id: Option<Uuid>,
    /// The application, such as `fabric:/CalcApp`.
    pub application_name: Option<String>,
    /// The service, such as `fabric:/CalcApp/CalcService`.
    pub service_name: Option<String>,
    /// The partition the backup is of.
    pub partition_id: Option<PartitionId>,
    /// Where the backup is, relative to the root of its storage.
    pub backup_location: Option<String>,
    /// Full or incremental.
    pub backup_type: Option<BackupType>,
    /// The epoch of the last record in the backup.
    pub epoch: Option<Epoch>,
    /// The log sequence number of the last record in the backup.
    #[serde(serialize_with = "crate::json::optional_int64_as_string")]
    pub lsn: Option<i64>,
    /// When the backup was taken, by the clock of the node that took it, in whole seconds.
    pub creation_time_utc: Option<DateTime<Utc>>,
    /// The version of the service manifest at the time.
    pub service_manifest_version: Option<String>,
}

impl BackupInfo {
    /// The item as a backup, or the error it carries instead (a `FailureError`: the service could not enumerate).
    pub(crate) fn from_api(item: types::BackupInfo) -> Result<Self, Error> {
        if let Some(failure) = &item.failure_error {
            return Err(Error::ListingFailed {
                code: ErrorCode::from_api(&failure.code),
                message: failure.message.clone().unwrap_or_default(),
            });
        }
        let backup_type = match &item.backup_type {
            Some(types::BackupType::KnownBackupType(types::KnownBackupType::Full)) => {
                Some(BackupType::Full)
            }
            Some(types::BackupType::KnownBackupType(types::KnownBackupType::Incremental)) => {
                Some(BackupType::Incremental)
            }
            Some(types::BackupType::KnownBackupType(types::KnownBackupType::Invalid)) | None => {
                None
            }
            Some(types::BackupType::KnownBackupType(other)) => {
                Some(BackupType::Other(other.to_string()))
            }
            Some(types::BackupType::String(other)) => Some(BackupType::Other(other.clone())),
            // A representation a later spec adds (the generated enum is non-exhaustive).
            Some(_) => None,
        };
        Ok(Self {
            backup_id: item.backup_id.and_then(Placeholder::real),
            backup_chain_id: item.backup_chain_id.and_then(Placeholder::real),
            partition_id: item
                .partition_information
                .as_ref()
                .and_then(types::PartitionInformation::id)
                .map(PartitionId::from),
            backup_type,
            epoch: item
                .epoch_of_last_backup_record
                .as_ref()
                .and_then(Epoch::from_api),
            lsn: item.lsn(),
            creation_time_utc: item.creation_time_utc.and_then(Placeholder::real),
            application_name: item.application_name.and_then(Placeholder::real),
            service_name: item.service_name.and_then(Placeholder::real),
            backup_location: item.backup_location.and_then(Placeholder::real),
            service_manifest_version: item.service_manifest_version.and_then(Placeholder::real),
        })
    }

    /// Whether it is a full backup that starts its own chain (`BackupChainId == BackupId`): the shape of every
    /// on-demand backup, and of a periodic full backup.
    pub fn starts_own_chain(&self) -> bool {
        self.backup_type == Some(BackupType::Full)
            && self.backup_id.is_some()
            && self.backup_id == self.backup_chain_id
    }
}

impl Client {
    /// Lists the backups of a partition in the storage of its backup policy (GET
    /// `/Partitions/{id}/$/GetBackups`): read it as a [`BackupStream`] ([`ListBackups::stream`]), which pages
    /// transparently, or await it for every backup, oldest first.
    ///
    /// The service lists only the policy storage **as configured now**: a backup sent to another storage (with
    /// [`BackupPartitionRequest::storage`](crate::BackupPartitionRequest::storage)) is found with
    /// [`Client::list_backups_in`]. A partition without a backup policy fails with
    /// [`Error::is_backup_not_enabled`] (404 `FABRIC_E_BACKUP_NOT_ENABLED`), even when backups of it exist.
    ///
    /// ```no_run
    /// # async fn demo(client: sf_backup::Client, id: sf_backup::PartitionId) -> Result<(), sf_backup::Error> {
    /// use std::time::Duration;
    /// use sf_backup::Utc;
    ///
    /// let day = Duration::from_secs(24 * 60 * 60);
    /// let backups = client.list_backups(id).since(Utc::now() - day).await?;
    /// for backup in backups {
    ///     println!("{:?} at {:?}", backup.backup_id, backup.backup_location);
    /// }
    /// # Ok(()) }
    /// ```
    pub fn list_backups(&self, partition_id: PartitionId) -> ListBackups {
        ListBackups::new(self.clone(), Source::Partition(partition_id))
    }

    /// Lists the backups of `entity` in `storage` (POST `/BackupRestore/$/GetBackups`): a storage given
    /// explicitly, another cluster's included.
    ///
    /// An item that reports an enumeration error instead of a backup (the service answers 200 with a
    /// `FailureError` item when it cannot read the storage) becomes [`Error::ListingFailed`].
    pub fn list_backups_in(&self, storage: BackupStorage, entity: BackupEntity) -> ListBackups {
        ListBackups::new(self.clone(), Source::Location { storage, entity })
    }
}

#[derive(Clone, Debug)]
enum Source {
    Partition(PartitionId),
    Location {
        storage: BackupStorage,
        entity: BackupEntity,
    },
}

/// A backup list being prepared by [`Client::list_backups`] or [`Client::list_backups_in`]. Await it for every
/// backup (sorted by creation time, oldest first), or read [`stream`](Self::stream) page by page.
#[derive(Clone, Debug)]
#[must_use = "a list does nothing until it is awaited or streamed"]
pub struct ListBackups {
    client: Client,
    source: Source,
    since: Option<DateTime<Utc>>,
    until: Option<DateTime<Utc>>,
    latest: bool,
    page_size: Option<NonZeroU32>,
    timeout: Option<Duration>,
    cap: Option<Instant>,
}

impl ListBackups {
    fn new(client: Client, source: Source) -> Self {
        Self {
            client,
            source,
            since: None,
            until: None,
            latest: false,
            page_size: None,
            timeout: None,
            cap: None,
        }
    }

    /// Only backups created at or after `since` (`StartDateTimeFilter`). The service compares whole seconds;
    /// this list also drops what it returns from before `since` itself, so the bound is exact.
    pub fn since(mut self, since: DateTime<Utc>) -> Self {
        self.since = Some(since);
        self
    }

    /// Only backups created at or before `until` (`EndDateTimeFilter`), inclusive, checked the same way.
    pub fn until(mut self, until: DateTime<Utc>) -> Self {
        self.until = Some(until);
        self
    }

    /// Only the most recent backup of each partition within the time range (`Latest=true`).
    ///
    /// With `Latest`, no `MaxResults` is ever sent, whatever [`page_size`](Self::page_size) says: the
    /// service's code then returns the partition's *oldest* backup instead of its latest.
    pub fn latest(mut self) -> Self {
        self.latest = true;
        self
    }

    /// At most this many backups per page (`MaxResults`); without it the service fills each page as far as its
    /// message size allows. Paging stays transparent either way.
    ///
    /// The service's code answers 400 `E_INVALIDARG` "Index was out of range" when `MaxResults` is set and no
    /// backup matches; this list reads that answer as "no (more) backups".
    pub fn page_size(mut self, page_size: NonZeroU32) -> Self {
        self.page_size = Some(page_size);
        self
    }

    /// The server timeout of each page (`timeout`): how long the service may take to answer it; see
    /// [`BackupPartitionRequest::server_timeout`](crate::BackupPartitionRequest::server_timeout).
    pub fn server_timeout(mut self, timeout: Duration) -> Self {
        self.timeout = Some(timeout);
        self
    }

    /// Every page's answer deadline is cut short at `cap` (a wait's deadline).
    pub(crate) fn before(mut self, cap: Instant) -> Self {
        self.cap = Some(cap);
        self
    }

    /// The backups, page after page, as a [`Stream`](futures_core::Stream) of results in the order the service
    /// lists them (grouped by partition, oldest first within each, as its storage enumerates them; not sorted
    /// across pages). A failed page ends the stream with its error; an item that carries an enumeration error
    /// is yielded as [`Error::ListingFailed`] and the stream goes on.
    ///
    /// `next()` comes from `StreamExt` in the `futures` crate (or `futures-util`), which this crate does not
    /// re-export; without it, poll with [`futures_core::Stream::poll_next`] in `std::future::poll_fn`.
    ///
    /// ```no_run
    /// # async fn demo(client: sf_backup::Client, id: sf_backup::PartitionId) -> Result<(), sf_backup::Error> {
    /// use futures_util::StreamExt; // futures-util = "0.3" (or `futures::StreamExt`)
    ///
    /// let mut backups = client.list_backups(id).stream();
    /// while let Some(backup) = backups.next().await {
    ///     println!("{:?}", backup?.backup_location);
    /// }
    /// # Ok(()) }
    /// ```
    pub fn stream(self) -> BackupStream {
        let operation = match self.source {
            Source::Partition(_) => Operation::GetPartitionBackupList,
            Source::Location { .. } => Operation::GetBackupsFromBackupLocation,
        };
        BackupStream {
            query: Arc::new(self),
            buffer: VecDeque::new(),
            pages: Pages::new(operation),
            next: None,
        }
    }

    fn check(&self) -> Result<(), Error> {
        server_timeout(self.timeout)?;
        match &self.source {
            Source::Partition(_) => Ok(()),
            Source::Location { storage, entity } => {
                storage.validate()?;
                entity.check()
            }
        }
    }

    /// One page, after `token`.
    async fn page(&self, token: Option<&str>) -> Result<Page, Error> {
        let server_timeout = server_timeout(self.timeout)?;
        // Never MaxResults with Latest: the service would return the oldest backup.
        let max_results = self
            .page_size
            .filter(|_| !self.latest)
            .map(|size| i64::from(size.get()));
        let (client, cap) = (&self.client, self.cap);
        let (since, until, latest) = (self.since.as_ref(), self.until.as_ref(), self.latest);
        let answer = match &self.source {
            Source::Partition(partition) => {
                read_page(
                    client,
                    Operation::GetPartitionBackupList,
                    server_timeout,
                    cap,
                    |api| async move {
                        api.get_partition_backup_list(
                            partition.as_uuid(),
                            token,
                            until,
                            latest.then_some(true),
                            max_results,
                            since,
                            types::ApiVersion::X64,
                            server_timeout,
                        )
                        .await
                    },
                )
                .await
            }
            Source::Location { storage, entity } => {
                let mut body = types::GetBackupByStorageQueryDescription::new(
                    storage.to_api()?,
                    entity.to_api(),
                );
                body.end_date_time_filter = self.until;
                body.latest = self.latest.then_some(true);
                body.start_date_time_filter = self.since;
                let body = &body;
                read_page(
                    client,
                    Operation::GetBackupsFromBackupLocation,
                    server_timeout,
                    cap,
                    |api| async move {
                        api.get_backups_from_backup_location(
                            token,
                            max_results,
                            types::ApiVersion::X64,
                            server_timeout,
                            body,
                        )
                        .await
                    },
                )
                .await
            }
        };
        match answer {
            Ok(page) => Ok(Page::from_api(page)),
            Err(error) if max_results.is_some() && is_no_match_with_max_results(&error) => {
                tracing::debug!(%error, "MaxResults with no match: read as no more backups");
                Ok(Page::default())
            }
            Err(error) => Err(error),
        }
    }

    fn keeps(&self, backup: &BackupInfo) -> bool {
        let Some(created) = backup.creation_time_utc else {
            return self.since.is_none() && self.until.is_none();
        };
        self.since.is_none_or(|since| created >= since)
            && self.until.is_none_or(|until| created <= until)
    }

    async fn all(self) -> Result<Vec<BackupInfo>, Error> {
        let mut stream = self.stream();
        let mut backups = Vec::new();
        while let Some(item) =
            std::future::poll_fn(|cx| Pin::new(&mut stream).poll_next_item(cx)).await
        {
            backups.push(item?);
        }
        // The service's order depends on its storage; a caller wants time order.
        backups.sort_by_key(|backup: &BackupInfo| backup.creation_time_utc);
        Ok(backups)
    }
}

/// The service's answer to `MaxResults > 0` when nothing matches: its error handler indexes an empty list
/// (`restorePoints[0] = …`), and the `ArgumentOutOfRangeException` becomes 400 `E_INVALIDARG`.
fn is_no_match_with_max_results(error: &Error) -> bool {
    matches!(
        error,
        Error::Service { status, code: ErrorCode::InvalidArgument, message }
            if *status == StatusCode::BAD_REQUEST && message.contains("Index was out of range")
    )
}

impl IntoFuture for ListBackups {
    type Output = Result<Vec<BackupInfo>, Error>;
    type IntoFuture = ResponseFuture<Vec<BackupInfo>>;

    fn into_future(self) -> Self::IntoFuture {
        let span = tracing::debug_span!("sf_backup", operation = "list_backups");
        Box::pin(async move { self.all().await }.instrument(span))
    }
}

#[derive(Default)]
struct Page {
    items: Vec<Result<BackupInfo, Error>>,
    /// The continuation token, as the service sent it ([`Pages::advance`] reads it).
    next: Option<String>,
}

impl Page {
    fn from_api(page: types::PagedBackupInfoList) -> Self {
        Self {
            items: page.items.into_iter().map(BackupInfo::from_api).collect(),
            next: page.continuation_token,
        }
    }
}

type PageFuture = Pin<Box<dyn Future<Output = Result<Page, Error>> + Send>>;

/// The backups of a [`ListBackups`], fetched a page at a time as they are read. Each item is a backup, or the
/// error that ended the list (or an enumeration error the service listed as an item).
#[must_use = "a stream does nothing until it is polled"]
pub struct BackupStream {
    query: Arc<ListBackups>,
    buffer: VecDeque<Result<BackupInfo, Error>>,
    pages: Pages,
    next: Option<PageFuture>,
}

impl fmt::Debug for BackupStream {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("BackupStream")
            .field("buffered", &self.buffer.len())
            .field("done", &self.pages.is_done())
            .finish_non_exhaustive()
    }
}

impl BackupStream {
    fn poll_next_item(&mut self, cx: &mut Context<'_>) -> Poll<Option<Result<BackupInfo, Error>>> {
        loop {
            if let Some(item) = self.buffer.pop_front() {
                return Poll::Ready(Some(item));
            }
            if self.pages.is_done() {
                return Poll::Ready(None);
            }
            let future = self.next.get_or_insert_with(|| {
                let query = Arc::clone(&self.query);
                let token = self.pages.token().map(str::to_owned);
                Box::pin(async move {
                    query.check()?;
                    query.page(token.as_deref()).await
                })
            });
            let result = std::task::ready!(future.as_mut().poll(cx));
            self.next = None;
            match result {
                Err(error) => {
                    self.pages.stop();
                    return Poll::Ready(Some(Err(error)));
                }
                Ok(page) => {
                    let query = &self.query;
                    self.buffer.extend(
                        page.items.into_iter().filter(|item| {
                            item.as_ref().map_or(true, |backup| query.keeps(backup))
                        }),
                    );
                    if let Err(error) = self.pages.advance(page.next) {
                        self.buffer.push_back(Err(error));
                    }
                }
            }
        }
    }
}

impl futures_core::Stream for BackupStream {
    type Item = Result<BackupInfo, Error>;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        self.get_mut().poll_next_item(cx)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn page(json: &str) -> types::PagedBackupInfoList {
        serde_json::from_str(json).unwrap()
    }

    #[test]
    fn an_enumeration_error_item_is_an_error_not_a_backup() {
        let failure = page(include_str!(
            "../../../spec/examples/get-backups-from-backup-location-failure-service.json"
        ));
        let Page { items, next } = Page::from_api(failure);
        assert_eq!(next, None);
        let error = items.into_iter().next().unwrap().unwrap_err();
        assert!(matches!(error, Error::ListingFailed { .. }), "{error:?}");
        assert_eq!(
            error.code().map(ErrorCode::as_str),
            Some("-2146232800"),
            "{error}"
        );
    }

    #[test]
    fn documented_and_service_pages_end_alike_and_keep_their_values() {
        for (file, token) in [
            (
                include_str!("../../../spec/examples/get-partition-backup-list-4.json"),
                None,
            ),
            (
                include_str!("../../../spec/examples/get-partition-backup-list-service.json"),
                None,
            ),
            (
                include_str!("../../../spec/examples/get-partition-backup-list-3.json"),
                Some(
                    "fabric:/CalcApp/CalcService#1daae3f5-7fd6-42e9-b1ba-8c05f873994d#\
                     7903dc2a-228d-44b0-b7c8-a13a6c9b46bd",
                ),
            ),
        ] {
            let Page { items, next } = Page::from_api(page(file));
            assert_eq!(next.as_deref().filter(|next| !next.is_empty()), token);
            for item in items {
                let backup = item.unwrap();
                assert!(backup.backup_id.is_some() && backup.creation_time_utc.is_some());
                assert!(backup.lsn.is_some() && backup.epoch.is_some());
            }
        }
    }

    #[test]
    fn backup_info_serialises_by_field_name_with_int64s_as_strings() {
        let Page { items, .. } = Page::from_api(page(include_str!(
            "../../../spec/examples/get-partition-backup-list-service.json"
        )));
        let json = serde_json::to_value(items[0].as_ref().unwrap()).unwrap();
        assert_eq!(json["backup_id"], "0b9a1ac4-7a3e-4c6b-9d43-0d2f8b8fb1a2");
        assert_eq!(json["lsn"], "1024");
        assert!(json["epoch"]["data_loss_version"].is_string(), "{json}");
        assert_eq!(json["backup_type"], "Full");
        assert_eq!(json["partition_id"], "1daae3f5-7fd6-42e9-b1ba-8c05f873994d");
        assert_eq!(json["creation_time_utc"], "2024-03-01T10:15:07Z");
    }
}
