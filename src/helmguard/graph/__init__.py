"""References between objects (refs.py); install order lives beside it (order.py)."""
