import Foundation
import Testing
@testable import TabulaPlatform
import TabulaWire

/// Listings are paged by SQLite and bounded in bytes as well as in count.
@Suite("Listings")
struct ListingTests {
    private func withStore(_ body: (Store) async throws -> Void) async throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("tabula-listing-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        let store = try Store(path: directory.appendingPathComponent("tabula.db").path)
        _ = try await store.createNamespace("guest")
        try await body(store)
    }

    /// About `padding` bytes of default parameters make each document large.
    private func put(_ store: Store, _ name: String, padding: Int = 0) async throws {
        var action = Action(namespace: "guest", name: name, exec: Action.Exec(kind: "wasm"))
        action.parameters = [KeyValue(key: "padding", value: .string(String(repeating: "x", count: padding)))]
        _ = try await store.putAction(Store.StoredAction(action: action, code: [0], digest: "00"), overwrite: true)
    }

    @Test func actionsArePagedInSQLMostRecentFirst() async throws {
        try await withStore { store in
            for index in 0..<7 {
                try await put(store, "a\(index)")
                try await Task.sleep(for: .milliseconds(3))  // distinct update times, most of the time
            }
            let all = try await store.actions(namespace: "guest", limit: 100, skip: 0)
            #expect(all.count == 7)
            #expect(all == all.sorted { ($0.updated, $1.name) > ($1.updated, $0.name) }, "most recently updated first, then by name")
            #expect(all.first?.name == "a6" && all.last?.name == "a0")
            #expect(try await store.actions(namespace: "guest", limit: 2, skip: 3).map(\.name) == all[3..<5].map(\.name))
            #expect(try await store.actions(namespace: "guest", limit: 30, skip: 7).isEmpty)
        }
    }

    @Test func actionListingsStopAtTheByteLimit() async throws {
        try await withStore { store in
            for index in 0..<5 { try await put(store, "big\(index)", padding: 100_000) }
            #expect(try await store.actions(namespace: "guest", limit: 30, skip: 0, byteLimit: 250_000).count == 2)
            // Never empty: one entry larger than the limit still comes back.
            #expect(try await store.actions(namespace: "guest", limit: 30, skip: 0, byteLimit: 10).count == 1)
            #expect(try await store.actions(namespace: "guest", limit: 30, skip: 0).count == 5)
        }
    }

    @Test func activationListingsStopAtTheByteLimitAndSummariesLeaveOutLogs() async throws {
        try await withStore { store in
            let line = String(repeating: "l", count: 50_000)
            for index in 1...6 {
                let record = Activation(
                    namespace: "guest", name: "a", version: "0.0.1", subject: "guest", activationId: String(format: "%032x", index),
                    start: Int64(index), end: Int64(index) + 1,
                    response: Activation.Response(ActivationResponse(status: .success, result: ["echo": .string(line)])),
                    logs: [line, line], annotations: [])
                try await store.insertActivation(record)
            }
            let docs = try await store.activations(namespace: "guest", name: nil, limit: 30, skip: 0, since: nil, upto: nil, byteLimit: 400_000)
            #expect(docs.count == 2, "about 150 KB each")
            #expect(docs.map(\.start) == [6, 5])
            #expect(docs.first?.logs?.count == 2 && docs.first?.response != nil)
            // Summaries are small: the same limit holds them all, without response or logs.
            let summaries = try await store.activations(namespace: "guest", name: nil, limit: 30, skip: 0, since: nil, upto: nil, summaries: true, byteLimit: 400_000)
            #expect(summaries.map(\.start) == [6, 5, 4, 3, 2, 1])
            #expect(summaries.allSatisfy { $0.response == nil && $0.logs == nil })
            #expect(try await store.activations(namespace: "guest", name: nil, limit: 30, skip: 0, since: nil, upto: nil, byteLimit: 1).count == 1)
        }
    }
}
