"""The article's samples as file-system routes: ``api.discover`` over ``api/``."""
