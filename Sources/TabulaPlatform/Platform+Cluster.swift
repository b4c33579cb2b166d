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
            keyConfigurations: enclave.monitor.map { Data($0.keyConfigurations).base64EncodedString() }, keyIDs: enclave.monitor?.keyIDs)
    }

    /// The addresses of the other live nodes whose enclave has a key `keyID`: where a sealed
    /// request this node cannot open may be sent (key ids are one byte, so several may match;
    /// only one opens it).
    public func nodes(holdingKey keyID: UInt8) async throws -> [String] {
        try await otherNodes().filter { node in
            node.report?.keyIDs?.contains(keyID) == true
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

    /// What this node holds of the shared queue: the invocations it claimed and has not removed
    /// from the queue yet (running, or finished with their removal still to retry).
    struct ClaimedWork: ~Copyable {
        var claimed: Set<String> = []
        var unfinished: Set<String> = []
        /// Since when this node's heartbeats succeed (`nil` while they fail).
        var healthySince: ContinuousClock.Instant?
    }

    /// A node's part of the cluster until it stops: its lease (``heartbeat(_:)``) and the shared
    /// queue (``claimWhileFree(_:)``), in two tasks, so that a long queue never delays the lease.
    func serveCluster(_ cluster: any ClusterBackend) async {
        await withTaskGroup(of: Void.self) { group in
            group.addTask { await self.heartbeat(cluster) }
            group.addTask {
                while !Task.isCancelled && self.stopping.withLock({ $0 }) == nil {
                    await self.claimWhileFree(cluster)
                    try? await Task.sleep(for: .milliseconds(100))
                }
            }
        }
    }

    /// Renews this node's lease every ``PlatformConfiguration/heartbeatInterval`` (and at once when
    /// it learns its address), and ends the work of nodes whose lease expired.
    ///
    /// A node sweeps only once its own heartbeats have succeeded for a whole lease: after an outage
    /// of the store (a failover) every node's lease looks expired, though they all ran on.
    private func heartbeat(_ cluster: any ClusterBackend) async {
        var lastBeat: ContinuousClock.Instant?
        var lastURL = ""
        while !Task.isCancelled && stopping.withLock({ $0 }) == nil {
            let url = advertisedURL.withLock { $0 }
            if url != lastURL || lastBeat.map({ ContinuousClock.now - $0 >= configuration.heartbeatInterval }) ?? true {
                lastBeat = .now
                lastURL = url
                do {
                    let report = String(decoding: JSONValue.encode(report()), as: UTF8.self)
                    try await cluster.heartbeat(node: configuration.nodeName, url: url, report: report)
                    let (recovered, healthySince) = claimedWork.withLock { work in
                        defer { if work.healthySince == nil { work.healthySince = .now } }
                        return (work.healthySince == nil, work.healthySince ?? .now)
                    }
                    if recovered { logger.info("this node holds its lease") }
                    if ContinuousClock.now - healthySince >= configuration.lease {
                        let ended = try await cluster.sweep(lease: configuration.lease)
                        if ended > 0 { logger.warning("\(ended) activation(s) of stopped nodes are recorded as interrupted") }
                    }
                } catch {
                    // Said once per outage, not every second.
                    let first = claimedWork.withLock { work in
                        defer { work.healthySince = nil }
                        return work.healthySince != nil
                    }
                    if first { logger.error("cannot renew this node's lease: \(error)") }
                }
            }
            try? await Task.sleep(for: .milliseconds(100))
        }
    }

    /// Claims and starts queued invocations while this node has a free slot, at most
    /// ``PlatformConfiguration/concurrency`` per call; first gives back what it claimed and no
    /// longer runs (a claim whose start failed) and removes from the queue what it finished.
    func claimWhileFree(_ cluster: any ClusterBackend) async {
        // One claimer at a time per node: two would both see the same free slot, and the orphans
        // are found by comparing the queue with what this claimer started.
        guard claiming.withLock({ claiming in
            if claiming { return false }
            claiming = true
            return true
        }) else { return }
        defer { claiming.withLock { $0 = false } }
        let (claimed, unfinished) = claimedWork.withLock { ($0.claimed, $0.unfinished) }
        for id in unfinished where (try? await cluster.finish(id)) != nil {
            claimedWork.withLock { work in
                work.unfinished.remove(id)
                work.claimed.remove(id)
            }
        }
        guard (try? await cluster.releaseOrphans(node: configuration.nodeName, keeping: Array(claimed))) != nil else { return }
        for _ in 0..<configuration.concurrency {
            guard admission.count < configuration.concurrency, stopping.withLock({ $0 }) == nil,
                  let queued = try? await cluster.claim(node: configuration.nodeName) else { return }
            claimedWork.withLock { _ = $0.claimed.insert(queued.id) }
            // One that could not start is given back, and the next is left for the next round.
            guard await run(queued, cluster: cluster) else { return }
        }
    }

    /// Starts a claimed invocation, as its caller would have been answered now: the action as it
    /// is now, the caller's right to invoke it and the `final` annotation checked again (it may
    /// have changed while the invocation waited), a failure recorded when it is refused or gone.
    /// Returns `false` when this node cannot start it after all (it is then given back).
    private func run(_ queued: Store.QueuedInvocation, cluster: any ClusterBackend) async -> Bool {
        let given = (try? JSONValue(parsing: Data(queued.parameters.utf8))) ?? [:]
        let accepted: (Deployed, [String: JSONValue], binding: String?)
        do {
            accepted = try await accept(namespace: queued.namespace, name: queued.name, parameters: given, subject: queued.subject)
        } catch let error as PlatformError where [.notFound, .forbidden, .badRequest].contains(error.code) {
            var record = Self.standIn(
                for: Action(namespace: queued.namespace, name: queued.name, exec: Action.Exec(kind: "wasm")), subject: queued.subject,
                activationID: queued.id, received: queued.received)
            let message = error.code == .notFound ? "The action \(queued.name) was deleted before its queued invocation ran." : error.message
            record.response = Activation.Response(.developerError(message))
            if (try? await store.insertActivation(record)) != nil { finished(queued.id) } else { release(queued.id) }
            return true
        } catch {
            release(queued.id)
            return false
        }
        do {
            if accepted.0.isSequence {
                _ = try startSequence(
                    accepted.0, subject: queued.subject, parameters: accepted.1, accepted: (queued.id, queued.received), provenance: Provenance(binding: accepted.binding)
                ) {
                    self.finished(queued.id)
                }
            } else {
                _ = try start(
                    accepted.0, subject: queued.subject, parameters: accepted.1, accepted: (queued.id, queued.received), provenance: Provenance(binding: accepted.binding)
                ) {
                    self.finished(queued.id)
                }
            }
            return true
        } catch {
            // Full after all (a blocking invocation took the slot), or stopping: another node may run it.
            release(queued.id)
            return false
        }
    }

    /// The record of a claimed invocation is stored: it leaves the queue (now, or at the next
    /// round if the store does not answer).
    private func finished(_ id: String) {
        claimedWork.withLock { _ = $0.unfinished.insert(id) }
    }

    /// A claimed invocation this node will not run: the next round gives it back to the queue.
    private func release(_ id: String) {
        claimedWork.withLock { _ = $0.claimed.remove(id) }
    }
}
