import Synchronization

/// The deadlines of one enclave's sandboxes, so that stopping the enclave can end every run in
/// progress at once (``Enclave/endRuns()``) instead of waiting for each run's own deadline.
///
/// A sandbox's ``Deadline`` joins when it is made and leaves when it goes away: one lock per
/// sandbox created, nothing per run.
package final class Deadlines: Sendable {
    private struct Member: @unchecked Sendable {
        // Unchecked: only read under the lock; a deadline leaves (in its deinit) before it is freed.
        weak var deadline: Deadline?
    }

    private struct Members: ~Copyable {
        var ended = false
        var all: [ObjectIdentifier: Member] = [:]
    }

    private let members = Mutex(Members())

    package init() {}

    /// Adds a deadline; returns whether runs already ended, in which case every run it arms ends
    /// at once too.
    func join(_ deadline: Deadline) -> Bool {
        members.withLock { members in
            members.all[ObjectIdentifier(deadline)] = Member(deadline: deadline)
            return members.ended
        }
    }

    func leave(_ id: ObjectIdentifier) {
        members.withLock { _ = $0.all.removeValue(forKey: id) }
    }

    /// Ends the run in progress of every member, and every later one as soon as it starts.
    func endAll() {
        let deadlines = members.withLock { members -> [Deadline] in
            members.ended = true
            return members.all.values.compactMap(\.deadline)
        }
        for deadline in deadlines { deadline.expireNow() }
    }
}
