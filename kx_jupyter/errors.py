"""The one error type a user sees: a message saying what happened and what to do.

``exit_code`` follows the command's contract: 2 means nothing was deployed (usage,
validation, checker errors, busy or missing resources), 1 means a deployment failed on the
cluster.
"""


class KxError(Exception):
    exit_code = 2

    def __init__(self, message: str, *, hint: str = "", exit_code: int | None = None):
        super().__init__(message)
        self.message = message
        self.hint = hint
        if exit_code is not None:
            self.exit_code = exit_code

    def __str__(self) -> str:
        return f"{self.message}\n  -> {self.hint}" if self.hint else self.message


class DeploymentFailed(KxError):
    exit_code = 1


class CheckFailed(KxError):
    """The q checker found errors, so nothing was uploaded; ``diagnostics`` are its findings."""

    def __init__(self, message: str, diagnostics: list, *, hint: str = ""):
        super().__init__(message, hint=hint)
        self.diagnostics = diagnostics
