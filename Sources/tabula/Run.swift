import ArgumentParser
import Foundation
import TabulaEnclave
import TabulaWire

/// `tabula run`: load one function into one enclave and invoke it once per input, all in the same
/// reused sandbox.
struct Run: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Run a function locally, once per input, in one enclave and one reused sandbox.",
        discussion: """
            Prints one line per invocation on stdout, OpenWhisk's activation response \
            {"status": …, "success": …, "result": …}; the function's logs go to stderr. \
            Exits 0 when every invocation ran, whatever the function returned.
            """
    )

    @Argument(help: "The function: a WebAssembly module (.wasm) or WAT text (.wat).")
    var file: String

    @Option(help: "The export a reactor module runs per invocation.")
    var main = "main"

    @Option(help: "The parameters of one invocation, a JSON object.")
    var input: String?

    @Option(help: ArgumentHelp("A JSON Lines file: one invocation per line ('-' reads stdin).", valueName: "file.jsonl"))
    var inputs: String?

    @Option(help: "The memory limit in MiB.")
    var memory = 256

    @Option(help: "The time limit of one invocation in milliseconds.")
    var timeout = 60_000

    @Option(help: "The fuel limit of one invocation (about one unit per instruction); none by default.")
    var fuel: UInt64?

    @Option(help: "The engine: native (compiled ahead of time; the default where the Swift toolchain's clang is found) or interpreter.")
    var engine: String?

    @Flag(inversion: .prefixedNo, help: "Grant the function the clocks (granted by default).")
    var clock = Capabilities.default.contains(.clock)

    @Flag(inversion: .prefixedNo, help: "Grant the function secure randomness (granted by default).")
    var random = Capabilities.default.contains(.random)

    func validate() throws {
        if input != nil && inputs != nil {
            throw ValidationError("give either --input or --inputs, not both")
        }
        guard memory > 0 else { throw ValidationError("--memory must be a positive number of MiB") }
        guard timeout > 0 else { throw ValidationError("--timeout must be a positive number of milliseconds") }
        if let engine, ExecutionEngine(annotation: engine) == nil { throw ValidationError("--engine must be native (or aot) or interpreter") }
    }

    func run() async throws {
        let module: [UInt8]
        do {
            module = Array(try Data(contentsOf: URL(fileURLWithPath: file)))
        } catch {
            throw ValidationError("cannot read \(file): \(error.localizedDescription)")
        }
        let lines = try readInputs()
        var capabilities: Capabilities = []
        if clock { capabilities.insert(.clock) }
        if random { capabilities.insert(.random) }
        let name = FunctionName(namespace: "local", name: URL(fileURLWithPath: file).deletingPathExtension().lastPathComponent)
        let definition = FunctionDefinition(
            name: name, module: module, main: main,
            limits: Limits(memory: memory << 20, timeout: .milliseconds(timeout), fuel: fuel),
            capabilities: capabilities, engine: engine.flatMap(ExecutionEngine.init(annotation:)))

        let engines = definition.engine == .interpreter ? Engines.interpreterOnly : Engines.detect()
        let enclave = Enclave(engines: engines)
        var failures = 0
        do {
            let info = try await enclave.load(definition)
            standardError("engine: \(info.engine.rawValue)\(info.engineFallback.map { " (\($0))" } ?? "")\(info.compileTime.map { ", compiled in \($0.milliseconds) ms" } ?? "")")
            for line in info.initializationLogs { standardError("init: \(line)") }
            for (number, line) in lines {
                do {
                    let parameters = try Self.parameters(line, number: number)
                    let invocation = try await enclave.invoke(name, parameters: parameters)
                    for log in invocation.logs { standardError(terminalSafe(log)) }
                    print(invocation.response.jsonLine)
                } catch {
                    failures += 1
                    standardError("error: \(number.map { "input line \($0): " } ?? "")\(error)")
                }
            }
        } catch {
            try await enclave.shutdown()
            standardError("error: \(error)")
            throw ExitCode.failure
        }
        try await enclave.shutdown()
        if failures > 0 { throw ExitCode.failure }
    }

    /// The inputs with their line numbers (`nil` for `--input` and the default `{}`).
    private func readInputs() throws -> [(Int?, String)] {
        if let input { return [(nil, input)] }
        guard let inputs else { return [(nil, "{}")] }
        let data: Data
        do {
            data = inputs == "-" ? FileHandle.standardInput.readDataToEndOfFile() : try Data(contentsOf: URL(fileURLWithPath: inputs))
        } catch {
            throw ValidationError("cannot read \(inputs): \(error.localizedDescription)")
        }
        return String(decoding: data, as: UTF8.self)
            .split(separator: "\n", omittingEmptySubsequences: false)
            .enumerated()
            .map { ($0.offset + 1, String($0.element)) }
            .filter { !$0.1.trimmingCharacters(in: .whitespaces).isEmpty }
    }

    private static func parameters(_ text: String, number: Int?) throws -> JSONValue {
        let value: JSONValue
        do {
            value = try JSONValue(parsing: text)
        } catch {
            throw ValidationError("not valid JSON")
        }
        guard case .object = value else { throw ValidationError("the parameters must be a JSON object") }
        return value
    }
}
