"""Offline q checker: catch what would break a cluster before anything is pushed.

Public API (the contract in docs/ARCHITECTURE.md):

- ``check_source(text, path="<cell>")``: one file on its own.
- ``check_bundle(files, init_script, args=None, cache=None)``: a whole bundle (zip-relative
  paths to bytes): every ``.q`` file, the init script and everything it loads (resolved like q,
  from ``/opt/kx/app/code``, following ``\\cd``), and the deployment's arguments. ``cache``, a
  ``cache.ReportCache``, keeps each file's findings on disk for the next process.
- ``check_dir(root, init_script, args=None, files=None)``: the same over a directory.
- ``defined_names(files, init_script)``: the globals the init script and what it loads define
  (the symbol table's names, e.g. for an editor's autocomplete).
- ``Diagnostic``, ``format_text``, ``format_json``, ``has_errors``; ``RULES`` lists every rule
  id with its severity and title.

Silencing a rule, in a q comment:

    x:a==b  / kxcheck: disable=Q010            this line only (several: Q010,Q030; or all)
    / kxcheck: disable-next-line=Q021          the line after the comment
    / kxcheck: disable-file=Q034               the whole file

Bundle-level findings about a file (a missing ``\\l`` target) obey that file's comments;
findings about the deployment's arguments are reported against ``<args>`` (line = the
argument's position, 1-based).
"""

from .bundle import check_bundle, check_dir, defined_names
from .diagnostic import Diagnostic, format_json, format_text, has_errors
from .rules import RULES
from .source import check_source, forget_lexed_files

__all__ = [
    "Diagnostic",
    "RULES",
    "check_bundle",
    "check_dir",
    "check_source",
    "defined_names",
    "forget_lexed_files",
    "format_json",
    "format_text",
    "has_errors",
]
