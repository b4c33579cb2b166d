import Synchronization

/// The deadlines of one enclave's sandboxes, so that stopping the enclave can end every run in
/// progress at once (``Enclave/endRuns()``) instead of waiting for each run's own deadline.
///
/// One flag for all of them: each run's poll (``Deadline/poll()``) reads it.
package final class Deadlines: Sendable {
    private let endedFlag = Atomic<Bool>(false)

    package init() {}

    /// Whether runs have been ended: every run in progress ends at its next poll, and every later
    /// one at its first.
    var ended: Bool { endedFlag.load(ordering: .relaxed) }

    /// Ends the run in progress of every sandbox, and every later one as soon as it starts.
    func endAll() {
        endedFlag.store(true, ordering: .relaxed)
    }
}
