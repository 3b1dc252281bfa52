"""The article's first samples: hello, a dynamic route, methods, middleware, errors."""
