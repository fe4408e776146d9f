//! keyward for axum services (feature `axum`): a layer that verifies each request's bearer
//! token with `keywardd`, and the [`Verified`] extractor that hands the identity to handlers.
//!
//! ```no_run
//! # async fn demo() {
//! use axum::{routing::get, Router};
//! use keyward_client::axum::Verified;
//! use keyward_client::{Env, Requirements, SharedClient};
//!
//! async fn whoami(Verified(who): Verified) -> String {
//!     who.principal_id.to_string()
//! }
//!
//! let keyward = SharedClient::new("/run/keyward/keyward.sock");
//! let app: Router = Router::new()
//!     .route("/whoami", get(whoami))
//!     .layer(keyward_client::axum::layer(keyward, Requirements::new().env(Env::Live)));
//! # }
//! ```
//!
//! The layer is tower-http's `AsyncRequireAuthorizationLayer` around [`Authorize`].
//! All layers built from clones of one [`crate::SharedClient`] share its one pipelined
//! connection; nothing is cached, so a revocation takes effect on the next request.
//!
//! A refused request gets the CLI's `{"error":{"code","message"}}` body and:
//! - no bearer token: 401, `WWW-Authenticate: Bearer realm="keyward"`, code
//!   [`CREDENTIAL_MISSING`];
//! - a malformed, unknown, revoked or expired token, or one of another environment or kind:
//!   401 with `error="invalid_token"`;
//! - a token without the scope or level required: 403 with `error="insufficient_scope"`;
//! - a daemon that cannot be reached or cannot answer: 503 with `Retry-After`.

mod authorize;
mod bearer;
mod extract;
mod refusal;

pub use authorize::Authorize;
pub use extract::Verified;
pub use refusal::CREDENTIAL_MISSING;

use crate::{Requirements, SharedClient};
use tower_http::auth::AsyncRequireAuthorizationLayer;

/// A layer that lets through only requests whose bearer token `keywardd` verifies against
/// `require`, with the identity in their extensions for [`Verified`].
pub fn layer(
    client: SharedClient,
    require: Requirements,
) -> AsyncRequireAuthorizationLayer<Authorize> {
    AsyncRequireAuthorizationLayer::new(Authorize::new(client, require))
}
