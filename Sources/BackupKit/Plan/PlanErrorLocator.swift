import Foundation
import Yams

/// Turns a `DecodingError` into a message that names the file, the line and the key.
struct PlanErrorLocator {
    var root: Node
    var origin: String

    func error(for error: DecodingError) -> BackupError {
        let path: [any CodingKey]
        var message: String
        switch error {
        case .keyNotFound(let key, let context):
            path = context.codingPath
            message = "missing key '\(key.stringValue)'"
            if !context.debugDescription.hasPrefix("No value associated") { message = context.debugDescription }
        case .typeMismatch(let type, let context):
            path = context.codingPath
            message = "expected \(Self.describe(type)) here"
        case .valueNotFound(let type, let context):
            path = context.codingPath
            message = "expected \(Self.describe(type)), found nothing"
        case .dataCorrupted(let context):
            path = context.codingPath
            message = context.debugDescription
        @unknown default:
            return BackupError(.invalidPlan, "\(origin): \(error)")
        }
        let (line, keyPath) = locate(path)
        let location = line.map { "\(origin):\($0)" } ?? origin
        let keyText = keyPath.isEmpty ? "" : "\(keyPath): "
        return BackupError(.invalidPlan, "\(location): \(keyText)\(message)")
    }

    /// The line of the deepest node the path reaches, and the path written as `sources[0].exclude`.
    func locate(_ path: [any CodingKey]) -> (Int?, String) {
        var node: Node? = root
        var line = root.mark?.line
        var text = ""
        for key in path {
            if let index = key.intValue, case .sequence(let sequence)? = node {
                text += "[\(index)]"
                node = index < sequence.count ? sequence[index] : nil
            } else if case .mapping(let mapping)? = node {
                text += text.isEmpty ? key.stringValue : ".\(key.stringValue)"
                if let pair = mapping.first(where: { $0.key.string == key.stringValue }) {
                    line = pair.key.mark?.line ?? line
                    node = pair.value
                    continue
                }
                node = nil
            } else {
                text += key.intValue.map { "[\($0)]" } ?? ".\(key.stringValue)"
                node = nil
            }
            if let mark = node?.mark { line = mark.line }
        }
        return (line, text)
    }

    static func describe(_ type: Any.Type) -> String {
        switch type {
        case is String.Type: return "text"
        case is Int.Type, is Int64.Type: return "a whole number"
        case is Double.Type: return "a number"
        case is Bool.Type: return "true or false"
        default:
            let name = String(describing: type)
            if name.hasPrefix("Array") { return "a list" }
            if name.hasPrefix("Dictionary") || name.contains("KeyedDecodingContainer") { return "a mapping (key: value)" }
            return "a value of type \(name)"
        }
    }
}
