//! [`Authorize`]: the check [`super::layer`] runs before every request reaches the service.

use super::bearer;
use super::refusal::Refusal;
use crate::{Requirements, SharedClient};
use axum::body::Body;
use axum::http::{Request, Response};
use axum::response::IntoResponse;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use tower_http::auth::AsyncAuthorizeRequest;

/// Verifies a request's bearer token with `keywardd` against fixed [`Requirements`], and on
/// success puts the identity ([`crate::Verified`]) into the request's extensions.
///
/// Every request is verified by the daemon: nothing is cached, so a revoked token is refused
/// on the very next request, and a session slides as it would for any verify.
#[derive(Debug, Clone)]
pub struct Authorize {
    client: SharedClient,
    require: Arc<Requirements>,
}

impl Authorize {
    /// Verifies tokens through `client` against `require`.
    pub fn new(client: SharedClient, require: Requirements) -> Authorize {
        Authorize {
            client,
            require: Arc::new(require),
        }
    }
}

/// What [`Authorize`] returns to tower-http: the request, or the refusal to send instead.
type Decision<B> = Pin<Box<dyn Future<Output = Result<Request<B>, Response<Body>>> + Send>>;

impl<B: Send + 'static> AsyncAuthorizeRequest<B> for Authorize {
    type RequestBody = B;
    type ResponseBody = Body;
    type Future = Decision<B>;

    fn authorize(&mut self, mut request: Request<B>) -> Self::Future {
        let token = bearer::token(request.headers());
        let client = self.client.clone();
        let require = Arc::clone(&self.require);
        Box::pin(async move {
            let token = token.map_err(|why| Refusal::no_token(why).into_response())?;
            match client.verify(&token, Requirements::clone(&require)).await {
                Ok(who) => {
                    request.extensions_mut().insert(who);
                    Ok(request)
                }
                Err(error) => Err(Refusal::from_error(&error).into_response()),
            }
        })
    }
}
