import Foundation
import Synchronization
import TabulaClient
import TabulaTestSupport
import TabulaWire
import Testing

/// The cluster of docs/cluster.md on loopback: three etcd members, PostgreSQL as a primary and a
/// synchronous replica under Patroni (Debian's packages, started by
/// `Tests/Support/cluster/patroni-cluster.py`), three `tabula serve` nodes. The primary is killed
/// with SIGKILL while invocations go through every node: every acknowledged activation is still
/// there afterwards, and invocations resume without restarting any node.
@Suite("Cluster failover, live", .loadHeavy, .serialized)
struct FailoverTests {
    /// Runs the cluster script; its standard output.
    private static func cluster(_ arguments: [String]) throws -> String {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/python3")
        process.arguments = [RunCommandTests.repository.appendingPathComponent("Tests/Support/cluster/patroni-cluster.py").path] + arguments
        let output = Pipe()
        let errors = Pipe()
        process.standardOutput = output
        process.standardError = errors
        process.standardInput = FileHandle.nullDevice
        try process.run()
        // Both pipes drained at once: a script that says much on stderr must not block.
        let errorData = Mutex(Data())
        let reader = Thread { errorData.withLock { $0 = errors.fileHandleForReading.readDataToEndOfFile() } }
        reader.start()
        let data = output.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        while reader.isExecuting { Thread.sleep(forTimeInterval: 0.01) }
        let text = String(decoding: data, as: UTF8.self)
        guard process.terminationStatus == 0 else {
            let stderr = String(decoding: errorData.withLock { $0 }, as: UTF8.self)
            throw PostgresServer.Failure("patroni-cluster.py \(arguments.first ?? "") failed (\(process.terminationStatus)): \(stderr.suffix(2000))")
        }
        return text
    }

    /// What the driver saw: acknowledged activation ids, and when invocations failed and
    /// succeeded.
    private final class Tally: Sendable {
        struct State {
            var acknowledged: [String] = []
            var failures = 0
            var lastFailure: String?
            var successes: [ContinuousClock.Instant] = []
        }
        let state = Mutex(State())
    }

    @Test func killingThePrimaryLosesNothingAcknowledged() async throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("tabula-patroni-\(UUID().uuidString.prefix(8))")
        let startedJSON = try await PostgresServer.offThePool { try Self.cluster(["start", "--dir", directory.path, "--timeout", "150"]) }
        var nodes: [ServerProcess] = []
        do {
            try await run(startedJSON, directory: directory, nodes: &nodes)
        } catch {
            await stop(nodes, directory: directory)
            throw error
        }
        await stop(nodes, directory: directory)
    }

    /// Stops the nodes and everything the script started, off Swift's cooperative pool.
    private func stop(_ nodes: [ServerProcess], directory: URL) async {
        await ClusterTests.stop(nodes)
        _ = try? await PostgresServer.offThePool { try Self.cluster(["stop", "--dir", directory.path]) }
        try? FileManager.default.removeItem(at: directory)
    }

    private func run(_ startedJSON: String, directory: URL, nodes: inout [ServerProcess]) async throws {
        let started = try #require(try JSONSerialization.jsonObject(with: Data(startedJSON.utf8)) as? [String: Any])
        let store = try #require(started["store"] as? String) + "&timeout=5"
        for _ in 0..<3 {
            nodes.append(try await ServerProcess(arguments: ["--store", store, "--no-native", "--isolation", "process"]))
        }
        let auth = try Credentials(parsing: try nodes[0].auth)
        let clients = nodes.map { Client(apiHost: $0.apiHost, auth: auth) }
        _ = try await clients[0].putAction(name: "echo", module: try example("echo.wat"), isText: true)

        let tally = Tally()
        let driving = Atomic<Bool>(true)
        let driver = Task {
            var index = 0
            while driving.load(ordering: .relaxed) {
                let client = clients[index % clients.count]
                let blocking = index % 2 == 0
                do {
                    let result = try await client.invoke(name: "echo", parameters: ["i": .integer(Int64(index))], blocking: blocking)
                    if let id = result.activationID {
                        tally.state.withLock { $0.acknowledged.append(id); $0.successes.append(.now) }
                    }
                } catch {
                    tally.state.withLock { $0.failures += 1; $0.lastFailure = "\(error)" }
                    try? await Task.sleep(for: .milliseconds(100))
                }
                index += 1
            }
        }
        defer { driver.cancel() }

        func waitUntil(_ bound: Duration, _ condition: () -> Bool) async throws -> Bool {
            let deadline = ContinuousClock.now + bound
            while !condition() {
                guard ContinuousClock.now < deadline else { return false }
                try await Task.sleep(for: .milliseconds(100))
            }
            return true
        }
        #expect(try await waitUntil(.seconds(90)) { tally.state.withLock { $0.acknowledged.count >= 20 } }, "invocations did not get going")

        let killed = try await PostgresServer.offThePool { try Self.cluster(["kill-primary", "--dir", directory.path, "--json"]) }
        let killedAt = ContinuousClock.now
        let before = tally.state.withLock { $0.acknowledged.count }
        // Invocations resume once Patroni promoted the replica: the nodes find it themselves.
        let resumed = try await waitUntil(.seconds(90)) {
            tally.state.withLock { state in state.successes.filter { $0 > killedAt + .seconds(1) }.count >= 10 }
        }
        driving.store(false, ordering: .relaxed)
        _ = await driver.value
        let (acknowledged, failures, lastFailure, gap) = tally.state.withLock { state in
            (state.acknowledged, state.failures, state.lastFailure, state.successes.first { $0 > killedAt + .seconds(1) }.map { $0 - killedAt })
        }
        #expect(resumed, "invocations did not resume after the primary was killed (\(killed)); last failure: \(lastFailure ?? "none")")
        print("failover: killed \(killed.trimmingCharacters(in: .whitespacesAndNewlines)); \(before) acknowledged before, \(acknowledged.count) in all, \(failures) refused meanwhile; first success after the kill: \(gap.map { "\($0)" } ?? "none")")

        // Every activation a client was given an id for is there, whichever node is asked.
        var missing: [String] = []
        for (index, id) in acknowledged.enumerated() {
            var found = false
            for _ in 0..<100 {
                if let record = try? await clients[index % clients.count].activation(id: id), record.response != nil {
                    found = true
                    break
                }
                try await Task.sleep(for: .milliseconds(100))
            }
            if !found { missing.append(id) }
        }
        #expect(missing.isEmpty, "\(missing.count) of \(acknowledged.count) acknowledged activations are lost: \(missing.prefix(5))")
    }
}
