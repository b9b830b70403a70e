package dev.kvdecode.runtime.tokenizer;

import com.hubspot.jinjava.el.JinjavaNodePreProcessor;
import com.hubspot.jinjava.interpret.InterpretException;
import com.hubspot.jinjava.interpret.JinjavaInterpreter;
import com.hubspot.jinjava.lib.tag.ForTag;
import com.hubspot.jinjava.tree.Node;
import com.hubspot.jinjava.tree.TagNode;

import java.lang.management.ManagementFactory;
import java.util.Collection;
import java.util.Iterator;
import java.util.List;
import java.util.Map;
import java.util.function.Supplier;

/**
 * What one chat template rendering may spend: steps, heap bytes allocated, and wall time. A
 * template is code that comes with the model, and jinjava's own limits (output, string, list
 * and map sizes, range()) bound what it builds but not how long it runs: three nested
 * {@code for} over range(1000) are 10^9 iterations, and 22 macros that each call the previous
 * one twice are 4 million calls, from a few hundred bytes of template. jinjava checks its
 * thread's interrupt flag only as a node starts, and turns the exception into a template error
 * and goes on, so a watchdog does not stop it either.
 * <p>
 * A step is one node rendered (text, expression or tag, which covers every macro call, whose body
 * is nodes) or one {@code for} iteration (charged as the loop starts, by the collection's size, or
 * per item where the size is unknown: an empty loop body renders no node). Heap bytes are those the
 * rendering thread allocates ({@code getCurrentThreadAllocatedBytes}), an upper bound on what the
 * rendering keeps. Each limit grows with the chat, so that a template whose work is linear in the
 * chat (every real one) stays far below it on any chat: the limits are sized from the measured cost
 * of the Llama 3, Llama 2 and Qwen3 templates (ChatTemplateTest#realTemplatesStayFarBelowTheBudget).
 * <p>
 * Once a limit is passed, every later step throws again, so the rendering unwinds fast whatever
 * jinjava catches on the way (a macro call inside an expression turns the exception into a template
 * error and carries on with the next node, which throws too).
 */
final class RenderBudget {
    /** The budget of the rendering on this thread (bound by {@link #run}). */
    private static final ScopedValue<RenderBudget> CURRENT = ScopedValue.newInstance();
    private static final com.sun.management.ThreadMXBean THREADS = threads();

    /** The limits of one rendering, for a chat of {@code messages} messages and {@code chars} characters. */
    record Limits(long steps, long allocatedBytes, long wallMs) {
        /**
         * Steps: 500,000 plus 1,000 per message (the real templates spend 4-30 per message). Bytes:
         * 128 MB plus 64 KB per message plus 1 KB per character of the chat (real: 0.2-0.4 MB for
         * a short chat, 16-150 KB per message and 60-75 bytes per character, most of it as the
         * output is joined). Wall time: 10 s, a last resort the other two reach first on the
         * hostile templates of ChatTemplateTest (a real rendering takes milliseconds).
         */
        static Limits forChat(int messages, long chars) {
            return new Limits(500_000L + 1_000L * messages, (128L << 20) + (64L << 10) * messages + 1024L * chars, 10_000);
        }
    }

    /** Thrown at the step that passes a limit, and at every later one. */
    static final class Exceeded extends InterpretException {
        Exceeded(String message) { super(message); }

        /** Thrown at every step while the rendering unwinds, through jinjava's deep stacks: no trace. */
        @Override public synchronized Throwable fillInStackTrace() { return this; }
    }

    private final Limits limits;
    private final long startBytes, deadlineNanos;
    private long steps;
    private String exceeded;

    RenderBudget(Limits limits) {
        this.limits = limits;
        this.startBytes = allocatedBytes();
        this.deadlineNanos = System.nanoTime() + limits.wallMs() * 1_000_000L;
    }

    /** Runs a rendering on this thread under this budget. */
    <T> T run(Supplier<T> rendering) {
        return ScopedValue.where(CURRENT, this).call(rendering::get);
    }

    /** Steps charged so far. */
    long steps() { return steps; }

    /** Heap bytes this thread allocated since the budget was made (0 where the JVM does not count them). */
    long allocatedBytesSoFar() { return allocatedBytes() - startBytes; }

    /** Null while within the limits, else which limit was passed (a phrase for the one-line error). */
    String exceeded() { return exceeded; }

    /** Charges n steps, and checks the heap bytes and the time. */
    void charge(long n) {
        if (exceeded == null) {
            steps += n;
            if (steps > limits.steps()) {
                exceeded = String.format("%,d steps (nodes rendered and loop iterations)", limits.steps());
            } else if (allocatedBytesSoFar() > limits.allocatedBytes()) {
                long b = limits.allocatedBytes();
                exceeded = b >= 1 << 20 ? String.format("%,d MB allocated", b >> 20) : String.format("%,d bytes allocated", b);
            } else if (System.nanoTime() - deadlineNanos > 0) {
                exceeded = limits.wallMs() % 1000 == 0 ? limits.wallMs() / 1000 + " s" : limits.wallMs() + " ms";
            }
        }
        if (exceeded != null) throw new Exceeded("render budget exceeded: " + exceeded);
    }

    private static void chargeCurrent(long n) {
        if (CURRENT.isBound()) CURRENT.get().charge(n);
    }

    private static long allocatedBytes() { return THREADS == null ? 0 : THREADS.getCurrentThreadAllocatedBytes(); }

    private static com.sun.management.ThreadMXBean threads() {
        return ManagementFactory.getThreadMXBean() instanceof com.sun.management.ThreadMXBean t
                && t.isThreadAllocatedMemorySupported() && t.isThreadAllocatedMemoryEnabled()
                ? t : null; // else (not HotSpot, or switched off): steps and time still bound the rendering
    }

    /** jinjava's node pre-processor (it records the current node and checks interrupts), plus one step per node. */
    static final class CountingNodes extends JinjavaNodePreProcessor {
        @Override
        public void accept(Node node, JinjavaInterpreter interpreter) {
            super.accept(node, interpreter);
            chargeCurrent(1);
        }
    }

    /** jinjava's {@code for}, charging one step per iteration. */
    static final class CountingFor extends ForTag {
        @Override
        public String renderForCollection(TagNode tagNode, JinjavaInterpreter interpreter, List<String> loopVars, Object collection) {
            // Sized collections are charged up front (a {% break %} makes this an over-estimate);
            // other iterables per item, as jinjava's ObjectIterator walks them.
            switch (collection) {
                case Collection<?> c -> chargeCurrent(c.size());
                case Map<?, ?> m -> chargeCurrent(m.size());
                case Object[] a -> chargeCurrent(a.length);
                case Iterable<?> it -> collection = (Iterable<Object>) () -> counting(it.iterator());
                case Iterator<?> it -> collection = counting(it);
                case null, default -> chargeCurrent(1);
            }
            return super.renderForCollection(tagNode, interpreter, loopVars, collection);
        }

        private static Iterator<Object> counting(Iterator<?> it) {
            return new Iterator<>() {
                @Override public boolean hasNext() { return it.hasNext(); }
                @Override public Object next() { chargeCurrent(1); return it.next(); }
            };
        }
    }
}
