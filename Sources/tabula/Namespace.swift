import ArgumentParser
import Foundation
import TabulaPlatform

/// `tabula namespace`: administer namespaces directly in the store, or list the caller's.
struct Namespace: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Create, list and delete namespaces.",
        subcommands: [Create.self, List.self, Delete.self]
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
}
