"""microapi inside an existing Flask site, and a legacy WSGI app inside microapi."""
