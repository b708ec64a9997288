"""The package version, in a module of its own so that any layer can read it without importing texnet's API."""
__version__ = "0.1.0"
