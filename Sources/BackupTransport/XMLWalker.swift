/// A small XML reader for the documents S3 answers with: elements, text (with the five predefined
/// entities, character references and CDATA), comments, the declaration and processing instructions.
/// Attributes are skipped and names are kept as written. It is ours rather than Foundation's
/// XMLParser because that one lives in FoundationXML, which links libxml2 into backupctl for this alone.
package struct XMLWalker {
    /// Calls `onStart` with each element's path (`ListBucketResult/Contents`) when it opens, and
    /// `onElement` with its path and its own text when it closes. Returns false, having stopped, at
    /// the first thing that is not well-formed (an unclosed or mismatched tag, a bad reference).
    package static func walk(_ bytes: [UInt8], onStart: (String) -> Void = { _ in }, onElement: (String, String) -> Void) -> Bool {
        var path: [String] = []
        var text: [UInt8] = []
        var index = 0
        var sawRoot = false

        func find(_ needle: String, from start: Int) -> Int? {
            let pattern = Array(needle.utf8)
            guard bytes.count >= pattern.count else { return nil }
            var position = start
            while position <= bytes.count - pattern.count {
                if bytes[position] == pattern[0], Array(bytes[position..<position + pattern.count]) == pattern { return position }
                position += 1
            }
            return nil
        }

        while index < bytes.count {
            let byte = bytes[index]
            if byte == UInt8(ascii: "&") {
                guard let end = find(";", from: index), let decoded = decodeReference(bytes[index + 1..<end]) else { return false }
                text += decoded
                index = end + 1
                continue
            }
            guard byte == UInt8(ascii: "<") else {
                text.append(byte)
                index += 1
                continue
            }
            if bytes[index...].starts(with: Array("<![CDATA[".utf8)) {
                guard let end = find("]]>", from: index + 9) else { return false }
                text += bytes[index + 9..<end]
                index = end + 3
            } else if bytes[index...].starts(with: Array("<!--".utf8)) {
                guard let end = find("-->", from: index + 4) else { return false }
                index = end + 3
            } else if bytes[index...].starts(with: Array("<?".utf8)) {
                guard let end = find("?>", from: index + 2) else { return false }
                index = end + 2
            } else if bytes[index...].starts(with: Array("<!".utf8)) {
                return false   // DOCTYPE: S3 never sends one, and entities from it are not for us.
            } else {
                guard let end = find(">", from: index + 1) else { return false }
                var tag = Array(bytes[index + 1..<end])
                index = end + 1
                let closing = tag.first == UInt8(ascii: "/")
                let empty = tag.last == UInt8(ascii: "/")
                if closing { tag.removeFirst() }
                if empty { tag.removeLast() }
                let nameBytes = tag.prefix { ![UInt8(ascii: " "), 9, 10, 13].contains($0) }
                guard !nameBytes.isEmpty, let name = String(validating: nameBytes, as: UTF8.self) else { return false }
                if closing {
                    guard path.last == name else { return false }
                    onElement(path.joined(separator: "/"), String(decoding: text, as: UTF8.self))
                    path.removeLast()
                } else {
                    guard !(path.isEmpty && sawRoot) else { return false }
                    sawRoot = true
                    path.append(name)
                    onStart(path.joined(separator: "/"))
                    if empty {
                        onElement(path.joined(separator: "/"), "")
                        path.removeLast()
                    }
                }
                text = []
            }
        }
        return sawRoot && path.isEmpty
    }

    /// `amp`, `#38`, `#x26` and the like, without the `&` and `;`.
    static func decodeReference(_ name: ArraySlice<UInt8>) -> [UInt8]? {
        switch String(decoding: name, as: UTF8.self) {
        case "amp": return Array("&".utf8)
        case "lt": return Array("<".utf8)
        case "gt": return Array(">".utf8)
        case "quot": return Array("\"".utf8)
        case "apos": return Array("'".utf8)
        case let reference where reference.hasPrefix("#x"):
            return UInt32(reference.dropFirst(2), radix: 16).flatMap(Unicode.Scalar.init).map { Array(String($0).utf8) }
        case let reference where reference.hasPrefix("#"):
            return UInt32(reference.dropFirst(1)).flatMap(Unicode.Scalar.init).map { Array(String($0).utf8) }
        default: return nil
        }
    }
}
