"""The house's HTML look: JupyterLab's theme variables with light fallbacks, and status pills.

A leaf module (no imports of ours) so every HTML surface shares one look: the live view and the
magics' tables (``ui.render``) and the release table (``release.view``), which may not import ``ui/``.
"""

from __future__ import annotations

from html import escape

FONT = "var(--jp-ui-font-family, -apple-system, 'Segoe UI', Roboto, sans-serif)"
MONO = "var(--jp-code-font-family, SFMono-Regular, Menlo, Consolas, monospace)"
FG = "var(--jp-ui-font-color1, #1f2328)"
MUTED = "var(--jp-ui-font-color2, #656d76)"
BORDER = "var(--jp-border-color2, #d0d7de)"
PANEL = "var(--jp-layout-color1, #ffffff)"
SUBTLE = "var(--jp-layout-color2, #f6f8fa)"

# status word -> (text colour, background)
_TONES = {
    "ok": ("#1a7f37", "#dafbe1"),
    "busy": ("#9a6700", "#fff8c5"),
    "bad": ("#cf222e", "#ffebe9"),
    "idle": ("#57606a", "#eaeef2"),
}
_STATUS_TONE = {
    "RUNNING": "ok",
    "DEPLOYED": "ok",
    "SUCCEEDED": "ok",
    "UNCHANGED": "ok",
    "done": "ok",
    "UPDATING": "busy",
    "PENDING": "busy",
    "CREATING": "busy",
    "PROVISIONING": "busy",
    "DELETING": "busy",
    "CREATE_FAILED": "bad",
    "DELETE_FAILED": "bad",
    "FAILED": "bad",
    "failed": "bad",
    "succeeded": "ok",
    "updating": "busy",
    "timed-out": "busy",
    "still-updating": "busy",
    "error": "bad",
    "warning": "busy",  # q checker severities
}


def tone(status: str) -> str:
    return _STATUS_TONE.get(status or "", "idle")


def badge(status: str) -> str:
    return pill(status or "—", tone(status), size=11)


def pill(text: str, tone_name: str, size: int = 13) -> str:
    """Coloured text on its own light background: as readable in a dark theme as in a light one."""
    fg, bg = _TONES[tone_name]
    return (
        f'<span style="display:inline-block;padding:1px 8px;border-radius:10px;font-size:{size}px;line-height:16px;'
        f'font-weight:600;letter-spacing:.02em;color:{fg};background:{bg}">{escape(text)}</span>'
    )
