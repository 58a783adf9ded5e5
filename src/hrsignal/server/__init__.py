"""hrsignal.server (see the package docstring of hrsignal)."""
