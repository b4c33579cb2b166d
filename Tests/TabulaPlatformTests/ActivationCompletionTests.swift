import Foundation
import Testing
@testable import TabulaPlatform
import TabulaWire

/// Waiting for an activation record: the record when it comes in time, `nil` when the timeout
/// passes or the waiter is cancelled, and never a continuation resumed twice or left hanging.
@Suite("Activation completion")
struct ActivationCompletionTests {
    private let record = Activation(
        namespace: "guest", name: "a", version: "0.0.1", subject: "guest", activationId: String(repeating: "a", count: 32),
        start: 1, end: 2, response: Activation.Response(ActivationResponse(status: .success, result: [:])), logs: [], annotations: [])

    @Test func waitersGetTheRecordOrTimeOut() async throws {
        let completion = ActivationCompletion()
        let clock = ContinuousClock()
        let started = clock.now
        // One waiter gives up after 100 ms; the others wait long enough to see the record.
        async let short = completion.wait(timeout: .milliseconds(100))
        async let long = completion.wait(timeout: .seconds(30))
        async let other = completion.wait(timeout: .seconds(30))
        #expect(await short == nil)
        #expect(clock.now - started >= .milliseconds(100))
        completion.complete(.success(record))
        // The record, not nil: they saw it rather than their timeout (no upper bound on the time,
        // which only measures how busy the machine is).
        #expect(await long == .success(record))
        #expect(await other == .success(record))
        // Once complete, a wait returns at once, whatever its timeout.
        #expect(await completion.wait(timeout: .zero) == .success(record))
    }

    @Test func aCancelledWaiterStopsWaiting() async throws {
        let completion = ActivationCompletion()
        let waiter = Task { await completion.wait(timeout: .seconds(60)) }
        try await Task.sleep(for: .milliseconds(20))
        waiter.cancel()
        #expect(await waiter.value == nil)
        // Completing afterwards resumes nobody twice.
        completion.complete(.success(record))
    }

    @Test func manyConcurrentWaitersAllEnd() async throws {
        let completions = (0..<200).map { _ in ActivationCompletion() }
        let results = await withTaskGroup(of: Bool.self) { group in
            for (index, completion) in completions.enumerated() {
                group.addTask {
                    let got = await completion.wait(timeout: index % 2 == 0 ? .milliseconds(30) : .seconds(30))
                    return index % 2 == 0 ? true : got != nil
                }
            }
            try? await Task.sleep(for: .milliseconds(10))
            for (index, completion) in completions.enumerated() where index % 2 == 1 { completion.complete(.success(record)) }
            var all: [Bool] = []
            for await result in group { all.append(result) }
            return all
        }
        #expect(results.count == 200 && results.allSatisfy { $0 })
    }
}
