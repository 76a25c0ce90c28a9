"""Official Microsoft Graph Python SDK (msgraph-sdk) against the appreg sandbox, authenticated by
azure-identity's ClientSecretCredential with the sandbox as its authority.

Reads the JSON line printed by `appreg sandbox serve --tls` from the SANDBOX_INFO environment
variable (or the first argument). The clients run unchanged: the only help they get is the sandbox
CA in REQUESTS_CA_BUNDLE/SSL_CERT_FILE (run.sh sets both). azure-identity fetches the sandbox's
OpenID configuration and token endpoint itself; its instance discovery is switched off because
azure-identity can only send it to login.microsoftonline.com (msal_token.py covers instance
discovery against the sandbox). Exits non-zero on the first deviation.
"""

import asyncio
import json
import os
import sys
import urllib.parse

from azure.identity.aio import ClientSecretCredential
from kiota_authentication_azure.azure_identity_authentication_provider import (
    AzureIdentityAuthenticationProvider,
)
from kiota_abstractions.base_request_configuration import RequestConfiguration
from msgraph import GraphRequestAdapter, GraphServiceClient
from msgraph.generated.applications.applications_request_builder import ApplicationsRequestBuilder
from msgraph.generated.applications.item.add_password.add_password_post_request_body import (
    AddPasswordPostRequestBody,
)
from msgraph.generated.service_principals.item.add_password.add_password_post_request_body import (
    AddPasswordPostRequestBody as SpAddPasswordPostRequestBody,
)
from msgraph.generated.service_principals.item.remove_password.remove_password_post_request_body import (
    RemovePasswordPostRequestBody as SpRemovePasswordPostRequestBody,
)
from msgraph.generated.models.application import Application
from msgraph.generated.models.federated_identity_credential import FederatedIdentityCredential
from msgraph.generated.models.o_data_errors.o_data_error import ODataError
from msgraph.generated.models.password_credential import PasswordCredential
from msgraph.generated.models.service_principal import ServicePrincipal

TAG = "sdk:scenario"
PAGE_SIZE = 2
LISTED_APPS = 5
GRAPH_SCOPE = "https://graph.microsoft.com/.default"


def sandbox_credential(info: dict, client_id: str, secret: str) -> ClientSecretCredential:
    """A credential whose authority is the sandbox: discovery, token endpoint and all."""
    return ClientSecretCredential(
        info["tenantId"],
        client_id,
        secret,
        authority=info["authorityUrl"],
        disable_instance_discovery=True,
    )


def check(condition: bool, what: str) -> None:
    if not condition:
        raise AssertionError(what)
    print(f"ok - {what}")


async def scenario(info: dict) -> None:
    host = urllib.parse.urlparse(info["graphUrl"]).hostname
    admin = sandbox_credential(info, info["clientId"], info["clientSecret"])
    provider = AzureIdentityAuthenticationProvider(admin, scopes=[GRAPH_SCOPE], allowed_hosts=[host])
    adapter = GraphRequestAdapter(provider)
    adapter.base_url = info["graphUrl"]
    client = GraphServiceClient(request_adapter=adapter)

    created = await client.applications.post(Application(display_name="sdk scenario", tags=[TAG]))
    check(created is not None and created.id and created.app_id, "create an application")
    check(created.sign_in_audience == "AzureADMyOrg", "the application carries Graph's defaults")

    by_app_id = await client.applications_with_app_id(created.app_id).get()
    check(by_app_id.id == created.id, "read the application by appId")

    body = AddPasswordPostRequestBody(password_credential=PasswordCredential(display_name="sdk secret"))
    credential = await client.applications.by_application_id(created.id).add_password.post(body)
    check(bool(credential.secret_text) and credential.hint == credential.secret_text[:3], "add a password")

    principal = await client.service_principals.post(ServicePrincipal(app_id=created.app_id))
    check(principal.app_id == created.app_id and principal.account_enabled, "create its service principal")
    async with sandbox_credential(info, created.app_id, credential.secret_text) as fresh:
        token = await fresh.get_token(GRAPH_SCOPE)
    check(bool(token.token) and token.expires_on > 0, "the new secret obtains a token through azure-identity")

    sp = client.service_principals.by_service_principal_id(principal.id)
    sp_secret = await sp.add_password.post(
        SpAddPasswordPostRequestBody(password_credential=PasswordCredential(display_name="sp secret"))
    )
    check(bool(sp_secret.secret_text) and sp_secret.key_id is not None, "add a password to the service principal")
    await sp.remove_password.post(SpRemovePasswordPostRequestBody(key_id=sp_secret.key_id))
    after = await sp.get()
    check(all(c.key_id != sp_secret.key_id for c in after.password_credentials or []), "remove it again")

    app = client.applications.by_application_id(created.id)
    await app.federated_identity_credentials.post(
        FederatedIdentityCredential(
            name="sdk-deploy",
            issuer="https://token.actions.githubusercontent.com",
            subject="repo:contoso/app:environment:prod",
            audiences=["api://AzureADTokenExchange"],
        )
    )
    by_name = await app.federated_identity_credentials_with_name("sdk-deploy").get()
    check(by_name.subject == "repo:contoso/app:environment:prod", "read a federated credential by name")
    await app.federated_identity_credentials_with_name("sdk-deploy").delete()

    domains = await client.domains.get()
    check(any(d.is_initial for d in domains.value), "list the tenant's domains")

    ids = [created.id]
    for i in range(LISTED_APPS - 1):
        more = await client.applications.post(Application(display_name=f"sdk scenario {i}", tags=[TAG]))
        ids.append(more.id)
    query = ApplicationsRequestBuilder.ApplicationsRequestBuilderGetQueryParameters(
        filter=f"tags/any(t:t eq '{TAG}')", top=PAGE_SIZE, select=["id", "displayName", "appId"]
    )
    page = await client.applications.get(request_configuration=RequestConfiguration(query_parameters=query))
    seen, pages = [], 0
    while page is not None:
        pages += 1
        seen.extend(app.id for app in page.value)
        page = await client.applications.with_url(page.odata_next_link).get() if page.odata_next_link else None
    check(sorted(seen) == sorted(ids), f"list with a filter across {pages} pages")
    check(pages == -(-LISTED_APPS // PAGE_SIZE), "paging follows @odata.nextLink")

    for app_id in ids:
        await client.applications.by_application_id(app_id).delete()
    try:
        await client.applications.by_application_id(created.id).get()
        check(False, "a deleted application is gone")
    except ODataError as error:
        check(error.response_status_code == 404 and error.error.code == "Request_ResourceNotFound", "delete")
    deleted = await client.directory.deleted_items.graph_application.get()
    check(created.id in [item.id for item in deleted.value], "list deleted applications (graph.application cast)")
    await admin.close()


def main() -> int:
    raw = sys.argv[1] if len(sys.argv) > 1 else os.environ.get("SANDBOX_INFO", "")
    if not raw:
        print("usage: msgraph_scenario.py '<json line of appreg sandbox serve>'", file=sys.stderr)
        return 2
    asyncio.run(scenario(json.loads(raw)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
