import Crypto
import WasmKit

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// The state of a sandbox right after initialisation, and the in-place rewind back to it.
///
/// Holds a private copy of linear memory and the values of every mutable global, in the same
/// form for both engines, so that a function has the same snapshot digest under each. Tables and
/// segment drops are not copied: a module that can change them is rebuilt after every invocation
/// instead (see ``FunctionModule/rebuildReason``), and initialisation is deterministic, so a rebuilt
/// instance has them exactly as the snapshot saw them.
final class Snapshot {
    /// Granularity of the rewind: only chunks that differ from the snapshot are copied back, so a
    /// call that writes a few pages costs a few page copies (plus the comparison).
    static let chunkSize = 4096

    /// Memory contents at snapshot time; `count` is the memory size.
    private let memory: UnsafeMutableRawBufferPointer
    let globals: [Value]
    /// SHA-256 over memory size, memory contents and global values: the snapshot digest.
    let digest: [UInt8]

    var memoryByteCount: Int { memory.count }

    /// The memory contents at snapshot time, for a rewind that copies only the pages written.
    var contents: UnsafeRawPointer { UnsafeRawPointer(memory.baseAddress!) }

    init(memory live: UnsafeRawBufferPointer?, globals values: [Value]) {
        let count = live?.count ?? 0
        let copy = UnsafeMutableRawBufferPointer.allocate(byteCount: count, alignment: Self.chunkSize)
        if let live, count > 0 {
            copy.copyMemory(from: live)
        }
        var hash = SHA256()
        withUnsafeBytes(of: UInt64(count).littleEndian) { hash.update(bufferPointer: $0) }
        hash.update(bufferPointer: UnsafeRawBufferPointer(copy))
        for value in values {
            hash.update(data: Self.bytes(of: value))
        }
        self.memory = copy
        self.globals = values
        self.digest = Array(hash.finalize())
    }

    deinit {
        memory.initializeMemory(as: UInt8.self, repeating: 0)
        memory.deallocate()
    }

    /// Puts memory back as it was; returns the number of 4 KiB chunks copied. The engine puts the
    /// globals back (``globals``).
    ///
    /// The caller has checked that the memory did not grow.
    func rewind(memory target: UnsafeMutableRawBufferPointer?) -> Int {
        var restored = 0
        guard let target, memory.count > 0 else { return 0 }
        let source = UnsafeRawBufferPointer(memory)
        var offset = 0
        while offset < memory.count {
            let length = min(Self.chunkSize, memory.count - offset)
            if memcmp(target.baseAddress! + offset, source.baseAddress! + offset, length) != 0 {
                (target.baseAddress! + offset).copyMemory(from: source.baseAddress! + offset, byteCount: length)
                restored += 1
            }
            offset += length
        }
        return restored
    }

    /// Whether a freshly initialised instance reproduces this snapshot exactly.
    func matches(memory live: UnsafeRawBufferPointer?, globals values: [Value]) -> Bool {
        guard (live?.count ?? 0) == memory.count, values == self.globals else { return false }
        guard let live, memory.count > 0 else { return true }
        return memcmp(live.baseAddress!, memory.baseAddress!, memory.count) == 0
    }

    /// The bytes of a global's value, for the digest. References are hashed as null or not: what
    /// they point to is fixed by the module, not by initialisation.
    private static func bytes(of value: Value) -> [UInt8] {
        func littleEndian(_ bits: UInt64) -> [UInt8] { withUnsafeBytes(of: bits.littleEndian, Array.init) }
        switch value {
        case .i32(let bits), .f32(let bits): return littleEndian(UInt64(bits))
        case .i64(let bits), .f64(let bits): return littleEndian(bits)
        case .v128(let vector): return vector.bytes
        case .ref(let reference):
            switch reference {
            case .function(let address): return [address == nil ? 0 : 1]
            case .extern(let address): return [address == nil ? 2 : 3]
            case .exception(let address): return [address == nil ? 4 : 5]
            }
        }
    }
}
