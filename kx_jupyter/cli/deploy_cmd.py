"""``kx-jupyter update | clusters | status | history | rollback | diff``: thin over the engine.

Human output prints a line per phase or node change as it happens; ``--json`` prints one
JSON document at the end (for ``update``/``rollback`` the ``Deployment.result`` described in
``kx_jupyter.deploy``; for the others the listed objects). Ctrl-C stops watching, never the update.
"""

from __future__ import annotations

import argparse
import json
import sys

from ..errors import CheckFailed, KxError
from ..options import add_update_arguments, positive_seconds, settings_overrides, update_kwargs

RESULT_HELP = """With --json one object is printed: status (succeeded|failed|unchanged|dry-run|
submitted|still-updating), environment, cluster, bundle {sha256, bytes, files}, code {s3Bucket,
s3Key, s3ObjectVersion}, uploaded_bytes, initializationScript, commandLineArguments,
strategy, clientToken, history_id, elapsed (from the command's start), reason, first_error
{node, line}, status_reason, log_tail, nodes [{nodeId, status, code: old code|restarting|new
code|failed, ...}], warnings, diagnostics, request (dry-run only), rollback_of. When the push
is stopped before anything is deployed it is {"status": "refused", "reason", "hint"}; when the
update call's answer was lost and the cluster could not be asked, {"status": "unknown", ...}.

exit codes: 0 deployed or nothing to do; 1 the deployment failed on the cluster, or its
outcome is unknown (find out with `kx-jupyter status CLUSTER --watch`); 2 stopped before
anything was deployed; 3 still updating, stopped watching (--timeout): the update goes on and
the next `status` settles it; 130 Ctrl-C: the message (and --json's status: not-pushed, unknown
or still-updating) says whether anything was pushed."""


def _engine(**overrides):
    from ..config import load_settings
    from ..deploy import Engine

    return Engine(load_settings(**{k: v for k, v in overrides.items() if v is not None}), origin="cli")


def _print_json(value) -> None:
    print(json.dumps(value, indent=2, sort_keys=True, default=str))


def _progress(event) -> None:
    """One line per change: reads that saw nothing new, and node log lines, are for the views."""
    if event.phase not in ("checked", "log"):
        print(event, flush=True)


def _lines(as_json: bool):
    """The listener of a command: text lines (which show each node's turn), none with --json."""
    from ..deploy.watch import showing_nodes

    return None if as_json else showing_nodes(_progress)


def _follow(deployment, as_json: bool) -> int:
    """Follow a deployment in this thread, print its outcome, return the exit code."""
    try:
        deployment.wait()
    except (
        KeyboardInterrupt
    ):  # the deployment (and the history) says still-updating, unless it had just ended
        if deployment.status == "still-updating":
            if as_json:
                _print_json(deployment.result)
            print(
                f"still updating, stopped watching (Ctrl-C): the update goes on. "
                f"Re-attach: kx-jupyter status {deployment.cluster} --watch",
                file=sys.stderr,
            )
            return 130
    result = deployment.result
    if as_json:
        _print_json(result)
        return deployment.exit_code
    for warning in result.get("warnings", []):
        print(f"warning: {warning}", file=sys.stderr)
    if deployment.status == "dry-run":
        print("request that would be sent (UpdateKxClusterCodeConfiguration):")
        _print_json(result["request"])
    elif deployment.status == "succeeded":
        print(
            f"deployed s3://{result['code']['s3Bucket']}/{result['code']['s3Key']} to "
            f"{deployment.environment}/{deployment.cluster} in {result.get('elapsed', 0):.1f}s "
            f"({result.get('uploaded_bytes', 0)} bytes uploaded)"
        )
    elif deployment.status == "submitted":
        print(f"update submitted; follow it with: kx-jupyter status {deployment.cluster} --watch")
    elif deployment.status == "still-updating":
        print(
            f"still updating, stopped watching after {result.get('elapsed', 0):.1f}s ({result.get('reason')}): "
            f"the update goes on. Re-attach: kx-jupyter status {deployment.cluster} --watch",
            file=sys.stderr,
        )
    elif deployment.status == "failed":
        print(f"kx-jupyter: {deployment.error}", file=sys.stderr)
        if result.get("log_tail"):
            print("node log since this push:", file=sys.stderr)
            for line in result["log_tail"]:
                print(f"  {line}", file=sys.stderr)
    return deployment.exit_code


def _refused_as_json(run):
    """With --json a refusal, or a Ctrl-C before the watch, is still one JSON document on stdout
    (plus the message on stderr)."""

    def command(ns) -> int:
        from ..deploy.watch import Interrupted

        try:
            return run(ns)
        except Interrupted as exc:  # Ctrl-C before the watch: how far the push got
            if ns.json:
                _print_json({"status": exc.status, "reason": exc.message, "hint": exc.hint})
            print(f"kx-jupyter: {exc}", file=sys.stderr)
            return exc.exit_code
        except KxError as exc:
            if not ns.json:
                raise
            refusal = {
                "status": "refused" if exc.exit_code == 2 else "unknown",
                "reason": exc.message,
                "hint": exc.hint,
            }
            if isinstance(exc, CheckFailed):
                refusal["diagnostics"] = [d.to_dict() for d in exc.diagnostics]
            _print_json(refusal)
            print(f"kx-jupyter: {exc}", file=sys.stderr)
            return exc.exit_code

    return command


@_refused_as_json
def cmd_update(ns) -> int:
    engine = _engine(**settings_overrides(ns))
    deployment = engine.update(**update_kwargs(ns), on_event=_lines(ns.json))
    return _follow(deployment, ns.json)


@_refused_as_json
def cmd_rollback(ns) -> int:
    engine = _engine(timeout=ns.timeout)
    deployment = engine.rollback(
        ns.cluster_pos or ns.cluster,
        to=ns.to,
        env=ns.env,
        wait=not ns.no_wait,
        on_event=_lines(ns.json),
        force=ns.force,
        dry_run=ns.dry_run,
    )
    return _follow(deployment, ns.json)


def cmd_clusters(ns) -> int:
    engine = _engine()
    if ns.json:
        _print_json(engine.clusters(ns.env))
        return 0
    from ..deploy.overview import FROM_HISTORY, HEADERS, LEGEND, cluster_rows
    from ..texttable import table_text

    env, rows = cluster_rows(engine, ns.env)
    print(f"clusters of {env}\n{table_text(HEADERS, rows)}" if rows else f"no clusters in {env}")
    if any(cell.endswith(FROM_HISTORY) for row in rows for cell in row[3:5]):
        print(LEGEND)
    return 0


def cmd_status(ns) -> int:
    engine = _engine()
    cluster = ns.cluster_pos or ns.cluster
    if ns.watch:
        return _follow(engine.attach(cluster, ns.env, on_event=_lines(ns.json)), ns.json)
    info = engine.status(cluster, ns.env)
    if ns.json:
        _print_json(info)
        return 0
    code = info.get("code") or {}
    print(
        f"{info['environmentId']}/{info['clusterName']} ({info.get('clusterType')}): {info.get('status')}"
        + (f" ({info['statusReason']})" if info.get("statusReason") else "")
    )
    print(
        f"  code: s3://{code.get('s3Bucket', '?')}/{code.get('s3Key', '?')}"
        + (f" version {code['s3ObjectVersion']}" if code.get("s3ObjectVersion") else "")
    )
    print(
        f"  init: {info.get('initializationScript', '')}  args: "
        + " ".join(f"{a['key']}={a['value']}" for a in info.get("commandLineArguments") or [])
    )
    for node in info["nodes"]:
        print(f"  node {node.get('nodeId')}: {node.get('status')}")
    if info.get("last_push"):
        last = info["last_push"]
        print(f"  last push: #{last['id']} {last['outcome']} by {last['user']}")
    return 0


def cmd_history(ns) -> int:
    entries = _engine().history(ns.cluster_pos or ns.cluster, ns.env, ns.limit, settle=True)
    if ns.json:
        _print_json([e.to_dict() for e in entries])
        return 0
    import datetime as dt

    from ..deploy.gitinfo import git_label

    for e in entries:
        when = dt.datetime.fromtimestamp(e.started_at).strftime("%Y-%m-%d %H:%M:%S")
        took = f"{e.duration:.0f}s" if e.duration else "-"
        sha = (e.bundle_sha256 or "")[:12]
        extra = f" rollback of #{e.rollback_of}" if e.rollback_of else ""
        git = git_label(e.git_commit, e.git_dirty)
        print(
            f"#{e.id:<4} {when} {e.environment}/{e.cluster} {e.outcome:<10} {took:>6} {sha} {e.strategy}"
            f" {e.user}{extra}"
            + (f" git {git}" if git else "")
            + (f"  ({e.reason})" if e.reason else "")
            + (f"\n      note: {e.note}" if e.note else "")
        )
    if not entries:
        print("no pushes recorded")
    return 0


def cmd_diff(ns) -> int:
    diffs = _engine().diff(ns.cluster_pos or ns.cluster, ns.env, ns.src)
    changed = [d for d in diffs if d.status != "unchanged"]
    if ns.json:
        _print_json([d.to_dict() for d in diffs])
        return 1 if ns.exit_code and changed else 0
    for d in changed:
        print(d)
    for d in changed:
        if d.diff:
            print(d.diff, end="" if d.diff.endswith("\n") else "\n")
    if not changed:
        print("the workspace matches the code the cluster runs")
    return 1 if ns.exit_code and changed else 0


def _target(parser) -> None:
    parser.add_argument("cluster_pos", nargs="?", metavar="CLUSTER", help="cluster (or --cluster)")
    parser.add_argument("--cluster", help=argparse.SUPPRESS)
    parser.add_argument("--env", help="kdb environment id (default: the backend's only one)")
    parser.add_argument("--json", action="store_true", help="print JSON")


def _one_line_errors(parser: argparse.ArgumentParser) -> argparse.ArgumentParser:
    """A mistake in an option is one line naming it (not the whole usage), exit code 2."""
    parser.error = lambda message: parser.exit(2, f"{parser.prog}: {message} (see {parser.prog} --help)\n")
    return parser


def register(sub) -> None:
    fmt = argparse.RawDescriptionHelpFormatter
    p = sub.add_parser(
        "update",
        help="check, bundle and push code to a cluster, and watch the update",
        description="Check, bundle, stage and push the workspace as a code-configuration update, "
        "then watch the cluster roll to RUNNING.",
        epilog=RESULT_HELP,
        formatter_class=fmt,
    )
    add_update_arguments(_one_line_errors(p))
    p.set_defaults(func=cmd_update)

    p = sub.add_parser("clusters", help="list the clusters of an environment")
    p.add_argument("--env", help="kdb environment id (default: the backend's only one)")
    p.add_argument("--json", action="store_true", help="print JSON")
    p.set_defaults(func=cmd_clusters)

    p = sub.add_parser("status", help="show a cluster's status, code and nodes (--watch follows an update)")
    _target(p)
    p.add_argument(
        "--watch",
        action="store_true",
        help="follow an update in progress until it ends (exit codes as update)",
    )
    p.set_defaults(func=cmd_status)

    p = sub.add_parser("history", help="list recorded pushes, newest first")
    _target(p)
    p.add_argument("--limit", type=int, default=50, help="at most this many entries (default 50)")
    p.set_defaults(func=cmd_history)

    p = sub.add_parser(
        "rollback",
        help="re-deploy an earlier push's exact code and settings",
        description="Re-deploy the code object version, init script, arguments and strategy of a "
        "history entry (default: the newest successful push whose code differs from "
        "what the cluster runs).",
        epilog=RESULT_HELP,
        formatter_class=fmt,
    )
    _target(_one_line_errors(p))
    p.add_argument("--to", type=int, metavar="ID", help="history entry id (see `kx-jupyter history`)")
    p.add_argument("--no-wait", action="store_true", help="submit and return without watching")
    p.add_argument(
        "--timeout",
        type=positive_seconds,
        metavar="SECONDS",
        help="stop watching after this long (exit code 3; the update goes on)",
    )
    p.add_argument("--dry-run", action="store_true", help="show the request that would be sent")
    p.add_argument(
        "--force", action="store_true", help="redeploy even when the cluster already runs that code"
    )
    p.set_defaults(func=cmd_rollback)

    p = sub.add_parser("diff", help="compare the workspace with the code a cluster runs, file by file")
    _target(p)
    p.add_argument("--src", help="workspace directory (default: KxJupyter.workspace)")
    p.add_argument(
        "--exit-code",
        action="store_true",
        help="exit 1 when the workspace differs, 0 when it matches (as `git diff --exit-code`)",
    )
    p.set_defaults(func=cmd_diff)
