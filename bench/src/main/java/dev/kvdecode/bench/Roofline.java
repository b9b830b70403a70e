package dev.kvdecode.bench;

import dev.kvdecode.runtime.model.ModelConfig;

/**
 * What one forward pass must move and compute, from the shapes alone (no measurement):
 * the floor a step cannot beat is bytes / memory bandwidth.
 *
 * <p>Bytes per element: {@code matmulBytes} for the matmul weights (the four linear layers and the
 * head: 4 fp32, 2 fp16/bf16, 1.125 int8 with its scales), {@code otherBytes} for the rest of the
 * weights and {@code kvBytes} for the cache (the CPU keeps both fp32 whatever --dtype says; CUDA
 * uses the dtype for everything).
 *
 * <p>Cached decode step at context length n (batch B): every weight is read once
 * (independent of B), plus the K/V read of n rows per layer and sequence, plus the new K/V row
 * written. FLOPs: 2 per weight per sequence, plus 4 * n * C per layer and sequence
 * (q.k and p.v). Recompute step over n tokens: weights read once (a GEMM with n rows reuses
 * them), FLOPs 2 * weights * n plus the causal attention 2 * n^2 * C per layer.
 */
record Roofline(ModelConfig cfg, int batch, double matmulBytes, int otherBytes, int kvBytes) {

    /** One element size for weights and cache alike. */
    Roofline(ModelConfig cfg, int batch, int dtypeBytes) {
        this(cfg, batch, dtypeBytes, dtypeBytes, dtypeBytes);
    }

    /** Parameters touched by a step (embedding rows are gathered, so only the head counts V*C). */
    long matmulParams() {
        long c = cfg.nEmbd();
        // q|k|v, the output projection, the MLP's first matmul (4C, or gate|up 2I) and its projection
        long perLayer = c * cfg.attention().qkvDim() + (long) cfg.attention().qDim() * c
                + c * cfg.mlp().fcDim() + (long) cfg.mlp().hidden() * c;
        return cfg.nLayer() * perLayer + (long) cfg.vocabSize() * c;
    }

    long weightBytes() {
        long c = cfg.nEmbd();
        long small = cfg.nLayer() * (4 * c + 3 * c + c + 4 * c + c) + 2 * c + cfg.vocabSize();
        return Math.round(matmulParams() * matmulBytes) + small * otherBytes;
    }

    long cachedStepBytes(int contextLen) {
        long kvRow = (long) cfg.attention().kvDim() * kvBytes;   // the cache holds the KV heads only
        long kvRead = 2L * cfg.nLayer() * batch * contextLen * kvRow;
        long kvWrite = 2L * cfg.nLayer() * batch * kvRow;
        return weightBytes() + kvRead + kvWrite;
    }

    double cachedStepFlops(int contextLen) {
        return batch * (2.0 * matmulParams() + 4.0 * cfg.nLayer() * contextLen * cfg.nEmbd());
    }

    long recomputeStepBytes(int contextLen) {
        // Weights once, plus the activations of n rows written and read by each of ~8 ops per layer.
        long act = 8L * cfg.nLayer() * batch * contextLen * cfg.nEmbd() * 4;
        return weightBytes() + act;
    }

    double recomputeStepFlops(int contextLen) {
        double n = contextLen;
        return batch * (2.0 * matmulParams() * n + 2.0 * cfg.nLayer() * n * n * cfg.nEmbd());
    }
}
