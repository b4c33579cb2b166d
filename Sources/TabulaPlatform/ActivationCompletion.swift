import Synchronization
import TabulaWire

/// The record of one accepted invocation, for the callers that wait for it (blocking invokes).
///
/// Waiting used to race the invocation's task against a `Task.sleep` of the blocking timeout:
/// two child tasks and a Dispatch timer per request, and every timer armed and cancelled woke
/// Dispatch's manager thread. Waiters now park on a continuation, and one ``Sweeper`` per process
/// ends the waits whose timeout passed, checking every 50 ms while there are any: a wait may end
/// up to that much after its timeout, which blocking invocations (default timeout 60 s) do not
/// notice.
final class ActivationCompletion: Sendable {
    /// The stored record, or why it could not be stored.
    typealias Outcome = Result<Activation, PlatformError>

    private struct State: ~Copyable {
        var activation: Outcome?
        var waiters: [Int: CheckedContinuation<Outcome?, Never>] = [:]
        var nextWaiter = 0
    }

    private let state = Mutex(State())

    /// Hands the outcome to every waiter, and to those that come later.
    func complete(_ activation: Outcome) {
        let waiters = state.withLock { state in
            state.activation = activation
            defer { state.waiters.removeAll() }
            return Array(state.waiters.values)
        }
        for waiter in waiters { waiter.resume(returning: activation) }
    }

    /// The record, if it is ready within `timeout`; `nil` when the invocation is still running,
    /// or when the waiting task is cancelled (its client went away).
    func wait(timeout: Duration) async -> Outcome? {
        let id = state.withLock { state in
            defer { state.nextWaiter += 1 }
            return state.nextWaiter
        }
        return await withTaskCancellationHandler {
            await withCheckedContinuation { (continuation: CheckedContinuation<Outcome?, Never>) in
                let ready = state.withLock { state -> Outcome?? in
                    if let activation = state.activation { return .some(activation) }
                    // Cancelled before the handler below could find this waiter: end now.
                    if Task.isCancelled { return .some(nil) }
                    state.waiters[id] = continuation
                    return nil
                }
                if let ready {
                    continuation.resume(returning: ready)
                } else {
                    Sweeper.shared.add(self, waiter: id, deadline: ContinuousClock.now + timeout)
                }
            }
        } onCancel: {
            expire(waiter: id)
        }
    }

    /// Ends one wait with `nil`, unless the record came first.
    fileprivate func expire(waiter id: Int) {
        state.withLock { $0.waiters.removeValue(forKey: id) }?.resume(returning: nil)
    }

    fileprivate var isComplete: Bool {
        state.withLock { $0.activation != nil }
    }

    /// The outcome, if there is one yet.
    var result: Outcome? {
        state.withLock { $0.activation }
    }

    /// Ends expired waits, for every completion in the process.
    private final class Sweeper: Sendable {
        static let shared = Sweeper()
        static let period = Duration.milliseconds(50)

        private struct Entry {
            let completion: ActivationCompletion
            let waiter: Int
            let deadline: ContinuousClock.Instant
        }

        private struct State: ~Copyable {
            var entries: [Entry] = []
            var running = false
        }

        private let state = Mutex(State())

        func add(_ completion: ActivationCompletion, waiter: Int, deadline: ContinuousClock.Instant) {
            let start = state.withLock { state -> Bool in
                state.entries.append(Entry(completion: completion, waiter: waiter, deadline: deadline))
                if state.running { return false }
                state.running = true
                return true
            }
            if start { Task.detached { await self.run() } }
        }

        /// Every period: expire what is due, forget what completed; stop when nothing is left.
        private func run() async {
            while true {
                try? await Task.sleep(for: Self.period)
                let now = ContinuousClock.now
                let due = state.withLock { state -> [Entry]? in
                    var due: [Entry] = []
                    state.entries.removeAll { entry in
                        if entry.deadline <= now {
                            due.append(entry)
                            return true
                        }
                        // Completed: its waiters were resumed with the record, and holding the
                        // completion would keep the record in memory until the deadline.
                        return entry.completion.isComplete
                    }
                    if state.entries.isEmpty && due.isEmpty {
                        state.running = false
                        return nil
                    }
                    return due
                }
                guard let due else { return }
                for entry in due { entry.completion.expire(waiter: entry.waiter) }
            }
        }
    }
}
