"""The Python Graph SDK (msgraph-sdk) reading what `appreg plan` reads, for benches/engine_scale.rs.

The way an SDK user writes it: list the set's applications and service principals by their tag
(`$top=999`, following `@odata.nextLink`), then one request per sub-collection of each app
(federated credentials; the service principal's app role assignments, its assignments to users and
groups, and its delegated grants), with at most IN_FLIGHT requests outstanding, as appreg has. No
`$batch`: the SDK can batch, but its request builders send one request each, and that is what code
written against it does.

Input (environment, never argv, so the token stays out of process listings):
  SDK_READER_GRAPH_URL  the sandbox's Graph base URL (http://127.0.0.1:PORT/v1.0)
  SDK_READER_TOKEN      an access token for it (the benchmark fetches one by client credentials)
  SDK_READER_SET_TAG    the set's tag (appreg:set=NAME)
  SDK_READER_APPS       read sub-collections of at most this many apps (the lists are read whole)
  SDK_READER_IN_FLIGHT  requests outstanding at most

The SDK's Azure Identity provider only sends tokens over https; the sandbox the benchmark starts
speaks http on loopback, so the token comes from a static provider (the reads are what is measured,
not sign-in). Prints one JSON line: counts of what was read, requests sent, wall and CPU seconds
after the imports, and peak RSS.
"""

import asyncio
import json
import os
import resource
import time
import urllib.parse

from kiota_abstractions.authentication import (
    AccessTokenProvider,
    AllowedHostsValidator,
    BaseBearerTokenAuthenticationProvider,
)
from kiota_abstractions.base_request_configuration import RequestConfiguration
from msgraph import GraphRequestAdapter, GraphServiceClient
from msgraph.generated.applications.applications_request_builder import ApplicationsRequestBuilder
from msgraph.generated.oauth2_permission_grants.oauth2_permission_grants_request_builder import (
    Oauth2PermissionGrantsRequestBuilder,
)
from msgraph.generated.service_principals.service_principals_request_builder import (
    ServicePrincipalsRequestBuilder,
)

# What appreg's observation selects of the set's service principals (src/engine/observe.rs).
SP_SELECT = [
    "id",
    "appId",
    "displayName",
    "accountEnabled",
    "appRoleAssignmentRequired",
    "tags",
    "notificationEmailAddresses",
]


class StaticToken(AccessTokenProvider):
    """Hands the benchmark's token to the SDK for the one host it reads."""

    def __init__(self, token: str, host: str) -> None:
        self._token = token
        self._hosts = AllowedHostsValidator([host])

    async def get_authorization_token(self, uri, additional_authentication_context=None) -> str:
        return self._token

    def get_allowed_hosts_validator(self) -> AllowedHostsValidator:
        return self._hosts


def cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def peak_rss_kib() -> int:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss


async def read(client: GraphServiceClient, tag: str, apps_to_read: int, in_flight: int) -> dict:
    sent = 0
    gate = asyncio.Semaphore(in_flight)

    async def get(builder, config=None):
        nonlocal sent
        async with gate:
            sent += 1
            return await builder.get(request_configuration=config)

    async def whole(collection, config):
        page = await get(collection, config)
        items = list(page.value or [])
        while page.odata_next_link:
            page = await get(collection.with_url(page.odata_next_link))
            items.extend(page.value or [])
        return items

    tag_filter = f"tags/any(t:t eq '{tag}')"
    apps_query = ApplicationsRequestBuilder.ApplicationsRequestBuilderGetQueryParameters(
        filter=tag_filter, expand=["owners"], top=999
    )
    sps_query = ServicePrincipalsRequestBuilder.ServicePrincipalsRequestBuilderGetQueryParameters(
        filter=tag_filter, select=SP_SELECT, top=999
    )
    apps, sps = await asyncio.gather(
        whole(client.applications, RequestConfiguration(query_parameters=apps_query)),
        whole(client.service_principals, RequestConfiguration(query_parameters=sps_query)),
    )
    sp_by_app_id = {sp.app_id: sp for sp in sps}
    chosen = sorted(apps, key=lambda a: a.unique_name or "")[:apps_to_read]

    async def sub_collections(app):
        sp = sp_by_app_id[app.app_id]
        grants_query = Oauth2PermissionGrantsRequestBuilder.Oauth2PermissionGrantsRequestBuilderGetQueryParameters(
            filter=f"clientId eq '{sp.id}'"
        )
        on_sp = client.service_principals.by_service_principal_id(sp.id)
        fics, held, assigned, grants = await asyncio.gather(
            get(client.applications.by_application_id(app.id).federated_identity_credentials),
            get(on_sp.app_role_assignments),
            get(on_sp.app_role_assigned_to),
            get(client.oauth2_permission_grants, RequestConfiguration(query_parameters=grants_query)),
        )
        return [len(page.value or []) for page in (fics, held, assigned, grants)]

    counts = await asyncio.gather(*(sub_collections(app) for app in chosen))
    return {
        "appsListed": len(apps),
        "servicePrincipalsListed": len(sps),
        "appsRead": len(chosen),
        "federatedCredentials": sum(c[0] for c in counts),
        "appRoleAssignments": sum(c[1] for c in counts),
        "assignedTo": sum(c[2] for c in counts),
        "grants": sum(c[3] for c in counts),
        "requests": sent,
    }


async def main() -> None:
    graph_url = os.environ["SDK_READER_GRAPH_URL"]
    host = urllib.parse.urlparse(graph_url).hostname
    provider = BaseBearerTokenAuthenticationProvider(StaticToken(os.environ["SDK_READER_TOKEN"], host))
    adapter = GraphRequestAdapter(provider)
    adapter.base_url = graph_url
    client = GraphServiceClient(request_adapter=adapter)
    baseline_rss = peak_rss_kib()
    cpu, started = cpu_seconds(), time.monotonic()
    result = await read(
        client,
        os.environ["SDK_READER_SET_TAG"],
        int(os.environ["SDK_READER_APPS"]),
        int(os.environ["SDK_READER_IN_FLIGHT"]),
    )
    result["wallSeconds"] = time.monotonic() - started
    result["cpuSeconds"] = cpu_seconds() - cpu
    result["peakRssKiB"] = peak_rss_kib()
    result["rssAfterImportsKiB"] = baseline_rss
    print(json.dumps(result))


if __name__ == "__main__":
    asyncio.run(main())
