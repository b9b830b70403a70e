package dev.kvdecode.bindings;

/**
 * A CUDA driver or cuBLAS call returned an error status. The message is the call and the
 * symbolic name of the status, e.g. {@code cuMemAlloc: CUDA_ERROR_OUT_OF_MEMORY} or
 * {@code cublasGemmEx: CUBLAS_STATUS_INVALID_VALUE}.
 */
public class CudaException extends RuntimeException {
    private final String call;
    private final int status;
    private final String statusName;

    public CudaException(String call, int status, String statusName) {
        super(call + ": " + statusName);
        this.call = call;
        this.status = status;
        this.statusName = statusName;
    }

    /** The API call that failed, e.g. {@code cuMemAlloc}. */
    public String call() { return call; }

    /** The raw CUresult or cublasStatus_t value. */
    public int status() { return status; }

    /** The symbolic name, e.g. {@code CUDA_ERROR_OUT_OF_MEMORY}. */
    public String statusName() { return statusName; }
}
