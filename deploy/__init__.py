"""The many-hosts deployment: the app each host serves and its proxy's config."""
