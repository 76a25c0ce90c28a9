//! Who is calling: what the sandbox learned from a bearer token, shared by the Graph routes, the
//! request pipeline and the Key Vault listener.

/// The application the bearer token was issued to.
#[derive(Debug, Clone)]
pub struct Caller {
    pub app_id: String,
    pub service_principal_id: String,
    /// Microsoft Graph application permissions in the token.
    pub roles: Vec<String>,
}
