import ArgumentParser
import Foundation
import TabulaClient
import TabulaWire

/// `tabula package`: packages and bindings on a server, like `wsk package`.
struct PackageCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "package",
        abstract: "Create, update, bind, get, list and delete packages.",
        discussion: """
            A package groups actions under PACKAGE/NAME with default parameters they share; a binding \
            is a package of your own that points at another one (possibly another namespace's shared \
            package), with parameters of its own over the bound package's.


            """ + Properties.resolutionHelp,
        subcommands: [Create.self, Update.self, Bind.self, Get.self, List.self, Delete.self]
    )

    static let nameHelp = ArgumentHelp("The package: NAME, or /NAMESPACE/NAME.", valueName: "name")

    /// `--shared yes|no`, as wsk spells it.
    enum Shared: String, ExpressibleByArgument, CaseIterable {
        case yes, no
    }

    /// What `create` and `update` send.
    struct Definition: ParsableArguments {
        @Argument(help: PackageCommand.nameHelp)
        var name: String

        @OptionGroup var parameters: Action.ParameterOptions
        @OptionGroup var annotations: AnnotationOptions

        @Option(help: ArgumentHelp("Share the package with every namespace (yes), or not (no; a new package's default).", valueName: "yes|no"))
        var shared: Shared?

        /// Sends the package; prints `ok: created package NAME` (or `updated`).
        func put(overwrite: Bool, connection: Connection) async throws {
            try await connection.run { client in
                let package: Package
                package = try await Connection.creating("package", overwrite: overwrite) {
                    try await client.putPackage(
                        name: name, parameters: parameters.isEmpty ? nil : try parameters.keyValues(), annotations: try annotations.keyValues(),
                        publish: shared.map { $0 == .yes }, overwrite: overwrite)
                }
                connection.json ? connection.emit(json: package) : print("ok: \(overwrite ? "updated" : "created") package \(terminalSafe(name))")
            }
        }
    }

    struct Create: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Create a package.",
            discussion: "Give NAME before -p and -a, which take the words after them.\n\n" + Properties.resolutionHelp)

        @OptionGroup var definition: Definition
        @OptionGroup var connection: Connection

        func run() async throws {
            try await definition.put(overwrite: false, connection: connection)
        }
    }

    struct Update: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Change a package, or create it.",
            discussion: "Parameters and annotations given replace the old ones; without -p/-P (-a/-A) the old ones stay, and without --shared so does its sharing.\n\n" + Properties.resolutionHelp)

        @OptionGroup var definition: Definition
        @OptionGroup var connection: Connection

        func run() async throws {
            try await definition.put(overwrite: true, connection: connection)
        }
    }

    struct Bind: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Bind a package: create NAME pointing at PACKAGE, with parameters of its own.",
            discussion: "PACKAGE is one of yours (NAME) or another namespace's shared package (/NAMESPACE/NAME). Its actions run as NAME/ACTION with the binding's parameters over the package's; whether another namespace may run them is still up to their owner (the invokers annotation).\n\n" + Properties.resolutionHelp)

        @Argument(help: ArgumentHelp("The package to bind: NAME or /NAMESPACE/NAME.", valueName: "package"))
        var package: String

        @Argument(help: ArgumentHelp("The new binding's name.", valueName: "name"))
        var name: String

        @OptionGroup var parameters: Action.ParameterOptions
        @OptionGroup var annotations: AnnotationOptions
        @OptionGroup var connection: Connection

        func run() async throws {
            try await connection.run { client in
                let binding: Package
                do {
                    binding = try await client.putPackage(
                        name: name, binding: package, parameters: parameters.isEmpty ? nil : try parameters.keyValues(), annotations: try annotations.keyValues())
                } catch var error as ClientError where error.code == .conflict {
                    error.message += " Delete it first with `tabula package delete \(name)` to bind it anew."
                    throw error
                }
                connection.json ? connection.emit(json: binding) : print("ok: created binding \(terminalSafe(name))")
            }
        }
    }

    struct Get: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Show a package with its actions.", discussion: Properties.resolutionHelp)

        @Argument(help: PackageCommand.nameHelp)
        var name: String

        @OptionGroup var connection: Connection

        func run() async throws {
            try await connection.run { client in
                let package = try await client.package(name: name)
                connection.show(package, headline: "ok: got package \(terminalSafe(name))")
            }
        }
    }

    struct List: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "List packages: all of your namespace's, or another namespace's shared ones.", discussion: Properties.resolutionHelp)

        @Argument(help: ArgumentHelp("Another namespace, whose shared packages to list.", valueName: "namespace"))
        var namespace: String?

        @OptionGroup var page: Page
        @OptionGroup var connection: Connection

        func run() async throws {
            try await connection.run { client in
                let packages = try await client.packages(namespace: namespace.map { $0.hasPrefix("/") ? String($0.dropFirst()) : $0 }, limit: page.limit, skip: page.skip)
                connection.list("packages", packages) { package in
                    let binding = package.binding.isBinding ? "binding of /\(package.binding.namespace ?? "")/\(package.binding.name ?? "")" : ""
                    return ("/\(package.namespace)/\(package.name)", package.publish, binding)
                }
            }
        }
    }

    struct Delete: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Delete a package or a binding.",
            discussion: "A package that still holds actions is deleted only with --force, which deletes them too (their activation records stay).\n\n" + Properties.resolutionHelp)

        @Argument(help: PackageCommand.nameHelp)
        var name: String

        @Flag(help: "Delete the package's actions with it.")
        var force = false

        @OptionGroup var connection: Connection

        func run() async throws {
            try await connection.run { client in
                let package: Package
                do {
                    package = try await client.deletePackage(name: name, force: force)
                } catch var error as ClientError where error.code == .conflict && !force {
                    error.message += " Use `tabula package delete \(name) --force` to delete its actions with it."
                    throw error
                }
                connection.json ? connection.emit(json: package) : print("ok: deleted package \(terminalSafe(name))")
            }
        }
    }
}
