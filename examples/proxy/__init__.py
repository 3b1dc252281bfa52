"""The article's "indirect proxy": external APIs behind API routes, keys kept server-side."""
