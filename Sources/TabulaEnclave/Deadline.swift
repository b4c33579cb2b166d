import Dispatch
import Synchronization
import WasmKit

/// The wall-clock deadline and the fuel budget of a sandbox's runs.
///
/// WasmKit 0.4.2 has no way to interrupt a running instance, but it charges fuel from a counter it
/// rereads at every charge. When the deadline passes, the timer sets that counter to zero, which
/// ends the run with an out-of-fuel trap at the next charge. That write races with the
/// interpreter's own read-modify-write of the counter (which can put some fuel back), so the timer
/// repeats it every millisecond until the run is over.
///
/// Each sandbox has one dispatch timer, re-armed for every run and pushed to the distant future
/// when the run ends: no thread per sandbox, and nothing left pending per invocation (a timer
/// scheduled per run would stay queued for the whole timeout, however short the run).
// Unchecked: the dispatch timer is not marked `Sendable`, but its methods may be called from any
// thread; everything else is under the mutex.
final class Deadline: @unchecked Sendable {
    private struct State: ~Copyable {
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
    private static let queue = DispatchQueue(label: "tabula.deadline", attributes: .concurrent)
    private let state = Mutex(State())
    private let timer: any DispatchSourceTimer

    init() {
        timer = DispatchSource.makeTimerSource(queue: Self.queue)
        timer.setEventHandler { [weak self] in self?.fire() }
        timer.schedule(deadline: .distantFuture)
        timer.activate()
    }

    deinit {
        timer.cancel()
    }

    /// Gives the store its fuel and starts the timer for one run.
    func arm(store: Store, timeout: Duration, fuel: UInt64?) {
        store.fuel = Fuel(remaining: fuel ?? .max)
        let reference = StoreReference(store: store)
        state.withLock { state in
            state.running = true
            state.expired = false
            state.store = reference
        }
        timer.schedule(deadline: .now() + .nanoseconds(Int(clamping: timeout.nanoseconds)), repeating: Self.retry)
    }

    /// Stops the timer of the run in progress.
    func disarm() {
        state.withLock { state in
            state.running = false
            state.store = nil
        }
        timer.schedule(deadline: .distantFuture)
    }

    /// Whether the deadline of the last run passed before it ended.
    var expired: Bool {
        state.withLock { $0.expired }
    }

    /// The deadline passed: out of fuel, now and every millisecond until the run ends.
    private func fire() {
        state.withLock { state in
            guard state.running, let reference = state.store else { return }
            state.expired = true
            reference.store.fuel = Fuel(remaining: 0)
        }
    }
}
