import Dispatch
import Foundation
import TabulaEnclave
import TabulaPlatform
import TabulaWire
import Testing

/// The `engine` annotation through the API: the server's default is the native engine, an action can
/// ask for either engine, a bad value or a module the requested engine refuses is a 400 naming the
/// problem, and every activation record says which engine ran it.
@Suite("Engines through the API")
struct EngineAPITests {
    private func harness() async throws -> Harness {
        // Finding the compiler compiles a probe: off Swift's cooperative pool, which every other
        // test of the process needs.
        let engines = await withCheckedContinuation { continuation in
            Thread { continuation.resume(returning: Engines.detect()) }.start()
        }
        guard engines.compiler != nil else { throw EnclaveError(.compilationFailed, "no native engine here: \(engines.unavailable ?? "")") }
        return try await Harness(configuration: PlatformConfiguration(concurrency: 2, engines: engines))
    }

    private func engine(of activation: JSONValue) -> String? {
        guard case .array(let annotations)? = activation["annotations"] else { return nil }
        return annotations.first { $0["key"] == "engine" }?["value"]?.stringValue
    }

    @Test func annotationChoosesTheEngineAndRecordsSayWhichRan() async throws {
        try await harness().run { client async throws in
            #expect(try await client.deploy("fast", module: try example("echo.wat")).status == .ok)
            #expect(try await client.deploy("slow", module: try example("echo.wat"), extra: #","annotations":[{"key":"engine","value":"interpreter"}]"#).status == .ok)
            #expect(try await client.deploy("aot", module: try example("echo.wat"), extra: #","annotations":[{"key":"engine","value":"aot"}]"#).status == .ok)
            for (action, expected) in [("fast", "native"), ("slow", "interpreter"), ("aot", "native")] {
                let reply = try await client.send(.post, "/api/v1/namespaces/_/actions/\(action)?blocking=true", body: #"{"k":"v"}"#)
                #expect(reply.status == .ok)
                #expect(reply.json["response"]?["result"] == ["k": "v"])
                #expect(engine(of: reply.json) == expected, "\(action)")
            }
        }
    }

    @Test func badEngineRequestsAreRefusedClearly() async throws {
        try await harness().run { client async throws in
            let unknown = try await client.deploy("x", module: try example("echo.wat"), extra: #","annotations":[{"key":"engine","value":"jit"}]"#)
            #expect(unknown.status == .badRequest)
            #expect(unknown.json["error"]?.stringValue?.contains("engine must be") == true)

            let simd = Array(#"(module (func (export "_start") (drop (v128.const i32x4 1 2 3 4))))"#.utf8)
            let refused = try await client.deploy("simd", module: simd, extra: #","annotations":[{"key":"engine","value":"native"}]"#)
            #expect(refused.status == .badRequest)
            #expect(refused.json["error"]?.stringValue?.contains("SIMD") == true)
            // Without the annotation the same module runs in the interpreter, and says so.
            #expect(try await client.deploy("simd", module: simd).status == .ok)
            let ran = try await client.send(.post, "/api/v1/namespaces/_/actions/simd?blocking=true", body: "{}")
            #expect(engine(of: ran.json) == "interpreter")
            #expect(try await client.send(.get, "/api/v1/namespaces").status == .ok)
        }
    }
}
