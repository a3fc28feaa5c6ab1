"""Verify AWS Signature Version 4 on incoming requests with the plane's own credentials.

Two steps, so a request can be refused before its body is read: ``check_headers`` looks at what
the headers alone decide (signed at all, key, scope, clock); ``verify`` rebuilds the request as a
botocore ``AWSRequest`` and lets botocore's own signer (``SigV4Auth``, ``S3SigV4Auth`` for S3)
compute the signature the client should have sent, compared in constant time. Only the
``Authorization`` header form is accepted; presigned URLs are not.
"""

from __future__ import annotations

import hmac
import re
import time
from calendar import timegm
from dataclasses import dataclass
from urllib.parse import quote

MAX_SKEW_SECONDS = 15 * 60
_AUTH_RE = re.compile(
    r"^AWS4-HMAC-SHA256\s+Credential=(?P<cred>[^,\s]+),\s*SignedHeaders=(?P<headers>[^,\s]+),\s*Signature=(?P<sig>[0-9a-f]{64})\s*$"
)
_SHA256_RE = re.compile(r"^[0-9a-f]{64}$")


class SignatureError(Exception):
    """The request is unsigned or its signature does not match; the message says which."""


@dataclass(frozen=True)
class SignedHeaders:
    """What the ``Authorization`` and ``X-Amz-Date`` headers claim."""

    amz_date: str
    names: tuple[str, ...]
    signature: str
    payload_hash: str | None  # the x-amz-content-sha256 header, if sent

    @property
    def body_digest_declared(self) -> bool:
        """The body's SHA-256 is part of the signature already, so it can be checked after the fact."""
        return bool(self.payload_hash and _SHA256_RE.match(self.payload_hash))


def check_headers(environ: dict, access_key: str, region: str, service: str) -> SignedHeaders:
    """Accept only a request signed with this key, for this region and service, at about this time."""
    auth = environ.get("HTTP_AUTHORIZATION", "")
    if not auth:
        raise SignatureError("Missing Authentication Token: the request is not signed")
    match = _AUTH_RE.match(auth)
    if not match:
        raise SignatureError("Authorization header is not a SigV4 signature")
    try:
        key_id, date, scope_region, scope_service, terminator = match["cred"].split("/")
    except ValueError:
        raise SignatureError("malformed credential scope in the Authorization header") from None
    if terminator != "aws4_request":
        raise SignatureError("malformed credential scope in the Authorization header")
    if not hmac.compare_digest(key_id, access_key):
        raise SignatureError("The security token included in the request is invalid")
    if scope_region != region:
        raise SignatureError(
            f"Credential should be scoped to a valid region, not '{scope_region}' (use '{region}')"
        )
    if scope_service != service:
        raise SignatureError(f"Credential should be scoped to correct service: '{service}'")
    amz_date = environ.get("HTTP_X_AMZ_DATE", "")
    try:
        signed_at = timegm(time.strptime(amz_date, "%Y%m%dT%H%M%SZ"))
    except ValueError:
        raise SignatureError("missing or malformed X-Amz-Date header") from None
    if abs(time.time() - signed_at) > MAX_SKEW_SECONDS or not amz_date.startswith(date):
        raise SignatureError("Signature expired: the request time is too far from the plane's clock")
    return SignedHeaders(
        amz_date,
        tuple(match["headers"].split(";")),
        match["sig"],
        environ.get("HTTP_X_AMZ_CONTENT_SHA256") or None,
    )


def _header(environ: dict, name: str) -> str:
    if name == "content-type":
        return environ.get("CONTENT_TYPE", "")
    if name == "content-length":
        return environ.get("CONTENT_LENGTH", "")
    return environ.get("HTTP_" + name.upper().replace("-", "_"), "")


def verify(
    environ: dict,
    signed: SignedHeaders,
    body: bytes | None,
    access_key: str,
    secret_key: str,
    region: str,
    service: str,
) -> None:
    """Check the signature with botocore's signer. ``body`` may be ``None`` when the signed
    ``x-amz-content-sha256`` header stands for it (the body's digest is then checked as it is read)."""
    from botocore.auth import S3SigV4Auth, SigV4Auth
    from botocore.awsrequest import AWSRequest
    from botocore.credentials import Credentials

    raw_path = environ.get("RAW_URI") or environ.get("REQUEST_URI") or quote(environ.get("PATH_INFO", "/"))
    raw_path = raw_path.split("?", 1)[0] or "/"
    query = environ.get("QUERY_STRING", "")
    url = f"http://{environ.get('HTTP_HOST', 'localhost')}{raw_path}" + (f"?{query}" if query else "")
    headers = {name: _header(environ, name) for name in signed.names}
    if signed.payload_hash and "x-amz-content-sha256" not in headers:
        raise SignatureError("x-amz-content-sha256 must be a signed header")
    if signed.payload_hash is None and body is None:
        raise SignatureError("the request body must be read to check this signature")
    request = AWSRequest(
        method=environ.get("REQUEST_METHOD", "GET"),
        url=url,
        headers=headers,
        data=body if signed.payload_hash is None else b"",
    )
    request.context["timestamp"] = signed.amz_date
    signer = (S3SigV4Auth if service == "s3" else SigV4Auth)(
        Credentials(access_key, secret_key), service, region
    )
    canonical = signer.canonical_request(request)
    if tuple(signer.signed_headers(signer.headers_to_sign(request)).split(";")) != signed.names:
        raise SignatureError("SignedHeaders names a header the plane cannot sign over")
    expected = signer.signature(signer.string_to_sign(request, canonical), request)
    if not hmac.compare_digest(expected, signed.signature):
        raise SignatureError(
            "The request signature we calculated does not match the signature you provided. "
            "Check your AWS Secret Access Key and signing method."
        )


def check_payload(signed: SignedHeaders, sha256: str) -> None:
    """After the body is read: it is the body the signature covers."""
    if signed.body_digest_declared and not hmac.compare_digest(signed.payload_hash, sha256):
        raise SignatureError("The provided x-amz-content-sha256 header does not match what was computed")
