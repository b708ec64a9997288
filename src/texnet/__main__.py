"""`python -m texnet` is the `texnet` command."""
import sys

from .apps.cli import main

sys.exit(main())
