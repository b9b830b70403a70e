package dev.kvdecode.runtime.model;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.lang.foreign.MemorySegment;
import java.nio.channels.FileChannel;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.Map;

import static org.junit.jupiter.api.Assertions.*;

class SafeTensorsTest {
    @TempDir Path tmp;

    private Path file() { return tmp.resolve("model.safetensors"); }

    private String openError() {
        return assertThrows(ModelFormatException.class, () -> SafeTensors.open(file()).close()).getMessage();
    }

    // ---- files written by the Python safetensors package, checked against numpy's own reading

    @Test
    void readsNumpyWrittenF16AndF32FilesExactly() throws IOException {
        for (String fixture : new String[]{"gpt2-tiny", "char-tiny"}) {
            Path dir = FixtureLogits.dir(fixture);
            JsonNode checks = new ObjectMapper().readTree(dir.resolve("reference.json").toFile()).get("tensor_checks");
            try (SafeTensors st = SafeTensors.open(dir.resolve("model.safetensors"))) {
                assertEquals(checks.size(), st.tensors().size(), fixture);
                assertEquals("pt", st.metadata().get("format"));
                for (Map.Entry<String, JsonNode> e : checks.properties()) {
                    String name = e.getKey();
                    SafeTensors.TensorInfo t = st.info(name);
                    long[] shape = new long[e.getValue().get("shape").size()];
                    for (int i = 0; i < shape.length; i++) shape[i] = e.getValue().get("shape").get(i).longValue();
                    assertArrayEquals(shape, t.shape(), name);
                    float[] v = st.readFloats(name);
                    assertEquals(t.elementCount(), v.length);
                    for (int i = 0; i < 3; i++)
                        assertEquals(e.getValue().get("first").get(i).doubleValue(), v[i], 0.0, name + "[" + i + "]");
                    double sum = 0;
                    for (float x : v) sum += x;
                    // Both sides sum the same exactly-representable values in float64; only the
                    // summation order may differ, hence the tiny tolerance.
                    assertEquals(e.getValue().get("sum").doubleValue(), sum, 1e-9 * Math.max(1, v.length), name);
                }
            }
        }
    }

    @Test
    void widensF16AndBf16PerIeee() throws IOException {
        // Bit patterns and values from IEEE 754 binary16 and the bfloat16 definition (top half of binary32).
        new SafeTensorsWriter()
                .put16("h", "F16", new long[]{7}, 0x3C00, 0xC000, 0x7BFF, 0x0001, 0x7C00, 0x8000, 0x3555)
                .put16("b", "BF16", new long[]{2, 2}, 0x3F80, 0xC040, 0x4049, 0xFF80)
                .putF32("f", new long[]{}, 2.5f)
                .write(file());
        try (SafeTensors st = SafeTensors.open(file())) {
            assertArrayEquals(new float[]{1f, -2f, 65504f, 0x1p-24f, Float.POSITIVE_INFINITY, -0f, 0.333251953125f},
                    st.readFloats("h"));
            assertArrayEquals(new float[]{1f, -3f, 3.140625f, Float.NEGATIVE_INFINITY}, st.readFloats("b"));
            assertArrayEquals(new float[]{2.5f}, st.readFloats("f"));
            assertEquals(SafeTensors.DType.BF16, st.info("b").dtype());
            MemorySegment raw = st.raw("h");
            assertEquals(14, raw.byteSize());
            assertEquals((byte) 0x3C, raw.get(java.lang.foreign.ValueLayout.JAVA_BYTE, 1));
            st.close();
            assertThrows(IllegalStateException.class, () -> raw.get(java.lang.foreign.ValueLayout.JAVA_BYTE, 0));
        }
    }

    @Test
    void missingTensorIsNamed() throws IOException {
        new SafeTensorsWriter().putF32("a", new long[]{1}, 1f).write(file());
        try (SafeTensors st = SafeTensors.open(file())) {
            assertEquals("model.safetensors: missing tensor b",
                    assertThrows(ModelFormatException.class, () -> st.readFloats("b")).getMessage());
        }
    }

    // ---- corrupt files: each one message

    @Test
    void fileShorterThanTheLengthField() throws IOException {
        Files.write(file(), new byte[5]);
        assertEquals("model.safetensors: file is 5 bytes, too short for a safetensors header", openError());
    }

    @Test
    void headerLengthBeyondFile() throws IOException {
        SafeTensorsWriter.writeRaw(file(), 99999999L, "{}", new byte[1014]);
        assertEquals("model.safetensors: header length 99999999 exceeds file size 1024", openError());
    }

    @Test
    void headerLengthHugeUnsigned() throws IOException {
        SafeTensorsWriter.writeRaw(file(), -1L, "{}", new byte[6]);
        assertEquals("model.safetensors: header length 18446744073709551615 exceeds file size 16", openError());
    }

    @Test
    void headerLengthTooSmall() throws IOException {
        SafeTensorsWriter.writeRaw(file(), 1L, "{}", new byte[0]);
        assertEquals("model.safetensors: header length 1 is too small for a JSON object", openError());
    }

    @Test
    void headerNotJson() throws IOException {
        SafeTensorsWriter.writeRaw(file(), "{\"a\": {\"dtype\": \"F32\",", new byte[0]);
        assertTrue(openError().startsWith("model.safetensors: header is not valid JSON: "), openError());
    }

    @Test
    void headerWithTrailingGarbage() throws IOException {
        SafeTensorsWriter.writeRaw(file(), "{} {}", new byte[0]);
        assertTrue(openError().startsWith("model.safetensors: header is not valid JSON: "), openError());
    }

    @Test
    void headerNotAnObject() throws IOException {
        SafeTensorsWriter.writeRaw(file(), "[1, 2]", new byte[0]);
        assertEquals("model.safetensors: header is not a JSON object", openError());
    }

    @Test
    void duplicateTensorNames() throws IOException {
        String t = "{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]}";
        SafeTensorsWriter.writeRaw(file(), "{\"a\":" + t + ",\"a\":" + t + "}", new byte[4]);
        assertTrue(openError().contains("Duplicate field 'a'"), openError());
    }

    @Test
    void unknownOrUnsupportedDtype() throws IOException {
        new SafeTensorsWriter().put("h.0.pos", "I64", new long[]{2}, new byte[16]).write(file());
        assertEquals("model.safetensors: tensor h.0.pos has dtype I64; kvdecode reads only F32, F16 and BF16", openError());
        SafeTensorsWriter.writeRaw(file(), "{\"q\":{\"dtype\":\"Q4_K\",\"shape\":[2],\"data_offsets\":[0,2]}}", new byte[2]);
        assertEquals("model.safetensors: tensor q has dtype Q4_K; kvdecode reads only F32, F16 and BF16", openError());
    }

    @Test
    void ignoredTensorsMayHaveOtherDtypesButCannotBeRead() throws IOException {
        new SafeTensorsWriter().put("mask", "BOOL", new long[]{2, 2}, new byte[]{1, 0, 1, 1})
                .putF32("w", new long[]{1}, 3f).write(file());
        try (SafeTensors st = SafeTensors.open(file(), "mask"::equals)) {
            assertArrayEquals(new float[]{3f}, st.readFloats("w"));
            assertEquals("model.safetensors: tensor mask has dtype BOOL; kvdecode reads only F32, F16 and BF16",
                    assertThrows(ModelFormatException.class, () -> st.readFloats("mask")).getMessage());
        }
    }

    @Test
    void shapeDisagreesWithOffsets() throws IOException {
        SafeTensorsWriter.writeRaw(file(), "{\"w\":{\"dtype\":\"F16\",\"shape\":[3,4],\"data_offsets\":[0,20]}}", new byte[24]);
        assertEquals("model.safetensors: tensor w: shape [3, 4] of F16 needs 24 bytes but data_offsets [0, 20] span 20",
                openError());
    }

    @Test
    void negativeShape() throws IOException {
        SafeTensorsWriter.writeRaw(file(), "{\"w\":{\"dtype\":\"F32\",\"shape\":[-1],\"data_offsets\":[0,4]}}", new byte[4]);
        assertEquals("model.safetensors: tensor w: shape [-1] has an entry that is not a non-negative integer", openError());
    }

    @Test
    void offsetsReversed() throws IOException {
        SafeTensorsWriter.writeRaw(file(), "{\"w\":{\"dtype\":\"F32\",\"shape\":[0],\"data_offsets\":[8,4]}}", new byte[8]);
        assertEquals("model.safetensors: tensor w: data_offsets [8, 4] end before they begin", openError());
    }

    @Test
    void overlappingTensors() throws IOException {
        SafeTensorsWriter.writeRaw(file(), "{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]},"
                + "\"b\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[4,12]}}", new byte[12]);
        assertEquals("model.safetensors: tensors a and b overlap", openError());
    }

    @Test
    void truncatedFile() throws IOException {
        new SafeTensorsWriter().putF32("a", new long[]{2}, 1f, 2f).putF32("b", new long[]{2, 2}, 1f, 2f, 3f, 4f).write(file());
        try (FileChannel ch = FileChannel.open(file(), StandardOpenOption.WRITE)) {
            ch.truncate(ch.size() - 3);
        }
        assertEquals("model.safetensors: tensor b: data_offsets [8, 24] run past the end of the data region (21 bytes);"
                + " is the file truncated?", openError());
    }

    @Test
    void metadataMustBeStrings() throws IOException {
        SafeTensorsWriter.writeRaw(file(), "{\"__metadata__\":{\"format\":1}}", new byte[0]);
        assertEquals("model.safetensors: __metadata__ value for \"format\" is not a string", openError());
    }

    @Test
    void missingFile() {
        assertEquals("model.safetensors: file does not exist (" + file() + ")", openError());
    }
}
