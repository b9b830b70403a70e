// Kernel registry and the block scheduler: each thread of a block is a fiber on its own 64 KiB stack
// (guard page below), switched by a hand-written x86-64 context switch (ucontext's signal-mask
// syscalls made it 10x slower in the feasibility prototype). A fiber runs until it reaches a
// barrier, a warp-level operation or its end; the scheduler then completes whatever can complete
// and resumes fibers in an order shuffled by the seed, so a kernel whose result depends on the
// order of threads or blocks gives different results under different seeds.
#include "kvd_emu_internal.h"

#include <sys/mman.h>
#include <unistd.h>

#include <algorithm>
#include <map>
#include <numeric>
#include <random>

// Bounds of the kernels' static __shared__ storage (scripts/build-emu.sh links the kernel objects
// between these markers); weak, so a program without them (the emulator's tests) just skips it.
extern thread_local char kvd_emu_static_shared_begin __attribute__((weak));
extern thread_local char kvd_emu_static_shared_end __attribute__((weak));

extern "C" {
kvd_emu_thread* kvd_emu_current = nullptr;
kvd_emu_block kvd_emu_grid;
void kvd_emu_switch(void** saveSp, void* toSp);
void kvd_emu_fiber_entry();
}

// Saves the callee-saved registers on the current stack, stores the stack pointer in *saveSp,
// switches to toSp and pops the target's registers. A new fiber's stack is prepared so that the
// first switch "returns" into kvd_emu_fiber_entry with r12 = fiber, r13 = function.
asm(R"(
    .text
    .globl kvd_emu_switch
    .hidden kvd_emu_switch
    .type kvd_emu_switch,@function
kvd_emu_switch:
    pushq %rbp
    pushq %rbx
    pushq %r12
    pushq %r13
    pushq %r14
    pushq %r15
    movq %rsp, (%rdi)
    movq %rsi, %rsp
    popq %r15
    popq %r14
    popq %r13
    popq %r12
    popq %rbx
    popq %rbp
    ret
    .size kvd_emu_switch, .-kvd_emu_switch
    .globl kvd_emu_fiber_entry
    .hidden kvd_emu_fiber_entry
    .type kvd_emu_fiber_entry,@function
kvd_emu_fiber_entry:
    movq %r12, %rdi
    callq *%r13
    ud2
    .size kvd_emu_fiber_entry, .-kvd_emu_fiber_entry
)");

namespace kvd {
namespace {

// ---- registry ----
struct Registry {
    std::map<std::string, kvd_emu_kernel> kernels;
};
Registry& registry() {
    static Registry r;
    return r;
}

struct DynShared {
    const char* name;
    void* (*address)();
};
std::vector<DynShared>& dyn_shared() {
    static std::vector<DynShared> v;
    return v;
}

enum State { READY, AT_BARRIER, AT_WARP, DONE };

struct Fiber {
    kvd_emu_thread t;  // what threadIdx reads
    void* sp;
    int linear, lane, warp;
    State state;
    // pending barrier / warp operation
    int barrierMode, predicate;
    int kind;
    unsigned mask;
    uint64_t value, result;
    int b, c;
};

constexpr size_t kStackBytes = 64 * 1024;
constexpr size_t kGuardBytes = 4096;
constexpr int kMaxThreads = 1024;
constexpr size_t kDynGuardBytes = 256;
constexpr size_t kDynSharedMax = 227 * 1024;  // an H100's opt-in maximum per block
constexpr unsigned char kDynGuard = 0xfd;

// xorshift64* (Vigna 2016): the shuffles run once per scheduling round, so the generator is on the
// hot path; bounded draws by Lemire's multiply-shift (the tiny bias is irrelevant for fuzzing).
struct Rng {
    uint64_t s = 1;
    void seed(uint64_t v) { s = v ? v : 0x9E3779B97F4A7C15ull; }
    uint64_t operator()() {
        s ^= s >> 12; s ^= s << 25; s ^= s >> 27;
        return s * 0x2545F4914F6CDD1Dull;
    }
    uint32_t below(uint32_t n) { return (uint32_t)(((uint64_t)(uint32_t)((*this)() >> 32) * n) >> 32); }
    template <class T> void shuffle(T* v, size_t n) {
        for (size_t i = n; i > 1; i--) std::swap(v[i - 1], v[below((uint32_t)i)]);
    }
};

struct Scheduler {
    char* stacks = nullptr;
    Fiber fibers[kMaxThreads];
    int nthreads = 0;
    void* schedSp = nullptr;
    const KernelRun* run = nullptr;
    Fiber* running = nullptr;
    std::string error;  // set by the scheduler when the block cannot go on
    Rng rng;
    bool fuzz = true;
    bool waited = false;  // the running block called griddepcontrol.wait
};
Scheduler S;

void fiber_main(Fiber* f) {
    S.run->kernel->invoke(S.run->kernel->fn, S.run->params);
    f->state = DONE;
    kvd_emu_switch(&f->sp, S.schedSp);
    __builtin_trap();  // a finished fiber is never resumed
}

void ensure_stacks() {
    if (S.stacks) return;
    const size_t stride = kStackBytes + kGuardBytes;
    void* p = mmap(nullptr, stride * kMaxThreads, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
    if (p == MAP_FAILED) { perror("kvdecode-emu: fiber stacks"); abort(); }
    S.stacks = static_cast<char*>(p);
    // A stack overflow hits the guard page below each stack (SIGSEGV) instead of the next stack.
    for (int i = 0; i < kMaxThreads; i++) mprotect(S.stacks + i * stride, kGuardBytes, PROT_NONE);
}

void init_fiber(Fiber* f, int linear) {
    const unsigned bx = S.run->block[0], by = S.run->block[1];
    f->linear = linear;
    f->lane = linear & 31;
    f->warp = linear >> 5;
    f->t.idx = uint3{(unsigned)(linear % bx), (unsigned)((linear / bx) % by), (unsigned)(linear / (bx * by))};
    f->state = READY;
    char* top = S.stacks + (size_t)linear * (kStackBytes + kGuardBytes) + kGuardBytes + kStackBytes;
    top = reinterpret_cast<char*>(reinterpret_cast<uintptr_t>(top) & ~uintptr_t(15));
    void** sp = reinterpret_cast<void**>(top - 72);
    sp[0] = nullptr;                                   // r15
    sp[1] = nullptr;                                   // r14
    sp[2] = reinterpret_cast<void*>(&fiber_main);      // r13: function
    sp[3] = f;                                         // r12: argument
    sp[4] = nullptr;                                   // rbx
    sp[5] = nullptr;                                   // rbp
    sp[6] = reinterpret_cast<void*>(&kvd_emu_fiber_entry);  // return address
    f->sp = sp;
}

void resume(Fiber* f) {
    S.running = f;
    kvd_emu_current = &f->t;
    kvd_emu_switch(&S.schedSp, f->sp);
    S.running = nullptr;
    kvd_emu_current = nullptr;
}

const char* kind_name(int k) {
    static const char* names[] = {"__shfl_sync", "__shfl_up_sync", "__shfl_down_sync", "__shfl_xor_sync",
                                  "__ballot_sync", "__any_sync", "__all_sync", "__syncwarp", "__reduce_add_sync",
                                  "__reduce_min_sync", "__reduce_max_sync", "__reduce_and_sync", "__reduce_or_sync",
                                  "__reduce_xor_sync", "__match_any_sync"};
    return k >= 0 && k < 15 ? names[k] : "warp op";
}

std::string where() {
    const KernelRun& r = *S.run;
    return format("kernel %s (block %u,%u,%u of grid %u,%u,%u; blockDim %u,%u,%u)", r.kernel->name,
                  kvd_emu_grid.idx.x, kvd_emu_grid.idx.y, kvd_emu_grid.idx.z, r.grid[0], r.grid[1],
                  r.grid[2], r.block[0], r.block[1], r.block[2]);
}

// PTX ISA, shfl.sync: segmask = c[12:8], maxLane = (lane & segmask) | (c[4:0] & ~segmask),
// minLane = lane & segmask; up: j = lane - b, valid if j >= maxLane; down: j = lane + b, bfly:
// j = lane ^ b, idx: j = minLane | (b[4:0] & ~segmask), valid if j <= maxLane; else own value.
int shuffle_source(int kind, int lane, int b, int c) {
    const int segmask = (c >> 8) & 31;
    const int maxLane = (lane & segmask) | (c & 31 & ~segmask);
    const int minLane = lane & segmask;
    int j;
    bool valid;
    switch (kind) {
        case KVD_EMU_SHFL_UP: j = lane - b; valid = j >= maxLane; break;
        case KVD_EMU_SHFL_DOWN: j = lane + b; valid = j <= maxLane; break;
        case KVD_EMU_SHFL_BFLY: j = lane ^ b; valid = j <= maxLane; break;
        default: j = minLane | (b & 31 & ~segmask); valid = j <= maxLane; break;
    }
    return valid ? j : lane;
}

// Completes every warp operation whose participants have all arrived. Returns how many completed;
// sets S.error on a misuse that would hang or read undefined values on a GPU.
int resolve_warps() {
    int completed = 0;
    const int nwarps = (S.nthreads + 31) / 32;
    for (int w = 0; w < nwarps && S.error.empty(); w++) {
        Fiber* lanes = &S.fibers[w * 32];
        const int nl = std::min(32, S.nthreads - w * 32);
        for (int l = 0; l < nl && S.error.empty(); l++) {
            Fiber* f = &lanes[l];
            if (f->state != AT_WARP) continue;
            const unsigned mask = f->mask;
            if (!(mask & (1u << l))) {
                S.error = format("%s: thread %d called %s with mask 0x%08x that excludes its own lane %d", where().c_str(),
                                 f->linear, kind_name(f->kind), mask, l);
                return completed;
            }
            bool ready = true;
            unsigned active = 0;  // lanes that take part (exist and have not exited)
            for (int p = 0; p < 32; p++) {
                if (!(mask & (1u << p)) || p >= nl) continue;
                Fiber* q = &lanes[p];
                if (q->state == DONE) continue;
                if (q->state == AT_BARRIER) {
                    S.error = format("%s: thread %d waits in %s (mask 0x%08x) for lane %d, which waits at __syncthreads: "
                                     "deadlock on a GPU", where().c_str(), f->linear, kind_name(f->kind), mask, p);
                    return completed;
                }
                if (q->state != AT_WARP) { ready = false; break; }
                if (q->kind != f->kind || q->mask != mask) {
                    S.error = format("%s: lanes %d and %d of warp %d meet at different warp operations (%s mask 0x%08x vs "
                                     "%s mask 0x%08x)", where().c_str(), l, p, w, kind_name(f->kind), mask,
                                     kind_name(q->kind), q->mask);
                    return completed;
                }
                active |= 1u << p;
            }
            if (!ready) continue;
            // Compute every participant's result, then release them.
            uint64_t agg = 0;
            switch (f->kind) {
                case KVD_EMU_VOTE_BALLOT: case KVD_EMU_VOTE_ANY: case KVD_EMU_VOTE_ALL:
                    for (int p = 0; p < 32; p++) if ((active >> p & 1) && lanes[p].value) agg |= 1ull << p;
                    break;
                case KVD_EMU_REDUCE_ADD: case KVD_EMU_REDUCE_AND: case KVD_EMU_REDUCE_OR: case KVD_EMU_REDUCE_XOR:
                case KVD_EMU_REDUCE_MIN: case KVD_EMU_REDUCE_MAX: {
                    bool first = true;
                    uint32_t acc = 0;
                    for (int p = 0; p < 32; p++) {
                        if (!(active >> p & 1)) continue;
                        const uint32_t v = (uint32_t)lanes[p].value;
                        if (first) { acc = v; first = false; continue; }
                        switch (f->kind) {
                            case KVD_EMU_REDUCE_ADD: acc += v; break;
                            case KVD_EMU_REDUCE_AND: acc &= v; break;
                            case KVD_EMU_REDUCE_OR: acc |= v; break;
                            case KVD_EMU_REDUCE_XOR: acc ^= v; break;
                            case KVD_EMU_REDUCE_MIN:
                                acc = f->b ? (uint32_t)std::min((int32_t)acc, (int32_t)v) : std::min(acc, v); break;
                            default:
                                acc = f->b ? (uint32_t)std::max((int32_t)acc, (int32_t)v) : std::max(acc, v); break;
                        }
                    }
                    agg = acc;
                    break;
                }
                default: break;
            }
            for (int p = 0; p < 32; p++) {
                if (!(active >> p & 1)) continue;
                Fiber* q = &lanes[p];
                switch (q->kind) {
                    case KVD_EMU_SHFL_IDX: case KVD_EMU_SHFL_UP: case KVD_EMU_SHFL_DOWN: case KVD_EMU_SHFL_BFLY: {
                        const int j = shuffle_source(q->kind, p, q->b, q->c);
                        if (!(active >> j & 1)) {
                            if (!(mask >> j & 1)) {
                                // A lane the caller left out of the mask: CUDA leaves the value
                                // undefined; it gets the poison, which the NaN check catches if used.
                                q->result = 0x7fbf7fbf7fbf7fbfull;
                                break;
                            }
                            // Named in the mask but gone (exited, or beyond a partial warp).
                            const char* why = j >= nl ? "beyond the end of the block (partial warp)" : "exited";
                            S.error = format("%s: %s in thread %d (lane %d, mask 0x%08x) reads lane %d, which is inactive "
                                             "(%s): the value is undefined on a GPU", where().c_str(), kind_name(q->kind),
                                             q->linear, p, mask, j, why);
                            return completed;
                        }
                        q->result = lanes[j].value;
                        break;
                    }
                    case KVD_EMU_VOTE_BALLOT: q->result = agg; break;
                    case KVD_EMU_VOTE_ANY: q->result = agg != 0; break;
                    case KVD_EMU_VOTE_ALL: q->result = agg == active; break;
                    case KVD_EMU_MATCH_ANY: {
                        uint64_t m = 0;
                        for (int r = 0; r < 32; r++) if ((active >> r & 1) && lanes[r].value == q->value) m |= 1ull << r;
                        q->result = m;
                        break;
                    }
                    case KVD_EMU_SYNCWARP: q->result = 0; break;
                    default: q->result = agg; break;
                }
            }
            for (int p = 0; p < 32; p++) if (active >> p & 1) lanes[p].state = READY;
            completed++;
        }
    }
    return completed;
}

// Runs one block to completion (or to the first error in S.error).
void run_block() {
    for (int i = 0; i < S.nthreads; i++) init_fiber(&S.fibers[i], i);
    Fiber* ready[kMaxThreads];
    for (;;) {
        int nready = 0;
        for (int i = 0; i < S.nthreads; i++) if (S.fibers[i].state == READY) ready[nready++] = &S.fibers[i];
        if (S.fuzz) S.rng.shuffle(ready, (size_t)nready);
        for (int i = 0; i < nready; i++) resume(ready[i]);
        int alive = 0, atBarrier = 0, done = 0;
        for (int i = 0; i < S.nthreads; i++) {
            const State st = S.fibers[i].state;
            atBarrier += st == AT_BARRIER;
            done += st == DONE;
        }
        alive = S.nthreads - done;
        if (alive == 0) return;
        if (resolve_warps() > 0) continue;
        if (!S.error.empty()) return;
        if (atBarrier == alive) {
            if (done > 0) {
                S.error = format("%s: __syncthreads reached by %d threads while %d threads of the block have exited: "
                                 "a barrier in divergent code (undefined behaviour on a GPU)",
                                 where().c_str(), atBarrier, done);
                return;
            }
            const int mode = S.fibers[0].barrierMode;
            int count = 0;
            for (int i = 0; i < S.nthreads; i++) count += S.fibers[i].predicate != 0;
            const int result = mode == 1 ? count : mode == 2 ? (count == S.nthreads) : mode == 3 ? (count > 0) : 0;
            for (int i = 0; i < S.nthreads; i++) {
                S.fibers[i].result = (uint64_t)result;
                S.fibers[i].state = READY;
            }
            continue;
        }
        // Nothing can move: some threads wait at a warp operation whose other lanes never come.
        for (int i = 0; i < S.nthreads; i++) {
            const Fiber& f = S.fibers[i];
            if (f.state == AT_WARP) {
                S.error = format("%s: thread %d waits forever in %s (mask 0x%08x): a lane named in the mask never "
                                 "reaches it", where().c_str(), f.linear, kind_name(f.kind), f.mask);
                return;
            }
        }
        S.error = format("%s: the block cannot make progress", where().c_str());
        return;
    }
}

}  // namespace

const char* running_kernel_name() { return S.run ? S.run->kernel->name : nullptr; }
bool running_block_before_dependency_wait() { return S.run && S.run->pdl && !S.waited; }

const kvd_emu_kernel* find_kernel(const char* name) {
    auto& m = registry().kernels;
    auto it = m.find(name);
    return it == m.end() ? nullptr : &it->second;
}
size_t kernel_count() { return registry().kernels.size(); }
size_t max_dynamic_shared_bytes() { return kDynSharedMax; }

CUresult run_kernel(const KernelRun& run) {
    install_fault_reporter();
    const bool prof = profiling();
    double t0 = prof ? now_ms_raw() : 0;
    auto phase = [&](const char* name) {
        if (!prof) return;
        const double t = now_ms_raw();
        profile_add(run.kernel->name, name, t - t0);
        t0 = t;
    };
    ensure_stacks();
    S.run = &run;
    S.error.clear();
    S.nthreads = (int)(run.block[0] * run.block[1] * run.block[2]);
    const uint64_t sd = seed();
    S.fuzz = sd != 0;
    S.rng.seed(sd ^ (next_launch_salt() * 0x9E3779B97F4A7C15ull));
    kvd_emu_grid.dim = dim3(run.block[0], run.block[1], run.block[2]);
    kvd_emu_grid.gridDim_ = dim3(run.grid[0], run.grid[1], run.grid[2]);
    const uint64_t nblocks = (uint64_t)run.grid[0] * run.grid[1] * run.grid[2];
    // Block order: a seeded permutation (an affine one for huge grids, to bound memory).
    std::vector<uint32_t> order;
    uint64_t stepA = 1, stepB = 0;
    if (S.fuzz && nblocks <= (1u << 22)) {
        order.resize(nblocks);
        for (uint64_t i = 0; i < nblocks; i++) order[i] = (uint32_t)i;
        S.rng.shuffle(order.data(), order.size());
    } else if (S.fuzz) {
        stepB = S.rng() % nblocks;
        do { stepA = (S.rng() % nblocks) | 1; } while (std::gcd(stepA, nblocks) != 1);
    }
    std::vector<unsigned char*> dyn;
    for (auto& d : dyn_shared()) dyn.push_back(static_cast<unsigned char*>(d.address()));
    unsigned char* staticShared = nullptr;
    size_t staticSharedBytes = 0;
    if (&kvd_emu_static_shared_begin && &kvd_emu_static_shared_end && &kvd_emu_static_shared_end > &kvd_emu_static_shared_begin) {
        staticShared = reinterpret_cast<unsigned char*>(&kvd_emu_static_shared_begin) + 1;  // the marker is 1 byte
        staticSharedBytes = (size_t)(&kvd_emu_static_shared_end - &kvd_emu_static_shared_begin) - 1;
    }
    // NaN check: snapshot what the kernel may write: each non-const fp32/fp16/bf16 pointer
    // parameter, from the pointer up to the next pointer parameter into the same allocation (an
    // arena holds several buffers of different types) or the allocation's end; skipped above
    // 64 MiB per launch.
    struct Snapshot { int param; uint64_t p; int kind; std::vector<unsigned char> before; };
    std::vector<Snapshot> snaps;
    if (nan_check_enabled()) {
        std::vector<uint64_t> pointers;
        for (int i = 0; i < run.kernel->paramCount; i++) {
            if (!run.kernel->params[i].isPointer) continue;
            uint64_t p;
            std::memcpy(&p, run.params + run.kernel->params[i].offset, 8);
            pointers.push_back(p);
        }
        size_t total = 0;
        for (int i = 0; i < run.kernel->paramCount; i++) {
            const kvd_emu_param& prm = run.kernel->params[i];
            if (!prm.isPointer || prm.isConstPointee || !prm.pointeeKind) continue;
            uint64_t p;
            std::memcpy(&p, run.params + prm.offset, 8);
            const Allocation* a = p ? heap_find(p, 0) : nullptr;
            if (!a) continue;
            bool dup = false;
            for (auto& s : snaps) dup |= s.p == p;
            if (dup) continue;
            uint64_t end = a->base + a->sizeBytes;
            for (uint64_t q : pointers) if (q > p && q < end) end = q;
            const size_t bytes = end - p;
            total += bytes;
            if (total > (size_t(64) << 20)) { snaps.clear(); break; }
            const unsigned char* h = static_cast<const unsigned char*>(heap_host(p));
            snaps.push_back(Snapshot{i, p, prm.pointeeKind, std::vector<unsigned char>(h, h + bytes)});
        }
    }
    phase("snapshot");
    // A programmatic dependent launch may start before its predecessor finished: its blocks see
    // device memory only from their griddepcontrol.wait on (kvd_emu_grid_dependency_wait), so a read
    // before the wait faults here instead of racing on a GPU.
    if (!run.pdl) heap_open_for_kernels();
    phase("mprotect");
    CUresult result = CUDA_SUCCESS;
    for (uint64_t i = 0; i < nblocks; i++) {
        const uint64_t blk = order.empty() ? (stepA * i + stepB) % nblocks : order[i];
        kvd_emu_grid.idx = uint3{(unsigned)(blk % run.grid[0]), (unsigned)((blk / run.grid[0]) % run.grid[1]),
                                      (unsigned)(blk / ((uint64_t)run.grid[0] * run.grid[1]))};
        // Shared memory starts as NaN (a read before the block wrote it shows), dynamic shared
        // memory is followed by a guard.
        if (staticShared) poison(staticShared, staticSharedBytes);
        for (unsigned char* d : dyn) {
            poison(d, run.sharedBytes);
            std::memset(d + run.sharedBytes, kDynGuard, kDynGuardBytes);
        }
        S.waited = false;
        run_block();
        if (run.pdl) heap_close_for_kernels();
        if (S.error.empty() && run.pdl && !S.waited)
            S.error = format("kernel %s (block %u,%u,%u) was launched with CU_LAUNCH_ATTRIBUTE_PROGRAMMATIC_STREAM_SERIALIZATION "
                             "but never called griddepcontrol.wait (kvd_pdl_wait): it may run before its predecessor's "
                             "output is complete", run.kernel->name, kvd_emu_grid.idx.x, kvd_emu_grid.idx.y,
                             kvd_emu_grid.idx.z);
        if (!S.error.empty()) {
            result = fail(CUDA_ERROR_LAUNCH_FAILED, "%s", S.error.c_str());
            break;
        }
        for (size_t k = 0; k < dyn.size(); k++) {
            const unsigned char* g = dyn[k] + run.sharedBytes;
            for (size_t j = 0; j < kDynGuardBytes; j++) {
                if (g[j] != kDynGuard) {
                    result = fail(CUDA_ERROR_ILLEGAL_ADDRESS,
                                  "%s: wrote past the end of its dynamic shared memory (extern __shared__ %s, %u bytes) "
                                  "at byte %zu", where().c_str(), dyn_shared()[k].name, run.sharedBytes,
                                  (size_t)run.sharedBytes + j);
                    break;
                }
            }
            if (result != CUDA_SUCCESS) break;
        }
        if (result != CUDA_SUCCESS) break;
    }
    phase("blocks");
    heap_close_for_kernels();
    phase("mprotect");
    if (result == CUDA_SUCCESS) {
        const std::string guard = heap_check_guards();
        if (!guard.empty())
            result = fail(CUDA_ERROR_ILLEGAL_ADDRESS, "kernel %s (grid %u,%u,%u, block %u,%u,%u): %s", run.kernel->name,
                          run.grid[0], run.grid[1], run.grid[2], run.block[0], run.block[1], run.block[2], guard.c_str());
    }
    phase("guards");
    for (size_t i = 0; i < snaps.size() && result == CUDA_SUCCESS; i++) {
        const Snapshot& sn = snaps[i];
        const unsigned char* after = static_cast<const unsigned char*>(heap_host(sn.p));
        const long long e = first_new_nan(sn.before.data(), after, sn.before.size(), sn.kind);
        if (e >= 0)
            result = fail(CUDA_ERROR_LAUNCH_FAILED, "kernel %s (grid %u,%u,%u, block %u,%u,%u) wrote NaN to element %lld "
                          "of pointer parameter #%d: it read a poisoned (never written) element, or computed a NaN "
                          "(KVDECODE_EMU_NANCHECK=0 disables this check)", run.kernel->name, run.grid[0], run.grid[1],
                          run.grid[2], run.block[0], run.block[1], run.block[2], e, sn.param);
    }
    phase("nancheck");
    S.run = nullptr;
    return result;
}

}  // namespace kvd

using namespace kvd;

extern "C" {

__attribute__((visibility("default"))) void kvd_emu_register_kernel(const kvd_emu_kernel* k) {
    registry().kernels[k->name] = *k;
}

__attribute__((visibility("default"))) void kvd_emu_register_dynamic_shared(const char* name, void* (*address)()) {
    dyn_shared().push_back(DynShared{name, address});
}

__attribute__((visibility("default"))) uint64_t kvd_emu_warp_op(int kind, unsigned mask, uint64_t value, int b, int c) {
    Fiber* f = S.running;
    if (!f) { fprintf(stderr, "kvdecode-emu: %s called outside a kernel\n", kind_name(kind)); abort(); }
    f->kind = kind;
    f->mask = mask;
    f->value = value;
    f->b = b;
    f->c = c;
    f->state = AT_WARP;
    kvd_emu_switch(&f->sp, S.schedSp);
    return f->result;
}

__attribute__((visibility("default"))) void kvd_emu_grid_dependency_wait(void) {
    if (!S.running) { fprintf(stderr, "kvdecode-emu: griddepcontrol.wait called outside a kernel\n"); abort(); }
    // Blocks run one after another and the predecessor has completed, so there is nothing to wait
    // for; what the emulator checks is that the wait comes before the block touches device memory.
    if (S.run->pdl && !S.waited) heap_open_for_kernels();
    S.waited = true;
}

__attribute__((visibility("default"))) int kvd_emu_syncthreads(int mode, int predicate) {
    Fiber* f = S.running;
    if (!f) { fprintf(stderr, "kvdecode-emu: __syncthreads called outside a kernel\n"); abort(); }
    f->barrierMode = mode;
    f->predicate = predicate;
    f->state = AT_BARRIER;
    kvd_emu_switch(&f->sp, S.schedSp);
    return (int)f->result;
}

__attribute__((visibility("default"))) unsigned kvd_emu_activemask(void) {
    // Convergence is not modelled: the lanes of the warp that exist and have not exited.
    Fiber* f = S.running;
    if (!f) return 0;
    unsigned m = 0;
    const int base = f->warp * 32;
    for (int p = 0; p < 32 && base + p < S.nthreads; p++) if (S.fibers[base + p].state != DONE) m |= 1u << p;
    return m;
}

}  // extern "C"
