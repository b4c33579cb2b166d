import CNativeRuntime

/// Native code mapped into this process: a function's compiled module, shared by all its
/// sandboxes in the process, unmapped when the last one goes.
///
/// Mapped from bytes by Tabula's own loader (``tabula_native_load``), never from a path: the bytes
/// are the ones the compiler produced or the code cache authenticated, so nothing can swap the
/// code between the check and the mapping, and a confined worker can map code without opening a
/// file.
package final class NativeImage: @unchecked Sendable {
    // Unchecked: immutable after init; the mapping is read-only or executable.
    private var image = tabula_native_image()
    /// The module descriptor inside the image.
    let module: UnsafePointer<tabula_native_module>
    /// Canonical function types by id, for the "indirect call type mismatch" message.
    let typeDescriptions: [String]

    package init(code: NativeCode) throws(EnclaveError) {
        var problem = [CChar](repeating: 0, count: 256)
        var loaded = tabula_native_image()
        let status = code.image.withUnsafeBufferPointer { bytes in
            tabula_native_load(bytes.baseAddress, bytes.count, &loaded, &problem, problem.count)
        }
        image = loaded
        guard status == 0, let module = loaded.module else {
            let reason = String(decoding: problem.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
            throw EnclaveError(.compilationFailed, "the native code of the function cannot be loaded: \(reason)")
        }
        self.module = module
        self.typeDescriptions = code.typeDescriptions
    }

    deinit {
        tabula_native_unload(&image)
    }

    /// Where the image is mapped: a fault whose instruction lies outside it is never a trap of
    /// the function's code (``tabula_native_guard_enter``).
    var mapping: (base: UnsafeRawPointer?, length: Int) { (UnsafeRawPointer(image.base), image.length) }

    /// The exports the module declares, by name: (kind, index).
    func export(_ name: String) -> (kind: UInt32, index: UInt32)? {
        let descriptor = module.pointee
        guard let exports = descriptor.exports else { return nil }
        for position in 0..<Int(descriptor.export_count) {
            let entry = exports[position]
            if let cName = entry.name, String(cString: cName) == name { return (entry.kind, entry.index) }
        }
        return nil
    }
}
