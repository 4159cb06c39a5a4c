"""The float32 erfcx fit shared by the exact GELU's NumPy kernels (backends/numpy/special.py, nn_grads.py) and the
optional compiled ones (gelu_kernels.py), kept apart so that the compiled module needs nothing else. Imports nothing.
"""

# erfcx(z) = P(z) / Q(z) on [0, 10.5] for float32 evaluation (fit error 1.6e-7, float32 rounding adds ~3e-7),
# lowest power first; our own minimax fit (see special.py).
# erfcx(z) = P(z) / Q(z) on [0, 10.5] for float32 evaluation (fit error 1.6e-7, float32 rounding adds ~3e-7).
ERFCX32_P = (0.9999998422741901, 0.971887293576715, 0.43835471990489683, 0.08372623292713106, 1.486673515802607e-06)
ERFCX32_Q = (1.0, 2.100254564225862, 1.8083821002260705, 0.7755760604692516, 0.14849427208903526)
GELU_CLIP = 14.8  # |x| Φ(-|x|) is below float32's range beyond (and 14.8/√2 is inside the fit)
