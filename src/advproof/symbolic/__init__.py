"""Statements of the sources and their checks, one module per source (``cheng``, ...)."""
