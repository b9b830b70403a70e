package dev.kvdecode.runtime.model.gguf;

import dev.kvdecode.kernels.Rope;
import dev.kvdecode.runtime.model.ModelConfig;
import dev.kvdecode.runtime.model.ModelFormatException;

import java.util.ArrayList;
import java.util.List;

/**
 * llama3 rope scaling from the {@code rope_freqs.weight} tensor llama.cpp's converter writes in its
 * place (LlamaModel.generate_extra_tensors): one factor per frequency, by which llama.cpp divides
 * that frequency. The factors follow transformers' llama3 rule: 1 for wavelengths below
 * original/high, {@code factor} above original/low, and 1 / ((1 - s) / factor + s) between, with
 * s = (original / wavelength - low) / (high - low) linear in 1 / wavelength.
 *
 * <p>Only the values at the model's HS/2 frequencies matter, and (original, low, high) can all be
 * scaled together without changing them, so any parameters that reproduce the factors describe
 * the same model: {@code factor} is the lowest frequency's factor, the line s(1 / wavelength) is
 * fitted through the interpolated factors (or placed between the unscaled and the fully scaled
 * ones where fewer than two are interpolated), original is the context length, and the fit is
 * checked by recomputing every factor with {@link Rope#llama3}. Factors that follow no such rule
 * are a one-line error naming the tensor.
 */
final class Llama3Rope {
    private Llama3Rope() {}

    /** Relative tolerance of the check: the file holds the factors as float32. */
    static final double TOLERANCE = 1e-5;

    static ModelConfig.RopeScaling fromFactors(GgufFile f, double theta, int HS, int maxT) {
        String name = "rope_freqs.weight";
        GgufFile.Tensor t = f.tensor(name);
        int n = HS / 2;
        if (t.dims().length != 1 || t.dims()[0] != n)
            throw new ModelFormatException(f.fileName() + ": tensor " + name + " has dims " + t.dimsString() + ", expected [" + n + "] (head size / 2)");
        float[] fac = f.readFloats(name);
        for (int i = 0; i < n; i++)
            if (!(fac[i] >= 1 - 1e-6) || !Float.isFinite(fac[i]))
                throw new ModelFormatException(f.fileName() + ": " + name + "[" + i + "] = " + fac[i]
                        + ": llama3 frequency factors are finite and at least 1");
        boolean none = true;
        for (float v : fac) none &= Math.abs(v - 1) <= 1e-6;
        if (none) return ModelConfig.RopeScaling.NONE;
        double factor = fac[n - 1];
        if (!(factor > 1)) throw notLlama3(f, name);   // the lowest frequency is scaled the most
        float[] inv = Rope.invFreq(HS, theta);
        double[] x = new double[n], s = new double[n];
        List<Integer> mid = new ArrayList<>();
        double xa = Double.POSITIVE_INFINITY, xb = Double.NEGATIVE_INFINITY;   // nearest unscaled / fully scaled points
        for (int i = 0; i < n; i++) {
            x[i] = inv[i] / (2 * Math.PI);   // 1 / wavelength
            s[i] = (1 / fac[i] - 1 / factor) / (1 - 1 / factor);
            if (s[i] >= 1 - 1e-6) xa = Math.min(xa, x[i]);
            else if (s[i] <= 1e-6) xb = Math.max(xb, x[i]);
            else mid.add(i);
        }
        double a, b;   // s = a x + b
        if (mid.size() >= 2) {
            int i1 = mid.get(0), i2 = mid.get(mid.size() - 1);
            a = (s[i2] - s[i1]) / (x[i2] - x[i1]);
            b = s[i1] - a * x[i1];
        } else {
            double p0, width;   // s = 0 at p0, s = 1 at p0 + width
            if (mid.size() == 1) {
                int m = mid.get(0);
                double room = (x[m] - xb) / s[m];
                if (xa != Double.POSITIVE_INFINITY) room = Math.min(room, (xa - x[m]) / (1 - s[m]));
                width = room / 2;
                p0 = x[m] - s[m] * width;
            } else if (xa == Double.POSITIVE_INFINITY) {
                width = xb;
                p0 = 2 * xb;
            } else {
                width = (xa - xb) / 3;
                p0 = xb + width;
            }
            a = 1 / width;
            b = -p0 / width;
        }
        if (!(a > 0) || !(b < 0) || !Double.isFinite(a) || !Double.isFinite(b)) throw notLlama3(f, name);
        int original = maxT;
        double low = -b * original / a, high = low + original / a;
        ModelConfig.RopeScaling sc;
        try {
            sc = new ModelConfig.RopeScaling(ModelConfig.RopeType.LLAMA3, factor, low, high, original);
        } catch (IllegalArgumentException e) {
            throw notLlama3(f, name);
        }
        float[] got = Rope.llama3(inv, factor, low, high, original);
        for (int i = 0; i < n; i++) {
            double want = inv[i] / (double) fac[i];
            if (!(Math.abs(got[i] - want) <= TOLERANCE * want)) throw notLlama3(f, name);
        }
        return sc;
    }

    private static ModelFormatException notLlama3(GgufFile f, String name) {
        return new ModelFormatException(f.fileName() + ": tensor " + name
                + " does not hold llama3 rope scaling factors (the only per-frequency scaling kvdecode reads)");
    }
}
