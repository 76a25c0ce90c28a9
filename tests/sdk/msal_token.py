"""MSAL for Python (a confidential client) against `appreg sandbox serve --tls`, unchanged.

MSAL is given the sandbox as its authority and as its instance-discovery endpoint, so every call it
makes (instance discovery, the OpenID configuration, the token endpoint) goes to the sandbox; the
sandbox CA comes from REQUESTS_CA_BUNDLE (run.sh). The token it obtains is then verified the way an
API verifies Entra's: the key named by its `kid` is fetched from the `jwks_uri` of the OpenID
configuration and the RS256 signature is checked (with `cryptography`, which msal depends on).
Exits non-zero on the first deviation.
"""

import base64
import json
import os
import sys
import time

import msal
import requests
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding, rsa


def check(condition: bool, what: str) -> None:
    if not condition:
        raise AssertionError(what)
    print(f"ok - {what}")


def b64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def main() -> int:
    raw = sys.argv[1] if len(sys.argv) > 1 else os.environ.get("SANDBOX_INFO", "")
    if not raw:
        print("usage: msal_token.py '<json line of appreg sandbox serve --tls>'", file=sys.stderr)
        return 2
    info = json.loads(raw)
    base, tenant = info["authorityUrl"], info["tenantId"]
    def client() -> msal.ConfidentialClientApplication:
        # A fresh client (and token cache) per request: with tokens cached, MSAL looks up
        # authority aliases at login.microsoftonline.com whatever instance_discovery says.
        return msal.ConfidentialClientApplication(
            info["clientId"],
            client_credential=info["clientSecret"],
            authority=f"{base}/{tenant}",
            instance_discovery=f"{base}/common/discovery/instance",
        )

    result = client().acquire_token_for_client(scopes=["https://graph.microsoft.com//.default"])
    check("access_token" in result, f"MSAL obtains a token with the Azure CLI's scope: {result.get('error_description', '')}")

    token = result["access_token"]
    header_part, payload_part, signature_part = token.split(".")
    header, claims = json.loads(b64(header_part)), json.loads(b64(payload_part))
    check(header["alg"] == "RS256" and header.get("kid"), "the token is RS256 and names its key")

    config = requests.get(f"{base}/{tenant}/v2.0/.well-known/openid-configuration", timeout=10).json()
    keys = requests.get(config["jwks_uri"], timeout=10).json()["keys"]
    jwk = next((k for k in keys if k["kid"] == header["kid"]), None)
    check(jwk is not None, "the kid is in the published key set")
    public = rsa.RSAPublicNumbers(
        int.from_bytes(b64(jwk["e"]), "big"), int.from_bytes(b64(jwk["n"]), "big")
    ).public_key()
    public.verify(
        b64(signature_part),
        f"{header_part}.{payload_part}".encode(),
        padding.PKCS1v15(),
        hashes.SHA256(),
    )
    check(True, "the signature verifies with the published key")
    check(claims["aud"] == "https://graph.microsoft.com", "aud is Microsoft Graph")
    check(claims["tid"] == tenant and claims["iss"] == f"https://sts.windows.net/{tenant}/", "iss and tid name the tenant")
    check(claims["appid"] == info["clientId"] and claims["exp"] > time.time(), "appid and exp")

    again = client().acquire_token_for_client(scopes=["00000003-0000-0000-c000-000000000000/.default"])
    check("access_token" in again, "the resource's appId works as the scope")

    # Asked of the token endpoint directly: after an error answer MSAL looks for cached refresh
    # tokens under the authority's aliases, which it always asks login.microsoftonline.com for.
    unknown = requests.post(
        config["token_endpoint"],
        data={
            "grant_type": "client_credentials",
            "client_id": info["clientId"],
            "client_secret": info["clientSecret"],
            "scope": "https://unknown.example.com/.default",
        },
        timeout=10,
    ).json()
    check(
        unknown.get("error") == "invalid_resource" and 500011 in unknown.get("error_codes", []),
        "an unknown resource is AADSTS500011 invalid_resource",
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
