import ArgumentParser
import Foundation
import TabulaPlatform
import TabulaWire

/// `tabula namespace`: administer namespaces directly in the store, or list the caller's.
struct Namespace: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Create, list and delete namespaces.",
        subcommands: [Create.self, List.self, Delete.self, Limits.self]
    )

    struct StoreOptions: ParsableArguments {
        @Option(help: "The data directory of the server (default: $TABULA_CONFIG_DIR or ~/.tabula).")
        var dataDir: String?

        @Option(help: "The server's store, when it is not the SQLite database in the data directory: postgres://USER@HOST[:PORT][,HOST[:PORT]…]/DATABASE (default: $TABULA_STORE).")
        var store: String?

        /// Whether the command administers a store directly rather than asking a server.
        var isGiven: Bool { dataDir != nil || store != nil }

        func open() async throws -> Store {
            let directory = try DataDirectory.prepare(dataDir ?? DataDirectory.default)
            return try await Store.open(try DataDirectory.storeLocation(store, in: directory))
        }
    }

    struct Create: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Create a namespace in the store and print its key, UUID:KEY.")

        @Argument(help: "The namespace name.")
        var name: String

        @OptionGroup var store: StoreOptions

        func run() async throws {
            let store = try await store.open()
            do {
                print(try await store.createNamespace(name))
                await store.close()
            } catch {
                await store.close()
                throw error
            }
        }
    }

    struct List: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "List namespaces.",
            discussion: "With --data-dir, lists every namespace in that store (admin); otherwise asks the server for the caller's."
        )

        @OptionGroup var store: StoreOptions
        @OptionGroup var connection: Connection

        func run() async throws {
            guard store.isGiven else {
                try await connection.listNamespaces()
                return
            }
            let store = try await store.open()
            for name in try await store.namespaces() { print(name) }
            await store.close()
        }
    }

    struct Delete: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Delete a namespace with its actions and activations.")

        @Argument(help: "The namespace name.")
        var name: String

        @OptionGroup var store: StoreOptions

        func run() async throws {
            let store = try await store.open()
            let deleted = try await store.deleteNamespace(name)
            await store.close()
            guard deleted else {
                throw ValidationError("there is no namespace \(name)")
            }
            print("ok: deleted namespace \(name)")
        }
    }

    struct Limits: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Show or set a namespace's own limits (OpenWhisk's invocationsPerMinute, concurrentInvocations, firesPerMinute).",
            discussion: """
                Without a limit option, prints the namespace's own limits (what it has set; the server's \
                defaults apply to the rest). A limit given replaces that one; --reset drops them all. \
                Servers using the store apply a change within seconds. GET /api/v1/namespaces/NS/limits \
                shows the limits in force.
                """
        )

        @Argument(help: "The namespace name.")
        var name: String

        @Option(help: "Invocations the namespace may start per minute.")
        var invocationsPerMinute: Int?

        @Option(help: "Invocations of the namespace that may run at once.")
        var concurrentInvocations: Int?

        @Option(help: "Trigger fires the namespace may make per minute.")
        var firesPerMinute: Int?

        @Flag(help: "Drop the namespace's own limits: the server's defaults apply.")
        var reset = false

        @OptionGroup var store: StoreOptions

        func validate() throws {
            for (value, option) in [(invocationsPerMinute, "--invocations-per-minute"), (concurrentInvocations, "--concurrent-invocations"), (firesPerMinute, "--fires-per-minute")] {
                if let value, value < 0 { throw ValidationError("\(option) must not be negative") }
            }
            if reset && (invocationsPerMinute != nil || concurrentInvocations != nil || firesPerMinute != nil) {
                throw ValidationError("give either --reset or limits, not both")
            }
        }

        func run() async throws {
            let store = try await store.open()
            do {
                var limits = try await store.namespaceLimits(name) ?? NamespaceLimits()
                if reset {
                    limits = NamespaceLimits()
                } else {
                    if let invocationsPerMinute { limits.invocationsPerMinute = invocationsPerMinute }
                    if let concurrentInvocations { limits.concurrentInvocations = concurrentInvocations }
                    if let firesPerMinute { limits.firesPerMinute = firesPerMinute }
                }
                if reset || invocationsPerMinute != nil || concurrentInvocations != nil || firesPerMinute != nil {
                    try await store.setNamespaceLimits(limits, namespace: name)
                }
                print(String(decoding: JSONValue.bytes(limits), as: UTF8.self))
                await store.close()
            } catch {
                await store.close()
                throw error
            }
        }
    }
}
