"""`python -m cnn_tutorial ...` runs the command line; see `cnn_tutorial.cli`."""

import sys

from cnn_tutorial.cli import main

if __name__ == "__main__":
    sys.exit(main(prog="python -m cnn_tutorial"))
