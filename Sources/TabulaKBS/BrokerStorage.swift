/// Where the broker keeps its sealed state: one blob with a version, replaced only by whoever
/// read the current version (compare and swap), so that broker instances sharing a store never
/// overwrite each other's changes.
public protocol BrokerStorage: Sendable {
    /// The sealed state and its version; `nil` before the first broker saved any.
    func loadBrokerState() async throws -> (bytes: [UInt8], version: Int64)?
    /// Saves `bytes` if the stored version is still `version` (`nil`: if none is stored yet);
    /// returns the new version, or `nil` when another instance saved first.
    func saveBrokerState(_ bytes: [UInt8], replacing version: Int64?) async throws -> Int64?
    /// The owner (credentials' UUID) of a namespace now; `nil` when there is none.
    func namespaceOwner(_ namespace: String) async throws -> String?
}
