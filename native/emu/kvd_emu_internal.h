// Internals shared by the emulator's runtime files (not seen by kernels).
#pragma once

#define KVD_EMU_BUILDING_RUNTIME 1
#include <cuda.h>
#include "kvd_emu.h"

#include <cstdarg>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

namespace kvd {

// Every API entry point holds this lock: the emulated device has one engine, and kernels, copies
// and GEMMs run on the calling thread when a synchronising call needs their results.
std::recursive_mutex& api_lock();

// ---- messages: one line on stderr; the detail is also what cuGetErrorString returns for that code ----
CUresult fail(CUresult code, const char* fmt, ...) __attribute__((format(printf, 2, 3)));
std::string format(const char* fmt, ...) __attribute__((format(printf, 1, 2)));
const char* detail_for(CUresult code);  // the detailed message of the last failure with this code, or null

// ---- KVDECODE_EMU_PROFILE=1: time per kernel/GEMM and per phase, printed at exit ----
bool profiling();
void profile_add(const char* what, const char* phase, double ms);
double now_ms_raw();

// ---- scheduling seed (KVDECODE_EMU_SEED; 0 = program order, no fuzz) ----
uint64_t seed();
uint64_t next_launch_salt();

// ---- device heap (kvd_emu_heap.cpp) ----
struct Allocation {
    uint64_t id;
    uint64_t base;       // device address of the first byte
    size_t sizeBytes;
    size_t spanOffset;   // the span (guards included) in the arena
    size_t spanBytes;
};
void heap_init();
// Fills with the poison pattern (0x7fbf at every even address).
void poison(void* p, size_t bytes);
// KVDECODE_EMU_NANCHECK (default 1): NaN written by a kernel or GEMM is an error.
bool nan_check_enabled();
void set_nan_check(bool on);
// The first element of [before, after) (kind 1 fp32, 2 fp16, 3 bf16) that changed and is NaN, or -1.
long long first_new_nan(const unsigned char* before, const unsigned char* after, size_t bytes, int kind);
CUresult heap_alloc(size_t sizeBytes, uint64_t* out);
CUresult heap_free(uint64_t base);
void heap_free_all();
size_t heap_used_bytes();
size_t heap_live_count();
// The live allocation holding [p, p+n) (n may be 0: p may then also be one past the end), or null.
const Allocation* heap_find(uint64_t p, size_t n);
// The host-side alias of device address p (the device range itself is inaccessible outside kernels).
void* heap_host(uint64_t p);
bool heap_is_device(uint64_t p);
// Make the device range readable and writable for a kernel, and inaccessible again after.
void heap_open_for_kernels();
void heap_close_for_kernels();
// Guard zones of every live allocation; the first corruption as a message (guards restored), or "".
std::string heap_check_guards();
// Pinned host memory (cuMemHostAlloc): host pointers kernels and async copies may use.
void* pinned_alloc(size_t sizeBytes);
bool pinned_free(void* p);
bool pinned_contains(const void* p, size_t n);
// Bytes of live pinned allocations (as requested); their number in *count when count is not null.
size_t pinned_used_bytes(size_t* count);

// ---- crash reports: a SIGSEGV on the device range prints what it means (host access to device
// memory, a kernel touching freed memory) and is then passed on to the previous handler (the
// JVM's, which writes hs_err, or the default action) ----
void install_fault_reporter();
const char* running_kernel_name();
// Whether the running kernel is a programmatic dependent launch whose block has not yet called griddepcontrol.wait.
bool running_block_before_dependency_wait();

// ---- kernels (kvd_emu_fiber.cpp) ----
const kvd_emu_kernel* find_kernel(const char* name);
size_t kernel_count();
struct KernelRun {
    const kvd_emu_kernel* kernel;
    unsigned grid[3];
    unsigned block[3];
    unsigned sharedBytes;
    const unsigned char* params;
    // Launched with CU_LAUNCH_ATTRIBUTE_PROGRAMMATIC_STREAM_SERIALIZATION (cuLaunchKernelEx): every
    // block must call griddepcontrol.wait, and device memory is closed to it until it does.
    bool pdl = false;
};
// Runs every block of the launch; returns CUDA_SUCCESS or the failure (already reported).
CUresult run_kernel(const KernelRun& run);
// The dynamic shared memory (extern __shared__) of the running block and its limit.
size_t max_dynamic_shared_bytes();

// ---- streams, graphs and the work queue (kvd_emu_driver.cpp) ----
struct GemmCall;  // kvd_emu_cublas.cpp
struct Op {
    enum Kind { KERNEL, COPY, MEMSET, EVENT_RECORD, GEMM } kind;
    // KERNEL
    const kvd_emu_kernel* kernel = nullptr;
    unsigned grid[3] = {1, 1, 1}, block[3] = {1, 1, 1}, sharedBytes = 0;
    bool pdl = false;  // cuLaunchKernelEx with programmatic stream serialization
    std::vector<unsigned char> params;
    // COPY: dst/src are device addresses or host pointers (dstDevice/srcDevice say which)
    uint64_t dst = 0, src = 0;
    size_t bytes = 0;
    bool dstDevice = false, srcDevice = false;
    std::vector<unsigned char> staged;  // pageable host source copied when the call was made
    bool useStaged = false;
    // MEMSET
    uint32_t value = 0;
    int elemBytes = 1;
    size_t count = 0;
    // EVENT_RECORD
    struct Event* event = nullptr;
    // GEMM
    std::shared_ptr<GemmCall> gemm;
    std::string what;  // "cuMemcpyHtoDAsync_v2" etc. for messages
};
struct Stream;
// Queue op on stream (or record it into the stream's capture). Returns the call's CUresult.
CUresult submit(Stream* s, Op op);
Stream* resolve_stream(CUstream h, CUresult* err);
CUresult check_context();
CUresult sticky_error();

// cuBLAS GEMM execution (kvd_emu_cublas.cpp), called by the queue.
CUresult run_gemm(const GemmCall& g);

}  // namespace kvd
