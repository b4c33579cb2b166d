import Synchronization

/// How many worker processes each namespace has, against the cap that ``Isolation`` sets: one
/// tenant with many actions cannot fill the machine with processes.
final class NamespaceWorkers: Sendable {
    /// The most workers one namespace may have at once.
    let limit: Int
    private let counts = Mutex<[String: Int]>([:])

    init(limit: Int) {
        self.limit = limit
    }

    /// Takes a place for a new worker of `namespace`; `false` when it has ``limit`` already.
    func reserve(_ namespace: String) -> Bool {
        counts.withLock { counts in
            let count = counts[namespace, default: 0]
            guard count < limit else { return false }
            counts[namespace] = count + 1
            return true
        }
    }

    /// Gives back the place of a worker that stopped, or was never started.
    func release(_ namespace: String) {
        counts.withLock { counts in
            let count = counts[namespace, default: 0] - 1
            counts[namespace] = count > 0 ? count : nil
        }
    }

    /// The workers `namespace` has now.
    func count(of namespace: String) -> Int {
        counts.withLock { $0[namespace, default: 0] }
    }
}
