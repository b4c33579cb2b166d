import Synchronization
import TabulaWire

/// A loaded function and its instances (sandboxes, in this process or in workers).
///
/// Hands each invocation a sandbox of its own: an idle one, a new one while the function is below
/// its sandbox limit, or else the next one released (callers wait in arrival order).
final class FunctionHost: Sendable {
    let definition: FunctionDefinition
    /// The module, parsed in this process; `nil` when workers parse it (``Isolation/workers``).
    let module: FunctionModule?
    /// SHA-256 of the module as deployed.
    let moduleDigest: [UInt8]
    /// The digest of the snapshot every sandbox of this function starts from (rebuilt sandboxes
    /// are checked against it).
    let snapshotDigest: [UInt8]
    /// SHA-256 of the policy document, computed once: receipts and certificates carry it.
    let policyDigest: [UInt8]
    /// The three digests in hex, as every receipt names them: made once, not per invocation.
    let moduleDigestHex: String
    let snapshotDigestHex: String
    let policyDigestHex: String
    /// The paths a sealed request for this function may name (POST): its namespace's, and `_`
    /// for a caller that owns it.
    let invokePath: String
    let ownInvokePath: String
    /// The engine that runs the function, and its native code (mapped here for sandboxes in this
    /// process, as bytes for workers).
    let engine: ExecutionEngine
    let nativeCode: NativeCode?
    let nativeImage: NativeImage?

    /// What a caller gets: a sandbox, or the right to create one.
    private enum Grant: Sendable {
        case sandbox(any FunctionInstance)
        case create
    }

    private struct Pool: ~Copyable {
        var idle: [any FunctionInstance]
        var count: Int
        var waiters: [CheckedContinuation<Grant, Never>] = []
    }

    private let pool: Mutex<Pool>

    init(
        definition: FunctionDefinition, module: FunctionModule?, moduleDigest: [UInt8], first: any FunctionInstance, engine: ExecutionEngine = .interpreter,
        nativeCode: NativeCode? = nil, nativeImage: NativeImage? = nil
    ) {
        self.definition = definition
        self.engine = engine
        self.nativeCode = nativeCode
        self.nativeImage = nativeImage
        self.module = module
        self.moduleDigest = moduleDigest
        self.snapshotDigest = first.snapshotDigest
        self.policyDigest = definition.policyDigest
        self.moduleDigestHex = moduleDigest.hex
        self.snapshotDigestHex = first.snapshotDigest.hex
        self.policyDigestHex = definition.policyDigest.hex
        self.invokePath = Confidential.invokePath(namespace: definition.name.namespace, name: definition.name.name)
        self.ownInvokePath = Confidential.invokePath(namespace: "_", name: definition.name.name)
        self.pool = Mutex(Pool(idle: [first], count: 1))
    }

    /// Takes a sandbox for one invocation; give it back with ``release(_:)``.
    func acquire(on enclave: Enclave, create: @escaping @Sendable () throws(EnclaveError) -> any FunctionInstance) async throws -> any FunctionInstance {
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
        while let sandbox = pool.idle.popLast() {
            if sandbox.isUsable { return .sandbox(sandbox) }
            pool.count -= 1
        }
        guard pool.count < limit else { return nil }
        pool.count += 1
        return .create
    }

    /// Returns a sandbox after its invocation (and rewind). A sandbox that could not be rewound is
    /// dropped, and its place freed for a new one.
    func release(_ sandbox: any FunctionInstance) {
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

    /// Drops one idle instance (a worker's process stops with it), to make room for another
    /// function's; whether there was one.
    func evictIdle() -> Bool {
        let evicted: (any FunctionInstance)? = pool.withLock { pool in
            guard let instance = pool.idle.popLast() else { return nil }
            pool.count -= 1
            return instance
        }
        return evicted != nil
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
