package dev.kvdecode.bindings;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.util.Map;

/**
 * The one checker every CUresult and cublasStatus_t goes through (STYLE.md, "Errors"): success
 * passes, anything else becomes a {@link CudaException} naming the call and the status.
 *
 * <p>Driver codes are named by the driver itself ({@code cuGetErrorName}), so codes added by a
 * newer driver are still named; a small table of the codes we expect covers the case where the
 * driver cannot answer (not loaded yet, or it does not know the code). cuBLAS has no such call
 * for all versions we support (cublasGetStatusName exists since 11.4 but we do not want to depend
 * on it while reporting its own failures), so its statuses come from a table copied from the
 * {@code cublasStatus_t} enum in cublas_api.h.
 */
public final class CudaCheck {
    private CudaCheck() {}

    public static final int CUDA_SUCCESS = 0;
    public static final int CUBLAS_STATUS_SUCCESS = 0;

    /** Fallback names for the driver codes we can meet (cuda.h, enum cudaError_enum). */
    private static final Map<Integer, String> DRIVER_NAMES = Map.ofEntries(
            Map.entry(0, "CUDA_SUCCESS"),
            Map.entry(1, "CUDA_ERROR_INVALID_VALUE"),
            Map.entry(2, "CUDA_ERROR_OUT_OF_MEMORY"),
            Map.entry(3, "CUDA_ERROR_NOT_INITIALIZED"),
            Map.entry(4, "CUDA_ERROR_DEINITIALIZED"),
            Map.entry(34, "CUDA_ERROR_STUB_LIBRARY"),
            Map.entry(100, "CUDA_ERROR_NO_DEVICE"),
            Map.entry(101, "CUDA_ERROR_INVALID_DEVICE"),
            Map.entry(200, "CUDA_ERROR_INVALID_IMAGE"),
            Map.entry(201, "CUDA_ERROR_INVALID_CONTEXT"),
            Map.entry(209, "CUDA_ERROR_NO_BINARY_FOR_GPU"),
            Map.entry(218, "CUDA_ERROR_INVALID_PTX"),
            Map.entry(222, "CUDA_ERROR_UNSUPPORTED_PTX_VERSION"),
            Map.entry(400, "CUDA_ERROR_INVALID_HANDLE"),
            Map.entry(500, "CUDA_ERROR_NOT_FOUND"),
            Map.entry(600, "CUDA_ERROR_NOT_READY"),
            Map.entry(700, "CUDA_ERROR_ILLEGAL_ADDRESS"),
            Map.entry(701, "CUDA_ERROR_LAUNCH_OUT_OF_RESOURCES"),
            Map.entry(702, "CUDA_ERROR_LAUNCH_TIMEOUT"),
            Map.entry(719, "CUDA_ERROR_LAUNCH_FAILED"),
            Map.entry(801, "CUDA_ERROR_NOT_SUPPORTED"),
            Map.entry(900, "CUDA_ERROR_STREAM_CAPTURE_UNSUPPORTED"),
            Map.entry(901, "CUDA_ERROR_STREAM_CAPTURE_INVALIDATED"),
            Map.entry(903, "CUDA_ERROR_STREAM_CAPTURE_UNMATCHED"),
            Map.entry(904, "CUDA_ERROR_STREAM_CAPTURE_UNJOINED"),
            Map.entry(906, "CUDA_ERROR_STREAM_CAPTURE_IMPLICIT"),
            Map.entry(999, "CUDA_ERROR_UNKNOWN"));

    /** cublas_api.h, enum cublasStatus_t (complete as of cuBLAS 13.1). */
    private static final Map<Integer, String> CUBLAS_NAMES = Map.of(
            0, "CUBLAS_STATUS_SUCCESS",
            1, "CUBLAS_STATUS_NOT_INITIALIZED",
            3, "CUBLAS_STATUS_ALLOC_FAILED",
            7, "CUBLAS_STATUS_INVALID_VALUE",
            8, "CUBLAS_STATUS_ARCH_MISMATCH",
            11, "CUBLAS_STATUS_MAPPING_ERROR",
            13, "CUBLAS_STATUS_EXECUTION_FAILED",
            14, "CUBLAS_STATUS_INTERNAL_ERROR",
            15, "CUBLAS_STATUS_NOT_SUPPORTED",
            16, "CUBLAS_STATUS_LICENSE_ERROR");

    /** Throws unless {@code status} is CUDA_SUCCESS; {@code driver} names the code (may be null). */
    public static void driver(CudaDriver driver, String call, int status) {
        if (status != CUDA_SUCCESS) throw new CudaException(call, status, driverStatusName(driver, status));
    }

    /** Throws unless {@code status} is CUBLAS_STATUS_SUCCESS. */
    public static void cublas(String call, int status) {
        if (status != CUBLAS_STATUS_SUCCESS) throw new CudaException(call, status, cublasStatusName(status));
    }

    /** The symbolic name of a CUresult: the driver's own answer, else our table, else "CUresult N". */
    public static String driverStatusName(CudaDriver driver, int status) {
        if (driver != null) {
            try (Arena arena = Arena.ofConfined()) {
                MemorySegment out = arena.allocate(ValueLayout.ADDRESS);
                if (driver.cuGetErrorNameStatus(status, out) == CUDA_SUCCESS) {
                    MemorySegment str = out.get(ValueLayout.ADDRESS, 0);
                    if (!str.equals(MemorySegment.NULL)) return str.reinterpret(256).getString(0);
                }
            } catch (UnsatisfiedLinkError ignored) {
                // a library without cuGetErrorName: fall back to the table below
            }
        }
        String name = DRIVER_NAMES.get(status);
        return name != null ? name : "CUresult " + status;
    }

    /** The symbolic name of a cublasStatus_t, else "cublasStatus_t N". */
    public static String cublasStatusName(int status) {
        String name = CUBLAS_NAMES.get(status);
        return name != null ? name : "cublasStatus_t " + status;
    }
}
