"""Benchmarks comparing microapi with Falcon, Flask, Bottle, raw werkzeug and bare WSGI.

See ``benchmarks/README.md``; ``python -m benchmarks.inprocess`` runs the in-process one.
"""
