import Synchronization
public import TabulaWire

/// Holds each namespace to its ``NamespaceLimits``: invocations and trigger fires per wall-clock
/// minute, and runs in flight at once, refused with OpenWhisk's 429 messages.
///
/// Counted in this process: in a cluster every node holds each namespace to the limits on its own
/// (as OpenWhisk's controllers each hold a share).
final class NamespaceThrottle: Sendable {
    private struct State {
        /// The wall-clock minute the counts are of (milliseconds since 1970 / 60 000).
        var minute: Int64 = 0
        var invocations: [String: Int] = [:]
        var fires: [String: Int] = [:]
        var inFlight: [String: Int] = [:]
        /// Each namespace's own limits as last read from the store, and when.
        var known: [String: (limits: NamespaceLimits, readAt: ContinuousClock.Instant)] = [:]
    }

    /// The limits of a namespace without limits of its own.
    let defaults: NamespaceLimits
    private let state = Mutex(State())
    /// How long a namespace's own limits are used before they are read again.
    static let recheck: Duration = .seconds(5)

    init(defaults: NamespaceLimits) {
        self.defaults = defaults
    }

    /// A namespace's limits, if read within ``recheck``.
    func cachedLimits(of namespace: String) -> NamespaceLimits? {
        state.withLock { state in
            state.known[namespace].flatMap { ContinuousClock.now - $0.readAt < Self.recheck ? $0.limits : nil }
        }
    }

    func remember(_ limits: NamespaceLimits, of namespace: String) {
        state.withLock { state in
            if state.known.count > 10_000 { state.known.removeAll() }
            state.known[namespace] = (limits, .now)
        }
    }

    private func limits(of namespace: String, in state: State) -> NamespaceLimits {
        state.known[namespace]?.limits ?? defaults
    }

    /// Counts an invocation against the namespace's minute; 429 beyond its limit (the refused
    /// one counts too, as OpenWhisk counts it).
    func invoke(namespace: String) throws(PlatformError) {
        try count(namespace, \.invocations, limit: \.invocationsPerMinute)
    }

    /// Counts a trigger fire against the namespace's minute; 429 beyond its limit.
    func fire(namespace: String) throws(PlatformError) {
        try count(namespace, \.fires, limit: \.firesPerMinute)
    }

    private func count(_ namespace: String, _ counts: WritableKeyPath<State, [String: Int]>, limit: KeyPath<NamespaceLimits, Int?>) throws(PlatformError) {
        let minute = Store.now() / 60_000
        let refused: (count: Int, allowed: Int)? = state.withLock { state in
            if state.minute != minute {
                state.minute = minute
                state.invocations.removeAll(keepingCapacity: true)
                state.fires.removeAll(keepingCapacity: true)
            }
            guard let allowed = limits(of: namespace, in: state)[keyPath: limit], allowed < .max else { return nil }
            let count = (state[keyPath: counts][namespace] ?? 0) + 1
            state[keyPath: counts][namespace] = count
            return count > allowed ? (count, allowed) : nil
        }
        if let refused {
            throw PlatformError(.tooManyRequests, "Too many requests in the last minute (count: \(refused.count), allowed: \(refused.allowed)).")
        }
    }

    /// Takes a place among the namespace's runs in flight; 429 when they are all taken. Pair with
    /// ``leave(namespace:)``.
    func enter(namespace: String) throws(PlatformError) {
        let refused: (count: Int, allowed: Int)? = state.withLock { state in
            let count = state.inFlight[namespace] ?? 0
            if let allowed = limits(of: namespace, in: state).concurrentInvocations, count >= allowed { return (count, allowed) }
            state.inFlight[namespace] = count + 1
            return nil
        }
        if let refused {
            throw PlatformError(.tooManyRequests, "Too many concurrent requests in flight (count: \(refused.count), allowed: \(refused.allowed)).")
        }
    }

    func leave(namespace: String) {
        state.withLock { state in
            let count = (state.inFlight[namespace] ?? 1) - 1
            state.inFlight[namespace] = count > 0 ? count : nil
        }
    }
}
