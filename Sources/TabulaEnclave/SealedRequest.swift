public import TabulaWire

/// A confidential request the monitor opened, waiting for its invocation.
///
/// The control plane holds it between opening and running (to refuse a bad request before it
/// acknowledges anything) but cannot read it: the plaintext is visible only inside this module, and
/// it is overwritten with zeros when the last reference goes away.
public final class SealedRequest: @unchecked Sendable {
    /// The Binary HTTP request bytes, as the client sealed them.
    var plaintext: [UInt8]
    var request: BinaryHTTPRequest
    let context: ObliviousHTTP.ServerContext
    /// The key epoch that opened it.
    let epoch: UInt64

    init(plaintext: [UInt8], request: BinaryHTTPRequest, context: ObliviousHTTP.ServerContext, epoch: UInt64) {
        self.plaintext = plaintext
        self.request = request
        self.context = context
        self.epoch = epoch
    }

    deinit {
        plaintext.wipe()
        request.content.wipe()
    }
}

/// The outcome of a confidential invocation, as the control plane may see it: the sealed response
/// and the metadata an activation record needs, none of it plaintext.
public struct SealedInvocation: Sendable {
    public var activationID: String
    /// `message/ohttp-res` bytes: only the client that sealed the request can open them.
    public var response: [UInt8]
    /// How the invocation ended (its status class only).
    public var status: ActivationResponse.Status
    /// How long the function ran; zero when it did not run.
    public var duration: Duration
    public var rewind: Rewind?
    /// The commitment to the answer's receipt (``Receipt/commitment(_:)``), which the verifiable
    /// log must hold before the answer is released; `nil` when the enclave refused the request
    /// and issued no receipt.
    public var receiptCommitment: [UInt8]? = nil
}
