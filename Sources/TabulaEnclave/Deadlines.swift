import Synchronization

/// The deadlines of one enclave's sandboxes, so that stopping the enclave can end every run in
/// progress at once (``Enclave/endRuns()``) instead of waiting for each run's own deadline.
///
/// One flag for the sandboxes in this process: each run's poll (``Deadline/poll()``) reads it.
/// Runs in worker processes end when ``endAll()`` kills their workers.
package final class Deadlines: Sendable {
    private struct Member: @unchecked Sendable {
        // Unchecked: only read under the lock; a worker leaves (in its owner's deinit) before it
        // is freed.
        weak var worker: WorkerProcess?
    }

    private let endedFlag = Atomic<Bool>(false)
    private let workers = Mutex<[ObjectIdentifier: Member]>([:])

    package init() {}

    /// Whether runs have been ended: every run in progress ends at its next poll, and every later
    /// one at its first.
    var ended: Bool { endedFlag.load(ordering: .relaxed) }

    /// Ends the run in progress of every sandbox, and every later one as soon as it starts.
    func endAll() {
        endedFlag.store(true, ordering: .relaxed)
        let running = workers.withLock { $0.values.compactMap(\.worker) }
        for worker in running { worker.terminate() }
    }

    /// Adds a worker, to be killed by ``endAll()``; one added after it is killed at once.
    func track(_ worker: WorkerProcess) {
        workers.withLock { $0[ObjectIdentifier(worker)] = Member(worker: worker) }
        if ended { worker.terminate() }
    }

    func forget(_ worker: WorkerProcess) {
        _ = workers.withLock { $0.removeValue(forKey: ObjectIdentifier(worker)) }
    }
}
