import Benchmark
import Foundation
import TabulaBench
import TabulaWire

// Reuse against its alternatives, per function and per memory size: a cold start (a new enclave
// with keys and evidence, compile, instantiate, initialise), "vanilla" (a fresh sandbox from the
// compiled module per invocation), warm reuse with rewind, the rewind against the pages written,
// and the sealing cryptography. Thresholds: see docs/performance.md.

/// The C examples, next to this package.
let examples = URL(fileURLWithPath: #filePath)
    .deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
    .appendingPathComponent("examples")

func example(_ path: String) -> [UInt8] {
    (try? Array(Data(contentsOf: examples.appendingPathComponent(path)))) ?? []
}

/// The functions measured, with the parameters each gets.
let functions: [(name: String, module: [UInt8], parameters: JSONValue)] = [
    ("echo (WAT)", Modules.echo(), ["name": "Ada"]),
    ("hasher (C, command)", example("c/hasher.wasm"), ["text": "abc"]),
    ("transform (C, reactor)", example("c/transform.wasm"), [
        "records": [["name": "ada", "age": 36], ["name": "alan", "age": 41]], "uppercase": ["name"], "sortBy": "age",
    ]),
]

func nanoseconds(_ duration: Duration) -> Int {
    let (seconds, attoseconds) = duration.components
    return Int(seconds * 1_000_000_000 + attoseconds / 1_000_000_000)
}

/// The workload a benchmark's setup starts and its closure drives.
final class Slot: @unchecked Sendable {
    var workload: Workload?

    func start(_ module: [UInt8], parameters: JSONValue) async throws {
        workload = try await Workload.start(module: module, parameters: parameters)
        // Warm: the first invocations fill caches and the sandbox's pages.
        for _ in 0..<20 { try await workload!.invokeWarm() }
    }

    /// Runs `body` on the enclave's threads, as the platform runs invocations.
    func onEnclaveThreads(_ body: (Workload) async throws -> Void) async throws {
        let workload = workload!
        try await workload.onEnclaveThreads { try await body(workload) }
    }

    func stop() async throws {
        try await workload?.shutdown()
        workload = nil
    }
}

let benchmarks: @Sendable () -> Void = {
    // A run that is this much slower than the baseline it is compared with fails
    // (`swift package benchmark baseline check`).
    let regression = BenchmarkThresholds(relative: [.p50: 25.0, .p90: 35.0])
    Benchmark.defaultConfiguration = .init(
        metrics: [.wallClock, .mallocCountTotal, .peakMemoryResident],
        timeUnits: .microseconds,
        warmupIterations: 10,
        maxDuration: .seconds(3),
        maxIterations: 100_000,
        thresholds: [.wallClock: regression, .mallocCountTotal: BenchmarkThresholds(relative: [.p50: 10.0])]
    )

    let enclaveSide = BenchmarkMetric.custom("enclave (ns)", polarity: .prefersSmaller, useScalingFactor: false)
    let rewindTime = BenchmarkMetric.custom("rewind (ns)", polarity: .prefersSmaller, useScalingFactor: false)
    func reporting(_ metric: BenchmarkMetric) -> Benchmark.Configuration {
        .init(
            metrics: [.wallClock, .mallocCountTotal, metric], timeUnits: .microseconds, warmupIterations: 10,
            maxDuration: .seconds(3), maxIterations: 100_000,
            thresholds: [.wallClock: regression, metric: regression])
    }

    Benchmark("Cold start: echo", configuration: .init(warmupIterations: 1, maxDuration: .seconds(5), maxIterations: 200)) { benchmark in
        for _ in benchmark.scaledIterations {
            try await Workload.coldStart(module: Modules.echo())
        }
    }

    for function in functions {
        let slot = Slot()
        Benchmark("Warm: \(function.name)", closure: { benchmark in
            try await slot.onEnclaveThreads { for _ in benchmark.scaledIterations { blackHole(try await $0.invokeWarm()) } }
        }, setup: { try await slot.start(function.module, parameters: function.parameters) }, teardown: { try await slot.stop() })

        let vanilla = Slot()
        Benchmark("Vanilla: \(function.name)", closure: { benchmark in
            try await vanilla.onEnclaveThreads { for _ in benchmark.scaledIterations { try await $0.invokeFresh() } }
        }, setup: { try await vanilla.start(function.module, parameters: function.parameters) }, teardown: { try await vanilla.stop() })

        let confidential = Slot()
        Benchmark("Warm confidential, enclave side: \(function.name)", configuration: reporting(enclaveSide), closure: { benchmark in
            try await confidential.onEnclaveThreads { workload in
                for _ in benchmark.scaledIterations {
                    // The enclave's part is reported on its own; the client's sealing and opening are not in it.
                    let elapsed = try await workload.invokeConfidential()
                    benchmark.measurement(enclaveSide, nanoseconds(elapsed))
                }
            }
        }, setup: { try await confidential.start(function.module, parameters: function.parameters) }, teardown: { try await confidential.stop() })
    }

    for memory in [2, 4, 16, 64] {
        let warm = Slot()
        Benchmark("Warm: echo, \(memory) MiB", closure: { benchmark in
            try await warm.onEnclaveThreads { for _ in benchmark.scaledIterations { blackHole(try await $0.invokeWarm()) } }
        }, setup: { try await warm.start(Modules.echo(memoryMiB: memory), parameters: ["name": "Ada"]) }, teardown: { try await warm.stop() })

        let vanilla = Slot()
        Benchmark("Vanilla: echo, \(memory) MiB", closure: { benchmark in
            try await vanilla.onEnclaveThreads { for _ in benchmark.scaledIterations { try await $0.invokeFresh() } }
        }, setup: { try await vanilla.start(Modules.echo(memoryMiB: memory), parameters: ["name": "Ada"]) }, teardown: { try await vanilla.stop() })
    }

    for (memory, pages) in [(1, 4), (16, 4), (64, 4), (64, 64), (64, 1024)] {
        let writer = Slot()
        Benchmark("Rewind: \(pages) pages written of \(memory) MiB", configuration: reporting(rewindTime), closure: { benchmark in
            try await writer.onEnclaveThreads { workload in
                for _ in benchmark.scaledIterations {
                    let invocation = try await workload.invokeWarm()
                    benchmark.measurement(rewindTime, nanoseconds(invocation.rewind.duration))
                }
            }
        }, setup: { try await writer.start(Modules.pageWriter(memoryMiB: memory, pages: pages), parameters: [:]) }, teardown: { try await writer.stop() })
    }

    let crypto = Slot()
    Benchmark("Seal and open (client and gateway)", closure: { benchmark in
        for _ in benchmark.scaledIterations { try crypto.workload!.sealAndOpen() }
    }, setup: { try await crypto.start(Modules.echo(), parameters: ["name": "Ada"]) }, teardown: { try await crypto.stop() })
}
