//! What travels on the wire, in both dialects: the six operations, the [`Dialect`](dialect::Dialect)s, and every
//! body and message whose shape depends on the dialect (progress, errors, backup lists, the topology queries),
//! each written once here so that the components above decide what to answer and never how it is spelled.
//!
//! The service's shapes follow its view types (`src/prod/src/managed/FabricBRS/src/System/Fabric/BackupRestore/
//! BackupRestoreTypes/*.cs`, serialised by Json.NET with its defaults) and the native gateway's serializer
//! (`src/prod/src/ServiceModel/*QueryResult.h`); the documented ones are the generated types of
//! [`sf_backup_api::types`], so they cannot drift from the spec.

pub(crate) mod answer;
pub(crate) mod dialect;
pub(crate) mod error;
pub(crate) mod lists;
pub(crate) mod operation;
pub(crate) mod progress;
pub(crate) mod queries;
pub(crate) mod refusal;
pub(crate) mod values;
pub(crate) mod words;
