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

        func open() throws -> Store {
            let directory = try DataDirectory.prepare(dataDir ?? DataDirectory.default)
            return try Store(path: DataDirectory.database(in: directory))
        }
    }

    struct Create: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Create a namespace in the store and print its key, UUID:KEY.")

        @Argument(help: "The namespace name.")
        var name: String

        @OptionGroup var store: StoreOptions

        func run() throws {
            print(try store.open().createNamespace(name))
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
            guard store.dataDir != nil else {
                try await connection.listNamespaces()
                return
            }
            for name in try store.open().namespaces() { print(name) }
        }
    }

    struct Delete: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Delete a namespace with its actions and activations.")

        @Argument(help: "The namespace name.")
        var name: String

        @OptionGroup var store: StoreOptions

        func run() throws {
            guard try store.open().deleteNamespace(name) else {
                throw ValidationError("there is no namespace \(name)")
            }
            print("ok: deleted namespace \(name)")
        }
    }
}
