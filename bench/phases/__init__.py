"""One module per phase; each returns plain dicts that run.py writes into the results."""
