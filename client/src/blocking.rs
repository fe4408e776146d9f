//! A synchronous facade over [`crate::Client`], for callers without an async runtime.
//!
//! Each [`Client`] owns a single-threaded tokio runtime and blocks on it, the way
//! `reqwest::blocking` does. Do not use it from inside an async context.

use crate::{ConnectOptions, Error, Secret};
use keyward_protocol::{
    AdminKeyCreated, AdminKeyInfo, AdminKeyPage, ApiTokenCreated, ApiTokenInfo, ApiTokenPage,
    AuditPage, ClientCreated, ClientDetails, ClientPage, ClientSettings, ClientSummary, Env,
    ListOrder, Meta, Op, PrincipalUpdate, Reply, Requirements, Scopes, SessionIssued, Stats,
    TestKeyCreated, Verified,
};
use std::path::Path;
use uuid::Uuid;

/// A blocking connection to `keywardd`.
#[derive(Debug)]
pub struct Client {
    runtime: tokio::runtime::Runtime,
    inner: crate::Client,
}

macro_rules! blocking {
    ($(#[$doc:meta])* fn $name:ident(&mut self $(, $arg:ident: $ty:ty)*) -> $ret:ty) => {
        $(#[$doc])*
        pub fn $name(&mut self $(, $arg: $ty)*) -> Result<$ret, Error> {
            self.runtime.block_on(self.inner.$name($($arg),*))
        }
    };
}

impl Client {
    /// Connects and performs the handshake.
    ///
    /// # Errors
    /// As [`crate::Client::connect`], or [`Error::Io`] if no runtime can be built.
    pub fn connect(path: impl AsRef<Path>) -> Result<Client, Error> {
        Client::connect_with(path, &ConnectOptions::default())
    }

    /// Connects, trusting the daemon uids `options` allows, and performs the handshake.
    ///
    /// # Errors
    /// As [`crate::Client::connect_with`], or [`Error::Io`] if no runtime can be built.
    pub fn connect_with(path: impl AsRef<Path>, options: &ConnectOptions) -> Result<Client, Error> {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()?;
        let inner = runtime.block_on(crate::Client::connect_with(path, options))?;
        Ok(Client { runtime, inner })
    }

    /// Sets the admin key sent with operations that need one.
    pub fn set_admin_key(&mut self, key: Secret) {
        self.inner.set_admin_key(key);
    }

    blocking!(/// See [`crate::Client::call`].
        fn call(&mut self, op: Op) -> Reply);
    blocking!(/// See [`crate::Client::pipeline`].
        fn pipeline(&mut self, ops: Vec<Op>) -> Vec<Result<Reply, keyward_protocol::WireError>>);
    blocking!(/// See [`crate::Client::ping`].
        fn ping(&mut self) -> String);
    blocking!(/// See [`crate::Client::admin_key_create`].
        fn admin_key_create(&mut self, label: &str, env: Env) -> AdminKeyCreated);
    blocking!(/// See [`crate::Client::admin_key_list`].
        fn admin_key_list(&mut self) -> Vec<AdminKeyInfo>);
    blocking!(/// See [`crate::Client::admin_key_revoke`].
        fn admin_key_revoke(&mut self, id: Uuid) -> Uuid);
    blocking!(/// See [`crate::Client::client_create`].
        fn client_create(&mut self, label: Option<String>, max_sessions: Option<u32>, scopes: Scopes) -> ClientCreated);
    blocking!(/// See [`crate::Client::client_create_with`].
        fn client_create_with(&mut self, label: Option<String>, max_sessions: Option<u32>, scopes: Scopes, external_id: Option<String>, meta: Meta) -> ClientCreated);
    blocking!(/// See [`crate::Client::client_find`].
        fn client_find(&mut self, external_id: &str) -> ClientDetails);
    blocking!(/// See [`crate::Client::client_show`].
        fn client_show(&mut self, client_id: Uuid) -> ClientDetails);
    blocking!(/// See [`crate::Client::client_list`].
        fn client_list(&mut self) -> Vec<ClientSummary>);
    blocking!(/// See [`crate::Client::client_revoke_sessions`].
        fn client_revoke_sessions(&mut self, client_id: Uuid) -> u64);
    blocking!(/// See [`crate::Client::client_delete`].
        fn client_delete(&mut self, client_id: Uuid) -> u64);
    blocking!(/// See [`crate::Client::disable`].
        fn disable(&mut self, id: Uuid) -> Uuid);
    blocking!(/// See [`crate::Client::enable`].
        fn enable(&mut self, id: Uuid) -> Uuid);
    blocking!(/// See [`crate::Client::session_issue`].
        fn session_issue(&mut self, client_id: Uuid) -> SessionIssued);
    blocking!(/// See [`crate::Client::test_key_create`].
        fn test_key_create(&mut self, client_id: Uuid) -> TestKeyCreated);
    blocking!(/// See [`crate::Client::api_token_create`].
        fn api_token_create(&mut self, name: &str, scopes: Scopes, expires_in_secs: Option<u64>) -> ApiTokenCreated);
    blocking!(/// See [`crate::Client::api_token_create_with`].
        fn api_token_create_with(&mut self, name: &str, scopes: Scopes, expires_in_secs: Option<u64>, external_id: Option<String>, meta: Meta) -> ApiTokenCreated);
    blocking!(/// See [`crate::Client::admin_key_list_page`].
        fn admin_key_list_page(&mut self, limit: u32, after: Option<String>, order: ListOrder)
            -> AdminKeyPage);
    blocking!(/// See [`crate::Client::client_list_page`].
        fn client_list_page(&mut self, limit: u32, after: Option<String>, order: ListOrder)
            -> ClientPage);
    blocking!(/// See [`crate::Client::client_show_page`].
        fn client_show_page(&mut self, client_id: Uuid, limit: u32, after: Option<String>) -> ClientDetails);
    blocking!(/// See [`crate::Client::api_token_list`].
        fn api_token_list(&mut self, limit: u32, after: Option<String>, order: ListOrder)
            -> ApiTokenPage);
    blocking!(/// See [`crate::Client::api_token_show`].
        fn api_token_show(&mut self, id: Uuid) -> ApiTokenInfo);
    blocking!(/// See [`crate::Client::api_token_update`].
        fn api_token_update(&mut self, id: Uuid, update: PrincipalUpdate) -> ApiTokenInfo);
    blocking!(/// See [`crate::Client::client_update`].
        fn client_update(&mut self, client_id: Uuid, update: PrincipalUpdate) -> ClientSettings);
    blocking!(/// See [`crate::Client::verify`].
        fn verify(&mut self, token: &Secret, require: Requirements) -> Verified);
    blocking!(/// See [`crate::Client::logout`].
        fn logout(&mut self, token: &Secret) -> Uuid);
    blocking!(/// See [`crate::Client::revoke`].
        fn revoke(&mut self, credential_id: Uuid) -> Uuid);
    blocking!(/// See [`crate::Client::stats`].
        fn stats(&mut self) -> Stats);
    blocking!(/// See [`crate::Client::audit_page`].
        fn audit_page(&mut self, limit: u32, before: Option<String>) -> AuditPage);
}
