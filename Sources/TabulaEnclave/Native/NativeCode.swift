/// A module compiled to native code by ``NativeCompiler``: the shared object's bytes and what
/// produced them.
package struct NativeCode: Sendable {
    /// The ELF shared object, loaded by ``NativeImage``.
    package var image: [UInt8]
    /// Canonical function types by id (the translation's), as WasmKit describes them, for the
    /// "indirect call type mismatch" message.
    package var typeDescriptions: [String]
    /// How long translation and compilation took; zero when the code came from the cache.
    package var compileDuration: Duration
    /// Whether the code came from the authenticated cache.
    package var cached: Bool
    /// What the cache said about this module, for the load report: "hit", "miss", "rejected"
    /// (an entry that failed authentication and was replaced) or "off".
    package var cacheStatus: String

    package init(image: [UInt8], typeDescriptions: [String], compileDuration: Duration, cached: Bool, cacheStatus: String) {
        self.image = image
        self.typeDescriptions = typeDescriptions
        self.compileDuration = compileDuration
        self.cached = cached
        self.cacheStatus = cacheStatus
    }
}
