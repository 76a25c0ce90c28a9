//! Client secret credential (`AZURE_CLIENT_SECRET`): the client-credentials grant with the
//! secret in the request body.

use super::oauth::{ClientAuth, TokenEndpoint};
use super::{AccessToken, AuthError, AuthMethod, BoxFuture, Scope, TokenSource};
use crate::graph::cloud::Endpoints;
use crate::graph::secret::Secret;

/// An app registration's client id and one of its secrets.
pub struct ClientSecretCredential {
    endpoint: TokenEndpoint,
    secret: Secret,
}

impl ClientSecretCredential {
    pub fn new(
        endpoints: &Endpoints,
        tenant: &str,
        client_id: &str,
        secret: Secret,
        http: reqwest::Client,
    ) -> Result<Self, AuthError> {
        Ok(ClientSecretCredential {
            endpoint: TokenEndpoint::new(AuthMethod::Secret, endpoints, tenant, client_id, http)?,
            secret,
        })
    }
}

impl TokenSource for ClientSecretCredential {
    fn token<'a>(&'a self, scope: &'a Scope) -> BoxFuture<'a, Result<AccessToken, AuthError>> {
        Box::pin(
            self.endpoint
                .client_credentials(scope, ClientAuth::Secret(&self.secret)),
        )
    }
}
