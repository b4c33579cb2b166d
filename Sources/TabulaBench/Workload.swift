import Crypto
import Foundation
import TabulaAttestation
public import TabulaEnclave
public import TabulaWire

/// One function loaded in a warm enclave with its own monitor (simulated TEE): what the
/// benchmarks drive, one operation per call.
public final class Workload: Sendable {
    public let enclave: Enclave
    public let monitor: Monitor
    public let name: FunctionName
    public let parameters: JSONValue
    private let configuration: KeyConfiguration
    /// A key of the same suite as the monitor's, for timing the cryptography alone.
    private let gatewayKey: ObliviousHTTP.GatewayKey
    /// Keys of the same algorithms as the monitor's, for timing its two public-key operations alone.
    private let agreementScalar = Array(Curve25519.KeyAgreement.PrivateKey().rawRepresentation)
    private let peerPoint = Array(Curve25519.KeyAgreement.PrivateKey().publicKey.rawRepresentation)
    private let signingKey = P256.Signing.PrivateKey()

    private init(enclave: Enclave, monitor: Monitor, name: FunctionName, parameters: JSONValue) throws {
        self.enclave = enclave
        self.monitor = monitor
        self.name = name
        self.parameters = parameters
        configuration = try KeyConfiguration.decodeList(monitor.keyConfigurations)[0]
        gatewayKey = try .generate(keyID: 0)
    }

    /// Starts an enclave (one thread, a fresh monitor) and loads `module` as `bench/function`.
    ///
    /// - Parameters:
    ///   - isolation: where the function runs: in this process, or in a worker process.
    ///   - engines: the engines the enclave has (the interpreter only by default, the engine the
    ///     comparison's other figures measure).
    public static func start(
        module: [UInt8], main: String = "main", parameters: JSONValue = ["name": "Ada"], memoryLimitMiB: Int = 128, isolation: Isolation = .inProcess,
        engines: Engines = .interpreterOnly, timeout: Duration = .seconds(60), fuel: UInt64? = nil
    ) async throws -> Workload {
        let monitor = try await Monitor.start(provider: SimulatedTEE.ephemeral(), engines: engines)
        let enclave = Enclave(threads: 1, monitor: monitor, isolation: isolation, engines: engines)
        let name = FunctionName(namespace: "bench", name: "function")
        do {
            try await enclave.load(FunctionDefinition(name: name, module: module, main: main, limits: Limits(memory: memoryLimitMiB << 20, timeout: timeout, fuel: fuel)))
            return try Workload(enclave: enclave, monitor: monitor, name: name, parameters: parameters)
        } catch {
            try? await enclave.shutdown()
            throw error
        }
    }

    /// Runs `body` on the enclave's threads, as the platform runs invocations: each invocation
    /// inside then runs its sandbox inline, with no hand-off to another thread.
    public func onEnclaveThreads<T: Sendable>(_ body: () async throws -> T) async throws -> T {
        try await withTaskExecutorPreference(enclave.taskExecutor) { try await body() }
    }

    public func shutdown() async throws {
        try await enclave.shutdown()
    }

    /// A cold start: a new monitor (identity key, evidence, HPKE keys), a new enclave, the module
    /// compiled, instantiated and initialised, and its first invocation.
    public static func coldStart(module: [UInt8], main: String = "main", parameters: JSONValue = ["name": "Ada"], engines: Engines = .interpreterOnly) async throws {
        let workload = try await start(module: module, main: main, parameters: parameters, engines: engines)
        try await workload.invokeWarm()
        try await workload.shutdown()
    }

    /// One invocation on the warm sandbox, rewound afterwards.
    @discardableResult
    public func invokeWarm() async throws -> Invocation {
        let invocation = try await enclave.invoke(name, parameters: parameters)
        try Self.check(invocation.response.success, invocation.response.result)
        return invocation
    }

    /// One invocation in a sandbox instantiated and initialised for it from the compiled module.
    public func invokeFresh() async throws {
        let invocation = try await enclave.invokeFresh(name, parameters: parameters)
        try Self.check(invocation.response.success, invocation.response.result)
    }

    /// A request sealed to the enclave the way a client seals it, with the context to open the answer.
    ///
    /// - Parameter signedReceipt: ask for the receipt signed on its own.
    public func seal(signedReceipt: Bool = false) throws -> (encapsulated: [UInt8], context: ObliviousHTTP.ClientContext) {
        let inner = try BinaryHTTPRequest(
            method: "POST", authority: "bench", path: Confidential.invokePath(namespace: name.namespace, name: name.name),
            headerFields: [BinaryHTTPField("content-type", "application/json")] + (signedReceipt ? [BinaryHTTPField(Confidential.signReceiptField, "?1")] : []),
            content: parameters.encoded
        ).encoded()
        return try ObliviousHTTP.encapsulateRequest(inner, to: configuration)
    }

    /// One confidential invocation, timing the enclave's part only: opening the request, running
    /// the function, sealing the answer with its receipt (signed when `signedReceipt`). The
    /// client's sealing and opening happen outside the time returned, and the answer is checked.
    /// Appending the receipt's commitment to the log is the control plane's, off this path.
    public func invokeConfidential(signedReceipt: Bool = false) async throws -> Duration {
        let (request, context) = try seal(signedReceipt: signedReceipt)
        // The control plane names the activation, outside the enclave's part.
        let activationID = ActivationID.random()
        let clock = ContinuousClock()
        let start = clock.now
        let sealed = try enclave.open(sealed: request)
        let outcome = try await enclave.invoke(name, sealed: sealed, caller: name.namespace, activationID: activationID)
        let elapsed = clock.now - start
        let response = try BinaryHTTPResponse(decoding: try context.openResponse(outcome.response))
        try Self.check(response.status == 200, .string(String(decoding: response.content, as: UTF8.self)))
        let signed = response.headerFields.contains { $0.name == Confidential.receiptSignatureField }
        try Self.check(signed == signedReceipt && outcome.receiptCommitment != nil, "the receipt was not what was asked for")
        return elapsed
    }

    /// The cryptography of one confidential round trip, without a function or a receipt: the
    /// client seals a request, the gateway opens it and seals an answer, the client opens that.
    public func sealAndOpen() throws {
        let inner = Array(parameters.encoded)
        let (request, context) = try ObliviousHTTP.encapsulateRequest(inner, to: gatewayKey.configuration)
        let (opened, server) = try gatewayKey.decapsulateRequest(request)
        _ = try context.openResponse(try server.sealResponse(opened))
    }

    /// The X25519 agreement of a request's decapsulation, alone: the same BoringSSL call.
    public func keyAgreement() throws {
        guard BoringSSL.x25519(agreementScalar, peerPoint) != nil else { throw BenchError("X25519 failed") }
    }

    /// The ECDSA P-256 signature of a receipt, alone (over a receipt-sized message).
    public func receiptSignature() throws {
        _ = try signingKey.signature(for: Self.receiptSized)
    }

    private static let receiptSized = [UInt8](repeating: 0x7B, count: 600)

    static func check(_ success: Bool, _ result: JSONValue) throws {
        guard success else {
            throw BenchError("the benchmark function failed: \(result.encodedString)")
        }
    }
}

/// A benchmark that could not run.
public struct BenchError: Error, CustomStringConvertible {
    public let description: String
    init(_ description: String) { self.description = description }
}
