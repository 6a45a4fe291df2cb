"""Command-line tools: ``python -m csn_plugin.tools.<name>``.

``train`` and ``test`` are also what ``mim train/test csn_plugin`` run (the
repository's ``tools/*.py`` wrappers, shipped in ``csn_plugin/.mim/tools``).
"""
