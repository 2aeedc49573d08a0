"""`python -m trayd` is the same as the `trayd` command."""
import sys

from trayd.cli import main

sys.exit(main())
