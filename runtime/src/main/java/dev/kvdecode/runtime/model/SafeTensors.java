package dev.kvdecode.runtime.model;

import com.fasterxml.jackson.core.JsonParser;
import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.databind.DeserializationFeature;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;

import java.io.IOException;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.ByteOrder;
import java.nio.channels.FileChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.ArrayList;
import java.util.Collections;
import java.util.Comparator;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.function.Predicate;

/**
 * A memory-mapped safetensors file (format: https://github.com/huggingface/safetensors, "Format").
 *
 * <pre>
 * [8 bytes]  N, unsigned little-endian u64: the header length
 * [N bytes]  UTF-8 JSON object: name -> {"dtype", "shape", "data_offsets": [begin, end]}, plus an
 *            optional "__metadata__" string map
 * [rest]     the data region; offsets are relative to its start, tensors are row-major little-endian
 * </pre>
 *
 * The whole file is mapped into one {@link MemorySegment} owned by this object's {@link Arena}:
 * nothing is copied onto the heap until a tensor is asked for with {@link #readFloats}. Everything
 * is validated when the file is opened, so accessors never see a malformed tensor. Every problem is
 * a {@link ModelFormatException} whose one-line message starts with the file name.
 */
public final class SafeTensors implements AutoCloseable {

    /**
     * The safetensors element types. kvdecode computes with F32, F16 and BF16 only ({@link #readable});
     * the others are known so that buffers a loader ignores (e.g. an old checkpoint's BOOL attention
     * mask) can still be validated and skipped.
     */
    public enum DType {
        F32(4, true), F16(2, true), BF16(2, true),
        F64(8, false), I64(8, false), U64(8, false), I32(4, false), U32(4, false), I16(2, false), U16(2, false),
        I8(1, false), U8(1, false), BOOL(1, false), F8_E4M3(1, false), F8_E5M2(1, false);

        public final int sizeBytes;
        /** Whether {@link #readFloats} and the backends accept this dtype. */
        public final boolean readable;

        DType(int sizeBytes, boolean readable) {
            this.sizeBytes = sizeBytes;
            this.readable = readable;
        }
    }

    /**
     * One tensor's header entry.
     *
     * @param begin byte offset of the first element, from the start of the file (not the data region)
     */
    public record TensorInfo(String name, DType dtype, long[] shape, long begin, long sizeBytes) {
        public TensorInfo { shape = shape.clone(); }

        /** A copy of the shape (records would otherwise hand out the mutable array). */
        @Override public long[] shape() { return shape.clone(); }

        /** Number of elements (1 for a scalar of shape []). */
        public long elementCount() { return sizeBytes / dtype.sizeBytes; }

        /** The shape as "[a, b]", for messages. */
        public String shapeString() { return formatShape(shape); }
    }

    /**
     * The header cannot be bigger than this. The reference implementation uses the same 100 MB cap;
     * it stops a corrupt length from making us parse (or allocate) gigabytes.
     */
    static final long MAX_HEADER_BYTES = 100L * 1024 * 1024;

    private static final ValueLayout.OfFloat F32_LE = ValueLayout.JAVA_FLOAT_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);
    private static final ValueLayout.OfShort U16_LE = ValueLayout.JAVA_SHORT_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);
    private static final ValueLayout.OfLong U64_LE = ValueLayout.JAVA_LONG_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);

    private final String fileName;
    private final Arena arena;
    private final MemorySegment file;
    private final Map<String, TensorInfo> tensors;
    private final Map<String, String> metadata;

    private SafeTensors(String fileName, Arena arena, MemorySegment file,
                        Map<String, TensorInfo> tensors, Map<String, String> metadata) {
        this.fileName = fileName;
        this.arena = arena;
        this.file = file;
        this.tensors = tensors;
        this.metadata = metadata;
    }

    /**
     * Maps and validates a safetensors file; every tensor must be F32, F16 or BF16. The caller owns
     * the result and must close it.
     */
    public static SafeTensors open(Path path) { return open(path, name -> false); }

    /**
     * Like {@link #open(Path)}, but tensors for which {@code anyDtype} is true may have any
     * safetensors dtype (they are still checked for shape, offsets and overlap, and cannot be read
     * as floats). For buffers the caller will ignore.
     */
    public static SafeTensors open(Path path, Predicate<String> anyDtype) {
        String name = String.valueOf(path.getFileName());
        // Shared so that backends may read (e.g. upload) tensors from several threads.
        Arena arena = Arena.ofShared();
        try (FileChannel ch = FileChannel.open(path, StandardOpenOption.READ)) {
            long fileSize = ch.size();
            if (fileSize < 8)
                throw new ModelFormatException(name + ": file is " + fileSize + " bytes, too short for a safetensors header");
            MemorySegment seg = ch.map(FileChannel.MapMode.READ_ONLY, 0, fileSize, arena);
            long headerLen = seg.get(U64_LE, 0);
            // headerLen is an unsigned u64: a negative long is a huge value, also too big.
            if (headerLen < 0 || headerLen > fileSize - 8)
                throw new ModelFormatException(name + ": header length " + Long.toUnsignedString(headerLen)
                        + " exceeds file size " + fileSize);
            if (headerLen > MAX_HEADER_BYTES)
                throw new ModelFormatException(name + ": header length " + headerLen + " exceeds the "
                        + MAX_HEADER_BYTES + "-byte limit");
            if (headerLen < 2)
                throw new ModelFormatException(name + ": header length " + headerLen + " is too small for a JSON object");
            byte[] header = seg.asSlice(8, headerLen).toArray(ValueLayout.JAVA_BYTE);
            long dataStart = 8 + headerLen;
            Parsed parsed = parseHeader(name, header, dataStart, fileSize - dataStart, anyDtype);
            SafeTensors st = new SafeTensors(name, arena, seg, parsed.tensors, parsed.metadata);
            arena = null; // owned by st now
            return st;
        } catch (NoSuchFileException e) {
            throw new ModelFormatException(name + ": file does not exist (" + path + ")");
        } catch (IOException e) {
            throw new ModelFormatException(name + ": cannot read: " + e.getMessage(), e);
        } finally {
            if (arena != null) arena.close();
        }
    }

    private record Parsed(Map<String, TensorInfo> tensors, Map<String, String> metadata) {}

    private static final ObjectMapper JSON = new ObjectMapper()
            .enable(JsonParser.Feature.STRICT_DUPLICATE_DETECTION)
            .enable(DeserializationFeature.FAIL_ON_TRAILING_TOKENS);

    private static Parsed parseHeader(String file, byte[] header, long dataStart, long dataSize,
                                      Predicate<String> anyDtype) {
        JsonNode root;
        try {
            // The spec allows trailing spaces as padding (writers align the data region to 8 bytes).
            root = JSON.readTree(new String(header, StandardCharsets.UTF_8).stripTrailing());
        } catch (JsonProcessingException e) {
            throw new ModelFormatException(file + ": header is not valid JSON: " + e.getOriginalMessage());
        }
        if (root == null || !root.isObject())
            throw new ModelFormatException(file + ": header is not a JSON object");

        Map<String, TensorInfo> tensors = new LinkedHashMap<>();
        Map<String, String> metadata = Map.of();
        for (Map.Entry<String, JsonNode> e : root.properties()) {
            String tname = e.getKey();
            JsonNode t = e.getValue();
            if (tname.equals("__metadata__")) {
                metadata = parseMetadata(file, t);
                continue;
            }
            tensors.put(tname, parseTensor(file, tname, t, dataStart, dataSize, anyDtype.test(tname)));
        }

        // Overlap check: sort by start; each tensor must start at or after the previous one's end.
        List<TensorInfo> byOffset = new ArrayList<>(tensors.values());
        byOffset.sort(Comparator.comparingLong(TensorInfo::begin));
        for (int i = 1; i < byOffset.size(); i++) {
            TensorInfo prev = byOffset.get(i - 1), cur = byOffset.get(i);
            if (cur.sizeBytes() > 0 && prev.sizeBytes() > 0 && cur.begin() < prev.begin() + prev.sizeBytes())
                throw new ModelFormatException(file + ": tensors " + prev.name() + " and " + cur.name() + " overlap");
        }
        return new Parsed(Collections.unmodifiableMap(tensors), metadata);
    }

    private static Map<String, String> parseMetadata(String file, JsonNode m) {
        if (!m.isObject()) throw new ModelFormatException(file + ": __metadata__ is not a JSON object");
        Map<String, String> out = new LinkedHashMap<>();
        for (Map.Entry<String, JsonNode> e : m.properties()) {
            if (!e.getValue().isTextual())
                throw new ModelFormatException(file + ": __metadata__ value for \"" + e.getKey() + "\" is not a string");
            out.put(e.getKey(), e.getValue().textValue());
        }
        return Collections.unmodifiableMap(out);
    }

    private static TensorInfo parseTensor(String file, String name, JsonNode t, long dataStart, long dataSize,
                                          boolean anyDtype) {
        String where = file + ": tensor " + name;
        if (!t.isObject()) throw new ModelFormatException(where + ": entry is not a JSON object");
        JsonNode dt = t.get("dtype"), sh = t.get("shape"), off = t.get("data_offsets");
        if (dt == null || !dt.isTextual()) throw new ModelFormatException(where + ": missing or non-string \"dtype\"");
        if (sh == null || !sh.isArray()) throw new ModelFormatException(where + ": missing or non-array \"shape\"");
        if (off == null || !off.isArray() || off.size() != 2)
            throw new ModelFormatException(where + ": \"data_offsets\" must be an array [begin, end]");

        DType dtype = null;
        for (DType d : DType.values()) if (d.name().equals(dt.textValue())) dtype = d;
        if (dtype == null || !(dtype.readable || anyDtype))
            throw new ModelFormatException(where + " has dtype " + dt.textValue()
                    + "; kvdecode reads only F32, F16 and BF16");

        long[] shape = new long[sh.size()];
        long elements = 1;
        for (int i = 0; i < shape.length; i++) {
            JsonNode d = sh.get(i);
            if (!d.canConvertToExactIntegral() || !d.canConvertToLong() || d.longValue() < 0)
                throw new ModelFormatException(where + ": shape " + sh + " has an entry that is not a non-negative integer");
            shape[i] = d.longValue();
            try {
                elements = Math.multiplyExact(elements, shape[i]);
            } catch (ArithmeticException ex) {
                throw new ModelFormatException(where + ": shape " + sh + " is too large");
            }
        }
        long begin = offset(where, off.get(0)), end = offset(where, off.get(1));
        if (end < begin)
            throw new ModelFormatException(where + ": data_offsets [" + begin + ", " + end + "] end before they begin");
        long expectedBytes;
        try {
            expectedBytes = Math.multiplyExact(elements, dtype.sizeBytes);
        } catch (ArithmeticException ex) {
            throw new ModelFormatException(where + ": shape " + sh + " is too large");
        }
        if (end - begin != expectedBytes)
            throw new ModelFormatException(where + ": shape " + formatShape(shape) + " of " + dtype + " needs "
                    + expectedBytes + " bytes but data_offsets [" + begin + ", " + end + "] span " + (end - begin));
        if (end > dataSize)
            throw new ModelFormatException(where + ": data_offsets [" + begin + ", " + end
                    + "] run past the end of the data region (" + dataSize + " bytes); is the file truncated?");
        return new TensorInfo(name, dtype, shape, dataStart + begin, end - begin);
    }

    private static long offset(String where, JsonNode n) {
        if (n == null || !n.canConvertToExactIntegral() || !n.canConvertToLong() || n.longValue() < 0)
            throw new ModelFormatException(where + ": data_offsets entry " + n + " is not a non-negative integer");
        return n.longValue();
    }

    static String formatShape(long[] shape) {
        StringBuilder sb = new StringBuilder("[");
        for (int i = 0; i < shape.length; i++) sb.append(i == 0 ? "" : ", ").append(shape[i]);
        return sb.append(']').toString();
    }

    /** The file name, as used in messages. */
    public String fileName() { return fileName; }

    /** Every tensor, in header order (the {@code __metadata__} entry is not a tensor). */
    public Map<String, TensorInfo> tensors() { return tensors; }

    /** The optional {@code __metadata__} string map (empty if absent). */
    public Map<String, String> metadata() { return metadata; }

    public boolean contains(String name) { return tensors.containsKey(name); }

    /** A tensor's header entry; throws {@link ModelFormatException} naming the tensor if absent. */
    public TensorInfo info(String name) {
        TensorInfo t = tensors.get(name);
        if (t == null) throw new ModelFormatException(fileName + ": missing tensor " + name);
        return t;
    }

    /**
     * The tensor's bytes as stored (little-endian, row-major, its own dtype), a read-only view into
     * the mapping: valid until {@link #close()}. For backends that upload fp16/bf16 without widening.
     */
    public MemorySegment raw(String name) {
        TensorInfo t = info(name);
        return file.asSlice(t.begin(), t.sizeBytes());
    }

    /** The tensor widened to fp32 on the heap: F16 via IEEE binary16, BF16 as the top half of a binary32. */
    public float[] readFloats(String name) {
        TensorInfo t = info(name);
        long n = t.elementCount();
        if (n > Integer.MAX_VALUE - 8)
            throw new ModelFormatException(fileName + ": tensor " + name + " has " + n
                    + " elements, more than one Java array holds");
        if (!t.dtype().readable)
            throw new ModelFormatException(fileName + ": tensor " + name + " has dtype " + t.dtype()
                    + "; kvdecode reads only F32, F16 and BF16");
        float[] out = new float[(int) n];
        MemorySegment src = file.asSlice(t.begin(), t.sizeBytes());
        switch (t.dtype()) {
            case F32 -> MemorySegment.copy(src, F32_LE, 0, out, 0, out.length);
            case F16 -> {
                for (int i = 0; i < out.length; i++) out[i] = Float.float16ToFloat(src.getAtIndex(U16_LE, i));
            }
            // bfloat16 is the upper 16 bits of an IEEE binary32, so widening is a shift.
            case BF16 -> {
                for (int i = 0; i < out.length; i++) out[i] = Float.intBitsToFloat((src.getAtIndex(U16_LE, i) & 0xFFFF) << 16);
            }
            default -> throw new AssertionError(t.dtype());
        }
        return out;
    }

    /** Unmaps the file; segments from {@link #raw} become invalid. Idempotent. */
    @Override
    public synchronized void close() {
        if (arena.scope().isAlive()) arena.close();
    }
}
