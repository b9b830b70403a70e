package dev.kvdecode.kernels;

/** The MLP nonlinearity of a model. Names follow Hugging Face's {@code activation_function}. */
public enum Activation {
    /** GELU, tanh approximation (Hendrycks &amp; Gimpel 2016, eq. in sec. 2); HF "gelu_new", GPT-2's own. */
    GELU_NEW,
    /** GELU, exact erf form; HF "gelu". */
    GELU,
    /** max(0, x); the tutorial's char model. */
    RELU,
    /** x sigmoid(x) (Elfwing et al. 2017; "swish"); HF "silu". Llama's MLP gate (SwiGLU, Shazeer 2020). */
    SILU;

    /** Parses a Hugging Face activation_function value; null if unknown. */
    public static Activation fromHf(String name) {
        return switch (name) {
            case "gelu_new", "gelu_pytorch_tanh" -> GELU_NEW;
            case "gelu" -> GELU;
            case "relu" -> RELU;
            case "silu", "swish" -> SILU;
            default -> null;
        };
    }
}
