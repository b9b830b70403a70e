package dev.kvdecode.bindings;

import java.lang.foreign.FunctionDescriptor;
import java.lang.foreign.Linker;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.SymbolLookup;
import java.lang.invoke.MethodHandle;
import java.lang.invoke.MethodHandles;
import java.lang.invoke.MethodType;
import java.util.Optional;

/**
 * One C function as the headers declare it: the exported symbol name, the C prototype it was
 * written from (quoted from cuda.h / cublas_api.h, parameter names included) and the FFM
 * descriptor. The prototype string is not decoration: {@link PrototypeCheck} turns it into a C
 * file that the compiler checks against the real headers, and checks the descriptor against it.
 *
 * @param name       the exported symbol, e.g. {@code cuMemAlloc_v2} (the name the header's macro maps to)
 * @param prototype  the C declaration, e.g. {@code CUresult cuMemAlloc_v2(CUdeviceptr *dptr, size_t bytesize)}
 * @param descriptor the FFM view of the same signature
 */
public record NativeFunction(String name, String prototype, FunctionDescriptor descriptor) {

    public NativeFunction {
        if (!prototype.contains(" " + name + "(") && !prototype.contains("*" + name + "("))
            throw new IllegalArgumentException("prototype of " + name + " names another function: " + prototype);
    }

    /**
     * A function bound in one library: the holder jextract would generate, with the address and
     * the downcall handle. A symbol the library does not export binds to a handle that throws
     * {@link UnsatisfiedLinkError} naming the symbol and the library when called, so an old driver
     * (or the emulator) lacking an optional entry point fails only if that entry point is used.
     */
    public record Bound(NativeFunction function, Optional<MemorySegment> address, MethodHandle handle) {
        public boolean present() { return address.isPresent(); }
    }

    /** Looks the symbol up in {@code lookup} and makes its downcall handle. */
    public Bound bind(SymbolLookup lookup, String libraryLabel) {
        Optional<MemorySegment> addr = lookup.find(name);
        MethodType type = descriptor.toMethodType();
        MethodHandle handle;
        if (addr.isPresent()) {
            handle = Linker.nativeLinker().downcallHandle(addr.get(), descriptor);
        } else {
            MethodHandle thrower = MethodHandles.insertArguments(MISSING, 0, name, libraryLabel);
            handle = MethodHandles.dropArguments(thrower, 0, type.parameterList())
                    .asType(type);
        }
        return new Bound(this, addr, handle);
    }

    private static final MethodHandle MISSING;
    static {
        try {
            MISSING = MethodHandles.lookup().findStatic(NativeFunction.class, "missing",
                    MethodType.methodType(Object.class, String.class, String.class));
        } catch (ReflectiveOperationException e) {
            throw new ExceptionInInitializerError(e);
        }
    }

    @SuppressWarnings("unused") // via MISSING
    private static Object missing(String symbol, String library) {
        throw new UnsatisfiedLinkError(symbol + ": symbol not exported by " + library);
    }

    /** The API name without the ABI version suffix the header's macro adds: cuMemAlloc_v2 -> cuMemAlloc. */
    public String apiName() {
        return name.replaceFirst("_v[0-9]+$", "");
    }
}
