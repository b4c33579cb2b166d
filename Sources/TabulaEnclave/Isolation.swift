/// Where an enclave runs its tenants' WebAssembly.
public enum Isolation: Sendable, Equatable {
    /// In the enclave's own process, beside the monitor's keys: for `tabula run`, tests and the
    /// benchmarks' in-process figures.
    case inProcess
    /// In confined worker processes (`tabula worker`): one per function instance, never shared
    /// between namespaces, holding no long-term key, under a seccomp filter (docs/isolation.md).
    ///
    /// - Parameters:
    ///   - executable: the absolute path of the `tabula` binary to start as `tabula worker`.
    ///   - memoryOverhead: what a worker may commit beyond its function's memory limit (the
    ///     runtime, the compiled code, the snapshot); past it, allocations fail and the worker
    ///     stops, failing only its own invocation.
    ///   - perNamespace: the most workers one namespace may have at once (one per warm function
    ///     instance); a cold start beyond it stops an idle worker of another of the namespace's
    ///     functions, or fails when all are busy.
    case workers(executable: String, memoryOverhead: Int = Isolation.defaultMemoryOverhead, perNamespace: Int = Isolation.defaultWorkersPerNamespace)

    /// The default of the `memoryOverhead` of ``workers(executable:memoryOverhead:perNamespace:)``.
    public static let defaultMemoryOverhead = 512 << 20
    /// The default of the `perNamespace` of ``workers(executable:memoryOverhead:perNamespace:)``.
    public static let defaultWorkersPerNamespace = 16

    /// The path of the running executable, for ``workers(executable:memoryOverhead:)`` when the
    /// running program is `tabula` itself.
    public static var currentExecutable: String? {
        var buffer = [UInt8](repeating: 0, count: 4096)
        let count = buffer.withUnsafeMutableBufferPointer { pointer in
            pointer.baseAddress!.withMemoryRebound(to: CChar.self, capacity: pointer.count) { readlink("/proc/self/exe", $0, pointer.count) }
        }
        guard count > 0, count < buffer.count else { return nil }
        return String(decoding: buffer[..<count], as: UTF8.self)
    }
}

#if canImport(Glibc)
import Glibc
#endif
