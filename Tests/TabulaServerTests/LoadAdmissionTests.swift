import Foundation
import Synchronization
import Testing
@testable import TabulaPlatform
import TabulaWire

/// Deploys and cold starts go through their own admission and threads: a slow one never takes
/// the capacity of warm invocations of other actions, and a flood of them gets 429.
@Suite("Load admission")
struct LoadAdmissionTests {
    /// `_initialize` spins until its deadline: the deploy's check of the module takes the whole
    /// timeout, then fails.
    static let slowStart = Array(#"(module (memory (export "memory") 1) (func (export "_initialize") (loop $l (br $l))) (func (export "main")))"#.utf8)

    @Test func slowDeployDoesNotStarveWarmInvocations() async throws {
        // One invocation thread, one load thread, no room to wait for a load.
        let configuration = PlatformConfiguration(concurrency: 1, loadConcurrency: 1, loadQueueLimit: 0)
        let harness = try await Harness(configuration: configuration)
        try await harness.run { client async throws in
            try await client.deploy("fast", module: printing(#"{"ok":true}"#))
            let warm = try await client.send(.post, "/api/v1/namespaces/_/actions/fast?blocking=true&result=true", body: "{}")
            #expect(warm.status == .ok)

            // Deployed (checked, not kept loaded) but never invoked: its first invocation loads it.
            try await client.deploy("unloaded", module: printing("{}"))

            let slowDone = Flag()
            let slow = Task {
                defer { slowDone.value.store(true, ordering: .sequentiallyConsistent) }
                return try await client.deploy("slow", module: Self.slowStart, extra: #","limits":{"timeout":8000}"#)
            }
            // Wait (bounded) until the slow deploy holds the only load place.
            for _ in 0..<500 where harness.platform.loads.count == 0 {
                try await Task.sleep(for: .milliseconds(10))
            }
            #expect(harness.platform.loads.count == 1)
            let refusal = try await client.deploy("other", module: printing("{}"))
            #expect(refusal.status == .tooManyRequests)
            #expect(refusal.json["error"]?.stringValue?.hasPrefix("Too many deploys and cold starts in progress") == true, "\(refusal.body)")
            // A cold start is refused the same way, before any 202.
            let cold = try await client.send(.post, "/api/v1/namespaces/_/actions/unloaded", body: "{}")
            #expect(cold.status == .tooManyRequests, "\(cold.body)")

            // A warm invocation of another action completes while the slow load is still going.
            let again = try await client.send(.post, "/api/v1/namespaces/_/actions/fast?blocking=true&result=true", body: "{}")
            #expect(again.status == .ok)
            #expect(again.json == ["ok": true])
            let finishedFirst = slowDone.value.load(ordering: .sequentiallyConsistent)
            #expect(!finishedFirst, "the warm invocation waited for the slow deploy")

            let failed = try await slow.value
            #expect(failed.status == .badRequest)
            #expect(failed.json["error"]?.stringValue?.contains("_initialize failed") == true, "\(failed.body)")
        }
    }
}

private final class Flag: Sendable {
    let value = Atomic<Bool>(false)
}
