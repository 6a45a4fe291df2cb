"""Command-line tools: ``python -m csn_plugin.tools.<name> --help``.

``train`` and ``test`` are also what ``mim train/test csn_plugin`` run.
"""
