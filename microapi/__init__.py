"""microapi: a fast, decorator-based WSGI micro-framework for JSON APIs.

Next.js API Routes' ``handler(req, res)`` in Python, on werkzeug::

    from microapi import Api

    api = Api()

    @api.route("/api/hello")
    def hello(req, res):
        res.status(200).json({"message": "Hello API!"})
"""

from .app import Api as Api
from .errors import HTTPError as HTTPError
from .request import Request as Request
from .response import Res as Res
from .routing import Route as Route
from .routing import Router as Router

__version__ = "0.1.0.dev0"

__all__ = ["Api", "HTTPError", "Request", "Res", "Route", "Router", "__version__"]
