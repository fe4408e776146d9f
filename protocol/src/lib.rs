//! The keyward wire protocol, shared by `keywardd` and every client.
//!
//! This crate is one of keyward's two API boundaries (the other is `keyward-client`). It holds:
//! - the request and response types ([`Request`], [`Response`]) and the stable error codes
//!   ([`ErrorCode`]) that callers branch on;
//! - framing: a big-endian `u32` length prefix and a bincode body, capped at [`MAX_FRAME_LEN`]
//!   ([`frame`]), and the one module that calls bincode ([`codec`]);
//! - the version handshake ([`Hello`], [`HelloReply`]);
//! - the token format: generation, parsing and checksum ([`token`]), and [`Secret`], the type that
//!   keeps secrets out of `Debug` output;
//! - behind the `json` feature, the JSON shapes of replies ([`json`]), one contract for the CLI
//!   and the HTTP API.
//!
//! It depends on neither sled nor a tokio runtime, so fuzzers and third-party clients can use it.

// Unsafe code is forbidden outside the daemon; one test reads a wiped secret's memory.
#![cfg_attr(not(test), forbid(unsafe_code))]

pub mod codec;
mod error;
pub mod frame;
mod handshake;
pub mod identity;
#[cfg(feature = "json")]
pub mod json;
mod message;
mod model;
pub mod paths;
mod secret;
pub mod token;

pub use error::{ErrorCode, WireError};
pub use frame::MAX_FRAME_LEN;
pub use handshake::{Hello, HelloReply, MAGIC, PROTOCOL_VERSION};
pub use identity::{Identity, Meta};
pub use message::{
    AdminKeyCreated, AdminKeyInfo, AdminKeyPage, ApiTokenCreated, ApiTokenInfo, ApiTokenPage,
    AuditEntry, AuditOutcome, AuditPage, ClientCreated, ClientDetails, ClientPage, ClientSettings,
    ClientSummary, CredentialInfo, Op, PrincipalUpdate, Reply, Request, Response, SessionIssued,
    Stats, TestKeyCreated, Verified, MAX_PAGE,
};
pub use model::{
    CredentialKind, Env, Kinds, Level, ListOrder, ParseEnumError, Requirements, ScopeRequirement,
    Scopes, UnixMillis,
};
pub use secret::Secret;
