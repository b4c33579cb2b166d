import Crypto
import Foundation
import TabulaAttestation
public import TabulaWire

extension Enclave {
    /// Opens a sealed request (`message/ohttp-req`) with the monitor's keys.
    ///
    /// Done before the control plane acknowledges an invocation, so that a request that cannot be
    /// opened, or a replay, is refused at once with a clear error and never runs.
    ///
    /// - Throws: ``EnclaveError`` with ``EnclaveError/Code/sealedRequest`` (altered, truncated,
    ///   unknown or erased key, or not Binary HTTP), ``EnclaveError/Code/replayedRequest``, or
    ///   ``EnclaveError/Code/notAttested`` when the enclave has no monitor.
    public func open(sealed: [UInt8]) throws(EnclaveError) -> SealedRequest {
        let monitor = try attestedMonitor()
        var opened = try monitor.open(sealed)
        do {
            let request = try BinaryHTTPRequest(decoding: opened.request)
            return SealedRequest(plaintext: opened.request, request: request, context: opened.context, epoch: opened.epoch)
        } catch {
            opened.request.wipe()
            // The decoder's message quotes the bytes it refused (a path, a field name): plaintext,
            // which must not reach the control plane. Only the fact of the refusal leaves.
            throw EnclaveError(
                .sealedRequest,
                "the sealed request opened, but what it holds is not a well-formed Binary HTTP request (RFC 9292); the enclave does not say more outside the seal: decode the request with BinaryHTTPRequest(decoding:) before sealing it to see what is wrong")
        }
    }

    /// Runs a confidential invocation and seals its outcome to the client.
    ///
    /// Everything the client should learn, including why a request is refused after it was opened
    /// (it names another function, expects another module, or the policy forbids the caller), goes
    /// into the sealed response; the control plane gets only the sealed bytes and the status class.
    ///
    /// - Parameters:
    ///   - name: the function the control plane routed the request to; the sealed request must name it.
    ///   - caller: the namespace that sent the request, as the control plane authenticated it.
    ///   - defaults: the action's default parameters, merged under the request's.
    ///   - finalDefaults: whether the request may not override the defaults.
    ///   - revision: the ``FunctionDefinition/revision`` that must serve the request; `nil` for
    ///     whichever is loaded.
    /// - Throws: ``EnclaveError`` only when the function (or that revision of it) is not loaded or no monitor runs, or, in
    ///   generic words, when the answer cannot be sealed; every other outcome is a sealed response.
    public func invoke(
        _ name: FunctionName, revision: String? = nil, sealed: SealedRequest, caller: String, defaults: [String: JSONValue] = [:], finalDefaults: Bool = false,
        activationID: String
    ) async throws -> SealedInvocation {
        let monitor = try attestedMonitor()
        let host = try host(name, revision: revision)
        do {
            return try await answer(
                name, host: host, monitor: monitor, sealed: sealed, caller: caller, defaults: defaults, finalDefaults: finalDefaults,
                activationID: activationID)
        } catch {
            // The request is open: an error from here on may describe its plaintext, and the control
            // plane stores and logs what it is given. It gets only the fact of the failure.
            throw EnclaveError(.sealedRequest, "the enclave could not seal its answer to this request; the details stay inside the enclave")
        }
    }

    /// Everything of ``invoke(_:revision:sealed:caller:defaults:finalDefaults:activationID:)`` after the
    /// function and the monitor are found: what it throws is never shown outside the enclave.
    private func answer(
        _ name: FunctionName, host: FunctionHost, monitor: Monitor, sealed: SealedRequest, caller: String, defaults: [String: JSONValue],
        finalDefaults: Bool, activationID: String
    ) async throws -> SealedInvocation {
        let request = sealed.request
        let refusal: (status: Int, message: String)? = {
            let path = request.path.utf8.prefix { $0 != UInt8(ascii: "?") }
            // The common case, the path of this very function, is one comparison of bytes (as the
            // store and the control plane compare names); anything else is taken apart below.
            let named = request.method == "POST"
                && (path.elementsEqual(host.invokePath.utf8) || (path.elementsEqual(host.ownInvokePath.utf8) && EntityName.same(caller, name.namespace)))
            if !named, let refusal = Self.pathRefusal(request, path: String(Substring(path)), name: name, caller: caller) {
                return refusal
            }
            if let expected = request.headerFields.first(where: { $0.name.lowercased() == Confidential.expectDigestField }) {
                guard let digest = Confidential.digest(fromValue: expected.value) else {
                    return (400, "the \(Confidential.expectDigestField) field must be sha-256=<64 hex digits>")
                }
                guard digest == host.moduleDigest else {
                    return (409, "the module of \(name) has digest sha-256=\(host.moduleDigestHex), not the expected \(digest.hex); the function was changed or is not the one you verified")
                }
            }
            if let refusal = host.definition.policy.refusal(caller: caller, owner: name.namespace, sealed: true) {
                return (refusal.status, refusal.message(caller: caller, function: name))
            }
            return nil
        }()
        if let refusal {
            return try seal(status: refusal.status, json: ["error": .string(refusal.message)], for: sealed, monitor: monitor, activationID: activationID, outcome: .applicationError)
        }

        var given: [String: JSONValue] = [:]
        if !request.content.isEmpty {
            guard let value = try? JSONValue(parsing: request.content), case .object(let members) = value else {
                return try seal(status: 400, json: ["error": "the parameters must be one JSON object"], for: sealed, monitor: monitor, activationID: activationID, outcome: .applicationError)
            }
            given = members
        }
        guard let parameters = Parameters.merge(given, defaults: defaults, final: finalDefaults) else {
            return try seal(status: 400, json: ["error": .string(Parameters.finalViolation)], for: sealed, monitor: monitor, activationID: activationID, outcome: .applicationError)
        }
        let invocation: Invocation
        do {
            invocation = try await execute(host, input: WipedBytes(JSONValue.object(parameters).encoded), activationID: activationID, sealed: true)
        } catch let error as EnclaveError {
            let status = error.code == .limitExceeded ? 413 : 500
            return try seal(status: status, json: ["error": .string(error.message)], for: sealed, monitor: monitor, activationID: activationID, outcome: status == 413 ? .applicationError : .internalError)
        } catch {
            // Sealed, so the client may read what went wrong; the control plane sees only the class.
            return try seal(status: 500, json: ["error": .string("the function could not be run: \(error)")], for: sealed, monitor: monitor, activationID: activationID, outcome: .internalError)
        }

        let result = ConfidentialResult(
            activationId: activationID, status: invocation.response.status.rawValue, success: invocation.response.success,
            result: invocation.response.result, logs: invocation.logs)
        var body = JSONValue.bytes(result)
        defer { body.wipe() }
        let receipt = Receipt(
            activationId: activationID, namespace: name.namespace, name: name.name, moduleDigest: host.moduleDigestHex,
            snapshotDigest: invocation.snapshotDigest == host.snapshotDigest ? host.snapshotDigestHex : invocation.snapshotDigest.hex,
            policyDigest: host.policyDigestHex, sandbox: invocation.sandbox, sequence: invocation.sequence,
            requestDigest: BoringSSL.sha256(sealed.plaintext).hex, responseDigest: BoringSSL.sha256(body).hex,
            epoch: sealed.epoch, tee: monitor.tee, issuedAt: Int64(Date().timeIntervalSince1970 * 1000),
            // Derived from this request's secret: unguessable outside the enclave and the client,
            // and no draw from the system's random source per invocation.
            salt: sealed.context.privateBytes(label: Receipt.saltLabel, count: 16).hex)
        let receiptBytes = JSONValue.bytes(receipt)
        var fields = [
            BinaryHTTPField("content-type", "application/json"),
            BinaryHTTPField(Confidential.receiptField, Data(receiptBytes).base64EncodedString()),
        ]
        // The log's tree heads sign receipts in batches; a receipt signed on its own costs an
        // ECDSA signature per invocation, so only those who ask for one get it.
        let signRequested = request.headerFields.contains { $0.name.lowercased() == Confidential.signReceiptField }
        if signRequested || host.definition.policy.signedReceipts {
            fields.append(BinaryHTTPField(Confidential.receiptSignatureField, Data(try monitor.sign(receiptBytes)).base64EncodedString()))
        }
        let status = invocation.response.status.blockingHTTPStatus
        var inner = try BinaryHTTPResponse(status: status, headerFields: fields, content: body).encoded()
        defer { inner.wipe() }
        return SealedInvocation(
            activationID: activationID, response: try sealed.context.sealResponse(inner), status: invocation.response.status,
            duration: invocation.duration, rewind: invocation.rewind, receiptCommitment: Receipt.commitment(receiptBytes))
    }

    /// Why a sealed request that does not name `name`'s invoke path is refused (the slow path,
    /// for the message): its method, or the function it names instead.
    private static func pathRefusal(_ request: BinaryHTTPRequest, path: String, name: FunctionName, caller: String) -> (status: Int, message: String)? {
        let named = path.utf8.split(separator: UInt8(ascii: "/"), omittingEmptySubsequences: false).map { String(Substring($0)) }
        // "", "api", "v1", "namespaces", ns, "actions", name
        guard request.method == "POST", named.count == 7, named[0...3].elementsEqual(["", "api", "v1", "namespaces"]), named[5] == "actions" else {
            return (400, "the sealed request must be POST \(Confidential.invokePath(namespace: "{namespace}", name: "{action}")), not \(request.method) \(path)")
        }
        // By bytes (EntityName.same), as the store and the control plane compare names.
        let namespaceMatches = EntityName.same(named[4], name.namespace) || (EntityName.same(named[4], "_") && EntityName.same(caller, name.namespace))
        guard namespaceMatches, EntityName.same(named[6], name.name) else {
            return (400, "the sealed request is for /\(named[4])/\(named[6]) but was sent to \(name); the enclave runs only the function the sealed request names")
        }
        return nil
    }

    /// Issues the certificate of a loaded function: what a client checks a module digest against.
    ///
    /// - Parameters:
    ///   - version: the action's version, as the control plane numbers it.
    ///   - revision: the ``FunctionDefinition/revision`` the certificate must describe, so that
    ///     `version` never certifies another version's module; `nil` for whichever is loaded.
    public func functionCertificate(_ name: FunctionName, revision: String? = nil, version: String) throws -> String {
        let monitor = try attestedMonitor()
        let host = try host(name, revision: revision)
        let claims = FunctionClaims(
            namespace: name.namespace, name: name.name, version: version, moduleDigest: host.moduleDigest.hex,
            policyDigest: host.policyDigest.hex, snapshotDigest: host.snapshotDigest.hex,
            limits: host.definition.limitsClaims, epoch: monitor.epoch, engine: host.engine.rawValue,
            translator: host.engine == .native ? NativeCompiler.translatorVersion : nil,
            compilerDigest: host.engine == .native ? engines.compiler?.toolchain.digest : nil)
        do {
            return try monitor.functionCertificate(claims)
        } catch {
            throw EnclaveError(.notAttested, "the function certificate of \(name) could not be issued: \(error)")
        }
    }

    func attestedMonitor() throws(EnclaveError) -> Monitor {
        guard let monitor else {
            throw EnclaveError(.notAttested, "this enclave runs without a monitor, so it has no keys for sealed requests")
        }
        return monitor
    }

    /// Seals a response that carries no result: a refusal or a failure to run.
    private func seal(
        status: Int, json: JSONValue, for sealed: SealedRequest, monitor: Monitor, activationID: String, outcome: ActivationResponse.Status
    ) throws -> SealedInvocation {
        SealedInvocation(activationID: activationID, response: try sealAnswer(status: status, json: json, to: sealed), status: outcome, duration: .zero, rewind: nil)
    }

    /// A JSON answer with `status`, sealed to whoever sealed `sealed`: a refusal, or a job input's
    /// verdict.
    func sealAnswer(status: Int, json: JSONValue, to sealed: SealedRequest) throws -> [UInt8] {
        let inner = try BinaryHTTPResponse(status: status, headerFields: [BinaryHTTPField("content-type", "application/json")], content: json.encoded).encoded()
        return try sealed.context.sealResponse(inner)
    }
}
