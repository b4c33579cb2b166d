import ArgumentParser
import TabulaEnclave

#if canImport(Glibc)
import Glibc
#endif

/// `tabula worker`: the worker process that runs one namespace's sandboxes, started by the server
/// with its channel as descriptor 3 (hidden: not for people). Everything is in ``Worker``.
struct WorkerCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "worker",
        abstract: "Serve a namespace's sandboxes for the server, confined (started by the server).",
        shouldDisplay: false
    )

    @Option(help: "The namespace whose functions this worker runs (for process listings).")
    var namespace = ""

    @Option(help: "The most private writable memory, in bytes.")
    var memoryLimit: Int?

    @Option(help: "The server's process id: the worker ends when its parent is no longer that process.")
    var parent: Int32?

    @Flag(help: "Serve through the shared memory passed as descriptor 4 (requests too big for it on descriptor 3).")
    var sharedChannel = false

    @Option(help: ArgumentHelp("Confine, then make this system call (for tests).", visibility: .private))
    var checkConfinement: String?

    func run() throws {
        if let checkConfinement { Glibc.exit(Worker.checkConfinement(checkConfinement)) }
        Glibc.exit(Worker.serve(memoryLimit: memoryLimit, sharedChannel: sharedChannel, parent: parent))
    }
}
