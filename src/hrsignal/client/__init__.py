"""The Purview-compatible uploader: tokens, a retrying transport, resumable chunked uploads,
a connectivity doctor and a folder watcher.

The library entry point is :func:`hrsignal.client.uploader.upload_file`; the command line
(``hrsignal upload | doctor | watch``) lives in :mod:`hrsignal.client.commands`. See
``docs/uploader.md``.
"""
