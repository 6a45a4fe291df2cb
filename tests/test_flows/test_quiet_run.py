"""The stack's known harmless warnings: present where nothing filters them,
so that their absence from the quickstart's and the plugin tools' output
(tests/test_flows/test_quickstart.py, test_extract_features.py) means
something."""
from csn_plugin.compat.quiet_warnings import KNOWN_HARMLESS


def test_unfiltered_mim_train_shows_them(mim_trained):
    _, output = mim_trained
    for item in KNOWN_HARMLESS:
        assert item.message in output, item.message
