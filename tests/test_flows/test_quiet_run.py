"""The stack's known harmless warnings where nothing filters them: ``mim``
itself prints the pkg_resources one, so that its absence from the
quickstart's output (tests/test_flows/test_quickstart.py) means something;
mmcv-lite's is gone even there, as MMAction2's tool imports mmcv's
transformer bricks first through the config's ``custom_imports``
(``import csn_plugin`` ignores it)."""
from csn_plugin.compat.quiet_warnings import KNOWN_HARMLESS


def test_unfiltered_mim_train(mim_trained):
    _, output = mim_trained
    pkg_resources, mmcv_lite = (item.message for item in KNOWN_HARMLESS)
    assert pkg_resources in output
    assert mmcv_lite not in output
