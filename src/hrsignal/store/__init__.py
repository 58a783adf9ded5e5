"""hrsignal.store (see the package docstring of hrsignal)."""
