import Crypto
import Foundation
import SwiftASN1

/// An X.509 v3 certificate signed with ECDSA/SHA-256, written and read by a small strict DER walk.
///
/// Two gaps of the pinned libraries make this necessary. swift-asn1 1.7.4 refuses object identifiers
/// with an arc wider than 63 bits (its components are `UInt`, and even `ASN1ObjectIdentifier(derEncoded:)`
/// validates every arc into one), so neither it nor swift-certificates can write or parse a certificate
/// whose extension OID is a UUID arc (2.25.<128-bit integer>), which function certificates use; here
/// extension OIDs stay raw DER bytes. And swift-certificates 1.21.1 accepts a signature BIT STRING
/// that declares unused bits, so flipping that byte (outside the signed bytes) left a certificate
/// verifying; here it must be zero. Otherwise: DER only, no trailing bytes, version 3, the same
/// ECDSA/SHA-256 algorithm inside and outside the signed part. Nothing here traps on input.
struct DERCertificate: Sendable {
    /// One extension, with its OID as the DER content bytes of the OBJECT IDENTIFIER.
    struct Extension: Sendable, Hashable {
        var oid: [UInt8]
        var critical: Bool
        var value: [UInt8]
    }

    /// The DER of tbsCertificate: the bytes the issuer signed.
    let tbs: [UInt8]
    /// The DER of the signature AlgorithmIdentifier: `ecdsaWithSHA256`, or `ecdsaWithSHA256NullParameters`
    /// (which callers refuse unless they read certificates from mbedTLS).
    let signatureAlgorithm: [UInt8]
    /// The DER ECDSA signature (the BIT STRING's content after its unused-bits byte).
    let signature: [UInt8]
    /// The DER of the issuer Name.
    let issuer: [UInt8]
    /// The DER of the subject Name.
    let subject: [UInt8]
    /// The DER of the SubjectPublicKeyInfo.
    let subjectPublicKeyInfo: [UInt8]
    let notBefore: Date
    let notAfter: Date
    let extensions: [Extension]

    /// AlgorithmIdentifier ecdsa-with-SHA256 (1.2.840.10045.4.3.2), parameters absent (RFC 5758).
    static let ecdsaWithSHA256: [UInt8] = [0x30, 0x0A, 0x06, 0x08, 0x2A, 0x86, 0x48, 0xCE, 0x3D, 0x04, 0x03, 0x02]
    /// The same with NULL parameters, as mbedTLS (and so Gramine) writes it, against RFC 5758.
    static let ecdsaWithSHA256NullParameters: [UInt8] =
        [0x30, 0x0C, 0x06, 0x08, 0x2A, 0x86, 0x48, 0xCE, 0x3D, 0x04, 0x03, 0x02, 0x05, 0x00]
    /// AlgorithmIdentifier ecdsa-with-SHA384 (1.2.840.10045.4.3.3), parameters absent.
    static let ecdsaWithSHA384: [UInt8] = [0x30, 0x0A, 0x06, 0x08, 0x2A, 0x86, 0x48, 0xCE, 0x3D, 0x04, 0x03, 0x03]
    /// AlgorithmIdentifier ecdsa-with-SHA512 (1.2.840.10045.4.3.4), parameters absent.
    static let ecdsaWithSHA512: [UInt8] = [0x30, 0x0A, 0x06, 0x08, 0x2A, 0x86, 0x48, 0xCE, 0x3D, 0x04, 0x03, 0x04]
    /// AlgorithmIdentifier sha{256,384,512}WithRSAEncryption (1.2.840.113549.1.1.{11,12,13}), NULL
    /// parameters (RFC 4055): RA-TLS certificates of frameworks with RSA keys.
    static let rsaWithSHA256: [UInt8] = [0x30, 0x0D, 0x06, 0x09, 0x2A, 0x86, 0x48, 0x86, 0xF7, 0x0D, 0x01, 0x01, 0x0B, 0x05, 0x00]
    static let rsaWithSHA384: [UInt8] = [0x30, 0x0D, 0x06, 0x09, 0x2A, 0x86, 0x48, 0x86, 0xF7, 0x0D, 0x01, 0x01, 0x0C, 0x05, 0x00]
    static let rsaWithSHA512: [UInt8] = [0x30, 0x0D, 0x06, 0x09, 0x2A, 0x86, 0x48, 0x86, 0xF7, 0x0D, 0x01, 0x01, 0x0D, 0x05, 0x00]
    /// What the parser accepts; each certificate kind then requires its own (identity and function
    /// certificates: ecdsa-with-SHA256 only).
    private static let ecdsaAlgorithms = [
        ecdsaWithSHA256, ecdsaWithSHA256NullParameters, ecdsaWithSHA384, ecdsaWithSHA512, rsaWithSHA256, rsaWithSHA384, rsaWithSHA512,
    ]

    // MARK: Writing

    /// A certificate with these fields, signed by `issuerKey`, DER.
    static func signed(
        issuer: [UInt8], subject: [UInt8], subjectPublicKeyInfo: [UInt8], notBefore: Date, notAfter: Date,
        extensions: [Extension], issuerKey: P256.Signing.PrivateKey
    ) throws -> [UInt8] {
        var serial = (0..<16).map { _ in UInt8.random(in: 0...255) }
        serial[0] = serial[0] & 0x7F | 0x40  // positive, and no leading zero byte to strip
        let encodedExtensions = extensions.map { ext in
            tlv(0x30, tlv(0x06, ext.oid) + (ext.critical ? [0x01, 0x01, 0xFF] : []) + tlv(0x04, ext.value))
        }
        let tbs = tlv(
            0x30,
            tlv(0xA0, [0x02, 0x01, 0x02]) + tlv(0x02, serial) + ecdsaWithSHA256 + issuer
                + tlv(0x30, try time(notBefore) + time(notAfter)) + subject + subjectPublicKeyInfo
                + (extensions.isEmpty ? [] : tlv(0xA3, tlv(0x30, encodedExtensions.flatMap { $0 }))))
        let signature = try issuerKey.signature(for: tbs).derRepresentation
        return tlv(0x30, tbs + ecdsaWithSHA256 + tlv(0x03, [0x00] + Array(signature)))
    }

    /// A DER tag-length-value.
    static func tlv(_ tag: UInt8, _ content: [UInt8]) -> [UInt8] {
        var length: [UInt8] = []
        if content.count < 0x80 {
            length = [UInt8(content.count)]
        } else {
            var count = content.count
            while count > 0 {
                length.insert(UInt8(count & 0xFF), at: 0)
                count >>= 8
            }
            length.insert(0x80 | UInt8(length.count), at: 0)
        }
        return [tag] + length + content
    }

    /// UTCTime for 1950 through 2049, GeneralizedTime otherwise (RFC 5280 §4.1.2.5), whole seconds.
    static func time(_ date: Date) throws -> [UInt8] {
        var calendar = Calendar(identifier: .gregorian)
        calendar.timeZone = TimeZone(identifier: "UTC")!
        let c = calendar.dateComponents([.year, .month, .day, .hour, .minute, .second], from: date)
        guard let year = c.year, let month = c.month, let day = c.day, let hour = c.hour, let minute = c.minute,
              let second = c.second, (1...9999).contains(year)
        else { throw AttestationError(.malformed, "certificate: \(date) cannot be encoded as an X.509 time") }
        func two(_ value: Int) -> String { value < 10 ? "0\(value)" : "\(value)" }
        let rest = two(month) + two(day) + two(hour) + two(minute) + two(second) + "Z"
        if (1950..<2050).contains(year) {
            return tlv(0x17, Array((two(year % 100) + rest).utf8))
        }
        let padded = String(repeating: "0", count: 4 - String(year).count) + String(year)
        return tlv(0x18, Array((padded + rest).utf8))
    }

    // MARK: Reading

    /// DER from DER or PEM (`CERTIFICATE`): input that starts with a SEQUENCE tag is DER.
    static func der(_ input: [UInt8]) throws(AttestationError) -> [UInt8] {
        guard input.first != 0x30 else { return input }
        let text = String(decoding: input, as: UTF8.self)
        guard text.contains("-----BEGIN") else {
            throw AttestationError(.malformed, "certificate: neither DER nor PEM")
        }
        let document: PEMDocument
        do {
            document = try PEMDocument(pemString: text)
        } catch {
            throw AttestationError(.malformed, "certificate: the PEM text does not parse (\(error))")
        }
        guard document.discriminator == "CERTIFICATE" else {
            throw AttestationError(.malformed, "certificate: the PEM block is \(document.discriminator), not CERTIFICATE")
        }
        return document.derBytes
    }

    /// Parses a DER certificate signed with ecdsa-with-SHA256; verifies nothing but the structure.
    init(der: [UInt8]) throws(AttestationError) {
        func bad(_ what: String) -> AttestationError { AttestationError(.malformed, "certificate: \(what)") }
        do {
            let root = try DER.parse(der)
            guard root.encodedBytes.count == der.count else { throw bad("trailing bytes") }
            let top = try Self.children(root, "certificate")
            guard top.count == 3 else { throw bad("certificate must have 3 elements") }
            signatureAlgorithm = Array(top[1].encodedBytes)
            guard Self.ecdsaAlgorithms.contains(signatureAlgorithm) else {
                throw AttestationError(.unsupported, "certificate: the signature algorithm is not ECDSA or RSA (PKCS #1 v1.5) with SHA-256, SHA-384 or SHA-512")
            }
            guard top[2].identifier == .bitString, case .primitive(let bits) = top[2].content,
                  bits.first == 0, bits.count > 1
            else { throw bad("the signature is not a whole-byte BIT STRING") }
            tbs = Array(top[0].encodedBytes)
            signature = Array(bits.dropFirst())

            var fields = try Self.children(top[0], "tbsCertificate")[...]
            guard let version = fields.popFirst(),
                  version.identifier == ASN1Identifier(tagWithNumber: 0, tagClass: .contextSpecific),
                  Array(version.encodedBytes) == [0xA0, 0x03, 0x02, 0x01, 0x02]
            else { throw bad("not an X.509 v3 certificate") }
            guard let serial = fields.popFirst(), serial.identifier == .integer, case .primitive(let number) = serial.content,
                  (1...21).contains(number.count)
            else { throw bad("no serial number of at most 20 octets") }
            if number.count > 1 {
                let (first, second) = (number[number.startIndex], number[number.startIndex + 1])
                guard !(first == 0x00 && second < 0x80), !(first == 0xFF && second >= 0x80) else {
                    throw bad("the serial number is not minimally encoded")
                }
            }
            guard let algorithm = fields.popFirst(), Array(algorithm.encodedBytes) == signatureAlgorithm else {
                throw bad("the tbsCertificate's signature algorithm is not the certificate's")
            }
            guard let issuer = fields.popFirst(), issuer.identifier == .sequence else { throw bad("no issuer") }
            guard let validity = fields.popFirst() else { throw bad("no validity") }
            let times = try Self.children(validity, "validity")
            guard times.count == 2 else { throw bad("validity must hold two times") }
            guard let subject = fields.popFirst(), subject.identifier == .sequence else { throw bad("no subject") }
            guard let spki = fields.popFirst(), spki.identifier == .sequence else { throw bad("no SubjectPublicKeyInfo") }
            self.issuer = Array(issuer.encodedBytes)
            self.subject = Array(subject.encodedBytes)
            subjectPublicKeyInfo = Array(spki.encodedBytes)
            notBefore = try Self.date(times[0])
            notAfter = try Self.date(times[1])

            var extensions: [Extension] = []
            if let wrapper = fields.popFirst() {
                guard wrapper.identifier == ASN1Identifier(tagWithNumber: 3, tagClass: .contextSpecific) else {
                    throw bad("unexpected field after the SubjectPublicKeyInfo (unique identifiers are not supported)")
                }
                let outer = try Self.children(wrapper, "extensions")
                guard outer.count == 1 else { throw bad("extensions must be one SEQUENCE") }
                for node in try Self.children(outer[0], "extensions") {
                    extensions.append(try Self.extensionField(node))
                }
                guard !extensions.isEmpty else { throw bad("empty extensions") }
            }
            guard fields.isEmpty else { throw bad("unexpected fields at the end of tbsCertificate") }
            guard Set(extensions.map(\.oid)).count == extensions.count else { throw bad("an extension appears twice") }
            self.extensions = extensions
        } catch let error as AttestationError {
            throw error
        } catch {
            throw bad("not DER (\(error))")
        }
    }

    /// The content of the extension with this OID (DER content bytes), if present.
    func extensionValue(oid: [UInt8]) -> [UInt8]? {
        extensions.first { $0.oid == oid }?.value
    }

    private static func children(_ node: ASN1Node, _ what: String) throws(AttestationError) -> [ASN1Node] {
        guard node.identifier == .sequence || node.identifier.tagClass == .contextSpecific,
              case .constructed(let nodes) = node.content
        else { throw AttestationError(.malformed, "certificate: \(what) is not a SEQUENCE") }
        return Array(nodes)
    }

    private static func extensionField(_ node: ASN1Node) throws -> Extension {
        let parts = try children(node, "extension")
        guard (2...3).contains(parts.count), parts[0].identifier == .objectIdentifier,
              case .primitive(let oid) = parts[0].content, !oid.isEmpty
        else { throw AttestationError(.malformed, "certificate: an extension is not (OID, critical?, OCTET STRING)") }
        var critical = false
        if parts.count == 3 {
            // DER forbids encoding the default FALSE.
            guard parts[1].identifier == .boolean, Array(parts[1].encodedBytes) == [0x01, 0x01, 0xFF] else {
                throw AttestationError(.malformed, "certificate: an extension's critical flag is not DER TRUE")
            }
            critical = true
        }
        guard let last = parts.last, last.identifier == .octetString, case .primitive(let value) = last.content else {
            throw AttestationError(.malformed, "certificate: an extension's value is not an OCTET STRING")
        }
        return Extension(oid: Array(oid), critical: critical, value: Array(value))
    }

    private static func date(_ node: ASN1Node) throws -> Date {
        var calendar = Calendar(identifier: .gregorian)
        calendar.timeZone = TimeZone(identifier: "UTC")!
        let components: DateComponents
        switch node.identifier {
        case .utcTime:
            let time = try UTCTime(derEncoded: node)
            components = DateComponents(
                year: time.year, month: time.month, day: time.day, hour: time.hours, minute: time.minutes, second: time.seconds)
        case .generalizedTime:
            let time = try GeneralizedTime(derEncoded: node)
            guard time.fractionalSeconds == 0 else {
                throw AttestationError(.malformed, "certificate: a validity time has fractional seconds")
            }
            components = DateComponents(
                year: time.year, month: time.month, day: time.day, hour: time.hours, minute: time.minutes, second: time.seconds)
        default:
            throw AttestationError(.malformed, "certificate: a validity time is neither UTCTime nor GeneralizedTime")
        }
        guard let date = calendar.date(from: components) else {
            throw AttestationError(.malformed, "certificate: a validity time is not a date")
        }
        return date
    }
}
