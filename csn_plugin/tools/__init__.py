"""Command-line tools: ``python -m csn_plugin.tools.<name> --help``.

``train`` and ``test`` are also what ``mim train/test csn_plugin`` run.
Importing this package hides the stack's known harmless warnings
(:mod:`csn_plugin.compat.quiet_warnings`).
"""
from csn_plugin.compat.quiet_warnings import filter_known_warnings

filter_known_warnings()
