import Foundation
import SwiftASN1
import Crypto
import _CryptoExtras

/// An X.509 certificate signed with RSASSA-PSS (SHA-384, MGF1-SHA-384, salt 48), as AMD issues them.
///
/// swift-certificates does not parse RSA-PSS signature algorithms, so this is a small, strict DER walk
/// that extracts only what the AMD chains need: the signed TBS bytes, the names (as DER, compared byte
/// for byte), the validity, the SubjectPublicKeyInfo and the extensions. Every failure is an
/// `AttestationError`; nothing here traps on input.
struct RSAPSSCertificate: Sendable {
    /// The whole certificate, DER.
    let der: [UInt8]
    /// The DER of tbsCertificate: the bytes the issuer signed.
    let tbs: [UInt8]
    /// The signature value (content of the BIT STRING, without the unused-bits byte).
    let signature: [UInt8]
    /// The DER of the issuer Name.
    let issuer: [UInt8]
    /// The DER of the subject Name.
    let subject: [UInt8]
    /// The DER of the SubjectPublicKeyInfo.
    let subjectPublicKeyInfo: [UInt8]
    let notBefore: Date
    let notAfter: Date
    /// Extension values (the content of the extnValue OCTET STRING) by dotted OID.
    let extensions: [String: [UInt8]]
    /// A label for messages (the subject common name when there is one).
    let commonName: String

    /// RSASSA-PSS with SHA-384, MGF1-SHA-384, salt length 48 and trailer field 1, exactly as AMD encodes
    /// it (with the explicit default trailer field), and the same without the trailer field (pure DER).
    /// Comparing the whole AlgorithmIdentifier rejects every other hash, MGF or salt length at once.
    private static let pssSHA384WithTrailer: [UInt8] = [
        0x30, 0x46, 0x06, 0x09, 0x2A, 0x86, 0x48, 0x86, 0xF7, 0x0D, 0x01, 0x01, 0x0A, 0x30, 0x39,
        0xA0, 0x0F, 0x30, 0x0D, 0x06, 0x09, 0x60, 0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x02, 0x02, 0x05, 0x00,
        0xA1, 0x1C, 0x30, 0x1A, 0x06, 0x09, 0x2A, 0x86, 0x48, 0x86, 0xF7, 0x0D, 0x01, 0x01, 0x08,
        0x30, 0x0D, 0x06, 0x09, 0x60, 0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x02, 0x02, 0x05, 0x00,
        0xA2, 0x03, 0x02, 0x01, 0x30,
        0xA3, 0x03, 0x02, 0x01, 0x01,
    ]
    private static let pssSHA384: [UInt8] = [
        0x30, 0x41, 0x06, 0x09, 0x2A, 0x86, 0x48, 0x86, 0xF7, 0x0D, 0x01, 0x01, 0x0A, 0x30, 0x34,
        0xA0, 0x0F, 0x30, 0x0D, 0x06, 0x09, 0x60, 0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x02, 0x02, 0x05, 0x00,
        0xA1, 0x1C, 0x30, 0x1A, 0x06, 0x09, 0x2A, 0x86, 0x48, 0x86, 0xF7, 0x0D, 0x01, 0x01, 0x08,
        0x30, 0x0D, 0x06, 0x09, 0x60, 0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x02, 0x02, 0x05, 0x00,
        0xA2, 0x03, 0x02, 0x01, 0x30,
    ]

    /// Parses a DER certificate whose signature algorithm is RSASSA-PSS/SHA-384.
    init(der: [UInt8]) throws {
        func bad(_ what: String) -> AttestationError {
            AttestationError(.malformed, "AMD certificate: \(what)")
        }
        let root: ASN1Node
        do {
            root = try DER.parse(der)
        } catch {
            throw bad("not DER (\(error))")
        }
        // DER.parse accepts only one complete top-level node, but check the length anyway so that
        // trailing bytes can never hide behind a valid certificate.
        guard root.encodedBytes.count == der.count else { throw bad("trailing bytes") }
        let top = try Self.children(root, bad("certificate is not a SEQUENCE"))
        guard top.count == 3 else { throw bad("certificate must have 3 elements") }
        let (tbsNode, algorithmNode, signatureNode) = (top[0], top[1], top[2])

        let algorithm = Array(algorithmNode.encodedBytes)
        guard algorithm == Self.pssSHA384WithTrailer || algorithm == Self.pssSHA384 else {
            throw AttestationError(.unsupported, "AMD certificate: signature algorithm is not RSASSA-PSS SHA-384 salt 48")
        }
        guard signatureNode.identifier == .bitString,
              case .primitive(let bits) = signatureNode.content,
              let unused = bits.first, unused == 0, bits.count > 1
        else { throw bad("signature is not a whole-byte BIT STRING") }

        // tbsCertificate: [0] version, serial, signature, issuer, validity, subject, spki, [1] [2] [3]...
        let fields = try Self.children(tbsNode, bad("tbsCertificate is not a SEQUENCE"))
        var index = 0
        if let first = fields.first, first.identifier == ASN1Identifier(tagWithNumber: 0, tagClass: .contextSpecific) {
            index = 1
        }
        guard fields.count >= index + 6 else { throw bad("tbsCertificate is too short") }
        guard fields[index].identifier == .integer else { throw bad("serial number") }
        // RFC 5280: the inner signature algorithm must equal the outer one.
        guard Array(fields[index + 1].encodedBytes) == algorithm else { throw bad("inner and outer signature algorithms differ") }
        let issuerNode = fields[index + 2]
        let validityNode = fields[index + 3]
        let subjectNode = fields[index + 4]
        let spkiNode = fields[index + 5]
        guard issuerNode.identifier == .sequence, subjectNode.identifier == .sequence, spkiNode.identifier == .sequence else {
            throw bad("issuer, subject or public key is not a SEQUENCE")
        }
        let validity = try Self.children(validityNode, bad("validity is not a SEQUENCE"))
        guard validity.count == 2 else { throw bad("validity must have 2 times") }

        var extensions: [String: [UInt8]] = [:]
        for field in fields.dropFirst(index + 6)
        where field.identifier == ASN1Identifier(tagWithNumber: 3, tagClass: .contextSpecific) {
            let wrapped = try Self.children(field, bad("extensions"))
            guard wrapped.count == 1 else { throw bad("extensions") }
            for ext in try Self.children(wrapped[0], bad("extensions is not a SEQUENCE")) {
                let parts = try Self.children(ext, bad("extension is not a SEQUENCE"))
                guard parts.count >= 2, let oidNode = parts.first, let valueNode = parts.last,
                      case .primitive(let value) = valueNode.content, valueNode.identifier == .octetString
                else { throw bad("extension") }
                let oid: ASN1ObjectIdentifier
                do { oid = try ASN1ObjectIdentifier(derEncoded: oidNode) } catch { throw bad("extension OID") }
                guard extensions.updateValue(Array(value), forKey: oid.description) == nil else {
                    throw bad("duplicate extension \(oid)")
                }
            }
        }

        self.der = der
        self.tbs = Array(tbsNode.encodedBytes)
        self.signature = Array(bits.dropFirst())
        self.issuer = Array(issuerNode.encodedBytes)
        self.subject = Array(subjectNode.encodedBytes)
        self.subjectPublicKeyInfo = Array(spkiNode.encodedBytes)
        self.notBefore = try Self.time(validity[0], bad("notBefore"))
        self.notAfter = try Self.time(validity[1], bad("notAfter"))
        self.extensions = extensions
        self.commonName = Self.firstCommonName(subjectNode) ?? "certificate"
    }

    /// Parses the first certificate of a PEM text.
    init(pem: String) throws {
        let document: PEMDocument
        do {
            document = try PEMDocument(pemString: pem)
        } catch {
            throw AttestationError(.malformed, "AMD certificate: bad PEM (\(error))")
        }
        guard document.discriminator == "CERTIFICATE" else {
            throw AttestationError(.malformed, "AMD certificate: PEM is not a CERTIFICATE")
        }
        try self.init(der: document.derBytes)
    }

    /// Verifies that `issuer` signed this certificate: names chain, the RSA-PSS signature holds, and both
    /// certificates are within their validity at `time`.
    func verify(issuedBy issuer: RSAPSSCertificate, at time: Date) throws {
        guard self.issuer == issuer.subject else {
            throw AttestationError(.untrustedChain, "\(commonName): issuer name is not the subject of \(issuer.commonName)")
        }
        let key: _RSA.Signing.PublicKey
        do {
            key = try _RSA.Signing.PublicKey(derRepresentation: issuer.subjectPublicKeyInfo)
        } catch {
            throw AttestationError(.malformed, "\(issuer.commonName): public key is not RSA (\(error))")
        }
        // PSS in _CryptoExtras uses MGF1 with the digest's hash and a salt of the digest size: 48 for SHA-384,
        // which is what the algorithm identifier checked at parse time says.
        let signature = _RSA.Signing.RSASignature(rawRepresentation: self.signature)
        guard key.isValidSignature(signature, for: SHA384.hash(data: tbs), padding: .PSS) else {
            throw AttestationError(.badSignature, "\(commonName): RSA-PSS signature by \(issuer.commonName) does not verify")
        }
        try checkValidity(at: time)
        try issuer.checkValidity(at: time)
    }

    /// Throws unless `time` lies within notBefore...notAfter.
    func checkValidity(at time: Date) throws {
        guard notBefore <= time, time <= notAfter else {
            throw AttestationError(.untrustedChain, "\(commonName): not valid at \(time) (valid \(notBefore) to \(notAfter))")
        }
    }

    // MARK: DER helpers

    private static func children(_ node: ASN1Node, _ error: AttestationError) throws -> [ASN1Node] {
        guard case .constructed(let nodes) = node.content else { throw error }
        return Array(nodes)
    }

    private static func time(_ node: ASN1Node, _ failure: AttestationError) throws -> Date {
        let parts: (year: Int, month: Int, day: Int, hours: Int, minutes: Int, seconds: Int)
        do {
            if node.identifier == .utcTime {
                let t = try UTCTime(derEncoded: node)
                parts = (t.year, t.month, t.day, t.hours, t.minutes, t.seconds)
            } else if node.identifier == .generalizedTime {
                let t = try GeneralizedTime(derEncoded: node)
                parts = (t.year, t.month, t.day, t.hours, t.minutes, t.seconds)
            } else {
                throw failure
            }
        } catch {
            throw failure
        }
        // Days from the civil date (Howard Hinnant's algorithm): exact, and free of calendar and time
        // zone state. SwiftASN1 has already range-checked every component.
        let y = parts.month <= 2 ? parts.year - 1 : parts.year
        let era = (y >= 0 ? y : y - 399) / 400
        let yearOfEra = y - era * 400
        let monthIndex = parts.month > 2 ? parts.month - 3 : parts.month + 9
        let dayOfYear = (153 * monthIndex + 2) / 5 + parts.day - 1
        let dayOfEra = yearOfEra * 365 + yearOfEra / 4 - yearOfEra / 100 + dayOfYear
        let days = era * 146_097 + dayOfEra - 719_468
        let seconds = days * 86_400 + parts.hours * 3_600 + parts.minutes * 60 + parts.seconds
        return Date(timeIntervalSince1970: TimeInterval(seconds))
    }

    /// The first commonName (2.5.4.3) of a Name, for messages and product matching.
    private static func firstCommonName(_ name: ASN1Node) -> String? {
        guard case .constructed(let rdns) = name.content else { return nil }
        for rdn in rdns {
            guard case .constructed(let attributes) = rdn.content else { continue }
            for attribute in attributes {
                guard case .constructed(let pair) = attribute.content else { continue }
                let parts = Array(pair)
                guard parts.count == 2,
                      let oid = try? ASN1ObjectIdentifier(derEncoded: parts[0]),
                      oid == [2, 5, 4, 3],
                      case .primitive(let value) = parts[1].content
                else { continue }
                return String(decoding: value, as: UTF8.self)
            }
        }
        return nil
    }
}
