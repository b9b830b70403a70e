package dev.kvdecode.runtime.model;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;

import java.io.IOException;
import java.net.URISyntaxException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * The numpy reference logits of a fixture (scripts/reference/make_gpt2_fixture.py; layout in
 * runtime/src/test/resources/fixtures/README.md).
 *
 * <pre>
 * promptIds  (T)     the prompt token ids
 * logits     (T, V)  row t: the logits after prompt_ids[0..t], float32 (computed in float64)
 * </pre>
 */
public record FixtureLogits(int[] promptIds, int rows, int cols, float[] logits) {

    /** Logits of position t, a copy of length V. */
    public float[] row(int t) {
        float[] r = new float[cols];
        System.arraycopy(logits, t * cols, r, 0, cols);
        return r;
    }

    /** The directory of a committed fixture, e.g. {@code dir("gpt2-tiny")}, from the test class path. */
    public static Path dir(String fixture) {
        try {
            var url = FixtureLogits.class.getResource("/fixtures/" + fixture + "/config.json");
            if (url == null) throw new IllegalStateException("no fixture " + fixture + " on the test class path");
            return Path.of(url.toURI()).getParent();
        } catch (URISyntaxException e) {
            throw new IllegalStateException(e);
        }
    }

    /** Reads reference.json and the logits file it names from a fixture directory. */
    public static FixtureLogits read(Path fixtureDir) throws IOException {
        JsonNode ref = new ObjectMapper().readTree(fixtureDir.resolve("reference.json").toFile());
        JsonNode ids = ref.get("prompt_ids");
        int[] prompt = new int[ids.size()];
        for (int i = 0; i < prompt.length; i++) prompt[i] = ids.get(i).intValue();
        float[][] shapeAndData = new float[1][];
        int[] shape = readNpyF32(fixtureDir.resolve(ref.get("logits_file").textValue()), shapeAndData);
        if (shape.length != 2 || shape[0] != prompt.length)
            throw new IOException("logits shape does not match " + prompt.length + " prompt ids");
        return new FixtureLogits(prompt, shape[0], shape[1], shapeAndData[0]);
    }

    private static final Pattern SHAPE = Pattern.compile("'shape':\\s*\\(([^)]*)\\)");

    /**
     * Reads a version 1/2/3 .npy file holding little-endian float32 in C order
     * (format: numpy.lib.format). Returns the shape; the data goes to {@code out[0]}.
     */
    public static int[] readNpyF32(Path npy, float[][] out) throws IOException {
        byte[] all = Files.readAllBytes(npy);
        ByteBuffer b = ByteBuffer.wrap(all).order(ByteOrder.LITTLE_ENDIAN);
        if (all.length < 10 || (all[0] & 0xFF) != 0x93 || !new String(all, 1, 5, StandardCharsets.US_ASCII).equals("NUMPY"))
            throw new IOException(npy + ": not a .npy file");
        int major = all[6];
        int headerLen, headerStart;
        if (major == 1) { headerLen = b.getShort(8) & 0xFFFF; headerStart = 10; }
        else { headerLen = b.getInt(8); headerStart = 12; }
        String header = new String(all, headerStart, headerLen, StandardCharsets.ISO_8859_1);
        if (!header.contains("'descr': '<f4'") || !header.contains("'fortran_order': False"))
            throw new IOException(npy + ": expected little-endian float32 in C order, header " + header.strip());
        Matcher m = SHAPE.matcher(header);
        if (!m.find()) throw new IOException(npy + ": no shape in header " + header.strip());
        String[] dims = m.group(1).split(",");
        int n = 0;
        int[] shape = new int[(int) java.util.Arrays.stream(dims).filter(s -> !s.isBlank()).count()];
        long count = 1;
        for (String d : dims) if (!d.isBlank()) { shape[n] = Integer.parseInt(d.strip()); count *= shape[n++]; }
        int dataStart = headerStart + headerLen;
        if (all.length - dataStart != count * 4)
            throw new IOException(npy + ": " + (all.length - dataStart) + " data bytes, expected " + count * 4);
        float[] data = new float[(int) count];
        b.position(dataStart);
        b.asFloatBuffer().get(data);
        out[0] = data;
        return shape;
    }
}
