"""Code the routes share, outside the routes folder (the article's ``lib/``)."""
