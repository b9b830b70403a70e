package dev.kvdecode.runtime.cpu;

import dev.kvdecode.runtime.model.Gpt2Weights;
import dev.kvdecode.runtime.model.LayerWeights;
import dev.kvdecode.runtime.model.ModelConfig;

import java.util.ArrayList;
import java.util.List;

/**
 * An independent fp64 GPT-2 written straight from the math for tests, one token at a time: token n
 * gets position min(n, maxT-1), its K/V are kept per layer, and its query attends over the last
 * {@code window} tokens' K/V (all of them while n < window, which is exactly the causal forward).
 * No shared code with the CPU backend except the weight records.
 */
final class ReferenceDecoder {
    private final Gpt2Weights w;
    private final ModelConfig cfg;
    private final int window;
    private final List<List<double[]>> keys = new ArrayList<>(), values = new ArrayList<>();
    private int n;

    ReferenceDecoder(Gpt2Weights w, int window) {
        this.w = w;
        this.cfg = w.config();
        this.window = window;
        for (int l = 0; l < cfg.nLayer(); l++) { keys.add(new ArrayList<>()); values.add(new ArrayList<>()); }
    }

    /** Feeds one token and returns the next-token logits. */
    double[] feed(int token) {
        int C = cfg.nEmbd(), NH = cfg.nHead(), HS = C / NH, V = cfg.vocabSize();
        int pos = Math.min(n, cfg.nPositions() - 1);
        double[] x = new double[C];
        for (int i = 0; i < C; i++) x[i] = (double) w.wte()[token * C + i] + w.wpe()[pos * C + i];
        for (int l = 0; l < cfg.nLayer(); l++) {
            LayerWeights lw = w.layers().get(l);
            double[] h = layerNorm(x, lw.ln1Weight(), lw.ln1Bias());
            double[] qkv = linear(h, lw.attnWeight().flat(), lw.attnBias(), C, 3 * C);
            double[] q = slice(qkv, 0, C), k = slice(qkv, C, C), v = slice(qkv, 2 * C, C);
            keys.get(l).add(k);
            values.get(l).add(v);
            List<double[]> ks = keys.get(l), vs = values.get(l);
            int from = Math.max(0, ks.size() - window);
            double[] att = new double[C];
            for (int hd = 0; hd < NH; hd++) {
                int cnt = ks.size() - from;
                double[] sc = new double[cnt];
                double max = Double.NEGATIVE_INFINITY;
                for (int j = 0; j < cnt; j++) {
                    double d = 0;
                    for (int i = 0; i < HS; i++) d += q[hd * HS + i] * ks.get(from + j)[hd * HS + i];
                    sc[j] = d / Math.sqrt(HS);
                    max = Math.max(max, sc[j]);
                }
                double sum = 0;
                for (int j = 0; j < cnt; j++) { sc[j] = Math.exp(sc[j] - max); sum += sc[j]; }
                for (int j = 0; j < cnt; j++)
                    for (int i = 0; i < HS; i++) att[hd * HS + i] += sc[j] / sum * vs.get(from + j)[hd * HS + i];
            }
            double[] proj = linear(att, lw.attnProjWeight().flat(), lw.attnProjBias(), C, C);
            for (int i = 0; i < C; i++) x[i] += proj[i];
            h = layerNorm(x, lw.ln2Weight(), lw.ln2Bias());
            double[] fc = linear(h, lw.fcWeight().flat(), lw.fcBias(), C, 4 * C);
            for (int i = 0; i < fc.length; i++) fc[i] = act(fc[i]);
            double[] out = linear(fc, lw.fcProjWeight().flat(), lw.fcProjBias(), 4 * C, C);
            for (int i = 0; i < C; i++) x[i] += out[i];
        }
        double[] xf = layerNorm(x, w.lnfWeight(), w.lnfBias());
        double[] logits = new double[V];
        for (int v = 0; v < V; v++) {
            double s = w.lmHeadBias() == null ? 0 : w.lmHeadBias()[v];
            for (int i = 0; i < C; i++) s += xf[i] * w.lmHead()[v * C + i];
            logits[v] = s;
        }
        n++;
        return logits;
    }

    private double act(double v) {
        return switch (cfg.activation()) {
            case GELU_NEW -> 0.5 * v * (1 + Math.tanh(Math.sqrt(2 / Math.PI) * (v + 0.044715 * v * v * v)));
            case RELU -> Math.max(0, v);
            case GELU, SILU -> throw new UnsupportedOperationException(cfg.activation() + " not used by these tests");
        };
    }

    private double[] layerNorm(double[] x, float[] g, float[] b) {
        int C = x.length;
        double m = 0, var = 0;
        for (double v : x) m += v;
        m /= C;
        for (double v : x) var += (v - m) * (v - m);
        var /= C;
        double r = 1 / Math.sqrt(var + cfg.layerNormEpsilon());
        double[] y = new double[C];
        for (int i = 0; i < C; i++) y[i] = (x[i] - m) * r * g[i] + b[i];
        return y;
    }

    private static double[] linear(double[] x, float[] wt, float[] b, int in, int out) {
        double[] y = new double[out];
        for (int o = 0; o < out; o++) {
            double s = b == null ? 0 : b[o];
            for (int i = 0; i < in; i++) s += x[i] * wt[i * out + o];
            y[o] = s;
        }
        return y;
    }

    private static double[] slice(double[] a, int off, int n) {
        double[] r = new double[n];
        System.arraycopy(a, off, r, 0, n);
        return r;
    }
}
