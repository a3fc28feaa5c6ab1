"""The live status view of one push: a renderer over the Deployment's events, for the magics and the form.

It folds engine ``Event`` objects into a picture of the push: the phases (timed from the
command's start), what each node runs (old code, restarting, new code, failed) with a headline
such as "2/3 nodes on the new code", how long ago the cluster was last read, each node's log
since this push (collapsed), and at the end a summary, the failure (the failing node's first
error line, verbatim, with the service's ``statusReason`` below it) or "still updating,
stopped watching", and a timeline of the phases and of each node.

How it shows itself (``mode``), chosen by ``detect_mode``:

- ``widget``: an ``ipywidgets.HTML`` (``widget``) whose ``value`` is replaced on each event, and
  one collapsed accordion of node logs (``logs``) below it, in a VBox (``box``). Only traits
  change, so the following thread may drive it. The display also carries ``text/html``,
  rewritten at the end by display id, for front ends without a widget manager.
- ``html``: an HTML output replaced in place by display id.
- ``text``: terminal IPython, which cannot redraw: one line per *change*, never one per read,
  then the full summary. Text is printed only by ``flush()``, from the cell's thread.

``auto`` picks ``text`` outside a Jupyter kernel, ``widget`` in a kernel when ipywidgets is
installed, ``html`` otherwise; ``%config KxMagics.view = "html"`` forces a mode.
"""

from __future__ import annotations

import importlib.util
import threading
import time
from collections.abc import Mapping
from html import escape

from . import render as r

PHASES = (
    ("bundle", "bundle"),
    ("check", "check"),
    ("stage", "stage"),
    ("update", "update"),
    ("nodes", "rolling nodes"),
    ("done", "done"),
)
_ORDER = [name for name, _ in PHASES]
PUSH_STEPS = tuple(_ORDER)
ROLLBACK_STEPS = ("stage", "update", "nodes", "done")  # the code is already in S3: nothing to check or bundle
WATCH_STEPS = ("nodes", "done")  # re-attached to an update started earlier
STILL = "still-updating"
ENDINGS = ("done", "failed", "unchanged", STILL)
MODES = ("widget", "html", "text")
_OUTCOME = {
    "succeeded": "done",
    "failed": "failed",
    "unchanged": "unchanged",
    STILL: STILL,
    "submitted": STILL,
}
# node code state -> (tone for the pill, colour of its timeline bar)
_CODE = {
    "old code": ("idle", "#8c959f"),
    "restarting": ("busy", "#d4a72c"),
    "new code": ("ok", "#1a7f37"),
    "failed": ("bad", "#cf222e"),
    # the failing node, back on the previous code: red and grey stripes, both at once
    "failed, old code again": ("bad", "repeating-linear-gradient(135deg,#cf222e 0 4px,#8c959f 4px 8px)"),
}
_PHASE_BAR = "#0969da"
FAILED_ROW = "color:#a40e26;background:#ffebe9;font-weight:600"


def detect_mode(shell=None, preference: str = "auto") -> str:
    """The way to show the view in this shell; see the module docstring."""
    if preference in MODES:
        return preference
    if shell is None:
        from IPython import get_ipython

        shell = get_ipython()
    if shell is None or getattr(shell, "kernel", None) is None:
        return "text"
    return "widget" if importlib.util.find_spec("ipywidgets") else "html"


class StatusView:
    """The state of one push as its events describe it, rendered as widget, HTML or text."""

    def __init__(self, title: str = "", mode: str = "html", steps: tuple[str, ...] = PUSH_STEPS):
        """``steps``: the phases this operation goes through (a rollback neither checks nor bundles)."""
        if mode not in MODES:
            raise ValueError(f"mode must be one of {', '.join(MODES)}")
        self.title = title
        self.mode = mode
        self.steps = tuple(name for name in _ORDER if name in steps)
        self.phase = self.steps[0]
        self.outcome = ""  # one of ENDINGS once the push (or the watch) ended
        self.cluster_status = ""
        self.nodes: list[dict] = []
        self.elapsed = 0.0
        self.checked: float | None = None  # elapsed at the last read of the cluster
        self.message = ""
        self.message_phase = ""  # the phase whose event said ``message``
        self.reason = ""
        self.summary: dict = {}
        self.reached: dict[str, float] = {}  # phase -> elapsed when it ended (or began, for nodes)
        self.node_changes: list[tuple[float, str, str]] = []  # (elapsed, node, code state)
        self.logs: dict[str, list[str]] = {}
        self.progress: dict = {}  # the last progress event's figures while its step runs
        self._lock = threading.RLock()
        self._widget = None
        self._box = None
        self._log_widgets: dict[str, object] = {}
        self._handle = None
        self._display_meta: dict = {}
        self._shown = False
        self._last_line_key = None
        self._summary_pending = False
        self._clock_zero: float | None = None  # time.monotonic() when elapsed was 0

    @classmethod
    def create(cls, title: str = "", *, mode: str = "auto", shell=None, steps=PUSH_STEPS) -> StatusView:
        return cls(title, detect_mode(shell, mode), steps)

    # -- feeding -----------------------------------------------------------------------------

    def update(self, event) -> None:
        """Apply one engine Event and redraw; safe to call from the following thread. As an
        ``on_event`` (the form passes it) it shows the node table, so the watch lists each turn."""
        with self._lock:
            phase = event.phase
            self.elapsed = max(self.elapsed, float(event.elapsed or 0.0))
            self._clock_zero = time.monotonic() - self.elapsed
            if event.checked is not None:
                self.checked = event.checked
            if phase == "log":
                for node, lines in event.log.items():
                    self.logs.setdefault(node, []).extend(lines)
            elif phase == "checked":
                if event.reason:
                    self.reason = event.reason
            elif phase == "progress":  # a long check or bundle: files and bytes so far
                self.progress = dict(event.progress or {})
                step = self.progress.get("step")
                if step in self.steps and _ORDER.index(step) >= _ORDER.index(self.phase):
                    self.phase = step
            elif phase in ENDINGS:
                self.outcome = phase
                if phase in ("done", "unchanged"):
                    self.phase = "done"
            elif phase in self.steps:  # bundle .. update report their end: the next step is under way
                later = self.steps[self.steps.index(phase) + 1 :] if phase != "nodes" else ()
                self.phase = later[0] if later and later[0] != "done" else phase
                self.reached.setdefault(phase, self.elapsed)
            if phase != "progress":
                self.progress = {}
            if event.cluster_status:
                self.cluster_status = event.cluster_status
            if event.nodes:
                before = {n.get("nodeId"): n.get("code") for n in self.nodes}
                self.nodes = [dict(n) for n in event.nodes]
                for n in self.nodes:
                    if n.get("code") and before.get(n.get("nodeId")) != n.get("code"):
                        self.node_changes.append((self.elapsed, n.get("nodeId", "?"), n["code"]))
            if event.message and phase not in ("log", "checked"):
                self.message, self.message_phase = event.message, phase
            if event.reason and phase not in ("log", "checked"):
                self.reason = event.reason
            result = getattr(event, "result", None)
        if result is not None:
            self.finish(result)
        else:  # an ending without a result (a refusal the follower reports) is final too
            self._redraw(final=phase in ENDINGS)

    update.shows_nodes = True  # deploy.watch.showing_nodes, without importing the engine here

    def tick(self) -> None:
        """Move the clocks ("elapsed", "checked 4 s ago") between events; the following loop calls it."""
        with self._lock:
            if self.outcome or self._clock_zero is None or self.mode == "text":
                return
            self.elapsed = time.monotonic() - self._clock_zero
        self._redraw()

    def finish(self, result: Mapping) -> None:
        """Show the end of the push from ``Deployment.result``: the summary, the failure, or still updating."""
        with self._lock:
            self.summary = dict(result or {})
            outcome = _OUTCOME.get(str(self.summary.get("status", "")))
            if outcome:
                self.outcome = outcome
            if self.outcome in ("done", "unchanged"):
                self.phase = "done"
            if self.summary.get("reason"):
                self.reason = str(self.summary["reason"])
            if self.summary.get("elapsed") is not None:
                self.elapsed = float(self.summary["elapsed"])
            for n in self.summary.get("nodes") or []:
                if n.get("code"):
                    self.nodes = [dict(x) for x in self.summary["nodes"]]
                    break
        self._redraw(final=True)

    # -- showing -----------------------------------------------------------------------------

    @property
    def widget(self):
        """The ``ipywidgets.HTML`` of the view kept current by ``update``; created on first use."""
        if self._widget is None:
            import ipywidgets

            self._widget = ipywidgets.HTML(value=self.to_html())
        return self._widget

    @property
    def box(self):
        """``widget`` with the node logs (an accordion, collapsed) below it: what is displayed."""
        if self._box is None:
            import ipywidgets

            logs = ipywidgets.Accordion(children=[], layout=ipywidgets.Layout(max_width="880px"))
            logs.add_class("kx-node-logs")
            self._box = ipywidgets.VBox([self.widget, logs])
            self._sync_logs()
        return self._box

    @property
    def shown(self) -> bool:
        return self._shown

    def show(self) -> None:
        """Put the view into the current cell's output. Call it from the cell's own thread.

        The display id is also in the output's metadata: the lab extension then applies the
        updates to a page reloaded mid-push, which JupyterLab itself no longer routes."""
        from IPython.display import DisplayHandle, display

        self._shown = True
        if self.mode in ("widget", "html"):
            self._handle = DisplayHandle()
            self._display_meta = {"kx_jupyter": {"display_id": self._handle.display_id}}
            display(self._displayed(), display_id=self._handle.display_id, metadata=self._display_meta)
        else:
            self.flush()

    def _displayed(self):
        return _WidgetWithFallback(self) if self.mode == "widget" else self

    def _redraw(self, final: bool = False) -> None:
        """Widget: set the traits (and, at the end, rewrite the display's HTML fallback);
        html: update the display in place; text: leave printing to ``flush``."""
        if self.mode == "widget":
            if self._widget is not None:
                self._widget.value = self.to_html()
            if self._box is not None:
                self._sync_logs()
            if final and self._handle is not None:
                self._handle.update(self._displayed(), metadata=self._display_meta)
        elif self.mode == "html":
            if self._handle is not None:
                self._handle.update(self, metadata=self._display_meta)
        elif final:
            self._summary_pending = True

    def _sync_logs(self) -> None:
        """One collapsed accordion item per node: its log lines since this push (traits only)."""
        import ipywidgets

        logs = self._box.children[1]
        with self._lock:
            nodes = [n.get("nodeId") for n in self.nodes] + [
                n for n in self.logs if n not in {x.get("nodeId") for x in self.nodes}
            ]
            texts = {node: "\n".join(self.logs.get(node, [])) for node in nodes}
        added = False
        for node in nodes:
            if node not in self._log_widgets:
                self._log_widgets[node] = ipywidgets.HTML()
                added = True
            html = (
                f'<pre style="margin:0;font-family:{r.MONO};font-size:11.5px;white-space:pre-wrap;'
                f'max-height:220px;overflow:auto;color:{r.FG}">{escape(texts[node]) or "(no lines yet)"}</pre>'
            )
            if self._log_widgets[node].value != html:
                self._log_widgets[node].value = html
        if added:
            logs.children = [self._log_widgets[n] for n in nodes]
        titles = tuple(
            f"node log · {node} ({len(self.logs.get(node, []))} lines since this push)" for node in nodes
        )
        if tuple(logs.titles) != titles:
            logs.titles = titles

    def flush(self) -> None:
        """Text mode: print what changed since the last flush. Call it from the cell's thread."""
        if self.mode != "text" or not self._shown:
            return
        with self._lock:
            key = (
                self.phase,
                self.outcome,
                self.cluster_status,
                tuple((n.get("nodeId"), n.get("status"), n.get("code")) for n in self.nodes),
                self.message,
            )
            line = self.status_line() if key != self._last_line_key else None
            self._last_line_key = key
            summary, self._summary_pending = self._summary_pending, False
        if summary:
            print(self.to_text())
        elif line:
            print(line)

    def _repr_mimebundle_(self, include=None, exclude=None):
        return {"text/plain": self.to_text(), "text/html": self.to_html()}

    def __repr__(self) -> str:
        return self.to_text()

    # -- what it says ------------------------------------------------------------------------

    def _phase_states(self) -> list[tuple[str, str]]:
        """(label, state) per phase; state in ok, current, failed, paused, skipped, pending."""
        current = _ORDER.index(self.phase)
        states = []
        for i, (name, label) in enumerate(PHASES):
            if name not in self.steps:
                continue
            if self.outcome == "done":
                state = "ok"
            elif self.outcome == "unchanged":
                state = "skipped" if name in ("update", "nodes") else "ok"
            elif i < current:
                state = "ok"
            elif i == current:
                state = {"failed": "failed", STILL: "paused"}.get(self.outcome, "current")
            else:
                state = "pending"
            states.append((label, state))
        return states

    def node_headline(self) -> str:
        if not self.nodes or not any(n.get("code") for n in self.nodes):
            return ""
        new = sum(1 for n in self.nodes if n.get("code") == "new code")
        return f"{new}/{len(self.nodes)} node{'s' if len(self.nodes) != 1 else ''} on the new code"

    def _headline(self) -> str:
        if self.outcome == "done":
            return "deployed"
        if self.outcome == "failed":  # without a result: ended before the push, as the message says
            return f"failed: {self.message}" if not self.summary and self.message else "failed"
        if self.outcome == "unchanged":
            return "already running this code: nothing changed"
        if self.outcome == STILL:
            return "still updating, stopped watching"
        if self.phase == "nodes" and self.node_headline():
            return self.node_headline()
        return dict(PHASES)[self.phase] + "…"

    def checked_ago(self) -> str:
        if self.checked is None or self.outcome:
            return ""
        return f"checked {r.duration(max(0.0, self.elapsed - self.checked))} ago"

    def first_error(self) -> tuple[str, str] | None:
        found = self.summary.get("first_error")
        if found:
            return found.get("node", ""), found.get("line", "")
        return None

    def said(self) -> str:
        """The last message, naming its step when that step has ended: the headline names the step
        under way, so "check… · bundle ✓ 2 files, 241 bytes", never "check… · 2 files, 241 bytes"."""
        step = self.message_phase
        if step != self.phase and step in self.reached and step in dict(PHASES):
            return f"{dict(PHASES)[step]} ✓ {self.message}"
        return self.message

    def status_line(self) -> str:
        """One line for terminals: what changed, never the same line twice in a row."""
        with self._lock:
            parts = [f"[{r.duration(self.elapsed):>7}]", self._headline()]
            if self.cluster_status:
                parts.append(f"cluster {self.cluster_status}")
            moving = [
                f"{n.get('nodeId')} {n.get('code')}"
                for n in self.nodes
                if n.get("code") in ("restarting", "failed", "failed, old code again")
            ]
            if moving and not self.outcome:
                parts.append(", ".join(moving))
            elif self.message and not self.outcome and not self.node_headline():
                parts.append(self.said())
            return " · ".join(parts)

    def _summary_rows(self) -> list[tuple[str, str]]:
        s = self.summary
        rows = []
        if s.get("elapsed") is not None and self.outcome in ("done", "failed", STILL):
            rows.append(("duration", r.duration(s["elapsed"]) + " from the command's start"))
        bundle = s.get("bundle") or {}
        if bundle.get("sha256"):
            files = bundle.get("files") or []
            detail = ", ".join(
                x
                for x in (
                    r.size(bundle["bytes"]) if bundle.get("bytes") is not None else "",
                    f"{len(files)} file{'s' if len(files) != 1 else ''}" if files else "",
                )
                if x
            )
            rows.append(("bundle", f"sha256 {bundle['sha256']}" + (f" ({detail})" if detail else "")))
        code = s.get("code") or {}
        if code.get("s3Bucket") and code.get("s3Key"):
            rows.append(("S3", f"s3://{code['s3Bucket']}/{code['s3Key']}"))
            if code.get("s3ObjectVersion"):
                rows.append(("version", str(code["s3ObjectVersion"])))
        if s.get("uploaded_bytes") is not None and self.outcome == "done":
            rows.append(("uploaded", r.size(s["uploaded_bytes"])))
        return rows

    def _log_tail(self) -> str:
        tail = self.summary.get("log_tail") or ""
        return "\n".join(map(str, tail)) if isinstance(tail, (list, tuple)) else str(tail)

    def _service_reason(self) -> str:
        return str(self.summary.get("status_reason") or "") or (
            self.reason if self.outcome == "failed" else ""
        )

    def _reattach(self) -> str:
        name = self.summary.get("cluster") or self.title
        return f"the update goes on; %kx_status {name} follows it again, and the next look at the cluster records how it ended"

    def timeline(self) -> list[tuple[str, float, float, str]]:
        """(row, start, end, state) bars: the phases, then each node's code state over time."""
        end = max(self.elapsed, 0.0)
        bars, start = [], 0.0
        for name in self.steps:
            if name == "nodes" and ("nodes" in self.reached or self.node_changes):
                bars.append((dict(PHASES)[name], start, end, "phase"))
            elif name in self.reached and name != "done":
                bars.append((dict(PHASES)[name], start, max(start, self.reached[name]), "phase"))
                start = max(start, self.reached[name])
        by_node: dict[str, list[tuple[float, str]]] = {}
        for at, node, code in self.node_changes:
            by_node.setdefault(node, []).append((at, code))
        for node, changes in sorted(by_node.items()):
            for i, (at, code) in enumerate(changes):
                stop = changes[i + 1][0] if i + 1 < len(changes) else end
                bars.append((node, at, stop, code))
        return bars

    def to_text(self) -> str:
        with self._lock:
            head = f"kx update{' · ' + self.title if self.title else ''}"
            status = " · ".join(
                x for x in (self.cluster_status, r.duration(self.elapsed), self.checked_ago()) if x
            )
            marks = {"ok": "✓", "current": "▶", "failed": "✗", "paused": "‖", "skipped": "–", "pending": "·"}
            lines = [
                f"{head}  [{status}]",
                "  ".join(f"{marks[s]} {label}" for label, s in self._phase_states()),
            ]
            if self.nodes:
                rows = [
                    [
                        n.get("nodeId", "?"),
                        n.get("code", ""),
                        n.get("status", ""),
                        n.get("availabilityZoneId", ""),
                        r.timestamp(n.get("launchTime")),
                    ]
                    for n in self.nodes
                ]
                lines.append(r.table_text(["node", "code", "status", "zone", "launched"], rows))
            lines.append(
                self._headline()
                + (
                    f": {self.said()}"
                    if self.message and not self.outcome and not self.node_headline()
                    else ""
                )
            )
            error = self.first_error()
            if self.outcome == "failed" and error:
                lines.append(f"  {error[0]}: {error[1]}")
            lines += [f"  {k}: {v}" for k, v in self._summary_rows()]
            if self.outcome == "failed" and self._service_reason():
                lines.append(f"  reason: {self._service_reason()}")
            if self.outcome == "failed" and self._log_tail():
                lines.append("  node log since this push:")
                lines += ["    " + ln for ln in self._log_tail().splitlines()]
            if self.outcome == STILL:
                lines.append(
                    f"  {self.reason}: {self._reattach()}" if self.reason else f"  {self._reattach()}"
                )
            if self.outcome in ("done", "failed", STILL):
                lines += self._timeline_text()
            return "\n".join(lines)

    def _timeline_text(self) -> list[str]:
        bars = self.timeline()
        if not bars:
            return []
        width = max(len(row) for row, *_ in bars)
        return ["  timeline:"] + [
            f"    {row:<{width}}  {r.duration(a):>6} → {r.duration(b):>6}  {'' if s == 'phase' else s}".rstrip()
            for row, a, b, s in bars
        ]

    def to_html(self) -> str:
        with self._lock:
            return self._html()

    def _html(self) -> str:
        accent = {"done": "#1a7f37", "unchanged": "#1a7f37", "failed": "#cf222e", STILL: "#9a6700"}.get(
            self.outcome, "#0969da"
        )
        title = escape(self.title) if self.title else "update"
        clock = " · ".join(x for x in (f"elapsed {r.duration(self.elapsed)}", self.checked_ago()) if x)
        header = (
            f'<div style="display:flex;align-items:center;gap:10px;margin-bottom:10px">'
            f'<span style="font-weight:600;font-size:14px">kx update · {title}</span>'
            f"{r.badge(self.cluster_status) if self.cluster_status else ''}"
            f'<span class="kx-clock" style="margin-left:auto;color:{r.MUTED};font-variant-numeric:tabular-nums">'
            f"{escape(clock)}</span></div>"
        )
        return (
            f'<div class="kx-status-view" style="font-family:{r.FONT};font-size:13px;color:{r.FG};'
            f"background:{r.PANEL};border:1px solid {r.BORDER};border-left:4px solid {accent};"
            f'border-radius:6px;padding:12px 14px;max-width:880px;line-height:1.45">'
            f"{header}{self._phases_html()}{self._headline_html()}{self._nodes_html()}{self._footer_html()}"
            f"{self._timeline_html()}{self._logs_html()}</div>"
        )

    def _phases_html(self) -> str:
        styles = {
            "ok": ("#1a7f37", "#dafbe1", "✓"),
            "current": ("#ffffff", "#0969da", "●"),
            "failed": ("#ffffff", "#cf222e", "✗"),
            "paused": ("#9a6700", "#fff8c5", "‖"),
            "skipped": ("#57606a", "#eaeef2", "–"),
            "pending": ("#57606a", "#eaeef2", "○"),
        }
        steps = []
        for label, state in self._phase_states():
            fg, bg, mark = styles[state]
            weight = "600" if state in ("current", "failed") else "400"
            name = next(n for n, lab in PHASES if lab == label)
            at = (
                f' title="{escape(r.duration(self.reached[name]))} from the start"'
                if name in self.reached
                else ""
            )
            steps.append(
                f'<span data-phase-state="{state}"{at} style="display:inline-flex;align-items:center;gap:4px;'
                f"padding:2px 10px;border-radius:12px;color:{fg};background:{bg};font-weight:{weight};"
                f'white-space:nowrap">{mark} {escape(label)}</span>'
            )
        arrow = f'<span style="color:{r.MUTED}">›</span>'
        return f'<div style="display:flex;flex-wrap:wrap;align-items:center;gap:6px;margin-bottom:10px">{arrow.join(steps)}</div>'

    def _headline_html(self) -> str:
        ending = {"done": "ok", "unchanged": "ok", "failed": "bad", STILL: "busy"}.get(self.outcome)
        text = self._headline()
        said = r.pill(text, ending) if ending else f'<span class="kx-headline">{escape(text)}</span>'
        parts = [f'<div style="font-weight:600;margin-bottom:6px">{said}</div>']
        error = self.first_error()
        if self.outcome == "failed" and error:
            parts.append(
                f'<div class="kx-first-error" style="margin:2px 0 6px;padding:6px 10px;border-radius:4px;'
                f"background:#ffebe9;color:#82071e;font-family:{r.MONO};font-size:12px;white-space:pre-wrap;"
                f'overflow-wrap:anywhere"><b>{escape(error[0])}</b>: {escape(error[1])}</div>'
            )
        if self.outcome == "failed" and self._service_reason():
            parts.append(
                f'<div style="color:{r.MUTED};margin-bottom:6px;font-size:12px">the service says: '
                f"{escape(self._service_reason())}</div>"
            )
        if self.outcome == STILL:
            parts.append(
                f'<div style="color:{r.MUTED};margin-bottom:6px">{escape(self.reason)}{": " if self.reason else ""}'
                f"{escape(self._reattach())}</div>"
            )
        return "".join(parts)

    def _nodes_html(self) -> str:
        if not self.nodes:
            return ""
        rows, styles = [], []
        for n in self.nodes:
            code = n.get("code", "")
            rows.append(
                [
                    n.get("nodeId", "?"),
                    r.pill(code, _CODE[code][0], size=11) if code in _CODE else "—",
                    r.badge(n.get("status", "")),
                    n.get("availabilityZoneId", ""),
                    r.timestamp(n.get("launchTime")),
                ]
            )
            styles.append(FAILED_ROW if code.startswith("failed") else "")  # the failing node's row is red
        return r.table_html(
            ["node", "code", "status", "zone", "launched (UTC)"],
            rows,
            raw_columns=frozenset({1, 2}),
            row_styles=styles,
        )

    def _footer_html(self) -> str:
        parts = []
        if self.message and self.outcome in ("", "unchanged") and not self.node_headline():
            parts.append(
                f'<div style="color:{r.MUTED};margin-top:6px;white-space:pre-line">{escape(self.said())}</div>'
            )
        done = self.progress.get("bytes", 0) / max(1, self.progress.get("total_bytes", 0))
        if self.progress and not self.outcome:
            parts.append(
                f'<div class="kx-progress" style="margin-top:4px;height:6px;max-width:360px;background:{r.SUBTLE};'
                f'border-radius:3px"><div style="width:{100 * min(1.0, done):.1f}%;height:100%;'
                f'background:{_PHASE_BAR};border-radius:3px"></div></div>'
            )
        rows = self._summary_rows()
        if rows:
            cells = "".join(
                f'<div style="color:{r.MUTED}">{escape(k)}</div>'
                f'<div style="font-family:{r.MONO};font-size:12px;overflow-wrap:anywhere">{escape(v)}</div>'
                for k, v in rows
            )
            parts.append(
                f'<div style="display:grid;grid-template-columns:max-content 1fr;gap:2px 12px;margin-top:8px">{cells}</div>'
            )
        if self.outcome == "failed" and self._log_tail():
            parts.append(
                f'<div style="margin-top:8px;color:{r.MUTED}">node log since this push</div>'
                f'<pre style="margin:2px 0 0;padding:8px;background:{r.SUBTLE};color:{r.FG};border-radius:4px;'
                f'font-family:{r.MONO};font-size:11.5px;max-height:220px;overflow:auto;white-space:pre-wrap">'
                f"{escape(self._log_tail())}</pre>"
            )
        return "".join(parts)

    def _timeline_html(self) -> str:
        if self.outcome not in ("done", "failed", STILL):
            return ""
        bars = self.timeline()
        total = max([b for _, _, b, _ in bars] + [self.elapsed, 0.001])
        rows, seen = [], []
        for row, *_ in bars:
            if row not in seen:
                seen.append(row)
        for row in seen:
            segments = ""
            for name, a, b, state in bars:
                if name != row:
                    continue
                colour = _PHASE_BAR if state == "phase" else _CODE.get(state, ("", "#8c959f"))[1]
                left, width = 100 * a / total, max(0.6, 100 * (b - a) / total)
                tip = f"{row}: {'' if state == 'phase' else state + ' '}{r.duration(a)} → {r.duration(b)}"
                segments += (
                    f'<div title="{escape(tip)}" style="position:absolute;top:3px;bottom:3px;left:{left:.2f}%;'
                    f'width:{width:.2f}%;background:{colour};border-radius:2px"></div>'
                )
            rows.append(
                f'<div style="display:flex;align-items:center;gap:8px;height:18px">'
                f'<div style="width:150px;color:{r.MUTED};font-size:11px;overflow:hidden;text-overflow:ellipsis;'
                f'white-space:nowrap">{escape(row)}</div><div style="position:relative;flex:1;height:100%;'
                f'background:{r.SUBTLE};border-radius:3px">{segments}</div></div>'
            )
        shown = {state for *_, state in bars}
        legend = " ".join(  # the states this timeline shows (a stopped watch lists no "failed")
            f'<span style="display:inline-block;width:9px;height:9px;border-radius:2px;background:{c}"></span>'
            f" {escape(k)}"
            for k, (_, c) in _CODE.items()
            if k in shown
        )
        return (
            f'<div class="kx-timeline" style="margin-top:10px"><div style="color:{r.MUTED};margin-bottom:2px">'
            f"timeline (0 → {r.duration(total)}) · {legend}</div>{''.join(rows)}</div>"
        )

    def _logs_html(self) -> str:
        """Node logs as collapsed sections; the widget shows them in its own accordion instead."""
        if self.mode == "widget" or not self.logs:
            return ""
        items = "".join(
            f'<details style="margin-top:4px"><summary style="cursor:pointer;color:{r.MUTED}">node log · '
            f"{escape(node)} ({len(lines)} lines since this push)</summary>"
            f'<pre style="margin:2px 0 0;padding:6px;background:{r.SUBTLE};color:{r.FG};font-family:{r.MONO};'
            f'font-size:11.5px;white-space:pre-wrap;max-height:220px;overflow:auto">{escape(chr(10).join(lines))}</pre>'
            f"</details>"
            for node, lines in self.logs.items()
        )
        return f'<div style="margin-top:8px">{items}</div>'


class _WidgetWithFallback:
    """The widget's display bundle plus the view's HTML and text for front ends without widgets."""

    def __init__(self, view: StatusView):
        self.view = view

    def _repr_mimebundle_(self, include=None, exclude=None):
        bundle = dict(self.view.box._repr_mimebundle_() or {})
        bundle["text/plain"] = self.view.to_text()
        bundle["text/html"] = self.view.to_html()
        return bundle
