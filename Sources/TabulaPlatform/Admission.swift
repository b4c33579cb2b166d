import Synchronization

/// Bounds the invocations in flight: those running plus those waiting for a thread or a sandbox.
///
/// The enclave's thread pool bounds how many run at once and queues the rest; this bounds that
/// queue, refusing at once (429) what would wait beyond it instead of letting it time out.
final class Admission: Sendable {
    let capacity: Int
    let queueLimit: Int
    private let inFlight = Mutex(0)

    init(capacity: Int, queueLimit: Int) {
        self.capacity = max(1, capacity)
        self.queueLimit = max(0, queueLimit)
    }

    /// Invocations beyond those that can run at once.
    var queued: Int { inFlight.withLock { max(0, $0 - capacity) } }

    /// Takes a place, or throws 429 with OpenWhisk's message when none is left.
    func enter() throws(PlatformError) {
        let admitted = inFlight.withLock { count -> Int? in
            guard count < capacity + queueLimit else { return nil }
            count += 1
            return count
        }
        guard admitted != nil else {
            throw PlatformError(.tooManyRequests, "Too many concurrent requests in flight (count: \(capacity + queueLimit), allowed: \(capacity + queueLimit)).")
        }
    }

    func leave() {
        inFlight.withLock { $0 -= 1 }
    }
}
