public import Testing

/// Runs the suites that start many real processes (servers, a PostgreSQL cluster under Patroni,
/// workers killed on purpose) one at a time: on a 2-core machine two of them at once starve each
/// other's time-bound steps (a crash test that needs 20 acknowledged invocations in a minute got 16
/// beside the failover test). Other suites still run beside them.
package struct LoadHeavyScope: SuiteTrait, TestScoping {
    package var isRecursive: Bool { false }

    package func provideScope(for test: Test, testCase: Test.Case?, performing function: @Sendable () async throws -> Void) async throws {
        await LoadHeavyLock.shared.acquire()
        do {
            try await function()
            await LoadHeavyLock.shared.release()
        } catch {
            await LoadHeavyLock.shared.release()
            throw error
        }
    }
}

extension Trait where Self == LoadHeavyScope {
    /// One load-heavy suite at a time in the test process (see ``LoadHeavyScope``).
    package static var loadHeavy: Self { LoadHeavyScope() }
}

/// A lock that waits without holding a thread.
actor LoadHeavyLock {
    static let shared = LoadHeavyLock()
    private var busy = false
    private var waiters: [CheckedContinuation<Void, Never>] = []

    func acquire() async {
        guard busy else {
            busy = true
            return
        }
        await withCheckedContinuation { waiters.append($0) }
    }

    func release() {
        if waiters.isEmpty {
            busy = false
        } else {
            waiters.removeFirst().resume()
        }
    }
}
