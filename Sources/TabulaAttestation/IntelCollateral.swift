import Crypto
import Foundation
import TabulaWire
import SwiftASN1
import X509

/// Intel's collateral for DCAP quotes: the TCB info of the platform's FMSPC, the identity of the
/// Quoting Enclave, the CRLs of Intel's CAs, and the certificates that sign them. With it a
/// verifier can say not only that a quote is genuine but how current the platform is (``TCBStatus``).
///
/// Built from files, each one of:
/// - a collateral bundle: a JSON object with the members `tcb_info` (the TCB info JSON as a string),
///   `tcb_info_signature` (hex), `tcb_info_issuer_chain` (PEM), `qe_identity`, `qe_identity_signature`,
///   `qe_identity_issuer_chain`, `pck_crl` and `root_ca_crl` (DER as hex, or PEM) and
///   `pck_crl_issuer_chain` (PEM); every member is optional. This is the collateral JSON of
///   Phala-Network/dcap-qvl (`QuoteCollateralV3`), which its `get_collateral` fetches from a PCCS.
/// - a PCS response body as Intel's Provisioning Certification Service (API v4) or a PCCS return it:
///   `{"tcbInfo": {…}, "signature": "<hex>"}` from `/sgx/certification/v4/tcb?fmspc=…` or
///   `/tdx/certification/v4/tcb?fmspc=…`, or `{"enclaveIdentity": {…}, "signature": "<hex>"}` from
///   `…/v4/qe/identity`. PCS sends the signing certificate chain in a response header
///   (`TCB-Info-Issuer-Chain`, `SGX-Enclave-Identity-Issuer-Chain`), so it must be given separately:
///   as a PEM file of certificates here, or with the verifier's extra certificates (`--chain`).
/// - a CRL, DER or PEM (`/sgx/certification/v4/pckcrl?ca=processor|platform`, or Intel's Root CA CRL).
/// - PEM certificates (e.g. the `TCB-Info-Issuer-Chain` header, URL-decoded).
public struct IntelCollateral: Sendable {
    /// A JSON document Intel signed: the exact bytes signed, and the signature.
    struct Signed: Sendable {
        /// The signed bytes: the document exactly as it appeared.
        var body: [UInt8]
        /// ECDSA P-256 r‖s, 64 bytes.
        var signature: [UInt8]
    }

    var tcbInfo: Signed?
    var qeIdentity: Signed?
    var crls: [CertificateRevocationList] = []
    /// Certificates that came with the collateral (issuer chains), DER.
    var certificates: [[UInt8]] = []

    /// Empty collateral: add files to it with ``add(_:)``.
    public init() {}

    /// Collateral from the contents of several files (see the type's description for the formats).
    public init(files: [[UInt8]]) throws {
        for file in files { try add(file) }
    }

    /// Whether a TCB info was given (without one there is no TCB status).
    public var hasTCBInfo: Bool { tcbInfo != nil }

    /// Adds the contents of one file: a collateral bundle, a PCS response, a CRL or PEM certificates.
    public mutating func add(_ file: [UInt8]) throws(AttestationError) {
        let text = String(decoding: file, as: UTF8.self)
        let trimmed = text.trimmingCharacters(in: .whitespacesAndNewlines)
        if trimmed.hasPrefix("-----BEGIN X509 CRL-----") {
            crls += try CertificateRevocationList.parseAll(file)
            if trimmed.contains("-----BEGIN CERTIFICATE-----") { certificates += try Self.certificates(pem: trimmed) }
        } else if trimmed.hasPrefix("-----BEGIN CERTIFICATE-----") {
            certificates += try Self.certificates(pem: trimmed)
        } else if file.first == 0x30 {
            crls.append(try CertificateRevocationList(der: file))
        } else if trimmed.hasPrefix("{") {
            try addJSON(file)
        } else {
            throw AttestationError(
                .malformed, "collateral is neither JSON (a bundle or a PCS response), a CRL (DER or PEM) nor PEM certificates")
        }
    }

    private mutating func addJSON(_ file: [UInt8]) throws(AttestationError) {
        let json: JSONValue
        do {
            json = try JSONValue(parsing: file)
        } catch {
            throw AttestationError(.malformed, "collateral JSON does not parse: \(error)")
        }
        let fields = try JSONFields(json, "collateral")
        var recognised = false
        // A PCS response: the signature covers the member's value exactly as it is in the body.
        let responses: [(String, WritableKeyPath<IntelCollateral, Signed?>)] = [("tcbInfo", \.tcbInfo), ("enclaveIdentity", \.qeIdentity)]
        for (member, slot) in responses where json[member]?.objectValue != nil {
            guard let body = RawJSON.member(member, in: file) else {
                throw AttestationError(.malformed, "collateral: cannot find the bytes of \"\(member)\"")
            }
            try set(slot, Signed(body: Array(body), signature: try fields.hex("signature", count: 64)), member)
            recognised = true
        }
        // A collateral bundle: the documents are strings, signed as they are.
        let documents: [(String, String, WritableKeyPath<IntelCollateral, Signed?>)] = [
            ("tcb_info", "tcb_info_signature", \.tcbInfo), ("qe_identity", "qe_identity_signature", \.qeIdentity),
        ]
        for (member, signature, slot) in documents where fields.has(member) {
            let body = Array(try fields.string(member).utf8)
            try set(slot, Signed(body: body, signature: try fields.hex(signature, count: 64)), member)
            recognised = true
        }
        for member in ["tcb_info_issuer_chain", "qe_identity_issuer_chain", "pck_crl_issuer_chain"] where fields.has(member) {
            certificates += try Self.certificates(pem: try fields.string(member))
            recognised = true
        }
        for member in ["pck_crl", "root_ca_crl"] where fields.has(member) {
            let value = try fields.string(member)
            if value.contains("-----BEGIN X509 CRL-----") {
                crls += try CertificateRevocationList.parseAll(Array(value.utf8))
            } else if let der = [UInt8](hex: value) ?? Data(base64Encoded: value).map({ [UInt8]($0) }) {
                crls.append(try CertificateRevocationList(der: der))
            } else {
                throw AttestationError(.malformed, "collateral: \"\(member)\" is neither hex, base64 nor PEM")
            }
            recognised = true
        }
        guard recognised else {
            throw AttestationError(
                .malformed,
                "collateral JSON has none of tcbInfo, enclaveIdentity (a PCS response) or tcb_info, qe_identity, pck_crl, root_ca_crl (a bundle)")
        }
    }

    private mutating func set(_ slot: WritableKeyPath<IntelCollateral, Signed?>, _ value: Signed, _ name: String) throws(AttestationError) {
        guard self[keyPath: slot] == nil else {
            throw AttestationError(.malformed, "collateral: \(name) was given twice")
        }
        self[keyPath: slot] = value
    }

    /// The certificates that came with the collateral, parsed; ones that do not parse are left out
    /// (they could not sign anything anyway).
    func certificateObjects() -> [Certificate] {
        certificates.compactMap { try? Certificate(derEncoded: $0) }
    }

    /// DER certificates from PEM text.
    static func certificates(pem: String) throws(AttestationError) -> [[UInt8]] {
        do {
            return try PEMDocument.parseMultiple(pemString: pem).filter { $0.discriminator == "CERTIFICATE" }.map { $0.derBytes }
        } catch {
            throw AttestationError(.malformed, "collateral: PEM certificates do not parse (\(error))")
        }
    }

    /// The JSON of `document` once its signature by Intel's TCB Signing certificate checks out.
    ///
    /// The signer must be a certificate named "Intel SGX TCB Signing", issued directly by the pinned
    /// Intel SGX Root CA, valid at `time` and not revoked by a CRL given. Checking the name matters: PCK
    /// certificates chain to the same root, and a PCK key is in the hands of whoever runs the platform.
    ///
    /// - Parameter offered: certificates to look for the signer in (the collateral's and any extra).
    func verified(
        _ document: Signed, _ what: String, offered: [Certificate], at time: Date
    ) async throws(AttestationError) -> (json: JSONValue, crlIssuers: [String]) {
        guard let signature = try? P256.Signing.ECDSASignature(rawRepresentation: document.signature) else {
            throw AttestationError(.malformed, "\(what): the signature is not a 64-byte r‖s ECDSA signature")
        }
        let signers = offered.filter { CertificateRevocationList.commonName($0.subject) == "Intel SGX TCB Signing" }
        guard !signers.isEmpty else {
            throw AttestationError(
                .untrustedChain,
                "\(what): no Intel SGX TCB Signing certificate was given; a PCS response needs its issuer chain header as PEM (--chain or a collateral file)")
        }
        guard let signer = signers.first(where: {
            P256.Signing.PublicKey($0.publicKey)?.isValidSignature(signature, for: document.body) == true
        }) else {
            throw AttestationError(.badSignature, "\(what): the signature by the Intel SGX TCB Signing certificate does not verify")
        }
        let (path, crlIssuers) = try await IntelChain.validate(
            signer, intermediates: [], crls: crls, at: time, what: "\(what) signing certificate")
        guard path.count == 2 else {
            throw AttestationError(.untrustedChain, "\(what): the TCB Signing certificate is not issued by the Intel SGX Root CA itself")
        }
        do {
            return (try JSONValue(parsing: document.body), crlIssuers)
        } catch {
            throw AttestationError(.malformed, "\(what) is not JSON: \(error)")
        }
    }
}
