"""``mim test csn_plugin CONFIG -C CHECKPOINT``: see
``csn_plugin/tools/test.py``."""
from csn_plugin.tools.test import main

if __name__ == '__main__':
    main()
