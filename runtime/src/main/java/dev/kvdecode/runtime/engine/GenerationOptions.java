package dev.kvdecode.runtime.engine;

import dev.kvdecode.runtime.sample.SamplingParams;

import java.util.Arrays;
import java.util.Collection;

/**
 * @param maxNewTokens tokens to generate per sequence, >= 1
 * @param sampling     how each token is chosen
 * @param eosTokens    the end-of-text ids: a sequence stops at any of them (a Llama 3 chat stops at
 *                     &lt;|eot_id|&gt; and &lt;|end_of_text|&gt;); empty if the vocabulary has none.
 *                     Sorted, without repeats (the record keeps its own copy)
 * @param ignoreEos    keep generating past the end-of-text tokens (benchmarks want fixed lengths)
 * @param slideKeep    0, or the "slide" overflow: when the window is full (the session refuses a
 *                     step with ContextFullException, i.e. it was opened with STOP), re-encode the
 *                     last slideKeep tokens of each sequence from position 0 and go on
 */
public record GenerationOptions(int maxNewTokens, SamplingParams sampling, int[] eosTokens, boolean ignoreEos,
                                int slideKeep) {
    public GenerationOptions {
        if (maxNewTokens < 1) throw new IllegalArgumentException("max new tokens must be >= 1, got " + maxNewTokens);
        if (sampling == null) throw new IllegalArgumentException("sampling parameters are required");
        if (slideKeep < 0) throw new IllegalArgumentException("slideKeep must be >= 0, got " + slideKeep);
        if (eosTokens == null) throw new IllegalArgumentException("eos ids are required (an empty array for none)");
        eosTokens = Arrays.stream(eosTokens).sorted().distinct().toArray();
        if (eosTokens.length > 0 && eosTokens[0] < 0)
            throw new IllegalArgumentException("eos ids must be >= 0, got " + eosTokens[0]);
    }

    /** One end-of-text id, or -1 for none. */
    public GenerationOptions(int maxNewTokens, SamplingParams sampling, int eosToken, boolean ignoreEos, int slideKeep) {
        this(maxNewTokens, sampling, eosToken < 0 ? new int[0] : new int[] {eosToken}, ignoreEos, slideKeep);
    }

    /** One end-of-text id, or -1 for none; no slide. */
    public GenerationOptions(int maxNewTokens, SamplingParams sampling, int eosToken, boolean ignoreEos) {
        this(maxNewTokens, sampling, eosToken, ignoreEos, 0);
    }

    /** The sorted, distinct ids of a collection (e.g. ModelConfig.eosIds() plus a chat template's eos). */
    public static int[] ids(Collection<Integer> ids) {
        return ids.stream().mapToInt(Integer::intValue).sorted().distinct().toArray();
    }

    /** The sorted, distinct end-of-text ids (a copy). */
    @Override
    public int[] eosTokens() {
        return eosTokens.clone();
    }

    /** Whether generation stops at an end-of-text id at all. */
    public boolean stopsAtEos() {
        return eosTokens.length > 0 && !ignoreEos;
    }

    /**
     * The one end-of-text id of a loop that takes only one (the CUDA device loop), or -1 for none.
     *
     * @throws IllegalArgumentException when there are several
     */
    public int singleEosToken() {
        if (eosTokens.length > 1)
            throw new IllegalArgumentException("this decode loop stops at one eos id, got " + eosTokens.length + ": " + Arrays.toString(eosTokens));
        return eosTokens.length == 0 ? -1 : eosTokens[0];
    }

    /** Whether token is one of the end-of-text ids (binary search: the ids are sorted). */
    public boolean isEos(int token) {
        return Arrays.binarySearch(eosTokens, token) >= 0;
    }

    @Override
    public boolean equals(Object o) {
        return o instanceof GenerationOptions g && maxNewTokens == g.maxNewTokens && sampling.equals(g.sampling)
                && Arrays.equals(eosTokens, g.eosTokens) && ignoreEos == g.ignoreEos && slideKeep == g.slideKeep;
    }

    @Override
    public int hashCode() {
        return ((31 * maxNewTokens + sampling.hashCode()) * 31 + Arrays.hashCode(eosTokens)) * 31
                + Boolean.hashCode(ignoreEos) * 7 + slideKeep;
    }

    @Override
    public String toString() {
        return "GenerationOptions[maxNewTokens=" + maxNewTokens + ", sampling=" + sampling + ", eosTokens="
                + Arrays.toString(eosTokens) + ", ignoreEos=" + ignoreEos + ", slideKeep=" + slideKeep + "]";
    }
}
