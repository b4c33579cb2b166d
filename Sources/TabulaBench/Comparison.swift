import Foundation
import TabulaEnclave

/// The side-by-side comparison `tabula bench` runs: a cold start, a fresh sandbox per invocation
/// ("vanilla") and a warm sandbox with rewind, plus the rewind alone, the cryptography, HTTP load
/// and memory over many invocations. Every figure comes from this one run on this machine.
public struct Comparison: Codable, Sendable {
    /// Always `simulated`: the benchmark's enclaves have no TEE hardware.
    public var tee = "simulated"
    public var coldP50Us: Double
    public var coldP99Us: Double
    public var vanillaP50Us: Double
    public var vanillaP99Us: Double
    public var warmP50Us: Double
    public var warmP99Us: Double
    /// The same for echo with a 16 MiB memory.
    public var vanilla16MiBP50Us: Double
    public var warm16MiBP50Us: Double
    /// The enclave's part of a warm confidential invocation of echo: open, run, rewind, make the
    /// receipt and its log commitment, seal (the receipt unsigned: tree heads sign it in batches).
    public var warmConfidentialP50Us: Double
    public var warmConfidentialP99Us: Double
    /// The same with the receipt signed on its own, as a client may ask (and as every receipt was
    /// before receipts went into the log): the cost of a per-invocation signature, in this run.
    public var warmConfidentialSignedP50Us: Double?
    /// The same warm and warm confidential invocations with the function in a worker process
    /// (``Isolation/workers(executable:memoryOverhead:perNamespace:)``), through the shared-memory
    /// channel, and the warm one through the socket alone; `nil` when the run had no `tabula`
    /// executable to start workers from.
    public var warmWorkersP50Us: Double?
    public var warmWorkersP99Us: Double?
    public var warmWorkersSocketP50Us: Double?
    public var warmWorkersSocketP99Us: Double?
    public var warmConfidentialWorkersP50Us: Double?
    public var warmConfidentialWorkersP99Us: Double?
    /// Seal and open of a request and its answer, client and gateway sides, without a function.
    public var sealOpenP50Us: Double
    /// The public-key operations of a confidential invocation, timed alone: the X25519 of the
    /// request's decapsulation (in every one; the floor of `warmConfidentialP50Us` on this
    /// machine) and the ECDSA P-256 signature of a receipt (only in those that ask for it).
    public var keyAgreementP50Us: Double
    public var receiptSignatureP50Us: Double
    /// The rewind after a call that writes 4 pages of a 64 MiB memory, and how many pages it restored.
    public var rewindP50Us: Double
    public var rewindPages: Int
    /// Copying the whole 64 MiB memory, what a rewind without page tracking would cost at best.
    public var fullCopyP50Us: Double
    public var httpThroughputRps: Double
    public var httpP50Ms: Double
    public var httpP99Ms: Double
    public var httpClients: Int
    /// Process CPU (server and clients) per HTTP invocation: steadier than the throughput on a
    /// shared host.
    public var httpCpuPerInvocationUs: Double
    /// Resident memory growth over `memoryInvocations` warm invocations, after a warm-up.
    public var residentGrowthKiB: Int
    public var memoryInvocations: Int

    public var coldOverWarm: Double { coldP50Us / max(warmP50Us, 0.001) }
    public var vanillaOverWarm16MiB: Double { vanilla16MiBP50Us / max(warm16MiBP50Us, 0.001) }
    public var fullCopyOverRewind: Double { fullCopyP50Us / max(rewindP50Us, 0.001) }
    public var confidentialFloorUs: Double { keyAgreementP50Us }
    /// What the enclave adds to a warm invocation to make it confidential, besides its X25519:
    /// opening and parsing the request, the receipt and its commitment, sealing the answer.
    public var confidentialOverheadP50Us: Double { warmConfidentialP50Us - keyAgreementP50Us - warmP50Us }
    /// What the process boundary adds to a warm invocation at p50: workers (shared memory) less
    /// in process.
    public var workerBoundaryP50Us: Double? { warmWorkersP50Us.map { $0 - warmP50Us } }

    /// The targets of the performance issue, each with whether this run met it.
    public var targets: [(name: String, met: Bool)] {
        [
            ("cold / warm ≥ 100", coldOverWarm >= 100),
            ("vanilla / warm ≥ 3 (16 MiB)", vanillaOverWarm16MiB >= 3),
            ("rewind of 4 pages ≤ 1/20 of a 64 MiB copy", fullCopyOverRewind >= 20),
            (String(format: "warm confidential, less its X25519 (%.0f µs) and the warm run, ≤ 20 µs p50", keyAgreementP50Us), confidentialOverheadP50Us <= 20),
            ("HTTP ≥ 5000 confidential invocations/s", httpThroughputRps >= 5000),
            ("HTTP p99 ≤ 20 ms", httpP99Ms <= 20),
            ("resident memory flat (≤ 1 MiB growth)", residentGrowthKiB <= 1024),
        ] + (workerBoundaryP50Us.map { [("worker boundary ≤ 10 µs p50 per warm invocation (shared memory)", $0 <= 10)] } ?? [])
    }

    enum CodingKeys: String, CodingKey {
        case tee, coldP50Us, coldP99Us, vanillaP50Us, vanillaP99Us, warmP50Us, warmP99Us, vanilla16MiBP50Us, warm16MiBP50Us
        case warmConfidentialP50Us, warmConfidentialP99Us, sealOpenP50Us, keyAgreementP50Us, receiptSignatureP50Us
        case warmWorkersP50Us, warmWorkersP99Us, warmWorkersSocketP50Us, warmWorkersSocketP99Us
        case warmConfidentialWorkersP50Us, warmConfidentialWorkersP99Us, workerBoundaryP50Us
        case rewindP50Us, rewindPages, fullCopyP50Us
        case httpThroughputRps, httpP50Ms, httpP99Ms, httpClients, httpCpuPerInvocationUs, residentGrowthKiB, memoryInvocations
        case coldOverWarm, vanillaOverWarm16MiB, fullCopyOverRewind, confidentialFloorUs, confidentialOverheadP50Us, warmConfidentialSignedP50Us
    }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: CodingKeys.self)
        try container.encode(tee, forKey: .tee)
        let figures: [(CodingKeys, Double)] = [
            (.coldP50Us, coldP50Us), (.coldP99Us, coldP99Us), (.vanillaP50Us, vanillaP50Us), (.vanillaP99Us, vanillaP99Us),
            (.warmP50Us, warmP50Us), (.warmP99Us, warmP99Us), (.vanilla16MiBP50Us, vanilla16MiBP50Us), (.warm16MiBP50Us, warm16MiBP50Us),
            (.warmConfidentialP50Us, warmConfidentialP50Us), (.warmConfidentialP99Us, warmConfidentialP99Us), (.sealOpenP50Us, sealOpenP50Us),
            (.keyAgreementP50Us, keyAgreementP50Us), (.receiptSignatureP50Us, receiptSignatureP50Us), (.rewindP50Us, rewindP50Us), (.fullCopyP50Us, fullCopyP50Us), (.httpThroughputRps, httpThroughputRps),
            (.httpP50Ms, httpP50Ms), (.httpP99Ms, httpP99Ms), (.coldOverWarm, coldOverWarm),
            (.vanillaOverWarm16MiB, vanillaOverWarm16MiB), (.fullCopyOverRewind, fullCopyOverRewind),
            (.httpCpuPerInvocationUs, httpCpuPerInvocationUs), (.confidentialFloorUs, confidentialFloorUs),
            (.confidentialOverheadP50Us, confidentialOverheadP50Us),
        ]
        for (key, value) in figures { try container.encode((value * 100).rounded() / 100, forKey: key) }
        let workerFigures: [(CodingKeys, Double?)] = [
            (.warmWorkersP50Us, warmWorkersP50Us), (.warmWorkersP99Us, warmWorkersP99Us),
            (.warmWorkersSocketP50Us, warmWorkersSocketP50Us), (.warmWorkersSocketP99Us, warmWorkersSocketP99Us),
            (.warmConfidentialWorkersP50Us, warmConfidentialWorkersP50Us), (.warmConfidentialWorkersP99Us, warmConfidentialWorkersP99Us),
            (.workerBoundaryP50Us, workerBoundaryP50Us), (.warmConfidentialSignedP50Us, warmConfidentialSignedP50Us),
        ]
        for (key, value) in workerFigures {
            if let value { try container.encode((value * 100).rounded() / 100, forKey: key) }
        }
        try container.encode(rewindPages, forKey: .rewindPages)
        try container.encode(httpClients, forKey: .httpClients)
        try container.encode(residentGrowthKiB, forKey: .residentGrowthKiB)
        try container.encode(memoryInvocations, forKey: .memoryInvocations)
    }

    public init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        func value(_ key: CodingKeys) throws -> Double { try container.decode(Double.self, forKey: key) }
        coldP50Us = try value(.coldP50Us); coldP99Us = try value(.coldP99Us)
        vanillaP50Us = try value(.vanillaP50Us); vanillaP99Us = try value(.vanillaP99Us)
        warmP50Us = try value(.warmP50Us); warmP99Us = try value(.warmP99Us)
        vanilla16MiBP50Us = try value(.vanilla16MiBP50Us); warm16MiBP50Us = try value(.warm16MiBP50Us)
        warmConfidentialP50Us = try value(.warmConfidentialP50Us); warmConfidentialP99Us = try value(.warmConfidentialP99Us)
        sealOpenP50Us = try value(.sealOpenP50Us); rewindP50Us = try value(.rewindP50Us)
        func optional(_ key: CodingKeys) throws -> Double? { try container.decodeIfPresent(Double.self, forKey: key) }
        warmWorkersP50Us = try optional(.warmWorkersP50Us); warmWorkersP99Us = try optional(.warmWorkersP99Us)
        warmWorkersSocketP50Us = try optional(.warmWorkersSocketP50Us); warmWorkersSocketP99Us = try optional(.warmWorkersSocketP99Us)
        warmConfidentialWorkersP50Us = try optional(.warmConfidentialWorkersP50Us); warmConfidentialWorkersP99Us = try optional(.warmConfidentialWorkersP99Us)
        warmConfidentialSignedP50Us = try optional(.warmConfidentialSignedP50Us)
        keyAgreementP50Us = try value(.keyAgreementP50Us); receiptSignatureP50Us = try value(.receiptSignatureP50Us)
        rewindPages = try container.decode(Int.self, forKey: .rewindPages)
        fullCopyP50Us = try value(.fullCopyP50Us); httpThroughputRps = try value(.httpThroughputRps)
        httpP50Ms = try value(.httpP50Ms); httpP99Ms = try value(.httpP99Ms)
        httpClients = try container.decode(Int.self, forKey: .httpClients)
        httpCpuPerInvocationUs = try value(.httpCpuPerInvocationUs)
        residentGrowthKiB = try container.decode(Int.self, forKey: .residentGrowthKiB)
        memoryInvocations = try container.decode(Int.self, forKey: .memoryInvocations)
    }

    init(
        cold: Samples, vanilla: Samples, warm: Samples, vanilla16: Samples, warm16: Samples, confidential: Samples, confidentialSigned: Samples,
        sealOpen: Samples, keyAgreement: Samples, receiptSignature: Samples, rewind: Samples, rewindPages: Int, fullCopy: Samples, http: LoadTest.Result, httpClients: Int,
        residentGrowthKiB: Int, memoryInvocations: Int, workers: (warm: Samples, socket: Samples, confidential: Samples)?
    ) {
        warmWorkersP50Us = workers?.warm.p50Microseconds; warmWorkersP99Us = workers?.warm.p99Microseconds
        warmWorkersSocketP50Us = workers?.socket.p50Microseconds; warmWorkersSocketP99Us = workers?.socket.p99Microseconds
        warmConfidentialWorkersP50Us = workers?.confidential.p50Microseconds; warmConfidentialWorkersP99Us = workers?.confidential.p99Microseconds
        coldP50Us = cold.p50Microseconds; coldP99Us = cold.p99Microseconds
        vanillaP50Us = vanilla.p50Microseconds; vanillaP99Us = vanilla.p99Microseconds
        warmP50Us = warm.p50Microseconds; warmP99Us = warm.p99Microseconds
        vanilla16MiBP50Us = vanilla16.p50Microseconds; warm16MiBP50Us = warm16.p50Microseconds
        warmConfidentialP50Us = confidential.p50Microseconds; warmConfidentialP99Us = confidential.p99Microseconds
        warmConfidentialSignedP50Us = confidentialSigned.p50Microseconds
        sealOpenP50Us = sealOpen.p50Microseconds
        keyAgreementP50Us = keyAgreement.p50Microseconds
        receiptSignatureP50Us = receiptSignature.p50Microseconds
        rewindP50Us = rewind.p50Microseconds
        self.rewindPages = rewindPages
        fullCopyP50Us = fullCopy.p50Microseconds
        httpThroughputRps = http.throughput
        httpP50Ms = http.latency.p50Microseconds / 1000
        httpP99Ms = http.latency.p99Microseconds / 1000
        self.httpClients = httpClients
        httpCpuPerInvocationUs = http.cpuMicrosecondsPerRequest
        self.residentGrowthKiB = residentGrowthKiB
        self.memoryInvocations = memoryInvocations
    }
}

extension Comparison {
    /// Runs every measurement for `duration` each.
    ///
    /// - Parameters:
    ///   - memoryInvocations: warm invocations over which resident memory is watched.
    ///   - workerExecutable: the `tabula` binary, to measure the warm invocations again with the
    ///     function in a worker process; `nil` to leave them out.
    ///   - progress: the phase and the fraction of the whole run done, for a progress bar.
    public static func run(
        duration: Duration, httpClients: Int = 32, memoryInvocations: Int = 100_000, workerExecutable: String? = nil,
        progress: @escaping @Sendable (String, Double) -> Void = { _, _ in }
    ) async throws -> Comparison {
        let phases = 11.0
        func step(_ index: Double, _ name: String) { progress(name, index / phases) }

        step(0, "cold starts (monitor, enclave, compile, instantiate, init)")
        let cold = try await Samples.measure(for: duration, minimum: 5) {
            try await Workload.coldStart(module: Modules.echo())
        }

        let echo = try await Workload.start(module: Modules.echo())
        step(1, "warm invocations with rewind (echo, 2 MiB)")
        let warm = try await echo.onEnclaveThreads {
            for _ in 0..<200 { try await echo.invokeWarm() }
            return try await Samples.measure(for: duration) { try await echo.invokeWarm() }
        }
        step(2, "fresh sandbox per invocation (echo, 2 MiB)")
        let vanilla = try await echo.onEnclaveThreads {
            try await Samples.measure(for: duration) { try await echo.invokeFresh() }
        }
        step(3, "warm confidential invocations (echo)")
        let confidential = try await echo.onEnclaveThreads {
            for _ in 0..<200 { _ = try await echo.invokeConfidential() }
            return try await Samples.collect(for: duration) { try await echo.invokeConfidential() }
        }
        let confidentialSigned = try await echo.onEnclaveThreads {
            try await Samples.collect(for: duration / 2) { try await echo.invokeConfidential(signedReceipt: true) }
        }
        step(4, "seal and open; X25519 and ECDSA P-256 alone")
        let sealOpen = try await Samples.measure(for: duration / 2) { try echo.sealAndOpen() }
        let keyAgreement = try await Samples.measure(for: duration / 4) { try echo.keyAgreement() }
        let receiptSignature = try await Samples.measure(for: duration / 4) { try echo.receiptSignature() }
        try await echo.shutdown()

        step(5, "warm invocations in a worker process (shared memory, socket)")
        var workers: (warm: Samples, socket: Samples, confidential: Samples)?
        if let workerExecutable {
            workers = try await measureWorkers(executable: workerExecutable, duration: duration)
        }

        let echo16 = try await Workload.start(module: Modules.echo(memoryMiB: 16))
        step(6, "warm and fresh invocations (echo, 16 MiB)")
        let (warm16, vanilla16) = try await echo16.onEnclaveThreads {
            for _ in 0..<100 { try await echo16.invokeWarm() }
            let warm = try await Samples.measure(for: duration / 2) { try await echo16.invokeWarm() }
            return (warm, try await Samples.measure(for: duration / 2) { try await echo16.invokeFresh() })
        }
        try await echo16.shutdown()

        step(7, "rewind of 4 pages of 64 MiB, and a full 64 MiB copy")
        let writer = try await Workload.start(module: Modules.pageWriter(memoryMiB: 64, pages: 4), parameters: [:])
        var rewindPages = 0
        var rewinds: [Int64] = []
        let clock = ContinuousClock()
        let rewindEnd = clock.now + duration / 2
        try await writer.onEnclaveThreads {
            while rewinds.count < 5 || clock.now < rewindEnd {
                let invocation = try await writer.invokeWarm()
                if case .inPlace(let pages) = invocation.rewind.kind { rewindPages = pages }
                rewinds.append(invocation.rewind.duration.nanoseconds)
            }
        }
        try await writer.shutdown()
        let fullCopy = Self.measureCopy(bytes: 64 << 20, duration: duration / 2)

        step(8, "confidential invocations over loopback HTTP (\(httpClients) clients)")
        let http = try await LoadTest.run(clients: httpClients, duration: duration) { fraction in
            progress("confidential invocations over loopback HTTP (\(httpClients) clients)", (8 + fraction * 2) / phases)
        }

        step(10, "resident memory over \(memoryInvocations) warm invocations")
        let steady = try await Workload.start(module: Modules.echo())
        let (before, after) = try await steady.onEnclaveThreads {
            for _ in 0..<max(1000, memoryInvocations / 10) { try await steady.invokeWarm() }
            let before = Self.residentBytes()
            for index in 0..<memoryInvocations {
                try await steady.invokeWarm()
                if index % 5000 == 0 { progress("resident memory over \(memoryInvocations) warm invocations", (10 + Double(index) / Double(memoryInvocations)) / phases) }
            }
            return (before, Self.residentBytes())
        }
        try await steady.shutdown()
        progress("done", 1)

        return Comparison(
            cold: cold, vanilla: vanilla, warm: warm, vanilla16: vanilla16, warm16: warm16, confidential: confidential, confidentialSigned: confidentialSigned,
            sealOpen: sealOpen, keyAgreement: keyAgreement, receiptSignature: receiptSignature, rewind: Samples(rewinds), rewindPages: rewindPages, fullCopy: fullCopy, http: http,
            httpClients: httpClients, residentGrowthKiB: max(0, after - before) / 1024, memoryInvocations: memoryInvocations, workers: workers)
    }

    /// Warm and warm confidential invocations of echo with the function in a worker process
    /// through the shared-memory channel, then warm ones through the socket alone (a second
    /// enclave whose worker was started with ``WorkerProcess/Transport/socket``).
    static func measureWorkers(executable: String, duration: Duration) async throws -> (warm: Samples, socket: Samples, confidential: Samples) {
        let isolation = Isolation.workers(executable: executable)
        let shared = try await Workload.start(module: Modules.echo(), isolation: isolation)
        let (warm, confidential) = try await shared.onEnclaveThreads {
            for _ in 0..<200 { try await shared.invokeWarm() }
            let warm = try await Samples.measure(for: duration) { try await shared.invokeWarm() }
            for _ in 0..<200 { _ = try await shared.invokeConfidential() }
            return (warm, try await Samples.collect(for: duration) { try await shared.invokeConfidential() })
        }
        try await shared.shutdown()

        WorkerProcess.socketByDefault = true
        let started: Result<Workload, any Error>
        do { started = .success(try await Workload.start(module: Modules.echo(), isolation: isolation)) } catch { started = .failure(error) }
        WorkerProcess.socketByDefault = false
        let socket = try started.get()
        let overSocket = try await socket.onEnclaveThreads {
            for _ in 0..<200 { try await socket.invokeWarm() }
            return try await Samples.measure(for: duration) { try await socket.invokeWarm() }
        }
        try await socket.shutdown()
        return (warm, overSocket, confidential)
    }

    /// Times copying `bytes` between two buffers already touched (so no page faults count).
    static func measureCopy(bytes: Int, duration: Duration) -> Samples {
        let source = UnsafeMutableRawBufferPointer.allocate(byteCount: bytes, alignment: 4096)
        let target = UnsafeMutableRawBufferPointer.allocate(byteCount: bytes, alignment: 4096)
        defer { source.deallocate(); target.deallocate() }
        source.initializeMemory(as: UInt8.self, repeating: 1)
        target.initializeMemory(as: UInt8.self, repeating: 2)
        let clock = ContinuousClock()
        let end = clock.now + duration
        var samples: [Int64] = []
        while samples.count < 5 || clock.now < end {
            let start = clock.now
            target.copyMemory(from: UnsafeRawBufferPointer(source))
            samples.append((clock.now - start).nanoseconds)
        }
        return Samples(samples)
    }

    /// The process's resident set, from `/proc/self/statm`; 0 where there is none.
    static func residentBytes() -> Int {
        guard let text = try? String(contentsOfFile: "/proc/self/statm", encoding: .utf8) else { return 0 }
        let fields = text.split(separator: " ")
        guard fields.count > 1, let pages = Int(fields[1]) else { return 0 }
        return pages * Int(sysconf(Int32(_SC_PAGESIZE)))
    }
}
