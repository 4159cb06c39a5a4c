"""Checkers: gradient checks against float64 finite differences, pass-by-pass validation, and numerics
debugging (naming the first non-finite node). User level: may import anything in graphnn."""
