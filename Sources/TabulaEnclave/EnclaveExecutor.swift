import Dispatch
import Foundation
import Synchronization

/// The enclave's threads, as a Swift task executor: sandboxes run on them and block one for a
/// whole invocation, so they never hold up Swift's cooperative pool or an event loop.
///
/// A task that prefers this executor (`Task(executorPreference:)`, `withTaskExecutorPreference`)
/// runs all its code here, so an invocation started from such a task runs its sandbox inline,
/// without handing the work to another thread and back, which costed two context switches per
/// invocation. Other callers pay that hop once per call.
///
/// After ``shutdown()`` the threads finish the jobs queued, then exit; a job that arrives later
/// (a task that still prefers this executor) runs on Dispatch's global queue, because a Swift job
/// must never be dropped.
final class EnclaveExecutor: TaskExecutor, @unchecked Sendable {
    // Unchecked: every field is guarded by `condition`.
    private let condition = NSCondition()
    private var jobs: [UnownedJob] = []
    private var next = 0
    private var stopped = false
    private var running = 0

    init(threads: Int, name: String) {
        running = threads
        for index in 0..<threads {
            let thread = Thread { [self] in work() }
            thread.name = "\(name)-\(index)"
            thread.start()
        }
    }

    func enqueue(_ job: consuming ExecutorJob) {
        let job = UnownedJob(job)
        condition.lock()
        if stopped && running == 0 {
            condition.unlock()
            DispatchQueue.global().async { job.runSynchronously(on: self.asUnownedTaskExecutor()) }
            return
        }
        jobs.append(job)
        condition.signal()
        condition.unlock()
    }

    /// Lets the threads exit once the queue is empty.
    func shutdown() {
        condition.lock()
        stopped = true
        condition.broadcast()
        condition.unlock()
    }

    private func work() {
        while true {
            condition.lock()
            while next == jobs.count && !stopped { condition.wait() }
            guard next < jobs.count else {
                running -= 1
                condition.unlock()
                return
            }
            let job = jobs[next]
            next += 1
            if next == jobs.count {
                jobs.removeAll(keepingCapacity: true)
                next = 0
            }
            condition.unlock()
            job.runSynchronously(on: asUnownedTaskExecutor())
        }
    }
}
