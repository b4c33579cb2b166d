import ArgumentParser
import Foundation
import TabulaClient
import TabulaKBS

/// `tabula secret`: tenant secrets kept by the key broker, read by the functions named.
struct SecretCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "secret",
        abstract: "Keep secrets in the cluster's key broker for your functions to read (as TABULA_SECRET_<NAME>). See docs/broker.md.",
        subcommands: [Set.self, List.self, Delete.self])

    struct Set: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Set a secret (its value from --value, --file or stdin), readable only by the actions --for names.")

        @Argument(help: "The secret's name (letters, digits, _).")
        var name: String

        @Option(name: .customLong("for"), parsing: .upToNextOption, help: "The actions that may read it: NAME, or NAME@SHA256 to allow only that module.")
        var readers: [String] = []

        @Option(help: "The value (prefer --file or stdin: a value on the command line is visible to other users of this machine).")
        var value: String?

        @Option(help: ArgumentHelp("Read the value from this file.", valueName: "file"))
        var file: String?

        @OptionGroup var connection: Connection
        @OptionGroup var verification: Verification

        func run() async throws {
            let readers = try self.readers.map { try SecretPolicy.Reader(parsing: $0) }
            try SecretPolicy.checkName(name)
            let bytes: [UInt8]
            if let value {
                bytes = Array(value.utf8)
            } else if let file {
                guard let data = FileManager.default.contents(atPath: file) else { throw ValidationError("cannot read \(file)") }
                bytes = Array(data)
            } else {
                bytes = Array(FileHandle.standardInput.readDataToEndOfFile())
            }
            try await connection.run { client in
                let broker = try brokerClient(verification)
                let cluster = try await broker.attest(policy: try verification.appraisalPolicy())
                let (statement, _) = try await broker.statement(verifiedBy: cluster)
                let policy = try await broker.setSecret(name, value: bytes, readers: readers, credentials: client.credentials, statement: statement)
                standardOutput("ok: set secret \(policy.name) of \(policy.namespace), readable by \(policy.readers.map { $0.action + ($0.digest.map { "@" + $0 } ?? "") }.joined(separator: ", ")) as \(SecretPolicy.environmentName(policy.name))")
            }
        }
    }

    struct List: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "List your namespace's secrets and who may read them (never their values).")

        @OptionGroup var connection: Connection
        @OptionGroup var verification: Verification

        func run() async throws {
            try await connection.run { client in
                for policy in try await attestedBroker(verification).secrets(credentials: client.credentials) {
                    standardOutput("\(policy.name)  \(policy.readers.map { $0.action + ($0.digest.map { "@" + $0 } ?? "") }.joined(separator: ", "))")
                }
            }
        }
    }

    struct Delete: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Delete a secret.")

        @Argument(help: "The secret's name.")
        var name: String

        @OptionGroup var connection: Connection
        @OptionGroup var verification: Verification

        func run() async throws {
            try await connection.run { client in
                try await attestedBroker(verification).deleteSecret(name, credentials: client.credentials)
                standardOutput("ok: deleted secret \(name)")
            }
        }
    }

    static func brokerClient(_ verification: Verification) throws -> BrokerClient {
        guard let text = verification.broker ?? ProcessInfo.processInfo.environment["TABULA_BROKER"], let url = URL(string: text) else {
            throw ValidationError("name the key broker with --broker URL (or TABULA_BROKER)")
        }
        return BrokerClient(url: url)
    }
}

private func brokerClient(_ verification: Verification) throws -> BrokerClient {
    try SecretCommand.brokerClient(verification)
}

/// The broker, once its attestation and manifest verified: the namespace key goes to no other.
private func attestedBroker(_ verification: Verification) async throws -> BrokerClient {
    let broker = try SecretCommand.brokerClient(verification)
    _ = try await broker.attest(policy: try verification.appraisalPolicy())
    return broker
}
