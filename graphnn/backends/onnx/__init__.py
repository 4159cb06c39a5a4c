"""ONNX translation: the lowering table and exporter, preflight, importer and an onnx.backend adapter.
The user-level entry points are in graphnn/onnx.py (`gn.onnx`).
"""
