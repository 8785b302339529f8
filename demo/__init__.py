"""The demo: the bundled sample photos, demo accounts and ``rundemo``. Like ``config``, it may import every app."""
