import Synchronization

/// A loaded function and its sandboxes.
///
/// Hands each invocation a sandbox of its own: an idle one, a new one while the function is below
/// its sandbox limit, or else the next one released (callers wait in arrival order).
final class FunctionHost: Sendable {
    let definition: FunctionDefinition
    let module: FunctionModule
    /// The digest of the snapshot every sandbox of this function starts from (rebuilt sandboxes
    /// are checked against it).
    let snapshotDigest: [UInt8]
    /// SHA-256 of the policy document, computed once: receipts and certificates carry it.
    let policyDigest: [UInt8]

    /// What a caller gets: a sandbox, or the right to create one.
    private enum Grant: Sendable {
        case sandbox(Sandbox)
        case create
    }

    private struct Pool: ~Copyable {
        var idle: [Sandbox]
        var count: Int
        var waiters: [CheckedContinuation<Grant, Never>] = []
    }

    private let pool: Mutex<Pool>

    init(definition: FunctionDefinition, module: FunctionModule, first: Sandbox) {
        self.definition = definition
        self.module = module
        self.snapshotDigest = first.snapshot.digest
        self.policyDigest = definition.policyDigest
        self.pool = Mutex(Pool(idle: [first], count: 1))
    }

    /// Takes a sandbox for one invocation; give it back with ``release(_:)``.
    func acquire(on enclave: Enclave, create: @escaping @Sendable () throws(EnclaveError) -> Sandbox) async throws -> Sandbox {
        // The common case, an idle sandbox or room for one, takes no suspension: a continuation
        // resumed at once still re-enqueues the task on its executor.
        let grant: Grant
        if let immediate = pool.withLock({ pool in Self.grantNow(&pool, limit: definition.maxSandboxes) }) {
            grant = immediate
        } else {
            grant = await withCheckedContinuation { (continuation: CheckedContinuation<Grant, Never>) in
                let immediate: Grant? = pool.withLock { pool in
                    if let grant = Self.grantNow(&pool, limit: definition.maxSandboxes) { return grant }
                    pool.waiters.append(continuation)
                    return nil
                }
                if let immediate { continuation.resume(returning: immediate) }
            }
        }
        switch grant {
        case .sandbox(let sandbox):
            return sandbox
        case .create:
            do {
                return try await enclave.onEnclaveThread(loading: true) { try create() }
            } catch {
                discardSlot()
                throw error
            }
        }
    }

    /// An idle sandbox, or the right to create one while below `limit`; `nil` when the caller must wait.
    private static func grantNow(_ pool: inout Pool, limit: Int) -> Grant? {
        if let sandbox = pool.idle.popLast() { return .sandbox(sandbox) }
        guard pool.count < limit else { return nil }
        pool.count += 1
        return .create
    }

    /// Returns a sandbox after its invocation (and rewind). A sandbox that could not be rewound is
    /// dropped, and its place freed for a new one.
    func release(_ sandbox: Sandbox) {
        guard sandbox.broken == nil else {
            discardSlot()
            return
        }
        let waiter: CheckedContinuation<Grant, Never>? = pool.withLock { pool in
            if pool.waiters.isEmpty {
                pool.idle.append(sandbox)
                return nil
            }
            return pool.waiters.removeFirst()
        }
        waiter?.resume(returning: .sandbox(sandbox))
    }

    /// Frees a sandbox slot: the next waiter, if any, creates a sandbox in its place.
    private func discardSlot() {
        let waiter: CheckedContinuation<Grant, Never>? = pool.withLock { pool in
            if pool.waiters.isEmpty {
                pool.count -= 1
                return nil
            }
            return pool.waiters.removeFirst()
        }
        waiter?.resume(returning: .create)
    }
}
