import ArgumentParser
import Foundation
import TabulaClient
import TabulaWire

/// `tabula trigger`: triggers on a server, like `wsk trigger`.
struct TriggerCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "trigger",
        abstract: "Create, update, get, list, delete and fire triggers.",
        discussion: "A trigger is a named channel of events; its active rules (tabula rule) invoke their actions, each time it fires, with the trigger's parameters under the event's.\n\n" + Properties.resolutionHelp,
        subcommands: [Create.self, Update.self, Get.self, List.self, Delete.self, Fire.self]
    )

    static let nameHelp = ArgumentHelp("The trigger: NAME, or /NAMESPACE/NAME.", valueName: "name")

    /// What `create` and `update` send.
    struct Definition: ParsableArguments {
        @Argument(help: TriggerCommand.nameHelp)
        var name: String

        @OptionGroup var parameters: Action.ParameterOptions
        @OptionGroup var annotations: AnnotationOptions

        /// Sends the trigger; prints `ok: created trigger NAME` (or `updated`).
        func put(overwrite: Bool, connection: Connection) async throws {
            try await connection.run { client in
                let trigger: Trigger
                trigger = try await Connection.creating("trigger", overwrite: overwrite) {
                    try await client.putTrigger(
                        name: name, parameters: parameters.isEmpty ? nil : try parameters.keyValues(), annotations: try annotations.keyValues(), overwrite: overwrite)
                }
                connection.json ? connection.emit(json: trigger) : print("ok: \(overwrite ? "updated" : "created") trigger \(terminalSafe(name))")
            }
        }
    }

    struct Create: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Create a trigger.",
            discussion: "Give NAME before -p and -a, which take the words after them.\n\n" + Properties.resolutionHelp)

        @OptionGroup var definition: Definition
        @OptionGroup var connection: Connection

        func run() async throws {
            try await definition.put(overwrite: false, connection: connection)
        }
    }

    struct Update: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Change a trigger, or create it.",
            discussion: "Parameters and annotations given replace the old ones; without -p/-P (-a/-A) the old ones stay.\n\n" + Properties.resolutionHelp)

        @OptionGroup var definition: Definition
        @OptionGroup var connection: Connection

        func run() async throws {
            try await definition.put(overwrite: true, connection: connection)
        }
    }

    struct Get: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Show a trigger and the rules that name it.", discussion: Properties.resolutionHelp)

        @Argument(help: TriggerCommand.nameHelp)
        var name: String

        @OptionGroup var connection: Connection

        func run() async throws {
            try await connection.run { client in
                let trigger = try await client.trigger(name: name)
                connection.show(trigger, headline: "ok: got trigger \(terminalSafe(name))")
            }
        }
    }

    struct List: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "List the namespace's triggers.", discussion: Properties.resolutionHelp)

        @OptionGroup var page: Page
        @OptionGroup var connection: Connection

        func run() async throws {
            try await connection.run { client in
                let triggers = try await client.triggers(limit: page.limit, skip: page.skip)
                connection.list("triggers", triggers) { trigger in ("/\(trigger.namespace)/\(trigger.name)", trigger.publish, "") }
            }
        }
    }

    struct Delete: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Delete a trigger (the rules that name it stay, inactive).", discussion: Properties.resolutionHelp)

        @Argument(help: TriggerCommand.nameHelp)
        var name: String

        @OptionGroup var connection: Connection

        func run() async throws {
            try await connection.run { client in
                let trigger = try await client.deleteTrigger(name: name)
                connection.json ? connection.emit(json: trigger) : print("ok: deleted trigger \(terminalSafe(name))")
            }
        }
    }

    struct Fire: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Fire a trigger with the parameters given as its event.",
            discussion: """
                Prints the id of the trigger's activation: `tabula activation get ID` shows, in its logs, \
                each rule's action activation. When no rule of the trigger is active, nothing runs and \
                there is no activation (the server answers 204); that is said, with exit status 0 \
                (--json prints {"activationId": null}).


                """ + Properties.resolutionHelp)

        @Argument(help: TriggerCommand.nameHelp)
        var name: String

        @OptionGroup var parameters: Action.ParameterOptions
        @OptionGroup var connection: Connection

        func run() async throws {
            try await connection.run { client in
                let payload = JSONValue.object(try parameters.keyValues().object)
                let id = try await client.fireTrigger(name: name, payload: payload)
                let qualified = terminalSafe(Connection.qualified(name, client: client))
                if connection.json {
                    connection.emit(json: ["activationId": id.map(JSONValue.string) ?? .null] as JSONValue)
                } else if let id {
                    print("ok: triggered \(qualified) with id \(id)")
                } else {
                    print("ok: triggered \(qualified), but no rule of it is active: no action ran and there is no activation")
                }
            }
        }
    }
}
