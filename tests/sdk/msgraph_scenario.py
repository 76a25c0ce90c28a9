"""Official Microsoft Graph Python SDK (msgraph-sdk) against the appreg sandbox.

Reads the JSON line printed by `appreg sandbox serve` from the SANDBOX_INFO environment variable
(or the first argument), obtains a token from the sandbox's token endpoint over plain HTTP, and
drives the SDK through a static bearer-token provider (azure-identity insists on https
authorities). Exits non-zero on the first deviation.
"""

import asyncio
import json
import os
import sys
import urllib.parse
import urllib.request

from kiota_abstractions.authentication import (
    AccessTokenProvider,
    AllowedHostsValidator,
    BaseBearerTokenAuthenticationProvider,
)
from kiota_abstractions.base_request_configuration import RequestConfiguration
from msgraph import GraphRequestAdapter, GraphServiceClient
from msgraph.generated.applications.applications_request_builder import ApplicationsRequestBuilder
from msgraph.generated.applications.item.add_password.add_password_post_request_body import (
    AddPasswordPostRequestBody,
)
from msgraph.generated.models.application import Application
from msgraph.generated.models.o_data_errors.o_data_error import ODataError
from msgraph.generated.models.password_credential import PasswordCredential
from msgraph.generated.models.service_principal import ServicePrincipal

TAG = "sdk:scenario"
PAGE_SIZE = 2
LISTED_APPS = 5


class StaticTokenProvider(AccessTokenProvider):
    """Hands the SDK a token obtained beforehand, for the sandbox host only."""

    def __init__(self, token: str, host: str) -> None:
        self._token = token
        self._hosts = AllowedHostsValidator([host])

    async def get_authorization_token(self, uri, additional_authentication_context=None) -> str:
        return self._token

    def get_allowed_hosts_validator(self) -> AllowedHostsValidator:
        return self._hosts


def token(info: dict, client_id: str, secret: str) -> str:
    url = f"{info['authorityUrl']}/{info['tenantId']}/oauth2/v2.0/token"
    form = urllib.parse.urlencode(
        {
            "grant_type": "client_credentials",
            "client_id": client_id,
            "client_secret": secret,
            "scope": "https://graph.microsoft.com/.default",
        }
    ).encode()
    with urllib.request.urlopen(urllib.request.Request(url, data=form)) as answer:
        return json.load(answer)["access_token"]


def check(condition: bool, what: str) -> None:
    if not condition:
        raise AssertionError(what)
    print(f"ok - {what}")


async def scenario(info: dict) -> None:
    host = urllib.parse.urlparse(info["graphUrl"]).hostname
    provider = BaseBearerTokenAuthenticationProvider(
        StaticTokenProvider(token(info, info["clientId"], info["clientSecret"]), host)
    )
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
    token(info, created.app_id, credential.secret_text)
    check(True, "the new secret obtains a token")

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


def main() -> int:
    raw = sys.argv[1] if len(sys.argv) > 1 else os.environ.get("SANDBOX_INFO", "")
    if not raw:
        print("usage: msgraph_scenario.py '<json line of appreg sandbox serve>'", file=sys.stderr)
        return 2
    asyncio.run(scenario(json.loads(raw)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
