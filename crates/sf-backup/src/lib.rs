//! The sf-backup facade (work in progress).
#![forbid(unsafe_code)]
