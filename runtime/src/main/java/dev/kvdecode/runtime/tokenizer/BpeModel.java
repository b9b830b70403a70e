package dev.kvdecode.runtime.tokenizer;

import java.nio.file.Path;
import java.util.Arrays;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;

/**
 * The BPE model (Sennrich et al. 2016) shared by every BPE tokenizer here: a vocabulary and a
 * ranked merge table, applied to one pre-tokenized word at a time as Hugging Face tokenizers'
 * {@code models/bpe} does:
 * <ol>
 *   <li>with {@code ignore_merges}, a word that is itself in the vocabulary is one token;</li>
 *   <li>each character of the word becomes its token; a character that is not in the
 *       vocabulary becomes its UTF-8 bytes as {@code <0xXX>} tokens ({@code byte_fallback}), or
 *       the unknown token (consecutive ones fused into one with {@code fuse_unk}), or, with
 *       neither, nothing;</li>
 *   <li>the adjacent pair with the lowest merge rank is merged, leftmost first, until no pair has
 *       a rank.</li>
 * </ol>
 * Byte-level vocabularies (GPT-2, Llama 3, Qwen) go through the same steps on words already
 * mapped to {@link ByteLevel} characters. Immutable and thread-safe; words are cached.
 */
final class BpeModel {
    /** Words in the cache at most; typical text has far fewer distinct words than this. */
    private static final int CACHE_MAX_ENTRIES = 1 << 16;
    /** Words longer than this (in chars) skip the cache: they are rare and would pin memory. */
    private static final int CACHE_MAX_WORD_CHARS = 64;

    private final Map<String, Integer> vocab;
    private final int[] bmpCharToId = new int[0x10000]; // single-char tokens of the BMP, -1 if none
    private final MergeTable merges;
    private final boolean byteFallback, fuseUnk, ignoreMerges;
    private final int unkId;                               // -1: no unknown token
    private final int[] byteFallbackIds = new int[256];    // <0xXX> ids, -1 where missing
    private final ConcurrentHashMap<String, int[]> cache = new ConcurrentHashMap<>();

    /**
     * @param source    names the file in messages
     * @param mergePairs merges by rank, each {left, right}; merged = left + right must be a token
     * @param unkToken  the unknown token or null
     */
    BpeModel(Path source, Map<String, Integer> vocab, List<String[]> mergePairs, String unkToken,
             boolean byteFallback, boolean fuseUnk, boolean ignoreMerges) {
        this.vocab = vocab;
        this.byteFallback = byteFallback;
        this.fuseUnk = fuseUnk;
        this.ignoreMerges = ignoreMerges;
        Arrays.fill(bmpCharToId, -1);
        for (Map.Entry<String, Integer> e : vocab.entrySet()) {
            String t = e.getKey();
            if (e.getValue() < 0) throw new TokenizerException(source + ": token '" + Gpt2BpeTokenizer.printable(t) + "' has negative id " + e.getValue());
            if (t.length() == 1) bmpCharToId[t.charAt(0)] = e.getValue();
        }
        if (unkToken != null) {
            Integer id = vocab.get(unkToken);
            if (id == null) throw new TokenizerException(source + ": model.unk_token '" + Gpt2BpeTokenizer.printable(unkToken) + "' is not in the vocabulary");
            unkId = id;
        } else {
            unkId = -1;
        }
        for (int b = 0; b < 256; b++) {
            Integer id = vocab.get(String.format("<0x%02X>", b));
            byteFallbackIds[b] = id == null ? -1 : id;
        }
        merges = new MergeTable(mergePairs.size());
        for (int rank = 0; rank < mergePairs.size(); rank++) {
            String[] pair = mergePairs.get(rank);
            Integer a = vocab.get(pair[0]), b = vocab.get(pair[1]), merged = vocab.get(pair[0] + pair[1]);
            String missing = a == null ? pair[0] : b == null ? pair[1] : merged == null ? pair[0] + pair[1] : null;
            if (missing != null) {
                throw new TokenizerException(String.format("%s: merge '%s %s' (rank %d): token '%s' is not in the vocabulary",
                        source, Gpt2BpeTokenizer.printable(pair[0]), Gpt2BpeTokenizer.printable(pair[1]), rank,
                        Gpt2BpeTokenizer.printable(missing)));
            }
            merges.put(a, b, rank, merged); // a repeated merge keeps its last rank, as in HF and encoder.py
        }
    }

    /** The id of a vocabulary token, or -1. */
    int id(String token) {
        Integer id = vocab.get(token);
        return id == null ? -1 : id;
    }

    /** Appends the ids of one word (in vocabulary characters) to out. */
    void encodeWord(String word, Gpt2BpeTokenizer.IntList out) {
        if (word.isEmpty()) return;
        int[] ids = cache.get(word);
        if (ids == null) {
            ids = tokenize(word);
            if (word.length() <= CACHE_MAX_WORD_CHARS && cache.size() < CACHE_MAX_ENTRIES) cache.putIfAbsent(word, ids);
        }
        out.addAll(ids);
    }

    private int[] tokenize(String word) {
        if (ignoreMerges) {
            Integer whole = vocab.get(word);
            if (whole != null) return new int[] {whole};
        }
        int[] sym = new int[word.length() + 8];
        int n = 0, pendingUnk = 0;
        for (int i = 0; i < word.length(); ) {
            int cp = word.codePointAt(i);
            int len = Character.charCount(cp);
            int id = len == 1 ? bmpCharToId[word.charAt(i)] : id(word.substring(i, i + len));
            i += len;
            if (id >= 0) {
                if (pendingUnk > 0) { sym = push(sym, n++, unkId); pendingUnk = 0; }
                sym = push(sym, n++, id);
                continue;
            }
            if (byteFallback) {
                byte[] bytes = new String(Character.toChars(cp)).getBytes(java.nio.charset.StandardCharsets.UTF_8);
                boolean all = true;
                for (byte b : bytes) all &= byteFallbackIds[b & 0xFF] >= 0;
                if (all) { // as in HF, a pending unknown token is not flushed first
                    for (byte b : bytes) sym = push(sym, n++, byteFallbackIds[b & 0xFF]);
                    continue;
                }
            }
            if (unkId >= 0) {
                if (pendingUnk > 0 && !fuseUnk) sym = push(sym, n++, unkId);
                pendingUnk = 1;
            }
        }
        if (pendingUnk > 0) sym = push(sym, n++, unkId);
        return merge(sym, n);
    }

    private static int[] push(int[] a, int at, int v) {
        if (at == a.length) a = Arrays.copyOf(a, a.length * 2);
        a[at] = v;
        return a;
    }

    /**
     * Merges sym[0, n) in place: repeatedly the adjacent pair of lowest rank, leftmost on a tie.
     * A heap of (rank, position) candidates, validated when popped, makes a word of n symbols
     * cost O(n log n) (HF's word.rs does the same), so a very long "word" (a minified line, a
     * whole SentencePiece text) is not quadratic.
     */
    int[] merge(int[] sym, int n) {
        if (n < 2) return Arrays.copyOf(sym, n);
        int[] prev = new int[n], next = new int[n];
        for (int i = 0; i < n; i++) { prev[i] = i - 1; next[i] = i + 1 < n ? i + 1 : -1; }
        LongHeap heap = new LongHeap(n);
        for (int i = 0; i + 1 < n; i++) pushPair(heap, sym, i, i + 1);
        int alive = n;
        while (!heap.isEmpty()) {
            long top = heap.pop();
            int rank = (int) (top >>> 32), i = (int) top;
            int j = next[i];
            if (sym[i] < 0 || j < 0) continue;
            int slot = merges.find(sym[i], sym[j]);
            if (slot < 0 || merges.rank(slot) != rank) continue; // stale: the pair at i changed
            sym[i] = merges.merged(slot);
            sym[j] = -1;
            next[i] = next[j];
            if (next[j] >= 0) prev[next[j]] = i;
            alive--;
            if (prev[i] >= 0) pushPair(heap, sym, prev[i], i);
            if (next[i] >= 0) pushPair(heap, sym, i, next[i]);
        }
        int[] ids = new int[alive];
        for (int i = 0, k = 0; i >= 0; i = next[i]) ids[k++] = sym[i];
        return ids;
    }

    private void pushPair(LongHeap heap, int[] sym, int left, int right) {
        int slot = merges.find(sym[left], sym[right]);
        if (slot >= 0) heap.push(((long) merges.rank(slot) << 32) | left);
    }

    // ---- small primitive collections (no boxing on the hot path) ------------------------------

    /** Open-addressing map (left id, right id) -> (rank, merged id). */
    private static final class MergeTable {
        private final long[] keys;
        private final int[] ranks, mergedIds;
        private final int mask;

        MergeTable(int entries) {
            int cap = Integer.highestOneBit(Math.max(4, entries * 2 - 1)) << 1;
            keys = new long[cap];
            Arrays.fill(keys, -1L); // ids are non-negative, so no key is -1
            ranks = new int[cap];
            mergedIds = new int[cap];
            mask = cap - 1;
        }

        private static long key(int a, int b) { return ((long) a << 32) | (b & 0xFFFFFFFFL); }

        private static int hash(long k) {
            long h = k * 0x9E3779B97F4A7C15L;
            return (int) (h ^ (h >>> 29));
        }

        void put(int a, int b, int rank, int merged) {
            long k = key(a, b);
            int i = hash(k) & mask;
            while (keys[i] != -1L && keys[i] != k) i = (i + 1) & mask;
            keys[i] = k;
            ranks[i] = rank;
            mergedIds[i] = merged;
        }

        int find(int a, int b) {
            long k = key(a, b);
            int i = hash(k) & mask;
            while (keys[i] != -1L) {
                if (keys[i] == k) return i;
                i = (i + 1) & mask;
            }
            return -1;
        }

        int rank(int slot) { return ranks[slot]; }

        int merged(int slot) { return mergedIds[slot]; }
    }

    /** Binary min-heap of longs. */
    private static final class LongHeap {
        private long[] a;
        private int size;

        LongHeap(int capacity) { a = new long[Math.max(4, capacity)]; }

        boolean isEmpty() { return size == 0; }

        void push(long v) {
            if (size == a.length) a = Arrays.copyOf(a, size * 2);
            int i = size++;
            while (i > 0) {
                int parent = (i - 1) >>> 1;
                if (a[parent] <= v) break;
                a[i] = a[parent];
                i = parent;
            }
            a[i] = v;
        }

        long pop() {
            long top = a[0];
            long last = a[--size];
            int i = 0;
            while (true) {
                int c = 2 * i + 1;
                if (c >= size) break;
                if (c + 1 < size && a[c + 1] < a[c]) c++;
                if (a[c] >= last) break;
                a[i] = a[c];
                i = c;
            }
            a[i] = last;
            return top;
        }
    }
}
