"""The live status view of one push: one component for the magics and the widget form.

It turns engine ``Event`` objects into a picture of the push (phases with the current one
marked, cluster status, each node, elapsed time) and, at the end, a summary or the failure.

How it shows itself (``mode``), chosen by ``detect_mode``:

- ``widget``: an ``ipywidgets.HTML`` whose ``value`` is replaced on each event. Only a trait
  changes, so a background thread may drive it (comm messages reach the front end from any
  thread; ipykernel 7 loses *printed* output from threads). The displayed bundle also carries
  ``text/html``, and the final state is written into it by display id, so front ends without
  a widget manager (nbconvert, a notebook opened elsewhere) still show the outcome.
- ``html``: an HTML output replaced in place by display id on each event.
- ``text``: terminal IPython, which cannot redraw: one line per *change* (phase, cluster
  status or a node's status), never one per poll, then the full summary. Text is printed
  only by ``flush()``, which the magic calls from the cell's thread while it waits.

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
    ("check", "check"),
    ("bundle", "bundle"),
    ("stage", "stage"),
    ("update", "update"),
    ("nodes", "rolling nodes"),
    ("done", "done"),
)
_ORDER = [name for name, _ in PHASES]
PUSH_STEPS = tuple(_ORDER)
ROLLBACK_STEPS = ("stage", "update", "nodes", "done")  # the code is already in S3: nothing to check or bundle
WATCH_STEPS = ("nodes", "done")                        # re-attached to an update started earlier
ENDINGS = ("done", "failed", "unchanged", "detached")
MODES = ("widget", "html", "text")
# Deployment.status -> how the view ends
_OUTCOME = {"succeeded": "done", "failed": "failed", "unchanged": "unchanged", "detached": "detached",
            "submitted": "detached"}


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
        self.message = ""
        self.reason = ""
        self.summary: dict = {}
        self._lock = threading.RLock()
        self._widget = None
        self._handle = None
        self._shown = False
        self._last_line_key = None
        self._summary_pending = False
        self._clock_zero: float | None = None  # time.monotonic() when elapsed was 0

    @classmethod
    def create(cls, title: str = "", *, mode: str = "auto", shell=None, steps=PUSH_STEPS) -> "StatusView":
        return cls(title, detect_mode(shell, mode), steps)

    # -- feeding -----------------------------------------------------------------------------

    def update(self, event) -> None:
        """Apply one engine Event and redraw; safe to call from a watcher thread."""
        with self._lock:
            phase = event.phase
            if phase in ENDINGS:
                self.outcome = phase
                if phase in ("done", "unchanged"):
                    self.phase = "done"
            elif phase in self.steps:
                self.phase = phase
            if event.cluster_status:
                self.cluster_status = event.cluster_status
            if event.nodes:
                self.nodes = [dict(n) for n in event.nodes]
            self.elapsed = max(self.elapsed, float(event.elapsed or 0.0))
            self._clock_zero = time.monotonic() - self.elapsed
            if event.message:
                self.message = event.message
            if event.reason:
                self.reason = event.reason
        self._redraw()

    def tick(self) -> None:
        """Advance the elapsed time between events (the engine emits on changes only, and an
        update can sit in one state for minutes); a watcher thread calls it every second."""
        with self._lock:
            if self.outcome or self._clock_zero is None or self.mode == "text":
                return
            self.elapsed = time.monotonic() - self._clock_zero
        self._redraw()

    def finish(self, result: Mapping) -> None:
        """Show the end of the push from ``Deployment.result``: the summary or the failure."""
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
        self._redraw(final=True)

    # -- showing -----------------------------------------------------------------------------

    @property
    def widget(self):
        """An ``ipywidgets.HTML`` kept current by ``update``; created on first use."""
        if self._widget is None:
            import ipywidgets

            self._widget = ipywidgets.HTML(value=self.to_html())
        return self._widget

    @property
    def shown(self) -> bool:
        return self._shown

    def show(self) -> None:
        """Put the view into the current cell's output. Call it from the cell's own thread."""
        from IPython.display import display

        self._shown = True
        if self.mode == "widget":
            self._handle = display(_WidgetWithFallback(self), display_id=True)
        elif self.mode == "html":
            self._handle = display(self, display_id=True)
        else:
            self.flush()

    def _redraw(self, final: bool = False) -> None:
        """Widget: set the trait (and, at the end, rewrite the display's HTML fallback);
        html: update the display in place; text: leave printing to ``flush``."""
        if self.mode == "widget":
            if self._widget is not None:
                self._widget.value = self.to_html()
            if final and self._handle is not None:
                self._handle.update(_WidgetWithFallback(self))
        elif self.mode == "html":
            if self._handle is not None:
                self._handle.update(self)
        elif final:
            self._summary_pending = True

    def flush(self) -> None:
        """Text mode: print what changed since the last flush. Call it from the cell's thread
        (the caller's loop), never from a watcher: ipykernel 7 drops output printed by threads."""
        if self.mode != "text" or not self._shown:
            return
        with self._lock:
            key = (self.phase, self.outcome, self.cluster_status,
                   tuple((n.get("nodeId"), n.get("status")) for n in self.nodes), self.message)
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

    # -- rendering ---------------------------------------------------------------------------

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
                state = {"failed": "failed", "detached": "paused"}.get(self.outcome, "current")
            else:
                state = "pending"
            states.append((label, state))
        return states

    def _headline(self) -> str:
        return {
            "done": "deployed",
            "failed": "failed",
            "unchanged": "already running this code: nothing changed",
            "detached": "not watching; the update goes on",
        }.get(self.outcome, dict(PHASES)[self.phase] + "…")

    def status_line(self) -> str:
        """One line for terminals: what changed, never the same line twice in a row."""
        with self._lock:
            parts = [f"[{r.duration(self.elapsed):>7}]", self._headline()]
            if self.cluster_status:
                parts.append(f"cluster {self.cluster_status}")
            if self.message and not self.outcome:
                parts.append(self.message)
            elif self.nodes:
                running = sum(1 for n in self.nodes if n.get("status") == "RUNNING")
                parts.append(f"nodes {running}/{len(self.nodes)} running")
            return " · ".join(parts)

    def _summary_rows(self) -> list[tuple[str, str]]:
        s = self.summary
        rows = []
        if s.get("elapsed") is not None and self.outcome in ("done", "failed"):
            rows.append(("duration", r.duration(s["elapsed"])))
        bundle = s.get("bundle") or {}
        if bundle.get("sha256"):
            files = bundle.get("files") or []
            detail = ", ".join(x for x in (r.size(bundle["bytes"]) if bundle.get("bytes") is not None else "",
                                           f"{len(files)} file{'s' if len(files) != 1 else ''}" if files else "") if x)
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

    def to_text(self) -> str:
        with self._lock:
            head = f"kx update{' · ' + self.title if self.title else ''}"
            status = " · ".join(x for x in (self.cluster_status, r.duration(self.elapsed)) if x)
            marks = {"ok": "✓", "current": "▶", "failed": "✗", "paused": "‖", "skipped": "–", "pending": "·"}
            lines = [f"{head}  [{status}]", "  ".join(f"{marks[s]} {label}" for label, s in self._phase_states())]
            if self.nodes:
                rows = [[n.get("nodeId", "?"), n.get("availabilityZoneId", ""), n.get("status", ""),
                         r.timestamp(n.get("launchTime"))] for n in self.nodes]
                lines.append(r.table_text(["node", "zone", "status", "launched"], rows))
            lines.append(self._headline() + (f": {self.message}" if self.message and not self.outcome else ""))
            lines += [f"  {k}: {v}" for k, v in self._summary_rows()]
            if self.outcome == "failed" and self.reason:
                lines.append(f"  reason: {self.reason}")
            if self.outcome == "failed" and self._log_tail():
                lines.append("  log tail:")
                lines += ["    " + ln for ln in self._log_tail().splitlines()]
            if self.outcome == "detached" and self.message:
                lines.append("  " + self.message)
            return "\n".join(lines)

    def to_html(self) -> str:
        with self._lock:
            return self._html()

    def _html(self) -> str:
        accent = {"done": "#1a7f37", "unchanged": "#1a7f37", "failed": "#cf222e", "detached": "#9a6700"}.get(
            self.outcome, "#0969da")
        title = escape(self.title) if self.title else "update"
        header = (
            f'<div style="display:flex;align-items:center;gap:10px;margin-bottom:10px">'
            f'<span style="font-weight:600;font-size:14px">kx update · {title}</span>'
            f"{r.badge(self.cluster_status) if self.cluster_status else ''}"
            f'<span style="margin-left:auto;color:{r.MUTED};font-variant-numeric:tabular-nums">'
            f"elapsed {r.duration(self.elapsed)}</span></div>"
        )
        return (
            f'<div class="kx-status-view" style="font-family:{r.FONT};font-size:13px;color:{r.FG};'
            f"background:{r.PANEL};border:1px solid {r.BORDER};border-left:4px solid {accent};"
            f'border-radius:6px;padding:12px 14px;max-width:880px;line-height:1.45">'
            f"{header}{self._phases_html()}{self._nodes_html()}{self._footer_html()}</div>"
        )

    def _phases_html(self) -> str:
        styles = {
            "ok": ("#1a7f37", "#dafbe1", "✓"),
            "current": ("#ffffff", "#0969da", "●"),
            "failed": ("#ffffff", "#cf222e", "✗"),
            "paused": ("#9a6700", "#fff8c5", "‖"),
            "skipped": (r.MUTED, r.SUBTLE, "–"),
            "pending": (r.MUTED, r.SUBTLE, "○"),
        }
        steps = []
        for label, state in self._phase_states():
            fg, bg, mark = styles[state]
            weight = "600" if state in ("current", "failed") else "400"
            steps.append(
                f'<span data-phase-state="{state}" style="display:inline-flex;align-items:center;gap:4px;'
                f"padding:2px 10px;border-radius:12px;color:{fg};background:{bg};font-weight:{weight};"
                f'white-space:nowrap">{mark} {escape(label)}</span>'
            )
        arrow = f'<span style="color:{r.MUTED}">›</span>'
        return f'<div style="display:flex;flex-wrap:wrap;align-items:center;gap:6px;margin-bottom:10px">{arrow.join(steps)}</div>'

    def _nodes_html(self) -> str:
        if not self.nodes:
            return ""
        rows = [[n.get("nodeId", "?"), n.get("availabilityZoneId", ""), r.badge(n.get("status", "")),
                 r.timestamp(n.get("launchTime"))] for n in self.nodes]
        return r.table_html(["node", "zone", "status", "launched (UTC)"], rows, raw_columns=frozenset({2}))

    def _footer_html(self) -> str:
        ending = {"done": "ok", "unchanged": "ok", "failed": "bad", "detached": "busy"}.get(self.outcome)
        headline = r.pill(self._headline(), ending) if ending else escape(self._headline())
        parts = [f'<div style="margin-top:10px;font-weight:600">{headline}</div>']
        if self.message and self.outcome in ("", "detached", "unchanged"):
            parts.append(f'<div style="color:{r.MUTED};margin-top:2px;white-space:pre-line">{escape(self.message)}</div>')
        rows = self._summary_rows()
        if rows:
            cells = "".join(
                f'<div style="color:{r.MUTED}">{escape(k)}</div>'
                f'<div style="font-family:{r.MONO};font-size:12px;overflow-wrap:anywhere">{escape(v)}</div>'
                for k, v in rows
            )
            parts.append(f'<div style="display:grid;grid-template-columns:max-content 1fr;gap:2px 12px;margin-top:6px">{cells}</div>')
        if self.outcome == "failed":
            if self.reason:
                parts.append(f'<div style="margin-top:6px"><b>reason:</b> {escape(self.reason)}</div>')
            tail = self._log_tail()
            if tail:
                parts.append(
                    f'<div style="margin-top:6px;color:{r.MUTED}">log tail</div>'
                    f'<pre style="margin:2px 0 0;padding:8px;background:{r.SUBTLE};border-radius:4px;'
                    f'font-family:{r.MONO};font-size:11.5px;max-height:220px;overflow:auto;white-space:pre-wrap">'
                    f"{escape(tail)}</pre>"
                )
        return "".join(parts)


class _WidgetWithFallback:
    """The widget's display bundle plus the view's HTML and text for front ends without widgets."""

    def __init__(self, view: StatusView):
        self.view = view

    def _repr_mimebundle_(self, include=None, exclude=None):
        bundle = dict(self.view.widget._repr_mimebundle_() or {})
        bundle["text/plain"] = self.view.to_text()
        bundle["text/html"] = self.view.to_html()
        return bundle
