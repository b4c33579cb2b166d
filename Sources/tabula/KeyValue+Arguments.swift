import ArgumentParser
import Foundation
import TabulaWire

extension [KeyValue] {
    /// Pairs from the command line, as wsk reads `-p KEY VALUE` and `-P FILE`: first the members
    /// of the JSON object in `file` (sorted by key), then the pairs; a later key replaces an
    /// earlier one in place.
    ///
    /// A value is JSON when it parses as JSON (`42`, `true`, `{"a":1}`, `"quoted"`), else the
    /// string as typed.
    static func parsing(pairs: [String], file: String?, option: String) throws -> [KeyValue] {
        guard pairs.count.isMultiple(of: 2) else {
            throw ValidationError("\(option) takes a KEY and a VALUE each time (an odd number of values follows it: \(pairs.count); give the positional arguments before the options)")
        }
        var list: [KeyValue] = []
        func add(_ pair: KeyValue) {
            if let index = list.firstIndex(where: { $0.key == pair.key }) {
                list[index] = pair
            } else {
                list.append(pair)
            }
        }
        if let file {
            let data: Data
            do {
                data = file == "-" ? FileHandle.standardInput.readDataToEndOfFile() : try Data(contentsOf: URL(fileURLWithPath: file))
            } catch {
                throw ValidationError("cannot read \(file): \(error.localizedDescription)")
            }
            guard let object = (try? JSONValue(parsing: data))?.objectValue else {
                throw ValidationError("\(file) is not a JSON object")
            }
            for key in object.keys.sorted() { add(KeyValue(key: key, value: object[key]!)) }
        }
        for index in stride(from: 0, to: pairs.count, by: 2) {
            let text = pairs[index + 1]
            add(KeyValue(key: pairs[index], value: (try? JSONValue(parsing: text)) ?? .string(text)))
        }
        return list
    }
}
