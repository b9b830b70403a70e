package dev.kvdecode.bindings;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.lang.foreign.Linker;
import org.junit.jupiter.api.Test;

/** The checker's status-to-message mapping, without any CUDA library. */
class CudaCheckTest {
    @Test
    void successPasses() {
        CudaCheck.driver(null, "cuInit", 0);
        CudaCheck.cublas("cublasCreate", 0);
    }

    @Test
    void driverErrorsNameTheCallAndTheStatus() {
        CudaException e = assertThrows(CudaException.class, () -> CudaCheck.driver(null, "cuMemAlloc", 2));
        assertEquals("cuMemAlloc: CUDA_ERROR_OUT_OF_MEMORY", e.getMessage());
        assertEquals(2, e.status());
        assertEquals("cuMemAlloc", e.call());
        assertEquals("CUDA_ERROR_NO_DEVICE", assertThrows(CudaException.class, () -> CudaCheck.driver(null, "cuInit", 100)).statusName());
        assertEquals("cuX: CUresult 12345", assertThrows(CudaException.class, () -> CudaCheck.driver(null, "cuX", 12345)).getMessage());
    }

    @Test
    void cublasErrorsNameTheCallAndTheStatus() {
        assertEquals("cublasGemmEx: CUBLAS_STATUS_INVALID_VALUE",
                assertThrows(CudaException.class, () -> CudaCheck.cublas("cublasGemmEx", 7)).getMessage());
        assertEquals("cublasCreate: CUBLAS_STATUS_NOT_INITIALIZED",
                assertThrows(CudaException.class, () -> CudaCheck.cublas("cublasCreate", 1)).getMessage());
        assertEquals("cublasX: cublasStatus_t 99", assertThrows(CudaException.class, () -> CudaCheck.cublas("cublasX", 99)).getMessage());
    }

    @Test
    void aLibraryWithoutTheSymbolFailsOnlyWhenCalled() {
        // libc exports none of the driver's symbols: binding succeeds, each call names its symbol.
        CudaDriver d = new CudaDriver(Linker.nativeLinker().defaultLookup(), "libc");
        assertTrue(!d.has("cuInit"));
        UnsatisfiedLinkError e = assertThrows(UnsatisfiedLinkError.class, () -> d.cuInit(0));
        assertEquals("cuInit: symbol not exported by libc", e.getMessage());
        // the checker still names codes from its table when the driver cannot answer
        assertEquals("CUDA_ERROR_INVALID_VALUE", CudaCheck.driverStatusName(d, 1));
    }

    @Test
    void typedCallsReportTheApiNameWithoutTheAbiSuffix() {
        assertEquals("cuMemAlloc", CudaDriver.cuMemAlloc_v2.FN.apiName());
        assertEquals("cublasCreate", Cublas.cublasCreate_v2.FN.apiName());
        assertEquals("cuGraphInstantiateWithFlags", CudaDriver.cuGraphInstantiateWithFlags.FN.apiName());
    }
}
