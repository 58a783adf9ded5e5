"""hrsignal.web (see the package docstring of hrsignal)."""
