"""`python -m cnn_tutorial.cli ...` runs the command line (as does `python -m cnn_tutorial`)."""

import sys

from cnn_tutorial.cli import main

if __name__ == "__main__":
    sys.exit(main(prog="python -m cnn_tutorial.cli"))
