import Foundation
import Testing
@testable import TabulaPlatform
import TabulaEnclave

@Suite("Warm pool")
struct WarmPoolTests {
    private static let module = Array(#"(module (memory 1) (func (export "main")))"#.utf8)

    private func definition(_ name: String, memoryMiB: Int = 1) -> FunctionDefinition {
        FunctionDefinition(name: FunctionName(namespace: "t", name: name), module: Self.module, limits: Limits(memory: memoryMiB << 20))
    }

    private func withPool(keepAlive: Duration = .seconds(600), budget: Int = 1 << 30, _ body: (WarmPool, Enclave) async throws -> Void) async throws {
        let enclave = Enclave(threads: 1)
        do {
            try await body(WarmPool(enclave: enclave, keepAlive: keepAlive, memoryBudget: budget), enclave)
        } catch {
            try await enclave.shutdown()
            throw error
        }
        try await enclave.shutdown()
    }

    /// Whether checking `definition` out was a cold start; checks it back in.
    private func isCold(_ pool: WarmPool, _ definition: FunctionDefinition, digest: String = "1") async throws -> Bool {
        let initTime = try await pool.checkOut(definition, identity: digest)
        pool.checkIn(definition.name)
        return initTime != nil
    }

    @Test func firstUseIsColdThenWarm() async throws {
        try await withPool { pool, enclave async throws in
            #expect(try await isCold(pool, definition("a")))
            #expect(try await !isCold(pool, definition("a")))
            #expect(enclave.loadedFunctions == [FunctionName(namespace: "t", name: "a")])
        }
    }

    @Test func aNewVersionIsLoadedAfresh() async throws {
        try await withPool { pool, _ async throws in
            #expect(try await isCold(pool, definition("a"), digest: "1"))
            #expect(try await isCold(pool, definition("a"), digest: "2"))
            #expect(try await !isCold(pool, definition("a"), digest: "2"))
        }
    }

    @Test func idleActionsAreUnloadedAfterTheKeepAlive() async throws {
        try await withPool(keepAlive: .milliseconds(20)) { pool, enclave async throws in
            #expect(try await isCold(pool, definition("a")))
            _ = try await pool.checkOut(definition("b"), identity: "1")
            try await Task.sleep(for: .milliseconds(50))
            pool.sweep()
            // `b` is still in use and stays; idle `a` went.
            #expect(enclave.loadedFunctions == [FunctionName(namespace: "t", name: "b")])
            #expect(try await isCold(pool, definition("a")))
        }
    }

    @Test func theMemoryBudgetEvictsTheLeastRecentlyUsed() async throws {
        try await withPool(budget: 2 << 20) { pool, enclave async throws in
            #expect(try await isCold(pool, definition("a")))
            #expect(try await isCold(pool, definition("b")))
            #expect(try await !isCold(pool, definition("a")))
            #expect(try await isCold(pool, definition("c")))
            #expect(Set(enclave.loadedFunctions.map(\.name)) == ["a", "c"])
            #expect(try await isCold(pool, definition("b")))
        }
    }

    @Test func retiredActionsAreUnloaded() async throws {
        try await withPool { pool, enclave async throws in
            #expect(try await isCold(pool, definition("a")))
            pool.retire(FunctionName(namespace: "t", name: "a"))
            #expect(enclave.loadedFunctions.isEmpty)
        }
    }
}

@Suite("Admission")
struct AdmissionTests {
    @Test func refusesBeyondCapacityPlusQueue() throws {
        let admission = Admission(capacity: 2, queueLimit: 1)
        try admission.enter()
        try admission.enter()
        try admission.enter()
        #expect(admission.queued == 1)
        #expect(throws: PlatformError.self) { try admission.enter() }
        admission.leave()
        try admission.enter()
    }
}
