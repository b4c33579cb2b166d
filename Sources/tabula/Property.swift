import ArgumentParser
import Foundation
import TabulaClient

/// `tabula property`: the CLI's default server and key, like `wsk property`.
struct Property: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Set, show and unset the default server and key.",
        discussion: "The properties live in the file props in $TABULA_CONFIG_DIR or ~/.tabula.\n\n" + Properties.resolutionHelp,
        subcommands: [Set.self, Get.self, Unset.self]
    )

    static let apiHostLabel = "tabula API host"
    static let authLabel = "tabula auth"

    struct Set: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Save the default server or key in the properties file.")

        @Option(name: .customLong("apihost"), help: ArgumentHelp("The server's URL.", valueName: "url"))
        var apiHost: String?

        @Option(name: [.customShort("u"), .customLong("auth")], help: ArgumentHelp("The namespace key.", valueName: "uuid:key"))
        var auth: String?

        func validate() throws {
            if apiHost == nil && auth == nil { throw ValidationError("give --apihost, --auth or both") }
            if let apiHost { _ = try Properties.url(apiHost: apiHost) }
            if let auth, (try? Credentials(parsing: auth)) == nil { throw ValidationError("the key is not of the form UUID:KEY") }
        }

        func run() throws {
            try Property.report {
                var properties = try Properties()
                if let apiHost { properties[Properties.apiHost] = apiHost.trimmingCharacters(in: .whitespaces) }
                if let auth { properties[Properties.auth] = auth.trimmingCharacters(in: .whitespacesAndNewlines) }
                try properties.save()
                if let apiHost { print("ok: \(Property.apiHostLabel) set to \(apiHost)") }
                if auth != nil { print("ok: \(Property.authLabel) set. Run 'tabula property get --auth' to see the new value.") }
            }
        }
    }

    struct Get: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Show the server and key the CLI uses (both when no flag is given).",
            discussion: "Shows the values in effect, wherever they come from.\n\n" + Properties.resolutionHelp)

        @Flag(name: .customLong("apihost"), help: "Show the server.")
        var apiHost = false

        @Flag(name: .customLong("auth"), help: "Show the key.")
        var auth = false

        func run() throws {
            try Property.report {
                let all = !apiHost && !auth
                if apiHost || all {
                    print("\(Property.apiHostLabel)\t\t\(try Properties.resolveAPIHost(flag: nil))")
                }
                if auth || all {
                    guard let key = try Properties.resolveAuth(flag: nil) else {
                        throw ValidationError(Properties.missingAuthMessage)
                    }
                    print("\(Property.authLabel)\t\t\(key)")
                }
            }
        }
    }

    struct Unset: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Remove the server or key from the properties file (both when no flag is given).")

        @Flag(name: .customLong("apihost"), help: "Remove the server.")
        var apiHost = false

        @Flag(name: .customLong("auth"), help: "Remove the key.")
        var auth = false

        func run() throws {
            try Property.report {
                let all = !apiHost && !auth
                var properties = try Properties()
                if apiHost || all { properties[Properties.apiHost] = nil }
                if auth || all { properties[Properties.auth] = nil }
                try properties.save()
                if apiHost || all { print("ok: \(Property.apiHostLabel) unset") }
                if auth || all { print("ok: \(Property.authLabel) unset") }
            }
        }
    }

    /// Reports an error as `error: message` on stderr with exit status 1.
    static func report(_ body: () throws -> Void) throws {
        do {
            try body()
        } catch let error as ValidationError {
            standardError("error: \(error.message)")
            throw ExitCode.failure
        }
    }
}
