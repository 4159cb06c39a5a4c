"""Transformations Graph -> Graph: autodiff, fusion, simplification, memory planning. Imports only graphnn.ir."""
