//! Device code flow for a person at a terminal: appreg shows a URL and a code, the person signs in
//! with a browser anywhere, and appreg polls the token endpoint until they have.
//!
//! The refresh token from that sign-in is kept in memory for the run, so tokens for other scopes
//! (Key Vault) and renewals do not prompt again. Nothing is persisted.

use std::sync::{Arc, Mutex};

use oauth2::basic::BasicClient;
use oauth2::{
    AuthType, ClientId, DeviceAuthorizationUrl, RefreshToken, StandardDeviceAuthorizationResponse,
    TokenResponse, TokenUrl,
};
use url::Url;

use super::oauth::{OAuthHttp, tenant_endpoint, token_error};
use super::{AccessToken, AuthError, AuthMethod, BoxFuture, Scope, TokenSource};
use crate::graph::cloud::Endpoints;
use crate::graph::secret::Secret;

/// The Azure CLI's public client id, which the Azure SDKs use for interactive sign-in when no
/// client id of one's own is configured.
pub const AZURE_CLI_CLIENT_ID: &str = "04b07795-8ddb-461a-bbee-02f9e1bf7b46";

/// Where the sign-in instructions go (stderr in the CLI; a buffer in tests).
pub type DevicePrompt = Arc<dyn Fn(&str) + Send + Sync>;

/// Interactive sign-in by device code.
pub struct DeviceCodeCredential {
    device_url: Url,
    token_url: Url,
    client_id: String,
    endpoints: Endpoints,
    http: reqwest::Client,
    prompt: DevicePrompt,
    refresh_token: Mutex<Option<Secret>>,
}

impl DeviceCodeCredential {
    /// `tenant` may be a tenant id, a domain or `organizations`.
    pub fn new(
        endpoints: &Endpoints,
        tenant: &str,
        client_id: &str,
        prompt: DevicePrompt,
        http: reqwest::Client,
    ) -> Result<Self, AuthError> {
        let method = AuthMethod::DeviceCode;
        Ok(DeviceCodeCredential {
            device_url: tenant_endpoint(method, &endpoints.authority, tenant, "devicecode")?,
            token_url: tenant_endpoint(method, &endpoints.authority, tenant, "token")?,
            client_id: client_id.to_string(),
            endpoints: endpoints.clone(),
            http,
            prompt,
            refresh_token: Mutex::new(None),
        })
    }

    fn remember(&self, refresh: Option<&RefreshToken>) {
        if let Some(r) = refresh {
            *self.refresh_token.lock().unwrap_or_else(|e| e.into_inner()) =
                Some(Secret::new(r.secret().clone()));
        }
    }

    async fn refresh(&self, scope: &str, refresh: &Secret) -> Result<AccessToken, AuthError> {
        let client = BasicClient::new(ClientId::new(self.client_id.clone()))
            .set_token_uri(TokenUrl::from_url(self.token_url.clone()))
            .set_auth_type(AuthType::RequestBody);
        let refresh = RefreshToken::new(refresh.expose().to_string());
        let http = OAuthHttp(self.http.clone());
        let response = client
            .exchange_refresh_token(&refresh)
            .add_scope(oauth2::Scope::new(scope.to_string()))
            .add_scope(oauth2::Scope::new("offline_access".to_string()))
            .request_async(&http)
            .await
            .map_err(|e| token_error(AuthMethod::DeviceCode, &self.token_url, e))?;
        self.remember(response.refresh_token());
        Ok(AccessToken::new(
            Secret::new(response.access_token().secret().clone()),
            response.expires_in(),
        ))
    }

    async fn sign_in(&self, scope: &str) -> Result<AccessToken, AuthError> {
        let method = AuthMethod::DeviceCode;
        let client = BasicClient::new(ClientId::new(self.client_id.clone()))
            .set_device_authorization_url(DeviceAuthorizationUrl::from_url(self.device_url.clone()))
            .set_token_uri(TokenUrl::from_url(self.token_url.clone()))
            .set_auth_type(AuthType::RequestBody);
        let http = OAuthHttp(self.http.clone());
        let details: StandardDeviceAuthorizationResponse = client
            .exchange_device_code()
            .add_scope(oauth2::Scope::new(scope.to_string()))
            .add_scope(oauth2::Scope::new("offline_access".to_string()))
            .request_async(&http)
            .await
            .map_err(|e| token_error(method, &self.device_url, e))?;
        (self.prompt)(&format!(
            "To sign in, open {} in a browser and enter the code {}",
            details.verification_uri().as_str(),
            details.user_code().secret()
        ));
        let response = client
            .exchange_device_access_token(&details)
            .request_async(&http, tokio::time::sleep, None)
            .await
            .map_err(|e| token_error(method, &self.token_url, e))?;
        self.remember(response.refresh_token());
        Ok(AccessToken::new(
            Secret::new(response.access_token().secret().clone()),
            response.expires_in(),
        ))
    }
}

impl TokenSource for DeviceCodeCredential {
    fn token<'a>(&'a self, scope: &'a Scope) -> BoxFuture<'a, Result<AccessToken, AuthError>> {
        Box::pin(async move {
            let scope = self.endpoints.scope_string(*scope);
            let refresh = self
                .refresh_token
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .clone();
            if let Some(refresh) = refresh {
                match self.refresh(&scope, &refresh).await {
                    Ok(token) => return Ok(token),
                    Err(e) => {
                        tracing::debug!(error = %e, "refreshing the device code sign-in failed; signing in again")
                    }
                }
            }
            self.sign_in(&scope).await
        })
    }
}
