"""``hrsignal demo``: the whole chain on the bundled example organisation, in one command.

See :func:`hrsignal.demo.chain.run_demo` and docs/demo.md.
"""
