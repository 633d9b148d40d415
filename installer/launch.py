"""The frozen app's entry: the same `main` as the `stemscope` command (no arguments: the demo)."""

import sys

from plugin.cli import main

if __name__ == "__main__":
    sys.exit(main())
