//! Federated identity credentials, reconciled by name (Graph's alternate key). Idempotency: a
//! create whose name exists is reconciled as an update; the name itself is immutable, so a rename
//! is a delete and a create.

use serde_json::{Value, json};

use super::{AppContext, Instance};
use crate::engine::fields::{self, Fields};
use crate::engine::observed::str_of;
use crate::engine::plan::ResourceType;
use crate::model::FederatedCredentialSpec;

use super::{Phase, Requires, ResourceKind, Write, WriteError};
use crate::graph::Request;

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

fn address(ctx: &AppContext, name: &str) -> super::Address {
    ctx.address(&format!("federated_credential.{name}"))
}

pub fn desired(ctx: &AppContext) -> Vec<Instance> {
    if ctx.ignores(crate::model::IgnoredField::FederatedCredentials) {
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
    if ctx.ignores(crate::model::IgnoredField::FederatedCredentials) {
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

pub struct FederatedCredentials;

impl FederatedCredentials {
    fn spec<'a>(
        ctx: &'a AppContext,
        write: &Write,
    ) -> Result<&'a FederatedCredentialSpec, WriteError> {
        let desired = write.desired()?;
        ctx.app
            .federated_credentials
            .iter()
            .find(|f| desired.address == address(ctx, &f.name))
            .ok_or(WriteError::NotDeclared("federated credential"))
    }
}

impl ResourceKind for FederatedCredentials {
    fn resource(&self) -> ResourceType {
        ResourceType::FederatedCredential
    }

    fn phase(&self) -> Phase {
        Phase::SubObject
    }

    fn requires(&self) -> Requires {
        Requires::Application
    }

    fn desired(&self, ctx: &AppContext) -> Vec<Instance> {
        desired(ctx)
    }

    fn live(&self, ctx: &AppContext) -> Vec<Instance> {
        live(ctx)
    }

    fn create(&self, ctx: &AppContext, write: &Write) -> Result<Request, WriteError> {
        let body = body(Self::spec(ctx, write)?);
        Ok(write.fresh(Request::post(
            format!(
                "/applications/{}/federatedIdentityCredentials",
                write.object_id()?
            ),
            body,
        )))
    }

    /// PATCH by id without the (immutable) name.
    fn update(&self, ctx: &AppContext, write: &Write) -> Result<Request, WriteError> {
        let mut body = body(Self::spec(ctx, write)?);
        body.as_object_mut().map(|b| b.remove("name"));
        Ok(Request::patch(
            format!(
                "/applications/{}/federatedIdentityCredentials/{}",
                write.object_id()?,
                write.live_id()?
            ),
            body,
        ))
    }

    fn delete(&self, _: &AppContext, write: &Write) -> Result<Request, WriteError> {
        Ok(Request::delete(format!(
            "/applications/{}/federatedIdentityCredentials/{}",
            write.object_id()?,
            write.live_id()?
        )))
    }

    /// Each federated credential by name, with issuer, subject, audiences and description.
    fn inverse(
        &self,
        from: &super::Adopted,
        app: &mut crate::model::DesiredApp,
        _: &mut super::Inverse,
    ) {
        app.federated_credentials = from
            .live
            .federated_credentials
            .iter()
            .filter_map(|c| {
                Some(FederatedCredentialSpec {
                    name: str_of(c, "name")?.to_string(),
                    issuer: str_of(c, "issuer").unwrap_or_default().to_string(),
                    subject: str_of(c, "subject").unwrap_or_default().to_string(),
                    audiences: fields::strings(c.get("audiences"))
                        .into_iter()
                        .map(str::to_string)
                        .collect(),
                    description: str_of(c, "description")
                        .filter(|d| !d.is_empty())
                        .map(str::to_string),
                })
            })
            .collect();
    }
}
