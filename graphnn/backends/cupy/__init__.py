"""The CuPy (GPU) backend: kernel tables, CUDA source generation, device mirrors of parameter storage."""
