package dev.kvdecode.kernels;

/**
 * Rotary position embedding (Su et al. 2021, RoFormer), in Hugging Face's rotate-half convention:
 * dimension i < HS/2 of a head is paired with dimension i + HS/2 (not 2i with 2i+1), and the pair
 * turns by angle pos * invFreq[i]:
 * <pre>
 *   x'[i]        = x[i] cos - x[i + HS/2] sin
 *   x'[i + HS/2] = x[i + HS/2] cos + x[i] sin
 * </pre>
 * The inverse frequencies, the angles and their cos/sin are computed in fp32 as transformers does
 * (LlamaRotaryEmbedding: inv_freq is a float32 buffer, freqs = inv_freq * position in float32,
 * cos/sin of those float32 angles), then applied with two products and one add per element, so
 * the rotation of a key depends only on its position, never on how the cache is laid out.
 *
 * <p>A rotation by angle a followed by one by b is the rotation by a + b (up to rounding): the KV
 * cache uses that to move cached keys to new positions ({@link #rotateKeys}).
 */
public final class Rope {
    private Rope() {}

    // -> invFreq (HS/2): 1 / theta^(2i/HS), float32 as torch computes it
    /** The unscaled inverse frequencies ("default" rope type). */
    public static float[] invFreq(int HS, double theta) {
        if (HS < 2 || HS % 2 != 0) throw new IllegalArgumentException("RoPE needs an even head size, got " + HS);
        float[] f = new float[HS / 2];
        float base = (float) theta;
        for (int i = 0; i < HS / 2; i++) {
            float e = (float) (2 * i) / (float) HS;
            f[i] = 1.0f / (float) Math.pow(base, e);
        }
        return f;
    }

    /** "linear" scaling (position interpolation, Chen et al. 2023): every frequency divided by factor. */
    public static float[] linear(float[] invFreq, double factor) {
        float[] f = invFreq.clone();
        for (int i = 0; i < f.length; i++) f[i] = f[i] / (float) factor;
        return f;
    }

    /**
     * "llama3" scaling (Llama 3.1): wavelengths shorter than original/highFreqFactor keep their
     * frequency, longer than original/lowFreqFactor are divided by factor, and those between are
     * interpolated; fp32 in transformers' order of operations.
     */
    public static float[] llama3(float[] invFreq, double factor, double lowFreqFactor, double highFreqFactor,
                                 int originalMaxPositions) {
        // torch promotes the Python scalars to the tensor's float32
        float lowWavelen = (float) (originalMaxPositions / lowFreqFactor);
        float highWavelen = (float) (originalMaxPositions / highFreqFactor);
        float fac = (float) factor, low = (float) lowFreqFactor, high = (float) highFreqFactor;
        float[] f = new float[invFreq.length];
        for (int i = 0; i < f.length; i++) {
            float inv = invFreq[i];
            float wavelen = (float) (2 * Math.PI) / inv;
            float scaled = wavelen > lowWavelen ? inv / fac : inv;
            if (!(wavelen < highWavelen) && !(wavelen > lowWavelen)) {
                float smooth = ((float) originalMaxPositions / wavelen - low) / (high - low);
                scaled = (1 - smooth) * scaled / fac + smooth * scaled;
            }
            f[i] = scaled;
        }
        return f;
    }

    // invFreq (HS/2), pos -> cos, sin (HS/2) at off
    /** cos and sin of the angles pos * invFreq[i] (fp32 angle, as transformers). pos may be negative. */
    public static void cosSin(float[] cos, float[] sin, int off, float[] invFreq, int pos) {
        float p = pos;
        for (int i = 0; i < invFreq.length; i++) {
            float a = p * invFreq[i];
            cos[off + i] = (float) Math.cos(a);
            sin[off + i] = (float) Math.sin(a);
        }
    }

    // x: `heads` vectors of HS at off, off + HS, ...; cos, sin (HS/2) at csOff -> x rotated in place
    /** Rotates each of {@code heads} consecutive head vectors by the angles whose cos/sin are given. */
    public static void apply(float[] x, int off, int heads, int HS, float[] cos, float[] sin, int csOff) {
        int half = HS / 2;
        for (int h = 0; h < heads; h++) {
            int o = off + h * HS;
            for (int i = 0; i < half; i++) {
                float x1 = x[o + i], x2 = x[o + i + half], c = cos[csOff + i], s = sin[csOff + i];
                x[o + i] = x1 * c + -x2 * s;
                x[o + i + half] = x2 * c + x1 * s;
            }
        }
    }

    // keys: row layout (KvCache), rows kRow0 + d hold dimension d of every slot; cos, sin (HS/2)
    /**
     * Rotates the cached keys of one head in slots [slot0, slot0 + n) by the angles whose cos/sin
     * are given (the same angle for every slot: a move by a fixed number of positions), in place.
     */
    public static void rotateKeys(float[][] keys, int kRow0, int slot0, int n, int HS, float[] cos, float[] sin) {
        int half = HS / 2;
        for (int i = 0; i < half; i++) {
            float[] k1 = keys[kRow0 + i], k2 = keys[kRow0 + i + half];
            float c = cos[i], s = sin[i];
            for (int p = slot0; p < slot0 + n; p++) {
                float x1 = k1[p], x2 = k2[p];
                k1[p] = x1 * c + -x2 * s;
                k2[p] = x2 * c + x1 * s;
            }
        }
    }

    // keys: bf16 layout (KvCache) of one head from kBase; cos, sin (HS/2)
    /** {@link #rotateKeys} over the bf16 cache: each key widened, rotated in fp32, rounded back to bf16. */
    public static void rotateKeys16(int[] keys, int kBase, int slot0, int n, int HS, float[] cos, float[] sin) {
        int half = HS / 2, P = KvCache.pairs(HS);
        for (int p = slot0; p < slot0 + n; p++) {
            for (int i = 0; i < half; i++) {
                int i1 = KvCache.keyIndex16(kBase, p, i / 2, P), i2 = KvCache.keyIndex16(kBase, p, (i + half) / 2, P);
                float x1 = HalfFormat.bf16OfPair(keys[i1], i), x2 = HalfFormat.bf16OfPair(keys[i2], i + half);
                float c = cos[i], s = sin[i];
                keys[i1] = withHalf(keys[i1], i, x1 * c + -x2 * s);
                keys[i2] = withHalf(keys[i2], i + half, x2 * c + x1 * s);
            }
        }
    }

    // the pair `bits` with dimension d's half replaced by v rounded to bf16
    private static int withHalf(int bits, int d, float v) {
        int h = HalfFormat.BF16.narrow(v) & 0xFFFF;
        return (d & 1) == 0 ? (bits & 0xFFFF0000) | h : (bits & 0xFFFF) | h << 16;
    }
}
