//! What a backup's `Timeout` means: the service stops reporting, not the replica, so a backup can be written
//! after progress said `Timeout`. [`Client::look_for_written_backup`] looks for it in the storage the request
//! used, by time and shape (progress names no backup after a `Timeout`).

use std::fmt;
use std::future::IntoFuture;
use std::pin::Pin;
use std::time::Duration;

use chrono::{DateTime, Timelike, Utc};
use tokio::time::Instant;
use uuid::Uuid;

use crate::list::{BackupEntity, BackupInfo};
use crate::operation::{Conclusion, Pace};
use crate::retry::{GaveUp, Patience, with_retries};
use crate::{BackupProgress, BackupStorage, Client, Error, PartitionId};

/// How far the clocks of this machine and of the node may disagree, by default.
pub(super) const DEFAULT_CLOCK_SKEW: Duration = Duration::from_secs(60);

/// The window searched for a backup written after the service reported `Timeout`: from the backup request
/// minus the [clock skew](crate::WaitOptions::clock_skew) (and the second the service truncates), to the look
/// plus the skew.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize)]
#[non_exhaustive]
pub struct BackupWindow {
    /// The earliest creation time that counts.
    pub from: DateTime<Utc>,
    /// The latest creation time that counts.
    pub to: DateTime<Utc>,
}

/// Why a backup in storage may be a timed-out request's. `Serialize` writes the sentence of its `Display`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum CandidateReason {
    /// Created at or after the request (by this machine's clock, to the second) and before the look: this
    /// request's, or a periodic full backup in the same window.
    AfterRequest {
        /// The request's time, to the second.
        requested_at: DateTime<Utc>,
    },
    /// Created before the request, but within the clock skew: this request's only if the node's clock is
    /// behind; more likely an earlier backup.
    BeforeRequestWithinSkew {
        /// The request's time, to the second.
        requested_at: DateTime<Utc>,
        /// Where the window opens.
        window_from: DateTime<Utc>,
    },
}

impl fmt::Display for CandidateReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a full backup that starts its own chain, as every on-demand backup does, ")?;
        match self {
            Self::AfterRequest { requested_at } => write!(
                f,
                "created at or after this request ({}) and before the look: a periodic full backup in the same \
                 window would look the same",
                requested_at.to_rfc3339()
            ),
            Self::BeforeRequestWithinSkew {
                requested_at,
                window_from,
            } => write!(
                f,
                "created before this request ({}) by this machine's clock but within the clock skew (window from \
                 {}): this request's only if the node's clock is behind, more likely an earlier backup",
                requested_at.to_rfc3339(),
                window_from.to_rfc3339()
            ),
        }
    }
}

impl serde::Serialize for CandidateReason {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

/// A backup in storage that may be a timed-out request's, and why.
#[derive(Clone, Debug, PartialEq, serde::Serialize)]
#[non_exhaustive]
pub struct Candidate {
    /// The backup, as the list reported it.
    pub backup: BackupInfo,
    /// Why it counts.
    pub reason: CandidateReason,
}

/// Which storage was listed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum ListedStorage {
    /// The partition's policy storage (GetPartitionBackupList).
    Policy,
    /// The storage the request named (GetBackupsFromBackupLocation).
    Named,
}

impl fmt::Display for ListedStorage {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Policy => "the partition's policy storage (GetPartitionBackupList)",
            Self::Named => "the storage the request named (GetBackupsFromBackupLocation)",
        })
    }
}

/// What a look in storage found after the service reported `Timeout`.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StorageCheck {
    /// Exactly one backup of this request's shape was created after the request, in its window: the service's
    /// replica finished after the service's deadline, and the service dropped its report. No need to back up
    /// again. `candidates` also lists backups from just before the request that were not taken.
    #[error(
        "but a backup written in this request's window was found: {} at {} (created {}); no need to run again \
         (matched by time and shape, since the service names no backup after a Timeout)",
        backup.backup_id.map_or_else(|| "?".to_owned(), |id| id.to_string()),
        backup.backup_location.as_deref().unwrap_or("?"),
        backup.creation_time_utc.map_or_else(|| "?".to_owned(), |time| time.to_rfc3339()),
    )]
    Written {
        /// The backup found.
        backup: Box<BackupInfo>,
        /// Every backup considered, with the reason (the one found first).
        candidates: Vec<Candidate>,
        /// The window searched.
        window: BackupWindow,
    },
    /// Several backups after the request (a periodic backup can land in the window too), or only backups from
    /// shortly before it: one of them may be this request's, and nothing tells which. Check them before backing
    /// up again.
    #[error(
        "{} in this request's window ({} to {}), any of which may be this request's: {}",
        match candidates.len() { 1 => "1 backup was written".to_owned(), n => format!("{n} backups were written") },
        window.from.to_rfc3339(),
        window.to.to_rfc3339(),
        candidates.iter().map(|c| format!("{} ({})", c.backup.backup_id.map_or_else(|| "?".to_owned(), |id| id.to_string()), c.reason)).collect::<Vec<_>>().join("; ")
    )]
    Several {
        /// Every candidate, with the reason it is one.
        candidates: Vec<Candidate>,
        /// The window searched.
        window: BackupWindow,
    },
    /// The storage was listed until the [watch](crate::WaitOptions::late_write_watch) (or the wait's deadline)
    /// ran out, and no backup of this request's shape was created in its window.
    #[error(
        "no backup created in this request's window ({} to {}) was found in {storage} (looked until {}); \
         the service may still write it later: check again before starting another backup, or raise the backup \
         timeout",
        window.from.to_rfc3339(),
        window.to.to_rfc3339(),
        looked_until.to_rfc3339()
    )]
    NothingFound {
        /// The window searched at the last look.
        window: BackupWindow,
        /// Which storage.
        storage: ListedStorage,
        /// When the last look was made.
        looked_until: DateTime<Utc>,
    },
    /// The storage could not be listed, so whether the backup was written is unknown. A 404
    /// `FABRIC_E_BACKUP_NOT_ENABLED` from the policy list lands here: the partition has no backup policy to
    /// list, which says nothing about this backup.
    #[error(
        "whether it was written could not be checked: {reason}; it may still have been written, as the service \
         keeps going after reporting Timeout: check the storage before starting another backup"
    )]
    CannotCheck {
        /// Why.
        reason: String,
        /// The error of the list, when there was one.
        #[source]
        error: Option<Error>,
    },
    /// No look was made.
    #[error(
        "it may still have been written to storage, as the service keeps going after reporting Timeout \
         ({reason}): check the storage before starting another backup, or raise the backup timeout"
    )]
    NotChecked {
        /// Why no look was made.
        reason: String,
    },
}

impl Client {
    /// Looks for the backup a request sent at `requested_at` may have written after the service reported
    /// `Timeout` for it: a full backup that starts its own chain (the shape of every on-demand backup), created
    /// in the request's window, in the storage the request used. Lists the partition's policy storage, or the
    /// [storage](WrittenLook::storage) the request named; keeps looking for a while
    /// ([`WrittenLook::late_write_watch`]), since the replica can finish after the service's deadline. Failed lists are
    /// retried under the client's [`RetryPolicy`](crate::RetryPolicy).
    ///
    /// A [wait](crate::BackupPartitionRequest::wait) calls it after `Timeout`; call it yourself for a backup
    /// requested elsewhere.
    ///
    /// ```no_run
    /// # async fn demo(client: sf_backup::Client, id: sf_backup::PartitionId, at: sf_backup::DateTime<sf_backup::Utc>) {
    /// use sf_backup::StorageCheck;
    ///
    /// match client.look_for_written_backup(id, at).await {
    ///     StorageCheck::Written { backup, .. } => println!("written: {:?}", backup.backup_id),
    ///     other => println!("{other}"),
    /// }
    /// # }
    /// ```
    pub fn look_for_written_backup(
        &self,
        partition_id: PartitionId,
        requested_at: DateTime<Utc>,
    ) -> WrittenLook {
        WrittenLook {
            client: self.clone(),
            partition_id,
            requested_at,
            storage: None,
            service_name: None,
            clock_skew: DEFAULT_CLOCK_SKEW,
            watch: Duration::ZERO,
            excluding: None,
        }
    }
}

/// A look for a timed-out request's backup being prepared by [`Client::look_for_written_backup`]; await it.
#[derive(Clone, Debug)]
#[must_use = "a look does nothing until it is awaited"]
pub struct WrittenLook {
    client: Client,
    partition_id: PartitionId,
    pub(super) requested_at: DateTime<Utc>,
    pub(super) storage: Option<BackupStorage>,
    pub(super) service_name: Option<String>,
    clock_skew: Duration,
    watch: Duration,
    pub(super) excluding: Option<Uuid>,
}

impl WrittenLook {
    /// The storage the request named, instead of the partition's policy storage.
    pub fn storage(mut self, storage: BackupStorage) -> Self {
        self.storage = Some(storage);
        self
    }

    /// The partition's service (`fabric:/App/Service`), which names its folder in a [named storage](Self::storage);
    /// learnt from the partition's policy list when not set.
    pub fn service_name(mut self, service_name: impl Into<String>) -> Self {
        self.service_name = Some(service_name.into());
        self
    }

    /// How far the clocks may disagree (60 seconds when not set); see
    /// [`WaitOptions::clock_skew`](crate::WaitOptions::clock_skew).
    pub fn clock_skew(mut self, skew: Duration) -> Self {
        self.clock_skew = skew;
        self
    }

    /// How long to keep looking while nothing is found (zero, the default, looks once); see
    /// [`WaitOptions::late_write_watch`](crate::WaitOptions::late_write_watch).
    pub fn late_write_watch(mut self, watch: Duration) -> Self {
        self.watch = watch;
        self
    }

    /// A backup that is not this request's (the one progress named before the request).
    pub fn excluding(mut self, backup_id: Uuid) -> Self {
        self.excluding = Some(backup_id);
        self
    }

    fn storage_kind(&self) -> ListedStorage {
        match self.storage {
            None => ListedStorage::Policy,
            Some(_) => ListedStorage::Named,
        }
    }

    fn window(&self) -> BackupWindow {
        let skew = chrono::Duration::from_std(self.clock_skew).unwrap_or(chrono::Duration::MAX);
        let second = chrono::Duration::seconds(1);
        BackupWindow {
            from: self
                .requested_at
                .checked_sub_signed(skew)
                .and_then(|t| t.checked_sub_signed(second))
                .unwrap_or(DateTime::<Utc>::MIN_UTC),
            to: Utc::now()
                .checked_add_signed(skew)
                .unwrap_or(DateTime::<Utc>::MAX_UTC),
        }
    }

    /// Looks until one backup is found, or the watch (never past `deadline`) runs out.
    async fn looking(
        mut self,
        deadline: Instant,
        mut pace: Pace,
        retry: &crate::RetryPolicy,
        mut observe: impl FnMut(&std::sync::Arc<Error>, u32),
    ) -> StorageCheck {
        if Instant::now() >= deadline {
            return StorageCheck::NotChecked {
                reason: "the wait's deadline had passed".to_owned(),
            };
        }
        let end = Instant::now()
            .checked_add(self.watch)
            .map_or(deadline, |end| end.min(deadline));
        let storage = self.storage_kind();
        // Each look gets some time for its retries, even when the watch is shorter.
        let retry_end = |end: Instant| {
            end.max(Instant::now() + Duration::from_secs(10))
                .min(deadline)
        };
        if self.storage.is_some() && self.service_name.is_none() {
            // The folder is named by the service: learn it from the partition's policy list, if it has one.
            let learnt = with_retries(
                retry,
                retry_end(end),
                Patience::UntilDeadline,
                &mut observe,
                || {
                    self.client
                        .list_backups(self.partition_id)
                        .latest()
                        .before(deadline)
                        .into_future()
                },
            )
            .await
            .ok()
            .and_then(|backups| backups.into_iter().find_map(|b| b.service_name));
            match learnt {
                Some(name) => self.service_name = Some(name),
                None => {
                    return StorageCheck::CannotCheck {
                        reason: "the backup went to a storage given explicitly, and listing it needs the \
                                 partition's service name, which the partition's policy list did not tell: \
                                 pass WaitOptions::service_name (--service-name)"
                            .to_owned(),
                        error: None,
                    };
                }
            }
        }
        let mut last_look: Option<(BackupWindow, Vec<Candidate>)> = None;
        loop {
            let window = self.window();
            match with_retries(
                retry,
                retry_end(end),
                Patience::UntilDeadline,
                &mut observe,
                || self.list(window, deadline),
            )
            .await
            {
                Ok(backups) => {
                    let (mut after, before) = self.candidates(backups, window);
                    if after.len() == 1 {
                        let backup = Box::new(after[0].backup.clone());
                        tracing::info!(backup_id = ?backup.backup_id, "Timeout, but this request's backup was written");
                        after.extend(before);
                        return StorageCheck::Written {
                            backup,
                            candidates: after,
                            window,
                        };
                    }
                    if !after.is_empty() {
                        after.extend(before);
                        return StorageCheck::Several {
                            candidates: after,
                            window,
                        };
                    }
                    last_look = Some((window, before));
                }
                Err(GaveUp::Failed(error)) if error.is_backup_not_enabled() => {
                    return StorageCheck::CannotCheck {
                        reason: format!(
                            "the partition has no backup policy, so {storage} cannot be listed (404 \
                             FABRIC_E_BACKUP_NOT_ENABLED); that is not an error of the backup"
                        ),
                        error: Some(error),
                    };
                }
                Err(GaveUp::Failed(error)) => {
                    return StorageCheck::CannotCheck {
                        reason: format!("listing {storage} failed: {error}"),
                        error: Some(error),
                    };
                }
                // The watch ran out while listing failed or took long: what earlier looks found stands.
                Err(GaveUp::Deadline(error)) => {
                    if last_look.is_none() {
                        return match error {
                            Some(error) => StorageCheck::CannotCheck {
                                reason: format!("listing {storage} kept failing: {error}"),
                                error: None,
                            },
                            None => StorageCheck::NotChecked {
                                reason:
                                    "the wait's deadline passed before the storage could be listed"
                                        .to_owned(),
                            },
                        };
                    }
                }
            }
            if Instant::now() >= end {
                return match last_look {
                    Some((window, before)) if !before.is_empty() => StorageCheck::Several {
                        candidates: before,
                        window,
                    },
                    Some((window, _)) => StorageCheck::NothingFound {
                        window,
                        storage,
                        looked_until: Utc::now(),
                    },
                    None => StorageCheck::NotChecked {
                        reason: "the wait's deadline passed before the storage could be listed"
                            .to_owned(),
                    },
                };
            }
            pace.pause(end).await;
        }
    }

    /// One list of the storage since the window opened.
    async fn list(&self, window: BackupWindow, cap: Instant) -> Result<Vec<BackupInfo>, Error> {
        let Some(storage) = &self.storage else {
            return self
                .client
                .list_backups(self.partition_id)
                .since(window.from)
                .before(cap)
                .await;
        };
        let service = self.service_name.clone().unwrap_or_default();
        self.client
            .list_backups_in(
                storage.clone(),
                BackupEntity::partition(service, self.partition_id),
            )
            .since(window.from)
            .before(cap)
            .await
    }

    /// The backups of this request's shape created in its window: those at or after the request (by this
    /// machine's clock, to the second), and those before it within the skew.
    fn candidates(
        &self,
        backups: Vec<BackupInfo>,
        window: BackupWindow,
    ) -> (Vec<Candidate>, Vec<Candidate>) {
        let requested_at = self
            .requested_at
            .with_nanosecond(0)
            .unwrap_or(self.requested_at);
        let (mut after, mut before) = (Vec::new(), Vec::new());
        for backup in backups
            .into_iter()
            .filter(|backup| backup.partition_id.is_none_or(|id| id == self.partition_id))
            .filter(|backup| backup.backup_id.is_some() && backup.backup_id != self.excluding)
            .filter(BackupInfo::starts_own_chain)
        {
            let Some(created) = backup
                .creation_time_utc
                .filter(|time| window.from <= *time && *time <= window.to)
            else {
                continue;
            };
            if created >= requested_at {
                let reason = CandidateReason::AfterRequest { requested_at };
                after.push(Candidate { backup, reason });
            } else {
                let reason = CandidateReason::BeforeRequestWithinSkew {
                    requested_at,
                    window_from: window.from,
                };
                before.push(Candidate { backup, reason });
            }
        }
        (after, before)
    }

    /// The look a wait makes after `Timeout`, within its deadline, its retries shown on its stream.
    pub(crate) async fn run(self, context: &Conclusion<BackupProgress>) -> StorageCheck {
        self.looking(
            context.deadline,
            context.pace.clone(),
            &context.retry,
            |cause, attempt| context.retrying(cause, attempt),
        )
        .await
    }
}

impl IntoFuture for WrittenLook {
    type Output = StorageCheck;
    type IntoFuture = Pin<Box<dyn std::future::Future<Output = StorageCheck> + Send>>;

    fn into_future(self) -> Self::IntoFuture {
        Box::pin(async move {
            let retry = self.client.retry_policy().clone();
            let pace = Pace::new(Duration::from_secs(1), Duration::from_secs(10));
            // No deadline but the watch, and each list's own answer deadline.
            let deadline = Instant::now()
                + self.watch.min(Duration::from_secs(86_400))
                + Duration::from_secs(600);
            self.looking(deadline, pace, &retry, |_, _| {}).await
        })
    }
}
