package dev.kvdecode.runtime.cuda;

import dev.kvdecode.bindings.DeviceBuffer;
import dev.kvdecode.bindings.GpuContext;
import dev.kvdecode.kernels.cuda.DType;
import dev.kvdecode.runtime.model.Gpt2Weights;
import dev.kvdecode.runtime.model.LayerWeights;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.util.ArrayList;
import java.util.List;

/**
 * A model's weights in device memory, converted once to the session dtype (fp32, fp16 or bf16),
 * same layouts as {@link Gpt2Weights} except the linear weights, stored transposed as (out, in)
 * row-major like the LM head: each output's weights are contiguous, which the decode GEMV
 * (native/gemv.cu) streams, and cuBLAS reads them with op = T for prefill. Immutable after upload;
 * owns its buffers. A missing optional tensor (bias, LayerNorm's beta for RMSNorm, Qwen3's q/k
 * norms, wpe for rotary positions) is {@code null}, which the kernels skip. For rotary positions
 * RoPE's inverse frequencies (HS/2, rope scaling applied, as the CPU computes them) are kept in
 * fp32 whatever the dtype: the angles are formed in fp32 as transformers does.
 */
final class DeviceWeights implements AutoCloseable {
    /** One block's tensors on the device (see {@link LayerWeights} for shapes). */
    record Layer(DeviceBuffer ln1Weight, DeviceBuffer ln1Bias, DeviceBuffer attnWeight, DeviceBuffer attnBias,
                 DeviceBuffer attnProjWeight, DeviceBuffer attnProjBias, DeviceBuffer ln2Weight, DeviceBuffer ln2Bias,
                 DeviceBuffer fcWeight, DeviceBuffer fcBias, DeviceBuffer fcProjWeight, DeviceBuffer fcProjBias,
                 DeviceBuffer qNorm, DeviceBuffer kNorm) {}

    final DType dtype;
    final DeviceBuffer wte, wpe, lnfWeight, lnfBias, lmHead, lmHeadBias;
    /** RoPE's inverse frequencies (HS/2) f32, or null for learned positions. */
    final DeviceBuffer ropeInvFreq;
    final List<Layer> layers;
    private final List<DeviceBuffer> owned = new ArrayList<>();

    DeviceWeights(GpuContext gpu, Gpt2Weights w, DType dtype) {
        this.dtype = dtype;
        try {
            float[] invFreq = invFreq(w);
            ropeInvFreq = invFreq == null ? null : upload(gpu, invFreq, DType.F32);
            wte = upload(gpu, w.wte());
            wpe = upload(gpu, w.wpe());
            List<Layer> ls = new ArrayList<>();
            for (LayerWeights lw : w.layers()) {
                ls.add(new Layer(upload(gpu, lw.ln1Weight()), upload(gpu, lw.ln1Bias()),
                        upload(gpu, transposed(lw.attnWeight())), upload(gpu, lw.attnBias()),
                        upload(gpu, transposed(lw.attnProjWeight())), upload(gpu, lw.attnProjBias()),
                        upload(gpu, lw.ln2Weight()), upload(gpu, lw.ln2Bias()),
                        upload(gpu, transposed(lw.fcWeight())), upload(gpu, lw.fcBias()),
                        upload(gpu, transposed(lw.fcProjWeight())), upload(gpu, lw.fcProjBias()),
                        upload(gpu, lw.qNorm()), upload(gpu, lw.kNorm())));
            }
            layers = List.copyOf(ls);
            lnfWeight = upload(gpu, w.lnfWeight());
            lnfBias = upload(gpu, w.lnfBias());
            // A tied head shares wte's device copy (it is the same array on the host).
            lmHead = w.lmHead() == w.wte() ? wte : upload(gpu, w.lmHead());
            lmHeadBias = upload(gpu, w.lmHeadBias());
        } catch (RuntimeException e) {
            close();
            throw e;
        }
    }

    /** Bytes the constructor will allocate on the device for {@code w} in {@code dtype} (checked before uploading). */
    static long plannedBytes(Gpt2Weights w, DType dtype) {
        long n = len(w.wte()) + len(w.wpe()) + len(w.lnfWeight()) + len(w.lnfBias()) + len(w.lmHeadBias())
                + (w.lmHead() == w.wte() ? 0 : len(w.lmHead()));
        for (LayerWeights lw : w.layers())
            n += len(lw.ln1Weight()) + len(lw.ln1Bias()) + lw.attnWeight().bytes() / 4 + len(lw.attnBias())
                    + lw.attnProjWeight().bytes() / 4 + len(lw.attnProjBias()) + len(lw.ln2Weight()) + len(lw.ln2Bias())
                    + lw.fcWeight().bytes() / 4 + len(lw.fcBias()) + lw.fcProjWeight().bytes() / 4 + len(lw.fcProjBias())
                    + len(lw.qNorm()) + len(lw.kNorm());
        return n * dtype.sizeBytes() + 4 * len(invFreq(w));
    }

    /** RoPE's inverse frequencies for the model's rope type (the CPU's), or null for learned positions. */
    static float[] invFreq(Gpt2Weights w) {
        return w.config().positions() instanceof dev.kvdecode.runtime.model.ModelConfig.Rotary r
                ? dev.kvdecode.runtime.cpu.CpuSession.invFreq(r, w.config().headSize()) : null;
    }

    private static long len(float[] x) { return x == null ? 0 : x.length; }

    /** w (in, out) row-major -> (out, in) row-major. */
    static float[] transposed(dev.kvdecode.kernels.F32Matrix w) {
        int in = w.in(), out = w.out();
        float[] src = w.flat(), t = new float[src.length];
        for (int i = 0; i < in; i++)
            for (int j = 0; j < out; j++) t[j * in + i] = src[i * out + j];
        return t;
    }

    /** Bytes of all weights on the device (for GB/s reports). */
    long sizeBytes() {
        long n = 0;
        for (DeviceBuffer b : owned) n += b.sizeBytes();
        return n;
    }

    private DeviceBuffer upload(GpuContext gpu, float[] x) { return upload(gpu, x, dtype); }

    private DeviceBuffer upload(GpuContext gpu, float[] x, DType as) {
        if (x == null) return null;
        DeviceBuffer d = gpu.allocate((long) x.length * as.sizeBytes());
        owned.add(d);
        try (Arena arena = Arena.ofConfined()) {
            d.copyFromHost(gpu.driver(), toDtype(arena, x, as));
        }
        return d;
    }

    /** x converted to {@code dtype} in host memory, round-to-nearest-even (as the kernels' stores). */
    static MemorySegment toDtype(Arena arena, float[] x, DType dtype) {
        MemorySegment seg = arena.allocate((long) x.length * dtype.sizeBytes(), 8);
        switch (dtype) {
            case F32 -> MemorySegment.copy(x, 0, seg, ValueLayout.JAVA_FLOAT, 0, x.length);
            case F16 -> {
                for (int i = 0; i < x.length; i++) seg.setAtIndex(ValueLayout.JAVA_SHORT, i, Float.floatToFloat16(x[i]));
            }
            case BF16 -> {
                for (int i = 0; i < x.length; i++) seg.setAtIndex(ValueLayout.JAVA_SHORT, i, toBf16(x[i]));
            }
        }
        return seg;
    }

    /** fp32 -> bfloat16 (the top 16 bits), round to nearest even; NaN stays a quiet NaN. */
    static short toBf16(float f) {
        int bits = Float.floatToRawIntBits(f);
        if (Float.isNaN(f)) return (short) ((bits >>> 16) | 0x0040);
        int rounded = bits + 0x7FFF + ((bits >>> 16) & 1);
        return (short) (rounded >>> 16);
    }

    @Override
    public void close() {
        RuntimeException first = null;
        for (DeviceBuffer b : owned) {
            try {
                b.close();
            } catch (RuntimeException e) {
                if (first == null) first = e;
            }
        }
        owned.clear();
        if (first != null) throw first;
    }
}
