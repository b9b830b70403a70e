package dev.kvdecode.bindings;

/**
 * A native library (the CUDA driver, cuBLAS or the device emulator) could not be found or loaded.
 * The message is one line listing every place searched, e.g. {@code no CUDA driver found
 * (searched: $KVDECODE_CUDA_LIB (unset), /usr/local/cuda/lib64/libcuda.so.1 (absent), ...)}.
 */
public class NativeLibraryException extends RuntimeException {
    public NativeLibraryException(String message) { super(message); }
}
