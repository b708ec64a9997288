"""`python -m texnet` is the `texnet` command."""
import sys

from .cli import main

sys.exit(main())
