//! Support for keyward's fuzz targets: building protocol values from fuzzer bytes, and the valid
//! messages and tokens that seed the corpora.
//!
//! The protocol crate does not depend on `arbitrary`; [`request`] builds a
//! [`keyward_protocol::Request`] from an [`arbitrary::Unstructured`] by hand instead, with a
//! compile-time guard that every `Op` variant is covered.

pub mod request;
pub mod seeds;
