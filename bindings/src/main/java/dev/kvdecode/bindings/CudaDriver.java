package dev.kvdecode.bindings;

import static java.lang.foreign.ValueLayout.ADDRESS;
import static java.lang.foreign.ValueLayout.JAVA_BYTE;
import static java.lang.foreign.ValueLayout.JAVA_FLOAT;
import static java.lang.foreign.ValueLayout.JAVA_INT;
import static java.lang.foreign.ValueLayout.JAVA_LONG;

import java.lang.foreign.FunctionDescriptor;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.SymbolLookup;
import java.lang.invoke.MethodHandle;
import java.util.List;

/**
 * The CUDA driver API subset kvdecode uses (cuda.h, CUDA 13), hand-written in jextract's style:
 * one nested holder per C function with its exported symbol, the prototype quoted from cuda.h
 * and the {@link FunctionDescriptor}; an instance binds them to one library (the real libcuda.so.1
 * or the device emulator, which exports the same symbols with the same signatures).
 *
 * <p>Symbol names are the ones cuda.h's macros map the API names to ({@code cuMemAlloc} ->
 * {@code cuMemAlloc_v2}, {@code cuGraphInstantiate} -> {@code cuGraphInstantiateWithFlags}, ...):
 * binding the unversioned name would silently call a legacy ABI. scripts/check-prototypes.sh
 * proves each prototype against the header and fails if a bound name is still a macro there.
 *
 * <p>Each call returns nothing and throws {@link CudaException} ("cuMemAlloc:
 * CUDA_ERROR_OUT_OF_MEMORY") unless it succeeds; a few also have a {@code ...Status} form that
 * returns the raw CUresult for callers that expect certain failures. Out-parameters are
 * {@link MemorySegment}s the caller allocates in its {@link java.lang.foreign.Arena}; device
 * pointers ({@code CUdeviceptr}) are plain {@code long}s, never segments (the host must not
 * dereference them), and are owned by {@link DeviceBuffer}.
 */
@SuppressWarnings("unused")
public final class CudaDriver {

    // ---- one holder per C function: symbol, quoted prototype, descriptor (checked by PrototypeCheck) ----

    /**
     * Initializes the driver API; must precede any other driver call.
     * {@snippet lang=c :
     * CUresult cuInit(unsigned int Flags);
     * }
     */
    public static final class cuInit {
        private cuInit() {}
        public static final NativeFunction FN = new NativeFunction("cuInit",
                "CUresult cuInit(unsigned int Flags)",
                FunctionDescriptor.of(JAVA_INT, JAVA_INT));
    }
    /**
     * The CUDA version the installed driver supports, e.g. 13000.
     * {@snippet lang=c :
     * CUresult cuDriverGetVersion(int *driverVersion);
     * }
     */
    public static final class cuDriverGetVersion {
        private cuDriverGetVersion() {}
        public static final NativeFunction FN = new NativeFunction("cuDriverGetVersion",
                "CUresult cuDriverGetVersion(int *driverVersion)",
                FunctionDescriptor.of(JAVA_INT, ADDRESS));
    }
    /**
     * The enum name of a CUresult, e.g. "CUDA_ERROR_OUT_OF_MEMORY".
     * {@snippet lang=c :
     * CUresult cuGetErrorName(CUresult error, const char **pStr);
     * }
     */
    public static final class cuGetErrorName {
        private cuGetErrorName() {}
        public static final NativeFunction FN = new NativeFunction("cuGetErrorName",
                "CUresult cuGetErrorName(CUresult error, const char **pStr)",
                FunctionDescriptor.of(JAVA_INT, JAVA_INT, ADDRESS));
    }
    /**
     * The description of a CUresult.
     * {@snippet lang=c :
     * CUresult cuGetErrorString(CUresult error, const char **pStr);
     * }
     */
    public static final class cuGetErrorString {
        private cuGetErrorString() {}
        public static final NativeFunction FN = new NativeFunction("cuGetErrorString",
                "CUresult cuGetErrorString(CUresult error, const char **pStr)",
                FunctionDescriptor.of(JAVA_INT, JAVA_INT, ADDRESS));
    }
    /**
     * The number of CUDA devices.
     * {@snippet lang=c :
     * CUresult cuDeviceGetCount(int *count);
     * }
     */
    public static final class cuDeviceGetCount {
        private cuDeviceGetCount() {}
        public static final NativeFunction FN = new NativeFunction("cuDeviceGetCount",
                "CUresult cuDeviceGetCount(int *count)",
                FunctionDescriptor.of(JAVA_INT, ADDRESS));
    }
    /**
     * The device handle of an ordinal.
     * {@snippet lang=c :
     * CUresult cuDeviceGet(CUdevice *device, int ordinal);
     * }
     */
    public static final class cuDeviceGet {
        private cuDeviceGet() {}
        public static final NativeFunction FN = new NativeFunction("cuDeviceGet",
                "CUresult cuDeviceGet(CUdevice *device, int ordinal)",
                FunctionDescriptor.of(JAVA_INT, ADDRESS, JAVA_INT));
    }
    /**
     * The device's marketing name, NUL-terminated.
     * {@snippet lang=c :
     * CUresult cuDeviceGetName(char *name, int len, CUdevice dev);
     * }
     */
    public static final class cuDeviceGetName {
        private cuDeviceGetName() {}
        public static final NativeFunction FN = new NativeFunction("cuDeviceGetName",
                "CUresult cuDeviceGetName(char *name, int len, CUdevice dev)",
                FunctionDescriptor.of(JAVA_INT, ADDRESS, JAVA_INT, JAVA_INT));
    }
    /**
     * One device attribute (compute capability, limits).
     * {@snippet lang=c :
     * CUresult cuDeviceGetAttribute(int *pi, CUdevice_attribute attrib, CUdevice dev);
     * }
     */
    public static final class cuDeviceGetAttribute {
        private cuDeviceGetAttribute() {}
        public static final NativeFunction FN = new NativeFunction("cuDeviceGetAttribute",
                "CUresult cuDeviceGetAttribute(int *pi, CUdevice_attribute attrib, CUdevice dev)",
                FunctionDescriptor.of(JAVA_INT, ADDRESS, JAVA_INT, JAVA_INT));
    }
    /**
     * Total device memory; cuda.h maps cuDeviceTotalMem here.
     * {@snippet lang=c :
     * CUresult cuDeviceTotalMem_v2(size_t *bytes, CUdevice dev);
     * }
     */
    public static final class cuDeviceTotalMem_v2 {
        private cuDeviceTotalMem_v2() {}
        public static final NativeFunction FN = new NativeFunction("cuDeviceTotalMem_v2",
                "CUresult cuDeviceTotalMem_v2(size_t *bytes, CUdevice dev)",
                FunctionDescriptor.of(JAVA_INT, ADDRESS, JAVA_INT));
    }
    /**
     * Retains the device's primary context (the one the runtime API shares).
     * {@snippet lang=c :
     * CUresult cuDevicePrimaryCtxRetain(CUcontext *pctx, CUdevice dev);
     * }
     */
    public static final class cuDevicePrimaryCtxRetain {
        private cuDevicePrimaryCtxRetain() {}
        public static final NativeFunction FN = new NativeFunction("cuDevicePrimaryCtxRetain",
                "CUresult cuDevicePrimaryCtxRetain(CUcontext *pctx, CUdevice dev)",
                FunctionDescriptor.of(JAVA_INT, ADDRESS, JAVA_INT));
    }
    /**
     * Releases the primary context; cuda.h maps cuDevicePrimaryCtxRelease here.
     * {@snippet lang=c :
     * CUresult cuDevicePrimaryCtxRelease_v2(CUdevice dev);
     * }
     */
    public static final class cuDevicePrimaryCtxRelease_v2 {
        private cuDevicePrimaryCtxRelease_v2() {}
        public static final NativeFunction FN = new NativeFunction("cuDevicePrimaryCtxRelease_v2",
                "CUresult cuDevicePrimaryCtxRelease_v2(CUdevice dev)",
                FunctionDescriptor.of(JAVA_INT, JAVA_INT));
    }
    /**
     * Binds a context to the calling thread.
     * {@snippet lang=c :
     * CUresult cuCtxSetCurrent(CUcontext ctx);
     * }
     */
    public static final class cuCtxSetCurrent {
        private cuCtxSetCurrent() {}
        public static final NativeFunction FN = new NativeFunction("cuCtxSetCurrent",
                "CUresult cuCtxSetCurrent(CUcontext ctx)",
                FunctionDescriptor.of(JAVA_INT, ADDRESS));
    }
    /**
     * The context bound to the calling thread.
     * {@snippet lang=c :
     * CUresult cuCtxGetCurrent(CUcontext *pctx);
     * }
     */
    public static final class cuCtxGetCurrent {
        private cuCtxGetCurrent() {}
        public static final NativeFunction FN = new NativeFunction("cuCtxGetCurrent",
                "CUresult cuCtxGetCurrent(CUcontext *pctx)",
                FunctionDescriptor.of(JAVA_INT, ADDRESS));
    }
    /**
     * Waits for all work in the current context.
     * {@snippet lang=c :
     * CUresult cuCtxSynchronize(void);
     * }
     */
    public static final class cuCtxSynchronize {
        private cuCtxSynchronize() {}
        public static final NativeFunction FN = new NativeFunction("cuCtxSynchronize",
                "CUresult cuCtxSynchronize(void)",
                FunctionDescriptor.of(JAVA_INT));
    }
    /**
     * Free and total device memory; cuda.h maps cuMemGetInfo here.
     * {@snippet lang=c :
     * CUresult cuMemGetInfo_v2(size_t *free, size_t *total);
     * }
     */
    public static final class cuMemGetInfo_v2 {
        private cuMemGetInfo_v2() {}
        public static final NativeFunction FN = new NativeFunction("cuMemGetInfo_v2",
                "CUresult cuMemGetInfo_v2(size_t *free, size_t *total)",
                FunctionDescriptor.of(JAVA_INT, ADDRESS, ADDRESS));
    }
    /**
     * Allocates device memory; cuda.h maps cuMemAlloc here.
     * {@snippet lang=c :
     * CUresult cuMemAlloc_v2(CUdeviceptr *dptr, size_t bytesize);
     * }
     */
    public static final class cuMemAlloc_v2 {
        private cuMemAlloc_v2() {}
        public static final NativeFunction FN = new NativeFunction("cuMemAlloc_v2",
                "CUresult cuMemAlloc_v2(CUdeviceptr *dptr, size_t bytesize)",
                FunctionDescriptor.of(JAVA_INT, ADDRESS, JAVA_LONG));
    }
    /**
     * Frees device memory; cuda.h maps cuMemFree here.
     * {@snippet lang=c :
     * CUresult cuMemFree_v2(CUdeviceptr dptr);
     * }
     */
    public static final class cuMemFree_v2 {
        private cuMemFree_v2() {}
        public static final NativeFunction FN = new NativeFunction("cuMemFree_v2",
                "CUresult cuMemFree_v2(CUdeviceptr dptr)",
                FunctionDescriptor.of(JAVA_INT, JAVA_LONG));
    }
    /**
     * Allocates page-locked host memory (for async copies).
     * {@snippet lang=c :
     * CUresult cuMemHostAlloc(void **pp, size_t bytesize, unsigned int Flags);
     * }
     */
    public static final class cuMemHostAlloc {
        private cuMemHostAlloc() {}
        public static final NativeFunction FN = new NativeFunction("cuMemHostAlloc",
                "CUresult cuMemHostAlloc(void **pp, size_t bytesize, unsigned int Flags)",
                FunctionDescriptor.of(JAVA_INT, ADDRESS, JAVA_LONG, JAVA_INT));
    }
    /**
     * Frees page-locked host memory.
     * {@snippet lang=c :
     * CUresult cuMemFreeHost(void *p);
     * }
     */
    public static final class cuMemFreeHost {
        private cuMemFreeHost() {}
        public static final NativeFunction FN = new NativeFunction("cuMemFreeHost",
                "CUresult cuMemFreeHost(void *p)",
                FunctionDescriptor.of(JAVA_INT, ADDRESS));
    }
    /**
     * Synchronous host-to-device copy.
     * {@snippet lang=c :
     * CUresult cuMemcpyHtoD_v2(CUdeviceptr dstDevice, const void *srcHost, size_t ByteCount);
     * }
     */
    public static final class cuMemcpyHtoD_v2 {
        private cuMemcpyHtoD_v2() {}
        public static final NativeFunction FN = new NativeFunction("cuMemcpyHtoD_v2",
                "CUresult cuMemcpyHtoD_v2(CUdeviceptr dstDevice, const void *srcHost, size_t ByteCount)",
                FunctionDescriptor.of(JAVA_INT, JAVA_LONG, ADDRESS, JAVA_LONG));
    }
    /**
     * Synchronous device-to-host copy.
     * {@snippet lang=c :
     * CUresult cuMemcpyDtoH_v2(void *dstHost, CUdeviceptr srcDevice, size_t ByteCount);
     * }
     */
    public static final class cuMemcpyDtoH_v2 {
        private cuMemcpyDtoH_v2() {}
        public static final NativeFunction FN = new NativeFunction("cuMemcpyDtoH_v2",
                "CUresult cuMemcpyDtoH_v2(void *dstHost, CUdeviceptr srcDevice, size_t ByteCount)",
                FunctionDescriptor.of(JAVA_INT, ADDRESS, JAVA_LONG, JAVA_LONG));
    }
    /**
     * Host-to-device copy queued on a stream.
     * {@snippet lang=c :
     * CUresult cuMemcpyHtoDAsync_v2(CUdeviceptr dstDevice, const void *srcHost, size_t ByteCount, CUstream hStream);
     * }
     */
    public static final class cuMemcpyHtoDAsync_v2 {
        private cuMemcpyHtoDAsync_v2() {}
        public static final NativeFunction FN = new NativeFunction("cuMemcpyHtoDAsync_v2",
                "CUresult cuMemcpyHtoDAsync_v2(CUdeviceptr dstDevice, const void *srcHost, size_t ByteCount, CUstream hStream)",
                FunctionDescriptor.of(JAVA_INT, JAVA_LONG, ADDRESS, JAVA_LONG, ADDRESS));
    }
    /**
     * Device-to-host copy queued on a stream.
     * {@snippet lang=c :
     * CUresult cuMemcpyDtoHAsync_v2(void *dstHost, CUdeviceptr srcDevice, size_t ByteCount, CUstream hStream);
     * }
     */
    public static final class cuMemcpyDtoHAsync_v2 {
        private cuMemcpyDtoHAsync_v2() {}
        public static final NativeFunction FN = new NativeFunction("cuMemcpyDtoHAsync_v2",
                "CUresult cuMemcpyDtoHAsync_v2(void *dstHost, CUdeviceptr srcDevice, size_t ByteCount, CUstream hStream)",
                FunctionDescriptor.of(JAVA_INT, ADDRESS, JAVA_LONG, JAVA_LONG, ADDRESS));
    }
    /**
     * Device-to-device copy queued on a stream.
     * {@snippet lang=c :
     * CUresult cuMemcpyDtoDAsync_v2(CUdeviceptr dstDevice, CUdeviceptr srcDevice, size_t ByteCount, CUstream hStream);
     * }
     */
    public static final class cuMemcpyDtoDAsync_v2 {
        private cuMemcpyDtoDAsync_v2() {}
        public static final NativeFunction FN = new NativeFunction("cuMemcpyDtoDAsync_v2",
                "CUresult cuMemcpyDtoDAsync_v2(CUdeviceptr dstDevice, CUdeviceptr srcDevice, size_t ByteCount, CUstream hStream)",
                FunctionDescriptor.of(JAVA_INT, JAVA_LONG, JAVA_LONG, JAVA_LONG, ADDRESS));
    }
    /**
     * Sets N bytes, queued on a stream.
     * {@snippet lang=c :
     * CUresult cuMemsetD8Async(CUdeviceptr dstDevice, unsigned char uc, size_t N, CUstream hStream);
     * }
     */
    public static final class cuMemsetD8Async {
        private cuMemsetD8Async() {}
        public static final NativeFunction FN = new NativeFunction("cuMemsetD8Async",
                "CUresult cuMemsetD8Async(CUdeviceptr dstDevice, unsigned char uc, size_t N, CUstream hStream)",
                FunctionDescriptor.of(JAVA_INT, JAVA_LONG, JAVA_BYTE, JAVA_LONG, ADDRESS));
    }
    /**
     * Sets N 32-bit words, queued on a stream.
     * {@snippet lang=c :
     * CUresult cuMemsetD32Async(CUdeviceptr dstDevice, unsigned int ui, size_t N, CUstream hStream);
     * }
     */
    public static final class cuMemsetD32Async {
        private cuMemsetD32Async() {}
        public static final NativeFunction FN = new NativeFunction("cuMemsetD32Async",
                "CUresult cuMemsetD32Async(CUdeviceptr dstDevice, unsigned int ui, size_t N, CUstream hStream)",
                FunctionDescriptor.of(JAVA_INT, JAVA_LONG, JAVA_INT, JAVA_LONG, ADDRESS));
    }
    /**
     * Creates a stream.
     * {@snippet lang=c :
     * CUresult cuStreamCreate(CUstream *phStream, unsigned int Flags);
     * }
     */
    public static final class cuStreamCreate {
        private cuStreamCreate() {}
        public static final NativeFunction FN = new NativeFunction("cuStreamCreate",
                "CUresult cuStreamCreate(CUstream *phStream, unsigned int Flags)",
                FunctionDescriptor.of(JAVA_INT, ADDRESS, JAVA_INT));
    }
    /**
     * Destroys a stream; cuda.h maps cuStreamDestroy here.
     * {@snippet lang=c :
     * CUresult cuStreamDestroy_v2(CUstream hStream);
     * }
     */
    public static final class cuStreamDestroy_v2 {
        private cuStreamDestroy_v2() {}
        public static final NativeFunction FN = new NativeFunction("cuStreamDestroy_v2",
                "CUresult cuStreamDestroy_v2(CUstream hStream)",
                FunctionDescriptor.of(JAVA_INT, ADDRESS));
    }
    /**
     * Waits for a stream's work.
     * {@snippet lang=c :
     * CUresult cuStreamSynchronize(CUstream hStream);
     * }
     */
    public static final class cuStreamSynchronize {
        private cuStreamSynchronize() {}
        public static final NativeFunction FN = new NativeFunction("cuStreamSynchronize",
                "CUresult cuStreamSynchronize(CUstream hStream)",
                FunctionDescriptor.of(JAVA_INT, ADDRESS));
    }
    /**
     * Starts recording a stream's work into a graph; cuda.h maps cuStreamBeginCapture here.
     * {@snippet lang=c :
     * CUresult cuStreamBeginCapture_v2(CUstream hStream, CUstreamCaptureMode mode);
     * }
     */
    public static final class cuStreamBeginCapture_v2 {
        private cuStreamBeginCapture_v2() {}
        public static final NativeFunction FN = new NativeFunction("cuStreamBeginCapture_v2",
                "CUresult cuStreamBeginCapture_v2(CUstream hStream, CUstreamCaptureMode mode)",
                FunctionDescriptor.of(JAVA_INT, ADDRESS, JAVA_INT));
    }
    /**
     * Ends capture and returns the recorded graph.
     * {@snippet lang=c :
     * CUresult cuStreamEndCapture(CUstream hStream, CUgraph *phGraph);
     * }
     */
    public static final class cuStreamEndCapture {
        private cuStreamEndCapture() {}
        public static final NativeFunction FN = new NativeFunction("cuStreamEndCapture",
                "CUresult cuStreamEndCapture(CUstream hStream, CUgraph *phGraph)",
                FunctionDescriptor.of(JAVA_INT, ADDRESS, ADDRESS));
    }
    /**
     * Whether a stream is capturing.
     * {@snippet lang=c :
     * CUresult cuStreamIsCapturing(CUstream hStream, CUstreamCaptureStatus *captureStatus);
     * }
     */
    public static final class cuStreamIsCapturing {
        private cuStreamIsCapturing() {}
        public static final NativeFunction FN = new NativeFunction("cuStreamIsCapturing",
                "CUresult cuStreamIsCapturing(CUstream hStream, CUstreamCaptureStatus *captureStatus)",
                FunctionDescriptor.of(JAVA_INT, ADDRESS, ADDRESS));
    }
    /**
     * Creates an event.
     * {@snippet lang=c :
     * CUresult cuEventCreate(CUevent *phEvent, unsigned int Flags);
     * }
     */
    public static final class cuEventCreate {
        private cuEventCreate() {}
        public static final NativeFunction FN = new NativeFunction("cuEventCreate",
                "CUresult cuEventCreate(CUevent *phEvent, unsigned int Flags)",
                FunctionDescriptor.of(JAVA_INT, ADDRESS, JAVA_INT));
    }
    /**
     * Destroys an event; cuda.h maps cuEventDestroy here.
     * {@snippet lang=c :
     * CUresult cuEventDestroy_v2(CUevent hEvent);
     * }
     */
    public static final class cuEventDestroy_v2 {
        private cuEventDestroy_v2() {}
        public static final NativeFunction FN = new NativeFunction("cuEventDestroy_v2",
                "CUresult cuEventDestroy_v2(CUevent hEvent)",
                FunctionDescriptor.of(JAVA_INT, ADDRESS));
    }
    /**
     * Records an event on a stream.
     * {@snippet lang=c :
     * CUresult cuEventRecord(CUevent hEvent, CUstream hStream);
     * }
     */
    public static final class cuEventRecord {
        private cuEventRecord() {}
        public static final NativeFunction FN = new NativeFunction("cuEventRecord",
                "CUresult cuEventRecord(CUevent hEvent, CUstream hStream)",
                FunctionDescriptor.of(JAVA_INT, ADDRESS, ADDRESS));
    }
    /**
     * Waits for an event.
     * {@snippet lang=c :
     * CUresult cuEventSynchronize(CUevent hEvent);
     * }
     */
    public static final class cuEventSynchronize {
        private cuEventSynchronize() {}
        public static final NativeFunction FN = new NativeFunction("cuEventSynchronize",
                "CUresult cuEventSynchronize(CUevent hEvent)",
                FunctionDescriptor.of(JAVA_INT, ADDRESS));
    }
    /**
     * Milliseconds between two recorded events; cuda.h maps cuEventElapsedTime here.
     * {@snippet lang=c :
     * CUresult cuEventElapsedTime_v2(float *pMilliseconds, CUevent hStart, CUevent hEnd);
     * }
     */
    public static final class cuEventElapsedTime_v2 {
        private cuEventElapsedTime_v2() {}
        public static final NativeFunction FN = new NativeFunction("cuEventElapsedTime_v2",
                "CUresult cuEventElapsedTime_v2(float *pMilliseconds, CUevent hStart, CUevent hEnd)",
                FunctionDescriptor.of(JAVA_INT, ADDRESS, ADDRESS, ADDRESS));
    }
    /**
     * Loads a module from a fatbin/cubin/PTX image in host memory.
     * {@snippet lang=c :
     * CUresult cuModuleLoadData(CUmodule *module, const void *image);
     * }
     */
    public static final class cuModuleLoadData {
        private cuModuleLoadData() {}
        public static final NativeFunction FN = new NativeFunction("cuModuleLoadData",
                "CUresult cuModuleLoadData(CUmodule *module, const void *image)",
                FunctionDescriptor.of(JAVA_INT, ADDRESS, ADDRESS));
    }
    /**
     * Unloads a module.
     * {@snippet lang=c :
     * CUresult cuModuleUnload(CUmodule hmod);
     * }
     */
    public static final class cuModuleUnload {
        private cuModuleUnload() {}
        public static final NativeFunction FN = new NativeFunction("cuModuleUnload",
                "CUresult cuModuleUnload(CUmodule hmod)",
                FunctionDescriptor.of(JAVA_INT, ADDRESS));
    }
    /**
     * Finds a kernel by its (extern "C") name.
     * {@snippet lang=c :
     * CUresult cuModuleGetFunction(CUfunction *hfunc, CUmodule hmod, const char *name);
     * }
     */
    public static final class cuModuleGetFunction {
        private cuModuleGetFunction() {}
        public static final NativeFunction FN = new NativeFunction("cuModuleGetFunction",
                "CUresult cuModuleGetFunction(CUfunction *hfunc, CUmodule hmod, const char *name)",
                FunctionDescriptor.of(JAVA_INT, ADDRESS, ADDRESS, ADDRESS));
    }
    /**
     * Offset and size of a kernel parameter (CUDA 12.4+); CUDA_ERROR_INVALID_VALUE past the last one.
     * {@snippet lang=c :
     * CUresult cuFuncGetParamInfo(CUfunction func, size_t paramIndex, size_t *paramOffset, size_t *paramSize);
     * }
     */
    public static final class cuFuncGetParamInfo {
        private cuFuncGetParamInfo() {}
        public static final NativeFunction FN = new NativeFunction("cuFuncGetParamInfo",
                "CUresult cuFuncGetParamInfo(CUfunction func, size_t paramIndex, size_t *paramOffset, size_t *paramSize)",
                FunctionDescriptor.of(JAVA_INT, ADDRESS, JAVA_LONG, ADDRESS, ADDRESS));
    }
    /**
     * One kernel attribute (max threads per block, registers, ...).
     * {@snippet lang=c :
     * CUresult cuFuncGetAttribute(int *pi, CUfunction_attribute attrib, CUfunction hfunc);
     * }
     */
    public static final class cuFuncGetAttribute {
        private cuFuncGetAttribute() {}
        public static final NativeFunction FN = new NativeFunction("cuFuncGetAttribute",
                "CUresult cuFuncGetAttribute(int *pi, CUfunction_attribute attrib, CUfunction hfunc)",
                FunctionDescriptor.of(JAVA_INT, ADDRESS, JAVA_INT, ADDRESS));
    }
    /**
     * Sets a kernel attribute (e.g. the dynamic shared memory limit).
     * {@snippet lang=c :
     * CUresult cuFuncSetAttribute(CUfunction hfunc, CUfunction_attribute attrib, int value);
     * }
     */
    public static final class cuFuncSetAttribute {
        private cuFuncSetAttribute() {}
        public static final NativeFunction FN = new NativeFunction("cuFuncSetAttribute",
                "CUresult cuFuncSetAttribute(CUfunction hfunc, CUfunction_attribute attrib, int value)",
                FunctionDescriptor.of(JAVA_INT, ADDRESS, JAVA_INT, JAVA_INT));
    }
    /**
     * Queues a kernel launch; kernelParams points to one pointer per parameter.
     * {@snippet lang=c :
     * CUresult cuLaunchKernel(CUfunction f, unsigned int gridDimX, unsigned int gridDimY, unsigned int gridDimZ, unsigned int blockDimX, unsigned int blockDimY, unsigned int blockDimZ, unsigned int sharedMemBytes, CUstream hStream, void **kernelParams, void **extra);
     * }
     */
    public static final class cuLaunchKernel {
        private cuLaunchKernel() {}
        public static final NativeFunction FN = new NativeFunction("cuLaunchKernel",
                "CUresult cuLaunchKernel(CUfunction f, unsigned int gridDimX, unsigned int gridDimY, unsigned int gridDimZ, unsigned int blockDimX, unsigned int blockDimY, unsigned int blockDimZ, unsigned int sharedMemBytes, CUstream hStream, void **kernelParams, void **extra)",
                FunctionDescriptor.of(JAVA_INT, ADDRESS, JAVA_INT, JAVA_INT, JAVA_INT, JAVA_INT, JAVA_INT, JAVA_INT, JAVA_INT, ADDRESS, ADDRESS, ADDRESS));
    }
    /**
     * Launches a kernel with an extensible configuration (CUDA 12.0+): grid, block, shared memory
     * and stream in a {@link #CUlaunchConfig}, plus launch attributes ({@link #CUlaunchAttribute}),
     * e.g. {@link #CU_LAUNCH_ATTRIBUTE_PROGRAMMATIC_STREAM_SERIALIZATION} for programmatic
     * dependent launch. cuda.h maps the name to itself (no _v2; {@code _ptsz} only under the
     * per-thread default stream, which kvdecode does not compile for).
     * {@snippet lang=c :
     * CUresult cuLaunchKernelEx(const CUlaunchConfig *config, CUfunction f, void **kernelParams, void **extra);
     * }
     */
    public static final class cuLaunchKernelEx {
        private cuLaunchKernelEx() {}
        public static final NativeFunction FN = new NativeFunction("cuLaunchKernelEx",
                "CUresult cuLaunchKernelEx(const CUlaunchConfig *config, CUfunction f, void **kernelParams, void **extra)",
                FunctionDescriptor.of(JAVA_INT, ADDRESS, ADDRESS, ADDRESS, ADDRESS));
    }
    /**
     * Makes an executable graph; cuda.h maps cuGraphInstantiate here.
     * {@snippet lang=c :
     * CUresult cuGraphInstantiateWithFlags(CUgraphExec *phGraphExec, CUgraph hGraph, unsigned long long flags);
     * }
     */
    public static final class cuGraphInstantiateWithFlags {
        private cuGraphInstantiateWithFlags() {}
        public static final NativeFunction FN = new NativeFunction("cuGraphInstantiateWithFlags",
                "CUresult cuGraphInstantiateWithFlags(CUgraphExec *phGraphExec, CUgraph hGraph, unsigned long long flags)",
                FunctionDescriptor.of(JAVA_INT, ADDRESS, ADDRESS, JAVA_LONG));
    }
    /**
     * Replays an executable graph on a stream.
     * {@snippet lang=c :
     * CUresult cuGraphLaunch(CUgraphExec hGraphExec, CUstream hStream);
     * }
     */
    public static final class cuGraphLaunch {
        private cuGraphLaunch() {}
        public static final NativeFunction FN = new NativeFunction("cuGraphLaunch",
                "CUresult cuGraphLaunch(CUgraphExec hGraphExec, CUstream hStream)",
                FunctionDescriptor.of(JAVA_INT, ADDRESS, ADDRESS));
    }
    /**
     * Destroys an executable graph.
     * {@snippet lang=c :
     * CUresult cuGraphExecDestroy(CUgraphExec hGraphExec);
     * }
     */
    public static final class cuGraphExecDestroy {
        private cuGraphExecDestroy() {}
        public static final NativeFunction FN = new NativeFunction("cuGraphExecDestroy",
                "CUresult cuGraphExecDestroy(CUgraphExec hGraphExec)",
                FunctionDescriptor.of(JAVA_INT, ADDRESS));
    }
    /**
     * Destroys a graph.
     * {@snippet lang=c :
     * CUresult cuGraphDestroy(CUgraph hGraph);
     * }
     */
    public static final class cuGraphDestroy {
        private cuGraphDestroy() {}
        public static final NativeFunction FN = new NativeFunction("cuGraphDestroy",
                "CUresult cuGraphDestroy(CUgraph hGraph)",
                FunctionDescriptor.of(JAVA_INT, ADDRESS));
    }

    // ---- structs, in jextract's style: one layout per C type, named as cuda.h names the typedef;
    // PrototypeCheck asserts each member's offset and size and the struct's size against cuda.h ----

    /** CUlaunchAttributeID: programmatic dependent launch (sm_90+): the kernel may start before its predecessor ends. */
    public static final int CU_LAUNCH_ATTRIBUTE_PROGRAMMATIC_STREAM_SERIALIZATION = 6;

    /**
     * The launch attribute's value, a 64-byte union; kvdecode sets only its int member.
     * {@snippet lang=c :
     * typedef union CUlaunchAttributeValue_union {
     *     char pad[64];
     *     ...
     *     int programmaticStreamSerializationAllowed;
     *     ...
     * } CUlaunchAttributeValue;
     * }
     */
    public static final java.lang.foreign.UnionLayout CUlaunchAttributeValue = java.lang.foreign.MemoryLayout.unionLayout(
            java.lang.foreign.MemoryLayout.sequenceLayout(64, JAVA_BYTE).withName("pad"),
            JAVA_INT.withName("programmaticStreamSerializationAllowed")).withName("CUlaunchAttributeValue");

    /**
     * One launch attribute (72 bytes).
     * {@snippet lang=c :
     * typedef struct CUlaunchAttribute_st {
     *     CUlaunchAttributeID id;
     *     char pad[8 - sizeof(CUlaunchAttributeID)];
     *     CUlaunchAttributeValue value;
     * } CUlaunchAttribute;
     * }
     */
    public static final java.lang.foreign.StructLayout CUlaunchAttribute = java.lang.foreign.MemoryLayout.structLayout(
            JAVA_INT.withName("id"),
            java.lang.foreign.MemoryLayout.sequenceLayout(4, JAVA_BYTE).withName("pad"),
            CUlaunchAttributeValue.withName("value")).withName("CUlaunchAttribute");

    /**
     * The extensible launch configuration (56 bytes: 7 unsigned ints, 4 bytes of padding, two
     * pointers, one unsigned int, 4 bytes of tail padding).
     * {@snippet lang=c :
     * typedef struct CUlaunchConfig_st {
     *     unsigned int gridDimX;
     *     unsigned int gridDimY;
     *     unsigned int gridDimZ;
     *     unsigned int blockDimX;
     *     unsigned int blockDimY;
     *     unsigned int blockDimZ;
     *     unsigned int sharedMemBytes;
     *     CUstream hStream;
     *     CUlaunchAttribute *attrs;
     *     unsigned int numAttrs;
     * } CUlaunchConfig;
     * }
     */
    public static final java.lang.foreign.StructLayout CUlaunchConfig = java.lang.foreign.MemoryLayout.structLayout(
            JAVA_INT.withName("gridDimX"), JAVA_INT.withName("gridDimY"), JAVA_INT.withName("gridDimZ"),
            JAVA_INT.withName("blockDimX"), JAVA_INT.withName("blockDimY"), JAVA_INT.withName("blockDimZ"),
            JAVA_INT.withName("sharedMemBytes"), java.lang.foreign.MemoryLayout.paddingLayout(4),
            ADDRESS.withName("hStream"), ADDRESS.withName("attrs"),
            JAVA_INT.withName("numAttrs"), java.lang.foreign.MemoryLayout.paddingLayout(4)).withName("CUlaunchConfig");

    /** The struct layouts above, for PrototypeCheck. */
    public static final List<java.lang.foreign.GroupLayout> STRUCTS = List.of(CUlaunchAttributeValue, CUlaunchAttribute, CUlaunchConfig);

    /** Every function this class binds, in header order (read by PrototypeCheck and gen-bindings.sh). */
    public static final List<NativeFunction> FUNCTIONS = List.of(
            cuInit.FN,
            cuDriverGetVersion.FN,
            cuGetErrorName.FN,
            cuGetErrorString.FN,
            cuDeviceGetCount.FN,
            cuDeviceGet.FN,
            cuDeviceGetName.FN,
            cuDeviceGetAttribute.FN,
            cuDeviceTotalMem_v2.FN,
            cuDevicePrimaryCtxRetain.FN,
            cuDevicePrimaryCtxRelease_v2.FN,
            cuCtxSetCurrent.FN,
            cuCtxGetCurrent.FN,
            cuCtxSynchronize.FN,
            cuMemGetInfo_v2.FN,
            cuMemAlloc_v2.FN,
            cuMemFree_v2.FN,
            cuMemHostAlloc.FN,
            cuMemFreeHost.FN,
            cuMemcpyHtoD_v2.FN,
            cuMemcpyDtoH_v2.FN,
            cuMemcpyHtoDAsync_v2.FN,
            cuMemcpyDtoHAsync_v2.FN,
            cuMemcpyDtoDAsync_v2.FN,
            cuMemsetD8Async.FN,
            cuMemsetD32Async.FN,
            cuStreamCreate.FN,
            cuStreamDestroy_v2.FN,
            cuStreamSynchronize.FN,
            cuStreamBeginCapture_v2.FN,
            cuStreamEndCapture.FN,
            cuStreamIsCapturing.FN,
            cuEventCreate.FN,
            cuEventDestroy_v2.FN,
            cuEventRecord.FN,
            cuEventSynchronize.FN,
            cuEventElapsedTime_v2.FN,
            cuModuleLoadData.FN,
            cuModuleUnload.FN,
            cuModuleGetFunction.FN,
            cuFuncGetParamInfo.FN,
            cuFuncGetAttribute.FN,
            cuFuncSetAttribute.FN,
            cuLaunchKernel.FN,
            cuLaunchKernelEx.FN,
            cuGraphInstantiateWithFlags.FN,
            cuGraphLaunch.FN,
            cuGraphExecDestroy.FN,
            cuGraphDestroy.FN);

    // ---- the handles, bound to one library ----

    private final String libraryLabel;
    private final java.util.Map<String, NativeFunction.Bound> bound = new java.util.LinkedHashMap<>();
    private final MethodHandle cuInit$mh;
    private final MethodHandle cuDriverGetVersion$mh;
    private final MethodHandle cuGetErrorName$mh;
    private final MethodHandle cuGetErrorString$mh;
    private final MethodHandle cuDeviceGetCount$mh;
    private final MethodHandle cuDeviceGet$mh;
    private final MethodHandle cuDeviceGetName$mh;
    private final MethodHandle cuDeviceGetAttribute$mh;
    private final MethodHandle cuDeviceTotalMem_v2$mh;
    private final MethodHandle cuDevicePrimaryCtxRetain$mh;
    private final MethodHandle cuDevicePrimaryCtxRelease_v2$mh;
    private final MethodHandle cuCtxSetCurrent$mh;
    private final MethodHandle cuCtxGetCurrent$mh;
    private final MethodHandle cuCtxSynchronize$mh;
    private final MethodHandle cuMemGetInfo_v2$mh;
    private final MethodHandle cuMemAlloc_v2$mh;
    private final MethodHandle cuMemFree_v2$mh;
    private final MethodHandle cuMemHostAlloc$mh;
    private final MethodHandle cuMemFreeHost$mh;
    private final MethodHandle cuMemcpyHtoD_v2$mh;
    private final MethodHandle cuMemcpyDtoH_v2$mh;
    private final MethodHandle cuMemcpyHtoDAsync_v2$mh;
    private final MethodHandle cuMemcpyDtoHAsync_v2$mh;
    private final MethodHandle cuMemcpyDtoDAsync_v2$mh;
    private final MethodHandle cuMemsetD8Async$mh;
    private final MethodHandle cuMemsetD32Async$mh;
    private final MethodHandle cuStreamCreate$mh;
    private final MethodHandle cuStreamDestroy_v2$mh;
    private final MethodHandle cuStreamSynchronize$mh;
    private final MethodHandle cuStreamBeginCapture_v2$mh;
    private final MethodHandle cuStreamEndCapture$mh;
    private final MethodHandle cuStreamIsCapturing$mh;
    private final MethodHandle cuEventCreate$mh;
    private final MethodHandle cuEventDestroy_v2$mh;
    private final MethodHandle cuEventRecord$mh;
    private final MethodHandle cuEventSynchronize$mh;
    private final MethodHandle cuEventElapsedTime_v2$mh;
    private final MethodHandle cuModuleLoadData$mh;
    private final MethodHandle cuModuleUnload$mh;
    private final MethodHandle cuModuleGetFunction$mh;
    private final MethodHandle cuFuncGetParamInfo$mh;
    private final MethodHandle cuFuncGetAttribute$mh;
    private final MethodHandle cuFuncSetAttribute$mh;
    private final MethodHandle cuLaunchKernel$mh;
    private final MethodHandle cuLaunchKernelEx$mh;
    private final MethodHandle cuGraphInstantiateWithFlags$mh;
    private final MethodHandle cuGraphLaunch$mh;
    private final MethodHandle cuGraphExecDestroy$mh;
    private final MethodHandle cuGraphDestroy$mh;

    /**
     * Binds every function of {@link #FUNCTIONS} in {@code lookup}. A symbol the library lacks
     * throws {@link UnsatisfiedLinkError} when called, not here.
     *
     * @param libraryLabel where the library came from, for messages (e.g. its path)
     */
    public CudaDriver(SymbolLookup lookup, String libraryLabel) {
        this.libraryLabel = libraryLabel;
        this.cuInit$mh = bind(cuInit.FN, lookup, libraryLabel);
        this.cuDriverGetVersion$mh = bind(cuDriverGetVersion.FN, lookup, libraryLabel);
        this.cuGetErrorName$mh = bind(cuGetErrorName.FN, lookup, libraryLabel);
        this.cuGetErrorString$mh = bind(cuGetErrorString.FN, lookup, libraryLabel);
        this.cuDeviceGetCount$mh = bind(cuDeviceGetCount.FN, lookup, libraryLabel);
        this.cuDeviceGet$mh = bind(cuDeviceGet.FN, lookup, libraryLabel);
        this.cuDeviceGetName$mh = bind(cuDeviceGetName.FN, lookup, libraryLabel);
        this.cuDeviceGetAttribute$mh = bind(cuDeviceGetAttribute.FN, lookup, libraryLabel);
        this.cuDeviceTotalMem_v2$mh = bind(cuDeviceTotalMem_v2.FN, lookup, libraryLabel);
        this.cuDevicePrimaryCtxRetain$mh = bind(cuDevicePrimaryCtxRetain.FN, lookup, libraryLabel);
        this.cuDevicePrimaryCtxRelease_v2$mh = bind(cuDevicePrimaryCtxRelease_v2.FN, lookup, libraryLabel);
        this.cuCtxSetCurrent$mh = bind(cuCtxSetCurrent.FN, lookup, libraryLabel);
        this.cuCtxGetCurrent$mh = bind(cuCtxGetCurrent.FN, lookup, libraryLabel);
        this.cuCtxSynchronize$mh = bind(cuCtxSynchronize.FN, lookup, libraryLabel);
        this.cuMemGetInfo_v2$mh = bind(cuMemGetInfo_v2.FN, lookup, libraryLabel);
        this.cuMemAlloc_v2$mh = bind(cuMemAlloc_v2.FN, lookup, libraryLabel);
        this.cuMemFree_v2$mh = bind(cuMemFree_v2.FN, lookup, libraryLabel);
        this.cuMemHostAlloc$mh = bind(cuMemHostAlloc.FN, lookup, libraryLabel);
        this.cuMemFreeHost$mh = bind(cuMemFreeHost.FN, lookup, libraryLabel);
        this.cuMemcpyHtoD_v2$mh = bind(cuMemcpyHtoD_v2.FN, lookup, libraryLabel);
        this.cuMemcpyDtoH_v2$mh = bind(cuMemcpyDtoH_v2.FN, lookup, libraryLabel);
        this.cuMemcpyHtoDAsync_v2$mh = bind(cuMemcpyHtoDAsync_v2.FN, lookup, libraryLabel);
        this.cuMemcpyDtoHAsync_v2$mh = bind(cuMemcpyDtoHAsync_v2.FN, lookup, libraryLabel);
        this.cuMemcpyDtoDAsync_v2$mh = bind(cuMemcpyDtoDAsync_v2.FN, lookup, libraryLabel);
        this.cuMemsetD8Async$mh = bind(cuMemsetD8Async.FN, lookup, libraryLabel);
        this.cuMemsetD32Async$mh = bind(cuMemsetD32Async.FN, lookup, libraryLabel);
        this.cuStreamCreate$mh = bind(cuStreamCreate.FN, lookup, libraryLabel);
        this.cuStreamDestroy_v2$mh = bind(cuStreamDestroy_v2.FN, lookup, libraryLabel);
        this.cuStreamSynchronize$mh = bind(cuStreamSynchronize.FN, lookup, libraryLabel);
        this.cuStreamBeginCapture_v2$mh = bind(cuStreamBeginCapture_v2.FN, lookup, libraryLabel);
        this.cuStreamEndCapture$mh = bind(cuStreamEndCapture.FN, lookup, libraryLabel);
        this.cuStreamIsCapturing$mh = bind(cuStreamIsCapturing.FN, lookup, libraryLabel);
        this.cuEventCreate$mh = bind(cuEventCreate.FN, lookup, libraryLabel);
        this.cuEventDestroy_v2$mh = bind(cuEventDestroy_v2.FN, lookup, libraryLabel);
        this.cuEventRecord$mh = bind(cuEventRecord.FN, lookup, libraryLabel);
        this.cuEventSynchronize$mh = bind(cuEventSynchronize.FN, lookup, libraryLabel);
        this.cuEventElapsedTime_v2$mh = bind(cuEventElapsedTime_v2.FN, lookup, libraryLabel);
        this.cuModuleLoadData$mh = bind(cuModuleLoadData.FN, lookup, libraryLabel);
        this.cuModuleUnload$mh = bind(cuModuleUnload.FN, lookup, libraryLabel);
        this.cuModuleGetFunction$mh = bind(cuModuleGetFunction.FN, lookup, libraryLabel);
        this.cuFuncGetParamInfo$mh = bind(cuFuncGetParamInfo.FN, lookup, libraryLabel);
        this.cuFuncGetAttribute$mh = bind(cuFuncGetAttribute.FN, lookup, libraryLabel);
        this.cuFuncSetAttribute$mh = bind(cuFuncSetAttribute.FN, lookup, libraryLabel);
        this.cuLaunchKernel$mh = bind(cuLaunchKernel.FN, lookup, libraryLabel);
        this.cuLaunchKernelEx$mh = bind(cuLaunchKernelEx.FN, lookup, libraryLabel);
        this.cuGraphInstantiateWithFlags$mh = bind(cuGraphInstantiateWithFlags.FN, lookup, libraryLabel);
        this.cuGraphLaunch$mh = bind(cuGraphLaunch.FN, lookup, libraryLabel);
        this.cuGraphExecDestroy$mh = bind(cuGraphExecDestroy.FN, lookup, libraryLabel);
        this.cuGraphDestroy$mh = bind(cuGraphDestroy.FN, lookup, libraryLabel);

    }

    private MethodHandle bind(NativeFunction fn, SymbolLookup lookup, String label) {
        NativeFunction.Bound b = fn.bind(lookup, label);
        bound.put(fn.name(), b);
        return b.handle();
    }

    /** Where the library came from. */
    public String libraryLabel() { return libraryLabel; }

    /** Whether the library exports {@code symbol} (e.g. cuFuncGetParamInfo needs a 12.4+ driver). */
    public boolean has(String symbol) {
        NativeFunction.Bound b = bound.get(symbol);
        return b != null && b.present();
    }

    private static RuntimeException rethrow(Throwable t) {
        if (t instanceof RuntimeException r) return r;
        if (t instanceof Error e) throw e;
        return new IllegalStateException(t);
    }

    // ---- typed calls: each status goes through CudaCheck ----

    /** {@code CUresult cuInit(unsigned int Flags)}; throws {@link CudaException} unless it succeeds. */
    public void cuInit(int Flags) {
        int status;
        try {
            status = (int) cuInit$mh.invokeExact(Flags);
        } catch (Throwable t) {
            throw rethrow(t);
        }
        CudaCheck.driver(this, "cuInit", status);
    }
    /** {@code CUresult cuInit(unsigned int Flags)}, returning the raw status (for callers that expect some failures). */
    public int cuInitStatus(int Flags) {
        try {
            return (int) cuInit$mh.invokeExact(Flags);
        } catch (Throwable t) {
            throw rethrow(t);
        }
    }
    /** {@code CUresult cuDriverGetVersion(int *driverVersion)}; throws {@link CudaException} unless it succeeds. */
    public void cuDriverGetVersion(MemorySegment driverVersion) {
        int status;
        try {
            status = (int) cuDriverGetVersion$mh.invokeExact(driverVersion);
        } catch (Throwable t) {
            throw rethrow(t);
        }
        CudaCheck.driver(this, "cuDriverGetVersion", status);
    }
    /** {@code CUresult cuGetErrorName(CUresult error, const char **pStr)}; throws {@link CudaException} unless it succeeds. */
    public void cuGetErrorName(int error, MemorySegment pStr) {
        int status;
        try {
            status = (int) cuGetErrorName$mh.invokeExact(error, pStr);
        } catch (Throwable t) {
            throw rethrow(t);
        }
        CudaCheck.driver(this, "cuGetErrorName", status);
    }
    /** {@code CUresult cuGetErrorName(CUresult error, const char **pStr)}, returning the raw status (for callers that expect some failures). */
    public int cuGetErrorNameStatus(int error, MemorySegment pStr) {
        try {
            return (int) cuGetErrorName$mh.invokeExact(error, pStr);
        } catch (Throwable t) {
            throw rethrow(t);
        }
    }
    /** {@code CUresult cuGetErrorString(CUresult error, const char **pStr)}; throws {@link CudaException} unless it succeeds. */
    public void cuGetErrorString(int error, MemorySegment pStr) {
        int status;
        try {
            status = (int) cuGetErrorString$mh.invokeExact(error, pStr);
        } catch (Throwable t) {
            throw rethrow(t);
        }
        CudaCheck.driver(this, "cuGetErrorString", status);
    }
    /** {@code CUresult cuGetErrorString(CUresult error, const char **pStr)}, returning the raw status (for callers that expect some failures). */
    public int cuGetErrorStringStatus(int error, MemorySegment pStr) {
        try {
            return (int) cuGetErrorString$mh.invokeExact(error, pStr);
        } catch (Throwable t) {
            throw rethrow(t);
        }
    }
    /** {@code CUresult cuDeviceGetCount(int *count)}; throws {@link CudaException} unless it succeeds. */
    public void cuDeviceGetCount(MemorySegment count) {
        int status;
        try {
            status = (int) cuDeviceGetCount$mh.invokeExact(count);
        } catch (Throwable t) {
            throw rethrow(t);
        }
        CudaCheck.driver(this, "cuDeviceGetCount", status);
    }
    /** {@code CUresult cuDeviceGetCount(int *count)}, returning the raw status (for callers that expect some failures). */
    public int cuDeviceGetCountStatus(MemorySegment count) {
        try {
            return (int) cuDeviceGetCount$mh.invokeExact(count);
        } catch (Throwable t) {
            throw rethrow(t);
        }
    }
    /** {@code CUresult cuDeviceGet(CUdevice *device, int ordinal)}; throws {@link CudaException} unless it succeeds. */
    public void cuDeviceGet(MemorySegment device, int ordinal) {
        int status;
        try {
            status = (int) cuDeviceGet$mh.invokeExact(device, ordinal);
        } catch (Throwable t) {
            throw rethrow(t);
        }
        CudaCheck.driver(this, "cuDeviceGet", status);
    }
    /** {@code CUresult cuDeviceGetName(char *name, int len, CUdevice dev)}; throws {@link CudaException} unless it succeeds. */
    public void cuDeviceGetName(MemorySegment name, int len, int dev) {
        int status;
        try {
            status = (int) cuDeviceGetName$mh.invokeExact(name, len, dev);
        } catch (Throwable t) {
            throw rethrow(t);
        }
        CudaCheck.driver(this, "cuDeviceGetName", status);
    }
    /** {@code CUresult cuDeviceGetAttribute(int *pi, CUdevice_attribute attrib, CUdevice dev)}; throws {@link CudaException} unless it succeeds. */
    public void cuDeviceGetAttribute(MemorySegment pi, int attrib, int dev) {
        int status;
        try {
            status = (int) cuDeviceGetAttribute$mh.invokeExact(pi, attrib, dev);
        } catch (Throwable t) {
            throw rethrow(t);
        }
        CudaCheck.driver(this, "cuDeviceGetAttribute", status);
    }
    /** {@code CUresult cuDeviceTotalMem_v2(size_t *bytes, CUdevice dev)}; throws {@link CudaException} unless it succeeds. */
    public void cuDeviceTotalMem_v2(MemorySegment bytes, int dev) {
        int status;
        try {
            status = (int) cuDeviceTotalMem_v2$mh.invokeExact(bytes, dev);
        } catch (Throwable t) {
            throw rethrow(t);
        }
        CudaCheck.driver(this, "cuDeviceTotalMem", status);
    }
    /** {@code CUresult cuDevicePrimaryCtxRetain(CUcontext *pctx, CUdevice dev)}; throws {@link CudaException} unless it succeeds. */
    public void cuDevicePrimaryCtxRetain(MemorySegment pctx, int dev) {
        int status;
        try {
            status = (int) cuDevicePrimaryCtxRetain$mh.invokeExact(pctx, dev);
        } catch (Throwable t) {
            throw rethrow(t);
        }
        CudaCheck.driver(this, "cuDevicePrimaryCtxRetain", status);
    }
    /** {@code CUresult cuDevicePrimaryCtxRelease_v2(CUdevice dev)}; throws {@link CudaException} unless it succeeds. */
    public void cuDevicePrimaryCtxRelease_v2(int dev) {
        int status;
        try {
            status = (int) cuDevicePrimaryCtxRelease_v2$mh.invokeExact(dev);
        } catch (Throwable t) {
            throw rethrow(t);
        }
        CudaCheck.driver(this, "cuDevicePrimaryCtxRelease", status);
    }
    /** {@code CUresult cuCtxSetCurrent(CUcontext ctx)}; throws {@link CudaException} unless it succeeds. */
    public void cuCtxSetCurrent(MemorySegment ctx) {
        int status;
        try {
            status = (int) cuCtxSetCurrent$mh.invokeExact(ctx);
        } catch (Throwable t) {
            throw rethrow(t);
        }
        CudaCheck.driver(this, "cuCtxSetCurrent", status);
    }
    /** {@code CUresult cuCtxGetCurrent(CUcontext *pctx)}; throws {@link CudaException} unless it succeeds. */
    public void cuCtxGetCurrent(MemorySegment pctx) {
        int status;
        try {
            status = (int) cuCtxGetCurrent$mh.invokeExact(pctx);
        } catch (Throwable t) {
            throw rethrow(t);
        }
        CudaCheck.driver(this, "cuCtxGetCurrent", status);
    }
    /** {@code CUresult cuCtxSynchronize(void)}; throws {@link CudaException} unless it succeeds. */
    public void cuCtxSynchronize() {
        int status;
        try {
            status = (int) cuCtxSynchronize$mh.invokeExact();
        } catch (Throwable t) {
            throw rethrow(t);
        }
        CudaCheck.driver(this, "cuCtxSynchronize", status);
    }
    /** {@code CUresult cuMemGetInfo_v2(size_t *free, size_t *total)}; throws {@link CudaException} unless it succeeds. */
    public void cuMemGetInfo_v2(MemorySegment free, MemorySegment total) {
        int status;
        try {
            status = (int) cuMemGetInfo_v2$mh.invokeExact(free, total);
        } catch (Throwable t) {
            throw rethrow(t);
        }
        CudaCheck.driver(this, "cuMemGetInfo", status);
    }
    /** {@code CUresult cuMemAlloc_v2(CUdeviceptr *dptr, size_t bytesize)}; throws {@link CudaException} unless it succeeds. */
    public void cuMemAlloc_v2(MemorySegment dptr, long bytesize) {
        int status;
        try {
            status = (int) cuMemAlloc_v2$mh.invokeExact(dptr, bytesize);
        } catch (Throwable t) {
            throw rethrow(t);
        }
        CudaCheck.driver(this, "cuMemAlloc", status);
    }
    /** {@code CUresult cuMemFree_v2(CUdeviceptr dptr)}; throws {@link CudaException} unless it succeeds. */
    public void cuMemFree_v2(long dptr) {
        int status;
        try {
            status = (int) cuMemFree_v2$mh.invokeExact(dptr);
        } catch (Throwable t) {
            throw rethrow(t);
        }
        CudaCheck.driver(this, "cuMemFree", status);
    }
    /** {@code CUresult cuMemHostAlloc(void **pp, size_t bytesize, unsigned int Flags)}; throws {@link CudaException} unless it succeeds. */
    public void cuMemHostAlloc(MemorySegment pp, long bytesize, int Flags) {
        int status;
        try {
            status = (int) cuMemHostAlloc$mh.invokeExact(pp, bytesize, Flags);
        } catch (Throwable t) {
            throw rethrow(t);
        }
        CudaCheck.driver(this, "cuMemHostAlloc", status);
    }
    /** {@code CUresult cuMemFreeHost(void *p)}; throws {@link CudaException} unless it succeeds. */
    public void cuMemFreeHost(MemorySegment p) {
        int status;
        try {
            status = (int) cuMemFreeHost$mh.invokeExact(p);
        } catch (Throwable t) {
            throw rethrow(t);
        }
        CudaCheck.driver(this, "cuMemFreeHost", status);
    }
    /** {@code CUresult cuMemcpyHtoD_v2(CUdeviceptr dstDevice, const void *srcHost, size_t ByteCount)}; throws {@link CudaException} unless it succeeds. */
    public void cuMemcpyHtoD_v2(long dstDevice, MemorySegment srcHost, long ByteCount) {
        int status;
        try {
            status = (int) cuMemcpyHtoD_v2$mh.invokeExact(dstDevice, srcHost, ByteCount);
        } catch (Throwable t) {
            throw rethrow(t);
        }
        CudaCheck.driver(this, "cuMemcpyHtoD", status);
    }
    /** {@code CUresult cuMemcpyDtoH_v2(void *dstHost, CUdeviceptr srcDevice, size_t ByteCount)}; throws {@link CudaException} unless it succeeds. */
    public void cuMemcpyDtoH_v2(MemorySegment dstHost, long srcDevice, long ByteCount) {
        int status;
        try {
            status = (int) cuMemcpyDtoH_v2$mh.invokeExact(dstHost, srcDevice, ByteCount);
        } catch (Throwable t) {
            throw rethrow(t);
        }
        CudaCheck.driver(this, "cuMemcpyDtoH", status);
    }
    /** {@code CUresult cuMemcpyHtoDAsync_v2(CUdeviceptr dstDevice, const void *srcHost, size_t ByteCount, CUstream hStream)}; throws {@link CudaException} unless it succeeds. */
    public void cuMemcpyHtoDAsync_v2(long dstDevice, MemorySegment srcHost, long ByteCount, MemorySegment hStream) {
        int status;
        try {
            status = (int) cuMemcpyHtoDAsync_v2$mh.invokeExact(dstDevice, srcHost, ByteCount, hStream);
        } catch (Throwable t) {
            throw rethrow(t);
        }
        CudaCheck.driver(this, "cuMemcpyHtoDAsync", status);
    }
    /** {@code CUresult cuMemcpyDtoHAsync_v2(void *dstHost, CUdeviceptr srcDevice, size_t ByteCount, CUstream hStream)}; throws {@link CudaException} unless it succeeds. */
    public void cuMemcpyDtoHAsync_v2(MemorySegment dstHost, long srcDevice, long ByteCount, MemorySegment hStream) {
        int status;
        try {
            status = (int) cuMemcpyDtoHAsync_v2$mh.invokeExact(dstHost, srcDevice, ByteCount, hStream);
        } catch (Throwable t) {
            throw rethrow(t);
        }
        CudaCheck.driver(this, "cuMemcpyDtoHAsync", status);
    }
    /** {@code CUresult cuMemcpyDtoDAsync_v2(CUdeviceptr dstDevice, CUdeviceptr srcDevice, size_t ByteCount, CUstream hStream)}; throws {@link CudaException} unless it succeeds. */
    public void cuMemcpyDtoDAsync_v2(long dstDevice, long srcDevice, long ByteCount, MemorySegment hStream) {
        int status;
        try {
            status = (int) cuMemcpyDtoDAsync_v2$mh.invokeExact(dstDevice, srcDevice, ByteCount, hStream);
        } catch (Throwable t) {
            throw rethrow(t);
        }
        CudaCheck.driver(this, "cuMemcpyDtoDAsync", status);
    }
    /** {@code CUresult cuMemsetD8Async(CUdeviceptr dstDevice, unsigned char uc, size_t N, CUstream hStream)}; throws {@link CudaException} unless it succeeds. */
    public void cuMemsetD8Async(long dstDevice, byte uc, long N, MemorySegment hStream) {
        int status;
        try {
            status = (int) cuMemsetD8Async$mh.invokeExact(dstDevice, uc, N, hStream);
        } catch (Throwable t) {
            throw rethrow(t);
        }
        CudaCheck.driver(this, "cuMemsetD8Async", status);
    }
    /** {@code CUresult cuMemsetD32Async(CUdeviceptr dstDevice, unsigned int ui, size_t N, CUstream hStream)}; throws {@link CudaException} unless it succeeds. */
    public void cuMemsetD32Async(long dstDevice, int ui, long N, MemorySegment hStream) {
        int status;
        try {
            status = (int) cuMemsetD32Async$mh.invokeExact(dstDevice, ui, N, hStream);
        } catch (Throwable t) {
            throw rethrow(t);
        }
        CudaCheck.driver(this, "cuMemsetD32Async", status);
    }
    /** {@code CUresult cuStreamCreate(CUstream *phStream, unsigned int Flags)}; throws {@link CudaException} unless it succeeds. */
    public void cuStreamCreate(MemorySegment phStream, int Flags) {
        int status;
        try {
            status = (int) cuStreamCreate$mh.invokeExact(phStream, Flags);
        } catch (Throwable t) {
            throw rethrow(t);
        }
        CudaCheck.driver(this, "cuStreamCreate", status);
    }
    /** {@code CUresult cuStreamDestroy_v2(CUstream hStream)}; throws {@link CudaException} unless it succeeds. */
    public void cuStreamDestroy_v2(MemorySegment hStream) {
        int status;
        try {
            status = (int) cuStreamDestroy_v2$mh.invokeExact(hStream);
        } catch (Throwable t) {
            throw rethrow(t);
        }
        CudaCheck.driver(this, "cuStreamDestroy", status);
    }
    /** {@code CUresult cuStreamSynchronize(CUstream hStream)}; throws {@link CudaException} unless it succeeds. */
    public void cuStreamSynchronize(MemorySegment hStream) {
        int status;
        try {
            status = (int) cuStreamSynchronize$mh.invokeExact(hStream);
        } catch (Throwable t) {
            throw rethrow(t);
        }
        CudaCheck.driver(this, "cuStreamSynchronize", status);
    }
    /** {@code CUresult cuStreamBeginCapture_v2(CUstream hStream, CUstreamCaptureMode mode)}; throws {@link CudaException} unless it succeeds. */
    public void cuStreamBeginCapture_v2(MemorySegment hStream, int mode) {
        int status;
        try {
            status = (int) cuStreamBeginCapture_v2$mh.invokeExact(hStream, mode);
        } catch (Throwable t) {
            throw rethrow(t);
        }
        CudaCheck.driver(this, "cuStreamBeginCapture", status);
    }
    /** {@code CUresult cuStreamEndCapture(CUstream hStream, CUgraph *phGraph)}; throws {@link CudaException} unless it succeeds. */
    public void cuStreamEndCapture(MemorySegment hStream, MemorySegment phGraph) {
        int status;
        try {
            status = (int) cuStreamEndCapture$mh.invokeExact(hStream, phGraph);
        } catch (Throwable t) {
            throw rethrow(t);
        }
        CudaCheck.driver(this, "cuStreamEndCapture", status);
    }
    /** {@code CUresult cuStreamIsCapturing(CUstream hStream, CUstreamCaptureStatus *captureStatus)}; throws {@link CudaException} unless it succeeds. */
    public void cuStreamIsCapturing(MemorySegment hStream, MemorySegment captureStatus) {
        int status;
        try {
            status = (int) cuStreamIsCapturing$mh.invokeExact(hStream, captureStatus);
        } catch (Throwable t) {
            throw rethrow(t);
        }
        CudaCheck.driver(this, "cuStreamIsCapturing", status);
    }
    /** {@code CUresult cuEventCreate(CUevent *phEvent, unsigned int Flags)}; throws {@link CudaException} unless it succeeds. */
    public void cuEventCreate(MemorySegment phEvent, int Flags) {
        int status;
        try {
            status = (int) cuEventCreate$mh.invokeExact(phEvent, Flags);
        } catch (Throwable t) {
            throw rethrow(t);
        }
        CudaCheck.driver(this, "cuEventCreate", status);
    }
    /** {@code CUresult cuEventDestroy_v2(CUevent hEvent)}; throws {@link CudaException} unless it succeeds. */
    public void cuEventDestroy_v2(MemorySegment hEvent) {
        int status;
        try {
            status = (int) cuEventDestroy_v2$mh.invokeExact(hEvent);
        } catch (Throwable t) {
            throw rethrow(t);
        }
        CudaCheck.driver(this, "cuEventDestroy", status);
    }
    /** {@code CUresult cuEventRecord(CUevent hEvent, CUstream hStream)}; throws {@link CudaException} unless it succeeds. */
    public void cuEventRecord(MemorySegment hEvent, MemorySegment hStream) {
        int status;
        try {
            status = (int) cuEventRecord$mh.invokeExact(hEvent, hStream);
        } catch (Throwable t) {
            throw rethrow(t);
        }
        CudaCheck.driver(this, "cuEventRecord", status);
    }
    /** {@code CUresult cuEventSynchronize(CUevent hEvent)}; throws {@link CudaException} unless it succeeds. */
    public void cuEventSynchronize(MemorySegment hEvent) {
        int status;
        try {
            status = (int) cuEventSynchronize$mh.invokeExact(hEvent);
        } catch (Throwable t) {
            throw rethrow(t);
        }
        CudaCheck.driver(this, "cuEventSynchronize", status);
    }
    /** {@code CUresult cuEventElapsedTime_v2(float *pMilliseconds, CUevent hStart, CUevent hEnd)}; throws {@link CudaException} unless it succeeds. */
    public void cuEventElapsedTime_v2(MemorySegment pMilliseconds, MemorySegment hStart, MemorySegment hEnd) {
        int status;
        try {
            status = (int) cuEventElapsedTime_v2$mh.invokeExact(pMilliseconds, hStart, hEnd);
        } catch (Throwable t) {
            throw rethrow(t);
        }
        CudaCheck.driver(this, "cuEventElapsedTime", status);
    }
    /** {@code CUresult cuModuleLoadData(CUmodule *module, const void *image)}; throws {@link CudaException} unless it succeeds. */
    public void cuModuleLoadData(MemorySegment module, MemorySegment image) {
        int status;
        try {
            status = (int) cuModuleLoadData$mh.invokeExact(module, image);
        } catch (Throwable t) {
            throw rethrow(t);
        }
        CudaCheck.driver(this, "cuModuleLoadData", status);
    }
    /** {@code CUresult cuModuleUnload(CUmodule hmod)}; throws {@link CudaException} unless it succeeds. */
    public void cuModuleUnload(MemorySegment hmod) {
        int status;
        try {
            status = (int) cuModuleUnload$mh.invokeExact(hmod);
        } catch (Throwable t) {
            throw rethrow(t);
        }
        CudaCheck.driver(this, "cuModuleUnload", status);
    }
    /** {@code CUresult cuModuleGetFunction(CUfunction *hfunc, CUmodule hmod, const char *name)}; throws {@link CudaException} unless it succeeds. */
    public void cuModuleGetFunction(MemorySegment hfunc, MemorySegment hmod, MemorySegment name) {
        int status;
        try {
            status = (int) cuModuleGetFunction$mh.invokeExact(hfunc, hmod, name);
        } catch (Throwable t) {
            throw rethrow(t);
        }
        CudaCheck.driver(this, "cuModuleGetFunction", status);
    }
    /** {@code CUresult cuFuncGetParamInfo(CUfunction func, size_t paramIndex, size_t *paramOffset, size_t *paramSize)}; throws {@link CudaException} unless it succeeds. */
    public void cuFuncGetParamInfo(MemorySegment func, long paramIndex, MemorySegment paramOffset, MemorySegment paramSize) {
        int status;
        try {
            status = (int) cuFuncGetParamInfo$mh.invokeExact(func, paramIndex, paramOffset, paramSize);
        } catch (Throwable t) {
            throw rethrow(t);
        }
        CudaCheck.driver(this, "cuFuncGetParamInfo", status);
    }
    /** {@code CUresult cuFuncGetParamInfo(CUfunction func, size_t paramIndex, size_t *paramOffset, size_t *paramSize)}, returning the raw status (for callers that expect some failures). */
    public int cuFuncGetParamInfoStatus(MemorySegment func, long paramIndex, MemorySegment paramOffset, MemorySegment paramSize) {
        try {
            return (int) cuFuncGetParamInfo$mh.invokeExact(func, paramIndex, paramOffset, paramSize);
        } catch (Throwable t) {
            throw rethrow(t);
        }
    }
    /** {@code CUresult cuFuncGetAttribute(int *pi, CUfunction_attribute attrib, CUfunction hfunc)}; throws {@link CudaException} unless it succeeds. */
    public void cuFuncGetAttribute(MemorySegment pi, int attrib, MemorySegment hfunc) {
        int status;
        try {
            status = (int) cuFuncGetAttribute$mh.invokeExact(pi, attrib, hfunc);
        } catch (Throwable t) {
            throw rethrow(t);
        }
        CudaCheck.driver(this, "cuFuncGetAttribute", status);
    }
    /** {@code CUresult cuFuncSetAttribute(CUfunction hfunc, CUfunction_attribute attrib, int value)}; throws {@link CudaException} unless it succeeds. */
    public void cuFuncSetAttribute(MemorySegment hfunc, int attrib, int value) {
        int status;
        try {
            status = (int) cuFuncSetAttribute$mh.invokeExact(hfunc, attrib, value);
        } catch (Throwable t) {
            throw rethrow(t);
        }
        CudaCheck.driver(this, "cuFuncSetAttribute", status);
    }
    /** {@code CUresult cuLaunchKernel(CUfunction f, unsigned int gridDimX, unsigned int gridDimY, unsigned int gridDimZ, unsigned int blockDimX, unsigned int blockDimY, unsigned int blockDimZ, unsigned int sharedMemBytes, CUstream hStream, void **kernelParams, void **extra)}; throws {@link CudaException} unless it succeeds. */
    public void cuLaunchKernel(MemorySegment f, int gridDimX, int gridDimY, int gridDimZ, int blockDimX, int blockDimY, int blockDimZ, int sharedMemBytes, MemorySegment hStream, MemorySegment kernelParams, MemorySegment extra) {
        int status;
        try {
            status = (int) cuLaunchKernel$mh.invokeExact(f, gridDimX, gridDimY, gridDimZ, blockDimX, blockDimY, blockDimZ, sharedMemBytes, hStream, kernelParams, extra);
        } catch (Throwable t) {
            throw rethrow(t);
        }
        CudaCheck.driver(this, "cuLaunchKernel", status);
    }
    /** {@code CUresult cuLaunchKernelEx(const CUlaunchConfig *config, CUfunction f, void **kernelParams, void **extra)}; throws {@link CudaException} unless it succeeds. */
    public void cuLaunchKernelEx(MemorySegment config, MemorySegment f, MemorySegment kernelParams, MemorySegment extra) {
        int status;
        try {
            status = (int) cuLaunchKernelEx$mh.invokeExact(config, f, kernelParams, extra);
        } catch (Throwable t) {
            throw rethrow(t);
        }
        CudaCheck.driver(this, "cuLaunchKernelEx", status);
    }
    /** {@code CUresult cuLaunchKernelEx(const CUlaunchConfig *config, CUfunction f, void **kernelParams, void **extra)}, returning the raw status (for callers that expect some failures). */
    public int cuLaunchKernelExStatus(MemorySegment config, MemorySegment f, MemorySegment kernelParams, MemorySegment extra) {
        try {
            return (int) cuLaunchKernelEx$mh.invokeExact(config, f, kernelParams, extra);
        } catch (Throwable t) {
            throw rethrow(t);
        }
    }
    /** {@code CUresult cuGraphInstantiateWithFlags(CUgraphExec *phGraphExec, CUgraph hGraph, unsigned long long flags)}; throws {@link CudaException} unless it succeeds. */
    public void cuGraphInstantiateWithFlags(MemorySegment phGraphExec, MemorySegment hGraph, long flags) {
        int status;
        try {
            status = (int) cuGraphInstantiateWithFlags$mh.invokeExact(phGraphExec, hGraph, flags);
        } catch (Throwable t) {
            throw rethrow(t);
        }
        CudaCheck.driver(this, "cuGraphInstantiateWithFlags", status);
    }
    /** {@code CUresult cuGraphLaunch(CUgraphExec hGraphExec, CUstream hStream)}; throws {@link CudaException} unless it succeeds. */
    public void cuGraphLaunch(MemorySegment hGraphExec, MemorySegment hStream) {
        int status;
        try {
            status = (int) cuGraphLaunch$mh.invokeExact(hGraphExec, hStream);
        } catch (Throwable t) {
            throw rethrow(t);
        }
        CudaCheck.driver(this, "cuGraphLaunch", status);
    }
    /** {@code CUresult cuGraphExecDestroy(CUgraphExec hGraphExec)}; throws {@link CudaException} unless it succeeds. */
    public void cuGraphExecDestroy(MemorySegment hGraphExec) {
        int status;
        try {
            status = (int) cuGraphExecDestroy$mh.invokeExact(hGraphExec);
        } catch (Throwable t) {
            throw rethrow(t);
        }
        CudaCheck.driver(this, "cuGraphExecDestroy", status);
    }
    /** {@code CUresult cuGraphDestroy(CUgraph hGraph)}; throws {@link CudaException} unless it succeeds. */
    public void cuGraphDestroy(MemorySegment hGraph) {
        int status;
        try {
            status = (int) cuGraphDestroy$mh.invokeExact(hGraph);
        } catch (Throwable t) {
            throw rethrow(t);
        }
        CudaCheck.driver(this, "cuGraphDestroy", status);
    }
}
