"""The terminal quote board (``ertcloud board``); needs the ``tui`` extra (Textual)."""
