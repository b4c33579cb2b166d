import ArgumentParser
import Foundation
import Logging
import Prometheus
import ServiceLifecycle
import TabulaAttestation
import TabulaEnclave
import TabulaKBS
import TabulaPlatform
import TabulaServer
import TabulaWire

/// `tabula serve`: the embedded single-node platform.
struct Serve: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Run the platform: the OpenWhisk API, a store (SQLite, or PostgreSQL for a cluster) and one warm enclave.",
        discussion: "Stops on SIGINT or SIGTERM: it stops accepting work at once, lets invocations in progress run for --grace seconds, then ends those left (their records say the server stopped) and exits. On first start it creates the namespace 'guest' and writes its key to the file 'auth' in the data directory, where the CLI finds it."
    )

    @Option(help: "The address to listen on.")
    var host = "127.0.0.1"

    @Option(help: "The port to listen on (0 picks a free one).")
    var port = 3233

    @Option(help: "The data directory (default: $TABULA_CONFIG_DIR or ~/.tabula).")
    var dataDir: String?

    @Option(help: "Where namespaces, actions and activation records are kept: the SQLite database in the data directory (the default), or a PostgreSQL server that the nodes of a cluster share: postgres://USER@HOST[:PORT][,HOST[:PORT]…]/DATABASE[?sslmode=…] (default: $TABULA_STORE). See docs/cluster.md.")
    var store: String?

    @Option(help: "In a cluster: the address other nodes and operators reach this node's API at (default: http://HOST:PORT as listening).")
    var advertise: String?

    @Option(help: "Invocations that run at once.")
    var concurrency = ProcessInfo.processInfo.activeProcessorCount

    @Option(help: "Invocations that may wait beyond those; more get 429.")
    var queue = 256

    @Option(help: "The most warm sandboxes per action.")
    var sandboxesPerAction = 4

    @Option(help: "Seconds an idle action stays warm.")
    var keepAlive = 600

    @Option(help: "MiB of memory warm actions may reserve together.")
    var memoryBudget = 4096

    @Option(help: "The most activation records kept.")
    var retention = 10_000

    @Option(help: "Invocations one namespace may start per minute, unless it has limits of its own (tabula namespace limits); more get 429.")
    var invocationsPerMinute = PlatformConfiguration().namespaceLimits.invocationsPerMinute ?? 60_000

    @Option(help: "Invocations of one namespace that may run at once, unless it has limits of its own; more get 429.")
    var concurrentInvocations = PlatformConfiguration().namespaceLimits.concurrentInvocations ?? 500

    @Option(help: "Trigger fires one namespace may make per minute, unless it has limits of its own; more get 429.")
    var firesPerMinute = PlatformConfiguration().namespaceLimits.firesPerMinute ?? 6_000

    @OptionGroup var tee: TEEOptions

    @Option(help: ArgumentHelp("A key broker (tabula broker): verify its attestation (--broker-policy), attest to it at start, and serve the cluster's keys and tenant secrets it releases. See docs/broker.md.", valueName: "url"))
    var broker: String?

    @Option(help: ArgumentHelp("With --broker: the appraisal policy the broker's evidence must satisfy (JSON, docs/attestation.md; give its measurements). Default: no debug, no simulated evidence.", valueName: "file"))
    var brokerPolicy: String?

    @Flag(help: "With --broker: accept a broker with simulated attestation (development only: it proves nothing).")
    var brokerAllowSimulated = false

    @Option(help: "Seconds invocations in progress may still run once the server is told to stop (SIGTERM, SIGINT); then they are ended and recorded as interrupted.")
    var grace = 10

    @Option(help: "Where tenants' WebAssembly runs: workers (confined worker processes, one per warm sandbox, never shared between namespaces, holding no key; see docs/isolation.md) or process (inside the server, beside its keys: for debugging).")
    var isolation = "workers"

    @Option(help: "With --isolation workers: the most worker processes one namespace may have at once (one per warm sandbox); a cold start beyond it stops an idle worker of another of its actions.")
    var workersPerNamespace = Isolation.defaultWorkersPerNamespace

    @Flag(inversion: .prefixedNo, help: "Compile functions to native code (the default where the Swift toolchain's clang is found; actions may still ask for the interpreter with their engine annotation). --no-native runs every function in the interpreter.")
    var native = true

    @Option(help: "Seconds between HPKE key rotations (a new key epoch).")
    var keyRotation = 3600

    @Option(help: "Seconds an old epoch's keys still open requests after rotation; then they are erased.")
    var keyGrace = 600

    func validate() throws {
        guard ["workers", "process"].contains(isolation) else {
            throw ValidationError("--isolation must be workers or process")
        }
        guard workersPerNamespace >= 1 else {
            throw ValidationError("--workers-per-namespace must be at least 1")
        }
        guard grace >= 0 else {
            throw ValidationError("--grace must not be negative")
        }
        guard invocationsPerMinute >= 0, concurrentInvocations >= 0, firesPerMinute >= 0 else {
            throw ValidationError("--invocations-per-minute, --concurrent-invocations and --fires-per-minute must not be negative")
        }
        guard keyRotation > 0, keyGrace >= 0 else {
            throw ValidationError("--key-rotation must be positive and --key-grace not negative")
        }
    }

    func run() async throws {
        LoggingSystem.bootstrap { label in
            var handler = StreamLogHandler.standardError(label: label)
            handler.logLevel = .info
            return handler
        }
        let logger = Logger(label: "tabula")
        let directory = try DataDirectory.prepare(dataDir ?? DataDirectory.default)
        var location = try DataDirectory.storeLocation(self.store, in: directory)
        let nodeName = try DataDirectory.nodeName(in: directory)
        if case .postgres(var configuration) = location {
            configuration.node = nodeName
            location = .postgres(configuration)
        }
        let store = try await Store.open(location, activationRetention: retention)
        try await Self.createGuestIfNeeded(store: store, directory: directory)
        // Activations acknowledged (202) by a previous run that stopped before they ended: their
        // ids resolve, to a record that says so.
        let interrupted = try await store.recoverInterruptedActivations()
        if interrupted > 0 {
            logger.warning("\(interrupted) activation(s) were still running when the server last stopped; their records now say so")
        }

        var isolation = Isolation.inProcess
        if self.isolation == "workers" {
            guard let executable = Isolation.currentExecutable else {
                throw ValidationError("cannot find the tabula executable to start workers from (/proc/self/exe); run with --isolation process")
            }
            isolation = .workers(executable: executable, perNamespace: workersPerNamespace)
        }
        // The identity certificate states the isolation (docs/attestation.md): the monitor gets
        // the one value the platform's enclave is made with.
        // The identity certificate states the engines too: whether a compiler works here is found
        // out first (once per process; the cache is added once the monitor's key exists).
        let provider = try tee.provider(directory: directory, logger: logger)
        let monitor = try await Monitor.start(
            provider: provider, isolation: isolation, engines: native ? Engines.detect() : .interpreterOnly,
            configuration: Monitor.Configuration(rotation: .seconds(keyRotation), grace: .seconds(keyGrace)))
        var link: BrokerLink?
        if let broker {
            guard let url = URL(string: broker), url.scheme == "http" || url.scheme == "https" else {
                throw ValidationError("--broker must be an http or https URL")
            }
            var policy = try brokerPolicy.map(Verification.loadPolicy) ?? AppraisalPolicy()
            if brokerAllowSimulated { policy.allowSimulated = true }
            link = try await Self.joinBroker(url, provider: provider, policy: policy, monitor: monitor, logger: logger)
        }
        let tenantCode = isolation == .inProcess ? "the server process" : "confined workers"
        let engines = engines(directory: directory, monitor: monitor, isolation: isolation, logger: logger)
        let registry = PrometheusCollectorRegistry()
        var configuration = PlatformConfiguration(
            concurrency: concurrency, queueLimit: queue, maxSandboxesPerAction: sandboxesPerAction,
            keepAlive: .seconds(keepAlive), memoryBudget: memoryBudget << 20, shutdownGrace: .seconds(grace),
            isolation: isolation, engines: engines, nodeName: nodeName)
        configuration.secrets = link
        configuration.namespaceLimits = NamespaceLimits(
            invocationsPerMinute: invocationsPerMinute, concurrentInvocations: concurrentInvocations, firesPerMinute: firesPerMinute)
        let platform = Platform(
            store: store,
            configuration: configuration,
            monitor: monitor,
            metricsFactory: PrometheusMetricsFactory(registry: registry),
            logger: logger)
        // The log's history is what the store holds now, read before anything is served: an
        // entry added later must carry a tag of this log (docs/log.md).
        if let log = platform.log {
            do {
                try await log.start()
            } catch {
                throw ValidationError("cannot read the verifiable log from the store: \(error)")
            }
        }
        let host = self.host
        let storeName = "\(location)"
        let advertised = advertise
        let app = Server.application(platform: platform, registry: registry, host: host, port: port, logger: logger) { port in
            platform.advertise(url: advertised ?? "http://\(host == "0.0.0.0" || host == "::" ? ProcessInfo.processInfo.hostName : host):\(port)")
            standardOutput("Tabula is listening on http://\(host):\(port) (data in \(directory.path); store: \(storeName); TEE: \(monitor.tee); tenant code in \(tenantCode); engine: \(engines.defaultEngine.rawValue))")
        }
        // The notice comes after the application: stopped first, it starts the grace period while
        // the server drains its requests (see ShutdownNotice).
        let group = ServiceGroup(configuration: ServiceGroupConfiguration(
            services: [
                .init(service: app),
                .init(service: ShutdownNotice(platform: platform), successTerminationBehavior: .ignore),
            ],
            gracefulShutdownSignals: [.sigterm, .sigint],
            logger: logger))
        let renewal = link.map { link in Task { await link.keepKeysCurrent() } }
        defer { renewal?.cancel() }
        do {
            try await group.run()
        } catch {
            await store.close()
            throw error
        }
        await store.close()
    }

    /// The engines: the native engine unless `--no-native` or no compiler works here, said at start
    /// either way. Compiled code is cached in the data directory, authenticated with the monitor's
    /// key; with workers, modules are compiled in a child process, never parsed by the server.
    func engines(directory: URL, monitor: Monitor, isolation: Isolation, logger: Logger) -> Engines {
        guard native else {
            logger.info("engine: interpreter for every function (--no-native)")
            return .interpreterOnly
        }
        var child: String?
        if case .workers(let executable, _, _) = isolation { child = executable }
        let engines = Engines.detect(cacheDirectory: directory.appendingPathComponent("native-cache"), cacheKey: monitor.codeCacheKey, childExecutable: child)
        if let compiler = engines.compiler {
            logger.info("engine: native by default (\(compiler.toolchain.version) at \(compiler.toolchain.path), sha256 \(compiler.toolchain.digest.prefix(16))…)")
        } else {
            logger.warning("engine: interpreter for every function: \(engines.unavailable ?? "the native engine is unavailable")")
        }
        return engines
    }

    /// Attests this node to the key broker and adopts the cluster's keys, trying for up to a
    /// minute (the broker may be starting too) with progress on stderr.
    static func joinBroker(_ url: URL, provider: any TEEProvider, policy: AppraisalPolicy, monitor: Monitor, logger: Logger) async throws -> BrokerLink {
        let link = BrokerLink(broker: url, provider: provider, policy: policy, monitor: monitor, logger: logger)
        let deadline = ContinuousClock.now + .seconds(60)
        while true {
            do {
                try await link.obtainKeys()
                logger.info("attested to the key broker \(url.absoluteString): serving the cluster's keys (enclave \(monitor.fingerprint.prefix(16))…, key epoch \(monitor.epoch))")
                return link
            } catch let error as BrokerError where error.code == .unavailable && ContinuousClock.now < deadline {
                logger.warning("the key broker \(url.absoluteString) is not reachable yet (\(error.message)); retrying")
                try await Task.sleep(for: .seconds(2))
            } catch {
                throw ValidationError("the key broker \(url.absoluteString) did not release the cluster's keys to this node: \(error)")
            }
        }
    }

    /// On first start: the `guest` namespace and its key in `auth` (owner-only).
    static func createGuestIfNeeded(store: Store, directory: URL) async throws {
        guard try await store.namespaces().isEmpty else { return }
        let credentials: Store.Credentials
        do {
            credentials = try await store.createNamespace("guest")
        } catch let error as PlatformError where error.code == .conflict {
            return  // another node of the cluster, starting at the same time, made it
        }
        let auth = directory.appendingPathComponent("auth")
        guard FileManager.default.createFile(atPath: auth.path, contents: Data("\(credentials)\n".utf8), attributes: [.posixPermissions: 0o600]) else {
            // Only a hash of the key is stored: without the file it would be lost for good.
            try await store.deleteNamespace("guest")
            throw ValidationError("cannot write the guest key to \(auth.path); check that the data directory is writable")
        }
        standardOutput("""
            Created the namespace 'guest'. Its key is in \(auth.path); the tabula CLI on this machine uses it.
            Other clients: export TABULA_AUTH='\(credentials)', or use it as wsk's --auth.
            """)
    }
}
