"""The `graphnn` command line (export, check, viz). User level: may import anything in graphnn."""

from .main import main

__all__ = ["main"]
