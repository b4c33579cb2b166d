import Foundation
import TabulaEnclave
public import TabulaWire

extension Platform {
    /// The address this node's API is reached at, as it tells the other nodes (set once the
    /// server listens).
    public func advertise(url: String) {
        advertisedURL.withLock { $0 = url }
    }

    /// What this node reports now.
    func report() -> NodeReport {
        let running = admission.count
        return NodeReport(
            tee: enclave.monitor?.tee ?? "none", isolation: configuration.isolation == .inProcess ? "process" : "workers",
            engine: configuration.engines.defaultEngine.rawValue, concurrency: configuration.concurrency,
            running: min(running, configuration.concurrency), queued: admission.queued, warm: pool.warmCount,
            keyEpoch: enclave.monitor?.epoch, enclave: enclave.monitor?.fingerprint,
            keyConfigurations: enclave.monitor.map { Data($0.keyConfigurations).base64EncodedString() })
    }

    /// The addresses of the other live nodes whose enclave has a key `keyID`: where a sealed
    /// request this node cannot open may be sent (key ids are one byte, so several may match;
    /// only one opens it).
    public func nodes(holdingKey keyID: UInt8) async throws -> [String] {
        try await otherNodes().filter { node in
            guard let list = node.report?.keyConfigurations.flatMap({ Data(base64Encoded: $0) }),
                  let configurations = try? KeyConfiguration.decodeList(Array(list)) else { return false }
            return configurations.contains { $0.keyID == keyID }
        }.map(\.url)
    }

    /// The address of the live node whose enclave has this fingerprint.
    public func node(withEnclave fingerprint: String) async throws -> String? {
        try await otherNodes().first { $0.report?.enclave == fingerprint }?.url
    }

    /// This node's enclave fingerprint (`nil` without an attested enclave).
    public var enclaveFingerprint: String? { enclave.monitor?.fingerprint }

    private func otherNodes() async throws -> [NodeStatus] {
        guard store.cluster != nil else { return [] }
        return try await nodes().filter { $0.alive && $0.name != configuration.nodeName && !$0.url.isEmpty }
    }

    /// The nodes of the platform, by name.
    public func nodes() async throws -> [NodeStatus] {
        guard let cluster = store.cluster else {
            return [NodeStatus(name: configuration.nodeName, url: advertisedURL.withLock { $0 }, alive: true, heartbeatAge: 0, started: started, report: report())]
        }
        return try await cluster.nodes(lease: configuration.lease).map { row in
            NodeStatus(
                name: row.name, url: row.url, alive: row.alive, heartbeatAge: row.heartbeatAge, started: row.started,
                report: try? JSONValue.decode(NodeReport.self, from: Array(row.report.utf8)))
        }
    }

    /// A node's part of the cluster until it stops: renews its lease every
    /// ``PlatformConfiguration/heartbeatInterval``, ends the work of nodes whose lease expired,
    /// and claims queued invocations while it has room (checking every 100 ms; the node that
    /// queues one checks at once).
    func serveCluster(_ cluster: any ClusterBackend) async {
        var lastBeat: ContinuousClock.Instant?
        var lastURL = ""
        var failing = false
        while !Task.isCancelled && stopping.withLock({ $0 }) == nil {
            // Due, or the node has just learnt its address (the others forward to it).
            let url = advertisedURL.withLock { $0 }
            if url != lastURL || lastBeat.map({ ContinuousClock.now - $0 >= configuration.heartbeatInterval }) ?? true {
                lastBeat = .now
                lastURL = url
                do {
                    let report = String(decoding: JSONValue.encode(report()), as: UTF8.self)
                    try await cluster.heartbeat(node: configuration.nodeName, url: url, report: report)
                    let ended = try await cluster.sweep(lease: configuration.lease)
                    if ended > 0 { logger.warning("\(ended) activation(s) of stopped nodes are recorded as interrupted") }
                    if failing { logger.info("the store answers again: this node holds its lease") }
                    failing = false
                } catch {
                    // Said once per outage, not every second.
                    if !failing { logger.error("cannot renew this node's lease: \(error)") }
                    failing = true
                }
            }
            await claimWhileFree(cluster)
            try? await Task.sleep(for: .milliseconds(100))
        }
    }

    /// Claims and starts queued invocations while this node has a free slot.
    func claimWhileFree(_ cluster: any ClusterBackend) async {
        // One claimer at a time per node: two would both see the same free slot.
        guard claiming.withLock({ claiming in
            if claiming { return false }
            claiming = true
            return true
        }) else { return }
        defer { claiming.withLock { $0 = false } }
        while admission.count < configuration.concurrency && stopping.withLock({ $0 }) == nil {
            guard let queued = try? await cluster.claim(node: configuration.nodeName) else { return }
            await run(queued, cluster: cluster)
        }
    }

    /// Starts a claimed invocation; records a failure when its action is gone, gives it back when
    /// this node cannot start it after all.
    private func run(_ queued: Store.QueuedInvocation, cluster: any ClusterBackend) async {
        let deployed: Deployed
        do {
            deployed = try await deployedAction(namespace: queued.namespace, name: queued.name)
        } catch let error as PlatformError where error.code == .notFound {
            var record = Self.standIn(
                for: Action(namespace: queued.namespace, name: queued.name, exec: Action.Exec(kind: "wasm")), subject: queued.subject,
                activationID: queued.id, received: queued.received)
            record.response = Activation.Response(.developerError("The action \(queued.name) was deleted before its queued invocation ran."))
            if (try? await store.insertActivation(record)) != nil { try? await cluster.finish(queued.id) }
            return
        } catch {
            try? await cluster.release(queued.id)
            return
        }
        let parameters: [String: JSONValue]
        if case .object(let object)? = try? JSONValue(parsing: Data(queued.parameters.utf8)) {
            parameters = object
        } else {
            parameters = [:]
        }
        do {
            _ = try start(deployed, subject: queued.subject, parameters: parameters, accepted: (queued.id, queued.received)) {
                try? await cluster.finish(queued.id)
            }
        } catch {
            // Full after all (a blocking invocation took the slot), or stopping: another node may run it.
            try? await cluster.release(queued.id)
        }
    }
}
