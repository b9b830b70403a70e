package dev.kvdecode.runtime.fuzz;

import com.code_intelligence.jazzer.junit.DictionaryEntries;
import com.code_intelligence.jazzer.junit.FuzzTest;
import dev.kvdecode.runtime.model.SafeTensors;
import org.junit.jupiter.api.AfterAll;

import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.util.Map;

/**
 * Fuzzes the safetensors reader ({@link SafeTensors#open}) through a real mapped file: a bad
 * header must be a one-line ModelFormatException, and every tensor it accepts must lie inside the
 * mapping (reading each one, raw and widened, would throw IndexOutOfBoundsException otherwise).
 * Seeds: SafeTensorsFuzzTestInputs/&lt;method&gt;/ (docs/FUZZING.md).
 */
class SafeTensorsFuzzTest {
    private static final FuzzFiles FILES = new FuzzFiles("SafeTensorsFuzzTest");
    /** Bytes after the header in {@link #header}: enough for the seeds' small tensors. */
    private static final int DATA_BYTES = 256;

    @AfterAll
    static void cleanUp() { FILES.close(); }

    /** The whole file as given: the 8-byte length, the header and the data. */
    @FuzzTest
    @DictionaryEntries({"\"dtype\"", "\"shape\"", "\"data_offsets\"", "\"__metadata__\"", "\"F32\"", "\"F16\"",
            "\"BF16\"", "\"BOOL\"", "\"I64\""})
    void file(byte[] input) { openAndReadAll(input); }

    /**
     * Only the JSON header: the fuzzer's bytes are framed with their length and followed by
     * {@value #DATA_BYTES} data bytes, so mutations explore the header rather than the length field.
     */
    @FuzzTest
    @DictionaryEntries({"\"dtype\"", "\"shape\"", "\"data_offsets\"", "\"__metadata__\"", "\"F32\"", "\"F16\"",
            "\"BF16\"", "\"BOOL\"", "\"I64\"", "18446744073709551615", "9223372036854775807", "-1", "1e3"})
    void header(byte[] json) {
        ByteBuffer b = ByteBuffer.allocate(8 + json.length + DATA_BYTES).order(ByteOrder.LITTLE_ENDIAN);
        b.putLong(json.length).put(json);
        for (int i = 0; i < DATA_BYTES; i++) b.put((byte) i);
        openAndReadAll(b.array());
    }

    private static void openAndReadAll(byte[] fileBytes) {
        var dir = FILES.write(Map.of("model.safetensors", fileBytes));
        // Names starting with "any" may have any dtype, as the loader allows for legacy buffers.
        SafeTensors st = FuzzFiles.parseOrReject(() -> SafeTensors.open(dir.resolve("model.safetensors"),
                name -> name.startsWith("any")));
        if (st == null) return;
        try (st) {
            long total = 0;
            for (SafeTensors.TensorInfo t : st.tensors().values()) {
                MemorySegment raw = st.raw(t.name());
                if (raw.byteSize() != t.sizeBytes()) throw new AssertionError(t + ": raw slice has " + raw.byteSize() + " bytes");
                total += raw.toArray(ValueLayout.JAVA_BYTE).length;
                if (t.dtype().readable) {
                    float[] f = st.readFloats(t.name());
                    if (f.length != t.elementCount()) throw new AssertionError(t + ": read " + f.length + " floats");
                }
            }
            if (total > fileBytes.length) throw new AssertionError("tensors span " + total + " bytes of a " + fileBytes.length + "-byte file");
        }
    }
}
