@testable import TabulaEnclave
import TabulaWire
import Testing

/// The one check of an invocation against its function's policy, and the one mapping of an outcome
/// to the HTTP status of a blocking answer: every path (plain through the control plane, plain in the
/// enclave, sealed in the enclave) asks these, so they are tested once here.
@Suite("Policy")
struct PolicyTests {
    let function = FunctionName(namespace: "owner", name: "f")

    @Test("the owner and the listed invokers may invoke; anyone else is refused as not an invoker")
    func invokers() {
        let policy = Policy(invokers: ["friend"])
        #expect(policy.refusal(caller: "owner", owner: "owner", sealed: false) == nil)
        #expect(policy.refusal(caller: "friend", owner: "owner", sealed: true) == nil)
        #expect(policy.refusal(caller: "stranger", owner: "owner", sealed: true) == .notAnInvoker)
        // Canonically equivalent spellings are other names.
        #expect(Policy(invokers: ["caf\u{E9}"]).refusal(caller: "cafe\u{301}", owner: "owner", sealed: false) == .notAnInvoker)
        #expect(Policy().refusal(caller: "Owner", owner: "owner", sealed: false) == .notAnInvoker)
    }

    @Test("a policy that requires sealed requests refuses plain ones first, from anyone")
    func confidentialRequired() {
        let policy = Policy(requireConfidential: true)
        #expect(policy.refusal(caller: "owner", owner: "owner", sealed: false) == .confidentialRequired)
        #expect(policy.refusal(caller: "stranger", owner: "owner", sealed: false) == .confidentialRequired)
        #expect(policy.refusal(caller: "owner", owner: "owner", sealed: true) == nil)
        #expect(policy.refusal(caller: "stranger", owner: "owner", sealed: true) == .notAnInvoker)
    }

    @Test("refusals are 403 and say what to do")
    func messages() {
        #expect(Policy.Refusal.confidentialRequired.status == 403)
        #expect(Policy.Refusal.notAnInvoker.status == 403)
        #expect(Policy.Refusal.confidentialRequired.message(caller: "owner", function: function).contains("seal the request"))
        let message = Policy.Refusal.notAnInvoker.message(caller: "stranger", function: function)
        #expect(message.hasPrefix("The supplied authentication is not authorized to access 'owner'"))
        #expect(message.contains("invokers"))
    }

    @Test("blocking answers: 200 for success, 502 when the function failed, 500 when the platform failed")
    func blockingStatus() {
        #expect(ActivationResponse.Status.success.blockingHTTPStatus == 200)
        #expect(ActivationResponse.Status.applicationError.blockingHTTPStatus == 502)
        #expect(ActivationResponse.Status.developerError.blockingHTTPStatus == 502)
        #expect(ActivationResponse.Status.internalError.blockingHTTPStatus == 500)
        for status in [ActivationResponse.Status.success, .applicationError, .developerError, .internalError] {
            #expect(ActivationResponse.Status(code: status.code) == status)
        }
        #expect(ActivationResponse.Status(code: 4) == nil)
    }

    /// A sequence's steps come from the control plane: the enclave runs only names the platform
    /// could have stored, and its digest cannot read one name as two actions.
    @Test func sequenceNamesAndDigestsAreUnambiguous() {
        #expect(Enclave.isActionName(FunctionName(namespace: "guest", name: "pkg/x")))
        #expect(!Enclave.isActionName(FunctionName(namespace: "guest", name: "x 00 11 22\nguest/y")))
        #expect(!Enclave.isActionName(FunctionName(namespace: "guest", name: "a/b/c")))
        #expect(!Enclave.isActionName(FunctionName(namespace: "", name: "x")))
        func component(_ name: String) -> Receipt.Component {
            Receipt.Component(namespace: "guest", name: name, moduleDigest: "m", policyDigest: "p", snapshotDigest: "s", ran: false)
        }
        let one = Receipt.sequenceDigest([component("x m p s\nguest/y")])
        let two = Receipt.sequenceDigest([component("x"), component("y")])
        #expect(one != two)
        #expect(Receipt.sequenceDigest([component("x"), component("y")]) != Receipt.sequenceDigest([component("y"), component("x")]))
    }
}
