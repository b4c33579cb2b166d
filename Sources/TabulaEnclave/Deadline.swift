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
/// By WasmKit's own rules that write is a data race: `Store` documents its fuel cell as
/// unsynchronised and thread-confined. It is kept because 0.4.2 offers nothing a running instance
/// polls that another thread may set: no interrupt flag or epoch; the fuel cell and trap reasons
/// are internal or `package`; an `EngineInterceptor` is called only on function entry and exit,
/// cannot stop a run, and makes the engine unshareable; and an out-of-fuel trap cannot be resumed,
/// so the deadline cannot be cut into fuel slices that the running thread checks between them
/// either. Turning the timeout into a fuel budget before the run would keep the store on one
/// thread, but would bound instructions rather than time (a loaded host would overrun it, a fast
/// one cut honest work short). In practice the write is benign on the 64-bit hosts Tabula runs on:
/// the counter is an aligned 8-byte word, the interpreter reloads it through a pointer at every
/// charge and can only store back a value derived from what it read, and the timer's writes
/// happen only while a run is in progress (under the lock, after ``arm(store:timeout:fuel:)`` set
/// the budget on the running thread). Removing it needs an interrupt check in WasmKit's fuel
/// charge (an atomic flag read beside the counter).
///
/// Each sandbox has one dispatch timer, and arming it for a run costs no system call in the common
/// case. Rescheduling a dispatch timer wakes Dispatch's manager thread (an `eventfd` write and a
/// context switch), which cost more than a whole warm invocation; so the timer is rescheduled
/// only when a run's deadline is earlier than the time it is already set to fire. When it fires
/// early (its run ended and later runs have later deadlines), it finds the current run's deadline
/// still ahead and sets itself to that. With the same timeout for every run, the timer fires
/// about once per timeout however many runs there are.
// Unchecked: the dispatch timer is not marked `Sendable`, but its methods may be called from any
// thread; everything else is under the mutex.
final class Deadline: @unchecked Sendable {
    private struct State: ~Copyable {
        var running = false
        var expired = false
        /// Set by ``expireNow()``: this run and every later one end at once.
        var ended = false
        var store: StoreReference?
        /// When the current run must end, in `DispatchTime` uptime nanoseconds.
        var deadline: UInt64 = 0
        /// When the timer is set to fire next; `nil` when it is idle.
        var firesAt: UInt64?
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
    private let group: Deadlines?

    /// - Parameter group: the enclave's deadlines, which can end this one's runs early.
    init(group: Deadlines? = nil) {
        self.group = group
        timer = DispatchSource.makeTimerSource(queue: Self.queue)
        timer.setEventHandler { [weak self] in self?.fire() }
        timer.schedule(deadline: .distantFuture)
        timer.activate()
        if group?.join(self) == true {
            state.withLock { $0.ended = true }
        }
    }

    deinit {
        group?.leave(ObjectIdentifier(self))
        timer.cancel()
    }

    /// Gives the store its fuel and sets the deadline of one run.
    func arm(store: Store, timeout: Duration, fuel: UInt64?) {
        store.fuel = Fuel(remaining: fuel ?? .max)
        let reference = StoreReference(store: store)
        let now = DispatchTime.now().uptimeNanoseconds
        let due = now &+ UInt64(clamping: max(0, timeout.nanoseconds))
        // The timer is rescheduled under the lock, here and in `fire`, so that the two never
        // overwrite each other's schedule with a stale one.
        state.withLock { state in
            let deadline = state.ended ? now : due
            state.running = true
            state.expired = false
            state.store = reference
            state.deadline = deadline
            if let firesAt = state.firesAt, firesAt <= deadline { return }
            state.firesAt = deadline
            timer.schedule(deadline: DispatchTime(uptimeNanoseconds: deadline))
        }
    }

    /// Ends the run in progress; the timer stays set, to be reused by the next run.
    func disarm() {
        state.withLock { state in
            state.running = false
            state.store = nil
        }
    }

    /// Ends the run in progress now, as if its deadline had passed (it traps as timed out at its
    /// next fuel charge), and every later run as soon as it is armed: for a server whose shutdown
    /// grace period is over.
    func expireNow() {
        state.withLock { state in
            state.ended = true
            guard state.running else { return }
            state.deadline = 0
            state.firesAt = 0
            timer.schedule(deadline: .now())
        }
    }

    /// Whether the deadline of the last run passed before it ended.
    var expired: Bool {
        state.withLock { $0.expired }
    }

    /// The timer fired: out of fuel if the run in progress is past its deadline (and again every
    /// millisecond until it ends), otherwise wait for that run's deadline, or go idle.
    private func fire() {
        let now = DispatchTime.now().uptimeNanoseconds
        state.withLock { state in
            guard state.running, let reference = state.store else {
                state.firesAt = nil
                timer.schedule(deadline: .distantFuture)
                return
            }
            guard now >= state.deadline else {
                state.firesAt = state.deadline
                timer.schedule(deadline: DispatchTime(uptimeNanoseconds: state.deadline))
                return
            }
            state.expired = true
            reference.store.fuel = Fuel(remaining: 0)
            state.firesAt = now
            timer.schedule(deadline: .now() + Self.retry, repeating: Self.retry)
        }
    }
}
