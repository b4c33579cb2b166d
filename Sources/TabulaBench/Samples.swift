import Foundation
import TabulaEnclave

/// Durations measured for one operation, and their percentiles.
public struct Samples: Sendable {
    /// Each sample, in nanoseconds, sorted.
    public private(set) var nanoseconds: [Int64]

    public init(_ nanoseconds: [Int64]) {
        self.nanoseconds = nanoseconds.sorted()
    }

    public var count: Int { nanoseconds.count }

    /// The `q` quantile (0…1) in nanoseconds, by the nearest rank.
    public func quantile(_ q: Double) -> Int64 {
        guard !nanoseconds.isEmpty else { return 0 }
        let rank = Int((q * Double(nanoseconds.count)).rounded(.up)) - 1
        return nanoseconds[min(max(rank, 0), nanoseconds.count - 1)]
    }

    public var p50Microseconds: Double { Double(quantile(0.5)) / 1000 }
    public var p99Microseconds: Double { Double(quantile(0.99)) / 1000 }

    /// Runs `body` repeatedly for `duration` (at least `minimum` times, at most `maximum`) and
    /// times each run.
    public static func measure(
        for duration: Duration, minimum: Int = 5, maximum: Int = 1_000_000, _ body: () async throws -> Void
    ) async rethrows -> Samples {
        let clock = ContinuousClock()
        return try await collect(for: duration, minimum: minimum, maximum: maximum) {
            let start = clock.now
            try await body()
            return clock.now - start
        }
    }

    /// Like ``measure(for:minimum:maximum:_:)``, but `body` times itself: for operations whose
    /// set-up (sealing a request, say) should not count.
    public static func collect(
        for duration: Duration, minimum: Int = 5, maximum: Int = 1_000_000, _ body: () async throws -> Duration
    ) async rethrows -> Samples {
        let clock = ContinuousClock()
        let end = clock.now + duration
        var samples: [Int64] = []
        samples.reserveCapacity(min(maximum, 100_000))
        while samples.count < maximum, samples.count < minimum || clock.now < end {
            samples.append(try await body().nanoseconds)
        }
        return Samples(samples)
    }

}
