"""``mim train csn_plugin CONFIG``: see ``csn_plugin/tools/train.py``."""
from csn_plugin.tools.train import main

if __name__ == '__main__':
    main()
