package dev.kvdecode.server;

import io.micrometer.core.instrument.Counter;
import io.micrometer.core.instrument.Gauge;
import io.micrometer.core.instrument.Timer;
import io.micrometer.prometheusmetrics.PrometheusConfig;
import io.micrometer.prometheusmetrics.PrometheusMeterRegistry;

import java.time.Duration;
import java.util.concurrent.TimeUnit;

/**
 * The server's Prometheus metrics (GET /metrics): requests by HTTP status, prompt and generated
 * tokens, queue depth and slots in use, and histograms of time to first token, time per output
 * token and request latency (from the scheduler's timings).
 */
final class ServerMetrics implements Scheduler.Observer {
    private final PrometheusMeterRegistry registry = new PrometheusMeterRegistry(PrometheusConfig.DEFAULT);
    private final Counter promptTokens, generatedTokens;
    private final Timer ttft, tpot, latency;

    ServerMetrics() {
        promptTokens = Counter.builder("kvdecode.prompt.tokens").description("prompt tokens of admitted requests").register(registry);
        generatedTokens = Counter.builder("kvdecode.generated.tokens").description("tokens generated").register(registry);
        ttft = histogram("kvdecode.time.to.first.token", "submit to first sampled token");
        tpot = histogram("kvdecode.time.per.output.token", "mean time between a request's tokens after the first");
        latency = histogram("kvdecode.request.latency", "submit to last token");
    }

    private Timer histogram(String name, String description) {
        return Timer.builder(name).description(description).publishPercentileHistogram()
                .minimumExpectedValue(Duration.ofMillis(1)).maximumExpectedValue(Duration.ofMinutes(5)).register(registry);
    }

    /** Gauges read live from the scheduler. */
    void watch(Scheduler scheduler) {
        Gauge.builder("kvdecode.queue.depth", scheduler, Scheduler::queueDepth).description("requests waiting for a slot").register(registry);
        Gauge.builder("kvdecode.slots.in.use", scheduler, Scheduler::slotsInUse).description("slots running a sequence").register(registry);
        Gauge.builder("kvdecode.slots", scheduler, Scheduler::slots).description("slots of the batch (--max-batch)").register(registry);
    }

    /** One HTTP answer of an API endpoint. */
    void request(String endpoint, int status) {
        registry.counter("kvdecode.requests", "endpoint", endpoint, "status", Integer.toString(status)).increment();
    }

    @Override
    public void finished(Scheduler.Finish finish, int prompt, int completion, long firstTokenNanos, long totalNanos) {
        registry.counter("kvdecode.sequences.finished", "reason", finish.name().toLowerCase(java.util.Locale.ROOT)).increment();
        promptTokens.increment(prompt);
        generatedTokens.increment(completion);
        if (firstTokenNanos > 0) ttft.record(firstTokenNanos, TimeUnit.NANOSECONDS);
        if (completion > 1) tpot.record((totalNanos - firstTokenNanos) / (completion - 1), TimeUnit.NANOSECONDS);
        latency.record(totalNanos, TimeUnit.NANOSECONDS);
    }

    /** The Prometheus text exposition. */
    String scrape() { return registry.scrape(); }
}
