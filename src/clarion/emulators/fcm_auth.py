"""Google OAuth2 for the FCM emulator: service accounts, the JWT bearer grant, access tokens."""

from __future__ import annotations

import secrets
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

JWT_BEARER_GRANT = "urn:ietf:params:oauth:grant-type:jwt-bearer"
GOOGLE_TOKEN_URI = "https://oauth2.googleapis.com/token"
ACCEPTED_SCOPES = frozenset(
    {
        "https://www.googleapis.com/auth/firebase.messaging",
        "https://www.googleapis.com/auth/cloud-platform",
    }
)
ACCESS_TOKEN_SECONDS = 3600
MAX_ASSERTION_SECONDS = 3600
_CLOCK_LEEWAY_SECONDS = 60


@dataclass(frozen=True)
class ServiceAccount:
    """A registered service account: its project, email, key id and RSA public key."""

    project_id: str
    client_email: str
    private_key_id: str
    public_key: rsa.RSAPublicKey


@dataclass(frozen=True)
class AccessToken:
    """An issued bearer token and what it may do."""

    token: str
    project_id: str
    client_email: str
    expires_at: float


@dataclass(frozen=True)
class GrantError:
    """An OAuth2 error answer: status, `error` code and description."""

    status: int
    error: str
    description: str

    def to_json(self) -> dict[str, str]:
        """The body Google's token endpoint sends."""
        return {"error": self.error, "error_description": self.description}


def _invalid_grant(description: str) -> GrantError:
    return GrantError(400, "invalid_grant", description)


class FcmCredentials:
    """Service accounts known to the emulator and the access tokens it has issued."""

    def __init__(self) -> None:
        self._accounts: dict[str, ServiceAccount] = {}
        self._tokens: dict[str, AccessToken] = {}

    def create_service_account(self, project_id: str, token_uri: str) -> dict[str, str]:
        """A new service-account JSON dict (RSA key included) registered with the emulator."""
        private_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        key_id = secrets.token_hex(20)
        name = f"clarion-{secrets.token_hex(4)}"
        email = f"{name}@{project_id}.iam.gserviceaccount.com"
        self._accounts[email] = ServiceAccount(project_id, email, key_id, private_key.public_key())
        pem = private_key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        ).decode()
        return {
            "type": "service_account",
            "project_id": project_id,
            "private_key_id": key_id,
            "private_key": pem,
            "client_email": email,
            "client_id": str(secrets.randbelow(10**21)),
            "auth_uri": "https://accounts.google.com/o/oauth2/auth",
            "token_uri": token_uri,
            "auth_provider_x509_cert_url": "https://www.googleapis.com/oauth2/v1/certs",
            "client_x509_cert_url": f"https://www.googleapis.com/robot/v1/metadata/x509/{email}",
            "universe_domain": "googleapis.com",
        }

    def exchange(
        self, form: Mapping[str, str], audiences: set[str], now: float | None = None
    ) -> AccessToken | GrantError:
        """Check a JWT bearer grant and issue an access token, or say why not."""
        moment = time.time() if now is None else now
        grant_type = form.get("grant_type", "")
        if grant_type != JWT_BEARER_GRANT:
            return GrantError(400, "unsupported_grant_type", f"Invalid grant_type: {grant_type}")
        assertion = form.get("assertion")
        if not assertion:
            return GrantError(400, "invalid_request", "Missing required parameter: assertion")
        claims = self._verified_claims(assertion)
        if isinstance(claims, GrantError):
            return claims
        account = self._accounts[claims["iss"]]
        if claims["aud"] not in audiences:
            return _invalid_grant("Invalid JWT: audience is not the token endpoint.")
        issued_at, expires = claims["iat"], claims["exp"]
        if not (isinstance(issued_at, int | float) and isinstance(expires, int | float)):
            return _invalid_grant("Invalid JWT: iat and exp must be numbers.")
        if (
            expires - issued_at > MAX_ASSERTION_SECONDS
            or expires < moment - _CLOCK_LEEWAY_SECONDS
            or issued_at > moment + _CLOCK_LEEWAY_SECONDS
        ):
            return _invalid_grant(
                "Invalid JWT: Token must be a short-lived token (60 minutes) and in a "
                "reasonable timeframe. Check your iat and exp values in the JWT claim."
            )
        scopes = set(str(claims.get("scope", "")).split())
        if not scopes & ACCEPTED_SCOPES:
            return GrantError(
                400, "invalid_scope", "Invalid OAuth scope or ID token audience provided."
            )
        token = AccessToken(
            token=f"ya29.{secrets.token_urlsafe(48)}",
            project_id=account.project_id,
            client_email=account.client_email,
            expires_at=moment + ACCESS_TOKEN_SECONDS,
        )
        self._tokens[token.token] = token
        return token

    def _verified_claims(self, assertion: str) -> dict[str, Any] | GrantError:
        try:
            unverified = jwt.decode(assertion, options={"verify_signature": False})
            header = jwt.get_unverified_header(assertion)
        except jwt.PyJWTError:
            return _invalid_grant("Invalid JWT: the assertion is not a JWT.")
        account = self._accounts.get(str(unverified.get("iss", "")))
        if account is None:
            return _invalid_grant("Invalid grant: account not found")
        if header.get("alg") != "RS256":
            return _invalid_grant("Invalid JWT Signature.")
        try:
            claims: dict[str, Any] = jwt.decode(
                assertion,
                account.public_key,
                algorithms=["RS256"],
                options={
                    "require": ["iss", "aud", "iat", "exp"],
                    "verify_aud": False,
                    "verify_exp": False,
                    "verify_iat": False,
                },
            )
        except jwt.MissingRequiredClaimError as error:
            return _invalid_grant(f"Invalid JWT: {error}")
        except jwt.PyJWTError:
            return _invalid_grant("Invalid JWT Signature.")
        return claims

    def check_access(
        self, authorization: str | None, now: float | None = None
    ) -> AccessToken | None:
        """The live access token behind a `Bearer` header, if any."""
        if not authorization:
            return None
        scheme, _, value = authorization.partition(" ")
        token = self._tokens.get(value.strip()) if scheme.lower() == "bearer" else None
        moment = time.time() if now is None else now
        if token is None or token.expires_at <= moment:
            return None
        return token

    def revoke_access_tokens(self) -> None:
        """Forget every issued access token (clients then get 401 and must fetch a new one)."""
        self._tokens.clear()
