import Metrics
import TabulaEnclave
import TabulaWire

/// The platform's metrics, created from the factory the server exports (Prometheus).
struct PlatformMetrics: Sendable {
    private let factory: any MetricsFactory
    let coldStarts: Counter
    let warmStarts: Counter
    let duration: Metrics.Timer
    let rewind: Metrics.Timer
    let queueDepth: Gauge
    let warmActions: Gauge

    init(factory: any MetricsFactory) {
        self.factory = factory
        coldStarts = Counter(label: "tabula_cold_starts_total", dimensions: [], factory: factory)
        warmStarts = Counter(label: "tabula_warm_starts_total", dimensions: [], factory: factory)
        duration = Metrics.Timer(label: "tabula_invocation_duration_seconds", dimensions: [], preferredDisplayUnit: .seconds, factory: factory)
        rewind = Metrics.Timer(label: "tabula_rewind_duration_seconds", dimensions: [], preferredDisplayUnit: .seconds, factory: factory)
        queueDepth = Gauge(label: "tabula_queue_depth", dimensions: [], factory: factory)
        warmActions = Gauge(label: "tabula_warm_actions", dimensions: [], factory: factory)
    }

    func invocation(status: ActivationResponse.Status) {
        Counter(label: "tabula_invocations_total", dimensions: [("status", status.rawValue)], factory: factory).increment()
    }
}
