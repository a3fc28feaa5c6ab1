"""Verify AWS Signature Version 4 on incoming requests with the plane's own credentials.

The signature is recomputed from the request exactly as botocore builds it (canonical
request, string to sign, derived key) and compared in constant time. Only the
``Authorization`` header form is accepted; presigned URLs are not.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import time
from calendar import timegm
from urllib.parse import quote

ALGORITHM = "AWS4-HMAC-SHA256"
MAX_SKEW_SECONDS = 15 * 60
UNSIGNED_PAYLOADS = {"UNSIGNED-PAYLOAD", "STREAMING-UNSIGNED-PAYLOAD-TRAILER"}
_AUTH_RE = re.compile(
    r"^AWS4-HMAC-SHA256\s+Credential=(?P<cred>[^,\s]+),\s*SignedHeaders=(?P<headers>[^,\s]+),\s*Signature=(?P<sig>[0-9a-f]{64})\s*$"
)


class SignatureError(Exception):
    """The request is unsigned or its signature does not match; the message says which."""


def _hmac(key: bytes, msg: str) -> bytes:
    return hmac.new(key, msg.encode("utf-8"), hashlib.sha256).digest()


def _canonical_query(raw_query: str) -> str:
    if not raw_query:
        return ""
    pairs = []
    for part in raw_query.split("&"):
        key, _, value = part.partition("=")
        pairs.append((key, value))
    return "&".join(f"{k}={v}" for k, v in sorted(pairs))


def verify(environ: dict, body: bytes, access_key: str, secret_key: str, region: str, service: str) -> None:
    """Accept only a request signed with these credentials, for this region and this service, as AWS does."""
    expected_region, expected_service = region, service
    auth = environ.get("HTTP_AUTHORIZATION", "")
    if not auth:
        raise SignatureError("Missing Authentication Token: the request is not signed")
    match = _AUTH_RE.match(auth)
    if not match:
        raise SignatureError("Authorization header is not a SigV4 signature")
    try:
        key_id, date, region, service, terminator = match["cred"].split("/")
    except ValueError:
        raise SignatureError("malformed credential scope in the Authorization header") from None
    if terminator != "aws4_request":
        raise SignatureError("malformed credential scope in the Authorization header")
    if not hmac.compare_digest(key_id, access_key):
        raise SignatureError("The security token included in the request is invalid")
    if region != expected_region:
        raise SignatureError(f"Credential should be scoped to a valid region, not '{region}' (use '{expected_region}')")
    if service != expected_service:
        raise SignatureError(f"Credential should be scoped to correct service: '{expected_service}'")
    amz_date = environ.get("HTTP_X_AMZ_DATE", "")
    try:
        signed_at = timegm(time.strptime(amz_date, "%Y%m%dT%H%M%SZ"))
    except ValueError:
        raise SignatureError("missing or malformed X-Amz-Date header") from None
    if abs(time.time() - signed_at) > MAX_SKEW_SECONDS or not amz_date.startswith(date):
        raise SignatureError("Signature expired: the request time is too far from the plane's clock")

    signed_headers = match["headers"].split(";")
    canonical_headers = ""
    for name in signed_headers:
        if name == "host":
            value = environ.get("HTTP_HOST", "")
        elif name == "content-type":
            value = environ.get("CONTENT_TYPE", "")
        elif name == "content-length":
            value = environ.get("CONTENT_LENGTH", "")
        else:
            value = environ.get("HTTP_" + name.upper().replace("-", "_"), "")
        canonical_headers += f"{name}:{' '.join(value.split())}\n"

    payload_hash = environ.get("HTTP_X_AMZ_CONTENT_SHA256") or hashlib.sha256(body).hexdigest()
    if payload_hash not in UNSIGNED_PAYLOADS and payload_hash != hashlib.sha256(body).hexdigest():
        raise SignatureError("The provided x-amz-content-sha256 header does not match what was computed")

    raw_path = environ.get("RAW_URI") or environ.get("REQUEST_URI") or quote(environ.get("PATH_INFO", "/"))
    raw_path = raw_path.split("?", 1)[0] or "/"
    # botocore quotes the already-quoted path once more for every service except S3
    canonical_path = raw_path if service == "s3" else quote(raw_path, safe="/~")
    canonical_request = "\n".join(
        [
            environ.get("REQUEST_METHOD", "GET"),
            canonical_path,
            _canonical_query(environ.get("QUERY_STRING", "")),
            canonical_headers,
            match["headers"],
            payload_hash,
        ]
    )
    scope = f"{date}/{region}/{service}/aws4_request"
    string_to_sign = "\n".join([ALGORITHM, amz_date, scope, hashlib.sha256(canonical_request.encode()).hexdigest()])
    key = _hmac(_hmac(_hmac(_hmac(("AWS4" + secret_key).encode(), date), region), service), "aws4_request")
    expected = hmac.new(key, string_to_sign.encode(), hashlib.sha256).hexdigest()
    if not hmac.compare_digest(expected, match["sig"]):
        raise SignatureError(
            "The request signature we calculated does not match the signature you provided. "
            "Check your AWS Secret Access Key and signing method."
        )
