import ArgumentParser
import Foundation
import Logging
import TabulaEnclave
import TabulaRuntime

/// `tabula runtime`: Tabula as an OpenWhisk (or Knative) action runtime, one function per process.
struct RuntimeCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "runtime",
        abstract: "Serve the OpenWhisk action runtime protocol (POST /init, POST /run; Knative's / with __OW_RUNTIME_PLATFORM=knative) for one WebAssembly function.",
        discussion: """
            Prints nothing but the function's logs and OpenWhisk's end-of-activation sentinels, as \
            OpenWhisk expects of a runtime; with --port 0 it prints the port it chose on stderr, \
            with --verbose its start-up notes too. Attestation: GET /api/v1/attestation. See docs/runtime.md.
            """
    )

    @Option(help: "The address to listen on.")
    var host = "0.0.0.0"

    @Option(help: "The port to listen on (default: $PORT, else 8080; 0 picks a free one and prints it on stderr).")
    var port: Int?

    @Option(help: "The engine: native (compiled ahead of time; the default where the Swift toolchain's clang is found) or interpreter.")
    var engine: String?

    @Option(help: "The memory limit of the function in MiB.")
    var memory = 256

    @Option(help: "The time limit of one activation in milliseconds (OpenWhisk's invoker enforces the action's own too).")
    var timeout = 300_000

    @Option(help: "The directory of the simulated TEE's platform key (default: $TABULA_CONFIG_DIR or ~/.tabula).")
    var dataDir: String?

    @OptionGroup var tee: TEEOptions

    @Flag(help: "Print start-up notes (the TEE, the engine, the address) on stderr. OpenWhisk reads a container's output as the action's logs, so they are off by default.")
    var verbose = false

    func validate() throws {
        if let engine, ExecutionEngine(annotation: engine) == nil { throw ValidationError("--engine must be native (or aot) or interpreter") }
        if let port, !(0...65535).contains(port) { throw ValidationError("--port must be between 0 and 65535") }
        guard memory > 0 else { throw ValidationError("--memory must be a positive number of MiB") }
        guard timeout > 0 else { throw ValidationError("--timeout must be a positive number of milliseconds") }
    }

    func run() async throws {
        // The invoker may close the pipes it reads the logs from: a write then fails, not the process.
        signal(SIGPIPE, SIG_IGN)
        let environment = ProcessInfo.processInfo.environment
        var logger = Logger(label: "tabula-runtime") { label in StreamLogHandler.standardError(label: label) }
        logger.logLevel = verbose ? .info : .critical
        let port: Int
        if let given = self.port {
            port = given
        } else if let text = environment["PORT"], !text.isEmpty {
            guard let value = Int(text), (1...65535).contains(value) else { throw ValidationError("$PORT is \"\(text)\"; it must be a port number") }
            port = value
        } else {
            port = 8080
        }
        var configuration: RuntimeConfiguration
        do {
            configuration = try RuntimeConfiguration(environment: environment)
        } catch {
            throw ValidationError(error.message)
        }
        configuration.limits = Limits(memory: memory << 20, timeout: .milliseconds(timeout))
        configuration.engine = engine.flatMap(ExecutionEngine.init(annotation:))
        let engines = configuration.engine == .interpreter ? Engines.interpreterOnly : Engines.detect()
        let directory = try DataDirectory.prepare(dataDir ?? DataDirectory.default)
        let provider = try tee.provider(directory: directory, logger: logger)
        let monitor = try await Monitor.start(provider: provider, engines: engines)
        let enclave = Enclave(monitor: monitor, engines: engines)
        let runtime = ActionRuntime(enclave: enclave, configuration: configuration)
        do {
            // A dedicated runtime (Knative, __OW_ACTION_CODE) loads its function before it listens:
            // the open port is its readiness.
            try await runtime.start()
        } catch {
            try await enclave.shutdown()
            throw ValidationError("the function in __OW_ACTION_CODE did not initialise: \(error.message)")
        }
        let host = self.host
        let announce = self.port == 0 || verbose
        let platform = configuration.platform.rawValue
        do {
            try await RuntimeServer.run(runtime: runtime, host: host, port: port) { bound in
                if announce {
                    standardError("tabula runtime (\(platform), TEE: \(monitor.tee), engine: \(engines.defaultEngine.rawValue)) listening on http://\(host):\(bound)")
                }
            }
        } catch {
            try await enclave.shutdown()
            throw error
        }
        try await enclave.shutdown()
    }
}
