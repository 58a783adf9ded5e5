"""hrsignal.risk (see the package docstring of hrsignal)."""
