"""`kx-jupyter local start|status|stop|reset|env`: run the embedded FinSpace-compatible plane.

`env` is the one command that hands out the plane's (local-only) credentials: as shell exports,
so any AWS client can talk to the plane (`eval "$(kx-jupyter local env)"`), or with `--profile
NAME` as a named profile in owner-only config and credentials files, for scripts that pick a
profile (`boto3.Session(profile_name=...)`) and so ignore exported keys.
"""

from __future__ import annotations

import re
import shlex
from pathlib import Path

from ..errors import KxError
from ..files import write_atomic


def register(subparsers) -> None:
    parser = subparsers.add_parser("local", help="run the embedded local control plane (the default backend)")
    actions = parser.add_subparsers(dest="local_action", metavar="ACTION")

    start = actions.add_parser("start", help="start the plane (a no-op reporting the endpoint if it runs)")
    start.add_argument(
        "--port",
        type=int,
        default=None,
        help="port on 127.0.0.1 (0 picks a free one; default: local_port setting)",
    )
    start.add_argument("--foreground", action="store_true", help="run in this terminal until Ctrl-C")
    start.set_defaults(func=_start)

    for name, func, text in (
        ("status", _status, "say whether the plane runs and where"),
        ("stop", _stop, "stop the plane (its state is kept)"),
        ("reset", _reset, "stop the plane and delete all its state; the next start seeds afresh"),
        (
            "env",
            _env,
            "print shell exports (endpoint, region, credentials, AWS_DATA_PATH) for any AWS client",
        ),
    ):
        sub = actions.add_parser(name, help=text)
        sub.set_defaults(func=func)
        if name == "reset":
            sub.add_argument(
                "--yes", action="store_true", help="confirm deleting clusters, code and logs of the plane"
            )
        if name == "env":
            sub.add_argument(
                "--profile",
                metavar="NAME",
                help="write the plane as AWS profile NAME (config and "
                "credentials files) and export where they are",
            )
            sub.add_argument(
                "--write",
                metavar="DIR",
                help="with --profile: the directory of those files "
                "(default: <KX_JUPYTER_HOME>/aws); other profiles in them are kept",
            )
    create = actions.add_parser(
        "create-cluster",
        help="create a cluster on the plane (CreateKxCluster) and wait "
        "until it runs, e.g. for a five-cluster tick set-up",
    )
    create.add_argument("names", nargs="+", metavar="NAME", help="cluster name(s), each created alike")
    create.add_argument(
        "--type", default="GP", type=str.upper, choices=CLUSTER_TYPES, help="cluster type (default GP)"
    )
    create.add_argument("--nodes", type=int, default=1, help="node count (default 1)")
    create.add_argument("--env", help="kdb environment id (default: the plane's only one)")
    create.add_argument("--no-wait", action="store_true", help="return while the clusters are still CREATING")
    create.add_argument(
        "--exist-ok",
        action="store_true",
        help="keep a cluster that already exists with this type and node count (a notebook run twice)",
    )
    create.set_defaults(func=_create_cluster)
    delete = actions.add_parser(
        "delete-cluster", help="delete clusters from the plane (DeleteKxCluster) and wait until they are gone"
    )
    delete.add_argument("names", nargs="+", metavar="NAME", help="cluster name(s)")
    delete.add_argument("--env", help="kdb environment id (default: the plane's only one)")
    delete.set_defaults(func=_delete_cluster)
    for sub in (start, *[actions.choices[n] for n in ("status", "stop", "reset", "env")]):
        sub.add_argument(
            "--state-dir", default=None, help="plane state directory (default: <KX_JUPYTER_HOME>/plane)"
        )
    parser.set_defaults(func=lambda args: parser.print_help() or 2)


CLUSTER_TYPES = ("GP", "HDB", "RDB", "GATEWAY", "TICKERPLANT")
CREATE_TIMEOUT = 120.0  # seconds to wait for new clusters to be RUNNING


def _settings():
    from ..config import ConfigError, load_settings

    try:
        return load_settings()
    except ConfigError as exc:
        raise KxError(str(exc)) from None


def _state_dir(args, settings) -> Path:
    from ..local.daemon import state_dir_of

    return Path(args.state_dir).expanduser() if args.state_dir else state_dir_of(settings)


def _start(args) -> int:
    from ..local import daemon

    settings = _settings()
    state_dir = _state_dir(args, settings)
    port = settings.local_port if args.port is None else args.port
    running = daemon.status(state_dir)
    if running is not None:
        print(f"local plane already running at {running.endpoint} (pid {running.pid}, state {state_dir})")
        return 0
    if args.foreground:

        def announce(info, plane):
            print(
                f"local plane running at {info.endpoint} (state {state_dir}); nodes run "
                f"{daemon.node_runtime(state_dir)}. Ctrl-C stops it.",
                flush=True,
            )

        daemon.start(
            state_dir,
            port,
            foreground=True,
            node_start_seconds=settings.node_start_seconds,
            q_binary=settings.q_binary,
            on_ready=announce,
        )
        return 0
    info = daemon.start(
        state_dir, port, node_start_seconds=settings.node_start_seconds, q_binary=settings.q_binary
    )
    print(f"local plane running at {info.endpoint} (pid {info.pid}, state {state_dir})")
    print(f"nodes run {daemon.node_runtime(state_dir)}")
    print('use it from any AWS client with: eval "$(kx-jupyter local env)"')
    return 0


def _status(args) -> int:
    from ..local import daemon

    state_dir = _state_dir(args, _settings())
    info = daemon.status(state_dir)
    if info is None:
        pid = daemon.unresponsive_pid(state_dir)
        if pid is not None:
            print(
                f"local plane running but not answering (pid {pid}, state {state_dir}); "
                "`kx-jupyter local stop` stops it"
            )
            return 1
        print(f"local plane not running (state {state_dir})")
        return 1
    print(f"local plane running at {info.endpoint} (pid {info.pid}, region {info.region}, state {state_dir})")
    print(f"nodes run {daemon.node_runtime(state_dir)}")
    return 0


def _stop(args) -> int:
    from ..local import daemon

    state_dir = _state_dir(args, _settings())
    print(
        "local plane stopped"
        if daemon.stop(state_dir)
        else f"local plane was not running (state {state_dir})"
    )
    return 0


def _reset(args) -> int:
    from ..local import daemon

    state_dir = _state_dir(args, _settings())
    if not args.yes:
        raise KxError(
            f"reset deletes every cluster, code bundle and node log of the local plane in {state_dir}",
            hint="run `kx-jupyter local reset --yes` to confirm",
        )
    daemon.reset(state_dir)
    print(f"local plane reset: {state_dir} deleted; the next start seeds a fresh environment")
    return 0


def _env(args) -> int:
    from ..finspace.model import DATA_PATH
    from ..local import daemon

    settings = _settings()
    if args.write and not args.profile:
        raise KxError(
            "--write needs --profile NAME", hint="e.g. `kx-jupyter local env --profile kxlocal --write DIR`"
        )
    if args.profile and not re.fullmatch(r"[A-Za-z0-9_.+-]+", args.profile):
        raise KxError(
            f"profile name {args.profile!r} is not usable in an AWS config file",
            hint="use letters, digits and _ . + - only",
        )
    state_dir = _state_dir(args, settings)
    info = daemon.status(state_dir)
    if info is None:
        if not settings.local_autostart:
            raise KxError(
                f"the local plane is not running (state {state_dir})", hint="run `kx-jupyter local start`"
            )
        info = daemon.start(
            state_dir,
            settings.local_port,
            node_start_seconds=settings.node_start_seconds,
            q_binary=settings.q_binary,
        )
    if args.profile:
        directory = Path(args.write).expanduser() if args.write else settings.home_path / "aws"
        exports = _write_profile(directory, args.profile, info)
    else:
        exports = {
            "AWS_ENDPOINT_URL": info.endpoint,
            "AWS_REGION": info.region,
            "AWS_DEFAULT_REGION": info.region,
            "AWS_ACCESS_KEY_ID": info.access_key,
            "AWS_SECRET_ACCESS_KEY": info.secret_key,
        }
    for name, value in exports.items():
        print(f"export {name}={shlex.quote(value)}")
    # keep any model directories the user already has on the path
    print(f'export AWS_DATA_PATH={shlex.quote(str(DATA_PATH))}"${{AWS_DATA_PATH:+:$AWS_DATA_PATH}}"')
    return 0


def _write_profile(directory: Path, profile: str, info) -> dict[str, str]:
    """Profile ``profile`` -> the plane, in ``directory``'s config and credentials files (0600; a new
    directory is 0700); returns the exports that point AWS clients at those two files."""
    directory.mkdir(mode=0o700, parents=True, exist_ok=True)
    config, credentials = directory / "config", directory / "credentials"
    _put_section(
        config,
        "default" if profile == "default" else f"profile {profile}",
        [f"region = {info.region}", f"endpoint_url = {info.endpoint}", "s3 =", "    addressing_style = path"],
    )
    _put_section(
        credentials,
        profile,
        [f"aws_access_key_id = {info.access_key}", f"aws_secret_access_key = {info.secret_key}"],
    )
    return {"AWS_CONFIG_FILE": str(config), "AWS_SHARED_CREDENTIALS_FILE": str(credentials)}


def _put_section(path: Path, header: str, lines: list[str]) -> None:
    """Replace (or add) ``[header]`` of an AWS config-style file, keeping every other line as written."""
    kept, inside = [], False
    for line in path.read_text().splitlines() if path.exists() else []:
        if line.strip().startswith("["):
            inside = line.strip() == f"[{header}]"
        if not inside:
            kept.append(line)
    while kept and not kept[-1].strip():
        kept.pop()
    text = "\n".join([*kept, *([""] if kept else []), f"[{header}]", *lines]) + "\n"
    write_atomic(path, text, mode=0o600)


def _delete_cluster(args) -> int:
    """Delete clusters through the plane's own DeleteKxCluster, then wait until none is listed."""
    import time

    from ..deploy import Engine
    from ..deploy.aws_errors import calling

    settings = _settings()
    if settings.backend != "local":
        raise KxError(
            "delete-cluster deletes clusters on the local plane only",
            hint="Delete clusters on AWS with the console or `aws finspace delete-kx-cluster`.",
        )
    engine = Engine(settings)
    env = engine.environment(args.env)
    fs = engine.clients.finspace
    for name in args.names:
        with calling(f"deleting cluster {name}", settings):
            fs.delete_kx_cluster(environmentId=env, clusterName=name)
        print(f"deleting {env}/{name}", flush=True)
    deadline = time.monotonic() + CREATE_TIMEOUT
    while True:
        listed = {c["clusterName"] for c in engine.clusters(env)}
        going = [n for n in args.names if n in listed]
        if not going:
            print(f"deleted {', '.join(args.names)}", flush=True)
            return 0
        if time.monotonic() > deadline:
            raise KxError(
                f"{', '.join(going)} still listed after {CREATE_TIMEOUT:.0f}s",
                hint="Follow them with `kx-jupyter clusters`.",
            )
        time.sleep(0.2)


def _kept(fs, env: str, name: str, args, settings) -> bool:
    """Whether ``name`` already exists as asked (so --exist-ok keeps it); a different one is an error."""
    import botocore.exceptions as be

    from ..deploy.aws_errors import error_code, translate

    try:
        found = fs.get_kx_cluster(environmentId=env, clusterName=name)
    except (be.BotoCoreError, be.ClientError) as exc:
        if error_code(exc) == "ResourceNotFoundException":
            return False
        raise translate(exc, f"reading cluster {name}", settings) from None
    nodes = (found.get("capacityConfiguration") or {}).get("nodeCount")
    if found.get("clusterType") != args.type or nodes != args.nodes:
        raise KxError(
            f"cluster {name} already exists as {found.get('clusterType')} with {nodes} node(s), "
            f"not {args.type} with {args.nodes}",
            hint=f"Delete it first, or create the new one under another name than {name}.",
        )
    print(
        f"{env}/{name} already exists ({args.type}, {nodes} node{'s' if nodes > 1 else ''}): kept", flush=True
    )
    return True


def _create_cluster(args) -> int:
    """Create clusters through the plane's own CreateKxCluster, on the seed code, then wait for RUNNING."""
    import time

    from ..deploy import Engine
    from ..deploy.aws_errors import calling
    from ..local.seed import CODE_BUCKET, INIT_SCRIPT, SEED_KEY, VPC

    settings = _settings()
    if settings.backend != "local":
        raise KxError(
            "create-cluster creates clusters on the local plane only",
            hint="Create clusters on AWS with the console or `aws finspace create-kx-cluster`.",
        )
    if args.nodes < 1:
        raise KxError(
            f"--nodes {args.nodes}: a cluster needs at least one node", hint="Pass --nodes 1 or more."
        )
    engine = Engine(settings)
    env = engine.environment(args.env)
    fs = engine.clients.finspace
    for name in args.names:
        if args.exist_ok and _kept(fs, env, name, args, settings):
            continue
        with calling(f"creating cluster {name}", settings):
            fs.create_kx_cluster(
                environmentId=env,
                clusterName=name,
                clusterType=args.type,
                releaseLabel="1.0",
                azMode="SINGLE",
                availabilityZoneId="use1-az1",
                vpcConfiguration=VPC,
                initializationScript=INIT_SCRIPT,
                code={"s3Bucket": CODE_BUCKET, "s3Key": SEED_KEY},
                capacityConfiguration={"nodeType": "kx.s.large", "nodeCount": args.nodes},
            )
        print(
            f"creating {env}/{name} ({args.type}, {args.nodes} node{'s' if args.nodes > 1 else ''})",
            flush=True,
        )
    if args.no_wait:
        return 0
    deadline, waiting = time.monotonic() + CREATE_TIMEOUT, list(args.names)
    while waiting:
        for name in list(waiting):
            status = fs.get_kx_cluster(environmentId=env, clusterName=name)["status"]
            if status == "RUNNING":
                print(f"{name} is RUNNING", flush=True)
                waiting.remove(name)
            elif status not in ("PENDING", "CREATING"):
                raise KxError(
                    f"cluster {name} is {status}, not RUNNING", hint=f"See `kx-jupyter status {name}`."
                )
        if waiting and time.monotonic() > deadline:
            raise KxError(
                f"{', '.join(waiting)} still not RUNNING after {CREATE_TIMEOUT:.0f}s",
                hint="Follow them with `kx-jupyter clusters`.",
            )
        time.sleep(0.2 if waiting else 0)
    return 0
