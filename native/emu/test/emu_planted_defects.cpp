// Planted defects (issue 8, "What it must show"): each is a deliberately broken kernel or call that
// the emulator must catch with a message naming the kernel or call, next to its correct twin,
// which must pass (so a test cannot pass by rejecting everything). Test sources only.
#include "emu_test.h"

#include <cublas_api.h>

#include <csignal>
#include <sys/wait.h>
#include <unistd.h>

using emu_test::Ctx;

extern "C" void kvdEmuSetSeed(unsigned long long);
extern "C" unsigned long long kvdEmuGetSeed(void);

// out (n) <- in (n) * 2; the defect writes one element past the end.
extern "C" __global__ void pd_scale_ok(const float* in, float* out, int n) {
    const int i = blockIdx.x * blockDim.x + threadIdx.x;
    if (i < n) out[i] = 2.0f * in[i];
}
KVD_REGISTER_KERNEL(pd_scale_ok)
extern "C" __global__ void pd_scale_oob_write(const float* in, float* out, int n) {
    const int i = blockIdx.x * blockDim.x + threadIdx.x;
    if (i <= n) out[i] = 2.0f * (i < n ? in[i] : 1.0f);  // planted: i == n is out of bounds
}
KVD_REGISTER_KERNEL(pd_scale_oob_write)

// out[i] = in[i] + in[i+1] over n-1 outputs; the defect computes n outputs, reading in[n],
// which the allocation holds (n+1 elements) but nobody wrote.
extern "C" __global__ void pd_pair_sum(const float* in, float* out, int count) {
    const int i = blockIdx.x * blockDim.x + threadIdx.x;
    if (i < count) out[i] = in[i] + in[i + 1];
}
KVD_REGISTER_KERNEL(pd_pair_sum)

// In-place left shift of each row of a (rows, n) matrix, one block per row; the defect lacks the
// barrier between staging a thread's value and writing it (issue 3's shift kernel's hazard).
extern "C" __global__ void pd_shift_rows_ok(float* a, int n) {
    float* row = a + (size_t)blockIdx.x * n;
    float v[4];
    int c = 0;
    for (int i = threadIdx.x; i < n - 1; i += blockDim.x) v[c++] = row[i + 1];
    __syncthreads();
    c = 0;
    for (int i = threadIdx.x; i < n - 1; i += blockDim.x) row[i] = v[c++];
}
KVD_REGISTER_KERNEL(pd_shift_rows_ok)
extern "C" __global__ void pd_shift_rows_no_barrier(float* a, int n) {
    float* row = a + (size_t)blockIdx.x * n;
    float v[4];
    int c = 0;
    for (int i = threadIdx.x; i < n - 1; i += blockDim.x) v[c++] = row[i + 1];
    // planted: missing __syncthreads()
    c = 0;
    for (int i = threadIdx.x; i < n - 1; i += blockDim.x) row[i] = v[c++];
}
KVD_REGISTER_KERNEL(pd_shift_rows_no_barrier)

// Warp sum in a block whose last warp is partial; the defect uses a full-warp shuffle there.
extern "C" __global__ void pd_warp_sum(const float* in, float* out, int fullMask) {
    const int t = threadIdx.x, lane = t & 31, warp = t >> 5;
    const int lanes = min(32, (int)blockDim.x - warp * 32);
    float v = in[t];
    if (fullMask) {
        for (int o = 16; o > 0; o >>= 1) v += __shfl_down_sync(0xffffffffu, v, o);  // planted when lanes < 32
    } else {
        const unsigned mask = lanes == 32 ? 0xffffffffu : (1u << lanes) - 1;
        for (int o = 16; o > 0; o >>= 1) {
            const float other = __shfl_down_sync(mask, v, o);
            if (lane + o < lanes) v += other;
        }
    }
    if (lane == 0) out[warp] = v;
}
KVD_REGISTER_KERNEL(pd_warp_sum)

// Block sum through static shared memory; the defect reads the partial sums before the barrier
// that publishes them (a missing __syncthreads between write and read).
extern "C" __global__ void pd_block_sum(const float* in, float* out, int barrier) {
    __shared__ float part[8];
    const int t = threadIdx.x;
    if ((t & 31) == 0) {
        float s = 0;
        for (int i = 0; i < 32; i++) s += in[blockIdx.x * blockDim.x + t + i];
        part[t >> 5] = s;
    }
    if (barrier) __syncthreads();  // planted when barrier == 0
    if (t == 0) {
        float s = 0;
        for (int w = 0; w < (int)blockDim.x / 32; w++) s += part[w];
        out[blockIdx.x] = s;
    }
}
KVD_REGISTER_KERNEL(pd_block_sum)

// Programmatic dependent launch: x[i] += 1 after griddepcontrol.wait; the defects never wait, or
// read x before waiting (on a GPU the predecessor may still be writing it).
extern "C" __global__ void pd_pdl_increment(float* x, int n) {
    kvd_emu_grid_dependency_wait();
    const int i = blockIdx.x * blockDim.x + threadIdx.x;
    if (i < n) x[i] += 1.0f;
}
KVD_REGISTER_KERNEL(pd_pdl_increment)
extern "C" __global__ void pd_pdl_no_wait(float* x, int n) {
    // planted: no griddepcontrol.wait (and no memory access either, which would fault first)
    if (n < 0) x[0] = 1.0f;
}
KVD_REGISTER_KERNEL(pd_pdl_no_wait)
extern "C" __global__ void pd_pdl_read_before_wait(float* x, int n) {
    const int i = blockIdx.x * blockDim.x + threadIdx.x;
    const float v = i < n ? x[i] : 0.0f;  // planted: reads before the wait
    kvd_emu_grid_dependency_wait();
    if (i < n) x[i] = v + 1.0f;
}
KVD_REGISTER_KERNEL(pd_pdl_read_before_wait)

static CUdeviceptr upload(const std::vector<float>& h, size_t extra = 0) {
    CUdeviceptr d = 0;
    cuMemAlloc_v2(&d, (h.size() + extra) * 4);
    cuMemcpyHtoD_v2(d, h.data(), h.size() * 4);
    return d;
}

EMU_TEST(out_of_bounds_write_is_caught_naming_the_kernel) {
    const int n = 100;
    std::vector<float> in(n, 1.0f);
    int nn = n;
    {
        Ctx c;
        CUdeviceptr din = upload(in), dout;
        CU(cuMemAlloc_v2(&dout, n * 4));
        void* args[] = {&din, &dout, &nn};
        CU(cuLaunchKernel(c.fn("pd_scale_ok"), 4, 1, 1, 32, 1, 1, 0, nullptr, args, nullptr));
        CU(cuCtxSynchronize());
    }
    Ctx c;
    CUdeviceptr din = upload(in), dout;
    CU(cuMemAlloc_v2(&dout, n * 4));
    void* args[] = {&din, &dout, &nn};
    CU(cuLaunchKernel(c.fn("pd_scale_oob_write"), 4, 1, 1, 32, 1, 1, 0, nullptr, args, nullptr));  // queued
    CHECK_FAILS(cuCtxSynchronize(), CUDA_ERROR_ILLEGAL_ADDRESS, "kernel pd_scale_oob_write");
    CHECK_FAILS(cuCtxSynchronize(), CUDA_ERROR_ILLEGAL_ADDRESS, "wrote past the end of device allocation");
    CUdeviceptr more;
    CHECK(cuMemAlloc_v2(&more, 4) == CUDA_ERROR_ILLEGAL_ADDRESS);  // sticky, as after a device fault
}

EMU_TEST(read_of_a_poisoned_element_is_caught_naming_the_kernel) {
    const int n = 64;
    std::vector<float> in(n);
    for (int i = 0; i < n; i++) in[i] = (float)i;
    {
        Ctx c;
        CUdeviceptr din = upload(in, 1), dout;
        CU(cuMemAlloc_v2(&dout, n * 4));
        int count = n - 1;
        void* args[] = {&din, &dout, &count};
        CU(cuLaunchKernel(c.fn("pd_pair_sum"), 2, 1, 1, 32, 1, 1, 0, nullptr, args, nullptr));
        CU(cuCtxSynchronize());
    }
    Ctx c;
    CUdeviceptr din = upload(in, 1), dout;
    CU(cuMemAlloc_v2(&dout, n * 4));
    int count = n;  // planted: reads in[n], allocated but never written
    void* args[] = {&din, &dout, &count};
    CU(cuLaunchKernel(c.fn("pd_pair_sum"), 2, 1, 1, 32, 1, 1, 0, nullptr, args, nullptr));
    CHECK_FAILS(cuCtxSynchronize(), CUDA_ERROR_LAUNCH_FAILED, "kernel pd_pair_sum");
    CHECK_FAILS(cuCtxSynchronize(), CUDA_ERROR_LAUNCH_FAILED, "wrote NaN to element 63");
}

EMU_TEST(missing_syncthreads_in_in_place_shift_is_caught_by_the_seeds) {
    const int rows = 3, n = 200;
    std::vector<float> a(rows * n);
    for (int i = 0; i < rows * n; i++) a[i] = (float)i;
    auto wrong_rows = [&](const char* kernel, unsigned long long seed) {
        Ctx c;
        kvdEmuSetSeed(seed);
        CUdeviceptr d = upload(a);
        int nn = n;
        void* args[] = {&d, &nn};
        cuLaunchKernel(c.fn(kernel), rows, 1, 1, 64, 1, 1, 0, nullptr, args, nullptr);
        std::vector<float> out(rows * n);
        cuMemcpyDtoH_v2(out.data(), d, out.size() * 4);
        int wrong = 0;
        for (int r = 0; r < rows; r++)
            for (int i = 0; i < n - 1; i++) wrong += out[r * n + i] != a[r * n + i + 1];
        return wrong;
    };
    const unsigned long long saved = kvdEmuGetSeed();
    int caught = 0;
    for (unsigned long long s : {1ull, 2ull, 3ull}) {
        CHECK_MSG(wrong_rows("pd_shift_rows_ok", s) == 0, "pd_shift_rows_ok wrong under seed %llu", s);
        const int w = wrong_rows("pd_shift_rows_no_barrier", s);
        if (w > 0) {
            fprintf(stderr, "  caught: kernel pd_shift_rows_no_barrier gives %d wrong elements under seed %llu\n", w, s);
            caught++;
        }
    }
    kvdEmuSetSeed(saved);
    CHECK_MSG(caught == 3, "the racy shift passed under %d of 3 seeds", 3 - caught);
}

EMU_TEST(read_of_unwritten_static_shared_memory_is_caught_naming_the_kernel) {
    const int blocks = 4, threads = 256;
    std::vector<float> in(blocks * threads, 0.5f);
    {
        Ctx c;
        CUdeviceptr din = upload(in), dout;
        CU(cuMemAlloc_v2(&dout, blocks * 4));
        int barrier = 1;
        void* args[] = {&din, &dout, &barrier};
        CU(cuLaunchKernel(c.fn("pd_block_sum"), blocks, 1, 1, threads, 1, 1, 0, nullptr, args, nullptr));
        float out[blocks];
        CU(cuMemcpyDtoH_v2(out, dout, sizeof out));
        for (float v : out) CHECK(v == 128.0f);
    }
    Ctx c;
    CUdeviceptr din = upload(in), dout;
    CU(cuMemAlloc_v2(&dout, blocks * 4));
    int barrier = 0;
    void* args[] = {&din, &dout, &barrier};
    CU(cuLaunchKernel(c.fn("pd_block_sum"), blocks, 1, 1, threads, 1, 1, 0, nullptr, args, nullptr));
    CHECK_FAILS(cuCtxSynchronize(), CUDA_ERROR_LAUNCH_FAILED, "kernel pd_block_sum");
}

EMU_TEST(shuffle_across_an_inactive_lane_is_caught_naming_the_kernel) {
    const int n = 48;  // the second warp has 16 lanes
    std::vector<float> in(n, 1.0f);
    {
        Ctx c;
        CUdeviceptr din = upload(in), dout;
        CU(cuMemAlloc_v2(&dout, 8));
        int full = 0;
        void* args[] = {&din, &dout, &full};
        CU(cuLaunchKernel(c.fn("pd_warp_sum"), 1, 1, 1, n, 1, 1, 0, nullptr, args, nullptr));
        float out[2];
        CU(cuMemcpyDtoH_v2(out, dout, 8));
        CHECK(out[0] == 32.0f && out[1] == 16.0f);
    }
    Ctx c;
    CUdeviceptr din = upload(in), dout;
    CU(cuMemAlloc_v2(&dout, 8));
    int full = 1;
    void* args[] = {&din, &dout, &full};
    CU(cuLaunchKernel(c.fn("pd_warp_sum"), 1, 1, 1, n, 1, 1, 0, nullptr, args, nullptr));
    CHECK_FAILS(cuCtxSynchronize(), CUDA_ERROR_LAUNCH_FAILED, "kernel pd_warp_sum");
    CHECK_FAILS(cuCtxSynchronize(), CUDA_ERROR_LAUNCH_FAILED, "which is inactive");
}

EMU_TEST(synchronous_copy_during_capture_is_caught_naming_the_call) {
    Ctx c;
    CUstream s;
    CU(cuStreamCreate(&s, 0));
    CUdeviceptr d;
    CU(cuMemAlloc_v2(&d, 64));
    float h[16] = {};
    CU(cuStreamBeginCapture_v2(s, CU_STREAM_CAPTURE_MODE_GLOBAL));
    CU(cuMemcpyHtoDAsync_v2(d, h, 64, s));  // the correct twin: an async copy on the capturing stream
    CHECK_FAILS(cuMemcpyHtoD_v2(d, h, 64), CUDA_ERROR_STREAM_CAPTURE_UNSUPPORTED, "cuMemcpyHtoD_v2");
    CUgraph g;
    CHECK_FAILS(cuStreamEndCapture(s, &g), CUDA_ERROR_STREAM_CAPTURE_INVALIDATED, "cuMemcpyHtoD_v2");
}

EMU_TEST(wrong_leading_dimension_in_a_gemm_is_caught_naming_the_call) {
    Ctx c;
    cublasHandle_t h;
    CHECK(cublasCreate_v2(&h) == CUBLAS_STATUS_SUCCESS);
    // y (n x 1) = W^T x, W stored (k x n) column-major: lda = k.
    const int n = 24, k = 40;
    CUdeviceptr w, x, y;
    CU(cuMemAlloc_v2(&w, n * k * 4)); CU(cuMemAlloc_v2(&x, k * 4)); CU(cuMemAlloc_v2(&y, n * 4));
    CU(cuMemsetD32_v2(w, 0x3f800000u, n * k)); CU(cuMemsetD32_v2(x, 0x3f800000u, k));
    const float one = 1, zero = 0;
    auto gemm = [&](int lda) {
        return cublasGemmEx(h, CUBLAS_OP_T, CUBLAS_OP_N, n, 1, k, &one, (void*)w, CUDA_R_32F, lda, (void*)x, CUDA_R_32F, k,
                            &zero, (void*)y, CUDA_R_32F, n, CUBLAS_COMPUTE_32F, CUBLAS_GEMM_DEFAULT);
    };
    CHECK(gemm(k) == CUBLAS_STATUS_SUCCESS);
    CU(cuCtxSynchronize());
    CHECK(gemm(k + 8) == CUBLAS_STATUS_INVALID_VALUE);  // planted: lda of a wider matrix runs past W
    CHECK_MSG(emu_test::detail_of(CUDA_ERROR_INVALID_VALUE).find("cublasGemmEx: A") != std::string::npos, "%s",
              emu_test::detail_of(CUDA_ERROR_INVALID_VALUE).c_str());
    CHECK(gemm(n) == CUBLAS_STATUS_INVALID_VALUE);      // planted: lda = rows of op(A), < k
    CHECK_MSG(emu_test::detail_of(CUDA_ERROR_INVALID_VALUE).find("cublasGemmEx: lda=24 < 40") != std::string::npos, "%s",
              emu_test::detail_of(CUDA_ERROR_INVALID_VALUE).c_str());
    cublasDestroy_v2(h);
}

// What a Java launcher does before its first launch: compare the argument layout it packs with
// cuFuncGetParamInfo; here a launcher that passes `n` as 8 bytes where the kernel takes an int.
EMU_TEST(kernel_argument_of_the_wrong_size_is_caught) {
    Ctx c;
    CUfunction f = c.fn("pd_scale_ok");
    const size_t launcherSizes[] = {8, 8, 8};  // planted: long n instead of int n
    const size_t rightSizes[] = {8, 8, 4};
    int mismatches = 0, rightMismatches = 0;
    for (int i = 0; i < 3; i++) {
        size_t off, size;
        CU(cuFuncGetParamInfo(f, i, &off, &size));
        mismatches += size != launcherSizes[i];
        rightMismatches += size != rightSizes[i];
    }
    CHECK(mismatches == 1 && rightMismatches == 0);
    // The same mistake through the packed-buffer launch: the size check names the kernel.
    CUdeviceptr a, b;
    CU(cuMemAlloc_v2(&a, 64)); CU(cuMemAlloc_v2(&b, 64));
    unsigned char buf[24] = {};
    std::memcpy(buf, &a, 8); std::memcpy(buf + 8, &b, 8);
    const long long n = 16;
    std::memcpy(buf + 16, &n, 8);
    size_t bytes = 24;
    void* extra[] = {CU_LAUNCH_PARAM_BUFFER_POINTER, buf, CU_LAUNCH_PARAM_BUFFER_SIZE, &bytes, CU_LAUNCH_PARAM_END};
    CHECK_FAILS(cuLaunchKernel(f, 1, 1, 1, 16, 1, 1, 0, nullptr, nullptr, extra), CUDA_ERROR_INVALID_VALUE,
                "cuLaunchKernel(pd_scale_ok): the argument buffer holds 24 bytes, the kernel's parameters take 20");
}

// cuLaunchKernelEx with CU_LAUNCH_ATTRIBUTE_PROGRAMMATIC_STREAM_SERIALIZATION (value 1).
static CUresult launch_pdl(CUfunction f, CUstream s, void** args, int n, int value = 1, int id = 6, unsigned char pad = 0) {
    CUlaunchAttribute attr;
    std::memset(&attr, 0, sizeof attr);
    attr.id = (CUlaunchAttributeID)id;
    reinterpret_cast<unsigned char*>(&attr)[5] = pad;
    attr.value.programmaticStreamSerializationAllowed = value;
    CUlaunchConfig cfg;
    std::memset(&cfg, 0, sizeof cfg);
    cfg.gridDimX = (n + 31) / 32; cfg.gridDimY = 1; cfg.gridDimZ = 1;
    cfg.blockDimX = 32; cfg.blockDimY = 1; cfg.blockDimZ = 1;
    cfg.hStream = s;
    cfg.attrs = &attr;
    cfg.numAttrs = 1;
    return cuLaunchKernelEx(&cfg, f, args, nullptr);
}

EMU_TEST(programmatic_launch_is_validated_run_in_order_and_captured) {
    const int n = 40;
    Ctx c;
    CUstream s;
    CU(cuStreamCreate(&s, CU_STREAM_NON_BLOCKING));
    CUdeviceptr x = upload(std::vector<float>(n, 0.0f));
    CU(cuCtxSynchronize());  // the pageable copy lands before work on a non-blocking stream
    int nn = n;
    void* args[] = {&x, &nn};
    CUfunction inc = c.fn("pd_pdl_increment");
    CU(launch_pdl(inc, s, args, n));
    CU(launch_pdl(inc, s, args, n, 0));  // value 0: an ordinary launch
    CU(launch_pdl(inc, s, args, n));
    CHECK_FAILS(launch_pdl(inc, s, args, n, 2), CUDA_ERROR_INVALID_VALUE, "programmaticStreamSerializationAllowed is 2");
    CHECK_FAILS(launch_pdl(inc, s, args, n, 1, 1), CUDA_ERROR_NOT_SUPPORTED, "has id 1");
    CHECK_FAILS(launch_pdl(inc, s, args, n, 1, 6, 0x5a), CUDA_ERROR_INVALID_VALUE, "padding byte 5");
    CU(cuStreamBeginCapture_v2(s, CU_STREAM_CAPTURE_MODE_THREAD_LOCAL));
    CU(launch_pdl(inc, s, args, n));
    CU(launch_pdl(inc, s, args, n));
    CUgraph g;
    CU(cuStreamEndCapture(s, &g));
    CUgraphExec ge;
    CU(cuGraphInstantiateWithFlags(&ge, g, 0));
    CU(cuGraphLaunch(ge, s));
    CU(cuGraphLaunch(ge, s));
    CU(cuStreamSynchronize(s));
    std::vector<float> out(n);
    CU(cuMemcpyDtoH_v2(out.data(), x, n * 4));
    for (float v : out) CHECK_MSG(v == 7.0f, "%g after 3 launches and 2 replays of 2", v);
    cuGraphExecDestroy(ge);
    cuGraphDestroy(g);
}

EMU_TEST(programmatic_launch_of_a_kernel_that_never_waits_is_caught) {
    const int n = 40;
    Ctx c;
    CUdeviceptr x = upload(std::vector<float>(n, 0.0f));
    int nn = n;
    void* args[] = {&x, &nn};
    CU(cuLaunchKernel(c.fn("pd_pdl_no_wait"), 2, 1, 1, 32, 1, 1, 0, nullptr, args, nullptr));  // not programmatic: fine
    CU(cuCtxSynchronize());
    CU(launch_pdl(c.fn("pd_pdl_no_wait"), nullptr, args, n));
    CHECK_FAILS(cuCtxSynchronize(), CUDA_ERROR_LAUNCH_FAILED, "never called griddepcontrol.wait");
}

// A read before the wait faults (the block's device memory is closed until then): in a child
// process, whose death by SIGSEGV and message the parent checks.
EMU_TEST(programmatic_launch_reading_before_its_wait_faults_naming_the_kernel) {
    int fds[2];
    CHECK(pipe(fds) == 0);
    fflush(stderr);
    const pid_t pid = fork();
    if (pid == 0) {
        dup2(fds[1], 2);
        close(fds[0]);
        const int n = 40;
        Ctx c;
        CUdeviceptr x = upload(std::vector<float>(n, 0.0f));
        int nn = n;
        void* args[] = {&x, &nn};
        launch_pdl(c.fn("pd_pdl_read_before_wait"), nullptr, args, n);
        cuCtxSynchronize();
        _exit(0);  // not reached when the emulator catches the read
    }
    close(fds[1]);
    std::string text;
    char buf[512];
    ssize_t r;
    while ((r = read(fds[0], buf, sizeof buf)) > 0) text.append(buf, (size_t)r);
    close(fds[0]);
    int status = 0;
    waitpid(pid, &status, 0);
    CHECK_MSG(WIFSIGNALED(status) && WTERMSIG(status) == SIGSEGV, "child status 0x%x, output: %s", status, text.c_str());
    CHECK_MSG(text.find("kernel pd_pdl_read_before_wait accessed device address") != std::string::npos &&
              text.find("before griddepcontrol.wait") != std::string::npos, "output: %s", text.c_str());
    fprintf(stderr, "  caught: %s", text.c_str());
}

EMU_TEST_MAIN("emu_planted_defects")
