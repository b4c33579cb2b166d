import ArgumentParser
import Crypto
import Foundation
import Logging
import ServiceLifecycle
import TabulaAttestation
import TabulaClient
import TabulaKBS
import TabulaPlatform
import TabulaServer

/// `tabula broker`: the key broker of a cluster, and the tools of its manifest's signers and
/// recovery holders.
struct BrokerCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "broker",
        abstract: "Run the key broker (Trustee's KBS protocol): it releases the cluster's keys and tenant secrets to attested nodes. See docs/broker.md.",
        subcommands: [Serve.self, Keygen.self, Sign.self, Update.self, Recover.self],
        defaultSubcommand: Serve.self)

    /// `tabula broker [serve]`.
    struct Serve: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Serve the key broker (the default).")

        @Option(help: "The address to listen on.")
        var host = "127.0.0.1"

        @Option(help: "The port to listen on (0 picks a free one).")
        var port = 8080

        @Option(help: "The data directory (default: $TABULA_CONFIG_DIR or ~/.tabula).")
        var dataDir: String?

        @Option(help: "The store the broker keeps its sealed state in: the cluster's (postgres://…), or sqlite:PATH; default the data directory's SQLite database (default: $TABULA_STORE).")
        var store: String?

        @OptionGroup var tee: TEEOptions

        @Option(help: ArgumentHelp("The manifest (JSON, docs/broker.md) for a new broker state; an existing state's manifest changes only by signed update.", valueName: "file"))
        var manifest: String?

        @Option(help: ArgumentHelp("A running broker instance to get the state key from when this TEE cannot unseal it.", valueName: "url"))
        var peer: String?

        func run() async throws {
            LoggingSystem.bootstrap { label in
                var handler = StreamLogHandler.standardError(label: label)
                handler.logLevel = .info
                return handler
            }
            let logger = Logger(label: "tabula.broker")
            let directory = try DataDirectory.prepare(dataDir ?? DataDirectory.default)
            let location = try DataDirectory.storeLocation(store, in: directory)
            let provider = try tee.provider(directory: directory, logger: logger)
            let manifestBytes = try manifest.map { path in
                guard let bytes = FileManager.default.contents(atPath: path) else { throw ValidationError("cannot read the manifest \(path)") }
                _ = try Manifest.decode(Array(bytes))
                return Array(bytes)
            }
            let peerURL = try peer.map { text in
                guard let url = URL(string: text), url.scheme == "http" || url.scheme == "https" else { throw ValidationError("--peer must be an http or https URL") }
                return url
            }
            let store = try await Store.open(location)
            let broker: Broker
            do {
                broker = try await Broker.start(provider: provider, storage: store, manifest: manifestBytes, peer: peerURL, logger: logger)
            } catch {
                await store.close()
                throw ValidationError("the broker cannot start: \(error)")
            }
            let phase = await broker.phase == .serving ? "serving" : "waiting for recovery (tabula broker recover)"
            let host = self.host
            let storeName = "\(location)"
            let app = BrokerServer.application(broker: broker, store: store, host: host, port: port, logger: logger) { port in
                standardOutput("Tabula key broker is listening on http://\(host):\(port) (store: \(storeName); TEE: \(provider.tee); \(phase))")
            }
            let group = ServiceGroup(configuration: ServiceGroupConfiguration(services: [.init(service: app)], gracefulShutdownSignals: [.sigterm, .sigint], logger: logger))
            try await group.run()
            await store.close()
        }
    }

    /// `tabula broker keygen --out FILE`: a P-256 key for a manifest updater or recovery holder.
    struct Keygen: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Make a P-256 key pair for a manifest updater or a recovery holder; prints the public parts to put in the manifest.")

        @Option(help: ArgumentHelp("Where to write the private key (PEM, mode 0600).", valueName: "file"))
        var out: String

        func run() async throws {
            let key = P256.Signing.PrivateKey()
            guard FileManager.default.createFile(atPath: out, contents: Data(key.pemRepresentation.utf8), attributes: [.posixPermissions: 0o600]) else {
                throw ValidationError("cannot write \(out)")
            }
            let agreement = try P256.KeyAgreement.PrivateKey(rawRepresentation: key.rawRepresentation)
            let encoder = JSONEncoder()
            encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
            standardOutput("updater key (manifest \"updaters\"[].key):\n\(key.publicKey.pemRepresentation)")
            standardOutput("recovery key (manifest \"recovery\"[].key): \(String(decoding: try encoder.encode(JWK(agreement.publicKey)), as: UTF8.self))")
        }
    }

    /// `tabula broker sign --key FILE (--current FILE | --broker URL) MANIFEST`: an updater's
    /// signature over the update from the manifest in force to a new one.
    struct Sign: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Sign a new manifest with an updater's key, for the manifest in force (--current FILE, or read from the attested --broker); prints the signature (base64) for tabula broker update.")

        @Option(help: ArgumentHelp("The updater's private key (PEM).", valueName: "file"))
        var key: String

        @Option(help: ArgumentHelp("The manifest in force, exactly as the broker holds it (offline signing).", valueName: "file"))
        var current: String?

        @OptionGroup var verification: Verification

        @Argument(help: "The new manifest (JSON).")
        var manifest: String

        func run() async throws {
            guard let pem = try? String(contentsOfFile: key, encoding: .utf8), let signing = try? P256.Signing.PrivateKey(pemRepresentation: pem) else {
                throw ValidationError("\(key) is not a P-256 private key in PEM")
            }
            guard let bytes = FileManager.default.contents(atPath: manifest) else { throw ValidationError("cannot read \(manifest)") }
            _ = try Manifest.decode(Array(bytes))
            let inForce: [UInt8]
            if let current {
                guard let data = FileManager.default.contents(atPath: current) else { throw ValidationError("cannot read \(current)") }
                inForce = Array(data)
            } else if let broker = verification.broker, let url = URL(string: broker) {
                do {
                    let client = BrokerClient(url: url)
                    let cluster = try await client.attest(policy: try verification.appraisalPolicy())
                    let (statement, _) = try await client.statement(verifiedBy: cluster)
                    inForce = try Base64URL.decode(statement.manifest, field: "manifest")
                } catch {
                    standardError("error: \(error)")
                    throw ExitCode.failure
                }
            } else {
                throw ValidationError("give the manifest in force with --current FILE, or the broker to read it from with --broker URL")
            }
            standardOutput(try signing.signature(for: Manifest.updateMessage(current: inForce, next: Array(bytes))).derRepresentation.base64EncodedString())
        }
    }

    /// `tabula broker update --broker URL MANIFEST --signature S…`.
    struct Update: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Replace the broker's manifest with a newer version signed by its updaters.")

        @Option(help: ArgumentHelp("The broker.", valueName: "url"))
        var broker: String

        @Option(name: .customLong("signature"), help: "A signature from tabula broker sign (repeat for each updater).")
        var signatures: [String] = []

        @Argument(help: "The new manifest (JSON), exactly as signed.")
        var manifest: String

        func run() async throws {
            guard let url = URL(string: broker) else { throw ValidationError("--broker must be a URL") }
            guard let bytes = FileManager.default.contents(atPath: manifest) else { throw ValidationError("cannot read \(manifest)") }
            do {
                try await BrokerClient(url: url).updateManifest(Array(bytes), signatures: signatures)
            } catch {
                standardError("error: \(error)")
                throw ExitCode.failure
            }
            standardOutput("ok: the broker's manifest is now \(manifest)")
        }
    }

    /// `tabula broker recover --broker URL --holder NAME --key FILE`.
    struct Recover: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Send a recovery holder's share to a broker that cannot open its state (name it with --broker).")

        @Option(help: "The holder's name in the manifest.")
        var holder: String

        @Option(help: ArgumentHelp("The holder's private key (PEM, from tabula broker keygen).", valueName: "file"))
        var key: String

        @OptionGroup var verification: Verification

        func run() async throws {
            guard let broker = verification.broker, let url = URL(string: broker) else { throw ValidationError("name the recovering broker with --broker URL") }
            guard let pem = try? String(contentsOfFile: key, encoding: .utf8), let signing = try? P256.Signing.PrivateKey(pemRepresentation: pem),
                  let agreement = try? P256.KeyAgreement.PrivateKey(rawRepresentation: signing.rawRepresentation)
            else {
                throw ValidationError("\(key) is not a P-256 private key in PEM")
            }
            do {
                let waiting = try await BrokerClient(url: url).recover(holder: holder, key: agreement, policy: try verification.appraisalPolicy())
                standardOutput(waiting.isEmpty ? "ok: the broker recovered its state and serves" : "ok: share of \(holder) accepted; waiting for \(waiting.joined(separator: ", "))")
            } catch {
                standardError("error: \(error)")
                throw ExitCode.failure
            }
        }
    }
}
