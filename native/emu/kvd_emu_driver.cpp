// The CUDA driver API subset kvdecode binds, on the host, with the real symbol names and
// signatures (this file includes the toolkit's cuda.h, so the compiler checks every definition
// against NVIDIA's prototype).
//
// Work model: every asynchronous operation goes into one queue in submission order and runs only
// when a synchronising call needs it (stream/event/context synchronise, a synchronous copy, a free),
// so a host read that forgot to synchronise sees stale data, as it may on a GPU. Stream capture
// records operations (kernel arguments copied at capture, copy sources read at replay) into a
// graph; what CUDA forbids while capturing fails with CUDA's error and invalidates the capture.
// A failing kernel or GEMM leaves a sticky error, as a device fault does, until the primary
// context is released.
#include "kvd_emu_internal.h"

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <deque>
#include <map>
#include <algorithm>
#include <set>

namespace kvd {
namespace {

constexpr size_t kTotalMemBytes = size_t(16) << 30;
constexpr int kDefaultDynShared = 48 * 1024;

struct Context {
    int refs = 0;
};
struct Graph {
    std::vector<Op> nodes;
};
struct Capture {
    Graph graph;
    bool invalidated = false;
    int mode = 0;
    Stream* origin = nullptr;
    std::string why;
};
}  // namespace

struct Stream {
    uint64_t lastSeq = 0;
    bool legacy = false;
    bool nonBlocking = false;  // CU_STREAM_NON_BLOCKING: no implicit ordering with the legacy stream
    Capture* capture = nullptr;
};
struct Event {
    unsigned flags = 0;
    bool recorded = false;
    uint64_t seq = 0;
    bool done = false;
    double timeMs = 0;
    Capture* capturedIn = nullptr;
};

namespace {
struct Module {
    bool loaded = true;
    std::map<std::string, struct Function*> functions;
};
struct Function {
    const kvd_emu_kernel* kernel;
    Module* module;
    int maxDynShared = kDefaultDynShared;
};
struct GraphExec {
    std::vector<Op> nodes;
};
struct Pending {
    uint64_t seq;
    Op op;
};

struct Driver {
    bool initialized = false;
    Context primary;
    Stream legacyStream, perThreadStream;
    std::set<Stream*> streams;
    std::set<Event*> events;
    std::set<Module*> modules;
    std::set<Function*> functions;
    std::set<Graph*> graphs;
    std::set<GraphExec*> execs;
    std::set<Capture*> captures;
    std::deque<Pending> queue;
    // Synchronous host-to-device copies from pageable memory whose "DMA" has not landed yet: CUDA
    // returns once the source is staged, and the copy runs on the legacy stream, which work on a
    // non-blocking stream does not wait for. Modelled as maximally late: applied only when the
    // legacy stream is next synchronised with (a synchronous call, cuCtxSynchronize, the legacy
    // stream's own sync) or before work on a stream that is ordered after it (legacy/blocking).
    std::vector<Op> lateDma;
    uint64_t nextSeq = 1;
    CUresult sticky = CUDA_SUCCESS;
    std::chrono::steady_clock::time_point epoch = std::chrono::steady_clock::now();
    Driver() { legacyStream.legacy = true; }
};
Driver& D() {
    static Driver* d = new Driver();  // never destroyed: Java may call in during JVM shutdown
    return *d;
}
thread_local Context* tl_current = nullptr;

// ---- messages ----
struct Messages {
    std::map<int, const char*> byCode;
};
Messages& messages() {
    static Messages* m = new Messages();
    return *m;
}
uint64_t g_seed = 0;
bool g_seedSet = false;
uint64_t g_launches = 0;
}  // namespace

std::recursive_mutex& api_lock() {
    static std::recursive_mutex* m = new std::recursive_mutex();
    return *m;
}

std::string format(const char* fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    char buf[2048];
    vsnprintf(buf, sizeof buf, fmt, ap);
    va_end(ap);
    return buf;
}

CUresult fail(CUresult code, const char* fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    char buf[2048];
    vsnprintf(buf, sizeof buf, fmt, ap);
    va_end(ap);
    fprintf(stderr, "kvdecode-emu: %s\n", buf);
    // Kept for cuGetErrorString (never freed: callers may hold the pointer).
    messages().byCode[(int)code] = strdup(buf);
    return code;
}

const char* detail_for(CUresult code) {
    auto it = messages().byCode.find((int)code);
    return it == messages().byCode.end() ? nullptr : it->second;
}

double now_ms_raw() {
    return std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now().time_since_epoch()).count();
}

namespace {
struct ProfileEntry { double ms = 0; long calls = 0; };
std::map<std::string, std::map<std::string, ProfileEntry>>& profile_table() {
    static auto* t = new std::map<std::string, std::map<std::string, ProfileEntry>>();
    return *t;
}
void print_profile() {
    std::vector<std::pair<double, std::string>> rows;
    for (auto& [what, phases] : profile_table()) {
        double total = 0;
        std::string line;
        for (auto& [phase, e] : phases) {
            total += e.ms;
            line += format("  %s %.1f ms/%ld", phase.c_str(), e.ms, e.calls);
        }
        rows.emplace_back(total, format("%-32s %9.1f ms%s", what.c_str(), total, line.c_str()));
    }
    std::sort(rows.rbegin(), rows.rend());
    fprintf(stderr, "kvdecode-emu profile (KVDECODE_EMU_PROFILE):\n");
    for (auto& r : rows) fprintf(stderr, "  %s\n", r.second.c_str());
}
}  // namespace

bool profiling() {
    static int on = -1;
    if (on < 0) {
        const char* s = getenv("KVDECODE_EMU_PROFILE");
        on = s && s[0] && s[0] != '0';
        if (on) atexit(print_profile);
    }
    return on == 1;
}

void profile_add(const char* what, const char* phase, double ms) {
    ProfileEntry& e = profile_table()[what][phase];
    e.ms += ms;
    e.calls++;
}

uint64_t seed() {
    if (!g_seedSet) {
        const char* s = getenv("KVDECODE_EMU_SEED");
        g_seed = s && *s ? strtoull(s, nullptr, 0) : 0x6b7664ull;  // "kvd": fuzzing is on by default
        g_seedSet = true;
    }
    return g_seed;
}
uint64_t next_launch_salt() { return ++g_launches; }

CUresult sticky_error() { return D().sticky; }

CUresult check_context() {
    if (!D().initialized) return CUDA_ERROR_NOT_INITIALIZED;
    if (!tl_current || tl_current->refs <= 0) return CUDA_ERROR_INVALID_CONTEXT;
    return CUDA_SUCCESS;
}

Stream* resolve_stream(CUstream h, CUresult* err) {
    *err = CUDA_SUCCESS;
    if (h == nullptr || h == CU_STREAM_LEGACY) return &D().legacyStream;
    if (h == CU_STREAM_PER_THREAD) return &D().perThreadStream;
    Stream* s = reinterpret_cast<Stream*>(h);
    if (!D().streams.count(s)) { *err = CUDA_ERROR_INVALID_HANDLE; return nullptr; }
    return s;
}

namespace {

double now_ms() {
    return std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - D().epoch).count();
}

bool any_capture_active() {
    for (Capture* c : D().captures) if (c->mode != CU_STREAM_CAPTURE_MODE_RELAXED) return true;
    return false;
}

// A call CUDA does not allow while a stream is being captured (in global or thread-local mode):
// it fails, and the capture is invalidated (cuStreamEndCapture then reports it).
CUresult forbid_during_capture(const char* call) {
    if (!any_capture_active()) return CUDA_SUCCESS;
    for (Capture* c : D().captures) {
        if (c->mode == CU_STREAM_CAPTURE_MODE_RELAXED) continue;
        c->invalidated = true;
        if (c->why.empty()) c->why = call;
    }
    return fail(CUDA_ERROR_STREAM_CAPTURE_UNSUPPORTED, "%s: not permitted while a stream is being captured "
                "(the capture is now invalidated)", call);
}

bool pointer_ok(uint64_t p) {
    return p == 0 || heap_find(p, 0) != nullptr || pinned_contains(reinterpret_cast<const void*>(p), 0);
}

// The first pointer parameter that is not null and not inside a live allocation, or -1.
int bad_pointer_param(const kvd_emu_kernel* k, const unsigned char* params, uint64_t* value) {
    for (int i = 0; i < k->paramCount; i++) {
        if (!k->params[i].isPointer) continue;
        uint64_t p;
        std::memcpy(&p, params + k->params[i].offset, 8);
        if (!pointer_ok(p)) { *value = p; return i; }
    }
    return -1;
}

// Kernels run with programmatic stream serialization (kvdEmuProgrammaticLaunches).
static unsigned long long g_programmatic_runs = 0;

CUresult execute(Op& op) {
    switch (op.kind) {
        case Op::KERNEL: {
            if (op.pdl) g_programmatic_runs++;
            uint64_t v;
            const int bad = bad_pointer_param(op.kernel, op.params.data(), &v);
            if (bad >= 0)
                return fail(CUDA_ERROR_ILLEGAL_ADDRESS, "kernel %s: pointer parameter #%d (0x%llx) no longer points into "
                            "a live allocation when the kernel runs (freed after the launch?)", op.kernel->name, bad,
                            (unsigned long long)v);
            KernelRun r{op.kernel, {op.grid[0], op.grid[1], op.grid[2]}, {op.block[0], op.block[1], op.block[2]},
                        op.sharedBytes, op.params.data()};
            r.pdl = op.pdl;
            return run_kernel(r);
        }
        case Op::COPY: {
            void* dst;
            const void* src;
            if (op.dstDevice) {
                if (!heap_find(op.dst, op.bytes))
                    return fail(CUDA_ERROR_ILLEGAL_ADDRESS, "%s: destination 0x%llx (+%zu bytes) is not inside a live "
                                "allocation when the copy runs", op.what.c_str(), (unsigned long long)op.dst, op.bytes);
                dst = heap_host(op.dst);
            } else {
                dst = reinterpret_cast<void*>(op.dst);
            }
            if (op.useStaged) {
                src = op.staged.data();
            } else if (op.srcDevice) {
                if (!heap_find(op.src, op.bytes))
                    return fail(CUDA_ERROR_ILLEGAL_ADDRESS, "%s: source 0x%llx (+%zu bytes) is not inside a live "
                                "allocation when the copy runs", op.what.c_str(), (unsigned long long)op.src, op.bytes);
                src = heap_host(op.src);
            } else {
                src = reinterpret_cast<const void*>(op.src);
            }
            std::memmove(dst, src, op.bytes);
            return CUDA_SUCCESS;
        }
        case Op::MEMSET: {
            if (!heap_find(op.dst, op.count * op.elemBytes))
                return fail(CUDA_ERROR_ILLEGAL_ADDRESS, "%s: 0x%llx (+%zu bytes) is not inside a live allocation when "
                            "the memset runs", op.what.c_str(), (unsigned long long)op.dst, op.count * op.elemBytes);
            unsigned char* d = static_cast<unsigned char*>(heap_host(op.dst));
            if (op.elemBytes == 1) {
                std::memset(d, (int)(op.value & 0xff), op.count);
            } else if (op.elemBytes == 2) {
                const uint16_t v = (uint16_t)op.value;
                for (size_t i = 0; i < op.count; i++) std::memcpy(d + 2 * i, &v, 2);
            } else {
                const uint32_t v = op.value;
                for (size_t i = 0; i < op.count; i++) std::memcpy(d + 4 * i, &v, 4);
            }
            return CUDA_SUCCESS;
        }
        case Op::EVENT_RECORD:
            op.event->done = true;
            op.event->timeMs = now_ms();
            return CUDA_SUCCESS;
        case Op::GEMM:
            return run_gemm(*op.gemm);
    }
    return CUDA_ERROR_UNKNOWN;
}

// Runs queued work up to and including sequence number upto.
CUresult drain(uint64_t upto) {
    Driver& d = D();
    while (!d.queue.empty() && d.queue.front().seq <= upto) {
        Pending p = std::move(d.queue.front());
        d.queue.pop_front();
        if (d.sticky != CUDA_SUCCESS) continue;
        const CUresult r = execute(p.op);
        if (r != CUDA_SUCCESS) {
            d.sticky = r;
            d.queue.clear();
        }
    }
    return d.sticky;
}
// Applies the late host-to-device copies, in the order they were made.
CUresult land_late_dma() {
    Driver& d = D();
    std::vector<Op> late;
    late.swap(d.lateDma);
    for (Op& op : late) {
        if (d.sticky != CUDA_SUCCESS) break;
        const CUresult r = execute(op);
        if (r != CUDA_SUCCESS) d.sticky = r;
    }
    return d.sticky;
}
// Everything queued, then the late copies: what synchronising with the legacy stream waits for.
CUresult drain_all() {
    const CUresult r = drain(UINT64_MAX);
    if (r != CUDA_SUCCESS) return r;
    return land_late_dma();
}

void reset_device_state() {
    Driver& d = D();
    d.queue.clear();
    d.lateDma.clear();
    d.sticky = CUDA_SUCCESS;
    for (Capture* c : d.captures) delete c;
    d.captures.clear();
    d.legacyStream.capture = nullptr;
    d.perThreadStream.capture = nullptr;
    for (Stream* s : d.streams) s->capture = nullptr;
    heap_free_all();
}

}  // namespace

CUresult submit(Stream* s, Op op) {
    Driver& d = D();
    if (d.sticky != CUDA_SUCCESS) return d.sticky;
    if (s->capture) {
        if (s->capture->invalidated) return CUDA_ERROR_STREAM_CAPTURE_INVALIDATED;
        if (op.kind == Op::EVENT_RECORD) op.event->capturedIn = s->capture;
        s->capture->graph.nodes.push_back(std::move(op));
        return CUDA_SUCCESS;
    }
    if (s->legacy && any_capture_active()) {
        for (Capture* c : d.captures) {
            c->invalidated = true;
            if (c->why.empty()) c->why = op.what;
        }
        return fail(CUDA_ERROR_STREAM_CAPTURE_IMPLICIT, "%s on the legacy default stream while another stream is being "
                    "captured (the capture is now invalidated)", op.what.c_str());
    }
    if (!s->nonBlocking && !d.lateDma.empty()) {
        // the legacy stream and blocking streams are ordered after the legacy copies
        std::vector<Op> late;
        late.swap(d.lateDma);
        for (Op& l : late) d.queue.push_back(Pending{d.nextSeq++, std::move(l)});
    }
    const uint64_t seq = d.nextSeq++;
    s->lastSeq = seq;
    if (op.kind == Op::EVENT_RECORD) {
        op.event->recorded = true;
        op.event->done = false;
        op.event->seq = seq;
        op.event->capturedIn = nullptr;
    }
    d.queue.push_back(Pending{seq, std::move(op)});
    return CUDA_SUCCESS;
}

}  // namespace kvd

using namespace kvd;

#define KVD_LOCK std::lock_guard<std::recursive_mutex> kvd_lock_guard(api_lock())
#define KVD_CTX                                                   \
    do {                                                          \
        const CUresult kvd_ctx_err = check_context();             \
        if (kvd_ctx_err != CUDA_SUCCESS) return kvd_ctx_err;      \
    } while (0)
#define KVD_STREAM(var, handle)                                   \
    CUresult var##_err;                                           \
    Stream* var = resolve_stream(handle, &var##_err);             \
    if (!var) return var##_err

namespace {

struct ErrorName {
    int code;
    const char* name;
    const char* text;
};
const ErrorName kErrors[] = {
    {0, "CUDA_SUCCESS", "no error"},
    {1, "CUDA_ERROR_INVALID_VALUE", "invalid argument"},
    {2, "CUDA_ERROR_OUT_OF_MEMORY", "out of memory"},
    {3, "CUDA_ERROR_NOT_INITIALIZED", "initialization error"},
    {4, "CUDA_ERROR_DEINITIALIZED", "driver shutting down"},
    {34, "CUDA_ERROR_STUB_LIBRARY", "CUDA driver is a stub library"},
    {46, "CUDA_ERROR_DEVICE_UNAVAILABLE", "CUDA-capable device(s) is/are busy or unavailable"},
    {100, "CUDA_ERROR_NO_DEVICE", "no CUDA-capable device is detected"},
    {101, "CUDA_ERROR_INVALID_DEVICE", "invalid device ordinal"},
    {200, "CUDA_ERROR_INVALID_IMAGE", "device kernel image is invalid"},
    {201, "CUDA_ERROR_INVALID_CONTEXT", "invalid device context"},
    {209, "CUDA_ERROR_NO_BINARY_FOR_GPU", "no kernel image is available for execution on the device"},
    {218, "CUDA_ERROR_INVALID_PTX", "a PTX JIT compilation failed"},
    {400, "CUDA_ERROR_INVALID_HANDLE", "invalid resource handle"},
    {401, "CUDA_ERROR_ILLEGAL_STATE", "the operation cannot be performed in the present state"},
    {500, "CUDA_ERROR_NOT_FOUND", "named symbol not found"},
    {600, "CUDA_ERROR_NOT_READY", "device not ready"},
    {700, "CUDA_ERROR_ILLEGAL_ADDRESS", "an illegal memory access was encountered"},
    {701, "CUDA_ERROR_LAUNCH_OUT_OF_RESOURCES", "too many resources requested for launch"},
    {702, "CUDA_ERROR_LAUNCH_TIMEOUT", "the launch timed out and was terminated"},
    {709, "CUDA_ERROR_CONTEXT_IS_DESTROYED", "context is destroyed"},
    {710, "CUDA_ERROR_ASSERT", "device-side assert triggered"},
    {715, "CUDA_ERROR_ILLEGAL_INSTRUCTION", "an illegal instruction was encountered"},
    {716, "CUDA_ERROR_MISALIGNED_ADDRESS", "misaligned address"},
    {719, "CUDA_ERROR_LAUNCH_FAILED", "unspecified launch failure"},
    {800, "CUDA_ERROR_NOT_PERMITTED", "operation not permitted"},
    {801, "CUDA_ERROR_NOT_SUPPORTED", "operation not supported"},
    {900, "CUDA_ERROR_STREAM_CAPTURE_UNSUPPORTED", "operation not permitted when stream is capturing"},
    {901, "CUDA_ERROR_STREAM_CAPTURE_INVALIDATED", "operation failed due to a previous error during capture"},
    {902, "CUDA_ERROR_STREAM_CAPTURE_MERGE", "operation would result in a merge of separate capture sequences"},
    {903, "CUDA_ERROR_STREAM_CAPTURE_UNMATCHED", "capture was not ended in the same stream as it began"},
    {904, "CUDA_ERROR_STREAM_CAPTURE_UNJOINED", "capturing stream has unjoined work"},
    {905, "CUDA_ERROR_STREAM_CAPTURE_ISOLATION", "dependency created on uncaptured work in another stream"},
    {906, "CUDA_ERROR_STREAM_CAPTURE_IMPLICIT", "operation would make the legacy stream depend on a capturing blocking stream"},
    {907, "CUDA_ERROR_CAPTURED_EVENT", "operation not permitted on an event last recorded in a capturing stream"},
    {908, "CUDA_ERROR_STREAM_CAPTURE_WRONG_THREAD", "attempt to terminate a thread-local capture sequence from another thread"},
    {999, "CUDA_ERROR_UNKNOWN", "unknown error"},
};
const ErrorName* error_entry(CUresult e) {
    for (const ErrorName& n : kErrors) if (n.code == (int)e) return &n;
    return nullptr;
}

bool image_ok(const void* image) {
    const unsigned char* b = static_cast<const unsigned char*>(image);
    uint32_t magic;
    std::memcpy(&magic, b, 4);
    if (magic == 0xBA55ED50u || magic == 0x466243B1u) return true;           // fatbin / fatbin wrapper
    if (b[0] == 0x7f && b[1] == 'E' && b[2] == 'L' && b[3] == 'F') return true;  // cubin
    if (std::memcmp(b, "KVDEMU", 6) == 0) return true;  // marker used where nvcc is absent
    const char* t = static_cast<const char*>(image);
    return (t[0] == '/' && t[1] == '/') || std::strncmp(t, ".version", 8) == 0;  // PTX text
}

}  // namespace

extern "C" {

// ---- emulator extras (not CUDA API) ----
void kvdEmuSetSeed(unsigned long long s) {
    KVD_LOCK;
    g_seed = s;
    g_seedSet = true;
}
unsigned long long kvdEmuGetSeed(void) {
    KVD_LOCK;
    return seed();
}
// For a test that wants a kernel to write NaN (e.g. an embedding row for an out-of-range id):
// turns the NaN check off and on around it; returns the previous setting.
int kvdEmuSetNanCheck(int on) {
    KVD_LOCK;
    const int was = nan_check_enabled();
    set_nan_check(on != 0);
    return was;
}
const char* kvdEmuLastError(int code) {
    KVD_LOCK;
    return detail_for((CUresult)code);
}
int kvdEmuIsEmulator(void) { return 1; }
// Kernels that have run as programmatic dependent launches (cuLaunchKernelEx with programmatic
// stream serialization), eagerly or replayed from a graph: the launch-budget test checks every
// kernel of the decode step goes out that way (runtime CudaLaunchBudgetTest).
unsigned long long kvdEmuProgrammaticLaunches(void) {
    KVD_LOCK;
    return g_programmatic_runs;
}
// What is allocated now, for the leak tests (runtime MemoryLoopTest; no context needed): out[0]
// device bytes in use, out[1] live device allocations, out[2] pinned host bytes (cuMemHostAlloc),
// out[3] live pinned allocations.
void kvdEmuMemoryInUse(unsigned long long* out) {
    KVD_LOCK;
    size_t pinnedCount = 0;
    out[0] = heap_used_bytes();
    out[1] = heap_live_count();
    out[2] = pinned_used_bytes(&pinnedCount);
    out[3] = pinnedCount;
}

// ---- errors, version, init, device ----
CUresult CUDAAPI cuGetErrorName(CUresult error, const char** pStr) {
    if (!pStr) return CUDA_ERROR_INVALID_VALUE;
    const ErrorName* n = error_entry(error);
    *pStr = n ? n->name : nullptr;
    return n ? CUDA_SUCCESS : CUDA_ERROR_INVALID_VALUE;
}

CUresult CUDAAPI cuGetErrorString(CUresult error, const char** pStr) {
    if (!pStr) return CUDA_ERROR_INVALID_VALUE;
    KVD_LOCK;
    const ErrorName* n = error_entry(error);
    if (!n) { *pStr = nullptr; return CUDA_ERROR_INVALID_VALUE; }
    // The emulator's detail (which kernel, which allocation) when this code was the last failure.
    const char* detail = detail_for(error);
    *pStr = detail ? detail : n->text;
    return CUDA_SUCCESS;
}

CUresult CUDAAPI cuDriverGetVersion(int* driverVersion) {
    if (!driverVersion) return CUDA_ERROR_INVALID_VALUE;
    *driverVersion = CUDA_VERSION;
    return CUDA_SUCCESS;
}

CUresult CUDAAPI cuInit(unsigned int Flags) {
    KVD_LOCK;
    if (Flags != 0) return CUDA_ERROR_INVALID_VALUE;
    heap_init();
    D().initialized = true;
    return CUDA_SUCCESS;
}

CUresult CUDAAPI cuDeviceGet(CUdevice* device, int ordinal) {
    KVD_LOCK;
    if (!D().initialized) return CUDA_ERROR_NOT_INITIALIZED;
    if (!device) return CUDA_ERROR_INVALID_VALUE;
    if (ordinal != 0) return CUDA_ERROR_INVALID_DEVICE;
    *device = 0;
    return CUDA_SUCCESS;
}

CUresult CUDAAPI cuDeviceGetCount(int* count) {
    KVD_LOCK;
    if (!D().initialized) return CUDA_ERROR_NOT_INITIALIZED;
    if (!count) return CUDA_ERROR_INVALID_VALUE;
    *count = 1;
    return CUDA_SUCCESS;
}

CUresult CUDAAPI cuDeviceGetName(char* name, int len, CUdevice dev) {
    KVD_LOCK;
    if (!D().initialized) return CUDA_ERROR_NOT_INITIALIZED;
    if (dev != 0) return CUDA_ERROR_INVALID_DEVICE;
    if (!name || len <= 0) return CUDA_ERROR_INVALID_VALUE;
    snprintf(name, (size_t)len, "%s", "kvdecode device emulator (CPU)");
    return CUDA_SUCCESS;
}

CUresult CUDAAPI cuDeviceTotalMem_v2(size_t* bytes, CUdevice dev) {
    KVD_LOCK;
    if (!D().initialized) return CUDA_ERROR_NOT_INITIALIZED;
    if (dev != 0) return CUDA_ERROR_INVALID_DEVICE;
    if (!bytes) return CUDA_ERROR_INVALID_VALUE;
    *bytes = kTotalMemBytes;
    return CUDA_SUCCESS;
}

CUresult CUDAAPI cuDeviceGetAttribute(int* pi, CUdevice_attribute attrib, CUdevice dev) {
    KVD_LOCK;
    if (!D().initialized) return CUDA_ERROR_NOT_INITIALIZED;
    if (dev != 0) return CUDA_ERROR_INVALID_DEVICE;
    if (!pi || attrib <= 0 || attrib >= CU_DEVICE_ATTRIBUTE_MAX) return CUDA_ERROR_INVALID_VALUE;
    int v = 0;
    switch (attrib) {  // an sm_80-class device, except for the SM count (kept small for the emulator)
        case CU_DEVICE_ATTRIBUTE_MAX_THREADS_PER_BLOCK: v = 1024; break;
        case CU_DEVICE_ATTRIBUTE_MAX_BLOCK_DIM_X: v = 1024; break;
        case CU_DEVICE_ATTRIBUTE_MAX_BLOCK_DIM_Y: v = 1024; break;
        case CU_DEVICE_ATTRIBUTE_MAX_BLOCK_DIM_Z: v = 64; break;
        case CU_DEVICE_ATTRIBUTE_MAX_GRID_DIM_X: v = 2147483647; break;
        case CU_DEVICE_ATTRIBUTE_MAX_GRID_DIM_Y: v = 65535; break;
        case CU_DEVICE_ATTRIBUTE_MAX_GRID_DIM_Z: v = 65535; break;
        case CU_DEVICE_ATTRIBUTE_MAX_SHARED_MEMORY_PER_BLOCK: v = kDefaultDynShared; break;
        case CU_DEVICE_ATTRIBUTE_MAX_SHARED_MEMORY_PER_BLOCK_OPTIN: v = (int)max_dynamic_shared_bytes(); break;
        case CU_DEVICE_ATTRIBUTE_MAX_SHARED_MEMORY_PER_MULTIPROCESSOR: v = 228 * 1024; break;
        case CU_DEVICE_ATTRIBUTE_TOTAL_CONSTANT_MEMORY: v = 65536; break;
        case CU_DEVICE_ATTRIBUTE_WARP_SIZE: v = 32; break;
        case CU_DEVICE_ATTRIBUTE_MAX_PITCH: v = 2147483647; break;
        case CU_DEVICE_ATTRIBUTE_MAX_REGISTERS_PER_BLOCK: v = 65536; break;
        case CU_DEVICE_ATTRIBUTE_MAX_REGISTERS_PER_MULTIPROCESSOR: v = 65536; break;
        case CU_DEVICE_ATTRIBUTE_CLOCK_RATE: v = 1000000; break;
        case CU_DEVICE_ATTRIBUTE_MEMORY_CLOCK_RATE: v = 1000000; break;
        case CU_DEVICE_ATTRIBUTE_GLOBAL_MEMORY_BUS_WIDTH: v = 256; break;
        case CU_DEVICE_ATTRIBUTE_L2_CACHE_SIZE: v = 4 << 20; break;
        case CU_DEVICE_ATTRIBUTE_TEXTURE_ALIGNMENT: v = 512; break;
        case CU_DEVICE_ATTRIBUTE_MULTIPROCESSOR_COUNT: v = 4; break;
        case CU_DEVICE_ATTRIBUTE_MAX_THREADS_PER_MULTIPROCESSOR: v = 2048; break;
        case CU_DEVICE_ATTRIBUTE_MAX_BLOCKS_PER_MULTIPROCESSOR: v = 32; break;
        case CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MAJOR: v = 8; break;
        case CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MINOR: v = 0; break;
        case CU_DEVICE_ATTRIBUTE_UNIFIED_ADDRESSING: v = 1; break;
        case CU_DEVICE_ATTRIBUTE_CAN_MAP_HOST_MEMORY: v = 1; break;
        case CU_DEVICE_ATTRIBUTE_CONCURRENT_KERNELS: v = 1; break;
        case CU_DEVICE_ATTRIBUTE_ASYNC_ENGINE_COUNT: v = 1; break;
        case CU_DEVICE_ATTRIBUTE_GPU_OVERLAP: v = 1; break;
        case CU_DEVICE_ATTRIBUTE_COMPUTE_MODE: v = CU_COMPUTEMODE_DEFAULT; break;
        case CU_DEVICE_ATTRIBUTE_MEMORY_POOLS_SUPPORTED: v = 0; break;
        default: v = 0; break;
    }
    *pi = v;
    return CUDA_SUCCESS;
}

// ---- contexts ----
CUresult CUDAAPI cuDevicePrimaryCtxRetain(CUcontext* pctx, CUdevice dev) {
    KVD_LOCK;
    if (!D().initialized) return CUDA_ERROR_NOT_INITIALIZED;
    if (dev != 0) return CUDA_ERROR_INVALID_DEVICE;
    if (!pctx) return CUDA_ERROR_INVALID_VALUE;
    D().primary.refs++;
    *pctx = reinterpret_cast<CUcontext>(&D().primary);
    return CUDA_SUCCESS;
}

CUresult CUDAAPI cuDevicePrimaryCtxRelease_v2(CUdevice dev) {
    KVD_LOCK;
    if (!D().initialized) return CUDA_ERROR_NOT_INITIALIZED;
    if (dev != 0) return CUDA_ERROR_INVALID_DEVICE;
    if (D().primary.refs <= 0) return CUDA_ERROR_INVALID_CONTEXT;
    if (--D().primary.refs == 0) reset_device_state();  // the context is destroyed with its memory
    return CUDA_SUCCESS;
}

CUresult CUDAAPI cuDevicePrimaryCtxReset_v2(CUdevice dev) {
    KVD_LOCK;
    if (!D().initialized) return CUDA_ERROR_NOT_INITIALIZED;
    if (dev != 0) return CUDA_ERROR_INVALID_DEVICE;
    reset_device_state();
    return CUDA_SUCCESS;
}

CUresult CUDAAPI cuCtxSetCurrent(CUcontext ctx) {
    KVD_LOCK;
    if (!D().initialized) return CUDA_ERROR_NOT_INITIALIZED;
    if (ctx == nullptr) { tl_current = nullptr; return CUDA_SUCCESS; }
    if (ctx != reinterpret_cast<CUcontext>(&D().primary) || D().primary.refs <= 0) return CUDA_ERROR_INVALID_CONTEXT;
    tl_current = &D().primary;
    return CUDA_SUCCESS;
}

CUresult CUDAAPI cuCtxGetCurrent(CUcontext* pctx) {
    KVD_LOCK;
    if (!D().initialized) return CUDA_ERROR_NOT_INITIALIZED;
    if (!pctx) return CUDA_ERROR_INVALID_VALUE;
    *pctx = reinterpret_cast<CUcontext>(tl_current);
    return CUDA_SUCCESS;
}

CUresult CUDAAPI cuCtxGetDevice(CUdevice* device) {
    KVD_LOCK;
    KVD_CTX;
    if (!device) return CUDA_ERROR_INVALID_VALUE;
    *device = 0;
    return CUDA_SUCCESS;
}

CUresult CUDAAPI cuCtxPushCurrent_v2(CUcontext ctx) { return cuCtxSetCurrent(ctx); }
CUresult CUDAAPI cuCtxPopCurrent_v2(CUcontext* pctx) {
    KVD_LOCK;
    if (pctx) *pctx = reinterpret_cast<CUcontext>(tl_current);
    tl_current = nullptr;
    return CUDA_SUCCESS;
}

CUresult CUDAAPI cuCtxSynchronize(void) {
    KVD_LOCK;
    KVD_CTX;
    const CUresult c = forbid_during_capture("cuCtxSynchronize");
    if (c != CUDA_SUCCESS) return c;
    return drain_all();
}

// ---- memory ----
CUresult CUDAAPI cuMemAlloc_v2(CUdeviceptr* dptr, size_t bytesize) {
    KVD_LOCK;
    KVD_CTX;
    if (!dptr || bytesize == 0) return CUDA_ERROR_INVALID_VALUE;
    const CUresult c = forbid_during_capture("cuMemAlloc_v2");
    if (c != CUDA_SUCCESS) return c;
    if (D().sticky) return D().sticky;
    if (heap_used_bytes() + bytesize > kTotalMemBytes)
        return fail(CUDA_ERROR_OUT_OF_MEMORY, "cuMemAlloc_v2: %zu bytes requested, %zu of %zu in use", bytesize,
                    heap_used_bytes(), kTotalMemBytes);
    uint64_t p;
    const CUresult r = heap_alloc(bytesize, &p);
    if (r == CUDA_SUCCESS) *dptr = (CUdeviceptr)p;
    return r;
}

CUresult CUDAAPI cuMemFree_v2(CUdeviceptr dptr) {
    KVD_LOCK;
    KVD_CTX;
    const CUresult c = forbid_during_capture("cuMemFree_v2");
    if (c != CUDA_SUCCESS) return c;
    if (dptr == 0) return CUDA_SUCCESS;
    drain_all();  // cuMemFree waits for the work that may still use the memory
    if (heap_free((uint64_t)dptr) != CUDA_SUCCESS)
        return fail(CUDA_ERROR_INVALID_VALUE, "cuMemFree_v2: 0x%llx is not the start of a live allocation",
                    (unsigned long long)dptr);
    return D().sticky;
}

CUresult CUDAAPI cuMemGetInfo_v2(size_t* freeBytes, size_t* totalBytes) {
    KVD_LOCK;
    KVD_CTX;
    if (!freeBytes || !totalBytes) return CUDA_ERROR_INVALID_VALUE;
    *totalBytes = kTotalMemBytes;
    *freeBytes = kTotalMemBytes - heap_used_bytes();
    return CUDA_SUCCESS;
}

CUresult CUDAAPI cuMemHostAlloc(void** pp, size_t bytesize, unsigned int Flags) {
    KVD_LOCK;
    KVD_CTX;
    (void)Flags;
    if (!pp || bytesize == 0) return CUDA_ERROR_INVALID_VALUE;
    const CUresult c = forbid_during_capture("cuMemHostAlloc");
    if (c != CUDA_SUCCESS) return c;
    void* p = pinned_alloc(bytesize);
    if (!p) return CUDA_ERROR_OUT_OF_MEMORY;
    *pp = p;
    return CUDA_SUCCESS;
}

CUresult CUDAAPI cuMemAllocHost_v2(void** pp, size_t bytesize) { return cuMemHostAlloc(pp, bytesize, 0); }

CUresult CUDAAPI cuMemFreeHost(void* p) {
    KVD_LOCK;
    KVD_CTX;
    const CUresult c = forbid_during_capture("cuMemFreeHost");
    if (c != CUDA_SUCCESS) return c;
    drain_all();
    if (!pinned_free(p)) return fail(CUDA_ERROR_INVALID_VALUE, "cuMemFreeHost: %p is not pinned memory from cuMemHostAlloc", p);
    return CUDA_SUCCESS;
}

CUresult CUDAAPI cuMemHostGetDevicePointer_v2(CUdeviceptr* pdptr, void* p, unsigned int Flags) {
    KVD_LOCK;
    KVD_CTX;
    if (!pdptr || Flags != 0 || !pinned_contains(p, 0)) return CUDA_ERROR_INVALID_VALUE;
    *pdptr = reinterpret_cast<CUdeviceptr>(p);  // unified addressing: the same address
    return CUDA_SUCCESS;
}

}  // extern "C"

namespace {

// Builds and checks a copy; device ranges must lie inside one live allocation.
CUresult make_copy(const char* call, uint64_t dst, bool dstDevice, uint64_t src, bool srcDevice, size_t bytes, Op* op) {
    if (bytes > 0) {
        if (dstDevice && !heap_find(dst, bytes))
            return fail(CUDA_ERROR_INVALID_VALUE, "%s: destination 0x%llx (+%zu bytes) is not inside a live device "
                        "allocation", call, (unsigned long long)dst, bytes);
        if (srcDevice && !heap_find(src, bytes))
            return fail(CUDA_ERROR_INVALID_VALUE, "%s: source 0x%llx (+%zu bytes) is not inside a live device "
                        "allocation", call, (unsigned long long)src, bytes);
        if (!dstDevice && dst == 0) return fail(CUDA_ERROR_INVALID_VALUE, "%s: null host destination", call);
        if (!srcDevice && src == 0) return fail(CUDA_ERROR_INVALID_VALUE, "%s: null host source", call);
        if (!dstDevice && heap_is_device(dst))
            return fail(CUDA_ERROR_INVALID_VALUE, "%s: host destination 0x%llx is a device address", call, (unsigned long long)dst);
        if (!srcDevice && heap_is_device(src))
            return fail(CUDA_ERROR_INVALID_VALUE, "%s: host source 0x%llx is a device address", call, (unsigned long long)src);
    }
    op->kind = Op::COPY;
    op->dst = dst;
    op->src = src;
    op->bytes = bytes;
    op->dstDevice = dstDevice;
    op->srcDevice = srcDevice;
    op->what = call;
    return CUDA_SUCCESS;
}

CUresult sync_copy(const char* call, uint64_t dst, bool dstDevice, uint64_t src, bool srcDevice, size_t bytes) {
    KVD_LOCK;
    KVD_CTX;
    const CUresult c = forbid_during_capture(call);
    if (c != CUDA_SUCCESS) return c;
    Op op;
    CUresult r = make_copy(call, dst, dstDevice, src, srcDevice, bytes, &op);
    if (r != CUDA_SUCCESS) return r;
    r = drain_all();  // synchronous copies wait for all earlier work (legacy default stream)
    if (r != CUDA_SUCCESS) return r;
    if (dstDevice && !srcDevice && !pinned_contains(reinterpret_cast<void*>(src), bytes)) {
        // pageable source: staged now, lands late (see Driver::lateDma)
        op.staged.assign(reinterpret_cast<const unsigned char*>(src), reinterpret_cast<const unsigned char*>(src) + bytes);
        op.useStaged = true;
        D().lateDma.push_back(std::move(op));
        return CUDA_SUCCESS;
    }
    return execute(op);
}

CUresult async_copy(const char* call, uint64_t dst, bool dstDevice, uint64_t src, bool srcDevice, size_t bytes,
                    CUstream stream) {
    KVD_LOCK;
    KVD_CTX;
    KVD_STREAM(s, stream);
    Op op;
    CUresult r = make_copy(call, dst, dstDevice, src, srcDevice, bytes, &op);
    if (r != CUDA_SUCCESS) return r;
    const bool capturing = s->capture != nullptr;
    // Pageable host memory: CUDA stages a host source before returning and completes a copy to
    // pageable memory before returning; pinned memory is read/written when the copy runs.
    if (!srcDevice && !capturing && !pinned_contains(reinterpret_cast<void*>(src), bytes)) {
        op.staged.assign(reinterpret_cast<const unsigned char*>(src), reinterpret_cast<const unsigned char*>(src) + bytes);
        op.useStaged = true;
    }
    const bool pageableDst = !dstDevice && !pinned_contains(reinterpret_cast<void*>(dst), bytes);
    r = submit(s, std::move(op));
    if (r != CUDA_SUCCESS) return r;
    if (pageableDst && !capturing) return drain(s->lastSeq);
    return CUDA_SUCCESS;
}

CUresult make_memset(const char* call, uint64_t dst, uint32_t value, int elemBytes, size_t n, Op* op) {
    if (n > 0 && !heap_find(dst, n * elemBytes))
        return fail(CUDA_ERROR_INVALID_VALUE, "%s: 0x%llx (+%zu bytes) is not inside a live device allocation", call,
                    (unsigned long long)dst, n * elemBytes);
    if (dst % elemBytes != 0) return fail(CUDA_ERROR_INVALID_VALUE, "%s: 0x%llx is not %d-byte aligned", call,
                                          (unsigned long long)dst, elemBytes);
    op->kind = Op::MEMSET;
    op->dst = dst;
    op->value = value;
    op->elemBytes = elemBytes;
    op->count = n;
    op->what = call;
    return CUDA_SUCCESS;
}

CUresult sync_memset(const char* call, uint64_t dst, uint32_t value, int elemBytes, size_t n) {
    KVD_LOCK;
    KVD_CTX;
    const CUresult c = forbid_during_capture(call);
    if (c != CUDA_SUCCESS) return c;
    Op op;
    CUresult r = make_memset(call, dst, value, elemBytes, n, &op);
    if (r != CUDA_SUCCESS) return r;
    r = drain_all();
    if (r != CUDA_SUCCESS) return r;
    return execute(op);
}

CUresult async_memset(const char* call, uint64_t dst, uint32_t value, int elemBytes, size_t n, CUstream stream) {
    KVD_LOCK;
    KVD_CTX;
    KVD_STREAM(s, stream);
    Op op;
    const CUresult r = make_memset(call, dst, value, elemBytes, n, &op);
    if (r != CUDA_SUCCESS) return r;
    return submit(s, std::move(op));
}

uint64_t U(const void* p) { return reinterpret_cast<uint64_t>(p); }

}  // namespace

extern "C" {

CUresult CUDAAPI cuMemcpyHtoD_v2(CUdeviceptr dstDevice, const void* srcHost, size_t ByteCount) {
    return sync_copy("cuMemcpyHtoD_v2", dstDevice, true, U(srcHost), false, ByteCount);
}
CUresult CUDAAPI cuMemcpyDtoH_v2(void* dstHost, CUdeviceptr srcDevice, size_t ByteCount) {
    return sync_copy("cuMemcpyDtoH_v2", U(dstHost), false, srcDevice, true, ByteCount);
}
CUresult CUDAAPI cuMemcpyDtoD_v2(CUdeviceptr dstDevice, CUdeviceptr srcDevice, size_t ByteCount) {
    return sync_copy("cuMemcpyDtoD_v2", dstDevice, true, srcDevice, true, ByteCount);
}
CUresult CUDAAPI cuMemcpyHtoDAsync_v2(CUdeviceptr dstDevice, const void* srcHost, size_t ByteCount, CUstream hStream) {
    return async_copy("cuMemcpyHtoDAsync_v2", dstDevice, true, U(srcHost), false, ByteCount, hStream);
}
CUresult CUDAAPI cuMemcpyDtoHAsync_v2(void* dstHost, CUdeviceptr srcDevice, size_t ByteCount, CUstream hStream) {
    return async_copy("cuMemcpyDtoHAsync_v2", U(dstHost), false, srcDevice, true, ByteCount, hStream);
}
CUresult CUDAAPI cuMemcpyDtoDAsync_v2(CUdeviceptr dstDevice, CUdeviceptr srcDevice, size_t ByteCount, CUstream hStream) {
    return async_copy("cuMemcpyDtoDAsync_v2", dstDevice, true, srcDevice, true, ByteCount, hStream);
}
CUresult CUDAAPI cuMemsetD8_v2(CUdeviceptr dstDevice, unsigned char uc, size_t N) {
    return sync_memset("cuMemsetD8_v2", dstDevice, uc, 1, N);
}
CUresult CUDAAPI cuMemsetD16_v2(CUdeviceptr dstDevice, unsigned short us, size_t N) {
    return sync_memset("cuMemsetD16_v2", dstDevice, us, 2, N);
}
CUresult CUDAAPI cuMemsetD32_v2(CUdeviceptr dstDevice, unsigned int ui, size_t N) {
    return sync_memset("cuMemsetD32_v2", dstDevice, ui, 4, N);
}
CUresult CUDAAPI cuMemsetD8Async(CUdeviceptr dstDevice, unsigned char uc, size_t N, CUstream hStream) {
    return async_memset("cuMemsetD8Async", dstDevice, uc, 1, N, hStream);
}
CUresult CUDAAPI cuMemsetD16Async(CUdeviceptr dstDevice, unsigned short us, size_t N, CUstream hStream) {
    return async_memset("cuMemsetD16Async", dstDevice, us, 2, N, hStream);
}
CUresult CUDAAPI cuMemsetD32Async(CUdeviceptr dstDevice, unsigned int ui, size_t N, CUstream hStream) {
    return async_memset("cuMemsetD32Async", dstDevice, ui, 4, N, hStream);
}

// ---- streams ----
CUresult CUDAAPI cuStreamCreate(CUstream* phStream, unsigned int Flags) {
    KVD_LOCK;
    KVD_CTX;
    if (!phStream || (Flags & ~1u)) return CUDA_ERROR_INVALID_VALUE;
    Stream* s = new Stream();
    s->nonBlocking = (Flags & CU_STREAM_NON_BLOCKING) != 0;
    D().streams.insert(s);
    *phStream = reinterpret_cast<CUstream>(s);
    return CUDA_SUCCESS;
}

CUresult CUDAAPI cuStreamCreateWithPriority(CUstream* phStream, unsigned int flags, int priority) {
    (void)priority;
    return cuStreamCreate(phStream, flags);
}

CUresult CUDAAPI cuStreamDestroy_v2(CUstream hStream) {
    KVD_LOCK;
    KVD_CTX;
    Stream* s = reinterpret_cast<Stream*>(hStream);
    if (!D().streams.count(s)) return CUDA_ERROR_INVALID_HANDLE;
    if (s->capture) return fail(CUDA_ERROR_STREAM_CAPTURE_UNSUPPORTED, "cuStreamDestroy_v2: the stream is being captured");
    // Work already queued still runs (CUDA completes it before releasing the stream).
    D().streams.erase(s);
    s->lastSeq = 0;
    // The object is kept (queued ops do not refer to it) but its handle is no longer valid.
    return CUDA_SUCCESS;
}

CUresult CUDAAPI cuStreamSynchronize(CUstream hStream) {
    KVD_LOCK;
    KVD_CTX;
    KVD_STREAM(s, hStream);
    if (s->capture) {
        s->capture->invalidated = true;
        if (s->capture->why.empty()) s->capture->why = "cuStreamSynchronize";
        return fail(CUDA_ERROR_STREAM_CAPTURE_UNSUPPORTED, "cuStreamSynchronize: the stream is being captured (the "
                    "capture is now invalidated)");
    }
    if (s->legacy) {
        const CUresult c = forbid_during_capture("cuStreamSynchronize(legacy default stream)");
        if (c != CUDA_SUCCESS) return c;
    }
    return s->legacy ? drain_all() : drain(s->lastSeq);
}

CUresult CUDAAPI cuStreamQuery(CUstream hStream) {
    KVD_LOCK;
    KVD_CTX;
    KVD_STREAM(s, hStream);
    if (s->capture) {
        s->capture->invalidated = true;
        return fail(CUDA_ERROR_STREAM_CAPTURE_UNSUPPORTED, "cuStreamQuery: the stream is being captured");
    }
    // The emulated device makes progress only when asked: a query completes the stream's work.
    return drain(s->lastSeq);
}

CUresult CUDAAPI cuStreamWaitEvent(CUstream hStream, CUevent hEvent, unsigned int Flags) {
    KVD_LOCK;
    KVD_CTX;
    KVD_STREAM(s, hStream);
    (void)Flags;
    Event* e = reinterpret_cast<Event*>(hEvent);
    if (!D().events.count(e)) return CUDA_ERROR_INVALID_HANDLE;
    // One queue runs everything in submission order, so cross-stream waits are already satisfied;
    // waiting on an event recorded in a capture joins this stream to that capture (fork/join).
    if (e->capturedIn && !s->capture) s->capture = e->capturedIn;
    return CUDA_SUCCESS;
}

CUresult CUDAAPI cuStreamBeginCapture_v2(CUstream hStream, CUstreamCaptureMode mode) {
    KVD_LOCK;
    KVD_CTX;
    KVD_STREAM(s, hStream);
    if (s->legacy)
        return fail(CUDA_ERROR_STREAM_CAPTURE_UNSUPPORTED, "cuStreamBeginCapture_v2: the legacy default stream cannot be captured");
    if (s->capture) return fail(CUDA_ERROR_ILLEGAL_STATE, "cuStreamBeginCapture_v2: the stream is already being captured");
    if (mode < 0 || mode > 2) return CUDA_ERROR_INVALID_VALUE;
    Capture* c = new Capture();
    c->mode = mode;
    c->origin = s;
    D().captures.insert(c);
    s->capture = c;
    return CUDA_SUCCESS;
}

CUresult CUDAAPI cuStreamEndCapture(CUstream hStream, CUgraph* phGraph) {
    KVD_LOCK;
    KVD_CTX;
    KVD_STREAM(s, hStream);
    if (!phGraph) return CUDA_ERROR_INVALID_VALUE;
    Capture* c = s->capture;
    if (!c) return fail(CUDA_ERROR_ILLEGAL_STATE, "cuStreamEndCapture: the stream is not being captured");
    if (c->origin != s)
        return fail(CUDA_ERROR_STREAM_CAPTURE_UNMATCHED, "cuStreamEndCapture: capture must end in the stream it began in");
    for (Stream* o : D().streams) if (o->capture == c) o->capture = nullptr;
    s->capture = nullptr;
    D().captures.erase(c);
    std::unique_ptr<Capture> owned(c);
    if (c->invalidated) {
        *phGraph = nullptr;
        return fail(CUDA_ERROR_STREAM_CAPTURE_INVALIDATED, "cuStreamEndCapture: the capture was invalidated by %s",
                    c->why.empty() ? "an earlier error" : c->why.c_str());
    }
    Graph* g = new Graph(std::move(c->graph));
    D().graphs.insert(g);
    *phGraph = reinterpret_cast<CUgraph>(g);
    return CUDA_SUCCESS;
}

CUresult CUDAAPI cuStreamIsCapturing(CUstream hStream, CUstreamCaptureStatus* captureStatus) {
    KVD_LOCK;
    KVD_CTX;
    KVD_STREAM(s, hStream);
    if (!captureStatus) return CUDA_ERROR_INVALID_VALUE;
    *captureStatus = !s->capture ? CU_STREAM_CAPTURE_STATUS_NONE
                   : s->capture->invalidated ? CU_STREAM_CAPTURE_STATUS_INVALIDATED : CU_STREAM_CAPTURE_STATUS_ACTIVE;
    return CUDA_SUCCESS;
}

// ---- graphs ----
CUresult CUDAAPI cuGraphInstantiateWithFlags(CUgraphExec* phGraphExec, CUgraph hGraph, unsigned long long flags) {
    KVD_LOCK;
    KVD_CTX;
    (void)flags;
    Graph* g = reinterpret_cast<Graph*>(hGraph);
    if (!phGraphExec) return CUDA_ERROR_INVALID_VALUE;
    if (!D().graphs.count(g)) return CUDA_ERROR_INVALID_HANDLE;
    GraphExec* x = new GraphExec{g->nodes};
    D().execs.insert(x);
    *phGraphExec = reinterpret_cast<CUgraphExec>(x);
    return CUDA_SUCCESS;
}

CUresult CUDAAPI cuGraphLaunch(CUgraphExec hGraphExec, CUstream hStream) {
    KVD_LOCK;
    KVD_CTX;
    KVD_STREAM(s, hStream);
    GraphExec* x = reinterpret_cast<GraphExec*>(hGraphExec);
    if (!D().execs.count(x)) return CUDA_ERROR_INVALID_HANDLE;
    for (const Op& node : x->nodes) {
        const CUresult r = submit(s, node);  // kernel arguments as captured; copy sources read when run
        if (r != CUDA_SUCCESS) return r;
    }
    return CUDA_SUCCESS;
}

CUresult CUDAAPI cuGraphExecDestroy(CUgraphExec hGraphExec) {
    KVD_LOCK;
    GraphExec* x = reinterpret_cast<GraphExec*>(hGraphExec);
    if (!D().execs.erase(x)) return CUDA_ERROR_INVALID_HANDLE;
    delete x;
    return CUDA_SUCCESS;
}

CUresult CUDAAPI cuGraphDestroy(CUgraph hGraph) {
    KVD_LOCK;
    Graph* g = reinterpret_cast<Graph*>(hGraph);
    if (!D().graphs.erase(g)) return CUDA_ERROR_INVALID_HANDLE;
    delete g;
    return CUDA_SUCCESS;
}

// ---- events ----
CUresult CUDAAPI cuEventCreate(CUevent* phEvent, unsigned int Flags) {
    KVD_LOCK;
    KVD_CTX;
    if (!phEvent || (Flags & ~0xfu)) return CUDA_ERROR_INVALID_VALUE;
    Event* e = new Event();
    e->flags = Flags;
    D().events.insert(e);
    *phEvent = reinterpret_cast<CUevent>(e);
    return CUDA_SUCCESS;
}

CUresult CUDAAPI cuEventDestroy_v2(CUevent hEvent) {
    KVD_LOCK;
    Event* e = reinterpret_cast<Event*>(hEvent);
    if (!D().events.erase(e)) return CUDA_ERROR_INVALID_HANDLE;
    // Queued records may still point at it: keep the object, retire the handle.
    return CUDA_SUCCESS;
}

CUresult CUDAAPI cuEventRecord(CUevent hEvent, CUstream hStream) {
    KVD_LOCK;
    KVD_CTX;
    KVD_STREAM(s, hStream);
    Event* e = reinterpret_cast<Event*>(hEvent);
    if (!D().events.count(e)) return CUDA_ERROR_INVALID_HANDLE;
    Op op;
    op.kind = Op::EVENT_RECORD;
    op.event = e;
    op.what = "cuEventRecord";
    return submit(s, std::move(op));
}

CUresult CUDAAPI cuEventSynchronize(CUevent hEvent) {
    KVD_LOCK;
    KVD_CTX;
    Event* e = reinterpret_cast<Event*>(hEvent);
    if (!D().events.count(e)) return CUDA_ERROR_INVALID_HANDLE;
    if (e->capturedIn) return fail(CUDA_ERROR_CAPTURED_EVENT, "cuEventSynchronize: the event was recorded in a capture");
    if (!e->recorded) return CUDA_SUCCESS;
    return drain(e->seq);
}

CUresult CUDAAPI cuEventQuery(CUevent hEvent) {
    KVD_LOCK;
    KVD_CTX;
    Event* e = reinterpret_cast<Event*>(hEvent);
    if (!D().events.count(e)) return CUDA_ERROR_INVALID_HANDLE;
    if (e->capturedIn) return CUDA_ERROR_CAPTURED_EVENT;
    if (!e->recorded) return CUDA_SUCCESS;
    return drain(e->seq);
}

static CUresult elapsed(float* pMilliseconds, CUevent hStart, CUevent hEnd) {
    KVD_LOCK;
    KVD_CTX;
    Event* a = reinterpret_cast<Event*>(hStart);
    Event* b = reinterpret_cast<Event*>(hEnd);
    if (!pMilliseconds) return CUDA_ERROR_INVALID_VALUE;
    if (!D().events.count(a) || !D().events.count(b)) return CUDA_ERROR_INVALID_HANDLE;
    if ((a->flags | b->flags) & CU_EVENT_DISABLE_TIMING) return CUDA_ERROR_INVALID_HANDLE;
    if (!a->recorded || !b->recorded) return CUDA_ERROR_INVALID_HANDLE;
    if (!a->done || !b->done) return CUDA_ERROR_NOT_READY;
    *pMilliseconds = (float)(b->timeMs - a->timeMs);  // host time: says nothing about GPU speed
    return CUDA_SUCCESS;
}
CUresult CUDAAPI cuEventElapsedTime_v2(float* pMilliseconds, CUevent hStart, CUevent hEnd) {
    return elapsed(pMilliseconds, hStart, hEnd);
}
#undef cuEventElapsedTime
CUresult CUDAAPI cuEventElapsedTime(float* pMilliseconds, CUevent hStart, CUevent hEnd) {
    return elapsed(pMilliseconds, hStart, hEnd);
}

// ---- modules and functions ----
CUresult CUDAAPI cuModuleLoadData(CUmodule* module, const void* image) {
    KVD_LOCK;
    KVD_CTX;
    if (!module || !image) return CUDA_ERROR_INVALID_VALUE;
    if (!image_ok(image))
        return fail(CUDA_ERROR_INVALID_IMAGE, "cuModuleLoadData: the image is not a fatbin, cubin, PTX or the "
                    "emulator's KVDEMU marker");
    Module* m = new Module();
    D().modules.insert(m);
    *module = reinterpret_cast<CUmodule>(m);
    return CUDA_SUCCESS;
}

CUresult CUDAAPI cuModuleLoadFatBinary(CUmodule* module, const void* fatCubin) { return cuModuleLoadData(module, fatCubin); }

CUresult CUDAAPI cuModuleUnload(CUmodule hmod) {
    KVD_LOCK;
    Module* m = reinterpret_cast<Module*>(hmod);
    if (!D().modules.count(m) || !m->loaded) return CUDA_ERROR_INVALID_HANDLE;
    m->loaded = false;  // its functions stop being launchable
    D().modules.erase(m);
    return CUDA_SUCCESS;
}

CUresult CUDAAPI cuModuleGetFunction(CUfunction* hfunc, CUmodule hmod, const char* name) {
    KVD_LOCK;
    KVD_CTX;
    Module* m = reinterpret_cast<Module*>(hmod);
    if (!hfunc || !name) return CUDA_ERROR_INVALID_VALUE;
    if (!D().modules.count(m) || !m->loaded) return CUDA_ERROR_INVALID_HANDLE;
    auto it = m->functions.find(name);
    if (it == m->functions.end()) {
        const kvd_emu_kernel* k = find_kernel(name);
        if (!k)
            return fail(CUDA_ERROR_NOT_FOUND, "cuModuleGetFunction: no kernel named '%s' is registered with the emulator "
                        "(%zu are; add KVD_KERNEL(%s) to native/emu/kernels.inc)", name, kernel_count(), name);
        Function* f = new Function{k, m};
        D().functions.insert(f);
        it = m->functions.emplace(name, f).first;
    }
    *hfunc = reinterpret_cast<CUfunction>(it->second);
    return CUDA_SUCCESS;
}

static Function* live_function(CUfunction f) {
    Function* fn = reinterpret_cast<Function*>(f);
    return D().functions.count(fn) && fn->module->loaded ? fn : nullptr;
}

CUresult CUDAAPI cuFuncGetParamInfo(CUfunction func, size_t paramIndex, size_t* paramOffset, size_t* paramSize) {
    KVD_LOCK;
    Function* f = live_function(func);
    if (!f) return CUDA_ERROR_INVALID_HANDLE;
    if (paramIndex >= (size_t)f->kernel->paramCount) return CUDA_ERROR_INVALID_VALUE;
    if (paramOffset) *paramOffset = f->kernel->params[paramIndex].offset;
    if (paramSize) *paramSize = f->kernel->params[paramIndex].sizeBytes;
    return CUDA_SUCCESS;
}

CUresult CUDAAPI cuFuncGetName(const char** name, CUfunction hfunc) {
    KVD_LOCK;
    Function* f = live_function(hfunc);
    if (!f) return CUDA_ERROR_INVALID_HANDLE;
    if (!name) return CUDA_ERROR_INVALID_VALUE;
    *name = f->kernel->name;
    return CUDA_SUCCESS;
}

CUresult CUDAAPI cuFuncSetAttribute(CUfunction hfunc, CUfunction_attribute attrib, int value) {
    KVD_LOCK;
    Function* f = live_function(hfunc);
    if (!f) return CUDA_ERROR_INVALID_HANDLE;
    if (attrib == CU_FUNC_ATTRIBUTE_MAX_DYNAMIC_SHARED_SIZE_BYTES) {
        if (value < 0 || (size_t)value > max_dynamic_shared_bytes()) return CUDA_ERROR_INVALID_VALUE;
        f->maxDynShared = value;
    }
    return CUDA_SUCCESS;
}

CUresult CUDAAPI cuFuncGetAttribute(int* pi, CUfunction_attribute attrib, CUfunction hfunc) {
    KVD_LOCK;
    Function* f = live_function(hfunc);
    if (!f) return CUDA_ERROR_INVALID_HANDLE;
    if (!pi) return CUDA_ERROR_INVALID_VALUE;
    switch (attrib) {
        case CU_FUNC_ATTRIBUTE_MAX_THREADS_PER_BLOCK: *pi = 1024; break;
        case CU_FUNC_ATTRIBUTE_NUM_REGS: *pi = 32; break;
        case CU_FUNC_ATTRIBUTE_PTX_VERSION: case CU_FUNC_ATTRIBUTE_BINARY_VERSION: *pi = 80; break;
        case CU_FUNC_ATTRIBUTE_MAX_DYNAMIC_SHARED_SIZE_BYTES: *pi = f->maxDynShared; break;
        default: *pi = 0; break;
    }
    return CUDA_SUCCESS;
}

// cuLaunchKernel and cuLaunchKernelEx (api names the caller in messages); the lock is held.
static CUresult launch_kernel(const char* api, CUfunction f, unsigned int gridDimX, unsigned int gridDimY,
                              unsigned int gridDimZ, unsigned int blockDimX, unsigned int blockDimY, unsigned int blockDimZ,
                              unsigned int sharedMemBytes, CUstream hStream, void** kernelParams, void** extra, bool pdl) {
    if (!f) return fail(CUDA_ERROR_INVALID_HANDLE, "%s: null function", api);
    KVD_CTX;
    Function* fn = live_function(f);
    if (!fn) return fail(CUDA_ERROR_INVALID_HANDLE, "%s: the function handle is not valid (module unloaded?)", api);
    const kvd_emu_kernel* k = fn->kernel;
    KVD_STREAM(s, hStream);
    if (D().sticky) return D().sticky;
    const unsigned long long threads = (unsigned long long)blockDimX * blockDimY * blockDimZ;
    if (gridDimX == 0 || gridDimY == 0 || gridDimZ == 0 || blockDimX == 0 || blockDimY == 0 || blockDimZ == 0)
        return fail(CUDA_ERROR_INVALID_VALUE, "%s(%s): a zero grid or block dimension", api, k->name);
    if (blockDimX > 1024 || blockDimY > 1024 || blockDimZ > 64 || threads > 1024)
        return fail(CUDA_ERROR_INVALID_VALUE, "%s(%s): block %ux%ux%u exceeds the device limits (1024 "
                    "threads, 1024x1024x64)", api, k->name, blockDimX, blockDimY, blockDimZ);
    if (gridDimX > 2147483647u || gridDimY > 65535 || gridDimZ > 65535)
        return fail(CUDA_ERROR_INVALID_VALUE, "%s(%s): grid %ux%ux%u exceeds the device limits", api, k->name,
                    gridDimX, gridDimY, gridDimZ);
    if (sharedMemBytes > (unsigned)fn->maxDynShared)
        return fail(CUDA_ERROR_INVALID_VALUE, "%s(%s): %u bytes of dynamic shared memory exceed the "
                    "function's limit of %d (raise it with cuFuncSetAttribute)", api, k->name, sharedMemBytes, fn->maxDynShared);
    Op op;
    op.kind = Op::KERNEL;
    op.kernel = k;
    op.grid[0] = gridDimX; op.grid[1] = gridDimY; op.grid[2] = gridDimZ;
    op.block[0] = blockDimX; op.block[1] = blockDimY; op.block[2] = blockDimZ;
    op.sharedBytes = sharedMemBytes;
    op.pdl = pdl;
    op.what = k->name;
    op.params.assign(k->paramBytes + 8, 0);
    if (kernelParams && extra)
        return fail(CUDA_ERROR_INVALID_VALUE, "%s(%s): both kernelParams and extra are given", api, k->name);
    if (kernelParams) {
        // CUDA copies the argument values at launch: the caller may reuse its memory right after.
        for (int i = 0; i < k->paramCount; i++) {
            if (!kernelParams[i])
                return fail(CUDA_ERROR_INVALID_VALUE, "%s(%s): kernelParams[%d] is null", api, k->name, i);
            std::memcpy(op.params.data() + k->params[i].offset, kernelParams[i], k->params[i].sizeBytes);
        }
    } else if (extra) {
        const void* buffer = nullptr;
        size_t size = SIZE_MAX;
        for (int i = 0; extra[i] != CU_LAUNCH_PARAM_END; i += 2) {
            if (extra[i] == CU_LAUNCH_PARAM_BUFFER_POINTER) buffer = extra[i + 1];
            else if (extra[i] == CU_LAUNCH_PARAM_BUFFER_SIZE) size = *static_cast<size_t*>(extra[i + 1]);
            else return fail(CUDA_ERROR_INVALID_VALUE, "%s(%s): unknown key in extra", api, k->name);
        }
        if (!buffer || size != k->paramBytes)
            return fail(CUDA_ERROR_INVALID_VALUE, "%s(%s): the argument buffer holds %zu bytes, the kernel's "
                        "parameters take %zu", api, k->name, size == SIZE_MAX ? (size_t)0 : size, k->paramBytes);
        std::memcpy(op.params.data(), buffer, k->paramBytes);
    } else if (k->paramCount > 0) {
        return fail(CUDA_ERROR_INVALID_VALUE, "%s(%s): no kernelParams for %d parameters", api, k->name, k->paramCount);
    }
    uint64_t bad;
    const int i = bad_pointer_param(k, op.params.data(), &bad);
    if (i >= 0)
        return fail(CUDA_ERROR_INVALID_VALUE, "%s(%s): pointer parameter #%d (0x%llx) does not point into a "
                    "live device allocation", api, k->name, i, (unsigned long long)bad);
    return submit(s, std::move(op));
}

CUresult CUDAAPI cuLaunchKernel(CUfunction f, unsigned int gridDimX, unsigned int gridDimY, unsigned int gridDimZ,
                                unsigned int blockDimX, unsigned int blockDimY, unsigned int blockDimZ,
                                unsigned int sharedMemBytes, CUstream hStream, void** kernelParams, void** extra) {
    KVD_LOCK;
    return launch_kernel("cuLaunchKernel", f, gridDimX, gridDimY, gridDimZ, blockDimX, blockDimY, blockDimZ, sharedMemBytes,
                         hStream, kernelParams, extra, false);
}

// The extensible launch (CUDA 12). Of the launch attributes only programmatic stream
// serialization (programmatic dependent launch, sm_90+) is implemented; stricter than a driver,
// the attribute's padding and the value union's bytes past its int must be zero, which catches a
// CUlaunchAttribute written with the wrong layout. Such launches run in stream order like any
// other (the queue is serial), and each of their blocks must call griddepcontrol.wait before it
// touches device memory (kvd_emu_fiber.cpp).
CUresult CUDAAPI cuLaunchKernelEx(const CUlaunchConfig* config, CUfunction f, void** kernelParams, void** extra) {
    KVD_LOCK;
    if (!config) return fail(CUDA_ERROR_INVALID_VALUE, "cuLaunchKernelEx: null config");
    if (config->numAttrs > 0 && !config->attrs)
        return fail(CUDA_ERROR_INVALID_VALUE, "cuLaunchKernelEx: numAttrs %u with a null attrs", config->numAttrs);
    if (config->numAttrs > 32)
        return fail(CUDA_ERROR_INVALID_VALUE, "cuLaunchKernelEx: numAttrs %u (uninitialised?)", config->numAttrs);
    bool pdl = false, seenPdl = false;
    for (unsigned i = 0; i < config->numAttrs; i++) {
        const CUlaunchAttribute& a = config->attrs[i];
        const unsigned char* raw = reinterpret_cast<const unsigned char*>(&a);
        static_assert(sizeof(CUlaunchAttribute) == 72 && offsetof(CUlaunchAttribute, value) == 8, "CUlaunchAttribute layout");
        if (a.id != CU_LAUNCH_ATTRIBUTE_PROGRAMMATIC_STREAM_SERIALIZATION)
            return fail(CUDA_ERROR_NOT_SUPPORTED, "cuLaunchKernelEx: launch attribute #%u has id %d; the emulator implements "
                        "only CU_LAUNCH_ATTRIBUTE_PROGRAMMATIC_STREAM_SERIALIZATION (%d)", i, (int)a.id,
                        (int)CU_LAUNCH_ATTRIBUTE_PROGRAMMATIC_STREAM_SERIALIZATION);
        if (seenPdl)
            return fail(CUDA_ERROR_INVALID_VALUE, "cuLaunchKernelEx: launch attribute #%u repeats programmatic stream "
                        "serialization", i);
        seenPdl = true;
        for (size_t b = sizeof(a.id); b < offsetof(CUlaunchAttribute, value); b++)
            if (raw[b])
                return fail(CUDA_ERROR_INVALID_VALUE, "cuLaunchKernelEx: launch attribute #%u: padding byte %zu after the id "
                            "is 0x%02x, not 0 (the value written at the wrong offset?)", i, b, raw[b]);
        const int v = a.value.programmaticStreamSerializationAllowed;
        if (v != 0 && v != 1)
            return fail(CUDA_ERROR_INVALID_VALUE, "cuLaunchKernelEx: launch attribute #%u: programmaticStreamSerializationAllowed "
                        "is %d, expected 0 or 1", i, v);
        for (size_t b = offsetof(CUlaunchAttribute, value) + sizeof(int); b < sizeof(CUlaunchAttribute); b++)
            if (raw[b])
                return fail(CUDA_ERROR_INVALID_VALUE, "cuLaunchKernelEx: launch attribute #%u: byte %zu of the value union "
                            "(past programmaticStreamSerializationAllowed) is 0x%02x, not 0", i, b, raw[b]);
        pdl = v == 1;
    }
    return launch_kernel("cuLaunchKernelEx", f, config->gridDimX, config->gridDimY, config->gridDimZ, config->blockDimX,
                         config->blockDimY, config->blockDimZ, config->sharedMemBytes, config->hStream, kernelParams,
                         extra, pdl);
}

}  // extern "C"
