import Dispatch
import WasmKit

/// The wall-clock deadline and the fuel budget of a sandbox's runs.
///
/// WasmKit 0.4.2 cannot interrupt a running instance, and its `Store` may be touched only by the
/// thread running it; so the run checks its own deadline. ``FunctionModule`` instruments every
/// module (``DeadlineChecks``) to call the imported host function `tabula.poll` at least every few
/// milliseconds of work. The poll runs on the thread running the sandbox, between two
/// instructions: it reads the clock and, once the deadline has passed or the enclave is ending its
/// runs (``Deadlines``), ends the run by throwing ``Expired``, which WasmKit propagates out of the
/// invocation like any error a host function throws. No other thread touches the store, and no
/// timer runs.
///
/// Owned by one sandbox and used only on the thread running it (``arm(store:timeout:fuel:)``
/// before a run, the poll during it, ``expired`` after it).
final class Deadline: @unchecked Sendable {
    /// Thrown by the poll when the deadline has passed: the run ends as timed out.
    struct Expired: Error {}

    private let group: Deadlines?
    /// When the current run must end, in `DispatchTime` uptime nanoseconds.
    private var due: UInt64 = .max
    /// Whether the deadline of the last run passed before it ended.
    private(set) var expired = false

    /// - Parameter group: the enclave's deadlines, which can end this one's runs early.
    init(group: Deadlines? = nil) {
        self.group = group
    }

    /// Gives the store its fuel and sets the deadline of one run.
    func arm(store: Store, timeout: Duration, fuel: UInt64?) {
        store.fuel = Fuel(remaining: fuel ?? .max)
        arm(timeout: timeout)
    }

    /// Sets the deadline of one run (the native engine meters fuel itself).
    func arm(timeout: Duration) {
        let now = DispatchTime.now().uptimeNanoseconds
        due = now &+ UInt64(clamping: max(0, timeout.nanoseconds))
        expired = false
    }

    /// Called by the running code through `tabula.poll`: ends the run when it is past its deadline
    /// or the enclave is ending its runs; otherwise returns the work the code may do until it
    /// polls again.
    func poll() throws(Expired) -> Int64 {
        if DispatchTime.now().uptimeNanoseconds >= due || group?.ended == true {
            expired = true
            throw Expired()
        }
        return DeadlineChecks.reload
    }

    /// The `tabula.poll` import that ``DeadlineChecks`` adds to every module.
    func define(in imports: inout Imports, store: Store) {
        let function = Function(store: store, parameters: [], results: [.i64]) { [unowned self] _, _, results in
            results[0] = .i64(UInt64(bitPattern: try self.poll()))
        }
        imports.define(module: DeadlineChecks.importModule, name: DeadlineChecks.importName, function)
    }
}
