import Foundation
import TabulaTestSupport
import TabulaWire
import Testing

/// The packaging in deploy/: container images, the Knative Service, the OpenWhisk runtime manifest and the
/// Kubernetes manifests of a cluster. No Docker daemon or cluster runs here, so each file is checked offline
/// by something that knows its format:
///
/// - `deploy/cluster/kubernetes/*.yaml`: `kubernetes-validate --strict` (Kubernetes' own OpenAPI schemas,
///   shipped in the pinned PyPI package), and every document must be reported as passed, since the tool
///   skips a kind it has no schema for with a warning and still exits 0.
/// - `deploy/knative/service.yaml`: kubernetes-validate knows no custom resources (it answers "Couldn't find
///   schema for kind Service with api version serving.knative.dev/v1" and exits 0), so (1) Python's
///   jsonschema checks it against `Tests/Fixtures/knative/service-v1.schema.json` (Knative's CRD fields and
///   the webhook's rules), plus the rules across fields a schema cannot state (the probe's port is the
///   serving port, env names are unique, the runtime's `__OW_…` variables are there); (2)
///   `kubernetes-validate --strict` checks the Pod its template becomes against Kubernetes' PodSpec; (3) the
///   action it pre-loads runs in `tabula run`.
/// - `deploy/openwhisk/runtimes.json`: parsed here against the rules of OpenWhisk's loader (ExecManifest).
/// - `deploy/runtime/Dockerfile`, `deploy/serve/Dockerfile`: parsed here (stages, entry points, ports, user),
///   and the shared libraries the `tabula` binary loads are checked against the packages the images install.
///
/// The Python tools come from `Tests/Support/install-test-packages.sh` (a virtualenv with pinned versions),
/// which the suite runs once if they are missing.
@Suite("Packaging")
struct PackagingTests {
    static let repository = Fixtures.repository

    // MARK: Kubernetes

    @Test("every manifest under deploy/cluster/kubernetes passes kubernetes-validate --strict")
    func clusterManifests() async throws {
        let directory = Self.repository.appendingPathComponent("deploy/cluster/kubernetes")
        let files = try FileManager.default.contentsOfDirectory(atPath: directory.path)
            .filter { $0.hasSuffix(".yaml") || $0.hasSuffix(".yml") }.sorted()
            .map { directory.appendingPathComponent($0).path }
        #expect(files.count >= 5, "deploy/cluster/kubernetes has \(files.count) manifests")
        let tools = try await Self.tools.value
        let documents = try await Self.python(tools, Self.countDocuments, files)
        try #require(documents.status == 0, "\(documents.stdout)\(documents.stderr)")
        let expected = Int(documents.stdout.trimmingCharacters(in: .whitespacesAndNewlines)) ?? -1
        let validated = try await Self.kubernetesValidate(tools, files)
        #expect(validated.status == 0, "\(validated.stdout)\(validated.stderr)")
        // A kind without a schema (a typo, a custom resource) is a warning and exit 0: count the passes.
        let passed = validated.lines.filter { $0.contains(" passed for resource ") }.count
        #expect(passed == expected, "\(passed) of \(expected) documents passed: \(validated.stdout)\(validated.stderr)")
    }

    // MARK: Knative

    @Test("deploy/knative/service.yaml matches the Knative Service schema and the runtime's variables")
    func knativeService() async throws {
        let tools = try await Self.tools.value
        let checked = try await Self.checkKnative(tools, Self.repository.appendingPathComponent("deploy/knative/service.yaml"))
        #expect(checked.status == 0, "\(checked.stdout)\(checked.stderr)")
        #expect(checked.problems.isEmpty, "\(checked.problems)")
    }

    @Test("a broken Knative Service is refused, with the field named")
    func knativeServiceBroken() async throws {
        let tools = try await Self.tools.value
        let text = try String(contentsOf: Self.repository.appendingPathComponent("deploy/knative/service.yaml"), encoding: .utf8)
        // Each of these is a mistake Knative would refuse or silently misread.
        let breakages: [(String, String, String)] = [
            ("containerPort: 8080", "containerPort: \"8080\"", "containerPort"),
            ("containerPort: 8080", "containerPort: 8012", "containerPort"),
            ("          ports:", "          port:", "port"),
            ("kind: Service", "kind: Services", "kind"),
            ("              value: knative", "              value: openwhisk", "__OW_RUNTIME_PLATFORM"),
            ("            - name: __OW_ACTION_MAIN", "            - name: PORT", "PORT"),
            ("              port: 8080", "              port: 9000", "port"),
        ]
        for (original, broken, named) in breakages {
            #expect(text.contains(original), "the manifest no longer has \(original)")
            let file = FileManager.default.temporaryDirectory.appendingPathComponent("tabula-ksvc-\(UUID().uuidString).yaml")
            try text.replacingOccurrences(of: original, with: broken).write(to: file, atomically: true, encoding: .utf8)
            defer { try? FileManager.default.removeItem(at: file) }
            let checked = try await Self.checkKnative(tools, file)
            #expect(checked.status != 0, "\(broken) passed")
            #expect(checked.problems.contains { $0.contains(named) }, "\(broken): \(checked.problems)")
        }
    }

    @Test("the Pod of the Knative Service's template passes kubernetes-validate --strict")
    func knativePod() async throws {
        let tools = try await Self.tools.value
        let checked = try await Self.checkKnative(tools, Self.repository.appendingPathComponent("deploy/knative/service.yaml"))
        try #require(checked.status == 0, "\(checked.stdout)\(checked.stderr)")
        defer { try? FileManager.default.removeItem(at: checked.pod) }
        let validated = try await Self.kubernetesValidate(tools, [checked.pod.path])
        #expect(validated.status == 0, "\(validated.stdout)\(validated.stderr)")
        #expect(validated.lines.contains { $0.contains(" passed for resource pod/tabula-echo ") }, "\(validated.stdout)\(validated.stderr)")
    }

    @Test("the action the Knative Service pre-loads runs in tabula")
    func knativeAction() async throws {
        let tools = try await Self.tools.value
        let checked = try await Self.checkKnative(tools, Self.repository.appendingPathComponent("deploy/knative/service.yaml"))
        try #require(checked.status == 0, "\(checked.stdout)\(checked.stderr)")
        try? FileManager.default.removeItem(at: checked.pod)
        let action = try #require(checked.action, "no action in \(checked.stdout)")
        let code = try #require(action["__OW_ACTION_CODE"] ?? nil)
        let main = try #require(action["__OW_ACTION_MAIN"] ?? nil)
        let binary = action["__OW_ACTION_BINARY"] == "true"
        let module: Data
        if binary {
            module = try #require(Data(base64Encoded: code), "__OW_ACTION_BINARY is true but the code is not base64")
        } else {
            module = Data(code.utf8)
        }
        let file = FileManager.default.temporaryDirectory.appendingPathComponent("tabula-ksvc-\(UUID().uuidString).\(binary ? "wasm" : "wat")")
        try module.write(to: file)
        defer { try? FileManager.default.removeItem(at: file) }
        let output = try await RunCommandTests.tabula(["run", file.path, "--main", main, "--engine", "interpreter", "--input", #"{"name":"Ada"}"#])
        #expect(output.status == 0, "\(output.stderr)")
        #expect(output.lines == [#"{"status":"success","success":true,"result":{"name":"Ada"}}"#], "\(output.stdout)\(output.stderr)")
    }

    // MARK: OpenWhisk

    @Test("deploy/openwhisk/runtimes.json has the shape OpenWhisk's runtime manifest loader expects")
    func openWhiskRuntimes() throws {
        let data = try Data(contentsOf: Self.repository.appendingPathComponent("deploy/openwhisk/runtimes.json"))
        let problems = Self.runtimeManifestProblems(data)
        #expect(problems.isEmpty, "\(problems)")
        // The image the manifest names is the one create-action.sh and the README use.
        let script = try String(contentsOf: Self.repository.appendingPathComponent("deploy/openwhisk/create-action.sh"), encoding: .utf8)
        #expect(script.contains("tabula/tabula-runtime:latest"))
        #expect(script.contains("--kind wasm:tabula"))
    }

    @Test("a broken runtimes.json is refused")
    func openWhiskRuntimesBroken() throws {
        let text = try String(contentsOf: Self.repository.appendingPathComponent("deploy/openwhisk/runtimes.json"), encoding: .utf8)
        let breakages: [(String, String)] = [
            (#""default": true"#, #""default": false"#),
            (#""tag": "latest""#, #""tag": """#),
            (#""prefix": "tabula","#, ""),
            (#""kind": "wasm:tabula""#, #""kind": "Wasm Tabula""#),
            (#""deprecated": false"#, #""deprecated": "no""#),
            (#""default": true"#, #""defualt": true"#),
            (#""blackboxes""#, #""blackbox""#),
            ("}", "},"),
        ]
        for (original, broken) in breakages {
            #expect(text.contains(original), "runtimes.json no longer has \(original)")
            let problems = Self.runtimeManifestProblems(Data(text.replacingOccurrences(of: original, with: broken).utf8))
            #expect(!problems.isEmpty, "\(broken) passed")
        }
        // Two defaults in one family.
        let twoDefaults = text.replacingOccurrences(of: #"        "wasm": ["#, with: #"""
                "wasm": [
                    {"kind": "wasm:other", "default": true, "image": {"prefix": "tabula", "name": "other", "tag": "latest"}},
        """#)
        #expect(Self.runtimeManifestProblems(Data(twoDefaults.utf8)).contains { $0.contains("default") })
    }

    // MARK: Dockerfiles

    @Test("deploy/runtime/Dockerfile builds tabula and runs `tabula runtime` on 8080 as a non-root user")
    func runtimeDockerfile() throws {
        let dockerfile = try Dockerfile(Self.repository.appendingPathComponent("deploy/runtime/Dockerfile"))
        #expect(dockerfile.problems(entrypoint: ["/usr/local/bin/tabula", "runtime"], port: "8080").isEmpty, "\(dockerfile.problems(entrypoint: ["/usr/local/bin/tabula", "runtime"], port: "8080"))")
        #expect(dockerfile.final.contains { $0.keyword == "ENV" && $0.arguments.split(separator: " ").contains("PORT=8080") })
    }

    @Test("deploy/serve/Dockerfile runs `tabula serve` on 0.0.0.0:3233 with its data directory in a volume")
    func serveDockerfile() throws {
        let dockerfile = try Dockerfile(Self.repository.appendingPathComponent("deploy/serve/Dockerfile"))
        #expect(dockerfile.problems(entrypoint: ["/usr/local/bin/tabula", "serve"], port: "3233").isEmpty, "\(dockerfile.problems(entrypoint: ["/usr/local/bin/tabula", "serve"], port: "3233"))")
        let command = try #require(dockerfile.final.last { $0.keyword == "CMD" }).execForm ?? []
        for (option, value) in [("--host", "0.0.0.0"), ("--port", "3233"), ("--data-dir", "/var/lib/tabula")] {
            let at = command.firstIndex(of: option)
            #expect(at.map { $0 + 1 < command.count && command[$0 + 1] == value } == true, "CMD \(command) lacks \(option) \(value)")
        }
        let volumes = dockerfile.final.filter { $0.keyword == "VOLUME" }.flatMap { $0.execForm ?? $0.arguments.split(separator: " ").map(String.init) }
        #expect(volumes.contains("/var/lib/tabula"), "VOLUME \(volumes)")
    }

    @Test("a broken Dockerfile is refused")
    func dockerfileBroken() throws {
        let text = try String(contentsOf: Self.repository.appendingPathComponent("deploy/runtime/Dockerfile"), encoding: .utf8)
        let breakages: [(String, String)] = [
            (#"ENTRYPOINT ["/usr/local/bin/tabula", "runtime"]"#, #"ENTRYPOINT ["/usr/local/bin/tabula", "serve"]"#),
            (#"ENTRYPOINT ["/usr/local/bin/tabula", "runtime"]"#, "ENTRYPOINT /usr/local/bin/tabula runtime"),
            ("EXPOSE 8080", "EXPOSE 8000"),
            ("USER 1000:1000", "USER root"),
            ("USER 1000:1000", ""),
            ("libcurl4 ", ""),
            ("--static-swift-stdlib", ""),
            ("COPY --from=build /out/tabula /usr/local/bin/tabula", "COPY --from=build /out/tabula /usr/bin/tabula"),
        ]
        for (original, broken) in breakages {
            #expect(text.contains(original), "the Dockerfile no longer has \(original)")
            let dockerfile = Dockerfile(text: text.replacingOccurrences(of: original, with: broken))
            #expect(!dockerfile.problems(entrypoint: ["/usr/local/bin/tabula", "runtime"], port: "8080").isEmpty, "\(broken) passed")
        }
    }

    @Test("the images install the shared libraries the tabula binary loads")
    func imageLibraries() async throws {
        let needed = try await Self.sharedLibraries(of: try TabulaExecutable.url)
        // Where a library comes from in debian:bookworm-slim: its base (nil) or a package to install.
        let packages: [String: String?] = [
            "libc.so.6": nil, "libm.so.6": nil, "libpthread.so.0": nil, "libdl.so.2": nil, "librt.so.1": nil,
            "libutil.so.1": nil, "ld-linux-x86-64.so.2": nil, "ld-linux-aarch64.so.1": nil,
            "libstdc++.so.6": nil, "libgcc_s.so.1": nil, "libz.so.1": nil,
            "libsqlite3.so.0": "libsqlite3-0", "libcurl.so.4": "libcurl4", "libxml2.so.2": "libxml2",
        ]
        let unknown = needed.filter { packages[$0] == nil }
        #expect(unknown.isEmpty, "tabula loads \(unknown.sorted()): add each one's Debian package to both Dockerfiles and to this test's map")
        #expect(needed.contains("libsqlite3.so.0"), "ldd found no SQLite in \(needed.sorted())")
        let required = Set(needed.compactMap { packages[$0] ?? nil })
        for path in ["deploy/runtime/Dockerfile", "deploy/serve/Dockerfile"] {
            let dockerfile = try Dockerfile(Self.repository.appendingPathComponent(path))
            let installed = dockerfile.installedPackages
            #expect(required.isSubset(of: installed), "\(path) installs \(installed.sorted()), the binary needs \(required.sorted())")
        }
    }
}

// MARK: - Helpers

extension PackagingTests {
    /// The virtualenv holding kubernetes-validate and jsonschema, made (once per test process) by the
    /// same script as CI's when it is missing or its pins changed.
    static let tools = Task<URL, any Error> {
        let environment = ProcessInfo.processInfo.environment
        let venv = environment["TABULA_TEST_VENV"].flatMap { $0.isEmpty ? nil : URL(fileURLWithPath: $0) }
            ?? FileManager.default.homeDirectoryForCurrentUser.appendingPathComponent(".cache/tabula-test-venv")
        let script = repository.appendingPathComponent("Tests/Support/install-test-packages.sh")
        let installed = try await offPool { try RunCommandTests.run(URL(fileURLWithPath: "/bin/bash"), [script.path], stdin: nil, environment: [:]) }
        guard installed.status == 0, FileManager.default.isExecutableFile(atPath: venv.appendingPathComponent("bin/kubernetes-validate").path) else {
            throw PostgresServer.Failure("the Python test tools are not in \(venv.path) and could not be installed: \(installed.stderr.suffix(800))")
        }
        return venv
    }

    /// Runs a blocking process on a thread of its own, not on Swift's cooperative pool.
    static func offPool<T: Sendable>(_ body: @escaping @Sendable () throws -> T) async throws -> T {
        try await withCheckedThrowingContinuation { continuation in
            Thread { continuation.resume(with: Result { try body() }) }.start()
        }
    }

    static func python(_ venv: URL, _ program: String, _ arguments: [String]) async throws -> RunCommandTests.Output {
        let python = venv.appendingPathComponent("bin/python")
        return try await offPool { try RunCommandTests.run(python, ["-c", program] + arguments, stdin: nil, environment: [:]) }
    }

    static func kubernetesValidate(_ venv: URL, _ files: [String]) async throws -> RunCommandTests.Output {
        let tool = venv.appendingPathComponent("bin/kubernetes-validate")
        return try await offPool { try RunCommandTests.run(tool, ["--strict"] + files, stdin: nil, environment: [:]) }
    }

    /// How many non-empty YAML documents the files hold.
    static let countDocuments = """
    import sys, yaml
    print(sum(1 for path in sys.argv[1:] for document in yaml.safe_load_all(open(path)) if document is not None))
    """

    struct KnativeCheck {
        var status: Int32
        var stdout: String
        var stderr: String
        /// What the checker refused, one line each.
        var problems: [String]
        /// The Pod the template becomes, written for kubernetes-validate.
        var pod: URL
        /// The `__OW_…` variables of the serving container.
        var action: [String: String?]?
    }

    /// Validates a Knative Service manifest (schema and cross-field rules) and writes the Pod its template
    /// becomes; prints `PROBLEM …` lines and exits 1 when something is wrong, else the action's variables.
    static let knativeChecker = #"""
    import json, sys, yaml, jsonschema
    schema_path, manifest_path, pod_path = sys.argv[1:4]
    problems = []
    documents = [d for d in yaml.safe_load_all(open(manifest_path)) if d is not None]
    if len(documents) != 1:
        problems.append(f"expected one document, found {len(documents)}")
    service = documents[0] if documents else {}
    validator = jsonschema.Draft202012Validator(json.load(open(schema_path)))
    for error in sorted(validator.iter_errors(service), key=lambda e: [str(p) for p in e.absolute_path]):
        problems.append("/".join(str(p) for p in error.absolute_path) + ": " + error.message)
    if not problems:
        spec = service["spec"]["template"]["spec"]
        container = spec["containers"][0]
        ports = container.get("ports") or [{"containerPort": 8080}]
        port, port_name = ports[0]["containerPort"], ports[0].get("name")
        # Knative's webhook: a probe of the serving container names its port or none (then Knative fills it in).
        for probe in ("readinessProbe", "livenessProbe", "startupProbe"):
            for handler in ("httpGet", "tcpSocket"):
                action = container.get(probe, {}).get(handler)
                if action is None:
                    continue
                given = action.get("port")
                if given is not None and given != port and given != port_name:
                    problems.append(f"{probe}.{handler}.port: {given} is not the serving port {port}")
                action.setdefault("port", port)
        if "readinessProbe" not in container:
            problems.append("readinessProbe: the serving container has none")
        if "limits" not in container.get("resources", {}):
            problems.append("resources.limits: none")
        names = [e["name"] for e in container.get("env", [])]
        for name in sorted(set(n for n in names if names.count(n) > 1)):
            problems.append(f"env: {name} is set twice")
        env = {e["name"]: e.get("value") for e in container.get("env", [])}
        variables = ["__OW_ACTION_CODE", "__OW_ACTION_MAIN", "__OW_ACTION_BINARY", "__OW_ACTION_NAME", "__OW_RUNTIME_PLATFORM"]
        for name in variables:
            if name not in names:
                problems.append(f"env: {name} is missing")
        if env.get("__OW_RUNTIME_PLATFORM") != "knative":
            problems.append(f"env: __OW_RUNTIME_PLATFORM is {env.get('__OW_RUNTIME_PLATFORM')!r}, not 'knative'")
        if "__OW_ACTION_BINARY" in env and env["__OW_ACTION_BINARY"] not in ("true", "false", None):
            problems.append(f"env: __OW_ACTION_BINARY is {env['__OW_ACTION_BINARY']!r}, not 'true' or 'false'")
        # The Pod Knative makes of the template: its own fields dropped, the rest is a PodSpec.
        knative_only = {"containerConcurrency", "timeoutSeconds", "idleTimeoutSeconds", "responseStartTimeoutSeconds"}
        pod = {
            "apiVersion": "v1",
            "kind": "Pod",
            "metadata": {"name": service["metadata"]["name"], "labels": service["spec"]["template"].get("metadata", {}).get("labels", {})},
            "spec": {key: value for key, value in spec.items() if key not in knative_only},
        }
        with open(pod_path, "w") as out:
            yaml.safe_dump(pod, out)
        if not problems:
            print(json.dumps({name: env.get(name) for name in variables}))
    for problem in problems:
        print("PROBLEM " + problem)
    sys.exit(1 if problems else 0)
    """#

    static func checkKnative(_ venv: URL, _ manifest: URL) async throws -> KnativeCheck {
        let schema = Fixtures.url("knative/service-v1.schema.json")
        let pod = FileManager.default.temporaryDirectory.appendingPathComponent("tabula-ksvc-pod-\(UUID().uuidString).yaml")
        let output = try await python(venv, knativeChecker, [schema.path, manifest.path, pod.path])
        let problems = output.lines.filter { $0.hasPrefix("PROBLEM ") }.map { String($0.dropFirst(8)) }
        var action: [String: String?]?
        if output.status == 0, let line = output.lines.first,
           let object = try? JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any] {
            action = object.mapValues { $0 as? String }
        }
        return KnativeCheck(status: output.status, stdout: output.stdout, stderr: output.stderr, problems: problems, pod: pod, action: action)
    }

    /// What OpenWhisk's ExecManifest.runtimes (apache/openwhisk, common/scala/.../entity/ExecManifest.scala)
    /// needs of a runtimes manifest, plus what this one promises: every kind names a full image, each
    /// family has exactly one default, kinds are unique, and the field names are the loader's own (it would
    /// ignore a misspelt one).
    static func runtimeManifestProblems(_ data: Data) -> [String] {
        // JSONValue keeps JSON's types apart (a boolean is not the number 1), as the loader's spray-json does.
        guard let root = (try? JSONDecoder().decode(JSONValue.self, from: data))?.objectValue else { return ["not a JSON object"] }
        var problems: [String] = []
        for key in root.keys where !["description", "runtimes", "blackboxes"].contains(key) { problems.append("unknown top-level field \(key)") }
        func imageProblems(_ value: JSONValue?, _ place: String) {
            guard let image = value?.objectValue else { return problems.append("\(place): no image object") }
            for key in image.keys where !["registry", "prefix", "name", "tag"].contains(key) { problems.append("\(place): unknown image field \(key)") }
            // Docker's reference grammar, as ExecManifest.ImageName parses it.
            let patterns = [
                ("prefix", "^[a-z0-9]+([._-][a-z0-9]+)*(/[a-z0-9]+([._-][a-z0-9]+)*)*$"),
                ("name", "^[a-z0-9]+([._-][a-z0-9]+)*$"),
                ("tag", "^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$"),
            ]
            for (field, pattern) in patterns where image[field]?.stringValue?.range(of: pattern, options: .regularExpression) == nil {
                problems.append("\(place): image \(field) \(String(describing: image[field])) is missing or not a valid part of an image reference")
            }
        }
        guard let runtimes = root["runtimes"]?.objectValue, !runtimes.isEmpty else { return problems + ["no runtimes object"] }
        var kinds: Set<String> = []
        for (family, value) in runtimes {
            // `FAMILY:default` resolves through the pattern ([a-z0-9]+):default.
            if family.range(of: "^[a-z0-9]+$", options: .regularExpression) == nil { problems.append("family \(family): not [a-z0-9]+") }
            guard case .array(let versions) = value, !versions.isEmpty else {
                problems.append("family \(family): not a non-empty array of kinds")
                continue
            }
            var defaults = 0
            for (index, entry) in versions.enumerated() {
                let place = "\(family)[\(index)]"
                guard let version = entry.objectValue else {
                    problems.append("\(place): not an object")
                    continue
                }
                let fields: Set<String> = ["kind", "image", "deprecated", "default", "attached", "requireMain", "sentinelledLogs", "stemCells"]
                for key in version.keys where !fields.contains(key) { problems.append("\(place): unknown field \(key)") }
                if let kind = version["kind"]?.stringValue, kind.range(of: "^\(family):[a-z0-9][a-z0-9.-]*$", options: .regularExpression) != nil {
                    if !kinds.insert(kind).inserted { problems.append("\(place): kind \(kind) twice") }
                } else {
                    problems.append("\(place): kind \(String(describing: version["kind"])) is not \(family):VERSION")
                }
                imageProblems(version["image"], place)
                for flag in ["deprecated", "default", "requireMain", "sentinelledLogs"] {
                    switch version[flag] {
                    case nil, .bool: break
                    default: problems.append("\(place): \(flag) is not a boolean")
                    }
                }
                if version["default"] == .bool(true) { defaults += 1 }
                if let attached = version["attached"] {
                    let object = attached.objectValue ?? [:]
                    if object.count != 2 || object["attachmentName"]?.stringValue == nil || object["attachmentType"]?.stringValue == nil {
                        problems.append("\(place): attached needs exactly attachmentName and attachmentType")
                    }
                }
            }
            if defaults != 1 { problems.append("family \(family): \(defaults) default kinds, not one") }
        }
        guard case .array(let blackboxes) = root["blackboxes"] else { return problems + ["no blackboxes array"] }
        for (index, image) in blackboxes.enumerated() { imageProblems(image, "blackboxes[\(index)]") }
        guard case .array(let wasm) = runtimes["wasm"], wasm.contains(where: { $0["kind"] == "wasm:tabula" }) else {
            return problems + ["no kind wasm:tabula"]
        }
        return problems
    }

    /// The shared libraries the binary loads once the Swift runtime is linked statically: its own
    /// dependencies and those of the toolchain libraries it loads here, minus the toolchain's own.
    static func sharedLibraries(of binary: URL) async throws -> Set<String> {
        let ldd = try await offPool { try RunCommandTests.run(URL(fileURLWithPath: "/usr/bin/ldd"), [binary.path], stdin: nil, environment: [:]) }
        try #require(ldd.status == 0, "\(ldd.stderr)")
        var resolved: [String: String] = [:]
        for line in ldd.lines {
            let parts = line.split(whereSeparator: \.isWhitespace)
            if parts.count >= 3, parts[1] == "=>" { resolved[String(parts[0])] = String(parts[2]) }
        }
        // The test build links the Swift runtime dynamically: its libraries are what the image links statically.
        let core = try #require(resolved["libswiftCore.so"], "ldd found no libswiftCore.so: \(ldd.stdout)")
        let toolchain = URL(fileURLWithPath: core).deletingLastPathComponent().path
        let toolchainLibraries = Set(resolved.filter { $0.value.hasPrefix(toolchain + "/") }.map(\.value))
        var needed: Set<String> = []
        for file in [binary.path] + toolchainLibraries.sorted() {
            let readelf = try await offPool { try RunCommandTests.run(URL(fileURLWithPath: "/usr/bin/readelf"), ["-d", file], stdin: nil, environment: [:]) }
            try #require(readelf.status == 0, "readelf -d \(file): \(readelf.stderr)")
            for line in readelf.lines where line.contains("(NEEDED)") {
                if let open = line.firstIndex(of: "["), let close = line.lastIndex(of: "]") {
                    needed.insert(String(line[line.index(after: open)..<close]))
                }
            }
        }
        return needed.filter { name in !FileManager.default.fileExists(atPath: toolchain + "/" + name) }
    }
}

/// A Dockerfile read far enough to check what an image runs: instructions with their continuation lines
/// joined and comments dropped, split into stages at FROM.
struct Dockerfile {
    struct Instruction {
        var keyword: String
        var arguments: String
        /// The JSON array of the exec form (`["a", "b"]`), if the arguments are one.
        var execForm: [String]? {
            guard arguments.hasPrefix("[") else { return nil }
            return (try? JSONSerialization.jsonObject(with: Data(arguments.utf8))) as? [String]
        }
    }

    var stages: [[Instruction]] = []
    /// ARGs before the first FROM, which FROM lines may use.
    var globalArguments: [String: String] = [:]
    var final: [Instruction] { stages.last ?? [] }

    init(_ url: URL) throws {
        self.init(text: try String(contentsOf: url, encoding: .utf8))
    }

    init(text: String) {
        var logical: [String] = []
        var current = ""
        for raw in text.split(separator: "\n", omittingEmptySubsequences: false) {
            let line = raw.trimmingCharacters(in: .whitespaces)
            // Comment lines are dropped, inside a continued instruction too (as Docker does).
            if line.hasPrefix("#") { continue }
            if line.hasSuffix("\\") {
                current += line.dropLast() + " "
            } else {
                current += line
                if !current.trimmingCharacters(in: .whitespaces).isEmpty { logical.append(current) }
                current = ""
            }
        }
        if !current.trimmingCharacters(in: .whitespaces).isEmpty { logical.append(current) }
        for line in logical {
            let trimmed = line.trimmingCharacters(in: .whitespaces)
            let keyword = String(trimmed.prefix { !$0.isWhitespace }).uppercased()
            let arguments = trimmed.dropFirst(keyword.count).trimmingCharacters(in: .whitespaces)
            let instruction = Instruction(keyword: keyword, arguments: arguments)
            if keyword == "FROM" {
                stages.append([instruction])
            } else if stages.isEmpty {
                if keyword == "ARG", let equals = arguments.firstIndex(of: "=") {
                    globalArguments[String(arguments[..<equals])] = String(arguments[arguments.index(after: equals)...])
                }
            } else {
                stages[stages.count - 1].append(instruction)
            }
        }
    }

    /// The image a stage starts from, with global ARGs substituted.
    func base(of stage: [Instruction]) -> String {
        var image = String(stage.first?.arguments.split(separator: " ").first ?? "")
        for (name, value) in globalArguments {
            image = image.replacingOccurrences(of: "${\(name)}", with: value).replacingOccurrences(of: "$\(name)", with: value)
        }
        return image
    }

    /// The Debian packages the final stage's `apt-get install` lines name.
    var installedPackages: Set<String> {
        var packages: Set<String> = []
        for instruction in final where instruction.keyword == "RUN" {
            for command in instruction.arguments.components(separatedBy: "&&") {
                let words = command.split(separator: " ").map(String.init)
                guard let install = words.firstIndex(of: "install"), words[..<install].contains("apt-get") else { continue }
                packages.formUnion(words[(install + 1)...].filter { !$0.hasPrefix("-") })
            }
        }
        return packages
    }

    /// What is wrong for an image whose final stage should run `entrypoint` and expose `port`: a build
    /// stage on the Swift image that builds the tabula product with the Swift runtime linked statically, and
    /// a final stage on slim Debian or Ubuntu with that binary, a non-root user, the port and no HEALTHCHECK.
    func problems(entrypoint: [String], port: String) -> [String] {
        var problems: [String] = []
        guard stages.count >= 2 else { return ["\(stages.count) stages, not a multi-stage build"] }
        let build = stages[0]
        let buildName = build[0].arguments.split(separator: " ").last.map(String.init) ?? ""
        if !base(of: build).hasPrefix("swift:6.") { problems.append("the build stage starts from \(base(of: build)), not swift:6.x") }
        let builds = build.contains { $0.keyword == "RUN" && $0.arguments.contains("swift build -c release --product tabula --static-swift-stdlib") }
        if !builds { problems.append("the build stage does not run swift build -c release --product tabula --static-swift-stdlib") }
        let finalBase = base(of: final)
        if !(finalBase.hasPrefix("debian:") || finalBase.hasPrefix("ubuntu:")) || finalBase.hasPrefix("swift") {
            problems.append("the final stage starts from \(finalBase), not Debian or Ubuntu")
        }
        let copies = final.contains { $0.keyword == "COPY" && $0.arguments.contains("--from=\(buildName)") && $0.arguments.hasSuffix(" \(entrypoint[0])") }
        if !copies { problems.append("the final stage does not copy the built binary to \(entrypoint[0])") }
        let entrypoints = final.filter { $0.keyword == "ENTRYPOINT" }
        if entrypoints.last?.execForm != entrypoint {
            problems.append("ENTRYPOINT is \(entrypoints.last?.arguments ?? "missing"), not the exec form \(entrypoint)")
        }
        let user = final.last { $0.keyword == "USER" }?.arguments ?? "root"
        let name = String(user.split(separator: ":").first ?? "")
        if name.isEmpty || name == "root" || name == "0" || Int(name) == nil {
            problems.append("USER is \(user), not a numeric non-root user")
        }
        if !final.contains(where: { $0.keyword == "EXPOSE" && $0.arguments.split(separator: " ").contains { $0 == port || $0 == "\(port)/tcp" } }) {
            problems.append("the final stage does not EXPOSE \(port)")
        }
        if final.contains(where: { $0.keyword == "HEALTHCHECK" }) { problems.append("a HEALTHCHECK (orchestrators probe the port)") }
        for package in ["libsqlite3-0", "libcurl4"] where !installedPackages.contains(package) {
            problems.append("the final stage does not install \(package)")
        }
        return problems
    }
}
