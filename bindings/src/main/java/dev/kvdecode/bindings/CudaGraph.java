package dev.kvdecode.bindings;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;

/**
 * A captured CUDA graph and its executable instance (cuStreamEndCapture +
 * cuGraphInstantiateWithFlags): {@link #launch} replays every recorded launch, copy and memset
 * with the argument values they had at capture time.
 */
public final class CudaGraph implements AutoCloseable {
    private final CudaDriver driver;
    private final MemorySegment graph;
    private final MemorySegment exec;
    private boolean closed;

    private CudaGraph(CudaDriver driver, MemorySegment graph, MemorySegment exec) {
        this.driver = driver;
        this.graph = graph;
        this.exec = exec;
    }

    /** Instantiates {@code graph} (taking ownership of it). */
    static CudaGraph instantiate(CudaDriver driver, MemorySegment graph) {
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment out = arena.allocate(ValueLayout.ADDRESS);
            try {
                driver.cuGraphInstantiateWithFlags(out, graph, 0L);
            } catch (RuntimeException e) {
                driver.cuGraphDestroy(graph);
                throw e;
            }
            return new CudaGraph(driver, graph, out.get(ValueLayout.ADDRESS, 0));
        }
    }

    /** Queues one replay of the graph on {@code stream}. */
    public void launch(CudaStream stream) {
        if (closed) throw new IllegalStateException("graph used after close");
        driver.cuGraphLaunch(exec, stream.handle());
    }

    @Override
    public void close() {
        if (closed) return;
        closed = true;
        try {
            driver.cuGraphExecDestroy(exec);
        } finally {
            driver.cuGraphDestroy(graph);
        }
    }
}
