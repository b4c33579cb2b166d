import ArgumentParser
import TabulaEnclave

#if canImport(Glibc)
import Glibc
#endif

/// `tabula native-compile`: parses, translates and compiles one module read from stdin, for a
/// server whose tenants' code runs in workers (hidden: started by the server, which never parses
/// tenants' modules itself). Everything is in ``NativeCompiler``.
struct NativeCompileCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "native-compile",
        abstract: "Compile a module read from stdin to native code for the server (started by the server).",
        shouldDisplay: false
    )

    @Option(help: "The export a reactor module runs per invocation.")
    var main = "main"

    @Option(help: "The function's memory limit in bytes.")
    var memoryLimit = 256 << 20

    @Option(help: "The C compiler to use.")
    var compiler: String?

    @Flag(help: "Print the C translation instead of compiling it (to read what the engine compiles).")
    var emitC = false

    func run() throws {
        if emitC { Glibc.exit(NativeCompiler.printTranslation(main: main, memoryLimit: memoryLimit)) }
        Glibc.exit(NativeCompiler.serveChild(main: main, memoryLimit: memoryLimit, compiler: compiler))
    }
}
