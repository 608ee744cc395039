"""The store's environment variable, in a module light to import (the CLI's options read it)."""

ENV_VAR = "HELMGUARD_DB"  # the store URL or SQLite path when --db is not given
