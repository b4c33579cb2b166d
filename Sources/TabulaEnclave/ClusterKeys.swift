public import Foundation

/// What a key broker releases to an attested node: the cluster's identity key and its key epochs.
///
/// The node's ``Monitor`` adopts them (``Monitor/adopt(_:)``); nothing else holds them.
public struct ClusterKeys: Sendable {
    /// One key epoch: the seed its gateway keys derive from, and the broker's signature over
    /// their configuration list (``AttestationBundle/signedMessage(epoch:expires:keyConfigs:)``).
    public struct Epoch: Sendable {
        public var number: UInt64
        public var starts: Date
        public var ends: Date
        /// The end as the signed message spells it.
        public var expires: String
        public var seed: [UInt8]
        /// The X25519 key's id; the X-Wing key has the next one.
        public var keyID: UInt8
        public var signature: [UInt8]

        public init(number: UInt64, starts: Date, ends: Date, expires: String, seed: [UInt8], keyID: UInt8, signature: [UInt8]) {
            self.number = number
            self.starts = starts
            self.ends = ends
            self.expires = expires
            self.seed = seed
            self.keyID = keyID
            self.signature = signature
        }
    }

    /// The raw 32-byte P-256 private key every node signs with.
    public var identityKey: [UInt8]
    /// The current epoch and, during its grace period, the previous one.
    public var epochs: [Epoch]
    /// How long after its end an epoch's keys still open requests.
    public var grace: Duration

    public init(identityKey: [UInt8], epochs: [Epoch], grace: Duration) {
        self.identityKey = identityKey
        self.epochs = epochs
        self.grace = grace
    }
}
