"""Makes ``csn_reference`` (MMAction2's built-in class and BN helpers)
importable from the test modules in subfolders too."""
import os.path as osp
import sys

HERE = osp.dirname(osp.abspath(__file__))
if HERE not in sys.path:
    sys.path.insert(0, HERE)
