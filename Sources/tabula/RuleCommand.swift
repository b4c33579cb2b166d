import ArgumentParser
import Foundation
import TabulaClient
import TabulaWire

/// `tabula rule`: rules on a server, like `wsk rule`.
struct RuleCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "rule",
        abstract: "Create, update, enable, disable, get, list and delete rules.",
        discussion: "A rule connects a trigger to an action: while it is active (a new rule is), each fire of the trigger invokes the action.\n\n" + Properties.resolutionHelp,
        subcommands: [Create.self, Update.self, Enable.self, Disable.self, Get.self, List.self, Delete.self]
    )

    static let nameHelp = ArgumentHelp("The rule: NAME, or /NAMESPACE/NAME.", valueName: "name")

    /// What `create` and `update` send.
    struct Definition: ParsableArguments {
        @Argument(help: RuleCommand.nameHelp)
        var name: String

        @Argument(help: ArgumentHelp("The trigger: NAME, or /NAMESPACE/NAME.", valueName: "trigger"))
        var trigger: String

        @Argument(help: ArgumentHelp("The action: NAME, PACKAGE/NAME, or /NAMESPACE/….", valueName: "action"))
        var action: String

        @OptionGroup var annotations: AnnotationOptions

        /// Sends the rule; prints `ok: created rule NAME` (or `updated`).
        func put(overwrite: Bool, connection: Connection) async throws {
            try await connection.run { client in
                let rule: Rule
                rule = try await Connection.creating("rule", overwrite: overwrite) {
                    try await client.putRule(name: name, trigger: trigger, action: action, annotations: try annotations.keyValues(), overwrite: overwrite)
                }
                connection.json ? connection.emit(json: rule) : print("ok: \(overwrite ? "updated" : "created") rule \(terminalSafe(name))")
            }
        }
    }

    struct Create: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Create a rule, active.", discussion: Properties.resolutionHelp)

        @OptionGroup var definition: Definition
        @OptionGroup var connection: Connection

        func run() async throws {
            try await definition.put(overwrite: false, connection: connection)
        }
    }

    struct Update: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Change a rule's trigger and action, or create it; an existing rule keeps its status.", discussion: Properties.resolutionHelp)

        @OptionGroup var definition: Definition
        @OptionGroup var connection: Connection

        func run() async throws {
            try await definition.put(overwrite: true, connection: connection)
        }
    }

    struct Enable: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Enable a rule: its trigger's fires invoke its action again.", discussion: Properties.resolutionHelp)

        @Argument(help: RuleCommand.nameHelp)
        var name: String

        @OptionGroup var connection: Connection

        func run() async throws {
            try await RuleCommand.setStatus(name, active: true, connection: connection)
        }
    }

    struct Disable: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Disable a rule: its trigger's fires no longer invoke its action.", discussion: Properties.resolutionHelp)

        @Argument(help: RuleCommand.nameHelp)
        var name: String

        @OptionGroup var connection: Connection

        func run() async throws {
            try await RuleCommand.setStatus(name, active: false, connection: connection)
        }
    }

    /// Enables or disables; prints `ok: enabled rule NAME` (`--json`: the rule as it now is).
    static func setStatus(_ name: String, active: Bool, connection: Connection) async throws {
        try await connection.run { client in
            try await client.setRuleStatus(name: name, active: active)
            if connection.json {
                connection.emit(json: try await client.rule(name: name))
            } else {
                print("ok: \(active ? "enabled" : "disabled") rule \(terminalSafe(name))")
            }
        }
    }

    struct Get: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Show a rule and its status.", discussion: Properties.resolutionHelp)

        @Argument(help: RuleCommand.nameHelp)
        var name: String

        @OptionGroup var connection: Connection

        func run() async throws {
            try await connection.run { client in
                let rule = try await client.rule(name: name)
                connection.show(rule, headline: "ok: got rule \(terminalSafe(name))")
            }
        }
    }

    struct List: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "List the namespace's rules (OpenWhisk lists them without status: tabula rule get shows it).", discussion: Properties.resolutionHelp)

        @OptionGroup var page: Page
        @OptionGroup var connection: Connection

        func run() async throws {
            try await connection.run { client in
                let rules = try await client.rules(limit: page.limit, skip: page.skip)
                connection.list("rules", rules) { rule in
                    ("/\(rule.namespace)/\(rule.name)", rule.publish, "\(rule.trigger.fullyQualified) -> \(rule.action.fullyQualified)")
                }
            }
        }
    }

    struct Delete: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Delete a rule, whatever its status.", discussion: Properties.resolutionHelp)

        @Argument(help: RuleCommand.nameHelp)
        var name: String

        @OptionGroup var connection: Connection

        func run() async throws {
            try await connection.run { client in
                let rule = try await client.deleteRule(name: name)
                connection.json ? connection.emit(json: rule) : print("ok: deleted rule \(terminalSafe(name))")
            }
        }
    }
}
