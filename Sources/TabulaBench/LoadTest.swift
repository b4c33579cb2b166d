import Foundation
import Hummingbird
import Logging
import Metrics
import NIOCore
import NIOHTTP1
import NIOPosix
import Prometheus
import ServiceLifecycle
import TabulaAttestation
import TabulaEnclave
import TabulaPlatform
import TabulaServer
import TabulaWire

/// Confidential invocations of echo over loopback HTTP: a real `tabula serve` (server, SQLite
/// store, enclave) in this process, driven by concurrent clients on keep-alive connections.
///
/// Requests are sealed before the clock starts, so that the clients' HPKE work does not compete
/// with the server's for the cores being measured; answers are opened (not their receipts
/// verified) as they arrive.
public enum LoadTest {
    public struct Result: Sendable {
        public var requests: Int
        public var seconds: Double
        public var latency: Samples
        /// CPU time the whole process (server and clients) spent while the clients sent.
        public var cpuSeconds: Double
        public var throughput: Double { Double(requests) / seconds }
        /// Process CPU per invocation, in microseconds: steadier than the throughput on a shared
        /// host, since time the host takes away is not counted.
        public var cpuMicrosecondsPerRequest: Double { requests > 0 ? cpuSeconds / Double(requests) * 1e6 : 0 }
    }

    /// - Parameters:
    ///   - clients: concurrent connections, each with one request in flight.
    ///   - duration: how long the clients send.
    ///   - expectedRate: requests per second to seal ahead of time (more are sealed on the fly).
    public static func run(clients: Int, duration: Duration, expectedRate: Int = 8000, progress: @escaping @Sendable (Double) -> Void = { _ in }) async throws -> Result {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("tabula-bench-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        var logger = Logger(label: "tabula-bench")
        logger.logLevel = .error

        let store = try Store(path: directory.appendingPathComponent("tabula.db").path)
        let credentials = try await store.createNamespace("bench")
        let monitor = try await Monitor.start(provider: SimulatedTEE.ephemeral())
        var platformConfiguration = PlatformConfiguration(concurrency: System.coreCount, queueLimit: clients * 4, maxSandboxesPerAction: System.coreCount)
        // One namespace drives the whole load: its per-minute limit would be the figure measured.
        platformConfiguration.namespaceLimits = .unlimited
        let platform = Platform(store: store, configuration: platformConfiguration, monitor: monitor, metricsFactory: NOOPMetricsHandler.instance, logger: logger)
        _ = try await platform.putAction(
            namespace: "bench", name: "echo",
            body: ActionPut(exec: Action.Exec(kind: "wasm", code: String(decoding: Modules.echo(), as: UTF8.self)), limits: Action.Limits(concurrency: System.coreCount)),
            overwrite: true)
        // Warm before the clients start: 32 first requests at once would each hold a cold
        // start's place, and the load queue (16) refuses the rest; the figure is of warm work.
        _ = try await platform.invoke(namespace: "bench", name: "echo", parameters: [:], subject: "bench").record(within: .seconds(60))

        let listening = AsyncStream<Int>.makeStream()
        let app = Server.application(platform: platform, registry: PrometheusCollectorRegistry(), host: "127.0.0.1", port: 0, logger: logger) { port in
            listening.continuation.yield(port)
        }
        let services = ServiceGroup(configuration: ServiceGroupConfiguration(services: [app], logger: logger))
        let serving = Task { try await services.run() }
        defer { serving.cancel() }
        var ports = listening.stream.makeAsyncIterator()
        guard let port = await ports.next() else { throw BenchError("the in-process server did not start") }

        let configuration = try KeyConfiguration.decodeList(monitor.keyConfigurations)[0]
        let sealer = Sealer(configuration: configuration, path: Confidential.invokePath(namespace: "bench", name: "echo"))
        let perClient = max(1, expectedRate * Int(duration.components.seconds + 1) / clients)
        var batches: [[Sealed]] = []
        for index in 0..<clients {
            batches.append(try (0..<perClient).map { _ in try sealer.seal() })
            progress(Double(index + 1) / Double(clients) * 0.3)
        }
        let authorization = "Basic " + Data(credentials.description.utf8).base64EncodedString()

        let clock = ContinuousClock()
        let cpuAtStart = processCPUSeconds()
        let start = clock.now
        let end = start + duration
        let latencies = try await withThrowingTaskGroup(of: [Int64].self) { group in
            for batch in batches {
                group.addTask {
                    try await Connection.drive(port: port, authorization: authorization, requests: batch, sealer: sealer, until: end)
                }
            }
            group.addTask {
                while clock.now < end {
                    try await Task.sleep(for: .milliseconds(200))
                    progress(0.3 + 0.7 * min(1, (clock.now - start).seconds / duration.seconds))
                }
                return []
            }
            var all: [Int64] = []
            for try await part in group { all += part }
            return all
        }
        let seconds = (clock.now - start).seconds
        let cpuSeconds = processCPUSeconds() - cpuAtStart
        await services.triggerGracefulShutdown()
        _ = try? await serving.value
        return Result(requests: latencies.count, seconds: seconds, latency: Samples(latencies), cpuSeconds: cpuSeconds)
    }

    /// User and system CPU time of this process so far.
    static func processCPUSeconds() -> Double {
        var usage = rusage()
        getrusage(Int32(RUSAGE_SELF.rawValue), &usage)
        func seconds(_ time: timeval) -> Double { Double(time.tv_sec) + Double(time.tv_usec) / 1e6 }
        return seconds(usage.ru_utime) + seconds(usage.ru_stime)
    }

    struct Sealed: Sendable {
        let body: [UInt8]
        let context: ObliviousHTTP.ClientContext
    }

    /// Seals echo's request the way a client does.
    struct Sealer: Sendable {
        let configuration: KeyConfiguration
        let path: String

        func seal() throws -> Sealed {
            let inner = try BinaryHTTPRequest(method: "POST", authority: "127.0.0.1", path: path, content: Array(#"{"name":"Ada"}"#.utf8)).encoded()
            let (body, context) = try ObliviousHTTP.encapsulateRequest(inner, to: configuration)
            return Sealed(body: body, context: context)
        }
    }

    /// One keep-alive HTTP/1.1 connection sending one request at a time.
    ///
    /// A plain NIO handler on the event loop, not an async sequence: the clients share the
    /// machine's cores with the server they measure, and bridging every response part into a task
    /// cost them about as much as the server's own HTTP handling.
    enum Connection {
        static func drive(port: Int, authorization: String, requests: [Sealed], sealer: Sealer, until end: ContinuousClock.Instant) async throws -> [Int64] {
            let path = "/api/v1/namespaces/_/actions/echo?blocking=true"
            let group = MultiThreadedEventLoopGroup.singleton
            let done = group.any().makePromise(of: [Int64].self)
            _ = try await ClientBootstrap(group: group)
                .channelInitializer { channel in
                    channel.eventLoop.makeCompletedFuture {
                        try channel.pipeline.syncOperations.addHTTPClientHandlers()
                        try channel.pipeline.syncOperations.addHandler(
                            Driver(path: path, authorization: authorization, requests: requests, sealer: sealer, end: end, done: done))
                    }
                }
                .connect(host: "127.0.0.1", port: port).get()
            return try await done.futureResult.get()
        }
    }

    /// Sends a request, waits for its answer, opens and checks it, and sends the next, until `end`.
    final class Driver: ChannelInboundHandler, RemovableChannelHandler {
        typealias InboundIn = HTTPClientResponsePart
        typealias OutboundOut = HTTPClientRequestPart

        let done: EventLoopPromise<[Int64]>
        private let head: HTTPRequestHead
        private let requests: [Sealed]
        private let sealer: Sealer
        private let end: ContinuousClock.Instant
        private let clock = ContinuousClock()
        private var next = 0
        private var current: Sealed?
        private var started: ContinuousClock.Instant
        private var status: HTTPResponseStatus?
        private var body = ByteBuffer()
        private var latencies: [Int64] = []
        private var finished = false

        init(path: String, authorization: String, requests: [Sealed], sealer: Sealer, end: ContinuousClock.Instant, done: EventLoopPromise<[Int64]>) {
            var head = HTTPRequestHead(version: .http1_1, method: .POST, uri: path)
            head.headers.add(name: "Host", value: "127.0.0.1")
            head.headers.add(name: "Authorization", value: authorization)
            head.headers.add(name: "Content-Type", value: ObliviousHTTP.requestMediaType)
            self.head = head
            self.requests = requests
            self.sealer = sealer
            self.end = end
            self.done = done
            started = clock.now
            latencies.reserveCapacity(requests.count)
        }

        func channelActive(context: ChannelHandlerContext) {
            send(context: context)
        }

        func channelRead(context: ChannelHandlerContext, data: NIOAny) {
            switch unwrapInboundIn(data) {
            case .head(let response):
                status = response.status
            case .body(var chunk):
                body.writeBuffer(&chunk)
            case .end:
                latencies.append((clock.now - started).nanoseconds)
                do {
                    try check()
                } catch {
                    finish(context: context, .failure(error))
                    return
                }
                if clock.now < end { send(context: context) } else { finish(context: context, .success(latencies)) }
            }
        }

        func errorCaught(context: ChannelHandlerContext, error: any Error) {
            finish(context: context, .failure(error))
        }

        func channelInactive(context: ChannelHandlerContext) {
            if !finished { done.fail(BenchError("the server closed a benchmark connection")) }
        }

        private func send(context: ChannelHandlerContext) {
            let sealed: Sealed
            do {
                sealed = next < requests.count ? requests[next] : try sealer.seal()
            } catch {
                finish(context: context, .failure(error))
                return
            }
            next += 1
            current = sealed
            status = nil
            body.clear()
            var head = head
            head.headers.add(name: "Content-Length", value: String(sealed.body.count))
            started = clock.now
            context.write(wrapOutboundOut(.head(head)), promise: nil)
            context.write(wrapOutboundOut(.body(.byteBuffer(context.channel.allocator.buffer(bytes: sealed.body)))), promise: nil)
            context.writeAndFlush(wrapOutboundOut(.end(nil)), promise: nil)
        }

        /// The answer is 200 and opens, with the context of its request, to the enclave's 200.
        private func check() throws {
            guard status == .ok, let current else {
                throw BenchError("a confidential invocation over HTTP answered \(status.map { "\($0.code)" } ?? "nothing"): \(String(buffer: body))")
            }
            let inner = try BinaryHTTPResponse(decoding: try current.context.openResponse(Array(buffer: body)))
            guard inner.status == 200 else {
                throw BenchError("the enclave answered \(inner.status): \(String(decoding: inner.content, as: UTF8.self))")
            }
        }

        private func finish(context: ChannelHandlerContext, _ result: Swift.Result<[Int64], any Error>) {
            guard !finished else { return }
            finished = true
            done.completeWith(result)
            context.close(promise: nil)
        }
    }
}
