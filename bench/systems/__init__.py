"""One class per queue under test, all behind the ``System`` interface of ``base``."""
