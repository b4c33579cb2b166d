import Dispatch
import Synchronization
import WasmKit

/// The wall-clock deadline and the fuel budget of a sandbox's runs.
///
/// WasmKit 0.4.2 has no way to interrupt a running instance, but it charges fuel from a counter it
/// rereads at every charge. When the deadline passes, the timer sets that counter to zero, which
/// ends the run with an out-of-fuel trap at the next charge. That write races with the
/// interpreter's own read-modify-write of the counter (which can put some fuel back), so the timer
/// repeats it every millisecond until the run is over. Timers run on a shared dispatch queue: no
/// thread per sandbox or per invocation.
final class Deadline: Sendable {
    private struct State: ~Copyable {
        /// Distinguishes runs, so that a timer left from an earlier run does nothing.
        var generation: UInt64 = 0
        var running = false
        var expired = false
        var store: StoreReference?
    }

    /// `Store` is not `Sendable`. The timer is the one place that touches a store from another
    /// thread, and only its fuel counter, and only while a run is in progress (under the lock).
    private struct StoreReference: @unchecked Sendable {
        let store: Store
    }

    private static let retry = DispatchTimeInterval.milliseconds(1)
    private let state = Mutex(State())

    /// Gives the store its fuel and starts the timer for one run.
    func arm(store: Store, timeout: Duration, fuel: UInt64?) {
        store.fuel = Fuel(remaining: fuel ?? .max)
        let reference = StoreReference(store: store)
        let generation = state.withLock { state in
            state.generation &+= 1
            state.running = true
            state.expired = false
            state.store = reference
            return state.generation
        }
        let (seconds, attoseconds) = timeout.components
        let nanoseconds = Int(clamping: seconds.multipliedReportingOverflow(by: 1_000_000_000).partialValue &+ attoseconds / 1_000_000_000)
        schedule(generation: generation, after: .nanoseconds(nanoseconds))
    }

    /// Stops the timer of the run in progress.
    func disarm() {
        state.withLock { state in
            state.running = false
            state.store = nil
        }
    }

    /// Whether the deadline of the last run passed before it ended.
    var expired: Bool {
        state.withLock { $0.expired }
    }

    private func schedule(generation: UInt64, after delay: DispatchTimeInterval) {
        DispatchQueue.global().asyncAfter(deadline: .now() + delay) { [weak self] in
            guard let self else { return }
            let stillRunning = self.state.withLock { state -> Bool in
                guard state.running, state.generation == generation, let reference = state.store else { return false }
                state.expired = true
                reference.store.fuel = Fuel(remaining: 0)
                return true
            }
            if stillRunning { self.schedule(generation: generation, after: Self.retry) }
        }
    }
}
