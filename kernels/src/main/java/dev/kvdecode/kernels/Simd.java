package dev.kvdecode.kernels;

/**
 * Whether the CPU kernels use explicit SIMD ({@link VectorOps}, the JDK's incubating Vector API)
 * or scalar loops that C2 auto-vectorizes. The Vector API is used when the JVM was started with
 * {@code --add-modules jdk.incubator.vector} (the {@code ./kvdecode} launcher does, and filters the
 * one warning line the JVM prints for an incubator module) and {@code -Dkvdecode.simd=scalar} is
 * not set. A plain {@code java -jar} runs the scalar code and prints nothing extra.
 *
 * <p>Both forms give the same bits for the matmuls (multiply, then add, in the same order) and
 * for the bf16 widening; the LM head's dot products differ only in summation order (both within
 * the references' 1e-5 bound). {@code VectorOps} is loaded only when enabled: no class outside it
 * names a Vector API type, so the scalar path never needs the module.
 */
public final class Simd {
    private Simd() {}

    /** True when the Vector API kernels are in use. */
    public static final boolean VECTOR = detect();

    private static boolean detect() {
        if ("scalar".equals(System.getProperty("kvdecode.simd"))) return false;
        return ModuleLayer.boot().findModule("jdk.incubator.vector").isPresent();
    }

    /** One line for reports: which kernels run and how wide. */
    public static String describe() {
        return VECTOR ? "Vector API, " + VectorOps.floatLanes() + " fp32 lanes" : "scalar (C2 auto-vectorized)";
    }
}
