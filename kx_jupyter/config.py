"""Every setting a user can change, in one traitlets Configurable.

Sources, later ones winning: the defaults below, ``KX_JUPYTER_<NAME>`` environment variables,
the config file (``<home>/config.json`` or ``KX_JUPYTER_CONFIG``), ``%config KxJupyter.<name>``
in IPython, and per-call arguments (``Settings.with_overrides``). No other module reads the
environment: it asks an instance of this class.
"""

from __future__ import annotations

import json
import math
import os
from pathlib import Path

from traitlets import Bool, CaselessStrEnum, Enum, Float, Int, TraitError, Unicode, default
from traitlets.config import Config, Configurable

ENV_PREFIX = "KX_JUPYTER_"
STRATEGIES = ("ROLLING", "FORCE", "NO_RESTART")


class ConfigError(ValueError):
    """A setting has a value kx-jupyter cannot use; the message names the setting."""


class Number(Float):
    """A float that is a number: NaN and infinities pass every range check, so refuse them here."""

    def validate(self, obj, value):
        value = super().validate(obj, value)
        if not math.isfinite(value):
            self.error(obj, value)
        return value


def _default_home() -> str:
    from platformdirs import user_data_dir  # small, but only needed when no home is set

    return user_data_dir("kx-jupyter", appauthor=False)


class KxJupyter(Configurable):
    """kx-jupyter settings (``%config KxJupyter`` lists them with their current values)."""

    # where to deploy
    backend = Enum(
        ["local", "aws"],
        "local",
        help="'local': the embedded control plane; 'aws': a FinSpace-compatible endpoint.",
    ).tag(config=True)
    environment = Unicode("", help="kdb environment id; empty uses the backend's only environment.").tag(
        config=True
    )
    cluster = Unicode("", help="Cluster to update when none is named.").tag(config=True)
    profile = Unicode(
        "", help="AWS profile for the 'aws' backend (standard credential chain when empty)."
    ).tag(config=True)
    region = Unicode(
        "", help="AWS region for the 'aws' backend (the profile's or AWS_REGION when empty)."
    ).tag(config=True)
    endpoint_url = Unicode(
        "", help="FinSpace API endpoint for the 'aws' backend; empty uses AWS_ENDPOINT_URL_* or AWS's."
    ).tag(config=True)
    s3_endpoint_url = Unicode(
        "", help="S3 endpoint for the 'aws' backend; empty uses AWS_ENDPOINT_URL_S3 or AWS's."
    ).tag(config=True)
    logs_endpoint_url = Unicode(
        "",
        help="CloudWatch Logs endpoint for the 'aws' backend (failure log tails); empty uses AWS_ENDPOINT_URL_LOGS or AWS's.",
    ).tag(config=True)

    # what to deploy
    workspace = Unicode(".", help="Directory whose files form the code bundle (the zip root).").tag(
        config=True
    )
    init_script = Unicode("init.q", help="Initialization script, relative to the workspace.").tag(config=True)
    strategy = Enum(
        list(STRATEGIES),
        "ROLLING",
        help="Deployment strategy: ROLLING, FORCE or NO_RESTART (GP clusters only).",
    ).tag(config=True)
    max_bundle_mb = Number(
        256.0,
        min=0.001,
        max=4000.0,
        help="Refuse bundles larger than this many MB (a zip without zip64 holds at most 4 GiB).",
    ).tag(config=True)
    check_cache_mb = Number(
        64.0,
        min=0.0,
        max=1_000_000.0,
        help="Size bound in MB of the q checker's cache in home, which spares each new process "
        "re-checking unchanged files; 0 turns it off.",
    ).tag(config=True)

    # where the code is staged
    code_bucket = Unicode(
        "", help="S3 bucket for code bundles; the local plane's seeded bucket when empty on 'local'."
    ).tag(config=True)
    code_prefix = Unicode("kx-jupyter/", help="Key prefix for code bundles in the bucket.").tag(config=True)
    expected_bucket_owner = Unicode(
        "", help="Account id that must own the bucket (S3 ExpectedBucketOwner)."
    ).tag(config=True)
    sse = Enum(["", "AES256", "aws:kms"], "", help="Server-side encryption for uploaded bundles.").tag(
        config=True
    )
    kms_key_id = Unicode("", help="KMS key for sse='aws:kms'.").tag(config=True)

    # watching
    poll_initial = Number(
        0.25, min=0.01, max=60.0, help="First poll interval in seconds while watching an update."
    ).tag(config=True)
    poll_max = Number(
        30.0,
        min=0.05,
        max=3600.0,
        help="Longest poll interval in seconds (AWS's own wait helper polls every 30 s).",
    ).tag(config=True)
    expected_update_seconds = Number(
        0.0,
        min=0.0,
        max=7 * 86400.0,
        help="Expected update length; polling speeds up near it (0: learn from history).",
    ).tag(config=True)
    timeout = Number(
        4 * 3600.0,
        min=0.1,
        max=7 * 86400.0,
        help="Give up watching after this many seconds (the update itself goes on).",
    ).tag(config=True)
    max_attempts = Int(
        6, min=1, max=100, help="Attempts per API call, with boto3 standard retries for throttling and 5xx."
    ).tag(config=True)

    # the embedded local control plane
    home = Unicode(
        help="Directory for kx-jupyter's state: history, the local plane, the checker's cache, config.json."
    ).tag(config=True)
    local_port = Int(
        4580, min=0, max=65535, help="Port of the local control plane on 127.0.0.1 (0 picks a free one)."
    ).tag(config=True)
    local_autostart = Bool(
        True, help="Start the local control plane on first use when it is not running."
    ).tag(config=True)
    q_binary = Unicode("", help="q executable for local nodes; empty looks in QHOME and on PATH.").tag(
        config=True
    )
    node_start_seconds = Number(
        2.0, min=0.0, max=3600.0, help="How long a local node takes to start, to feel like a small cluster."
    ).tag(config=True)

    # what kx-jupyter says about itself
    log_level = CaselessStrEnum(
        ["WARNING", "INFO", "DEBUG"],
        "WARNING",
        help="kx-jupyter's log lines on stderr: INFO shows why it polls, retries and settles; DEBUG every read.",
    ).tag(config=True)

    @default("home")
    def _home_default(self):
        return _default_home()

    @property
    def home_path(self) -> Path:
        return Path(self.home).expanduser()

    def with_overrides(self, **overrides) -> KxJupyter:
        """A copy with per-call values applied; ``None`` means 'not given'."""
        values = {name: getattr(self, name) for name in self.trait_names(config=True)}
        values.update({k: v for k, v in overrides.items() if v is not None})
        try:
            return KxJupyter(**values)
        except TraitError as exc:
            raise ConfigError(_refused(exc)) from None

    def to_dict(self) -> dict:
        return {name: getattr(self, name) for name in sorted(self.trait_names(config=True))}


def _bounds(trait) -> str:
    low, high = getattr(trait, "min", None), getattr(trait, "max", None)
    if low is not None and high is not None:
        return f"from {low:g} to {high:g}"
    return f"at least {low:g}" if low is not None else f"at most {high:g}" if high is not None else ""


def _explain(name: str, value, exc: Exception) -> str:
    """One line saying what ``name`` takes, for a value it refused."""
    trait = KxJupyter.class_traits()[name]
    if isinstance(trait, (Int, Float)) and _bounds(trait):
        kind = "a whole number" if isinstance(trait, Int) else "a number"
        return f"{name} must be {kind} {_bounds(trait)}, not {value!r}"
    return f"{value!r} is not a valid {name}: {exc}"


def _refused(exc: TraitError) -> str:
    """The trait error traitlets raised, as ``_explain`` says it (its message names the trait)."""
    for name in KxJupyter.class_trait_names(config=True):
        if f"'{name}' trait" in str(exc):
            value = (
                str(exc).rsplit("a value of ", 1)[-1].split(" ", 1)[0] if "a value of " in str(exc) else "?"
            )
            return _explain(name, value, exc)
    return str(exc)


def _env_config(environ) -> Config:
    cfg = Config()
    for name, trait in KxJupyter.class_traits(config=True).items():
        raw = environ.get(ENV_PREFIX + name.upper())
        if raw is None:
            continue
        try:
            cfg.KxJupyter[name] = trait.validate(None, trait.from_string(raw))
        except (TraitError, ValueError) as exc:
            raise ConfigError(f"{ENV_PREFIX}{name.upper()}={raw}: {_explain(name, raw, exc)}") from None
    return cfg


def _file_config(path: Path) -> Config:
    if not path.is_file():
        return Config()
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError) as exc:
        raise ConfigError(f"cannot read the config file {path}: {exc}. Fix or remove it.") from None
    section = data.get("KxJupyter", data) if isinstance(data, dict) else None
    if not isinstance(section, dict):
        raise ConfigError(f"the config file {path} must hold a JSON object of settings")
    unknown = set(section) - set(KxJupyter.class_trait_names(config=True))
    if unknown:
        raise ConfigError(f"the config file {path} names unknown settings: {', '.join(sorted(unknown))}")
    return Config({"KxJupyter": section})


def load_settings(parent_config: Config | None = None, environ=None, **overrides) -> KxJupyter:
    """Settings from every source; ``parent_config`` is IPython's config, ``overrides`` per-call values."""
    environ = os.environ if environ is None else environ
    cfg = _env_config(environ)
    home = Path(cfg.KxJupyter.get("home") or _default_home()).expanduser()
    config_file = Path(environ.get(ENV_PREFIX + "CONFIG") or home / "config.json")
    cfg.merge(_file_config(config_file))
    if parent_config is not None:
        cfg.merge(parent_config)
    try:
        settings = KxJupyter(config=cfg)
    except TraitError as exc:
        raise ConfigError(f"{_refused(exc)} (from {config_file}, or %config)") from None
    return settings.with_overrides(**overrides) if overrides else settings
