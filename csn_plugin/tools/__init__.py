"""Command-line tools: ``python -m csn_plugin.tools.<name> --help``."""
