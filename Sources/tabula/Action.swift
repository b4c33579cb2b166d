import ArgumentParser
import Foundation
import TabulaClient
import TabulaWire

/// `tabula action`: deploy, inspect, delete and invoke actions on a server, like `wsk action`.
struct Action: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Create, update, get, list, delete and invoke actions on a server.",
        discussion: Properties.resolutionHelp,
        subcommands: [Create.self, Update.self, Get.self, List.self, Delete.self, Invoke.self]
    )

    static let nameHelp = ArgumentHelp("The action: NAME, or /NAMESPACE/NAME for a namespace other than the key's.", valueName: "name")

    struct Create: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Create an action from a WebAssembly module, or a sequence of actions (--sequence).",
            discussion: "Give NAME and FILE before -p and -a, which take the words after them.\n\n" + Properties.resolutionHelp)

        @OptionGroup var definition: Definition
        @OptionGroup var connection: Connection

        func run() async throws {
            try await definition.put(overwrite: false, connection: connection)
        }
    }

    struct Update: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Replace an action's module and settings, or create it.",
            discussion: "Parameters and annotations given replace the old ones; without -p/-P (-a/-A) the old ones stay. Give NAME and FILE before -p and -a, which take the words after them.\n\n" + Properties.resolutionHelp)

        @OptionGroup var definition: Definition
        @OptionGroup var connection: Connection

        func run() async throws {
            try await definition.put(overwrite: true, connection: connection)
        }
    }

    struct Get: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Show an action.", discussion: Properties.resolutionHelp)

        @Argument(help: Action.nameHelp)
        var name: String

        @Flag(help: "Include the module (base64, or WAT text).")
        var code = false

        @OptionGroup var connection: Connection

        func run() async throws {
            try await connection.run { client in
                let action = try await client.action(name: name, includeCode: code)
                connection.show(action, headline: "ok: got action \(name)")
            }
        }
    }

    struct List: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "List the namespace's actions.", discussion: Properties.resolutionHelp)

        @OptionGroup var page: Page

        @Flag(help: "Print only how many actions there are.")
        var count = false

        @OptionGroup var connection: Connection

        func run() async throws {
            try await connection.run { client in
                if count {
                    let count = try await client.actionCount()
                    connection.json ? connection.emit(json: ["actions": count]) : print(count)
                    return
                }
                let actions = try await client.actions(limit: page.limit, skip: page.skip)
                connection.list("actions", actions) { action in
                    ("/\(action.namespace)/\(action.name)", action.publish, action.exec.kind)
                }
            }
        }
    }

    struct Delete: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Delete an action (its activation records stay).", discussion: Properties.resolutionHelp)

        @Argument(help: Action.nameHelp)
        var name: String

        @OptionGroup var connection: Connection

        func run() async throws {
            try await connection.run { client in
                let action = try await client.deleteAction(name: name)
                connection.json ? connection.emit(json: action) : print("ok: deleted action \(name)")
            }
        }
    }

    struct Invoke: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Invoke an action, confidentially unless --plain.",
            discussion: """
                By default the invocation is confidential: the CLI fetches the server's attestation \
                and verifies it against the reference policy (simulated attestation is refused unless \
                --allow-simulated), verifies the action's function certificate (against --module or \
                --digest when given), seals the parameters to the enclave, and opens and verifies the \
                answer and its receipt. Only this machine can read the parameters and the result. \
                --plain sends an ordinary OpenWhisk invocation that the operator can read.

                Without --blocking, prints the activation id and returns at once (a confidential \
                result then opens with `tabula activation result ID` on this machine); with it, waits \
                and prints the activation record; with --result, only the result.

                Exit status: 0 when the invocation was accepted or the function succeeded; 1 on \
                an error (no server, no such action, attestation refused…); 2 when the function failed \
                (its record or result is printed all the same); 3 when a blocking invocation outlasted \
                the wait and still runs.


                """ + Properties.resolutionHelp)

        @Argument(help: Action.nameHelp)
        var name: String

        @OptionGroup var parameters: ParameterOptions

        @Flag(name: .shortAndLong, help: "Wait for the function to end and print its activation record.")
        var blocking = false

        @Flag(name: .shortAndLong, help: "Wait for the function to end and print only its result (implies --blocking).")
        var result = false

        @Option(help: ArgumentHelp("With --blocking, how long to wait before returning with only the activation id (the server's default is 60000).", valueName: "ms"))
        var timeout: Int?

        @Flag(help: "Send a plain OpenWhisk invocation: no attestation, no encryption to the enclave.")
        var plain = false

        @Flag(help: "Ask for the receipt signed by the enclave's identity key on its own (every receipt is provable from the log without it: tabula log verify --receipt ID).")
        var signedReceipt = false

        @OptionGroup var verification: Verification
        @OptionGroup var connection: Connection

        func validate() throws {
            if let timeout, timeout <= 0 { throw ValidationError("--timeout must be a positive number of milliseconds") }
        }

        func run() async throws {
            var status = ExitCode.success
            try await connection.run { client in
                let parameters = JSONValue.object(try parameters.keyValues().object)
                status = plain
                    ? try await invokePlain(client, parameters: parameters)
                    : try await invokeConfidential(client, parameters: parameters)
            }
            if status != .success { throw status }
        }

        private func invokePlain(_ client: Client, parameters: JSONValue) async throws -> ExitCode {
            let outcome = try await client.invoke(name: name, parameters: parameters, blocking: blocking || result, result: result, timeout: timeout)
            let qualified = Connection.qualified(name, client: client)
            switch outcome {
            case .accepted(let id):
                if connection.json {
                    connection.emit(json: ["activationId": id])
                } else if blocking || result {
                    print("ok: invoked \(qualified), but the request has not yet finished, with id \(id)")
                } else {
                    print("ok: invoked \(qualified) with id \(id)")
                }
                return blocking || result ? ExitCode(3) : .success
            case .result(let value, _, let failed):
                connection.json ? connection.emit(json: value) : print(Connection.pretty(value))
                return failed ? ExitCode(2) : .success
            case .activation(let activation):
                connection.show(activation, headline: "ok: invoked \(qualified) with id \(activation.activationId)")
                return outcome.failed ? ExitCode(2) : .success
            }
        }

        private func invokeConfidential(_ client: Client, parameters: JSONValue) async throws -> ExitCode {
            let enclave = try await verification.attest(client)
            let function = try await client.verifyFunction(name: name, enclave: enclave, expectedDigest: try verification.expectedDigest())
            let outcome = try await client.invokeConfidential(
                name: name, parameters: parameters, enclave: enclave, function: function, blocking: blocking || result, timeout: timeout,
                signedReceipt: signedReceipt)
            let qualified = Connection.qualified(name, client: client)
            switch outcome {
            case .accepted(let ticket):
                try Tickets.save(ticket)
                if connection.json {
                    connection.emit(json: ["activationId": ticket.activationId])
                } else {
                    let state = blocking || result ? ", but the request has not yet finished," : ""
                    print("ok: invoked \(qualified) confidentially\(state) with id \(ticket.activationId); open its result with `tabula activation result \(ticket.activationId)`")
                    print(Verification.summary(enclave, function, receipt: nil))
                }
                return blocking || result ? ExitCode(3) : .success
            case .completed(let reply):
                return Self.show(reply, qualified: qualified, result: result, connection: connection, summary: Verification.summary(enclave, function, receipt: reply.receipt))
            }
        }

        /// Prints an opened confidential answer; the exit status says how the function ended.
        static func show(_ reply: ConfidentialReply, qualified: String, result: Bool, connection: Connection, summary: String) -> ExitCode {
            guard let outcome = reply.result else {
                standardError("error: the enclave refused the invocation (\(reply.status)): \(reply.error ?? "no reason given")")
                return .failure
            }
            do {
                try Receipts.save(reply)
            } catch {
                standardError("warning: the receipt was not kept, so `tabula log verify --receipt` cannot prove it later: \(error)")
            }
            if connection.json {
                var document = Verification.json(outcome).objectValue ?? [:]
                document["receipt"] = reply.receipt.map(Verification.json) ?? .null
                connection.emit(json: result ? outcome.result : JSONValue.object(document))
            } else if result {
                print(Connection.pretty(outcome.result))
                print(summary)
            } else {
                connection.show(outcome, headline: "ok: invoked \(qualified) confidentially with id \(reply.activationID)")
                print(summary)
            }
            return outcome.success ? .success : ExitCode(2)
        }
    }
}

// MARK: Options

extension Action {
    /// What `create` and `update` send: the module, its settings, parameters and annotations.
    struct Definition: ParsableArguments {
        @Argument(help: Action.nameHelp)
        var name: String

        @Argument(help: ArgumentHelp("The function: a WebAssembly module (.wasm) or WAT text (.wat); not with --sequence.", valueName: "file"))
        var file: String?

        @Option(help: ArgumentHelp("Make the action a sequence of these actions, run in order (NAME, PACKAGE/NAME or /NAMESPACE/…), instead of FILE.", valueName: "a,b,c"))
        var sequence: String?

        @Option(help: "The reactor export to run per invocation (the server's default is main).")
        var main: String?

        @Option(name: .shortAndLong, help: ArgumentHelp("The time limit of one invocation.", valueName: "ms"))
        var timeout: Int?

        @Option(name: .shortAndLong, help: ArgumentHelp("The memory limit.", valueName: "MB"))
        var memory: Int?

        @Option(name: .shortAndLong, help: ArgumentHelp("The log limit.", valueName: "MB"))
        var logsize: Int?

        @Option(name: .shortAndLong, help: ArgumentHelp("Invocations of this action that may run at once.", valueName: "n"))
        var concurrency: Int?

        @OptionGroup var parameters: ParameterOptions

        @Option(
            name: [.customShort("a"), .customLong("annotation")], parsing: .upToNextOption,
            help: ArgumentHelp("An annotation, repeatable. VALUE is JSON if it parses as JSON, else a string.", valueName: "key value"))
        var annotation: [String] = []

        @Option(name: [.customShort("A"), .customLong("annotation-file")], help: ArgumentHelp("A JSON object of annotations; -a wins over it.", valueName: "file"))
        var annotationFile: String?

        func validate() throws {
            for (flag, value) in [("--timeout", timeout), ("--memory", memory), ("--logsize", logsize), ("--concurrency", concurrency)] {
                if let value, value <= 0 { throw ValidationError("\(flag) must be positive") }
            }
            if (file == nil) == (sequence == nil) { throw ValidationError("give exactly one of FILE (a module) and --sequence a,b,c") }
            // OpenWhisk discards a sequence's own parameters; saying so beats dropping them silently.
            if sequence != nil, !parameters.isEmpty || main != nil {
                throw ValidationError("a sequence has no parameters or entry point of its own; give -p/-P and --main to its actions")
            }
        }

        /// Reads the module and sends it; prints `ok: created action NAME` (or `updated`).
        func put(overwrite: Bool, connection: Connection) async throws {
            try await connection.run { client in
                if let sequence {
                    try await putSequence(sequence, overwrite: overwrite, client: client, connection: connection)
                    return
                }
                guard let file else { return }
                let module: [UInt8]
                do {
                    module = Array(try Data(contentsOf: URL(fileURLWithPath: file)))
                } catch {
                    throw ValidationError("cannot read \(file): \(error.localizedDescription)")
                }
                let parameters = parameters.isEmpty ? nil : try parameters.keyValues()
                let annotations = annotation.isEmpty && annotationFile == nil ? nil : try [KeyValue].parsing(pairs: annotation, file: annotationFile, option: "-a/--annotation")
                let limits = TabulaWire.Action.Limits(timeout: timeout, memory: memory, logs: logsize, concurrency: concurrency)
                let action: TabulaWire.Action
                action = try await Connection.creating("action", overwrite: overwrite) {
                    try await client.putAction(
                        name: name, module: module, isText: Self.isText(module, file: file), main: main, limits: limits,
                        parameters: parameters, annotations: annotations, overwrite: overwrite)
                }
                connection.json ? connection.emit(json: action) : print("ok: \(overwrite ? "updated" : "created") action \(name)")
            }
        }

        /// Sends `--sequence a,b,c`; prints `ok: created action NAME` (or `updated`).
        private func putSequence(_ list: String, overwrite: Bool, client: Client, connection: Connection) async throws {
            let components = list.split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) }
            guard !components.isEmpty, components.allSatisfy({ !$0.isEmpty }) else {
                throw ValidationError("--sequence takes the actions separated by commas, as in --sequence a,b,c")
            }
            let annotations = annotation.isEmpty && annotationFile == nil ? nil : try [KeyValue].parsing(pairs: annotation, file: annotationFile, option: "-a/--annotation")
            let limits = TabulaWire.Action.Limits(timeout: timeout, memory: memory, logs: logsize, concurrency: concurrency)
            let action: TabulaWire.Action
            action = try await Connection.creating("action", overwrite: overwrite) {
                try await client.putSequence(name: name, components: components, annotations: annotations, limits: limits, overwrite: overwrite)
            }
            connection.json ? connection.emit(json: action) : print("ok: \(overwrite ? "updated" : "created") action \(name)")
        }

        /// WAT text by the extension `.wat`, a binary by `.wasm`; otherwise by the magic number.
        static func isText(_ module: [UInt8], file: String) -> Bool {
            switch URL(fileURLWithPath: file).pathExtension.lowercased() {
            case "wat": true
            case "wasm": false
            default: !module.starts(with: [0x00, 0x61, 0x73, 0x6D])
            }
        }
    }

    /// `-p KEY VALUE` and `-P FILE`: the parameters of an action or an invocation.
    struct ParameterOptions: ParsableArguments {
        @Option(
            name: [.customShort("p"), .customLong("param")], parsing: .upToNextOption,
            help: ArgumentHelp("A parameter, repeatable. VALUE is JSON if it parses as JSON, else a string; for a negative number, ' -5'.", valueName: "key value"))
        var param: [String] = []

        @Option(name: [.customShort("P"), .customLong("param-file")], help: ArgumentHelp("A JSON object of parameters ('-' reads stdin); -p wins over it.", valueName: "file"))
        var paramFile: String?

        /// Whether any parameter was given.
        var isEmpty: Bool { param.isEmpty && paramFile == nil }

        func keyValues() throws -> [KeyValue] {
            try .parsing(pairs: param, file: paramFile, option: "-p/--param")
        }
    }
}
