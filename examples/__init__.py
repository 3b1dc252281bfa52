"""Runnable examples; each is served with ``gunicorn examples.NAME.wsgi:api``."""
