//! Federated identity credentials, reconciled by name (Graph's alternate key). Idempotency: a
//! create whose name exists is reconciled as an update; the name itself is immutable, so a rename
//! is a delete and a create.

use serde_json::{Value, json};

use super::{AppContext, Instance};
use crate::engine::fields::{self, Fields};
use crate::engine::observed::str_of;
use crate::engine::plan::ResourceType;
use crate::model::FederatedCredentialSpec;

pub fn body(spec: &FederatedCredentialSpec) -> Value {
    json!({
        "name": spec.name,
        "issuer": spec.issuer,
        "subject": spec.subject,
        "audiences": spec.audiences,
        "description": spec.description,
    })
}

fn normalize(credential: &Value) -> Fields {
    let mut f = Fields::new();
    f.insert("issuer".into(), fields::text(credential.get("issuer")));
    f.insert("subject".into(), fields::text(credential.get("subject")));
    f.insert(
        "audiences".into(),
        fields::string_set(fields::strings(credential.get("audiences"))),
    );
    f.insert(
        "description".into(),
        fields::text(credential.get("description")),
    );
    f
}

fn address(ctx: &AppContext, name: &str) -> String {
    ctx.address(&format!("federated_credential.{name}"))
}

pub fn desired(ctx: &AppContext) -> Vec<Instance> {
    if ctx
        .app
        .lifecycle
        .ignore
        .contains(&crate::model::IgnoredField::FederatedCredentials)
    {
        return Vec::new();
    }
    ctx.app
        .federated_credentials
        .iter()
        .map(|spec| {
            Instance::new(
                address(ctx, &spec.name),
                ResourceType::FederatedCredential,
                normalize(&body(spec)),
            )
        })
        .collect()
}

pub fn live(ctx: &AppContext) -> Vec<Instance> {
    if ctx
        .app
        .lifecycle
        .ignore
        .contains(&crate::model::IgnoredField::FederatedCredentials)
    {
        return Vec::new();
    }
    ctx.live
        .federated_credentials
        .iter()
        .filter_map(|c| {
            Some(
                Instance::new(
                    address(ctx, str_of(c, "name")?),
                    ResourceType::FederatedCredential,
                    normalize(c),
                )
                .observed(c),
            )
        })
        .collect()
}
