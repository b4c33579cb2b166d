public import Foundation
public import TabulaEnclave
import TabulaWire

/// The engines side by side, as `tabula bench` measures them: what compiling to native code
/// costs (per example, and in cold starts with and without the code cache), and what it gains
/// (warm invocations of echo and of compute-bound kernels under each engine).
public struct EngineComparison: Codable, Sendable {
    /// The compiler the native engine used.
    public var compiler: String
    /// Translation and compilation of each example, in milliseconds (no cache).
    public var compileMs: [String: Double]
    /// Cold starts of the hasher example: a new enclave, the module loaded (compiled, read from
    /// the cache, or not at all for the interpreter), initialised, and its first invocation.
    public var coldNativeUncachedP50Ms: Double
    public var coldNativeCachedP50Ms: Double
    public var coldInterpreterP50Ms: Double
    /// Warm invocations of echo (2 MiB), with rewind, under each engine.
    public var warmEchoNativeP50Us: Double
    public var warmEchoInterpreterP50Us: Double
    /// A runaway loop under a 100 ms timeout in native code: how long its runs took, at most and
    /// at the median (the target: within the timeout + 10%).
    public var runawayTimeoutMs: Double
    public var runawayMedianMs: Double
    public var runawayMaximumMs: Double
    /// The matmul kernel, native, with a fuel limit (fuel counted at every poll) against without.
    public var fuelMeteredP50Us: Double?
    public var fuelUnmeteredP50Us: Double?
    /// Warm invocations of each kernel under each engine (p50, µs), and their geometric means.
    public var kernels: [String: Kernel]
    public var kernelsNativeGeomeanUs: Double?
    public var kernelsInterpreterGeomeanUs: Double?

    public struct Kernel: Codable, Sendable {
        public var nativeP50Us: Double
        public var interpreterP50Us: Double
        public var interpreterOverNative: Double
    }

    /// Runs the measurements.
    ///
    /// - Parameters:
    ///   - examples: the repository's `examples/` directory; examples not found are left out.
    ///   - kernels: a directory of compute-bound command modules (`Benchmarks/kernels`); every
    ///     `.wasm` in it is measured, none when it does not exist.
    public static func run(
        duration: Duration, examples: URL, kernels: URL, progress: @escaping @Sendable (String, Double) -> Void = { _, _ in }
    ) async throws -> EngineComparison {
        let native = Engines.detect()
        guard let compiler = native.compiler else {
            throw EnclaveError(.compilationFailed, "the native engine is unavailable on this machine: \(native.unavailable ?? "")")
        }
        let exampleFiles = ["c/hasher.wasm", "c/transform.wasm", "rust/wordcount.wasm", "echo.wat"].filter {
            FileManager.default.fileExists(atPath: examples.appendingPathComponent($0).path)
        }
        let kernelFiles = ((try? FileManager.default.contentsOfDirectory(atPath: kernels.path)) ?? []).filter { $0.hasSuffix(".wasm") }.sorted()
        let phases = Double(exampleFiles.count + 5 + kernelFiles.count)
        var phase = 0.0
        func step(_ name: String) {
            progress(name, phase / phases)
            phase += 1
        }

        var compileMs: [String: Double] = [:]
        for file in exampleFiles {
            step("compiling \(file) to native code")
            let bytes = Array(try Data(contentsOf: examples.appendingPathComponent(file)))
            let module = try FunctionModule(bytes: bytes, memoryLimit: 256 << 20)
            let clock = ContinuousClock()
            let started = clock.now
            _ = try compiler.translateAndCompile(module)
            compileMs[file] = Double((clock.now - started).nanoseconds) / 1e6
        }

        // Cold starts: a compile takes seconds, so a few of each rather than `duration`'s worth.
        let hasher = exampleFiles.contains("c/hasher.wasm") ? Array(try Data(contentsOf: examples.appendingPathComponent("c/hasher.wasm"))) : Modules.echo()
        let parameters: JSONValue = ["text": "abc"]
        step("cold starts, native, compiled each time")
        let coldUncached = try await Samples.measure(for: .zero, minimum: 3) {
            try await Workload.coldStart(module: hasher, parameters: parameters, engines: native)
        }
        let cacheDirectory = FileManager.default.temporaryDirectory.appendingPathComponent("tabula-bench-cache-\(UUID().uuidString)")
        defer { try? FileManager.default.removeItem(at: cacheDirectory) }
        let cached = Engines.detect(cacheDirectory: cacheDirectory, cacheKey: (0..<32).map { _ in UInt8.random(in: 0...255) })
        try await Workload.coldStart(module: hasher, parameters: parameters, engines: cached)
        step("cold starts, native, from the code cache")
        let coldCached = try await Samples.measure(for: duration, minimum: 5) {
            try await Workload.coldStart(module: hasher, parameters: parameters, engines: cached)
        }
        step("cold starts, interpreter")
        let coldInterpreter = try await Samples.measure(for: duration, minimum: 5) {
            try await Workload.coldStart(module: hasher, parameters: parameters, engines: .interpreterOnly)
        }

        step("warm echo under each engine")
        func warm(_ module: [UInt8], engines: Engines, parameters: JSONValue, warmUp: Int) async throws -> Samples {
            let workload = try await Workload.start(module: module, parameters: parameters, engines: engines)
            do {
                let samples = try await workload.onEnclaveThreads {
                    for _ in 0..<warmUp { try await workload.invokeWarm() }
                    return try await Samples.measure(for: duration, minimum: 5) { try await workload.invokeWarm() }
                }
                try await workload.shutdown()
                return samples
            } catch {
                try? await workload.shutdown()
                throw error
            }
        }
        let echoNative = try await warm(Modules.echo(), engines: native, parameters: ["name": "Ada"], warmUp: 200)
        let echoInterpreter = try await warm(Modules.echo(), engines: .interpreterOnly, parameters: ["name": "Ada"], warmUp: 200)

        step("a runaway loop under a 100 ms timeout, native")
        let runaway = try await Workload.start(
            module: Array(#"(module (func (export "_start") (loop $forever (br $forever))))"#.utf8), parameters: [:], engines: native, timeout: .milliseconds(100))
        var runs: [Int64] = []
        do {
            for _ in 0..<5 {
                let invocation = try await runaway.enclave.invoke(runaway.name, parameters: [:])
                runs.append(invocation.duration.nanoseconds)
            }
            try await runaway.shutdown()
        } catch {
            try? await runaway.shutdown()
            throw error
        }
        let runaways = Samples(runs)

        var fuelMetered: Samples?
        var fuelUnmetered: Samples?
        if kernelFiles.contains("matmul.wasm") {
            let bytes = Array(try Data(contentsOf: kernels.appendingPathComponent("matmul.wasm")))
            for fuel in [UInt64?.none, UInt64(1) << 40] {
                let workload = try await Workload.start(module: bytes, parameters: [:], engines: native, fuel: fuel)
                let samples = try await workload.onEnclaveThreads {
                    try await workload.invokeWarm()
                    return try await Samples.measure(for: duration, minimum: 5) { try await workload.invokeWarm() }
                }
                try await workload.shutdown()
                if fuel == nil { fuelUnmetered = samples } else { fuelMetered = samples }
            }
        }

        var results: [String: Kernel] = [:]
        for file in kernelFiles {
            step("kernel \(file) under each engine")
            let bytes = Array(try Data(contentsOf: kernels.appendingPathComponent(file)))
            let nativeSamples = try await warm(bytes, engines: native, parameters: [:], warmUp: 2)
            let interpreterSamples = try await warm(bytes, engines: .interpreterOnly, parameters: [:], warmUp: 1)
            let name = String(file.dropLast(5))
            results[name] = Kernel(
                nativeP50Us: nativeSamples.p50Microseconds, interpreterP50Us: interpreterSamples.p50Microseconds,
                interpreterOverNative: interpreterSamples.p50Microseconds / max(nativeSamples.p50Microseconds, 0.001))
        }
        func geomean(_ values: [Double]) -> Double? {
            values.isEmpty ? nil : exp(values.map { log(max($0, 0.001)) }.reduce(0, +) / Double(values.count))
        }
        return EngineComparison(
            compiler: compiler.toolchain.version, compileMs: compileMs,
            coldNativeUncachedP50Ms: coldUncached.p50Microseconds / 1000, coldNativeCachedP50Ms: coldCached.p50Microseconds / 1000,
            coldInterpreterP50Ms: coldInterpreter.p50Microseconds / 1000,
            warmEchoNativeP50Us: echoNative.p50Microseconds, warmEchoInterpreterP50Us: echoInterpreter.p50Microseconds,
            runawayTimeoutMs: 100, runawayMedianMs: runaways.p50Microseconds / 1000, runawayMaximumMs: Double(runaways.quantile(1)) / 1e6,
            fuelMeteredP50Us: fuelMetered?.p50Microseconds, fuelUnmeteredP50Us: fuelUnmetered?.p50Microseconds,
            kernels: results, kernelsNativeGeomeanUs: geomean(results.values.map(\.nativeP50Us)),
            kernelsInterpreterGeomeanUs: geomean(results.values.map(\.interpreterP50Us)))
    }

    /// The figures as rows of a table: what, and the value.
    public var rows: [(String, String)] {
        func ms(_ value: Double) -> String { String(format: "%.1f ms", value) }
        func us(_ value: Double) -> String { value >= 1000 ? String(format: "%.2f ms", value / 1000) : String(format: "%.1f µs", value) }
        var rows: [(String, String)] = [("native compiler", compiler)]
        rows += compileMs.keys.sorted().map { ("compile \($0) to native code", ms(compileMs[$0]!)) }
        rows += [
            ("cold start, native, compiled (hasher)", ms(coldNativeUncachedP50Ms)),
            ("cold start, native, from the code cache (hasher)", ms(coldNativeCachedP50Ms)),
            ("cold start, interpreter (hasher)", ms(coldInterpreterP50Ms)),
            ("warm echo, native", us(warmEchoNativeP50Us)),
            ("warm echo, interpreter", us(warmEchoInterpreterP50Us)),
            ("runaway loop, native, 100 ms timeout: median / longest run", "\(ms(runawayMedianMs)) / \(ms(runawayMaximumMs))"),
        ]
        if let metered = fuelMeteredP50Us, let unmetered = fuelUnmeteredP50Us {
            rows.append(("matmul, native: with a fuel limit / without", "\(us(metered)) / \(us(unmetered))"))
        }
        for name in kernels.keys.sorted() {
            let kernel = kernels[name]!
            rows.append(("kernel \(name): native / interpreter", "\(us(kernel.nativeP50Us)) / \(us(kernel.interpreterP50Us)) (×\(String(format: "%.1f", kernel.interpreterOverNative)))"))
        }
        if let native = kernelsNativeGeomeanUs, let interpreter = kernelsInterpreterGeomeanUs {
            rows.append(("kernels, geometric mean: native / interpreter", "\(us(native)) / \(us(interpreter))"))
        }
        return rows
    }
}
