

extension Decoder {
    /// A keyed container that refuses keys outside `Key` (and `alsoAllowed`), so that a typo such as
    /// `keep_dialy` is an error rather than a setting silently ignored. The error names the closest valid key.
    public func strictContainer<Key: CodingKey & CaseIterable>(
        keyedBy type: Key.Type, alsoAllowed: Set<String> = []
    ) throws -> KeyedDecodingContainer<Key> {
        let allowed = Set(Key.allCases.map(\.stringValue)).union(alsoAllowed)
        let all = try container(keyedBy: AnyCodingKey.self)
        for key in all.allKeys where !allowed.contains(key.stringValue) {
            var message = "unknown key '\(key.stringValue)'"
            if let suggestion = closestMatch(to: key.stringValue, in: allowed) {
                message += " (did you mean '\(suggestion)'?)"
            }
            message += "; valid keys here: \(allowed.sorted().joined(separator: ", "))"
            throw DecodingError.dataCorrupted(.init(codingPath: codingPath + [key], debugDescription: message))
        }
        return try container(keyedBy: type)
    }
}

/// The candidate within edit distance 2 (or sharing a long prefix) of `word`, if any.
func closestMatch(to word: String, in candidates: Set<String>) -> String? {
    let scored = candidates.map { ($0, editDistance(word, $0)) }.filter { $0.1 <= max(2, word.count / 3) }
    return scored.min { ($0.1, $0.0) < ($1.1, $1.0) }?.0
}

func editDistance(_ a: String, _ b: String) -> Int {
    let a = Array(a), b = Array(b)
    if a.isEmpty { return b.count }
    if b.isEmpty { return a.count }
    var previous = Array(0...b.count)
    for i in 1...a.count {
        var current = [i] + Array(repeating: 0, count: b.count)
        for j in 1...b.count {
            current[j] = min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + (a[i - 1] == b[j - 1] ? 0 : 1))
        }
        previous = current
    }
    return previous[b.count]
}

/// Throws a plan error at a key's location, for values that decode but make no sense.
public func invalidValue<K: CodingKey>(_ key: K, in container: KeyedDecodingContainer<K>, _ message: String) -> DecodingError {
    DecodingError.dataCorruptedError(forKey: key, in: container, debugDescription: message)
}
