import Synchronization

/// Bounds the work in flight of one kind: invocations (those running plus those waiting for a
/// thread or a sandbox), or loads (deploys and cold starts).
///
/// The enclave's thread pools bound how many run at once and queue the rest; this bounds that
/// queue, refusing at once (429) what would wait beyond it instead of letting it time out.
final class Admission: Sendable {
    let capacity: Int
    let queueLimit: Int
    /// The 429's message; OpenWhisk's for invocations.
    private let refusal: String
    private let inFlight = Mutex(0)

    /// - Parameter refusal: what a refused request is told; by default OpenWhisk's message.
    init(capacity: Int, queueLimit: Int, refusal: String? = nil) {
        self.capacity = max(1, capacity)
        self.queueLimit = max(0, queueLimit)
        let total = self.capacity + self.queueLimit
        self.refusal = refusal ?? "Too many concurrent requests in flight (count: \(total), allowed: \(total))."
    }

    /// Work admitted and not yet ended.
    var count: Int { inFlight.withLock { $0 } }

    /// Work beyond what can run at once.
    var queued: Int { inFlight.withLock { max(0, $0 - capacity) } }

    /// Takes a place, or throws 429 when none is left.
    func enter() throws(PlatformError) {
        let admitted = inFlight.withLock { count -> Bool in
            guard count < capacity + queueLimit else { return false }
            count += 1
            return true
        }
        guard admitted else {
            throw PlatformError(.tooManyRequests, refusal)
        }
    }

    func leave() {
        inFlight.withLock { $0 -= 1 }
    }
}
