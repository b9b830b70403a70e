// The guarded device heap. Device memory is one memfd mapped twice:
// - the device view, whose addresses are the CUdeviceptr values kernels dereference; it is
//   PROT_NONE except while kernels run, so a host read of device memory (a forgotten copy) crashes
//   at once instead of silently working;
// - a host alias, always accessible, that copies, memsets and the GEMMs use.
// Every allocation sits in its own page-rounded span: a 256-byte front guard, the data (256-byte
// aligned, like cuMemAlloc), then guard bytes up to the end of the span. New memory is poisoned
// with the 16-bit pattern 0x7fbf: a NaN read as fp32 (0x7fbf7fbf, signalling), fp16 or bf16 words,
// and one that arithmetic never reproduces (it quiets the fp32 NaN; fp16/bf16 conversions return
// the canonical 0x7fff), so the NaN check after a launch can tell a value computed from an
// unwritten element from an element that was never written; guards are checked after every
// kernel and GEMM. Addresses are never reused (a freed span's pages are
// returned and the span stays inaccessible), so a use after free faults.
#include "kvd_emu_internal.h"

#include <fcntl.h>
#include <signal.h>
#include <sys/mman.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <map>

namespace kvd {
namespace {

constexpr size_t kArenaBytes = size_t(256) << 30;  // 256 GiB of address space, touched only when used
constexpr size_t kPage = 4096;
constexpr size_t kFrontGuard = 256;
constexpr size_t kMinTailGuard = 256;
constexpr unsigned char kGuard = 0xfd;

struct Heap {
    int fd = -1;
    char* dev = nullptr;   // device view
    char* host = nullptr;  // host alias
    size_t bump = 0;
    uint64_t nextId = 1;
    std::map<uint64_t, Allocation> live;  // by base
    size_t usedBytes = 0;
    bool open = false;
    std::map<uintptr_t, size_t> pinned;  // host pointer -> bytes
};
Heap H;

size_t round_up(size_t x, size_t a) { return (x + a - 1) / a * a; }

}  // namespace

void poison(void* p, size_t bytes) {
    // By address parity, so a 2-byte element at an even address always reads 0x7fbf.
    unsigned char* b = static_cast<unsigned char*>(p);
    size_t i = 0;
    if (reinterpret_cast<uintptr_t>(b) & 1) { if (bytes) b[0] = 0x7f; i = 1; }
    for (; i + 1 < bytes; i += 2) { b[i] = 0xbf; b[i + 1] = 0x7f; }
    if (i < bytes) b[i] = 0xbf;
}

namespace {
struct sigaction g_previous;
bool g_installed = false;

void on_fault(int sig, siginfo_t* si, void* uc) {
    const uintptr_t a = reinterpret_cast<uintptr_t>(si->si_addr);
    const uintptr_t dev = reinterpret_cast<uintptr_t>(H.dev);
    const char* kernel = running_kernel_name();
    char buf[512];
    int n = 0;
    if (H.dev && a >= dev && a < dev + kArenaBytes) {
        if (kernel && running_block_before_dependency_wait())
            n = snprintf(buf, sizeof buf, "kvdecode-emu: kernel %s accessed device address 0x%lx before griddepcontrol.wait "
                         "(kvd_pdl_wait) in a launch with programmatic stream serialization: on a GPU its predecessor "
                         "may still be writing that memory\n", kernel, (unsigned long)a);
        else
        n = kernel ? snprintf(buf, sizeof buf, "kvdecode-emu: kernel %s accessed device address 0x%lx, which is in no "
                              "live allocation (freed, or out of bounds)\n", kernel, (unsigned long)a)
                   : snprintf(buf, sizeof buf, "kvdecode-emu: the host accessed device address 0x%lx: device memory is "
                              "only accessible inside kernels (a missing cuMemcpyDtoH?)\n", (unsigned long)a);
    }
    if (n > 0) { ssize_t w = write(2, buf, (size_t)n); (void)w; }
    // Pass the fault on: the JVM's handler (hs_err) or the default action.
    if (g_previous.sa_flags & SA_SIGINFO) {
        g_previous.sa_sigaction(sig, si, uc);
    } else if (g_previous.sa_handler != SIG_DFL && g_previous.sa_handler != SIG_IGN) {
        g_previous.sa_handler(sig);
    } else {
        signal(sig, SIG_DFL);  // returning re-runs the faulting access, now fatal
    }
}
}  // namespace

void install_fault_reporter() {
    if (g_installed) return;
    g_installed = true;
    // No alternate signal stack (the JVM's handler does not expect one), so a fiber stack overflow
    // cannot run this handler and ends the process with a plain SIGSEGV.
    struct sigaction sa;
    std::memset(&sa, 0, sizeof sa);
    sa.sa_sigaction = on_fault;
    sa.sa_flags = SA_SIGINFO;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGSEGV, &sa, &g_previous);
}

void heap_init() {
    if (H.fd >= 0) return;
    install_fault_reporter();
    H.fd = memfd_create("kvdecode-emu-device", MFD_CLOEXEC);
    if (H.fd < 0 || ftruncate(H.fd, (off_t)kArenaBytes) != 0) { perror("kvdecode-emu: device memory"); abort(); }
    void* d = mmap(nullptr, kArenaBytes, PROT_NONE, MAP_SHARED | MAP_NORESERVE, H.fd, 0);
    void* h = mmap(nullptr, kArenaBytes, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_NORESERVE, H.fd, 0);
    if (d == MAP_FAILED || h == MAP_FAILED) { perror("kvdecode-emu: device memory map"); abort(); }
    H.dev = static_cast<char*>(d);
    H.host = static_cast<char*>(h);
}

CUresult heap_alloc(size_t sizeBytes, uint64_t* out) {
    heap_init();
    const size_t span = round_up(kFrontGuard + round_up(sizeBytes, 256) + kMinTailGuard, kPage);
    if (H.bump + span > kArenaBytes) return fail(CUDA_ERROR_OUT_OF_MEMORY, "cuMemAlloc: emulator address space exhausted");
    Allocation a;
    a.id = H.nextId++;
    a.spanOffset = H.bump;
    a.spanBytes = span;
    a.base = reinterpret_cast<uint64_t>(H.dev + H.bump + kFrontGuard);
    a.sizeBytes = sizeBytes;
    H.bump += span;
    char* hs = H.host + a.spanOffset;
    std::memset(hs, kGuard, kFrontGuard);
    poison(hs + kFrontGuard, sizeBytes);
    std::memset(hs + kFrontGuard + sizeBytes, kGuard, span - kFrontGuard - sizeBytes);
    H.live[a.base] = a;
    H.usedBytes += sizeBytes;
    *out = a.base;
    return CUDA_SUCCESS;
}

CUresult heap_free(uint64_t base) {
    auto it = H.live.find(base);
    if (it == H.live.end()) return CUDA_ERROR_INVALID_VALUE;
    const Allocation a = it->second;
    H.live.erase(it);
    H.usedBytes -= a.sizeBytes;
    // Give the pages back; the span's addresses are never handed out again.
    fallocate(H.fd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, (off_t)a.spanOffset, (off_t)a.spanBytes);
    return CUDA_SUCCESS;
}

void heap_free_all() {
    std::vector<uint64_t> bases;
    for (auto& [b, a] : H.live) bases.push_back(b);
    for (uint64_t b : bases) heap_free(b);
}

size_t heap_used_bytes() { return H.usedBytes; }

size_t heap_live_count() { return H.live.size(); }

size_t pinned_used_bytes(size_t* count) {
    size_t bytes = 0;
    for (auto& [p, n] : H.pinned) bytes += n;
    if (count) *count = H.pinned.size();
    return bytes;
}

const Allocation* heap_find(uint64_t p, size_t n) {
    if (H.live.empty()) return nullptr;
    auto it = H.live.upper_bound(p);
    if (it == H.live.begin()) return nullptr;
    --it;
    const Allocation& a = it->second;
    if (p < a.base) return nullptr;
    const uint64_t end = a.base + a.sizeBytes;
    if (p > end || n > end - p) return nullptr;
    return &a;
}

bool heap_is_device(uint64_t p) {
    return H.dev && p >= reinterpret_cast<uint64_t>(H.dev) && p < reinterpret_cast<uint64_t>(H.dev) + kArenaBytes;
}

void* heap_host(uint64_t p) { return H.host + (p - reinterpret_cast<uint64_t>(H.dev)); }

// Opens the spans of live allocations, merged into runs (allocations are mostly contiguous, so
// this is a handful of mprotect calls per launch); freed spans between them stay inaccessible.
void heap_open_for_kernels() {
    if (H.open || !H.dev) return;
    size_t runStart = 0, runEnd = 0;
    bool have = false;
    for (auto& [b, a] : H.live) {
        if (have && a.spanOffset == runEnd) { runEnd += a.spanBytes; continue; }
        if (have) mprotect(H.dev + runStart, runEnd - runStart, PROT_READ | PROT_WRITE);
        runStart = a.spanOffset;
        runEnd = a.spanOffset + a.spanBytes;
        have = true;
    }
    if (have) mprotect(H.dev + runStart, runEnd - runStart, PROT_READ | PROT_WRITE);
    H.open = true;
}

void heap_close_for_kernels() {
    if (!H.open) return;
    if (H.bump) mprotect(H.dev, H.bump, PROT_NONE);
    H.open = false;
}

// Index of the first byte in [p, p+n) that is not the guard pattern, or n.
static size_t first_changed(const unsigned char* p, size_t n) {
    static unsigned char pattern[4096];
    if (pattern[0] != kGuard) std::memset(pattern, kGuard, sizeof pattern);
    size_t i = 0;
    while (i < n) {
        const size_t c = std::min(n - i, sizeof pattern);
        if (std::memcmp(p + i, pattern, c) != 0) {
            for (size_t j = 0; j < c; j++) if (p[i + j] != kGuard) return i + j;
        }
        i += c;
    }
    return n;
}

std::string heap_check_guards() {
    for (auto& [b, a] : H.live) {
        unsigned char* s = reinterpret_cast<unsigned char*>(H.host + a.spanOffset);
        const size_t tail = kFrontGuard + a.sizeBytes;
        const size_t front = first_changed(s, kFrontGuard);
        const size_t back = first_changed(s + tail, a.spanBytes - tail);
        if (front == kFrontGuard && back == a.spanBytes - tail) continue;
        std::string m;
        if (front < kFrontGuard)
            m = format("wrote %zu bytes before the start of device allocation #%llu (%zu bytes at 0x%llx)",
                       kFrontGuard - front, (unsigned long long)a.id, a.sizeBytes, (unsigned long long)a.base);
        else
            m = format("wrote past the end of device allocation #%llu (%zu bytes at 0x%llx): byte %zu after its end "
                       "changed", (unsigned long long)a.id, a.sizeBytes, (unsigned long long)a.base, back);
        // Restore every guard so one overflow is reported once.
        std::memset(s, kGuard, kFrontGuard);
        std::memset(s + tail, kGuard, a.spanBytes - tail);
        return m;
    }
    return "";
}

void* pinned_alloc(size_t sizeBytes) {
    const size_t n = round_up(std::max<size_t>(sizeBytes, 1), kPage);
    void* p = mmap(nullptr, n, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (p == MAP_FAILED) return nullptr;
    H.pinned[reinterpret_cast<uintptr_t>(p)] = sizeBytes;
    return p;
}

bool pinned_free(void* p) {
    auto it = H.pinned.find(reinterpret_cast<uintptr_t>(p));
    if (it == H.pinned.end()) return false;
    munmap(p, round_up(std::max<size_t>(it->second, 1), kPage));
    H.pinned.erase(it);
    return true;
}

bool pinned_contains(const void* p, size_t n) {
    const uintptr_t u = reinterpret_cast<uintptr_t>(p);
    auto it = H.pinned.upper_bound(u);
    if (it == H.pinned.begin()) return false;
    --it;
    return u >= it->first && u <= it->first + it->second && n <= it->first + it->second - u;
}

}  // namespace kvd

namespace kvd {

static int g_nanCheck = -1;

bool nan_check_enabled() {
    if (g_nanCheck < 0) {
        const char* s = getenv("KVDECODE_EMU_NANCHECK");
        g_nanCheck = !(s && s[0] == '0');
    }
    return g_nanCheck == 1;
}

void set_nan_check(bool on) { g_nanCheck = on ? 1 : 0; }

long long first_new_nan(const unsigned char* before, const unsigned char* after, size_t bytes, int kind) {
    if (kind == 1) {
        for (size_t i = 0; i + 4 <= bytes; i += 4) {
            uint32_t a, b;
            std::memcpy(&a, after + i, 4);
            std::memcpy(&b, before + i, 4);
            if (a != b && (a & 0x7f800000u) == 0x7f800000u && (a & 0x007fffffu)) return (long long)(i / 4);
        }
    } else if (kind == 2 || kind == 3) {
        const uint16_t expMask = kind == 2 ? 0x7c00 : 0x7f80, manMask = kind == 2 ? 0x03ff : 0x007f;
        for (size_t i = 0; i + 2 <= bytes; i += 2) {
            uint16_t a, b;
            std::memcpy(&a, after + i, 2);
            std::memcpy(&b, before + i, 2);
            if (a != b && (a & expMask) == expMask && (a & manMask)) return (long long)(i / 2);
        }
    }
    return -1;
}

}  // namespace kvd
