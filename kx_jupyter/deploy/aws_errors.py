"""Turn botocore and S3 failures into KxErrors that say what happened and what to do.

Every call the engine makes to FinSpace, S3 or Logs goes through ``calling``; nothing from
botocore reaches a user as a traceback. Messages are scrubbed of access key ids, because
some services echo them back.
"""

from __future__ import annotations

import re
from contextlib import contextmanager

from ..errors import KxError

_KEY_ID = re.compile(r"\b(?:AKIA|ASIA|AIDA|AROA)[A-Z0-9]{12,}\b")

CREDENTIALS = {
    "UnrecognizedClientException",
    "InvalidAccessKeyId",
    "SignatureDoesNotMatch",
    "ExpiredToken",
    "ExpiredTokenException",
    "InvalidClientTokenId",
    "InvalidToken",
    "IncompleteSignature",
}
DENIED = {"AccessDenied", "AccessDeniedException", "AllAccessDisabled", "Forbidden", "403"}
MISSING_BUCKET = {"NoSuchBucket"}
MISSING = {"ResourceNotFoundException", "NoSuchKey", "NoSuchVersion", "NotFound", "404"}
CONFLICT = {"ConflictException", "OperationAborted"}
VALIDATION = {
    "ValidationException",
    "InvalidRequest",
    "InvalidArgument",
    "BadRequest",
    "400",
    "InvalidParameterException",
}
THROTTLED = {
    "ThrottlingException",
    "Throttling",
    "SlowDown",
    "TooManyRequestsException",
    "RequestLimitExceeded",
    "LimitExceededException",
    "ServiceQuotaExceededException",
    "429",
}


def redact(text: str) -> str:
    return _KEY_ID.sub("<access-key-id>", str(text))


def translate(exc: Exception, doing: str, settings=None) -> KxError:
    """A KxError for ``exc`` raised while ``doing`` (e.g. "uploading s3://b/k")."""
    import botocore.exceptions as be

    backend = getattr(settings, "backend", "aws")
    if isinstance(
        exc,
        (
            be.NoCredentialsError,
            be.PartialCredentialsError,
            be.ProfileNotFound,
            be.NoRegionError,
            be.CredentialRetrievalError,
        ),
    ):
        return KxError(
            f"no usable AWS credentials while {doing}: {redact(exc)}",
            hint="Configure the standard credential chain (aws configure / AWS_PROFILE / SSO login), "
            "set KxJupyter.profile and KxJupyter.region, or use the local backend.",
        )
    where = getattr(exc, "kwargs", {}).get("endpoint_url", "") or ""
    if isinstance(
        exc, (be.EndpointConnectionError, be.ConnectTimeoutError)
    ):  # no connection: nothing was sent
        hint = (
            "Start it with `kx-jupyter local start` (or keep KxJupyter.local_autostart on)."
            if backend == "local"
            else "Check your network, KxJupyter.endpoint_url / AWS_ENDPOINT_URL_* and the region."
        )
        return KxError(f"cannot reach the endpoint {where} while {doing}".replace("  ", " "), hint=hint)
    if isinstance(exc, (be.ReadTimeoutError, be.ConnectionClosedError)):  # sent, but the answer never came
        return KxError(
            f"the connection to {where} was lost while {doing}: the request was sent but no answer "
            "came back".replace("  ", " "),
            hint="The endpoint is up but dropped the connection or answered too slowly; try again "
            "(`kx-jupyter status` shows whether a change was carried out).",
        )
    if isinstance(exc, be.ParamValidationError):
        return KxError(
            f"the request for {doing} is invalid: {redact(exc)}", hint="Fix the values named above."
        )
    if isinstance(exc, be.ClientError):
        return _client_error(exc, doing)
    return KxError(f"{doing} failed: {redact(exc)}", hint="Check the settings with `kx-jupyter status`.")


def _client_error(exc, doing: str) -> KxError:
    error = exc.response.get("Error", {})
    code = str(error.get("Code", ""))
    status = exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode")
    message = redact(error.get("Message") or error.get("message") or exc.response.get("message") or code)
    reason = error.get("reason") or exc.response.get("reason") or ""
    detail = f"{message}" + (f" ({reason})" if reason and reason not in message else "")
    attempts = exc.response.get("ResponseMetadata", {}).get("RetryAttempts", 0)
    if code in CREDENTIALS:
        return KxError(
            f"the credentials were refused while {doing}: {detail}",
            hint="Refresh them (aws sso login / new keys) or pick another KxJupyter.profile.",
        )
    if code in DENIED or status == 403:
        return KxError(
            f"access denied while {doing}: {detail}",
            hint="Your identity needs the finspace:*KxCluster* actions and s3:PutObject/GetObject "
            "on the code bucket; ask your administrator or use another profile.",
        )
    if code in MISSING_BUCKET:
        return KxError(
            f"the bucket does not exist ({doing}): {detail}",
            hint="Create it (versioned), or set KxJupyter.code_bucket / --bucket to an existing one.",
        )
    if code in CONFLICT or status == 409:
        return KxError(
            f"conflict while {doing}: {detail}",
            hint="The cluster is busy with another change; wait for it (`kx-jupyter status`) and retry.",
        )
    if code in THROTTLED or status == 429:
        return KxError(
            f"throttled while {doing} (after {attempts + 1} attempts): {detail}",
            hint="Try again in a minute, or raise KxJupyter.max_attempts.",
        )
    if code in MISSING or status == 404:
        return KxError(
            f"not found while {doing}: {detail}",
            hint="Check the environment and cluster names with `kx-jupyter clusters`.",
        )
    if code in VALIDATION or status == 400:
        return KxError(
            f"the service refused the request for {doing}: {detail}", hint="Fix the value it names."
        )
    if status and status >= 500:
        return KxError(
            f"the service failed while {doing} (HTTP {status}, after {attempts + 1} attempts): {detail}",
            hint="This is on the service side; try again shortly.",
        )
    return KxError(f"{doing} failed: {code} {detail}".strip(), hint="See the message above.")


@contextmanager
def calling(doing: str, settings=None):
    """Run a boto3 call, re-raising its failure as a KxError."""
    import botocore.exceptions as be

    try:
        yield
    except (be.BotoCoreError, be.ClientError) as exc:
        raise translate(exc, doing, settings) from None


def error_code(exc: Exception) -> str:
    response = getattr(exc, "response", None) or {}
    return str(response.get("Error", {}).get("Code", ""))


def outcome_unknown(exc: Exception) -> bool:
    """Whether a failed call may still have been carried out by the service.

    Yes when no answer came back for a request that may have been sent (a dropped connection
    or a read timeout; botocore reports only the last attempt, and an earlier one may have got
    through, so a failed connect counts too), when the service failed (5xx), and when any
    answer came after retries. Only a first-attempt 4xx is a certain refusal.
    """
    import botocore.exceptions as be

    if isinstance(exc, (be.ConnectionError, be.HTTPClientError)):
        return True
    if isinstance(exc, be.ClientError):
        meta = exc.response.get("ResponseMetadata", {})
        return (meta.get("HTTPStatusCode") or 0) >= 500 or (meta.get("RetryAttempts") or 0) > 0
    return False
