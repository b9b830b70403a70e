package dev.kvdecode.runtime.model.gguf;

import dev.kvdecode.kernels.GgmlBlocks;
import dev.kvdecode.runtime.model.ModelFormatException;

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

/**
 * A memory-mapped GGUF file, versions 2 and 3, little-endian (format: ggml's docs/gguf.md).
 *
 * <pre>
 * u32 magic "GGUF" | u32 version | u64 tensor_count | u64 kv_count
 * kv_count x   { string key | u32 value_type | value }
 * tensor_count x { string name | u32 n_dims | u64 ne[n_dims] | u32 ggml_type | u64 offset }
 * padding to general.alignment (default 32)
 * data: each tensor at data_start + offset, offset a multiple of the alignment
 * string = u64 byte length + UTF-8 bytes; array = u32 element type + u64 count + elements
 * </pre>
 *
 * ne[0] is the innermost (contiguous) dimension, so a tensor numpy sees as (rows, cols) has
 * ne = [cols, rows]; quantized types cut ne[0] into blocks ({@link GgmlType}).
 *
 * <p>Everything is validated when the file is opened, in long arithmetic and before any read of
 * the bytes it describes: magic, version, counts against the bytes left, every string and array
 * length, metadata value types, each tensor's rank, dimensions, type, byte size, offset,
 * alignment and overlap. Every problem is a {@link ModelFormatException} whose one-line message
 * starts with the file name. {@link #parse(byte[])} runs the same validation on bytes in memory
 * (the fuzz target's entry).
 */
public final class GgufFile implements AutoCloseable {
    /** "GGUF" read as a little-endian u32. */
    static final int MAGIC = 0x46554747;
    static final long DEFAULT_ALIGNMENT = 32;
    /** ggml's GGML_MAX_DIMS. */
    static final int MAX_DIMS = 4;
    /** ggml's GGML_MAX_NAME is 64 bytes with the terminating zero. */
    static final int MAX_TENSOR_NAME_BYTES = 63;
    /** The spec caps keys at 65535 bytes. */
    static final int MAX_KEY_BYTES = 65535;
    /** A Java array's practical limit, for metadata arrays and tensors read onto the heap. */
    static final long MAX_ARRAY = Integer.MAX_VALUE - 8;

    /** Metadata value types (the file's u32 codes). */
    public enum ValueType {
        UINT8(1), INT8(1), UINT16(2), INT16(2), UINT32(4), INT32(4), FLOAT32(4), BOOL(1), STRING(8), ARRAY(12),
        UINT64(8), INT64(8), FLOAT64(8);

        /** The fewest bytes a value of this type takes (for strings and arrays: their length fields). */
        final int minBytes;

        ValueType(int minBytes) { this.minBytes = minBytes; }

        static ValueType ofCode(long code) {
            return code >= 0 && code < values().length ? values()[(int) code] : null;
        }

        boolean isInteger() {
            return switch (this) {
                case UINT8, INT8, UINT16, INT16, UINT32, INT32, UINT64, INT64 -> true;
                default -> false;
            };
        }
    }

    /**
     * One metadata value. Scalars: integers as {@link Long} (a UINT64 above Long.MAX_VALUE is
     * rejected at parse time), FLOAT32/FLOAT64 as {@link Double} (exact), BOOL as {@link Boolean},
     * STRING as {@link String}. Arrays ({@code type} ARRAY, {@code elementType} set): long[],
     * double[], boolean[] or String[].
     */
    public record Value(ValueType type, ValueType elementType, Object value) {
        String describe() { return type == ValueType.ARRAY ? "ARRAY of " + elementType : type.name(); }
    }

    /**
     * One tensor.
     *
     * @param dims   ne, innermost first
     * @param offset the first byte's offset from the start of the file
     */
    public record Tensor(String name, GgmlType type, long[] dims, long offset, long sizeBytes) {
        public Tensor { dims = dims.clone(); }

        @Override public long[] dims() { return dims.clone(); }

        public long elementCount() {
            long n = 1;
            for (long d : dims) n *= d;   // validated not to overflow at parse time
            return n;
        }

        /** The dims as "[ne0, ne1]", for messages. */
        public String dimsString() {
            StringBuilder sb = new StringBuilder("[");
            for (int i = 0; i < dims.length; i++) sb.append(i == 0 ? "" : ", ").append(dims[i]);
            return sb.append(']').toString();
        }
    }

    private static final ValueLayout.OfInt U32_LE = ValueLayout.JAVA_INT_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);
    private static final ValueLayout.OfLong U64_LE = ValueLayout.JAVA_LONG_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);
    private static final ValueLayout.OfShort U16_LE = ValueLayout.JAVA_SHORT_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);
    private static final ValueLayout.OfFloat F32_LE = ValueLayout.JAVA_FLOAT_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);
    private static final ValueLayout.OfDouble F64_LE = ValueLayout.JAVA_DOUBLE_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);

    private final String fileName;
    private final Arena arena;           // null for parse(byte[])
    private final MemorySegment file;
    private final int version;
    private final long alignment;
    private final Map<String, Value> metadata;
    private final Map<String, Tensor> tensors;

    private GgufFile(String fileName, Arena arena, MemorySegment file, int version, long alignment,
                     Map<String, Value> metadata, Map<String, Tensor> tensors) {
        this.fileName = fileName;
        this.arena = arena;
        this.file = file;
        this.version = version;
        this.alignment = alignment;
        this.metadata = metadata;
        this.tensors = tensors;
    }

    /** Maps and validates a GGUF file; the caller owns the result and must close it. */
    public static GgufFile open(Path path) {
        String name = String.valueOf(path.getFileName());
        Arena arena = Arena.ofShared();
        try (FileChannel ch = FileChannel.open(path, StandardOpenOption.READ)) {
            MemorySegment seg = ch.map(FileChannel.MapMode.READ_ONLY, 0, ch.size(), arena);
            GgufFile f = parse(name, seg, arena);
            arena = null;   // owned by f now
            return f;
        } catch (NoSuchFileException e) {
            throw new ModelFormatException(name + ": file does not exist (" + path + ")");
        } catch (IOException e) {
            throw new ModelFormatException(name + ": cannot read: " + e.getMessage(), e);
        } finally {
            if (arena != null) arena.close();
        }
    }

    /**
     * Validates a whole GGUF file held in memory (the fuzz entry: any input either parses or
     * throws {@link ModelFormatException}). The result reads from {@code bytes}; closing it is a no-op.
     */
    public static GgufFile parse(byte[] bytes) {
        return parse("<bytes>", MemorySegment.ofArray(bytes), null);
    }

    /** Validates {@code seg} (the file's bytes; not copied) under the name used in messages. */
    public static GgufFile parse(String name, MemorySegment seg) { return parse(name, seg, null); }

    private static GgufFile parse(String name, MemorySegment seg, Arena arena) {
        Cursor c = new Cursor(name, seg);
        c.need(4, "the magic");
        int magic = seg.get(U32_LE, 0);
        if (magic != MAGIC)
            throw c.fail(String.format("not a GGUF file (magic bytes %02X %02X %02X %02X, expected \"GGUF\")",
                    magic & 0xFF, (magic >>> 8) & 0xFF, (magic >>> 16) & 0xFF, magic >>> 24));
        c.pos = 4;
        long version = c.u32("the version");
        if (version != 2 && version != 3) {
            String hint = Integer.reverseBytes((int) version) == 2 || Integer.reverseBytes((int) version) == 3
                    ? " (a big-endian file; only little-endian files are read)" : version == 1 ? " (GGUF v1 is obsolete)" : "";
            throw c.fail("GGUF version " + version + " is not supported (2 and 3 are)" + hint);
        }
        long tensorCount = c.count("tensor_count", 8 + 4 + 8 + 4 + 8);
        long kvCount = c.count("kv_count", 8 + 4 + 1);

        Map<String, Value> metadata = new LinkedHashMap<>();
        for (long i = 0; i < kvCount; i++) {
            String key = c.string("metadata key " + i, MAX_KEY_BYTES);
            if (key.isEmpty()) throw c.fail("metadata key " + i + " is empty");
            ValueType type = c.valueType("metadata " + printable(key));
            Value v = c.value("metadata " + printable(key), type);
            if (metadata.putIfAbsent(key, v) != null) throw c.fail("metadata key " + printable(key) + " appears twice");
        }

        long alignment = DEFAULT_ALIGNMENT;
        Value av = metadata.get("general.alignment");
        if (av != null) {
            if (av.type() != ValueType.UINT32)
                throw c.fail("metadata general.alignment is " + av.describe() + ", expected UINT32");
            alignment = (Long) av.value();
            if (alignment == 0 || Long.bitCount(alignment) != 1)
                throw c.fail("metadata general.alignment " + alignment + " is not a power of two");
        }

        List<Tensor> infos = new ArrayList<>();
        Map<String, Tensor> tensors = new LinkedHashMap<>();
        for (long i = 0; i < tensorCount; i++) {
            String tname = c.string("tensor " + i + " name", MAX_TENSOR_NAME_BYTES);
            String where = "tensor " + printable(tname);
            long nDims = c.u32(where + " n_dims");
            if (nDims < 1 || nDims > MAX_DIMS)
                throw c.fail(where + ": n_dims " + nDims + " is not in 1.." + MAX_DIMS);
            long[] dims = new long[(int) nDims];
            long elements = 1;
            for (int d = 0; d < nDims; d++) {
                dims[d] = c.u64(where + " ne[" + d + "]");
                if (dims[d] < 0) throw c.fail(where + ": ne[" + d + "] " + Long.toUnsignedString(dims[d]) + " is too large");
                try {
                    elements = Math.multiplyExact(elements, dims[d]);
                } catch (ArithmeticException e) {
                    throw c.fail(where + ": dimensions " + dimsOf(dims, d + 1) + " have too many elements");
                }
            }
            long typeId = c.u32(where + " type");
            GgmlType type = GgmlType.ofId(typeId);
            if (type == null) throw c.fail(where + " has unknown ggml type id " + typeId);
            if (!type.supported)
                throw c.fail(where + " has type " + type + "; kvdecode reads " + GgmlType.SUPPORTED_LIST);
            if (dims[0] % type.blockElements != 0)
                throw c.fail(where + ": ne[0] " + dims[0] + " is not a multiple of " + type + "'s block of " + type.blockElements);
            long sizeBytes;
            try {
                sizeBytes = Math.multiplyExact(elements / type.blockElements, (long) type.blockBytes);
            } catch (ArithmeticException e) {
                throw c.fail(where + ": dimensions " + dimsOf(dims, dims.length) + " are too large");
            }
            long offset = c.u64(where + " offset");
            if (offset < 0) throw c.fail(where + ": offset " + Long.toUnsignedString(offset) + " is past the end of the file");
            if (offset % alignment != 0)
                throw c.fail(where + ": offset " + offset + " is not a multiple of the alignment " + alignment);
            Tensor t = new Tensor(tname, type, dims, offset, sizeBytes);   // offset relative to the data for now
            if (tensors.putIfAbsent(tname, t) != null) throw c.fail(where + " appears twice");
            infos.add(t);
        }

        long dataStart = c.pos + (alignment - c.pos % alignment) % alignment;
        // Even empty tensors are slices at dataStart + offset: the data region must start inside
        // the file (the fuzz target's crash-data-start-past-end: a 0-byte tensor, header padding past the end).
        if (!tensors.isEmpty() && dataStart > seg.byteSize())
            throw c.fail("the tensor data starts at byte " + dataStart + " (after alignment padding), past the end of the "
                    + seg.byteSize() + "-byte file; is the file truncated?");
        long dataSize = Math.max(0, seg.byteSize() - dataStart);
        Map<String, Tensor> placed = new LinkedHashMap<>();
        for (Tensor t : infos) {
            if (t.offset() > dataSize || t.sizeBytes() > dataSize - t.offset())
                throw c.fail("tensor " + printable(t.name()) + ": " + t.sizeBytes() + " bytes at data offset " + t.offset()
                        + " run past the end of the file (data region " + dataSize + " bytes); is the file truncated?");
            placed.put(t.name(), new Tensor(t.name(), t.type(), t.dims, dataStart + t.offset(), t.sizeBytes()));
        }
        List<Tensor> byOffset = new ArrayList<>(placed.values());
        byOffset.removeIf(t -> t.sizeBytes() == 0);
        byOffset.sort(Comparator.comparingLong(Tensor::offset));
        for (int i = 1; i < byOffset.size(); i++) {
            Tensor prev = byOffset.get(i - 1), cur = byOffset.get(i);
            if (cur.offset() < prev.offset() + prev.sizeBytes())
                throw c.fail("tensors " + printable(prev.name()) + " and " + printable(cur.name()) + " overlap");
        }
        return new GgufFile(name, arena, seg, (int) version, alignment,
                Collections.unmodifiableMap(metadata), Collections.unmodifiableMap(placed));
    }

    /**
     * A string from the file as it may appear in a one-line message: control characters escaped
     * (a key or name could hold a newline), at most 64 characters.
     */
    public static String printable(String s) {
        StringBuilder sb = new StringBuilder();
        for (int i = 0; i < s.length() && sb.length() < 64; i++) {
            char ch = s.charAt(i);
            if (ch < 0x20 || (ch >= 0x7F && ch < 0xA0) || ch == 0x2028 || ch == 0x2029) sb.append(String.format("\\u%04x", (int) ch));
            else sb.append(ch);
        }
        return sb.length() < 64 ? sb.toString() : sb + "...";
    }

    private static String dimsOf(long[] dims, int n) {
        StringBuilder sb = new StringBuilder("[");
        for (int i = 0; i < n; i++) sb.append(i == 0 ? "" : ", ").append(Long.toUnsignedString(dims[i]));
        return sb.append(']').toString();
    }

    /** A bounds-checked reader over the header: every read first checks that the bytes exist. */
    private static final class Cursor {
        final String file;
        final MemorySegment seg;
        long pos;

        Cursor(String file, MemorySegment seg) {
            this.file = file;
            this.seg = seg;
        }

        ModelFormatException fail(String what) { return new ModelFormatException(file + ": " + what); }

        long left() { return seg.byteSize() - pos; }

        void need(long bytes, String what) {
            if (bytes < 0 || bytes > left())
                throw fail("file ends inside " + what + " (byte " + pos + " of " + seg.byteSize() + "); is it truncated?");
        }

        long u32(String what) {
            need(4, what);
            long v = seg.get(U32_LE, pos) & 0xFFFFFFFFL;
            pos += 4;
            return v;
        }

        long u64(String what) {
            need(8, what);
            long v = seg.get(U64_LE, pos);
            pos += 8;
            return v;
        }

        /** A u64 count whose entries take at least minBytes each: more than the bytes left is an error. */
        long count(String what, int minBytes) {
            long n = u64(what);
            if (n < 0 || n > left() / minBytes)
                throw fail(what + " " + Long.toUnsignedString(n) + " is more than the " + left()
                        + " bytes left can hold (at least " + minBytes + " bytes each)");
            return n;
        }

        String string(String what, int maxBytes) {
            long len = u64(what + " length");
            if (len < 0 || len > left())
                throw fail(what + ": string length " + Long.toUnsignedString(len) + " runs past the end of the file ("
                        + left() + " bytes left)");
            if (len > maxBytes) throw fail(what + ": string length " + len + " exceeds " + maxBytes + " bytes");
            if (len > MAX_ARRAY) throw fail(what + ": string length " + len + " is too large");
            String s = new String(seg.asSlice(pos, len).toArray(ValueLayout.JAVA_BYTE), StandardCharsets.UTF_8);
            pos += len;
            return s;
        }

        ValueType valueType(String what) {
            long code = u32(what + " value type");
            ValueType t = ValueType.ofCode(code);
            if (t == null) throw fail(what + " has unknown value type " + code);
            return t;
        }

        Value value(String what, ValueType type) {
            if (type == ValueType.ARRAY) {
                ValueType et = valueType(what + " array element");
                if (et == ValueType.ARRAY) throw fail(what + " is an array of arrays, which is not supported");
                long n = u64(what + " array length");
                if (n < 0 || n > left() / et.minBytes)
                    throw fail(what + ": array length " + Long.toUnsignedString(n) + " of " + et
                            + " runs past the end of the file (" + left() + " bytes left)");
                if (n > MAX_ARRAY) throw fail(what + ": array length " + n + " is too large");
                int len = (int) n;
                Object arr;
                if (et == ValueType.STRING) {
                    String[] a = new String[len];
                    for (int i = 0; i < len; i++) a[i] = string(what + "[" + i + "]", Integer.MAX_VALUE);
                    arr = a;
                } else if (et == ValueType.BOOL) {
                    boolean[] a = new boolean[len];
                    for (int i = 0; i < len; i++) a[i] = bool(what + "[" + i + "]");
                    arr = a;
                } else if (et == ValueType.FLOAT32 || et == ValueType.FLOAT64) {
                    double[] a = new double[len];
                    for (int i = 0; i < len; i++) a[i] = floating(et);
                    arr = a;
                } else {
                    long[] a = new long[len];
                    for (int i = 0; i < len; i++) a[i] = integer(what + "[" + i + "]", et);
                    arr = a;
                }
                return new Value(ValueType.ARRAY, et, arr);
            }
            need(type.minBytes, what);
            return switch (type) {
                case STRING -> new Value(type, null, string(what, Integer.MAX_VALUE));
                case BOOL -> new Value(type, null, bool(what));
                case FLOAT32, FLOAT64 -> new Value(type, null, floating(type));
                default -> new Value(type, null, integer(what, type));
            };
        }

        boolean bool(String what) {
            need(1, what);
            byte b = seg.get(ValueLayout.JAVA_BYTE, pos++);
            if (b != 0 && b != 1) throw fail(what + ": BOOL byte " + (b & 0xFF) + " is neither 0 nor 1");
            return b == 1;
        }

        double floating(ValueType t) {   // the caller checked the bytes are there
            need(t.minBytes, "a float");
            double v = t == ValueType.FLOAT32 ? seg.get(F32_LE, pos) : seg.get(F64_LE, pos);
            pos += t.minBytes;
            return v;
        }

        long integer(String what, ValueType t) {
            need(t.minBytes, what);
            long v = switch (t) {
                case UINT8 -> seg.get(ValueLayout.JAVA_BYTE, pos) & 0xFFL;
                case INT8 -> seg.get(ValueLayout.JAVA_BYTE, pos);
                case UINT16 -> seg.get(U16_LE, pos) & 0xFFFFL;
                case INT16 -> seg.get(U16_LE, pos);
                case UINT32 -> seg.get(U32_LE, pos) & 0xFFFFFFFFL;
                case INT32 -> seg.get(U32_LE, pos);
                case UINT64, INT64 -> seg.get(U64_LE, pos);
                default -> throw new AssertionError(t);
            };
            if (t == ValueType.UINT64 && v < 0)
                throw fail(what + ": UINT64 " + Long.toUnsignedString(v) + " is too large");
            pos += t.minBytes;
            return v;
        }
    }

    /** The file name, as used in messages. */
    public String fileName() { return fileName; }

    /** 2 or 3. */
    public int version() { return version; }

    /** The data alignment (general.alignment, default 32). */
    public long alignment() { return alignment; }

    /** Every metadata entry, in file order. */
    public Map<String, Value> metadata() { return metadata; }

    /** Every tensor, in file order. */
    public Map<String, Tensor> tensors() { return tensors; }

    public boolean contains(String tensor) { return tensors.containsKey(tensor); }

    /** A tensor's entry; a {@link ModelFormatException} naming it when absent. */
    public Tensor tensor(String name) {
        Tensor t = tensors.get(name);
        if (t == null) throw new ModelFormatException(fileName + ": missing tensor " + printable(name));
        return t;
    }

    private ModelFormatException bad(String what) { return new ModelFormatException(fileName + ": " + what); }

    /** The metadata value under {@code key}, or null. */
    public Value get(String key) { return metadata.get(key); }

    /** A required string value. */
    public String string(String key) {
        Value v = require(key);
        if (v.type() != ValueType.STRING) throw bad("metadata " + printable(key) + " is " + v.describe() + ", expected STRING");
        return (String) v.value();
    }

    /** A string value, or {@code dflt} when absent. */
    public String string(String key, String dflt) { return metadata.containsKey(key) ? string(key) : dflt; }

    /** A required integer value (any integer type) in [min, max]. */
    public long integer(String key, long min, long max) {
        Value v = require(key);
        if (!v.type().isInteger()) throw bad("metadata " + printable(key) + " is " + v.describe() + ", expected an integer");
        long n = (Long) v.value();
        if (n < min || n > max) throw bad("metadata " + printable(key) + " " + n + " is not in " + min + ".." + max);
        return n;
    }

    /** A required float value (FLOAT32 or FLOAT64). */
    public double floating(String key) {
        Value v = require(key);
        if (v.type() != ValueType.FLOAT32 && v.type() != ValueType.FLOAT64)
            throw bad("metadata " + printable(key) + " is " + v.describe() + ", expected FLOAT32");
        return (Double) v.value();
    }

    /** A required array of strings. */
    public String[] strings(String key) {
        Value v = require(key);
        if (v.type() != ValueType.ARRAY || v.elementType() != ValueType.STRING)
            throw bad("metadata " + printable(key) + " is " + v.describe() + ", expected ARRAY of STRING");
        return ((String[]) v.value()).clone();
    }

    /** A required array of integers (any integer element type). */
    public long[] integers(String key) {
        Value v = require(key);
        if (v.type() != ValueType.ARRAY || !v.elementType().isInteger())
            throw bad("metadata " + printable(key) + " is " + v.describe() + ", expected an ARRAY of integers");
        return ((long[]) v.value()).clone();
    }

    private Value require(String key) {
        Value v = metadata.get(key);
        if (v == null) throw bad("missing metadata key " + printable(key));
        return v;
    }

    /** The tensor's bytes as stored, a read-only view into the mapping, valid until {@link #close()}. */
    public MemorySegment raw(String name) {
        Tensor t = tensor(name);
        return file.asSlice(t.offset(), t.sizeBytes()).asReadOnly();
    }

    /**
     * The tensor as fp32 on the heap, in its storage order (ne[0] fastest): F16 and BF16 widened
     * exactly, Q8_0/Q4_0/Q4_K/Q6_K dequantized ({@link GgmlBlocks}).
     */
    public float[] readFloats(String name) {
        Tensor t = tensor(name);
        long n = t.elementCount();
        if (n > MAX_ARRAY) throw bad("tensor " + printable(name) + " has " + n + " elements, more than one Java array holds");
        float[] out = new float[(int) n];
        MemorySegment src = file.asSlice(t.offset(), t.sizeBytes());
        switch (t.type()) {
            case F32 -> MemorySegment.copy(src, F32_LE, 0, out, 0, out.length);
            case F16 -> {
                for (int i = 0; i < out.length; i++) out[i] = Float.float16ToFloat(src.getAtIndex(U16_LE, i));
            }
            case BF16 -> {   // the top half of an fp32
                for (int i = 0; i < out.length; i++) out[i] = Float.intBitsToFloat((src.getAtIndex(U16_LE, i) & 0xFFFF) << 16);
            }
            default -> GgmlBlocks.dequantize(t.type().layout(), src, 0, (int) (n / t.type().blockElements), out, 0);
        }
        return out;
    }

    /** Unmaps the file (a no-op for {@link #parse(byte[])}); segments from {@link #raw} become invalid. Idempotent. */
    @Override
    public synchronized void close() {
        if (arena != null && arena.scope().isAlive()) arena.close();
    }
}
