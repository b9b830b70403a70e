// Storage for the test kernels' extern __shared__ array (scripts/build-emu.sh generates the same
// for native/*.cu), registered so each block starts with it poisoned and guarded.
extern "C" void kvd_emu_register_dynamic_shared(const char*, void* (*)());
// g++ may call the variable's TLS init function before each use: a no-op.
extern "C" void emu_test_dyn_init() __asm__("_ZTH8test_dyn");
extern "C" void emu_test_dyn_init() {}
alignas(64) thread_local unsigned char emu_test_dyn_storage[227 * 1024 + 256] __asm__("test_dyn");
static void* emu_test_dyn_address() { return emu_test_dyn_storage; }
static int emu_test_dyn_registered = (kvd_emu_register_dynamic_shared("test_dyn", &emu_test_dyn_address), 0);
