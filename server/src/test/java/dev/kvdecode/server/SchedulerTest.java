package dev.kvdecode.server;

import dev.kvdecode.runtime.cache.OverflowPolicy;
import dev.kvdecode.runtime.engine.InferenceSession;
import dev.kvdecode.runtime.engine.SessionOptions;
import dev.kvdecode.runtime.sample.SamplingParams;
import org.junit.jupiter.api.Test;

import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;

import static org.junit.jupiter.api.Assertions.*;

/** The continuous-batching scheduler without HTTP, on the default model and the CPU backend. */
class SchedulerTest {
    static final int V = TestModel.MODEL.config().vocabSize();

    /** Collects one sequence's tokens; completes when it finishes. */
    static class Collect implements Scheduler.Sink {
        final List<Integer> tokens = new ArrayList<>();
        final CompletableFuture<Scheduler.Finish> done = new CompletableFuture<>();
        volatile int completion = -1;
        final int stopAfter;   // onToken returns false after this many tokens (0 = never)
        volatile Scheduler.Sequence seq;
        final int cancelAfter; // cancels itself after this many tokens (0 = never)

        Collect(int stopAfter, int cancelAfter) {
            this.stopAfter = stopAfter;
            this.cancelAfter = cancelAfter;
        }

        Collect() { this(0, 0); }

        @Override
        public synchronized boolean onToken(int token) {
            tokens.add(token);
            if (cancelAfter > 0 && tokens.size() == cancelAfter) seq.cancel();
            return stopAfter == 0 || tokens.size() < stopAfter;
        }

        @Override
        public void onFinish(Scheduler.Finish finish, int completionTokens, String error) {
            completion = completionTokens;
            done.complete(finish);
        }

        int[] ids() { return tokens.stream().mapToInt(Integer::intValue).toArray(); }

        Scheduler.Finish await() throws Exception { return done.get(60, TimeUnit.SECONDS); }
    }

    static int[] prompt(int seed, int length) {
        int[] p = new int[length];
        for (int i = 0; i < length; i++) p[i] = 1 + Math.floorMod(seed * 31 + i * 7, V - 1);
        return p;
    }

    static Scheduler.Request greedy(int[] prompt, int max) {
        return new Scheduler.Request(prompt, max, SamplingParams.greedyDecoding(), -1);
    }

    private static Scheduler scheduler(int slots, int window, int queue) { return unstarted(slots, window, queue).start(); }

    private static Scheduler unstarted(int slots, int window, int queue) {
        InferenceSession s = TestModel.BACKEND.open(TestModel.MODEL, new SessionOptions(slots, window, OverflowPolicy.STOP, true));
        return new Scheduler(s, slots, window, queue, Scheduler.Observer.NONE);
    }

    /** More requests than slots, different lengths: each equals its solo run; every slot is free at the end. */
    @Test
    void concurrentGreedyEqualsAlone() throws Exception {
        int n = 12;
        try (Scheduler sch = scheduler(4, 64, 32)) {
            Collect[] c = new Collect[n];
            int[][] prompts = new int[n][];
            for (int i = 0; i < n; i++) {
                prompts[i] = prompt(i, 1 + i % 5 * 3);
                c[i] = new Collect();
                c[i].seq = sch.submit(greedy(prompts[i], 5 + i % 4 * 6), c[i]);
            }
            for (int i = 0; i < n; i++) {
                assertEquals(Scheduler.Finish.LENGTH, c[i].await(), "request " + i);
                assertArrayEquals(TestModel.aloneGreedy(prompts[i], 5 + i % 4 * 6, 64), c[i].ids(), "request " + i);
                assertEquals(c[i].tokens.size(), c[i].completion);
            }
            assertEquals(0, sch.slotsInUse());
            assertEquals(0, sch.queueDepth());
        }
    }

    /** Seeded sampling: the same request gives the same tokens alone and beside others. */
    @Test
    void seededSamplingIndependentOfBatch() throws Exception {
        SamplingParams sp = SamplingParams.of(0.9f, 0, 1f, 1234);
        int[] p = prompt(3, 5);
        try (Scheduler sch = scheduler(3, 64, 8)) {
            Collect alone = new Collect();
            sch.submit(new Scheduler.Request(p, 30, sp, -1), alone);
            alone.await();
            Collect a = new Collect(), b = new Collect(), c = new Collect();
            sch.submit(new Scheduler.Request(prompt(1, 9), 40, SamplingParams.of(1f, 0, 1f, 5), -1), a);
            sch.submit(new Scheduler.Request(p, 30, sp, -1), b);
            sch.submit(greedy(prompt(2, 2), 25), c);
            b.await();
            assertEquals(alone.tokens, b.tokens);
            a.await();
            c.await();
        }
    }

    @Test
    void fullWindowEndsWithLength() throws Exception {
        try (Scheduler sch = scheduler(2, 16, 4)) {
            Collect c = new Collect();
            sch.submit(greedy(prompt(5, 10), 100), c);
            assertEquals(Scheduler.Finish.LENGTH, c.await());
            // prefill gives one token, then one per fed token until the window of 16 is full
            assertEquals(16 - 10 + 1, c.tokens.size());
            assertThrows(IllegalArgumentException.class, () -> sch.submit(greedy(prompt(5, 17), 1), new Collect()));
        }
    }

    @Test
    void sinkStopAndEosEndWithStop() throws Exception {
        try (Scheduler sch = scheduler(2, 64, 4)) {
            Collect c = new Collect(3, 0);
            sch.submit(greedy(prompt(6, 4), 50), c);
            assertEquals(Scheduler.Finish.STOP, c.await());
            assertEquals(3, c.tokens.size());
            // the greedy run's 4th token as end-of-text: the sequence ends there, the token unreported
            int[] ref = TestModel.aloneGreedy(prompt(6, 4), 10, 64);
            Collect e = new Collect();
            sch.submit(new Scheduler.Request(prompt(6, 4), 10, SamplingParams.greedyDecoding(), ref[3]), e);
            assertEquals(Scheduler.Finish.STOP, e.await());
            int firstEos = 0;
            while (ref[firstEos] != ref[3]) firstEos++;
            assertEquals(firstEos, e.tokens.size());
            // several eos ids (a Llama 3 chat's): the sequence ends at the first of any of them
            Collect any = new Collect();
            sch.submit(new Scheduler.Request(prompt(6, 4), 10, SamplingParams.greedyDecoding(), new int[] {ref[5], ref[3]}), any);
            assertEquals(Scheduler.Finish.STOP, any.await());
            int firstOfAny = 0;
            while (ref[firstOfAny] != ref[3] && ref[firstOfAny] != ref[5]) firstOfAny++;
            assertEquals(firstOfAny, any.tokens.size());
        }
    }

    /** A cancelled sequence leaves at the next step boundary and frees its slot for the queue. */
    @Test
    void cancelFreesSlotWithinAStep() throws Exception {
        try (Scheduler sch = unstarted(1, 256, 4)) {
            Collect c = new Collect(0, 2);
            c.seq = sch.submit(greedy(prompt(7, 3), 200), c);
            Collect next = new Collect();
            sch.submit(greedy(prompt(8, 3), 5), next);
            sch.start();
            assertEquals(Scheduler.Finish.CANCELLED, c.await());
            // cancelled during the delivery of token 2: at most one more step ran
            assertTrue(c.tokens.size() <= 3, "tokens after cancel: " + c.tokens.size());
            assertEquals(Scheduler.Finish.LENGTH, next.await());
            assertEquals(0, sch.slotsInUse());
        }
    }

    /**
     * Chunked prefill: a long prompt admitted beside a running sequence is fed 4 tokens per step
     * boundary, so the running one keeps getting a token per boundary meanwhile; both outputs
     * equal their solo runs (the CPU prefill is chunk-invariant bit for bit).
     */
    @Test
    void chunkedPrefillInterleavesAndEqualsAlone() throws Exception {
        InferenceSession s = TestModel.BACKEND.open(TestModel.MODEL, new SessionOptions(2, 96, OverflowPolicy.STOP, true));
        try (Scheduler sch = new Scheduler(s, 2, 96, 4, 4, Scheduler.Observer.NONE).start()) {
            int[] shortPrompt = prompt(11, 3), longPrompt = prompt(12, 40);
            CountDownLatch running = new CountDownLatch(1);
            Collect a = new Collect() {
                @Override
                public synchronized boolean onToken(int token) {
                    running.countDown();
                    return super.onToken(token);
                }
            };
            int[] aTokensAtFirst = {-1};
            Collect b = new Collect() {
                @Override
                public synchronized boolean onToken(int token) {
                    if (tokens.isEmpty()) synchronized (a) { aTokensAtFirst[0] = a.tokens.size(); }
                    return super.onToken(token);
                }
            };
            sch.submit(greedy(shortPrompt, 40), a);
            assertTrue(running.await(60, TimeUnit.SECONDS));
            int before;
            synchronized (a) { before = a.tokens.size(); }
            sch.submit(greedy(longPrompt, 8), b);
            assertEquals(Scheduler.Finish.LENGTH, b.await());
            assertEquals(Scheduler.Finish.LENGTH, a.await());
            // 40 prompt tokens in chunks of 4: ten step boundaries, at each of which a decoded a token
            assertTrue(aTokensAtFirst[0] - before >= 9, "tokens of the running sequence while the long prompt prefilled: "
                    + (aTokensAtFirst[0] - before));
            assertArrayEquals(TestModel.aloneGreedy(longPrompt, 8, 96), b.ids());
            assertArrayEquals(TestModel.aloneGreedy(shortPrompt, 40, 96), a.ids());
            assertEquals(0, sch.slotsInUse());
        }
    }

    @Test
    void queueFullIsRefused() throws Exception {
        Scheduler sch = unstarted(1, 64, 2);   // not started: nothing leaves the queue
        sch.submit(greedy(prompt(1, 2), 2), new Collect());
        sch.submit(greedy(prompt(1, 2), 2), new Collect());
        assertThrows(Scheduler.QueueFullException.class, () -> sch.submit(greedy(prompt(1, 2), 2), new Collect()));
        assertEquals(2, sch.queueDepth());
    }

    @Test
    void shutdownDrainsThenRefuses() throws Exception {
        Scheduler sch = scheduler(2, 64, 8);
        Collect a = new Collect(), b = new Collect(), c = new Collect();
        sch.submit(greedy(prompt(1, 3), 20), a);
        sch.submit(greedy(prompt(2, 3), 20), b);
        sch.submit(greedy(prompt(3, 3), 20), c);
        assertTrue(sch.shutdown(30_000), "everything finishes within the drain time");
        for (Collect x : new Collect[] {a, b, c}) assertEquals(Scheduler.Finish.LENGTH, x.await());
        assertThrows(Scheduler.ShuttingDownException.class, () -> sch.submit(greedy(prompt(1, 2), 2), new Collect()));
    }

    @Test
    void shutdownPastDrainTimeCancels() throws Exception {
        Scheduler sch = scheduler(1, 256, 8);
        CountDownLatch started = new CountDownLatch(1);
        Collect a = new Collect() {
            @Override
            public synchronized boolean onToken(int token) {
                started.countDown();
                try { Thread.sleep(5); } catch (InterruptedException e) { Thread.currentThread().interrupt(); }
                return super.onToken(token);
            }
        };
        sch.submit(greedy(prompt(1, 3), 250), a);
        started.await();
        assertFalse(sch.shutdown(50));
        assertEquals(Scheduler.Finish.CANCELLED, a.await());
        assertEquals(0, sch.slotsInUse());
    }
}
