//! The tenant's verified domains, read through Graph (`GET /domains`): the hosts an http(s)
//! identifierUri may use. Read only when the manifest has such a URI; never written.
//! <https://learn.microsoft.com/en-us/graph/api/domain-list>

use serde::Deserialize;

use crate::graph::{GraphClient, GraphError, Request};

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Domain {
    id: String,
    #[serde(default)]
    is_verified: bool,
}

/// The names of the tenant's verified domains.
pub async fn verified_domains(client: &GraphClient) -> Result<Vec<String>, GraphError> {
    let domains: Vec<Domain> = client
        .list(Request::get("/domains").query("$select", "id,isVerified"))
        .await?;
    Ok(domains
        .into_iter()
        .filter(|d| d.is_verified)
        .map(|d| d.id)
        .collect())
}
