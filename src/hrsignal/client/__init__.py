"""hrsignal.client (see the package docstring of hrsignal)."""
