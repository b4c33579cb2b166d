import Logging
import Synchronization
import TabulaEnclave

extension Platform {
    /// Starts stopping, once: new invocations and deploys get 503, and after the configured grace
    /// period (``PlatformConfiguration/shutdownGrace``) every run still in progress is ended. Their
    /// records then say that the server stopped before the activation finished (what a restart
    /// says of activations a crash interrupted), so an acknowledged id always resolves.
    ///
    /// Call it as soon as the server is told to stop (``ShutdownNotice`` does, on SIGTERM), so
    /// that the grace period runs while the HTTP server drains its requests: a blocking request
    /// waits for its run, which the grace period bounds. ``shutdown()`` calls it too.
    public func beginShutdown() {
        let began = ContinuousClock.now
        let first = stopping.withLock { stopping -> Bool in
            guard stopping == nil else { return false }
            stopping = began
            return true
        }
        guard first else { return }
        let grace = configuration.shutdownGrace
        logger.info("stopping: runs in progress have \(grace) to finish", metadata: ["inFlight": "\(admission.count)"])
        Task { [self] in
            try? await Task.sleep(until: began + grace, clock: .continuous)
            endRuns()
        }
    }

    /// Ends the runs still in progress (the grace period is over).
    func endRuns() {
        guard !runsEnded.exchange(true, ordering: .acquiringAndReleasing) else { return }
        let left = admission.count
        if left > 0 {
            logger.warning("stopping: the grace period is over; ending \(left) activation(s) still in progress")
        }
        enclave.endRuns()
    }

    /// Stops: waits for the invocations in progress for the grace period, ends those left, waits
    /// for their records to be stored, then stops the enclave.
    ///
    /// Returns in about the grace period plus ``recordingBound`` whatever functions do. Should a
    /// record still not be stored by then (a store that does not answer), it returns anyway and
    /// leaves the enclave's threads to the process's exit: the stand-in record stored before the
    /// 202 is published at the next start.
    public func shutdown() async throws {
        beginShutdown()
        let began = stopping.withLock { $0 } ?? .now
        await waitForIdle(until: began + configuration.shutdownGrace)
        endRuns()
        guard await waitForIdle(until: .now + Self.recordingBound) else {
            logger.error("stopping: \(admission.count) activation(s) did not finish recording; the next start marks them as interrupted")
            return
        }
        try await enclave.shutdown()
    }

    /// How long, once runs are ended, their records may take to be stored.
    static let recordingBound = Duration.seconds(10)

    /// 503 while stopping.
    func refuseWhenStopping() throws(PlatformError) {
        if stopping.withLock({ $0 }) != nil { throw Self.stoppingError }
    }

    static var stoppingError: PlatformError {
        PlatformError(.unavailable, "The server is stopping and accepts no new invocations or deploys: retry when it is back.")
    }

    /// Whether no invocation is in flight, checked every few milliseconds until `deadline`.
    @discardableResult
    private func waitForIdle(until deadline: ContinuousClock.Instant) async -> Bool {
        while admission.count > 0 {
            guard ContinuousClock.now < deadline else { return false }
            try? await Task.sleep(for: .milliseconds(20))
        }
        return true
    }
}
