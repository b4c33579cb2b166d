public import Foundation
public import TabulaAttestation
public import TabulaWire

extension Client {
    /// Verifies a sequence for a confidential invocation: every action it runs (nested sequences
    /// followed), each by its function certificate against the enclave's identity key.
    ///
    /// A sequence has no certificate of its own. The claims returned stand for it: their module
    /// digest is ``Receipt/sequenceDigest(_:)`` of the certified actions, which the sealed request
    /// pins and the receipt must show; policy and snapshot digests are empty (each action's are in
    /// the digest). ``verifyFunction(name:enclave:expectedDigest:at:)`` calls this for a sequence.
    ///
    /// - Parameter expectedDigest: the sequence digest the caller expects; `nil` accepts the
    ///   one the certificates make up.
    /// - Throws: ``ClientError`` with ``ClientError/Code/verificationFailed`` when an action does
    ///   not verify or the sequence is not the expected one.
    public func verifySequence(name: String, enclave: AttestedEnclave, expectedDigest: [UInt8]? = nil, at time: Date = Date()) async throws -> AttestedFunction {
        let entity = try EntityPath(name, defaultNamespace: namespace)
        let sequence = try await action(name: name)
        guard sequence.exec.kind == "sequence" else {
            throw ClientError(.verificationFailed, "The action \(name) is not a sequence.")
        }
        var components: [Receipt.Component] = []
        var certificates: [String] = []
        // What the enclave runs: the sequence's actions in order, nested sequences in their place.
        var pending = Array((sequence.exec.components ?? []).reversed())
        guard !pending.isEmpty else {
            throw ClientError(.verificationFailed, "The sequence \(name) has no actions.")
        }
        // The server says what the sequences hold: bounded, whatever it says (a sequence that holds
        // itself, or many nested ones).
        var lookups = 0
        while let next = pending.popLast() {
            lookups += 1
            guard components.count < 50, pending.count < 50, lookups <= 100 else {
                throw ClientError(.verificationFailed, "The sequence \(name) runs more than 50 actions, or nests more than 50 sequences.")
            }
            let action = try await self.action(name: next)
            if action.exec.kind == "sequence" {
                pending += (action.exec.components ?? []).reversed()
                continue
            }
            let function = try await verifyFunction(name: next, enclave: enclave, at: time)
            components.append(Receipt.Component(
                namespace: function.claims.namespace, name: function.claims.name, moduleDigest: function.claims.moduleDigest,
                policyDigest: function.claims.policyDigest, snapshotDigest: function.claims.snapshotDigest, ran: false))
            certificates.append(function.certificate)
        }
        let digest = Receipt.sequenceDigest(components)
        if let expectedDigest, digest != expectedDigest.hex {
            throw ClientError(.verificationFailed, "The sequence \(name) is made of actions whose digest is sha-256=\(digest), not the expected sha-256=\(expectedDigest.hex).")
        }
        // The document shows a packaged action's namespace as NS/PACKAGE.
        let owner = EntityName.same(entity.namespace, "_") ? String(sequence.namespace.prefix { $0 != "/" }) : entity.namespace
        let claims = FunctionClaims(
            namespace: owner, name: entity.name, version: sequence.version, moduleDigest: digest, policyDigest: "", snapshotDigest: "",
            limits: [:], epoch: enclave.epoch)
        return AttestedFunction(claims: claims, certificate: certificates.joined())
    }
}
