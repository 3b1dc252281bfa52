"""The main demo: a todos CRUD API over SQLite or PostgreSQL (``make run``)."""
