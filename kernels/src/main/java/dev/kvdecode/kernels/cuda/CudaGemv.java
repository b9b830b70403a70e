package dev.kvdecode.kernels.cuda;

import dev.kvdecode.bindings.CudaStream;
import dev.kvdecode.bindings.DeviceBuffer;
import dev.kvdecode.bindings.Dim3;
import dev.kvdecode.bindings.KernelArgs;
import dev.kvdecode.kernels.Activation;

import static dev.kvdecode.kernels.cuda.CudaKernels.addressOrNull;
import static dev.kvdecode.kernels.cuda.CudaKernels.need;
import static dev.kvdecode.kernels.cuda.CudaKernels.needOptional;
import static dev.kvdecode.kernels.cuda.CudaKernels.positive;

/**
 * Launchers for native/gemv.cu: the decode step's matrix-vector products for up to
 * {@link #MAX_ROWS} rows, W stored (N, K), with the following op fused into the epilogue. CPU twin:
 * the composition {@link dev.kvdecode.kernels.Matmul#matmul} then
 * {@link dev.kvdecode.kernels.Activations#apply} or {@link dev.kvdecode.kernels.Residual#add}.
 * Each row is summed in the same order whatever M is (batch invariance).
 */
public final class CudaGemv {
    private CudaGemv() {}

    /** Rows one launch serves; more go to cuBLAS. */
    public static final int MAX_ROWS = 8;
    static final int BLOCK = 256;
    static final int COLUMNS_PER_BLOCK = BLOCK / 32;

    /** What the GEMV does with acc = x . W^T before it stores (the model families reuse these). */
    public enum Epilogue {
        /** out (M,N) f32 = acc + bias. */
        BIAS("gemv_bias", true),
        /** resid (M,N) f32 += acc + bias. */
        BIAS_RESIDUAL("gemv_bias_residual", true),
        /** out (M,N) T = GELU tanh form (acc + bias). */
        BIAS_GELU_TANH("gemv_bias_gelu_tanh", false),
        /** out (M,N) T = GELU (acc + bias), the erf form. */
        BIAS_GELU_ERF("gemv_bias_gelu_erf", false),
        /** out (M,N) T = max(acc + bias, 0). */
        BIAS_RELU("gemv_bias_relu", false);

        final String op;
        final boolean f32Out;

        Epilogue(String op, boolean f32Out) {
            this.op = op;
            this.f32Out = f32Out;
        }

        /** The activation epilogue for an MLP nonlinearity. */
        public static Epilogue of(Activation act) {
            return switch (act) {
                case GELU_NEW -> BIAS_GELU_TANH;
                case GELU -> BIAS_GELU_ERF;
                case RELU -> BIAS_RELU;
                // the gated SwiGLU MLP (Llama family) has its own launcher, gemvSwiGlu
                case SILU -> throw new IllegalArgumentException("silu: the gated MLP's GEMV is gemvSwiGlu, no ungated epilogue");
            };
        }

        /** The kernel's extern "C" name for a dtype. */
        public String kernel(DType dt) { return dt.kernel(op); }

        /** Bytes per output element: 4 (f32 out) or the dtype's. */
        public int outBytes(DType dt) { return f32Out ? 4 : dt.sizeBytes(); }
    }

    // x (M,K) T, w (N,K) T, bias (N) T or null -> out (M,N) f32 (BIAS; BIAS_RESIDUAL in/out) or T (activations)
    /** out = epilogue(x W^T + bias) for M <= 8 rows; W (N, K) row-major in the dtype. */
    public static void gemv(CudaKernels k, CudaStream s, DType dt, Epilogue e, DeviceBuffer x, DeviceBuffer w, DeviceBuffer bias,
                            DeviceBuffer out, int M, int K, int N) {
        String name = e.kernel(dt);
        positive(name, "M", M); positive(name, "K", K); positive(name, "N", N);
        if (M > MAX_ROWS) throw new IllegalArgumentException(name + ": " + M + " rows (at most " + MAX_ROWS + "; use cuBLAS)");
        int es = dt.sizeBytes();
        need(name, "x", x, (long) es * M * K);
        need(name, "w", w, (long) es * N * K);
        needOptional(name, "bias", bias, (long) es * N);
        need(name, "out", out, (long) e.outBytes(dt) * M * N);
        k.launch(s, name, Dim3.of((N + COLUMNS_PER_BLOCK - 1) / COLUMNS_PER_BLOCK), Dim3.of(BLOCK), 0,
                new KernelArgs().ptr(x).ptr(w).ptr(addressOrNull(bias)).ptr(out).i32(M).i32(K).i32(N),
                bytesMoved(dt, e, M, K, N, bias != null));
    }

    // x (M,K) f32, gamma,beta (K) T, w (N,K) T, bias (N) T or null -> out (M,N) f32 (BIAS) or T (activations)
    /**
     * out = epilogue(LayerNorm(x) W^T + bias): the block normalises the M rows itself (the bits of
     * layernorm_T then gemv_*), one launch instead of two. Not for BIAS_RESIDUAL.
     */
    public static void gemvLayerNorm(CudaKernels k, CudaStream s, DType dt, Epilogue e, DeviceBuffer x, DeviceBuffer gamma,
                                     DeviceBuffer beta, float eps, DeviceBuffer w, DeviceBuffer bias, DeviceBuffer out,
                                     int M, int K, int N) {
        if (e == Epilogue.BIAS_RESIDUAL) throw new IllegalArgumentException("gemv_ln: no residual epilogue");
        String name = dt.kernel("gemv_ln_" + e.op.substring("gemv_".length()));
        positive(name, "M", M); positive(name, "K", K); positive(name, "N", N);
        if (M > MAX_ROWS) throw new IllegalArgumentException(name + ": " + M + " rows (at most " + MAX_ROWS + "; use cuBLAS)");
        int es = dt.sizeBytes();
        long smem = (long) M * K * es;
        if (!layerNormFits(dt, M, K))
            throw new IllegalArgumentException(name + ": " + M + " rows of " + K + " need " + smem + " bytes of shared memory (limit 49152)");
        need(name, "x", x, 4L * M * K);
        need(name, "gamma", gamma, (long) es * K);
        need(name, "beta", beta, (long) es * K);
        need(name, "w", w, (long) es * N * K);
        needOptional(name, "bias", bias, (long) es * N);
        need(name, "out", out, (long) e.outBytes(dt) * M * N);
        long bytes = (long) es * N * K + (bias != null ? (long) es * N : 0) + 4L * M * K + 2L * es * K + (long) e.outBytes(dt) * M * N;
        k.launch(s, name, Dim3.of((N + COLUMNS_PER_BLOCK - 1) / COLUMNS_PER_BLOCK), Dim3.of(BLOCK), (int) smem,
                new KernelArgs().ptr(x).ptr(gamma).ptr(beta).f32(eps).ptr(w).ptr(addressOrNull(bias)).ptr(out)
                        .i32(M).i32(K).i32(N), bytes);
    }

    /** Whether M normalised rows of K fit the 48 KiB of dynamic shared memory gemv_ln may use. */
    public static boolean layerNormFits(DType dt, int M, int K) { return (long) M * K * dt.sizeBytes() <= 48 * 1024; }

    /** Bytes a launch moves: W, the bias, the input rows, the outputs (read and written for the residual). */
    public static long bytesMoved(DType dt, Epilogue e, int M, int K, int N, boolean hasBias) {
        long es = dt.sizeBytes();
        long outBytes = (long) e.outBytes(dt) * M * N * (e == Epilogue.BIAS_RESIDUAL ? 2 : 1);
        return es * N * K + (hasBias ? es * N : 0) + es * M * K + outBytes;
    }

    // x (M,K) f32, w_norm (K) T, w (N,K) T, bias (N) T or null -> out (M,N) f32
    /**
     * out = RMSNorm(x) W^T + bias: the block normalises the M rows itself (the bits of rmsnorm_T
     * then gemv_bias_T), one launch instead of two (issue 18, the Llama family's qkv and LM head).
     */
    public static void gemvRmsNorm(CudaKernels k, CudaStream s, DType dt, DeviceBuffer x, DeviceBuffer wNorm, float eps,
                                   DeviceBuffer w, DeviceBuffer bias, DeviceBuffer out, int M, int K, int N) {
        String name = dt.kernel("gemv_rms_bias");
        checkPrologue(name, dt, x, wNorm, M, K, N);
        int es = dt.sizeBytes();
        need(name, "w", w, (long) es * N * K);
        needOptional(name, "bias", bias, (long) es * N);
        need(name, "out", out, 4L * M * N);
        long bytes = (long) es * N * K + (bias != null ? (long) es * N : 0) + 4L * M * K + (long) es * K + 4L * M * N;
        k.launch(s, name, Dim3.of((N + COLUMNS_PER_BLOCK - 1) / COLUMNS_PER_BLOCK), Dim3.of(BLOCK), M * K * es,
                new KernelArgs().ptr(x).ptr(wNorm).f32(eps).ptr(w).ptr(addressOrNull(bias)).ptr(out).i32(M).i32(K).i32(N), bytes);
    }

    // x (M,K) T, or f32 with wNorm (K) T; w (2I,K) T [gate | up], bias (2I) T or null -> out (M,I) T
    /**
     * The gated MLP's middle in one launch: out = silu(x' W_gate^T + b_g) * (x' W_up^T + b_u) with
     * x' = x (already normed, in the dtype) or, with {@code wNorm}, x' = RMSNorm(x) computed in the
     * prologue from the fp32 residual stream. The bits of gemv_bias_T into [gate | up] then swiglu_T.
     */
    public static void gemvSwiGlu(CudaKernels k, CudaStream s, DType dt, DeviceBuffer x, DeviceBuffer wNorm, float eps,
                                  DeviceBuffer w, DeviceBuffer bias, DeviceBuffer out, int M, int K, int I) {
        String name = dt.kernel(wNorm != null ? "gemv_rms_swiglu" : "gemv_swiglu");
        int es = dt.sizeBytes();
        if (wNorm != null) {
            checkPrologue(name, dt, x, wNorm, M, K, I);
        } else {
            positive(name, "M", M); positive(name, "K", K); positive(name, "I", I);
            if (M > MAX_ROWS) throw new IllegalArgumentException(name + ": " + M + " rows (at most " + MAX_ROWS + "; use cuBLAS)");
            need(name, "x", x, (long) es * M * K);
        }
        need(name, "w", w, 2L * es * I * K);
        needOptional(name, "bias", bias, 2L * es * I);
        need(name, "out", out, (long) es * M * I);
        long bytes = 2L * es * I * K + (bias != null ? 2L * es * I : 0) + (long) (wNorm != null ? 4 : es) * M * K + (long) es * M * I;
        Dim3 grid = Dim3.of((I + COLUMNS_PER_BLOCK - 1) / COLUMNS_PER_BLOCK);
        if (wNorm != null)
            k.launch(s, name, grid, Dim3.of(BLOCK), M * K * es,
                    new KernelArgs().ptr(x).ptr(wNorm).f32(eps).ptr(w).ptr(addressOrNull(bias)).ptr(out).i32(M).i32(K).i32(I), bytes);
        else
            k.launch(s, name, grid, Dim3.of(BLOCK), 0,
                    new KernelArgs().ptr(x).ptr(w).ptr(addressOrNull(bias)).ptr(out).i32(M).i32(K).i32(I), bytes);
    }

    private static void checkPrologue(String name, DType dt, DeviceBuffer x, DeviceBuffer wNorm, int M, int K, int N) {
        positive(name, "M", M); positive(name, "K", K); positive(name, "N", N);
        if (M > MAX_ROWS) throw new IllegalArgumentException(name + ": " + M + " rows (at most " + MAX_ROWS + "; use cuBLAS)");
        if (!layerNormFits(dt, M, K))
            throw new IllegalArgumentException(name + ": " + M + " rows of " + K + " need " + (long) M * K * dt.sizeBytes()
                    + " bytes of shared memory (limit 49152)");
        need(name, "x", x, 4L * M * K);
        need(name, "wNorm", wNorm, (long) dt.sizeBytes() * K);
    }

    // ---- the qkv projection with the K/V append in its epilogue ----

    /** Whether {@link #qkvAppend} serves a cache policy: all but the in-place SHIFT (one block per row: kv_append). */
    public static boolean qkvAppendSupports(int overflowPolicy) {
        return overflowPolicy == CudaKvCache.SHIFT_FLAT || overflowPolicy == CudaKvCache.RING || overflowPolicy == CudaKvCache.STOP;
    }

    // x (M,K) f32 with gamma,beta (K) T (LayerNorm prologue) | x (M,K) T with gamma = beta = null,
    // w (N,K) T with N = (NH+2NKV)HS, bias (N) T or null, seen (M) int
    //   -> q (M, NH HS) f32, kc,vc (M, NKV, rowSlots(cap, policy), HS) T at seen[m]'s slot
    /**
     * The qkv projection of a decode step with the K/V append fused into its epilogue: q (bias
     * added) into {@code q}, k and v (bias added, rounded to the dtype) straight into the slot the
     * overflow policy gives seen[m] (SHIFT_FLAT's once-per-window move included), so no qkv buffer
     * and no kv_append launch. With {@code gamma} and {@code beta} the block applies LayerNorm to
     * x first (x then f32, the residual stream), else x is already normalised in the dtype. The
     * same bits as gemv(_ln)_bias followed by kv_append. Columns are computed in rotate-half pairs
     * (i, i + ceil(HS/2)) per head, where a rotary family turns q and k (native NoPositionHook).
     */
    public static void qkvAppend(CudaKernels k, CudaStream s, DType dt, DeviceBuffer x, DeviceBuffer gamma, DeviceBuffer beta,
                                 float eps, DeviceBuffer w, DeviceBuffer bias, DeviceBuffer q, DeviceBuffer kc, DeviceBuffer vc,
                                 DeviceBuffer seen, int M, int K, int NH, int NKV, int HS, int cap, int overflowPolicy) {
        boolean ln = gamma != null;
        String name = dt.kernel(ln ? "gemv_ln_qkv_append" : "gemv_qkv_append");
        positive(name, "M", M); positive(name, "K", K); positive(name, "NH", NH); positive(name, "NKV", NKV);
        positive(name, "HS", HS); positive(name, "cap", cap);
        if (M > MAX_ROWS) throw new IllegalArgumentException(name + ": " + M + " rows (at most " + MAX_ROWS + "; use cuBLAS)");
        if (NH % NKV != 0) throw new IllegalArgumentException(name + ": " + NH + " query heads do not share " + NKV + " KV heads evenly");
        if (!qkvAppendSupports(overflowPolicy))
            throw new IllegalArgumentException(name + ": overflow policy " + overflowPolicy + " (the in-place SHIFT needs kv_append)");
        if (ln != (beta != null)) throw new IllegalArgumentException(name + ": gamma and beta come together");
        int es = dt.sizeBytes();
        long N = (long) (NH + 2 * NKV) * HS;
        int slots = CudaKvCache.rowSlots(cap, overflowPolicy);
        need(name, "x", x, (ln ? 4L : es) * M * K);
        if (ln) {
            need(name, "gamma", gamma, (long) es * K);
            need(name, "beta", beta, (long) es * K);
        }
        need(name, "w", w, es * N * K);
        needOptional(name, "bias", bias, es * N);
        need(name, "q", q, 4L * M * NH * HS);
        long cache = (long) es * M * NKV * slots * HS;
        need(name, "kc", kc, cache);
        need(name, "vc", vc, cache);
        need(name, "seen", seen, 4L * M);
        long smem = ln ? (long) M * K * es : 0;
        if (ln && !layerNormFits(dt, M, K))
            throw new IllegalArgumentException(name + ": " + M + " rows of " + K + " need " + smem + " bytes of shared memory (limit 49152)");
        long pairs = (long) (NH + 2 * NKV) * ((HS + 1) / 2);
        // W, bias, input rows (+ gamma, beta), q out, one K and one V row per sequence
        long bytes = es * N * K + (bias != null ? es * N : 0) + (ln ? 4L : es) * M * K + (ln ? 2L * es * K : 0)
                + 4L * M * NH * HS + 2L * es * M * NKV * HS + 4L * M;
        KernelArgs a = new KernelArgs().ptr(x);
        if (ln) a.ptr(gamma).ptr(beta).f32(eps);
        a.ptr(w).ptr(addressOrNull(bias)).ptr(q).ptr(kc).ptr(vc).ptr(seen)
                .i32(M).i32(K).i32(NH).i32(NKV).i32(HS).i32(cap).i32(overflowPolicy);
        k.launch(s, name, Dim3.of((int) ((pairs + COLUMNS_PER_BLOCK - 1) / COLUMNS_PER_BLOCK)), Dim3.of(BLOCK), (int) smem, a, bytes);
    }

    // ---- the LM head with greedy argmax's first half in its epilogue ----

    /** Blocks of a GEMV over N columns: the partials per row {@link #biasArgmax} leaves. */
    public static int argmaxPartials(int N) { return (N + COLUMNS_PER_BLOCK - 1) / COLUMNS_PER_BLOCK; }

    // x (M,K) f32 with gamma,beta (K) T | x (M,K) T with gamma = beta = null, w (N,K) T, bias (N) T or null
    //   -> out (M,N) f32, pmax (M,P) f32, pidx (M,P) int with P = argmaxPartials(N)
    /**
     * out = x W^T + bias (LayerNorm of x first when {@code gamma} is given), the bits of
     * gemv(_ln)_bias, plus each block's best column per row (largest value, lowest index on ties)
     * for {@link CudaSampling#argmaxPartials}: greedy decoding's argmax without re-reading the logits.
     */
    public static void biasArgmax(CudaKernels k, CudaStream s, DType dt, DeviceBuffer x, DeviceBuffer gamma, DeviceBuffer beta,
                                  float eps, DeviceBuffer w, DeviceBuffer bias, DeviceBuffer out, DeviceBuffer pmax,
                                  DeviceBuffer pidx, int M, int K, int N) {
        boolean ln = gamma != null;
        String name = dt.kernel(ln ? "gemv_ln_bias_argmax" : "gemv_bias_argmax");
        positive(name, "M", M); positive(name, "K", K); positive(name, "N", N);
        if (M > MAX_ROWS) throw new IllegalArgumentException(name + ": " + M + " rows (at most " + MAX_ROWS + "; use cuBLAS)");
        if (ln != (beta != null)) throw new IllegalArgumentException(name + ": gamma and beta come together");
        int es = dt.sizeBytes();
        int P = argmaxPartials(N);
        need(name, "x", x, (ln ? 4L : es) * M * K);
        if (ln) {
            need(name, "gamma", gamma, (long) es * K);
            need(name, "beta", beta, (long) es * K);
        }
        need(name, "w", w, (long) es * N * K);
        needOptional(name, "bias", bias, (long) es * N);
        need(name, "out", out, 4L * M * N);
        need(name, "pmax", pmax, 4L * M * P);
        need(name, "pidx", pidx, 4L * M * P);
        long smem = ln ? (long) M * K * es : 0;
        if (ln && !layerNormFits(dt, M, K))
            throw new IllegalArgumentException(name + ": " + M + " rows of " + K + " need " + smem + " bytes of shared memory (limit 49152)");
        long bytes = (long) es * N * K + (bias != null ? (long) es * N : 0) + (ln ? 4L : es) * M * K + (ln ? 2L * es * K : 0)
                + 4L * M * N + 8L * M * P;
        KernelArgs a = new KernelArgs().ptr(x);
        if (ln) a.ptr(gamma).ptr(beta).f32(eps);
        a.ptr(w).ptr(addressOrNull(bias)).ptr(out).ptr(pmax).ptr(pidx).i32(M).i32(K).i32(N);
        k.launch(s, name, Dim3.of(P), Dim3.of(BLOCK), (int) smem, a, bytes);
    }
}
