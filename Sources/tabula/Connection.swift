import ArgumentParser
import Foundation
import TabulaClient
import TabulaWire

/// The options of the commands that talk to a server: which server, which key, which output.
///
/// See ``Properties/resolutionHelp`` for where the server and the key come from when the flags
/// are not given.
struct Connection: ParsableArguments {
    @Option(name: .customLong("apihost"), help: ArgumentHelp("The server's URL (default: see below).", valueName: "url"))
    var apiHost: String?

    @Option(name: [.customShort("u"), .customLong("auth")], help: ArgumentHelp("The namespace key (default: see below).", valueName: "uuid:key"))
    var auth: String?

    @Flag(help: "Print the server's JSON, compact with sorted keys, instead of readable text.")
    var json = false

    /// A client for the resolved server and key.
    func client() throws -> Client {
        let apiHost = try Properties.url(apiHost: try Properties.resolveAPIHost(flag: apiHost))
        guard let auth = try Properties.resolveAuth(flag: auth) else {
            throw ValidationError(Properties.missingAuthMessage)
        }
        return Client(apiHost: apiHost, auth: try Credentials(parsing: auth))
    }

    /// Runs a command's work with a client, reporting any error as `error: message` on stderr
    /// with exit status 1.
    func run(_ body: (Client) async throws -> Void) async throws {
        do {
            try await body(try client())
        } catch let exit as ExitCode {
            throw exit
        } catch let error as ClientError where error.code == .invalidCredentials {
            standardError("error: the key is not of the form UUID:KEY; check --auth, TABULA_AUTH or `tabula property get --auth`")
            throw ExitCode.failure
        } catch {
            // The message may quote what the server or the user sent: no escape reaches the terminal.
            standardError("error: \(terminalSafe(Self.describe(error)))")
            throw ExitCode.failure
        }
    }

    /// `tabula namespace list` against a server: the namespaces the key reaches, under a
    /// `namespaces` header (a JSON array with `--json`).
    func listNamespaces() async throws {
        try await run { client in
            let names = try await client.namespaces()
            if json {
                emit(json: names)
            } else {
                print("namespaces")
                for name in names { print(name) }
            }
        }
    }

    private static func describe(_ error: any Error) -> String {
        switch error {
        case let error as ClientError: error.description
        case let error as ValidationError: error.message
        default: "\(error)"
        }
    }
}

// MARK: Output

extension Connection {
    /// One line of JSON: compact, keys sorted, so scripts see stable output.
    func emit(json value: some Encodable) {
        print(String(decoding: JSONValue.encode(value), as: UTF8.self))
    }

    /// A document: one line of JSON with `--json`, else `headline` and the document indented.
    func show(_ value: some Encodable, headline: String) {
        if json {
            emit(json: value)
        } else {
            print(headline)
            print(Self.pretty(value))
        }
    }

    /// Indented JSON with sorted keys, for people; numbers exactly as the server sent them.
    static func pretty(_ value: some Encodable) -> String {
        (try? JSONValue(parsing: JSONValue.bytes(value)))?.prettyEncodedString ?? "null"
    }

    /// The fully qualified name wsk shows: `/namespace/name`, with `_` for the caller's own.
    static func qualified(_ name: String, client: Client) -> String {
        name.hasPrefix("/") ? name : "/\(client.namespace)/\(name)"
    }
}

/// OpenWhisk's paging options, shared by the list commands.
struct Page: ParsableArguments {
    @Option(help: "At most this many (1 to 200; the server's default is 30).")
    var limit: Int?

    @Option(help: "Skip this many first.")
    var skip: Int?
}

extension Connection {
    /// Runs a create (or, with `overwrite`, an update) of a `kind` (`action`, `package`…); a create
    /// refused because the name is taken says how to change it instead.
    static func creating<T>(_ kind: String, overwrite: Bool, _ put: () async throws -> T) async throws -> T {
        do {
            return try await put()
        } catch var error as ClientError where error.code == .conflict && !overwrite {
            error.message += " Use `tabula \(kind) update` to change it."
            throw error
        }
    }
}

extension Connection {
    /// Prints a listing as `wsk` does: a header, then one line per entity, its name padded to 70
    /// columns, `shared` or `private`, then `detail`; with `--json`, the entities as JSON.
    func list<T: Encodable>(_ header: String, _ entities: [T], row: (T) -> (name: String, shared: Bool, detail: String)) {
        if json {
            emit(json: entities)
            return
        }
        print(header)
        for entity in entities {
            let (name, shared, detail) = row(entity)
            let line = "\(name.padding(toLength: max(70, name.count), withPad: " ", startingAt: 0)) \(shared ? "shared" : "private")"
            print(terminalSafe(detail.isEmpty ? line : "\(line) \(detail)"))
        }
    }
}
