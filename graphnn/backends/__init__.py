"""Execution and translation: the shared planner/executor, NumPy and CuPy kernel tables, ONNX export."""
