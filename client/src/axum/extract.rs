//! [`Verified`]: the extractor a handler takes to learn who is asking.

use super::refusal::Refusal;
use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use axum::response::{IntoResponse, Response};

/// The identity [`super::layer`] verified for this request.
///
/// A handler on a route the layer does not cover gets a 500 `INTERNAL` instead of running
/// unverified.
///
/// ```no_run
/// use keyward_client::axum::Verified;
/// async fn whoami(Verified(who): Verified) -> String {
///     format!("{} ({})", who.principal_id, who.kind)
/// }
/// ```
#[derive(Debug, Clone)]
pub struct Verified(pub crate::Verified);

impl std::ops::Deref for Verified {
    type Target = crate::Verified;
    fn deref(&self) -> &crate::Verified {
        &self.0
    }
}

impl<S: Send + Sync> FromRequestParts<S> for Verified {
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        parts
            .extensions
            .get::<crate::Verified>()
            .cloned()
            .map(Verified)
            .ok_or_else(|| Refusal::no_layer().into_response())
    }
}
