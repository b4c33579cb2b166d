import Crypto
/// The names and shapes a confidential invocation shares between client and enclave.
///
/// A confidential invocation is an Oblivious HTTP request (RFC 9458) sent to the OpenWhisk invoke
/// path of an action. Inside it, a Binary HTTP request (RFC 9292) repeats that path, so the
/// enclave, not the untrusted control plane, decides which function the parameters are for.
public enum Confidential {
    /// Inner request field: `sha-256=<hex>`, the module digest the client expects. The enclave
    /// refuses to run any other module on the parameters.
    public static let expectDigestField = "tabula-expect-digest"
    /// Inner response field: base64 of the receipt's JSON bytes (see ``Receipt``).
    public static let receiptField = "tabula-receipt"
    /// Inner response field: base64 of the identity key's ECDSA P-256/SHA-256 signature (DER) over
    /// the receipt's JSON bytes; present when the request carried ``signReceiptField`` or the
    /// function's policy signs every receipt.
    public static let receiptSignatureField = "tabula-receipt-signature"
    /// Inner request field (any value): ask for the receipt signed by the identity key, besides
    /// its commitment in the verifiable log.
    public static let signReceiptField = "tabula-sign-receipt"

    /// The member of a confidential activation's `result` that holds the sealed response (base64
    /// of `message/ohttp-res`): all the store and `…/activations/{id}/result` ever see of it.
    public static let sealedResultKey = "sealed"

    /// The query parameter that names the enclave a client verified (``enclaveFingerprint(_:)``) when
    /// it asks for a function certificate: in a cluster, the node whose enclave that is answers,
    /// whichever node the request reached.
    public static let enclaveParameter = "enclave"

    /// The request header that marks a request one node of a cluster forwarded to another: it is
    /// never forwarded again.
    public static let forwardedHeader = "x-tabula-forwarded"

    /// Names an enclave by its identity key: hex SHA-256 of the key's DER encoding
    /// (SubjectPublicKeyInfo).
    public static func enclaveFingerprint(_ identityKeyDER: [UInt8]) -> String {
        Array(SHA256.hash(data: identityKeyDER)).hex
    }

    /// The invoke path of an action, as both the outer and the inner request use it.
    public static func invokePath(namespace: String, name: String) -> String {
        "/api/v1/namespaces/\(namespace)/actions/\(name)"
    }

    /// `sha-256=<hex>`, the value of ``expectDigestField``.
    public static func digestValue(_ digest: [UInt8]) -> String {
        "sha-256=\(digest.hex)"
    }

    /// The digest a ``expectDigestField`` value names, or `nil` when it is not `sha-256=<64 hex digits>`.
    public static func digest(fromValue value: String) -> [UInt8]? {
        let prefix = "sha-256="
        guard value.lowercased().hasPrefix(prefix), let digest = [UInt8](hex: String(value.dropFirst(prefix.count))), digest.count == 32 else {
            return nil
        }
        return digest
    }
}
