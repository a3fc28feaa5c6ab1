"""What the read-only magics return: rich outputs (HTML for the notebook, text for terminals and ``repr``).

Each function turns what the engine answered into one ``render.Rich``; none calls the engine.
"""

from __future__ import annotations

import json

from . import render as r

HISTORY_HEADERS = [
    "id",
    "when (UTC)",
    "cluster",
    "kind",
    "outcome",
    "duration",
    "bundle",
    "version",
    "strategy",
    "user",
    "git",
    "note",
    "reason",
]


def clip(text: str, width: int) -> str:
    return text if len(text) <= width else text[: width - 1] + "…"


def clusters_table(env: str, text_rows: list[list[str]]) -> r.Rich:
    """``%kx_clusters``: ``deploy.overview``'s rows, status as a badge; the legend when a cell needs it."""
    from ..deploy.overview import FROM_HISTORY, HEADERS, LEGEND

    if not text_rows:
        return r.Rich(f"<i>no clusters in {r.escape(env)}</i>", f"no clusters in {env}")
    rows = [cells[:2] + [r.badge(cells[2])] + cells[3:] for cells in text_rows]
    title = f"clusters of {env}"
    legend = LEGEND if any(cell.endswith(FROM_HISTORY) for cells in text_rows for cell in cells[3:5]) else ""
    return r.Rich(
        f'<div style="font-family:{r.FONT}"><b>{r.escape(title)}</b>'
        f"{r.table_html(HEADERS, rows, raw_columns=frozenset({2}))}"
        + (f'<div style="font-size:12px;color:{r.MUTED}">{r.escape(legend)}</div>' if legend else "")
        + "</div>",
        f"{title}\n{r.table_text(HEADERS, text_rows)}" + (f"\n{legend}" if legend else ""),
    )


def history_table(entries, cluster: str | None) -> r.Rich:
    """``%kx_history``: the notebook table fits the default width (one cluster's history leaves out
    the cluster, long cells are clipped); the text form keeps it all, as ``kx-jupyter history --json``."""
    if not entries:
        return r.Rich("<i>no pushes recorded yet</i>", "no pushes recorded yet")
    from ..deploy.gitinfo import git_label

    rows = [
        [
            e.id,
            r.timestamp(e.started_at),
            e.cluster,
            e.kind + (f" of {e.rollback_of}" if e.rollback_of else ""),
            e.outcome,
            r.duration(e.duration),
            (e.bundle_sha256 or "")[:12],
            e.version or "",
            e.strategy,
            e.user,
            git_label(e.git_commit, e.git_dirty),
            e.note,
            e.reason,
        ]
        for e in entries
    ]
    headers = HISTORY_HEADERS
    shown = [i for i in range(len(headers)) if not (cluster and headers[i] == "cluster")]
    shorten = {
        "outcome": r.badge,
        "bundle": lambda v: v[:8],
        "version": lambda v: clip(v, 9),
        "reason": lambda v: clip(v, 48),
        "note": lambda v: clip(v, 40),
    }
    html_rows = [[shorten.get(headers[i], lambda v: v)(row[i]) for i in shown] for row in rows]
    return r.Rich(
        r.table_html(
            [headers[i] for i in shown],
            html_rows,
            raw_columns=frozenset({shown.index(headers.index("outcome"))}),
        ),
        r.table_text(headers, rows),
    )


def check_table(root, diagnostics) -> r.Rich:
    """``%kx_check``: the checker's diagnostics, or one line saying there are none."""
    from ..qcheck import format_text

    if not diagnostics:
        return r.Rich(
            f'<div style="font-family:{r.FONT}"><span style="color:#1a7f37">✓</span> q check of '
            f"{r.escape(str(root))}: no problems</div>",
            f"q check of {root}: no problems",
        )
    rows = [[f"{d.path}:{d.line}:{d.col}", r.badge(d.severity), d.rule, d.message] for d in diagnostics]
    return r.Rich(
        r.table_html(["where", "severity", "rule", "message"], rows, raw_columns=frozenset({1})),
        format_text(diagnostics),
    )


def state_view(state: dict) -> r.Rich:
    """``%kx_status`` of a cluster that is not updating: what it runs and how it is."""
    code = state.get("code") or {}
    args = " ".join(f"-{a.get('key')} {a.get('value')}" for a in state.get("commandLineArguments") or [])
    fields = [
        ("type", state.get("clusterType", "")),
        (
            "status",
            state.get("status", "") + (f" ({state['statusReason']})" if state.get("statusReason") else ""),
        ),
        ("code", f"s3://{code.get('s3Bucket')}/{code.get('s3Key')}" if code.get("s3Key") else "—"),
        ("version", code.get("s3ObjectVersion") or "—"),
        ("init script", state.get("initializationScript") or "—"),
        ("arguments", args or "—"),
        ("last modified (UTC)", r.timestamp(state.get("lastModifiedTimestamp"))),
    ]
    last = state.get("last_push")
    if last:
        fields.append(
            (
                "last push",
                f"#{last['id']} {last['outcome']} at {r.timestamp(last['started_at'])}"
                + (f": {last['reason']}" if last.get("reason") else ""),
            )
        )
    nodes = state.get("nodes") or []
    node_rows = [
        [
            n.get("nodeId", ""),
            n.get("availabilityZoneId", ""),
            n.get("status", ""),
            r.timestamp(n.get("launchTime")),
        ]
        for n in nodes
    ]
    title = f"{state.get('environmentId', '')}/{state.get('clusterName', '')}"
    grid = "".join(
        f'<div style="color:{r.MUTED}">{r.escape(k)}</div><div>{r.escape(str(v))}</div>' for k, v in fields
    )
    html = (
        f'<div style="font-family:{r.FONT};font-size:13px;color:{r.FG};border:1px solid {r.BORDER};'
        f'border-radius:6px;padding:12px 14px;max-width:880px;line-height:1.45"><div style="margin-bottom:8px">'
        f"<b>{r.escape(title)}</b> {r.badge(state.get('status', ''))}</div>"
        f'<div style="display:grid;grid-template-columns:max-content 1fr;gap:2px 12px;margin-bottom:8px">{grid}</div>'
        + (
            r.table_html(
                ["node", "zone", "status", "launched (UTC)"],
                [row[:2] + [r.badge(row[2])] + row[3:] for row in node_rows],
                raw_columns=frozenset({2}),
            )
            if node_rows
            else ""
        )
        + "</div>"
    )
    text = "\n".join(
        [title]
        + [f"  {k}: {v}" for k, v in fields]
        + ([r.table_text(["node", "zone", "status", "launched"], node_rows)] if node_rows else [])
    )
    return r.Rich(html, text)


def request_view(deployment, going_back: str = "") -> r.Rich:
    """``--dry-run``: exactly the request that would be sent (after a rollback's ``going_back`` line)."""
    request = json.dumps(deployment.result.get("request", {}), indent=2, sort_keys=True, default=str)
    head = f"dry run for {deployment.cluster}: this request would be sent; nothing was uploaded or changed"
    first = (
        f'<div style="font-family:{r.FONT};font-size:13px">{r.escape(going_back)}</div>' if going_back else ""
    )
    return r.Rich(
        f'{first}<div style="font-family:{r.FONT};font-size:13px">{r.escape(head)}'
        f'<pre style="font-family:{r.MONO};font-size:12px;background:{r.SUBTLE};padding:8px;border-radius:4px">'
        f"{r.escape(request)}</pre></div>",
        (f"{going_back}\n" if going_back else "") + f"{head}\n{request}",
    )


def deployment_html(deployment) -> str:
    """The Out[] line of a Deployment: short, since the live view above already shows it all."""
    return (
        f'<div style="font-family:{r.FONT};font-size:12px;color:{r.MUTED}">Deployment '
        f"{r.escape(deployment.environment)}/{r.escape(deployment.cluster)}: {r.badge(deployment.status)}"
        f"{_took(deployment)} "
        f"· <code>.status</code> <code>.result</code> <code>.events</code> <code>.wait()</code></div>"
    )


def deployment_text(deployment, p, cycle) -> None:
    p.text(
        f"<Deployment {deployment.environment}/{deployment.cluster}: {deployment.status}{_took(deployment)}>"
    )


def _took(deployment) -> str:
    elapsed = deployment.result.get("elapsed")
    return f" in {r.duration(elapsed)}" if elapsed and deployment.status != "watching" else ""
