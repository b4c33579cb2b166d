import ArgumentParser
import Foundation
import TabulaClient
import TabulaWire

/// `tabula limits`: the limits the server holds the key's namespace to, `GET …/limits`.
struct LimitsCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "limits",
        abstract: "Show the limits your namespace is held to.",
        discussion: """
            OpenWhisk's document: invocationsPerMinute, concurrentInvocations and firesPerMinute (left \
            out when unlimited), and the ranges an action's limits must fall in (minActionMemory, \
            maxActionTimeout, …). An operator sets a namespace's own with `tabula namespace limits`.


            """ + Properties.resolutionHelp)

    @OptionGroup var connection: Connection

    func run() async throws {
        try await connection.run { client in
            let limits = try await client.limits()
            connection.show(limits, headline: "ok: got the limits of your namespace")
        }
    }
}
