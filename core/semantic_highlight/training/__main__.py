"""``python -m semantic_highlight.training`` — rebuild the default model end to end."""

from __future__ import annotations

import sys

from semantic_highlight.training.cli import main

if __name__ == "__main__":
    sys.exit(main())
