"""MCP server: highlighting and pruning as tools for any MCP client (``semantic-highlight mcp``).

``server.py`` builds the server around one loaded :class:`~semantic_highlight.SemanticHighlighter`
(tools ``highlight`` and ``prune``); ``cli.py`` parses the command line and runs it over stdio or
streamable HTTP. Importing this package does not import the ``mcp`` SDK: ``main`` reports a missing
``[mcp]`` extra as a clear error.
"""

from .cli import main

__all__ = ["main"]
