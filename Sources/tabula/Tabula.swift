import ArgumentParser

@main
struct Tabula: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "tabula",
        abstract: "A confidential serverless platform for WebAssembly functions.",
        subcommands: [Run.self, Serve.self, Action.self, PackageCommand.self, TriggerCommand.self, RuleCommand.self, Activation.self, Namespace.self, LimitsCommand.self, Node.self, BrokerCommand.self, SecretCommand.self, JobCommand.self, LogCommand.self, Property.self, Attest.self, RuntimeCommand.self, Bench.self, WorkerCommand.self, NativeCompileCommand.self]
    )
}
