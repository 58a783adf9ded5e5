"""hrsignal: a self-hostable HR data connector for insider risk management.

The package is split by domain: :mod:`hrsignal.scenarios` (HR schemas and the streaming
validator shared by every other part), :mod:`hrsignal.client` (the Purview-compatible
uploader), :mod:`hrsignal.server` and :mod:`hrsignal.store` (the self-hosted connector
service), :mod:`hrsignal.risk` (departing-user policies) and :mod:`hrsignal.web`
(the dashboard). :mod:`hrsignal.cli` is a thin command-line layer over them.
"""

__version__ = "0.1.0"
