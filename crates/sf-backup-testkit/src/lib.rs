//! A fake Service Fabric gateway (work in progress).
#![forbid(unsafe_code)]
