// A tiny test harness for the emulator's C++ self-tests (scripts/test-emu.sh builds and runs them).
#pragma once
#include <cuda.h>
#include "kvd_emu.h"

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <functional>
#include <string>
#include <vector>

namespace emu_test {

inline int& failures() { static int f = 0; return f; }
inline std::vector<std::pair<const char*, std::function<void()>>>& tests() {
    static std::vector<std::pair<const char*, std::function<void()>>> t;
    return t;
}
struct Add {
    Add(const char* name, std::function<void()> fn) { tests().emplace_back(name, std::move(fn)); }
};

#define EMU_TEST(name) \
    static void name(); \
    static emu_test::Add emu_test_add_##name(#name, name); \
    static void name()

#define CHECK(cond) \
    do { if (!(cond)) { fprintf(stderr, "  FAILED %s:%d: %s\n", __FILE__, __LINE__, #cond); emu_test::failures()++; return; } } while (0)
#define CHECK_MSG(cond, ...) \
    do { if (!(cond)) { fprintf(stderr, "  FAILED %s:%d: %s: ", __FILE__, __LINE__, #cond); fprintf(stderr, __VA_ARGS__); \
         fputc('\n', stderr); emu_test::failures()++; return; } } while (0)

inline const char* name_of(CUresult r) { const char* s = "?"; cuGetErrorName(r, &s); return s ? s : "?"; }
inline std::string detail_of(CUresult r) { const char* s = nullptr; cuGetErrorString(r, &s); return s ? s : ""; }

#define CU(call) \
    do { CUresult r_ = (call); if (r_ != CUDA_SUCCESS) { fprintf(stderr, "  FAILED %s:%d: %s -> %s\n", __FILE__, __LINE__, #call, \
         emu_test::name_of(r_)); emu_test::failures()++; return; } } while (0)
// The call fails with `code` and the emulator's message for it contains `text`.
#define CHECK_FAILS(call, code, text) \
    do { CUresult r_ = (call); std::string d_ = emu_test::detail_of(r_); \
         if (r_ != (code) || d_.find(text) == std::string::npos) { \
             fprintf(stderr, "  FAILED %s:%d: %s -> %s \"%s\", expected %s with \"%s\"\n", __FILE__, __LINE__, #call, \
                     emu_test::name_of(r_), d_.c_str(), emu_test::name_of(code), text); emu_test::failures()++; return; } } while (0)

// A fresh primary context per test: releasing it drops the memory and any sticky error.
struct Ctx {
    CUcontext ctx = nullptr;
    CUmodule mod = nullptr;
    Ctx() {
        cuInit(0);
        cuDevicePrimaryCtxRetain(&ctx, 0);
        cuCtxSetCurrent(ctx);
        static const char marker[] = "KVDEMU test module";
        cuModuleLoadData(&mod, marker);
    }
    ~Ctx() {
        cuModuleUnload(mod);
        cuCtxSetCurrent(nullptr);
        cuDevicePrimaryCtxRelease_v2(0);
    }
    CUfunction fn(const char* name) {
        CUfunction f = nullptr;
        if (cuModuleGetFunction(&f, mod, name) != CUDA_SUCCESS) { fprintf(stderr, "no kernel %s\n", name); abort(); }
        return f;
    }
};

inline int run_all(const char* suite) {
    int n = 0;
    for (auto& [name, fn] : tests()) {
        const int before = failures();
        const auto t0 = std::chrono::steady_clock::now();
        fn();
        const double ms = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
        fprintf(stderr, "%s %s.%s (%.0f ms)\n", failures() == before ? "ok  " : "FAIL", suite, name, ms);
        n++;
    }
    fprintf(stderr, "%s: %d tests, %d failures\n", suite, n, failures());
    return failures() == 0 ? 0 : 1;
}

}  // namespace emu_test

#define EMU_TEST_MAIN(suite) int main() { return emu_test::run_all(suite); }
