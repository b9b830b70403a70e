package dev.kvdecode.runtime.model;

import org.junit.jupiter.api.Test;

import java.io.IOException;

import static org.junit.jupiter.api.Assertions.*;

/** The fixture reader returns what numpy.load sees (values printed by numpy, float32 exact). */
class FixtureLogitsTest {
    @Test
    void readsGpt2TinyLogits() throws IOException {
        FixtureLogits f = FixtureLogits.read(FixtureLogits.dir("gpt2-tiny"));
        assertArrayEquals(new int[]{50256, 15496, 11, 616, 1438, 318, 0, 50255, 1, 25, 464, 13}, f.promptIds());
        assertEquals(12, f.rows());
        assertEquals(50257, f.cols());
        assertEquals(3.3844542503356934f, f.row(0)[0]);
        assertEquals(0.2941782474517822f, f.row(11)[50256]);
        assertEquals(-4.429849147796631f, f.row(5)[1234]);
    }

    @Test
    void readsCharTinyLogits() throws IOException {
        FixtureLogits f = FixtureLogits.read(FixtureLogits.dir("char-tiny"));
        assertArrayEquals(new int[]{18, 47, 56, 57, 58, 1, 15, 47, 58, 47, 0, 64}, f.promptIds());
        assertEquals(65, f.cols());
        assertEquals(-0.0545603446662426f, f.row(3)[7]);
        assertEquals(1.9372355937957764f, f.row(11)[64]);
    }
}
