import Foundation
import GRDB
import Synchronization

extension SQLiteBackend {
    /// Copies the write-ahead log back into the database file in the background, on a connection
    /// and a queue of its own.
    ///
    /// SQLite's automatic checkpoint runs inside the commit that crosses its threshold: about 4 MB
    /// copied and two `fdatasync`s, several milliseconds during which no record commits and every
    /// invocation waiting for its record stalls (under HTTP load, one core sat idle that long
    /// about ten times a second). A passive checkpoint on another connection runs beside the
    /// commits instead: alternating runs measured about 10% more confidential invocations per
    /// second over HTTP. The writer keeps an automatic checkpoint at a higher threshold
    /// (``backstopFrames``) as a backstop; it finds the log mostly copied already, and it is what lets
    /// SQLite start the log over from its beginning.
    final class Checkpointer: Sendable {
        /// Commits between two background checkpoints: about 2,000 log frames at the group
        /// commits' usual size under load. Checkpoints every 64 commits (each with two
        /// `fdatasync`s) measured no better than SQLite's own.
        static let commitsPerCheckpoint = 256
        /// The writer's own automatic checkpoint threshold, in log frames: the log grows to at most
        /// about 64 MiB (4 KiB pages) before it starts over.
        static let backstopFrames = 16_384

        private let path: String
        private let queue = DispatchQueue(label: "tabula.store.checkpoint")
        private let state = Mutex(State())

        private struct State: ~Copyable {
            var commits = 0
            var running = false
            var completed = 0
            /// Opened on first use, on ``queue``.
            var connection: DatabaseQueue?
        }

        init(path: String) {
            self.path = path
        }

        /// Background and explicit checkpoints completed so far.
        var completed: Int { state.withLock { $0.completed } }

        /// Counts a commit, and starts a background checkpoint every ``commitsPerCheckpoint``
        /// unless one is running.
        func committed() {
            let start = state.withLock { state -> Bool in
                state.commits += 1
                guard state.commits >= Self.commitsPerCheckpoint, !state.running else { return false }
                state.commits = 0
                state.running = true
                return true
            }
            // A failed checkpoint costs nothing but its turn: the writer's backstop still copies the log.
            if start { queue.async { _ = try? self.checkpoint() } }
        }

        /// Runs one passive checkpoint now, on the caller's thread: it copies what the log holds
        /// without waiting for, or blocking, the writer.
        ///
        /// - Returns: the frames in the log and how many of them are now in the database file.
        @discardableResult
        func checkpoint() throws -> (walFrameCount: Int, checkpointedFrameCount: Int) {
            defer { state.withLock { $0.running = false } }
            let connection = try state.withLock { state -> DatabaseQueue in
                if let connection = state.connection { return connection }
                let connection = try DatabaseQueue(path: path)
                state.connection = connection
                return connection
            }
            let result = try connection.writeWithoutTransaction { db in try db.checkpoint(.passive) }
            state.withLock { $0.completed += 1 }
            return result
        }
    }
}
