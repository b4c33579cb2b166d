import ArgumentParser
import TabulaWire

/// `-a KEY VALUE` and `-A FILE`: the annotations of a package, trigger or rule, as wsk reads them.
struct AnnotationOptions: ParsableArguments {
    @Option(
        name: [.customShort("a"), .customLong("annotation")], parsing: .upToNextOption,
        help: ArgumentHelp("An annotation, repeatable. VALUE is JSON if it parses as JSON, else a string.", valueName: "key value"))
    var annotation: [String] = []

    @Option(name: [.customShort("A"), .customLong("annotation-file")], help: ArgumentHelp("A JSON object of annotations; -a wins over it.", valueName: "file"))
    var annotationFile: String?

    /// The annotations given, or `nil` for none (an update then keeps the old ones).
    func keyValues() throws -> [KeyValue]? {
        annotation.isEmpty && annotationFile == nil ? nil : try .parsing(pairs: annotation, file: annotationFile, option: "-a/--annotation")
    }
}
