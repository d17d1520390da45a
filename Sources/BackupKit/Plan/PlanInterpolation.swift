import Foundation
import Yams

/// Replaces `${VAR}` and `${VAR:-default}` in scalar values.
struct PlanInterpolation {
    var environment: [String: String]
    var origin: String

    func apply(_ node: Node) throws -> Node {
        switch node {
        case .scalar(var scalar):
            let original = scalar.string
            let replaced = try interpolate(original, mark: scalar.mark)
            if replaced != original { scalar.string = replaced }
            return .scalar(scalar)
        case .mapping(let mapping):
            let pairs = try mapping.map { ($0.key, try apply($0.value)) }
            return .mapping(Node.Mapping(pairs, mapping.tag, mapping.style, mapping.mark))
        case .sequence(let sequence):
            return .sequence(Node.Sequence(try sequence.map(apply), sequence.tag, sequence.style, sequence.mark))
        case .alias:
            return node
        }
    }

    func interpolate(_ text: String, mark: Mark?) throws -> String {
        guard text.contains("$") else { return text }
        var result = ""
        var index = text.startIndex
        while index < text.endIndex {
            let character = text[index]
            let next = text.index(after: index)
            guard character == "$", next < text.endIndex else {
                result.append(character)
                index = next
                continue
            }
            if text[next] == "$" {
                result.append("$")
                index = text.index(after: next)
                continue
            }
            guard text[next] == "{", let close = text[next...].firstIndex(of: "}") else {
                result.append(character)
                index = next
                continue
            }
            let body = String(text[text.index(after: next)..<close])
            let name: String
            var fallback: String?
            if let separator = body.range(of: ":-") {
                name = String(body[..<separator.lowerBound])
                fallback = String(body[separator.upperBound...])
            } else {
                name = body
            }
            let line = mark.map { ":\($0.line)" } ?? ""
            guard !name.isEmpty, name.allSatisfy({ $0.isLetter || $0.isNumber || $0 == "_" }) else {
                throw BackupError(.invalidPlan, "\(origin)\(line): '${\(body)}' is not a valid variable reference; write ${NAME} or ${NAME:-default}")
            }
            if let value = environment[name], !(value.isEmpty && fallback != nil) {
                result += value
            } else if let fallback {
                result += fallback
            } else {
                throw BackupError(.invalidPlan, "\(origin)\(line): the environment variable \(name) is not set. Set it, or write ${\(name):-default} to give a default.")
            }
            index = text.index(after: close)
        }
        return result
    }
}
