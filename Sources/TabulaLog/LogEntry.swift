/// What a leaf of the verifiable log holds: `kind ‖ 0x00 ‖ data`.
///
/// The kind names what the data is, so that no entry of one kind can be read as another; every
/// party that checks an inclusion builds the leaf input here, as the log does.
public enum LogEntry {
    /// The kinds of entries, as their names appear in the leaf input.
    public enum Kind: String, Sendable, CaseIterable {
        /// An identity certificate (DER): an enclave's key bound to its TEE's evidence.
        case identityCertificate = "identity-certificate"
        /// A function certificate (PEM): the module, policy and snapshot of a function version.
        case functionCertificate = "function-certificate"
        /// A key epoch's key configurations as the identity key signed them (canonical JSON with
        /// the attestation bundle's fields `epoch`, `expires`, `keyConfigs`, `keyConfigsSignature`):
        /// every key a client may have sealed to is in the log.
        case keyConfigurations = "key-configurations"
        /// The commitment to one confidential invocation's receipt: SHA-256 of the receipt's
        /// bytes, which carry a random salt, so the log reveals nothing of the receipt.
        case receipt
        /// A multi-party job's record (canonical JSON): what ran, on which sealed inputs, under
        /// which policies, for whom, and how it ended (or why it was refused).
        case job
    }

    /// The leaf input of an entry.
    public static func leafInput(_ kind: Kind, _ data: [UInt8]) -> [UInt8] {
        Array(kind.rawValue.utf8) + [0] + data
    }

    /// The kind and data of a leaf input, or `nil` when it does not start with a known kind.
    public static func parse(_ input: [UInt8]) -> (kind: Kind, data: ArraySlice<UInt8>)? {
        guard let zero = input.firstIndex(of: 0), let kind = Kind(rawValue: String(decoding: input[..<zero], as: UTF8.self)) else { return nil }
        return (kind, input[(zero + 1)...])
    }
}
