extension [UInt8] {
    /// Overwrites the bytes with zeros and empties the array: for plaintexts and key material,
    /// so that what is released to the allocator holds no secret.
    package mutating func wipe() {
        withUnsafeMutableBytes { buffer in
            guard let base = buffer.baseAddress else { return }
            base.initializeMemory(as: UInt8.self, repeating: 0, count: buffer.count)
        }
        removeAll(keepingCapacity: true)
    }
}
