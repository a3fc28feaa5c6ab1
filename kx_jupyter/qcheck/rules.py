"""Every rule the checker knows: a stable id, a fixed severity and a one-line title.

Ids never change meaning; a retired rule keeps its id unused. ``kx-jupyter check --rules``
style listings and the suppression comments (``/ kxcheck: disable=Q010``) use these ids.
"""

from __future__ import annotations

from .diagnostic import Diagnostic

# id: (severity, title)
RULES: dict[str, tuple[str, str]] = {
    # load-breaking: q refuses the file
    "Q001": ("error", "unterminated string"),
    "Q002": ("error", "bracket opened and never closed"),
    "Q003": ("error", "closing bracket that matches no open bracket"),
    "Q004": ("error", "invalid escape in a string"),
    "Q005": ("error", "byte-order mark at the start of the file"),
    "Q006": ("error", "byte q refuses outside strings and comments"),
    "Q007": ("info", "block comment never closed: the rest of the file is ignored"),
    "Q008": ("error", "line at column 0 inside a multi-line definition"),
    "Q009": ("error", "more than 8 parameters"),
    "Q010": ("warning", "operator from another language that means something else in q"),
    # bundle-level
    "Q020": ("error", "initialization script not in the bundle"),
    "Q021": ("error", "load or cd target not in the bundle"),
    "Q022": ("info", "load path built at run time: not verifiable offline"),
    "Q023": ("error", "\\\\ in a script the initialization script runs: it quits the process"),
    "Q024": ("warning", "load or cd target outside the code, database and volume directories"),
    "Q025": ("error", "initialization script path the API rejects"),
    "Q026": ("warning", "load inside a function names a file not in the bundle"),
    "Q027": ("info", "no initialization script: files checked on their own, without the bundle rules"),
    "Q028": ("error", "name used at load time before any loaded file or q defines it"),
    # FinSpace compatibility
    "Q030": ("error", "direct assignment of a .z handler (FinSpace denies it)"),
    "Q031": ("error", "changing the port (FinSpace does not support it)"),
    "Q032": ("error", "command-line argument key the API rejects"),
    "Q033": ("error", "command-line argument value the API rejects"),
    "Q034": ("warning", "argument read with .Q.opt .z.x that the deployment does not pass"),
    "Q035": ("info", "argument with a .Q.def default that the deployment does not pass"),
    "Q036": ("info", "port set only when none was given (never runs on FinSpace, which always gives one)"),
    "Q037": ("warning", "FinSpace incompatibility in a file the initialization script does not load"),
    "Q038": ("error", "assignment to a reserved word ('assign)"),
    "Q039": ("error", "function over q's limit of 110 locals or 110 globals"),
    "Q040": ("error", "function over q's limit of constants (239 minus its locals and globals)"),
}


def diag(rule: str, path: str, line: int, col: int, message: str) -> Diagnostic:
    """A diagnostic for ``rule`` with the rule's severity."""
    return Diagnostic(path, line, col, rule, RULES[rule][0], message)
