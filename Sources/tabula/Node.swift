import ArgumentParser
import Foundation
import TabulaClient
import TabulaWire

/// `tabula node`: the nodes of the platform.
struct Node: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Show the nodes of the platform.",
        subcommands: [List.self]
    )

    struct List: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "List the nodes, their leases, load, key epochs and TEE.",
            discussion: "On a single node, that node. In a cluster, every node that held a lease: 'alive' while it renews its lease, 'expired' once it stopped (its unfinished work is then recorded as interrupted). See docs/cluster.md."
        )

        @OptionGroup var connection: Connection

        func run() async throws {
            try await connection.run { client in
                let nodes = try await client.nodes()
                if connection.json {
                    connection.emit(json: nodes)
                    return
                }
                print(Self.table(nodes))
            }
        }

        static func table(_ nodes: [NodeStatus]) -> String {
            var rows = [["NAME", "LEASE", "URL", "TEE", "ENGINE", "RUNNING", "QUEUED", "WARM", "EPOCH"]]
            for node in nodes {
                let report = node.report
                let lease = node.alive ? "alive" : "expired \(node.heartbeatAge / 1000) s ago"
                rows.append([
                    node.name, lease, node.url, report?.tee ?? "?", report?.engine ?? "?",
                    report.map { "\($0.running)/\($0.concurrency)" } ?? "?", report.map { "\($0.queued)" } ?? "?",
                    report.map { "\($0.warm)" } ?? "?", report?.keyEpoch.map { "\($0)" } ?? "-",
                ])
            }
            let widths = rows[0].indices.map { column in rows.map { $0[column].count }.max() ?? 0 }
            return rows.map { row in
                row.enumerated().map { $0.element.padding(toLength: widths[$0.offset], withPad: " ", startingAt: 0) }.joined(separator: "  ")
                    .trimmingCharacters(in: .whitespaces)
            }.joined(separator: "\n")
        }
    }
}
