import ArgumentParser
import Foundation
import TabulaBench
import TabulaEnclave
import TabulaWire

/// `tabula bench`: the reuse comparison, measured on this machine.
struct Bench: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Measure cold starts, fresh sandboxes and warm reuse side by side on this machine.",
        discussion: """
            Runs, in this process and one after the other: cold starts (a new enclave with its keys and \
            evidence, the module compiled, instantiated and initialised), a fresh sandbox per invocation \
            ("vanilla"), warm invocations with rewind (in this process, and in a worker process through \
            shared memory and through its socket), the rewind alone after 4 pages written in 64 MiB \
            against a full 64 MiB copy, the sealing cryptography, confidential invocations over \
            loopback HTTP from concurrent clients, and resident memory over many warm invocations. \
            Prints p50/p99 and the ratios, and which targets this run met. The enclaves are \
            simulated (no TEE hardware). See docs/performance.md.
            """)

    @Option(help: "Seconds to spend on each measurement.")
    var duration: Double = 2

    @Option(help: "Concurrent HTTP clients.")
    var clients = 32

    @Option(help: "Warm invocations over which resident memory is watched.")
    var invocations = 100_000

    @Flag(help: "Print the results as one JSON object.")
    var json = false

    @Flag(help: "Run only the HTTP load (for profiling the server).")
    var httpOnly = false

    @Flag(help: "Run only the engine comparison: compile times, cold starts with and without the code cache, warm echo and the kernels under each engine.")
    var enginesOnly = false

    @Option(help: "The examples directory, for the engine comparison's compile times and cold starts.")
    var examples = "examples"

    @Option(help: "A directory of compute-bound command modules timed under each engine (every .wasm in it).")
    var kernels = "Benchmarks/kernels"

    func validate() throws {
        guard duration > 0 else { throw ValidationError("--duration must be a positive number of seconds") }
        guard clients > 0 else { throw ValidationError("--clients must be positive") }
        guard invocations > 0 else { throw ValidationError("--invocations must be positive") }
    }

    func run() async throws {
        let bar = ProgressBar()
        if httpOnly {
            let result = try await LoadTest.run(clients: clients, duration: .milliseconds(Int(duration * 1000))) { bar.show("confidential invocations over loopback HTTP", $0) }
            bar.finish()
            let figures: JSONValue = [
                "httpThroughputRps": .number((result.throughput * 100).rounded() / 100),
                "httpP50Ms": .number((result.latency.p50Microseconds / 10).rounded() / 100),
                "httpP99Ms": .number((result.latency.p99Microseconds / 10).rounded() / 100),
                "httpClients": .integer(Int64(clients)),
                "httpCpuPerInvocationUs": .number(result.cpuMicrosecondsPerRequest.rounded()),
            ]
            print(json ? figures.encodedString : String(
                format: "%d clients: %.0f confidential invocations/s, p50 %.2f ms, p99 %.2f ms, %.0f µs of CPU per invocation",
                clients, result.throughput, result.latency.p50Microseconds / 1000, result.latency.p99Microseconds / 1000, result.cpuMicrosecondsPerRequest))
            return
        }
        if enginesOnly {
            let engines = try await engineComparison(bar)
            bar.finish()
            print(json ? String(decoding: JSONValue.encode(engines), as: UTF8.self) : Self.table(engines.rows))
            return
        }
        let comparison = try await Comparison.run(
            duration: .milliseconds(Int(duration * 1000)), httpClients: clients, memoryInvocations: invocations,
            workerExecutable: Isolation.currentExecutable,
            progress: { phase, fraction in bar.show(phase, fraction) })
        let engines = try await engineComparison(bar)
        bar.finish()
        if json {
            var object = try JSONValue(parsing: String(decoding: JSONValue.encode(comparison), as: UTF8.self))
            if case .object(var members) = object {
                members["engines"] = try JSONValue(parsing: String(decoding: JSONValue.encode(engines), as: UTF8.self))
                object = .object(members)
            }
            print(object.encodedString)
            return
        }
        print(Self.table(comparison))
        print()
        print(Self.table(engines.rows))
    }

    private func engineComparison(_ bar: ProgressBar) async throws -> EngineComparison {
        try await EngineComparison.run(
            duration: .milliseconds(Int(duration * 1000)), examples: URL(fileURLWithPath: examples), kernels: URL(fileURLWithPath: kernels),
            progress: { phase, fraction in bar.show(phase, fraction) })
    }

    static func table(_ rows: [(String, String)]) -> String {
        let width = rows.map(\.0.count).max() ?? 0
        return rows.map { $0.0.padding(toLength: width + 2, withPad: " ", startingAt: 0) + $0.1 }.joined(separator: "\n")
    }

    static func table(_ c: Comparison) -> String {
        func us(_ value: Double) -> String { value >= 1000 ? String(format: "%.2f ms", value / 1000) : String(format: "%.1f µs", value) }
        let rows: [(String, String, String)] = [
            ("cold start (enclave, keys, evidence, compile, init, 1st call)", us(c.coldP50Us), us(c.coldP99Us)),
            ("vanilla: fresh sandbox per invocation (echo, 2 MiB)", us(c.vanillaP50Us), us(c.vanillaP99Us)),
            ("warm: reused sandbox with rewind (echo, 2 MiB)", us(c.warmP50Us), us(c.warmP99Us)),
            ("vanilla (echo, 16 MiB)", us(c.vanilla16MiBP50Us), ""),
            ("warm (echo, 16 MiB)", us(c.warm16MiBP50Us), ""),
            ("warm, in a worker process, shared memory (echo, 2 MiB)", c.warmWorkersP50Us.map(us) ?? "-", c.warmWorkersP99Us.map(us) ?? "-"),
            ("warm, in a worker process, socket only (echo, 2 MiB)", c.warmWorkersSocketP50Us.map(us) ?? "-", c.warmWorkersSocketP99Us.map(us) ?? "-"),
            ("warm confidential, enclave side (echo)", us(c.warmConfidentialP50Us), us(c.warmConfidentialP99Us)),
            ("warm confidential, in a worker process, shared memory (echo)", c.warmConfidentialWorkersP50Us.map(us) ?? "-", c.warmConfidentialWorkersP99Us.map(us) ?? "-"),
            ("  of which X25519 (decapsulation) alone", us(c.keyAgreementP50Us), ""),
            ("  less its X25519 and the warm run: what confidentiality adds", us(c.confidentialOverheadP50Us), ""),
            ("warm confidential with its receipt signed on its own (echo)", c.warmConfidentialSignedP50Us.map(us) ?? "-", ""),
            ("  ECDSA P-256 signature alone", us(c.receiptSignatureP50Us), ""),
            ("seal and open, client and gateway", us(c.sealOpenP50Us), ""),
            ("rewind after \(c.rewindPages) pages written in 64 MiB", us(c.rewindP50Us), ""),
            ("copy of all 64 MiB", us(c.fullCopyP50Us), ""),
            ("HTTP, \(c.httpClients) clients, confidential echo: \(Int(c.httpThroughputRps)) invocations/s", String(format: "%.2f ms", c.httpP50Ms), String(format: "%.2f ms", c.httpP99Ms)),
            ("  process CPU per HTTP invocation (server and clients)", us(c.httpCpuPerInvocationUs), ""),
        ]
        var lines = ["\("measurement".padding(toLength: 72, withPad: " ", startingAt: 0)) \("p50".padding(toLength: 12, withPad: " ", startingAt: 0)) p99"]
        for (name, p50, p99) in rows {
            lines.append("\(name.padding(toLength: 72, withPad: " ", startingAt: 0)) \(p50.padding(toLength: 12, withPad: " ", startingAt: 0)) \(p99)")
        }
        lines.append("")
        lines.append(String(format: "cold / warm: %.0fx   vanilla / warm (16 MiB): %.1fx   64 MiB copy / rewind: %.0fx", c.coldOverWarm, c.vanillaOverWarm16MiB, c.fullCopyOverRewind))
        lines.append("resident memory over \(c.memoryInvocations) warm invocations: \(c.residentGrowthKiB >= 0 ? "+" : "")\(c.residentGrowthKiB) KiB")
        lines.append("")
        for target in c.targets { lines.append("\(target.met ? "met   " : "MISSED") \(target.name)") }
        lines.append("(simulated TEE: no TEE hardware was used)")
        return lines.joined(separator: "\n")
    }
}

/// A one-line progress bar on stderr, redrawn in place when stderr is a terminal.
final class ProgressBar: @unchecked Sendable {
    private let lock = NSLock()
    private var lastPhase = ""
    private let interactive = isatty(STDERR_FILENO) != 0

    func show(_ phase: String, _ fraction: Double) {
        lock.lock()
        defer { lock.unlock() }
        let width = 30
        let filled = Int((min(max(fraction, 0), 1) * Double(width)).rounded())
        let bar = String(repeating: "=", count: filled) + String(repeating: " ", count: width - filled)
        let line = "[\(bar)] \(String(format: "%3d", Int(fraction * 100)))% \(phase)"
        if interactive {
            FileHandle.standardError.write(Data(("\r\u{1B}[K" + line).utf8))
        } else if phase != lastPhase {
            FileHandle.standardError.write(Data((line + "\n").utf8))
        }
        lastPhase = phase
    }

    func finish() {
        if interactive { FileHandle.standardError.write(Data("\n".utf8)) }
    }
}
