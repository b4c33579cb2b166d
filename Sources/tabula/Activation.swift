import ArgumentParser
import Foundation
import TabulaClient
import TabulaWire

/// `tabula activation`: the records of past invocations on a server, like `wsk activation`.
struct Activation: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "List activations and show their records, results and logs.",
        discussion: Properties.resolutionHelp,
        subcommands: [List.self, Get.self, Result.self, Logs.self]
    )

    struct List: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "List activations, newest first.", discussion: Properties.resolutionHelp)

        @Argument(help: "Only the activations of this action.")
        var name: String?

        @OptionGroup var page: Page

        @Option(help: ArgumentHelp("Only those that started at or after this time.", valueName: "ms since the epoch"))
        var since: Int64?

        @Option(help: ArgumentHelp("Only those that started at or before this time.", valueName: "ms since the epoch"))
        var upto: Int64?

        @Flag(name: .shortAndLong, help: "Print the full records, with their responses and logs.")
        var full = false

        @OptionGroup var connection: Connection

        func run() async throws {
            try await connection.run { client in
                let list = try await client.activations(name: name, limit: page.limit, skip: page.skip, since: since, upto: upto, docs: full)
                if connection.json {
                    connection.emit(json: list)
                } else if full {
                    print(Connection.pretty(list))
                } else {
                    print("activations")
                    for activation in list { print(terminalSafe("\(activation.activationId) \(activation.name)")) }
                }
            }
        }
    }

    /// An activation id, or `--last` for the most recent activation.
    struct Selection: ParsableArguments {
        @Argument(help: "The activation id.")
        var id: String?

        @Flag(name: .shortAndLong, help: "The most recent activation instead of ID.")
        var last = false

        func validate() throws {
            if (id == nil) == !last { throw ValidationError("give an activation ID or --last") }
        }

        func resolve(_ client: Client) async throws -> String {
            if let id { return id }
            guard let latest = try await client.activations(limit: 1).first else {
                throw ValidationError("there are no activations yet")
            }
            return latest.activationId
        }
    }

    struct Get: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Show an activation record.", discussion: Properties.resolutionHelp)

        @OptionGroup var selection: Selection
        @OptionGroup var connection: Connection

        func run() async throws {
            try await connection.run { client in
                let id = try await selection.resolve(client)
                let activation = try await client.activation(id: id)
                connection.show(activation, headline: "ok: got activation \(id)")
            }
        }
    }

    struct Result: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Show an activation's result.",
            discussion: "--json prints the whole response, {\"result\": …, \"status\": …, \"success\": …}. The sealed result of a confidential invocation made from this machine is opened and its receipt verified.\n\n" + Properties.resolutionHelp)

        @OptionGroup var selection: Selection
        @OptionGroup var connection: Connection

        func run() async throws {
            var status = ExitCode.success
            try await connection.run { client in
                let id = try await selection.resolve(client)
                if let ticket = Tickets.load(id) {
                    guard let reply = try await client.confidentialResult(ticket) else {
                        throw ValidationError("the activation \(id) has not finished yet; try again later")
                    }
                    let function = "/\(ticket.function.namespace)/\(ticket.function.name)"
                    status = Action.Invoke.show(reply, qualified: function, result: true, connection: connection, summary: "receipt verified: \(function) module sha-256=\(ticket.function.moduleDigest.prefix(16))…, sandbox \(reply.receipt?.sandbox ?? 0), invocation \(reply.receipt?.sequence ?? 0), TEE \(reply.receipt?.tee ?? "unknown")")
                    return
                }
                let response = try await client.activationResult(id: id)
                connection.json ? connection.emit(json: response) : print(Connection.pretty(response.result))
            }
            if status != .success { throw status }
        }
    }

    struct Logs: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Show an activation's log lines.",
            discussion: "--json prints {\"logs\": […]}.\n\n" + Properties.resolutionHelp)

        @OptionGroup var selection: Selection
        @OptionGroup var connection: Connection

        func run() async throws {
            try await connection.run { client in
                let logs = try await client.activationLogs(id: try await selection.resolve(client))
                if connection.json {
                    connection.emit(json: ["logs": logs])
                } else {
                    for line in logs { print(terminalSafe(line)) }
                }
            }
        }
    }
}
