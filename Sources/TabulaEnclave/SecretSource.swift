/// Where the tenant secrets a function may read come from: a key broker that released them to
/// this attested enclave, with the functions each may reach.
///
/// The enclave asks for every sealed invocation and gives what it gets to the function as
/// environment variables (`TABULA_SECRET_<NAME>`), beside OpenWhisk's `__OW_*`; nothing is stored
/// with the function's snapshot, and the WASI host wipes the strings when the run ends. Plain
/// invocations get no secrets: their results and logs are stored as the function wrote them.
public protocol SecretSource: Sendable {
    /// The environment entries of the secrets `action` of `namespace`, running the module whose
    /// SHA-256 is `moduleDigest`, may read; empty when it may read none.
    ///
    /// - Throws: ``EnclaveError`` (``EnclaveError/Code/secretsUnavailable``) when the secrets
    ///   cannot be had now.
    func environment(namespace: String, action: String, moduleDigest: [UInt8]) async throws -> [(String, String)]
}
