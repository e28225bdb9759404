"""The real MSAL ConfidentialClientApplication against the simulator's Entra ID token service, over HTTPS."""

from __future__ import annotations

import base64
import time
import uuid
from datetime import UTC, datetime, timedelta

import jwt
import msal
import pytest
import requests
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import NameOID
from msal.exceptions import MsalServiceError

EXCHANGE_SCOPE = ["https://outlook.office365.com/.default"]


def confidential_app(tenant, credential=None, authority=None) -> msal.ConfidentialClientApplication:
    return msal.ConfidentialClientApplication(
        tenant.client_id, client_credential=credential if credential is not None else tenant.client_secret,
        authority=authority or tenant.authority, instance_discovery=False, verify=tenant.ca_path)


def claims_of(access_token: str) -> dict:
    return jwt.decode(access_token, options={"verify_signature": False})


def self_signed_certificate(expires_in: timedelta = timedelta(days=365)) -> tuple[str, str]:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "Engage Sync")])
    now = datetime.now(UTC)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
            .serial_number(x509.random_serial_number()).not_valid_before(now - timedelta(days=2))
            .not_valid_after(now + expires_in).sign(key, hashes.SHA256()))
    key_pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                serialization.NoEncryption()).decode()
    return key_pem, cert.public_bytes(serialization.Encoding.PEM).decode()


def assert_entra_error(result: dict, error: str, code: int) -> None:
    assert "access_token" not in result
    assert result["error"] == error
    assert result["error_codes"] == [code]
    assert result["error_description"].startswith(f"AADSTS{code}: ")
    assert "Trace ID: " in result["error_description"] and "Correlation ID: " in result["error_description"]
    assert result["error_uri"] == f"https://login.microsoftonline.com/error?code={code}"


def test_msal_gets_an_exchange_app_token_with_a_client_secret(sim_tenant):
    # given a consented app registration with a secret
    tenant = sim_tenant()

    # when MSAL asks for an Exchange token over HTTPS, trusting only the generated CA
    result = confidential_app(tenant).acquire_token_for_client(scopes=EXCHANGE_SCOPE)

    # then it gets a Bearer token that carries the tenant, app, audience and the full_access_as_app role
    assert result["token_type"] == "Bearer" and result["expires_in"] == 3599
    claims = claims_of(result["access_token"])
    assert claims["tid"] == tenant.tenant_id
    assert claims["appid"] == tenant.client_id
    assert claims["aud"] == "https://outlook.office365.com"
    assert claims["roles"] == ["full_access_as_app"]
    assert claims["appidacr"] == "1"
    assert claims["exp"] - claims["iat"] == 3599


def test_token_is_signed_with_the_key_published_in_jwks(simulator, sim_tenant):
    # given a token and the tenant's OpenID configuration
    tenant = sim_tenant()
    token = confidential_app(tenant).acquire_token_for_client(scopes=EXCHANGE_SCOPE)["access_token"]
    config = requests.get(f"{tenant.authority}/v2.0/.well-known/openid-configuration", verify=tenant.ca_path,
                          timeout=10).json()

    # when the token is verified against the published key set
    key_set = jwt.PyJWKSet.from_dict(requests.get(config["jwks_uri"], verify=tenant.ca_path, timeout=10).json())
    kid = jwt.get_unverified_header(token)["kid"]
    verified = jwt.decode(token, key_set[kid].key, algorithms=["RS256"], audience="https://outlook.office365.com")

    # then it verifies, and the configuration names this tenant's endpoints
    assert verified["tid"] == tenant.tenant_id
    assert config["token_endpoint"] == f"{simulator.base_url}/{tenant.tenant_id}/oauth2/v2.0/token"
    assert config["issuer"] == f"{simulator.base_url}/{tenant.tenant_id}/v2.0"


def test_authority_may_name_the_tenant_by_its_verified_domain(sim_tenant, simulator):
    # given a tenant addressed by domain rather than GUID
    tenant = sim_tenant()

    # when MSAL uses https://host/<domain>
    result = confidential_app(tenant, authority=simulator.authority(tenant.domain)).acquire_token_for_client(
        scopes=EXCHANGE_SCOPE)

    # then the token is for the tenant's GUID
    assert claims_of(result["access_token"])["tid"] == tenant.tenant_id


@pytest.mark.parametrize("by_thumbprint", [False, True], ids=["public_certificate_ps256", "sha1_thumbprint_rs256"])
def test_msal_gets_a_token_with_a_certificate_credential(simulator, sim_tenant, by_thumbprint):
    # given an app whose certificate was uploaded to its registration
    tenant = sim_tenant()
    key_pem, cert_pem = self_signed_certificate()
    uploaded = simulator.add_certificate(tenant.tenant_id, tenant.client_id, cert_pem)["certificates"][0]
    credential = ({"private_key": key_pem, "thumbprint": uploaded["sha1_thumbprint"]} if by_thumbprint
                  else {"private_key": key_pem, "public_certificate": cert_pem})

    # when MSAL signs a client assertion with the private key
    result = confidential_app(tenant, credential).acquire_token_for_client(scopes=EXCHANGE_SCOPE)

    # then the token says a certificate authenticated the app
    claims = claims_of(result["access_token"])
    assert claims["appid"] == tenant.client_id and claims["appidacr"] == "2"


def test_certificate_not_uploaded_gets_aadsts700027(sim_tenant):
    # given a certificate the app registration does not know
    tenant = sim_tenant()
    key_pem, cert_pem = self_signed_certificate()

    # when MSAL uses it
    result = confidential_app(tenant, {"private_key": key_pem, "public_certificate": cert_pem}
                              ).acquire_token_for_client(scopes=EXCHANGE_SCOPE)

    # then Entra's documented error comes back
    assert_entra_error(result, "invalid_client", 700027)
    assert "The key was not found" in result["error_description"]


def test_wrong_secret_gets_aadsts7000215(sim_tenant):
    tenant = sim_tenant()
    result = confidential_app(tenant, "not-the-secret").acquire_token_for_client(scopes=EXCHANGE_SCOPE)
    assert_entra_error(result, "invalid_client", 7000215)


def test_secret_id_instead_of_value_gets_aadsts7000215(sim_tenant):
    # given staff paste the secret's ID (a GUID) instead of its value, a common onboarding mistake
    tenant = sim_tenant()
    result = confidential_app(tenant, tenant.secret_key_id).acquire_token_for_client(scopes=EXCHANGE_SCOPE)
    assert_entra_error(result, "invalid_client", 7000215)


def test_expired_secret_gets_aadsts7000222(simulator, sim_tenant):
    # given the app's secret has expired
    tenant = sim_tenant()
    simulator.expire_secret(tenant.tenant_id, tenant.client_id, tenant.secret_key_id)

    # when MSAL presents it
    result = confidential_app(tenant).acquire_token_for_client(scopes=EXCHANGE_SCOPE)

    # then Entra says the keys are expired
    assert_entra_error(result, "invalid_client", 7000222)


def test_rotated_secret_works_and_the_deleted_one_does_not(simulator, sim_tenant):
    # given a second secret added and the first deleted (a rotation)
    tenant = sim_tenant()
    new_secret = simulator.add_secret(tenant.tenant_id, tenant.client_id, lifetime_days=30)
    simulator.delete_secret(tenant.tenant_id, tenant.client_id, tenant.secret_key_id)

    # when both are tried
    fresh = confidential_app(tenant, new_secret["value"]).acquire_token_for_client(scopes=EXCHANGE_SCOPE)
    old = confidential_app(tenant).acquire_token_for_client(scopes=EXCHANGE_SCOPE)

    # then only the new one works
    assert "access_token" in fresh
    assert_entra_error(old, "invalid_client", 7000215)


def test_app_of_another_tenant_gets_aadsts700016(sim_tenant):
    # given staff paired tenant A's ID with tenant B's client ID
    tenant_a, tenant_b = sim_tenant(mailboxes=0), sim_tenant(mailboxes=0)
    app = msal.ConfidentialClientApplication(tenant_b.client_id, client_credential=tenant_b.client_secret,
                                             authority=tenant_a.authority, instance_discovery=False,
                                             verify=tenant_a.ca_path)

    # when MSAL asks tenant A
    result = app.acquire_token_for_client(scopes=EXCHANGE_SCOPE)

    # then the app is not found in that directory
    assert_entra_error(result, "unauthorized_client", 700016)
    assert tenant_a.tenant_id in result["error_description"]


def test_unknown_tenant_fails_discovery_and_token_with_aadsts90002(simulator, sim_tenant):
    # given a tenant ID that no tenant has
    tenant = sim_tenant(mailboxes=0)
    unknown = "0badc0de-0000-4000-8000-000000000000"

    # when MSAL is built for it, then OIDC discovery fails as it does against Entra (400, AADSTS90002)
    with pytest.raises(ValueError, match="double check your tenant name or GUID") as raised:
        confidential_app(tenant, authority=simulator.authority(unknown))
    assert "HTTP status: 400" in str(raised.value.__context__)
    assert "AADSTS90002" in str(raised.value.__context__)

    # and a direct token request gets the documented body
    response = requests.post(simulator.token_url(unknown), verify=simulator.ca_path, timeout=10, data={
        "client_id": tenant.client_id, "client_secret": tenant.client_secret, "grant_type": "client_credentials",
        "scope": EXCHANGE_SCOPE[0]})
    assert response.status_code == 400
    assert_entra_error(response.json(), "invalid_request", 90002)


def test_get_on_the_token_endpoint_gets_aadsts900561(simulator, sim_tenant):
    tenant = sim_tenant(mailboxes=0)
    response = requests.get(simulator.token_url(tenant.tenant_id), verify=simulator.ca_path, timeout=10)
    assert response.status_code == 400
    assert_entra_error(response.json(), "invalid_request", 900561)


def test_malformed_tenant_identifier_gets_aadsts900023(simulator, sim_tenant):
    tenant = sim_tenant(mailboxes=0)
    response = requests.post(simulator.token_url("not-a-tenant"), verify=simulator.ca_path, timeout=10, data={
        "client_id": tenant.client_id, "client_secret": tenant.client_secret, "grant_type": "client_credentials",
        "scope": EXCHANGE_SCOPE[0]})
    assert response.status_code == 400
    assert_entra_error(response.json(), "invalid_request", 900023)


@pytest.mark.parametrize(("scope", "error", "code"), [
    ("https://outlook.office365.com/EWS.AccessAsUser.All", "invalid_scope", 1002012),
    ("https://nothing.contoso.example/.default", "invalid_resource", 500011),
])
def test_wrong_scope_gets_the_documented_error(sim_tenant, scope, error, code):
    tenant = sim_tenant(mailboxes=0)
    result = confidential_app(tenant).acquire_token_for_client(scopes=[scope])
    assert_entra_error(result, error, code)


def test_missing_service_principal_gets_aadsts7000229(sim_tenant):
    # given the enterprise application (service principal) was never created in the tenant
    tenant = sim_tenant(mailboxes=0, service_principal=False)
    result = confidential_app(tenant).acquire_token_for_client(scopes=EXCHANGE_SCOPE)
    assert_entra_error(result, "invalid_client", 7000229)


def test_missing_admin_consent_issues_a_token_without_roles(sim_tenant):
    # given full_access_as_app was added but the admin never granted consent (guide steps 20-28)
    tenant = sim_tenant(consented=False)

    # when MSAL asks for a token
    result = confidential_app(tenant).acquire_token_for_client(scopes=EXCHANGE_SCOPE)

    # then Entra still issues one, without any roles (Exchange will refuse it)
    claims = claims_of(result["access_token"])
    assert claims["tid"] == tenant.tenant_id
    assert "roles" not in claims


def test_configured_token_lifetime_is_reflected_in_expires_in_and_exp(simulator, sim_tenant):
    tenant = sim_tenant(mailboxes=0)
    simulator.settings(token_lifetime=120)
    result = confidential_app(tenant).acquire_token_for_client(scopes=EXCHANGE_SCOPE)
    claims = claims_of(result["access_token"])
    assert result["expires_in"] == 120
    assert claims["exp"] - claims["iat"] == 120


def test_token_endpoint_outage_is_an_http_error_for_msal_then_recovers(simulator, sim_tenant):
    # given the token endpoint fails the next request for this tenant with a 503
    tenant = sim_tenant(mailboxes=0)
    simulator.add_fault("token_outage", tenant_id=tenant.tenant_id, count=1, status=503)

    # when MSAL asks, it raises (MSAL 1.39 raises MsalServiceError on any 5xx from the token endpoint)
    with pytest.raises(MsalServiceError, match="HTTP Error: 503"):
        confidential_app(tenant).acquire_token_for_client(scopes=EXCHANGE_SCOPE)
    assert simulator.stats()["token_error"]["AADSTS90033"] >= 1

    # then, the outage over, a fresh client gets a token, and the counters saw both requests
    assert "access_token" in confidential_app(tenant).acquire_token_for_client(scopes=EXCHANGE_SCOPE)
    stats = simulator.stats()
    assert stats["token_tenant"][tenant.tenant_id] == 2
    assert stats["token_app"][tenant.client_id] == 1


def test_msal_serves_a_cached_token_without_a_second_request(simulator, sim_tenant):
    # given a token already acquired by this client
    tenant = sim_tenant(mailboxes=0)
    app = confidential_app(tenant)
    first = app.acquire_token_for_client(scopes=EXCHANGE_SCOPE)

    # when it asks again well before expiry
    time.sleep(0.01)
    second = app.acquire_token_for_client(scopes=EXCHANGE_SCOPE)

    # then MSAL answers from its cache: the simulator saw one token request
    assert second["access_token"] == first["access_token"] and second["token_source"] == "cache"
    assert simulator.stats()["token_app"][tenant.client_id] == 1


def test_msal_may_validate_the_authority_through_this_hosts_instance_discovery(simulator, sim_tenant):
    # given MSAL told to use the simulator's own /common/discovery/instance instead of turning discovery off
    tenant = sim_tenant(mailboxes=0)
    app = msal.ConfidentialClientApplication(
        tenant.client_id, client_credential=tenant.client_secret, authority=tenant.authority,
        instance_discovery=f"{simulator.base_url}/common/discovery/instance", verify=tenant.ca_path)

    # when it gets a token, then discovery pointed it at this tenant's endpoints
    assert claims_of(app.acquire_token_for_client(scopes=EXCHANGE_SCOPE)["access_token"])["tid"] == tenant.tenant_id


def signed_assertion(key_pem: str, cert_pem: str, **claims) -> str:
    cert = x509.load_pem_x509_certificate(cert_pem.encode())
    thumbprint = base64.urlsafe_b64encode(cert.fingerprint(hashes.SHA256())).rstrip(b"=").decode()
    now = int(time.time())
    payload = {"exp": now + 600, "iat": now, "nbf": now, "jti": str(uuid.uuid4()), **claims}
    return jwt.encode(payload, key_pem, algorithm="PS256", headers={"x5t#S256": thumbprint})


@pytest.mark.parametrize(("mistake", "code"), [("expired", 700024), ("audience", 700023), ("subject", 700021)])
def test_flawed_client_assertion_gets_the_documented_error(simulator, sim_tenant, mistake, code):
    # given an uploaded certificate and an assertion signed by it but wrong in one way
    tenant = sim_tenant(mailboxes=0)
    key_pem, cert_pem = self_signed_certificate()
    simulator.add_certificate(tenant.tenant_id, tenant.client_id, cert_pem)
    claims = {"aud": simulator.token_url(tenant.tenant_id), "iss": tenant.client_id, "sub": tenant.client_id}
    if mistake == "expired":
        claims.update(exp=int(time.time()) - 3600, nbf=int(time.time()) - 4200)
    elif mistake == "audience":
        claims["aud"] = "https://login.microsoftonline.com/common/oauth2/v2.0/token"
    else:
        claims.update(iss=str(uuid.uuid4()), sub=str(uuid.uuid4()))
    assertion = signed_assertion(key_pem, cert_pem, **claims)

    # when MSAL sends it
    result = confidential_app(tenant, {"client_assertion": lambda: assertion}).acquire_token_for_client(
        scopes=EXCHANGE_SCOPE)

    # then Entra names the flaw
    assert_entra_error(result, "invalid_client", code)


def test_expired_certificate_gets_aadsts700027(simulator, sim_tenant):
    # given the uploaded certificate expired yesterday
    tenant = sim_tenant(mailboxes=0)
    key_pem, cert_pem = self_signed_certificate(expires_in=timedelta(days=-1))
    simulator.add_certificate(tenant.tenant_id, tenant.client_id, cert_pem)

    # when MSAL signs with it
    result = confidential_app(tenant, {"private_key": key_pem, "public_certificate": cert_pem}
                              ).acquire_token_for_client(scopes=EXCHANGE_SCOPE)

    # then Entra says the key is expired
    assert_entra_error(result, "invalid_client", 700027)
    assert "expired" in result["error_description"]
