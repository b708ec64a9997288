"""Moved to texnet.hparams (one table for every layer); this name stays for the configs that import it."""
from texnet.hparams import *  # noqa: F401,F403
