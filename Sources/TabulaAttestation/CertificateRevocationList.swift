import Crypto
import Foundation
import SwiftASN1
import X509

/// An X.509 certificate revocation list (RFC 5280 section 5) signed with ECDSA P-256/SHA-256, as
/// Intel issues them for the SGX Root CA and the PCK Platform and Processor CAs.
///
/// swift-certificates 1.21.1 has no CRL type, so this is a strict DER walk of what revocation checks
/// need: the signed bytes, the issuer, the update times and the revoked serial numbers. Nothing in it
/// is trusted until ``verify(issuer:at:)`` checked the signature with the issuer's key and the times.
struct CertificateRevocationList: Sendable {
    /// The DER of tbsCertList: the bytes the issuer signed.
    let tbs: [UInt8]
    /// The DER ECDSA signature.
    let signature: [UInt8]
    /// The issuer's name.
    let issuer: DistinguishedName
    let thisUpdate: Date
    let nextUpdate: Date?
    /// Revoked serial numbers, without leading zero bytes.
    let revokedSerials: Set<[UInt8]>

    /// ecdsa-with-SHA256 (1.2.840.10045.4.3.2).
    private static let ecdsaWithSHA256: ASN1ObjectIdentifier = [1, 2, 840, 10045, 4, 3, 2]

    init(der: [UInt8]) throws(AttestationError) {
        func bad(_ what: String) -> AttestationError { AttestationError(.malformed, "CRL: \(what)") }
        do {
            let root = try DER.parse(der)
            guard root.encodedBytes.count == der.count else { throw bad("trailing bytes") }
            let top = try Self.children(root)
            guard top.count == 3 else { throw bad("expected tbsCertList, signatureAlgorithm, signature") }
            let fields = try Self.children(top[0])
            var index = 0
            // version INTEGER OPTIONAL (v2 = 1)
            if index < fields.count, fields[index].identifier == .integer { index += 1 }
            guard index + 3 <= fields.count else { throw bad("tbsCertList is too short") }
            let innerAlgorithm = try Self.algorithm(fields[index])
            let outerAlgorithm = try Self.algorithm(top[1])
            guard innerAlgorithm == Self.ecdsaWithSHA256, outerAlgorithm == Self.ecdsaWithSHA256 else {
                throw AttestationError(.unsupported, "CRL: signature algorithm is not ECDSA with SHA-256")
            }
            issuer = try DistinguishedName(derEncoded: fields[index + 1])
            thisUpdate = try Self.time(fields[index + 2])
            index += 3
            if index < fields.count, [.utcTime, .generalizedTime].contains(fields[index].identifier) {
                nextUpdate = try Self.time(fields[index])
                index += 1
            } else {
                nextUpdate = nil
            }
            var serials: Set<[UInt8]> = []
            if index < fields.count, fields[index].identifier == .sequence {
                for entry in try Self.children(fields[index]) {
                    let parts = try Self.children(entry)
                    guard let serial = parts.first, serial.identifier == .integer, case .primitive(let bytes) = serial.content else {
                        throw bad("revoked entry without a serial number")
                    }
                    serials.insert(Self.normalised(bytes))
                }
            }
            revokedSerials = serials
            let bits = try ASN1BitString(derEncoded: top[2])
            guard bits.paddingBits == 0 else { throw bad("signature has unused bits") }
            signature = Array(bits.bytes)
            tbs = Array(top[0].encodedBytes)
        } catch let error as AttestationError {
            throw error
        } catch {
            throw bad("does not parse (\(error))")
        }
    }

    /// Parses one DER CRL or every CRL of a PEM text (`-----BEGIN X509 CRL-----`).
    static func parseAll(_ bytes: [UInt8]) throws(AttestationError) -> [CertificateRevocationList] {
        let text = String(decoding: bytes, as: UTF8.self)
        guard text.contains("-----BEGIN X509 CRL-----") else { return [try CertificateRevocationList(der: bytes)] }
        let documents: [PEMDocument]
        do {
            documents = try PEMDocument.parseMultiple(pemString: text)
        } catch {
            throw AttestationError(.malformed, "CRL: PEM does not parse (\(error))")
        }
        var lists: [CertificateRevocationList] = []
        for document in documents where document.discriminator == "X509 CRL" {
            lists.append(try CertificateRevocationList(der: document.derBytes))
        }
        return lists
    }

    /// Checks that `issuer` signed the list and that `time` is within its update period.
    func verify(issuer certificate: Certificate, at time: Date) throws(AttestationError) {
        let name = Self.commonName(issuer)
        guard certificate.subject == issuer else {
            throw AttestationError(.untrustedChain, "CRL of \(name) is not issued by \(Self.commonName(certificate.subject))")
        }
        guard let key = P256.Signing.PublicKey(certificate.publicKey),
              let signature = try? P256.Signing.ECDSASignature(derRepresentation: signature),
              key.isValidSignature(signature, for: tbs)
        else {
            throw AttestationError(.badSignature, "the CRL of \(name) is not signed by its issuer")
        }
        guard time >= thisUpdate else {
            throw AttestationError(.untrustedChain, "the CRL of \(name) is not valid before \(thisUpdate)")
        }
        if let nextUpdate, time > nextUpdate {
            throw AttestationError(
                .untrustedChain, "the CRL of \(name) expired at \(nextUpdate) (fetch a current one from Intel's PCS or a PCCS)")
        }
    }

    /// Whether the list revokes `certificate` (compared by serial number; the caller checked the issuer).
    func revokes(_ certificate: Certificate) -> Bool {
        revokedSerials.contains(Self.normalised(certificate.serialNumber.bytes))
    }

    /// The issuer's common name, for messages.
    var issuerName: String { Self.commonName(issuer) }

    static func commonName(_ name: DistinguishedName) -> String {
        for rdn in name {
            for attribute in rdn where attribute.type == .RDNAttributeType.commonName {
                return attribute.value.description
            }
        }
        return name.description
    }

    private static func normalised(_ bytes: ArraySlice<UInt8>) -> [UInt8] {
        Array(bytes.drop { $0 == 0 })
    }

    private static func children(_ node: ASN1Node) throws -> [ASN1Node] {
        guard case .constructed(let nodes) = node.content else {
            throw AttestationError(.malformed, "CRL: expected a SEQUENCE")
        }
        return Array(nodes)
    }

    private static func algorithm(_ node: ASN1Node) throws -> ASN1ObjectIdentifier {
        let parts = try children(node)
        guard let first = parts.first else { throw AttestationError(.malformed, "CRL: empty algorithm identifier") }
        return try ASN1ObjectIdentifier(derEncoded: first)
    }

    private static func time(_ node: ASN1Node) throws -> Date {
        let parts: (year: Int, month: Int, day: Int, hours: Int, minutes: Int, seconds: Int)
        switch node.identifier {
        case .utcTime:
            let time = try UTCTime(derEncoded: node)
            parts = (time.year, time.month, time.day, time.hours, time.minutes, time.seconds)
        case .generalizedTime:
            let time = try GeneralizedTime(derEncoded: node)
            parts = (time.year, time.month, time.day, time.hours, time.minutes, time.seconds)
        default:
            throw AttestationError(.malformed, "CRL: a time is neither UTCTime nor GeneralizedTime")
        }
        var calendar = Calendar(identifier: .gregorian)
        calendar.timeZone = TimeZone(identifier: "UTC")!
        let components = DateComponents(
            year: parts.year, month: parts.month, day: parts.day, hour: parts.hours, minute: parts.minutes, second: parts.seconds)
        guard let date = calendar.date(from: components) else {
            throw AttestationError(.malformed, "CRL: a time is out of range")
        }
        return date
    }
}
