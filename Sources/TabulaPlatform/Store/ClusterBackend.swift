package import TabulaWire

/// What a store shared by the nodes of a cluster adds (``PostgresBackend``): the nodes' leases and
/// the queue of non-blocking invocations that any node may run.
package protocol ClusterBackend: Sendable {
    /// Renews this node's lease and publishes its report (a JSON document, ``NodeReport``).
    func heartbeat(node: String, url: String, report: String) async throws
    /// Every node that ever held a lease, with whether it holds one now (a heartbeat within
    /// `lease`, by the store's clock).
    func nodes(lease: Duration) async throws -> [Store.NodeRow]

    /// Queues a plain invocation and stores its stand-in record, in one transaction; 429 when its
    /// namespace already has `limit` invocations queued.
    func enqueue(_ invocation: Store.QueuedInvocation, standIn: Store.ActivationRow, limit: Int) async throws
    /// Claims the oldest unclaimed invocation for `node`; each is claimed by one node only.
    func claim(node: String) async throws -> Store.QueuedInvocation?
    /// Gives back a claimed invocation that this node cannot start after all.
    func release(_ id: String) async throws
    /// Removes a claimed invocation once its record is stored.
    func finish(_ id: String) async throws
    /// Gives back every invocation claimed by `node` but those in `keeping`: claims whose start
    /// failed, or whose answer was lost, would otherwise stay claimed while the node lives.
    func releaseOrphans(node: String, keeping: [String]) async throws
    /// Ends the work of the nodes whose lease expired: the invocations they claimed are recorded
    /// as interrupted (their stand-ins published), and so are their other stand-ins (activations
    /// they ran themselves); invocations they queued but nobody claimed stay queued. Returns how
    /// many records were published.
    func sweep(lease: Duration) async throws -> Int
}

extension Store {
    /// A node of the cluster as the store knows it.
    package struct NodeRow: Sendable {
        package var name: String
        package var url: String
        /// Milliseconds since the epoch, by the store's clock.
        package var started: Int64
        /// Milliseconds since its last heartbeat.
        package var heartbeatAge: Int64
        /// Whether it holds its lease.
        package var alive: Bool
        package var report: String
    }

    /// A non-blocking plain invocation waiting in the cluster's queue.
    package struct QueuedInvocation: Sendable {
        /// The activation id the caller was given.
        package var id: String
        package var namespace: String
        package var name: String
        /// The caller's namespace.
        package var subject: String
        /// The caller's parameters (JSON), merged with the action's defaults when it runs.
        package var parameters: String
        /// When it was accepted (milliseconds since the epoch).
        package var received: Int64
    }

}
